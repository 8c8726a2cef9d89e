/**
 * Teacher-student compression (lib/compress) end to end on the example teachers and the narrow, shallow students
 * (examples/STUDENTS.md): the result has the student's widths (and, with depth 'student', its exact architecture),
 * it trains, it is deterministic; bad input gives coded errors; the CLI writes the model and reports the costs.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compressCommand } from '../../lib/cli/compress.js';
import { compress, dropInsertedUnits, modelCost } from '../../lib/compress/index.js';
import { type Dataset, openDataset } from '../../lib/data/index.js';
import { isClafusionError } from '../../lib/errors.js';
import { emitModel } from '../../lib/graph/emit.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { networkShapes } from '../../lib/graph/shapes.js';
import { allLayers, type Network } from '../../lib/ir/network.js';
import { buildMlp } from '../train/networks.js';
import { runCommand } from '../support/cli.js';
import { expectRejects } from '../support/errors.js';

const models = new URL('../../examples/models/', import.meta.url).pathname;
const data = new URL('../../examples/data/', import.meta.url).pathname;
const TRAIN_1K = `idx:${data}fashion-mnist-train-1k-images-idx3-ubyte.gz,${data}fashion-mnist-train-1k-labels-idx1-ubyte.gz`;
const TEST_2K = `idx:${data}fashion-mnist-test-2k-images-idx3-ubyte.gz,${data}fashion-mnist-test-2k-labels-idx1-ubyte.gz`;

const shapesOf = (network: Network) => allLayers(network).map((l) => l.op.weight.shape.join('x'));

describe('compress: teacher-student fusion', function () {
  this.timeout(180_000);
  let train: Dataset;
  before(async () => {
    train = (await openDataset(TRAIN_1K)).limit(400);
  });

  it("MLP, depth 'student': the teacher's extra layers are merged, the result is the student's architecture and it trains", async () => {
    const student = readNetwork(`${models}mlp_student.onnx`);
    const result = await compress(`${models}mlp_deep.onnx`, `${models}mlp_student.onnx`, { data: train, evalData: TEST_2K, epochs: 1, depth: 'student' });
    expect(result.depthMethod).to.equal('merge');
    expect(result.cost.result).to.deep.equal(modelCost(student));
    expect(result.cost.result.parameters).to.equal(85085);
    expect(result.cost.teacher.parameters).to.be.above(4 * result.cost.result.parameters);
    expect(shapesOf(result.network)).to.deep.equal(shapesOf(student));
    expect(shapesOf(readNetwork(result.bytes))).to.deep.equal(shapesOf(student));
    // The fused start is far above chance, and training moves it.
    expect(result.training.initialAccuracy!).to.be.above(0.6);
    expect(result.training.history[0]!.evalAccuracy).to.not.equal(result.training.initialAccuracy);
  });

  it("VGG, depth 'teacher': the teacher's depth with the student's widths (spec §4.2); depth 'student' drops the inserted units", async () => {
    const student = readNetwork(`${models}vgg_student.onnx`);
    const teacher = readNetwork(`${models}vgg_deep.onnx`);
    const deep = await compress(`${models}vgg_deep.onnx`, `${models}vgg_student.onnx`, { data: train, epochs: 1, training: 'finetune' });
    expect(deep.depthMethod).to.equal('none');
    expect(deep.cost.result.depth).to.equal(modelCost(teacher).depth);
    // Each inserted unit keeps the width of the unit before it: the student's widths throughout.
    expect(deep.cost.result.widths).to.deep.equal([8, 8, 16, 16, 32, 32]);
    expect(deep.network.classifier.op.weight.shape).to.deep.equal(student.classifier.op.weight.shape);
    const shallow = await compress(`${models}vgg_deep.onnx`, `${models}vgg_student.onnx`, { data: train, epochs: 1, depth: 'student' });
    expect(shallow.depthMethod).to.equal('drop');
    // The student's architecture exactly: the refit keeps its bias-free convs bias-free (the repair gave them a bias).
    expect(shallow.cost.result).to.deep.equal(modelCost(student));
    expect(shapesOf(shallow.network)).to.deep.equal(shapesOf(student));
    expect(networkShapes(shallow.network).units.map((u) => u.output)).to.deep.equal(networkShapes(student).units.map((u) => u.output));
  });

  it('is deterministic: bit-identical for any thread count', async () => {
    const options = { data: train.limit(256), epochs: 1, depth: 'student' as const, seed: 5 };
    const a = await compress(`${models}mlp_deep.onnx`, `${models}mlp_student.onnx`, { ...options, threads: 1 });
    const b = await compress(`${models}mlp_deep.onnx`, `${models}mlp_student.onnx`, { ...options, threads: 2 });
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).to.equal(true);
  });

  it('dropInsertedUnits moves a dropped unit’s pool back to the unit before it', () => {
    const network = buildMlp([784, 6], 10, { bias: true, seed: 1 });
    const [layer] = network.segments[0]!.units;
    const pool = { kind: 'max' as const, kernel: [1, 1] as [number, number], stride: [1, 1] as [number, number], pads: [0, 0, 0, 0] as [number, number, number, number], ceilMode: false, countIncludePad: false };
    const inserted = { ...structuredClone(layer!), name: 'x/identity', inserted: true, pool };
    network.segments[0]!.units.push(inserted);
    const dropped = dropInsertedUnits(network);
    expect(dropped.segments[0]!.units.map((u) => u.name)).to.deep.equal([layer!.name]);
    expect(dropped.segments[0]!.units[0]!.pool).to.deep.equal(pool);
    expect(network.segments[0]!.units).to.have.length(2); // the input is not modified
  });

  describe('errors', () => {
    it('rejects a student deeper than the teacher, bad options and models that do not fit', async () => {
      await expectRejects(compress(`${models}mlp_student.onnx`, `${models}mlp_deep.onnx`, { data: train }), 'E_ARG', /at least as deep/);
      for (const bad of [{ depth: 'half' }, { training: 'none' }, { teacherWeight: 2 }, { epochs: 0 }]) {
        await expectRejects(compress(`${models}mlp_deep.onnx`, `${models}mlp_student.onnx`, { data: train, ...(bad as object) }), 'E_ARG');
      }
      const otherInput = emitModel(buildMlp([784, 8], 10, { bias: true, seed: 2 })).bytes; // input [784], not [1, 28, 28]
      await expectRejects(compress(`${models}mlp_deep.onnx`, otherInput, { data: train }), 'E_SHAPE', /inputs of shape/);
      await expectRejects(compress(`${models}mlp_deep.onnx`, '/nonexistent/student.onnx', { data: train }), 'E_IO');
      await expectRejects(compress(`${models}mlp_deep.onnx`, `${models}mlp_student.onnx`, { data: `idx:${data}fashion-mnist-train-1k-images-idx3-ubyte.gz` }), 'E_DATA', /no labels/);
    });
  });

  describe('CLI', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'clafusion-compress-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('writes the model, reports the costs as JSON and the progress on stderr', async () => {
      const output = join(dir, 'small.onnx');
      const { stdout, stderr, error } = await runCommand(compressCommand, [`${models}mlp_deep.onnx`, `${models}mlp_student.onnx`, '-o', output,
        '--data', TRAIN_1K, '--depth', 'student', '--epochs', '1', '--samples', '100', '--json']);
      expect(error).to.equal(null);
      const parsed = JSON.parse(stdout) as { cost: { result: { parameters: number }; student: { parameters: number } }; depthMethod: string; history: unknown[] };
      expect(parsed.cost.result.parameters).to.equal(parsed.cost.student.parameters);
      expect(parsed.depthMethod).to.equal('merge');
      expect(parsed.history).to.have.length(1);
      expect(stderr).to.match(/compress: fuse: fusion/).and.to.match(/compress: epoch 1\/1/);
      expect(shapesOf(readNetwork(readFileSync(output)))).to.deep.equal(shapesOf(readNetwork(`${models}mlp_student.onnx`)));
    });

    it('passes --no-refit to the fusion: the repair then adds a bias to each of the bias-free student convs', async () => {
      const output = join(dir, 'repaired.onnx');
      const { stdout, error } = await runCommand(compressCommand, [`${models}vgg_deep.onnx`, `${models}vgg_student.onnx`, '-o', output,
        '--data', TRAIN_1K, '--depth', 'student', '--epochs', '1', '--samples', '100', '--no-refit', '--json']);
      expect(error).to.equal(null);
      const { cost } = JSON.parse(stdout) as { cost: { result: { parameters: number; widths: number[] }; student: { parameters: number } } };
      const convChannels = cost.result.widths.reduce((a, b) => a + b, 0);
      expect(cost.result.parameters).to.equal(cost.student.parameters + convChannels);
    });

    it('prints help, and writes nothing on bad input', async () => {
      const help = await runCommand(compressCommand, ['--help']);
      expect(help.stdout).to.match(/<teacher>/).and.to.match(/--depth/).and.to.match(/--training/);
      const output = join(dir, 'bad.onnx');
      const clash = await runCommand(compressCommand, [`${models}mlp_deep.onnx`, `${models}mlp_student.onnx`, '-o', `${models}mlp_student.onnx`, '--data', TRAIN_1K]);
      expect(isClafusionError(clash.error, 'E_ARG')).to.equal(true);
      const choice = await runCommand(compressCommand, [`${models}mlp_deep.onnx`, `${models}mlp_student.onnx`, '-o', output, '--data', TRAIN_1K, '--depth', 'half']);
      expect((choice.error as { code?: string }).code).to.equal('commander.invalidArgument');
      const swapped = await runCommand(compressCommand, [`${models}mlp_student.onnx`, `${models}mlp_deep.onnx`, '-o', output, '--data', TRAIN_1K]);
      expect(isClafusionError(swapped.error, 'E_ARG')).to.equal(true);
      expect(existsSync(output)).to.equal(false);
    });
  });
});
