import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { decodeModel, encodeModel, type ModelProto, type TensorProto } from '../../lib/onnx/proto.js';
import { DataType, floatTensor, tensorToFloat32, tensorToInt64 } from '../../lib/onnx/tensor.js';
import { WireWriter } from '../../lib/onnx/wire.js';
import { floatValueInfo } from '../../lib/onnx/build.js';

function modelWith(initializer: TensorProto[]): ModelProto {
  return {
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }], producerName: 'test', producerVersion: '1', domain: '', modelVersion: 3, docString: 'doc',
    graph: { name: 'g', node: [], initializer, input: [floatValueInfo('x', ['N', 2])], output: [floatValueInfo('x', ['N', 2])], valueInfo: [] },
    metadataProps: [{ key: 'a', value: 'b' }],
  };
}

function parseFailure(bytes: Uint8Array): { code: string; message: string } {
  try {
    decodeModel(bytes);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected a parse error');
}

describe('ONNX codec', () => {
  it('re-encodes a torch-exported model byte for byte', () => {
    const bytes = readFileSync('examples/models/mlp_deep.onnx');
    expect(Buffer.compare(Buffer.from(encodeModel(decodeModel(bytes))), bytes)).to.equal(0);
  });

  it('keeps model facts: IR version, opset, producer, model version, metadata', () => {
    const decoded = decodeModel(encodeModel(modelWith([])));
    expect(decoded).to.deep.include({ irVersion: 8, producerName: 'test', producerVersion: '1', modelVersion: 3, docString: 'doc' });
    expect(decoded.opsetImport[0].version).to.equal(17);
    expect(decoded.metadataProps.map((e) => [e.key, e.value])).to.deep.equal([['a', 'b']]);
    expect(decoded.graph.input[0].type?.tensorType?.shape).to.deep.equal([{ param: 'N', unknownFields: undefined }, { value: 2, unknownFields: undefined }]);
  });

  it('keeps unknown fields verbatim (model, tensor) through decode and encode', () => {
    const extra = new WireWriter();
    extra.varint(99, 12345);
    extra.string(98, 'future');
    const tensorExtra = new WireWriter();
    tensorExtra.varint(3, 7); // TensorProto.segment, not modelled
    const tensor = { ...floatTensor('w', [2], Float32Array.of(1, 2)), unknownFields: [tensorExtra.finish()] };
    const model = { ...modelWith([tensor]), unknownFields: [extra.finish()] };
    const bytes = encodeModel(model);
    const decoded = decodeModel(bytes);
    expect(decoded.unknownFields?.length).to.equal(2);
    expect(decoded.graph.initializer[0].unknownFields?.length).to.equal(1);
    expect(Buffer.compare(Buffer.from(encodeModel(decoded)), Buffer.from(bytes))).to.equal(0);
  });

  it('reads int64 exactly (BigInt), including values beyond 2^53 and negatives', () => {
    const values = BigInt64Array.of(-1n, 0n, 2n ** 62n + 1n, -(2n ** 63n), 9007199254740993n);
    const decoded = decodeModel(encodeModel(modelWith([{ name: 'i', dims: [5], dataType: DataType.INT64, int64Data: values }])));
    expect(tensorToInt64(decoded.graph.initializer[0])).to.deep.equal(Array.from(values));
  });

  it('reads values from float_data, double_data, int32_data and raw_data', () => {
    const tensors: TensorProto[] = [
      { name: 'f', dims: [3], dataType: DataType.FLOAT, floatData: Float32Array.of(1.5, -2, 3) },
      { name: 'd', dims: [3], dataType: DataType.DOUBLE, doubleData: Float64Array.of(0.25, 1e-3, -7) },
      { name: 'i32', dims: [2], dataType: DataType.INT32, int32Data: Int32Array.of(-5, 6) },
      floatTensor('r', [2, 2], Float32Array.of(1, 2, 3, 4)),
    ];
    const [f, d, i32, r] = decodeModel(encodeModel(modelWith(tensors))).graph.initializer;
    expect(Array.from(tensorToFloat32(f))).to.deep.equal([1.5, -2, 3]);
    expect(Array.from(tensorToFloat32(d))).to.deep.equal(Array.from(Float32Array.of(0.25, 1e-3, -7)));
    expect(tensorToInt64(i32)).to.deep.equal([-5n, 6n]);
    expect(Array.from(tensorToFloat32(r))).to.deep.equal([1, 2, 3, 4]);
  });

  it('accepts unpacked repeated floats (one tag per value), as protobuf parsers must', () => {
    const t = new WireWriter();
    t.varint(1, 2);
    t.varint(2, DataType.FLOAT);
    t.float(4, 0.5);
    t.float(4, -1.25);
    t.string(8, 'u');
    const g = new WireWriter();
    g.message(5, t);
    const m = new WireWriter();
    m.varint(1, 8);
    m.message(7, g);
    expect(Array.from(tensorToFloat32(decodeModel(m.finish()).graph.initializer[0]))).to.deep.equal([0.5, -1.25]);
  });

  it('views 4-byte-aligned raw_data without copying, copies misaligned raw_data', () => {
    const bytes = encodeModel(modelWith([floatTensor('w', [1000], new Float32Array(1000).fill(2))]));
    const cases = new Set<boolean>();
    for (let shift = 0; shift < 4; shift++) {
      const view = new Uint8Array(bytes.length + 4).subarray(shift, shift + bytes.length);
      view.set(bytes);
      const tensor = decodeModel(view).graph.initializer[0];
      const values = tensorToFloat32(tensor);
      const aligned = tensor.rawData!.byteOffset % 4 === 0;
      expect(values[999]).to.equal(2);
      expect(values.buffer === view.buffer).to.equal(aligned);
      cases.add(aligned);
    }
    expect(cases.size).to.equal(2);
  });

  it('reports truncation with E_ONNX_PARSE and a byte offset', () => {
    const bytes = readFileSync('examples/models/mlp_shallow.onnx');
    for (const cut of [10, 1000, bytes.length - 3]) {
      const err = parseFailure(bytes.subarray(0, cut));
      expect(err.code).to.equal('E_ONNX_PARSE');
      expect(err.message).to.match(/byte offset \d+/);
    }
  });

  it('rejects wrong bytes and empty input with E_ONNX_PARSE', () => {
    expect(parseFailure(new TextEncoder().encode('this is not an onnx model at all')).code).to.equal('E_ONNX_PARSE');
    expect(parseFailure(new Uint8Array(0)).code).to.equal('E_ONNX_PARSE');
    expect(parseFailure(Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)).message).to.contain('varint');
    expect(parseFailure(Uint8Array.of(0x0f)).code).to.equal('E_ONNX_PARSE'); // wire type 7
  });

  it('never fails with anything but E_ONNX_PARSE on corrupted bytes (2000 seeded mutations and cuts)', () => {
    const original = readFileSync('test/fixtures/graph/resnet_basic_bn_op17.onnx');
    let random = 12345;
    const next = (n: number): number => {
      random = (Math.imul(random, 1103515245) + 12345) >>> 0;
      return random % n;
    };
    let parsed = 0;
    for (let trial = 0; trial < 2000; trial++) {
      const bytes = Uint8Array.from(original.subarray(0, trial % 4 === 0 ? next(original.length) : original.length));
      for (let k = 0; k < 1 + next(4); k++) if (bytes.length) bytes[next(bytes.length)] = next(256);
      try {
        decodeModel(bytes);
        parsed++;
      } catch (err) {
        expect((err as { code?: string }).code, String(err)).to.equal('E_ONNX_PARSE');
      }
    }
    expect(parsed).to.be.greaterThan(0); // some mutations only touch values: the codec must still read those
  });

  it('bounds subgraph nesting (hostile input cannot exhaust the stack)', () => {
    // graph { node { attribute { g: graph { node { attribute { g: ... } } } } } }, 200 levels deep.
    let graph = new WireWriter();
    for (let level = 0; level < 200; level++) {
      const attribute = new WireWriter();
      attribute.message(6, graph);
      const node = new WireWriter();
      node.message(5, attribute);
      graph = new WireWriter();
      graph.message(1, node);
    }
    const model = new WireWriter();
    model.varint(1, 8);
    model.message(7, graph);
    expect(parseFailure(model.finish()).message).to.contain('nested deeper');
  });
});
