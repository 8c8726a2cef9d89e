/** File access for the readers: every failure names the file (E_IO when it cannot be read, E_DATA when it is malformed). */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { ClafusionError, isClafusionError } from '../errors.js';

/** An `E_DATA` error that names the file and the byte offset where its contents stop making sense. */
export function dataError(file: string, offset: number, problem: string, cause?: unknown): ClafusionError {
  return new ClafusionError('E_DATA', `${file}: ${problem} (at byte offset ${offset})`, cause === undefined ? undefined : { cause });
}

/** An `E_IO` error for a file that cannot be opened or read at all. */
export function ioError(file: string, err: unknown): ClafusionError {
  const reason = err instanceof Error ? err.message : String(err);
  return new ClafusionError('E_IO', `cannot read ${file}: ${reason}; check the path and its permissions`, { cause: err });
}

/** Opens `path` for reading, runs `work` and closes the file; file-system failures become E_IO naming the file. */
export async function withFile<T>(path: string, work: (handle: FileHandle) => Promise<T>): Promise<T> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
    return await work(handle);
  } catch (err) {
    throw isClafusionError(err) ? err : ioError(path, err);
  } finally {
    await handle?.close();
  }
}

/** The whole file; E_IO naming it when it cannot be read. */
export async function readWholeFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw ioError(path, err);
  }
}
