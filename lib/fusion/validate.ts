/**
 * Validation of a fusion (spec §0 step 4): on labelled data, the accuracy of every input model, of the fused model,
 * of the prediction ensemble (the average of the models' raw outputs, as the reference does) and of vanilla weight
 * averaging of the models as they entered the OT fusion (balanced), where their parameters have the same shapes.
 */
import type { Dataset } from '../data/dataset.js';
import { type NormalizationChoice, resolveNormalization } from '../data/normalization.js';
import { openDataset } from '../data/spec.js';
import { ClafusionError, requireArg, throwIfAborted } from '../errors.js';
import { ensembleAccuracy } from '../eval/ensemble.js';
import { type EvaluateResult, evaluate } from '../eval/evaluate.js';
import { sharedNormalization } from '../eval/input.js';
import { sharedThreads } from '../eval/runner.js';
import { emitModel } from '../graph/emit.js';
import type { Layer, Network } from '../ir/network.js';
import { allLayers, cloneNetwork } from '../ir/network.js';
import type { FuseResult } from './index.js';

export interface ValidationOptions {
  /** Averaging weights of vanilla averaging and of the ensemble, in input order (default equal). */
  weights?: number[];
  /** The input normalisation of every model (default: the one the fusion used, `result.normalization`). */
  normalization?: NormalizationChoice;
  signal?: AbortSignal;
  onProgress?: (label: string, done: number, total: number) => void;
}

export interface Validation {
  samples: number;
  models: number[];
  fused: number;
  ensemble: number;
  /** Vanilla averaging of the balanced models, or null with the reason it does not apply. */
  vanilla: number | null;
  vanillaNote?: string;
  /** E.g. uint8 data fed as pixel/255 to models that record no normalisation (validateFusion always sets it). */
  warnings?: string[];
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Why the networks' parameters cannot be averaged entry by entry, or null when they can. */
function averagingObstacle(networks: Network[]): string | null {
  const layers = networks.map(allLayers);
  for (let k = 1; k < networks.length; k++) {
    if (layers[k].length !== layers[0].length) return `the models have ${layers[0].length} and ${layers[k].length} weight layers`;
    for (let l = 0; l < layers[0].length; l++) {
      const [a, b] = [layers[0][l], layers[k][l]];
      if (!sameShape(a.op.weight.shape, b.op.weight.shape)) {
        return `layer ${l + 1} (${a.name}) has shape [${a.op.weight.shape.join(', ')}] in one model and [${b.op.weight.shape.join(', ')}] in another`;
      }
      if ((a.batchNorm === undefined) !== (b.batchNorm === undefined)) return `${a.name} has batch-norm in one model only`;
    }
  }
  return null;
}

function weightedSum(arrays: Float32Array[], weights: number[]): Float32Array {
  const out = new Float32Array(arrays[0].length);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    arrays.forEach((a, k) => { s += weights[k] * a[i]; });
    out[i] = s;
  }
  return out;
}

function averageLayer(target: Layer, layers: Layer[], weights: number[]): void {
  target.op.weight = { data: weightedSum(layers.map((l) => l.op.weight.data), weights), shape: target.op.weight.shape };
  if (layers.some((l) => l.op.bias)) {
    const width = target.op.weight.shape[0];
    target.op.bias = weightedSum(layers.map((l) => l.op.bias ?? new Float32Array(width)), weights);
  }
  const bn = target.batchNorm;
  if (bn) {
    for (const key of ['scale', 'bias', 'mean', 'variance'] as const) bn[key] = weightedSum(layers.map((l) => l.batchNorm![key]), weights);
  }
}

/** Plain parameter averaging (no alignment) of networks of identical shapes; E_SHAPE when they differ. */
export function vanillaAverage(networks: Network[], weights: number[] = networks.map(() => 1 / networks.length)): Network {
  requireArg(Array.isArray(networks) && networks.length > 0, 'vanillaAverage: pass at least one network');
  requireArg(Array.isArray(weights) && weights.length === networks.length && weights.every(Number.isFinite),
    `vanillaAverage: pass one finite weight per network (${networks.length}), got ${String(weights)}`);
  const obstacle = averagingObstacle(networks);
  if (obstacle) throw new ClafusionError('E_SHAPE', `vanilla averaging needs identical architectures: ${obstacle}`);
  const averaged = cloneNetwork(networks[0]);
  const sources = networks.map(allLayers);
  allLayers(averaged).forEach((layer, l) => averageLayer(layer, sources.map((layers) => layers[l]), weights));
  return averaged;
}

/**
 * Accuracies of the inputs (`models`: paths or bytes, as given to `fuse`), the fused model, the ensemble and
 * vanilla averaging, on `data` (a spec or a Dataset with labels), every model fed the same normalisation (that of
 * the fusion unless given). The three evaluations run at once, every session with its share of the cores;
 * `onProgress` reports each as it finishes.
 */
export async function validateFusion(models: (string | Uint8Array)[], result: FuseResult, data: string | Dataset, options: ValidationOptions = {}): Promise<Validation> {
  requireArg(Array.isArray(result?.models) && result.bytes instanceof Uint8Array, 'validateFusion: result must be what fuse returned');
  const opened = typeof data === 'string' ? await openDataset(data) : data;
  const nameOf = (i: number) => (typeof models[i] === 'string' ? models[i] : `model ${i}`);
  const infos = result.models.map((network, i) => ({ name: nameOf(i), metadata: network.meta.metadata }));
  const explicit = resolveNormalization(options.normalization) ?? result.normalization;
  const shared = sharedNormalization(infos, opened, explicit);
  const dataset = shared.normalization ? opened.withNormalization(shared.normalization) : opened;
  const total = 3; // the ensemble (with each input's own accuracy), the fused model, vanilla averaging
  let done = 0;
  const step = <T>(label: string) => (value: T): T => {
    throwIfAborted(options.signal);
    options.onProgress?.(label, ++done, total);
    return value;
  };
  const obstacle = averagingObstacle(result.models);
  const threads = sharedThreads(models.length + (obstacle ? 1 : 2));
  const run = { signal: options.signal, threads };
  const averaged: Promise<EvaluateResult | null> = obstacle ? Promise.resolve(null)
    : evaluate(emitModel(vanillaAverage(result.models, options.weights)).bytes, dataset,
      { ...run, name: 'the vanilla average' });
  const [ensemble, fused, vanilla] = await Promise.all([
    ensembleAccuracy(models, dataset, { ...run, mode: 'logits', weights: options.weights }).then(step('ensemble')),
    evaluate(result.bytes, dataset, { ...run, name: 'the fused model' }).then(step('fused')),
    averaged.then(step('vanilla')),
  ]);
  return {
    samples: ensemble.count,
    models: ensemble.modelAccuracies,
    fused: fused.accuracy,
    ensemble: ensemble.accuracy,
    vanilla: vanilla?.accuracy ?? null,
    ...(obstacle ? { vanillaNote: `not applicable: ${obstacle}` } : {}),
    warnings: shared.warnings,
  };
}
