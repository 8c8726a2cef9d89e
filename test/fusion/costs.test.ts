/** The moment-based ground costs (lib/fusion/otfuse/costs.ts) and the exactness of fusion with them. */
import { expect } from 'chai';
import { correlationCost, pointMoments, stackMoments } from '../../lib/fusion/otfuse/costs.js';
import { otFuse } from '../../lib/fusion/otfuse/index.js';
import {
  expectSameWeights, fusionCases, fusionStatistics, logits, maxAbsDiff, permuteNetwork, rng,
} from './helpers.js';

function points(rows: number[][]) {
  return { data: Float32Array.from(rows.flat()), rows: rows.length, dim: rows[0].length };
}

describe('correlation ground cost', () => {
  it('is 1 − ρ: 0 for a positive affine copy, 2 for a negated one, 1 against a constant unit', async () => {
    const source = points([[1, 2, 3, 4]]);
    const target = points([[3, 5, 7, 9], [-1, -2, -3, -4], [5, 5, 5, 5], [1, 0, 0, 1]]);
    const cost = correlationCost(await pointMoments(source, target));
    expect(cost[0]).to.be.closeTo(0, 1e-6);
    expect(cost[1]).to.be.closeTo(2, 1e-6);
    expect(cost[2]).to.equal(1);
    expect(cost[3]).to.be.closeTo(1, 1e-6); // [1,0,0,1] is symmetric about the middle: ρ = 0
  });

  it('does not change when a unit is rescaled and shifted (unlike the euclidean distance)', async () => {
    const random = rng(3);
    const rows = Array.from({ length: 5 }, () => Array.from({ length: 40 }, () => random() - 0.5));
    const moved = rows.map((row, u) => row.map((v) => (u + 1) * 3 * v + u - 2));
    const target = points(rows.map((row) => row.map((v, k) => v + 0.3 * Math.sin(k))));
    const plain = correlationCost(await pointMoments(points(rows), target));
    const affine = correlationCost(await pointMoments(points(moved), target));
    expect(maxAbsDiff(plain, affine)).to.be.below(1e-5);
  });

  it('of stacked taps equals the cost of the concatenated points', async () => {
    const random = rng(4);
    const block = (cols: number) => Array.from({ length: 3 }, () => Array.from({ length: cols }, () => random()));
    const [a1, a2, b1, b2] = [block(6), block(9), block(6), block(9)];
    const joined = (x: number[][], y: number[][]) => x.map((row, u) => [...row, ...y[u]]);
    const parts = [await pointMoments(points(a1), points(b1)), await pointMoments(points(a2), points(b2))];
    const stacked = stackMoments(parts.map((p) => p.source), parts.map((p) => p.target), parts[0].cross.map((v, k) => v + parts[1].cross[k]));
    const whole = await pointMoments(points(joined(a1, a2)), points(joined(b1, b2)));
    expect(maxAbsDiff(correlationCost(stacked), correlationCost(whole))).to.be.below(1e-6);
  });
});

describe('fusion with the correlation cost is exact on the invariants', () => {
  for (const [name, build] of fusionCases) {
    for (const mode of ['activations', 'weights'] as const) {
      it(`fuse(A, P(A)) = A: ${name}, ${mode} mode`, async () => {
        const a = build();
        const permuted = permuteNetwork(a, 17);
        const stats = mode === 'activations' ? await fusionStatistics([permuted], a) : undefined;
        const { network } = await otFuse([permuted], a, [0.5, 0.5], { mode, metric: 'correlation' }, stats);
        expectSameWeights(network, a);
        expect(maxAbsDiff(logits(network), logits(a))).to.be.below(1e-4);
      });
    }
  }

  it('fuse(A, A) = A', async () => {
    const a = fusionCases[4][1]();
    const options = { mode: 'activations', metric: 'correlation' } as const;
    const { network } = await otFuse([a], a, [0.5, 0.5], options, await fusionStatistics([a], a));
    expectSameWeights(network, a, 0);
  });
});
