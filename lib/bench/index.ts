/**
 * `benchmarkSolvers`: times the OT library's solvers on seeded problems (lib/bench/problems.ts), each `repeat` times
 * after one warm-up run, and reports every repetition with what the solver reached (iterations, convergence or
 * optimality, the marginal error, the value). No Python, no baseline: `npm run bench` compares against POT.
 *
 *   emd        exact OT of the n x m problem (uniform marginals, float64 cost)
 *   sinkhorn   entropic OT, ε = reg x median(M), the median found once (float32 cost, the GPU where `device` picks it)
 *   distances  the squared-euclidean cost itself, n x m x d; GFLOP/s counts the 2nmd flops of X Yᵀ
 *   cka        linear CKA of two n x d representations of the same n samples (the m of a size is not used)
 *   cla        the cross-layer alignment DP on the cost, as max(n, m) deep x min(n, m) shallow layers
 *
 * Times are wall-clock milliseconds of the awaited public call (argument checks included), as a user sees them.
 */
import { requireArg } from '../errors.js';
import { defaultThreads, native } from '../native.js';
import { claAlign } from '../solvers/cla.js';
import { requireGpu, useGpu, type DeviceOption } from '../solvers/device.js';
import { emd, uniform } from '../solvers/emd.js';
import { linearCka, pairwiseDistances } from '../solvers/linalg.js';
import { sinkhorn } from '../solvers/sinkhorn.js';
import { ckaRepresentations, costProblem, type BenchFamily, type CostProblem } from './problems.js';

export { costProblem, ckaRepresentations, pointClouds, type BenchFamily, type CostProblem, type PointClouds } from './problems.js';

export type BenchSolver = 'emd' | 'sinkhorn' | 'distances' | 'cka' | 'cla';
export const BENCH_SOLVERS: readonly BenchSolver[] = ['emd', 'sinkhorn', 'distances', 'cka', 'cla'];
export const BENCH_FAMILIES: readonly BenchFamily[] = ['fusion', 'random'];
const DEVICES: readonly DeviceOption[] = ['auto', 'cpu', 'cuda'];

/** n x m; a square size has n = m. */
export interface BenchSize {
  n: number;
  m: number;
}

export interface BenchOptions {
  /** Default: all of BENCH_SOLVERS. */
  solvers?: BenchSolver[];
  /** Default: 256, 512 and 1024 square (a few seconds on two cores for the fusion family). */
  sizes?: BenchSize[];
  /** Default 'fusion'. */
  family?: BenchFamily;
  /** Sinkhorn's ε relative to the median cost; default 0.01. */
  reg?: number;
  /** Point dimension d; default 64. */
  dim?: number;
  /** Timed runs per problem after the warm-up; default 5. */
  repeat?: number;
  /** Native threads; default: every core. */
  threads?: number;
  /** For sinkhorn and distances (the others run on the CPU); default 'auto'. */
  device?: DeviceOption;
  /** Default 1. */
  seed?: number;
  /** Called before each problem is timed. */
  onProgress?: (done: number, total: number, solver: BenchSolver, size: BenchSize) => void;
}

export interface BenchResult {
  solver: BenchSolver;
  family: BenchFamily;
  n: number;
  m: number;
  d: number;
  device: 'cpu' | 'cuda';
  /** emd: assignment / network-simplex; sinkhorn: the absolute ε; distances: the metric; ... */
  method: string;
  /** Simplex pivots or augmentations (emd), iterations (sinkhorn); null for the others. */
  iterations: number | null;
  /** emd: optimality certified by the duals; sinkhorn: tolerance reached; null for the others. */
  converged: boolean | null;
  /** Sinkhorn's final ||T^T 1 - b||_2; null for the others. */
  error: number | null;
  /** <T, M> (emd, sinkhorn), the CKA (cka), the alignment's total cost (cla); null for distances. */
  value: number | null;
  /** distances: 2nmd / median time; null for the others. */
  gflops: number | null;
  timesMs: number[];
  medianMs: number;
  minMs: number;
}

export interface BenchReport {
  family: BenchFamily;
  dim: number;
  reg: number;
  repeat: number;
  threads: number;
  device: DeviceOption;
  seed: number;
  /** The loaded addon: 'cpu' or 'cuda'. */
  backend: 'cpu' | 'cuda';
  results: BenchResult[];
}

type Settings = Required<Omit<BenchOptions, 'onProgress'>>;

/** What one run of a solver reached; the timing loop adds the times. */
type Outcome = Pick<BenchResult, 'method' | 'iterations' | 'converged' | 'error' | 'value'>;

/** A solver on one problem: the device it runs on and a call to time. */
interface Runner {
  device: 'cpu' | 'cuda';
  run: () => Promise<Outcome>;
}

/** Guards against problems that would not fit in memory (the emd plan alone is 8nm bytes) or the point clouds. */
const MAX_ELEMENTS = 8192 * 8192;

function positiveInteger(value: unknown, name: string): number {
  requireArg(Number.isSafeInteger(value) && (value as number) > 0, `bench: ${name} must be a positive integer, got ${String(value)}`);
  return value as number;
}

function checkSizes(sizes: unknown): BenchSize[] {
  requireArg(Array.isArray(sizes) && sizes.length > 0, 'bench: sizes must be a non-empty array of { n, m }');
  return sizes.map((size: BenchSize) => {
    const n = positiveInteger(size?.n, 'a size\'s n');
    const m = positiveInteger(size?.m, 'a size\'s m');
    requireArg(n * m <= MAX_ELEMENTS, `bench: size ${n}x${m} has more than 8192² cost entries; use smaller sizes`);
    return { n, m };
  });
}

function checkSolvers(solvers: unknown): BenchSolver[] {
  requireArg(Array.isArray(solvers) && solvers.length > 0, `bench: solvers must be a non-empty array of ${BENCH_SOLVERS.join(', ')}`);
  for (const solver of solvers) {
    requireArg(BENCH_SOLVERS.includes(solver), `bench: unknown solver '${String(solver)}'; choose from ${BENCH_SOLVERS.join(', ')}`);
  }
  requireArg(new Set(solvers).size === solvers.length, `bench: solvers lists one twice: ${solvers.join(', ')}`);
  return solvers;
}

/** The options with their defaults, checked (E_ARG); a 'cuda' device must exist. */
function benchSettings(options: BenchOptions = {}): Settings {
  const family = options.family ?? 'fusion';
  requireArg(BENCH_FAMILIES.includes(family), `bench: family must be one of ${BENCH_FAMILIES.join(', ')}, got ${String(family)}`);
  const device = options.device ?? 'auto';
  requireArg(DEVICES.includes(device), `bench: device must be one of ${DEVICES.join(', ')}, got ${String(device)}`);
  if (device === 'cuda') requireGpu('bench');
  const reg = options.reg ?? 0.01;
  requireArg(typeof reg === 'number' && Number.isFinite(reg) && reg > 0, `bench: reg must be a positive number, got ${String(reg)}`);
  const seed = options.seed ?? 1;
  requireArg(Number.isSafeInteger(seed) && seed >= 0 && seed < 2 ** 32, `bench: seed must be an integer in [0, 2^32), got ${String(seed)}`);
  const sizes = checkSizes(options.sizes ?? [256, 512, 1024].map((n) => ({ n, m: n })));
  const dim = positiveInteger(options.dim ?? 64, 'dim');
  const largest = Math.max(...sizes.map(({ n, m }) => (n + m) * dim));
  requireArg(largest <= MAX_ELEMENTS, `bench: the point clouds would hold ${largest} > 8192² coordinates; lower --dim or the sizes`);
  return {
    solvers: checkSolvers(options.solvers ?? [...BENCH_SOLVERS]),
    sizes,
    family,
    reg,
    dim,
    repeat: positiveInteger(options.repeat ?? 5, 'repeat'),
    threads: positiveInteger(options.threads ?? defaultThreads(), 'threads'),
    device,
    seed,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function emdRunner(problem: CostProblem, settings: Settings): Runner {
  // emd works in float64; converting here keeps the conversion out of the timed call.
  const cost = Float64Array.from(problem.cost);
  const [a, b] = [uniform(problem.n), uniform(problem.m)];
  return {
    device: 'cpu',
    run: async () => {
      const r = await emd(a, b, cost, { threads: settings.threads });
      return { method: r.method, iterations: r.iterations, converged: r.optimal, error: null, value: r.cost };
    },
  };
}

/**
 * The first run (the warm-up) reads reg relative to the median cost and returns the absolute ε; later runs pass that
 * ε as absolute, so the timed runs measure the solver and not the median's selection over n x m entries.
 */
function sinkhornRunner(problem: CostProblem, settings: Settings): Runner {
  const [a, b] = [uniform(problem.n), uniform(problem.m)];
  const options = { threads: settings.threads, device: settings.device, throwOnNonConvergence: false } as const;
  let epsilon: number | undefined;
  return {
    device: useGpu(settings.device, problem.cost.length) ? 'cuda' : 'cpu',
    run: async () => {
      const r = epsilon === undefined
        ? await sinkhorn(a, b, problem.cost, settings.reg, { ...options, regMode: 'median' })
        : await sinkhorn(a, b, problem.cost, epsilon, { ...options, regMode: 'absolute' });
      epsilon = r.epsilon;
      return { method: `ε=${r.epsilon.toPrecision(3)}`, iterations: r.iterations, converged: r.converged, error: r.error, value: r.cost };
    },
  };
}

function distancesRunner(problem: CostProblem, settings: Settings): Runner {
  const { x, n, y, m, d } = problem;
  return {
    device: useGpu(settings.device, n * m) ? 'cuda' : 'cpu',
    run: async () => {
      await pairwiseDistances(x, n, y, m, d, { metric: 'sqeuclidean', threads: settings.threads, device: settings.device });
      return { method: 'sqeuclidean', iterations: null, converged: null, error: null, value: null };
    },
  };
}

function ckaRunner(n: number, settings: Settings): Runner {
  const { x, y } = ckaRepresentations(settings.family, n, settings.dim, settings.seed);
  return {
    device: 'cpu',
    run: async () => {
      const value = await linearCka(x, y, n, settings.dim, settings.dim, { threads: settings.threads });
      return { method: 'linear (biased)', iterations: null, converged: null, error: null, value };
    },
  };
}

/** The cost as a deep x shallow matrix (rows: the larger side), float64 as claAlign reads it. */
function layerCost({ cost, n, m }: CostProblem): { matrix: Float64Array; deep: number; shallow: number } {
  if (n >= m) return { matrix: Float64Array.from(cost), deep: n, shallow: m };
  const matrix = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) matrix[j * n + i] = cost[i * m + j];
  }
  return { matrix, deep: m, shallow: n };
}

function claRunner(problem: CostProblem): Runner {
  const { matrix, deep, shallow } = layerCost(problem);
  return {
    device: 'cpu',
    run: async () => {
      const r = claAlign(matrix, deep, shallow);
      return { method: 'dp', iterations: null, converged: null, error: null, value: r.totalCost };
    },
  };
}

function runnerFor(solver: BenchSolver, size: BenchSize, settings: Settings, problem: () => CostProblem): Runner {
  switch (solver) {
    case 'emd': return emdRunner(problem(), settings);
    case 'sinkhorn': return sinkhornRunner(problem(), settings);
    case 'distances': return distancesRunner(problem(), settings);
    case 'cka': return ckaRunner(size.n, settings);
    case 'cla': return claRunner(problem());
  }
}

/** One warm-up run, then `repeat` timed ones; the outcome is the last run's. */
async function timeRuns(runner: Runner, repeat: number): Promise<{ outcome: Outcome; timesMs: number[] }> {
  let outcome = await runner.run();
  const timesMs: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const start = performance.now();
    outcome = await runner.run();
    timesMs.push(performance.now() - start);
  }
  return { outcome, timesMs };
}

async function measure(solver: BenchSolver, size: BenchSize, settings: Settings, problem: () => CostProblem): Promise<BenchResult> {
  const runner = runnerFor(solver, size, settings, problem);
  const { outcome, timesMs } = await timeRuns(runner, settings.repeat);
  const m = solver === 'cka' ? size.n : size.m;
  const medianMs = median(timesMs);
  const gflops = solver === 'distances' ? (2 * size.n * size.m * settings.dim) / (medianMs * 1e6) : null;
  return {
    solver, family: settings.family, n: size.n, m, d: settings.dim, device: runner.device, ...outcome,
    gflops, timesMs, medianMs, minMs: Math.min(...timesMs),
  };
}

/** Times each solver on each size; problems are built once per size and shared by the solvers. */
export async function benchmarkSolvers(options: BenchOptions = {}): Promise<BenchReport> {
  const settings = benchSettings(options);
  const results: BenchResult[] = [];
  const total = settings.sizes.length * settings.solvers.length;
  for (const size of settings.sizes) {
    let cached: CostProblem | undefined;
    const problem = () => (cached ??= costProblem(settings.family, size.n, size.m, settings.dim, settings.seed));
    for (const solver of settings.solvers) {
      options.onProgress?.(results.length, total, solver, size);
      results.push(await measure(solver, size, settings, problem));
    }
  }
  const { family, dim, reg, repeat, threads, device, seed } = settings;
  return { family, dim, reg, repeat, threads, device, seed, backend: native().buildInfo().backend, results };
}
