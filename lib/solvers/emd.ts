/**
 * Exact optimal transport (earth mover's distance) with POT-style names: `emd` returns the plan, `emd2` the cost.
 *
 *     gamma* = argmin_{gamma >= 0} <gamma, M>_F   s.t.  gamma 1 = a,  gamma^T 1 = b
 *
 * a (n) and b (m) are histograms of equal total mass, M the n x m ground cost (row-major). Uniform a and b with
 * n = m, or with one size dividing the other and max(n, m) <= 4096, go to a shortest-augmenting-path assignment
 * solver (an optimal plan is then a permutation of the lcm-expanded problem scaled by its mass), unless its cheap
 * start leaves more than a quarter of 256 or more rows free (costs that are mostly row and column offsets, where
 * each search costs O(nm)); everything else goes to a network simplex whose iteration cap (2nm + 10^6 unless given)
 * throws E_SOLVER when reached. Both return
 * duals (u, v) with M_ij - u_i - v_j >= 0 and a.u + b.v = cost, checked on every arc before returning (`optimal`).
 * Ties go to the lowest index, so results are bit-identical run to run.
 */
import { ClafusionError } from '../errors.js';
import { native } from '../native.js';
import { checkAllocation } from '../resources.js';
import {
  asFloat64, checkDim, checkEqualMass, checkFinite, checkHistogram, checkThreads, type FloatArray,
} from './validate.js';

export type EmdMethod = 'auto' | 'network-simplex' | 'assignment';

export interface EmdOptions {
  /**
   * 'auto' (default): assignment when a and b are uniform and n = m, or one divides the other with max(n, m) <= 4096
   * (falling back to the simplex when the assignment's start leaves most rows free); network simplex otherwise.
   * 'assignment' also takes other uniform sizes (lcm(n, m) <= 32768), usually slower, and never falls back.
   */
  method?: EmdMethod;
  /**
   * Network simplex pivot cap, a positive integer. Unset: 2nm + 10^6, far above what the simplex needs. Reaching
   * the cap throws E_SOLVER instead of returning a non-optimal plan (POT's default 1e5 is too low at n = 4096).
   */
  maxIterations?: number;
  /** Accepted for API symmetry; both solvers are sequential (a parallel pivot search is slower, perf-anchors §1). */
  threads?: number;
}

export interface EmdResult {
  /** The optimal plan gamma*, n x m row-major. */
  plan: Float64Array;
  /** <gamma*, M>. */
  cost: number;
  /** Simplex pivots, or shortest-path augmentations of the assignment solver. */
  iterations: number;
  /** True when the duals certify optimality to a relative 1e-9 (reduced costs and duality gap). */
  optimal: boolean;
  method: 'assignment' | 'network-simplex';
  /** Dual potentials, centred so that a.u = b.v (as POT's center_dual). */
  u: Float64Array;
  v: Float64Array;
}

/** Relative difference of total masses accepted (b is rescaled to a's mass natively). */
const MASS_TOLERANCE = 1e-6;
const METHODS: readonly EmdMethod[] = ['auto', 'network-simplex', 'assignment'];

type Prepared = [Float64Array, Float64Array, Float64Array, { method: EmdMethod; maxIterations: number; threads: number }];

function prepare(a: FloatArray, b: FloatArray, M: FloatArray, options: EmdOptions): Prepared {
  checkHistogram(a, 'a');
  checkHistogram(b, 'b');
  if (!(M instanceof Float64Array || M instanceof Float32Array)) {
    throw new ClafusionError('E_ARG', 'M must be a Float64Array or Float32Array');
  }
  if (M.length !== a.length * b.length) {
    throw new ClafusionError('E_ARG', `M must have a.length * b.length = ${a.length} * ${b.length} = ${a.length * b.length} elements (row-major), got ${M.length}`);
  }
  checkFinite(M, M.length, 'M');
  checkEqualMass(a, b, MASS_TOLERANCE);
  const method = options.method ?? 'auto';
  if (!METHODS.includes(method)) {
    throw new ClafusionError('E_ARG', `method must be one of ${METHODS.join(', ')}, got ${String(method)}`);
  }
  const maxIterations = options.maxIterations === undefined ? 0 : checkDim(options.maxIterations, 'maxIterations');
  const threads = checkThreads(options.threads) ?? 1;
  // The float64 plan, a float64 copy of a float32 M, and the transposed cost the assignment solver may build.
  const size = M.length;
  checkAllocation(8 * size * (M instanceof Float32Array ? 3 : 2), `emd: the ${a.length} x ${b.length} float64 plan`, size);
  return [asFloat64(a), asFloat64(b), asFloat64(M), { method, maxIterations, threads }];
}

/** The solver's result; a plan it could not prove optimal (e.g. costs whose range overflows) is an E_SOLVER error. */
function wrap(raw: ReturnType<ReturnType<typeof native>['emdSync']>): EmdResult {
  if (!raw.optimal) {
    throw new ClafusionError('E_SOLVER', `emd: the ${raw.method} solver could not prove its plan optimal (cost ${raw.cost}); ` +
      'check that the costs have a finite range (max - min), or rescale them');
  }
  return { ...raw, method: raw.method as EmdResult['method'] };
}

/** Exact OT plan, computed off the JS thread. */
export async function emd(a: FloatArray, b: FloatArray, M: FloatArray, options: EmdOptions = {}): Promise<EmdResult> {
  return wrap(await native().emd(...prepare(a, b, M, options)));
}

/** Exact OT plan, computed on the calling thread. */
export function emdSync(a: FloatArray, b: FloatArray, M: FloatArray, options: EmdOptions = {}): EmdResult {
  return wrap(native().emdSync(...prepare(a, b, M, options)));
}

/** Exact OT cost <gamma*, M> (POT's emd2), computed off the JS thread. */
export async function emd2(a: FloatArray, b: FloatArray, M: FloatArray, options: EmdOptions = {}): Promise<number> {
  return (await emd(a, b, M, options)).cost;
}

/** Exact OT cost <gamma*, M>, computed on the calling thread. */
export function emd2Sync(a: FloatArray, b: FloatArray, M: FloatArray, options: EmdOptions = {}): number {
  return emdSync(a, b, M, options).cost;
}

/** The uniform histogram of n bins, 1/n each (POT's ot.unif). */
export function uniform(n: number): Float64Array {
  checkDim(n, 'uniform: n');
  checkAllocation(8 * n, `uniform: the histogram of ${n} bins`, n);
  return new Float64Array(n).fill(1 / n);
}
