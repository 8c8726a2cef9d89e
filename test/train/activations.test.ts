/**
 * The elementwise activations in the native trainer (their gradients are checked in gradients.test.ts): the
 * trainer's evaluation-mode forward against ONNX Runtime on the torch-exported activation fixtures, and the program
 * checks of the activation op.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { readNetwork } from '../../lib/graph/recognise.js';
import { native } from '../../lib/native.js';
import { compileNetwork } from '../../lib/train/program.js';
import { withActivation } from '../fusion/helpers.js';
import { maxAbsDiff, runModel } from '../graph/support.js';
import { buildMlp, randomBatch } from './networks.js';

describe('train: elementwise activations', () => {
  for (const name of ['act_leaky', 'act_gelu', 'act_silu', 'act_tanh', 'act_sigmoid']) {
    it(`${name}: the trainer's forward equals ONNX Runtime on the torch export`, async () => {
      const bytes = readFileSync(`test/fixtures/exports/${name}.onnx`);
      const network = readNetwork(bytes);
      const { program, params, running } = compileNetwork(network);
      const { input } = randomBatch(network, 1, 5);
      const [p, r] = [Float64Array.from(params), Float64Array.from(running)];
      const logits = native().trainForwardSync(program, p, r, input, 1, 1);
      const feeds = { [network.input.name]: { data: Float32Array.from(input), dims: [1, 1, 28, 28] } };
      const ort = await runModel(bytes, feeds);
      expect(maxAbsDiff(Float32Array.from(logits), ort[network.output.name]!)).to.be.below(1e-4);
    });
  }

  it('a program with an unknown activation or a non-finite slope is refused with E_ARG naming the op', () => {
    const network = withActivation(buildMlp([6, 5], 3, { seed: 3 }), { kind: 'leaky_relu', alpha: 0.1 });
    const { program, params } = compileNetwork(network);
    const at = [...Array(program.ops.length / 24).keys()].find((k) => program.ops[k * 24] === 9)!;
    const { input, labels } = randomBatch(network, 2, 1);
    const p = Float64Array.from(params);
    const run = (ops: Int32Array, epsilons: Float64Array) => () =>
      native().trainGradientsSync({ ...program, ops, epsilons }, p, null, input, 2, labels, null, { threads: 1 });
    const ops = program.ops.slice();
    ops[at * 24 + 23] = 7;
    expect(run(ops, program.epsilons)).to.throw(new RegExp(`op ${at} \\(activation\\): unknown activation 7`))
      .with.property('code', 'E_ARG');
    const epsilons = program.epsilons.slice();
    epsilons[at] = NaN;
    expect(run(program.ops, epsilons)).to.throw(/the activation parameter must be finite/);
  });
});
