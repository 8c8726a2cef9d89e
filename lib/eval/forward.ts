/** Running batches through a ModelRunner: fixed-batch padding, output concatenation, prefetching the next batch. */
import type { Batch } from '../data/dataset.js';
import { ClafusionError, requireArg, throwIfAborted } from '../errors.js';
import type { InputPlan } from './input.js';
import type { TensorData } from './protocol.js';
import type { ModelRunner } from './runner.js';

export interface RunOptions {
  /** Samples per inference call (default 256). */
  batchSize?: number;
  /** Called after each batch with the samples done so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Aborts with E_ABORTED between batches and while one is running. */
  signal?: AbortSignal;
}

export const DEFAULT_BATCH_SIZE = 256;

export function batchSizeOf(options: RunOptions): number {
  const size = options.batchSize ?? DEFAULT_BATCH_SIZE;
  requireArg(Number.isSafeInteger(size) && size > 0, `batchSize must be a positive integer, got ${size}`);
  return size;
}

/** Concatenates tensors along axis 0. */
export function concatRows(parts: readonly TensorData[]): TensorData {
  if (parts.length === 1) return parts[0]!;
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(part.data, offset);
    offset += part.data.length;
  }
  const rows = parts.reduce((n, p) => n + p.shape[0]!, 0);
  return { data, shape: [rows, ...parts[0]!.shape.slice(1)] };
}

function firstRows(t: TensorData, rows: number): TensorData {
  const rowSize = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { data: t.data.subarray(0, rows * rowSize), shape: [rows, ...t.shape.slice(1)] };
}

/**
 * Runs `n` samples (`data`, row-major) and returns the named outputs with n rows. A model with a fixed batch
 * dimension B gets chunks of exactly B samples, the last one zero-padded, its extra rows dropped.
 */
export async function forward(runner: ModelRunner, plan: InputPlan, data: Float32Array, n: number, outputNames: readonly string[], signal?: AbortSignal): Promise<Record<string, TensorData>> {
  const sampleSize = plan.sampleShape.reduce((a, b) => a * b, 1);
  const chunk = plan.fixedBatch ?? n;
  const parts: Array<Record<string, TensorData>> = [];
  for (let start = 0; start < n; start += chunk) {
    const rows = Math.min(chunk, n - start);
    let input = data.subarray(start * sampleSize, (start + rows) * sampleSize);
    if (rows < chunk) {
      const padded = new Float32Array(chunk * sampleSize);
      padded.set(input);
      input = padded;
    }
    const outputs = await runner.run({ [plan.name]: { data: input, shape: [chunk, ...plan.sampleShape] } }, outputNames, signal);
    for (const name of outputNames) {
      if (outputs[name]!.shape[0] !== chunk) {
        throw new ClafusionError('E_SHAPE', `${runner.name}: output '${name}' has shape [${outputs[name]!.shape.join(', ')}], not one row per sample (${chunk})`);
      }
      outputs[name] = firstRows(outputs[name]!, rows);
    }
    parts.push(outputs);
  }
  return Object.fromEntries(outputNames.map((name) => [name, concatRows(parts.map((p) => p[name]!))]));
}

/**
 * Feeds every batch of `batches` through `step`, reading batch i+1 while batch i runs (the read and decode happen on
 * this thread, the inference in the worker). Reports progress after each batch.
 */
export async function eachBatch(batches: AsyncIterator<Batch>, total: number, options: RunOptions, step: (batch: Batch) => Promise<void>): Promise<void> {
  let done = 0;
  let next = batches.next();
  for (;;) {
    const current = await next;
    if (current.done) break;
    throwIfAborted(options.signal);
    next = batches.next();
    // A rejected prefetch must not go unhandled if step() throws first; it is awaited (and rethrown) next turn.
    next.catch(() => undefined);
    await step(current.value);
    done += current.value.shape[0]!;
    options.onProgress?.(done, total);
  }
}

/** Splits an in-memory tensor [N, ...] into batches of at most `batchSize` rows (views, no copies). */
export async function* tensorBatches(input: TensorData, batchSize: number): AsyncGenerator<Batch> {
  const rows = input.shape[0]!;
  const rowSize = input.shape.slice(1).reduce((a, b) => a * b, 1);
  for (let start = 0; start < rows; start += batchSize) {
    const end = Math.min(start + batchSize, rows);
    yield { data: input.data.subarray(start * rowSize, end * rowSize), shape: [end - start, ...input.shape.slice(1)], labels: null };
  }
}
