/** Messages between ModelRunner (main thread) and its inference worker (worker.ts). */
import type { ErrorCode } from '../errors.js';

/** A float32 tensor with its shape (row-major). */
export interface TensorData {
  data: Float32Array;
  shape: number[];
}

/** A graph input or output as ONNX Runtime reports it; symbolic dimensions are strings. */
export interface ValueInfo {
  name: string;
  type: string;
  shape: Array<number | string>;
}

export interface SessionInfo {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export type WorkerRequestBody =
  | { op: 'load'; model: Uint8Array | string; threads: number }
  | { op: 'run'; feeds: Record<string, TensorData>; outputs: string[] }
  /** Drops the session (the worker goes back to the pool); answered with { released: true }. */
  | { op: 'release' };

export type WorkerRequest = WorkerRequestBody & { id: number };

export type WorkerResponse =
  | { id: number; ok: true; result: SessionInfo | Record<string, TensorData> | { released: true } }
  | { id: number; ok: false; code: ErrorCode; message: string };
