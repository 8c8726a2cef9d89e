/**
 * The ONNX Runtime worker threads behind ModelRunner, and a small process-wide pool of idle ones.
 *
 * Starting a worker (a thread, Node's module loader, the ORT binding) costs 50–500 ms, far more than creating a
 * small session in it, and one fusion opens up to seven sessions (activations, repair, validation). A ModelRunner
 * therefore borrows a worker from the pool and gives it back when it closes; the worker releases that session before
 * it serves the next one. Bounds: at most `maxIdle` idle workers are kept (others stop), and an idle worker stops after
 * `idleMs` without use (its ORT allocator holds memory). Idle workers are unref'd: they never keep the process alive.
 * A worker that has failed is never reused; one still computing for a closed runner goes back once it has finished.
 *
 * The worker file sits next to this module: worker.js in the compiled dist/, worker.ts under tsx (tests, dev), in
 * which case the worker registers tsx's loader before importing it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ClafusionError, requireArg, throwIfAborted, type ErrorCode } from '../errors.js';
import type { WorkerRequest, WorkerRequestBody, WorkerResponse } from './protocol.js';

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

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * One worker thread: numbered requests, their replies, and whether the thread can serve another runner.
 *
 * The thread is never stopped while ONNX Runtime works in it: stopping a thread inside ORT aborts the whole process
 * ("terminate called after throwing an instance of 'Napi::Error'"), which the first version of ModelRunner did when
 * a runner closed during an aborted batch. An aborted batch therefore finishes first; the thread is ref'd while any
 * request is in flight (a batch ends in bounded time), so the process does not exit under it either.
 */
export class InferenceWorker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Requests posted and not yet answered, including aborted ones and session releases. */
  private inFlight = 0;
  /** Session releases among them. */
  private releasing = 0;
  private readonly onQuiet: (() => void)[] = [];
  private failure: ClafusionError | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** The model the worker serves now; used in messages. */
  label = '<idle>';

  constructor(private readonly worker: Worker = startWorker()) {
    worker.unref();
    worker.on('message', (response: WorkerResponse) => this.settle(response));
    worker.on('error', (err) => {
      // A worker past its heap limit is out of memory, not a broken addon.
      const code = (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'E_RESOURCE' : 'E_NATIVE';
      this.fail(code, `the ONNX Runtime worker for ${this.label} failed: ${err.message}`);
    });
    worker.on('exit', () => this.fail('E_NATIVE', `the ONNX Runtime worker for ${this.label} has stopped; open a new ModelRunner`));
  }

  /** True when the thread is alive and computes nothing (a session release may still be queued): it can serve again. */
  get reusable(): boolean {
    return this.failure === null && this.inFlight === this.releasing;
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  /** Resolves once nothing is in flight (at once when nothing is), or the thread has failed. */
  quiet(): Promise<void> {
    if (this.inFlight === 0 || this.failure) return Promise.resolve();
    return new Promise((resolve) => this.onQuiet.push(resolve));
  }

  /** Posts a request; the promise settles with the worker's reply, or rejects when `signal` fires (E_ABORTED). */
  request(body: WorkerRequestBody, signal?: AbortSignal, transfer: ArrayBuffer[] = []): Promise<unknown> {
    try {
      throwIfAborted(signal);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(id);
        reject(new ClafusionError('E_ABORTED', 'the operation was aborted by its AbortSignal'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (value) => (done(), resolve(value)),
        reject: (err) => (done(), reject(err)),
      });
      this.post({ ...body, id } as WorkerRequest, transfer);
    });
  }

  /** Asks the worker to drop its session (answered without a waiter; a later load queues behind it). */
  releaseSession(): void {
    if (this.failure) return;
    this.releasing++;
    this.post({ op: 'release', id: this.nextId++ }, []);
  }

  /** Rejects every waiting request with `err` (the worker still finishes what it computes). */
  rejectPending(err: ClafusionError): void {
    for (const [id, waiter] of this.pending) {
      this.pending.delete(id);
      waiter.reject(err);
    }
  }

  /** Stops the thread once it is quiet (see the class comment); waiting requests reject. */
  async terminate(): Promise<void> {
    this.cancelIdleTimer();
    await this.quiet();
    this.fail('E_ABORTED', `the ONNX Runtime worker for ${this.label} was stopped`);
    await this.worker.terminate();
  }

  /** Calls `onIdle` after `ms` unless the worker is borrowed first; the timer does not keep the process alive. */
  startIdleTimer(ms: number, onIdle: () => void): void {
    this.cancelIdleTimer();
    this.idleTimer = setTimeout(onIdle, ms);
    this.idleTimer.unref();
  }

  cancelIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private post(request: WorkerRequest, transfer: ArrayBuffer[]): void {
    if (this.inFlight++ === 0) this.worker.ref();
    this.worker.postMessage(request, transfer);
  }

  private settle(response: WorkerResponse): void {
    const waiter = this.pending.get(response.id);
    if (!waiter && response.ok && 'released' in response.result) this.releasing--;
    if (--this.inFlight === 0) this.becameQuiet();
    if (!waiter) return; // aborted meanwhile, or a release
    this.pending.delete(response.id);
    if (response.ok) waiter.resolve(response.result);
    else waiter.reject(new ClafusionError(response.code, `${this.label}: ${response.message}`));
  }

  private becameQuiet(): void {
    this.worker.unref();
    for (const resolve of this.onQuiet.splice(0)) resolve();
  }

  private fail(code: ErrorCode, message: string): void {
    this.failure ??= new ClafusionError(code, message);
    this.rejectPending(this.failure);
    this.becameQuiet();
  }
}

export interface WorkerPoolOptions {
  /** Idle workers kept for reuse; 0 stops every worker when its runner closes. Default: the core count, 2 to 4. */
  maxIdle?: number;
  /** Milliseconds an idle worker is kept (default 10 000). */
  idleMs?: number;
}

const DEFAULT_IDLE_MS = 10_000;

class WorkerPool {
  private readonly idle: InferenceWorker[] = [];
  private maxIdle = Math.min(4, Math.max(2, availableParallelism()));
  private idleMs = DEFAULT_IDLE_MS;

  configure(options: WorkerPoolOptions): void {
    if (options.maxIdle !== undefined) {
      requireArg(Number.isSafeInteger(options.maxIdle) && options.maxIdle >= 0, `maxIdle must be a non-negative integer, got ${options.maxIdle}`);
      this.maxIdle = options.maxIdle;
    }
    if (options.idleMs !== undefined) {
      requireArg(Number.isFinite(options.idleMs) && options.idleMs >= 0, `idleMs must be a non-negative number, got ${options.idleMs}`);
      this.idleMs = options.idleMs;
    }
    while (this.idle.length > this.maxIdle) void this.idle.shift()!.terminate();
  }

  /** An idle worker (the most recently used), or a new one. */
  acquire(): InferenceWorker {
    for (let worker = this.idle.pop(); worker; worker = this.idle.pop()) {
      worker.cancelIdleTimer();
      if (worker.reusable) return worker;
      void worker.terminate();
    }
    return new InferenceWorker();
  }

  /**
   * Takes back a worker whose runner has closed: kept idle if it can serve again and there is room, else stopped. A
   * worker still computing (an aborted batch) is taken back when it has finished (see InferenceWorker).
   */
  async release(worker: InferenceWorker): Promise<void> {
    if (!worker.reusable && !worker.failed) await worker.quiet();
    if (!worker.reusable || this.idle.length >= this.maxIdle) {
      await worker.terminate();
      return;
    }
    worker.label = '<idle>';
    worker.releaseSession();
    this.idle.push(worker);
    worker.startIdleTimer(this.idleMs, () => {
      const k = this.idle.indexOf(worker);
      if (k >= 0) this.idle.splice(k, 1);
      void worker.terminate();
    });
  }

  /** Starts workers until `count` are idle (bounded by maxIdle), so that their start overlaps other work. */
  prestart(count: number): void {
    while (this.idle.length < Math.min(count, this.maxIdle)) void this.release(new InferenceWorker());
  }

  get bounds(): Required<WorkerPoolOptions> {
    return { maxIdle: this.maxIdle, idleMs: this.idleMs };
  }

  /** Number of idle workers (for tests). */
  get idleCount(): number {
    return this.idle.length;
  }

  /** Stops every idle worker. */
  async drain(): Promise<void> {
    await Promise.all(this.idle.splice(0).map((worker) => worker.terminate()));
  }
}

/** The process-wide pool that ModelRunner uses. */
export const workerPool = new WorkerPool();

/**
 * Sets the pool's bounds (see WorkerPoolOptions); `maxIdle: 0` turns reuse off. Idle workers beyond the new bound
 * stop at once.
 */
export function configureWorkerPool(options: WorkerPoolOptions): void {
  workerPool.configure(options);
}
