/**
 * Records what the fusion gives on the bundled fixture pairs (examples/models/pairs.json) with data, for
 * test/stats/streaming.test.ts: the alignment, each transport map's matching and cost, and a strided sample of every
 * fused weight and BN vector. It was run on the stored-activation implementation (commit f4d2939, then again with
 * compact balancing, whose inserted blocks' inner layers take the identity map), before the streaming statistics
 * replaced it, so the test checks the streaming path against the numbers that path gave. The resnet/reference entry
 * was recorded again (streaming path, same matchings) when reference mode took the published shortcut rule for BN
 * shortcuts: the conv after a projection block reads the shortcut's plan alone, not the mean with conv2's.
 *   npx tsx scripts/record-streaming-reference.ts > test/fixtures/streaming/reference.json
 */
import { readFileSync } from 'node:fs';
import { fuse, type FuseOptions } from '../lib/fusion/index.js';
import { allLayers } from '../lib/ir/network.js';

const MODELS = 'examples/models';
const TRAIN = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';
const pairs = JSON.parse(readFileSync(`${MODELS}/pairs.json`, 'utf8')) as Record<string, { deep: string; shallow: string }>;

/** Every `stride`-th value (at most 24 of them), and the sum of |v|. */
function sample(values: ArrayLike<number>): { values: number[]; l1: number } {
  const stride = Math.max(1, Math.floor(values.length / 24));
  const picked: number[] = [];
  let l1 = 0;
  for (let k = 0; k < values.length; k++) {
    l1 += Math.abs(values[k]);
    if (k % stride === 0 && picked.length < 24) picked.push(values[k]);
  }
  return { values: picked, l1 };
}

// The euclidean metric and OT plans, the defaults when these were recorded (correlation is the default since, and
// regression maps for models with BN).
const cases: Record<string, FuseOptions> = {
  default: { data: TRAIN, samples: 200, metric: 'euclidean', maps: 'plans' },
  reference: { data: TRAIN, samples: 200, reference: true },
  wasserstein: { data: TRAIN, samples: 40, layerCost: 'wasserstein', repair: false, metric: 'euclidean', maps: 'plans' },
};

const out: Record<string, unknown> = {};
for (const [name, pair] of Object.entries(pairs)) {
  for (const [label, options] of Object.entries(cases)) {
    if (label === 'wasserstein' && name !== 'vgg') continue;
    const result = await fuse([`${MODELS}/${pair.deep}.onnx`, `${MODELS}/${pair.shallow}.onnx`], options);
    out[`${name}/${label}`] = {
      options: { ...options, data: undefined },
      mapping: result.alignments.map((a) => a.alignment.mapping),
      claCost: result.alignments.map((a) => a.alignment.groups.map((g) => g.cost)),
      layers: result.layers.map((l) => ({ layer: l.layer, matching: l.matching, cost: l.cost })),
      weights: Object.fromEntries(allLayers(result.network).map((layer) => [layer.name, {
        weight: sample(layer.op.weight.data),
        ...(layer.op.bias ? { bias: sample(layer.op.bias) } : {}),
        ...(layer.batchNorm ? { scale: sample(layer.batchNorm.scale), shift: sample(layer.batchNorm.bias), mean: sample(layer.batchNorm.mean), variance: sample(layer.batchNorm.variance) } : {}),
      }])),
    };
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`);
