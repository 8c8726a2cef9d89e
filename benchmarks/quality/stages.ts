/**
 * Optional per-pair stages after the one-shot fusion (finetuning, distillation, ...): each reports one accuracy on
 * the test split. They cost training time, so they run only when named (`npm run quality -- --stages a,b`).
 */
import type { Dataset } from '../../lib/data/dataset.js';
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

export const STAGES: readonly QualityStage[] = [];
