/**
 * One measurement of cases/batch-statistics.ts in a child process of its own, so that its peak resident memory
 * (VmHWM) is its own: `tsx benchmarks/batch-statistics-job.ts '<json BatchStatisticsJob>'`. Prints one JSON line.
 *
 * - one-batch: the BN statistics as one ONNX Runtime batch of all samples (test/fusion/one-batch-statistics.ts, what
 *   the repair pass did before it went layer by layer);
 * - bounded: lib/fusion/batch-statistics.ts with the given budget (or the default, a quarter of the free memory, at most 2 GiB).
 */
import { readFileSync } from 'node:fs';
import { batchStatistics, planBatchStatistics } from '../lib/fusion/batch-statistics.js';
import { readNetwork } from '../lib/graph/recognise.js';
import { oneBatchStatistics } from '../test/fusion/one-batch-statistics.js';
import { smoothImages } from './imagenet.js';

export interface BatchStatisticsJob {
  method: 'one-batch' | 'bounded';
  /** An ONNX file of a network with BN, 3x224x224 inputs. */
  model: string;
  samples: number;
  dataSeed: number;
  memoryBytes?: number;
}

export interface BatchStatisticsJobResult {
  ms: number;
  /** CPU time (user + system, every thread). */
  cpuMs: number;
  /** Peak resident set size of the process, and before the pass (the model and the samples loaded). */
  peakKiB: number;
  beforeKiB: number;
  /** bounded: where the held tensors went and how many of them were held at most. */
  disk?: boolean;
  heldBytes?: number;
}

function peakKiB(): number {
  return Number(/VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
}

async function run(job: BatchStatisticsJob): Promise<BatchStatisticsJobResult> {
  const network = readNetwork(job.model);
  const data = smoothImages(job.samples, job.dataSeed);
  const options = { memoryBytes: job.memoryBytes };
  const plan = job.method === 'bounded' ? planBatchStatistics(network, data, options).layerwise : undefined;
  const beforeKiB = peakKiB();
  const cpu = process.cpuUsage();
  const start = performance.now();
  await (job.method === 'one-batch' ? oneBatchStatistics(network, data) : batchStatistics(network, data, options));
  const used = process.cpuUsage(cpu);
  return {
    ms: performance.now() - start, cpuMs: (used.user + used.system) / 1000, peakKiB: peakKiB(), beforeKiB,
    ...(plan ? { disk: plan.disk, heldBytes: plan.heldBytes } : {}),
  };
}

const job = JSON.parse(process.argv[2] ?? '{}') as BatchStatisticsJob;
process.stdout.write(`${JSON.stringify(await run(job))}\n`);
process.exit(0); // ONNX Runtime's worker threads would keep the process alive
