/**
 * Entropic optimal transport with POT-style names: `sinkhorn` returns the plan, `sinkhorn2` the cost <T, M>.
 *
 *     T* = argmin_{T >= 0} <T, M>_F - ε H(T)   s.t.  T 1 = a,  T^T 1 = b,   H(T) = -Σ_ij T_ij (log T_ij - 1)
 *
 * so T*_ij = exp((f_i + g_j - M_ij) / ε) for dual potentials f, g. a (n) and b (m) are histograms of equal total
 * mass, M the n x m ground cost (row-major); the plan has M's precision (Float32Array or Float64Array).
 *
 * The native solver never overflows: it iterates on scalings u, v of K̃ = exp((f ⊕ g - M) / ε) and folds them into
 * f, g (a log-domain step) whenever they leave a safe range; for small ε (relative to the cost's range) it also
 * lowers ε geometrically from the cost range, warm-starting each step. The stopping rule is POT's `stopThr`:
 * ||T^T 1 - b||_2 <= tolerance, checked every `checkEvery` iterations, with the row sums exact at each check.
 */
import { ClafusionError } from '../errors.js';
import { native } from '../native.js';
import { checkAllocation } from '../resources.js';
import { checkDevice, requireGpu, useGpu, type DeviceOption } from './device.js';
import {
  asFloat64, checkDim, checkEqualMass, checkHistogram, checkPositive, checkThreads, type FloatArray,
} from './validate.js';

export type RegMode = 'absolute' | 'median' | 'max';

export interface SinkhornOptions {
  /** How `reg` is read: ε = reg ('absolute', default), reg x median(M) or reg x max(M). */
  regMode?: RegMode;
  /** Iteration cap over all ε steps (default 10000; POT's is 1000, too few for ε below ~0.005 x median). */
  maxIterations?: number;
  /** Stop when ||T^T 1 - b||_2 <= tolerance (default 1e-9, POT's stopThr). */
  tolerance?: number;
  /** ε-scaling: true, false, or 'auto' (default: on when (max M - min M) / ε > 200). */
  epsilonScaling?: boolean | 'auto';
  /** Check the marginal error every this many iterations (default 10, as POT). */
  checkEvery?: number;
  /** Native threads (default: every core); problems with fewer than 512 rows run on one. */
  threads?: number;
  /** Throw E_SOLVER when maxIterations runs out (default); false returns the partial plan with converged = false. */
  throwOnNonConvergence?: boolean;
  /**
   * 'auto' (default): the CUDA solver for a float32 cost of at least 512² elements when a GPU is visible, else the CPU;
   * 'cpu'; 'cuda' (E_ARG without a device, or with a float64 cost). On the GPU every step is a log-domain step, so
   * `epsilonScaling` and `threads` do not apply; the fixed point and the stopping rule are the same.
   */
  device?: DeviceOption;
}

export interface SinkhornResult<Plan extends FloatArray = FloatArray> {
  /** T*, n x m row-major, in M's precision. */
  plan: Plan;
  /** Dual potentials in cost units (T_ij = exp((f_i + g_j - M_ij) / ε)); -Infinity where the marginal is 0. */
  f: Float64Array;
  g: Float64Array;
  iterations: number;
  /** ||T^T 1 - b||_2 at the last check. */
  error: number;
  converged: boolean;
  /** <T, M> (POT's sinkhorn2 value), accumulated in double. */
  cost: number;
  /** The absolute ε of the final plan. */
  epsilon: number;
  /** Iterations that ran in the log domain (the start of each ε step and every absorption). */
  logSteps: number;
}

const DEFAULTS = { regMode: 'absolute', maxIterations: 10000, tolerance: 1e-9, epsilonScaling: 'auto', checkEvery: 10, throwOnNonConvergence: true } as const;
const REG_MODES: readonly RegMode[] = ['absolute', 'median', 'max'];
const OPTION_NAMES = new Set(['regMode', 'maxIterations', 'tolerance', 'epsilonScaling', 'checkEvery', 'threads', 'throwOnNonConvergence', 'device']);
/** Relative difference of total masses accepted (b is rescaled to a's mass natively). */
const MASS_TOLERANCE = 1e-6;

type NativeArgs = Parameters<ReturnType<typeof native>['sinkhornSync']>;

function fail(message: string): never {
  throw new ClafusionError('E_ARG', message);
}

function nativeOptions(reg: unknown, options: SinkhornOptions): NativeArgs[3] {
  if (typeof options !== 'object' || options === null) fail('sinkhorn: options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) fail(`sinkhorn: unknown option '${key}'; known options are ${[...OPTION_NAMES].join(', ')}`);
  }
  checkDevice(options.device);
  const regMode = options.regMode ?? DEFAULTS.regMode;
  if (!REG_MODES.includes(regMode)) fail(`sinkhorn: regMode must be one of ${REG_MODES.join(', ')}, got ${String(regMode)}`);
  const scaling = options.epsilonScaling ?? DEFAULTS.epsilonScaling;
  if (scaling !== true && scaling !== false && scaling !== 'auto') fail(`sinkhorn: epsilonScaling must be true, false or 'auto', got ${String(scaling)}`);
  const throwOnNonConvergence = options.throwOnNonConvergence ?? DEFAULTS.throwOnNonConvergence;
  if (typeof throwOnNonConvergence !== 'boolean') fail(`sinkhorn: throwOnNonConvergence must be a boolean, got ${String(throwOnNonConvergence)}`);
  return {
    reg: checkPositive(reg, 'sinkhorn: reg'),
    regMode,
    maxIterations: checkDim(options.maxIterations ?? DEFAULTS.maxIterations, 'sinkhorn: maxIterations'),
    tolerance: checkPositive(options.tolerance ?? DEFAULTS.tolerance, 'sinkhorn: tolerance'),
    checkEvery: checkDim(options.checkEvery ?? DEFAULTS.checkEvery, 'sinkhorn: checkEvery'),
    epsilonScaling: scaling === 'auto' ? 'auto' : scaling ? 'on' : 'off',
    threads: checkThreads(options.threads) ?? 0,
    throwOnNonConvergence,
  };
}

function prepare(a: FloatArray, b: FloatArray, M: FloatArray, reg: number, options: SinkhornOptions): NativeArgs {
  checkHistogram(a, 'a');
  checkHistogram(b, 'b');
  checkEqualMass(a, b, MASS_TOLERANCE);
  if (!(M instanceof Float64Array || M instanceof Float32Array)) fail('M must be a Float64Array or Float32Array');
  if (M.length !== a.length * b.length) {
    fail(`M must have a.length x b.length = ${a.length} x ${b.length} = ${a.length * b.length} elements (row-major), got ${M.length}`);
  }
  // M's finiteness is checked natively, in the same vectorised pass that finds its range: a JS loop over n x m
  // values costs as much as 10-20 Sinkhorn iterations.
  const args = nativeOptions(reg, options);
  // The plan in M's precision, and for regMode 'median' a copy of M to select the median in.
  const planBytes = M.BYTES_PER_ELEMENT * M.length;
  checkAllocation(planBytes * (args.regMode === 'median' ? 2 : 1), `sinkhorn: the ${a.length} x ${b.length} plan`, M.length);
  return [asFloat64(a), asFloat64(b), M, args];
}

/** True when this problem runs on the GPU (float32 costs only: the CUDA solver has no float64 path). */
function onGpu(M: FloatArray, options: SinkhornOptions): boolean {
  if (options.device === 'cuda' && !(M instanceof Float32Array)) fail("sinkhorn: device 'cuda' needs a Float32Array cost M");
  if (!(M instanceof Float32Array) || !useGpu(options.device, M.length)) return false;
  requireGpu('sinkhorn');
  return true;
}

/** Entropic OT plan, computed off the JS thread (on the GPU where `device` chooses it). The plan has M's precision. */
export async function sinkhorn<M extends FloatArray>(a: FloatArray, b: FloatArray, M: M, reg: number, options: SinkhornOptions = {}): Promise<SinkhornResult<M>> {
  const args = prepare(a, b, M, reg, options);
  const addon = native();
  const result = onGpu(M, options) ? addon.cudaSinkhorn!(...(args as Parameters<NonNullable<typeof addon.cudaSinkhorn>>)) : addon.sinkhorn(...args);
  return (await result) as SinkhornResult<M>;
}

/** Entropic OT plan, computed on the calling thread. */
export function sinkhornSync<M extends FloatArray>(a: FloatArray, b: FloatArray, M: M, reg: number, options: SinkhornOptions = {}): SinkhornResult<M> {
  const args = prepare(a, b, M, reg, options);
  const addon = native();
  const result = onGpu(M, options) ? addon.cudaSinkhornSync!(...(args as Parameters<NonNullable<typeof addon.cudaSinkhornSync>>)) : addon.sinkhornSync(...args);
  return result as SinkhornResult<M>;
}

/** <T*, M> for the entropic plan T* (POT's sinkhorn2), computed off the JS thread. */
export async function sinkhorn2(a: FloatArray, b: FloatArray, M: FloatArray, reg: number, options: SinkhornOptions = {}): Promise<number> {
  return (await sinkhorn(a, b, M, reg, options)).cost;
}

/** <T*, M> for the entropic plan T*, computed on the calling thread. */
export function sinkhorn2Sync(a: FloatArray, b: FloatArray, M: FloatArray, reg: number, options: SinkhornOptions = {}): number {
  return sinkhornSync(a, b, M, reg, options).cost;
}
