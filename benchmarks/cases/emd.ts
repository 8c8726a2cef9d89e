/**
 * Exact OT (`emdSync`, whole call including validation) against POT's `ot.emd` (1 thread, numItermax 1e9) on the
 * same problems, uniform marginals, squared euclidean cost of d = 64 point clouds (and d = 576 at n = 1024):
 *   - fusion-like: X ~ N(0, 1)^{n x d}, Y = X[perm] + 0.5 * noise (two networks equal up to a permutation);
 *   - random: X, Y i.i.d. N(0, 1)^{n x d};
 * n = m in 256..4096 (quick: 256..1024), plus fusion-like 1024 x 512 (Y built from 512 rows of X).
 * At n = 4096 it also reports whether POT's default numItermax = 100000 stops short (perf-anchors §1).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emdSync, uniform } from '../../lib/solvers/emd.js';
import type { BenchContext, BenchRecord } from '../types.js';

type Family = 'fusion-like' | 'random';

interface Problem {
  family: Family;
  n: number;
  m: number;
  d: number;
  goal?: number;
}

interface Baseline {
  emd_ms: number;
  emd_cost: number;
  default_cap?: { ms: number; cost: number; stopped: boolean };
}

/** A 32-bit LCG (uniform in (0, 1)) with Box-Muller normals: deterministic inputs, good enough for timing. */
function randomSource(seed: number): { uniform01: () => number; gaussian: () => number } {
  let state = seed >>> 0;
  const uniform01 = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  return { uniform01, gaussian: () => Math.sqrt(-2 * Math.log(uniform01())) * Math.cos(2 * Math.PI * uniform01()) };
}

/** Fisher-Yates. */
function shuffled(n: number, uniform01: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniform01() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** M_ij = ||x_i - y_j||^2 (float64) for the family's point clouds. */
function costMatrix({ family, n, m, d }: Problem, seed: number): Float64Array {
  const { uniform01, gaussian } = randomSource(seed);
  const X = Float64Array.from({ length: n * d }, gaussian);
  const Y = new Float64Array(m * d);
  const perm = shuffled(n, uniform01);
  for (let j = 0; j < m; j++) {
    for (let k = 0; k < d; k++) Y[j * d + k] = family === 'random' ? gaussian() : X[perm[j] * d + k] + 0.5 * gaussian();
  }
  const M = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let acc = 0;
      for (let k = 0; k < d; k++) {
        const diff = X[i * d + k] - Y[j * d + k];
        acc += diff * diff;
      }
      M[i * m + j] = acc;
    }
  }
  return M;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)];
}

function repetitionsFor(n: number, quick: boolean): number {
  if (n >= 4096) return 1;
  if (n >= 2048) return quick ? 1 : 3;
  if (n >= 1024) return quick ? 5 : 9;
  return quick ? 9 : 15;
}

function runPot(ctx: BenchContext, folder: string, repetitions: number): Baseline | null {
  if (!ctx.pot) return null;
  const script = fileURLToPath(new URL('../pot/emd.py', import.meta.url));
  const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
  const result = spawnSync(ctx.python, [script, folder, String(repetitions)], { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  if (result.status !== 0) {
    console.error(`emd: POT baseline failed: ${result.stderr}`);
    return null;
  }
  return JSON.parse(result.stdout) as Baseline;
}

function measure(ctx: BenchContext, problem: Problem, seed: number): BenchRecord[] {
  const { family, n, m } = problem;
  const M = costMatrix(problem, seed);
  const [a, b] = [uniform(n), uniform(m)];
  const repetitions = repetitionsFor(n, ctx.quick);
  const times: number[] = [];
  let result = emdSync(a, b, M);
  for (let r = 0; r < repetitions; r++) {
    const start = process.hrtime.bigint();
    result = emdSync(a, b, M);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const ours = median(times);
  const folder = mkdtempSync(join(tmpdir(), 'clafusion-emd-'));
  let pot: Baseline | null;
  try {
    writeFileSync(join(folder, 'problem.json'), JSON.stringify({ n, m, defaultCap: n >= 4096 }));
    writeFileSync(join(folder, 'a.f64'), a);
    writeFileSync(join(folder, 'b.f64'), b);
    writeFileSync(join(folder, 'M.f64'), M);
    pot = runPot(ctx, folder, repetitions);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  const size = `${n}x${m}, d=${problem.d}`;
  const agreement = pot ? `, cost rel. diff ${(Math.abs(result.cost - pot.emd_cost) / pot.emd_cost).toExponential(1)}` : '';
  const records: BenchRecord[] = [{
    case: `emd ${family}`, size, ours_ms: ours, baseline: 'POT ot.emd (numItermax 1e9)', baseline_ms: pot?.emd_ms ?? null,
    ratio: pot ? pot.emd_ms / ours : null, goal: problem.goal,
    note: `${result.method}, ${result.iterations} iterations, optimal=${result.optimal}${agreement}`,
  }];
  if (pot?.default_cap) {
    const cap = pot.default_cap;
    records.push({
      case: `emd ${family}`, size, ours_ms: ours, baseline: 'POT ot.emd (default numItermax 1e5)', baseline_ms: cap.ms,
      ratio: cap.ms / ours,
      note: cap.stopped
        ? `POT stopped at the cap: cost ${(cap.cost / result.cost - 1).toExponential(1)} above the optimum`
        : 'POT reached the optimum within the default cap',
    });
  }
  return records;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const sizes = ctx.quick ? [256, 512, 1024] : [256, 512, 1024, 2048, 4096];
  const problems: Problem[] = [];
  for (const family of ['fusion-like', 'random'] as Family[]) {
    for (const n of sizes) {
      problems.push({ family, n, m: n, d: 64, goal: family === 'random' ? 1 : n === 1024 ? 5 : undefined });
    }
    problems.push({ family, n: 1024, m: 1024, d: 576, goal: family === 'random' ? 1 : 5 });
  }
  problems.push({ family: 'fusion-like', n: 1024, m: 512, d: 64, goal: 2 });
  const records: BenchRecord[] = [];
  problems.forEach((problem, k) => records.push(...measure(ctx, problem, 17 + k)));
  return records;
}
