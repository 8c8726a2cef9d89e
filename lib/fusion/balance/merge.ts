/**
 * Balancing by merging (spec §2.2, MLPs only): every unmatched dense layer of the deep network is folded into the
 * next matched layer (or the classifier), with its ReLU replaced by a fixed diagonal D = diag(d):
 *
 *   h ≈ D (W_l x + b_l)  for an unmatched l, so a run of them followed by a matched layer k gives
 *   W_k' = W_k P,  b_k' = W_k c + b_k,  with the running affine map x ↦ P x + c, P ← D W P, c ← D (W c + b).
 *
 * d comes from the layer's pre-activations a_u over the N samples:
 *   sum       d_u = 1 if Σ_s a_u(s) >= 0 else 0   (the published default)
 *   majority  d_u = 1 if #{a_u > 0} >= N/2 else 0
 *   avg       d_u = #{a_u > 0} / N               (soft)
 * The result has the shallow network's depth; the published code ignores biases (its models had none), here they
 * are folded exactly as above.
 */
import { ClafusionError } from '../../errors.js';
import { activationName } from '../../ir/activation.js';
import type { DenseOp, Layer, Network } from '../../ir/network.js';
import { cloneNetwork } from '../../ir/network.js';
import type { ChannelAccumulator } from '../../stats/accumulators.js';
import { type Tap, preactTap } from '../activations.js';

export type ReluApproximation = 'sum' | 'majority' | 'avg';

/** Per unit of a layer over its N samples: Σ_s a_u(s) and #{a_u > 0} (a layer's streamed channel sums). */
export type PreactSums = Pick<ChannelAccumulator, 'sums' | 'positives' | 'samples'>;

/** The diagonal of D for one layer from its pre-activation sums. */
export function reluMask(preact: PreactSums, method: ReluApproximation): Float64Array {
  const { sums, positives, samples } = preact;
  return sums.map((sum, u) => {
    if (method === 'sum') return sum >= 0 ? 1 : 0;
    if (method === 'majority') return positives[u] >= samples / 2 ? 1 : 0;
    return positives[u] / samples;
  });
}

/** The pre-activation taps whose sums `balanceByMerging` reads: every hidden layer of the deep network. */
export function mergeTaps(deep: Network): Tap[] {
  return deep.segments.flatMap((s) => s.units).map((unit) => preactTap(unit as Layer));
}

/** The affine map x ↦ P x + c accumulated since the last emitted layer; null P = identity. */
interface Pending {
  matrix: Float64Array | null;
  inputs: number;
  offset: Float64Array | null;
}

/** W·P and W·c + b for a dense layer after the pending map. */
function compose(op: DenseOp, pending: Pending): { weight: Float64Array; bias: Float64Array; outputs: number; inputs: number } {
  const [outputs, inner] = op.weight.shape;
  const w = op.weight.data;
  const inputs = pending.matrix ? pending.inputs : inner;
  const weight = new Float64Array(outputs * inputs);
  const bias = new Float64Array(outputs);
  for (let o = 0; o < outputs; o++) {
    bias[o] = op.bias ? op.bias[o] : 0;
    for (let k = 0; k < inner; k++) {
      const wk = w[o * inner + k];
      if (pending.offset) bias[o] += wk * pending.offset[k];
      if (!pending.matrix) weight[o * inputs + k] = wk;
      else for (let i = 0; i < inputs; i++) weight[o * inputs + i] += wk * pending.matrix[k * inputs + i];
    }
  }
  return { weight, bias, outputs, inputs };
}

function emit(layer: Layer, pending: Pending, keepBias: boolean): void {
  const { weight, bias, outputs, inputs } = compose(layer.op as DenseOp, pending);
  layer.op.weight = { data: Float32Array.from(weight), shape: [outputs, inputs] };
  if (keepBias) layer.op.bias = Float32Array.from(bias);
}

/** True when `network` is an MLP that merging supports: every hidden unit a dense layer without batch-norm. */
export function canMerge(network: Network): boolean {
  return network.segments.every((s) => s.units.every((u) => u.type === 'layer' && u.op.kind === 'dense' && !u.batchNorm));
}

function requireMergeable(network: Network): Layer[] {
  const layers: Layer[] = [];
  for (const unit of network.segments.flatMap((s) => s.units)) {
    if (unit.type !== 'layer' || unit.op.kind !== 'dense' || unit.batchNorm) {
      throw new ClafusionError('E_ARG', `the 'merge' balancing supports only MLPs (dense layers without batch-norm), but ${unit.name} is not one; use 'add'`);
    }
    if (unit.activation !== 'relu') {
      throw new ClafusionError('E_ARG', `the 'merge' balancing replaces ReLUs by fixed masks, but ${unit.name} has ` +
        `activation ${activationName(unit.activation)}; use 'add'`);
    }
    layers.push(unit);
  }
  return layers;
}

/**
 * A copy of `deep` with its hidden layers not in `matched` (1-based hidden-layer indices) merged into the next kept
 * layer. `preacts(tap)` gives the sums of the deep network's pre-activations at the merged layers (`mergeTaps`).
 */
export function balanceByMerging(deep: Network, matched: number[], preacts: (tap: Tap) => PreactSums, method: ReluApproximation = 'sum'): Network {
  const merged = cloneNetwork(deep);
  const layers = requireMergeable(merged);
  const keep = new Set(matched);
  const hasBias = layers.some((l) => l.op.bias) || merged.classifier.op.bias !== undefined;
  let pending: Pending = { matrix: null, inputs: 0, offset: null };
  layers.forEach((layer, index) => {
    if (keep.has(index + 1)) {
      emit(layer, pending, hasBias);
      pending = { matrix: null, inputs: 0, offset: null };
      return;
    }
    const mask = reluMask(preacts(preactTap(layer)), method);
    const { weight, bias, inputs } = compose(layer.op as DenseOp, pending);
    for (let o = 0; o < mask.length; o++) {
      for (let i = 0; i < inputs; i++) weight[o * inputs + i] *= mask[o];
      bias[o] *= mask[o];
    }
    pending = { matrix: weight, inputs, offset: bias };
  });
  emit(merged.classifier, pending, hasBias);
  let position = 0;
  for (const segment of merged.segments) segment.units = segment.units.filter(() => keep.has(++position));
  return merged;
}
