/**
 * Plain torch.onnx.export fixtures (scripts/make_export_fixtures.py: fixed batch 1, no dynamic axes, no metadata):
 * torchvision VGG and ResNet structures, and nets with LeakyReLU, GELU, SiLU, tanh and sigmoid. Each is recognised
 * as the structure torch built and goes ONNX → IR → ONNX with the same outputs in ORT (invariant 1). Hand-built
 * graphs cover opset-20 Gelu, no-op pools and the refusals.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { isClafusionError } from '../../lib/errors.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { activationName } from '../../lib/ir/activation.js';
import { type Activation, allLayers, hiddenUnits, type Network } from '../../lib/ir/network.js';
import { Sketch, floatAttr, intsAttr, roundTrip } from './support.js';

const DIR = 'test/fixtures/exports';

/** The activations of the hidden units, in order ('residual:' marks a block's activation after its join). */
function activations(network: Network): string[] {
  return hiddenUnits(network).map((u) => `${u.type === 'residual' ? 'residual:' : ''}${activationName(u.activation)}`);
}

describe('plain torch.onnx.export fixtures', () => {
  const fixtures = ['plain_deep', 'plain_shallow', 'tv_vgg_bn', 'tv_resnet', 'act_leaky', 'act_gelu', 'act_silu',
    'act_tanh', 'act_sigmoid'];
  for (const name of fixtures) {
    it(`${name}: ONNX → IR → ONNX gives the same outputs in ORT (fixed batch 1)`, async () => {
      const { network, diff } = await roundTrip(readFileSync(`${DIR}/${name}.onnx`), 1);
      expect(network.input.shape[0]).to.equal(1);
      expect(diff).to.be.at.most(1e-5);
    });
  }

  it('torchvision VGG: the 1x1 stride-1 AveragePool of AdaptiveAvgPool2d((7, 7)) on 7x7 is looked through', () => {
    const network = readNetwork(`${DIR}/tv_vgg_bn.onnx`);
    const units = hiddenUnits(network);
    expect(units.map((u) => u.name)).to.deep.equal(['features.0', 'features.4', 'features.7', 'classifier.0',
      'classifier.3']);
    expect(units.map((u) => u.pool?.kernel.join('x') ?? '-')).to.deep.equal(['2x2', '-', '2x2', '-', '-']);
    expect(network.segments.map((s) => s.kind)).to.deep.equal(['spatial', 'spatial', 'flat']);
  });

  it('torchvision ResNet (BasicBlock [2, 2, 2, 2], the resnet18 layout): stem, 8 blocks, 3 projections', () => {
    const network = readNetwork(`${DIR}/tv_resnet.onnx`);
    const units = hiddenUnits(network);
    const blocks = ['layer1.0', 'layer1.1', 'layer2.0', 'layer2.1', 'layer3.0', 'layer3.1', 'layer4.0', 'layer4.1'];
    expect(units.map((u) => u.name)).to.deep.equal(['conv1', ...blocks]);
    const projected = units.filter((u) => u.type === 'residual' && u.shortcut).map((u) => u.name);
    expect(projected).to.deep.equal(['layer2.0', 'layer3.0', 'layer4.0']);
    expect(units[0].pool).to.include({ kind: 'max' });
    expect(network.classifierFlatten).to.deep.equal({ globalPool: 'avg' });
  });

  const expected: Record<string, Activation> = {
    act_leaky: { kind: 'leaky_relu', alpha: Math.fround(0.1) },
    act_gelu: 'gelu',
    act_silu: 'silu',
    act_tanh: 'tanh',
    act_sigmoid: 'sigmoid',
  };
  for (const [name, activation] of Object.entries(expected)) {
    it(`${name}: every hidden layer and the residual join carry ${activationName(activation)}`, () => {
      const network = readNetwork(`${DIR}/${name}.onnx`);
      const a = activationName(activation);
      expect(activations(network)).to.deep.equal([a, `residual:${a}`, a, a]);
      const block = hiddenUnits(network)[1];
      const branch = block.type === 'residual' && block.branch.map((l) => activationName(l.activation));
      expect(branch).to.deep.equal([a, 'none']);
      expect(allLayers(network).at(-1)!.activation).to.equal('none');
    });
  }
});

describe('activations and no-op pools in hand-built graphs', () => {
  function convNet(activation: (s: Sketch, x: string) => string, pool?: (s: Sketch, x: string) => string): Sketch {
    const s = new Sketch('x', ['N', 2, 6, 6], 3);
    let y = activation(s, s.conv('x', 'c1', 2, 4));
    if (pool) y = pool(s, y);
    y = s.maxPool(y);
    s.gemm(s.flatten(y), 'fc', 4 * 3 * 3, 5);
    return s;
  }

  it('opset-20 Gelu is recognised, emitted as its erf form and runs the same', async () => {
    const bytes = convNet((s, x) => s.node('Gelu', [x])).finish('logits', ['N', 5], 20);
    const { network, diff } = await roundTrip(bytes);
    expect(activations(network)).to.deep.equal(['gelu']);
    expect(diff).to.be.at.most(1e-5);
  });

  it("Gelu with approximate='tanh' is refused by name", () => {
    const approximate = { name: 'approximate', type: 3, s: new TextEncoder().encode('tanh') };
    const bytes = convNet((s, x) => s.node('Gelu', [x], [approximate])).finish('logits', ['N', 5], 20);
    expect(() => readNetwork(bytes)).to.throw(/Gelu with approximate='tanh'; only the exact \(erf\) GELU/)
      .that.satisfies((err: unknown) => isClafusionError(err, 'E_UNSUPPORTED_GRAPH'));
  });

  it('1x1 stride-1 unpadded MaxPool and AveragePool are looked through; a padded or strided one is not', async () => {
    for (const op of ['MaxPool', 'AveragePool']) {
      const pool = (s: Sketch, x: string) => s.node(op, [x], [intsAttr('kernel_shape', [1, 1])]);
      const bytes = convNet((s, x) => s.relu(x), pool).finish('logits', ['N', 5]);
      const { network, diff } = await roundTrip(bytes);
      expect(hiddenUnits(network).map((u) => u.pool?.kernel.join('x'))).to.deep.equal(['2x2']);
      expect(diff).to.be.at.most(1e-6);
    }
    const stridedPool = (s: Sketch, x: string) =>
      s.node('AveragePool', [x], [intsAttr('kernel_shape', [1, 1]), intsAttr('strides', [2, 2])]);
    const strided = convNet((s, x) => s.relu(x), stridedPool);
    expect(() => readNetwork(strided.finish('logits', ['N', 5]))).to.throw(/a second pool in a row/);
  });

  it('MaxPool before an activation: swapped for LeakyReLU (monotone), refused for GELU (not monotone)', () => {
    const swapped = new Sketch('x', ['N', 2, 6, 6], 3);
    const pooled = swapped.maxPool(swapped.conv('x', 'c1', 2, 4));
    swapped.gemm(swapped.flatten(swapped.node('LeakyRelu', [pooled], [floatAttr('alpha', 0.2)])), 'fc', 36, 5);
    const network = readNetwork(swapped.finish('logits', ['N', 5]));
    expect(activations(network)).to.deep.equal([activationName({ kind: 'leaky_relu', alpha: Math.fround(0.2) })]);
    expect(hiddenUnits(network)[0].pool).to.include({ kind: 'max' });
    const gelu = new Sketch('x', ['N', 2, 6, 6], 3);
    gelu.gemm(gelu.flatten(gelu.node('Gelu', [gelu.maxPool(gelu.conv('x', 'c1', 2, 4))])), 'fc', 36, 5);
    expect(() => readNetwork(gelu.finish('logits', ['N', 5], 20))).to.throw(/Gelu that follows no weight op/);
  });

  it('unsupported activations are refused by name, not as a residual problem', () => {
    for (const op of ['Softplus', 'Elu', 'HardSwish']) {
      const bytes = convNet((s, x) => s.node(op, [x])).finish('logits', ['N', 5], 17);
      expect(() => readNetwork(bytes)).to.throw(new RegExp(`${op} is not a supported activation`))
        .that.satisfies((err: unknown) => isClafusionError(err, 'E_UNSUPPORTED_GRAPH'));
    }
    // x · Sigmoid(x) with a second Mul input that is not x is no SiLU: the Mul is named as outside any pattern.
    const s = new Sketch('x', ['N', 2, 6, 6], 3);
    const c = s.conv('x', 'c1', 2, 4);
    const y = s.node('Mul', [s.node('Sigmoid', [c]), s.weight('scale', [1])]);
    s.gemm(s.flatten(s.maxPool(y)), 'fc', 36, 5);
    expect(() => readNetwork(s.finish('logits', ['N', 5]))).to.throw(/Mul.*not part of a supported activation pattern/);
  });
});
