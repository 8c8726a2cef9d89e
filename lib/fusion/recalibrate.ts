/**
 * Batch-norm running statistics of a fused network, recomputed on the activation samples. The fused weights are
 * averages of two networks' weights, so the statistics of what reaches each BN are neither model's (averaging the
 * running statistics is not right either, nor is averaging folded BNs: the averaged layer's outputs have another
 * mean and variance than either model's); without this step fused ResNets with BN fall to chance. The statistics
 * are those of all samples as one batch, every BN in training mode (batch-statistics.ts, in bounded memory).
 */
import type { Dataset } from '../data/dataset.js';
import type { Network } from '../ir/network.js';
import { allLayers, cloneNetwork } from '../ir/network.js';
import { type BatchStatisticsOptions, batchStatistics } from './batch-statistics.js';

/** A copy of `network` whose BN running statistics are those of `samples` flowing through it ("BN reset"). */
export async function recalibrateBatchNorm(network: Network, samples: Dataset, options: BatchStatisticsOptions = {}):
  Promise<Network> {
  const recalibrated = cloneNetwork(network);
  const statistics = await batchStatistics(recalibrated, samples, options);
  for (const layer of allLayers(recalibrated)) {
    const found = statistics.get(layer.name);
    if (!found || !layer.batchNorm) continue;
    const { mean, variance } = found;
    layer.batchNorm = { ...layer.batchNorm, mean: Float32Array.from(mean), variance: Float32Array.from(variance) };
  }
  return recalibrated;
}
