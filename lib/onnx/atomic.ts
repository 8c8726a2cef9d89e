/**
 * Atomic output files: bytes go to a temp file next to the target, which is renamed over the target only when
 * complete, so a reader never sees half a model. What can be at the target is checked first (only a regular file is
 * replaced: renaming over /dev/full or a FIFO would replace the node itself), and no temp file outlives the write:
 * an error removes it, SIGINT/SIGTERM/SIGHUP during the write remove it (lib/temps.ts; the write is synchronous, so
 * the handler runs right after it has renamed or removed its temp), and a kill that cannot be caught (SIGKILL, a
 * crash) leaves `.<name>.clafusion-<pid>-<hex>.tmp`: hidden, never the output's name, and removed by the next write to
 * the same target once process <pid> is gone.
 */
import { closeSync, openSync, readdirSync, renameSync, statSync, writeSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { ClafusionError } from '../errors.js';
import { removeQuietly, stalePid, trackTemp, untrackTemp } from '../temps.js';

/** `.<target name>.clafusion-` : the prefix of every temp file of `target`. */
function tempPrefix(target: string): string {
  return `.${basename(target)}.clafusion-`;
}

/** Removes temps of `target` left by killed processes (recognised by name; their pid no longer runs). */
function removeStaleTemps(target: string): void {
  let names: string[];
  try {
    names = readdirSync(dirname(target));
  } catch {
    return; // the write itself reports an unreadable folder
  }
  for (const name of names) if (stalePid(name, tempPrefix(target), '.tmp')) removeQuietly(join(dirname(target), name));
}

/**
 * E_ARG unless `path` is a usable output path: a non-empty string naming nothing yet or a regular file (through
 * symlinks); a directory, device, FIFO or socket there is refused, never replaced.
 */
export function checkOutputPath(path: unknown, what = 'output path'): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new ClafusionError('E_ARG', `the ${what} must be a non-empty file path, got ${JSON.stringify(path)}`);
  }
  if (path.includes('\0')) throw new ClafusionError('E_ARG', `the ${what} ${JSON.stringify(path)} holds a NUL byte`);
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return path; // nothing there yet (or a dangling symlink, which the rename replaces)
  }
  if (!stats.isFile()) {
    throw new ClafusionError('E_ARG',
      `refusing to write to '${path}': it is ${fileKind(stats)}, not a regular file; choose a file path`);
  }
  return path;
}

/** 'a directory', 'a FIFO', ... for messages about a file that is not a regular one. */
export function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return stats.isFile() ? 'a regular file' : 'a device';
}

function writeAll(fd: number, chunk: Uint8Array): void {
  for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done, chunk.length - done);
}

/** Writes chunks to a temp file in the target's folder, then renames it over the target; no partial file remains. */
export function atomicWrite(target: string, chunks: Uint8Array[]): void {
  checkOutputPath(target);
  removeStaleTemps(target);
  const temp = join(dirname(target), `${tempPrefix(target)}${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  trackTemp(temp);
  try {
    const fd = openSync(temp, 'wx');
    try {
      for (const chunk of chunks) writeAll(fd, chunk);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (err) {
    removeQuietly(temp);
    throw new ClafusionError('E_IO', `cannot write '${target}': ${(err as Error).message}`, { cause: err });
  } finally {
    untrackTemp(temp);
  }
}
