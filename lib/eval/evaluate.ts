/**
 * Accuracy, logits and intermediate outputs through ONNX Runtime. Every function takes a model as bytes, a path or
 * an open ModelRunner (which it then leaves open); models given as bytes or paths get a runner that is closed at the
 * end. Samples run in batches; `onProgress(done, total)` is called after each and an AbortSignal stops the work
 * with E_ABORTED.
 */
import type { Batch, Dataset } from '../data/dataset.js';
import { ClafusionError, requireArg } from '../errors.js';
import { batchSizeOf, concatRows, eachBatch, forward, tensorBatches, type RunOptions } from './forward.js';
import { datasetForModel, normalizationWarning, planInput, type InputPlan } from './input.js';
import type { TensorData } from './protocol.js';
import { ModelRunner, type ModelSource, type RunnerOptions } from './runner.js';

export type ModelInput = ModelSource | ModelRunner;

export interface EvaluateOptions extends RunOptions, RunnerOptions {
  /** The output holding the class scores (default: the model's first output). */
  outputName?: string;
}

export interface EvaluateResult {
  /** correct / count */
  accuracy: number;
  correct: number;
  count: number;
  samplesPerSecond: number;
  /** Wall time of the batch loop (reading, decoding, inference), without opening the model. */
  ms: number;
  /** What the caller should know, e.g. uint8 data fed as pixel/255 to a model that records no normalisation. */
  warnings: string[];
}

/** Runs `work` with a runner for `model`, closing it afterwards unless the caller passed an open one. */
export async function withRunner<T>(model: ModelInput, options: RunnerOptions, work: (runner: ModelRunner) => Promise<T>): Promise<T> {
  if (model instanceof ModelRunner) return work(model);
  const runner = await ModelRunner.open(model, options);
  try {
    return await work(runner);
  } finally {
    await runner.close();
  }
}

export function scoresOutput(runner: ModelRunner, outputName: string | undefined): string {
  const name = outputName ?? runner.outputs[0]?.name;
  if (name === undefined) throw new ClafusionError('E_SHAPE', `${runner.name} has no outputs`);
  return name;
}

export function labelsOf(dataset: Dataset): Int32Array {
  if (dataset.count === 0) throw new ClafusionError('E_DATA', `${dataset.name} has no samples to evaluate`);
  const labels = dataset.labels;
  if (!labels) throw new ClafusionError('E_DATA', `${dataset.name} has no labels; accuracy needs a labels file in the data spec`);
  return labels;
}

/** Index of the largest score in each row; ties go to the lowest index (as torch.argmax). */
export function argmaxRows(scores: ArrayLike<number>, classes: number): Int32Array {
  const rows = scores.length / classes;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[r * classes + c]! > scores[r * classes + best]!) best = c;
    out[r] = best;
  }
  return out;
}

export function classesOf(runner: ModelRunner, scores: TensorData): number {
  if (scores.shape.length !== 2) throw new ClafusionError('E_SHAPE', `${runner.name}: class scores must be [N, classes], got [${scores.shape.join(', ')}]`);
  return scores.shape[1]!;
}

export function countCorrect(predicted: Int32Array, labels: Int32Array, classes: number, dataName: string): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= classes) throw new ClafusionError('E_DATA', `${dataName} has label ${labels[i]} but the model scores only ${classes} classes`);
    if (predicted[i] === labels[i]) correct++;
  }
  return correct;
}

export function result(correct: number, count: number, started: number, warnings: (string | null)[]): EvaluateResult {
  const ms = performance.now() - started;
  const notes = warnings.filter((w): w is string => w !== null);
  const samplesPerSecond = ms > 0 ? (count * 1000) / ms : 0;
  return { accuracy: correct / count, correct, count, samplesPerSecond, ms, warnings: notes };
}

/** Top-1 accuracy of `model` on the labelled `dataset`. */
export async function evaluate(model: ModelInput, dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const labels = labelsOf(dataset);
  return withRunner(model, options, async (runner) => {
    const view = datasetForModel(runner, dataset);
    const plan = planInput(runner, view.name, view.shape);
    const output = scoresOutput(runner, options.outputName);
    const started = performance.now();
    let correct = 0;
    await eachBatch(view.batches(batchSizeOf(options), options.signal), view.count, options, async (batch) => {
      const scores = (await forward(runner, plan, batch.data, batch.shape[0]!, [output], options.signal))[output]!;
      correct += countCorrect(argmaxRows(scores.data, classesOf(runner, scores)), batch.labels!, scores.shape[1]!, view.name);
    });
    return result(correct, labels.length, started, [normalizationWarning(runner, dataset)]);
  });
}

/** Outputs named `outputNames` for every sample of `inputs` (a Dataset or an in-memory tensor [N, ...]), row-concatenated. */
async function runAll(runner: ModelRunner, inputs: Dataset | TensorData, outputNames: readonly string[], options: RunOptions): Promise<Record<string, TensorData>> {
  const batchSize = batchSizeOf(options);
  let batches: AsyncIterator<Batch>;
  let plan: InputPlan;
  let total: number;
  if ('data' in inputs) {
    requireArg(inputs.shape.length >= 2 && inputs.data.length === inputs.shape.reduce((a, b) => a * b, 1), `inputs must be [N, ...] with data of matching length, got shape [${inputs.shape.join(', ')}] and ${inputs.data.length} values`);
    plan = planInput(runner, 'the input tensor', inputs.shape.slice(1));
    batches = tensorBatches(inputs, batchSize);
    total = inputs.shape[0]!;
  } else {
    const view = datasetForModel(runner, inputs);
    plan = planInput(runner, view.name, view.shape);
    batches = view.batches(batchSize, options.signal);
    total = view.count;
  }
  const parts: Array<Record<string, TensorData>> = [];
  await eachBatch(batches, total, options, async (batch) => {
    parts.push(await forward(runner, plan, batch.data, batch.shape[0]!, outputNames, options.signal));
  });
  return Object.fromEntries(outputNames.map((name) => [name, parts.length ? concatRows(parts.map((p) => p[name]!)) : { data: new Float32Array(0), shape: [0] }]));
}

/** The class scores (default: first output) of every sample, row-major [N, classes]. */
export async function predictLogits(model: ModelInput, inputs: Dataset | TensorData, options: EvaluateOptions = {}): Promise<Float32Array> {
  return withRunner(model, options, async (runner) => {
    const output = scoresOutput(runner, options.outputName);
    return (await runAll(runner, inputs, [output], options))[output]!.data;
  });
}

/**
 * The named outputs (e.g. the "tap" outputs that lib/graph/emit adds for pre-activations) for every sample of
 * `inputs`, each concatenated over batches to [N, ...]. A Dataset is normalised as in `evaluate` (its own choice,
 * else the model's metadata); an in-memory tensor is fed as given.
 */
export async function collectOutputs(
  model: ModelInput,
  inputs: Dataset | TensorData,
  outputNames: readonly string[],
  options: RunOptions & RunnerOptions = {},
): Promise<Record<string, TensorData>> {
  requireArg(outputNames.length > 0, 'collectOutputs needs at least one output name');
  return withRunner(model, options, (runner) => runAll(runner, inputs, outputNames, options));
}
