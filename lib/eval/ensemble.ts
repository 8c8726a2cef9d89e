/**
 * The prediction ensemble: per sample, a weighted average of the models' outputs, then argmax.
 *
 *   mode 'logits':        s = Σ_m w_m · z_m                 (the raw outputs, as the reference does: logits for
 *                                                            CIFAR, log-probabilities for its log-softmax MLPs)
 *   mode 'probabilities': s = Σ_m w_m · softmax(z_m)
 *
 * with weights w_m ≥ 0 summing to 1 (default 1/M). Sums are in float64 over the float32 outputs.
 */
import type { Dataset } from '../data/dataset.js';
import { ClafusionError, requireArg, throwIfAborted } from '../errors.js';
import { batchSizeOf, forward } from './forward.js';
import { datasetForModel, normalizationWarning, planInput } from './input.js';
import { argmaxRows, classesOf, countCorrect, labelsOf, result, scoresOutput, type EvaluateOptions, type EvaluateResult, type ModelInput } from './evaluate.js';
import { ModelRunner, sharedThreads } from './runner.js';

export type EnsembleMode = 'logits' | 'probabilities';

export interface EnsembleOptions extends EvaluateOptions {
  mode?: EnsembleMode;
  /** One non-negative weight per model; normalised to sum 1 (default: equal weights). */
  weights?: number[];
}

export interface EnsembleResult extends EvaluateResult {
  /** Each model's own accuracy on the same samples. */
  modelAccuracies: number[];
}

function normalisedWeights(weights: number[] | undefined, models: number): number[] {
  if (weights === undefined) return new Array<number>(models).fill(1 / models);
  requireArg(weights.length === models, `weights needs one value per model (${models}), got ${weights.length}`);
  requireArg(weights.every((w) => Number.isFinite(w) && w >= 0), `weights must be finite and non-negative, got [${weights.join(', ')}]`);
  const total = weights.reduce((a, b) => a + b, 0);
  requireArg(total > 0, 'weights must not all be zero');
  return weights.map((w) => w / total);
}

/** Adds w · row-softmax(z) (or w · z) into `sum`. */
function accumulate(sum: Float64Array, z: Float32Array, classes: number, weight: number, mode: EnsembleMode): void {
  for (let r = 0; r < z.length / classes; r++) {
    const row = z.subarray(r * classes, (r + 1) * classes);
    if (mode === 'logits') {
      for (let c = 0; c < classes; c++) sum[r * classes + c]! += weight * row[c]!;
      continue;
    }
    const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
    let norm = 0;
    for (let c = 0; c < classes; c++) norm += Math.exp(row[c]! - max);
    for (let c = 0; c < classes; c++) sum[r * classes + c]! += (weight * Math.exp(row[c]! - max)) / norm;
  }
}

/**
 * Opens every model at once (or uses the open runners), runs `work`, closes what it opened. The models run side by
 * side, so without a thread count each session gets its share of the cores.
 */
async function withRunners<T>(models: readonly ModelInput[], options: EvaluateOptions, work: (runners: ModelRunner[]) => Promise<T>): Promise<T> {
  const runnerOptions = { ...options, threads: options.threads ?? sharedThreads(models.length) };
  const opened = await Promise.allSettled(models.map((model) => (model instanceof ModelRunner ? model : ModelRunner.open(model, runnerOptions))));
  const ours = opened.flatMap((o, i) => (o.status === 'fulfilled' && !(models[i] instanceof ModelRunner) ? [o.value] : []));
  try {
    const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    return await work(opened.map((o) => (o as PromiseFulfilledResult<ModelRunner>).value));
  } finally {
    await Promise.all(ours.map((runner) => runner.close()));
  }
}

/**
 * Accuracy of the prediction ensemble of `models` on `dataset` (each model sees the dataset with its own
 * normalisation), with each model's own accuracy. Models run concurrently, one worker each.
 */
export async function ensembleAccuracy(models: readonly ModelInput[], dataset: Dataset, options: EnsembleOptions = {}): Promise<EnsembleResult> {
  requireArg(models.length > 0, 'ensembleAccuracy needs at least one model');
  const labels = labelsOf(dataset);
  const weights = normalisedWeights(options.weights, models.length);
  const mode = options.mode ?? 'logits';
  requireArg(mode === 'logits' || mode === 'probabilities', `mode must be 'logits' or 'probabilities', got '${mode}'`);
  const batchSize = batchSizeOf(options);
  return withRunners(models, options, async (runners) => {
    const views = runners.map((runner) => datasetForModel(runner, dataset));
    const plans = runners.map((runner, m) => planInput(runner, views[m]!.name, views[m]!.shape));
    const outputs = runners.map((runner) => scoresOutput(runner, options.outputName));
    const started = performance.now();
    const correctPerModel = new Array<number>(models.length).fill(0);
    let correct = 0;
    for (let start = 0; start < dataset.count; start += batchSize) {
      throwIfAborted(options.signal);
      const indices = Int32Array.from({ length: Math.min(batchSize, dataset.count - start) }, (_, i) => start + i);
      const batchLabels = labels.subarray(start, start + indices.length);
      const scores = await Promise.all(
        runners.map(async (runner, m) => {
          const batch = await views[m]!.take(indices);
          return (await forward(runner, plans[m]!, batch.data, indices.length, [outputs[m]!], options.signal))[outputs[m]!]!;
        }),
      );
      const classes = classesOf(runners[0]!, scores[0]!);
      const sum = new Float64Array(indices.length * classes);
      scores.forEach((s, m) => {
        if (classesOf(runners[m]!, s) !== classes) throw new ClafusionError('E_SHAPE', `${runners[m]!.name} scores ${s.shape[1]} classes but ${runners[0]!.name} scores ${classes}`);
        correctPerModel[m]! += countCorrect(argmaxRows(s.data, classes), batchLabels, classes, dataset.name);
        accumulate(sum, s.data, classes, weights[m]!, mode);
      });
      correct += countCorrect(argmaxRows(sum, classes), batchLabels, classes, dataset.name);
      options.onProgress?.(start + indices.length, dataset.count);
    }
    const warnings = runners.map((runner) => normalizationWarning(runner, dataset));
    const modelAccuracies = correctPerModel.map((c) => c / labels.length);
    return { ...result(correct, labels.length, started, warnings), modelAccuracies };
  });
}
