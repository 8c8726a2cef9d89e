import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readModel } from '../../lib/onnx/file.js';
import { decodeModel, encodeModel, type ModelProto, type NodeProto, type TensorProto } from '../../lib/onnx/proto.js';
import { floatTensor, tensorToFloat32 } from '../../lib/onnx/tensor.js';
import { floatValueInfo, intAttr } from '../../lib/onnx/build.js';
import { MAX_NESTING } from '../../lib/onnx/wire.js';
import { inspectModel, readNetwork } from '../../lib/index.js';
import { expectCode } from '../support/errors.js';

const W = Float32Array.from({ length: 12 }, (_, i) => i - 6);

function gemmModel(weight: TensorProto): ModelProto {
  return {
    irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'test', producerVersion: '', domain: '', modelVersion: 0, docString: '',
    graph: {
      name: 'g',
      node: [{ opType: 'Gemm', name: 'gemm', input: ['x', weight.name, 'b'], output: ['y'], domain: '', attribute: [intAttr('transB', 1)] }],
      initializer: [weight, floatTensor('b', [3], new Float32Array(3))],
      input: [floatValueInfo('x', ['N', 4])],
      output: [floatValueInfo('y', ['N', 3])],
      valueInfo: [],
    },
    metadataProps: [],
  };
}

function externalWeight(entries: Record<string, string>): TensorProto {
  return { name: 'W', dims: [3, 4], dataType: 1, dataLocation: 1, externalData: Object.entries(entries).map(([key, value]) => ({ key, value })) };
}

/** `count` nested groups of field 99 (wire type 3), closed again: an unknown field any parser must skip. */
function nestedGroups(count: number): Uint8Array {
  const open = [0x9b, 0x06]; // (99 << 3) | 3 as a varint
  const close = [0x9c, 0x06]; // (99 << 3) | 4
  const out = new Uint8Array(4 * count);
  for (let i = 0; i < count; i++) out.set(open, 2 * i);
  for (let i = 0; i < count; i++) out.set(close, 2 * count + 2 * i);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function reluChain(count: number): ModelProto {
  const node: NodeProto[] = Array.from({ length: count }, (_, i) => ({
    opType: 'Relu', name: `r${i}`, input: [i === 0 ? 'x' : `t${i}`], output: [i === count - 1 ? 'y' : `t${i + 1}`], domain: '', attribute: [],
  }));
  const model = gemmModel(floatTensor('W', [3, 4], W));
  return { ...model, graph: { ...model.graph, node, initializer: [], input: [floatValueInfo('x', [1, 4])], output: [floatValueInfo('y', [1, 4])] } };
}

describe('ONNX reader and writer against hostile input', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'clafusion-hostile-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it(`refuses groups nested deeper than ${MAX_NESTING} with E_ONNX_PARSE from every entry point`, () => {
    const model = encodeModel(gemmModel(floatTensor('W', [3, 4], W)));
    const hostile = concat(nestedGroups(100_000), model);
    expectCode(() => decodeModel(hostile), 'E_ONNX_PARSE', /nested deeper than 100/);
    expectCode(() => readNetwork(hostile), 'E_ONNX_PARSE');
    const path = join(dir, 'groups.onnx');
    writeFileSync(path, hostile);
    expectCode(() => inspectModel(path), 'E_ONNX_PARSE');
    // As deep as protobuf allows is still read.
    expect(decodeModel(concat(nestedGroups(MAX_NESTING - 1), model)).graph.node).to.have.length(1);
  });

  it('encodes and decodes graphs of any node count (no argument spreading)', () => {
    const bytes = encodeModel(reluChain(150_000));
    const back = decodeModel(bytes);
    expect(back.graph.node).to.have.length(150_000);
    expect(back.graph.node[149_999].output).to.deep.equal(['y']);
  });

  it('decodes a tensor with more dims than a call can take arguments', () => {
    const model = gemmModel({ name: 'W', dims: new Array(300_000).fill(1), dataType: 1, rawData: new Uint8Array(4) });
    expect(decodeModel(encodeModel(model)).graph.initializer[0].dims).to.have.length(300_000);
  });

  describe('external data', () => {
    function readWith(location: string, extra: Record<string, string> = { length: '48' }): ModelProto {
      const path = join(dir, 'model.onnx');
      writeFileSync(path, encodeModel(gemmModel(externalWeight({ location, ...extra }))));
      return readModel(path);
    }

    beforeEach(() => { writeFileSync(join(dir, 'w.bin'), new Uint8Array(W.buffer)); });

    it('refuses a FIFO without blocking, and a directory, with E_ONNX_PARSE', () => {
      execFileSync('mkfifo', [join(dir, 'pipe.bin')]);
      expectCode(() => readWith('pipe.bin'), 'E_ONNX_PARSE', /is a FIFO, not a regular file/);
      mkdirSync(join(dir, 'sub'));
      expectCode(() => readWith('sub'), 'E_ONNX_PARSE', /is a directory/);
      expectCode(() => readWith('sub/'), 'E_ONNX_PARSE', /is a directory/);
      expectCode(() => readWith('.'), 'E_ONNX_PARSE');
    });

    it('refuses a model path that is a FIFO with E_IO instead of hanging', () => {
      execFileSync('mkfifo', [join(dir, 'model.fifo')]);
      expectCode(() => readModel(join(dir, 'model.fifo')), 'E_IO', /FIFO/);
      expectCode(() => inspectModel(join(dir, 'model.fifo')), 'E_IO');
    });

    it('reads only the tensor\'s range: without a length the dims decide, whatever the file size', () => {
      const big = join(dir, 'big.bin');
      const fd = openSync(big, 'w');
      ftruncateSync(fd, 8 * 2 ** 30); // 8 GiB, sparse: reading it whole used to fail with an uncoded RangeError
      closeSync(fd);
      const model = readWith('big.bin', { offset: '4096' });
      expect(model.graph.initializer[0].rawData).to.have.length(48);
      expect(Array.from(tensorToFloat32(readWith('w.bin', {}).graph.initializer[0]))).to.deep.equal(Array.from(W));
      expectCode(() => readWith('w.bin', { length: '44' }), 'E_ONNX_PARSE', /does not match its dims/);
      expectCode(() => readWith('w.bin', { offset: '8' }), 'E_ONNX_PARSE', /past the end/);
    });

    it('resolves x/../w.bin component by component, and a NUL byte ends the location, as ONNX Runtime does', async () => {
      // sub/in -> <dir>/other/deeper and sub/out -> <elsewhere>/deeper: `link/..` is the target's parent.
      mkdirSync(join(dir, 'sub'));
      mkdirSync(join(dir, 'other', 'deeper'), { recursive: true });
      writeFileSync(join(dir, 'other', 'w.bin'), new Uint8Array(W.buffer));
      const elsewhere = mkdtempSync(join(tmpdir(), 'clafusion-elsewhere-'));
      mkdirSync(join(elsewhere, 'deeper'));
      writeFileSync(join(elsewhere, 'w.bin'), new Uint8Array(W.buffer));
      symlinkSync(join(dir, 'other', 'deeper'), join(dir, 'sub', 'in'));
      symlinkSync(join(elsewhere, 'deeper'), join(dir, 'sub', 'out'));
      const cases: [string, boolean][] = [
        ['w.bin', true], ['sub/../w.bin', true], ['./w.bin', true], ['x/../w.bin', false], ['w.bin\0junk', true],
        ['sub/in/../w.bin', true], ['sub/out/../w.bin', false], ['sub/out/../../w.bin', false], ['w.bin/', false],
      ];
      for (const [location, ok] of cases) {
        const path = join(dir, 'model.onnx');
        writeFileSync(path, encodeModel(gemmModel(externalWeight({ location, length: '48' }))));
        let ours = true;
        try { readModel(path); } catch (err) { ours = false; expect((err as { code: string }).code).to.be.oneOf(['E_ONNX_PARSE', 'E_IO']); }
        let theirs = true;
        try { await ort.InferenceSession.create(path, { logSeverityLevel: 4 }); } catch { theirs = false; }
        expect([location, ours, theirs]).to.deep.equal([location, ok, ok]);
      }
      rmSync(elsewhere, { recursive: true, force: true });
    });
  });
});
