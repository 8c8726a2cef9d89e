/**
 * Layer-to-layer costs for the cross-layer alignment (spec §1.2). Rows are the deep network's units, columns the
 * shallow network's, m x n row-major:
 * - `neuron`: (n_i − n_j)², the squared difference of the widths (no data needed; the published default);
 * - `cka`: 1 − linear CKA between the units' representations, N x (C·H·W) per unit, one centred Gram per unit
 *   (the CNN default of the paper; our default whenever data is given);
 * - `wasserstein`: the exact OT cost between the two units' channels, each channel a point in R^{N·H·W}, uniform
 *   weights, euclidean ground metric (`emd2`).
 */
import { ClafusionError } from '../../errors.js';
import { centeredGram, ckaCostMatrix, pairwiseDistances } from '../../solvers/linalg.js';
import { emd, uniform } from '../../solvers/emd.js';
import { type ActivationTensor, unitRows } from '../activations.js';

export type LayerCost = 'cka' | 'neuron' | 'wasserstein';

export function neuronCost(deepWidths: number[], shallowWidths: number[]): Float64Array {
  const n = shallowWidths.length;
  const cost = new Float64Array(deepWidths.length * n);
  deepWidths.forEach((a, i) => shallowWidths.forEach((b, j) => { cost[i * n + j] = (a - b) ** 2; }));
  return cost;
}

function samplesOf(tensors: ActivationTensor[]): number {
  const samples = tensors[0].shape[0];
  if (tensors.some((t) => t.shape[0] !== samples)) throw new ClafusionError('E_SHAPE', 'layer representations must share the same samples');
  return samples;
}

export async function ckaCost(deep: ActivationTensor[], shallow: ActivationTensor[]): Promise<Float64Array> {
  const samples = samplesOf([...deep, ...shallow]);
  const grams = (tensors: ActivationTensor[]) =>
    Promise.all(tensors.map((t) => centeredGram(t.data, samples, t.data.length / samples)));
  return ckaCostMatrix(await grams(deep), await grams(shallow), samples, { debiased: false });
}

export async function wassersteinCost(deep: ActivationTensor[], shallow: ActivationTensor[]): Promise<Float64Array> {
  const deepRows = deep.map((t) => unitRows([t]));
  const shallowRows = shallow.map((t) => unitRows([t]));
  const cost = new Float64Array(deep.length * shallow.length);
  for (let i = 0; i < deepRows.length; i++) {
    for (let j = 0; j < shallowRows.length; j++) {
      const x = deepRows[i];
      const y = shallowRows[j];
      if (x.dim !== y.dim) {
        throw new ClafusionError('E_SHAPE', `the wasserstein layer cost needs units with the same samples and spatial size (${x.dim} vs ${y.dim} values per channel)`);
      }
      const ground = await pairwiseDistances(x.data, x.rows, y.data, y.rows, x.dim, { metric: 'euclidean' });
      cost[i * shallowRows.length + j] = (await emd(uniform(x.rows), uniform(y.rows), ground)).cost;
    }
  }
  return cost;
}
