/**
 * Temp files and folders that must not outlive the work that made them (atomic outputs, lib/onnx/atomic.ts; spilled
 * Gram rows, lib/stats/rows.ts). The work removes them itself on success and on error (try/finally); this module
 * covers the two cases it cannot:
 *
 *  - SIGINT/SIGTERM/SIGHUP: every tracked path is removed, then the signal is re-raised, so the process still dies
 *    of it. The handlers stay from the first tracked path on: removing them could drop a signal that arrived just
 *    before (libuv has read it, the JS listener has not run yet). They only re-raise, so the process dies of the
 *    signal as before, once the event loop turns; an application with its own listener for a signal keeps handling
 *    it;
 *  - a kill that cannot be caught (SIGKILL, a crash): temp names carry the pid of their process
 *    ({@link stalePid}), and the next run of the same work removes those whose process is gone.
 */
import { rmSync } from 'node:fs';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Temp paths of this process that exist right now. */
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

/** Removes a file or a folder with everything in it; nothing there is fine. */
export function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    /* already gone, or not ours to remove */
  }
}

/** `path` (a file or a folder) is removed if the process is stopped by a signal before {@link untrackTemp}. */
export function trackTemp(path: string): void {
  if (!handlersInstalled) {
    for (const signal of SIGNALS) process.on(signal, onSignal);
    handlersInstalled = true;
  }
  liveTemps.add(path);
}

export function untrackTemp(path: string): void {
  liveTemps.delete(path);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/**
 * True when `name` is a temp of a process that no longer runs: `prefix`, then `<pid>-<hex>` and `suffix`, with a pid
 * other than ours that is gone.
 */
export function stalePid(name: string, prefix: string, suffix = ''): boolean {
  if (!name.startsWith(prefix) || !name.endsWith(suffix)) return false;
  const match = /^(\d+)-[0-9a-zA-Z]+$/.exec(name.slice(prefix.length, name.length - suffix.length));
  const pid = Number(match?.[1]);
  return match !== null && pid !== process.pid && !processAlive(pid);
}
