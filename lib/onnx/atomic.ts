/**
 * Atomic output files: bytes go to a temp file next to the target, which is renamed over the target only when
 * complete, so a reader never sees half a model. What can be at the target is checked first (only a regular file is
 * replaced: renaming over /dev/full or a FIFO would replace the node itself), and no temp file outlives the write:
 *
 *  - an error removes it;
 *  - SIGINT/SIGTERM/SIGHUP during the write are caught (the write is synchronous, so the handler runs right after it
 *    has renamed or removed its temp), then re-raised, so the process still dies of the signal. The handlers stay
 *    from the first write on: removing them could drop a signal that arrived just before (libuv has read it, the JS
 *    listener has not run yet). They only re-raise, so the process dies of the signal as before, once the event loop
 *    turns; an application with its own listener for a signal keeps handling it;
 *  - a kill that cannot be caught (SIGKILL, a crash) leaves `.<name>.clafusion-<pid>-<hex>.tmp`: hidden, never the
 *    output's name, and removed by the next write to the same target once process <pid> is gone.
 */
import { closeSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { ClafusionError } from '../errors.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Temp files being written by this process right now. */
const liveTemps = new Set<string>();
let handlersInstalled = false;

/** Removes every live temp, then dies of `signal` as the default action would, unless someone else handles it. */
function onSignal(signal: NodeJS.Signals): void {
  for (const temp of liveTemps) removeQuietly(temp);
  liveTemps.clear();
  if (process.listenerCount(signal) > 1) return; // the application handles this signal itself
  for (const each of SIGNALS) process.removeListener(each, onSignal);
  handlersInstalled = false;
  process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  for (const signal of SIGNALS) process.on(signal, onSignal);
  handlersInstalled = true;
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* never created, already renamed, or already removed */
  }
}

/** `.<target name>.clafusion-` : the prefix of every temp file of `target`. */
function tempPrefix(target: string): string {
  return `.${basename(target)}.clafusion-`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Removes temps of `target` left by killed processes (recognised by name; their pid no longer runs). */
function removeStaleTemps(target: string): void {
  const prefix = tempPrefix(target);
  let names: string[];
  try {
    names = readdirSync(dirname(target));
  } catch {
    return; // the write itself reports an unreadable folder
  }
  for (const name of names) {
    const match = name.startsWith(prefix) ? /^(\d+)-[0-9a-f]+\.tmp$/.exec(name.slice(prefix.length)) : null;
    const pid = Number(match?.[1]);
    if (match && pid !== process.pid && !processAlive(pid)) removeQuietly(join(dirname(target), name));
  }
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
  installHandlers();
  liveTemps.add(temp);
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
    liveTemps.delete(temp);
  }
}
