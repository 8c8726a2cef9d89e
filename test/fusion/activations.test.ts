/**
 * Fusion with elementwise activations other than ReLU (LeakyReLU, GELU, SiLU, sigmoid, tanh): balancing keeps the
 * shallower network's outputs through ONNX Runtime (inserted units carry no activation where act(h) ≠ h), balanced
 * taps read from a run of the original equal recorded ones, fuse(P(A), A) = A (a permutation commutes with any elementwise map), and
 * merging, which replaces ReLUs by masks, refuses them by name.
 */
import { expect } from 'chai';
import { predictLogits } from '../../lib/eval/evaluate.js';
import { balanceByAdding } from '../../lib/fusion/balance/add.js';
import { balanceByMerging } from '../../lib/fusion/balance/merge.js';
import { crossLayerAlignment } from '../../lib/fusion/cla/index.js';
import { fuse } from '../../lib/fusion/index.js';
import { balancedTapSources, derivedChunk } from '../../lib/stats/derived.js';
import { tapShapes } from '../../lib/stats/stream.js';
import { tapKey } from '../../lib/fusion/activations.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { activationName } from '../../lib/ir/activation.js';
import { type Activation, type Network, allLayers, hiddenUnits } from '../../lib/ir/network.js';
import { isClafusionError } from '../../lib/errors.js';
import { allTaps, buildMlp, bytesOf, buildResnet, buildVgg, maxAbsDiff, permuteNetwork, randomDataset, recordedTaps, withActivation } from './helpers.js';

const ACTIVATIONS: Activation[] = [{ kind: 'leaky_relu', alpha: 0.1 }, 'gelu', 'silu', 'sigmoid', 'tanh'];


const pairs: [string, (a: Activation) => Network, (a: Activation) => Network][] = [
  ['MLP', (a) => withActivation(buildMlp([12, 10, 9, 8, 7, 6], 4, { bias: true, seed: 1 }), a),
    (a) => withActivation(buildMlp([12, 10, 9, 8], 4, { bias: true, seed: 2 }), a)],
  ['VGG with BN', (a) => withActivation(buildVgg([[3, 4, 4], [5, 5]], [2, 8, 8], 4, { batchNorm: true, seed: 3 }), a),
    (a) => withActivation(buildVgg([[3, 4], [5]], [2, 8, 8], 4, { batchNorm: true, seed: 4 }), a)],
  ['ResNet with BN', (a) => withActivation(buildResnet([3, 3], [3, 4], [2, 8, 8], 4, { seed: 7, batchNorm: true }), a),
    (a) => withActivation(buildResnet([2, 1], [3, 5], [2, 8, 8], 4, { seed: 8, batchNorm: true }), a)],
];

describe('fusion with elementwise activations', () => {
  for (const activation of ACTIVATIONS) {
    const label = activationName(activation);
    describe(label, () => {
      for (const [name, deepOf, shallowOf] of pairs) {
        it(`${name}: balancing keeps the outputs (ORT); inserted units have no activation; derived = recorded`,
          async () => {
          const shallow = shallowOf(activation);
          const alignment = await crossLayerAlignment(deepOf(activation), shallow, { startLayer: 2, pinnedEnd: 0 });
          const balanced = balanceByAdding(deepOf(activation), shallow, alignment.groups);
          const inserted = hiddenUnits(balanced).filter((u) => u.inserted);
          expect(inserted.length).to.be.above(0);
          expect(inserted.map((u) => u.activation)).to.satisfy((list: Activation[]) => list.every((a) => a === 'none'));
          const data = randomDataset(shallow, 16);
          const [before, after] = await Promise.all([shallow, balanced].map((n) => predictLogits(bytesOf(n), data)));
          expect(maxAbsDiff(before, after)).to.be.at.most(1e-5);
          const sources = balancedTapSources(shallow, balanced);
          if (!sources) return; // a pool moved past an activation other than ReLU: the balanced network runs itself
          const shapes = tapShapes(balanced);
          const taps = allTaps(balanced);
          const derived = derivedChunk(recordedTaps(shallow), sources, 24, taps, (tap) => shapes.get(tapKey(tap))!.reduce((x, y) => x * y, 1));
          const direct = recordedTaps(balanced);
          for (const key of taps.map(tapKey)) expect(maxAbsDiff(derived.get(key)!, direct.get(key)!), key).to.be.below(1e-5);
        });
      }

      it('fuse(P(A), A) = A for a ResNet with BN (activation mode): weights within 1e-5, outputs 1e-4', async () => {
        const a = withActivation(buildResnet([2, 2], [4, 6], [2, 8, 8], 4, { seed: 7, batchNorm: true }), activation);
        const data = randomDataset(a, 24);
        const aBytes = bytesOf(a);
        const result = await fuse([bytesOf(permuteNetwork(a, 13)), aBytes], { data, samples: 24 });
        const reference = allLayers(readNetwork(aBytes));
        allLayers(result.network).forEach((layer, k) => {
          expect(maxAbsDiff(layer.op.weight.data, reference[k].op.weight.data), layer.name).to.be.at.most(1e-5);
        });
        const [fused, original] = await Promise.all([predictLogits(result.bytes, data), predictLogits(aBytes, data)]);
        expect(maxAbsDiff(fused, original)).to.be.at.most(1e-4);
      });
    });
  }

  it('fuses models of different depth with GELU end to end (GELU kept where the target has it)', async () => {
    const deep = pairs[1][1]('gelu');
    const shallow = pairs[1][2]('gelu');
    const data = randomDataset(shallow, 32);
    const result = await fuse([bytesOf(deep), bytesOf(shallow)], { data, samples: 32 });
    const fused = readNetwork(result.bytes);
    expect(hiddenUnits(fused).map((u) => u.activation)).to.include('gelu');
    expect(result.alignments).to.have.length(1);
  });

  it("'merge' balancing refuses non-ReLU activations by name", () => {
    const deep = withActivation(buildMlp([12, 10, 9, 8], 4, { seed: 1 }), 'gelu');
    const unread = (): never => { throw new Error('the refusal comes before any statistics are read'); };
    expect(() => balanceByMerging(deep, [1, 3], unread)).to.throw(/fc1 has activation gelu; use 'add'/)
      .that.satisfies((err: unknown) => isClafusionError(err, 'E_ARG'));
  });
});
