import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import {
  centeredGramSync, ckaCostMatrix, ckaCostMatrixSync, gemm, gemmSync, gram, gramSync, linearCka, linearCkaSync,
  pairwiseDistances, pairwiseDistancesSync, patchRowsSync, type DistanceMetric, type GemmOptions, type PatchWindow,
} from '../../lib/solvers/linalg.js';
import { native } from '../../lib/native.js';
import { rng } from '../support/random.js';
import { expectCode as expectCodeOf } from '../support/errors.js';

function randomF32(seed: number, length: number, offset = 0): Float32Array {
  const random = rng(seed);
  return Float32Array.from({ length }, () => offset + 2 * random() - 1);
}

function bitwiseEqual(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** A ClafusionError with `code` (the addon's own errors too: lib/addon-errors.ts wraps them). */
function expectCode(fn: () => unknown, code = 'E_ARG'): void {
  expectCodeOf(fn, code);
}

/** Double-precision C = alpha op(A) op(B) + beta C, with |alpha| sum |a b| per element for the error bound. */
function naiveGemm(a: Float32Array, b: Float32Array, m: number, n: number, k: number, o: GemmOptions) {
  const lda = o.lda ?? (o.transA ? m : k);
  const ldb = o.ldb ?? (o.transB ? k : n);
  const ldc = o.ldc ?? n;
  const alpha = o.alpha ?? 1;
  const beta = o.beta ?? 0;
  const value = new Float64Array(m * n);
  const bound = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      let abs = 0;
      for (let p = 0; p < k; p++) {
        const product = (o.transA ? a[p * lda + i] : a[i * lda + p]) * (o.transB ? b[j * ldb + p] : b[p * ldb + j]);
        sum += product;
        abs += Math.abs(product);
      }
      const c = o.c ? o.c[i * ldc + j] : 0;
      value[i * n + j] = alpha * sum + beta * c;
      bound[i * n + j] = Math.abs(alpha) * abs + Math.abs(beta * c);
    }
  }
  return { value, bound, ldc };
}

function expectGemmClose(m: number, n: number, k: number, o: GemmOptions, seed: number): void {
  const aLength = o.transA ? (k - 1) * (o.lda ?? m) + m : (m - 1) * (o.lda ?? k) + k;
  const bLength = o.transB ? (n - 1) * (o.ldb ?? k) + k : (k - 1) * (o.ldb ?? n) + n;
  const a = randomF32(seed, aLength);
  const b = randomF32(seed + 1, bLength);
  const ref = naiveGemm(a, b, m, n, k, o);
  const c = gemmSync(a, b, m, n, k, o);
  expect(c.length).to.equal(m * ref.ldc);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const tolerance = 4 * k * 1.2e-7 * ref.bound[i * n + j] + 1e-30;
      expect(Math.abs(c[i * ref.ldc + j] - ref.value[i * n + j]), `C[${i},${j}]`).to.be.at.most(tolerance);
    }
  }
}

const KERNEL_SHAPE = [41, 75, 300];

describe('gemm', () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [7, 13, 5], [130, 67, 259]];
  for (const [m, n, k] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`${m}x${n}x${k}, transA=${transA}, transB=${transB} matches a double reference`, () => {
          expectGemmClose(m, n, k, { transA, transB }, m + n + k);
        });
      }
    }
  }

  it('applies alpha and beta with a given C, and leaves that C unchanged', () => {
    const c = randomF32(9, 7 * 13);
    const copy = c.slice();
    expectGemmClose(7, 13, 5, { alpha: 0.5, beta: -1.5, c }, 3);
    expectGemmClose(130, 67, 259, { alpha: -2, beta: 0.25, c: randomF32(10, 130 * 67), transB: true }, 4);
    expect(bitwiseEqual(c, copy)).to.equal(true);
  });

  it('honours leading dimensions larger than the rows', () => {
    expectGemmClose(9, 11, 21, { lda: 30, ldb: 17, ldc: 12, c: randomF32(5, 9 * 12), beta: 1 }, 6);
    expectGemmClose(9, 11, 21, { transA: true, transB: true, lda: 10, ldb: 25 }, 7);
  });

  it('crosses every block edge (k in two panels, n past one column panel, ragged tiles)', () => {
    expectGemmClose(13, 3100, 520, { transB: true }, 8);
  });

  it('gives bit-identical results for 1, 2 and 3 threads, run after run', () => {
    const [m, n, k] = [301, 203, 700];
    const a = randomF32(11, m * k);
    const b = randomF32(12, k * n);
    const one = gemmSync(a, b, m, n, k, { threads: 1 });
    expect(bitwiseEqual(gemmSync(a, b, m, n, k, { threads: 2 }), one)).to.equal(true);
    expect(bitwiseEqual(gemmSync(a, b, m, n, k, { threads: 3 }), one)).to.equal(true);
    expect(bitwiseEqual(gemmSync(a, b, m, n, k, { threads: 1 }), one)).to.equal(true);
  });

  it('gives the same bits with the AVX2 kernel as with the one this CPU picked (CLAFUSION_GEMM_KERNEL=avx2)', () => {
    // Full tiles and ragged edges of both kernels (6 x 16 and 12 x 32), two depth panels, alpha and beta.
    const program = `
      import { gemmSync } from './lib/solvers/linalg.js';
      const [m, n, k] = ${JSON.stringify(KERNEL_SHAPE)};
      const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37));
      const b = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i * 0.11));
      const c = Float32Array.from({ length: m * n }, (_, i) => Math.sin(i));
      const out = gemmSync(a, b, m, n, k, { transB: true, alpha: 0.7, beta: 1.3, c });
      process.stdout.write(Buffer.from(out.buffer).toString('hex'));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
      encoding: 'utf8', env: { ...process.env, CLAFUSION_GEMM_KERNEL: 'avx2' },
    });
    expect(child.status, child.stderr).to.equal(0);
    const [m, n, k] = KERNEL_SHAPE;
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37));
    const b = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i * 0.11));
    const c = Float32Array.from({ length: m * n }, (_, i) => Math.sin(i));
    const here = gemmSync(a, b, m, n, k, { transB: true, alpha: 0.7, beta: 1.3, c });
    expect(child.stdout).to.equal(Buffer.from(here.buffer).toString('hex'));
  });

  it('the Promise form equals the Sync form', async () => {
    const a = randomF32(13, 40 * 30);
    const b = randomF32(14, 30 * 20);
    expect(bitwiseEqual(await gemm(a, b, 40, 20, 30), gemmSync(a, b, 40, 20, 30))).to.equal(true);
  });

  it('rejects bad arguments with E_ARG', () => {
    const a = randomF32(1, 6);
    expectCode(() => gemmSync(a, a, 0, 2, 3));
    expectCode(() => gemmSync(a, a, 2, 2, 2.5));
    expectCode(() => gemmSync(a, a, 2, 2, 2));
    expectCode(() => gemmSync(Float64Array.from(a) as unknown as Float32Array, a, 2, 2, 3));
    expectCode(() => gemmSync(Float32Array.from([1, 2, NaN, 4, 5, 6]), a, 2, 2, 3));
    expectCode(() => gemmSync(Float32Array.from([1, 2, Infinity, 4, 5, 6]), a, 3, 2, 2));
    expectCode(() => gemmSync(a, a, 2, 3, 3, { lda: 2 }));
    expectCode(() => gemmSync(a, a, 3, 2, 2, { beta: 1 }));
    expectCode(() => gemmSync(a, a, 3, 2, 2, { alpha: NaN }));
    expectCode(() => gemmSync(a, a, 3, 2, 2, { c: new Float32Array(5), beta: 1 }));
    expectCode(() => gemmSync(a, a, 3, 2, 2, { threads: 0 }));
  });
});

function naiveDistances(x: Float32Array, n: number, y: Float32Array, m: number, d: number, metric: DistanceMetric): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let sq = 0;
      let dot = 0;
      let xx = 0;
      let yy = 0;
      for (let p = 0; p < d; p++) {
        const [u, v] = [x[i * d + p], y[j * d + p]];
        sq += (u - v) ** 2;
        dot += u * v;
        xx += u * u;
        yy += v * v;
      }
      const cosine = xx === 0 || yy === 0 ? 1 : 1 - dot / Math.sqrt(xx * yy);
      out[i * m + j] = metric === 'sqeuclidean' ? sq : metric === 'euclidean' ? Math.sqrt(sq) : cosine;
    }
  }
  return out;
}

describe('pairwiseDistances', () => {
  const [n, m, d] = [37, 19, 23];
  const x = randomF32(21, n * d, 0.5);
  const y = randomF32(22, m * d, 0.5);
  for (const metric of ['sqeuclidean', 'euclidean', 'cosine'] as const) {
    it(`${metric} matches a double reference`, () => {
      const got = pairwiseDistancesSync(x, n, y, m, d, { metric });
      const want = naiveDistances(x, n, y, m, d, metric);
      // The norm expansion loses ~eps * (|x|^2 + |y|^2) absolutely; sqrt turns that into a relative error of the root.
      const scale = metric === 'cosine' ? 1 : metric === 'euclidean' ? 3 : d;
      for (let e = 0; e < got.length; e++) expect(Math.abs(got[e] - want[e]), `element ${e}`).to.be.below(2e-5 * scale);
    });
  }

  it('is never negative, about 0 between identical rows, and cosine is 1 against a zero row', () => {
    const squared = pairwiseDistancesSync(x, n, x, n, d);
    for (let i = 0; i < n; i++) expect(squared[i * n + i]).to.be.within(0, 1e-4);
    expect(Math.min(...squared)).to.be.at.least(0);
    const zero = new Float32Array(2 * d);
    const cosine = pairwiseDistancesSync(zero, 2, y, m, d, { metric: 'cosine' });
    expect(Array.from(cosine)).to.deep.equal(new Array(2 * m).fill(1));
  });

  it('gives bit-identical results for 1 and 2 threads and equals its Promise form', async () => {
    const big = randomF32(23, 150 * 300);
    const one = pairwiseDistancesSync(big, 150, big, 150, 300, { threads: 1, metric: 'euclidean' });
    expect(bitwiseEqual(pairwiseDistancesSync(big, 150, big, 150, 300, { threads: 2, metric: 'euclidean' }), one)).to.equal(true);
    expect(bitwiseEqual(await pairwiseDistances(big, 150, big, 150, 300, { metric: 'euclidean' }), one)).to.equal(true);
  });

  it('rejects bad arguments with E_ARG', () => {
    expectCode(() => pairwiseDistancesSync(x, n, y, m, 0));
    expectCode(() => pairwiseDistancesSync(x, n + 1, y, m, d));
    expectCode(() => pairwiseDistancesSync(x, n, y, m, d, { metric: 'manhattan' as DistanceMetric }));
    expectCode(() => pairwiseDistancesSync(Float32Array.from([NaN]), 1, y, m, 1));
    expectCode(() => pairwiseDistancesSync(x, n, y, m, d, { threads: -1 }));
  });

  it('names the first non-finite value of a large input, past the scan blocks', () => {
    const rows = 100;
    const cols = 1000;
    const big = new Float32Array(rows * cols).fill(0.5);
    for (const [index, value] of [[0, NaN], [4095, Infinity], [4096, -Infinity], [rows * cols - 1, NaN]] as const) {
      const copy = big.slice();
      copy[index] = value;
      let message = '';
      try {
        pairwiseDistancesSync(copy, rows, big, rows, cols);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).to.equal(`X[${index}] is ${value}; every value must be finite`);
    }
  });
});

/** Column-centred copy of the n x d matrix, in double. */
function centreColumns(x: ArrayLike<number>, n: number, d: number): Float64Array {
  const out = Float64Array.from(x);
  for (let p = 0; p < d; p++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += out[i * d + p] / n;
    for (let i = 0; i < n; i++) out[i * d + p] -= mean;
  }
  return out;
}

/** ‖Aᵀ B‖_F² for n x da and n x db matrices. */
function crossNormSquared(a: Float64Array, b: Float64Array, n: number, da: number, db: number): number {
  let total = 0;
  for (let p = 0; p < da; p++) {
    for (let q = 0; q < db; q++) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += a[i * da + p] * b[i * db + q];
      total += sum * sum;
    }
  }
  return total;
}

/** Linear CKA in feature space: ‖X̃ᵀỸ‖² / (‖X̃ᵀX̃‖ ‖ỸᵀỸ‖), spec §1.2. */
function featureSpaceCka(x: Float32Array, y: Float32Array, n: number, dx: number, dy: number): number {
  const xc = centreColumns(x, n, dx);
  const yc = centreColumns(y, n, dy);
  return crossNormSquared(xc, yc, n, dx, dy) / Math.sqrt(crossNormSquared(xc, xc, n, dx, dx) * crossNormSquared(yc, yc, n, dy, dy));
}

/** A random d x d orthogonal matrix (Gram-Schmidt on random columns), row-major, double. */
function randomOrthogonal(seed: number, d: number): Float64Array {
  const q = Float64Array.from(randomF32(seed, d * d));
  for (let c = 0; c < d; c++) {
    for (let prev = 0; prev < c; prev++) {
      let dot = 0;
      for (let r = 0; r < d; r++) dot += q[r * d + c] * q[r * d + prev];
      for (let r = 0; r < d; r++) q[r * d + c] -= dot * q[r * d + prev];
    }
    let norm = 0;
    for (let r = 0; r < d; r++) norm += q[r * d + c] ** 2;
    for (let r = 0; r < d; r++) q[r * d + c] /= Math.sqrt(norm);
  }
  return q;
}

function times(x: Float32Array, q: Float64Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let sum = 0;
      for (let p = 0; p < d; p++) sum += x[i * d + p] * q[p * d + j];
      out[i * d + j] = sum;
    }
  }
  return out;
}

describe('Gram matrices', () => {
  const [n, d] = [23, 600];
  const x = randomF32(31, n * d, 0.3);

  it('gram is X Xᵀ and centeredGram is H X Xᵀ H (rows summing to 0)', async () => {
    const k = await gram(x, n, d);
    const centred = centeredGramSync(x, n, d);
    const reference = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        for (let p = 0; p < d; p++) reference[i * n + j] += x[i * d + p] * x[j * d + p];
      }
    }
    const rowMean = (i: number) => reference.slice(i * n, i * n + n).reduce((s, v) => s + v, 0) / n;
    const grand = Array.from({ length: n }, (_, i) => rowMean(i)).reduce((s, v) => s + v, 0) / n;
    for (let i = 0; i < n; i++) {
      let rowSum = 0;
      for (let j = 0; j < n; j++) {
        expect(k[i * n + j]).to.be.closeTo(reference[i * n + j], 1e-3);
        expect(k[i * n + j]).to.equal(k[j * n + i]);
        expect(centred[i * n + j]).to.be.closeTo(reference[i * n + j] - rowMean(i) - rowMean(j) + grand, 1e-3);
        rowSum += centred[i * n + j];
      }
      expect(Math.abs(rowSum)).to.be.below(1e-9);
    }
  });

  it('is bit-identical for 1 and 2 threads', () => {
    expect(bitwiseEqual(gramSync(x, n, d, { threads: 1 }), gramSync(x, n, d, { threads: 2 }))).to.equal(true);
    expect(bitwiseEqual(centeredGramSync(x, n, d, { threads: 1 }), centeredGramSync(x, n, d, { threads: 2 }))).to.equal(true);
  });

  it('rejects bad arguments with E_ARG', () => {
    expectCode(() => gramSync(x, n, 0));
    expectCode(() => gramSync(x, n, d + 1));
    expectCode(() => centeredGramSync(Float32Array.from([1, Infinity]), 1, 2));
  });
});

describe('linear CKA', () => {
  const [n, dx, dy] = [40, 6, 9];
  const x = randomF32(41, n * dx);
  const y = randomF32(42, n * dy, 0.2);

  it('CKA(X, X) = 1, biased and debiased', () => {
    expect(linearCkaSync(x, x, n, dx, dx)).to.be.closeTo(1, 1e-12);
    expect(linearCkaSync(x, x, n, dx, dx, { debiased: true })).to.be.closeTo(1, 1e-12);
  });

  it('is invariant to orthogonal transforms and isotropic scaling of either side', () => {
    const base = linearCkaSync(x, y, n, dx, dy);
    const baseDebiased = linearCkaSync(x, y, n, dx, dy, { debiased: true });
    const rotated = times(x, randomOrthogonal(43, dx), n, dx);
    const scaled = y.map((v) => 3.7 * v);
    expect(linearCkaSync(rotated, y, n, dx, dy)).to.be.closeTo(base, 1e-5);
    expect(linearCkaSync(x, scaled, n, dx, dy)).to.be.closeTo(base, 1e-5);
    expect(linearCkaSync(rotated, scaled, n, dx, dy, { debiased: true })).to.be.closeTo(baseDebiased, 1e-5);
    expect(linearCkaSync(rotated, x, n, dx, dx)).to.be.closeTo(1, 1e-5);
  });

  it('equals the feature-space formula ‖X̃ᵀỸ‖²/(‖X̃ᵀX̃‖‖ỸᵀỸ‖), also for activations with a large mean', () => {
    expect(linearCkaSync(x, y, n, dx, dy)).to.be.closeTo(featureSpaceCka(x, y, n, dx, dy), 1e-6);
    const shiftedX = randomF32(44, n * 700, 300);
    const shiftedY = randomF32(45, n * 50, 1000);
    expect(linearCkaSync(shiftedX, shiftedY, n, 700, 50)).to.be.closeTo(featureSpaceCka(shiftedX, shiftedY, n, 700, 50), 1e-6);
  });

  it('reproduces numpy on a small hand example (values computed by the script below)', async () => {
    // /usr/bin/python3, numpy 1.24:
    //   X = np.array([[1,2,0],[0,1,3],[2,2,1],[4,0,1],[1,3,2],[0,0,1]], float); Y = np.array([[1,0],[2,1],[0,3],[1,1],[3,2],[2,2]], float)
    //   centre = lambda K: K - K.mean(0)[None] - K.mean(1)[:, None] + K.mean()
    //   def ucentre(K):  # Kornblith et al. 2019, center_gram(unbiased=True)
    //       n = len(K); K = K.copy(); np.fill_diagonal(K, 0); m = K.sum(0) / (n - 2); m -= m.sum() / (2 * (n - 1))
    //       K -= m[:, None]; K -= m[None]; np.fill_diagonal(K, 0); return K
    //   cka = lambda c: (c(X@X.T) * c(Y@Y.T)).sum() / np.sqrt((c(X@X.T)**2).sum() * (c(Y@Y.T)**2).sum())
    //   cka(centre) -> 0.23604820050414121, cka(ucentre) -> 0.006363362902676812
    const hx = Float32Array.from([1, 2, 0, 0, 1, 3, 2, 2, 1, 4, 0, 1, 1, 3, 2, 0, 0, 1]);
    const hy = Float32Array.from([1, 0, 2, 1, 0, 3, 1, 1, 3, 2, 2, 2]);
    // Centring the features rounds them to float32 (the GEMM's precision), hence 1e-7 and not 1e-15.
    expect(await linearCka(hx, hy, 6, 3, 2)).to.be.closeTo(0.23604820050414121, 1e-7);
    expect(await linearCka(hx, hy, 6, 3, 2, { debiased: true })).to.be.closeTo(0.006363362902676812, 1e-7);
  });

  it('is 0 against a representation without variance', () => {
    expect(linearCkaSync(x, new Float32Array(n * 3).fill(2.5), n, dx, 3)).to.equal(0);
  });

  it('rejects bad arguments with E_ARG (n <= 3 for the debiased form)', () => {
    expectCode(() => linearCkaSync(x.subarray(0, 3 * dx), y.subarray(0, 3 * dy), 3, dx, dy, { debiased: true }));
    expectCode(() => linearCkaSync(x.subarray(0, dx), y.subarray(0, dy), 1, dx, dy));
    expectCode(() => linearCkaSync(x, y, n, dx, dx));
    expectCode(() => linearCkaSync(x, y, n, 0, dy));
  });
});

describe('ckaCostMatrix', () => {
  const n = 30;
  const widths = [5, 8, 3];
  const layers = widths.map((d, i) => ({ d, x: randomF32(50 + i, n * d, i) }));
  const shallow = layers.slice(0, 2);

  it('is 1 - linearCka for every (deep, shallow) pair, rows = deep layers, from raw or centred Grams', async () => {
    for (const debiased of [false, true]) {
      const cost = await ckaCostMatrix(layers.map((l) => gramSync(l.x, n, l.d)), shallow.map((l) => centeredGramSync(l.x, n, l.d)), n, { debiased });
      expect(cost.length).to.equal(6);
      layers.forEach((deep, i) => shallow.forEach((low, j) => {
        // Centring a raw Gram of features with mean i costs a little precision that centring the features does not.
        expect(cost[i * 2 + j]).to.be.closeTo(1 - linearCkaSync(deep.x, low.x, n, deep.d, low.d, { debiased }), 1e-7);
      }));
    }
  });

  it('is bit-identical for 1 and 2 threads', () => {
    const grams = layers.map((l) => gramSync(l.x, n, l.d));
    expect(bitwiseEqual(ckaCostMatrixSync(grams, grams, n, { threads: 1 }), ckaCostMatrixSync(grams, grams, n, { threads: 2 }))).to.equal(true);
  });

  it('rejects bad arguments with E_ARG', () => {
    const good = gramSync(layers[0].x, n, layers[0].d);
    const asymmetric = good.slice();
    asymmetric[1] += 1;
    const notFinite = good.slice();
    notFinite[0] = NaN;
    expectCode(() => ckaCostMatrixSync([], [good], n));
    expectCode(() => ckaCostMatrixSync([good], [asymmetric], n));
    expectCode(() => ckaCostMatrixSync([notFinite], [good], n));
    expectCode(() => ckaCostMatrixSync([good], [good], n - 1));
    expectCode(() => ckaCostMatrixSync([good.subarray(0, 9)], [good.subarray(0, 9)], 3, { debiased: true }));
    expectCode(() => ckaCostMatrixSync([Float32Array.from(good) as unknown as Float64Array], [good], n));
  });
});

describe('linalg native layer (below the TypeScript checks)', () => {
  it('rejects short arrays, wrong element types and unknown metrics with E_ARG', () => {
    const addon = native();
    const a = new Float32Array(3);
    expectCode(() => addon.sgemmSync(false, false, 2, 2, 2, 1, a, 2, new Float32Array(4), 2, 0, null, 2, 1));
    expectCode(() => addon.pairwiseDistancesSync(new Float32Array(4), 2, new Float32Array(4), 2, 2, 'manhattan', 1));
    expectCode(() => addon.gramSync(new Float64Array(4) as unknown as Float32Array, 2, 2, false, 1));
    expectCode(() => addon.ckaCostMatrixSync([new Float64Array(3)], [new Float64Array(4)], 2, false, 1));
  });

  it('rejects core argument errors from a worker thread as an E_ARG Promise rejection', async () => {
    const rejected = await native().gram(new Float32Array(0), 0, 4, false, 1).then(() => null, (err: unknown) => err);
    expect(rejected).to.have.property('code', 'E_ARG');
    const debiased = await native().linearCka(new Float32Array(3), new Float32Array(3), 3, 1, 1, true, 1).then(() => null, (err: unknown) => err);
    expect(debiased).to.have.property('code', 'E_ARG');
  });
});

describe('patchRowsSync (conv input patches at chosen positions)', () => {
  // 3 channels of 7 x 6, a 3 x 2 kernel with stride (2, 1), padding (1, 0) and dilation (1, 2): output 4 x 4.
  const window: PatchWindow = { input: [3, 7, 6], kernel: [3, 2], stride: [2, 1], pads: [1, 0], dilations: [1, 2], outputWidth: 4 };
  const count = 2;
  const used = 5;
  const x = randomF32(3, count * 3 * 7 * 6);
  const positions = Int32Array.from({ length: count * used }, (_, k) => (k * 7 + 3) % 16);

  /** The definition, one value at a time. */
  function naivePatches(offset: boolean): Float32Array {
    const rows = 3 * 3 * 2 + (offset ? 1 : 0);
    const out = new Float32Array(count * rows * used);
    for (let n = 0; n < count; n++) {
      for (let k = 0; k < used; k++) {
        const p = positions[n * used + k];
        const [oy, ox] = [Math.floor(p / 4), p % 4];
        for (let c = 0; c < 3; c++) {
          for (let i = 0; i < 3; i++) {
            for (let j = 0; j < 2; j++) {
              const [yy, xx] = [oy * 2 - 1 + i, ox - 0 + 2 * j];
              const inside = yy >= 0 && yy < 7 && xx >= 0 && xx < 6;
              out[(n * rows + (c * 3 + i) * 2 + j) * used + k] = inside ? x[((n * 3 + c) * 7 + yy) * 6 + xx] : 0;
            }
          }
        }
        if (offset) out[(n * rows + rows - 1) * used + k] = 1;
      }
    }
    return out;
  }

  it('copies the window of every chosen position (zeros in the padding, a row of 1s for the offset)', () => {
    for (const offset of [false, true]) {
      expect(bitwiseEqual(patchRowsSync(x, count, window, positions, used, offset), naivePatches(offset)), `offset ${offset}`).to.equal(true);
    }
  });

  it('gives the same bits on one thread and on all', () => {
    expect(bitwiseEqual(patchRowsSync(x, count, window, positions, used, true, { threads: 1 }),
      patchRowsSync(x, count, window, positions, used, true))).to.equal(true);
  });

  it('refuses inputs that do not match the window (E_ARG)', () => {
    expectCode(() => patchRowsSync(x.subarray(1), count, window, positions, used, false));
    expectCode(() => patchRowsSync(x, count, window, positions.subarray(1), used, false));
    expectCode(() => patchRowsSync(x, count, { ...window, kernel: [0, 2] }, positions, used, false));
    expectCode(() => native().patchRowsSync(x, count, new Int32Array(11), positions, used, false, 1));
  });
});
