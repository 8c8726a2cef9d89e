/**
 * The fusion pipeline through ONNX (emit → fuse() → ONNX Runtime): exact invariants on random IR networks and the
 * coded errors of bad input. Small widths and few samples keep it quick.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { predictLogits } from '../../lib/eval/evaluate.js';
import { buildModel } from '../../lib/graph/emit.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import type { Network } from '../../lib/ir/network.js';
import { allLayers } from '../../lib/ir/network.js';
import { encodeModel } from '../../lib/onnx/proto.js';
import { crossLayerAlignment } from '../../lib/fusion/cla/index.js';
import { balanceByAdding } from '../../lib/fusion/balance/add.js';
import { fuse } from '../../lib/fusion/index.js';
import { fuseCommand } from '../../lib/cli/fuse.js';
import { alignCommand } from '../../lib/cli/align.js';
import { buildBottleneckResnet, buildMlp, buildResnet, buildVgg, bytesOf, maxAbsDiff, permuteNetwork, randomDataset } from './helpers.js';

function expectCode(err: unknown, code: string): void {
  expect(err, 'expected a rejection').to.be.instanceOf(Error);
  expect(err).to.have.property('code', code);
}

const cases: [string, () => Network][] = [
  ['MLP with biases', () => buildMlp([20, 16, 12, 10], 5, { bias: true, seed: 3 })],
  ['VGG with BN', () => buildVgg([[4, 5], [6]], [2, 8, 8], 4, { seed: 5, batchNorm: true })],
  ['ResNet without BN', () => buildResnet([2, 2], [4, 6], [2, 8, 8], 4, { seed: 6 })],
  ['ResNet with BN', () => buildResnet([2, 2], [4, 6], [2, 8, 8], 4, { seed: 7, batchNorm: true })],
  ['Bottleneck ResNet with BN', () => buildBottleneckResnet([2, 1], [2, 3], [3, 16, 16], 4, { seed: 8, batchNorm: true, imagenetStem: true })],
];

describe('fuse() through ONNX Runtime', () => {
  describe('fuse(P(A), A) = A for a function-preserving permutation P', () => {
    for (const [name, build] of cases) {
      for (const mode of ['weights', 'activations'] as const) {
        it(`${name}, ${mode} mode: weights within 1e-5, outputs within 1e-4`, async () => {
          const a = build();
          const data = randomDataset(a, 24);
          const aBytes = bytesOf(a);
          const result = await fuse([bytesOf(permuteNetwork(a, 13)), aBytes], { data, samples: 24, mode });
          const reference = readNetwork(aBytes);
          allLayers(result.network).forEach((layer, k) => {
            expect(maxAbsDiff(layer.op.weight.data, allLayers(reference)[k].op.weight.data), layer.name).to.be.at.most(1e-5);
          });
          const [fused, original] = await Promise.all([predictLogits(result.bytes, data), predictLogits(aBytes, data)]);
          expect(maxAbsDiff(fused, original)).to.be.at.most(1e-4);
        });
      }
    }
  });

  it('fuse(A, A) = A bit for bit (activation mode, EMD)', async () => {
    const a = buildResnet([2, 1], [4, 6], [2, 8, 8], 4, { seed: 8, batchNorm: true });
    const bytes = bytesOf(a);
    const result = await fuse([bytes, bytes], { data: randomDataset(a, 16), samples: 16 });
    allLayers(result.network).forEach((layer, k) => expect(maxAbsDiff(layer.op.weight.data, allLayers(readNetwork(bytes))[k].op.weight.data)).to.equal(0));
  });

  it('is deterministic: the same inputs give the same bytes', async () => {
    const deep = buildMlp([20, 16, 12, 10, 8], 5, { bias: true, seed: 1 });
    const shallow = buildMlp([20, 14, 9], 5, { bias: true, seed: 2 });
    const data = randomDataset(deep, 32);
    const run = () => fuse([bytesOf(deep), bytesOf(shallow)], { data, samples: 32 });
    const [first, second] = [await run(), await run()];
    expect(Buffer.from(first.bytes).equals(Buffer.from(second.bytes))).to.equal(true);
    expect(first.alignments[0].alignment.groups[0].mapping).to.have.length(2);
  });

  describe('balancing keeps the outputs of the shallower model (ORT)', () => {
    const pairs: [string, () => Network, () => Network][] = [
      ['MLP', () => buildMlp([12, 10, 9, 8, 7, 6], 4, { bias: true, seed: 1 }), () => buildMlp([12, 10, 9, 8], 4, { bias: true, seed: 2 })],
      ['VGG with BN', () => buildVgg([[3, 4, 4], [5, 5]], [2, 8, 8], 4, { batchNorm: true, seed: 3 }), () => buildVgg([[3, 4], [5]], [2, 8, 8], 4, { batchNorm: true, seed: 4 })],
      ['ResNet with BN', () => buildResnet([3, 3], [3, 4], [2, 8, 8], 4, { seed: 7, batchNorm: true }), () => buildResnet([2, 1], [3, 5], [2, 8, 8], 4, { seed: 8, batchNorm: true })],
    ];
    for (const [name, deepOf, shallowOf] of pairs) {
      it(name, async () => {
        const shallow = shallowOf();
        const alignment = await crossLayerAlignment(deepOf(), shallow, { startLayer: 2, pinnedEnd: 0 });
        const balanced = balanceByAdding(deepOf(), shallow, alignment.groups);
        const data = randomDataset(shallow, 16);
        const [before, after] = await Promise.all([predictLogits(bytesOf(shallow), data), predictLogits(bytesOf(balanced), data)]);
        expect(maxAbsDiff(before, after)).to.be.at.most(1e-5);
      });
    }
  });
});

describe('fuse() with more than two models (ORT)', () => {
  for (const multi of ['many-to-one', 'iterative'] as const) {
    it(`${multi}: three permuted copies of A fuse back to A's function`, async () => {
      const a = buildVgg([[4, 5], [6]], [2, 8, 8], 4, { seed: 31, batchNorm: true });
      const data = randomDataset(a, 24);
      const result = await fuse([bytesOf(a), bytesOf(permuteNetwork(a, 32)), bytesOf(permuteNetwork(a, 33))], { data, samples: 24, multi });
      const [fused, original] = await Promise.all([predictLogits(result.bytes, data), predictLogits(bytesOf(a), data)]);
      expect(maxAbsDiff(fused, original)).to.be.at.most(1e-4);
    });

    it(`${multi}: models of different depths take the depth of the deepest`, async () => {
      const deep = buildMlp([20, 16, 12, 10, 8], 5, { bias: true, seed: 34 });
      const shallows = [buildMlp([20, 14, 9], 5, { bias: true, seed: 35 }), buildMlp([20, 12, 10], 5, { bias: true, seed: 36 })];
      const models = multi === 'many-to-one' ? [shallows[0], deep, shallows[1]] : [deep, ...shallows];
      const result = await fuse(models.map(bytesOf), { data: randomDataset(deep, 32), samples: 32, multi });
      expect(result.network.segments[0].units).to.have.length(4);
      expect(result.alignments).to.have.length(2);
      if (multi === 'many-to-one') expect(result.target).to.equal(1);
    });
  }
});

describe('fuse() errors', () => {
  const mlp = buildMlp([20, 16, 12], 5, { seed: 1 });

  it('fewer than two models: E_ARG', async () => {
    expectCode(await fuse([bytesOf(mlp)]).catch((e: unknown) => e), 'E_ARG');
  });

  it('different input shapes: E_SHAPE', async () => {
    const other = buildMlp([24, 16, 12], 5, { seed: 2 });
    expectCode(await fuse([bytesOf(mlp), bytesOf(other)]).catch((e: unknown) => e), 'E_SHAPE');
  });

  it('different class counts: E_SHAPE', async () => {
    const other = buildMlp([20, 16, 12], 7, { seed: 2 });
    expectCode(await fuse([bytesOf(mlp), bytesOf(other)]).catch((e: unknown) => e), 'E_SHAPE');
  });

  it('an unsupported graph: E_UNSUPPORTED_GRAPH', async () => {
    const model = buildModel(mlp).model;
    const relu = model.graph.node.find((n) => n.opType === 'Relu')!;
    relu.opType = 'Softplus';
    expectCode(await fuse([bytesOf(mlp), encodeModel(model)]).catch((e: unknown) => e), 'E_UNSUPPORTED_GRAPH');
  });

  it('an aborted signal: E_ABORTED; progress reports every stage', async () => {
    const controller = new AbortController();
    controller.abort();
    expectCode(await fuse([bytesOf(mlp), bytesOf(mlp)], { signal: controller.signal }).catch((e: unknown) => e), 'E_ABORTED');
    const stages = new Set<string>();
    const deeper = buildMlp([20, 16, 14, 12], 5, { seed: 3 });
    await fuse([bytesOf(mlp), bytesOf(deeper)], { data: randomDataset(mlp, 16), samples: 16, onProgress: (stage) => stages.add(stage) });
    // The refit replaces the repair (it runs by default on a pair this small).
    expect([...stages].sort()).to.deep.equal(['activations', 'alignment', 'balancing', 'emit', 'fusion', 'load', 'refit']);
  });

  it('data that does not match the model input: E_DATA', async () => {
    const wrong = randomDataset(buildMlp([30, 4], 5), 8);
    expectCode(await fuse([bytesOf(mlp), bytesOf(buildMlp([20, 16, 12], 5, { seed: 2 }))], { data: wrong, samples: 8 }).catch((e: unknown) => e), 'E_DATA');
  });

  describe('the fuse command writes nothing on failure', () => {
    let dir: string;
    beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'clafusion-fuse-')); });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };

    async function runCli(args: string[]): Promise<unknown> {
      return fuseCommand(quiet).exitOverride().parseAsync(args, { from: 'user' }).then(() => undefined, (e: unknown) => e);
    }

    it('on mismatched class counts (E_SHAPE), and refuses an input as output (E_ARG)', async () => {
      const a = join(dir, 'a.onnx');
      const b = join(dir, 'b.onnx');
      const out = join(dir, 'fused.onnx');
      writeFileSync(a, bytesOf(mlp));
      writeFileSync(b, bytesOf(buildMlp([20, 16, 12], 7, { seed: 2 })));
      expectCode(await runCli([a, b, '-o', out]), 'E_SHAPE');
      expect(existsSync(out)).to.equal(false);
      expectCode(await runCli([a, b, '-o', a]), 'E_ARG');
    });

    it('align --json prints the per-segment mapping', async () => {
      const a = join(dir, 'a.onnx');
      const b = join(dir, 'b.onnx');
      writeFileSync(a, bytesOf(buildMlp([20, 400, 200, 100, 50, 25], 5, { seed: 1 })));
      writeFileSync(b, bytesOf(buildMlp([20, 400, 200, 100], 5, { seed: 2 })));
      let printed = '';
      const io = { stdout: { write: (text: string) => { printed += text; return true; } }, stderr: { write: () => true } };
      await alignCommand(io).exitOverride().parseAsync([b, a, '--json'], { from: 'user' });
      const summary = JSON.parse(printed) as { deep: string; alignment: { cost: string; mapping: number[] } };
      expect(summary.deep).to.equal(a);
      expect(summary.alignment.cost).to.equal('neuron');
      expect(summary.alignment.mapping).to.deep.equal([1, 2, 5]);
    });

    it('writes the fused model on success', async () => {
      const a = join(dir, 'a.onnx');
      const b = join(dir, 'b.onnx');
      const out = join(dir, 'fused.onnx');
      writeFileSync(a, bytesOf(mlp));
      writeFileSync(b, bytesOf(buildMlp([20, 10, 12, 9], 5, { seed: 2 })));
      expect(await runCli([a, b, '-o', out])).to.equal(undefined);
      expect(readNetwork(out).segments[0].units).to.have.length(3);
    });
  });
});
