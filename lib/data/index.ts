/** Dataset readers: IDX (MNIST / Fashion-MNIST), CIFAR binary batches, NumPy .npy; deterministic sampling. */
export { Dataset, checkNormalization, type Batch, type Normalization } from './dataset.js';
export { openCifar, openIdx, openIdxDirectory, openNpy, type Split } from './open.js';
export { DATA_SPEC_HELP, dataSpecFiles, openDataset, parseDataSpec, type DataSpec, type OpenDataOptions } from './spec.js';
export { readIdx, type IdxArray } from './idx.js';
export { readCifar, type CifarVariant } from './cifar.js';
export { readNpyHeader, readNpyLabels, type NpyHeader } from './npy.js';
export { SplitMix64, sampleIndices } from './sampling.js';
export type { SampleSource, SampleEncoding } from './source.js';
export {
  NORMALIZATION_PRESETS, NORMALIZATION_PRESET_NAMES, normalizationFromFlags, resolveNormalization,
  type NormalizationChoice, type NormalizationPreset,
} from './normalization.js';
