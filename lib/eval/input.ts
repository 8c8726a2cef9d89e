/**
 * Fitting a dataset to a model's input: which graph input to feed, the per-sample shape the model wants, a fixed
 * batch size if the model has one, and the normalisation (the model's metadata when the dataset has none chosen).
 */
import type { Dataset, Normalization } from '../data/dataset.js';
import { describeNormalization, sameNormalization } from '../data/normalization.js';
import { ClafusionError, requireArg } from '../errors.js';
import type { ModelRunner } from './runner.js';

export interface InputPlan {
  name: string;
  /** Per-sample shape fed to the model (the data's shape, or the model's when it wants a reshape, e.g. flat). */
  sampleShape: number[];
  /** The model's batch dimension when it is a fixed number; batches are then padded to it. */
  fixedBatch: number | null;
}

const MEAN_KEY = 'clafusion.input_mean';
const STD_KEY = 'clafusion.input_std';

function mismatch(runner: ModelRunner, dataName: string, dataShape: readonly number[], modelShape: readonly (number | string)[]): ClafusionError {
  return new ClafusionError(
    'E_DATA',
    `${dataName} has samples of shape [${dataShape.join(', ')}] but ${runner.name} expects input [${modelShape.join(', ')}]; use data made for this model`,
  );
}

/**
 * Matches per-sample data of `dataShape` to the model's single float32 input [batch, ...rest]: equal ranks must agree
 * on every numeric dimension (symbolic ones take the data's); otherwise a reshape is allowed when `rest` is fully
 * numeric and holds as many elements (e.g. [1, 28, 28] images into a [784] MLP input).
 */
export function planInput(runner: ModelRunner, dataName: string, dataShape: readonly number[]): InputPlan {
  if (runner.inputs.length !== 1 || runner.inputs[0]!.type !== 'float32') {
    const described = runner.inputs.map((i) => `${i.name}: ${i.type}`).join(', ');
    throw new ClafusionError('E_DATA', `${runner.name} has inputs (${described}); evaluation feeds exactly one float32 input`);
  }
  const { name, shape } = runner.inputs[0]!;
  const [batch, ...rest] = shape;
  if (batch === undefined) throw mismatch(runner, dataName, dataShape, shape);
  const fixedBatch = typeof batch === 'number' && batch > 0 ? batch : null;
  const size = dataShape.reduce((a, b) => a * b, 1);
  if (rest.length === dataShape.length) {
    if (rest.some((d, i) => typeof d === 'number' && d !== dataShape[i])) throw mismatch(runner, dataName, dataShape, shape);
    return { name, sampleShape: [...dataShape], fixedBatch };
  }
  const numeric = rest.every((d): d is number => typeof d === 'number');
  if (!numeric || rest.reduce((a, b) => a * (b as number), 1) !== size) throw mismatch(runner, dataName, dataShape, shape);
  return { name, sampleShape: rest as number[], fixedBatch };
}

function parseChannelList(metadata: Readonly<Record<string, string>>, key: string, modelName: string): number[] | undefined {
  const text = metadata[key];
  if (text === undefined) return undefined;
  const values = text.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (values.some((v) => !Number.isFinite(v))) {
    throw new ClafusionError('E_DATA', `${modelName}: metadata ${key} = '${text}' is not a comma-separated list of numbers`);
  }
  return values;
}

/**
 * The normalisation recorded in a model's metadata_props (clafusion.input_mean / clafusion.input_std, one value or
 * one per channel), if any; `metadata` as in ModelRunner.metadata or Network.meta.metadata.
 */
export function normalizationFromMetadata(metadata: Readonly<Record<string, string>>, modelName: string): Normalization | null {
  const mean = parseChannelList(metadata, MEAN_KEY, modelName);
  const std = parseChannelList(metadata, STD_KEY, modelName);
  if (mean === undefined && std === undefined) return null;
  return { mean: mean ?? [0], std: std ?? [1] };
}

/** The metadata_props entries that record `normalization` (read back by normalizationFromMetadata). */
export function normalizationMetadata(normalization: Normalization): Record<string, string> {
  requireArg(Array.isArray(normalization?.mean) && Array.isArray(normalization.std), 'normalizationMetadata: pass { mean: number[], std: number[] }');
  return { [MEAN_KEY]: normalization.mean.join(','), [STD_KEY]: normalization.std.join(',') };
}

/** A model as the normalisation rules read it: its name for messages and its metadata_props. */
export type ModelInputInfo = Pick<ModelRunner, 'metadata' | 'name'>;

/**
 * The dataset as this model should see it: an explicitly chosen normalisation wins; otherwise uint8 data gets the
 * model's metadata normalisation (or none), and float data is fed as stored.
 */
export function datasetForModel(runner: ModelInputInfo, dataset: Dataset): Dataset {
  if (dataset.normalization || dataset.encoding === 'f32') return dataset;
  return dataset.withNormalization(normalizationFromMetadata(runner.metadata, runner.name));
}

/**
 * The warning for uint8 data that reaches `model` with no normalisation chosen and none in the model's metadata
 * (it is then fed pixel/255, which is wrong for a model trained on normalised inputs), or null.
 */
export function normalizationWarning(model: ModelInputInfo, dataset: Dataset): string | null {
  if (dataset.normalization || dataset.encoding !== 'u8') return null;
  if (normalizationFromMetadata(model.metadata, model.name)) return null;
  return `${model.name} records no input normalisation (metadata ${MEAN_KEY} / ${STD_KEY}) and none was given, ` +
    `so the uint8 samples of ${dataset.name} are fed as pixel/255; if the model was trained on normalised inputs, ` +
    'give --normalize <preset> or --mean/--std (API: normalization)';
}

/** One normalisation for several models, and what the caller should be told about it. */
export interface SharedNormalization {
  /** undefined: none recorded and none given (each model then sees the data as evaluation would). */
  normalization: Normalization | undefined;
  warnings: string[];
}

/**
 * The normalisation that models which must see the same inputs (the inputs of a fusion, a student and its
 * teachers) share: `explicit` (or the dataset's own) when given; float data is fed as stored; otherwise the one their
 * metadata records, which must agree (E_ARG names the disagreeing models); models that record none take it, with a
 * warning. With nothing recorded or given, uint8 data gets the pixel/255 warning of each model. Without a dataset
 * (weight-only fusion) only the agreement is checked.
 */
export function sharedNormalization(models: ModelInputInfo[], dataset: Dataset | undefined, explicit?: Normalization):
  SharedNormalization {
  if (explicit || dataset?.normalization) return { normalization: explicit ?? dataset?.normalization, warnings: [] };
  if (dataset?.encoding === 'f32') return { normalization: undefined, warnings: [] };
  const recorded = models.map((m) => ({ model: m, normalization: normalizationFromMetadata(m.metadata, m.name) }));
  type Known = { model: ModelInputInfo; normalization: Normalization };
  const known = recorded.filter((r): r is Known => r.normalization !== null);
  if (known.length === 0) {
    return { normalization: undefined, warnings: dataset ? models.map((m) => normalizationWarning(m, dataset)!) : [] };
  }
  const first = known[0];
  const chosen = describeNormalization(first.normalization);
  const other = known.find((r) => !sameNormalization(r.normalization, first.normalization));
  if (other) {
    throw new ClafusionError('E_ARG', `${first.model.name} records input normalisation ${chosen} but ` +
      `${other.model.name} records ${describeNormalization(other.normalization)}; models that see the same inputs ` +
      'need one normalisation: give it explicitly (--normalize or --mean/--std; API: normalization) to override both');
  }
  const warnings = recorded.filter((r) => r.normalization === null)
    .map((r) => `${r.model.name} records no input normalisation; it is fed ${first.model.name}'s (${chosen})`);
  return { normalization: first.normalization, warnings };
}
