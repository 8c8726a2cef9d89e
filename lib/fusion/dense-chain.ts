/**
 * The training-mode forward of a plain MLP in process with the native GEMM (an MLP needs no ONNX Runtime worker for
 * its batch statistics, and all its samples fit: a dense layer's outputs are `units` values per sample).
 */
import type { Dataset } from '../data/dataset.js';
import { ClafusionError } from '../errors.js';
import { datasetForModel } from '../eval/input.js';
import { applyActivationInPlace } from '../ir/activation.js';
import type { BatchNorm, Layer, Network } from '../ir/network.js';
import { gemmSync } from '../solvers/linalg.js';
import type { BatchStatistics } from './batch-statistics.js';

/** True for a plain MLP: dense layers only, no residual blocks, no spatial segments. */
export function isDenseChain(network: Network): boolean {
  return network.segments.every((segment) => segment.kind === 'flat' && (!segment.flatten || segment.flatten.globalPool === 'none')
    && segment.units.every((unit) => unit.type === 'layer' && unit.op.kind === 'dense' && !unit.pool));
}

/**
 * z = x Wᵀ + b, then per unit the batch mean and population variance (float64), BN, activation, layer after layer;
 * returns the statistics of each layer with a BN, keyed by layer name.
 */
export async function denseBatchStatistics(network: Network, samples: Dataset): Promise<Map<string, BatchStatistics>> {
  // The model's own input normalisation, read from its metadata as evaluation does (only `metadata` is used).
  const view = datasetForModel({ metadata: network.meta.metadata, name: 'the fused model' }, samples);
  const batch = await view.take(Int32Array.from({ length: view.count }, (_, i) => i));
  const n = view.count;
  let x = batch.data;
  const statistics = new Map<string, BatchStatistics>();
  for (const unit of network.segments.flatMap((s) => s.units)) {
    const layer = unit as Layer;
    const [out, inputs] = layer.op.weight.shape;
    if (x.length !== n * inputs) throw new ClafusionError('E_SHAPE', `${layer.name} takes ${inputs} features, got ${x.length / n}`);
    const z = gemmSync(x, layer.op.weight.data, n, out, inputs, { transB: true });
    if (layer.op.bias) for (let k = 0; k < z.length; k++) z[k] += layer.op.bias[k % out];
    if (layer.batchNorm) statistics.set(layer.name, normaliseInPlace(z, n, out, layer.batchNorm));
    applyActivationInPlace(layer.activation, z);
    x = z;
  }
  return statistics;
}

/** Batch mean and population variance per unit of z [n, units]; then z ← γ (z − mean) / √(var + ε) + β. */
function normaliseInPlace(z: Float32Array, n: number, units: number, bn: BatchNorm): BatchStatistics {
  const mean = new Float32Array(units);
  const variance = new Float32Array(units);
  for (let u = 0; u < units; u++) {
    let sum = 0;
    for (let s = 0; s < n; s++) sum += z[s * units + u];
    const m = sum / n;
    let squares = 0;
    for (let s = 0; s < n; s++) squares += (z[s * units + u] - m) ** 2;
    mean[u] = m;
    variance[u] = squares / n;
    const scale = bn.scale[u] / Math.sqrt(variance[u] + bn.epsilon);
    for (let s = 0; s < n; s++) z[s * units + u] = (z[s * units + u] - m) * scale + bn.bias[u];
  }
  return { mean, variance };
}
