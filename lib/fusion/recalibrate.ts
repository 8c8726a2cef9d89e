/**
 * Batch-norm running statistics of a fused network, recomputed on the activation samples. The fused weights are
 * averages of two networks' weights, so the statistics of what reaches each BN are neither model's (averaging the
 * running statistics is not right either, nor is averaging folded BNs: the averaged layer's outputs have another
 * mean and variance than either model's); without this step fused ResNets with BN fall to chance.
 *
 * One ONNX Runtime pass: the network is emitted with every BatchNormalization in training mode (momentum 0), which
 * normalises with the batch statistics of its input, in forward order, and returns them as running_mean /
 * running_var (population variance, as ONNX defines it). All samples form one batch, so the pass model has a free
 * batch dimension even when the network's is fixed (padding to a fixed batch, as evaluation does, would mix the
 * padding into the batch statistics).
 */
import type { Dataset } from '../data/dataset.js';
import { ClafusionError } from '../errors.js';
import { withRunner } from '../eval/evaluate.js';
import { datasetForModel, planInput } from '../eval/input.js';
import { buildModel } from '../graph/emit.js';
import { applyActivationInPlace } from '../ir/activation.js';
import type { BatchNorm, Layer, Network } from '../ir/network.js';
import { gemmSync } from '../solvers/linalg.js';
import { allLayers, cloneNetwork } from '../ir/network.js';
import { floatAttr, floatValueInfo, intAttr } from '../onnx/build.js';
import { type ModelProto, encodeModel } from '../onnx/proto.js';

/** BatchNormalization-15 has `training_mode` and optional running-statistics outputs. */
const TRAINING_OPSET = 15;

/** Turns every BN node into a training-mode one that outputs its batch statistics; returns their output names. */
function exposeBatchStatistics(model: ModelProto): { mean: string; variance: string }[] {
  // Every other op the emitter writes means the same from opset 11 to 15 (LogSoftmax/Softmax get an explicit axis 1).
  const opset = model.opsetImport.find((o) => o.domain === '');
  if (opset && opset.version < TRAINING_OPSET) opset.version = TRAINING_OPSET;
  model.irVersion = Math.max(model.irVersion, 8);
  const names: { mean: string; variance: string }[] = [];
  for (const node of model.graph.node) {
    if (node.opType !== 'BatchNormalization') continue;
    node.attribute = node.attribute.filter((a) => a.name !== 'momentum' && a.name !== 'training_mode');
    node.attribute.push(intAttr('training_mode', 1), floatAttr('momentum', 0));
    const mean = `${node.output[0]}/batch_mean`;
    const variance = `${node.output[0]}/batch_var`;
    node.output = [node.output[0], mean, variance];
    model.graph.output.push(floatValueInfo(mean, ['C']), floatValueInfo(variance, ['C']));
    names.push({ mean, variance });
  }
  return names;
}

export interface BatchStatistics {
  mean: Float32Array;
  variance: Float32Array;
}

/**
 * The batch statistics (mean, population variance) of what reaches every BN of `network` when `samples` flow
 * through it with every BN in training mode, keyed by layer name.
 */
export async function batchStatistics(network: Network, samples: Dataset, signal?: AbortSignal): Promise<Map<string, BatchStatistics>> {
  const layers = allLayers(network).filter((l) => l.batchNorm !== undefined);
  const statistics = new Map<string, BatchStatistics>();
  if (layers.length === 0) return statistics;
  if (isDenseChain(network)) return denseBatchStatistics(network, samples);
  const { model } = buildModel(withFreeBatch(network));
  const names = exposeBatchStatistics(model);
  if (names.length !== layers.length) {
    throw new ClafusionError('E_SHAPE', `the emitted model has ${names.length} batch-norms for ${layers.length} layers with batch-norm`);
  }
  const outputs = await withRunner(encodeModel(model), { name: 'the fused model' }, async (runner) => {
    const view = datasetForModel(runner, samples);
    const plan = planInput(runner, view.name, view.shape);
    const batch = await view.take(Int32Array.from({ length: view.count }, (_, i) => i));
    return runner.run({ [plan.name]: { data: batch.data, shape: [view.count, ...plan.sampleShape] } }, names.flatMap((n) => [n.mean, n.variance]), signal);
  });
  layers.forEach((layer, k) => {
    const mean = outputs[names[k].mean].data;
    if (mean.length !== layer.batchNorm!.mean.length) throw new ClafusionError('E_SHAPE', `${layer.name}: batch statistics of ${mean.length} channels for ${layer.batchNorm!.mean.length}`);
    statistics.set(layer.name, { mean, variance: outputs[names[k].variance].data });
  });
  return statistics;
}

/** `network` with a symbolic batch dimension on its input and output (weights shared, not copied). */
function withFreeBatch(network: Network): Network {
  return {
    ...network,
    input: { ...network.input, shape: ['N', ...network.input.shape.slice(1)] },
    output: { ...network.output, shape: ['N', ...network.output.shape.slice(1)] },
  };
}

/** A copy of `network` whose BN running statistics are those of `samples` flowing through it ("BN reset"). */
export async function recalibrateBatchNorm(network: Network, samples: Dataset, signal?: AbortSignal): Promise<Network> {
  const recalibrated = cloneNetwork(network);
  const statistics = await batchStatistics(recalibrated, samples, signal);
  for (const layer of allLayers(recalibrated)) {
    const found = statistics.get(layer.name);
    if (found && layer.batchNorm) layer.batchNorm = { ...layer.batchNorm, mean: Float32Array.from(found.mean), variance: Float32Array.from(found.variance) };
  }
  return recalibrated;
}

/** True for a plain MLP: dense layers only, no residual blocks, no spatial segments. */
function isDenseChain(network: Network): boolean {
  return network.segments.every((segment) => segment.kind === 'flat' && (!segment.flatten || segment.flatten.globalPool === 'none')
    && segment.units.every((unit) => unit.type === 'layer' && unit.op.kind === 'dense' && !unit.pool));
}

/**
 * The training-mode forward of a dense chain in-process with the native GEMM (an MLP needs no ONNX Runtime
 * worker for this): z = x Wᵀ + b, then per unit the batch mean and population variance (float64), BN, activation.
 */
async function denseBatchStatistics(network: Network, samples: Dataset): Promise<Map<string, BatchStatistics>> {
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
