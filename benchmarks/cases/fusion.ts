/**
 * End-to-end CLAFusion of the heterogeneous fixture pairs (activation mode, 200 samples, exact EMD, statistics
 * repair): MLP 784-400-200-100-50-25 + 784-400-200-100, and the BN ResNet pair ([3,3,3] + [2,2,2] blocks). The whole
 * MLP fusion has a goal of 1 s (baseline "goal 1000 ms", ratio = 1000 / ours). One record per pair with the median
 * total, and one per stage (load, activations, alignment, balancing, fusion, repair, emit) with its median.
 */
import { fuse, type FuseStage } from '../../lib/fusion/index.js';
import type { BenchContext, BenchRecord } from '../types.js';

const DATA = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';
const GOAL_MS = 1000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function measure(name: string, size: string, models: string[], repetitions: number, goal: boolean): Promise<BenchRecord[]> {
  const totals: number[] = [];
  const stages = new Map<FuseStage, number[]>();
  for (let r = 0; r < repetitions; r++) {
    const start = performance.now();
    const result = await fuse(models, { data: DATA, samples: 200, solver: 'emd' });
    totals.push(performance.now() - start);
    for (const [stage, ms] of Object.entries(result.timings) as [FuseStage, number][]) stages.set(stage, [...(stages.get(stage) ?? []), ms]);
  }
  const ours = median(totals);
  const breakdown = [...stages].map(([stage, ms]) => `${stage} ${median(ms).toFixed(0)}`).join(', ');
  const total: BenchRecord = goal
    ? { case: name, size, ours_ms: ours, baseline: `goal ${GOAL_MS} ms`, baseline_ms: GOAL_MS, ratio: GOAL_MS / ours, goal: 1, note: `stages (ms): ${breakdown}` }
    : { case: name, size, ours_ms: ours, baseline: 'none', baseline_ms: null, ratio: null, note: `stages (ms): ${breakdown}` };
  const perStage = [...stages].map(([stage, ms]): BenchRecord => ({
    case: `${name}:${stage}`, size, ours_ms: median(ms), baseline: 'none', baseline_ms: null, ratio: null,
  }));
  return [total, ...perStage];
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const repetitions = ctx.quick ? 3 : 5;
  return [
    ...(await measure('fusion-mlp', '784-400-200-100-50-25 + 784-400-200-100', ['examples/models/mlp_deep.onnx', 'examples/models/mlp_shallow.onnx'], repetitions, true)),
    ...(await measure('fusion-resnet', 'BN ResNet [3,3,3] + [2,2,2]', ['examples/models/resnet_deep.onnx', 'examples/models/resnet_shallow.onnx'], ctx.quick ? 1 : 3, false)),
  ];
}
