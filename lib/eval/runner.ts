/**
 * ModelRunner: one ONNX Runtime session (CPU) living in its own worker thread. The main thread only posts tensors
 * and awaits replies, so its event loop stays responsive during inference; several runners run side by side (one
 * worker each). An idle runner does not keep the process alive (the worker is unref'd while nothing is pending).
 *
 * The worker file sits next to this module: worker.js in the compiled dist/, worker.ts under tsx (tests, dev), in
 * which case the worker registers tsx's loader before importing it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ClafusionError, throwIfAborted, type ErrorCode } from '../errors.js';
import { decodeModel } from '../onnx/proto.js';
import type { SessionInfo, TensorData, ValueInfo, WorkerRequest, WorkerRequestBody, WorkerResponse } from './protocol.js';

/** An ONNX model as bytes or as a file path (a path lets ORT resolve external data next to the file). */
export type ModelSource = Uint8Array | string;

export interface RunnerOptions {
  /** ORT intra-op threads for this session; 0 or absent: ONNX Runtime's default (all cores). */
  threads?: number;
}

/**
 * The file URL of tsx's ESM API (`tsx/esm/api`, import condition), whose register() hooks tsx into a worker's module
 * loader (Node 20 does not pass the main thread's hooks on). Read from tsx's exports map because under mocha tsx
 * may load this file as CommonJS, where import.meta.resolve is missing and require.resolve picks the CJS build.
 */
function tsxEsmApi(): string {
  const packageJson = createRequire(import.meta.url).resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(packageJson, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(packageJson), manifest.exports['./esm/api']!.import.default)).href;
}

function startWorker(): Worker {
  const runningFromSource = import.meta.url.endsWith('.ts');
  const workerUrl = new URL(runningFromSource ? './worker.ts' : './worker.js', import.meta.url);
  if (!runningFromSource) return new Worker(workerUrl);
  const bootstrap = `import(${JSON.stringify(tsxEsmApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(workerUrl.href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

function readModelBytes(source: ModelSource): Uint8Array {
  if (typeof source !== 'string') return source;
  try {
    return readFileSync(source);
  } catch (err) {
    throw new ClafusionError('E_IO', `cannot read model ${source}: ${(err as Error).message}`, { cause: err });
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export class ModelRunner {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: ClafusionError | null = null;
  /** Graph inputs and outputs as ONNX Runtime reports them (set by `open`). */
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];

  private constructor(
    private readonly worker: Worker,
    /** The model's path, or '<bytes>'; used in messages. */
    readonly name: string,
    /** metadata_props of the ModelProto (e.g. clafusion.input_mean). */
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    worker.unref();
    worker.on('message', (response: WorkerResponse) => this.settle(response));
    worker.on('error', (err) => this.fail('E_NATIVE', `the ONNX Runtime worker for ${name} failed: ${err.message}`));
    worker.on('exit', () => this.fail('E_NATIVE', `the ONNX Runtime worker for ${name} has stopped; open a new ModelRunner`));
  }

  /** Parses the model (E_ONNX_PARSE on bad bytes), starts its worker and creates the ORT session there. */
  static async open(source: ModelSource, options: RunnerOptions = {}): Promise<ModelRunner> {
    const threads = options.threads ?? 0;
    if (!Number.isSafeInteger(threads) || threads < 0) throw new ClafusionError('E_ARG', `threads must be a non-negative integer, got ${threads}`);
    const name = typeof source === 'string' ? source : '<bytes>';
    const model = decodeModel(readModelBytes(source));
    const metadata = Object.fromEntries(model.metadataProps.map((entry) => [entry.key, entry.value]));
    const runner = new ModelRunner(startWorker(), name, metadata);
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
   */
  run(feeds: Record<string, TensorData>, outputNames: readonly string[], signal?: AbortSignal): Promise<Record<string, TensorData>> {
    const known = new Set(this.outputs.map((o) => o.name));
    const unknown = outputNames.filter((n) => !known.has(n));
    if (unknown.length > 0) {
      return Promise.reject(new ClafusionError('E_ARG', `${this.name} has no output ${unknown.map((n) => `'${n}'`).join(', ')}; its outputs are ${[...known].join(', ')}`));
    }
    // Compact copies, transferred rather than cloned: cloning a view would copy its whole underlying buffer.
    const copies = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, { data: t.data.slice(), shape: [...t.shape] }]));
    const transfer = Object.values(copies).map((t) => t.data.buffer);
    return this.request({ op: 'run', feeds: copies, outputs: [...outputNames] }, signal, transfer) as Promise<Record<string, TensorData>>;
  }

  /** Stops the worker; pending and later calls reject. */
  async close(): Promise<void> {
    this.fail('E_ABORTED', `the ModelRunner for ${this.name} was closed`);
    await this.worker.terminate();
  }

  private request(body: WorkerRequestBody, signal?: AbortSignal, transfer: ArrayBuffer[] = []): Promise<unknown> {
    try {
      throwIfAborted(signal);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.forget(id);
        reject(new ClafusionError('E_ABORTED', 'the operation was aborted by its AbortSignal'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (value) => (done(), resolve(value)),
        reject: (err) => (done(), reject(err)),
      });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ ...body, id } as WorkerRequest, transfer);
    });
  }

  private forget(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  private settle(response: WorkerResponse): void {
    const waiter = this.pending.get(response.id);
    if (!waiter) return; // aborted meanwhile
    this.forget(response.id);
    if (response.ok) waiter.resolve(response.result);
    else waiter.reject(new ClafusionError(response.code, `${this.name}: ${response.message}`));
  }

  private fail(code: ErrorCode, message: string): void {
    this.failure ??= new ClafusionError(code, message);
    for (const [id, waiter] of this.pending) {
      this.pending.delete(id);
      waiter.reject(this.failure);
    }
  }
}
