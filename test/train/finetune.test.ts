/**
 * finetune / distill end to end on the example models and Fashion-MNIST subsets (examples/data), their errors, and
 * the CLI commands.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distillCommand } from '../../lib/cli/distill.js';
import { finetuneCommand } from '../../lib/cli/finetune.js';
import { runCommand } from '../support/cli.js';
import { expectRejects } from '../support/errors.js';
import { openDataset } from '../../lib/data/index.js';
import { isClafusionError } from '../../lib/errors.js';
import { fuse } from '../../lib/fusion/index.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { distill, finetune, type TrainOptions } from '../../lib/train/index.js';
import { buildMlp, buildVgg } from './networks.js';

const models = new URL('../../examples/models/', import.meta.url).pathname;
const data = new URL('../../examples/data/', import.meta.url).pathname;
const TRAIN_1K = `idx:${data}fashion-mnist-train-1k-images-idx3-ubyte.gz,${data}fashion-mnist-train-1k-labels-idx1-ubyte.gz`;
const TEST_2K = `idx:${data}fashion-mnist-test-2k-images-idx3-ubyte.gz,${data}fashion-mnist-test-2k-labels-idx1-ubyte.gz`;

const percent = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(2)}%`);

describe('train: finetune and distill on Fashion-MNIST', () => {
  it('finetuning the fused VGG pair on 1000 training images raises its test accuracy', async function () {
    this.timeout(120_000);
    // Without the refit: its one-shot model (about 87 % here) is already above what 3 epochs on 1000 images reach.
    const fused = await fuse([`${models}vgg_deep.onnx`, `${models}vgg_shallow.onnx`], { data: TRAIN_1K, refit: false });
    const result = await finetune(fused.network, { data: TRAIN_1K, evalData: TEST_2K, epochs: 3, lr: 0.003, batchSize: 64 });
    const final = result.history.at(-1)!.evalAccuracy!;
    console.log(`      fused VGG on test-2k: ${percent(result.initialAccuracy)} before, ` +
      `${result.history.map((h) => percent(h.evalAccuracy)).join(' → ')} after 3 epochs on train-1k (lr 0.003)`);
    expect(final).to.be.above(result.initialAccuracy! + 0.01);
    expect(result.bestEpoch).to.be.within(1, 3);
    // The returned bytes are the returned network.
    expect(readNetwork(result.bytes).classifier.op.weight.data).to.deep.equal(result.network.classifier.op.weight.data);
  });

  it('is deterministic: the same seed gives bit-identical models, for any thread count', async () => {
    // VGG convs span several im2col chunks per batch; the MLP is all dense layers.
    for (const model of ['vgg_shallow', 'mlp_shallow']) {
      const options: TrainOptions = { data: (await openDataset(TRAIN_1K)).limit(150), epochs: 2, lr: 0.01, batchSize: 50, seed: 7 };
      const a = await finetune(`${models}${model}.onnx`, { ...options, threads: 1 });
      const b = await finetune(`${models}${model}.onnx`, { ...options, threads: 2 });
      const c = await finetune(`${models}${model}.onnx`, { ...options, seed: 8 });
      expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes)), model).to.equal(true);
      expect(Buffer.from(a.bytes).equals(Buffer.from(c.bytes)), model).to.equal(false);
    }
  });

  it('distils a teacher into a fresh student: the student learns from the mean teacher logits', async function () {
    this.timeout(60_000);
    const student = buildMlp([784, 32], 10, { bias: true, seed: 3 });
    student.meta.metadata = readNetwork(`${models}mlp_shallow.onnx`).meta.metadata; // the input normalisation
    const options = { data: TRAIN_1K, evalData: TEST_2K, epochs: 3, lr: 0.05, batchSize: 50, alpha: 0.9, temperature: 4 };
    const result = await distill(student, [`${models}mlp_deep.onnx`], options);
    console.log(`      random 784-32-10 student: ${percent(result.initialAccuracy)} → ${percent(result.history.at(-1)!.evalAccuracy)} on test-2k`);
    expect(result.initialAccuracy!).to.be.below(0.3);
    expect(result.history.at(-1)!.evalAccuracy!).to.be.above(0.65);
    // Two copies of one teacher average to that teacher.
    const twice = await distill(student, [`${models}mlp_deep.onnx`, `${models}mlp_deep.onnx`], { ...options, epochs: 1, evalData: undefined });
    const once = await distill(student, [`${models}mlp_deep.onnx`], { ...options, epochs: 1, evalData: undefined });
    expect(Buffer.from(twice.bytes).equals(Buffer.from(once.bytes))).to.equal(true);
  });

  it("distils a fused BN-free ResNet from both inputs without collapsing (the default 'mean' reduction)", async function () {
    this.timeout(120_000);
    // With 'batchmean' and T 20 this epoch ends near chance (~20 % train accuracy); finetuning alone reaches ~64 %.
    const teachers = [`${models}resnet_nobn_deep.onnx`, `${models}resnet_nobn_shallow.onnx`];
    const fused = await fuse(teachers, { data: TRAIN_1K });
    const options = { data: TRAIN_1K, epochs: 1, batchSize: 32 };
    const result = await distill(fused.network, teachers, options);
    console.log(`      fused BN-free ResNet, one KD epoch on train-1k: train accuracy ${percent(result.history[0]!.trainAccuracy)}`);
    expect(result.history[0]!.trainAccuracy).to.be.above(0.55);
    const explicit = await distill(fused.network, teachers, { ...options, kdReduction: 'mean' });
    expect(Buffer.from(explicit.bytes).equals(Buffer.from(result.bytes))).to.equal(true);
  });

  describe('errors', () => {
    const model = `${models}mlp_shallow.onnx`;
    it('rejects bad options with E_ARG before reading data', async () => {
      const base: TrainOptions = { data: '/nonexistent/dir' };
      for (const bad of [{ lr: -1 }, { lr: 0 }, { epochs: 0 }, { batchSize: 1.5 }, { momentum: 1 }, { weightDecay: Number.NaN }, { seed: -1 },
        { keep: 'best' as const }, { schedule: { kind: 'step' as const, stepSize: 0, gamma: 0.1 } }, { bnMomentum: 2 }]) {
        await expectRejects(finetune(model, { ...base, ...bad }), 'E_ARG');
      }
      await expectRejects(distill(model, [], base), 'E_ARG', /at least one teacher/);
      await expectRejects(distill(model, [model], { ...base, alpha: 1.5 }), 'E_ARG', /alpha/);
      await expectRejects(distill(model, [model], { ...base, temperature: 0 }), 'E_ARG', /temperature/);
    });

    it('rejects data that does not fit the model with E_DATA', async () => {
      await expectRejects(finetune(buildVgg([[2]], [3, 8, 8], 10), { data: TRAIN_1K }), 'E_DATA', /samples of shape \[1, 28, 28\]/);
      await expectRejects(finetune(buildMlp([784, 8], 5), { data: TRAIN_1K }), 'E_DATA', /label 9 but the model scores only 5 classes/);
      const unlabelled = `idx:${data}fashion-mnist-train-1k-images-idx3-ubyte.gz`;
      await expectRejects(finetune(model, { data: unlabelled }), 'E_DATA', /no labels/);
    });

    it('stops with E_ABORTED when the signal fires', async () => {
      const controller = new AbortController();
      const run = finetune(model, { data: TRAIN_1K, epochs: 5, batchSize: 100, signal: controller.signal, onProgress: (p) => p.phase === 'train' && controller.abort() });
      await expectRejects(run, 'E_ABORTED');
    });
  });

  describe('CLI', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'clafusion-train-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('finetune writes the model and prints the history as JSON', async () => {
      const output = join(dir, 'ft.onnx');
      const { stdout, stderr, error } = await runCommand(finetuneCommand, [`${models}mlp_shallow.onnx`, '-o', output, '--data', TRAIN_1K, '--eval-data', TEST_2K,
        '--epochs', '2', '--lr', '0.001', '--schedule', 'step:1:0.5', '--json']);
      expect(error).to.equal(null);
      const parsed = JSON.parse(stdout) as { history: { learningRate: number; evalAccuracy: number }[]; initialAccuracy: number };
      expect(parsed.history.map((h) => h.learningRate)).to.deep.equal([0.001, 0.0005]);
      expect(parsed.history[1]!.evalAccuracy).to.be.above(0.8);
      expect(stderr).to.match(/finetune: epoch 2\/2/);
      expect(readNetwork(readFileSync(output)).classifier.op.weight.shape).to.deep.equal([10, 100]);
    });

    it('distill writes nothing when it fails, and never writes over an input', async () => {
      const output = join(dir, 'kd.onnx');
      const failed = await runCommand(distillCommand, [`${models}mlp_shallow.onnx`, '--teacher', `${models}mlp_deep.onnx`, '-o', output, '--data', `idx:${join(dir, 'missing.gz')}`]);
      expect(isClafusionError(failed.error)).to.equal(true);
      expect(existsSync(output)).to.equal(false);
      const clash = await runCommand(distillCommand, [`${models}mlp_shallow.onnx`, '--teacher', `${models}mlp_deep.onnx`, '-o', `${models}mlp_deep.onnx`, '--data', TRAIN_1K]);
      expect(isClafusionError(clash.error, 'E_ARG')).to.equal(true);
      const bad = await runCommand(distillCommand, [`${models}mlp_shallow.onnx`, '--teacher', `${models}mlp_deep.onnx`, '-o', output, '--data', TRAIN_1K, '--alpha', '2']);
      expect((bad.error as { code?: string }).code).to.equal('commander.invalidArgument');
      expect(existsSync(output)).to.equal(false);
    });
  });
});
