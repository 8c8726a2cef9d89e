/**
 * ModelRunner: one ONNX Runtime session (CPU) living in a worker thread. The main thread only posts tensors and
 * awaits replies, so its event loop stays responsive during inference; several runners run side by side (one worker
 * each). Workers come from a small pool (pool.ts) and go back to it on close, so a run of several models pays for
 * starting a thread once. An idle runner does not keep the process alive (the worker is unref'd while nothing is
 * pending).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ClafusionError, requireArg } from '../errors.js';
import { decodeModel } from '../onnx/proto.js';
import { type InferenceWorker, workerPool } from './pool.js';
import type { SessionInfo, TensorData, ValueInfo, WorkerRequestBody } from './protocol.js';

/** An ONNX model as bytes or as a file path (a path lets ORT resolve external data next to the file). */
export type ModelSource = Uint8Array | string;

export interface RunnerOptions {
  /** ORT intra-op threads for this session; 0 or absent: ONNX Runtime's default (all cores). */
  threads?: number;
  /** The model's name in messages (default: its path, or '<bytes>'). */
  name?: string;
}

/**
 * Intra-op threads for each of `sessions` sessions that run at once: the cores split between them (at least 1 each).
 * On 2 cores, two passes with one thread each beat two passes with two each (fusion activations 460 -> 330 ms).
 */
export function sharedThreads(sessions: number): number {
  requireArg(Number.isSafeInteger(sessions) && sessions >= 0, `sessions must be an integer >= 0, got ${sessions}`);
  return Math.max(1, Math.floor(availableParallelism() / Math.max(1, sessions)));
}

function readModelBytes(source: ModelSource): Uint8Array {
  if (typeof source !== 'string') return source;
  try {
    return readFileSync(source);
  } catch (err) {
    throw new ClafusionError('E_IO', `cannot read model ${source}: ${(err as Error).message}`, { cause: err });
  }
}

export class ModelRunner {
  private closed: ClafusionError | null = null;
  /** Graph inputs and outputs as ONNX Runtime reports them (set by `open`). */
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];

  private constructor(
    private readonly worker: InferenceWorker,
    /** The model's name (RunnerOptions.name), path or '<bytes>'; used in messages. */
    readonly name: string,
    /** metadata_props of the ModelProto (e.g. clafusion.input_mean). */
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    worker.label = name;
  }

  /** Parses the model (E_ONNX_PARSE on bad bytes), borrows a worker and creates the ORT session there. */
  static async open(source: ModelSource, options: RunnerOptions = {}): Promise<ModelRunner> {
    const threads = options.threads ?? 0;
    if (!Number.isSafeInteger(threads) || threads < 0) throw new ClafusionError('E_ARG', `threads must be a non-negative integer, got ${threads}`);
    const name = options.name ?? (typeof source === 'string' ? source : '<bytes>');
    const model = decodeModel(readModelBytes(source));
    const metadata = Object.fromEntries(model.metadataProps.map((entry) => [entry.key, entry.value]));
    const runner = new ModelRunner(workerPool.acquire(), name, metadata);
    try {
      const info = (await runner.request({ op: 'load', model: source, threads })) as SessionInfo;
      runner.inputs = info.inputs;
      runner.outputs = info.outputs;
    } catch (err) {
      await runner.close();
      throw err;
    }
    return runner;
  }

  /**
   * Runs the model on `feeds` and returns the float32 outputs named in `outputNames`. When `signal` fires, the
   * promise rejects with E_ABORTED at once; the worker finishes the batch in the background and its result is dropped.
   * The feeds named in `given` are the caller's to give away: when such a feed spans its whole buffer, the buffer
   * moves to the worker without a copy (and is detached here); every other feed is copied.
   */
  run(feeds: Record<string, TensorData>, outputNames: readonly string[], signal?: AbortSignal,
    given?: ReadonlySet<string>): Promise<Record<string, TensorData>> {
    const known = new Set(this.outputs.map((o) => o.name));
    const unknown = outputNames.filter((n) => !known.has(n));
    if (unknown.length > 0) {
      return Promise.reject(new ClafusionError('E_ARG', `${this.name} has no output ${unknown.map((n) => `'${n}'`).join(', ')}; its outputs are ${[...known].join(', ')}`));
    }
    // Compact copies, transferred rather than cloned: cloning a view would copy its whole underlying buffer.
    const whole = (name: string, data: Float32Array) => given?.has(name) && data.byteOffset === 0
      && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
    const copies = Object.fromEntries(Object.entries(feeds).map(([name, t]) =>
      [name, { data: whole(name, t.data) ? t.data : t.data.slice(), shape: [...t.shape] }]));
    const transfer = Object.values(copies).map((t) => t.data.buffer as ArrayBuffer);
    return this.request({ op: 'run', feeds: copies, outputs: [...outputNames] }, signal, transfer) as Promise<Record<string, TensorData>>;
  }

  /**
   * Ends the session and gives the worker back; pending and later calls reject. A batch still running (aborted) ends
   * in the background first, and the worker goes back then.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = new ClafusionError('E_ABORTED', `the ModelRunner for ${this.name} was closed`);
    this.worker.rejectPending(this.closed);
    const computing = !this.worker.reusable && !this.worker.failed;
    const released = workerPool.release(this.worker);
    if (!computing) return released;
    released.catch(() => undefined);
  }

  private request(body: WorkerRequestBody, signal?: AbortSignal, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closed);
    return this.worker.request(body, signal, transfer);
  }
}
