/**
 * The streaming pass: every model of the pass runs over the same samples in chunks, all models at once (one ONNX
 * Runtime session each, in its own worker, with its share of the cores), and each chunk's tap outputs go straight
 * into the accumulators (statistics.ts) and are dropped.
 *
 * Chunk sizes come from a memory budget (`memoryBytes`, default a quarter of the available memory): the
 * accumulators (Grams: 2·N² float64 each; cross moments: C_a·C_b; channel sums) are held throughout, and one chunk of
 * tap outputs at a time, counted twice (ONNX Runtime's output tensors and the arrays they are copied into). The
 * sessions themselves (about 1.3 GiB for two ResNet-34-sized models) come on top. Without Grams every sample is read once, in chunks as large as the budget allows. A Gram
 * entry (i, j) reads samples i and j together, so when all N samples' Gram taps do not fit at once, the samples are
 * taken in panels: a panel is held while the later samples stream past it in chunks of the same size (Gram taps
 * only), which costs N / panel extra partial passes instead of holding every sample. A budget too small for one
 * sample fails before anything is allocated (E_RESOURCE).
 *
 * A pass may keep tap outputs of all samples for a later pass (`keep`), when they fit the budget together with
 * what the pass holds anyway; a later pass reads them (`held`, see held.ts) instead of running those models again.
 */
import type { Dataset } from '../data/dataset.js';
import { ClafusionError, throwIfAborted } from '../errors.js';
import { forward } from '../eval/forward.js';
import { datasetForModel, type InputPlan, planInput } from '../eval/input.js';
import { ModelRunner, sharedThreads } from '../eval/runner.js';
import { emitModel } from '../graph/emit.js';
import { type SampleShape, flattenShape, inputSampleShape, layerShapes, unitShapes } from '../graph/shapes.js';
import type { Network } from '../ir/network.js';
import { availableMemoryBytes, formatBytes } from '../resources.js';
import { type Tap, tapKey } from '../fusion/activations.js';
import { type HeldOutputs, heldChunk } from './held.js';
import { type PassTaps, type Statistics, StatisticsBuilder, type StatisticsRequest, type TapOutputs, passTaps } from './statistics.js';

export interface StreamOptions {
  /** Bytes the pass may hold (accumulators and one chunk of tap outputs); default a quarter of the available memory. */
  memoryBytes?: number;
  /** Samples per chunk (and per Gram panel); default: as many as `memoryBytes` allows. */
  chunkSize?: number;
  signal?: AbortSignal;
  /** Per model: outputs kept from an earlier pass, read instead of running the model. */
  held?: (HeldOutputs | undefined)[];
  /** Per model: taps whose outputs over all samples the pass should keep for a later one, if they fit the budget. */
  keep?: Tap[][];
  /** Per model: its name in messages. */
  names?: string[];
}

export interface PassResult {
  statistics: Statistics;
  /** Per model run here: every sample's outputs at its pass taps and `keep` taps, when they fitted the budget. */
  kept?: (TapOutputs | undefined)[];
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

/** The default budget: a quarter of what this process can allocate now. */
export function defaultMemoryBytes(): number {
  return Math.floor(availableMemoryBytes() / 4);
}

export interface ChunkPlan {
  /** Samples held at once (every sample is read once in a panel). */
  panel: number;
  /** Samples per chunk streamed past a panel (Gram taps only); 0 when the pass has no Grams or one panel. */
  stream: number;
}

/** A chunk's tap outputs exist twice while it runs: ONNX Runtime's tensors and the arrays they are copied into. */
const OUTPUT_COPIES = 2;

/** Float32 bytes per sample of `taps` of each model, as a chunk of them holds memory (OUTPUT_COPIES). */
function sampleBytes(taps: Tap[][], shapes: Map<string, SampleShape>[]): number {
  return OUTPUT_COPIES * 4 * taps.reduce((n, list, m) => n + list.reduce((k, tap) => k + shapes[m].get(tapKey(tap))!.reduce((a, b) => a * b, 1), 0), 0);
}

/**
 * Panel and chunk sizes for `samples` samples: `fixed` bytes always held, `held` bytes per panel sample, `gram`
 * bytes per streamed sample (0: no Grams).
 */
export function planChunks(samples: number, fixed: number, held: number, gram: number, budget: number, chunkSize?: number): ChunkPlan {
  const needed = fixed + held + gram;
  if (!(budget >= needed)) {
    throw new ClafusionError('E_RESOURCE', `the memory budget of ${formatBytes(budget)} is too small for the activation statistics: ` +
      `they need ${formatBytes(fixed)} plus ${formatBytes(held + gram)} for one sample's tap outputs; raise --memory (memoryBytes) ` +
      'or use fewer samples');
  }
  if (chunkSize !== undefined) {
    const size = Math.min(chunkSize, samples);
    return { panel: size, stream: gram > 0 && size < samples ? size : 0 };
  }
  const room = budget - fixed;
  if (room >= samples * held) return { panel: samples, stream: 0 };
  const size = Math.max(1, Math.floor(room / (held + gram)));
  return { panel: size, stream: gram > 0 ? size : 0 };
}

/** Where a pass reads a model's tap outputs, chunk by chunk. */
interface ChunkSource {
  run(start: number, end: number, taps: Tap[], signal?: AbortSignal): Promise<TapOutputs>;
  close(): Promise<void>;
}

/** A model read from kept outputs. */
class HeldSource implements ChunkSource {
  constructor(private readonly held: HeldOutputs, private readonly shapes: Map<string, SampleShape>) {}

  async run(start: number, end: number, taps: Tap[]): Promise<TapOutputs> {
    return heldChunk(this.held, start, end, taps, (tap) => this.shapes.get(tapKey(tap))!.reduce((a, b) => a * b, 1));
  }

  async close(): Promise<void> {}
}

/** One model of a pass: its session (emitted with the taps it gives) and its view of the samples. */
class ModelStream implements ChunkSource {
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

async function runAll(sources: ChunkSource[], start: number, end: number, taps: Tap[][], signal?: AbortSignal): Promise<TapOutputs[]> {
  return Promise.all(sources.map((s, m) => (taps[m].length > 0 ? s.run(start, end, taps[m], signal) : Promise.resolve(new Map()))));
}

/** Copies a panel's outputs into the arrays that keep every sample (allocated at the first panel). */
function keepPanel(kept: TapOutputs[], panel: TapOutputs[], p0: number, samples: number, rows: number): void {
  panel.forEach((outputs, m) => {
    for (const [key, data] of outputs) {
      const perSample = data.length / rows;
      if (!kept[m].has(key)) kept[m].set(key, rows === samples ? data : new Float32Array(samples * perSample));
      if (rows !== samples) kept[m].get(key)!.set(data, p0 * perSample);
    }
  });
}

async function sweep(sources: ChunkSource[], builder: StatisticsBuilder, taps: PassTaps, plan: ChunkPlan, kept?: TapOutputs[], signal?: AbortSignal): Promise<void> {
  const n = builder.samples;
  for (let p0 = 0; p0 < n; p0 += plan.panel) {
    throwIfAborted(signal);
    const p1 = Math.min(n, p0 + plan.panel);
    const held = await runAll(sources, p0, p1, taps.held, signal);
    if (kept) keepPanel(kept, held, p0, n, p1 - p0);
    await builder.addPanel(p0, held);
    if (plan.stream === 0) continue;
    for (let q0 = p1; q0 < n; q0 += plan.stream) {
      throwIfAborted(signal);
      const streamed = await runAll(sources, q0, Math.min(n, q0 + plan.stream), taps.grams, signal);
      await builder.addGramBlock(q0, streamed, p0, held);
    }
  }
}

function unique(taps: Tap[]): Tap[] {
  return [...new Map(taps.map((tap) => [tapKey(tap), tap])).values()];
}

/**
 * The statistics of `request` for `networks` (model m of the request is networks[m]) on every sample of `samples`.
 */
export async function streamStatistics(networks: Network[], request: StatisticsRequest, samples: Dataset, options: StreamOptions = {}): Promise<PassResult> {
  const shapes = networks.map(tapShapes);
  const taps = passTaps(request, networks.length);
  const n = samples.count;
  const held = networks.map((_, m) => options.held?.[m]);
  const run = networks.map((_, m) => held[m] === undefined && taps.held[m].length > 0);
  // Chunks of the models that run count against the budget; kept outputs are already there.
  const ran = (list: Tap[][]) => list.map((t, m) => (run[m] ? t : []));
  const budget = options.memoryBytes ?? defaultMemoryBytes();
  const fixed = 8 * StatisticsBuilder.heldValues(request, n, shapes);
  const keepTaps = ran(taps.held.map((t, m) => unique([...t, ...(options.keep?.[m] ?? [])])));
  const keeping = options.keep !== undefined && fixed + n * sampleBytes(keepTaps, shapes) <= budget;
  if (keeping) taps.held = taps.held.map((t, m) => (run[m] ? keepTaps[m] : t));
  const gramBytes = sampleBytes(ran(taps.grams), shapes);
  const plan = keeping && options.chunkSize === undefined
    ? { panel: n, stream: 0 }
    : planChunks(n, fixed, sampleBytes(ran(taps.held), shapes), gramBytes, budget, options.chunkSize);
  const builder = new StatisticsBuilder(request, n, shapes);
  const threads = sharedThreads(run.filter(Boolean).length);
  const sources = await Promise.all(networks.map(async (network, m): Promise<ChunkSource> => {
    if (held[m]) return new HeldSource(held[m]!, shapes[m]);
    return run[m] ? ModelStream.open(network, taps.held[m], samples, threads, options.names?.[m]) : new HeldSource({ outputs: new Map() }, shapes[m]);
  }));
  const kept = keeping ? networks.map(() => new Map() as TapOutputs) : undefined;
  try {
    await sweep(sources, builder, taps, plan, kept, options.signal);
  } finally {
    await Promise.all(sources.map((s) => s.close()));
  }
  return { statistics: builder.finish(), ...(kept ? { kept: kept.map((k, m) => (run[m] ? k : undefined)) } : {}) };
}
