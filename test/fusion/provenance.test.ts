import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type FusionContext, fuse } from '../../lib/fusion/index.js';
import { effectiveOptions } from '../../lib/fusion/provenance.js';
import { readModel } from '../../lib/onnx/file.js';
import { inspectModel } from '../../lib/inspect/index.js';

const MODELS = ['examples/models/vgg_deep.onnx', 'examples/models/vgg_shallow.onnx'];
const TRAIN = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function metadataOf(bytes: Uint8Array): Record<string, string> {
  return Object.fromEntries(readModel(bytes).metadataProps.map((e) => [e.key, e.value]));
}

describe('provenance of a fused model', () => {
  let result: Awaited<ReturnType<typeof fuse>>;
  before(async () => {
    result = await fuse(MODELS, { data: TRAIN, samples: 64, seed: 5, solver: 'sinkhorn' });
  });

  it('names clafusion as the producer, with the package version', () => {
    const model = readModel(result.bytes);
    expect(model.producerName).to.equal('clafusion');
    expect(model.producerVersion).to.equal(VERSION);
    expect(metadataOf(result.bytes)['clafusion.version']).to.equal(VERSION);
  });

  it('records the inputs (base name, sha256, size, architecture) and the data files', () => {
    const metadata = metadataOf(result.bytes);
    type Input = { name: string; sha256: string; bytes: number; summary: unknown };
    const inputs = JSON.parse(metadata['clafusion.inputs']) as Input[];
    expect(inputs.map((i) => i.name)).to.deep.equal(['vgg_deep.onnx', 'vgg_shallow.onnx']);
    expect(inputs.map((i) => i.sha256)).to.deep.equal(MODELS.map(sha256));
    expect(inputs.map((i) => i.bytes)).to.deep.equal(MODELS.map((m) => readFileSync(m).length));
    expect(inputs.map((i) => i.summary)).to.deep.equal(MODELS.map((m) => inspectModel(m).summary));
    const data = JSON.parse(metadata['clafusion.data']) as { name: string; sha256: string }[];
    const images = TRAIN.slice('idx:'.length);
    const name = 'fashion-mnist-train-1k-images-idx3-ubyte.gz';
    expect(data).to.deep.equal([{ name, sha256: sha256(images), bytes: readFileSync(images).length }]);
    expect(result.provenance.inputs).to.deep.equal(inputs);
  });

  it('records the effective options (given and defaults) and the seed', () => {
    const metadata = metadataOf(result.bytes);
    expect(JSON.parse(metadata['clafusion.options'])).to.deep.equal(result.options);
    expect(result.options).to.include({
      samples: 64, seed: 5, solver: 'sinkhorn', reg: 0.01, metric: 'correlation', layerCost: 'cka', mode: 'activations',
      refit: true, repair: false, alignClassifier: false, startLayer: 2, pinnedEnd: 1, balance: 'add', batchNorm: 'average',
    });
    expect(result.options).not.to.have.property('data');
    expect(metadata['clafusion.seed']).to.equal('5');
  });

  it("keeps of the inputs' metadata only what still holds (input normalisation, dataset)", () => {
    const inputKeys = Object.keys(metadataOf(readFileSync(MODELS[1])));
    expect(inputKeys).to.include.members(['clafusion.input_mean', 'clafusion.dataset']);
    const metadata = metadataOf(result.bytes);
    expect(Object.keys(metadata).sort()).to.deep.equal([
      'clafusion.data', 'clafusion.dataset', 'clafusion.input_mean', 'clafusion.input_std', 'clafusion.inputs',
      'clafusion.options', 'clafusion.seed', 'clafusion.version',
    ]);
    expect(metadata['clafusion.input_mean']).to.equal(metadataOf(readFileSync(MODELS[1]))['clafusion.input_mean']);
  });

  it('the recorded options repeat the run bit for bit; other options give other bytes', async () => {
    const again = await fuse(MODELS, { ...result.options, data: TRAIN });
    expect(Buffer.from(again.bytes).equals(Buffer.from(result.bytes))).to.equal(true);
    const other = await fuse(MODELS, { ...result.options, data: TRAIN, seed: 6 });
    expect(Buffer.from(other.bytes).equals(Buffer.from(result.bytes))).to.equal(false);
  });

  it('defaults are resolved to what the run used: fusing with them changes nothing', async () => {
    const defaults = await fuse(MODELS, { data: TRAIN, samples: 32 });
    expect(defaults.options).to.include({
      solver: 'emd', seed: 21, mode: 'activations', refit: true, repair: false, reference: false, multi: 'many-to-one',
    });
    const explicit = await fuse(MODELS, { ...defaults.options, data: TRAIN });
    expect(Buffer.from(explicit.bytes).equals(Buffer.from(defaults.bytes))).to.equal(true);
    const weights = await fuse([readFileSync(MODELS[0]), readFileSync(MODELS[1])], {});
    expect(weights.options).to.include({ mode: 'weights', layerCost: 'neuron', refit: false, repair: false });
    expect(weights.provenance.inputs.map((i) => i.name)).to.deep.equal(['model 0', 'model 1']);
    expect(weights.provenance).not.to.have.property('data');
  });

  it('gives the same bytes for any streaming chunk size (it is not recorded)', async () => {
    const chunked = await fuse(MODELS, { ...result.options, data: TRAIN, chunkSize: 7 });
    expect(chunked.options).not.to.have.property('chunkSize');
    expect(Buffer.from(chunked.bytes).equals(Buffer.from(result.bytes))).to.equal(true);
  });

  it('leaves out the data and the options that only say how to run (they cannot change the bytes)', () => {
    const options = {
      data: TRAIN, signal: new AbortController().signal, onProgress: () => {}, memoryBytes: 1e9, chunkSize: 64,
      device: 'cpu',
      solver: 'sinkhorn', weights: [0.3, 0.7], layerCost: undefined,
    };
    const context = { options, mode: 'activations', repair: true, alignClassifier: false } as unknown as FusionContext;
    const recorded = effectiveOptions(context);
    for (const key of ['data', 'signal', 'onProgress', 'memoryBytes', 'chunkSize']) {
      expect(recorded).not.to.have.property(key);
    }
    expect(recorded).to.deep.include({ solver: 'sinkhorn', weights: [0.3, 0.7], layerCost: 'cka', device: 'cpu' });
  });
});
