/**
 * Optional per-pair stages after the one-shot fusion (finetuning, distillation, ...): each reports one accuracy on
 * the test split. They cost training time, so they run only when named (`npm run quality -- --stages a,b`).
 *
 * The training stages follow benchmarks/training/recipe.ts (SGD, batch 128, momentum 0.9, lr 0.01 then 0.001) for
 * QUALITY_EPOCHS epochs (default 2) on the first QUALITY_TRAIN_IMAGES training images (default all 60 000), with
 * shuffle seed QUALITY_SEED (default 42): the same budget for every stage of a pair, so they compare.
 */
import type { Dataset } from '../../lib/data/dataset.js';
import { evaluate } from '../../lib/eval/index.js';
import { distill, finetune, type TrainResult } from '../../lib/train/index.js';
import { firstSamples, type Recipe, specRecipe } from '../training/recipe.js';
import type { QualityPair } from './families.js';

export interface StageContext {
  pair: QualityPair;
  /** The pair's ONNX files, in the pair's order. */
  models: string[];
  /** The one-shot fused model of the pair under the `fuse` defaults. */
  fused: Uint8Array;
  /** The 60k training split and the 10k test split. */
  train: Dataset;
  test: Dataset;
}

export interface QualityStage {
  name: string;
  description: string;
  /** Test accuracy (0..1) of what the stage makes from the pair. */
  run(context: StageContext): Promise<number>;
}

const setting = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

async function trained(context: StageContext, work: (options: Recipe) => Promise<TrainResult>): Promise<number> {
  const train = firstSamples(context.train, setting('QUALITY_TRAIN_IMAGES', 60_000));
  const options = specRecipe(train, context.test, setting('QUALITY_EPOCHS', 2), setting('QUALITY_SEED', 42), setting('QUALITY_THREADS', 2));
  const result = await work(options);
  return result.history.at(-1)!.evalAccuracy!;
}

/** The input with the higher test accuracy. */
async function betterInput(context: StageContext): Promise<string> {
  const accuracies = await Promise.all(context.models.map(async (model) => (await evaluate(model, context.test)).accuracy));
  return context.models[accuracies.indexOf(Math.max(...accuracies))]!;
}

export const STAGES: readonly QualityStage[] = [
  { name: 'fused+ft', description: 'the fused model finetuned (cross-entropy)', run: (c) => trained(c, (o) => finetune(c.fused, o)) },
  { name: 'input+ft', description: 'the better input finetuned with the same budget', run: async (c) => {
    const input = await betterInput(c);
    return trained(c, (o) => finetune(input, o));
  } },
  { name: 'fused+kd', description: 'the fused model distilled from both inputs (α 0.5, T 20, mean reduction)',
    run: (c) => trained(c, (o) => distill(c.fused, c.models, o)) },
];
