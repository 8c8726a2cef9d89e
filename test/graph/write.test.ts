import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeNetwork } from '../../lib/graph/emit.js';
import { readNetwork } from '../../lib/graph/recognise.js';
import { allLayers } from '../../lib/ir/network.js';
import { maxAbsDiff, randomArray, seeded } from './support.js';

describe('writeNetwork', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'clafusion-graph-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('writes big networks with external data that ORT and readNetwork resolve; never over its input', async () => {
    const source = 'examples/models/mlp_shallow.onnx';
    const network = readNetwork(source);
    const path = join(dir, 'fused.onnx');
    writeNetwork(path, network, { externalDataThreshold: 1 << 20 });
    expect(readdirSync(dir).sort()).to.deep.equal(['fused.onnx', 'fused.onnx.data']);
    const back = readNetwork(path);
    for (const [a, b] of allLayers(network).map((l, i) => [l, allLayers(back)[i]])) expect(Array.from(b.op.weight.data)).to.deep.equal(Array.from(a.op.weight.data));
    const x = new ort.Tensor('float32', randomArray(seeded(1), 2 * 784), [2, 1, 28, 28]);
    const [ours, theirs] = await Promise.all([ort.InferenceSession.create(path), ort.InferenceSession.create(source)]);
    const diff = maxAbsDiff((await ours.run({ input: x })).logits.data as Float32Array, (await theirs.run({ input: x })).logits.data as Float32Array);
    expect(diff).to.equal(0);
    expect(() => writeNetwork(source, network)).to.throw().with.property('code', 'E_IO');
  });
});
