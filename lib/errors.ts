/**
 * Errors with a stable machine-readable `code`, in the style of node-sqlite3: callers branch on `err.code`,
 * people read `err.message`, which always says what was wrong and what to do.
 */
export const ERROR_MEANINGS = {
  E_ARG: 'an argument is invalid (wrong length, NaN, negative mass, unknown option, a size no machine can allocate)',
  E_SOLVER: 'a numeric solver could not reach its stopping criterion (also: training that diverged)',
  E_NATIVE: 'the native addon is missing or failed to load, or failed internally (a bug: please report it)',
  E_ONNX_PARSE: 'the bytes are not a readable ONNX model (also: its external data is not a readable regular file)',
  E_UNSUPPORTED_GRAPH: 'a readable graph that the Network IR cannot express',
  E_SHAPE: 'tensor or model shapes do not fit together',
  E_DATA: 'a data file is malformed, truncated or does not match the model',
  E_IO: 'a file could not be read or written',
  E_RESOURCE: 'the machine cannot give what the inputs need now (memory: lib/resources.ts); smaller inputs fit',
  E_ABORTED: "the caller's AbortSignal fired",
} as const;

/** The stable codes; `ERROR_MEANINGS[code]` says what each means. */
export type ErrorCode = keyof typeof ERROR_MEANINGS;

/** True when `code` is one of the documented codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_MEANINGS, code);
}

export class ClafusionError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClafusionError';
    this.code = code;
  }
}

/** Throws `E_ARG` with `message` unless `condition` holds. */
export function requireArg(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ClafusionError('E_ARG', message);
}

/** Throws `E_ABORTED` if the signal has fired; call between steps of long work. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ClafusionError('E_ABORTED', 'the operation was aborted by its AbortSignal');
}

/** True when `err` is a ClafusionError with the given code (or any code when none is given). */
export function isClafusionError(err: unknown, code?: ErrorCode): err is ClafusionError {
  return err instanceof ClafusionError && (code === undefined || err.code === code);
}
