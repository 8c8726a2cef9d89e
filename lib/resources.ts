/**
 * One home for memory checks: how much memory this process can still get, and a check that a user-sized allocation
 * fits before it is made. Without it an n x m output too big for the machine does not fail: V8 or the kernel kills
 * the process (V8's "allocation failed" is fatal for a native ArrayBuffer, and Linux overcommits, so a large
 * allocation succeeds and the process dies when it touches the pages).
 *
 *   availableMemoryBytes()          min(MemAvailable, every cgroup limit above us - its usage), os.freemem() fallback
 *   checkAllocation(bytes, what)    E_ARG for a request no machine can serve, E_RESOURCE for one this one cannot now
 *   boundHeapGrowth()               fixes glibc's mmap threshold, so that freed large blocks leave the process
 *
 * Both are cheap (a few small /proc and /sys reads), but requests below {@link UNCHECKED_BYTES} skip the reads: they
 * always fit, and the solvers are called in tight loops on small problems.
 */
import { readFileSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { freemem } from 'node:os';
import { ClafusionError } from './errors.js';
import { native } from './native.js';

/** Requests below this (16 MiB) are not compared with the machine's memory. */
export const UNCHECKED_BYTES = 16 * 2 ** 20;

/** The most elements one typed array can have in this Node (2^32 on Node 20). */
export const MAX_TYPED_ARRAY_LENGTH = bufferConstants.MAX_LENGTH;

/** cgroup v1 reports "no limit" as a number near 2^63. */
const UNLIMITED_V1 = 2 ** 62;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readNumber(path: string): number | undefined {
  const text = readText(path)?.trim();
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/** `key value` from a memory.stat file (bytes), or 0. */
function statValue(path: string, key: string): number {
  const match = readText(path)?.match(new RegExp(`^${key} (\\d+)$`, 'm'));
  return match ? Number(match[1]) : 0;
}

/** MemAvailable of /proc/meminfo in bytes: free memory plus what the kernel can reclaim without swapping. */
function memAvailable(): number | undefined {
  const match = readText('/proc/meminfo')?.match(/^MemAvailable:\s+(\d+) kB$/m);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** `/a/b/c` -> ['/a/b/c', '/a/b', '/a', '']: a cgroup and its ancestors (a limit anywhere above us applies). */
function ancestors(cgroupPath: string): string[] {
  const parts = cgroupPath.split('/').filter(Boolean);
  return parts.map((_, i) => '/' + parts.slice(0, parts.length - i).join('/')).concat('');
}

/**
 * Headroom under the cgroup limits: limit - (usage - inactive file cache), the working set as kubelet and
 * `docker stats` count it, since the kernel reclaims inactive page cache before it OOM-kills.
 */
function headroom(dir: string, limitFile: string, usageFile: string, inactiveKey: string, unlimited: number): number {
  const limit = readText(`${dir}/${limitFile}`)?.trim();
  if (limit === undefined || limit === 'max' || !/^\d+$/.test(limit) || Number(limit) >= unlimited) return Infinity;
  const usage = readNumber(`${dir}/${usageFile}`) ?? 0;
  const workingSet = Math.max(0, usage - statValue(`${dir}/memory.stat`, inactiveKey));
  return Math.max(0, Number(limit) - workingSet);
}

/** The least headroom over this process's memory cgroups (v2 unified or v1 memory controller), Infinity if none. */
function cgroupHeadroom(): number {
  let least = Infinity;
  for (const line of (readText('/proc/self/cgroup') ?? '').split('\n')) {
    const [, controllers, path] = line.match(/^\d+:([^:]*):(.*)$/) ?? [];
    if (path === undefined) continue;
    const v2 = controllers === '';
    if (!v2 && !controllers.split(',').includes('memory')) continue;
    for (const dir of ancestors(path)) {
      least = Math.min(least, v2
        ? headroom(`/sys/fs/cgroup${dir}`, 'memory.max', 'memory.current', 'inactive_file', Infinity)
        : headroom(`/sys/fs/cgroup/memory${dir}`, 'memory.limit_in_bytes', 'memory.usage_in_bytes',
          'total_inactive_file', UNLIMITED_V1));
    }
  }
  return least;
}

/**
 * Bytes this process can allocate now without being killed: the smaller of the kernel's MemAvailable and the
 * headroom under every cgroup memory limit that applies (v2 `memory.max - memory.current`, v1
 * `memory.limit_in_bytes - memory.usage_in_bytes`, less reclaimable file cache); `os.freemem()` where neither
 * exists (macOS, Windows).
 */
export function availableMemoryBytes(): number {
  const machine = memAvailable() ?? freemem();
  return Math.min(machine, cgroupHeadroom());
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Throws unless `bytes` can be allocated now for `what` (e.g. 'pairwiseDistances: the 1000000 x 1000000 result').
 *  - E_ARG when the request is absurd on any machine: not a finite number >= 0, above 2^53 bytes, or with a typed
 *    array of more than {@link MAX_TYPED_ARRAY_LENGTH} elements (`arrayLength`: the largest typed array in it);
 *  - E_RESOURCE when it exceeds {@link availableMemoryBytes} (requests under {@link UNCHECKED_BYTES} always pass).
 * Both messages say how much was asked for and how much there is.
 */
export function checkAllocation(bytes: number, what: string, arrayLength?: number): void {
  if (typeof bytes !== 'number' || !(bytes >= 0) || bytes > Number.MAX_SAFE_INTEGER) {
    throw new ClafusionError('E_ARG',
      `${what} would need ${String(bytes)} bytes, which no machine can allocate; check the sizes`);
  }
  if (arrayLength !== undefined && arrayLength > MAX_TYPED_ARRAY_LENGTH) {
    throw new ClafusionError('E_ARG',
      `${what} would be one array of ${arrayLength} elements (${formatBytes(bytes)}); ` +
      `a typed array holds at most ${MAX_TYPED_ARRAY_LENGTH}. Split the problem or check the sizes`);
  }
  if (bytes < UNCHECKED_BYTES) return;
  const available = availableMemoryBytes();
  if (bytes > available) {
    throw new ClafusionError('E_RESOURCE', `${what} needs ${formatBytes(bytes)} of memory, but only ` +
      `${formatBytes(available)} is available (MemAvailable and cgroup limits); use smaller inputs or free memory`);
  }
}

/** The streaming passes' mmap threshold: blocks of 1 MiB and more get mappings of their own (see boundHeapGrowth). */
export const MMAP_THRESHOLD_BYTES = 2 ** 20;

/** glibc's largest mmap threshold (HEAP_MAX_SIZE / 2 on 64-bit). */
const MAX_MMAP_THRESHOLD_BYTES = 32 * 2 ** 20;

let heapBounded = false;

/**
 * The threshold {@link boundHeapGrowth} sets from the environment: `CLAFUSION_MMAP_THRESHOLD` (whole bytes, 0 ..
 * 32 MiB), else {@link MMAP_THRESHOLD_BYTES}; undefined for 'glibc' or when GLIBC_TUNABLES sets one (the user's
 * choice stands). E_ARG for any other value.
 */
export function mmapThresholdSetting(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const setting = env.CLAFUSION_MMAP_THRESHOLD;
  if (setting === 'glibc' || /mmap_threshold/.test(env.GLIBC_TUNABLES ?? '')) return undefined;
  if (setting === undefined) return MMAP_THRESHOLD_BYTES;
  const bytes = /^\d+$/.test(setting) ? Number(setting) : NaN;
  if (!(bytes <= MAX_MMAP_THRESHOLD_BYTES)) {
    throw new ClafusionError('E_ARG',
      `CLAFUSION_MMAP_THRESHOLD must be 'glibc' or whole bytes in 0 .. ${MAX_MMAP_THRESHOLD_BYTES}, got '${setting}'`);
  }
  return bytes;
}

/**
 * Keeps the C heap from holding on to what the streaming passes free (glibc only; the first call sets it for the
 * process, see {@link mmapThresholdSetting}). glibc raises its mmap threshold to the size of each mapped block freed,
 * up to 32 MiB, so after the first 32 MiB run every tap output, Gram panel and held repair chunk comes from the heap
 * instead, and the holes the passes leave there are never returned to the system: resnet101 + resnet50 at 224x224
 * peaked at 4.4 GiB RSS with a 2 GiB budget, and held 3.9 GiB after the fusion. A fixed threshold of 1 MiB gives such
 * blocks mappings that go back on free: the same run peaked at 2.6 GiB and ended at 1.6 GiB (4 MiB: 4.25 GiB, the
 * repair's chunks are at most 1 MiB; glibc's arena_max 2 instead: 3.7 GiB). The cost, a page clearing per large
 * block, is within the runs' noise.
 */
export function boundHeapGrowth(): void {
  if (heapBounded) return;
  const bytes = mmapThresholdSetting();
  heapBounded = true;
  if (bytes !== undefined) native().setMmapThreshold(bytes);
}
