/**
 * Statistics repair of a fused network (REPAIR, Jordan et al. 2022, "REPAIR: REnormalizing Permuted Activations for
 * Interpolation Repair"). Averaging two aligned networks shrinks the spread of the hidden pre-activations (the
 * averaged units are only partly correlated), which compounds with depth; narrow CNNs then fall toward chance. The
 * fix: make every hidden unit of the fused network have the mean and standard deviation that the models' aligned
 * units have, averaged with the fusion weights:
 *
 *   μ* = Σ_s w_s T̂_sᵀ μ_s + w_t μ_t,   σ* = Σ_s w_s T̂_sᵀ σ_s + w_t σ_t     (per unit, over samples and positions)
 *
 * Every repaired layer gets a batch-norm with scale σ* and shift μ* (for a layer with its own BN: in its place, with
 * the sign of its averaged scale), normalising with the statistics of the fused network's own outputs on the
 * activation samples, all of them as one batch (training-mode BN normalises each layer after the earlier ones are
 * fixed; batch-statistics.ts computes them in bounded memory). The BN becomes the layer's inference BN, or is folded
 * into a layer that had none, so the architecture does not change. For the fusion of a network with a permuted copy
 * of itself the targets are its own statistics, and the repair changes nothing (a BN with γ > 0 is the unique increasing
 * affine map with those output statistics).
 */
import type { Dataset } from '../data/dataset.js';
import type { BatchNorm, Network } from '../ir/network.js';
import { allLayers, cloneNetwork } from '../ir/network.js';
import { foldLayerBatchNorm } from './balance/fold.js';
import { type BatchStatistics, type BatchStatisticsOptions, batchStatistics } from './batch-statistics.js';

/** Per-unit mean and (population) standard deviation of pre-activations. */
export interface UnitStatistics {
  mean: Float64Array;
  std: Float64Array;
}

/**
 * Epsilon of the normalisation during the repair pass: tiny, so that a layer already at its target statistics (the
 * fusion of a network with a permuted copy of itself) keeps its function to float precision.
 */
const PASS_EPSILON = 1e-10;

/** The BN that maps a layer's output to mean μ* and standard deviation σ* in the pass (sign: that of the layer's scale). */
function passBatchNorm(target: UnitStatistics, own: BatchNorm | undefined): BatchNorm {
  const sign = (c: number) => (own && own.scale[c] < 0 ? -1 : 1);
  return {
    scale: Float32Array.from(target.std, (v, c) => sign(c) * v),
    bias: Float32Array.from(target.mean),
    mean: new Float32Array(target.mean.length),
    variance: new Float32Array(target.mean.length).fill(1),
    epsilon: PASS_EPSILON,
  };
}

/**
 * The inference BN equal to the pass's normalisation y = γ (z − m) / √(v + ε_pass) + β, with the layer's own epsilon
 * (or the pass epsilon for a BN that will be folded away).
 */
function inferenceBatchNorm(pass: BatchNorm, found: BatchStatistics, epsilon: number): BatchNorm {
  const scale = Float32Array.from(pass.scale, (g, c) => g * Math.sqrt((found.variance[c] + epsilon) / (found.variance[c] + PASS_EPSILON)));
  return { scale, bias: pass.bias, mean: Float32Array.from(found.mean), variance: Float32Array.from(found.variance), epsilon };
}

/**
 * `network` repaired towards `targets` (layer name → desired statistics; other layers are left alone) on `samples`.
 * Returns a new network with the same architecture.
 */
export async function repairStatistics(network: Network, targets: Map<string, UnitStatistics>, samples: Dataset,
  options: BatchStatisticsOptions = {}): Promise<Network> {
  const repaired = cloneNetwork(network);
  const own = new Map<string, BatchNorm | undefined>();
  for (const layer of allLayers(repaired)) {
    const target = targets.get(layer.name);
    if (!target || layer === repaired.classifier) continue;
    own.set(layer.name, layer.batchNorm);
    layer.batchNorm = passBatchNorm(target, layer.batchNorm);
  }
  const statistics = await batchStatistics(repaired, samples, options);
  for (const layer of allLayers(repaired)) {
    if (!own.has(layer.name)) continue;
    const original = own.get(layer.name);
    const bn = inferenceBatchNorm(layer.batchNorm!, statistics.get(layer.name)!, original?.epsilon ?? PASS_EPSILON);
    layer.batchNorm = bn;
    if (!original) foldLayerBatchNorm(layer);
  }
  return repaired;
}
