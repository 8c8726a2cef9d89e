import { expect } from 'chai';
import { CommanderError } from 'commander';
import { join } from 'node:path';
import { evalCommand } from '../../lib/cli/eval.js';
import { isClafusionError } from '../../lib/errors.js';
import { pseudoRandomBytes, tempDir, writeIdx } from '../data/files.js';
import { fixturePath } from './models.js';
import { runCommand } from '../support/cli.js';

function runEval(args: string[]) {
  return runCommand(evalCommand, args);
}

describe('clafusion eval', () => {
  let dir: string;
  let remove: () => void;
  let spec: string;
  before(() => {
    ({ dir, remove } = tempDir());
    const images = writeIdx(join(dir, 'x'), [20, 4, 4], pseudoRandomBytes(320, 5));
    const labels = writeIdx(join(dir, 'y'), [20], Uint8Array.from(pseudoRandomBytes(20, 6), (v) => v % 3));
    spec = `idx:${images},${labels}`;
  });
  after(() => remove());

  it('prints accuracy and throughput per model and for the ensemble', async () => {
    const { stdout, error } = await runEval([fixturePath('mlp_a.onnx'), fixturePath('mlp_b.onnx'), '--data', spec, '--threads', '1', '--ensemble', 'probabilities']);
    expect(error).to.equal(null);
    const lines = stdout.trim().split('\n');
    expect(lines).to.have.length(3);
    expect(lines[0]).to.match(/mlp_a\.onnx: accuracy \d+\.\d\d% \(\d+\/20\), \d+ samples\/s/);
    expect(lines[2]).to.match(/^ensemble \(probabilities\): accuracy/);
  });

  it('prints JSON with --json, honouring --sample/--seed and --limit', async () => {
    const { stdout, error } = await runEval([fixturePath('mlp_a.onnx'), '--data', spec, '--json', '--sample', '12', '--seed', '4', '--limit', '10', '--batch-size', '3']);
    expect(error).to.equal(null);
    const parsed = JSON.parse(stdout) as { count: number; models: Array<{ correct: number; count: number; accuracy: number }> };
    expect(parsed.count).to.equal(10);
    expect(parsed.models[0]!.count).to.equal(10);
    expect(parsed.models[0]!.accuracy).to.equal(parsed.models[0]!.correct / 10);
  });

  it('fails with usage errors for bad flags and E_ARG / E_IO for bad values', async () => {
    const missing = await runEval([fixturePath('mlp_a.onnx')]);
    expect(missing.error).to.be.instanceOf(CommanderError);
    expect(missing.stderr).to.contain("required option '--data <spec>'");
    const badSize = await runEval([fixturePath('mlp_a.onnx'), '--data', spec, '--batch-size', '0']);
    expect(badSize.error).to.be.instanceOf(CommanderError);
    const half = await runEval([fixturePath('mlp_a.onnx'), '--data', spec, '--mean', '0.5']);
    expect(isClafusionError(half.error, 'E_ARG')).to.equal(true);
    const noData = await runEval([fixturePath('mlp_a.onnx'), '--data', join(dir, 'nowhere')]);
    expect(isClafusionError(noData.error, 'E_IO')).to.equal(true);
  });
});
