/**
 * Batch statistics of a network's BNs in training mode: what reaches every BatchNormalization when all the samples
 * flow through the network as ONE batch and every BN normalises with the mean and population variance of its
 * input over that batch (the earlier BNs normalised the same way). The statistics repair (repair.ts) and the BN
 * recalibration (recalibrate.ts) read them.
 *
 * A plain MLP runs in process with the native GEMM (dense-chain.ts). Every other network goes layer by layer in
 * bounded memory (layerwise-statistics.ts): one BN-delimited stage at a time over chunks of samples, holding only
 * the tensors alive between stages (in memory, or on disk when they do not fit the budget), each BN's statistics
 * float64 sums over all samples before the next stage normalises with them. The numbers do not depend on the
 * budget, the chunk size or where the tensors are held (the budget is how to run, not what to compute).
 */
import type { Dataset } from '../data/dataset.js';
import { ClafusionError } from '../errors.js';
import { datasetForModel } from '../eval/input.js';
import { buildModel } from '../graph/emit.js';
import type { Network } from '../ir/network.js';
import { allLayers } from '../ir/network.js';
import type { ModelProto } from '../onnx/proto.js';
import { denseBatchStatistics, isDenseChain } from './dense-chain.js';
import { type LayerwisePlan, layerwiseStatistics, planLayerwise } from './layerwise-statistics.js';

export interface BatchStatistics {
  mean: Float32Array;
  variance: Float32Array;
}

export interface BatchStatisticsOptions {
  /** Bytes the pass may use (default: stream.ts passBudget, a quarter of the free memory up to 2 GiB, or the least the pass needs). */
  memoryBytes?: number;
  /** Samples per chunk of the layer-by-layer pass (default: as many as the budget allows; results do not change). */
  chunkSize?: number;
  signal?: AbortSignal;
  /** Where the layer-by-layer pass holds the tensors alive between stages; 'auto' (default): memory when they fit. */
  hold?: 'auto' | 'memory' | 'disk';
  /** Folder for the temp folder of spilled tensors (default: CLAFUSION_SPILL_DIR, else the OS temp folder). */
  spillDirectory?: string;
}

/** How {@link batchStatistics} gets the numbers for a network, its samples and a budget. */
export interface BatchStatisticsPlan {
  /** 'none': no BN; 'dense': an MLP, in process; 'layerwise': stage by stage. */
  pass: 'none' | 'dense' | 'layerwise';
  /** The stages, chunk size and holding of pass 'layerwise'. */
  layerwise?: LayerwisePlan;
}

/** The pass for `network` on `samples` within the budget (E_RESOURCE, before anything runs, when nothing fits). */
export function planBatchStatistics(network: Network, samples: Dataset, options: BatchStatisticsOptions = {}):
  BatchStatisticsPlan {
  return plan(network, samples, options).plan;
}

function plan(network: Network, samples: Dataset, options: BatchStatisticsOptions):
  { plan: BatchStatisticsPlan; model?: ModelProto; view?: Dataset } {
  if (!allLayers(network).some((l) => l.batchNorm !== undefined)) return { plan: { pass: 'none' } };
  if (isDenseChain(network)) return { plan: { pass: 'dense' } };
  const { model } = buildModel(withFreeBatch(network));
  const view = datasetForModel({ metadata: network.meta.metadata, name: 'the fused model' }, samples);
  const layerwise = planLayerwise(model, view, options);
  return { plan: { pass: 'layerwise', layerwise }, model, view };
}

/**
 * The batch statistics (mean, population variance) of what reaches every BN of `network` when `samples` flow
 * through it as one batch with every BN in training mode, keyed by layer name.
 */
export async function batchStatistics(network: Network, samples: Dataset, options: BatchStatisticsOptions = {}):
  Promise<Map<string, BatchStatistics>> {
  const { plan: chosen, model, view } = plan(network, samples, options);
  if (chosen.pass === 'none') return new Map();
  if (chosen.pass === 'dense') return denseBatchStatistics(network, samples);
  const statistics = await layerwiseStatistics(model!, view!, chosen.layerwise!, options);
  const layers = allLayers(network).filter((l) => l.batchNorm !== undefined);
  if (statistics.length !== layers.length) {
    throw new ClafusionError('E_SHAPE',
      `the emitted model has ${statistics.length} batch-norms for ${layers.length} layers with batch-norm`);
  }
  const byLayer = new Map<string, BatchStatistics>();
  layers.forEach((layer, k) => {
    const { mean } = statistics[k];
    if (mean.length !== layer.batchNorm!.mean.length) {
      throw new ClafusionError('E_SHAPE',
        `${layer.name}: batch statistics of ${mean.length} channels for ${layer.batchNorm!.mean.length}`);
    }
    byLayer.set(layer.name, statistics[k]);
  });
  return byLayer;
}

/** `network` with a symbolic batch dimension on its input and output (weights shared, not copied). */
function withFreeBatch(network: Network): Network {
  return {
    ...network,
    input: { ...network.input, shape: ['N', ...network.input.shape.slice(1)] },
    output: { ...network.output, shape: ['N', ...network.output.shape.slice(1)] },
  };
}
