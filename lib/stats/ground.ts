/**
 * The OT ground cost between the units of two layers from streamed statistics instead of stored activations. A unit
 * is the point x_i ∈ R^{N·P} (its values over the samples and positions; several taps of one map stack their
 * points), so with the cross moments M_ij = ⟨x_i, y_j⟩ and the squared norms ‖x_i‖², ‖y_j‖² (the channels' Σx²):
 *
 *   sqeuclidean  max(‖x_i‖² + ‖y_j‖² − 2 M_ij, 0)        euclidean  its square root
 *   cosine       1 − M_ij / (‖x_i‖ ‖y_j‖), in [0, 2]; a zero unit is at distance 1 from every unit
 *
 * the values `pairwiseDistances` gives on the stacked points (to float rounding), in float32 for the solvers.
 */
import { ClafusionError } from '../errors.js';
import type { DistanceMetric } from '../solvers/linalg.js';

/** The moments of one pair of unit sets: cross (rows x cols), and each side's squared norms. */
export interface PairMoments {
  cross: Float64Array;
  rowSquares: Float64Array;
  colSquares: Float64Array;
}

/** D (rows x cols, float32) under `metric` from the moments. */
export function momentDistances(moments: PairMoments, metric: DistanceMetric): Float32Array {
  const { cross, rowSquares, colSquares } = moments;
  const rows = rowSquares.length;
  const cols = colSquares.length;
  if (cross.length !== rows * cols) throw new ClafusionError('E_SHAPE', `${cross.length} cross moments for ${rows} x ${cols} units`);
  const distances = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const dot = cross[i * cols + j];
      let value: number;
      if (metric === 'cosine') {
        const norms = Math.sqrt(rowSquares[i]) * Math.sqrt(colSquares[j]);
        value = norms > 0 ? Math.min(Math.max(1 - dot / norms, 0), 2) : 1;
      } else {
        const squared = Math.max(rowSquares[i] + colSquares[j] - 2 * dot, 0);
        value = metric === 'sqeuclidean' ? squared : Math.sqrt(squared);
      }
      distances[i * cols + j] = value;
    }
  }
  return distances;
}

/** Element-wise sum of arrays of one length, in the order given (the taps of one map add up this way). */
export function sumArrays(arrays: Float64Array[]): Float64Array {
  const total = Float64Array.from(arrays[0]);
  for (const a of arrays.slice(1)) for (let k = 0; k < total.length; k++) total[k] += a[k];
  return total;
}
