import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNetwork } from '../../lib/graph/recognise.js';
import { readModel } from '../../lib/onnx/file.js';
import { allLayers, hiddenUnits } from '../../lib/ir/network.js';
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

  it('names layers by torch module path when constant folding renamed the weights (onnx::Conv_*)', () => {
    const network = readNetwork('test/fixtures/graph/resnet_bottleneck_op17.onnx');
    expect(hiddenUnits(network).map((u) => u.name)).to.deep.equal(['conv1', 'layer1.0', 'layer1.1', 'layer2.0']);
    expect(allLayers(network).map((l) => l.name)).to.include.members(['layer1.0.conv3', 'layer1.0.downsample.0', 'layer2.0.downsample.0', 'fc']);
    expect(allLayers(network).every((l) => !l.batchNorm)).to.equal(true); // folded into the convs by the exporter
  });

  it('evaluates the Shape → Gather → Unsqueeze → Concat shape of x.view(x.size(0), -1) (dynamic batch)', () => {
    for (const path of ['test/fixtures/graph/resnet_basic_bn_op17.onnx', 'test/fixtures/graph/resnet_basic_nobn_op11.onnx']) {
      expect(readModel(path).graph.node.map((n) => n.opType)).to.include.members(['Shape', 'Gather', 'Unsqueeze', 'Concat', 'Reshape']);
      expect(readNetwork(path).classifierFlatten).to.deep.equal({ globalPool: 'avg' });
    }
  });
});
