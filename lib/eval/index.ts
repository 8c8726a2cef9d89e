/** Evaluation with ONNX Runtime (CPU, in worker threads): accuracy, logits, intermediate outputs, ensembles. */
export { ModelRunner, sharedThreads, type ModelSource, type RunnerOptions } from './runner.js';
export { configureWorkerPool, type WorkerPoolOptions } from './pool.js';
export { collectOutputs, evaluate, predictLogits, type EvaluateOptions, type EvaluateResult, type ModelInput } from './evaluate.js';
export { ensembleAccuracy, type EnsembleMode, type EnsembleOptions, type EnsembleResult } from './ensemble.js';
export {
  datasetForModel, normalizationFromMetadata, normalizationMetadata, normalizationWarning, planInput,
  sharedNormalization, type InputPlan, type ModelInputInfo, type SharedNormalization,
} from './input.js';
export { DEFAULT_BATCH_SIZE, type RunOptions } from './forward.js';
export type { SessionInfo, TensorData, ValueInfo } from './protocol.js';
