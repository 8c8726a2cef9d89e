/**
 * The training recipe every "does fusion pay after training" comparison uses (issue 9, the published finetuning
 * schedule): SGD, batch 128, momentum 0.9, weight decay 5e-4, lr 0.01 for the first epoch and 0.001 after it, the
 * last epoch's weights, evaluated on the test split. Shared by benchmarks/training/compare.ts and the quality
 * harness's training stages (benchmarks/quality/stages.ts).
 */
import type { Dataset } from '../../lib/data/dataset.js';
import type { TrainOptions } from '../../lib/train/index.js';

export type Recipe = Omit<TrainOptions, 'onProgress'>;

export function specRecipe(train: Dataset, test: Dataset, epochs: number, seed: number, threads: number): Recipe {
  const schedule = epochs > 1 ? { kind: 'multistep' as const, milestones: [1], gamma: 0.1 } : { kind: 'constant' as const };
  return { data: train, evalData: test, epochs, lr: 0.01, schedule, seed, threads, batchSize: 128, momentum: 0.9, weightDecay: 5e-4 };
}

/** The first `count` samples of `dataset` (all of them when `count` is larger). */
export function firstSamples(dataset: Dataset, count: number): Dataset {
  return count >= dataset.count ? dataset : dataset.select(Array.from({ length: count }, (_, i) => i));
}
