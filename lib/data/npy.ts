/**
 * NumPy `.npy` files, versions 1.0, 2.0 and 3.0:
 *
 *   bytes 0-5  "\x93NUMPY"
 *   bytes 6-7  major, minor version
 *   then       header length: uint16 LE (v1) or uint32 LE (v2, v3)
 *   then       the header, a Python dict literal such as
 *              {'descr': '<f4', 'fortran_order': False, 'shape': (10000, 1, 28, 28), }
 *              (latin-1 in v1/v2, utf-8 in v3), padded with spaces and a newline
 *   then       the array data (C order here; Fortran order is rejected)
 *
 * The file must end where the header's shape says (as IDX files must): trailing bytes are an `E_DATA` error.
 * Only the header is parsed eagerly; sample data is read by byte range (see NpyRangeSource in source.ts).
 */
import { dataError, withFile } from './io.js';

/** The element types we read: samples as uint8 or float32, labels also as int32 / int64. */
export type NpyDtype = 'u1' | 'f4' | 'i4' | 'i8';

export interface NpyHeader {
  path: string;
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
  /** Bytes per element. */
  itemBytes: number;
  count: number;
}

const MAGIC = '\x93NUMPY';
const ITEM_BYTES: Record<NpyDtype, number> = { u1: 1, f4: 4, i4: 4, i8: 8 };
/** Little-endian (or byte-order-free for u1) descriptors; all Node targets of onnxruntime-node are little-endian. */
const DESCRS: Record<string, NpyDtype> = { '|u1': 'u1', '<u1': 'u1', '>u1': 'u1', '<f4': 'f4', '<i4': 'i4', '<i8': 'i8' };

/** The first `length` bytes of the file (fewer if it is shorter) and its size. */
function readPrefix(path: string, length: number): Promise<{ bytes: Buffer; fileSize: number }> {
  return withFile(path, async (handle) => {
    const fileSize = (await handle.stat()).size;
    const bytes = Buffer.alloc(Math.min(length, fileSize));
    await handle.read(bytes, 0, bytes.length, 0);
    return { bytes, fileSize };
  });
}

function dictValue(header: string, key: string): string | undefined {
  return new RegExp(`['"]${key}['"]\\s*:\\s*('[^']*'|"[^"]*"|True|False|\\([^)]*\\))`).exec(header)?.[1];
}

function parseDict(path: string, header: string, at: number): { dtype: NpyDtype; shape: number[] } {
  const descr = dictValue(header, 'descr')?.slice(1, -1);
  const fortran = dictValue(header, 'fortran_order');
  const shapeText = dictValue(header, 'shape');
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw dataError(path, at, `malformed .npy header ${JSON.stringify(header.trim())}: it needs 'descr', 'fortran_order' and 'shape'`);
  }
  const dtype = DESCRS[descr];
  if (!dtype) throw dataError(path, at, `.npy dtype '${descr}' is not supported; save as little-endian float32 or uint8 (labels: uint8, int32, int64)`);
  if (fortran !== 'False') throw dataError(path, at, 'the .npy array is in Fortran order; save it with np.ascontiguousarray');
  const shape = shapeText.slice(1, -1).split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw dataError(path, at, `malformed .npy shape ${shapeText}`);
  return { dtype, shape };
}

/** Reads and checks the header of a .npy file, including that the file holds all the data the header declares. */
export async function readNpyHeader(path: string): Promise<NpyHeader> {
  const { bytes: head, fileSize } = await readPrefix(path, 12);
  if (head.length < 10 || head.toString('latin1', 0, 6) !== MAGIC) throw dataError(path, 0, 'not a .npy file (the magic string \\x93NUMPY is missing)');
  const major = head[6]!;
  if (major < 1 || major > 3) throw dataError(path, 6, `.npy format version ${major}.${head[7]} is not supported (1.0 to 3.0 are)`);
  const lengthBytes = major === 1 ? 2 : 4;
  if (head.length < 8 + lengthBytes) throw dataError(path, head.length, 'truncated .npy header');
  const headerLength = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const dataOffset = 8 + lengthBytes + headerLength;
  const { bytes } = await readPrefix(path, dataOffset);
  if (bytes.length < dataOffset) throw dataError(path, bytes.length, `truncated .npy header: it declares ${headerLength} bytes`);
  const text = bytes.toString(major === 3 ? 'utf8' : 'latin1', 8 + lengthBytes, dataOffset);
  const { dtype, shape } = parseDict(path, text, 8 + lengthBytes);
  const itemBytes = ITEM_BYTES[dtype];
  const elements = shape.reduce((a, b) => a * b, 1);
  const end = dataOffset + elements * itemBytes;
  if (fileSize < end) {
    throw dataError(path, fileSize, `truncated: the header declares shape (${shape.join(', ')}) of '${dtype}', which ends at byte ${end}, but the file has ${fileSize} bytes`);
  }
  // The rule IDX files follow too: a file longer than its header declares is the wrong file or a mis-saved array.
  if (fileSize > end) throw dataError(path, end, `unexpected bytes after the ${elements} elements that the header declares`);
  return { path, dtype, shape, dataOffset, itemBytes, count: shape[0] ?? 1 };
}

/** Reads a whole (small) integer .npy array, e.g. labels, as Int32Array. */
export async function readNpyLabels(path: string): Promise<Int32Array> {
  const header = await readNpyHeader(path);
  if (header.shape.length !== 1) throw dataError(path, header.dataOffset, `labels must be a 1-D array, got shape (${header.shape.join(', ')})`);
  if (header.dtype === 'f4') throw dataError(path, header.dataOffset, 'labels must be integers (uint8, int32 or int64), got float32');
  const { bytes } = await readPrefix(path, header.dataOffset + header.count * header.itemBytes);
  const labels = new Int32Array(header.count);
  for (let i = 0; i < header.count; i++) {
    const at = header.dataOffset + i * header.itemBytes;
    const value = header.dtype === 'u1' ? bytes[at]! : header.dtype === 'i4' ? bytes.readInt32LE(at) : Number(bytes.readBigInt64LE(at));
    if (value < 0 || value > 2 ** 31 - 1) throw dataError(path, at, `label ${value} is out of range (labels are class indices >= 0)`);
    labels[i] = value;
  }
  return labels;
}
