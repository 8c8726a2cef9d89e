/**
 * Where a solver runs: the CPU kernels, or the CUDA kernels of native/cuda when the CUDA addon
 * (build-cuda/Release/clafusion_cuda.node, built only where nvcc exists) is the loaded addon, which lib/native.ts
 * allows only when it sees a device. `useGpu` makes that choice at run time from a `device` option:
 *
 *   'cpu'   always the CPU;
 *   'cuda'  the GPU, or `E_ARG` when there is no CUDA addon or device;
 *   'auto'  (default) the GPU only when it is available and the problem has at least {@link AUTO_GPU_MIN_ELEMENTS}
 *           cost / output elements; below that, launches and host <-> device copies outweigh the kernels.
 *
 * `gpuSinkhorn` and `gpuPairwiseDistances` are the GPU twins of `sinkhorn` and `pairwiseDistances`, with the same
 * arguments checked the same way. On an H200 they agree with the CPU kernels to 4e-7 (plans, relative to the
 * largest entry) and 2.4e-7 (distances); scripts/gpu/results/ holds the measurements.
 */
import { ClafusionError } from '../errors.js';
import { native } from '../native.js';
import type { DistanceMetric, DistanceOptions } from './linalg.js';
import type { SinkhornOptions, SinkhornResult } from './sinkhorn.js';
import {
  asFloat64, checkDim, checkEqualMass, checkFloat32, checkHistogram, checkPositive, nativeErrorAsClafusion,
  type FloatArray,
} from './validate.js';

export type DeviceOption = 'auto' | 'cpu' | 'cuda';

/** 'auto' uses the GPU from this many elements (n x m) on: 512², where the H200 check measured it ahead. */
export const AUTO_GPU_MIN_ELEMENTS = 512 * 512;

export interface CudaDevice {
  index: number;
  name: string;
  /** "major.minor", e.g. "9.0" for Hopper. */
  computeCapability: string;
  multiprocessors: number;
  totalMemoryBytes: number;
  freeMemoryBytes: number;
}

export interface GpuInfo {
  /** Which addon is loaded: the CUDA build is loaded only where it sees a device. */
  backend: 'cpu' | 'cuda';
  /** The devices the CUDA runtime reports (empty for the CPU backend). */
  devices: CudaDevice[];
}

const DEVICE_OPTIONS: readonly DeviceOption[] = ['auto', 'cpu', 'cuda'];
const METRICS: readonly DistanceMetric[] = ['sqeuclidean', 'euclidean', 'cosine'];
const REG_MODES = ['absolute', 'median', 'max'];
/** The CPU solver's options: those that do not apply on the GPU (threads, epsilonScaling) are accepted and ignored. */
const SINKHORN_OPTION_NAMES = new Set(['regMode', 'maxIterations', 'tolerance', 'epsilonScaling', 'checkEvery', 'threads', 'throwOnNonConvergence']);
/** Relative difference of total masses accepted, as for the CPU solver. */
const MASS_TOLERANCE = 1e-6;

function fail(message: string): never {
  throw new ClafusionError('E_ARG', message);
}

/** The backend and CUDA devices of the loaded addon. Throws E_NATIVE when no addon loads at all. */
export function gpuInfo(): GpuInfo {
  const addon = native();
  const backend = addon.buildInfo().backend;
  return { backend, devices: addon.cudaInfo ? addon.cudaInfo().devices : [] };
}

/** True when the loaded addon is the CUDA build and sees at least one device. */
export function gpuAvailable(): boolean {
  const addon = native();
  return typeof addon.cudaSinkhornSync === 'function' && addon.buildInfo().cudaDevices > 0;
}

function requireGpu(what: string): void {
  if (gpuAvailable()) return;
  fail(`${what}: device 'cuda' was requested, but no CUDA device is available (the loaded addon is the CPU build: ` +
    'build-cuda/Release/clafusion_cuda.node is built only where nvcc exists at install time, and is loaded only where ' +
    "it sees a GPU; CLAFUSION_DEVICE=cpu also turns it off). Use device 'auto' or 'cpu'.");
}

/**
 * Whether a problem of `size` elements (n x m) should run on the GPU under `option` (default 'auto').
 * Throws E_ARG for an unknown option, and for 'cuda' when no CUDA device is available.
 */
export function useGpu(option: DeviceOption | undefined, size: number): boolean {
  const choice = option ?? 'auto';
  if (!DEVICE_OPTIONS.includes(choice)) fail(`device must be one of ${DEVICE_OPTIONS.join(', ')}, got ${String(choice)}`);
  if (typeof size !== 'number' || !(size >= 0)) fail(`useGpu: size must be a number >= 0, got ${String(size)}`);
  if (choice === 'cpu') return false;
  if (choice === 'cuda') {
    requireGpu('useGpu');
    return true;
  }
  return size >= AUTO_GPU_MIN_ELEMENTS && gpuAvailable();
}

type CudaSinkhornArgs = Parameters<NonNullable<ReturnType<typeof native>['cudaSinkhornSync']>>;

function sinkhornArgs(a: FloatArray, b: FloatArray, M: Float32Array, reg: number, options: SinkhornOptions): CudaSinkhornArgs {
  if (typeof options !== 'object' || options === null) fail('gpuSinkhorn: options must be an object');
  for (const key of Object.keys(options)) {
    if (!SINKHORN_OPTION_NAMES.has(key)) fail(`gpuSinkhorn: unknown option '${key}'; known options are ${[...SINKHORN_OPTION_NAMES].join(', ')}`);
  }
  checkHistogram(a, 'a');
  checkHistogram(b, 'b');
  checkEqualMass(a, b, MASS_TOLERANCE);
  checkFloat32(M, a.length * b.length, `M (a.length x b.length = ${a.length} x ${b.length}, row-major; the GPU solver takes float32)`);
  const regMode = options.regMode ?? 'absolute';
  if (!REG_MODES.includes(regMode)) fail(`gpuSinkhorn: regMode must be one of ${REG_MODES.join(', ')}, got ${String(regMode)}`);
  const throwOnNonConvergence = options.throwOnNonConvergence ?? true;
  if (typeof throwOnNonConvergence !== 'boolean') fail(`gpuSinkhorn: throwOnNonConvergence must be a boolean, got ${String(throwOnNonConvergence)}`);
  const nativeOptions = {
    reg: checkPositive(reg, 'gpuSinkhorn: reg'),
    regMode,
    maxIterations: checkDim(options.maxIterations ?? 10000, 'gpuSinkhorn: maxIterations'),
    tolerance: checkPositive(options.tolerance ?? 1e-9, 'gpuSinkhorn: tolerance'),
    checkEvery: checkDim(options.checkEvery ?? 10, 'gpuSinkhorn: checkEvery'),
    throwOnNonConvergence,
  };
  requireGpu('gpuSinkhorn');
  return [asFloat64(a), asFloat64(b), M, nativeOptions];
}

/**
 * `sinkhorn` (./sinkhorn.ts) on CUDA device 0, for a float32 cost: log-domain iterations on the dual potentials (kept in
 * double), with the CPU solver's defaults, stopping rule (||T^T 1 - b||_2 <= tolerance, rows exact) and check
 * schedule. `epsilonScaling` and `threads` do not apply (every step is a log-domain step, so logSteps = iterations);
 * the plan is the same fixed point up to the tolerance. Bit-identical from run to run on one GPU.
 */
export async function gpuSinkhorn(a: FloatArray, b: FloatArray, M: Float32Array, reg: number, options: SinkhornOptions = {}): Promise<SinkhornResult<Float32Array>> {
  const args = sinkhornArgs(a, b, M, reg, options);
  try {
    return await native().cudaSinkhorn!(...args);
  } catch (err) {
    throw nativeErrorAsClafusion(err);
  }
}

/** {@link gpuSinkhorn}, waiting on the calling thread. */
export function gpuSinkhornSync(a: FloatArray, b: FloatArray, M: Float32Array, reg: number, options: SinkhornOptions = {}): SinkhornResult<Float32Array> {
  const args = sinkhornArgs(a, b, M, reg, options);
  try {
    return native().cudaSinkhornSync!(...args);
  } catch (err) {
    throw nativeErrorAsClafusion(err);
  }
}

type CudaDistanceArgs = Parameters<NonNullable<ReturnType<typeof native>['cudaPairwiseDistancesSync']>>;

function distanceArgs(x: Float32Array, n: number, y: Float32Array, m: number, d: number, options: DistanceOptions): CudaDistanceArgs {
  checkDim(n, 'n');
  checkDim(m, 'm');
  checkDim(d, 'd');
  checkFloat32(x, n * d, 'X');
  checkFloat32(y, m * d, 'Y');
  const metric = options.metric ?? 'sqeuclidean';
  if (!METRICS.includes(metric)) fail(`metric must be one of ${METRICS.join(', ')}, got ${String(metric)}`);
  requireGpu('gpuPairwiseDistances');
  return [x, n, y, m, d, metric];
}

/**
 * `pairwiseDistances` (./linalg.ts) on CUDA device 0 (n x m, float32), with the CPU's formulas and roundings of the norms;
 * the cross term comes from a tiled SGEMM, so values differ from the CPU's only by float rounding (2.4e-7 relative
 * measured at d = 576). `threads` does not apply. Bit-identical from run to run on one GPU.
 */
export async function gpuPairwiseDistances(x: Float32Array, n: number, y: Float32Array, m: number, d: number, options: DistanceOptions = {}): Promise<Float32Array> {
  const args = distanceArgs(x, n, y, m, d, options);
  try {
    return await native().cudaPairwiseDistances!(...args);
  } catch (err) {
    throw nativeErrorAsClafusion(err);
  }
}

/** {@link gpuPairwiseDistances}, waiting on the calling thread. */
export function gpuPairwiseDistancesSync(x: Float32Array, n: number, y: Float32Array, m: number, d: number, options: DistanceOptions = {}): Float32Array {
  const args = distanceArgs(x, n, y, m, d, options);
  try {
    return native().cudaPairwiseDistancesSync!(...args);
  } catch (err) {
    throw nativeErrorAsClafusion(err);
  }
}
