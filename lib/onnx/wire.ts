/**
 * The protobuf wire format (https://protobuf.dev/programming-guides/encoding/), just what the ONNX codec needs:
 * varints (int64 exactly, as BigInt), fixed32/fixed64, length-delimited fields read as zero-copy subarrays, and
 * skipping of any field the codec does not know. Every malformed read throws `E_ONNX_PARSE` with the byte offset.
 */
import { ClafusionError } from '../errors.js';

export enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

/** Protobuf's default recursion limit (io::CodedInputStream, upb): deeper nesting is refused, not followed. */
export const MAX_NESTING = 100;

export function parseError(offset: number, message: string): ClafusionError {
  return new ClafusionError('E_ONNX_PARSE', `not a readable ONNX model: ${message} at byte offset ${offset}; check that the file is a complete .onnx model`);
}

/** Reads one message's fields from `bytes[pos, end)`. */
export class WireReader {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  pos: number;
  readonly end: number;

  constructor(bytes: Uint8Array, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = pos;
    this.end = end;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  private need(count: number, what: string): void {
    if (this.pos + count > this.end) throw parseError(this.pos, `truncated ${what} (needs ${count} bytes, ${this.end - this.pos} left)`);
  }

  /** A varint that must fit in 2^53 (tags, lengths, enums, counts). */
  varint(): number {
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      this.need(1, 'varint');
      const byte = this.bytes[this.pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) throw parseError(start, 'varint too large');
        return value;
      }
      scale *= 128;
    }
    throw parseError(start, 'varint longer than 10 bytes');
  }

  /** A varint as an exact unsigned 64-bit BigInt. */
  varint64(): bigint {
    const start = this.pos;
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      this.need(1, 'varint');
      const byte = this.bytes[this.pos++];
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asUintN(64, value);
      shift += 7n;
    }
    throw parseError(start, 'varint longer than 10 bytes');
  }

  int64(): bigint {
    return BigInt.asIntN(64, this.varint64());
  }

  /** int32 fields are sign-extended to 64 bits on the wire. */
  int32(): number {
    return Number(BigInt.asIntN(32, this.varint64()));
  }

  float(): number {
    this.need(4, 'fixed32');
    const value = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return value;
  }

  double(): number {
    this.need(8, 'fixed64');
    const value = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  /** A length-delimited payload as a view into the input (no copy). */
  bytesView(): Uint8Array {
    const length = this.varint();
    this.need(length, 'length-delimited field');
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  string(): string {
    return new TextDecoder('utf-8').decode(this.bytesView());
  }

  /** A reader over a nested message's payload. */
  message(): WireReader {
    const length = this.varint();
    this.need(length, 'embedded message');
    const sub = new WireReader(this.bytes, this.pos, this.pos + length);
    this.pos += length;
    return sub;
  }

  /** Reads a tag; returns [field number, wire type]. */
  tag(): [number, WireType] {
    const start = this.pos;
    const key = this.varint();
    const field = Math.floor(key / 8);
    if (field === 0) throw parseError(start, 'field number 0');
    return [field, (key & 7) as WireType];
  }

  /**
   * Skips a field's value of the given wire type (groups included, for safety). Groups nest by recursion, bounded
   * by {@link MAX_NESTING} as in protobuf's own parsers, so hostile input cannot exhaust the stack.
   */
  skip(wireType: WireType, field: number, depth = 0): void {
    const start = this.pos;
    if (depth >= MAX_NESTING) throw parseError(start, `groups nested deeper than ${MAX_NESTING}`);
    switch (wireType) {
      case WireType.Varint: this.varint64(); return;
      case WireType.Fixed64: this.need(8, 'fixed64'); this.pos += 8; return;
      case WireType.Fixed32: this.need(4, 'fixed32'); this.pos += 4; return;
      case WireType.LengthDelimited: this.bytesView(); return;
      case WireType.StartGroup: {
        for (;;) {
          if (this.atEnd()) throw parseError(start, `unterminated group ${field}`);
          const [inner, innerType] = this.tag();
          if (innerType === WireType.EndGroup) {
            if (inner !== field) throw parseError(start, `group ${field} closed by ${inner}`);
            return;
          }
          this.skip(innerType, inner, depth + 1);
        }
      }
      default: throw parseError(start, `invalid wire type ${wireType as number} for field ${field}`);
    }
  }

  /**
   * Reads a repeated scalar field in either encoding (packed, or one value per tag): protobuf parsers must accept
   * both, and ONNX's proto2 schema packs some repeated fields and not others.
   */
  repeated<T>(wireType: WireType, scalarType: WireType, readOne: () => T, into: T[]): void {
    if (wireType === scalarType) {
      into.push(readOne());
      return;
    }
    if (wireType !== WireType.LengthDelimited) throw parseError(this.pos, `wire type ${wireType} for a repeated scalar`);
    const length = this.varint();
    this.need(length, 'packed field');
    const end = this.pos + length;
    while (this.pos < end) into.push(readOne());
    if (this.pos !== end) throw parseError(end, 'packed field overruns its length');
  }
}

/**
 * Builds a message as a list of parts, so that big payloads (raw tensor data) are referenced rather than copied
 * until the single final concatenation.
 */
export class WireWriter {
  private readonly parts: Uint8Array[] = [];
  private scratch = new Uint8Array(256);
  private used = 0;
  private flushedLength = 0;

  get length(): number {
    return this.flushedLength + this.used;
  }

  private reserve(count: number): void {
    if (this.used + count <= this.scratch.length) return;
    this.flush();
    if (count > this.scratch.length) this.scratch = new Uint8Array(Math.max(count, 2 * this.scratch.length));
  }

  private flush(): void {
    if (this.used === 0) return;
    this.parts.push(this.scratch.slice(0, this.used));
    this.flushedLength += this.used;
    this.used = 0;
  }

  private pushVarint(value: bigint | number): void {
    this.reserve(10);
    if (typeof value === 'number' && value >= 0 && value < 2 ** 31) {
      while (value >= 0x80) {
        this.scratch[this.used++] = (value & 0x7f) | 0x80;
        value >>>= 7;
      }
      this.scratch[this.used++] = value;
      return;
    }
    let big = BigInt.asUintN(64, BigInt(value));
    while (big >= 0x80n) {
      this.scratch[this.used++] = Number(big & 0x7fn) | 0x80;
      big >>= 7n;
    }
    this.scratch[this.used++] = Number(big);
  }

  private pushTag(field: number, wireType: WireType): void {
    this.pushVarint(field * 8 + wireType);
  }

  /** A varint field (int32/int64/enum/bool); negative values take 10 bytes, as protobuf requires. */
  varint(field: number, value: bigint | number): void {
    this.pushTag(field, WireType.Varint);
    this.pushVarint(value);
  }

  float(field: number, value: number): void {
    this.pushTag(field, WireType.Fixed32);
    this.reserve(4);
    new DataView(this.scratch.buffer).setFloat32(this.used, value, true);
    this.used += 4;
  }

  /** A length-delimited field; `data` is referenced, not copied. */
  bytes(field: number, data: Uint8Array): void {
    this.pushTag(field, WireType.LengthDelimited);
    this.pushVarint(data.length);
    this.flush();
    if (data.length > 0) this.parts.push(data);
    this.flushedLength += data.length;
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, sub: WireWriter): void {
    this.pushTag(field, WireType.LengthDelimited);
    this.pushVarint(sub.length);
    this.flush();
    sub.flush();
    for (const part of sub.parts) this.parts.push(part); // no spread: a graph of 10^5 nodes has more parts than arguments
    this.flushedLength += sub.length;
  }

  /** Packed repeated scalars, written as one length-delimited field. */
  packed(field: number, payload: Uint8Array): void {
    this.bytes(field, payload);
  }

  packedVarints(field: number, values: readonly (bigint | number)[]): void {
    const sub = new WireWriter();
    for (const value of values) sub.pushVarint(value);
    this.bytes(field, sub.finish());
  }

  /** A previously read field kept verbatim (tag included). */
  raw(data: Uint8Array): void {
    this.flush();
    this.parts.push(data);
    this.flushedLength += data.length;
  }

  /** The message as one buffer. */
  finish(): Uint8Array {
    this.flush();
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.flushedLength);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}
