/**
 * Training throughput: one SGD step (forward, cross-entropy, backward, SGD with momentum and weight decay, batch-norm
 * in training mode) of the example VGG and ResNet (examples/models, Fashion-MNIST inputs [128, 1, 28, 28]) in the
 * native trainer, against the same architecture in torch on the CPU (benchmarks/pot/train.py builds it with the
 * constructor of scripts/train_fixtures.py). Both sides run on ONE thread: on the shared 2-core host a second
 * OpenMP / torch thread waits at every barrier for a core that another job holds, which measures the neighbours,
 * not the code. The record's time is the median step; the note gives images/s.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readNetwork } from '../../lib/graph/recognise.js';
import { native } from '../../lib/native.js';
import { compileNetwork } from '../../lib/train/program.js';
import type { BenchContext, BenchRecord } from '../types.js';

const BATCH = 128;
const THREADS = 1;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Deterministic values in [-1, 1) (a 32-bit LCG is enough for timing). */
function randomInputs(length: number): Float32Array {
  let state = 12345;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

function oursMs(model: string, repetitions: number): number {
  const { program, params, running, inputSize } = compileNetwork(readNetwork(fileURLToPath(new URL(`../../examples/models/${model}.onnx`, import.meta.url))));
  const input = randomInputs(BATCH * inputSize);
  const labels = Int32Array.from({ length: BATCH }, (_, i) => i % 10);
  const velocity = new Float32Array(params.length);
  const options = { learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4, threads: THREADS, workspace: native().trainWorkspace() };
  const step = () => native().trainStepSync(program, params, running, velocity, input, BATCH, labels, null, options);
  step(); // warm-up: buffers sized and faulted in
  const times: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    const start = performance.now();
    step();
    times.push(performance.now() - start);
  }
  return median(times);
}

/** torch's median step in ms, or null when python3 with torch is not there. */
function torchMs(ctx: BenchContext, model: string, repetitions: number): number | null {
  const script = fileURLToPath(new URL('../pot/train.py', import.meta.url));
  const run = spawnSync(ctx.python, [script, model, String(BATCH), String(THREADS), String(repetitions)], { encoding: 'utf8' });
  const value = Number(run.stdout.trim());
  return run.status === 0 && Number.isFinite(value) ? value : null;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const repetitions = ctx.quick ? 3 : 7;
  return ['vgg_deep', 'resnet_deep'].map((model) => {
    const ours = oursMs(model, repetitions);
    const baseline = torchMs(ctx, model, repetitions);
    const rate = (ms: number) => ((BATCH * 1000) / ms).toFixed(0);
    return {
      case: 'train_step',
      size: `${model} batch ${BATCH}, ${THREADS} thread`,
      ours_ms: ours,
      baseline: 'torch 1.13 CPU (same architecture, SGD step)',
      baseline_ms: baseline,
      ratio: baseline === null ? null : baseline / ours,
      note: `ours ${rate(ours)} images/s${baseline === null ? '' : `, torch ${rate(baseline)} images/s`}`,
    };
  });
}
