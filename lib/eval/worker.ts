/**
 * The inference worker: owns one ONNX Runtime session at a time and runs requests one at a time, so that ORT's
 * synchronous parts (session creation, tensor copies) never block the main thread's event loop. A pooled worker
 * serves one runner after another: 'release' drops the session of the runner that closed.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { ErrorCode } from '../errors.js';
import type { SessionInfo, TensorData, ValueInfo, WorkerRequest, WorkerResponse } from './protocol.js';

let session: ort.InferenceSession | null = null;

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] {
  return meta.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] }));
}

/**
 * Session options. ORT's intra-op threads never spin while they wait for work: runners routinely run side by side
 * (two models' activation passes, an ensemble, a validation) and share the cores with the native solvers, and spinning
 * threads then take cores from each other (measured on 2 shared cores: one session over 2000 images 1.54 -> 1.22 s,
 * two at once 3.16 -> 2.36 s). Outputs do not depend on it.
 */
function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    ...(threads > 0 ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

async function load(model: Uint8Array | string, threads: number): Promise<SessionInfo> {
  await release();
  const options = sessionOptions(threads);
  session = typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  return { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
}

async function run(feeds: Record<string, TensorData>, outputs: string[]): Promise<Record<string, TensorData>> {
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', t.data, t.shape);
  const results = await session!.run(inputs, outputs);
  const out: Record<string, TensorData> = {};
  for (const name of outputs) {
    const tensor = results[name]!;
    if (tensor.type !== 'float32') throw Object.assign(new Error(`output '${name}' is ${tensor.type}; only float32 outputs can be collected`), { code: 'E_SHAPE' });
    out[name] = { data: transferable(tensor.data as Float32Array), shape: tensor.dims.map(Number) };
  }
  return out;
}

/**
 * ORT returns each output in an ArrayBuffer of its own, which is moved to the main thread without a copy; a view
 * into a larger buffer is copied first (transferring its buffer would move, and cloning would copy, all of it).
 */
function transferable(data: Float32Array): Float32Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer ? data : data.slice();
}

async function release(): Promise<void> {
  const released = session;
  session = null;
  await released?.release();
}

function reply(response: WorkerResponse): void {
  // A Set: two outputs may share one buffer, and a buffer may be listed only once.
  const outputs = response.ok && !('inputs' in response.result) && !('released' in response.result) ? (response.result as Record<string, TensorData>) : {};
  const transfer = [...new Set(Object.values(outputs).map((t) => t.data.buffer as ArrayBuffer))];
  parentPort!.postMessage(response, transfer);
}

/**
 * ORT reports failures as plain Errors; one that could not allocate is out of memory, otherwise a failed load means
 * unreadable model bytes, a failed run a shape/type mismatch.
 */
function failureCode(request: WorkerRequest, err: unknown): ErrorCode {
  const own = (err as { code?: unknown }).code;
  if (typeof own === 'string' && own.startsWith('E_')) return own as ErrorCode;
  if (/allocat|out of memory|bad_alloc/i.test(String((err as Error)?.message))) return 'E_RESOURCE';
  return request.op === 'load' ? 'E_ONNX_PARSE' : 'E_SHAPE';
}

let queue: Promise<void> = Promise.resolve();
parentPort!.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    if (request.op === 'release') {
      await release().catch(() => undefined); // a session that fails to release is dropped all the same
      reply({ id: request.id, ok: true, result: { released: true } });
      return;
    }
    try {
      const result = request.op === 'load' ? await load(request.model, request.threads) : await run(request.feeds, request.outputs);
      reply({ id: request.id, ok: true, result });
    } catch (err) {
      reply({ id: request.id, ok: false, code: failureCode(request, err), message: err instanceof Error ? err.message : String(err) });
    }
  });
});
