/**
 * Streaming statistics of activations (DESIGN "Activations are statistics, not arrays"). The activation-driven
 * stages read sums over the samples, never the samples themselves, so the samples stream through the models in
 * chunks and each chunk's tap outputs ([chunk, C, ...] float32, read in place) are added to float64 accumulators:
 *
 * - {@link GramAccumulator}: the sample Gram K~ = (X − 1sᵀ)(X − 1sᵀ)ᵀ of one tap (N x N), for the CKA layer cost.
 *   The shift s is the first sample's features; it leaves the centred Gram H K~ H = H X Xᵀ H unchanged and keeps the
 *   products small, so post-ReLU features lose no digits to cancellation. A Gram needs pairs of chunks (entry
 *   (i, j) reads samples i and j), so it takes blocks: `add(a, a0, b, b0)` with a0 >= b0.
 * - {@link CrossAccumulator}: the cross second moments between the channels of two taps of two models on the same
 *   samples, M_ij = Σ_{n,p} x_i[n,p] y_j[n,p], for the activation ground cost
 *   ‖x_i − y_j‖² = ‖x_i‖² + ‖y_j‖² − 2 M_ij (and correlations, with the channel sums).
 * - {@link ChannelAccumulator}: per channel Σx, Σx², #{x > 0} over samples and positions, for the repair targets,
 *   the merge balancing's ReLU approximations and the norms of the ground cost.
 *
 * Every sum runs in one fixed order (samples ascending, then positions; features in fixed blocks), whatever the
 * chunk size and the thread count, so the statistics are bit-identical for any of them (native/core/moments.hpp).
 * Each `add` returns a Promise: the work runs off the JS thread; leave the chunk's arrays unchanged until it settles.
 */
import { ClafusionError } from '../errors.js';
import { defaultThreads, native } from '../native.js';
import { checkDim, checkFloat32, checkThreads } from '../solvers/validate.js';

function threadsOf(threads: number | undefined): number {
  return checkThreads(threads) ?? defaultThreads();
}

/** Samples in `data` when each has `perSample` values (E_SHAPE unless it divides evenly). */
function sampleCount(data: Float32Array, perSample: number, what: string): number {
  const samples = data.length / perSample;
  if (!Number.isInteger(samples)) throw new ClafusionError('E_SHAPE', `${what}: ${data.length} values are not whole samples of ${perSample}`);
  return samples;
}

/** The sample Gram of one tap over `samples` samples of `features` values each. */
export class GramAccumulator {
  /** Lower triangle of K~ (row-major n x n); `gram()` mirrors it. */
  private readonly lower: Float64Array;
  private shift: Float32Array | undefined;

  constructor(readonly samples: number, readonly features: number, private readonly threads?: number) {
    checkDim(samples, 'samples');
    checkDim(features, 'features');
    this.lower = new Float64Array(samples * samples);
  }

  /**
   * Adds the entries (i, j), i in a0 .. a0 + rows(a) − 1, j in b0 .. b0 + rows(b) − 1, i >= j: `a` and `b` hold those
   * samples' features ([rows, features], any shape with that many values). The block with a0 = 0 comes first: its
   * first sample is the shift. Each entry must be added exactly once over all blocks.
   */
  async add(a: Float32Array, a0: number, b: Float32Array, b0: number): Promise<void> {
    const rowsA = sampleCount(a, this.features, 'gram block A');
    const rowsB = sampleCount(b, this.features, 'gram block B');
    if (a0 < b0 || a0 + rowsA > this.samples || b0 + rowsB > this.samples || !Number.isInteger(a0) || !Number.isInteger(b0)) {
      throw new ClafusionError('E_ARG', `gram block rows ${a0}+${rowsA} x ${b0}+${rowsB} do not lie on or below the diagonal of ${this.samples} samples`);
    }
    if (!this.shift) {
      if (a0 !== 0) throw new ClafusionError('E_ARG', 'the first gram block must start at sample 0 (its first sample is the shift)');
      this.shift = a.slice(0, this.features);
    }
    checkFloat32(a, rowsA * this.features, 'gram block A');
    checkFloat32(b, rowsB * this.features, 'gram block B');
    await native().accumulateGram(this.lower, this.samples, a, rowsA, a0, b, rowsB, b0, this.features, this.shift, threadsOf(this.threads));
  }

  /** The symmetric shifted Gram K~ (n x n); its double centring is H X Xᵀ H. */
  gram(): Float64Array {
    const n = this.samples;
    const k = this.lower.slice();
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) k[i * n + j] = k[j * n + i];
    return k;
  }
}

/** Per-channel sums of one tap: Σx, Σx², #{x > 0}, over samples and positions. */
export class ChannelAccumulator {
  readonly sums: Float64Array;
  readonly squares: Float64Array;
  readonly positives: Float64Array;
  /** Samples added so far. */
  samples = 0;

  constructor(readonly channels: number, readonly spatial: number, private readonly threads?: number) {
    checkDim(channels, 'channels');
    checkDim(spatial, 'spatial');
    this.sums = new Float64Array(channels);
    this.squares = new Float64Array(channels);
    this.positives = new Float64Array(channels);
  }

  /** Adds the samples of `x` ([samples, channels, spatial]), which must follow those added before. */
  async add(x: Float32Array): Promise<void> {
    const samples = sampleCount(x, this.channels * this.spatial, 'channel sums');
    checkFloat32(x, x.length, 'channel sums input');
    this.samples += samples;
    await native().accumulateChannels(this.sums, this.squares, this.positives, x, samples, this.channels, this.spatial, threadsOf(this.threads));
  }

  /** Adds `samples` samples whose values are all zero: only the count changes (their sums are exactly 0). */
  addZeros(samples: number): void {
    this.samples += samples;
  }

  /** Values per channel so far (samples x positions). */
  get count(): number {
    return this.samples * this.spatial;
  }

  /** Per channel: the mean and the population standard deviation, √max(E[x²] − E[x]², 0). */
  moments(): { mean: Float64Array; std: Float64Array } {
    const count = this.count;
    if (count === 0) throw new ClafusionError('E_ARG', 'channel statistics of no samples');
    const mean = this.sums.map((s) => s / count);
    const std = this.squares.map((q, c) => Math.sqrt(Math.max(q / count - mean[c] * mean[c], 0)));
    return { mean, std };
  }
}

/**
 * Cross second moments between the channels of taps of model A (cx) and of model B (cy) on the same samples, summed
 * over tap pairs (the taps of one map, one to one on both sides): M_ij = Σ_t Σ_{n,p} x_t[n,i,p] y_t[n,j,p].
 * `symmetric`: both sides are the same taps (cx = cy), whose second moments are symmetric and cost half (the same
 * bits).
 */
export class CrossAccumulator {
  private readonly values: Float64Array;
  /** Symmetric moments: the entries above the diagonal are mirrored from those below when read, not on every add. */
  private mirrored = true;

  constructor(readonly cx: number, readonly cy: number, readonly spatial: number, private readonly threads?: number,
    readonly symmetric = false) {
    checkDim(cx, 'cx');
    checkDim(cy, 'cy');
    checkDim(spatial, 'spatial');
    if (symmetric && cx !== cy) throw new ClafusionError('E_SHAPE', `symmetric moments need cx = cy, got ${cx} and ${cy}`);
    this.values = new Float64Array(cx * cy);
  }

  /** M (cx x cy, row-major). */
  get moments(): Float64Array {
    if (!this.mirrored) {
      const n = this.cx;
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) this.values[i * n + j] = this.values[j * n + i];
      this.mirrored = true;
    }
    return this.values;
  }

  /**
   * Adds the same samples of every tap pair: xs[t] [samples, cx, spatial] against ys[t] [samples, cy, spatial]
   * (symmetric: ys is xs). A pair whose arrays repeat the pair before is added without recomputing its products.
   */
  async add(xs: Float32Array[], ys: Float32Array[]): Promise<void> {
    if (xs.length === 0 || xs.length !== ys.length) {
      throw new ClafusionError('E_ARG', `cross moments need one or more tap pairs, got ${xs.length} and ${ys.length} taps`);
    }
    const samples = sampleCount(xs[0], this.cx * this.spatial, 'cross moments X');
    const same = (list: Float32Array[], width: number, what: string) => list.forEach((t) => {
      if (sampleCount(t, width * this.spatial, what) !== samples) {
        throw new ClafusionError('E_SHAPE', 'cross moments need the same samples of every tap');
      }
      checkFloat32(t, t.length, what);
    });
    same(xs, this.cx, 'cross moments X');
    if (this.symmetric) {
      if (ys.some((y, t) => y !== xs[t])) throw new ClafusionError('E_ARG', 'symmetric moments read one side: ys must be xs');
      this.mirrored = false;
      await native().accumulateSecondMoments(this.values, xs, this.cx, samples, this.spatial, threadsOf(this.threads));
      return;
    }
    same(ys, this.cy, 'cross moments Y');
    await native().accumulateCross(this.values, xs, this.cx, ys, this.cy, samples, this.spatial, threadsOf(this.threads));
  }
}
