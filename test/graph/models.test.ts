import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { roundTrip } from './support.js';

/** Every committed torch-exported model: the trained examples and the small graph fixtures (with their script). */
const folders = ['examples/models', 'test/fixtures/graph'];
const models = folders.filter((f) => existsSync(f)).flatMap((f) => readdirSync(f).filter((n) => n.endsWith('.onnx')).sort().map((n) => join(f, n)));

describe('real torch-exported models: ONNX → IR → ONNX in ORT', () => {
  it('finds the committed models', () => {
    expect(models.length).to.be.greaterThan(0);
  });

  for (const path of models) {
    it(path, async () => {
      const { network, diff } = await roundTrip(readFileSync(path), 4);
      console.log(`      ${path}: ${network.segments.length} segments, max abs diff ${diff.toExponential(2)}`);
      expect(diff).to.be.at.most(1e-5);
    });
  }
});
