/**
 * What the activation-driven stages ask of a streaming pass, and what it gives back. A pass runs several models over
 * the same samples (models are numbered in the pass) and accumulates, per request:
 *
 * - `grams`: the sample Gram of a tap of a model (the CKA layer cost);
 * - `channels`: the per-channel sums of a tap (repair targets, merge masks, the norms of the ground cost);
 * - `cross`: the cross moments between taps of model a and taps of model b, summed over tap pairs (one map's taps,
 *   one to one on both sides: a residual stream reads its starter's and its blocks' outputs), for the activation
 *   ground cost and the regression maps; the channel sums of every tap are added to the request, so `moments` has
 *   the norms too. One matrix per map, however many taps it reads.
 *
 * With a cross request, `moments` and `channels` give everything a correlation needs: over the n = samples ·
 * positions values of each unit, corr_ij = (M_ij / n − μ_i μ_j) / (σ_i σ_j), μ = Σx / n, σ² = Σx² / n − μ².
 *
 * The builder takes the tap outputs run by run ([rows, C, ...] float32, read in place), and the Grams at the end from
 * every sample's rows (rows.ts); see stream.ts for the ONNX Runtime side.
 */
import { ClafusionError } from '../errors.js';
import type { SampleShape } from '../graph/shapes.js';
import { type Tap, tapKey } from '../fusion/activations.js';
import { ChannelAccumulator, CrossAccumulator, GramAccumulator } from './accumulators.js';
import { type PairMoments, sumArrays } from './ground.js';
import type { KnownTaps } from './derived.js';
import type { RowTap } from './rows.js';

export interface ModelTap {
  model: number;
  tap: Tap;
}

/** Σ_k (moments of model a's tapsA[k] against model b's tapsB[k]); both lists name taps of the same units. */
export interface CrossRequest {
  a: number;
  tapsA: Tap[];
  b: number;
  tapsB: Tap[];
}

export interface StatisticsRequest {
  grams: ModelTap[];
  channels: ModelTap[];
  cross: CrossRequest[];
}

/** The tap outputs of one model for one chunk, by tapKey. */
export type TapOutputs = Map<string, Float32Array>;

export function emptyRequest(): StatisticsRequest {
  return { grams: [], channels: [], cross: [] };
}

/** All requests of `parts` in one (duplicates are accumulated once). */
export function mergeRequests(...parts: StatisticsRequest[]): StatisticsRequest {
  return { grams: parts.flatMap((p) => p.grams), channels: parts.flatMap((p) => p.channels), cross: parts.flatMap((p) => p.cross) };
}

/** The key of the values behind `tap` of `model`: taps of a derived network that hold the same values share it. */
function valuesKey(known: KnownTaps[], model: number, tap: Tap): string {
  const key = tapKey(tap);
  return known[model]?.values.get(key) ?? key;
}

function valuesKeys(known: KnownTaps[], model: number, taps: Tap[]): string {
  return taps.map((tap) => valuesKey(known, model, tap)).join(',');
}

/** One key per sum of distinct values: requests with one key have the same moments. */
function crossKey(r: CrossRequest, known: KnownTaps[]): string {
  return `${r.a}|${valuesKeys(known, r.a, r.tapsA)}|${r.b}|${valuesKeys(known, r.b, r.tapsB)}`;
}

/** The request's cross moments, one per pair of distinct values (first-seen order). */
function uniqueCrosses(request: StatisticsRequest, known: KnownTaps[]): Map<string, CrossRequest> {
  return new Map(request.cross.map((r) => [crossKey(r, known), r]));
}

function missing(what: string): never {
  throw new ClafusionError('E_ARG', `no statistics were recorded for ${what}`);
}

/** The statistics one pass recorded, over `samples` samples. */
export class Statistics {
  constructor(
    readonly samples: number,
    private readonly grams: Map<string, GramAccumulator>[],
    private readonly sums: Map<string, ChannelAccumulator>[],
    private readonly crosses: Map<string, CrossAccumulator>,
    private readonly known: KnownTaps[],
  ) {}

  /** The shifted sample Gram (n x n, symmetric) of `tap` of `model`; its double centring is H X Xᵀ H. */
  gram(model: number, tap: Tap): Float64Array {
    return (this.grams[model]?.get(tapKey(tap)) ?? missing(`the Gram of model ${model} at ${tapKey(tap)}`)).gram();
  }

  /** The per-channel sums of `tap` of `model`. */
  channels(model: number, tap: Tap): ChannelAccumulator {
    return this.sums[model]?.get(tapKey(tap)) ?? missing(`the channels of model ${model} at ${tapKey(tap)}`);
  }

  /**
   * Cross moments between the channels of taps A of model a (rows) and taps B of model b, summed over the pairs,
   * and each side's squared norms summed over its taps (a request's sum).
   */
  moments(a: number, tapsA: Tap[], b: number, tapsB: Tap[]): PairMoments {
    const cross = this.crosses.get(crossKey({ a, tapsA, b, tapsB }, this.known))
      ?? missing(`the cross moments of ${a}:${tapsA.map(tapKey).join(',')} and ${b}:${tapsB.map(tapKey).join(',')}`);
    const squares = (model: number, taps: Tap[]) => sumArrays(taps.map((tap) => this.channels(model, tap).squares));
    return { cross: cross.moments, rowSquares: squares(a, tapsA), colSquares: squares(b, tapsB) };
  }
}

/** Unique taps of `model` among `entries`, in first-seen order. */
function tapsOf(entries: ModelTap[], model: number): Tap[] {
  return [...new Map(entries.filter((e) => e.model === model).map((e) => [tapKey(e.tap), e.tap])).values()];
}

/** Every tap a cross request reads, of either model. */
function crossTaps(r: CrossRequest): ModelTap[] {
  return [...r.tapsA.map((tap) => ({ model: r.a, tap })), ...r.tapsB.map((tap) => ({ model: r.b, tap }))];
}

/** The request with the channel sums every cross request reads. */
function completed(request: StatisticsRequest): StatisticsRequest {
  const norms = request.cross.flatMap(crossTaps);
  return { ...request, channels: [...request.channels, ...norms] };
}

/** Per model: the taps read for each sample once (channels, cross, and the Gram's diagonal blocks) and the Gram taps. */
export interface PassTaps {
  run: Tap[][];
  grams: Tap[][];
}

export function passTaps(request: StatisticsRequest, models: number): PassTaps {
  const full = completed(request);
  const all = [...full.grams, ...full.channels, ...full.cross.flatMap(crossTaps)];
  return {
    run: Array.from({ length: models }, (_, m) => tapsOf(all, m)),
    grams: Array.from({ length: models }, (_, m) => tapsOf(full.grams, m)),
  };
}

function valuesOf(shape: SampleShape): number {
  return shape.reduce((a, b) => a * b, 1);
}

function output(outputs: TapOutputs[], model: number, tap: Tap): Float32Array {
  return outputs[model]?.get(tapKey(tap)) ?? missing(`the chunk output of model ${model} at ${tapKey(tap)}`);
}

/**
 * Accumulates a request run by run. `shapes[m]` gives model m's per-sample tap shapes ([C, ...]). Every sample must
 * reach `addSamples` exactly once, in ascending order; the Grams come from every sample's rows (`addGrams`).
 */
export class StatisticsBuilder {
  private readonly request: StatisticsRequest;
  private readonly grams: Map<string, GramAccumulator>[];
  private readonly sums: Map<string, ChannelAccumulator>[];
  private readonly crosses = new Map<string, CrossAccumulator>();
  /** Each distinct cross request with its accumulator and the pairs that are not all zeros (fixed for the pass). */
  private readonly crossSums: { r: CrossRequest; acc: CrossAccumulator; pairs: number[] }[] = [];
  private added = 0;

  /**
   * `known[m]`: what balancing makes known about model m's taps (derived.ts): the taps that are all zeros need no work,
   * and the moments of taps with the same values are computed once.
   */
  constructor(request: StatisticsRequest, readonly samples: number, shapes: Map<string, SampleShape>[], threads?: number,
    private readonly known: KnownTaps[] = []) {
    this.request = completed(request);
    const shapeOf = (model: number, tap: Tap): SampleShape => shapes[model]?.get(tapKey(tap)) ?? missing(`the shape of model ${model} at ${tapKey(tap)}`);
    const channelsOf = (shape: SampleShape) => ({ channels: shape[0], spatial: valuesOf(shape) / shape[0] });
    this.grams = shapes.map((_, m) => new Map(tapsOf(this.request.grams, m).map((tap) => [tapKey(tap), new GramAccumulator(samples, valuesOf(shapeOf(m, tap)), threads)])));
    this.sums = shapes.map((_, m) => new Map(tapsOf(this.request.channels, m).map((tap) => {
      const { channels, spatial } = channelsOf(shapeOf(m, tap));
      return [tapKey(tap), new ChannelAccumulator(channels, spatial, threads)];
    })));
    for (const r of uniqueCrosses(this.request, known).values()) {
      if (r.tapsA.length === 0 || r.tapsA.length !== r.tapsB.length) {
        throw new ClafusionError('E_ARG', `cross moments need one or more tap pairs, got ${r.tapsA.length} and ${r.tapsB.length} taps`);
      }
      const a = channelsOf(shapeOf(r.a, r.tapsA[0]));
      const b = channelsOf(shapeOf(r.b, r.tapsB[0]));
      r.tapsA.forEach((tapA, k) => {
        const [x, y] = [channelsOf(shapeOf(r.a, tapA)), channelsOf(shapeOf(r.b, r.tapsB[k]))];
        if (x.channels !== a.channels || y.channels !== b.channels || x.spatial !== a.spatial || y.spatial !== a.spatial) {
          throw new ClafusionError('E_SHAPE', `cannot compare the units of ${tapKey(tapA)} and ${tapKey(r.tapsB[k])}: ` +
            `${x.channels} x ${x.spatial} and ${y.channels} x ${y.spatial} values, the sum's first pair has ${a.channels} x ${a.spatial} and ${b.channels} x ${b.spatial}`);
        }
      });
      const symmetric = r.a === r.b && valuesKeys(known, r.a, r.tapsA) === valuesKeys(known, r.b, r.tapsB);
      const acc = new CrossAccumulator(a.channels, b.channels, a.spatial, threads, symmetric);
      this.crosses.set(crossKey(r, known), acc);
      // A pair with a zero side adds only zeros: M stays as it is, bit for bit.
      const pairs = r.tapsA.flatMap((tapA, k) => (this.isZero(r.a, tapKey(tapA)) || this.isZero(r.b, tapKey(r.tapsB[k])) ? [] : [k]));
      if (pairs.length > 0) this.crossSums.push({ r, acc, pairs });
    }
  }

  /** Float64 values the accumulators hold (for the memory plan). */
  static heldValues(request: StatisticsRequest, samples: number, shapes: Map<string, SampleShape>[],
    known: KnownTaps[] = []): number {
    const full = completed(request);
    const shapeOf = (m: number, tap: Tap) => shapes[m]?.get(tapKey(tap)) ?? [1];
    const grams = shapes.reduce((n, _, m) => n + tapsOf(full.grams, m).length, 0) * samples * samples * 2;
    const channels = shapes.reduce((n, _, m) => n + tapsOf(full.channels, m).reduce((k, tap) => k + 3 * shapeOf(m, tap)[0], 0), 0);
    const cross = [...uniqueCrosses(full, known).values()].reduce((n, r) => n + shapeOf(r.a, r.tapsA[0])[0] * shapeOf(r.b, r.tapsB[0])[0], 0);
    return grams + channels + cross;
  }

  /** Adds samples s0 .. s0 + rows − 1 of every model to the channel sums and the cross moments. */
  async addSamples(s0: number, outputs: TapOutputs[]): Promise<void> {
    if (s0 !== this.added) {
      throw new ClafusionError('E_ARG', `samples from ${s0}, expected ${this.added}: every sample once, in order`);
    }
    let rows = -1;
    for (const [m, sums] of this.sums.entries()) {
      for (const [key, acc] of sums) {
        const data = outputs[m]?.get(key) ?? missing(`the chunk output of model ${m} at ${key}`);
        rows = data.length / (acc.channels * acc.spatial);
        if (this.isZero(m, key)) acc.addZeros(rows);
        else await acc.add(data);
      }
    }
    for (const { r, acc, pairs } of this.crossSums) {
      const xs = pairs.map((k) => output(outputs, r.a, r.tapsA[k]));
      await acc.add(xs, acc.symmetric ? xs : pairs.map((k) => output(outputs, r.b, r.tapsB[k])));
    }
    for (const [m, grams] of this.grams.entries()) {
      for (const [key, acc] of grams) {
        rows = (outputs[m]?.get(key) ?? missing(`the run output of model ${m} at ${key}`)).length / acc.features;
      }
    }
    this.added += rows;
  }

  private isZero(model: number, key: string): boolean {
    return this.known[model]?.zeros.has(key) ?? false;
  }

  /** The Gram taps, with their values per sample. */
  gramTaps(): RowTap[] {
    return this.grams.flatMap((grams, model) => 
      [...grams].map(([key, acc]) => ({ model, key, features: acc.features })));
  }

  /** Adds every Gram from every sample's rows, one tap at a time (`fill` adds a tap's Gram to its accumulator). */
  async addGrams(fill: (tap: RowTap, acc: GramAccumulator) => Promise<void>): Promise<void> {
    for (const tap of this.gramTaps()) await fill(tap, this.grams[tap.model].get(tap.key)!);
  }

  finish(): Statistics {
    if (this.added !== this.samples) throw new ClafusionError('E_ARG', `statistics of ${this.added} samples, expected ${this.samples}`);
    return new Statistics(this.samples, this.grams, this.sums, this.crosses, this.known);
  }
}
