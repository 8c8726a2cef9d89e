/**
 * Pure-IR checks of the fusion stages with a float64 reference forward pass (no ONNX Runtime): the spec §1.5 maps,
 * balancing keeps the function, and fuse(A, P(A)) = A, fuse(A, A) = A in weight and activation mode.
 */
import { expect } from 'chai';
import type { Network } from '../../lib/ir/network.js';
import { allLayers } from '../../lib/ir/network.js';
import { alignmentRequest, crossLayerAlignment } from '../../lib/fusion/cla/index.js';
import { balanceByAdding } from '../../lib/fusion/balance/add.js';
import { balanceByMerging, mergeTaps, reluMask } from '../../lib/fusion/balance/merge.js';
import { otFuse } from '../../lib/fusion/otfuse/index.js';
import { vanillaAverage } from '../../lib/fusion/validate.js';
import {
  buildMlp, buildResnet, buildVgg, expectSameWeights, fusionCases as cases, fusionStatistics, logits, maxAbsDiff,
  permuteNetwork, recordedStatistics,
} from './helpers.js';

describe('fusion on IR networks', () => {
  describe('fuse(A, P(A)) = A for a function-preserving permutation P', () => {
    for (const [name, build] of cases) {
      for (const mode of ['weights', 'activations'] as const) {
        it(`${name}, ${mode} mode`, async () => {
          const a = build();
          const permuted = permuteNetwork(a, 11);
          expect(maxAbsDiff(logits(permuted), logits(a))).to.be.below(1e-9);
          const stats = mode === 'activations' ? await fusionStatistics([permuted], a) : undefined;
          const { network } = await otFuse([permuted], a, [0.5, 0.5], { mode }, stats);
          expectSameWeights(network, a);
          expect(maxAbsDiff(logits(network), logits(a))).to.be.below(1e-4);
        });
      }
    }
  });

  it('fuse(A, A) = A', async () => {
    const a = buildResnet([2, 1], [4, 6], [2, 8, 8], 4, { seed: 8, batchNorm: true });
    const { network } = await otFuse([a], a, [0.5, 0.5], { mode: 'activations' }, await fusionStatistics([a], a));
    expectSameWeights(network, a, 0);
  });
});

/** Expands a block-level alignment to conv-level 1-based indices in parameter order (conv1, conv2, [shortcut]). */
function convLevelMap(deep: Network, shallow: Network, blockMapping: number[]): number[] {
  const convIndices = (network: Network) => {
    let next = 1;
    return network.segments.flatMap((s) => s.units).map((unit) => {
      const count = unit.type === 'layer' ? 1 : unit.branch.length + (unit.shortcut ? 1 : 0);
      const indices = Array.from({ length: count }, (_, k) => next + k);
      next += count;
      return indices;
    });
  };
  const deepConvs = convIndices(deep);
  return convIndices(shallow).flatMap((convs, k) => convs.map((_, r) => deepConvs[blockMapping[k] - 1][r]));
}

describe('cross-layer alignment maps (spec §1.5)', () => {
  it('ResNet18 → ResNet34: stem to stem, block 1 → block 1 and the last block → the last block of every stage', async () => {
    const r34 = buildResnet([3, 4, 6, 3], [2, 3, 4, 5], [1, 16, 16], 3);
    const r18 = buildResnet([2, 2, 2, 2], [2, 3, 4, 5], [1, 16, 16], 3);
    const alignment = await crossLayerAlignment(r34, r18);
    expect(alignment.groups.map((g) => g.mapping)).to.deep.equal([[1], [1, 3], [1, 4], [1, 6], [1, 3]]);
    expect(convLevelMap(r34, r18, alignment.mapping)).to.deep.equal([1, 2, 3, 6, 7, 8, 9, 10, 15, 16, 17, 18, 19, 28, 29, 30, 31, 32, 35, 36]);
  });

  it('VGG11 → VGG13: single-layer chunks map to the first layer of the chunk', async () => {
    const vgg13 = buildVgg([[2, 2], [3, 3], [4, 4], [5, 5], [5, 5]], [1, 32, 32], 3);
    const vgg11 = buildVgg([[2], [3], [4, 4], [5, 5], [5, 5]], [1, 32, 32], 3);
    const alignment = await crossLayerAlignment(vgg13, vgg11);
    expect(alignment.mapping).to.deep.equal([1, 3, 5, 6, 7, 8, 9, 10]);
  });

  it('MLP 400-200-100-50-25 vs 400-200-100 with the neuron cost: [1, 2, 5] with (s, f) = (2, 1), [1, 2, 3] with (1, 0)', async () => {
    const deep = buildMlp([8, 400, 200, 100, 50, 25], 3);
    const shallow = buildMlp([8, 400, 200, 100], 3);
    expect((await crossLayerAlignment(deep, shallow)).mapping).to.deep.equal([1, 2, 5]);
    expect((await crossLayerAlignment(deep, shallow, { startLayer: 1, pinnedEnd: 0 })).mapping).to.deep.equal([1, 2, 3]);
  });

  it('rejects networks with different segment structures (E_SHAPE)', async () => {
    const a = buildVgg([[2, 2], [3]], [1, 8, 8], 3);
    const b = buildVgg([[2], [3], [4]], [1, 8, 8], 3);
    const err = await crossLayerAlignment(a, b).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'E_SHAPE');
  });
});

describe('balancing by adding identity units', () => {
  const pairs: [string, () => Network, () => Network][] = [
    ['MLP with biases', () => buildMlp([12, 10, 9, 8, 7, 6], 4, { bias: true, seed: 1 }), () => buildMlp([12, 10, 9, 8], 4, { bias: true, seed: 2 })],
    ['VGG with BN', () => buildVgg([[3, 4, 4], [5, 5]], [2, 8, 8], 4, { batchNorm: true, seed: 3 }), () => buildVgg([[3, 4], [5]], [2, 8, 8], 4, { batchNorm: true, seed: 4 })],
    ['ResNet without BN', () => buildResnet([3, 3], [3, 4], [2, 8, 8], 4, { seed: 5 }), () => buildResnet([2, 1], [3, 5], [2, 8, 8], 4, { seed: 6 })],
    ['ResNet with BN and biases', () => buildResnet([3, 3], [3, 4], [2, 8, 8], 4, { seed: 7, batchNorm: true, bias: true }), () => buildResnet([2, 1], [3, 5], [2, 8, 8], 4, { seed: 8, batchNorm: true })],
  ];
  for (const [name, deepOf, shallowOf] of pairs) {
    for (const [s, f] of [[2, 1], [2, 0]]) {
      it(`${name}, (s, f) = (${s}, ${f}): same depth as the deep network, same function as the shallow one`, async () => {
        const deep = deepOf();
        const shallow = shallowOf();
        const alignment = await crossLayerAlignment(deep, shallow, { startLayer: s, pinnedEnd: f });
        const balanced = balanceByAdding(deep, shallow, alignment.groups);
        expect(balanced.segments.map((seg) => seg.units.length)).to.deep.equal(deep.segments.map((seg) => seg.units.length));
        const inserted = balanced.segments.flatMap((seg) => seg.units).filter((u) => u.inserted).length;
        expect(inserted).to.equal(deep.segments.flatMap((seg) => seg.units).length - shallow.segments.flatMap((seg) => seg.units).length);
        expect(maxAbsDiff(logits(balanced), logits(shallow))).to.be.below(1e-5);
      });
    }
  }
});

describe('more than two models, reference mode, merging', () => {
  for (const mode of ['weights', 'activations'] as const) {
    it(`many-to-one: fuse(A, P1(A), P2(A)) onto A = A (${mode} mode)`, async () => {
      const a = buildResnet([2, 2], [4, 6], [2, 8, 8], 4, { seed: 9, batchNorm: true });
      const sources = [permuteNetwork(a, 21), permuteNetwork(a, 22)];
      const stats = mode === 'activations' ? await fusionStatistics(sources, a) : undefined;
      const { network } = await otFuse(sources, a, [1 / 3, 1 / 3, 1 / 3], { mode }, stats);
      expectSameWeights(network, a);
    });
  }

  it('reference mode (per-layer plans, skip rules, aligned classifier, +1e-7) also recovers a permuted ResNet', async () => {
    const a = buildResnet([2, 2], [4, 6], [2, 8, 8], 4, { seed: 10 });
    const permuted = permuteNetwork(a, 23);
    const stats = await fusionStatistics([permuted], a, { reference: true });
    const { network, diagnostics } = await otFuse([permuted], a, [0.5, 0.5], { mode: 'activations', reference: true }, stats);
    expect(diagnostics.map((d) => d.layer)).to.include('fc_out');
    expectSameWeights(network, a, 1e-5);
  });

  it('merge: unmatched layers whose ReLU never clips fold into the next layer exactly', async () => {
    const deep = buildMlp([12, 10, 9, 8, 7, 6], 4, { bias: true, seed: 12 });
    const shallow = buildMlp([12, 10, 9, 8], 4, { bias: true, seed: 13 });
    const alignment = await crossLayerAlignment(deep, shallow);
    expect(alignment.mapping).to.deep.equal([1, 2, 5]);
    for (const name of ['fc3', 'fc4']) {
      const layer = allLayers(deep).find((l) => l.name === name)!;
      layer.op.bias = new Float32Array(layer.op.bias!.length).fill(50); // pre-activations > 0: ReLU = identity
    }
    const stats = await recordedStatistics([deep], { grams: [], channels: mergeTaps(deep).map((tap) => ({ model: 0, tap })), cross: [] });
    for (const method of ['sum', 'majority', 'avg'] as const) {
      const merged = balanceByMerging(deep, alignment.mapping, (tap) => stats.channels(0, tap), method);
      expect(merged.segments[0].units.map((u) => u.name)).to.deep.equal(['fc1', 'fc2', 'fc5']);
      expect(maxAbsDiff(logits(merged), logits(deep)) / Math.max(...logits(deep).map(Math.abs))).to.be.below(1e-5);
    }
  });

  it('merge: the ReLU approximations of spec §2.2', () => {
    // two units over 4 samples: [1, -2, 3, -4] (sum -2, 50 % positive) and [-1, -1, 5, 0] (sum 3, 25 % positive)
    const preact = { sums: Float64Array.of(-2, 3), positives: Float64Array.of(2, 1), samples: 4 };
    expect(Array.from(reluMask(preact, 'sum'))).to.deep.equal([0, 1]);
    expect(Array.from(reluMask(preact, 'majority'))).to.deep.equal([1, 0]);
    expect(Array.from(reluMask(preact, 'avg'))).to.deep.equal([0.5, 0.25]);
  });
});

describe('vanilla averaging', () => {
  it('averages parameter by parameter (A with itself gives A) and names why it cannot', () => {
    const a = buildResnet([2, 1], [4, 6], [2, 8, 8], 4, { seed: 14, batchNorm: true, bias: true });
    expectSameWeights(vanillaAverage([a, a, a]), a, 1e-6);
    const narrower = buildResnet([2, 1], [4, 5], [2, 8, 8], 4, { seed: 15, batchNorm: true, bias: true });
    expect(() => vanillaAverage([a, narrower])).to.throw(/layer \d+ \(layer2\.0\.conv1\) has shape \[6, 4, 3, 3\] in one model and \[5, 4, 3, 3\]/);
  });
});

describe('balancing with startLayer 1 (identities may come first)', () => {
  it('an MLP on image inputs gets input-wide identities after the flatten', async () => {
    const deep = buildMlp([12, 10, 9, 8, 7, 6], 4, { seed: 16 });
    const shallow = buildMlp([12, 10, 9, 8], 4, { seed: 17 });
    const cost = await crossLayerAlignment(deep, shallow, { startLayer: 1, pinnedEnd: 0, cost: 'neuron' });
    const forced = { ...cost.groups[0], mapping: [3, 4, 5] };
    const balanced = balanceByAdding(deep, shallow, [forced]);
    const widths = balanced.segments[0].units.map((u) => (u.type === 'layer' ? u.op.weight.shape.join('x') : ''));
    expect(widths).to.deep.equal(['12x12', '12x12', '10x12', '9x10', '8x9']);
  });
});

describe('CLA layer costs from activations', () => {
  for (const cost of ['cka', 'wasserstein'] as const) {
    it(`${cost}: a network against a permuted copy has zero cost on the diagonal and aligns to itself`, async () => {
      const a = buildMlp([12, 10, 9, 8, 7], 4, { bias: true, seed: 18 });
      const permuted = permuteNetwork(a, 19);
      const statistics = await recordedStatistics([a, permuted], alignmentRequest(a, permuted, 0, 1, cost));
      const alignment = await crossLayerAlignment(a, permuted, { cost, startLayer: 1, pinnedEnd: 0 }, { statistics, deep: 0, shallow: 1 });
      const matrix = alignment.groups[0].cost;
      // Distances from |x|² + |y|² − 2x·y carry cancellation error, so "zero" is relative to the other costs.
      matrix.forEach((row, i) => {
        const others = row.filter((_, j) => j !== i);
        expect(row[i]).to.be.below(0.01 * Math.min(...others));
      });
      expect(alignment.mapping).to.deep.equal([1, 2, 3, 4]);
    });
  }
});
