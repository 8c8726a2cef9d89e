/**
 * CLAFusion end to end (spec §0): load the models, stream N seeded samples through both models to accumulate the
 * activation statistics the alignment reads (lib/stats), align the layers of models of different depth (CLA),
 * balance them (identity units, or merging for MLPs), stream the samples through the balanced pair for the
 * statistics of the OT ground costs and the repair, fuse layer by layer with optimal transport, emit the fused ONNX
 * model. `align` stops after the alignment.
 *
 * Two models: the deeper one is transported into the basis of the balanced shallower one (the target, as published;
 * `target` chooses otherwise). More models: `many-to-one` onto an anchor (default: the deepest), or `iterative`
 * folding (see multi.ts).
 */
import type { Dataset, Normalization } from '../data/dataset.js';
import { type NormalizationChoice, resolveNormalization, sameNormalization } from '../data/normalization.js';
import { openDataset } from '../data/spec.js';
import { ClafusionError, throwIfAborted } from '../errors.js';
import { normalizationFromMetadata, normalizationMetadata, sharedNormalization } from '../eval/input.js';
import { workerPool } from '../eval/pool.js';
import { emitModel } from '../graph/emit.js';
import { readNetwork } from '../graph/recognise.js';
import { type Network, allLayers } from '../ir/network.js';
import { type DeviceOption, useGpu } from '../solvers/device.js';
import { balancedTapSources } from '../stats/derived.js';
import { type Statistics, type StatisticsRequest, emptyRequest, mergeRequests } from '../stats/statistics.js';
import { type DerivedModel, defaultMemoryBytes, streamStatistics } from '../stats/stream.js';
import { balanceByAdding } from './balance/add.js';
import { type ReluApproximation, balanceByMerging, mergeTaps } from './balance/merge.js';
import { foldBatchNorm } from './balance/fold.js';
import { recalibrateBatchNorm } from './recalibrate.js';
import { type Alignment, type ClaStatistics, type LayerCost, alignmentRequest, crossLayerAlignment, hiddenDepth } from './cla/index.js';
import { activationSamples } from './collect.js';
import { type LayerDiagnostics, type OtFuseOptions, type OtFuseResult, type OtStatistics, fusionRequest, otFuse } from './otfuse/index.js';
import { type UnitStatistics, repairStatistics } from './repair.js';
import { type RefitTarget, heldOutputBytes, refitLayers, refitWork } from './refit.js';
import type { GroundMetric, Marginals, Solver } from './otfuse/solve.js';
import { type MultiFusion, fuseMany } from './multi.js';
import { type EffectiveFuseOptions, type Provenance, describeInputs, effectiveOptions, withProvenance } from './provenance.js';

/** Ridge of the regression maps (README "One-shot quality": 0.1 beat 0.03 and 1 on the BN families). */
const DEFAULT_RIDGE = 0.1;

/** Samples of the refit (README "One-shot quality": 600 gained 0.3-0.5 points over 200; 2000 no more than 600). */
const DEFAULT_REFIT_SAMPLES = 600;

/**
 * The refit runs by default up to this many estimated multiply-adds (refit.ts refitWork, 600 samples): the bundled
 * pairs take 0.001-0.27e12 (the BN ResNet pair ~8 s here), a ResNet34/18 pair at 32x32 1e13, a resnet50 pair at
 * 224x224 3e13.
 */
const REFIT_AUTO_MACS = 1e12;

/** What the refit of a fusion reads: the models its targets' sides index, and the targets. */
export interface RefitInputs {
  models: Network[];
  targets: RefitTarget[];
}

/** An unmatched block's weight under regression maps (README "One-shot quality": 0.1 beat 0, 0.25, 0.5 and 1). */
const DEFAULT_UNMATCHED_BLOCK_WEIGHT = 0.1;

export type FuseStage = 'load' | 'activations' | 'alignment' | 'balancing' | 'fusion' | 'refit' | 'repair' | 'emit';

export interface AlignOptions {
  /** Activation samples: a `--data` spec or an open Dataset. Without data, only weight-based costs work. */
  data?: string | Dataset;
  /**
   * The models' input normalisation (a preset or mean/std), overriding what their metadata records; by default the
   * one they record (which must agree). The fused model records it in its metadata.
   */
  normalization?: NormalizationChoice;
  /** Number of activation samples (default 200, as published). */
  samples?: number;
  /** Seed of the sample draw (default 21, the published activation seed; our generator differs). */
  seed?: number;
  /** CLA layer cost; default 'cka' with data, 'neuron' without. */
  layerCost?: LayerCost;
  /** CLA pins (defaults 2 and 1, as published). */
  startLayer?: number;
  pinnedEnd?: number;
  /** Reproduce the published behaviour where it differs from ours (see the stage modules). */
  reference?: boolean;
  /**
   * Bytes the streaming passes may hold: the statistics, runs of tap outputs and the sample Gram rows, which go to
   * temp files when they do not fit (lib/stats/stream.ts), and the repair / BN recalibration pass its tensors between
   * stages (lib/fusion/batch-statistics.ts); default a quarter of the available memory, at most 2 GiB unless a pass needs more (stats/stream.ts
   * passBudget). ONNX Runtime's sessions come
   * on top.
   */
  memoryBytes?: number;
  /**
   * At most this many samples per model run of a streaming pass or of a repair-pass stage (default: 32 MiB of
   * outputs, within `memoryBytes`); the statistics do not depend on it.
   */
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (stage: FuseStage, done: number, total: number) => void;
}

export interface FuseOptions extends AlignOptions {
  /** Ground cost from activations (default with data) or from weights (default without). */
  mode?: 'activations' | 'weights';
  /** 'add' (identity units into the shallower model, default) or 'merge' (MLPs: fold the deep model's extra layers). */
  balance?: 'add' | 'merge';
  reluApproximation?: ReluApproximation;
  metric?: GroundMetric;
  marginals?: Marginals;
  solver?: Solver;
  /** Sinkhorn regularisation relative to the median ground cost (default 0.01). */
  reg?: number;
  /** Averaging weight of each input model, in input order (default equal). */
  weights?: number[];
  /** Two models: whose widths the fused model takes ('shallow' default, 'deep', or an input index). Many-to-one: the anchor index. */
  target?: 'shallow' | 'deep' | number;
  /** More than two models: 'many-to-one' (default) or 'iterative'. */
  multi?: 'many-to-one' | 'iterative';
  /** OT-align the classifier outputs too (published default; implied by `reference`). */
  alignClassifier?: boolean;
  /**
   * Where the pairwise costs and Sinkhorn run: 'auto' (default: the GPU when the CUDA addon sees one and the problem
   * is large enough), 'cpu', or 'cuda' (E_ARG when no CUDA device is available).
   */
  device?: DeviceOption;
  /**
   * Batch-norm vectors: 'average' (default) aligns and averages them, running statistics included (the published
   * treatment); 'recalibrate' then recomputes the running statistics on the activation samples ("BN reset"; implied
   * by the repair); 'fold' folds every BN into its layer before fusion (the fused model has biases instead of BN).
   */
  batchNorm?: 'average' | 'recalibrate' | 'fold';
  /**
   * Repair the fused network's hidden statistics towards the models' aligned, averaged ones (repair.ts). Default: on
   * when there is data, off in reference mode. Without it, a fused narrow CNN can fall to chance.
   */
  repair?: boolean;
  /**
   * How each source's units move into the target's basis (activation mode): 'plans', the OT plans; 'regression',
   * linear maps fitted on the activation moments around the plans (otfuse/regression.ts). Default: 'regression' when
   * the models have batch-norm and the repair is on (+9 to +27 points one-shot on the BN fixture families, README
   * "One-shot quality"), 'plans' otherwise and in reference mode.
   */
  maps?: FusionMaps;
  /** Ridge of the regression maps towards the plans, relative to the moments' mean diagonal (default 0.1). */
  ridge?: number;
  /**
   * Where balancing inserted a zero-branch block into one model, the averaging weight of the model whose block is
   * real there (in [0, 1]; otfuse/weights.ts), or 'weights' for the models' weights as everywhere else (the
   * published average). Default: 0.1 with regression maps (+1 to +7.5 points one-shot on the heterogeneous BN
   * fixture pairs, README "One-shot quality"), 'weights' otherwise (with OT plans 0.1 cost 2-13 points there).
   */
  unmatchedBlockWeight?: number | 'weights';
  /**
   * Refit every fused layer, in forward order, to the models' aligned, averaged pre-activations, on the fused
   * network's own inputs (least squares; refit.ts). Default: on with data (not in reference mode) when its estimated
   * work is at most 1e12 multiply-adds (it runs the fused network once per layer); then the statistics repair runs only
   * when asked for (`repair: true`). One-shot +1 to +14 points on the fixture families (README "One-shot quality").
   */
  refit?: boolean;
  /**
   * Samples the refit fits on, drawn from the data with the same seed (default 600, or all the data has): a least-squares
   * fit gains from more than the 200 of the OT stage (+0.3 to +0.5 points on the narrow BN ResNets, README "One-shot
   * quality"), and its cost grows with them.
   */
  refitSamples?: number;
}

export type FusionMaps = 'plans' | 'regression';

export interface PairAlignment {
  /** Input indices of the deeper and the shallower model. */
  deep: number;
  shallow: number;
  alignment: Alignment;
}

export interface FuseResult {
  bytes: Uint8Array;
  network: Network;
  /** The cross-layer alignments made (none for models of equal depth). */
  alignments: PairAlignment[];
  /** One entry per transport map computed. */
  layers: LayerDiagnostics[];
  /** Milliseconds per stage. */
  timings: Record<FuseStage, number>;
  /** The models as they entered the OT fusion (balanced or merged), in input order. */
  models: Network[];
  /** Input index of the model whose basis and widths the fused model has. */
  target: number;
  /** The options as the run used them (given and defaults); recorded in the model's metadata too. */
  options: EffectiveFuseOptions;
  /** The version and the inputs (names, sha256, architecture) recorded in the model's metadata. */
  provenance: Provenance;
  /** The input normalisation the models were fused with (recorded in the fused model), if known. */
  normalization?: Normalization;
  /** What the caller should know (e.g. uint8 data fed as pixel/255 to a model that records no normalisation). */
  warnings: string[];
}

export interface AlignResult {
  deep: number;
  shallow: number;
  alignment: Alignment;
  timings: Record<FuseStage, number>;
  warnings: string[];
}

/** Shared state of one run: the activation samples, the timers, progress and cancellation. */
export class FusionContext {
  readonly timings: Record<FuseStage, number> = { load: 0, activations: 0, alignment: 0, balancing: 0, fusion: 0, refit: 0, repair: 0, emit: 0 };
  private readonly running = new Map<FuseStage, { count: number; since: number }>();
  readonly warnings: string[] = [];
  /** The one input normalisation of every model (set by `adoptModels`). */
  normalization: Normalization | undefined;
  /** The file names (or `model i`) of the networks, for messages. */
  private readonly names = new WeakMap<Network, string>();
  private readonly origins = new Map<Network, Network>();
  /** Some input model has batch-norm (set by `adoptModels`). */
  private batchNormInputs = false;
  /** The refit ran (set by `finish`), for the record of the options as they ran. */
  refitRan = false;

  private constructor(readonly options: FuseOptions, private samplesView: Dataset | undefined,
    private refitView: Dataset | undefined) {}

  get samples(): Dataset | undefined {
    return this.samplesView;
  }

  /** The refit's samples (see `refitSamples`), seen with the models' normalisation. */
  get refitSamples(): Dataset | undefined {
    return this.refitView;
  }

  /**
   * Names the input networks for messages and fixes the normalisation all of them see (sharedNormalization: the
   * option, else what their metadata records, which must agree), so their activations compare like with like.
   */
  adoptModels(networks: Network[], names: string[]): void {
    const withBatchNorm = (network: Network) => allLayers(network).some((layer) => layer.batchNorm !== undefined);
    this.batchNormInputs = networks.some(withBatchNorm);
    networks.forEach((network, i) => this.names.set(network, names[i]));
    const infos = networks.map((network, i) => ({ name: names[i], metadata: network.meta.metadata }));
    const shared = sharedNormalization(infos, this.samplesView, resolveNormalization(this.options.normalization));
    this.warnings.push(...shared.warnings);
    this.normalization = shared.normalization;
    if (shared.normalization && this.samplesView) {
      this.samplesView = this.samplesView.withNormalization(shared.normalization);
      this.refitView = this.refitView?.withNormalization(shared.normalization);
    }
  }

  /** `derived` (a balanced or merged network) is named after `source` in messages. */
  nameDerived(derived: Network, source: Network, how: string): Network {
    this.names.set(derived, `${this.nameOf(source)} (${how})`);
    return derived;
  }

  nameOf(network: Network): string {
    return this.names.get(network) ?? 'the fused model';
  }

  static async open(options: FuseOptions): Promise<FusionContext> {
    const start = performance.now();
    checkStreamOptions(options);
    useGpu(options.device, 0); // E_ARG for an unknown device, or for 'cuda' without one
    let samples: Dataset | undefined;
    let refitSamples: Dataset | undefined;
    if (options.data !== undefined) {
      const dataset = typeof options.data === 'string' ? await openDataset(options.data) : options.data;
      samples = activationSamples(dataset, options.samples ?? 200, options.seed ?? 21);
      const count = Math.min(dataset.count, options.refitSamples ?? DEFAULT_REFIT_SAMPLES);
      refitSamples = count === samples.count ? samples : activationSamples(dataset, count, options.seed ?? 21);
    }
    const context = new FusionContext(options, samples, refitSamples);
    // A run that streams activations runs two models at once: start their workers while the models load.
    if (samples && (context.claNeedsActivations || context.otNeedsActivations)) workerPool.prestart(2);
    context.timings.load += performance.now() - start;
    return context;
  }

  /** Runs `work` as part of `stage`; overlapping calls of one stage count their wall time once. */
  async timed<T>(stage: FuseStage, work: () => Promise<T> | T): Promise<T> {
    throwIfAborted(this.options.signal);
    const running = this.running.get(stage);
    if (running) running.count++;
    else this.running.set(stage, { count: 1, since: performance.now() });
    this.options.onProgress?.(stage, 0, 1);
    try {
      return await work();
    } finally {
      const entry = this.running.get(stage)!;
      if (--entry.count === 0) {
        this.timings[stage] += performance.now() - entry.since;
        this.running.delete(stage);
      }
      this.options.onProgress?.(stage, 1, 1);
    }
  }

  get reference(): boolean {
    return this.options.reference ?? false;
  }

  /** True when the alignment reads activations (data given and a cost other than 'neuron'). */
  get claNeedsActivations(): boolean {
    return this.samples !== undefined && (this.options.layerCost ?? 'cka') !== 'neuron';
  }

  /** Activation mode by default when there is data. */
  get mode(): 'activations' | 'weights' {
    const mode = this.options.mode ?? (this.samples ? 'activations' : 'weights');
    if (mode === 'activations' && !this.samples) {
      throw new ClafusionError('E_ARG', "activation-based fusion needs data (--data); give data or use mode 'weights'");
    }
    return mode;
  }

  get alignClassifier(): boolean {
    return this.options.alignClassifier ?? this.reference;
  }

  /**
   * The ground metric: 1 − correlation of the units' activations by default (on the quality harness's fixture
   * families it gave the better one-shot model on 9 of 16 pairs, +3.5 points on average, README "One-shot quality"),
   * euclidean as published in weight mode and in reference mode.
   */
  get metric(): GroundMetric {
    return this.options.metric ?? (this.mode === 'activations' && !this.reference ? 'correlation' : 'euclidean');
  }

  /** The statistics repair (repair.ts): on by default with data, off in reference mode. */
  get repair(): boolean {
    const repair = this.options.repair ?? (this.samples !== undefined && !this.reference);
    if (repair && !this.samples) throw new ClafusionError('E_ARG', 'the statistics repair needs data (the activation samples)');
    return repair;
  }

  /** Regression maps by default for models with batch-norm, under the repair, in activation mode (see `maps`). */
  get maps(): FusionMaps {
    const regressionFits = this.mode === 'activations' && !this.reference;
    const maps = this.options.maps ?? (regressionFits && this.repair && this.batchNormInputs ? 'regression' : 'plans');
    if (maps === 'regression' && !regressionFits) {
      throw new ClafusionError('E_ARG',
        'regression maps need activation mode without --reference (they are fitted on the activations)');
    }
    return maps;
  }

  get ridge(): number {
    const ridge = this.options.ridge ?? DEFAULT_RIDGE;
    if (!Number.isFinite(ridge) || ridge <= 0) {
      throw new ClafusionError('E_ARG', `ridge must be a positive number, got ${ridge}`);
    }
    return ridge;
  }

  /** 0.1 under regression maps, the models' weights otherwise (see `unmatchedBlockWeight`). */
  get unmatchedBlockWeight(): number | 'weights' {
    const weight = this.options.unmatchedBlockWeight ?? (this.maps === 'regression' ? DEFAULT_UNMATCHED_BLOCK_WEIGHT : 'weights');
    if (weight !== 'weights' && !(typeof weight === 'number' && weight >= 0 && weight <= 1)) {
      throw new ClafusionError('E_ARG', `unmatchedBlockWeight must be a number in [0, 1] or 'weights', got ${String(weight)}`);
    }
    return weight;
  }

  /** The refit is asked for, or may run by default (data, not reference mode); `runsRefit` decides by its cost. */
  get refitWanted(): boolean {
    const refit = this.options.refit;
    if (refit && !this.samples) throw new ClafusionError('E_ARG', 'the refit needs data (the activation samples)');
    return refit ?? (this.samples !== undefined && !this.reference);
  }

  /**
   * Given `refit: true`, or by default when its estimated work is at most REFIT_AUTO_MACS and the unit outputs it
   * holds fit half the memory budget (else it would be E_RESOURCE).
   */
  private runsRefit(network: Network, models: Network[], samples: Dataset): boolean {
    if (!this.refitWanted) return false;
    const held = heldOutputBytes(network, samples.count) <= (this.options.memoryBytes ?? defaultMemoryBytes()) / 2;
    return this.options.refit === true || (held && refitWork(network, models, samples.count) <= REFIT_AUTO_MACS);
  }

  /** True when the OT stage reads activations: to compare units, or for the repair's statistics. */
  get otNeedsActivations(): boolean {
    return this.mode === 'activations' || this.repair;
  }

  /** Options of the OT fusion stage. */
  otFuseOptions(): OtFuseOptions {
    const o = this.options;
    return {
      mode: this.mode,
      metric: this.metric,
      marginals: o.marginals,
      solver: o.solver,
      reg: o.reg,
      reference: this.reference,
      alignClassifier: this.alignClassifier,
      device: o.device,
      regression: this.maps === 'regression' ? this.ridge : undefined,
      unmatchedBlockWeight: this.unmatchedBlockWeight,
      statistics: this.repair,
      refit: this.refitWanted,
      signal: o.signal,
      onProgress: (done, total) => o.onProgress?.('fusion', done, total),
    };
  }

  /**
   * The fused network after the statistics repair (with `statistics`, see repair.ts), or with only its BN running
   * statistics recomputed on the samples (batchNorm 'recalibrate'), or as it is.
   */
  async finish(network: Network, statistics?: Map<string, UnitStatistics>, refit?: RefitInputs): Promise<Network> {
    const samples = this.samples;
    const refitSamples = this.refitSamples;
    if (refit && refitSamples && this.runsRefit(network, refit.models, refitSamples)) {
      const { signal, onProgress, memoryBytes } = this.options;
      const fitted = await this.timed('refit', () => refitLayers(network, refit.models, refit.targets, refitSamples, {
        memoryBytes, signal, onProgress: (done, total) => onProgress?.('refit', done, total),
      }));
      this.refitRan = true;
      // The refit sets every layer's outputs itself; the repair after it cost 2-13 points (README "One-shot quality").
      if (this.options.repair !== true) return fitted;
      network = fitted;
    }
    if (this.options.batchNorm === 'recalibrate' && !samples) throw new ClafusionError('E_ARG', "batchNorm 'recalibrate' needs data (the activation samples)");
    if (!samples) return network;
    const { memoryBytes, chunkSize, signal } = this.options;
    const options = { memoryBytes, chunkSize, signal };
    if (this.repair && statistics) return this.timed('repair', () => repairStatistics(network, statistics, samples, options));
    if (this.options.batchNorm !== 'recalibrate') return network;
    return this.timed('repair', () => recalibrateBatchNorm(network, samples, options));
  }

  /**
   * One streaming pass of `networks` over the samples (model m of `request` is networks[m]); undefined without data
   * or when nothing is requested. A network balanced from another runs as that one (stats/derived.ts).
   */
  async statistics(networks: Network[], request: StatisticsRequest): Promise<Statistics | undefined> {
    const samples = this.samples;
    if (!samples || request.grams.length + request.channels.length + request.cross.length === 0) return undefined;
    const { memoryBytes, chunkSize, signal } = this.options;
    return this.timed('activations', () => streamStatistics(networks, request, samples, {
      memoryBytes, chunkSize, signal,
      derived: networks.map((network) => this.derivedModel(network)),
      names: networks.map((network) => this.nameOf(network)),
    }));
  }

  /** Records that `balanced` is `original` with identity units added (its taps can be read from `original`'s). */
  balancedFrom(balanced: Network, original: Network): void {
    this.origins.set(balanced, original);
  }

  /** The network `network` was balanced from, with where its taps come from there (a pass runs that one instead). */
  private derivedModel(network: Network): DerivedModel | undefined {
    const original = this.origins.get(network);
    const sources = original && balancedTapSources(original, network);
    return sources ? { original: original!, sources } : undefined;
  }

  /** The statistics the OT fusion of `sources` into `target` reads (activation mode, repair), from one pass. */
  async fusionStatistics(sources: Network[], target: Network): Promise<OtStatistics | undefined> {
    if (!this.otNeedsActivations) return undefined;
    const models = { sources: sources.map((_, s) => s), target: sources.length };
    const request = fusionRequest(sources, target, models, {
      mode: this.mode, reference: this.reference, alignClassifier: this.alignClassifier, repair: this.repair,
      regression: this.maps === 'regression',
    });
    const statistics = await this.statistics([...sources, target], request);
    this.origins.clear();
    return statistics ? { statistics, ...models } : undefined;
  }

  /** The CLA layer cost: 'cka' with data unless chosen. */
  get layerCost(): LayerCost {
    return this.options.layerCost ?? (this.samples ? 'cka' : 'neuron');
  }
}

/** memoryBytes and chunkSize, when given, are positive (E_ARG before anything runs). */
function checkStreamOptions(options: FuseOptions): void {
  const { memoryBytes, chunkSize, refitSamples } = options;
  if (refitSamples !== undefined && !(Number.isSafeInteger(refitSamples) && refitSamples >= 2)) {
    throw new ClafusionError('E_ARG', `refitSamples must be an integer >= 2, got ${String(refitSamples)}`);
  }
  if (memoryBytes !== undefined && !(typeof memoryBytes === 'number' && memoryBytes > 0 && Number.isFinite(memoryBytes))) {
    throw new ClafusionError('E_ARG', `memoryBytes must be a positive number of bytes, got ${String(memoryBytes)}`);
  }
  if (chunkSize !== undefined && !(Number.isSafeInteger(chunkSize) && chunkSize > 0)) {
    throw new ClafusionError('E_ARG', `chunkSize must be a positive integer, got ${String(chunkSize)}`);
  }
}

function checkCompatible(networks: Network[], names: string[]): void {
  const inputOf = (n: Network) => n.input.shape.slice(1).join('x');
  const classesOf = (n: Network) => n.classifier.op.weight.shape[0];
  networks.forEach((network, i) => {
    if (inputOf(network) !== inputOf(networks[0])) {
      throw new ClafusionError('E_SHAPE', `${names[i]} takes inputs of shape [${inputOf(network)}] but ${names[0]} takes [${inputOf(networks[0])}]; fusion needs models of the same input`);
    }
    if (classesOf(network) !== classesOf(networks[0])) {
      throw new ClafusionError('E_SHAPE', `${names[i]} has ${classesOf(network)} classes but ${names[0]} has ${classesOf(networks[0])}; fusion needs the same classes in the same order`);
    }
  });
}

function modelName(model: string | Uint8Array, index: number): string {
  return typeof model === 'string' ? model : `model ${index}`;
}

/** Reads and recognises every model; checks that they share input shape and classes. */
export async function loadModels(models: (string | Uint8Array)[], context: FusionContext, minimum: number): Promise<Network[]> {
  if (!Array.isArray(models) || models.length < minimum) {
    throw new ClafusionError('E_ARG', `need at least ${minimum} models, got ${Array.isArray(models) ? models.length : 0}`);
  }
  const networks = await context.timed('load', () => models.map((m) => readNetwork(m)));
  const names = models.map(modelName);
  checkCompatible(networks, names);
  context.adoptModels(networks, names);
  return networks;
}

function claOptions(options: AlignOptions) {
  return { cost: options.layerCost, startLayer: options.startLayer, pinnedEnd: options.pinnedEnd, reference: options.reference };
}

/** Deep and shallow indices of a pair: the deeper has more hidden units; at equal depth, index 0 counts as deep. */
function deepAndShallow(a: Network, b: Network): [number, number] {
  return hiddenDepth(b) > hiddenDepth(a) ? [1, 0] : [0, 1];
}

/**
 * CLA between a pair (already ordered deep, shallow). `stats`: the pass that holds what `alignmentRequest` asks for;
 * without it (and with a cost that reads activations) the pair is streamed here.
 */
export async function alignPair(deep: Network, shallow: Network, context: FusionContext, stats?: ClaStatistics): Promise<Alignment> {
  let found = stats;
  if (!found && context.claNeedsActivations) {
    const statistics = await context.statistics([deep, shallow], alignmentRequest(deep, shallow, 0, 1, context.layerCost, context.reference));
    found = statistics && { statistics, deep: 0, shallow: 1 };
  }
  return context.timed('alignment', () => crossLayerAlignment(deep, shallow, claOptions(context.options), found));
}

/** Aligns two models of different depth: which is deeper, and which deep unit each shallow unit maps to. */
export async function align(modelA: string | Uint8Array, modelB: string | Uint8Array, options: AlignOptions = {}): Promise<AlignResult> {
  const context = await FusionContext.open(options);
  const networks = await loadModels([modelA, modelB], context, 2);
  const [deep, shallow] = deepAndShallow(networks[0], networks[1]);
  const alignment = await alignPair(networks[deep], networks[shallow], context);
  return { deep, shallow, alignment, timings: context.timings, warnings: context.warnings };
}

/** One pair fusion's outcome: the fused network and what led to it. */
export interface PairFusion {
  network: Network;
  models: [Network, Network];
  alignment?: PairAlignment;
  layers: LayerDiagnostics[];
  target: number;
}

function targetIndex(target: FuseOptions['target'], deep: number, shallow: number, equalDepth: boolean): number {
  if (target === undefined || target === 'shallow') return equalDepth ? 1 : shallow;
  if (target === 'deep') return equalDepth ? 0 : deep;
  if (target === 0 || target === 1) return target;
  throw new ClafusionError('E_ARG', `target must be 'shallow', 'deep', 0 or 1 for two models, got ${String(target)}`);
}

function pairWeights(weights: number[] | undefined, source: number, target: number): number[] {
  const w = weights ?? [0.5, 0.5];
  return [w[source], w[target]];
}

/**
 * The first pass of a pair of different depth: the alignment's statistics, and with 'merge' the deep model's
 * pre-activation sums for its ReLU approximations.
 */
function alignmentPassRequest(pair: [Network, Network], deep: number, shallow: number, context: FusionContext): StatisticsRequest {
  const cla = context.claNeedsActivations ? alignmentRequest(pair[deep], pair[shallow], deep, shallow, context.layerCost, context.reference) : emptyRequest();
  if ((context.options.balance ?? 'add') !== 'merge') return cla;
  return mergeRequests(cla, { grams: [], channels: mergeTaps(pair[deep]).map((tap) => ({ model: deep, tap })), cross: [] });
}

/** Aligns, balances and fuses two networks (input order kept in `models`, `target`, `weights`). */
export async function fusePair(pair: [Network, Network], context: FusionContext, weights?: number[], target?: FuseOptions['target']): Promise<PairFusion> {
  const [deep, shallow] = deepAndShallow(pair[0], pair[1]);
  const equalDepth = hiddenDepth(pair[0]) === hiddenDepth(pair[1]);
  const models: [Network, Network] = [pair[0], pair[1]];
  let alignment: PairAlignment | undefined;
  if (!equalDepth) {
    // Pass 1: both input models at once, for what the alignment (and a merge) reads.
    const pass = await context.statistics(pair, alignmentPassRequest(pair, deep, shallow, context));
    const cla = await alignPair(pair[deep], pair[shallow], context, pass && context.claNeedsActivations ? { statistics: pass, deep, shallow } : undefined);
    alignment = { deep, shallow, alignment: cla };
    if ((context.options.balance ?? 'add') === 'add') {
      models[shallow] = context.nameDerived(await context.timed('balancing', () => balanceByAdding(pair[deep], pair[shallow], cla.groups)), pair[shallow], 'balanced');
      context.balancedFrom(models[shallow], pair[shallow]);
    } else {
      if (!pass) throw new ClafusionError('E_ARG', "the 'merge' balancing needs data for the ReLU approximations");
      const merged = await context.timed('balancing', () => balanceByMerging(pair[deep], cla.mapping, (tap) => pass.channels(deep, tap), context.options.reluApproximation));
      models[deep] = context.nameDerived(merged, pair[deep], 'merged');
    }
  }
  if (context.options.batchNorm === 'fold') models.forEach((m, i) => { models[i] = foldBatchNorm(m); });
  const t = targetIndex(target ?? context.options.target, deep, shallow, equalDepth);
  const s = 1 - t;
  const fused = await fuseBalanced(models, s, t, context, weights);
  const refit = fused.refitTargets && { models: [models[s], models[t]], targets: fused.refitTargets };
  return { network: await context.finish(fused.network, fused.statistics, refit), models, alignment, layers: fused.diagnostics, target: t };
}

/**
 * Pass 2 (the pair as it is fused, for the ground costs and the repair targets) and the OT fusion of model s into
 * model t. Its moments (about 1 GB for resnet101 + resnet50) die with this call, before the repair pass starts.
 */
async function fuseBalanced(models: [Network, Network], s: number, t: number, context: FusionContext, weights?: number[]): Promise<OtFuseResult> {
  const stats = await context.fusionStatistics([models[s]], models[t]);
  return context.timed('fusion', () => otFuse([models[s]], models[t], pairWeights(weights, s, t), context.otFuseOptions(), stats));
}

function asMulti(pair: PairFusion): MultiFusion {
  return { network: pair.network, models: pair.models, alignments: pair.alignment ? [pair.alignment] : [], layers: pair.layers, target: pair.target };
}

function checkWeights(weights: number[] | undefined, count: number): void {
  if (weights === undefined) return;
  if (weights.length !== count || weights.some((w) => !Number.isFinite(w) || w < 0)) {
    throw new ClafusionError('E_ARG', `weights needs ${count} non-negative numbers (one per model), got [${weights.join(', ')}]`);
  }
  const total = weights.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-6) throw new ClafusionError('E_ARG', `weights must sum to 1, got ${total}`);
}

/** Fuses two or more models (paths or ONNX bytes) into one. */
export async function fuse(models: (string | Uint8Array)[], options: FuseOptions = {}): Promise<FuseResult> {
  const context = await FusionContext.open(options);
  const networks = await loadModels(models, context, 2);
  checkWeights(options.weights, networks.length);
  const outcome = networks.length === 2 ? asMulti(await fusePair([networks[0], networks[1]], context, options.weights)) : await fuseMany(networks, context);
  throwIfAborted(options.signal);
  const effective = effectiveOptions(context);
  const { bytes, network, provenance } = await context.timed('emit', () => {
    const provenance = describeInputs(models, networks, options.data);
    const recorded = withNormalizationRecorded(outcome.network, context.normalization);
    const network = withProvenance(recorded, provenance, effective);
    return { ...emitModel(network), network, provenance };
  });
  return {
    bytes,
    network,
    alignments: outcome.alignments,
    layers: outcome.layers,
    timings: context.timings,
    models: outcome.models,
    target: outcome.target,
    options: effective,
    provenance,
    ...(context.normalization ? { normalization: context.normalization } : {}),
    warnings: context.warnings,
  };
}

/**
 * `network` with `normalization` (if known) in its metadata, so evaluating the written model needs no flags; metadata
 * that already records it is kept as written.
 */
function withNormalizationRecorded(network: Network, normalization: Normalization | undefined): Network {
  const recorded = normalizationFromMetadata(network.meta.metadata, 'the fused model');
  if (!normalization || (recorded && sameNormalization(recorded, normalization))) return network;
  const metadata = { ...network.meta.metadata, ...normalizationMetadata(normalization) };
  return { ...network, meta: { ...network.meta, metadata } };
}
