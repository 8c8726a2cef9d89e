/**
 * IDX files (the MNIST / Fashion-MNIST format), raw or gzipped:
 *
 *   bytes 0-1  zero
 *   byte  2    element type (only 0x08 = uint8 is used by image and label files)
 *   byte  3    number of dimensions d
 *   4 .. 4+4d  the dimensions, big-endian uint32
 *   then       prod(dims) elements, row-major
 *
 * The elements are kept as the file's uint8 bytes; decoding to float happens per batch in Dataset.
 */
import { dataError } from './io.js';
import { decodedChunks } from './stream.js';
import { checkAllocation } from '../resources.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UINT8_TYPE = 0x08;
/** Caps the element count so that a corrupt header cannot ask for an absurd allocation. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** Parses the IDX header from the first bytes; returns null while more bytes are needed. */
function parseHeader(head: Buffer, path: string): { dims: number[]; headerBytes: number } | null {
  if (head.length < 4) return null;
  if (head[0] !== 0 || head[1] !== 0) throw dataError(path, 0, 'not an IDX file: the first two bytes must be zero');
  if (head[2] !== UINT8_TYPE) {
    throw dataError(path, 2, `IDX element type 0x${head[2]!.toString(16)} is not supported; only uint8 (0x08) is`);
  }
  const rank = head[3]!;
  if (rank === 0) throw dataError(path, 3, 'IDX header declares zero dimensions');
  const headerBytes = 4 + 4 * rank;
  if (head.length < headerBytes) return null;
  const dims = Array.from({ length: rank }, (_, i) => head.readUInt32BE(4 + 4 * i));
  if (dims.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) {
    throw dataError(path, 4, `IDX dimensions [${dims.join(', ')}] describe more than 2^31 elements`);
  }
  return { dims, headerBytes };
}

/** Reads a uint8 IDX file. Truncated, over-long or malformed files give `E_DATA` with the byte offset. */
export async function readIdx(path: string): Promise<IdxArray> {
  let pending = Buffer.alloc(0);
  let header: { dims: number[]; headerBytes: number } | null = null;
  let data: Uint8Array | null = null;
  let filled = 0;
  for await (const chunk of decodedChunks(path)) {
    let bytes: Buffer = chunk;
    if (!header) {
      pending = Buffer.concat([pending, chunk]);
      header = parseHeader(pending, path);
      if (!header) continue;
      const elements = header.dims.reduce((a, b) => a * b, 1);
      checkAllocation(elements, `${path}: the ${elements} elements its IDX header declares`, elements);
      data = new Uint8Array(elements);
      bytes = pending.subarray(header.headerBytes);
    }
    if (filled + bytes.length > data!.length) {
      throw dataError(path, header.headerBytes + data!.length, `unexpected bytes after the ${data!.length} elements that the header declares`);
    }
    data!.set(bytes, filled);
    filled += bytes.length;
  }
  if (!header) throw dataError(path, pending.length, 'truncated IDX header');
  if (filled < data!.length) {
    throw dataError(path, header.headerBytes + filled, `truncated: the header declares ${data!.length} elements but the data ends after ${filled}`);
  }
  return { dims: header.dims, data: data! };
}
