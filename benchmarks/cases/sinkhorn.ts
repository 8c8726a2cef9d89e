/**
 * Entropic OT (`sinkhornSync`, whole call including validation, float32 cost, 1 thread) against POT 0.8.2 on the
 * same problems (perf-anchors §1, problem B): X, Y ~ N(0, 1)^{n x 576}, M = squared euclidean (float32, built by
 * our pairwiseDistances; POT gets it as float64 as users pass it, and as float32), uniform marginals,
 * ε = 0.01 x median(M) passed as an absolute reg to both, stopThr = tolerance = 1e-9, check every 10 iterations.
 * Baselines: ot.sinkhorn (float64 and float32) and ot.bregman.sinkhorn_log (one repetition), n = 512, 1024, 2048
 * (quick: 512, 1024); goals at n = 2048: 3x over sinkhorn, 20x over sinkhorn_log.
 * Small ε: ε = 0.001 x median(M), tolerance 1e-6 (at this ε Sinkhorn needs ~5 000 iterations for 1e-6 and ~50 000
 * for 1e-7, whichever solver runs it), n = 512: ours converges; POT's sinkhorn overflows, sinkhorn_stabilized and
 * sinkhorn_log are cut off after 20 s each.
 * BLAS and OpenMP run on one thread on both sides (the 2-core host is shared; perf-anchors §0).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pairwiseDistancesSync } from '../../lib/solvers/linalg.js';
import { sinkhornSync, type SinkhornResult } from '../../lib/solvers/sinkhorn.js';
import type { BenchContext, BenchRecord } from '../types.js';

const D = 576;
const CAP_SECONDS = 20;

type Regime = 'regular' | 'small';

interface PotRun {
  ms: number;
  cpu_ms: number;
  status: 'converged' | 'not converged' | 'numerical errors' | 'cut off' | 'stalled';
  iterations?: number;
  error?: number | null;
  cost?: number | null;
  note: string;
}

/** Normal deviates from a 32-bit LCG and Box-Muller: deterministic inputs, good enough for timing. */
function gaussianMatrix(seed: number, length: number): Float32Array {
  let state = seed >>> 0;
  const uniform01 = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  return Float32Array.from({ length }, () => Math.sqrt(-2 * Math.log(uniform01())) * Math.cos(2 * Math.PI * uniform01()));
}

function median(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function repetitionsFor(n: number, quick: boolean): number {
  if (n >= 2048) return quick ? 1 : 3;
  return quick ? 3 : 5;
}

function runPot(ctx: BenchContext, folder: string): Record<string, PotRun> | null {
  if (!ctx.pot) return null;
  const script = fileURLToPath(new URL('../pot/sinkhorn.py', import.meta.url));
  const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
  const result = spawnSync(ctx.python, [script, folder], { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  if (result.status !== 0) {
    console.error(`sinkhorn: POT baseline failed: ${result.stderr}`);
    return null;
  }
  return JSON.parse(result.stdout) as Record<string, PotRun>;
}

function withPotProblem(ctx: BenchContext, problem: object, inputs: Record<string, Float64Array | Float32Array>): Record<string, PotRun> | null {
  const folder = mkdtempSync(join(tmpdir(), 'clafusion-sinkhorn-'));
  try {
    writeFileSync(join(folder, 'problem.json'), JSON.stringify(problem));
    for (const [name, data] of Object.entries(inputs)) writeFileSync(join(folder, name), data);
    return runPot(ctx, folder);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Median wall and CPU milliseconds of `solve` (CPU time: user + system of this process, ours runs on 1 thread). */
function timeOurs(solve: () => SinkhornResult, repetitions: number): { ms: number; cpuMs: number; result: SinkhornResult } {
  let result = solve();
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    result = solve();
    const cpu = process.cpuUsage(cpuStart);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    cpuTimes.push((cpu.user + cpu.system) / 1e3);
  }
  return { ms: median(times), cpuMs: median(cpuTimes), result };
}

function describePot(run: PotRun, ours: { cpuMs: number; result: SinkhornResult }): string {
  const parts: string[] = [run.status];
  if (run.status === 'converged' || run.status === 'not converged') parts.push(`CPU-time ratio ${(run.cpu_ms / ours.cpuMs).toFixed(2)}x`);
  if (run.iterations) parts.push(`${run.iterations} it`);
  if (run.cost) parts.push(`cost rel. diff ${(Math.abs(run.cost - ours.result.cost) / ours.result.cost).toExponential(1)}`);
  if (run.note) parts.push(run.note);
  return parts.join(', ');
}

function measure(ctx: BenchContext, n: number, regime: Regime, seed: number): BenchRecord[] {
  const M = pairwiseDistancesSync(gaussianMatrix(seed, n * D), n, gaussianMatrix(seed + 1, n * D), n, D, { metric: 'sqeuclidean' });
  const a = new Float64Array(n).fill(1 / n);
  const reg = (regime === 'regular' ? 0.01 : 0.001) * median(M);
  const tolerance = regime === 'regular' ? 1e-9 : 1e-6;
  const repetitions = regime === 'regular' ? repetitionsFor(n, ctx.quick) : 1;
  const ours = timeOurs(() => sinkhornSync(a, a, M, reg, { tolerance, threads: 1 }), repetitions);
  const oursNote = `ours: ${ours.cpuMs.toFixed(1)} ms CPU, ${ours.result.iterations} it (${ours.result.logSteps} log-domain), error ${ours.result.error.toExponential(1)}`;
  const pot = withPotProblem(ctx, { n, m: n, reg, tolerance, repetitions, regime, capSeconds: CAP_SECONDS },
    { 'a.f64': a, 'b.f64': a, 'M.f32': M });
  const size = `${n}x${n}, d=${D}`;
  const label = regime === 'regular' ? 'sinkhorn ε=0.01·med' : 'sinkhorn ε=0.001·med tol 1e-6';
  const baselines: [string, string, number | undefined][] = regime === 'regular'
    ? [['sinkhorn_f64', 'POT ot.sinkhorn (f64 M)', n === 2048 ? 3 : undefined],
      ['sinkhorn_f32', 'POT ot.sinkhorn (f32 M)', undefined],
      ['sinkhorn_log', 'POT sinkhorn_log (f64 M, 1 rep.)', n === 2048 ? 20 : undefined]]
    : [['sinkhorn_f64', 'POT ot.sinkhorn (f64 M)', undefined],
      ['sinkhorn_stabilized', `POT sinkhorn_stabilized (cap ${CAP_SECONDS} s)`, undefined],
      ['sinkhorn_log', `POT sinkhorn_log (cap ${CAP_SECONDS} s)`, undefined]];
  return baselines.map(([key, baseline, goal]) => {
    const run = pot?.[key];
    // A baseline without a usable plan has no meaningful ratio. 'not converged' keeps one: POT's float32 input
    // plateaus above 1e-9 (perf-anchors §7.2) and stops at numItermax = 1000, and that is the time its users pay.
    const usable = run !== undefined && (run.status === 'converged' || run.status === 'not converged');
    return {
      case: label, size, ours_ms: ours.ms, baseline, baseline_ms: run?.ms ?? null,
      ratio: usable ? run.ms / ours.ms : null, goal,
      note: run ? `${oursNote}; POT: ${describePot(run, ours)}` : oursNote,
    };
  });
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const sizes = ctx.quick ? [512, 1024] : [512, 1024, 2048];
  const records: BenchRecord[] = [];
  sizes.forEach((n, k) => records.push(...measure(ctx, n, 'regular', 101 + 2 * k)));
  records.push(...measure(ctx, 512, 'small', 201));
  return records;
}
