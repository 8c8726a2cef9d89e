/**
 * The streaming pass: every model of the pass runs over the same samples, all models at once (one ONNX Runtime
 * session each, in its own worker, with its share of the cores), in runs of a few samples, and each run's tap outputs
 * go straight into the accumulators (statistics.ts) and are dropped; the Gram taps' rows are kept (rows.ts), and
 * each tap's Gram is computed from them after the pass. Every sample is read once; no model runs twice in a pass.
 *
 * Run size: ONNX Runtime is slow to hand back many large outputs (allocation, page faults, copies: the bundled ResNet
 * with its 41 taps as outputs takes 913 ms for one run of 200 samples, 117 ms in runs of 10 or 25), so a run returns
 * at most RUN_BYTES of tap outputs (at least one sample), whatever the budget.
 *
 * Memory budget (`memoryBytes`, default a quarter of the available memory up to 2 GiB, or what the pass needs at
 * least when a quarter holds that): the accumulators (Grams: 2·N² float64 each; cross moments: C_a·C_b; channel
 * sums) are held throughout, and one run of tap outputs at a time, counted RUN_COPIES times. Every sample's Gram
 * rows are held in memory when they fit beside those, else spilled to temp files and read back tap by tap within
 * what the accumulators leave of the budget (rows.ts); when the disk has no room for them either, the pass fails before it
 * starts (E_RESOURCE), as it does when the budget is too small for the accumulators and one sample's run. The
 * sessions themselves (about 1.3 GiB for two ResNet-34-sized models) come on top.
 *
 * A later pass (a fusion's second, after the alignment) runs the models again rather than reading outputs kept from
 * this one: keeping every sample's outputs at every tap it reads took as long warm and was slower in a fresh process
 * (the bundled ResNet pair: 1.9-3.0 s against 1.3-1.4 s; ResNet34-like + ResNet18-like at 3x32x32: 17.5 against
 * 14.9 s), and raised the peak by about a GiB (2.8-3.1 against 1.7-2.1 GiB).
 */
import type { Dataset } from '../data/dataset.js';
import { ClafusionError, throwIfAborted } from '../errors.js';
import { forward } from '../eval/forward.js';
import { datasetForModel, type InputPlan, planInput } from '../eval/input.js';
import { ModelRunner, sharedThreads } from '../eval/runner.js';
import { emitModel } from '../graph/emit.js';
import { type SampleShape, flattenShape, inputSampleShape, layerShapes, unitShapes } from '../graph/shapes.js';
import type { Network } from '../ir/network.js';
import { availableMemoryBytes, boundHeapGrowth, formatBytes } from '../resources.js';
import { type Tap, tapKey } from '../fusion/activations.js';
import { type TapSource, derivedChunk, knownTaps } from './derived.js';
import { type GramRows, MemoryRows, type RowTap, SpillRows, spillFolder } from './rows.js';
import { type Statistics, StatisticsBuilder, type StatisticsRequest, type TapOutputs, passTaps } from './statistics.js';

export interface StreamOptions {
  /** Bytes the pass may hold (accumulators, runs of tap outputs, Gram rows); default passBudget's. */
  memoryBytes?: number;
  /** At most this many samples per model run; default as many as RUN_BYTES of tap outputs (and the budget) allow. */
  chunkSize?: number;
  /** Where the Gram rows wait: 'auto' (default) in memory when they fit the budget, else on disk. */
  gramRows?: 'auto' | 'memory' | 'disk';
  /** Folder of the spilled Gram rows; default CLAFUSION_SPILL_DIR, else the system's temp folder. */
  spillDir?: string;
  signal?: AbortSignal;
  /** Per model: the network it was balanced from, run instead of it (its inserted units cost nothing then). */
  derived?: (DerivedModel | undefined)[];
  /** Per model: its name in messages. */
  names?: string[];
}

/** Per-sample shape of every tap point of `network` (Layers' pre-activations, units' outputs), by tapKey. */
export function tapShapes(network: Network): Map<string, SampleShape> {
  const shapes = new Map<string, SampleShape>();
  const set = (layer: string, point: Tap['point'], shape: SampleShape) => shapes.set(tapKey({ layer, point }), shape);
  let shape = inputSampleShape(network);
  for (const segment of network.segments) {
    if (segment.flatten) shape = flattenShape(shape, segment.flatten);
    for (const unit of segment.units) {
      if (unit.type === 'residual') {
        let inner = shape;
        for (const layer of unit.branch) {
          const layerShape = layerShapes(layer, inner);
          set(layer.name, 'preact', layerShape.preact);
          inner = layerShape.output;
        }
        if (unit.shortcut) set(unit.shortcut.name, 'preact', layerShapes(unit.shortcut, shape).preact);
      }
      const unitShape = unitShapes(unit, shape);
      set(unit.name, 'preact', unitShape.preact);
      set(unit.name, 'output', unitShape.output);
      shape = unitShape.output;
    }
  }
  if (network.classifierFlatten) shape = flattenShape(shape, network.classifierFlatten);
  set(network.classifier.name, 'preact', layerShapes(network.classifier, shape).preact);
  return shapes;
}

/**
 * The most a default budget takes. Beyond it the passes only hold more in memory instead of temp files (runs stay at
 * RUN_BYTES), for a little speed: resnet101 + resnet50 at 200 samples took 229 s at a 5.45 GiB budget and 252-271 s
 * at 2 GiB, with peaks of 6.13 and 4.08 GiB (ONNX Runtime's sessions and the networks come on top of the budget).
 */
export const DEFAULT_MEMORY_CAP_BYTES = 2 * 2 ** 30;

/** The default budget: a quarter of what this process can allocate now, at most DEFAULT_MEMORY_CAP_BYTES. */
export function defaultMemoryBytes(): number {
  return Math.min(DEFAULT_MEMORY_CAP_BYTES, Math.floor(availableMemoryBytes() / 4));
}

/**
 * The budget of a pass that needs at least `least` bytes (its accumulators and one sample's run): the option, else
 * the default raised to `least` when a quarter of the free memory holds it, so that the 2 GiB cap never fails a pass
 * the machine has room for (resnet152 + resnet101's second pass holds 1.3 GiB of moments).
 */
export function passBudget(option: number | undefined, least: number): number {
  if (option !== undefined) return option;
  return Math.max(defaultMemoryBytes(), Math.min(least, Math.floor(availableMemoryBytes() / 4)));
}

/** Tap outputs one model run returns at most (all models of the pass together; at least one sample). */
export const RUN_BYTES = 32 * 2 ** 20;

/**
 * A run's tap outputs exist up to three times: ONNX Runtime's tensors and the arrays they are copied into for the run
 * in progress, and the previous run's arrays, which the accumulators read meanwhile.
 */
export const RUN_COPIES = 3;

/** Float32 bytes per sample of `taps` of each model. */
function sampleBytes(taps: Tap[][], shapes: Map<string, SampleShape>[]): number {
  return 4 * taps.reduce((n, list, m) => n + list.reduce((k, tap) => k + valuesOf(shapes[m], tap), 0), 0);
}

function valuesOf(shapes: Map<string, SampleShape>, tap: Tap): number {
  return shapes.get(tapKey(tap))!.reduce((a, b) => a * b, 1);
}

/** What a pass holds, in bytes: `fixed` throughout, the others per sample (float32 tap outputs, one copy). */
export interface PassSizes {
  /** The accumulators. */
  fixed: number;
  /** One sample's outputs at every tap the models run for. */
  run: number;
  /** One sample's rows at the Gram taps (0: no Grams). */
  gram: number;
}

export interface PassPlan {
  /** Samples per model run. */
  run: number;
  /** Where the Gram rows wait: in memory, on disk, or nowhere (no Grams). */
  grams: 'memory' | 'disk' | 'none';
  /** Bytes of the budget left for reading spilled rows back (what the accumulators leave). */
  gramRoom: number;
}

export type PlanOptions = Pick<StreamOptions, 'chunkSize' | 'gramRows'>;

function tooSmall(budget: number, fixed: number, run: number): never {
  throw new ClafusionError('E_RESOURCE', `the memory budget of ${formatBytes(budget)} is too small for the ` +
    `activation statistics: they need ${formatBytes(fixed)} plus ${formatBytes(RUN_COPIES * run)} for one sample's ` +
    'tap outputs; raise --memory (memoryBytes) or use fewer samples');
}

/**
 * The plan of a pass over `samples` samples within `budget` bytes: Gram rows held in memory when they fit beside the
 * accumulators and one run, else spilled ('auto'); runs of at most RUN_BYTES (or `chunkSize`) that fit what is left.
 * E_RESOURCE when not even the accumulators and one sample's run fit.
 */
export function planPass(samples: number, sizes: PassSizes, budget: number, options: PlanOptions = {}): PassPlan {
  const choice = options.gramRows ?? 'auto';
  const fits = (rows: number) => sizes.fixed + samples * rows + RUN_COPIES * sizes.run <= budget;
  if (!fits(0)) tooSmall(budget, sizes.fixed, sizes.run);
  let grams: PassPlan['grams'];
  if (sizes.gram === 0) grams = 'none';
  else grams = choice === 'memory' || (choice === 'auto' && fits(sizes.gram)) ? 'memory' : 'disk';
  const rows = grams === 'memory' ? sizes.gram : 0;
  const byBytes = Math.max(1, Math.floor(RUN_BYTES / Math.max(1, sizes.run)));
  const byBudget = Math.floor((budget - sizes.fixed - samples * rows) / Math.max(1, RUN_COPIES * sizes.run));
  if (byBudget < 1) tooSmall(budget, sizes.fixed + samples * rows, sizes.run);
  const run = Math.min(samples, options.chunkSize ?? byBytes, byBudget);
  return { run, grams, gramRoom: budget - sizes.fixed };
}

/** Where a pass reads a model's tap outputs, chunk by chunk. */
interface ChunkSource {
  run(start: number, end: number, taps: Tap[], signal?: AbortSignal): Promise<TapOutputs>;
  close(): Promise<void>;
}

/**
 * A network balanced by adding identity units (derived.ts), read from a run of the network it was balanced from:
 * each of its taps is a tap of the original (or zeros), so its inserted units need not run.
 */
export interface DerivedModel {
  original: Network;
  /** Where each tap of the balanced network comes from in `original` (balancedTapSources). */
  sources: Map<string, TapSource>;
}

/** The taps of the original network that `taps` of the balanced one read. */
function sourceTaps(taps: Tap[], sources: Map<string, TapSource>): Tap[] {
  const read = taps.flatMap((tap) => {
    const source = sources.get(tapKey(tap)) ?? { tap, relu: false };
    return 'zero' in source ? [] : [source.tap];
  });
  return [...new Map(read.map((tap) => [tapKey(tap), tap])).values()];
}

/** A balanced model whose outputs come from runs of its original (see DerivedModel). */
class DerivedStream implements ChunkSource {
  private readonly zeros = new Map<number, Float32Array>();

  private constructor(
    private readonly original: ModelStream,
    private readonly sources: Map<string, TapSource>,
    private readonly shapes: Map<string, SampleShape>,
  ) {}

  /** `open` opens a session of a network for some of its taps. */
  static async open(derived: DerivedModel, taps: Tap[], shapes: Map<string, SampleShape>,
    open: (network: Network, taps: Tap[]) => Promise<ModelStream>): Promise<DerivedStream> {
    const original = await open(derived.original, sourceTaps(taps, derived.sources));
    return new DerivedStream(original, derived.sources, shapes);
  }

  async run(start: number, end: number, taps: Tap[], signal?: AbortSignal): Promise<TapOutputs> {
    const outputs = await this.original.run(start, end, sourceTaps(taps, this.sources), signal);
    return derivedChunk(outputs, this.sources, end - start, taps, (tap) => valuesOf(this.shapes, tap), this.zeros);
  }

  close(): Promise<void> {
    return this.original.close();
  }
}

/** One model of a pass: its session (emitted with the taps it gives) and its view of the samples. */
export class ModelStream implements ChunkSource {
  private constructor(
    private readonly runner: ModelRunner,
    private readonly plan: InputPlan,
    private readonly view: Dataset,
    private readonly outputNames: Map<string, string>,
  ) {}

  static async open(network: Network, taps: Tap[], samples: Dataset, threads: number, name?: string): Promise<ModelStream> {
    const { bytes, tapOutputs } = emitModel(network, { taps });
    const runner = await ModelRunner.open(bytes, { threads, ...(name ? { name } : {}) });
    try {
      const view = datasetForModel(runner, samples);
      return new ModelStream(runner, planInput(runner, view.name, view.shape), view, new Map(taps.map((tap, k) => [tapKey(tap), tapOutputs[k]])));
    } catch (err) {
      await runner.close();
      throw err;
    }
  }

  /** The outputs at `taps` for samples start .. end − 1. */
  async run(start: number, end: number, taps: Tap[], signal?: AbortSignal): Promise<TapOutputs> {
    const batch = await this.view.take(Int32Array.from({ length: end - start }, (_, i) => start + i));
    const keys = taps.map(tapKey);
    const names = [...new Set(keys.map((key) => this.outputNames.get(key)!))];
    const outputs = await forward(this.runner, this.plan, batch.data, end - start, names, signal);
    return new Map(keys.map((key) => [key, outputs[this.outputNames.get(key)!]!.data]));
  }

  close(): Promise<void> {
    return this.runner.close();
  }
}

/** Outputs of samples start .. end − 1 of every model (no source: a model with no taps in this pass, nothing). */
async function runAll(sources: (ChunkSource | undefined)[], start: number, end: number, taps: Tap[][],
  signal?: AbortSignal): Promise<TapOutputs[]> {
  return Promise.all(sources.map((s, m) => s?.run(start, end, taps[m], signal) ?? Promise.resolve(new Map())));
}

/**
 * Every sample once, in runs of `run` samples: each run's outputs go to the accumulators and the rows store while the
 * models compute the next run.
 */
async function sweep(sources: (ChunkSource | undefined)[], builder: StatisticsBuilder, rows: GramRows | undefined, taps: Tap[][],
  run: number, signal?: AbortSignal): Promise<void> {
  const n = builder.samples;
  const start = (r0: number) => {
    const pending = runAll(sources, r0, Math.min(n, r0 + run), taps, signal);
    pending.catch(() => undefined); // awaited next turn; a failure meanwhile must not go unhandled
    return pending;
  };
  let next = start(0);
  for (let r0 = 0; r0 < n; r0 += run) {
    const outputs = await next;
    throwIfAborted(signal);
    if (r0 + run < n) next = start(r0 + run);
    await Promise.all([builder.addSamples(r0, outputs), rows?.append(r0, outputs)]);
  }
}

/** The rows store of `plan` for `taps` (RowTaps of every model). */
async function openRows(plan: PassPlan, n: number, taps: RowTap[], models: number, spillDir?: string):
  Promise<GramRows | undefined> {
  if (plan.grams === 'disk') return SpillRows.create(spillFolder(spillDir), n, taps);
  return taps.length > 0 ? new MemoryRows(n, taps, models) : undefined;
}

/**
 * The statistics of `request` for `networks` (model m of the request is networks[m]) on every sample of `samples`.
 */
export async function streamStatistics(networks: Network[], request: StatisticsRequest, samples: Dataset, options: StreamOptions = {}): Promise<Statistics> {
  boundHeapGrowth();
  const shapes = networks.map(tapShapes);
  const taps = passTaps(request, networks.length);
  const n = samples.count;
  const known = networks.map((_, m) => knownTaps(options.derived?.[m]?.sources));
  const sizes: PassSizes = {
    fixed: 8 * StatisticsBuilder.heldValues(request, n, shapes, known),
    run: sampleBytes(taps.run, shapes),
    gram: sampleBytes(taps.grams, shapes),
  };
  const budget = passBudget(options.memoryBytes, sizes.fixed + RUN_COPIES * sizes.run);
  const plan = planPass(n, sizes, budget, options);
  const builder = new StatisticsBuilder(request, n, shapes, undefined, known);
  const threads = sharedThreads(taps.run.filter((t) => t.length > 0).length);
  const rows = await openRows(plan, n, builder.gramTaps(), networks.length, options.spillDir);
  try {
    const sources = await Promise.all(networks.map(async (network, m): Promise<ChunkSource | undefined> => {
      if (taps.run[m].length === 0) return undefined;
      const open = (model: Network, modelTaps: Tap[]) =>
        ModelStream.open(model, modelTaps, samples, threads, options.names?.[m]);
      const derived = options.derived?.[m];
      return derived ? DerivedStream.open(derived, taps.run[m], shapes[m], open) : open(network, taps.run[m]);
    }));
    try {
      await sweep(sources, builder, rows, taps.run, plan.run, options.signal);
    } finally {
      await Promise.all(sources.map((s) => s?.close()));
    }
    await builder.addGrams((tap, acc) => rows!.accumulate(tap, acc, plan.gramRoom, options.signal));
    return builder.finish();
  } finally {
    await rows?.close();
  }
}
