/**
 * Gradient checks of the native trainer in float64: every parameter gradient that back-propagation gives must
 * match the central finite difference (L(p + h) − L(p − h)) / 2h of the batch loss (batch-norms in training mode).
 * Each network covers a set of ops (every elementwise activation too); the KD loss is checked with both reductions.
 */
import { expect } from 'chai';
import { activationName } from '../../lib/ir/activation.js';
import type { Activation, Network } from '../../lib/ir/network.js';
import { native, type TrainStepOptions } from '../../lib/native.js';
import { compileNetwork } from '../../lib/train/program.js';
import { withActivation } from '../fusion/helpers.js';
import { buildMlp, buildOddNet, buildResnet, buildVgg, randomArray, randomBatch } from './networks.js';

const H = 1e-6;

interface Case {
  n: number;
  teacher?: boolean;
  options?: TrainStepOptions;
  /** Parameter indices checked (default: about 60, evenly spread, first and last included). */
  indices?: number[];
}

function spread(count: number, points: number): number[] {
  const step = Math.max(1, Math.floor(count / points));
  const out = new Set<number>();
  for (let i = 0; i < count; i += step) out.add(i);
  out.add(count - 1);
  return [...out];
}

/** Checks the gradient at the given indices; returns the gradient for further checks. */
function checkGradient(network: Network, c: Case): Float64Array {
  const { program, params, running } = compileNetwork(network);
  const p = Float64Array.from(params);
  const stats = Float64Array.from(running);
  const { input, labels } = randomBatch(network, c.n, 11);
  const classes = network.classifier.op.weight.shape[0]!;
  const teacher = c.teacher ? Float64Array.from(randomArray(c.n * classes, 23, 3)) : null;
  const options = { threads: 1, ...c.options };
  const loss = () => native().trainGradientsSync(program, p, null, input, c.n, labels, teacher, options).loss;
  const { gradient, loss: base } = native().trainGradientsSync(program, p, null, input, c.n, labels, teacher, options);
  expect(Number.isFinite(base)).to.equal(true);
  // Running statistics are read only in evaluation mode: the training-mode gradient must not depend on them.
  stats.fill(123);
  expect(native().trainGradientsSync(program, p, stats, input, c.n, labels, teacher, options).gradient).to.deep.equal(gradient);
  let worst = 0;
  for (const i of c.indices ?? spread(p.length, 60)) {
    const saved = p[i]!;
    p[i] = saved + H;
    const plus = loss();
    p[i] = saved - H;
    const minus = loss();
    p[i] = saved;
    const numeric = (plus - minus) / (2 * H);
    const error = Math.abs(numeric - gradient[i]!) / (1e-4 + Math.abs(numeric));
    worst = Math.max(worst, error);
    expect(error, `parameter ${i}: backprop ${gradient[i]}, finite difference ${numeric}`).to.be.below(1e-5);
  }
  expect(worst).to.be.below(1e-5);
  return gradient;
}

describe('train: gradients against finite differences (float64)', () => {
  it('MLP: dense with bias, dense batch-norm, relu, cross-entropy', () => {
    checkGradient(buildMlp([12, 8, 6], 4, { bias: true, batchNorm: true, seed: 2 }), { n: 7 });
  });

  it('VGG: conv 3x3 pad 1, conv batch-norm, max pool, flatten', () => {
    checkGradient(buildVgg([[3], [4, 4]], [2, 8, 8], 3, { batchNorm: true, seed: 4 }), { n: 5 });
  });

  it('ResNet with BN: residual add, identity and strided projection shortcuts, global average pool', () => {
    checkGradient(buildResnet([1, 1], [3, 4], [2, 6, 6], 3, { batchNorm: true, seed: 5 }), { n: 4 });
  });

  it('ResNet without BN, with biases', () => {
    checkGradient(buildResnet([2, 1], [3, 5], [1, 6, 6], 4, { bias: true, seed: 6 }), { n: 3 });
  });

  it('stride, asymmetric pads, dilation, pointwise conv, avg pool counting pads, ceil-mode max pool, global max pool, dense BN', () => {
    checkGradient(buildOddNet(), { n: 6 });
  });

  it('convs whose batch spans several im2col chunks (the weight gradient sums the chunks)', function () {
    this.timeout(30_000);
    // [3, 40, 40] input, 3x3 conv: 43200 column values per sample, 12 samples per chunk: 13 samples make two chunks.
    const network = buildVgg([[4]], [3, 40, 40], 3, { bias: true, seed: 14 });
    checkGradient(network, { n: 13, indices: [...spread(108, 20), 108, 111, 120, 2000, 4914] });
  });

  it('a zero residual branch (an inserted block) still gets a gradient on its last layer', () => {
    const network = buildResnet([2], [3], [1, 5, 5], 3, { batchNorm: false, seed: 8 });
    const [stem, block] = network.segments[0]!.units;
    if (stem?.type !== 'layer' || block?.type !== 'residual') throw new Error('expected a stem layer and a residual block');
    // The zero branch adds exactly 0 to the block input: without a relu before the block, that input has no exact
    // zeros, so the block's relu has no kink at the checked point and finite differences stay valid.
    stem.activation = 'none';
    block.branch[1]!.op.weight.data.fill(0);
    block.inserted = true;
    const gradient = checkGradient(network, { n: 4 });
    const { params } = compileNetwork(network);
    // The zeroed weights are the only zeros in the parameter buffer: their gradient must not vanish.
    const zeroed = [...params.keys()].filter((i) => params[i] === 0);
    expect(zeroed.length).to.equal(block.branch[1]!.op.weight.data.length);
    expect(zeroed.some((i) => gradient[i] !== 0)).to.equal(true);
  });

  for (const activation of [{ kind: 'leaky_relu', alpha: 0.1 }, 'gelu', 'silu', 'sigmoid', 'tanh'] as Activation[]) {
    it(`${activationName(activation)} after dense, conv and branch layers and residual joins (with BN)`, () => {
      const mlp = buildMlp([6, 5, 4], 3, { bias: true, batchNorm: true, seed: 21 });
      checkGradient(withActivation(mlp, activation), { n: 5 });
      const resnet = buildResnet([1, 1], [2, 3], [1, 5, 5], 3, { batchNorm: true, seed: 22 });
      checkGradient(withActivation(resnet, activation), { n: 3 });
    });
  }

  for (const kdReduction of ['batchmean', 'mean'] as const) {
    it(`KD loss (alpha 0.3, T 2.5, ${kdReduction})`, () => {
      checkGradient(buildMlp([10, 6], 5, { bias: true, seed: 9 }), { n: 6, teacher: true, options: { alpha: 0.3, temperature: 2.5, kdReduction } });
    });
  }

  it('KD loss value: alpha T^2 KL + (1 - alpha) CE, KL divided by N (batchmean) or N * classes (mean)', () => {
    const network = buildMlp([4], 3, { bias: true, seed: 12 });
    const { program, params } = compileNetwork(network);
    const n = 2;
    const { input, labels } = randomBatch(network, n, 13);
    const teacher = Float64Array.from([1, 0, -1, 0.5, 2, 0]);
    const p = Float64Array.from(params);
    const run = (options: TrainStepOptions, t: Float64Array | null) => native().trainGradientsSync(program, p, null, input, n, labels, t, options).loss;
    const logits = native().trainForwardSync(program, p, new Float64Array(0), input, n, 1);
    const T = 2;
    const logSoftmax = (row: number[], temperature: number) => {
      const z = row.map((v) => v / temperature);
      const top = Math.max(...z);
      const lse = top + Math.log(z.reduce((s, v) => s + Math.exp(v - top), 0));
      return z.map((v) => v - lse);
    };
    let ce = 0;
    let kl = 0;
    for (let j = 0; j < n; j++) {
      const s = [...logits.subarray(j * 3, j * 3 + 3)];
      const t = [...teacher.subarray(j * 3, j * 3 + 3)];
      ce -= logSoftmax(s, 1)[labels[j]!]! / n;
      const logP = logSoftmax(t, T);
      const logQ = logSoftmax(s, T);
      kl += logP.reduce((sum, lp, k) => sum + Math.exp(lp) * (lp - logQ[k]!), 0);
    }
    expect(run({}, null)).to.be.closeTo(ce, 1e-12);
    expect(run({ alpha: 0.25, temperature: T }, teacher)).to.be.closeTo(0.25 * T * T * (kl / n) + 0.75 * ce, 1e-12);
    expect(run({ alpha: 0.25, temperature: T, kdReduction: 'mean' }, teacher)).to.be.closeTo(0.25 * T * T * (kl / (n * 3)) + 0.75 * ce, 1e-12);
  });
});
