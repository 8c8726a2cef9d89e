/**
 * Batch-norm running statistics of a fused network, recomputed on the activation samples. The fused weights are
 * averages of two networks' weights, so the statistics of what reaches each BN are neither model's (averaging the
 * running statistics is not right either, nor is averaging folded BNs: the averaged layer's outputs have another
 * mean and variance than either model's); without this step fused ResNets with BN fall to chance.
 *
 * One ONNX Runtime pass: the network is emitted with every BatchNormalization in training mode (momentum 0), which
 * normalises with the batch statistics of its input, in forward order, and returns them as running_mean /
 * running_var (population variance, as ONNX defines it). All samples form one batch.
 */
import type { Dataset } from '../data/dataset.js';
import { ClafusionError } from '../errors.js';
import { withRunner } from '../eval/evaluate.js';
import { datasetForModel, planInput } from '../eval/input.js';
import { buildModel } from '../graph/emit.js';
import type { Network } from '../ir/network.js';
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
  const { model } = buildModel(network);
  const names = exposeBatchStatistics(model);
  if (names.length !== layers.length) {
    throw new ClafusionError('E_SHAPE', `the emitted model has ${names.length} batch-norms for ${layers.length} layers with batch-norm`);
  }
  const outputs = await withRunner(encodeModel(model), {}, async (runner) => {
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
