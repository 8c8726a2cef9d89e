/**
 * clafusion's public API. Three faces:
 *  - model fusion: `fuse`, `align`, `validateFusion` (CLAFusion + OTFusion on ONNX models);
 *  - models and data: `readNetwork` / `emitModel` (ONNX <-> Network IR), `inspectModel`, datasets, `evaluate`;
 *  - the OT solver library: `emd`, `emd2`, `sinkhorn`, `sinkhorn2`, `claAlign`, `pairwiseDistances`, `linearCka`, ...
 * Heavy calls return Promises (native work runs off the JS thread); errors are `ClafusionError`s with a stable `code`.
 */
export { ClafusionError, isClafusionError, ERROR_MEANINGS, type ErrorCode } from './errors.js';
export { availableMemoryBytes, checkAllocation } from './resources.js';
export { defaultThreads, type BuildInfo } from './native.js';

export * from './solvers/emd.js';
export * from './solvers/sinkhorn.js';
export * from './solvers/linalg.js';
export * from './solvers/cla.js';
export { benchmarkSolvers, costProblem, type BenchOptions, type BenchReport, type BenchResult, type BenchSize } from './bench/index.js';
export { gpuAvailable, gpuInfo, useGpu, type DeviceOption, type GpuInfo, type CudaDevice } from './solvers/device.js';

export * from './ir/network.js';
export { activationFunction, activationName } from './ir/activation.js';
export { readModel, writeModel, type ReadOptions, type WriteOptions } from './onnx/file.js';
export { readNetwork, recogniseModel } from './graph/recognise.js';
export { emitModel, buildModel, writeNetwork, type Tap, type EmitOptions, type EmittedModel } from './graph/emit.js';
export { networkShapes, unitOutputShapes } from './graph/shapes.js';
export { inspectModel, inspectNetwork, formatInspect, type InspectReport } from './inspect/index.js';

export * from './data/index.js';
export * from './eval/index.js';

export {
  fuse, align, type FuseOptions, type AlignOptions, type FuseResult, type AlignResult, type FuseStage, type PairAlignment,
} from './fusion/index.js';
export { validateFusion, vanillaAverage, type Validation, type ValidationOptions } from './fusion/validate.js';
export type { EffectiveFuseOptions, Provenance, InputRecord, FileRecord } from './fusion/provenance.js';
export type { PlanPreview } from './fusion/otfuse/preview.js';
export { fusionReport, type ReportOptions } from './report/index.js';
export {
  finetune, distill, compileNetwork, networkWithParameters, learningRateAt, parseSchedule,
  type FinetuneOptions, type DistillOptions, type TrainOptions, type TrainResult, type TrainProgress, type EpochRecord, type LrSchedule, type ModelArg,
} from './train/index.js';
export {
  compress, modelCost, type CompressOptions, type CompressResult, type CompressProgress, type CompressFuseOptions, type ModelCost,
} from './compress/index.js';
