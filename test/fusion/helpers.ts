/**
 * Test-only builders of random Network IRs (MLP, VGG-like, BasicBlock and Bottleneck ResNets, with or without BN and
 * biases), a small reference forward pass over the IR (so the pure-IR parts can be checked without ONNX Runtime), and
 * a random function-preserving permutation of hidden units.
 */
import { expect } from 'chai';
import { Dataset } from '../../lib/data/dataset.js';
import { MemorySource } from '../../lib/data/source.js';
import { emitModel } from '../../lib/graph/emit.js';
import { activationFunction } from '../../lib/ir/activation.js';
import type {
  Activation, BatchNorm, ConvOp, DenseOp, Layer, Network, Pool, Residual, Segment, Unit,
} from '../../lib/ir/network.js';
import { allLayers, cloneNetwork, hiddenUnits } from '../../lib/ir/network.js';
import type { Tap } from '../../lib/fusion/activations.js';
import { type OtStatistics, fusionRequest } from '../../lib/fusion/otfuse/index.js';
import { type Statistics, type StatisticsRequest, StatisticsBuilder } from '../../lib/stats/statistics.js';
import { tapShapes } from '../../lib/stats/stream.js';
import { rng } from '../support/random.js';

export { rng };

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function randomArray(random: () => number, length: number, scale: number): Float32Array {
  return Float32Array.from({ length }, () => gaussian(random) * scale);
}

export interface BuildOptions {
  seed?: number;
  bias?: boolean;
  batchNorm?: boolean;
}

function randomBatchNorm(random: () => number, width: number): BatchNorm {
  return {
    scale: Float32Array.from({ length: width }, () => 0.5 + random()),
    bias: randomArray(random, width, 0.1),
    mean: randomArray(random, width, 0.1),
    variance: Float32Array.from({ length: width }, () => 0.5 + random()),
    epsilon: 1e-5,
  };
}

function denseLayer(random: () => number, name: string, inputs: number, outputs: number, opts: BuildOptions, activation: 'relu' | 'none' = 'relu'): Layer {
  const op: DenseOp = { kind: 'dense', weight: { data: randomArray(random, outputs * inputs, Math.sqrt(2 / inputs)), shape: [outputs, inputs] } };
  if (opts.bias) op.bias = randomArray(random, outputs, 0.1);
  return { type: 'layer', name, op, activation, ...(opts.batchNorm && activation === 'relu' ? { batchNorm: randomBatchNorm(random, outputs) } : {}) };
}

function convLayer(random: () => number, name: string, inputs: number, outputs: number, kernel: number, stride: number, opts: BuildOptions, activation: 'relu' | 'none' = 'relu'): Layer {
  const pad = (kernel - 1) / 2;
  const op: ConvOp = {
    kind: 'conv',
    weight: { data: randomArray(random, outputs * inputs * kernel * kernel, Math.sqrt(2 / (inputs * kernel * kernel))), shape: [outputs, inputs, kernel, kernel] },
    stride: [stride, stride], pads: [pad, pad, pad, pad], dilations: [1, 1],
  };
  if (opts.bias) op.bias = randomArray(random, outputs, 0.1);
  return { type: 'layer', name, op, activation, ...(opts.batchNorm ? { batchNorm: randomBatchNorm(random, outputs) } : {}) };
}

const maxPool2: Pool = { kind: 'max', kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0], ceilMode: false, countIncludePad: false };

function baseNetwork(inputShape: (number | string)[], segments: Segment[], classifier: Layer & { op: DenseOp }, flatten?: Network['classifierFlatten']): Network {
  return {
    input: { name: 'input', shape: inputShape, layout: inputShape.length === 4 ? 'NCHW' : 'NC' },
    segments,
    classifier,
    ...(flatten ? { classifierFlatten: flatten } : {}),
    output: { name: 'logits', shape: ['N', classifier.op.weight.shape[0]], transform: 'none' },
    meta: { opset: 13, irVersion: 8, producerName: 'test', metadata: {} },
  };
}

/** An MLP input-hidden...-classes on flat inputs [N, widths[0]]. */
export function buildMlp(widths: number[], classes: number, opts: BuildOptions = {}): Network {
  const random = rng(opts.seed ?? 1);
  const units: Unit[] = [];
  for (let i = 1; i < widths.length; i++) units.push(denseLayer(random, `fc${i}`, widths[i - 1], widths[i], opts));
  const classifier = denseLayer(random, 'fc_out', widths[widths.length - 1], classes, { ...opts, batchNorm: false }, 'none') as Layer & { op: DenseOp };
  return baseNetwork(['N', widths[0]], [{ kind: 'flat', units }], classifier);
}

/**
 * A VGG-like CNN: one spatial segment per chunk of 3x3 convs, a 2x2 max-pool after each chunk, flatten, classifier.
 * `chunks` lists each chunk's conv widths.
 */
export function buildVgg(chunks: number[][], input: [number, number, number], classes: number, opts: BuildOptions = {}): Network {
  const random = rng(opts.seed ?? 1);
  const segments: Segment[] = [];
  let channels = input[0];
  let size = input[1];
  chunks.forEach((chunk, c) => {
    const units: Unit[] = chunk.map((width, i) => {
      const layer = convLayer(random, `conv${c + 1}_${i + 1}`, channels, width, 3, 1, opts);
      channels = width;
      return layer;
    });
    (units[units.length - 1] as Layer).pool = maxPool2;
    segments.push({ kind: 'spatial', units });
    size = Math.floor(size / 2);
  });
  const classifier = denseLayer(random, 'fc_out', channels * size * size, classes, { ...opts, batchNorm: false }, 'none') as Layer & { op: DenseOp };
  return baseNetwork(['N', ...input], segments, classifier, { globalPool: 'none' });
}

function basicBlock(random: () => number, name: string, inputs: number, width: number, stride: number, opts: BuildOptions): Residual {
  const branch = [
    convLayer(random, `${name}.conv1`, inputs, width, 3, stride, opts),
    convLayer(random, `${name}.conv2`, width, width, 3, 1, opts, 'none'),
  ];
  const block: Residual = { type: 'residual', name, branch, activation: 'relu' };
  if (stride !== 1 || inputs !== width) block.shortcut = convLayer(random, `${name}.shortcut`, inputs, width, 1, stride, opts, 'none');
  return block;
}

/**
 * A ResNet-like CNN: a 3x3 stem, stages of BasicBlocks (`blocks[s]` per stage, widths[s] channels, stride 2 and a
 * projection shortcut at the start of every stage after the first), global average pool, classifier.
 */
export function buildResnet(blocks: number[], widths: number[], input: [number, number, number], classes: number, opts: BuildOptions = {}): Network {
  const random = rng(opts.seed ?? 1);
  const segments: Segment[] = [];
  let channels = widths[0];
  const stem = convLayer(random, 'stem', input[0], channels, 3, 1, opts);
  blocks.forEach((count, s) => {
    const units: Unit[] = s === 0 ? [stem] : [];
    for (let b = 0; b < count; b++) {
      units.push(basicBlock(random, `layer${s + 1}.${b}`, channels, widths[s], b === 0 && s > 0 ? 2 : 1, opts));
      channels = widths[s];
    }
    segments.push({ kind: 'spatial', units });
  });
  const classifier = denseLayer(random, 'fc_out', channels, classes, { ...opts, batchNorm: false }, 'none') as Layer & { op: DenseOp };
  return baseNetwork(['N', ...input], segments, classifier, { globalPool: 'avg' });
}

function bottleneckBlock(random: () => number, name: string, inputs: number, planes: number, stride: number,
  opts: BuildOptions): Residual {
  const width = planes * 4;
  const branch = [
    convLayer(random, `${name}.conv1`, inputs, planes, 1, 1, opts),
    convLayer(random, `${name}.conv2`, planes, planes, 3, stride, opts),
    convLayer(random, `${name}.conv3`, planes, width, 1, 1, opts, 'none'),
  ];
  const block: Residual = { type: 'residual', name, branch, activation: 'relu' };
  if (stride !== 1 || inputs !== width) {
    block.shortcut = convLayer(random, `${name}.downsample`, inputs, width, 1, stride, opts, 'none');
  }
  return block;
}

const maxPool3s2: Pool = {
  kind: 'max', kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], ceilMode: false, countIncludePad: false,
};

export interface BottleneckOptions extends BuildOptions {
  /** torchvision's stem (7x7 stride-2 conv, 3x3 stride-2 max-pool) instead of a 3x3 stride-1 conv. */
  imagenetStem?: boolean;
}

/**
 * A Bottleneck ResNet in torchvision's layout (resnet50/101/152: `blocks` [3,4,6,3], [3,4,23,3], [3,8,36,3] with
 * `planes` [64,128,256,512]): stage s has blocks[s] blocks 1x1 (planes) → 3x3 (planes, stride 2 in the first block
 * of every stage after the first) → 1x1 (4·planes), with a 1x1 projection shortcut in each stage's first block;
 * global average pool, classifier. The stem has planes[0] channels. He-initialised convs (N(0, 2 / fan_in)).
 */
export function buildBottleneckResnet(blocks: number[], planes: number[], input: [number, number, number],
  classes: number, opts: BottleneckOptions = {}): Network {
  const random = rng(opts.seed ?? 1);
  let channels = planes[0];
  const [kernel, stride] = opts.imagenetStem ? [7, 2] : [3, 1];
  const stem = convLayer(random, 'conv1', input[0], channels, kernel, stride, opts);
  const segments: Segment[] = [];
  if (opts.imagenetStem) {
    stem.pool = maxPool3s2;
    segments.push({ kind: 'spatial', units: [stem] });
  }
  blocks.forEach((count, s) => {
    const units: Unit[] = s === 0 && !opts.imagenetStem ? [stem] : [];
    for (let b = 0; b < count; b++) {
      units.push(bottleneckBlock(random, `layer${s + 1}.${b}`, channels, planes[s], b === 0 && s > 0 ? 2 : 1, opts));
      channels = planes[s] * 4;
    }
    segments.push({ kind: 'spatial', units });
  });
  const classifier = denseLayer(random, 'fc', channels, classes, { ...opts, batchNorm: false }, 'none');
  return baseNetwork(['N', ...input], segments, classifier as Layer & { op: DenseOp }, { globalPool: 'avg' });
}

// ---------------------------------------------------------------------------------------------------------------------
// Reference forward pass (float64, for tests)

/** A batch of activations: data in NCHW or NC order with its shape. */
export interface Batch {
  data: Float64Array;
  shape: number[];
}

/** Recorded intermediate values, keyed `<layer or block>:preact` (after BN; a block's sum) and `:output` (after activation and pool). */
export type Recorded = Map<string, Batch>;

function denseForward(x: Batch, op: DenseOp): Batch {
  const [out, inp] = op.weight.shape;
  const n = x.shape[0];
  const y = new Float64Array(n * out);
  for (let s = 0; s < n; s++) {
    for (let o = 0; o < out; o++) {
      let acc = op.bias ? op.bias[o] : 0;
      for (let i = 0; i < inp; i++) acc += op.weight.data[o * inp + i] * x.data[s * inp + i];
      y[s * out + o] = acc;
    }
  }
  return { data: y, shape: [n, out] };
}

function convForward(x: Batch, op: ConvOp): Batch {
  const [n, cin, h, w] = x.shape;
  const [cout, , kh, kw] = op.weight.shape;
  const [sh, sw] = op.stride;
  const [pt, pl, pb, pr] = op.pads;
  const oh = Math.floor((h + pt + pb - kh) / sh) + 1;
  const ow = Math.floor((w + pl + pr - kw) / sw) + 1;
  const y = new Float64Array(n * cout * oh * ow);
  for (let s = 0; s < n; s++) {
    for (let o = 0; o < cout; o++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let acc = op.bias ? op.bias[o] : 0;
          for (let c = 0; c < cin; c++) {
            for (let a = 0; a < kh; a++) {
              const yy = i * sh - pt + a;
              if (yy < 0 || yy >= h) continue;
              for (let b = 0; b < kw; b++) {
                const xx = j * sw - pl + b;
                if (xx < 0 || xx >= w) continue;
                acc += op.weight.data[((o * cin + c) * kh + a) * kw + b] * x.data[((s * cin + c) * h + yy) * w + xx];
              }
            }
          }
          y[((s * cout + o) * oh + i) * ow + j] = acc;
        }
      }
    }
  }
  return { data: y, shape: [n, cout, oh, ow] };
}

function batchNormForward(x: Batch, bn: BatchNorm): Batch {
  const channels = x.shape[1];
  const inner = x.data.length / (x.shape[0] * channels);
  const y = new Float64Array(x.data.length);
  for (let idx = 0; idx < y.length; idx++) {
    const c = Math.floor(idx / inner) % channels;
    y[idx] = (bn.scale[c] * (x.data[idx] - bn.mean[c])) / Math.sqrt(bn.variance[c] + bn.epsilon) + bn.bias[c];
  }
  return { data: y, shape: x.shape };
}

function activate(x: Batch, activation: Activation): Batch {
  if (activation === 'none') return x;
  const f = activationFunction(activation);
  return { data: x.data.map(f), shape: x.shape };
}

/** Max or average pooling with pads (floor mode). */
function poolForward(x: Batch, pool: Pool): Batch {
  const [n, c, h, w] = x.shape;
  const [kh, kw] = pool.kernel;
  const [sh, sw] = pool.stride;
  const [pt, pl, pb, pr] = pool.pads;
  const oh = Math.floor((h + pt + pb - kh) / sh) + 1;
  const ow = Math.floor((w + pl + pr - kw) / sw) + 1;
  const y = new Float64Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let acc = pool.kind === 'max' ? -Infinity : 0;
        let count = 0;
        for (let a = 0; a < kh; a++) {
          const yy = i * sh - pt + a;
          for (let b = 0; b < kw; b++) {
            const xx = j * sw - pl + b;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            const v = x.data[(p * h + yy) * w + xx];
            acc = pool.kind === 'max' ? Math.max(acc, v) : acc + v;
            count++;
          }
        }
        y[(p * oh + i) * ow + j] = pool.kind === 'max' ? acc : acc / (pool.countIncludePad ? kh * kw : count);
      }
    }
  }
  return { data: y, shape: [n, c, oh, ow] };
}

function layerForward(x: Batch, layer: Layer, recorded: Recorded): Batch {
  let y = layer.op.kind === 'dense' ? denseForward(x, layer.op) : convForward(x, layer.op);
  if (layer.batchNorm) y = batchNormForward(y, layer.batchNorm);
  recorded.set(`${layer.name}:preact`, y);
  y = activate(y, layer.activation);
  if (layer.pool) y = poolForward(y, layer.pool);
  recorded.set(`${layer.name}:output`, y);
  return y;
}

function residualForward(x: Batch, block: Residual, recorded: Recorded): Batch {
  let branch = x;
  for (const layer of block.branch) branch = layerForward(branch, layer, recorded);
  const skip = block.shortcut ? layerForward(x, block.shortcut, recorded) : x;
  let y: Batch = { data: branch.data.map((v, i) => v + skip.data[i]), shape: branch.shape };
  recorded.set(`${block.name}:preact`, y);
  y = activate(y, block.activation);
  if (block.pool) y = poolForward(y, block.pool);
  recorded.set(`${block.name}:output`, y);
  return y;
}

function flattenForward(x: Batch, globalPool: 'avg' | 'max' | 'none'): Batch {
  if (x.shape.length === 2) return x;
  const [n, c] = x.shape;
  const inner = x.data.length / (n * c);
  if (globalPool === 'none') return { data: x.data, shape: [n, c * inner] };
  const y = new Float64Array(n * c);
  for (let p = 0; p < n * c; p++) {
    let acc = globalPool === 'max' ? -Infinity : 0;
    for (let k = 0; k < inner; k++) {
      const v = x.data[p * inner + k];
      acc = globalPool === 'max' ? Math.max(acc, v) : acc + v / inner;
    }
    y[p] = acc;
  }
  return { data: y, shape: [n, c] };
}

/** Runs the network on `input` (shape [N, ...input dims]), recording every preact and residual output; returns logits. */
export function forward(network: Network, input: Batch, recorded: Recorded = new Map()): Batch {
  let x = input;
  for (const segment of network.segments) {
    if (segment.flatten) x = flattenForward(x, segment.flatten.globalPool);
    for (const unit of segment.units) x = unit.type === 'layer' ? layerForward(x, unit, recorded) : residualForward(x, unit, recorded);
  }
  if (network.classifierFlatten) x = flattenForward(x, network.classifierFlatten.globalPool);
  else x = flattenForward(x, 'none');
  return layerForward(x, network.classifier, recorded);
}

/** N random inputs shaped like the network's input (batch dimension replaced by n). */
export function randomInput(network: Network, n: number, seed = 7): Batch {
  const dims = network.input.shape.slice(1) as number[];
  const size = dims.reduce((a, b) => a * b, 1);
  const random = rng(seed);
  return { data: Float64Array.from({ length: n * size }, () => gaussian(random)), shape: [n, ...dims] };
}

/** `count` random uint8 samples shaped like the network's input, labelled 0. */
export function randomDataset(network: Network, count: number, seed = 5): Dataset {
  const shape = network.input.shape.slice(1) as number[];
  const size = shape.reduce((a, b) => a * b, 1);
  const random = rng(seed);
  const bytes = Uint8Array.from({ length: count * size }, () => Math.floor(random() * 256));
  return Dataset.fromSource(new MemorySource(bytes, size), shape, new Int32Array(count), 'random');
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** The network's logits on `samples` random inputs (another draw than `recordedStatistics`'). */
export function logits(network: Network, samples = 6): Float64Array {
  return forward(network, randomInput(network, samples, 99)).data;
}

/** Every weight, bias and batch-norm vector of `a` within `tolerance` of `b`'s. */
export function expectSameWeights(a: Network, b: Network, tolerance = 1e-5): void {
  const la = allLayers(a);
  const lb = allLayers(b);
  expect(la.length).to.equal(lb.length);
  la.forEach((layer, k) => {
    expect(maxAbsDiff(layer.op.weight.data, lb[k].op.weight.data), layer.name).to.be.at.most(tolerance);
    if (layer.op.bias) expect(maxAbsDiff(layer.op.bias, lb[k].op.bias!), `${layer.name} bias`).to.be.at.most(tolerance);
    if (layer.batchNorm) {
      for (const key of ['scale', 'bias', 'mean', 'variance'] as const) {
        const difference = maxAbsDiff(layer.batchNorm[key], lb[k].batchNorm![key]);
        expect(difference, `${layer.name} bn ${key}`).to.be.at.most(tolerance);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Function-preserving permutations of hidden units

function randomPermutation(random: () => number, n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Reorders axis `axis` (0 = out, 1 = in channels, each with its kernel taps or flattened positions) of a weight tensor. */
function permuteAxis(data: Float32Array, shape: number[], axis: 0 | 1, perm: number[]): Float32Array {
  const out = shape[0];
  const inner = data.length / out;
  const result = new Float32Array(data.length);
  if (axis === 0) {
    perm.forEach((src, dst) => result.set(data.subarray(src * inner, (src + 1) * inner), dst * inner));
    return result;
  }
  const channels = perm.length;
  const taps = inner / channels; // kernel taps or flattened spatial positions per input channel
  for (let o = 0; o < out; o++) {
    perm.forEach((src, dst) => {
      result.set(data.subarray(o * inner + src * taps, o * inner + (src + 1) * taps), o * inner + dst * taps);
    });
  }
  return result;
}

function permuteVector(v: Float32Array, perm: number[]): Float32Array {
  return Float32Array.from(perm, (src) => v[src]);
}

function permuteLayerOutputs(layer: Layer, perm: number[]): void {
  layer.op.weight.data = permuteAxis(layer.op.weight.data, layer.op.weight.shape, 0, perm);
  if (layer.op.bias) layer.op.bias = permuteVector(layer.op.bias, perm);
  const bn = layer.batchNorm;
  if (bn) {
    bn.scale = permuteVector(bn.scale, perm);
    bn.bias = permuteVector(bn.bias, perm);
    bn.mean = permuteVector(bn.mean, perm);
    bn.variance = permuteVector(bn.variance, perm);
  }
}

function permuteLayerInputs(layer: Layer, perm: number[]): void {
  layer.op.weight.data = permuteAxis(layer.op.weight.data, layer.op.weight.shape, 1, perm);
}

/**
 * A copy of `network` with the hidden units of every layer permuted at random, keeping its function: each layer's
 * outputs are permuted and the consumers' inputs follow. All layers feeding one residual stream share one permutation.
 */
export function permuteNetwork(network: Network, seed: number): Network {
  const random = rng(seed);
  const copy = cloneNetwork(network);
  let incoming: number[] | null = null; // permutation of the current stream / previous layer outputs
  const units = copy.segments.flatMap((s) => s.units);
  for (const unit of units) {
    if (unit.type === 'layer') {
      if (incoming) permuteLayerInputs(unit, incoming);
      const perm = randomPermutation(random, unit.op.weight.shape[0]);
      permuteLayerOutputs(unit, perm);
      incoming = perm;
      continue;
    }
    const blockInput: number[] = incoming!;
    const width = unit.branch[unit.branch.length - 1].op.weight.shape[0];
    const streamPerm: number[] = unit.shortcut ? randomPermutation(random, width) : blockInput;
    let inner = blockInput;
    unit.branch.forEach((layer, i) => {
      permuteLayerInputs(layer, inner);
      const perm = i === unit.branch.length - 1 ? streamPerm : randomPermutation(random, layer.op.weight.shape[0]);
      permuteLayerOutputs(layer, perm);
      inner = perm;
    });
    if (unit.shortcut) {
      permuteLayerInputs(unit.shortcut, blockInput);
      permuteLayerOutputs(unit.shortcut, streamPerm);
    }
    incoming = streamPerm;
  }
  if (incoming) permuteLayerInputs(copy.classifier, incoming);
  return copy;
}

/** `network` (modified) with every ReLU (layers, branch layers, joins) replaced by `activation`. */
export function withActivation(network: Network, activation: Activation): Network {
  for (const unit of hiddenUnits(network)) {
    if (unit.activation === 'relu') unit.activation = activation;
    if (unit.type !== 'residual') continue;
    for (const layer of unit.branch) if (layer.activation === 'relu') layer.activation = activation;
  }
  return network;
}

/** Every tap point of `network` (tapShapes' keys as Taps). */
export function allTaps(network: Network): Tap[] {
  return [...tapShapes(network).keys()].map((key) => {
    const at = key.lastIndexOf(':');
    return { layer: key.slice(0, at), point: key.slice(at + 1) as Tap['point'] };
  });
}

/** Every tap the forward pass records on `samples` random inputs, as float32 [samples, ...] arrays by tapKey. */
export function recordedTaps(network: Network, samples = 24): Map<string, Float32Array> {
  const recorded: Recorded = new Map();
  forward(network, randomInput(network, samples), recorded);
  return new Map([...recorded].map(([key, batch]) => [key, Float32Array.from(batch.data)]));
}

/**
 * The statistics of `request` (model m = networks[m]) on `samples` random inputs, from this file's float64 forward
 * pass (rounded to float32 taps, as ONNX Runtime gives them) in one chunk.
 */
export async function recordedStatistics(networks: Network[], request: StatisticsRequest, samples = 24): Promise<Statistics> {
  const outputs = networks.map((network) => recordedTaps(network, samples));
  const builder = new StatisticsBuilder(request, samples, networks.map(tapShapes));
  await builder.addSamples(0, outputs);
  await builder.addGrams((tap, acc) => {
    const rows = outputs[tap.model].get(tap.key)!;
    return acc.add(rows, 0, rows, 0);
  });
  return builder.finish();
}

/** What otFuse reads for `sources` into `target` (activation mode; with the repair's sums when `repair`). */
export async function fusionStatistics(sources: Network[], target: Network, options: { reference?: boolean; alignClassifier?: boolean; repair?: boolean } = {}): Promise<OtStatistics> {
  const models = { sources: sources.map((_, s) => s), target: sources.length };
  const reference = options.reference ?? false;
  const request = fusionRequest(sources, target, models, { mode: 'activations', reference, alignClassifier: options.alignClassifier ?? reference, repair: options.repair ?? false });
  return { statistics: await recordedStatistics([...sources, target], request), ...models };
}

/** Small networks of every supported kind, for the exactness checks of the fusion methods. */
export const fusionCases: [string, () => Network][] = [
  ['MLP with biases', () => buildMlp([20, 16, 12, 10], 5, { bias: true, seed: 3 })],
  ['VGG', () => buildVgg([[4, 5], [6]], [2, 8, 8], 4, { seed: 4 })],
  ['VGG with BN and biases', () => buildVgg([[4, 5], [6]], [2, 8, 8], 4, { seed: 5, batchNorm: true, bias: true })],
  ['ResNet without BN', () => buildResnet([2, 2], [4, 6], [2, 8, 8], 4, { seed: 6 })],
  ['ResNet with BN', () => buildResnet([2, 2], [4, 6], [2, 8, 8], 4, { seed: 7, batchNorm: true })],
  ['Bottleneck ResNet with BN', () => buildBottleneckResnet([2, 2], [2, 3], [2, 8, 8], 4, { seed: 8, batchNorm: true })],
];

/** The ONNX bytes of `network` (what `fuse` and the CLI take). */
export function bytesOf(network: Network): Uint8Array {
  return emitModel(network).bytes;
}
