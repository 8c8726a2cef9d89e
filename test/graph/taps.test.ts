import { expect } from 'chai';
import { emitModel } from '../../lib/graph/emit.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { unitOutputShapes } from '../../lib/graph/shapes.js';
import type { Layer } from '../../lib/ir/network.js';
import { maxAbsDiff, randomArray, runModel, seeded, Sketch } from './support.js';

/** y = x W^T + b for a batch of rows (the dense layer computed directly in JS, float64 accumulation). */
function dense(layer: Layer, x: Float32Array, batch: number): Float32Array {
  const [out, inp] = layer.op.weight.shape;
  const w = layer.op.weight.data;
  const y = new Float32Array(batch * out);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < out; o++) {
      let sum = layer.op.bias?.[o] ?? 0;
      for (let i = 0; i < inp; i++) sum += x[n * inp + i] * w[o * inp + i];
      y[n * out + o] = sum;
    }
  }
  return y;
}

const relu = (x: Float32Array): Float32Array => x.map((v) => Math.max(v, 0));

describe('emitModel taps', () => {
  const s = new Sketch('x', ['N', 6]);
  s.gemm(s.relu(s.gemm(s.relu(s.gemm('x', 'fc1', 6, 5)), 'fc2', 5, 4)), 'fc3', 4, 3);
  const network = readNetwork(s.finish('y', ['N', 3]));
  const batch = 4;
  const x = randomArray(seeded(3), batch * 6);

  it('MLP preact and output taps equal the values computed in JS', async () => {
    const taps = [{ layer: 'fc1', point: 'preact' }, { layer: 'fc2', point: 'preact' }, { layer: 'fc2', point: 'output' }] as const;
    const { bytes, tapOutputs } = emitModel(network, { taps: [...taps] });
    expect(new Set(tapOutputs).size).to.equal(3);
    const out = await runModel(bytes, { x: { data: x, dims: [batch, 6] } });
    const [fc1, fc2] = network.segments[0].units as Layer[];
    const pre1 = dense(fc1, x, batch);
    const pre2 = dense(fc2, relu(pre1), batch);
    const diffs = [maxAbsDiff(out[tapOutputs[0]], pre1), maxAbsDiff(out[tapOutputs[1]], pre2), maxAbsDiff(out[tapOutputs[2]], relu(pre2))];
    console.log(`      tap vs JS max abs diff: ${diffs.map((d) => d.toExponential(2)).join(', ')}`);
    for (const d of diffs) expect(d).to.be.below(1e-5);
    const logits = dense(network.classifier, relu(pre2), batch);
    expect(maxAbsDiff(out.y, logits)).to.be.below(1e-5);
  });

  it('a classifier tap is the graph output itself, not a duplicate output', () => {
    const { tapOutputs } = emitModel(network, { taps: [{ layer: 'fc3', point: 'output' }] });
    expect(tapOutputs).to.deep.equal(['y']);
  });

  it('rejects unknown layers and points with E_ARG', () => {
    expect(() => emitModel(network, { taps: [{ layer: 'nope', point: 'output' }] })).to.throw().with.property('code', 'E_ARG');
    expect(() => emitModel(network, { taps: [{ layer: 'fc1', point: 'middle' as 'output' }] })).to.throw().with.property('code', 'E_ARG');
  });

  it('refuses a network with two units of the same name (E_ARG)', () => {
    const copy = structuredClone(network);
    copy.segments[0].units[1].name = 'fc1';
    expect(() => emitModel(copy)).to.throw().with.property('code', 'E_ARG');
  });

  it('residual preact is the sum, output is relu(sum) then pool, with the shapes of unitOutputShapes', async () => {
    const r = new Sketch('img', ['B', 2, 6, 6], 9);
    const h = r.relu(r.conv('img', 'stem', 2, 4));
    const b = r.conv(r.relu(r.conv(h, 'block.conv1', 4, 4)), 'block.conv2', 4, 4);
    const joined = r.maxPool(r.relu(r.node('Add', [b, h])));
    r.gemm(r.flatten(joined), 'fc', 4 * 3 * 3, 10);
    const net = readNetwork(r.finish());
    const { bytes, tapOutputs } = emitModel(net, { taps: [{ layer: 'block', point: 'preact' }, { layer: 'block', point: 'output' }, { layer: 'block.conv1', point: 'output' }] });
    const data = randomArray(seeded(5), 2 * 2 * 6 * 6);
    const out = await runModel(bytes, { img: { data, dims: [2, 2, 6, 6] } });
    const shapes = unitOutputShapes(net);
    expect(shapes[1]).to.deep.equal({ input: [4, 6, 6], preact: [4, 6, 6], output: [4, 3, 3] });
    const sum = out[tapOutputs[0]];
    const pooled = out[tapOutputs[1]];
    expect(sum.length).to.equal(2 * 4 * 6 * 6);
    expect(pooled.length).to.equal(2 * 4 * 3 * 3);
    // 2x2 max pool of relu(sum), recomputed in JS.
    let worst = 0;
    for (let n = 0; n < 2; n++) for (let c = 0; c < 4; c++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let m = 0;
      for (let di = 0; di < 2; di++) for (let dj = 0; dj < 2; dj++) m = Math.max(m, sum[((n * 4 + c) * 6 + 2 * i + di) * 6 + 2 * j + dj]);
      worst = Math.max(worst, Math.abs(m - pooled[((n * 4 + c) * 3 + i) * 3 + j]));
    }
    expect(worst).to.equal(0);
    expect(out[tapOutputs[2]].every((v) => v >= 0)).to.equal(true);
  });
});
