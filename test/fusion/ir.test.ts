/**
 * Pure-IR checks of the fusion stages with a float64 reference forward pass (no ONNX Runtime): the spec §1.5 maps,
 * balancing keeps the function, and fuse(A, P(A)) = A, fuse(A, A) = A in weight and activation mode.
 */
import { expect } from 'chai';
import type { Network } from '../../lib/ir/network.js';
import { allLayers } from '../../lib/ir/network.js';
import type { Activations } from '../../lib/fusion/activations.js';
import { crossLayerAlignment } from '../../lib/fusion/cla/index.js';
import { balanceByAdding } from '../../lib/fusion/balance/add.js';
import { otFuse } from '../../lib/fusion/otfuse/index.js';
import { buildMlp, buildResnet, buildVgg, forward, maxAbsDiff, permuteNetwork, randomInput, type Recorded } from './helpers.js';

function recordedActivations(network: Network, samples = 24): Activations {
  const recorded: Recorded = new Map();
  forward(network, randomInput(network, samples), recorded);
  const acts: Activations = new Map();
  for (const [key, batch] of recorded) acts.set(key, { data: Float32Array.from(batch.data), shape: batch.shape });
  return acts;
}

function logits(network: Network, samples = 6): Float64Array {
  return forward(network, randomInput(network, samples, 99)).data;
}

function expectSameWeights(a: Network, b: Network, tolerance = 1e-5): void {
  const la = allLayers(a);
  const lb = allLayers(b);
  expect(la.length).to.equal(lb.length);
  la.forEach((layer, k) => {
    expect(maxAbsDiff(layer.op.weight.data, lb[k].op.weight.data), layer.name).to.be.at.most(tolerance);
    if (layer.op.bias) expect(maxAbsDiff(layer.op.bias, lb[k].op.bias!), `${layer.name} bias`).to.be.at.most(tolerance);
    if (layer.batchNorm) {
      for (const key of ['scale', 'bias', 'mean', 'variance'] as const) {
        expect(maxAbsDiff(layer.batchNorm[key], lb[k].batchNorm![key]), `${layer.name} bn ${key}`).to.be.at.most(tolerance);
      }
    }
  });
}

const cases: [string, () => Network][] = [
  ['MLP with biases', () => buildMlp([20, 16, 12, 10], 5, { bias: true, seed: 3 })],
  ['VGG', () => buildVgg([[4, 5], [6]], [2, 8, 8], 4, { seed: 4 })],
  ['VGG with BN and biases', () => buildVgg([[4, 5], [6]], [2, 8, 8], 4, { seed: 5, batchNorm: true, bias: true })],
  ['ResNet without BN', () => buildResnet([2, 2], [4, 6], [2, 8, 8], 4, { seed: 6 })],
  ['ResNet with BN', () => buildResnet([2, 2], [4, 6], [2, 8, 8], 4, { seed: 7, batchNorm: true })],
];

describe('fusion on IR networks', () => {
  describe('fuse(A, P(A)) = A for a function-preserving permutation P', () => {
    for (const [name, build] of cases) {
      for (const mode of ['weights', 'activations'] as const) {
        it(`${name}, ${mode} mode`, async () => {
          const a = build();
          const permuted = permuteNetwork(a, 11);
          expect(maxAbsDiff(logits(permuted), logits(a))).to.be.below(1e-9);
          const acts = mode === 'activations' ? { sources: [recordedActivations(permuted)], target: recordedActivations(a) } : undefined;
          const { network } = await otFuse([permuted], a, [0.5, 0.5], { mode }, acts);
          expectSameWeights(network, a);
          expect(maxAbsDiff(logits(network), logits(a))).to.be.below(1e-4);
        });
      }
    }
  });

  it('fuse(A, A) = A', async () => {
    const a = buildResnet([2, 1], [4, 6], [2, 8, 8], 4, { seed: 8, batchNorm: true });
    const acts = recordedActivations(a);
    const { network } = await otFuse([a], a, [0.5, 0.5], { mode: 'activations' }, { sources: [acts], target: acts });
    expectSameWeights(network, a, 0);
  });
});
