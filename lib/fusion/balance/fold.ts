/**
 * Batch-norm folded into the weight op before fusion (DESIGN "Batch-norm"): with s = γ / √(var + ε),
 *
 *   W' = diag(s) W,   b' = s ⊙ (b − μ) + β,
 *
 * computes exactly the same function without the BN. Averaging folded layers averages the affine maps the models
 * actually apply; averaging the BN vectors separately does not (the running statistics of an average of weights
 * are not the average of the running statistics), which ruins fused networks with BN.
 */
import type { Layer, Network } from '../../ir/network.js';
import { allLayers, cloneNetwork } from '../../ir/network.js';

/** Folds the layer's batch-norm into its weight op, in place (nothing to do without BN). */
export function foldLayerBatchNorm(layer: Layer): void {
  const bn = layer.batchNorm;
  if (!bn) return;
  const weight = layer.op.weight;
  const width = weight.shape[0];
  const inner = weight.data.length / width;
  const data = new Float32Array(weight.data.length);
  const bias = new Float32Array(width);
  for (let o = 0; o < width; o++) {
    const scale = bn.scale[o] / Math.sqrt(bn.variance[o] + bn.epsilon);
    for (let k = 0; k < inner; k++) data[o * inner + k] = weight.data[o * inner + k] * scale;
    bias[o] = ((layer.op.bias ? layer.op.bias[o] : 0) - bn.mean[o]) * scale + bn.bias[o];
  }
  layer.op.weight = { data, shape: weight.shape };
  layer.op.bias = bias;
  delete layer.batchNorm;
}

/** A copy of `network` with every batch-norm folded into its layer (the same function, no BN left). */
export function foldBatchNorm(network: Network): Network {
  const folded = cloneNetwork(network);
  allLayers(folded).forEach(foldLayerBatchNorm);
  return folded;
}

