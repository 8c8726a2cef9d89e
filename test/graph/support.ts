/**
 * Test support: hand-built ONNX graphs with seeded random weights, and ONNX Runtime runs to compare models.
 */
import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import { intAttr, intsAttr, floatValueInfo, floatAttr } from '../../lib/onnx/build.js';
import { encodeModel, type Attribute, type ModelProto, type NodeProto, type TensorProto } from '../../lib/onnx/proto.js';
import { floatTensor, int64Tensor } from '../../lib/onnx/tensor.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { emitModel } from '../../lib/graph/emit.js';
import type { Network } from '../../lib/ir/network.js';
import { rng as seeded } from '../support/random.js';

export { intAttr, intsAttr, floatAttr, seeded };


export function randomArray(random: () => number, length: number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length }, () => offset + scale * (2 * random() - 1));
}

export interface ConvOptions {
  kernel?: number;
  stride?: number;
  pad?: number;
  bias?: boolean;
  attrs?: Attribute[];
}

/** Builds a graph node by node, torch-style names ('conv1.weight'), random weights from a seed. */
export class Sketch {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private count = 0;
  readonly random: () => number;

  constructor(readonly inputName: string, readonly inputShape: (number | string)[], seed = 1) {
    this.random = seeded(seed);
  }

  weight(name: string, dims: number[], scale = 0.5, offset = 0): string {
    const length = dims.reduce((n, d) => n * d, 1);
    this.initializers.push(floatTensor(name, dims, randomArray(this.random, length, scale / Math.sqrt(dims[1] ?? 1), offset)));
    return name;
  }

  ints(name: string, values: number[]): string {
    this.initializers.push(int64Tensor(name, [values.length], values));
    return name;
  }

  node(opType: string, inputs: string[], attribute: Attribute[] = [], outputs?: string[]): string {
    const out = outputs ?? [`t${this.count++}`];
    this.nodes.push({ opType, name: `/${opType}_${this.count}`, input: inputs, output: out, domain: '', attribute });
    return out[0];
  }

  conv(x: string, name: string, cin: number, cout: number, options: ConvOptions = {}): string {
    const k = options.kernel ?? 3;
    const inputs = [x, this.weight(`${name}.weight`, [cout, cin, k, k], 1 / k)];
    if (options.bias ?? true) inputs.push(this.weight(`${name}.bias`, [cout], 0.1));
    const pad = options.pad ?? Math.floor(k / 2);
    const attrs = options.attrs ?? [intsAttr('kernel_shape', [k, k]), intsAttr('strides', [options.stride ?? 1, options.stride ?? 1]), intsAttr('pads', [pad, pad, pad, pad])];
    return this.node('Conv', inputs, attrs);
  }

  bn(x: string, name: string, c: number): string {
    const inputs = [x, this.weight(`${name}.weight`, [c], 0.3, 1), this.weight(`${name}.bias`, [c], 0.2),
      this.weight(`${name}.running_mean`, [c], 0.2), this.weight(`${name}.running_var`, [c], 0.3, 1)];
    return this.node('BatchNormalization', inputs, [floatAttr('epsilon', 1e-5)]);
  }

  relu(x: string): string {
    return this.node('Relu', [x]);
  }

  gemm(x: string, name: string, inputs: number, outputs: number, bias = true): string {
    const args = [x, this.weight(`${name}.weight`, [outputs, inputs])];
    if (bias) args.push(this.weight(`${name}.bias`, [outputs], 0.1));
    return this.node('Gemm', args, [intAttr('transB', 1)]);
  }

  maxPool(x: string, k = 2, stride = 2): string {
    return this.node('MaxPool', [x], [intsAttr('kernel_shape', [k, k]), intsAttr('strides', [stride, stride])]);
  }

  flatten(x: string): string {
    return this.node('Flatten', [x], [intAttr('axis', 1)]);
  }

  model(output: string, outputShape: (number | string)[], opset = 13, irVersion = 7): ModelProto {
    const last = this.nodes[this.nodes.length - 1];
    if (last.output[0] !== output) last.output[0] = output;
    return {
      irVersion, opsetImport: [{ domain: '', version: opset }], producerName: 'sketch', producerVersion: '', domain: '', modelVersion: 0, docString: '',
      graph: { name: 'g', node: this.nodes, initializer: this.initializers, input: [floatValueInfo(this.inputName, this.inputShape)], output: [floatValueInfo(output, outputShape)], valueInfo: [] },
      metadataProps: [{ key: 'k', value: 'v' }],
    };
  }

  /** Encodes the graph with its last node renamed to produce `output`. */
  finish(output = 'logits', outputShape: (number | string)[] = ['N', 10], opset = 13): Uint8Array {
    return encodeModel(this.model(output, outputShape, opset));
  }
}

export async function runModel(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes);
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, { data, dims }] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', data, dims);
  const results = await session.run(inputs);
  const out: Record<string, Float32Array> = {};
  for (const [name, tensor] of Object.entries(results)) out[name] = tensor.data as Float32Array;
  await session.release();
  return out;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** The network without its ONNX facts (opset and IR version may be raised on writing), typed arrays as lists. */
function comparable(network: Network): unknown {
  return JSON.parse(JSON.stringify({ ...network, meta: undefined }, (_, v: unknown) => (v instanceof Float32Array ? Array.from(v) : v)));
}

/**
 * ONNX → IR → ONNX, both run in ORT on the same random batch. Returns the network and the largest
 * absolute difference of the outputs. Also checks that the emitted model is recognised as the same network.
 */
export async function roundTrip(bytes: Uint8Array, batch = 3, seed = 7): Promise<{ network: Network; diff: number; emitted: Uint8Array }> {
  const network = readNetwork(bytes);
  const emitted = emitModel(network).bytes;
  expect(comparable(readNetwork(emitted)), 'IR → ONNX → IR').to.deep.equal(comparable(network));
  const dims = [batch, ...(network.input.shape.slice(1) as number[])];
  const data = randomArray(seeded(seed), dims.reduce((n, d) => n * d, 1));
  const feeds = { [network.input.name]: { data, dims } };
  const [a, b] = await Promise.all([runModel(bytes, feeds), runModel(emitted, feeds)]);
  return { network, diff: maxAbsDiff(a[network.output.name], b[network.output.name]), emitted };
}
