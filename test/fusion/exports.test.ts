/**
 * Plain PyTorch exports (test/fixtures/exports, made by scripts/make_export_fixtures.py): a trained pair of
 * different depth exported with a fixed batch of 1, no dynamic axes and no metadata. They fuse from raw IDX data
 * (the repair stage included) once the normalisation they were trained with is given, the accuracy table equals
 * `eval`'s, the fused model records the normalisation, and without it every stage says what it assumed.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alignCommand } from '../../lib/cli/align.js';
import { evalCommand } from '../../lib/cli/eval.js';
import { finetuneCommand } from '../../lib/cli/finetune.js';
import { fuseCommand } from '../../lib/cli/fuse.js';
import { Dataset } from '../../lib/data/dataset.js';
import { MemorySource } from '../../lib/data/source.js';
import { isClafusionError } from '../../lib/errors.js';
import { fuse } from '../../lib/fusion/index.js';
import { readModel } from '../../lib/onnx/file.js';
import { distill } from '../../lib/train/index.js';
import { encodeModel } from '../../lib/onnx/proto.js';
import { runCommand } from '../support/cli.js';

const DEEP = 'test/fixtures/exports/plain_deep.onnx';
const SHALLOW = 'test/fixtures/exports/plain_shallow.onnx';
const DATA = 'examples/data/fashion-mnist';
const TRAIN = `idx:${DATA}-train-1k-images-idx3-ubyte.gz,${DATA}-train-1k-labels-idx1-ubyte.gz`;
const TEST = `idx:${DATA}-test-2k-images-idx3-ubyte.gz,${DATA}-test-2k-labels-idx1-ubyte.gz`;
const FASHION = { 'clafusion.input_mean': '0.286', 'clafusion.input_std': '0.353' };

interface EvalJson { models: { model: string; accuracy: number }[]; warnings: string[] }

async function evalJson(models: string[], extra: string[] = []): Promise<EvalJson> {
  const { stdout, error } = await runCommand(evalCommand, [...models, '--data', TEST, '--json', ...extra]);
  expect(error).to.equal(null);
  return JSON.parse(stdout) as EvalJson;
}

/** The model's bytes with `metadata` as its metadata_props. */
function withMetadata(path: string, metadata: Record<string, string>): Uint8Array {
  const model = readModel(path);
  model.metadataProps = Object.entries(metadata).map(([key, value]) => ({ key, value }));
  return encodeModel(model);
}

describe('plain torch.onnx.export models (fixed batch 1, no metadata)', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'clafusion-exports-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("fuse --normalize fashion-mnist from raw IDX data reports eval's accuracies; the output needs no flags",
    async () => {
    const output = join(dir, 'fused.onnx');
    const args = [DEEP, SHALLOW, '-o', output, '--data', TRAIN, '--eval-data', TEST, '--normalize', 'fashion-mnist',
      '--json'];
    const { stdout, stderr, error } = await runCommand(fuseCommand, args);
    expect(error).to.equal(null);
    type Summary = {
      validation: { models: number[]; fused: number }; warnings: string[]; timings: Record<string, number>;
    };
    const summary = JSON.parse(stdout) as Summary;
    expect(summary.warnings).to.deep.equal([]);
    expect(stderr).to.not.match(/warning/);
    expect(summary.timings.refit).to.be.above(0); // the refit ran on the fixed-batch models
    const inputs = await evalJson([DEEP, SHALLOW], ['--normalize', 'fashion-mnist']);
    expect(summary.validation.models).to.deep.equal(inputs.models.map((m) => m.accuracy));
    expect(inputs.models.map((m) => m.accuracy).every((a) => a > 0.75)).to.equal(true);
    const fused = await evalJson([output]);
    expect(fused.warnings).to.deep.equal([]);
    expect(fused.models[0].accuracy).to.equal(summary.validation.fused);
    expect(summary.validation.fused).to.be.above(0.6);
    expect(Object.fromEntries(readModel(output).metadataProps.map((e) => [e.key, e.value]))).to.include(FASHION);
  });

  it('--normalize fashion-mnist equals --mean 0.286 --std 0.353; without either, accuracy falls and eval warns',
    async () => {
    const preset = await evalJson([DEEP], ['--normalize', 'fashion-mnist']);
    const explicit = await evalJson([DEEP], ['--mean', '0.286', '--std', '0.353']);
    expect(preset.models[0].accuracy).to.equal(explicit.models[0].accuracy);
    const plain = await evalJson([DEEP]);
    expect(plain.models[0].accuracy).to.be.below(preset.models[0].accuracy - 0.2);
    expect(plain.warnings).to.have.length(1);
    expect(plain.warnings[0]).to.match(/plain_deep\.onnx records no input normalisation/);
  });

  it('without normalisation the fusion warns about each input (API; align on stderr and in --json)', async () => {
    const result = await fuse([DEEP, SHALLOW], { data: TRAIN, samples: 50 });
    expect(result.warnings).to.have.length(2);
    expect(result.warnings[0]).to.match(/plain_deep\.onnx records no input normalisation.*pixel\/255/);
    expect(result.normalization).to.equal(undefined);
    expect(result.network.meta.metadata).to.not.have.property('clafusion.input_mean');
    const args = [DEEP, SHALLOW, '--data', TRAIN, '--samples', '50', '--json'];
    const { stdout, stderr, error } = await runCommand(alignCommand, args);
    expect(error).to.equal(null);
    expect((JSON.parse(stdout) as { warnings: string[] }).warnings).to.deep.equal(result.warnings);
    expect(stderr.match(/^warning: .*records no input normalisation/gm)).to.have.length(2);
  });

  it('models recording different normalisations are refused with E_ARG, unless it is given explicitly', async () => {
    const a = withMetadata(DEEP, FASHION);
    const b = withMetadata(SHALLOW, { 'clafusion.input_mean': '0.5', 'clafusion.input_std': '0.25' });
    const refused = await fuse([a, b], { data: TRAIN, samples: 50 }).then(() => null, (err: unknown) => err);
    expect(isClafusionError(refused, 'E_ARG')).to.equal(true);
    const message = (refused as Error).message;
    expect(message).to.match(/model 0 records input normalisation mean \[0\.286\].*model 1 records mean \[0\.5\]/);
    const result = await fuse([a, b], { data: TRAIN, samples: 50, normalization: 'mnist' });
    expect(result.normalization).to.deep.equal({ mean: [0.1307], std: [0.3081] });
    const mnist = { 'clafusion.input_mean': '0.1307', 'clafusion.input_std': '0.3081' };
    expect(result.network.meta.metadata).to.include(mnist);
    // One recorded, one not: the recorded one is used for both and recorded in the output.
    const adopted = await fuse([a, SHALLOW], { mode: 'weights' });
    expect(adopted.normalization).to.deep.equal({ mean: [0.286], std: [0.353] });
    expect(adopted.warnings[0]).to.match(/plain_shallow\.onnx records no input normalisation; it is fed model 0's/);
  });

  it('errors name the model by its file name', async () => {
    const wrong = Dataset.fromSource(new MemorySource(new Uint8Array(4 * 100), 100), [1, 10, 10], null, 'tiny images');
    const failed = await fuse([DEEP, SHALLOW], { data: wrong, samples: 4 }).then(() => null, (err: unknown) => err);
    expect(isClafusionError(failed, 'E_DATA')).to.equal(true);
    expect((failed as Error).message).to.match(/plain_(deep|shallow)\.onnx expects input \[1, 1, 28, 28\]/);
  });

  it('distill refuses a student and a teacher that record different normalisations, unless it is given', async () => {
    const student = withMetadata(SHALLOW, FASHION);
    const teacher = withMetadata(DEEP, { 'clafusion.input_mean': '0.5', 'clafusion.input_std': '0.25' });
    const refused = await distill(student, [teacher], { data: TRAIN }).then(() => null, (err: unknown) => err);
    expect(isClafusionError(refused, 'E_ARG')).to.equal(true);
    expect((refused as Error).message).to.match(/the student records input normalisation .* teacher 0 records/);
    const result = await distill(student, [teacher], { data: TRAIN, lr: 0.001, normalization: 'fashion-mnist' });
    expect(result.network.meta.metadata).to.include(FASHION);
    expect(result.warnings).to.deep.equal([]);
  });

  it('finetune --normalize records the normalisation in the trained model', async () => {
    const output = join(dir, 'tuned.onnx');
    const args = [SHALLOW, '-o', output, '--data', TRAIN, '--normalize', 'fashion-mnist', '--lr', '0.001', '--json'];
    const { error } = await runCommand(finetuneCommand, args);
    expect(error).to.equal(null);
    expect(Object.fromEntries(readModel(output).metadataProps.map((e) => [e.key, e.value]))).to.include(FASHION);
    const tuned = await evalJson([output]);
    expect(tuned.warnings).to.deep.equal([]);
    expect(tuned.models[0].accuracy).to.be.above(0.75);
  });
});
