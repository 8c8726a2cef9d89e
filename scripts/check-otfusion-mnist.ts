/**
 * Dev check (not part of `npm test`; needs /work/shared/external/otfusion-mnist): fuses the two official OTFusion
 * MNIST MLPs (784-400-200-100-10, no bias, log-softmax) in `reference` mode, in weight and in activation mode, with
 * the reference's 200 activation samples, and compares with what the official code produced:
 * accuracy on the 10k digits (wts 96.41 %, acts 97.62 %), the per-layer matchings and OT costs, and the fused
 * weights (fused_{wts,acts}.onnx). Also runs our default mode (repair, pinned classes) for comparison.
 *
 *   npx tsx scripts/check-otfusion-mnist.ts [folder]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Dataset } from '../lib/data/dataset.js';
import { MemorySource } from '../lib/data/source.js';
import { evaluate } from '../lib/eval/evaluate.js';
import { readNetwork } from '../lib/graph/recognise.js';
import { allLayers } from '../lib/ir/network.js';
import { type FuseOptions, fuse } from '../lib/fusion/index.js';

const folder = process.argv[2] ?? '/work/shared/external/otfusion-mnist';
const published = { wts: 96.41, acts: 97.62 } as const;

interface Reference {
  act_sample_indices_seed21: number[];
  wts: { perm_model0_index_for_each_model1_neuron: number[][]; ot_cost_per_layer: number[] };
  acts: { perm_model0_index_for_each_model1_neuron: number[][]; ot_cost_per_layer: number[] };
}

function digits(): Dataset {
  const images = readFileSync(join(folder, 'mnist10k_images_u8.bin'));
  const labels = Int32Array.from(readFileSync(join(folder, 'labels_u8.bin')));
  return Dataset.fromSource(new MemorySource(images, 784), [784], labels, 'mnist10k').withNormalization({ mean: [0.1307], std: [0.3081] });
}

function maxWeightDiff(a: Uint8Array, referencePath: string): number {
  const ours = allLayers(readNetwork(a));
  const theirs = allLayers(readNetwork(referencePath));
  let worst = 0;
  ours.forEach((layer, l) => layer.op.weight.data.forEach((v, k) => { worst = Math.max(worst, Math.abs(v - theirs[l].op.weight.data[k])); }));
  return worst;
}

async function main(): Promise<void> {
  const reference = JSON.parse(readFileSync(join(folder, 'reference_matchings.json'), 'utf8')) as Reference;
  const data = digits();
  const samples = data.select(reference.act_sample_indices_seed21);
  const models = [join(folder, 'model_0.onnx'), join(folder, 'model_1.onnx')];
  for (const mode of ['weights', 'activations'] as const) {
    const key = mode === 'weights' ? 'wts' : 'acts';
    for (const variant of ['reference', 'default'] as const) {
      const options: FuseOptions = { data: samples, samples: 200, mode, layerCost: 'neuron', reference: variant === 'reference' };
      const start = performance.now();
      const result = await fuse(models, options);
      const ms = performance.now() - start;
      const accuracy = 100 * (await evaluate(result.bytes, data)).accuracy;
      console.log(`${key} ${variant}: accuracy ${accuracy.toFixed(2)} % (published reference ${published[key]} %), fusion ${ms.toFixed(0)} ms`);
      if (variant !== 'reference') continue;
      const expected = reference[key];
      result.layers.forEach((layer, l) => {
        const perm = expected.perm_model0_index_for_each_model1_neuron[l];
        const same = layer.matching.filter((i, j) => i === perm[j]).length;
        console.log(`  ${layer.layer}: matching ${same}/${perm.length} equal, OT cost ${layer.cost.toFixed(4)} (reference ${expected.ot_cost_per_layer[l].toFixed(4)})`);
      });
      console.log(`  max |fused weight - official fused_${key}.onnx| = ${maxWeightDiff(result.bytes, join(folder, `fused_${key}.onnx`)).toExponential(2)}`);
    }
  }
}

await main();
