/**
 * Float64 dense algebra of the native core (native/core/dense64.hpp) for the fitted maps of the fusion: the product
 * of two matrices and the solve of a symmetric positive definite system. Row-major, synchronous (the fusion stage
 * calls them in its own sequence), bit-identical for any thread count. Arguments are checked here (`E_ARG`).
 */
import { defaultThreads, native } from '../native.js';
import { checkAllocation } from '../resources.js';
import { checkDim, checkFinite } from './validate.js';

function float64(values: Float64Array, length: number, name: string): Float64Array {
  return checkFinite(values, length, name) as Float64Array;
}

/**
 * C = op(A) · B for op(A) (m x k) and B (k x n); op(A) is A, or with `transA` Aᵀ for A stored k x m (read in place,
 * not copied). Each C[i, j] sums its k products in ascending k.
 */
export function productF64(a: Float64Array, b: Float64Array, m: number, k: number, n: number, transA = false): Float64Array {
  for (const [value, name] of [[m, 'm'], [k, 'k'], [n, 'n']] as const) checkDim(value, name);
  checkAllocation(8 * m * n, `the ${m} x ${n} float64 product`, m * n);
  return native().dgemmSync(transA, float64(a, m * k, 'A'), float64(b, k * n, 'B'), m, k, n, defaultThreads());
}

/**
 * X with A X = B, A (n x n) symmetric positive definite (only its lower triangle is read), B (n x m), by Cholesky
 * A = L Lᵀ and two triangular solves; E_SOLVER when A is not positive definite. A and B are left unchanged.
 */
export function solveSpd(a: Float64Array, b: Float64Array, n: number, m: number): Float64Array {
  checkDim(n, 'n');
  checkDim(m, 'm');
  checkAllocation(8 * (n * n + n * m), `the ${n} x ${n} factor and the ${n} x ${m} solution`, n * (n + m));
  return native().solveSpdSync(float64(a, n * n, 'A'), float64(b, n * m, 'B'), n, m, defaultThreads());
}
