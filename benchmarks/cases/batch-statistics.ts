/**
 * The BN batch statistics of the repair pass and of BN recalibration (lib/fusion/batch-statistics.ts: layer by layer
 * in bounded memory) against one ONNX Runtime batch of all samples with every BN in training mode (the baseline, what
 * the pass did before; test/fusion/one-batch-statistics.ts). Ratio = one-batch time / ours (below 1: we are slower).
 *
 * - always: the bundled BN ResNet (examples/models/resnet_deep.onnx), 200 Fashion-MNIST samples, in process, the two
 *   alternating, median of 3 (5 with --quick off);
 * - --large: a ResNet-50-shaped network at 3x224x224 (benchmarks/imagenet.ts) at 32 and 200 smooth samples, each
 *   measurement in a child process (benchmarks/batch-statistics-job.ts) with its own peak RSS: one batch, ours with
 *   the default budget (held tensors in memory) and ours with a 512 MiB budget (held tensors on disk).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDataset } from '../../lib/data/index.js';
import { batchStatistics } from '../../lib/fusion/batch-statistics.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { oneBatchStatistics } from '../../test/fusion/one-batch-statistics.js';
import type { BatchStatisticsJob, BatchStatisticsJobResult } from '../batch-statistics-job.js';
import { imagenetResnetBytes } from '../imagenet.js';
import type { BenchContext, BenchRecord } from '../types.js';

const here = dirname(fileURLToPath(import.meta.url));
const JOB = join(here, '..', 'batch-statistics-job.ts');
const TRAIN = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';
const LARGE_SAMPLES = [32, 200];
const DISK_BUDGET = 512 * 2 ** 20;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

async function bundled(ctx: BenchContext): Promise<BenchRecord> {
  const network = readNetwork(join(here, '..', '..', 'examples', 'models', 'resnet_deep.onnx'));
  const data = (await openDataset(TRAIN)).limit(200);
  await oneBatchStatistics(network, data); // warm-up: the worker pool and ORT
  const ours: number[] = [];
  const baseline: number[] = [];
  for (let r = 0; r < (ctx.quick ? 3 : 5); r++) {
    baseline.push(await timed(() => oneBatchStatistics(network, data)));
    ours.push(await timed(() => batchStatistics(network, data)));
  }
  const [o, b] = [median(ours), median(baseline)];
  const size = 'resnet_deep, 200 samples, 1x28x28';
  return { case: 'bn-statistics-resnet', size, ours_ms: o, baseline: 'one ORT batch', baseline_ms: b, ratio: b / o };
}

function runJob(job: BatchStatisticsJob): BatchStatisticsJobResult | string {
  const budget = job.memoryBytes ? `, budget ${job.memoryBytes / 2 ** 20} MiB` : '';
  console.error(`benchmarks: bn-statistics: ${job.method}, ${job.samples} samples${budget}`);
  const child = spawnSync(process.execPath, [...process.execArgv, JOB, JSON.stringify(job)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.status !== 0) return `exited with ${child.signal ?? `code ${child.status}`}`;
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as BatchStatisticsJobResult;
}

function describe(result: BatchStatisticsJobResult): string {
  const gib = (kib: number) => `${(kib / 2 ** 20).toFixed(2)} GiB`;
  const where = result.disk ? 'on disk' : 'in memory';
  const held = result.heldBytes === undefined ? '' : `, held ${(result.heldBytes / 2 ** 30).toFixed(2)} GiB ${where}`;
  const cpu = (result.cpuMs / 1000).toFixed(1);
  return `peak RSS ${gib(result.peakKiB)} (${gib(result.beforeKiB)} before the pass), CPU ${cpu} s${held}`;
}

async function large(): Promise<BenchRecord[]> {
  const folder = mkdtempSync(join(tmpdir(), 'clafusion-bench-bn-'));
  const records: BenchRecord[] = [];
  try {
    const model = join(folder, 'resnet50.onnx');
    writeFileSync(model, await imagenetResnetBytes(50, 1));
    for (const samples of LARGE_SAMPLES) {
      const base = { model, samples, dataSeed: 2 };
      const baseline = runJob({ ...base, method: 'one-batch' });
      for (const memoryBytes of [undefined, DISK_BUDGET]) {
        const ours = runJob({ ...base, method: 'bounded', memoryBytes });
        const budget = memoryBytes ? '512 MiB budget' : 'default budget';
        const size = `resnet50-shaped, 3x224x224, ${samples} samples, ${budget}`;
        const record = { case: 'bn-statistics-imagenet', size, baseline: 'one ORT batch' };
        if (typeof ours === 'string' || typeof baseline === 'string') {
          const note = [ours, baseline].filter((r) => typeof r === 'string').join('; ');
          records.push({ ...record, ours_ms: NaN, baseline_ms: null, ratio: null, note });
          continue;
        }
        const note = `ours: ${describe(ours)}; one batch: ${describe(baseline)}`;
        records.push({ ...record, ours_ms: ours.ms, baseline_ms: baseline.ms, ratio: baseline.ms / ours.ms, note });
      }
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  return records;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  return [await bundled(ctx), ...(ctx.large ? await large() : [])];
}
