/**
 * The streaming pipeline on the bundled fixture pairs against what the stored-activation implementation gave
 * (test/fixtures/streaming/reference.json, recorded by scripts/record-streaming-reference.ts before it was
 * replaced), bit-identical fusions for any chunk size, and the memory budget.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { type FuseOptions, type FuseResult, fuse } from '../../lib/fusion/index.js';
import { allLayers } from '../../lib/ir/network.js';
import { gpuAvailable } from '../../lib/solvers/device.js';
import { expectRejects } from '../support/errors.js';

const MODELS = 'examples/models';
const TRAIN = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';

interface Sampled {
  values: number[];
  l1: number;
}

interface ReferenceCase {
  options: FuseOptions;
  mapping: number[][];
  claCost: number[][][][];
  layers: { layer: string; matching: number[]; cost: number }[];
  weights: Record<string, Record<string, Sampled>>;
}

const reference = JSON.parse(readFileSync('test/fixtures/streaming/reference.json', 'utf8')) as Record<string, ReferenceCase>;
const pairs = JSON.parse(readFileSync(`${MODELS}/pairs.json`, 'utf8')) as Record<string, { deep: string; shallow: string }>;

function modelsOf(name: string): string[] {
  return [`${MODELS}/${pairs[name].deep}.onnx`, `${MODELS}/${pairs[name].shallow}.onnx`];
}

/** The recorded tensors of a fused layer, under the recorder's names. */
function tensors(result: FuseResult, name: string): Record<string, Float32Array> {
  const layer = allLayers(result.network).find((l) => l.name === name)!;
  const bn = layer.batchNorm;
  return {
    weight: layer.op.weight.data,
    ...(layer.op.bias ? { bias: layer.op.bias } : {}),
    ...(bn ? { scale: bn.scale, shift: bn.bias, mean: bn.mean, variance: bn.variance } : {}),
  };
}

/** Largest |found − recorded| / max(1, |recorded|) over the recorded values of a layer's tensors. */
function weightError(found: Record<string, Float32Array>, recorded: Record<string, Sampled>): number {
  let worst = 0;
  for (const [key, sampled] of Object.entries(recorded)) {
    const values = found[key];
    const stride = Math.max(1, Math.floor(values.length / 24));
    sampled.values.forEach((v, i) => { worst = Math.max(worst, Math.abs(values[i * stride] - v) / Math.max(1, Math.abs(v))); });
  }
  return worst;
}

/** Every fused parameter, bit for bit (the ONNX bytes also record the options, chunkSize included). */
function fusedBytes(result: FuseResult): string {
  return allLayers(result.network).map((layer) => Object.values(tensors(result, layer.name))
    .map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('base64')).join(',')).join(';');
}

describe('streaming statistics: the fusion of the bundled pairs', function () {
  this.timeout(180_000);

  for (const [key, expected] of Object.entries(reference)) {
    const [name] = key.split('/');
    it(`${key}: the alignment, the transport costs and the fused weights of the stored-activation path`, async () => {
      // The stored-activation path ran without the refit (it came later).
      const result = await fuse(modelsOf(name), { ...expected.options, data: TRAIN, refit: false });
      expect(result.alignments.map((a) => a.alignment.mapping)).to.deep.equal(expected.mapping);
      result.alignments.forEach((a, i) => a.alignment.groups.forEach((g, k) => g.cost.forEach((row, r) => {
        row.forEach((v, c) => expect(v).to.be.closeTo(expected.claCost[i][k][r][c], 1e-6 * Math.max(1, Math.abs(v))));
      })));
      expect(result.layers.map((l) => l.layer)).to.deep.equal(expected.layers.map((l) => l.layer));
      result.layers.forEach((l, k) => expect(l.cost, l.layer).to.be.closeTo(expected.layers[k].cost, 1e-6 * Math.max(1, expected.layers[k].cost)));
      // The MLP's inserted identity layers are 100 x 200 and 50 x 200 assignments (each deep unit split over two
      // units) with many optimal plans; the streamed costs, exact in float64 where the stored path summed in
      // float32, pick another plan of the same cost there. Every other map, and every fused weight, is the same.
      const ties = new Set(name === 'mlp' ? ['fc3/identity', 'fc4/identity'] : []);
      result.layers.forEach((l, k) => {
        if (!ties.has(l.layer)) expect(l.matching, l.layer).to.deep.equal(expected.layers[k].matching);
      });
      if (ties.size > 0) return;
      for (const [layer, recorded] of Object.entries(expected.weights)) {
        expect(weightError(tensors(result, layer), recorded), layer).to.be.at.most(1e-5);
      }
    });
  }

  for (const name of ['resnet', 'mlp']) {
    it(`${name}: the same fused model, bit for bit, for chunks of 1, 7 and all samples (24 samples)`, async () => {
      const options: FuseOptions = { data: TRAIN, samples: 24 };
      const whole = fusedBytes(await fuse(modelsOf(name), options));
      for (const chunkSize of [1, 7]) expect(fusedBytes(await fuse(modelsOf(name), { ...options, chunkSize })), `chunks of ${chunkSize}`).to.equal(whole);
    });
  }

  it('a memory budget too small for one sample fails before the pass (E_RESOURCE); bad budgets are E_ARG', async () => {
    await expectRejects(fuse(modelsOf('resnet'), { data: TRAIN, samples: 24, memoryBytes: 64 * 1024 }), 'E_RESOURCE', /memory budget .* too small/);
    await expectRejects(fuse(modelsOf('resnet'), { data: TRAIN, memoryBytes: -1 }), 'E_ARG', /memoryBytes/);
    await expectRejects(fuse(modelsOf('resnet'), { data: TRAIN, chunkSize: 0 }), 'E_ARG', /chunkSize/);
  });

  // Runs of a few samples, the Gram rows on disk: the same bits as one run of all samples in memory.
  for (const [name, budget] of [['vgg', 2.5], ['resnet', 16]] as const) {
    it(`${name}: a budget that holds a few samples at a time gives the fusion of one that holds them all`, async () => {
      // The refit off: it holds two unit outputs over its 600 samples, more than these budgets, so it would not run.
      const options: FuseOptions = { data: TRAIN, samples: 24, refit: false };
      const whole = fusedBytes(await fuse(modelsOf(name), options));
      expect(fusedBytes(await fuse(modelsOf(name), { ...options, memoryBytes: budget * 2 ** 20 }))).to.equal(whole);
    });
  }

  it("device 'cpu' gives the default fusion here; 'cuda' without a CUDA device is E_ARG", async () => {
    const options: FuseOptions = { data: TRAIN, samples: 24, solver: 'sinkhorn' };
    const auto = fusedBytes(await fuse(modelsOf('mlp'), options));
    expect(fusedBytes(await fuse(modelsOf('mlp'), { ...options, device: 'cpu' }))).to.equal(auto);
    if (!gpuAvailable()) await expectRejects(fuse(modelsOf('mlp'), { ...options, device: 'cuda' }), 'E_ARG', /no CUDA device/);
  });
});
