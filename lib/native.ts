/**
 * Loads the native addon once and types its surface. Like node-llama-cpp, the CUDA build is chosen at run time
 * only when it loads and sees a device; otherwise a local CPU build, and otherwise the prebuilt shipped in the
 * package (prebuilds/<platform>-<arch>/, as prebuildify lays them out). A missing or broken addon gives one
 * error (code E_NATIVE) that lists where it looked and what to run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClafusionError } from './errors.js';
import { withCodedErrors } from './addon-errors.js';

export interface BuildInfo {
  backend: 'cpu' | 'cuda';
  openmp: number;
  maxThreads: number;
  cudaDevices: number;
}

/** The raw addon. Arguments are validated by lib/solvers before they get here. */
export interface NativeAddon {
  buildInfo(): BuildInfo;
  /** glibc's M_MMAP_THRESHOLD (bytes, 0 .. 32 MiB); false where the C library is not glibc. */
  setMmapThreshold(bytes: number): boolean;
  claAlignSync(cost: Float64Array, m: number, n: number, s: number, f: number): { mapping: Int32Array; totalCost: number };
  /** Index of the first NaN or ±Infinity, or -1. */
  firstNonFiniteF32(values: Float32Array): number;
  /** Conv input patches at chosen output positions (lib/solvers/linalg.ts patchRowsSync). */
  patchRowsSync(x: Float32Array, count: number, window: Int32Array, positions: Int32Array, used: number, offset: boolean, threads: number): Float32Array;
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number, C: Float32Array | null, ldc: number, threads: number): Promise<Float32Array>;
  dgemmSync(transA: boolean, A: Float64Array, B: Float64Array, M: number, K: number, N: number, threads: number): Float64Array;
  dgemm(transA: boolean, A: Float64Array, B: Float64Array, M: number, K: number, N: number, threads: number): Promise<Float64Array>;
  solveSpdSync(A: Float64Array, B: Float64Array, n: number, m: number, threads: number): Float64Array;
  solveSpd(A: Float64Array, B: Float64Array, n: number, m: number, threads: number): Promise<Float64Array>;
  sgemmSync(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number, C: Float32Array | null, ldc: number, threads: number): Float32Array;
  pairwiseDistances(X: Float32Array, n: number, Y: Float32Array, m: number, d: number, metric: string, threads: number): Promise<Float32Array>;
  pairwiseDistancesSync(X: Float32Array, n: number, Y: Float32Array, m: number, d: number, metric: string, threads: number): Float32Array;
  gram(X: Float32Array, n: number, d: number, centered: boolean, threads: number): Promise<Float64Array>;
  gramSync(X: Float32Array, n: number, d: number, centered: boolean, threads: number): Float64Array;
  linearCka(X: Float32Array, Y: Float32Array, n: number, dx: number, dy: number, debiased: boolean, threads: number): Promise<number>;
  linearCkaSync(X: Float32Array, Y: Float32Array, n: number, dx: number, dy: number, debiased: boolean, threads: number): number;
  ckaCostMatrix(deep: Float64Array[], shallow: Float64Array[], n: number, debiased: boolean, threads: number): Promise<Float64Array>;
  ckaCostMatrixSync(deep: Float64Array[], shallow: Float64Array[], n: number, debiased: boolean, threads: number): Float64Array;
  // Streaming statistics accumulators (native/addon/bind_stats.cpp): the float64 accumulators are updated in place.
  accumulateGram(K: Float64Array, n: number, A: Float32Array, rowsA: number, a0: number, B: Float32Array, rowsB: number, b0: number, d: number, shift: Float32Array, threads: number): Promise<Float64Array>;
  accumulateGramSync(K: Float64Array, n: number, A: Float32Array, rowsA: number, a0: number, B: Float32Array, rowsB: number, b0: number, d: number, shift: Float32Array, threads: number): Float64Array;
  accumulateCross(M: Float64Array, X: Float32Array[], cx: number, Y: Float32Array[], cy: number, samples: number, spatial: number, threads: number): Promise<Float64Array>;
  accumulateCrossSync(M: Float64Array, X: Float32Array[], cx: number, Y: Float32Array[], cy: number, samples: number, spatial: number, threads: number): Float64Array;
  accumulateSecondMoments(M: Float64Array, X: Float32Array[], channels: number, samples: number, spatial: number, threads: number): Promise<Float64Array>;
  accumulateSecondMomentsSync(M: Float64Array, X: Float32Array[], channels: number, samples: number, spatial: number, threads: number): Float64Array;
  accumulateChannels(sums: Float64Array, squares: Float64Array, positives: Float64Array, X: Float32Array, samples: number, channels: number, spatial: number, threads: number): Promise<Float64Array>;
  accumulateChannelsSync(sums: Float64Array, squares: Float64Array, positives: Float64Array, X: Float32Array, samples: number, channels: number, spatial: number, threads: number): Float64Array;
  emd(a: Float64Array, b: Float64Array, M: Float64Array, options: { method?: string; maxIterations?: number; threads?: number }): Promise<{ plan: Float64Array; cost: number; iterations: number; optimal: boolean; method: string; u: Float64Array; v: Float64Array }>;
  emdSync(a: Float64Array, b: Float64Array, M: Float64Array, options: { method?: string; maxIterations?: number; threads?: number }): { plan: Float64Array; cost: number; iterations: number; optimal: boolean; method: string; u: Float64Array; v: Float64Array };
  // CUDA build only (clafusion_cuda.node): absent from the CPU addon. lib/solvers/device.ts wraps them.
  cudaInfo?(): { runtimeVersion: number; driverVersion: number; devices: { index: number; name: string; computeCapability: string; multiprocessors: number; totalMemoryBytes: number; freeMemoryBytes: number }[] };
  cudaSinkhorn?(a: Float64Array, b: Float64Array, M: Float32Array, options: { reg: number; regMode?: string; maxIterations?: number; tolerance?: number; checkEvery?: number; throwOnNonConvergence?: boolean }): Promise<{ plan: Float32Array; f: Float64Array; g: Float64Array; iterations: number; error: number; converged: boolean; cost: number; epsilon: number; logSteps: number }>;
  cudaSinkhornSync?(a: Float64Array, b: Float64Array, M: Float32Array, options: { reg: number; regMode?: string; maxIterations?: number; tolerance?: number; checkEvery?: number; throwOnNonConvergence?: boolean }): { plan: Float32Array; f: Float64Array; g: Float64Array; iterations: number; error: number; converged: boolean; cost: number; epsilon: number; logSteps: number };
  cudaPairwiseDistances?(X: Float32Array, n: number, Y: Float32Array, m: number, d: number, metric: string): Promise<Float32Array>;
  cudaPairwiseDistancesSync?(X: Float32Array, n: number, Y: Float32Array, m: number, d: number, metric: string): Float32Array;
  sinkhorn(a: Float64Array, b: Float64Array, M: Float32Array | Float64Array, options: { reg: number; regMode: string; maxIterations: number; tolerance: number; checkEvery: number; epsilonScaling: string; threads: number; throwOnNonConvergence: boolean }): Promise<{ plan: Float32Array | Float64Array; f: Float64Array; g: Float64Array; iterations: number; error: number; converged: boolean; cost: number; epsilon: number; logSteps: number }>;
  sinkhornSync(a: Float64Array, b: Float64Array, M: Float32Array | Float64Array, options: { reg: number; regMode: string; maxIterations: number; tolerance: number; checkEvery: number; epsilonScaling: string; threads: number; throwOnNonConvergence: boolean }): { plan: Float32Array | Float64Array; f: Float64Array; g: Float64Array; iterations: number; error: number; converged: boolean; cost: number; epsilon: number; logSteps: number };
  // Trainer (native/addon/bind_train.cpp); `program` comes from lib/train/program.ts. Buffers are updated in place.
  trainStep(program: TrainProgramArg, params: Float32Array, running: Float32Array, velocity: Float32Array, input: Float32Array, n: number, labels: Int32Array, teacher: Float32Array | null, options: TrainStepOptions): Promise<{ loss: number; correct: number }>;
  trainStepSync(program: TrainProgramArg, params: Float32Array, running: Float32Array, velocity: Float32Array, input: Float32Array, n: number, labels: Int32Array, teacher: Float32Array | null, options: TrainStepOptions): { loss: number; correct: number };
  trainGradientsSync<T extends Float32Array | Float64Array>(program: TrainProgramArg, params: T, running: T | null, input: T, n: number, labels: Int32Array, teacher: T | null, options: TrainStepOptions): { loss: number; correct: number; gradient: T };
  /** Activation buffers kept from one trainStep to the next (pass as options.workspace; one step at a time). */
  trainWorkspace(): TrainWorkspace;
  trainForward<T extends Float32Array | Float64Array>(program: TrainProgramArg, params: T, running: T, input: T, n: number, threads: number): Promise<T>;
  trainForwardSync<T extends Float32Array | Float64Array>(program: TrainProgramArg, params: T, running: T, input: T, n: number, threads: number): T;
  [name: string]: unknown;
}

/** The trainer's program: 24 int32 fields per op, one epsilon per op, (C, S) per activation slot. */
export interface TrainProgramArg {
  ops: Int32Array;
  epsilons: Float64Array;
  slots: Int32Array;
  paramCount: number;
  statCount: number;
}

export interface TrainStepOptions {
  learningRate?: number;
  momentum?: number;
  weightDecay?: number;
  /** PyTorch convention: running ← (1 − m) running + m batch. */
  bnMomentum?: number;
  alpha?: number;
  temperature?: number;
  kdReduction?: 'batchmean' | 'mean';
  threads?: number;
  /** From trainWorkspace(); without it every step allocates its buffers afresh. */
  workspace?: TrainWorkspace;
}

/** Opaque handle of native training buffers. */
export type TrainWorkspace = { readonly __trainWorkspace: unique symbol };

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const requireAddon = createRequire(import.meta.url);

/** One place the addon may be: a local build, the shipped prebuilt, or the file CLAFUSION_ADDON names. */
export interface AddonCandidate {
  path: string;
  cuda: boolean;
  /** The prebuilt's manifest (clafusion.json next to it) lists the CPU flags it was compiled for. */
  prebuilt: boolean;
}

/**
 * Where to look, in order. As with node-gyp-build, a local build wins over the prebuilt: one exists only when it was
 * asked for (`npx clafusion-build`, CLAFUSION_CUDA=1, a clone's `npm run build:native`) or when the install found the
 * prebuilt unusable on this machine. A consumer's install normally leaves just the prebuilt.
 */
export function addonCandidates(root: string = packageRoot, env: NodeJS.ProcessEnv = process.env,
  platform: string = process.platform, arch: string = process.arch): AddonCandidate[] {
  if (env.CLAFUSION_ADDON) return [{ path: env.CLAFUSION_ADDON, cuda: false, prebuilt: false }];
  const local = (dir: string, file = 'clafusion.node') => ({ path: join(root, dir, 'Release', file), prebuilt: false });
  return [
    ...(env.CLAFUSION_DEVICE === 'cpu' ? [] : [{ ...local('build-cuda', 'clafusion_cuda.node'), cuda: true }]),
    { ...local('build-cmake'), cuda: false },
    { ...local('build'), cuda: false },
    { path: join(root, 'prebuilds', `${platform}-${arch}`, 'clafusion.node'), cuda: false, prebuilt: true },
  ];
}

/** The flags of /proc/cpuinfo's first processor; null where there is none to read (not Linux). */
export function cpuFlags(cpuinfo: string | null = readCpuinfo()): Set<string> | null {
  const line = cpuinfo?.match(/^flags\s*:(.*)$/m);
  return line ? new Set(line[1].trim().split(/\s+/)) : null;
}

function readCpuinfo(): string | null {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
}

/**
 * Why this CPU cannot run a prebuilt, or null when it can. Loading it anyway would end the process with SIGILL at the
 * first AVX2 instruction, which no try/catch sees. Without a manifest the prebuilt is assumed to need nothing.
 */
export function prebuiltUnfit(addonPath: string, flags: Set<string> | null = cpuFlags()): string | null {
  const manifestPath = join(dirname(addonPath), 'clafusion.json');
  if (!existsSync(manifestPath)) return null;
  const required = (JSON.parse(readFileSync(manifestPath, 'utf8')) as { cpuFlags?: string[] }).cpuFlags ?? [];
  if (required.length === 0) return null;
  if (flags === null) return `built for CPU flags ${required.join(' ')}; no /proc/cpuinfo here to check them`;
  const missing = required.filter((flag) => !flags.has(flag));
  return missing.length === 0 ? null : `built for CPU flags this CPU lacks: ${missing.join(' ')}`;
}

/** The first candidate that loads (a CUDA build only where it sees a device), or E_NATIVE listing every attempt. */
export function loadFirstWorking(candidates: AddonCandidate[]): { addon: NativeAddon; path: string } {
  const failures: string[] = [];
  for (const { path, cuda, prebuilt } of candidates) {
    if (!existsSync(path)) {
      failures.push(`${path}: not built`);
      continue;
    }
    const unfit = prebuilt ? prebuiltUnfit(path) : null;
    if (unfit) {
      failures.push(`${path}: ${unfit}`);
      continue;
    }
    try {
      const addon = requireAddon(path) as NativeAddon;
      if (cuda && addon.buildInfo().cudaDevices === 0) {
        failures.push(`${path}: loaded, but no CUDA device is visible`);
        continue;
      }
      return { addon, path };
    } catch (err) {
      failures.push(`${path}: ${(err as Error).message}`);
    }
  }
  throw new ClafusionError('E_NATIVE',
    'the clafusion native addon could not be loaded. In a project that depends on clafusion, run ' +
    '`npx clafusion-build` (or `npm rebuild clafusion`); in a clone of clafusion, `npm run build:native`. ' +
    'Building needs a C++17 compiler with OpenMP (g++ >= 9) and CMake >= 3.18, or Python 3 with make. Tried:\n  ' +
    failures.join('\n  '));
}

let cached: { addon: NativeAddon; path: string } | undefined;

/** The addon, loaded on first use; its functions throw and reject only with ClafusionErrors. */
export function native(): NativeAddon {
  if (!cached) {
    const loaded = loadFirstWorking(addonCandidates());
    cached = { path: loaded.path, addon: withCodedErrors(loaded.addon) };
  }
  return cached.addon;
}

/** The file native() loaded (scripts/build-native.mjs asks, to see whether the prebuilt is in use). */
export function loadedAddonPath(): string {
  native();
  return cached!.path;
}

/** Default thread count for native kernels: every core Node reports. */
export function defaultThreads(): number {
  return availableParallelism();
}
