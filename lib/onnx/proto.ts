/**
 * ONNX ModelProto codec.
 *
 * Why hand-written: we use a small, frozen subset of onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, StringStringEntryProto, OperatorSetIdProto). A ~600-line
 * wire-format codec gives zero-copy views of `raw_data` (a 100 MB initializer is read without copying it), exact
 * int64 values as BigInt, parts-list writing without intermediate copies of big tensors, byte offsets in every parse
 * error, and no runtime dependency. protobufjs would add a dependency and a generated or reflected schema, copy
 * every bytes field and hand back `Long` objects for int64. Fields this codec does not model (sparse initializers,
 * training info, functions, non-tensor types, future fields) are kept verbatim and written back unchanged, so a
 * read-then-write keeps them.
 *
 * Field numbers follow onnx/onnx.proto (IR version 8, opset 17).
 */
import { parseError, WireReader, WireType, WireWriter } from './wire.js';

/** Fields this codec does not model, kept as raw tag+value bytes in read order. */
interface Unknown {
  unknownFields?: Uint8Array[];
}

export interface StringStringEntry extends Unknown {
  key: string;
  value: string;
}

export interface OperatorSetId extends Unknown {
  domain: string;
  version: number;
}

export interface Dimension extends Unknown {
  value?: number;
  param?: string;
}

export interface TypeProto extends Unknown {
  tensorType?: { elemType: number; shape?: Dimension[]; unknownFields?: Uint8Array[] };
}

export interface ValueInfo extends Unknown {
  name: string;
  type?: TypeProto;
  docString?: string;
}

export interface TensorProto extends Unknown {
  name: string;
  dims: number[];
  dataType: number;
  docString?: string;
  /** A view into the bytes the model was read from (or any buffer when built in memory). */
  rawData?: Uint8Array;
  floatData?: Float32Array;
  int32Data?: Int32Array;
  int64Data?: BigInt64Array;
  doubleData?: Float64Array;
  uint64Data?: BigUint64Array;
  stringData?: Uint8Array[];
  externalData?: StringStringEntry[];
  /** 0 = DEFAULT (data in this message), 1 = EXTERNAL. */
  dataLocation?: number;
}

export enum AttributeType {
  Float = 1,
  Int = 2,
  String = 3,
  Tensor = 4,
  Graph = 5,
  Floats = 6,
  Ints = 7,
  Strings = 8,
  Tensors = 9,
  Graphs = 10,
}

export interface Attribute extends Unknown {
  name: string;
  type: number;
  f?: number;
  i?: bigint;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: bigint[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  docString?: string;
  refAttrName?: string;
}

export interface NodeProto extends Unknown {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  attribute: Attribute[];
  docString?: string;
}

export interface GraphProto extends Unknown {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfo[];
  output: ValueInfo[];
  valueInfo: ValueInfo[];
  docString?: string;
}

export interface ModelProto extends Unknown {
  irVersion: number;
  opsetImport: OperatorSetId[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: GraphProto;
  metadataProps: StringStringEntry[];
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

/** Reads every field of one message; `handle` returns false for fields it does not model (kept verbatim). */
function readFields(r: WireReader, handle: (field: number, wireType: WireType) => boolean): Uint8Array[] | undefined {
  let unknown: Uint8Array[] | undefined;
  while (!r.atEnd()) {
    const start = r.pos;
    const [field, wireType] = r.tag();
    if (!handle(field, wireType)) {
      r.skip(wireType, field);
      (unknown ??= []).push(r.bytes.subarray(start, r.pos));
    }
  }
  if (r.pos !== r.end) throw parseError(r.end, 'a field overruns its message');
  return unknown;
}

function expectWire(r: WireReader, actual: WireType, expected: WireType, what: string): void {
  if (actual !== expected) throw parseError(r.pos, `${what} has wire type ${actual}, expected ${expected}`);
}

function safeNumber(r: WireReader, value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw parseError(r.pos, `${what} ${value} is out of range`);
  return Number(value);
}

function decodeEntry(r: WireReader): StringStringEntry {
  const entry: StringStringEntry = { key: '', value: '' };
  entry.unknownFields = readFields(r, (field, wt) => {
    if (field === 1) { expectWire(r, wt, WireType.LengthDelimited, 'key'); entry.key = r.string(); return true; }
    if (field === 2) { expectWire(r, wt, WireType.LengthDelimited, 'value'); entry.value = r.string(); return true; }
    return false;
  });
  return entry;
}

function decodeOpset(r: WireReader): OperatorSetId {
  const opset: OperatorSetId = { domain: '', version: 0 };
  opset.unknownFields = readFields(r, (field, wt) => {
    if (field === 1) { expectWire(r, wt, WireType.LengthDelimited, 'opset domain'); opset.domain = r.string(); return true; }
    if (field === 2) { expectWire(r, wt, WireType.Varint, 'opset version'); opset.version = safeNumber(r, r.int64(), 'opset version'); return true; }
    return false;
  });
  return opset;
}

function decodeDimension(r: WireReader): Dimension {
  const dim: Dimension = {};
  dim.unknownFields = readFields(r, (field, wt) => {
    if (field === 1) { expectWire(r, wt, WireType.Varint, 'dim_value'); dim.value = safeNumber(r, r.int64(), 'dim_value'); return true; }
    if (field === 2) { expectWire(r, wt, WireType.LengthDelimited, 'dim_param'); dim.param = r.string(); return true; }
    return false;
  });
  return dim;
}

function decodeTensorType(r: WireReader): NonNullable<TypeProto['tensorType']> {
  const tensorType: NonNullable<TypeProto['tensorType']> = { elemType: 0 };
  tensorType.unknownFields = readFields(r, (field, wt) => {
    if (field === 1) { expectWire(r, wt, WireType.Varint, 'elem_type'); tensorType.elemType = r.int32(); return true; }
    if (field === 2) {
      expectWire(r, wt, WireType.LengthDelimited, 'shape');
      const shapeReader = r.message();
      const dims: Dimension[] = [];
      readFields(shapeReader, (f, w) => {
        if (f !== 1) return false;
        expectWire(shapeReader, w, WireType.LengthDelimited, 'dim');
        dims.push(decodeDimension(shapeReader.message()));
        return true;
      });
      tensorType.shape = dims;
      return true;
    }
    return false;
  });
  return tensorType;
}

function decodeType(r: WireReader): TypeProto {
  const type: TypeProto = {};
  type.unknownFields = readFields(r, (field, wt) => {
    if (field !== 1) return false;
    expectWire(r, wt, WireType.LengthDelimited, 'tensor_type');
    type.tensorType = decodeTensorType(r.message());
    return true;
  });
  return type;
}

function decodeValueInfo(r: WireReader): ValueInfo {
  const info: ValueInfo = { name: '' };
  info.unknownFields = readFields(r, (field, wt) => {
    if (field === 1) { expectWire(r, wt, WireType.LengthDelimited, 'value name'); info.name = r.string(); return true; }
    if (field === 2) { expectWire(r, wt, WireType.LengthDelimited, 'value type'); info.type = decodeType(r.message()); return true; }
    if (field === 3) { expectWire(r, wt, WireType.LengthDelimited, 'doc_string'); info.docString = r.string(); return true; }
    return false;
  });
  return info;
}

/** Packed or unpacked fixed-width values collected as little-endian byte chunks. */
function fixedChunk(r: WireReader, wt: WireType, width: 4 | 8): Uint8Array {
  if (wt === WireType.LengthDelimited) {
    const payload = r.bytesView();
    if (payload.length % width !== 0) throw parseError(r.pos, `packed field of ${payload.length} bytes is not a multiple of ${width}`);
    return payload;
  }
  expectWire(r, wt, width === 4 ? WireType.Fixed32 : WireType.Fixed64, 'fixed-width value');
  const start = r.pos;
  if (width === 4) r.float(); else r.double();
  return r.bytes.subarray(start, r.pos);
}

/** Copies little-endian chunks into a fresh, aligned buffer. */
function joinChunks(chunks: Uint8Array[]): ArrayBuffer {
  const total = chunks.reduce((sum, c) => sum + c.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out.buffer;
}

function decodeTensor(r: WireReader): TensorProto {
  const tensor: TensorProto = { name: '', dims: [], dataType: 0 };
  const floatChunks: Uint8Array[] = [];
  const doubleChunks: Uint8Array[] = [];
  const int32s: number[] = [];
  const int64s: bigint[] = [];
  const uint64s: bigint[] = [];
  tensor.unknownFields = readFields(r, (field, wt) => {
    switch (field) {
      case 1: { const dims: bigint[] = []; r.repeated(wt, WireType.Varint, () => r.int64(), dims); for (const d of dims) tensor.dims.push(safeNumber(r, d, 'dim')); return true; }
      case 2: expectWire(r, wt, WireType.Varint, 'data_type'); tensor.dataType = r.int32(); return true;
      case 4: floatChunks.push(fixedChunk(r, wt, 4)); return true;
      case 5: r.repeated(wt, WireType.Varint, () => r.int32(), int32s); return true;
      case 6: expectWire(r, wt, WireType.LengthDelimited, 'string_data'); (tensor.stringData ??= []).push(r.bytesView()); return true;
      case 7: r.repeated(wt, WireType.Varint, () => r.int64(), int64s); return true;
      case 8: expectWire(r, wt, WireType.LengthDelimited, 'tensor name'); tensor.name = r.string(); return true;
      case 9: expectWire(r, wt, WireType.LengthDelimited, 'raw_data'); tensor.rawData = r.bytesView(); return true;
      case 10: doubleChunks.push(fixedChunk(r, wt, 8)); return true;
      case 11: r.repeated(wt, WireType.Varint, () => r.varint64(), uint64s); return true;
      case 12: expectWire(r, wt, WireType.LengthDelimited, 'doc_string'); tensor.docString = r.string(); return true;
      case 13: expectWire(r, wt, WireType.LengthDelimited, 'external_data'); (tensor.externalData ??= []).push(decodeEntry(r.message())); return true;
      case 14: expectWire(r, wt, WireType.Varint, 'data_location'); tensor.dataLocation = r.int32(); return true;
      default: return false;
    }
  });
  if (floatChunks.length) tensor.floatData = new Float32Array(joinChunks(floatChunks));
  if (doubleChunks.length) tensor.doubleData = new Float64Array(joinChunks(doubleChunks));
  if (int32s.length) tensor.int32Data = Int32Array.from(int32s);
  if (int64s.length) tensor.int64Data = BigInt64Array.from(int64s);
  if (uint64s.length) tensor.uint64Data = BigUint64Array.from(uint64s);
  return tensor;
}

function decodeAttribute(r: WireReader, depth: number): Attribute {
  const attr: Attribute = { name: '', type: 0 };
  attr.unknownFields = readFields(r, (field, wt) => {
    switch (field) {
      case 1: expectWire(r, wt, WireType.LengthDelimited, 'attribute name'); attr.name = r.string(); return true;
      case 2: expectWire(r, wt, WireType.Fixed32, 'attribute f'); attr.f = r.float(); return true;
      case 3: expectWire(r, wt, WireType.Varint, 'attribute i'); attr.i = r.int64(); return true;
      case 4: expectWire(r, wt, WireType.LengthDelimited, 'attribute s'); attr.s = r.bytesView(); return true;
      case 5: expectWire(r, wt, WireType.LengthDelimited, 'attribute t'); attr.t = decodeTensor(r.message()); return true;
      case 6: expectWire(r, wt, WireType.LengthDelimited, 'attribute g'); attr.g = decodeGraph(r.message(), depth + 1); return true;
      case 7: r.repeated(wt, WireType.Fixed32, () => r.float(), (attr.floats ??= [])); return true;
      case 8: r.repeated(wt, WireType.Varint, () => r.int64(), (attr.ints ??= [])); return true;
      case 9: expectWire(r, wt, WireType.LengthDelimited, 'attribute strings'); (attr.strings ??= []).push(r.bytesView()); return true;
      case 10: expectWire(r, wt, WireType.LengthDelimited, 'attribute tensors'); (attr.tensors ??= []).push(decodeTensor(r.message())); return true;
      case 11: expectWire(r, wt, WireType.LengthDelimited, 'attribute graphs'); (attr.graphs ??= []).push(decodeGraph(r.message(), depth + 1)); return true;
      case 13: expectWire(r, wt, WireType.LengthDelimited, 'doc_string'); attr.docString = r.string(); return true;
      case 20: expectWire(r, wt, WireType.Varint, 'attribute type'); attr.type = r.int32(); return true;
      case 21: expectWire(r, wt, WireType.LengthDelimited, 'ref_attr_name'); attr.refAttrName = r.string(); return true;
      default: return false;
    }
  });
  return attr;
}

function decodeNode(r: WireReader, depth: number): NodeProto {
  const node: NodeProto = { input: [], output: [], name: '', opType: '', domain: '', attribute: [] };
  node.unknownFields = readFields(r, (field, wt) => {
    switch (field) {
      case 1: expectWire(r, wt, WireType.LengthDelimited, 'node input'); node.input.push(r.string()); return true;
      case 2: expectWire(r, wt, WireType.LengthDelimited, 'node output'); node.output.push(r.string()); return true;
      case 3: expectWire(r, wt, WireType.LengthDelimited, 'node name'); node.name = r.string(); return true;
      case 4: expectWire(r, wt, WireType.LengthDelimited, 'op_type'); node.opType = r.string(); return true;
      case 5: expectWire(r, wt, WireType.LengthDelimited, 'attribute'); node.attribute.push(decodeAttribute(r.message(), depth)); return true;
      case 6: expectWire(r, wt, WireType.LengthDelimited, 'doc_string'); node.docString = r.string(); return true;
      case 7: expectWire(r, wt, WireType.LengthDelimited, 'node domain'); node.domain = r.string(); return true;
      default: return false;
    }
  });
  return node;
}

/** Subgraphs (If/Loop bodies) nest through attributes; a bound keeps hostile input from exhausting the stack. */
const MAX_GRAPH_DEPTH = 64;

function decodeGraph(r: WireReader, depth: number): GraphProto {
  if (depth > MAX_GRAPH_DEPTH) throw parseError(r.pos, `subgraphs nested deeper than ${MAX_GRAPH_DEPTH}`);
  const graph: GraphProto = { name: '', node: [], initializer: [], input: [], output: [], valueInfo: [] };
  graph.unknownFields = readFields(r, (field, wt) => {
    switch (field) {
      case 1: expectWire(r, wt, WireType.LengthDelimited, 'node'); graph.node.push(decodeNode(r.message(), depth)); return true;
      case 2: expectWire(r, wt, WireType.LengthDelimited, 'graph name'); graph.name = r.string(); return true;
      case 5: expectWire(r, wt, WireType.LengthDelimited, 'initializer'); graph.initializer.push(decodeTensor(r.message())); return true;
      case 10: expectWire(r, wt, WireType.LengthDelimited, 'doc_string'); graph.docString = r.string(); return true;
      case 11: expectWire(r, wt, WireType.LengthDelimited, 'graph input'); graph.input.push(decodeValueInfo(r.message())); return true;
      case 12: expectWire(r, wt, WireType.LengthDelimited, 'graph output'); graph.output.push(decodeValueInfo(r.message())); return true;
      case 13: expectWire(r, wt, WireType.LengthDelimited, 'value_info'); graph.valueInfo.push(decodeValueInfo(r.message())); return true;
      default: return false;
    }
  });
  return graph;
}

/** Decodes ModelProto bytes. Tensor `rawData` fields are views into `bytes`: keep `bytes` unchanged while in use. */
export function decodeModel(input: Uint8Array): ModelProto {
  if (input.length === 0) throw parseError(0, 'empty input');
  // A plain Uint8Array view, so that subarrays of a Node Buffer behave like typed arrays (Buffer#slice is a view).
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const r = new WireReader(bytes);
  const model: ModelProto = {
    irVersion: 0, opsetImport: [], producerName: '', producerVersion: '', domain: '', modelVersion: 0, docString: '',
    graph: undefined as unknown as GraphProto, metadataProps: [],
  };
  model.unknownFields = readFields(r, (field, wt) => {
    switch (field) {
      case 1: expectWire(r, wt, WireType.Varint, 'ir_version'); model.irVersion = safeNumber(r, r.int64(), 'ir_version'); return true;
      case 2: expectWire(r, wt, WireType.LengthDelimited, 'producer_name'); model.producerName = r.string(); return true;
      case 3: expectWire(r, wt, WireType.LengthDelimited, 'producer_version'); model.producerVersion = r.string(); return true;
      case 4: expectWire(r, wt, WireType.LengthDelimited, 'domain'); model.domain = r.string(); return true;
      case 5: expectWire(r, wt, WireType.Varint, 'model_version'); model.modelVersion = safeNumber(r, r.int64(), 'model_version'); return true;
      case 6: expectWire(r, wt, WireType.LengthDelimited, 'doc_string'); model.docString = r.string(); return true;
      case 7: expectWire(r, wt, WireType.LengthDelimited, 'graph'); model.graph = decodeGraph(r.message(), 0); return true;
      case 8: expectWire(r, wt, WireType.LengthDelimited, 'opset_import'); model.opsetImport.push(decodeOpset(r.message())); return true;
      case 14: expectWire(r, wt, WireType.LengthDelimited, 'metadata_props'); model.metadataProps.push(decodeEntry(r.message())); return true;
      default: return false;
    }
  });
  if (!model.graph) throw parseError(bytes.length, 'no graph (field 7) in the model');
  if (model.irVersion === 0) throw parseError(bytes.length, 'no ir_version (field 1) in the model');
  return model;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

function writeUnknown(w: WireWriter, message: Unknown): void {
  for (const raw of message.unknownFields ?? []) w.raw(raw);
}

function encodeEntry(entry: StringStringEntry): WireWriter {
  const w = new WireWriter();
  w.string(1, entry.key);
  w.string(2, entry.value);
  writeUnknown(w, entry);
  return w;
}

function encodeOpset(opset: OperatorSetId): WireWriter {
  const w = new WireWriter();
  if (opset.domain) w.string(1, opset.domain);
  w.varint(2, opset.version);
  writeUnknown(w, opset);
  return w;
}

function encodeType(type: TypeProto): WireWriter {
  const w = new WireWriter();
  if (type.tensorType) {
    const t = new WireWriter();
    t.varint(1, type.tensorType.elemType);
    if (type.tensorType.shape) {
      const shape = new WireWriter();
      for (const dim of type.tensorType.shape) {
        const d = new WireWriter();
        if (dim.value !== undefined) d.varint(1, dim.value);
        if (dim.param !== undefined) d.string(2, dim.param);
        writeUnknown(d, dim);
        shape.message(1, d);
      }
      t.message(2, shape);
    }
    writeUnknown(t, type.tensorType);
    w.message(1, t);
  }
  writeUnknown(w, type);
  return w;
}

function encodeValueInfo(info: ValueInfo): WireWriter {
  const w = new WireWriter();
  w.string(1, info.name);
  if (info.type) w.message(2, encodeType(info.type));
  if (info.docString) w.string(3, info.docString);
  writeUnknown(w, info);
  return w;
}

/** Little-endian bytes of a typed array (a view when the host is little-endian, which every Node target is). */
function littleEndianBytes(values: Float32Array | Float64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

function encodeTensor(tensor: TensorProto): WireWriter {
  const w = new WireWriter();
  // dims is a non-packed repeated field in onnx.proto (proto2): one tag per value.
  for (const dim of tensor.dims) w.varint(1, dim);
  w.varint(2, tensor.dataType);
  if (tensor.floatData) w.packed(4, littleEndianBytes(tensor.floatData));
  if (tensor.int32Data) w.packedVarints(5, Array.from(tensor.int32Data));
  for (const s of tensor.stringData ?? []) w.bytes(6, s);
  if (tensor.int64Data) w.packedVarints(7, Array.from(tensor.int64Data));
  if (tensor.name) w.string(8, tensor.name);
  if (tensor.rawData) w.bytes(9, tensor.rawData);
  if (tensor.doubleData) w.packed(10, littleEndianBytes(tensor.doubleData));
  if (tensor.uint64Data) w.packedVarints(11, Array.from(tensor.uint64Data));
  if (tensor.docString) w.string(12, tensor.docString);
  for (const entry of tensor.externalData ?? []) w.message(13, encodeEntry(entry));
  if (tensor.dataLocation) w.varint(14, tensor.dataLocation);
  writeUnknown(w, tensor);
  return w;
}

function encodeAttribute(attr: Attribute): WireWriter {
  const w = new WireWriter();
  w.string(1, attr.name);
  if (attr.f !== undefined) w.float(2, attr.f);
  if (attr.i !== undefined) w.varint(3, attr.i);
  if (attr.s !== undefined) w.bytes(4, attr.s);
  if (attr.t) w.message(5, encodeTensor(attr.t));
  if (attr.g) w.message(6, encodeGraph(attr.g));
  for (const f of attr.floats ?? []) w.float(7, f);
  for (const i of attr.ints ?? []) w.varint(8, i);
  for (const s of attr.strings ?? []) w.bytes(9, s);
  for (const t of attr.tensors ?? []) w.message(10, encodeTensor(t));
  for (const g of attr.graphs ?? []) w.message(11, encodeGraph(g));
  if (attr.docString) w.string(13, attr.docString);
  w.varint(20, attr.type);
  if (attr.refAttrName) w.string(21, attr.refAttrName);
  writeUnknown(w, attr);
  return w;
}

function encodeNode(node: NodeProto): WireWriter {
  const w = new WireWriter();
  for (const input of node.input) w.string(1, input);
  for (const output of node.output) w.string(2, output);
  if (node.name) w.string(3, node.name);
  w.string(4, node.opType);
  for (const attr of node.attribute) w.message(5, encodeAttribute(attr));
  if (node.docString) w.string(6, node.docString);
  if (node.domain) w.string(7, node.domain);
  writeUnknown(w, node);
  return w;
}

function encodeGraph(graph: GraphProto): WireWriter {
  const w = new WireWriter();
  for (const node of graph.node) w.message(1, encodeNode(node));
  w.string(2, graph.name);
  for (const init of graph.initializer) w.message(5, encodeTensor(init));
  if (graph.docString) w.string(10, graph.docString);
  for (const input of graph.input) w.message(11, encodeValueInfo(input));
  for (const output of graph.output) w.message(12, encodeValueInfo(output));
  for (const info of graph.valueInfo) w.message(13, encodeValueInfo(info));
  writeUnknown(w, graph);
  return w;
}

/** Encodes a ModelProto. Protobuf cannot hold messages over 2 GiB: write big models with external data (file.ts). */
export function encodeModel(model: ModelProto): Uint8Array {
  const w = new WireWriter();
  w.varint(1, model.irVersion);
  if (model.producerName) w.string(2, model.producerName);
  if (model.producerVersion) w.string(3, model.producerVersion);
  if (model.domain) w.string(4, model.domain);
  if (model.modelVersion) w.varint(5, model.modelVersion);
  if (model.docString) w.string(6, model.docString);
  w.message(7, encodeGraph(model.graph));
  for (const opset of model.opsetImport) w.message(8, encodeOpset(opset));
  for (const entry of model.metadataProps) w.message(14, encodeEntry(entry));
  writeUnknown(w, model);
  return w.finish();
}
