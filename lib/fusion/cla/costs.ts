/**
 * Layer-to-layer costs for the cross-layer alignment (spec §1.2). Rows are the deep network's units, columns the
 * shallow network's, m x n row-major:
 * - `neuron`: (n_i − n_j)², the squared difference of the widths (no data needed; the published default);
 * - `cka`: 1 − linear CKA between the units' representations, N x (C·H·W) per unit, from one streamed sample Gram
 *   per unit (the CNN default of the paper; our default whenever data is given);
 * - `wasserstein`: the exact OT cost between the two units' channels, each channel a point in R^{N·H·W}, uniform
 *   weights, euclidean ground metric (`emd2`), the ground cost from the streamed cross moments of the two units.
 */
import { ckaCostMatrix } from '../../solvers/linalg.js';
import { emd, uniform } from '../../solvers/emd.js';
import { momentDistances } from '../../stats/ground.js';
import type { Statistics } from '../../stats/statistics.js';
import type { Tap } from '../activations.js';

export type LayerCost = 'cka' | 'neuron' | 'wasserstein';

/** Where the streamed statistics of the two networks are: the pass and each network's model index in it. */
export interface ClaStatistics {
  statistics: Statistics;
  deep: number;
  shallow: number;
}

export function neuronCost(deepWidths: number[], shallowWidths: number[]): Float64Array {
  const n = shallowWidths.length;
  const cost = new Float64Array(deepWidths.length * n);
  deepWidths.forEach((a, i) => shallowWidths.forEach((b, j) => { cost[i * n + j] = (a - b) ** 2; }));
  return cost;
}

/** 1 − CKA between the units' representations, from each tap's sample Gram (centred once in ckaCostMatrix). */
export function ckaCost(deep: Tap[], shallow: Tap[], stats: ClaStatistics): Promise<Float64Array> {
  const { statistics } = stats;
  const grams = (taps: Tap[], model: number) => taps.map((tap) => statistics.gram(model, tap));
  return ckaCostMatrix(grams(deep, stats.deep), grams(shallow, stats.shallow), statistics.samples, { debiased: false });
}

/** The exact OT cost between every deep and shallow unit's channels, euclidean ground cost from the cross moments. */
export async function wassersteinCost(deep: Tap[], shallow: Tap[], stats: ClaStatistics): Promise<Float64Array> {
  const cost = new Float64Array(deep.length * shallow.length);
  for (let i = 0; i < deep.length; i++) {
    for (let j = 0; j < shallow.length; j++) {
      const moments = stats.statistics.moments(stats.deep, [deep[i]], stats.shallow, [shallow[j]]);
      const ground = momentDistances(moments, 'euclidean');
      cost[i * shallow.length + j] = (await emd(uniform(moments.rowSquares.length), uniform(moments.colSquares.length), ground)).cost;
    }
  }
  return cost;
}
