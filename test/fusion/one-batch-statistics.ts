/**
 * The oracle of the BN batch statistics (test/fusion/batch-statistics.test.ts, benchmarks/cases/batch-statistics.ts):
 * ONE ONNX Runtime batch of all samples with every BatchNormalization in training mode (opset 15, momentum 0), which
 * normalises with the mean and population variance of its input over the batch and returns them as running_mean /
 * running_var. What lib/fusion/batch-statistics.ts computed before it went layer by layer; its memory grows with the
 * number of samples (every activation of the batch at once).
 */
import type { Dataset } from '../../lib/data/dataset.js';
import { withRunner } from '../../lib/eval/evaluate.js';
import { datasetForModel } from '../../lib/eval/input.js';
import type { BatchStatistics } from '../../lib/fusion/batch-statistics.js';
import { buildModel } from '../../lib/graph/emit.js';
import type { Network } from '../../lib/ir/network.js';
import { allLayers } from '../../lib/ir/network.js';
import { floatAttr, floatValueInfo, intAttr } from '../../lib/onnx/build.js';
import { encodeModel } from '../../lib/onnx/proto.js';

/** The batch statistics of every BN of `network` on `samples` in one ORT batch, keyed by layer name. */
export async function oneBatchStatistics(network: Network, samples: Dataset): Promise<Map<string, BatchStatistics>> {
  const free: Network = { ...network, input: { ...network.input, shape: ['N', ...network.input.shape.slice(1)] } };
  free.output = { ...network.output, shape: ['N', ...network.output.shape.slice(1)] };
  const { model } = buildModel(free);
  model.opsetImport = [{ domain: '', version: 15 }];
  model.irVersion = Math.max(model.irVersion, 8);
  const names: string[] = [];
  for (const node of model.graph.node.filter((n) => n.opType === 'BatchNormalization')) {
    node.attribute.push(intAttr('training_mode', 1), floatAttr('momentum', 0));
    node.output.push(`${node.output[0]}/mean`, `${node.output[0]}/var`);
    model.graph.output.push(floatValueInfo(node.output[1], ['C']), floatValueInfo(node.output[2], ['C']));
    names.push(node.output[0]);
  }
  const view = datasetForModel({ metadata: network.meta.metadata, name: 'oracle' }, samples);
  const batch = await view.take(Int32Array.from({ length: view.count }, (_, i) => i));
  const feeds = { [model.graph.input[0].name]: { data: batch.data, shape: [view.count, ...view.shape] } };
  const wanted = names.flatMap((n) => [`${n}/mean`, `${n}/var`]);
  const outputs = await withRunner(encodeModel(model), {}, (runner) => runner.run(feeds, wanted));
  const layers = allLayers(network).filter((l) => l.batchNorm);
  return new Map(layers.map((layer, k) => {
    const statistics = { mean: outputs[`${names[k]}/mean`].data, variance: outputs[`${names[k]}/var`].data };
    return [layer.name, statistics];
  }));
}
