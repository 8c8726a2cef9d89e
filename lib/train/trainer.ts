/**
 * The epoch loop shared by `finetune` and `distill`: the Network is compiled for the native trainer once
 * (lib/train/program.ts), each epoch visits the training set in a seeded random order (lib/data/sampling.ts) in
 * mini-batches (the last one may be smaller, as torch's DataLoader without drop_last), each batch is one native SGD
 * step (off the JS thread, while the next batch is read and decoded), and after each epoch the emitted ONNX model is
 * evaluated with ONNX Runtime when evaluation data is given.
 */
import type { Dataset } from '../data/dataset.js';
import type { NormalizationChoice } from '../data/normalization.js';
import { sampleIndices } from '../data/sampling.js';
import { ClafusionError, requireArg, throwIfAborted } from '../errors.js';
import { evaluate } from '../eval/evaluate.js';
import { normalizationFromMetadata } from '../eval/input.js';
import { emitModel } from '../graph/emit.js';
import type { Network } from '../ir/network.js';
import { defaultThreads, native, type TrainStepOptions } from '../native.js';
import { compileNetwork, type CompiledNetwork, networkWithParameters } from './program.js';
import { checkSchedule, learningRateAt, type LrSchedule } from './schedule.js';

export type TrainPhase = 'teacher' | 'evaluate' | 'train';

export interface TrainProgress {
  phase: TrainPhase;
  /** 1-based epoch (0 for the evaluation before training and for teacher logits). */
  epoch: number;
  epochs: number;
  /** Samples done in this phase, and its total. */
  done: number;
  total: number;
  /** Mean training loss of the epoch so far (train phase). */
  loss?: number;
}

export interface TrainOptions {
  /** Training data: a --data spec or an open Dataset (labelled). */
  data: string | Dataset;
  /**
   * Input normalisation (a preset or mean/std) of the training and evaluation data, overriding what the models'
   * metadata records (student and teachers must agree); the trained model records it in its metadata.
   */
  normalization?: NormalizationChoice;
  /** Default 1. */
  epochs?: number;
  /** Base learning rate η₀ (default 0.01). */
  lr?: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** L2 weight decay on every parameter, as torch's SGD (default 5e-4). */
  weightDecay?: number;
  /** Default 128. */
  batchSize?: number;
  /** Per-epoch learning-rate schedule (default constant). */
  schedule?: LrSchedule;
  /** Seed of the per-epoch shuffles (default 42). */
  seed?: number;
  /** Batch-norm running-statistics momentum, torch convention (default 0.1). */
  bnMomentum?: number;
  /** Labelled data evaluated (ONNX Runtime) before training and after every epoch. */
  evalData?: string | Dataset;
  /** Return the last epoch's weights (default) or those of the epoch with the best evaluation accuracy. */
  keep?: 'last' | 'best';
  /** Native threads (default: every core). */
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (progress: TrainProgress) => void;
}

export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  learningRate: number;
  /** Mean training loss over the epoch's batches (weighted by batch size). */
  loss: number;
  trainAccuracy: number;
  evalAccuracy: number | null;
  ms: number;
  imagesPerSecond: number;
}

export interface TrainResult {
  /** The trained model as ONNX bytes. */
  bytes: Uint8Array;
  network: Network;
  history: EpochRecord[];
  /** Evaluation accuracy before training (null without evalData). */
  initialAccuracy: number | null;
  /** The epoch with the best evaluation accuracy, and that accuracy (null without evalData). */
  bestEpoch: number | null;
  bestAccuracy: number | null;
  /** E.g. uint8 data fed as pixel/255 to a model that records no normalisation. */
  warnings: string[];
}

/** The numeric and schedule options of training, every one set (defaults applied and checked). */
export type ResolvedTrainOptions = Required<Pick<TrainOptions, 'epochs' | 'lr' | 'momentum' | 'weightDecay' | 'batchSize' |
  'schedule' | 'seed' | 'bnMomentum' | 'keep' | 'threads'>>;

type Resolved = ResolvedTrainOptions;

function nonNegative(value: number, name: string): number {
  requireArg(Number.isFinite(value) && value >= 0, `${name} must be a finite number >= 0, got ${value}`);
  return value;
}

function positiveInteger(value: number, name: string): number {
  requireArg(Number.isSafeInteger(value) && value > 0, `${name} must be a positive integer, got ${value}`);
  return value;
}

/** Options with their defaults, checked (E_ARG). */
export function resolveTrainOptions(options: TrainOptions): Resolved {
  requireArg(options !== null && typeof options === 'object', 'options must be an object with at least `data`');
  requireArg(options.data !== undefined, 'options.data is required: a --data spec such as train:/path/to/fashion-mnist, or a Dataset');
  const lr = options.lr ?? 0.01;
  requireArg(Number.isFinite(lr) && lr > 0, `lr must be a positive number, got ${lr}`);
  const momentum = nonNegative(options.momentum ?? 0.9, 'momentum');
  requireArg(momentum < 1, `momentum must be below 1, got ${momentum}`);
  const bnMomentum = nonNegative(options.bnMomentum ?? 0.1, 'bnMomentum');
  requireArg(bnMomentum <= 1, `bnMomentum must be in [0, 1], got ${bnMomentum}`);
  const keep = options.keep ?? 'last';
  requireArg(keep === 'last' || keep === 'best', `keep must be 'last' or 'best', got ${JSON.stringify(keep)}`);
  requireArg(keep === 'last' || options.evalData !== undefined, "keep: 'best' needs evalData to pick the best epoch");
  const seed = options.seed ?? 42;
  requireArg(Number.isSafeInteger(seed) && seed >= 0, `seed must be a non-negative integer, got ${seed}`);
  return {
    epochs: positiveInteger(options.epochs ?? 1, 'epochs'),
    lr,
    momentum,
    weightDecay: nonNegative(options.weightDecay ?? 5e-4, 'weightDecay'),
    batchSize: positiveInteger(options.batchSize ?? 128, 'batchSize'),
    schedule: checkSchedule(options.schedule ?? { kind: 'constant' }),
    seed,
    bnMomentum,
    keep,
    threads: positiveInteger(options.threads ?? defaultThreads(), 'threads'),
  };
}

/**
 * The dataset as the network sees it (the rule of eval/input.ts `datasetForModel`: an explicit normalisation wins,
 * else uint8 data gets the model's metadata normalisation), checked against the network's input and classes.
 */
export function trainingView(dataset: Dataset, network: Network, compiled: CompiledNetwork): Dataset {
  const view = dataset.normalization || dataset.encoding === 'f32'
    ? dataset
    : dataset.withNormalization(normalizationFromMetadata(network.meta.metadata, network.input.name));
  if (view.sampleSize !== compiled.inputSize) {
    throw new ClafusionError('E_DATA', `${view.name} has samples of shape [${view.shape.join(', ')}] (${view.sampleSize} values) but the model's input ` +
      `[${network.input.shape.join(', ')}] takes ${compiled.inputSize}; use data made for this model`);
  }
  if (view.count === 0) throw new ClafusionError('E_DATA', `${view.name} has no samples to train on`);
  const labels = view.labels;
  if (!labels) throw new ClafusionError('E_DATA', `${view.name} has no labels; training needs a labels file in the data spec`);
  const top = labels.reduce((a, b) => Math.max(a, b), 0);
  if (top >= compiled.classes) throw new ClafusionError('E_DATA', `${view.name} has label ${top} but the model scores only ${compiled.classes} classes`);
  return view;
}

/** The rows of `teacher` ([count][classes]) at `indices`. */
function teacherRows(teacher: Float32Array, indices: Int32Array, classes: number): Float32Array {
  const rows = new Float32Array(indices.length * classes);
  indices.forEach((index, i) => rows.set(teacher.subarray(index * classes, (index + 1) * classes), i * classes));
  return rows;
}

/** One seed per epoch: the run seed in the high 32 bits, the epoch in the low ones. */
function epochSeed(seed: number, epoch: number): bigint {
  return (BigInt(seed) << 32n) + BigInt(epoch);
}

/** Accuracy of `network` on `data` with ONNX Runtime (the emitted model, as users would run it). */
async function evaluateNetwork(network: Network, data: Dataset, options: TrainOptions, epoch: number, epochs: number): Promise<number> {
  const report = options.onProgress;
  const result = await evaluate(emitModel(network).bytes, data, {
    name: 'the model in training',
    signal: options.signal,
    ...(report ? { onProgress: (done: number, total: number) => report({ phase: 'evaluate', epoch, epochs, done, total }) } : {}),
  });
  return result.accuracy;
}

interface State {
  compiled: CompiledNetwork;
  velocity: Float32Array;
}

/** One pass over the training set in the epoch's random order; returns the epoch's mean loss and accuracy. */
async function runEpoch(state: State, view: Dataset, teacher: Float32Array | null, step: TrainStepOptions, o: Resolved, options: TrainOptions, epoch: number): Promise<{ loss: number; accuracy: number }> {
  const { program, params, running, classes } = state.compiled;
  const order = sampleIndices(view.count, view.count, epochSeed(o.seed, epoch));
  const batches = Math.ceil(view.count / o.batchSize);
  const indicesOf = (b: number) => order.subarray(b * o.batchSize, Math.min((b + 1) * o.batchSize, view.count));
  let pending = view.take(indicesOf(0));
  let lossSum = 0;
  let correct = 0;
  let done = 0;
  try {
    for (let b = 0; b < batches; b++) {
      throwIfAborted(options.signal);
      const batch = await pending;
      if (b + 1 < batches) pending = view.take(indicesOf(b + 1)); // read the next batch while this one trains
      const n = batch.shape[0]!;
      const rows = teacher ? teacherRows(teacher, indicesOf(b), classes) : null;
      const result = await native().trainStep(program, params, running, state.velocity, batch.data, n, batch.labels!, rows, step);
      lossSum += result.loss * n;
      correct += result.correct;
      done += n;
      options.onProgress?.({ phase: 'train', epoch: epoch + 1, epochs: o.epochs, done, total: view.count, loss: lossSum / done });
    }
  } finally {
    pending.catch(() => undefined); // an abort may leave the prefetched read unawaited
  }
  return { loss: lossSum / view.count, accuracy: correct / view.count };
}

/**
 * Trains `network` (not modified) on `dataset` with SGD; with `teacher` logits ([count][classes], in the dataset's
 * order) the loss is the KD loss of `kd`, else cross-entropy.
 */
export async function trainNetwork(network: Network, dataset: Dataset, evalData: Dataset | null, teacher: Float32Array | null,
  options: TrainOptions, kd: Pick<TrainStepOptions, 'alpha' | 'temperature' | 'kdReduction'> = {}):
  Promise<Omit<TrainResult, 'warnings'>> {
  const o = resolveTrainOptions(options);
  const compiled = compileNetwork(network);
  const view = trainingView(dataset, network, compiled);
  if (teacher && teacher.length !== view.count * compiled.classes) {
    throw new ClafusionError('E_SHAPE', `teacher logits hold ${teacher.length} values, expected ${view.count} x ${compiled.classes}`);
  }
  const state: State = { compiled, velocity: new Float32Array(compiled.program.paramCount) };
  const workspace = native().trainWorkspace();
  const current = () => networkWithParameters(network, compiled.params, compiled.running);
  const initialAccuracy = evalData ? await evaluateNetwork(network, evalData, options, 0, o.epochs) : null;
  const history: EpochRecord[] = [];
  let best: { epoch: number; accuracy: number; network: Network } | null = null;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const learningRate = learningRateAt(o.schedule, o.lr, epoch);
    const step: TrainStepOptions = { learningRate, momentum: o.momentum, weightDecay: o.weightDecay, bnMomentum: o.bnMomentum, threads: o.threads, workspace, ...kd };
    const started = performance.now();
    const { loss, accuracy } = await runEpoch(state, view, teacher, step, o, options, epoch);
    const ms = performance.now() - started;
    const trained = current();
    const evalAccuracy = evalData ? await evaluateNetwork(trained, evalData, options, epoch + 1, o.epochs) : null;
    history.push({ epoch: epoch + 1, learningRate, loss, trainAccuracy: accuracy, evalAccuracy, ms, imagesPerSecond: (view.count * 1000) / ms });
    if (evalAccuracy !== null && (best === null || evalAccuracy > best.accuracy)) best = { epoch: epoch + 1, accuracy: evalAccuracy, network: trained };
  }
  const result = o.keep === 'best' && best ? best.network : current();
  return { bytes: emitModel(result).bytes, network: result, history, initialAccuracy, bestEpoch: best?.epoch ?? null, bestAccuracy: best?.accuracy ?? null };
}
