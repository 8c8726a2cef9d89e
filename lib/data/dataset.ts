/**
 * A Dataset is a read-only view of labelled samples: a SampleSource (the file's bytes), a per-sample shape
 * ([C, H, W] for images, [D] for flat vectors), labels, an optional index selection and a normalisation.
 * Batches come out as float32 NCHW tensors, decoded per batch:
 *
 *   uint8 samples:   x = (u / 255 − mean_c) / std_c
 *   float32 samples: x = (v − mean_c) / std_c       (fed as stored when no normalisation is set)
 *
 * with c the channel (the first axis of `shape`). Views are cheap: `select`, `limit` and `withNormalization`
 * share the source.
 */
import { ClafusionError, requireArg, throwIfAborted } from '../errors.js';
import type { SampleEncoding, SampleSource } from './source.js';

/** Per-channel mean and standard deviation; one value applies to every channel. */
export interface Normalization {
  mean: number[];
  std: number[];
}

export interface Batch {
  /** float32, shape [n, ...dataset.shape] */
  data: Float32Array;
  shape: number[];
  /** The labels of the batch's samples, or null for an unlabelled dataset. */
  labels: Int32Array | null;
}

export class Dataset {
  private constructor(
    private readonly source: SampleSource,
    /** Per-sample shape, e.g. [1, 28, 28]. */
    readonly shape: readonly number[],
    private readonly allLabels: Int32Array | null,
    /** Human-readable origin, used in messages. */
    readonly name: string,
    /** undefined: not chosen yet (evaluation then uses the model's metadata, else none). */
    readonly normalization: Normalization | undefined,
    private readonly selection: Int32Array | null,
  ) {}

  /** Wraps a source; `labels` (if any) must have one entry per sample. */
  static fromSource(source: SampleSource, shape: readonly number[], labels: Int32Array | null, name: string): Dataset {
    if (shape.reduce((a, b) => a * b, 1) !== source.sampleSize) {
      throw new ClafusionError('E_DATA', `${name}: sample shape [${shape.join(', ')}] does not hold ${source.sampleSize} elements`);
    }
    if (labels && labels.length !== source.count) {
      throw new ClafusionError('E_DATA', `${name}: ${source.count} samples but ${labels.length} labels; pass the labels file that belongs to these samples`);
    }
    return new Dataset(source, [...shape], labels, name, undefined, null);
  }

  get count(): number {
    return this.selection ? this.selection.length : this.source.count;
  }

  /** Elements per sample. */
  get sampleSize(): number {
    return this.source.sampleSize;
  }

  /** How samples are stored: uint8 pixels (scaled by 1/255 before normalising) or float32 values. */
  get encoding(): SampleEncoding {
    return this.source.encoding;
  }

  /** The number of channels: the first axis of an image shape, 1 for flat vectors. */
  get channels(): number {
    return this.shape.length >= 3 ? this.shape[0]! : 1;
  }

  /** Labels of the samples in this view, or null when the dataset has none. */
  get labels(): Int32Array | null {
    if (!this.allLabels || !this.selection) return this.allLabels;
    return Int32Array.from(this.selection, (i) => this.allLabels![i]!);
  }

  /** The same samples with another normalisation (null: none, i.e. u8/255 or raw floats). */
  withNormalization(normalization: Normalization | null): Dataset {
    const checked = normalization ? checkNormalization(normalization, this.channels, this.name) : { mean: [0], std: [1] };
    return new Dataset(this.source, this.shape, this.allLabels, this.name, checked, this.selection);
  }

  /** The samples at `indices` (positions in this view), in that order. */
  select(indices: ArrayLike<number>): Dataset {
    const absolute = this.absolute(indices);
    return new Dataset(this.source, this.shape, this.allLabels, this.name, this.normalization, absolute);
  }

  /** The first `n` samples (all of them when n >= count). */
  limit(n: number): Dataset {
    requireArg(Number.isSafeInteger(n) && n >= 0, `limit must be a non-negative integer, got ${n}`);
    return n >= this.count ? this : this.select(Int32Array.from({ length: n }, (_, i) => i));
  }

  /** Decodes the samples at `indices` (positions in this view) into one normalised float32 batch. */
  async take(indices: ArrayLike<number>): Promise<Batch> {
    const absolute = this.absolute(indices);
    const raw = await this.source.read(absolute);
    const labels = this.allLabels ? Int32Array.from(absolute, (i) => this.allLabels![i]!) : null;
    return { data: this.decode(raw), shape: [absolute.length, ...this.shape], labels };
  }

  /** Consecutive batches of at most `batchSize` samples, in order; checks `signal` before each read. */
  async *batches(batchSize: number, signal?: AbortSignal): AsyncGenerator<Batch> {
    requireArg(Number.isSafeInteger(batchSize) && batchSize > 0, `batchSize must be a positive integer, got ${batchSize}`);
    for (let start = 0; start < this.count; start += batchSize) {
      throwIfAborted(signal);
      const end = Math.min(start + batchSize, this.count);
      yield await this.take(Int32Array.from({ length: end - start }, (_, i) => start + i));
    }
  }

  private absolute(indices: ArrayLike<number>): Int32Array {
    const out = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i]!;
      requireArg(Number.isInteger(index) && index >= 0 && index < this.count, `sample index ${index} is out of range [0, ${this.count}) of ${this.name}`);
      out[i] = this.selection ? this.selection[index]! : index;
    }
    return out;
  }

  /**
   * Float32 arithmetic in torchvision's order (ToTensor's u/255, then Normalize's (x − mean)/std), so inputs match
   * the reference pipeline bit for bit: each double result is rounded to float32 (exact emulation for + − ÷).
   * uint8 samples go through a 256-entry table per channel holding exactly those values.
   */
  private decode(raw: Uint8Array | Float32Array): Float32Array {
    // (v − 0) / 1 is v itself in float32 arithmetic: stored floats without a normalisation are fed as they are.
    if (raw instanceof Float32Array && !this.normalization) return raw;
    const { mean, std } = this.normalization ?? { mean: [0], std: [1] };
    const channels = this.channels;
    const plane = this.sampleSize / channels;
    const normalize = (v: number, c: number): number =>
      Math.fround(Math.fround(v) - Math.fround(mean[mean.length === 1 ? 0 : c]!)) / Math.fround(std[std.length === 1 ? 0 : c]!);
    const tables = raw instanceof Uint8Array ? Array.from({ length: channels }, (_, c) => Float32Array.from({ length: 256 }, (_, u) => normalize(u / 255, c))) : null;
    const out = new Float32Array(raw.length);
    for (let offset = 0, c = 0; offset < raw.length; offset += plane, c = (c + 1) % channels) {
      const table = tables?.[c];
      if (table) for (let k = offset; k < offset + plane; k++) out[k] = table[raw[k]!]!;
      else for (let k = offset; k < offset + plane; k++) out[k] = normalize(raw[k]!, c);
    }
    return out;
  }
}

/** Checks that mean/std have 1 or `channels` finite entries and that every std is positive. */
export function checkNormalization(normalization: Normalization, channels: number, name: string): Normalization {
  const { mean, std } = normalization;
  for (const [label, values] of [['mean', mean], ['std', std]] as const) {
    const allowed = channels === 1 ? '1 value' : `1 or ${channels} values`;
    requireArg(values.length === 1 || values.length === channels, `${label} needs ${allowed} (one per channel of ${name}), got ${values.length}`);
    requireArg(values.every(Number.isFinite), `${label} values must be finite numbers, got [${values.join(', ')}]`);
  }
  requireArg(std.every((s) => s > 0), `std values must be positive, got [${std.join(', ')}]`);
  return { mean: [...mean], std: [...std] };
}
