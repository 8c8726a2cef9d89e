/**
 * The averaging weights of an unmatched block (lib/fusion/otfuse/weights.ts): the real block's share where balancing
 * inserted a zero branch into the other model, the default under regression maps, and what it does to the model.
 */
import { expect } from 'chai';
import { fuse } from '../../lib/fusion/index.js';
import { slotWeights } from '../../lib/fusion/otfuse/weights.js';
import { buildTopology } from '../../lib/fusion/otfuse/topology.js';
import type { Network } from '../../lib/ir/network.js';
import { expectRejects } from '../support/errors.js';
import { buildResnet, bytesOf, randomDataset } from './helpers.js';

const close = (actual: number[], expected: number[]) => actual.forEach((v, k) => expect(v).to.be.closeTo(expected[k], 1e-15));

describe('fusion: unmatched blocks, slotWeights', () => {
  it('gives the real layers the share u and the inserted ones 1 − u, each group in proportion to its weights', () => {
    close(slotWeights([0.5, 0.5], [true, false], 0.1), [0.9, 0.1]);
    close(slotWeights([0.5, 0.5], [false, true], 0.1), [0.1, 0.9]);
    close(slotWeights([0.3, 0.7], [true, false], 0.25), [0.75, 0.25]);
    // Three models, two with real layers: u splits 1 : 3 between them.
    close(slotWeights([0.2, 0.6, 0.2], [false, false, true], 0.4), [0.1, 0.3, 0.6]);
    close(slotWeights([0.5, 0.5], [true, false], 0), [1, 0]);
    close(slotWeights([0.5, 0.5], [true, false], 1), [0, 1]);
  });

  it('keeps the weights where every model has the same kind of layer, a group weighs 0, or u is "weights"', () => {
    expect(slotWeights([0.3, 0.7], [false, false], 0.1)).to.deep.equal([0.3, 0.7]);
    expect(slotWeights([0.3, 0.7], [true, true], 0.1)).to.deep.equal([0.3, 0.7]);
    expect(slotWeights([0, 1], [true, false], 0.1)).to.deep.equal([0, 1]);
    expect(slotWeights([0.3, 0.7], [true, false], 'weights')).to.deep.equal([0.3, 0.7]);
  });
});

/** Per zero-branch slot of the shallow model balanced like `fused` (the fused net has its structure): the fused weights. */
function zeroBranchWeights(fused: Network, balancedLike: Network): Float32Array[] {
  const slots = buildTopology(balancedLike, false).slots;
  const fusedSlots = buildTopology(fused, false).slots;
  return slots.flatMap((slot, k) => (slot.zeroBranch ? [fusedSlots[k].layer.op.weight.data] : []));
}

describe('fusion: unmatched blocks in fuse', () => {
  const deep = buildResnet([3, 2], [4, 6], [2, 8, 8], 4, { seed: 21, batchNorm: true });
  const shallow = buildResnet([2, 1], [4, 6], [2, 8, 8], 4, { seed: 22, batchNorm: true });
  const data = randomDataset(deep, 32);

  it('default to 0.1 under regression maps and to the models\' weights with OT plans, as recorded', async () => {
    const regression = await fuse([bytesOf(deep), bytesOf(shallow)], { data, samples: 32 });
    expect(regression.options.maps).to.equal('regression');
    expect(regression.options.unmatchedBlockWeight).to.equal(0.1);
    const plans = await fuse([bytesOf(deep), bytesOf(shallow)], { data, samples: 32, maps: 'plans' });
    expect(plans.options.unmatchedBlockWeight).to.equal('weights');
  });

  it('set how much of the deep model\'s extra blocks the fused model keeps: 0 keeps none, 1 all of it', async () => {
    const run = (unmatchedBlockWeight: number) =>
      fuse([bytesOf(deep), bytesOf(shallow)], { data, samples: 32, unmatchedBlockWeight, repair: false, refit: false });
    const [none, all] = [await run(0), await run(1)];
    const balanced = none.models[1];
    const [zero, kept] = [zeroBranchWeights(none.network, balanced), zeroBranchWeights(all.network, balanced)];
    // One inserted block in each stage (3 vs 2, 2 vs 1), two convs each.
    expect(zero.length).to.equal(4);
    zero.forEach((w) => expect(w.every((v) => v === 0)).to.equal(true));
    kept.forEach((w) => expect(w.some((v) => v !== 0)).to.equal(true));
  });

  it('refuses a weight outside [0, 1] with E_ARG', async () => {
    await expectRejects(fuse([bytesOf(deep), bytesOf(shallow)], { data, samples: 32, unmatchedBlockWeight: 1.5 }), 'E_ARG', /unmatchedBlockWeight/);
  });
});
