/**
 * Dense linear algebra of the native core: single-precision GEMM, pairwise distances, Gram matrices and linear CKA
 * (the CLA layer cost, spec §1.2). Arguments are checked here (`E_ARG`); every heavy function returns a Promise
 * (work runs off the JS thread, reading the inputs in place: leave them unchanged until it settles) and has a
 * `...Sync` twin. Results are bit-identical for any thread count.
 */
import { requireArg } from '../errors.js';
import { defaultThreads, native } from '../native.js';
import { checkAllocation } from '../resources.js';
import { checkDim, checkFloat32, checkFinite, checkThreads } from './validate.js';
import { useGpuForDistances, type DeviceOption } from './device.js';

export interface ThreadsOption {
  /** Native threads; default: every core. The result does not depend on it. */
  threads?: number;
}

export interface GemmOptions extends ThreadsOption {
  /** Use Aᵀ: `a` is stored k x m. */
  transA?: boolean;
  /** Use Bᵀ: `b` is stored n x k. */
  transB?: boolean;
  /** Default 1. */
  alpha?: number;
  /** Default 0 (then `c` is not read). */
  beta?: number;
  /** The C added with weight beta (m x ldc, not modified: the result is a new array). */
  c?: Float32Array;
  /** Row strides of the stored A, B, C; default: packed. */
  lda?: number;
  ldb?: number;
  ldc?: number;
}

export type DistanceMetric = 'sqeuclidean' | 'euclidean' | 'cosine';

export interface DistanceOptions extends ThreadsOption {
  /** Default 'sqeuclidean'. */
  metric?: DistanceMetric;
  /**
   * 'auto' (default: the GPU when one is visible, n x m >= 512² and d is large enough for the GPU to beat this
   * machine's cores after copying the result back; see `useGpuForDistances`), 'cpu', or 'cuda' (E_ARG without a device).
   */
  device?: DeviceOption;
}

export interface CkaOptions extends ThreadsOption {
  /** Use the unbiased HSIC estimator (needs n > 3); default false, the published biased form. */
  debiased?: boolean;
}

const METRICS: readonly DistanceMetric[] = ['sqeuclidean', 'euclidean', 'cosine'];

function threadsOf(options: ThreadsOption): number {
  return checkThreads(options.threads) ?? defaultThreads();
}

function finiteNumber(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  requireArg(typeof value === 'number' && Number.isFinite(value), `${name} must be a finite number, got ${String(value)}`);
  return value;
}

/** A row stride: at least the stored row length; `undefined` means packed. */
function strideOf(value: number | undefined, rowLength: number, name: string): number {
  if (value === undefined) return rowLength;
  checkDim(value, name);
  requireArg(value >= rowLength, `${name} (${value}) must be at least the stored row length ${rowLength}`);
  return value;
}

/** Elements a row-major rows x cols operand with row stride `ld` spans. */
function spanned(rows: number, cols: number, ld: number): number {
  return (rows - 1) * ld + cols;
}

type GemmArgs = Parameters<ReturnType<typeof native>['sgemmSync']>;

function gemmArgs(a: Float32Array, b: Float32Array, m: number, n: number, k: number, options: GemmOptions): GemmArgs {
  checkDim(m, 'm');
  checkDim(n, 'n');
  checkDim(k, 'k');
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const [aRows, aCols] = transA ? [k, m] : [m, k];
  const [bRows, bCols] = transB ? [n, k] : [k, n];
  const lda = strideOf(options.lda, aCols, 'lda');
  const ldb = strideOf(options.ldb, bCols, 'ldb');
  const ldc = strideOf(options.ldc, n, 'ldc');
  checkFloat32(a, spanned(aRows, aCols, lda), 'A', options.lda !== undefined);
  checkFloat32(b, spanned(bRows, bCols, ldb), 'B', options.ldb !== undefined);
  const alpha = finiteNumber(options.alpha, 1, 'alpha');
  const beta = finiteNumber(options.beta, 0, 'beta');
  if (options.c !== undefined) checkFloat32(options.c, m * ldc, 'C');
  else requireArg(beta === 0, 'gemm: beta is not 0 but no C was given; pass options.c or drop beta');
  checkAllocation(4 * m * ldc, `gemm: the ${m} x ${ldc} float32 result`, m * ldc);
  return [transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, options.c ?? null, ldc, threadsOf(options)];
}

/**
 * C = alpha · op(A) · op(B) + beta · C for row-major float32 matrices, op(A) m x k, op(B) k x n. Returns a new
 * m x ldc Float32Array (`options.c` is read, not written). Every element sums its k products in a fixed order.
 */
export async function gemm(a: Float32Array, b: Float32Array, m: number, n: number, k: number, options: GemmOptions = {}): Promise<Float32Array> {
  return native().sgemm(...gemmArgs(a, b, m, n, k, options));
}

/** {@link gemm}, on the calling thread. */
export function gemmSync(a: Float32Array, b: Float32Array, m: number, n: number, k: number, options: GemmOptions = {}): Float32Array {
  return native().sgemmSync(...gemmArgs(a, b, m, n, k, options));
}

function distanceArgs(x: Float32Array, n: number, y: Float32Array, m: number, d: number, options: DistanceOptions) {
  checkDim(n, 'n');
  checkDim(m, 'm');
  checkDim(d, 'd');
  checkFloat32(x, n * d, 'X');
  checkFloat32(y, m * d, 'Y');
  const metric = options.metric ?? 'sqeuclidean';
  requireArg(METRICS.includes(metric), `metric must be one of ${METRICS.join(', ')}, got ${String(metric)}`);
  checkAllocation(4 * n * m, `pairwiseDistances: the ${n} x ${m} float32 result`, n * m);
  return [x, n, y, m, d, metric, threadsOf(options)] as const;
}

/**
 * D[i·m + j] = dist(X_i, Y_j) between the rows of X (n x d) and Y (m x d), float32, n x m:
 *   sqeuclidean  max(|x|² + |y|² − 2 x·y, 0)      euclidean  its square root
 *   cosine       1 − x·y / (|x| |y|) in [0, 2]; a zero row is at distance 1 from every row.
 */
export async function pairwiseDistances(x: Float32Array, n: number, y: Float32Array, m: number, d: number, options: DistanceOptions = {}): Promise<Float32Array> {
  const args = distanceArgs(x, n, y, m, d, options);
  const addon = native();
  if (!useGpuForDistances(options.device, n, m, d)) return addon.pairwiseDistances(...args);
  return addon.cudaPairwiseDistances!(x, n, y, m, d, args[5]);
}

/** {@link pairwiseDistances}, on the calling thread. */
export function pairwiseDistancesSync(x: Float32Array, n: number, y: Float32Array, m: number, d: number, options: DistanceOptions = {}): Float32Array {
  const args = distanceArgs(x, n, y, m, d, options);
  const addon = native();
  if (!useGpuForDistances(options.device, n, m, d)) return addon.pairwiseDistancesSync(...args);
  return addon.cudaPairwiseDistancesSync!(x, n, y, m, d, args[5]);
}

/**
 * Bytes the native Gram of n x d activations uses besides its n x n float64 result: each thread's float partial
 * Gram (the strips cover at most n² floats together) and its copy of a 512-feature chunk of its rows.
 */
function gramScratchBytes(n: number, d: number, threads: number): number {
  return 4 * n * n + 4 * threads * n * Math.min(d, 512);
}

function gramArgs(x: Float32Array, n: number, d: number, centered: boolean, options: ThreadsOption) {
  checkDim(n, 'n');
  checkDim(d, 'd');
  checkFloat32(x, n * d, 'X');
  const threads = threadsOf(options);
  checkAllocation(8 * n * n + gramScratchBytes(n, d, threads), `gram: the ${n} x ${n} float64 Gram matrix`, n * n);
  return [x, n, d, centered, threads] as const;
}

/** K = X Xᵀ (n x n, Float64Array) for the activations X (n samples x d features, row-major float32). */
export async function gram(x: Float32Array, n: number, d: number, options: ThreadsOption = {}): Promise<Float64Array> {
  return native().gram(...gramArgs(x, n, d, false, options));
}

/** {@link gram}, on the calling thread. */
export function gramSync(x: Float32Array, n: number, d: number, options: ThreadsOption = {}): Float64Array {
  return native().gramSync(...gramArgs(x, n, d, false, options));
}

/**
 * The centred Gram H X Xᵀ H, H = I − 11ᵀ/n (K − rowmean − colmean + grandmean), computed from column-centred X so
 * it keeps its precision when the activations have a large mean (post-ReLU features).
 */
export async function centeredGram(x: Float32Array, n: number, d: number, options: ThreadsOption = {}): Promise<Float64Array> {
  return native().gram(...gramArgs(x, n, d, true, options));
}

/** {@link centeredGram}, on the calling thread. */
export function centeredGramSync(x: Float32Array, n: number, d: number, options: ThreadsOption = {}): Float64Array {
  return native().gramSync(...gramArgs(x, n, d, true, options));
}

function checkSamples(n: number, debiased: boolean): void {
  checkDim(n, 'n (samples)');
  requireArg(!debiased || n > 3, `the debiased CKA needs more than 3 samples, got n = ${n}; use the biased form or more samples`);
  requireArg(n >= 2, 'CKA needs at least 2 samples');
}

function ckaArgs(x: Float32Array, y: Float32Array, n: number, dx: number, dy: number, options: CkaOptions) {
  const debiased = options.debiased ?? false;
  checkSamples(n, debiased);
  checkDim(dx, 'dx');
  checkDim(dy, 'dy');
  checkFloat32(x, n * dx, 'X');
  checkFloat32(y, n * dy, 'Y');
  const threads = threadsOf(options);
  // Two n x n Grams, each then centred in a copy, and the scratch of one Gram computation at a time.
  const bytes = 4 * 8 * n * n + gramScratchBytes(n, Math.max(dx, dy), threads);
  checkAllocation(bytes, `linearCka: the four ${n} x ${n} float64 Gram matrices of ${n} samples`);
  return [x, y, n, dx, dy, debiased, threads] as const;
}

/**
 * Linear CKA between two representations X (n x dx) and Y (n x dy) of the same n samples (rows):
 *   CKA = <Kc, Lc>_F / (‖Kc‖_F ‖Lc‖_F),  Kc = H X Xᵀ H,  Lc = H Y Yᵀ H   (the published, biased form), or with
 *   `debiased` the unbiased HSIC estimator of Song et al. in place of <·,·>_F (n > 3).
 * In [0, 1] for the biased form; 0 when either representation has no variance. The CLA layer cost is 1 − CKA.
 */
export async function linearCka(x: Float32Array, y: Float32Array, n: number, dx: number, dy: number, options: CkaOptions = {}): Promise<number> {
  return native().linearCka(...ckaArgs(x, y, n, dx, dy, options));
}

/** {@link linearCka}, on the calling thread. */
export function linearCkaSync(x: Float32Array, y: Float32Array, n: number, dx: number, dy: number, options: CkaOptions = {}): number {
  return native().linearCkaSync(...ckaArgs(x, y, n, dx, dy, options));
}

/** Symmetric to 1e-4 of its largest entry, like the reference's `center_gram` check. */
function checkSymmetric(gram: Float64Array, n: number, name: string): void {
  let largest = 0;
  for (const value of gram) largest = Math.max(largest, Math.abs(value));
  const tolerance = 1e-4 * largest;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      requireArg(Math.abs(gram[i * n + j] - gram[j * n + i]) <= tolerance, `${name} is not symmetric at (${i}, ${j}); pass Gram matrices X Xᵀ`);
    }
  }
}

function checkGrams(grams: unknown, n: number, name: string): Float64Array[] {
  requireArg(Array.isArray(grams) && grams.length > 0, `${name} must be a non-empty array of n x n Float64Array Gram matrices`);
  return grams.map((gram, i) => {
    requireArg(gram instanceof Float64Array, `${name}[${i}] must be a Float64Array`);
    checkFinite(gram, n * n, `${name}[${i}]`);
    checkSymmetric(gram, n, `${name}[${i}]`);
    return gram;
  });
}

function costArgs(deepGrams: Float64Array[], shallowGrams: Float64Array[], n: number, options: CkaOptions) {
  const debiased = options.debiased ?? false;
  checkSamples(n, debiased);
  const deep = checkGrams(deepGrams, n, 'deepGrams');
  const shallow = checkGrams(shallowGrams, n, 'shallowGrams');
  // Every Gram is centred once, in a copy, before the pairs are compared.
  const layers = deep.length + shallow.length;
  checkAllocation(8 * layers * n * n + 8 * deep.length * shallow.length,
    `ckaCostMatrix: centred copies of the ${layers} ${n} x ${n} Gram matrices`);
  return [deep, shallow, n, debiased, threadsOf(options)] as const;
}

/**
 * The CLA layer-cost matrix cost[i · shallow + j] = 1 − CKA(deepGrams[i], shallowGrams[j]) (rows = deep layers),
 * from one n x n Gram per layer ({@link gram} or {@link centeredGram}; each is centred once here). Prefer
 * {@link centeredGram}: centring a raw Gram of features with a large mean loses digits to cancellation.
 */
export async function ckaCostMatrix(deepGrams: Float64Array[], shallowGrams: Float64Array[], n: number, options: CkaOptions = {}): Promise<Float64Array> {
  return native().ckaCostMatrix(...costArgs(deepGrams, shallowGrams, n, options));
}

/** {@link ckaCostMatrix}, on the calling thread. */
export function ckaCostMatrixSync(deepGrams: Float64Array[], shallowGrams: Float64Array[], n: number, options: CkaOptions = {}): Float64Array {
  return native().ckaCostMatrixSync(...costArgs(deepGrams, shallowGrams, n, options));
}

/** A convolution's window over C x H x W maps (ONNX Conv attributes) and its output width. */
export interface PatchWindow {
  input: readonly [number, number, number];
  kernel: readonly [number, number];
  stride: readonly [number, number];
  /** Top and left padding. */
  pads: readonly [number, number];
  dilations: readonly [number, number];
  outputWidth: number;
}

/**
 * The input patches of `count` samples (count x C x H x W) at chosen output positions (`positions`: count x used,
 * p = oy · outputWidth + ox): per sample, C·kh·kw rows of `used` values, row (c, i, j) holding
 * x[c][oy·sh − pt + i·dh][ox·sw − pl + j·dw] (0 in the padding), then a row of 1s when `offset`. Copies only: the same
 * bits for any thread count. On the calling thread (memory-bound).
 */
export function patchRowsSync(values: Float32Array, count: number, window: PatchWindow, positions: Int32Array, used: number,
  offset: boolean, options: ThreadsOption = {}): Float32Array {
  const [c, h, w] = window.input;
  for (const [value, name] of [[count, 'count'], [c, 'channels'], [h, 'height'], [w, 'width'], [used, 'used'],
    [window.kernel[0], 'kernel height'], [window.kernel[1], 'kernel width'], [window.outputWidth, 'output width']] as const) checkDim(value, name);
  checkFloat32(values, count * c * h * w, 'values');
  requireArg(positions instanceof Int32Array && positions.length === count * used, `positions must be an Int32Array of count x used = ${count * used} entries`);
  const rows = c * window.kernel[0] * window.kernel[1] + (offset ? 1 : 0);
  checkAllocation(4 * count * rows * used, `patchRows: the ${count} x ${rows} x ${used} float32 patches`, count * rows * used);
  const geometry = Int32Array.of(c, h, w, ...window.kernel, ...window.stride, ...window.pads, ...window.dilations, window.outputWidth);
  return native().patchRowsSync(values, count, geometry, positions, used, offset, threadsOf(options));
}
