import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readModel, writeModel } from '../../lib/onnx/file.js';
import { atomicWrite } from '../../lib/onnx/atomic.js';
import { encodeModel, type ModelProto, type TensorProto } from '../../lib/onnx/proto.js';
import { floatTensor, tensorToFloat32 } from '../../lib/onnx/tensor.js';
import { intAttr, floatValueInfo } from '../../lib/onnx/build.js';

/** y = Gemm(x, W, b) with W [3, 4]: small enough to check every value. */
function gemmModel(weight: TensorProto, bias: TensorProto): ModelProto {
  return {
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'test', producerVersion: '', domain: '', modelVersion: 0, docString: '',
    graph: {
      name: 'g',
      node: [{ opType: 'Gemm', name: 'gemm', input: ['x', weight.name, bias.name], output: ['y'], domain: '', attribute: [intAttr('transB', 1)] }],
      initializer: [weight, bias],
      input: [floatValueInfo('x', ['N', 4])],
      output: [floatValueInfo('y', ['N', 3])],
      valueInfo: [],
    },
    metadataProps: [],
  };
}

const W = Float32Array.from({ length: 12 }, (_, i) => i / 4 - 1);
const B = Float32Array.of(0.5, -0.5, 2);

function externalTensor(name: string, dims: number[], entries: Record<string, string>): TensorProto {
  return { name, dims, dataType: 1, dataLocation: 1, externalData: Object.entries(entries).map(([key, value]) => ({ key, value })) };
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'no error';
}

describe('ONNX files: external data, atomic writes', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'clafusion-onnx-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('writes tensors to external data above the threshold; reads them back; ORT runs the file', async () => {
    const path = join(dir, 'model.onnx');
    writeModel(path, gemmModel(floatTensor('W', [3, 4], W), floatTensor('b', [3], B)), { externalDataThreshold: 16, externalMinTensorBytes: 16 });
    expect(readdirSync(dir).sort()).to.deep.equal(['model.onnx', 'model.onnx.data']);
    const model = readModel(path);
    expect(Array.from(tensorToFloat32(model.graph.initializer[0]))).to.deep.equal(Array.from(W));
    expect(Array.from(tensorToFloat32(model.graph.initializer[1]))).to.deep.equal(Array.from(B));
    const session = await ort.InferenceSession.create(path);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 0, 0, 0), [1, 4]) });
    expect(Array.from(out.y.data as Float32Array)).to.deep.equal([W[0] + B[0], W[4] + B[1], W[8] + B[2]]);
  });

  it('writes inline below the threshold (default 2 GiB)', () => {
    const path = join(dir, 'small.onnx');
    writeModel(path, gemmModel(floatTensor('W', [3, 4], W), floatTensor('b', [3], B)));
    expect(readdirSync(dir)).to.deep.equal(['small.onnx']);
  });

  it('rejects external data that leaves the folder, is absolute, is missing, or ends past the file', () => {
    writeFileSync(join(dir, 'weights.bin'), new Uint8Array(48));
    const outside = mkdtempSync(join(tmpdir(), 'clafusion-outside-'));
    writeFileSync(join(outside, 'secret.bin'), new Uint8Array(48));
    symlinkSync(join(outside, 'secret.bin'), join(dir, 'link.bin'));
    const cases: Record<string, string>[] = [
      { location: '../' + outside.split('/').pop() + '/secret.bin' },
      { location: join(outside, 'secret.bin') },
      { location: 'link.bin' },
      { location: 'missing.bin' },
      { location: 'weights.bin', offset: '40', length: '48' },
      { location: 'weights.bin', offset: '1000' },
      { location: 'weights.bin', offset: '-4' },
    ];
    try {
      for (const entries of cases) {
        const path = join(dir, 'bad.onnx');
        writeFileSync(path, encodeModel(gemmModel(externalTensor('W', [3, 4], entries), floatTensor('b', [3], B))));
        expect(codeOf(() => readModel(path)), JSON.stringify(entries)).to.equal('E_ONNX_PARSE');
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('reads external data from bytes only with an explicit baseDir', () => {
    writeFileSync(join(dir, 'weights.bin'), new Uint8Array(W.buffer));
    const bytes = encodeModel(gemmModel(externalTensor('W', [3, 4], { location: 'weights.bin' }), floatTensor('b', [3], B)));
    expect(codeOf(() => readModel(bytes))).to.equal('E_ONNX_PARSE');
    expect(Array.from(tensorToFloat32(readModel(bytes, { baseDir: dir }).graph.initializer[0]))).to.deep.equal(Array.from(W));
  });

  it('never overwrites a model (or its external data) that was read as an input', () => {
    const path = join(dir, 'in.onnx');
    writeModel(path, gemmModel(floatTensor('W', [3, 4], W), floatTensor('b', [3], B)), { externalDataThreshold: 16, externalMinTensorBytes: 16 });
    const before = readFileSync(path);
    const model = readModel(path);
    expect(codeOf(() => writeModel(path, model))).to.equal('E_IO');
    expect(codeOf(() => writeModel(join(dir, 'in.onnx.data'), model))).to.equal('E_IO');
    expect(Buffer.compare(readFileSync(path), before)).to.equal(0);
    writeModel(join(dir, 'out.onnx'), model);
    expect(readdirSync(dir).sort()).to.deep.equal(['in.onnx', 'in.onnx.data', 'out.onnx']);
  });

  it('leaves no file behind when a write fails', () => {
    const target = join(dir, 'no-such-folder', 'out.onnx');
    expect(codeOf(() => writeModel(target, gemmModel(floatTensor('W', [3, 4], W), floatTensor('b', [3], B))))).to.equal('E_IO');
    expect(readdirSync(dir)).to.deep.equal([]);
    // A target that is a folder is refused before anything is written (it would be replaced or fail the rename).
    mkdirSync(join(dir, 'taken'));
    expect(codeOf(() => writeModel(join(dir, 'taken'), gemmModel(floatTensor('W', [3, 4], W), floatTensor('b', [3], B))))).to.equal('E_ARG');
    expect(readdirSync(dir)).to.deep.equal(['taken']);
    expect(readdirSync(join(dir, 'taken'))).to.deep.equal([]);
    // A write that fails after the temp file was created: the temp file is removed.
    expect(codeOf(() => atomicWrite(join(dir, 'out.onnx'), [new Uint8Array(8), { length: 8 } as unknown as Uint8Array]))).to.equal('E_IO');
    expect(readdirSync(dir)).to.deep.equal(['taken']);
  });

  it('reports a missing input file as E_IO', () => {
    expect(codeOf(() => readModel(join(dir, 'absent.onnx')))).to.equal('E_IO');
  });
});
