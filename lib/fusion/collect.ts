/**
 * Recording activations through ONNX Runtime: the network is emitted with the wanted taps as extra graph outputs
 * (lib/graph/emit) and run on the activation samples (lib/eval collectOutputs, in a worker thread). Each model
 * gets its own normalisation from its metadata unless the dataset has one chosen.
 */
import type { Dataset } from '../data/dataset.js';
import { sampleIndices } from '../data/sampling.js';
import { ClafusionError } from '../errors.js';
import { collectOutputs } from '../eval/evaluate.js';
import { emitModel } from '../graph/emit.js';
import type { Network } from '../ir/network.js';
import { type Activations, type Tap, tapKey } from './activations.js';

/** `samples` samples drawn from `dataset` with `seed` (the same for every model, so they see the same inputs). */
export function activationSamples(dataset: Dataset, samples: number, seed: number): Dataset {
  if (!Number.isInteger(samples) || samples < 2) throw new ClafusionError('E_ARG', `samples must be an integer >= 2, got ${samples}`);
  if (dataset.count < 2) throw new ClafusionError('E_DATA', `${dataset.name} has ${dataset.count} samples; activations need at least 2`);
  return dataset.select(sampleIndices(dataset.count, Math.min(samples, dataset.count), seed));
}

/**
 * The network's activations at `taps` (duplicates allowed) on every sample of `dataset`. `threads`: ORT intra-op
 * threads (0: all cores; pass sharedThreads(k) when k passes run at once); `name` names the model in messages.
 */
export async function collectActivations(network: Network, taps: Tap[], dataset: Dataset, signal?: AbortSignal, threads = 0, name?: string): Promise<Activations> {
  const unique = [...new Map(taps.map((tap) => [tapKey(tap), tap])).values()];
  const activations: Activations = new Map();
  if (unique.length === 0) return activations;
  const { bytes, tapOutputs } = emitModel(network, { taps: unique });
  const outputs = await collectOutputs(bytes, dataset, [...new Set(tapOutputs)], { signal, threads, ...(name ? { name } : {}) });
  unique.forEach((tap, k) => {
    const tensor = outputs[tapOutputs[k]];
    activations.set(tapKey(tap), { data: tensor.data, shape: tensor.shape });
  });
  return activations;
}
