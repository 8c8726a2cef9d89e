/**
 * Every sample's rows of a pass's Gram taps, held until the pass has seen every sample: a sample Gram entry (i, j)
 * reads samples i and j together, so each tap's Gram is computed after the pass, one tap at a time, from its rows
 * (no model runs twice).
 *
 * - {@link MemoryRows}: one [samples, features] float32 array per tap;
 * - {@link SpillRows}: one file per model and tap in a temp folder (`spillDir`, else CLAFUSION_SPILL_DIR, else
 *   os.tmpdir()), rows appended run by run as the models produce them. A tap's Gram reads its file back in row
 *   panels that fit the memory left: one panel of all rows when it fits, else a panel of p rows is held while the
 *   later rows are read past it (N² / (2p) rows read). Reading a file back costs far less than running the models
 *   again, which the panel scheme this replaced did (N / (2p) extra forward passes).
 *
 * A Gram entry does not depend on how the samples were cut into blocks (native/core/moments.hpp), so both stores give
 * the same bits for any run size. The spill folder is checked for room first (statfs) and removed on success, error,
 * abort and SIGINT/SIGTERM/SIGHUP (lib/temps.ts); one left by a killed process is removed by the next spill in the
 * same folder.
 */
import { mkdtempSync, readdirSync, statfsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClafusionError, throwIfAborted } from '../errors.js';
import { formatBytes } from '../resources.js';
import { removeQuietly, stalePid, trackTemp, untrackTemp } from '../temps.js';
import type { GramAccumulator } from './accumulators.js';
import type { TapOutputs } from './statistics.js';

/** A tap of a model whose rows a store holds, with its float32 values per sample. */
export interface RowTap {
  model: number;
  key: string;
  features: number;
}

/** Where a pass puts the rows of its Gram taps, run by run, and reads them back for the Grams. */
export interface GramRows {
  /** Appends the rows of samples start .. (in order, after those appended before) of every tap of the store. */
  append(start: number, outputs: TapOutputs[]): Promise<void>;
  /** Adds the Gram of a tap's rows to `acc`, holding at most `roomBytes` of rows at once. */
  accumulate(tap: RowTap, acc: GramAccumulator, roomBytes: number, signal?: AbortSignal): Promise<void>;
  /** Frees the rows (removes the files). */
  close(): Promise<void>;
}

function outputOf(outputs: TapOutputs[], tap: RowTap): Float32Array {
  const data = outputs[tap.model]?.get(tap.key);
  if (!data) throw new ClafusionError('E_ARG', `no rows of model ${tap.model} at ${tap.key} in this run`);
  return data;
}

/** Every sample's rows of each tap in memory. */
export class MemoryRows implements GramRows {
  private readonly rows: TapOutputs[];

  constructor(private readonly samples: number, private readonly taps: RowTap[], models: number) {
    this.rows = Array.from({ length: models }, () => new Map());
  }

  async append(start: number, outputs: TapOutputs[]): Promise<void> {
    for (const tap of this.taps) {
      const data = outputOf(outputs, tap);
      const rows = this.rows[tap.model];
      // A run of every sample is kept as it came (no copy).
      if (data.length === this.samples * tap.features) rows.set(tap.key, data);
      else {
        if (!rows.has(tap.key)) rows.set(tap.key, new Float32Array(this.samples * tap.features));
        rows.get(tap.key)!.set(data, start * tap.features);
      }
    }
  }

  async accumulate(tap: RowTap, acc: GramAccumulator): Promise<void> {
    const all = this.rows[tap.model].get(tap.key)!;
    await acc.add(all, 0, all, 0);
  }

  async close(): Promise<void> {}
}

/** Folder for spilled rows: the option, else CLAFUSION_SPILL_DIR, else the system's temp folder. */
export function spillFolder(option?: string): string {
  return option ?? (process.env.CLAFUSION_SPILL_DIR || tmpdir());
}

const SPILL_PREFIX = 'clafusion-spill-';

/** Free space the spill leaves on its file system, for everyone else. */
const DISK_RESERVE_BYTES = 256 * 2 ** 20;

/** Bytes that may be written under `dir` now (free blocks available to this user). */
export function freeDiskBytes(dir: string): number {
  try {
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  } catch (err) {
    throw new ClafusionError('E_IO', `cannot use the spill folder '${dir}': ${(err as Error).message}`, { cause: err });
  }
}

/** E_RESOURCE unless `bytes` fit under `dir` with DISK_RESERVE_BYTES to spare. */
export function checkSpillRoom(dir: string, bytes: number): void {
  const free = freeDiskBytes(dir);
  if (bytes + DISK_RESERVE_BYTES <= free) return;
  throw new ClafusionError('E_RESOURCE', `the sample Grams need every sample's activations at their taps, ` +
    `${formatBytes(bytes)}, which fit neither the memory budget nor the disk under '${dir}' ` +
    `(${formatBytes(free)} free); set CLAFUSION_SPILL_DIR to a folder with room, raise --memory (memoryBytes), ` +
    'or use fewer samples');
}

/** Removes spill folders under `dir` left by processes that were killed. */
function removeStaleSpills(dir: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return; // creating the spill folder reports it
  }
  for (const name of names) if (stalePid(name, SPILL_PREFIX)) removeQuietly(join(dir, name));
}

function writeError(err: unknown, dir: string): ClafusionError {
  const code = (err as NodeJS.ErrnoException).code;
  const message = (err as Error).message;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new ClafusionError('E_RESOURCE', `the disk under '${dir}' filled up while spilling sample activations ` +
      `(${message}); set CLAFUSION_SPILL_DIR to a folder with room, raise --memory (memoryBytes), or use fewer ` +
      'samples', { cause: err });
  }
  return new ClafusionError('E_IO', `cannot spill sample activations under '${dir}': ${message}`, { cause: err });
}

/** Writes all of `data` at the end of `file`. */
async function writeAll(file: FileHandle, data: Float32Array): Promise<void> {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let done = 0; done < bytes.length;) done += (await file.write(bytes, done, bytes.length - done)).bytesWritten;
}

/** Fills `into` from `file` at byte `position`. */
async function readAll(file: FileHandle, into: Float32Array, position: number): Promise<void> {
  const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  for (let done = 0; done < bytes.length;) {
    const { bytesRead } = await file.read(bytes, done, bytes.length - done, position + done);
    if (bytesRead === 0) {
      throw new ClafusionError('E_IO', `a spilled activation file ended early (${position + done} bytes)`);
    }
    done += bytesRead;
  }
}

/**
 * Rows of each panel when a tap of `features` values per sample is read back within `roomBytes`: every row at once
 * when they fit, else two buffers of p rows (the held panel and the rows read past it); 0 when not even one row each
 * fits.
 */
export function spillPanel(samples: number, features: number, roomBytes: number): number {
  const row = 4 * features;
  if (samples * row <= roomBytes) return samples;
  return Math.min(samples, Math.floor(roomBytes / (2 * row)));
}

/** Every sample's rows of each tap in a file of its own. */
export class SpillRows implements GramRows {
  private panels = [new Float32Array(0), new Float32Array(0)];

  private constructor(
    private readonly dir: string,
    private readonly samples: number,
    private readonly taps: RowTap[],
    private readonly files: FileHandle[],
  ) {}

  /**
   * Creates the spill folder under `parent` (checked for room for every sample's rows first) and one file per tap.
   * `paths` (tests) names the files instead.
   */
  static async create(parent: string, samples: number, taps: RowTap[], paths?: string[]): Promise<SpillRows> {
    checkSpillRoom(parent, samples * taps.reduce((n, t) => n + 4 * t.features, 0));
    removeStaleSpills(parent);
    let dir: string;
    try {
      dir = mkdtempSync(join(parent, `${SPILL_PREFIX}${process.pid}-`));
    } catch (err) {
      throw writeError(err, parent);
    }
    trackTemp(dir);
    const files: FileHandle[] = [];
    try {
      for (const [k, tap] of taps.entries()) {
        files.push(await open(paths?.[k] ?? join(dir, `${tap.model}-${k}.f32`), 'w+'));
      }
    } catch (err) {
      await SpillRows.remove(dir, files);
      throw writeError(err, dir);
    }
    return new SpillRows(dir, samples, taps, files);
  }

  private static async remove(dir: string, files: FileHandle[]): Promise<void> {
    await Promise.all(files.map((file) => file.close().catch(() => undefined)));
    removeQuietly(dir);
    untrackTemp(dir);
  }

  /** The spill folder (removed by `close`). */
  get folder(): string {
    return this.dir;
  }

  async append(_start: number, outputs: TapOutputs[]): Promise<void> {
    try {
      await Promise.all(this.taps.map((tap, k) => writeAll(this.files[k], outputOf(outputs, tap))));
    } catch (err) {
      throw err instanceof ClafusionError ? err : writeError(err, this.dir);
    }
  }

  /**
   * K += the Gram of the tap's rows, panel by panel (spillPanel): the held panel's own block, then the block of every
   * later panel against it.
   */
  async accumulate(tap: RowTap, acc: GramAccumulator, roomBytes: number, signal?: AbortSignal): Promise<void> {
    const n = this.samples;
    const f = tap.features;
    const panel = spillPanel(n, f, roomBytes);
    if (panel < 1) {
      throw new ClafusionError('E_RESOURCE', `two samples' activations at ${tap.key} (${formatBytes(8 * f)}) do not ` +
        `fit the ${formatBytes(roomBytes)} the accumulators leave of the memory budget; raise --memory (memoryBytes)`);
    }
    const file = this.files[this.taps.findIndex((t) => t.model === tap.model && t.key === tap.key)];
    const held = this.panel(0, panel * f);
    const later = panel < n ? this.panel(1, panel * f) : held;
    for (let p0 = 0; p0 < n; p0 += panel) {
      throwIfAborted(signal);
      const rows = Math.min(panel, n - p0);
      await readAll(file, held.subarray(0, rows * f), 4 * p0 * f);
      const block = held.subarray(0, rows * f);
      await acc.add(block, p0, block, p0);
      for (let q0 = p0 + rows; q0 < n; q0 += panel) {
        throwIfAborted(signal);
        const count = Math.min(panel, n - q0);
        await readAll(file, later.subarray(0, count * f), 4 * q0 * f);
        await acc.add(later.subarray(0, count * f), q0, block, p0);
      }
    }
  }

  /**
   * Panel buffer k (0: the held panel, 1: the rows read past it) of at least `values` floats, reused from tap to tap
   * (fresh memory is slow to touch: the resnet101 + resnet50 Grams took 15.5 s with a fresh panel per tap).
   */
  private panel(k: number, values: number): Float32Array {
    if (this.panels[k].length < values) this.panels[k] = new Float32Array(values);
    return this.panels[k].subarray(0, values);
  }

  async close(): Promise<void> {
    this.panels = [new Float32Array(0), new Float32Array(0)];
    await SpillRows.remove(this.dir, this.files);
  }
}
