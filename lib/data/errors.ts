import { ClafusionError } from '../errors.js';

/** An `E_DATA` error that names the file and the byte offset where its contents stop making sense. */
export function dataError(file: string, offset: number, problem: string, cause?: unknown): ClafusionError {
  return new ClafusionError('E_DATA', `${file}: ${problem} (at byte offset ${offset})`, cause === undefined ? undefined : { cause });
}

/** An `E_IO` error for a file that cannot be opened or read at all. */
export function ioError(file: string, err: unknown): ClafusionError {
  const reason = err instanceof Error ? err.message : String(err);
  return new ClafusionError('E_IO', `cannot read ${file}: ${reason}; check the path and its permissions`, { cause: err });
}
