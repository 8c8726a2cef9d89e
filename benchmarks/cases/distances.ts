/**
 * Squared-euclidean pairwise distances (n = m = 2048, d = 576, float32) against numpy + OpenBLAS
 * (`(X*X).sum(1)[:,None] + (Y*Y).sum(1)[None] - 2 X@Y.T`) and POT's `ot.dist` (float64), and the GEMM behind it
 * (2048 x 2048 x 576) against numpy's sgemm, with OpenBLAS on its default threads and on one thread.
 * Our runs and the baselines' alternate, one repetition each, so load from other jobs hits both sides alike.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defaultThreads } from '../../lib/native.js';
import { gemmSync, pairwiseDistancesSync } from '../../lib/solvers/linalg.js';
import type { BenchContext, BenchRecord } from '../types.js';

const [N, M, D] = [2048, 2048, 576];
const SIZE = `${N}x${M}x${D}`;
const GEMM_FLOP = 2 * N * M * D;

type BaselineName = 'numpy_sqeuclidean' | 'ot_dist_f64' | 'numpy_sgemm';

/** Deterministic values in [-1, 1) (a 32-bit LCG is enough for timing). */
function randomMatrix(seed: number, length: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

function timeMs(fn: () => unknown): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** benchmarks/pot/distances.py serving one timing per request. */
class BaselineServer {
  private readonly lines: AsyncIterator<string>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async start(ctx: BenchContext, folder: string, blasThreads?: number): Promise<BaselineServer | null> {
    if (!ctx.pot) return null;
    const script = fileURLToPath(new URL('../pot/distances.py', import.meta.url));
    const env = blasThreads === undefined ? process.env : { ...process.env, OPENBLAS_NUM_THREADS: String(blasThreads) };
    const server = new BaselineServer(spawn(ctx.python, [script, folder], { env }));
    server.child.stderr.pipe(process.stderr);
    return (await server.reply()) === 'ready' ? server : (server.stop(), null);
  }

  private async reply(): Promise<string | undefined> {
    const next = await this.lines.next();
    return next.done ? undefined : next.value;
  }

  async time(name: BaselineName): Promise<number> {
    this.child.stdin.write(`${name}\n`);
    const answer = await this.reply();
    if (answer === undefined) throw new Error(`distances: the baseline process ended while timing ${name}`);
    return Number(answer);
  }

  stop(): void {
    this.child.stdin.end();
  }
}

function record(name: string, oursMs: number, baseline: string, baselineMs: number | null, extra: Partial<BenchRecord> = {}): BenchRecord {
  return { case: name, size: SIZE, ours_ms: oursMs, baseline, baseline_ms: baselineMs, ratio: baselineMs === null ? null : baselineMs / oursMs, ...extra };
}

const gflops = (ms: number | null) => (ms === null ? '-' : (GEMM_FLOP / ms / 1e6).toFixed(1));

/** Runs `ours` and (when there is a server) the baseline alternately; medians of both. */
async function paired(repetitions: number, ours: () => unknown, server: BaselineServer | null, name: BaselineName) {
  ours();
  const oursMs: number[] = [];
  const baseMs: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    oursMs.push(timeMs(ours));
    if (server) baseMs.push(await server.time(name));
  }
  return { ours: median(oursMs), base: server ? median(baseMs) : null };
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const repetitions = ctx.quick ? 3 : 9;
  const x = randomMatrix(1, N * D);
  const y = randomMatrix(2, M * D);
  const folder = mkdtempSync(join(tmpdir(), 'clafusion-distances-'));
  let all: BaselineServer | null = null;
  let one: BaselineServer | null = null;
  try {
    writeFileSync(join(folder, 'problem.json'), JSON.stringify({ n: N, m: M, d: D }));
    writeFileSync(join(folder, 'X.f32'), x);
    writeFileSync(join(folder, 'Y.f32'), y);
    all = await BaselineServer.start(ctx, folder);
    one = await BaselineServer.start(ctx, folder, 1);
    const threads = defaultThreads();
    const distances = () => pairwiseDistancesSync(x, N, y, M, D, { threads });
    const vsNumpy = await paired(repetitions, distances, all, 'numpy_sqeuclidean');
    const vsPot = await paired(repetitions, distances, all, 'ot_dist_f64');
    const gemm = await paired(repetitions, () => gemmSync(x, y, N, M, D, { transB: true, threads }), all, 'numpy_sgemm');
    const gemm1 = await paired(repetitions, () => gemmSync(x, y, N, M, D, { transB: true, threads: 1 }), one, 'numpy_sgemm');
    return [
      record('distances sqeuclidean f32', vsNumpy.ours, `numpy+OpenBLAS f32 (${threads} threads)`, vsNumpy.base, { goal: 0.7 }),
      record('distances sqeuclidean f32', vsPot.ours, 'POT ot.dist f64', vsPot.base),
      record('sgemm f32 (X Yᵀ)', gemm.ours, `numpy sgemm (${threads} threads)`, gemm.base,
        { note: `ours ${gflops(gemm.ours)} GFLOP/s, numpy ${gflops(gemm.base)} GFLOP/s` }),
      record('sgemm f32 (X Yᵀ), 1 thread', gemm1.ours, 'numpy sgemm (OPENBLAS_NUM_THREADS=1)', gemm1.base,
        { goal: 0.6, note: `ours ${gflops(gemm1.ours)} GFLOP/s, numpy ${gflops(gemm1.base)} GFLOP/s` }),
    ];
  } finally {
    all?.stop();
    one?.stop();
    rmSync(folder, { recursive: true, force: true });
  }
}
