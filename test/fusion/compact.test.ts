/**
 * Compact balancing (DESIGN "Inserted units cost nothing they do not need"): a zero-branch block inserted into the
 * shallower network takes the inner widths of the deep block it stands against, so a Bottleneck pair of different
 * depth fuses to the deeper model's size; the inserted blocks still compute the identity (IR and ONNX Runtime), and
 * their inner layers fuse deterministically to the deep block's own units.
 */
import { expect } from 'chai';
import { predictLogits } from '../../lib/eval/evaluate.js';
import { emitModel } from '../../lib/graph/emit.js';
import { type Layer, type Network, type Residual, allLayers, hiddenUnits } from '../../lib/ir/network.js';
import { parameterCount } from '../../lib/ir/network.js';
import { crossLayerAlignment } from '../../lib/fusion/cla/index.js';
import { balanceByAdding } from '../../lib/fusion/balance/add.js';
import { fuse } from '../../lib/fusion/index.js';
import { otFuse } from '../../lib/fusion/otfuse/index.js';
import { buildBottleneckResnet, fusionStatistics, logits, maxAbsDiff, permuteNetwork, randomDataset } from './helpers.js';

/** A Bottleneck pair of different depth, 8..16-wide streams with 2..4-wide inner layers (deep first). */
function bottleneckPair(imagenetStem: boolean, input: [number, number, number]): [Network, Network] {
  const options = { batchNorm: true, imagenetStem };
  return [
    buildBottleneckResnet([2, 3, 2], [2, 3, 4], input, 5, { ...options, seed: 31 }),
    buildBottleneckResnet([1, 2, 1], [2, 3, 4], input, 5, { ...options, seed: 32 }),
  ];
}

async function balancedPair(): Promise<{ deep: Network; shallow: Network; balanced: Network }> {
  const [deep, shallow] = bottleneckPair(false, [2, 8, 8]);
  const alignment = await crossLayerAlignment(deep, shallow);
  return { deep, shallow, balanced: balanceByAdding(deep, shallow, alignment.groups) };
}

function shapesOf(block: Residual): string[] {
  return [...block.branch, ...(block.shortcut ? [block.shortcut] : [])].map((l) => l.op.weight.shape.join('x'));
}

function insertedBlocks(network: Network): Residual[] {
  return hiddenUnits(network).filter((u): u is Residual => u.type === 'residual' && u.inserted === true);
}

function layerNamed(network: Network, name: string): Layer {
  const layer = allLayers(network).find((l) => l.name === name);
  if (!layer) throw new Error(`no layer ${name}`);
  return layer;
}

describe('compact balancing of Bottleneck ResNets', () => {
  it("an inserted block has the deep block's inner widths; the balanced model has the deep model's size", async () => {
    const { deep, shallow, balanced } = await balancedPair();
    const inserted = insertedBlocks(balanced);
    expect(inserted).to.have.length(3);
    const deepUnits = hiddenUnits(deep);
    hiddenUnits(balanced).forEach((unit, k) => {
      if (unit.type !== 'residual' || !unit.inserted) return;
      expect(shapesOf(unit), unit.name).to.deep.equal(shapesOf(deepUnits[k] as Residual));
    });
    expect(parameterCount(balanced)).to.equal(parameterCount(deep));
    expect(maxAbsDiff(logits(balanced), logits(shallow))).to.be.below(1e-12);
  });

  it('keeps the outputs of the shallower model through ONNX Runtime (torchvision stem)', async () => {
    const [deep, shallow] = bottleneckPair(true, [3, 32, 32]);
    const balanced = balanceByAdding(deep, shallow, (await crossLayerAlignment(deep, shallow)).groups);
    expect(insertedBlocks(balanced)).to.have.length(3);
    const data = randomDataset(shallow, 8);
    const [before, after] = await Promise.all([shallow, balanced].map((n) => predictLogits(emitModel(n).bytes, data)));
    expect(maxAbsDiff(before, after)).to.be.at.most(1e-5);
  });

  for (const mode of ['weights', 'activations'] as const) {
    it(`${mode} mode: inserted blocks' inner layers fuse to the deep block's own units, deterministically`, async () => {
      const { deep, balanced } = await balancedPair();
      const stats = mode === 'activations' ? await fusionStatistics([deep], balanced) : undefined;
      const run = () => otFuse([deep], balanced, [0.5, 0.5], { mode }, stats);
      const [first, second] = [await run(), await run()];
      for (const block of insertedBlocks(balanced)) {
        // conv2 reads and writes inner units only: both maps are the identity, so it is half the deep block's conv2.
        const deepConv2 = layerNamed(deep, block.branch[1].name.replace('/identity', ''));
        const fusedConv2 = layerNamed(first.network, block.branch[1].name);
        const half = Array.from(deepConv2.op.weight.data, (v) => Math.fround(0.5 * v));
        expect(Array.from(fusedConv2.op.weight.data), block.name).to.deep.equal(half);
      }
      const again = allLayers(second.network);
      allLayers(first.network).forEach((l, k) => expect(maxAbsDiff(l.op.weight.data, again[k].op.weight.data)).to.equal(0));
    });

    it(`${mode} mode: fusing a permuted copy of the deep model gives the same function`, async () => {
      const { deep, balanced } = await balancedPair();
      const permuted = permuteNetwork(deep, 43);
      const fuseWith = async (source: Network) => (await otFuse([source], balanced, [0.5, 0.5], { mode },
        mode === 'activations' ? await fusionStatistics([source], balanced) : undefined)).network;
      const [plain, fromPermuted] = [await fuseWith(deep), await fuseWith(permuted)];
      const reference = logits(plain);
      expect(maxAbsDiff(logits(fromPermuted), reference) / Math.max(...reference.map(Math.abs))).to.be.below(1e-9);
    });
  }

  for (const mode of ['weights', 'activations'] as const) {
    it(`fuse() of a Bottleneck pair of different depth has the deeper model's size (${mode} mode, ORT)`, async () => {
      const [deep, shallow] = bottleneckPair(true, [3, 32, 32]);
      const data = randomDataset(deep, 16);
      for (const target of ['shallow', 'deep'] as const) {
        const models = [emitModel(deep).bytes, emitModel(shallow).bytes];
        const result = await fuse(models, { data, samples: 16, mode, target });
        expect(parameterCount(result.network), target).to.equal(parameterCount(deep));
        const outputs = await predictLogits(result.bytes, data);
        expect(outputs.every(Number.isFinite)).to.equal(true);
      }
    });
  }
});
