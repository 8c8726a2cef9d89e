/**
 * Tiny networks and batches for the trainer tests: the random MLP / VGG / ResNet builders of the fusion tests, plus a
 * network that exercises what those do not (asymmetric pads, strides and dilations, a pointwise conv, average
 * pooling with padding, ceil-mode max pooling, a global max pool and a dense layer with batch-norm).
 */
import type { Layer, Network, Pool } from '../../lib/ir/network.js';
import { compileNetwork } from '../../lib/train/program.js';
import { rng } from '../fusion/helpers.js';

export { buildMlp, buildResnet, buildVgg } from '../fusion/helpers.js';

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

export function randomArray(length: number, seed: number, scale = 1): Float32Array {
  const random = rng(seed);
  return Float32Array.from({ length }, () => gaussian(random) * scale);
}

function batchNorm(width: number, seed: number) {
  const random = rng(seed);
  return {
    scale: Float32Array.from({ length: width }, () => 0.5 + random()),
    bias: randomArray(width, seed + 1, 0.1),
    mean: randomArray(width, seed + 2, 0.1),
    variance: Float32Array.from({ length: width }, () => 0.5 + random()),
    epsilon: 1e-5,
  };
}

function conv(name: string, inputs: number, outputs: number, kernel: number, seed: number, extra: Partial<Layer> & { stride?: [number, number]; pads?: [number, number, number, number]; dilations?: [number, number]; bias?: boolean } = {}): Layer {
  const { stride = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], bias = false, ...layer } = extra;
  return {
    type: 'layer',
    name,
    op: {
      kind: 'conv',
      weight: { data: randomArray(outputs * inputs * kernel * kernel, seed, Math.sqrt(2 / (inputs * kernel * kernel))), shape: [outputs, inputs, kernel, kernel] },
      ...(bias ? { bias: randomArray(outputs, seed + 7, 0.1) } : {}),
      stride, pads, dilations,
    },
    activation: 'relu',
    ...layer,
  };
}

function pool(kind: 'max' | 'avg', kernel: [number, number], stride: [number, number], pads: [number, number, number, number], ceilMode: boolean, countIncludePad: boolean): Pool {
  return { kind, kernel, stride, pads, ceilMode, countIncludePad };
}

/**
 * input [2, 9, 9] → conv 3x3 stride 2, pads (1, 0, 1, 1), dilation 2, BN, relu, avgpool 2x2/2 pads 1 counting pads
 * → [3, 3, 2] → pointwise conv with bias, BN, relu, maxpool 2x2/2 ceil mode → [4, 2, 1] → global max pool → dense
 * with BN, relu → classifier (3 classes).
 */
export function buildOddNet(seed = 3): Network {
  const conv1 = conv('conv1', 2, 3, 3, seed, { stride: [2, 2], pads: [1, 0, 1, 1], dilations: [2, 2], batchNorm: batchNorm(3, seed + 10), pool: pool('avg', [2, 2], [2, 2], [1, 1, 1, 1], false, true) });
  const conv2 = conv('conv2', 3, 4, 1, seed + 20, { bias: true, batchNorm: batchNorm(4, seed + 30), pool: pool('max', [2, 2], [2, 2], [0, 0, 0, 0], true, false) });
  const fc1: Layer = {
    type: 'layer', name: 'fc1', activation: 'relu', batchNorm: batchNorm(5, seed + 40),
    op: { kind: 'dense', weight: { data: randomArray(20, seed + 50, 0.7), shape: [5, 4] }, bias: randomArray(5, seed + 51, 0.1) },
  };
  const classifier = {
    type: 'layer' as const, name: 'fc_out', activation: 'none' as const,
    op: { kind: 'dense' as const, weight: { data: randomArray(15, seed + 60, 0.6), shape: [3, 5] }, bias: randomArray(3, seed + 61, 0.1) },
  };
  return {
    input: { name: 'input', shape: ['N', 2, 9, 9], layout: 'NCHW' },
    segments: [
      { kind: 'spatial', units: [conv1] },
      { kind: 'spatial', units: [conv2] },
      { kind: 'flat', flatten: { globalPool: 'max' }, units: [fc1] },
    ],
    classifier,
    output: { name: 'logits', shape: ['N', 3], transform: 'none' },
    meta: { opset: 13, irVersion: 8, producerName: 'test', metadata: {} },
  };
}

/** Input size per sample and classes of a network. */
export function sizes(network: Network): { inputSize: number; classes: number } {
  const { inputSize, classes } = compileNetwork(network);
  return { inputSize, classes };
}

/** A batch of n random samples with labels 0, 1, ..., classes − 1, 0, ... */
export function randomBatch(network: Network, n: number, seed: number): { input: Float64Array; labels: Int32Array } {
  const { inputSize, classes } = sizes(network);
  return { input: Float64Array.from(randomArray(n * inputSize, seed)), labels: Int32Array.from({ length: n }, (_, i) => i % classes) };
}
