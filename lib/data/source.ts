/**
 * Where a Dataset's sample bytes come from. Sources hand out the file's own encoding (uint8 pixels or float32
 * values) for the samples asked for; decoding and normalising to float happens per batch in Dataset, so memory
 * stays bounded by the uint8 data (in-memory sources) or by one batch (range-reading sources).
 */
import { dataError, withFile } from './io.js';
import type { NpyHeader } from './npy.js';

export type SampleEncoding = 'u8' | 'f32';

export interface SampleSource {
  readonly encoding: SampleEncoding;
  readonly count: number;
  /** Elements per sample. */
  readonly sampleSize: number;
  /** The samples at `indices`, concatenated in that order. */
  read(indices: ArrayLike<number>): Promise<Uint8Array | Float32Array>;
}

/** Runs of consecutive indices, so that a contiguous batch is one read: [start, length, outputPosition]. */
function consecutiveRuns(indices: ArrayLike<number>): Array<[number, number, number]> {
  const runs: Array<[number, number, number]> = [];
  for (let i = 0; i < indices.length; i++) {
    const last = runs[runs.length - 1];
    if (last && indices[i] === last[0] + last[1]) last[1]++;
    else runs.push([indices[i]!, 1, i]);
  }
  return runs;
}

/** Samples that are already in memory: uint8 pixels (IDX, CIFAR) or float32 values (a pass's own held outputs). */
export class MemorySource implements SampleSource {
  readonly encoding: SampleEncoding;
  readonly count: number;
  constructor(
    private readonly values: Uint8Array | Float32Array,
    readonly sampleSize: number,
  ) {
    this.encoding = values instanceof Uint8Array ? 'u8' : 'f32';
    this.count = values.length / sampleSize;
  }

  async read(indices: ArrayLike<number>): Promise<Uint8Array | Float32Array> {
    const size = indices.length * this.sampleSize;
    const out = this.values instanceof Uint8Array ? new Uint8Array(size) : new Float32Array(size);
    for (const [start, length, at] of consecutiveRuns(indices)) {
      out.set(this.values.subarray(start * this.sampleSize, (start + length) * this.sampleSize), at * this.sampleSize);
    }
    return out;
  }
}

/** A .npy array (uint8 or float32, C order) read by byte range on demand; the file is opened per read. */
export class NpyRangeSource implements SampleSource {
  readonly encoding: SampleEncoding;
  readonly count: number;
  readonly sampleSize: number;
  constructor(private readonly header: NpyHeader) {
    this.encoding = header.dtype === 'u1' ? 'u8' : 'f32';
    this.count = header.count;
    this.sampleSize = header.shape.slice(1).reduce((a, b) => a * b, 1);
  }

  async read(indices: ArrayLike<number>): Promise<Uint8Array | Float32Array> {
    const { path, dataOffset, itemBytes } = this.header;
    const sampleBytes = this.sampleSize * itemBytes;
    const bytes = new Uint8Array(indices.length * sampleBytes);
    await withFile(path, async (handle) => {
      for (const [start, length, position] of consecutiveRuns(indices)) {
        const at = dataOffset + start * sampleBytes;
        const { bytesRead } = await handle.read(bytes, position * sampleBytes, length * sampleBytes, at);
        if (bytesRead < length * sampleBytes) throw dataError(path, at + bytesRead, 'the file was truncated after it was opened');
      }
    });
    return this.encoding === 'u8' ? bytes : new Float32Array(bytes.buffer);
  }
}
