/**
 * TensorProto values as typed arrays, whichever field holds them (`raw_data` or the typed `*_data` fields), and
 * TensorProto construction for the emitter. Reading a float32 `raw_data` is a zero-copy view when it is 4-byte
 * aligned in the model's buffer (otherwise one copy).
 */
import { ClafusionError } from '../errors.js';
import type { TensorProto } from './proto.js';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, DOUBLE: 11 } as const;

function elementCount(tensor: TensorProto): number {
  return tensor.dims.reduce((n, d) => n * d, 1);
}

function tensorError(tensor: TensorProto, message: string): ClafusionError {
  return new ClafusionError('E_ONNX_PARSE', `tensor '${tensor.name}': ${message}`);
}

function checkLength(tensor: TensorProto, actual: number): void {
  const expected = elementCount(tensor);
  if (actual !== expected) throw tensorError(tensor, `holds ${actual} values but its dims [${tensor.dims.join(', ')}] need ${expected}`);
}

function requireInline(tensor: TensorProto): void {
  if (tensor.dataLocation === 1) throw tensorError(tensor, 'its data is external and was not loaded; read the model from its path so external data can be resolved');
}

/** Raw bytes reinterpreted as `width`-byte little-endian elements, copied only when misaligned. */
function rawAs<T>(raw: Uint8Array, width: number, make: (buffer: ArrayBuffer, offset: number, length: number) => T): T {
  const length = raw.length / width;
  if (raw.byteOffset % width === 0) return make(raw.buffer as ArrayBuffer, raw.byteOffset, length);
  // Uint8Array.prototype.slice copies even when `raw` is a Node Buffer (whose own slice() is a view).
  return make(Uint8Array.prototype.slice.call(raw).buffer, 0, length);
}

/** The values of a float tensor (FLOAT or DOUBLE) as float32. */
export function tensorToFloat32(tensor: TensorProto): Float32Array {
  requireInline(tensor);
  let values: Float32Array;
  if (tensor.dataType === DataType.FLOAT) {
    if (tensor.rawData) {
      if (tensor.rawData.length % 4 !== 0) throw tensorError(tensor, `raw_data of ${tensor.rawData.length} bytes is not a whole number of float32 values`);
      values = rawAs(tensor.rawData, 4, (b, o, n) => new Float32Array(b, o, n));
    } else values = tensor.floatData ?? new Float32Array(0);
  } else if (tensor.dataType === DataType.DOUBLE) {
    if (tensor.rawData) {
      if (tensor.rawData.length % 8 !== 0) throw tensorError(tensor, `raw_data of ${tensor.rawData.length} bytes is not a whole number of float64 values`);
      values = Float32Array.from(rawAs(tensor.rawData, 8, (b, o, n) => new Float64Array(b, o, n)));
    } else values = Float32Array.from(tensor.doubleData ?? []);
  } else {
    throw new ClafusionError('E_UNSUPPORTED_GRAPH', `tensor '${tensor.name}' has data type ${tensor.dataType}; weights must be float32 or float64`);
  }
  checkLength(tensor, values.length);
  return values;
}

/**
 * The values of a float tensor in an array that owns its buffer: a copy only when `tensorToFloat32` returned a view
 * into the model's bytes or the tensor's own field (so the caller may keep or modify it freely).
 */
export function ownedFloat32(tensor: TensorProto): Float32Array {
  const values = tensorToFloat32(tensor);
  const shared = values === tensor.floatData || (tensor.rawData !== undefined && values.buffer === tensor.rawData.buffer);
  return shared ? values.slice() : values;
}

/** The values of an integer tensor (INT64 or INT32) as exact BigInts. */
export function tensorToInt64(tensor: TensorProto): bigint[] {
  requireInline(tensor);
  let values: bigint[];
  if (tensor.dataType === DataType.INT64) {
    if (tensor.rawData) {
      if (tensor.rawData.length % 8 !== 0) throw tensorError(tensor, `raw_data of ${tensor.rawData.length} bytes is not a whole number of int64 values`);
      values = Array.from(rawAs(tensor.rawData, 8, (b, o, n) => new BigInt64Array(b, o, n)));
    } else values = Array.from(tensor.int64Data ?? []);
  } else if (tensor.dataType === DataType.INT32) {
    if (tensor.rawData) {
      if (tensor.rawData.length % 4 !== 0) throw tensorError(tensor, `raw_data of ${tensor.rawData.length} bytes is not a whole number of int32 values`);
      values = Array.from(rawAs(tensor.rawData, 4, (b, o, n) => new Int32Array(b, o, n)), BigInt);
    } else values = Array.from(tensor.int32Data ?? [], BigInt);
  } else {
    throw new ClafusionError('E_UNSUPPORTED_GRAPH', `tensor '${tensor.name}' has data type ${tensor.dataType}; expected int64 or int32`);
  }
  checkLength(tensor, values.length);
  return values;
}

/** Bytes per element of each fixed-size TensorProto.DataType (STRING, 8, has none). */
const ELEMENT_BYTES: Record<number, number> = {
  1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
};

/** The bytes the tensor's dims and data type call for, or undefined for a type without a fixed element size. */
export function expectedByteLength(tensor: TensorProto): number | undefined {
  const width = ELEMENT_BYTES[tensor.dataType];
  return width === undefined ? undefined : width * elementCount(tensor);
}

/** Bytes stored inline in the TensorProto (0 for external tensors). */
export function inlineByteLength(tensor: TensorProto): number {
  return (tensor.rawData?.length ?? 0) + (tensor.floatData?.byteLength ?? 0) + (tensor.doubleData?.byteLength ?? 0)
    + 8 * (tensor.int64Data?.length ?? 0) + 8 * (tensor.uint64Data?.length ?? 0) + 4 * (tensor.int32Data?.length ?? 0);
}

/** A float32 initializer with its values in `raw_data` (a view of `data`, not a copy). */
export function floatTensor(name: string, dims: number[], data: Float32Array): TensorProto {
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** An int64 initializer (shapes, axes). */
export function int64Tensor(name: string, dims: number[], values: readonly (number | bigint)[]): TensorProto {
  return { name, dims: [...dims], dataType: DataType.INT64, int64Data: BigInt64Array.from(values, (v) => BigInt(v)) };
}
