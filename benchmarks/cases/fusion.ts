/**
 * End-to-end CLAFusion of the heterogeneous fixture pairs (activation mode, 200 samples, exact EMD, statistics
 * repair): MLP 784-400-200-100-50-25 + 784-400-200-100, and the BN ResNet pair ([3,3,3] + [2,2,2] blocks). The whole
 * MLP fusion has a goal of 1 s (baseline "goal 1000 ms", ratio = 1000 / ours). One record per pair with the median
 * total, and one per stage (load, activations, alignment, balancing, fusion, repair, emit) with its median. The
 * first repetition starts the ONNX Runtime workers that later ones reuse; its total is in the note ("cold").
 *
 * Scaling: a synthetic CIFAR-style pair built as IR with random weights, ResNet34-like (BasicBlocks [3,4,6,3]) and
 * ResNet18-like ([2,2,2,2]), widths 64/128/256/512, 3x32x32 input, 3x3 stem without max-pool, BN, fused on 200
 * random uint8 images: in activation mode (CKA alignment, activation ground cost, repair), and in weight mode without
 * data (neuron-count alignment, weight ground cost). The OT problems are up to 512 x 512, the CKA Grams 200 x 200
 * over up to 200 x 65536 activations.
 *
 * The bundled ResNet pair's whole fusion is also set against the work nothing can skip: one plain ONNX Runtime
 * forward pass of both models over the same 200 samples, run at once (sessions opened beforehand, not timed). The
 * issue's goal is a fusion within 3x that pass (ratio = pass / fusion, goal 1/3).
 */
import { Dataset } from '../../lib/data/dataset.js';
import { openDataset } from '../../lib/data/spec.js';
import { MemorySource } from '../../lib/data/source.js';
import { predictLogits } from '../../lib/eval/evaluate.js';
import { ModelRunner, sharedThreads } from '../../lib/eval/runner.js';
import { activationSamples } from '../../lib/fusion/collect.js';
import { fuse, type FuseOptions, type FuseStage } from '../../lib/fusion/index.js';
import { emitModel } from '../../lib/graph/emit.js';
import { buildResnet, rng } from '../../test/fusion/helpers.js';
import type { BenchContext, BenchRecord } from '../types.js';

const DATA = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';
const GOAL_MS = 1000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function measure(name: string, size: string, models: (string | Uint8Array)[], options: FuseOptions, repetitions: number, goal: boolean): Promise<BenchRecord[]> {
  const totals: number[] = [];
  const stages = new Map<FuseStage, number[]>();
  for (let r = 0; r < repetitions; r++) {
    const start = performance.now();
    const result = await fuse(models, options);
    totals.push(performance.now() - start);
    for (const [stage, ms] of Object.entries(result.timings) as [FuseStage, number][]) stages.set(stage, [...(stages.get(stage) ?? []), ms]);
  }
  const ours = median(totals);
  const breakdown = [...stages].map(([stage, ms]) => `${stage} ${median(ms).toFixed(0)}`).join(', ');
  const note = `stages (ms): ${breakdown}; cold ${totals[0].toFixed(0)} ms`;
  const total: BenchRecord = goal
    ? { case: name, size, ours_ms: ours, baseline: `goal ${GOAL_MS} ms`, baseline_ms: GOAL_MS, ratio: GOAL_MS / ours, goal: 1, note }
    : { case: name, size, ours_ms: ours, baseline: 'none', baseline_ms: null, ratio: null, note };
  const perStage = [...stages].map(([stage, ms]): BenchRecord => ({
    case: `${name}:${stage}`, size, ours_ms: median(ms), baseline: 'none', baseline_ms: null, ratio: null,
  }));
  return [total, ...perStage];
}

/** Median ms of one forward pass of every model (at once) over the fusion's 200 activation samples. */
async function plainForward(models: string[], repetitions: number): Promise<number> {
  const samples = activationSamples(await openDataset(DATA), 200, 21);
  const runners = await Promise.all(models.map((m) => ModelRunner.open(m, { threads: sharedThreads(models.length) })));
  try {
    const times: number[] = [];
    for (let r = 0; r < repetitions + 1; r++) {
      const start = performance.now();
      await Promise.all(runners.map((runner) => predictLogits(runner, samples)));
      if (r > 0) times.push(performance.now() - start); // the first pass warms the sessions up
    }
    return median(times);
  } finally {
    await Promise.all(runners.map((runner) => runner.close()));
  }
}

/** The fusion of `models` against the plain forward pass of both over the same samples (goal: within 3x). */
async function againstForward(name: string, models: string[], fusion: BenchRecord, repetitions: number): Promise<BenchRecord> {
  const pass = await plainForward(models, repetitions);
  return {
    case: `${name}/forward`, size: '200 samples', ours_ms: fusion.ours_ms, baseline: 'plain ORT forward of both models', baseline_ms: pass,
    ratio: pass / fusion.ours_ms, goal: 1 / 3, note: `fusion ${(fusion.ours_ms / pass).toFixed(1)}x the forward pass (goal <= 3x)`,
  };
}

/** `count` random uint8 CIFAR-shaped images (3x32x32) with random labels. */
function randomImages(count: number, seed: number): Dataset {
  const random = rng(seed);
  const pixels = Uint8Array.from({ length: count * 3 * 32 * 32 }, () => Math.floor(random() * 256));
  const labels = Int32Array.from({ length: count }, () => Math.floor(random() * 10));
  return Dataset.fromSource(new MemorySource(pixels, 3 * 32 * 32), [3, 32, 32], labels, 'random 3x32x32 images');
}

/** The synthetic ResNet34-like and ResNet18-like models as ONNX bytes (deep first). */
function syntheticResnets(): Uint8Array[] {
  const widths = [64, 128, 256, 512];
  return [[3, 4, 6, 3], [2, 2, 2, 2]].map((blocks, k) => emitModel(buildResnet(blocks, widths, [3, 32, 32], 10, { batchNorm: true, seed: 101 + k })).bytes);
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const repetitions = ctx.quick ? 3 : 5;
  const fixtures = { data: DATA, samples: 200, solver: 'emd' } satisfies FuseOptions;
  const resnetPair = ['examples/models/resnet_deep.onnx', 'examples/models/resnet_shallow.onnx'];
  const bundled = await measure('fusion-resnet', 'BN ResNet [3,3,3] + [2,2,2]', resnetPair, fixtures, ctx.quick ? 1 : 3, false);
  const records = [
    ...(await measure('fusion-mlp', '784-400-200-100-50-25 + 784-400-200-100', ['examples/models/mlp_deep.onnx', 'examples/models/mlp_shallow.onnx'], fixtures, repetitions, true)),
    ...bundled,
    await againstForward('fusion-resnet', resnetPair, bundled[0], repetitions),
  ];
  const resnets = syntheticResnets();
  const size = 'ResNet34-like + ResNet18-like, 64..512 wide, 3x32x32';
  const large = ctx.quick ? 1 : 3;
  records.push(...(await measure('fusion-resnet34+18-activations', `${size}, 200 samples`, resnets, { data: randomImages(256, 5), samples: 200, solver: 'emd' }, large, false)));
  records.push(...(await measure('fusion-resnet34+18-weights', `${size}, no data`, resnets, { mode: 'weights', solver: 'emd' }, large, false)));
  return records;
}
