/**
 * Transport maps between the units of two layers, and how they move weights into the target's basis.
 *
 * A map is the column-normalised plan T̂ = T·diag(1/colsum(T)) (n0 x n1, row = source unit, column = target unit):
 * each column is a convex combination of source units, so T̂ᵀv is "the source's value of v, seen in target unit j".
 * For the exact plan of a permutation, T̂ is the permutation matrix exactly (x/x = 1 in floating point).
 *
 * - outputs of a layer (rows of W, biases, BN vectors): v̂ = T̂ᵀ v;
 * - inputs of the next layer: Ŵ = W·T̂_prev, tap by tap for convs and block by block across a flatten
 *   (W viewed as [out, C, repeat], with repeat = kernel taps or flattened positions per channel).
 * Exact-EMD plans are sparse (at most n0 + n1 - 1 entries), so both products loop over the nonzeros only; a fitted
 * (regression) map has more nonzeros than any plan and is applied as a native float64 product instead.
 */
import { ClafusionError } from '../errors.js';
import { productF64 } from '../solvers/dense64.js';

export interface UnitMap {
  /** Source units (n0). */
  rows: number;
  /** Target units (n1). */
  cols: number;
  /** T̂, rows x cols row-major. */
  data: Float64Array;
  /** The nonzero entries of `data` as (row, col, value) triples, row-major order. */
  nonzeros: { row: Int32Array; col: Int32Array; value: Float64Array };
}

function nonzerosOf(data: Float64Array, cols: number): UnitMap['nonzeros'] {
  let count = 0;
  for (let k = 0; k < data.length; k++) if (data[k] !== 0) count++;
  const row = new Int32Array(count);
  const col = new Int32Array(count);
  const value = new Float64Array(count);
  let next = 0;
  for (let k = 0; k < data.length; k++) {
    if (data[k] === 0) continue;
    row[next] = Math.floor(k / cols);
    col[next] = k % cols;
    value[next++] = data[k];
  }
  return { row, col, value };
}

/** Wraps a rows x cols matrix (already normalised) as a map. */
export function unitMap(data: Float64Array, rows: number, cols: number): UnitMap {
  if (data.length !== rows * cols) throw new ClafusionError('E_SHAPE', `a ${rows} x ${cols} unit map needs ${rows * cols} entries, got ${data.length}`);
  return { rows, cols, data, nonzeros: nonzerosOf(data, cols) };
}

/** The identity map on n units (source and target share a basis: the input, or pinned classes). */
export function identityMap(n: number): UnitMap {
  const data = new Float64Array(n * n);
  for (let i = 0; i < n; i++) data[i * n + i] = 1;
  return unitMap(data, n, n);
}

/**
 * T̂ = T·diag(1/(colsum(T) + epsilon)). epsilon = 0 gives exact column sums of 1; the published code adds 1e-7
 * (`reference` mode). A column with no mass (only possible with a zero target marginal) stays zero.
 */
export function columnNormalise(plan: Float64Array, rows: number, cols: number, epsilon = 0): UnitMap {
  const colSums = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) colSums[j] += plan[i * cols + j];
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const denominator = colSums[j] + epsilon;
      data[i * cols + j] = denominator > 0 ? plan[i * cols + j] / denominator : 0;
    }
  }
  return unitMap(data, rows, cols);
}

/** More nonzeros than a transport plan can have (n0 + n1 − 1): a fitted map, dense in general. */
function isDense(map: UnitMap): boolean {
  return map.nonzeros.value.length > map.rows + map.cols;
}

/** The transpose of a rows x cols row-major matrix. */
export function transposed(data: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  return out;
}

/** mapInputs of a dense map: W viewed as [out · repeat, rows] (one row per output and tap) times T̂. */
function mapInputsDense(weight: ArrayLike<number>, out: number, repeat: number, map: UnitMap): Float64Array {
  const byTap = new Float64Array(out * repeat * map.rows);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < map.rows; i++) {
      for (let r = 0; r < repeat; r++) byTap[(o * repeat + r) * map.rows + i] = weight[(o * map.rows + i) * repeat + r];
    }
  }
  const product = productF64(byTap, map.data, out * repeat, map.rows, map.cols);
  const result = new Float64Array(out * map.cols * repeat);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < map.cols; j++) {
      for (let r = 0; r < repeat; r++) result[(o * map.cols + j) * repeat + r] = product[(o * repeat + r) * map.cols + j];
    }
  }
  return result;
}

/** T̂ᵀ·V for a dense map (V: [map.rows, inner]; T̂ read transposed in place). */
function mapOutputsDense(values: ArrayLike<number>, inner: number, map: UnitMap): Float64Array {
  const v = values instanceof Float64Array ? values : Float64Array.from(values);
  return productF64(map.data, v, map.cols, map.rows, inner, true);
}

/**
 * Ŵ = W·T̂ on the input side: `weight` is [out, map.rows * repeat] (repeat = kernel taps, or flattened positions per
 * channel after a flatten, C-major); the result is [out, map.cols * repeat].
 */
export function mapInputs(weight: ArrayLike<number>, out: number, map: UnitMap): Float64Array {
  const inner = weight.length / out;
  const repeat = inner / map.rows;
  if (!Number.isInteger(repeat)) {
    throw new ClafusionError('E_SHAPE', `a layer with ${inner} inputs per unit cannot take a map over ${map.rows} input channels`);
  }
  if (isDense(map)) return mapInputsDense(weight, out, repeat, map);
  const innerOut = map.cols * repeat;
  const result = new Float64Array(out * innerOut);
  const { row, col, value } = map.nonzeros;
  for (let o = 0; o < out; o++) {
    const src = o * inner;
    const dst = o * innerOut;
    for (let k = 0; k < value.length; k++) {
      const from = src + row[k] * repeat;
      const to = dst + col[k] * repeat;
      const v = value[k];
      for (let r = 0; r < repeat; r++) result[to + r] += v * weight[from + r];
    }
  }
  return result;
}

/** v̂ = T̂ᵀ·V on the output side: `values` is [map.rows, inner] (one row per source unit); the result [map.cols, inner]. */
export function mapOutputs(values: ArrayLike<number>, map: UnitMap): Float64Array {
  const inner = values.length / map.rows;
  if (!Number.isInteger(inner)) throw new ClafusionError('E_SHAPE', `${values.length} values cannot be split over ${map.rows} source units`);
  if (isDense(map)) return mapOutputsDense(values, inner, map);
  const result = new Float64Array(map.cols * inner);
  const { row, col, value } = map.nonzeros;
  for (let k = 0; k < value.length; k++) {
    const from = row[k] * inner;
    const to = col[k] * inner;
    const v = value[k];
    for (let r = 0; r < inner; r++) result[to + r] += v * values[from + r];
  }
  return result;
}

/** The nonzeros of each column of T̂, in ascending row order (the order in which mapOutputs adds them). */
function columnNonzeros(map: UnitMap): { starts: Int32Array; order: Int32Array } {
  const { col } = map.nonzeros;
  const starts = new Int32Array(map.cols + 1);
  for (let k = 0; k < col.length; k++) starts[col[k] + 1]++;
  for (let j = 0; j < map.cols; j++) starts[j + 1] += starts[j];
  const next = starts.slice(0, map.cols);
  const order = new Int32Array(col.length);
  for (let k = 0; k < col.length; k++) order[next[col[k]]++] = k;
  return { starts, order };
}

/**
 * total += weight · T̂ᵀ·V (a dense map: through the float64 product), for a plan equal to the bit to `accumulate(total, mapOutputs(values, map), weight)` (the same additions
 * in the same order) without materialising T̂ᵀ·V, a float64 copy of the layer: per target unit j, the rows of V with a
 * nonzero in column j of T̂ are summed into a scratch row, which is then weighted into total.
 */
export function accumulateMappedOutputs(total: Float64Array, values: ArrayLike<number>, map: UnitMap, weight: number): void {
  const inner = values.length / map.rows;
  if (!Number.isInteger(inner) || total.length !== map.cols * inner) {
    throw new ClafusionError('E_SHAPE', `${values.length} values over ${map.rows} source units do not map onto ${total.length} values over ${map.cols} target units`);
  }
  if (isDense(map)) {
    const mapped = mapOutputsDense(values, inner, map);
    for (let k = 0; k < total.length; k++) total[k] += weight * mapped[k];
    return;
  }
  const { row, value } = map.nonzeros;
  const { starts, order } = columnNonzeros(map);
  const scratch = new Float64Array(inner);
  for (let j = 0; j < map.cols; j++) {
    scratch.fill(0);
    for (let n = starts[j]; n < starts[j + 1]; n++) {
      const k = order[n];
      const from = row[k] * inner;
      const v = value[k];
      for (let r = 0; r < inner; r++) scratch[r] += v * values[from + r];
    }
    const to = j * inner;
    for (let r = 0; r < inner; r++) total[to + r] += weight * scratch[r];
  }
}

