/** The activation samples: the same seeded draw for every model, so all of them see the same inputs. */
import type { Dataset } from '../data/dataset.js';
import { sampleIndices } from '../data/sampling.js';
import { ClafusionError } from '../errors.js';

/** `samples` samples drawn from `dataset` with `seed` (the same for every model, so they see the same inputs). */
export function activationSamples(dataset: Dataset, samples: number, seed: number): Dataset {
  if (!Number.isInteger(samples) || samples < 2) throw new ClafusionError('E_ARG', `samples must be an integer >= 2, got ${samples}`);
  if (dataset.count < 2) throw new ClafusionError('E_DATA', `${dataset.name} has ${dataset.count} samples; activations need at least 2`);
  return dataset.select(sampleIndices(dataset.count, Math.min(samples, dataset.count), seed));
}
