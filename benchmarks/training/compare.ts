/**
 * Does fusion pay after training? (issue 9 items 3-4; a dev benchmark, never part of `npm test`.) With the same
 * epochs and schedule (SGD, batch 128, momentum 0.9, lr 0.01 then 0.001 after the first epoch, weight decay 5e-4)
 * on the first `--train` Fashion-MNIST training images, evaluated on the 10k test split (the last epoch's weights):
 *
 *   pairs (examples/models, deep + shallow):  fused + FT | better input + FT | fused + KD (both inputs, α 0.5, T 20)
 *   KD students (spec §4.3, teacher = deep):   scratch shallow + KD | pretrained shallow + KD | fused + KD (deep only)
 *   compression (teacher = deep, examples/models/*_student.onnx): student + FT | student + KD | scratch student + KD
 *                                              | compress (teacher depth) + KD | compress (student depth) + KD
 *
 * Usage: nice -n 10 npx tsx benchmarks/training/compare.ts [--pairs mlp,vgg] [--students mlp,vgg]
 *        [--compress mlp,vgg] [--train 15000] [--epochs 2] [--seeds 42] [--threads 1]
 * Prints one line per run and a Markdown table; writes benchmarks/results/training-<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compress } from '../../lib/compress/index.js';
import { type Dataset, openDataset, SplitMix64 } from '../../lib/data/index.js';
import { fuse } from '../../lib/fusion/index.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { allLayers, cloneNetwork, type Network } from '../../lib/ir/network.js';
import { distill, finetune, type TrainResult } from '../../lib/train/index.js';
import { firstSamples, type Recipe, specRecipe } from './recipe.js';

const here = dirname(fileURLToPath(import.meta.url));
const models = join(here, '../../examples/models');
const FASHION = '/usr/share/datasets/fashion-mnist';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const list = (name: string, fallback: string) => flag(name, fallback).split(',').filter((v) => v !== '');

interface Run { group: string; family: string; method: string; seed: number; initial: number | null; final: number; trainAccuracy: number[] }
const runs: Run[] = [];

/** A He-normal re-initialisation of `network` (BN to the identity, biases zero): a student "from scratch". */
function scratch(network: Network, seed: number): Network {
  const fresh = cloneNetwork(network);
  const random = new SplitMix64(seed);
  const uniform = () => (Number(random.next() >> 11n) + 0.5) / 2 ** 53;
  for (const layer of allLayers(fresh)) {
    const [, ...fan] = layer.op.weight.shape;
    const std = Math.sqrt(2 / fan.reduce((a, b) => a * b, 1));
    layer.op.weight.data = layer.op.weight.data.map(() => std * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
    layer.op.bias?.fill(0);
    if (layer.batchNorm) {
      layer.batchNorm.scale.fill(1);
      layer.batchNorm.bias.fill(0);
      layer.batchNorm.mean.fill(0);
      layer.batchNorm.variance.fill(1);
    }
  }
  return fresh;
}

async function record(group: string, family: string, method: string, seed: number, work: () => Promise<TrainResult>): Promise<void> {
  const started = performance.now();
  const result = await work();
  const run = { group, family, method, seed, initial: result.initialAccuracy, final: result.history.at(-1)!.evalAccuracy!, trainAccuracy: result.history.map((h) => h.trainAccuracy) };
  runs.push(run);
  console.error(`${group} ${family} ${method} seed ${seed}: ${pct(run.initial)} -> ${pct(run.final)} (train ${run.trainAccuracy.map(pct).join(' ')}) ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

const pct = (v: number | null) => (v === null ? 'n/a' : (100 * v).toFixed(2));
const path = (name: string) => join(models, `${name}.onnx`);

async function main(): Promise<void> {
  const trainCount = Number(flag('train', '15000'));
  const epochs = Number(flag('epochs', '2'));
  const seeds = list('seeds', '42').map(Number);
  const threads = Number(flag('threads', '1'));
  const full = await openDataset(`train:${FASHION}`);
  const train: Dataset = firstSamples(full, trainCount);
  const test = await openDataset(`test:${FASHION}`);
  const base = (seed: number): Recipe => specRecipe(train, test, epochs, seed, threads);
  const accuracies = (await import(join(models, 'models.json'), { with: { type: 'json' } })).default as Record<string, { accuracy_test10k: number }>;

  for (const family of list('pairs', 'mlp,vgg,resnet_nobn,resnet')) {
    const [deep, shallow] = [path(`${family}_deep`), path(`${family}_shallow`)];
    const better = accuracies[`${family}_deep`]!.accuracy_test10k >= accuracies[`${family}_shallow`]!.accuracy_test10k ? deep : shallow;
    const fused = (await fuse([deep, shallow], { data: train })).network;
    for (const seed of seeds) {
      await record('pair', family, 'fused + FT', seed, () => finetune(fused, base(seed)));
      await record('pair', family, 'better input + FT', seed, () => finetune(better, base(seed)));
      await record('pair', family, 'fused + KD', seed, () => distill(fused, [deep, shallow], base(seed)));
    }
  }
  for (const family of list('students', '')) {
    const [deep, shallow] = [path(`${family}_deep`), path(`${family}_shallow`)];
    const fused = (await fuse([deep, shallow], { data: train })).network;
    for (const seed of seeds) {
      await record('kd-students', family, 'scratch + KD', seed, () => distill(scratch(readNetwork(shallow), seed), [deep], base(seed)));
      await record('kd-students', family, 'pretrained shallow + KD', seed, () => distill(shallow, [deep], base(seed)));
      await record('kd-students', family, 'fused + KD', seed, () => distill(fused, [deep], base(seed)));
    }
  }
  for (const family of list('compress', '')) {
    const [teacher, student] = [path(`${family}_deep`), path(`${family}_student`)];
    for (const seed of seeds) {
      await record('compress', family, 'student + FT', seed, () => finetune(student, base(seed)));
      await record('compress', family, 'student + KD', seed, () => distill(student, [teacher], base(seed)));
      await record('compress', family, 'scratch student + KD', seed, () => distill(scratch(readNetwork(student), seed), [teacher], base(seed)));
      for (const depth of ['teacher', 'student'] as const) {
        await record('compress', family, `compress (${depth} depth) + KD`, seed, async () => (await compress(teacher, student, { ...base(seed), depth })).training);
      }
    }
  }
  console.log('| group | family | method | seeds | before training | after (mean) | per seed |\n|---|---|---|---|---|---|---|');
  const keys = [...new Set(runs.map((r) => `${r.group}|${r.family}|${r.method}`))];
  for (const key of keys) {
    const rows = runs.filter((r) => `${r.group}|${r.family}|${r.method}` === key);
    const mean = rows.reduce((s, r) => s + r.final, 0) / rows.length;
    console.log(`| ${key.split('|').join(' | ')} | ${rows.map((r) => r.seed).join(',')} | ${pct(rows[0]!.initial)} | ${pct(mean)} | ${rows.map((r) => pct(r.final)).join(' / ')} |`);
  }
  const out = join(here, '../results', `training-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ trainCount, epochs, seeds, threads, runs }, null, 2)}\n`);
  console.error(`wrote ${out}`);
}

await main();
