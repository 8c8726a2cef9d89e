/**
 * Training throughput: one SGD step (forward, cross-entropy, backward, SGD with momentum and weight decay, batch-norm
 * in training mode) of the example VGG and ResNet (examples/models, Fashion-MNIST inputs [128, 1, 28, 28]) in the
 * native trainer, against the same architecture in torch on the CPU (benchmarks/pot/train.py builds it with the
 * constructor of scripts/train_fixtures.py). Both sides run on ONE thread: on the shared 2-core host a second
 * OpenMP / torch thread waits at every barrier for a core that another job holds, which measures the neighbours,
 * not the code. Our steps and torch's alternate, one each, so load from other jobs hits both sides alike. The record's
 * time is the median step; the note gives images/s.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
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

/** One native training step of `model` per call, buffers warmed up. */
function oursStepper(model: string): () => number {
  const { program, params, running, inputSize } = compileNetwork(readNetwork(fileURLToPath(new URL(`../../examples/models/${model}.onnx`, import.meta.url))));
  const input = randomInputs(BATCH * inputSize);
  const labels = Int32Array.from({ length: BATCH }, (_, i) => i % 10);
  const velocity = new Float32Array(params.length);
  const options = { learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4, threads: THREADS, workspace: native().trainWorkspace() };
  const step = () => {
    const start = performance.now();
    native().trainStepSync(program, params, running, velocity, input, BATCH, labels, null, options);
    return performance.now() - start;
  };
  step(); // warm-up: buffers sized and faulted in
  return step;
}

/** benchmarks/pot/train.py serving one timed torch step per request, or null when python3 with torch is not there. */
class TorchStepper {
  private readonly lines: AsyncIterator<string>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async start(ctx: BenchContext, model: string): Promise<TorchStepper | null> {
    const script = fileURLToPath(new URL('../pot/train.py', import.meta.url));
    const stepper = new TorchStepper(spawn(ctx.python, [script, model, String(BATCH), String(THREADS)]));
    stepper.child.on('error', () => undefined); // no python: reply() sees the stream end
    return (await stepper.reply()) === 'ready' ? stepper : (stepper.stop(), null);
  }

  private async reply(): Promise<string | undefined> {
    const next = await this.lines.next();
    return next.done ? undefined : next.value;
  }

  async step(): Promise<number> {
    this.child.stdin.write('step\n');
    const answer = await this.reply();
    if (answer === undefined) throw new Error('train: the torch baseline ended while timing a step');
    return Number(answer);
  }

  stop(): void {
    this.child.stdin.end();
  }
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const repetitions = ctx.quick ? 3 : 7;
  const records: BenchRecord[] = [];
  for (const model of ['vgg_deep', 'resnet_deep']) {
    const ours = oursStepper(model);
    const torch = await TorchStepper.start(ctx, model);
    const oursTimes: number[] = [];
    const torchTimes: number[] = [];
    try {
      for (let r = 0; r < repetitions; r++) {
        oursTimes.push(ours());
        if (torch) torchTimes.push(await torch.step());
      }
    } finally {
      torch?.stop();
    }
    const oursMs = median(oursTimes);
    const baseline = torch ? median(torchTimes) : null;
    const rate = (ms: number) => ((BATCH * 1000) / ms).toFixed(0);
    records.push({
      case: 'train_step',
      size: `${model} batch ${BATCH}, ${THREADS} thread`,
      ours_ms: oursMs,
      baseline: 'torch 1.13 CPU (same architecture, SGD step)',
      baseline_ms: baseline,
      ratio: baseline === null ? null : baseline / oursMs,
      note: `ours ${rate(oursMs)} images/s${baseline === null ? '' : `, torch ${rate(baseline)} images/s`}; steps alternate`,
    });
  }
  return records;
}
