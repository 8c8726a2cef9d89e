/**
 * The native SGD step against a hand computation on a tiny MLP, the evaluation-mode forward pass against ONNX
 * Runtime, and determinism: the same inputs give bit-identical weights, for any thread count.
 */
import { expect } from 'chai';
import { predictLogits } from '../../lib/eval/index.js';
import { emitModel } from '../../lib/graph/emit.js';
import type { DenseOp, Network } from '../../lib/ir/network.js';
import { native } from '../../lib/native.js';
import { compileNetwork, networkWithParameters } from '../../lib/train/program.js';
import { buildMlp, buildOddNet, buildResnet, buildVgg, randomArray, randomBatch } from './networks.js';

/** y = W2 relu(W1 x + b1) + b2 with cross-entropy: the gradient written out by hand, in float64. */
function handGradient(network: Network, x: Float64Array, labels: Int32Array): Float64Array[] {
  const [hidden] = network.segments[0]!.units;
  if (hidden?.type !== 'layer') throw new Error('expected a dense layer');
  const l1 = hidden.op as DenseOp;
  const l2 = network.classifier.op;
  const [h, d] = l1.weight.shape as [number, number];
  const k = l2.weight.shape[0]!;
  const n = labels.length;
  const gW1 = new Float64Array(h * d), gb1 = new Float64Array(h), gW2 = new Float64Array(k * h), gb2 = new Float64Array(k);
  for (let s = 0; s < n; s++) {
    const xs = x.subarray(s * d, (s + 1) * d);
    const pre = Array.from({ length: h }, (_, i) => l1.bias![i]! + xs.reduce((acc, v, j) => acc + l1.weight.data[i * d + j]! * v, 0));
    const a = pre.map((v) => Math.max(v, 0));
    const z = Array.from({ length: k }, (_, c) => l2.bias![c]! + a.reduce((acc, v, i) => acc + l2.weight.data[c * h + i]! * v, 0));
    const top = Math.max(...z);
    const e = z.map((v) => Math.exp(v - top));
    const sum = e.reduce((p, q) => p + q, 0);
    const dz = e.map((v, c) => (v / sum - (c === labels[s] ? 1 : 0)) / n);
    for (let c = 0; c < k; c++) {
      gb2[c] += dz[c]!;
      for (let i = 0; i < h; i++) gW2[c * h + i] += dz[c]! * a[i]!;
    }
    for (let i = 0; i < h; i++) {
      if (pre[i]! <= 0) continue;
      const da = dz.reduce((acc, v, c) => acc + v * l2.weight.data[c * h + i]!, 0);
      gb1[i] += da;
      for (let j = 0; j < d; j++) gW1[i * d + j] += da * xs[j]!;
    }
  }
  return [gW1, gb1, gW2, gb2]; // the parameter layout of compileNetwork: weight, bias per layer
}

describe('train: SGD step, forward pass, determinism', () => {
  it('two SGD steps with momentum and weight decay equal the hand-computed ones', () => {
    const network = buildMlp([5, 4], 3, { bias: true, seed: 21 });
    const compiled = compileNetwork(network);
    const { input, labels } = randomBatch(network, 6, 22);
    const [lr, mu, wd] = [0.1, 0.9, 0.01];
    const expected = Float64Array.from(compiled.params);
    const velocity = new Float64Array(expected.length);
    let current = network;
    for (let step = 0; step < 2; step++) {
      const gradient = Float64Array.from(handGradient(current, input, labels).flatMap((g) => [...g]));
      for (let i = 0; i < expected.length; i++) {
        velocity[i] = mu * velocity[i]! + gradient[i]! + wd * expected[i]!;
        expected[i] -= lr * velocity[i]!;
      }
      current = networkWithParameters(network, Float32Array.from(expected), compiled.running);
    }
    const nativeVelocity = new Float32Array(compiled.params.length);
    for (let step = 0; step < 2; step++) {
      native().trainStepSync(compiled.program, compiled.params, compiled.running, nativeVelocity, Float32Array.from(input), 6, labels, null,
        { learningRate: lr, momentum: mu, weightDecay: wd, threads: 1 });
    }
    compiled.params.forEach((v, i) => expect(v).to.be.closeTo(expected[i]!, 2e-6));
  });

  it('the evaluation-mode forward pass matches ONNX Runtime on the emitted model', async () => {
    for (const network of [buildOddNet(), buildResnet([1, 1], [3, 4], [2, 6, 6], 3, { batchNorm: true, seed: 5 }), buildMlp([12, 8], 4, { batchNorm: true, bias: true })]) {
      const { program, params, running, inputSize } = compileNetwork(network);
      const n = 5;
      const input = randomArray(n * inputSize, 31);
      const ours = native().trainForwardSync(program, params, running, input, n, 1);
      const shape = [n, ...(network.input.shape.slice(1) as number[])];
      const ort = await predictLogits(emitModel(network).bytes, { data: input, shape });
      ours.forEach((v, i) => expect(v).to.be.closeTo(ort[i]!, 1e-4));
    }
  });

  it('training steps are bit-identical run to run and for 1, 2 or 3 threads', () => {
    const network = buildVgg([[4], [6, 6]], [2, 10, 10], 5, { batchNorm: true, bias: true, seed: 41 });
    const train = (threads: number) => {
      const { program, params, running } = compileNetwork(network);
      const velocity = new Float32Array(params.length);
      for (let step = 0; step < 3; step++) {
        const { input, labels } = randomBatch(network, 9, 50 + step);
        native().trainStepSync(program, params, running, velocity, Float32Array.from(input), 9, labels, null,
          { learningRate: 0.05, momentum: 0.9, weightDecay: 1e-3, threads });
      }
      return { params, running };
    };
    const reference = train(1);
    for (const threads of [1, 2, 3]) {
      const again = train(threads);
      expect(Buffer.from(again.params.buffer).equals(Buffer.from(reference.params.buffer)), `params, ${threads} threads`).to.equal(true);
      expect(Buffer.from(again.running.buffer).equals(Buffer.from(reference.running.buffer)), `running, ${threads} threads`).to.equal(true);
    }
  });

  it('batch-norm running statistics follow torch: r = (1 - m) r + m batch, unbiased variance', () => {
    const network = buildMlp([3, 2], 2, { batchNorm: true, seed: 61 });
    const { program, params, running } = compileNetwork(network);
    const before = Float64Array.from(running);
    const { input, labels } = randomBatch(network, 4, 62);
    native().trainStepSync(program, params.slice(), running, new Float32Array(params.length), Float32Array.from(input), 4, labels, null, { learningRate: 0, bnMomentum: 0.25, threads: 1 });
    const [hidden] = network.segments[0]!.units;
    if (hidden?.type !== 'layer' || hidden.op.kind !== 'dense') throw new Error('expected a dense layer');
    const W = hidden.op.weight.data;
    for (let c = 0; c < 2; c++) {
      const values = [0, 1, 2, 3].map((s) => W[c * 3]! * input[s * 3]! + W[c * 3 + 1]! * input[s * 3 + 1]! + W[c * 3 + 2]! * input[s * 3 + 2]!);
      const mean = values.reduce((a, b) => a + b, 0) / 4;
      const unbiased = values.reduce((a, v) => a + (v - mean) ** 2, 0) / 3;
      expect(running[c]).to.be.closeTo(0.75 * before[c]! + 0.25 * mean, 1e-6);
      expect(running[2 + c]).to.be.closeTo(0.75 * before[2 + c]! + 0.25 * unbiased, 1e-6);
    }
  });
});
