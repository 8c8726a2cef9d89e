/**
 * The float64 product and SPD solve of the native core (lib/solvers/dense64.ts, native/core/dense64.cpp): known
 * answers, residuals of random systems, bit-identical results for any thread count, coded errors.
 */
import { expect } from 'chai';
import { native } from '../../lib/native.js';
import { productF64, solveSpd } from '../../lib/solvers/dense64.js';
import { expectCode } from '../support/errors.js';
import { rng } from '../support/random.js';

function randomMatrix(rows: number, cols: number, seed: number): Float64Array {
  const random = rng(seed);
  return Float64Array.from({ length: rows * cols }, () => random() - 0.5);
}

/** G Gᵀ / k + I: symmetric positive definite. */
function randomSpd(n: number, seed: number): Float64Array {
  const g = randomMatrix(n, n, seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += g[i * n + k] * g[j * n + k];
      a[i * n + j] = s / n + (i === j ? 1 : 0);
    }
  }
  return a;
}

function naiveProduct(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const bits = (x: Float64Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');

describe('float64 dense algebra (regression maps)', () => {
  it('product: a known answer, and random shapes against the triple loop', () => {
    expect([...productF64(Float64Array.from([1, 2, 3, 4, 5, 6]), Float64Array.from([7, 8, 9, 10, 11, 12]), 2, 3, 2)]).to.deep.equal([58, 64, 139, 154]);
    // Shapes around the 4 x 8 register tiles, the 64-row blocks and the 256-column passes: full tiles and ragged edges.
    for (const [m, k, n] of [[1, 1, 1], [17, 300, 5], [40, 33, 290], [67, 129, 263], [131, 8, 16]]) {
      const a = randomMatrix(m, k, m + k);
      const b = randomMatrix(k, n, n);
      expect(maxDiff(productF64(a, b, m, k, n), naiveProduct(a, b, m, k, n)), `${m}x${k}x${n}`).to.be.below(1e-12);
      const stored = Float64Array.from({ length: k * m }, (_, idx) => a[(idx % m) * k + Math.floor(idx / m)]); // aᵀ, k x m
      expect(maxDiff(productF64(stored, b, m, k, n, true), naiveProduct(a, b, m, k, n)), `${m}x${k}x${n}, transA`).to.be.below(1e-12);
    }
  });

  it('solve: a known answer, and A X = B to rounding for random systems', () => {
    // [[4, 2], [2, 3]] x = [[2, 8], [1, 7]]  ->  x = [[0.5, 1.25], [0, 1.5]]
    expect(maxDiff(solveSpd(Float64Array.from([4, 2, 2, 3]), Float64Array.from([2, 8, 1, 7]), 2, 2), [0.5, 1.25, 0, 1.5])).to.be.below(1e-12);
    for (const [n, m] of [[1, 3], [70, 1], [300, 130], [133, 77], [6, 9]]) {
      const a = randomSpd(n, n);
      const b = randomMatrix(n, m, m);
      const x = solveSpd(a, b, n, m);
      expect(maxDiff(naiveProduct(a, x, n, n, m), b), `${n}x${m}`).to.be.below(1e-10);
    }
  });

  it('both give the same bits for 1, 2 and 3 threads, and leave their inputs unchanged', () => {
    const [n, m] = [300, 150];
    const a = randomSpd(n, 3);
    const b = randomMatrix(n, m, 4);
    const [aBits, bBits] = [bits(a), bits(b)];
    const solves = [1, 2, 3].map((threads) => bits(native().solveSpdSync(a, b, n, m, threads)));
    const products = [1, 2, 3].map((threads) => bits(native().dgemmSync(false, a, b, n, n, m, threads)));
    expect(new Set(solves).size).to.equal(1);
    expect(new Set(products).size).to.equal(1);
    expect([bits(a), bits(b)]).to.deep.equal([aBits, bBits]);
  });

  it('a matrix that is not positive definite is E_SOLVER; bad shapes and values are E_ARG', () => {
    expectCode(() => solveSpd(Float64Array.from([1, 2, 2, 1]), Float64Array.from([1, 1]), 2, 1), 'E_SOLVER', /positive definite/);
    expectCode(() => solveSpd(Float64Array.from([1, 0, 0]), Float64Array.from([1, 1]), 2, 1), 'E_ARG');
    expectCode(() => productF64(Float64Array.from([1, NaN]), Float64Array.from([1, 1]), 1, 2, 1), 'E_ARG', /finite/);
    expectCode(() => productF64(Float64Array.from([1]), Float64Array.from([1]), 0, 1, 1), 'E_ARG');
  });
});
