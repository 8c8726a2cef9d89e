/** Small constructors for ONNX messages, shared by the emitter and by tests that build graphs by hand. */
import { AttributeType, type Attribute, type ValueInfo } from './proto.js';
import { DataType } from './tensor.js';

export function intAttr(name: string, value: number): Attribute {
  return { name, type: AttributeType.Int, i: BigInt(value) };
}

export function intsAttr(name: string, values: readonly number[]): Attribute {
  return { name, type: AttributeType.Ints, ints: values.map((v) => BigInt(v)) };
}

export function floatAttr(name: string, value: number): Attribute {
  return { name, type: AttributeType.Float, f: value };
}

export function stringAttr(name: string, value: string): Attribute {
  return { name, type: AttributeType.String, s: new TextEncoder().encode(value) };
}

/** A float32 tensor ValueInfo; string dimensions are symbolic (dim_param). */
export function floatValueInfo(name: string, shape: readonly (number | string)[]): ValueInfo {
  return {
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: shape.map((d) => (typeof d === 'number' ? { value: d } : { param: d })) } },
  };
}
