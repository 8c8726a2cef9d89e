import { expect } from 'chai';
import { emitModel } from '../../lib/graph/emit.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { decodeModel } from '../../lib/onnx/proto.js';
import { allLayers, hiddenUnits, type Network } from '../../lib/ir/network.js';
import { AttributeType } from '../../lib/onnx/proto.js';
import { stringAttr } from '../../lib/onnx/build.js';
import { intAttr, intsAttr, roundTrip, Sketch } from './support.js';

const BOUND = 1e-5;

async function expectRoundTrip(bytes: Uint8Array, label: string): Promise<Network> {
  const { network, diff } = await roundTrip(bytes);
  console.log(`      ${label}: max |ORT(source) - ORT(emitted)| = ${diff.toExponential(2)}`);
  expect(diff).to.be.at.most(BOUND);
  return network;
}

function segmentShape(network: Network): string {
  return network.segments.map((s) => `${s.kind}${s.flatten ? `(${s.flatten.globalPool})` : ''}:${s.units.map((u) => u.type === 'layer' ? u.name : `[${u.name}]`).join(',')}`).join(' | ');
}

/** MLP 20-16-12-10 on a flat [N, 20] input, in several dense encodings. */
function mlp(dense: (s: Sketch, x: string, name: string, inputs: number, outputs: number) => string, head?: 'LogSoftmax' | 'Softmax'): Uint8Array {
  const s = new Sketch('x', ['batch', 20]);
  let h = s.relu(dense(s, 'x', 'fc1', 20, 16));
  h = s.relu(dense(s, h, 'fc2', 16, 12));
  const logits = dense(s, h, 'fc3', 12, 10);
  if (head) s.node(head, [logits], [intAttr('axis', 1)]);
  return s.finish('y', ['batch', 10]);
}

describe('ONNX → IR → ONNX round trips (ORT outputs within 1e-5)', () => {
  it('MLP with Gemm and a LogSoftmax head', async () => {
    const network = await expectRoundTrip(mlp((s, x, n, i, o) => s.gemm(x, n, i, o), 'LogSoftmax'), 'MLP Gemm');
    expect(network.output.transform).to.equal('logsoftmax');
    expect(network.input).to.deep.equal({ name: 'x', shape: ['batch', 20], layout: 'NC' });
    expect(segmentShape(network)).to.equal('flat:fc1,fc2');
    expect(network.classifier.name).to.equal('fc3');
  });

  it('MLP with MatMul + Add (weights [in, out])', async () => {
    const matmulAdd = (s: Sketch, x: string, n: string, i: number, o: number): string =>
      s.node('Add', [s.weight(`${n}.bias`, [o], 0.1), s.node('MatMul', [x, s.weight(`${n}.weight`, [i, o])])]);
    const network = await expectRoundTrip(mlp(matmulAdd, 'Softmax'), 'MLP MatMul+Add');
    expect(network.classifier.op.weight.shape).to.deep.equal([10, 12]);
    expect(network.classifier.op.bias?.length).to.equal(10);
  });

  it('MLP with MatMul and no biases', async () => {
    const network = await expectRoundTrip(mlp((s, x, n, i, o) => s.node('MatMul', [x, s.weight(`${n}.weight`, [i, o])])), 'MLP MatMul');
    expect(allLayers(network).every((l) => l.op.bias === undefined)).to.equal(true);
  });

  it('Transpose(weight) → MatMul, as torch exports Linear(bias=False) without constant folding', async () => {
    const network = await expectRoundTrip(mlp((s, x, n, i, o) => s.node('MatMul', [x, s.node('Transpose', [s.weight(`${n}.weight`, [o, i])], [intsAttr('perm', [1, 0])])])), 'Transpose+MatMul');
    expect(allLayers(network).map((l) => l.name)).to.deep.equal(['fc1', 'fc2', 'fc3']);
  });

  it('Gemm with transB=0, alpha and beta folded into weight and bias', async () => {
    const gemm = (s: Sketch, x: string, n: string, i: number, o: number): string =>
      s.node('Gemm', [x, s.weight(`${n}.weight`, [i, o]), s.weight(`${n}.bias`, [1, o], 0.1)], [{ name: 'alpha', type: AttributeType.Float, f: 0.7 }, { name: 'beta', type: AttributeType.Float, f: 1.3 }]);
    await expectRoundTrip(mlp(gemm), 'Gemm alpha/beta');
  });

  it('Identity and inference Dropout are looked through', async () => {
    const s = new Sketch('x', ['N', 20]);
    let h = s.node('Identity', [s.relu(s.gemm('x', 'fc1', 20, 16))]);
    h = s.node('Dropout', [h], [], ['d0', '']);
    s.gemm(h, 'fc2', 16, 10);
    const network = await expectRoundTrip(s.finish(), 'Identity/Dropout');
    expect(segmentShape(network)).to.equal('flat:fc1');
  });

  for (const withBn of [false, true]) {
    it(`VGG-style conv/relu/maxpool/flatten/gemm ${withBn ? 'with' : 'without'} BN`, async () => {
      const s = new Sketch('input', ['N', 3, 16, 16], withBn ? 2 : 3);
      const block = (x: string, name: string, cin: number, cout: number): string => {
        const y = s.conv(x, name, cin, cout, { bias: !withBn });
        return s.relu(withBn ? s.bn(y, `${name}.bn`, cout) : y);
      };
      let h = block('input', 'features.0', 3, 8);
      h = s.maxPool(block(h, 'features.1', 8, 8));
      h = s.maxPool(block(h, 'features.2', 8, 12));
      h = s.relu(s.gemm(s.flatten(h), 'classifier.0', 12 * 4 * 4, 32));
      s.gemm(h, 'classifier.1', 32, 10);
      const network = await expectRoundTrip(s.finish(), `VGG ${withBn ? '+BN' : ''}`);
      expect(segmentShape(network)).to.equal('spatial:features.0,features.1 | spatial:features.2 | flat(none):classifier.0');
      expect(allLayers(network).filter((l) => l.batchNorm).length).to.equal(withBn ? 3 : 0);
    });
  }

  it('conv without hidden dense: flatten on the classifier, Reshape [-1, C] from a Constant node', async () => {
    const s = new Sketch('input', ['N', 2, 8, 8]);
    const h = s.maxPool(s.relu(s.conv('input', 'conv1', 2, 4)));
    s.nodes.push({ opType: 'Constant', name: 'shape', input: [], output: ['shape'], domain: '', attribute: [{ name: 'value', type: AttributeType.Tensor, t: { name: '', dims: [2], dataType: 7, int64Data: BigInt64Array.of(-1n, 64n) } }] });
    s.gemm(s.node('Reshape', [h, 'shape']), 'fc', 64, 10);
    const network = await expectRoundTrip(s.finish(), 'conv + Reshape[-1,C]');
    expect(network.classifierFlatten).to.deep.equal({ globalPool: 'none' });
    expect(network.segments.map((seg) => seg.kind)).to.deep.equal(['spatial']);
  });

  it('GlobalMaxPool + Flatten, and an opset-11 Softmax with its default axis', async () => {
    const s = new Sketch('input', ['N', 2, 5, 5]);
    const h = s.flatten(s.node('GlobalMaxPool', [s.relu(s.conv('input', 'c', 2, 6))]));
    s.node('Softmax', [s.gemm(h, 'fc', 6, 10)]);
    const network = await expectRoundTrip(s.finish('probs', ['N', 10], 11), 'GlobalMaxPool + Softmax');
    expect(network.classifierFlatten).to.deep.equal({ globalPool: 'max' });
    expect(network.output.transform).to.equal('softmax');
  });

  it('Reshape [0, -1] from an initializer', async () => {
    const s = new Sketch('input', ['N', 2, 4, 4]);
    const h = s.relu(s.conv('input', 'conv1', 2, 3));
    s.gemm(s.node('Reshape', [h, s.ints('shape', [0, -1])]), 'fc', 48, 10);
    await expectRoundTrip(s.finish(), 'Reshape[0,-1]');
  });

  it('conv options: auto_pad SAME_UPPER with stride 2, VALID, dilations, AveragePool with pads, MaxPool before Relu', async () => {
    const s = new Sketch('input', ['N', 2, 12, 12]); // 12 with k3 s2 SAME_UPPER pads 1 pixel, at the end
    const same = [intsAttr('kernel_shape', [3, 3]), stringAttr('auto_pad', 'SAME_UPPER'), intsAttr('strides', [2, 2])];
    let h = s.relu(s.conv('input', 'a', 2, 4, { attrs: same }));
    h = s.relu(s.conv(h, 'b', 4, 4, { attrs: [intsAttr('dilations', [2, 2]), intsAttr('pads', [2, 1, 2, 1])] }));
    h = s.relu(s.maxPool(s.conv(h, 'c', 4, 5, { kernel: 2, attrs: [stringAttr('auto_pad', 'VALID')] }), 2, 1));
    h = s.relu(s.conv(h, 'd', 5, 5, { kernel: 1 }));
    h = s.node('AveragePool', [h], [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 1, 1]), intAttr('count_include_pad', 1)]);
    s.gemm(s.flatten(h), 'fc', 5 * 2 * 1, 10); // 12 →(SAME, s2) 6x6 →(dil 2, pads 2,1) 6x4 →(2x2 VALID) 5x3 →(max 2, s1) 4x2 →(avg 3, s2, p1) 2x1
    const network = await expectRoundTrip(s.finish(), 'conv options');
    const layers = allLayers(network);
    expect(layers[0].op.kind === 'conv' && layers[0].op.pads).to.deep.equal([0, 0, 1, 1]);
    expect(layers[2].pool?.kind).to.equal('max');
  });

  it('a zero Pad before a Conv and before an AveragePool (counted in the average) becomes their pads', async () => {
    const s = new Sketch('input', ['N', 2, 6, 6]);
    const pad = (x: string, p: number): string => s.node('Pad', [x, s.ints(`pads${p}_${s.nodes.length}`, [0, 0, p, p, 0, 0, p, p])]);
    let h = s.relu(s.conv(pad('input', 1), 'c1', 2, 3, { pad: 0 }));
    h = s.node('AveragePool', [pad(h, 1)], [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 2])]);
    s.gemm(s.flatten(h), 'fc', 3 * 3 * 3, 10);
    const network = await expectRoundTrip(s.finish(), 'Pad+Conv, Pad+AveragePool');
    const [layer] = allLayers(network);
    expect(layer.op.kind === 'conv' && layer.op.pads).to.deep.equal([1, 1, 1, 1]);
    expect(layer.pool).to.deep.include({ pads: [1, 1, 1, 1], countIncludePad: true });
  });

  it('MaxPool with ceil_mode (7 → 4) and a padded, strided conv (7 → 4)', async () => {
    const s = new Sketch('input', ['N', 1, 7, 7]);
    let h = s.relu(s.conv('input', 'c1', 1, 2));
    h = s.node('MaxPool', [h], [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2]), intAttr('ceil_mode', 1)]);
    h = s.relu(s.conv(h, 'c2', 2, 3, { stride: 2 }));
    s.gemm(s.flatten(h), 'fc', 3 * 2 * 2, 10);
    const network = await expectRoundTrip(s.finish(), 'ceil_mode pool');
    expect(allLayers(network)[0].pool?.ceilMode).to.equal(true);
  });

  /** ResNet with BasicBlocks (identity and projection shortcuts), GlobalAveragePool, Flatten. */
  function basicResNet(withBn: boolean, opset: number): Uint8Array {
    const s = new Sketch('input', ['N', 3, 8, 8], 11);
    const cbr = (x: string, name: string, cin: number, cout: number, stride = 1, relu = true, k = 3): string => {
      let y = s.conv(x, name, cin, cout, { bias: !withBn, stride, kernel: k });
      if (withBn) y = s.bn(y, name.replace('conv', 'bn'), cout);
      return relu ? s.relu(y) : y;
    };
    let h = cbr('input', 'conv1', 3, 8);
    // identity block
    let b = cbr(cbr(h, 'layer1.0.conv1', 8, 8), 'layer1.0.conv2', 8, 8, 1, false);
    h = s.relu(s.node('Add', [b, h]));
    // projection block (stride 2)
    b = cbr(cbr(h, 'layer2.0.conv1', 8, 16, 2), 'layer2.0.conv2', 16, 16, 1, false);
    const sc = cbr(h, 'layer2.0.shortcut.conv', 8, 16, 2, false, 1);
    h = s.relu(s.node('Add', [b, sc]));
    h = s.flatten(s.node('GlobalAveragePool', [h]));
    s.gemm(h, 'linear', 16, 10);
    return s.finish('logits', ['N', 10], opset);
  }

  for (const withBn of [true, false]) {
    it(`BasicBlock ResNet ${withBn ? 'with' : 'without'} BN (identity + projection shortcuts)`, async () => {
      const network = await expectRoundTrip(basicResNet(withBn, withBn ? 13 : 11), `BasicBlock ResNet ${withBn ? '+BN' : ''}`);
      expect(segmentShape(network)).to.equal('spatial:conv1,[layer1.0] | spatial:[layer2.0]');
      expect(network.classifierFlatten).to.deep.equal({ globalPool: 'avg' });
      const blocks = hiddenUnits(network).filter((u) => u.type === 'residual');
      expect(blocks.map((u) => u.type === 'residual' && (u.shortcut?.name ?? null))).to.deep.equal([null, 'layer2.0.shortcut.conv']);
    });
  }

  it('Bottleneck ResNet (1x1-3x3-1x1, projection then identity), Squeeze after GlobalAveragePool', async () => {
    const s = new Sketch('input', ['N', 4, 6, 6], 5);
    const cb = (x: string, name: string, cin: number, cout: number, k: number, relu: boolean, stride = 1): string => {
      const y = s.bn(s.conv(x, name, cin, cout, { kernel: k, bias: false, stride }), `${name}.bn`, cout);
      return relu ? s.relu(y) : y;
    };
    const bottleneck = (x: string, name: string, cin: number, mid: number, cout: number, stride: number, project: boolean): string => {
      let b = cb(x, `${name}.conv1`, cin, mid, 1, true);
      b = cb(b, `${name}.conv2`, mid, mid, 3, true, stride);
      b = cb(b, `${name}.conv3`, mid, cout, 1, false);
      const shortcut = project ? cb(x, `${name}.downsample.0`, cin, cout, 1, false, stride) : x;
      return s.relu(s.node('Add', [b, shortcut]));
    };
    let h = s.relu(s.bn(s.conv('input', 'stem', 4, 8, { bias: false }), 'stem.bn', 8));
    h = bottleneck(h, 'layer1.0', 8, 4, 16, 1, true);
    h = bottleneck(h, 'layer1.1', 16, 4, 16, 1, false);
    h = bottleneck(h, 'layer2.0', 16, 8, 32, 2, true);
    h = s.node('Squeeze', [s.node('GlobalAveragePool', [h]), s.ints('axes', [2, 3])]);
    s.gemm(h, 'fc', 32, 10);
    const network = await expectRoundTrip(s.finish(), 'Bottleneck ResNet');
    expect(segmentShape(network)).to.equal('spatial:stem,[layer1.0],[layer1.1] | spatial:[layer2.0]');
    const first = hiddenUnits(network)[1];
    expect(first.type === 'residual' && first.branch.map((l) => l.name)).to.deep.equal(['layer1.0.conv1', 'layer1.0.conv2', 'layer1.0.conv3']);
  });

  it('copies weights out of the model buffer (the IR owns compact arrays)', () => {
    const bytes = mlp((s, x, n, i, o) => s.gemm(x, n, i, o));
    const network = readNetwork(bytes);
    for (const layer of allLayers(network)) expect(layer.op.weight.data.buffer.byteLength).to.equal(layer.op.weight.data.byteLength);
  });

  it('keeps opset, IR version, producer, metadata, input and output specs; raises opsets below 11', () => {
    const network = readNetwork(mlp((s, x, n, i, o) => s.gemm(x, n, i, o), 'LogSoftmax'));
    const model = decodeModel(emitModel(network).bytes);
    expect([model.opsetImport[0].version, model.irVersion, model.producerName]).to.deep.equal([13, 7, 'sketch']);
    expect(model.metadataProps.map((e) => [e.key, e.value])).to.deep.equal([['k', 'v']]);
    expect(model.graph.input.map((i) => [i.name, i.type?.tensorType?.shape?.map((d) => d.value ?? d.param)])).to.deep.equal([['x', ['batch', 20]]]);
    expect(model.graph.output.map((o) => [o.name, o.type?.tensorType?.shape?.map((d) => d.value ?? d.param)])).to.deep.equal([['y', ['batch', 10]]]);
    const old = decodeModel(emitModel({ ...network, meta: { ...network.meta, opset: 9, irVersion: 4 } }).bytes);
    expect([old.opsetImport[0].version, old.irVersion]).to.deep.equal([11, 6]);
  });
});
