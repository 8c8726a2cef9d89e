/**
 * One measurement of the large benchmarks (cases/imagenet.ts), run in a child process of its own so that its peak
 * resident memory (VmHWM in /proc/self/status) is its own: `tsx benchmarks/imagenet-job.ts '<json ImagenetJob>'`.
 * Prints one JSON line (ImagenetJobResult) on stdout.
 *
 * - forward: one plain ONNX Runtime forward pass of each model over the samples, one model after the other, each
 *   with every core (session creation included): the work that nothing in a fusion can skip;
 * - fuse: `fuse` of the models (activation mode on the samples, or weight mode without data), `repetitions` times,
 *   with the peak resident memory of each stage (VmRSS sampled every 50 ms while the stage runs).
 */
import { readFileSync } from 'node:fs';
import { predictLogits } from '../lib/eval/evaluate.js';
import { fuse } from '../lib/fusion/index.js';
import { readNetwork } from '../lib/graph/recognise.js';
import { parameterCount } from '../lib/ir/network.js';
import { defaultMemoryBytes } from '../lib/stats/stream.js';
import { smoothImages } from './imagenet.js';

export interface ImagenetJob {
  kind: 'forward' | 'fuse';
  /** ONNX files, deep first. */
  models: string[];
  /** Smooth random images (all of them are the activation samples); 0 for weight mode. */
  samples: number;
  dataSeed: number;
  repetitions: number;
  /** At most this many samples per model run (fuse's `chunkSize`); unset: fuse's default. */
  chunkSize?: number;
  /** fuse's memory budget (`memoryBytes`); unset: fuse's default, a quarter of the available memory, at most 2 GiB. */
  memoryBytes?: number;
}

export interface ImagenetJobResult {
  /** Wall time of each repetition. */
  ms: number[];
  /** CPU time (user + system, every thread) of each repetition. */
  cpuMs: number[];
  /** fuse: the stage timings of the last repetition. */
  timings?: Record<string, number>;
  /** fuse: parameters of the fused model and of each input. */
  parameters?: { fused: number; models: number[] };
  /** Peak resident set size of this process. */
  peakKiB: number;
  /** fuse: the peak resident set size sampled during each stage of the last repetition. */
  stagePeakKiB?: Record<string, number>;
  /** fuse: the memory budget of the streaming passes (the option, or the default at the start). */
  budgetBytes?: number;
}

function statusKiB(field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(status)?.[1] ?? NaN);
}

/** Samples VmRSS every 50 ms into the peaks of the stages that run (fuse's onProgress says which; they may nest). */
class StagePeaks {
  readonly peaks: Record<string, number> = {};
  private readonly running = new Set<string>();
  private readonly timer = setInterval(() => this.sample(), 50);

  onProgress = (stage: string, done: number, total: number): void => {
    this.sample();
    if (done < total) this.running.add(stage);
    else this.running.delete(stage);
    this.sample();
  };

  private sample(): void {
    const rss = statusKiB('VmRSS');
    for (const stage of this.running) this.peaks[stage] = Math.max(this.peaks[stage] ?? 0, rss);
  }

  stop(): Record<string, number> {
    clearInterval(this.timer);
    return this.peaks;
  }
}

async function timed(work: () => Promise<void>): Promise<[number, number]> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return [performance.now() - start, (used.user + used.system) / 1000];
}

async function run(job: ImagenetJob): Promise<ImagenetJobResult> {
  const data = job.samples > 0 ? smoothImages(job.samples, job.dataSeed) : undefined;
  const result: ImagenetJobResult = { ms: [], cpuMs: [], peakKiB: 0 };
  let fusedParameters = 0;
  for (let r = 0; r < job.repetitions; r++) {
    const [ms, cpuMs] = await timed(async () => {
      if (job.kind === 'forward') {
        for (const model of job.models) await predictLogits(model, data!);
        return;
      }
      const { chunkSize, memoryBytes } = job;
      const stream = { ...(chunkSize ? { chunkSize } : {}), ...(memoryBytes ? { memoryBytes } : {}) };
      if (data) result.budgetBytes = memoryBytes ?? defaultMemoryBytes();
      const peaks = new StagePeaks();
      const options = data
        ? { data, samples: job.samples, ...stream, onProgress: peaks.onProgress }
        : { mode: 'weights' as const };
      const fused = await fuse(job.models, options);
      result.stagePeakKiB = peaks.stop();
      result.timings = fused.timings;
      fusedParameters = parameterCount(fused.network);
    });
    result.ms.push(ms);
    result.cpuMs.push(cpuMs);
  }
  result.peakKiB = statusKiB('VmHWM');
  if (job.kind === 'fuse') {
    result.parameters = { fused: fusedParameters, models: job.models.map((path) => parameterCount(readNetwork(path))) };
  }
  return result;
}

const job = JSON.parse(process.argv[2] ?? '{}') as ImagenetJob;
process.stdout.write(`${JSON.stringify(await run(job))}\n`);
// ONNX Runtime's worker threads would keep the process alive.
process.exit(0);
