import { expect } from 'chai';
import { join } from 'node:path';
import { openIdx, type Dataset } from '../../lib/data/index.js';
import { collectOutputs, ensembleAccuracy, evaluate, ModelRunner, predictLogits } from '../../lib/eval/index.js';
import { isClafusionError } from '../../lib/errors.js';
import { pseudoRandomBytes, tempDir, writeIdx } from '../data/files.js';
import { fixturePath, heavyModel, referenceMlp } from './models.js';

const COUNT = 37; // not a multiple of any batch size used below, so partial batches are exercised
const MLP_A = fixturePath('mlp_a.onnx');
const MLP_A_TAPS = fixturePath('mlp_a_taps.onnx');
const MLP_B = fixturePath('mlp_b.onnx');

async function rejectsWith(promise: Promise<unknown>, code: string, part = ''): Promise<void> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(isClafusionError(err, code as never), String(err)).to.equal(true);
  expect((err as Error).message).to.contain(part);
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) if (row[c]! > row[best]!) best = c;
  return best;
}

function countCorrect(scores: ArrayLike<number>, labels: Int32Array, classes = 3): number {
  let correct = 0;
  for (let r = 0; r < labels.length; r++) if (argmax(Array.from({ length: classes }, (_, c) => scores[r * classes + c]!)) === labels[r]) correct++;
  return correct;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).to.equal(expected.length);
  for (let i = 0; i < actual.length; i++) expect(Math.abs(actual[i]! - expected[i]!), `element ${i}`).to.be.below(tolerance);
}

describe('evaluation with ONNX Runtime', () => {
  let remove: () => void;
  let dataset: Dataset;
  let pixels: Uint8Array;
  /** The inputs as mlp_a sees them: (u/255 − 0.5)/0.25 from its metadata; mlp_b has none: u/255. */
  let inputA: Float64Array;
  let inputB: Float64Array;

  before(async () => {
    const temp = tempDir();
    remove = temp.remove;
    pixels = pseudoRandomBytes(COUNT * 16, 11);
    const labels = Uint8Array.from(pseudoRandomBytes(COUNT, 12), (v) => v % 3);
    dataset = await openIdx(writeIdx(join(temp.dir, 'x.gz'), [COUNT, 4, 4], pixels, true), writeIdx(join(temp.dir, 'y'), [COUNT], labels));
    inputA = Float64Array.from(pixels, (u) => (u / 255 - 0.5) / 0.25);
    inputB = Float64Array.from(pixels, (u) => u / 255);
  });
  after(() => remove());

  it('evaluate counts the same correct predictions as a reference forward pass, for any batch size', async () => {
    const expected = countCorrect(referenceMlp('a', inputA, COUNT).out, dataset.labels!);
    expect(expected).to.be.within(1, COUNT - 1); // a test that can fail either way
    for (const batchSize of [1, 5, 256]) {
      const result = await evaluate(MLP_A, dataset, { batchSize, threads: 1 });
      expect(result).to.include({ correct: expected, count: COUNT, accuracy: expected / COUNT });
      expect(result.samplesPerSecond).to.be.above(0);
    }
  });

  it('predictLogits matches the reference logits; metadata normalisation applies unless one is chosen', async () => {
    expectClose(await predictLogits(MLP_A, dataset, { batchSize: 8, threads: 1 }), referenceMlp('a', inputA, COUNT).out);
    const raw = await predictLogits(MLP_A, dataset.withNormalization(null), { threads: 1 });
    expectClose(raw, referenceMlp('a', inputB, COUNT).out);
  });

  it('reshapes [1, 4, 4] samples into a flat [N, 16] model input', async () => {
    expectClose(await predictLogits(MLP_B, dataset, { threads: 1 }), referenceMlp('b', inputB, COUNT).out);
  });

  it('collectOutputs returns the extra tap outputs, concatenated over batches', async () => {
    const input = { data: Float32Array.from(inputA), shape: [COUNT, 1, 4, 4] };
    const outputs = await collectOutputs(MLP_A_TAPS, input, ['fc1_pre', 'logits'], { batchSize: 10, threads: 1 });
    const reference = referenceMlp('a', inputA, COUNT);
    expect(outputs.fc1_pre!.shape).to.deep.equal([COUNT, 8]);
    expect(outputs.logits!.shape).to.deep.equal([COUNT, 3]);
    expectClose(outputs.fc1_pre!.data, reference.pre);
    expectClose(outputs.logits!.data, reference.out);
    expect(input.data.length).to.equal(COUNT * 16); // the caller's tensor is not detached
    await rejectsWith(collectOutputs(MLP_A_TAPS, input, ['nope']), 'E_ARG', "no output 'nope'");
  });

  it('ensembleAccuracy averages outputs ("logits") or softmax probabilities, with weights', async () => {
    const a = referenceMlp('a', inputA, COUNT).out;
    const b = referenceMlp('b', inputB, COUNT).out;
    const softmax = (z: Float64Array): Float64Array => {
      const out = new Float64Array(z.length);
      for (let r = 0; r < z.length / 3; r++) {
        const e = [0, 1, 2].map((c) => Math.exp(z[r * 3 + c]!));
        e.forEach((v, c) => (out[r * 3 + c] = v / (e[0]! + e[1]! + e[2]!)));
      }
      return out;
    };
    const mix = (x: Float64Array, y: Float64Array, wx: number): Float64Array => x.map((v, i) => wx * v + (1 - wx) * y[i]!);
    const labels = dataset.labels!;
    const cases = [
      { options: { mode: 'logits' as const }, scores: mix(a, b, 0.5) },
      { options: { mode: 'probabilities' as const }, scores: mix(softmax(a), softmax(b), 0.5) },
      { options: { mode: 'logits' as const, weights: [3, 1] }, scores: mix(a, b, 0.75) },
    ];
    for (const { options, scores } of cases) {
      const result = await ensembleAccuracy([MLP_A, MLP_B], dataset, { ...options, batchSize: 16, threads: 1 });
      expect(result.correct, JSON.stringify(options)).to.equal(countCorrect(scores, labels));
      expect(result.modelAccuracies).to.deep.equal([countCorrect(a, labels) / COUNT, countCorrect(b, labels) / COUNT]);
    }
  });

  it('an open ModelRunner serves several calls and stays open', async () => {
    const runner = await ModelRunner.open(MLP_A, { threads: 1 });
    try {
      expect(runner.metadata).to.deep.equal({ 'clafusion.input_mean': '0.5', 'clafusion.input_std': '0.25' });
      const first = await evaluate(runner, dataset);
      expect((await evaluate(runner, dataset)).correct).to.equal(first.correct);
    } finally {
      await runner.close();
    }
    await rejectsWith(evaluate(runner, dataset), 'E_ABORTED', 'was closed');
  });

  it('rejects data that does not fit the model, unlabelled data and bad model bytes', async () => {
    const temp = tempDir();
    try {
      const wrong = await openIdx(writeIdx(join(temp.dir, 'x'), [2, 5, 5], new Uint8Array(50)), writeIdx(join(temp.dir, 'y'), [2], new Uint8Array(2)));
      await rejectsWith(evaluate(MLP_A, wrong, { threads: 1 }), 'E_DATA', 'shape [1, 5, 5]');
      await rejectsWith(evaluate(MLP_B, wrong, { threads: 1 }), 'E_DATA', 'expects input [N, 16]');
      const unlabelled = await openIdx(writeIdx(join(temp.dir, 'u'), [2, 4, 4], new Uint8Array(32)));
      await rejectsWith(evaluate(MLP_A, unlabelled), 'E_DATA', 'has no labels');
      await rejectsWith(evaluate(new Uint8Array([1, 2, 3]), dataset), 'E_ONNX_PARSE');
      await rejectsWith(evaluate(join(temp.dir, 'missing.onnx'), dataset), 'E_IO', 'missing.onnx');
    } finally {
      temp.remove();
    }
  });

  it('pads the last batch for a model with a fixed batch dimension', async () => {
    const fixed = heavyModel(8, 1, 4);
    const flexible = heavyModel(8, 1);
    const input = { data: Float32Array.from({ length: 10 * 16 }, (_, i) => (i % 7) - 3), shape: [10, 16] };
    const a = await collectOutputs(fixed, input, ['logits'], { threads: 1 });
    const b = await collectOutputs(flexible, input, ['logits'], { threads: 1 });
    expect(a.logits!.shape).to.deep.equal([10, 3]);
    expect(Array.from(a.logits!.data)).to.deep.equal(Array.from(b.logits!.data));
  });

  describe('with a slow model', () => {
    const heavy = heavyModel(1024, 6);
    const input = { data: Float32Array.from({ length: 512 * 16 }, (_, i) => (i % 5) * 0.1), shape: [512, 16] };

    it('keeps the event loop responsive while inference runs', async () => {
      const ticks: number[] = [];
      const timer = setInterval(() => ticks.push(performance.now()), 5);
      const started = performance.now();
      // 4x the shared input: with a pooled (already started) worker, the inference alone must take the time.
      const long = { data: Float32Array.from({ length: 4 * input.data.length }, (_, i) => input.data[i % input.data.length]!), shape: [4 * input.shape[0]!, 16] };
      try {
        // Repeat until the inference has run long enough to judge, however fast this machine is (at most 20 runs).
        for (let run = 0; run < 20 && performance.now() - started < 300; run++) {
          await collectOutputs(heavy, long, ['logits'], { batchSize: 64, threads: 1 });
        }
      } finally {
        clearInterval(timer);
      }
      const elapsed = performance.now() - started;
      const gaps = ticks.slice(1).map((t, i) => t - ticks[i]!);
      expect(elapsed, 'the model must be slow enough for the test to mean something').to.be.above(200);
      // Inference on the main thread would leave a few gaps as long as the runs; a loaded machine delays single ticks,
      // so judge the tick count and the 95th-percentile gap, not the single worst one.
      const p95 = [...gaps].sort((a, b) => a - b)[Math.floor(0.95 * (gaps.length - 1))]!;
      expect(ticks.length).to.be.above(elapsed / 5 / 4);
      expect(p95).to.be.below(50);
    });

    it('aborts with E_ABORTED mid-run and before starting', async () => {
      const controller = new AbortController();
      const progress: number[] = [];
      const started = performance.now();
      const run = collectOutputs(heavy, input, ['logits'], {
        batchSize: 32,
        threads: 1,
        signal: controller.signal,
        onProgress: (done) => {
          progress.push(done);
          controller.abort();
        },
      });
      await rejectsWith(run, 'E_ABORTED');
      expect(progress).to.deep.equal([32]);
      expect(performance.now() - started).to.be.below(30000);
      await rejectsWith(evaluate(MLP_A, dataset, { signal: AbortSignal.abort() }), 'E_ABORTED');
    });

    it('runs two evaluations at once with the same results as one at a time', async () => {
      const alone = await predictLogits(heavy, input, { threads: 1 });
      const [x, y] = await Promise.all([predictLogits(heavy, input, { threads: 1 }), predictLogits(heavy, input, { batchSize: 100, threads: 1 })]);
      expect(Array.from(x)).to.deep.equal(Array.from(alone));
      expectClose(y, alone, 1e-3);
    });
  });
});
