/**
 * Reading and writing ONNX files: external data resolved only inside the model's own folder, big models written
 * with external data, atomic writes that never overwrite a file this process read as a model input.
 */
import {
  closeSync, constants as fsConstants, fstatSync, openSync, readSync, realpathSync, unlinkSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ClafusionError } from '../errors.js';
import { decodeModel, encodeModel, type ModelProto, type TensorProto } from './proto.js';
import { expectedByteLength, inlineByteLength } from './tensor.js';
import { checkAllocation } from '../resources.js';
import { atomicWrite, checkOutputPath, fileKind } from './atomic.js';

export { atomicWrite } from './atomic.js'; // the writer of other outputs too (lib/cli/recipe.ts)

/** Protobuf's hard limit on one message; above it tensors must go to an external data file. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** Real paths of every model and external-data file read by `readModel` in this process: never overwritten. */
const filesRead = new Set<string>();

export interface ReadOptions {
  /** Folder that external data is resolved in when reading from bytes (default: none; external data is then an error). */
  baseDir?: string;
}

/** Reads a model from a path or from bytes, resolving external tensor data. */
export function readModel(source: string | Uint8Array, options: ReadOptions = {}): ModelProto {
  let bytes: Uint8Array;
  let baseDir = options.baseDir;
  if (typeof source === 'string') {
    bytes = readInputFile(source);
    baseDir = dirname(resolve(source));
  } else {
    bytes = source;
  }
  const model = decodeModel(bytes);
  loadExternalData(model, baseDir);
  return model;
}

/** The model file's bytes: only a regular file, opened without blocking (a FIFO would hang a plain read). */
function readInputFile(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw new ClafusionError('E_IO', `cannot read '${path}': ${(err as Error).message}`, { cause: err });
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) {
      throw new ClafusionError('E_IO', `cannot read '${path}': it is ${fileKind(stats)}, not a regular file`);
    }
    checkAllocation(stats.size, `reading the model '${path}'`, stats.size);
    const bytes = new Uint8Array(stats.size);
    for (let done = 0; done < bytes.length;) {
      const n = readSync(fd, bytes, done, bytes.length - done, done);
      if (n === 0) throw new ClafusionError('E_IO', `cannot read '${path}': it shrank while being read`);
      done += n;
    }
    filesRead.add(realpathSync(path));
    return bytes;
  } finally {
    closeSync(fd);
  }
}

function externalError(tensor: TensorProto, message: string): ClafusionError {
  return new ClafusionError('E_ONNX_PARSE', `tensor '${tensor.name}' external data: ${message}`);
}

function externalField(tensor: TensorProto, key: string): string | undefined {
  return tensor.externalData?.find((entry) => entry.key === key)?.value;
}

function parseExternalInteger(tensor: TensorProto, key: string): number | undefined {
  const text = externalField(tensor, key);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw externalError(tensor, `${key} '${text}' is not a non-negative integer`);
  return Number(text);
}

/**
 * The location as ONNX Runtime reads it: a C string, so it ends at the first NUL byte (ORT opens `w.bin` for
 * `w.bin\0junk`; Node refuses paths holding NUL, so without this we would refuse what ORT accepts).
 */
function cLocation(location: string): string {
  const nul = location.indexOf('\0');
  return nul < 0 ? location : location.slice(0, nul);
}

/**
 * Resolves `location` inside `baseDir` the way the OS (and ONNX Runtime) does: component by component, so
 * `x/../w.bin` needs a folder `x` and `link/..` is the parent of the link's target, not lexically cancelled. An
 * absolute path, a path that leaves the folder (also through a symlink) or a missing file is an error.
 */
function resolveInside(tensor: TensorProto, baseDir: string, location: string): string {
  if (isAbsolute(location) || /^[a-zA-Z]:/.test(location)) throw externalError(tensor, `location '${location}' is absolute; it must be relative to the model's folder`);
  let realBase: string;
  try {
    realBase = realpathSync(baseDir);
  } catch (err) {
    throw new ClafusionError('E_IO', `cannot resolve the model folder '${baseDir}' for external data: ${(err as Error).message}`, { cause: err });
  }
  let realTarget: string;
  try {
    realTarget = realpathSync.native(`${realBase}${sep}${location}`); // no path.join: it would cancel `x/..` lexically
  } catch {
    throw externalError(tensor, `file '${location}' does not exist next to the model`);
  }
  const rel = relative(realBase, realTarget);
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) {
    throw externalError(tensor, `location '${location}' leaves the model's folder; external data must stay inside it`);
  }
  return realTarget;
}

/**
 * Opens `path` for reading without blocking (a FIFO would block a plain open until a writer comes) and without
 * following a symlink swapped in after it was resolved; anything but a regular file is refused.
 */
function openRegularFile(tensor: TensorProto, path: string, location: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
  } catch (err) {
    const message = `tensor '${tensor.name}': cannot read external data '${location}': ${(err as Error).message}`;
    throw new ClafusionError('E_IO', message, { cause: err });
  }
  const stats = fstatSync(fd);
  if (!stats.isFile()) {
    closeSync(fd);
    throw externalError(tensor, `location '${location}' is ${fileKind(stats)}, not a regular file`);
  }
  return { fd, size: stats.size };
}

/** The tensor's [offset, offset + length) range of the file: checked against the file and the tensor's dims first. */
function externalRange(tensor: TensorProto, location: string, size: number): { offset: number; length: number } {
  const offset = parseExternalInteger(tensor, 'offset') ?? 0;
  const expected = expectedByteLength(tensor);
  const length = parseExternalInteger(tensor, 'length') ?? expected;
  if (length === undefined) {
    throw externalError(tensor, `no length, and data type ${tensor.dataType} has no fixed element size`);
  }
  if (expected !== undefined && length !== expected) {
    const dims = tensor.dims.join(', ');
    throw externalError(tensor, `length ${length} does not match its dims [${dims}] (${expected} bytes)`);
  }
  if (offset > size || length > size - offset) {
    throw externalError(tensor, `offset ${offset} + length ${length} is past the end of '${location}' (${size} bytes)`);
  }
  return { offset, length };
}

/** Reads only the tensor's own range of its external file. */
function readExternal(tensor: TensorProto, baseDir: string): Uint8Array {
  const location = cLocation(externalField(tensor, 'location') ?? '');
  if (!location) throw externalError(tensor, 'no location');
  const path = resolveInside(tensor, baseDir, location);
  const { fd, size } = openRegularFile(tensor, path, location);
  try {
    const { offset, length } = externalRange(tensor, location, size);
    checkAllocation(length, `tensor '${tensor.name}' external data`, length);
    const data = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, data, done, length - done, offset + done);
      if (n === 0) throw externalError(tensor, `'${location}' ended early`);
      done += n;
    }
    filesRead.add(path);
    return data;
  } finally {
    closeSync(fd);
  }
}

/** Moves every external tensor's data inline (into `rawData`), so the rest of the code sees one kind of model. */
function loadExternalData(model: ModelProto, baseDir: string | undefined): void {
  for (const tensor of model.graph.initializer) {
    if (tensor.dataLocation !== 1) continue;
    if (baseDir === undefined) throw externalError(tensor, 'the model was given as bytes; pass options.baseDir (its folder) or read it from its path');
    tensor.rawData = readExternal(tensor, baseDir);
    tensor.dataLocation = 0;
    tensor.externalData = undefined;
  }
}

export interface WriteOptions {
  /**
   * Total tensor bytes above which initializers go to an external data file `<model file>.data` next to the model
   * (default: protobuf's 2 GiB limit). Tests use a tiny value.
   */
  externalDataThreshold?: number;
  /** Tensors smaller than this stay inline even when external data is used (default 1024 bytes). */
  externalMinTensorBytes?: number;
}

/**
 * Writes `model` to `path` atomically (lib/onnx/atomic.ts); refuses to overwrite a file read as a model input
 * (`E_IO`) and a path that is empty or not a regular file (`E_ARG`).
 */
export function writeModel(path: string, model: ModelProto, options: WriteOptions = {}): void {
  checkOutputPath(path);
  const threshold = options.externalDataThreshold ?? PROTOBUF_LIMIT;
  const totalBytes = model.graph.initializer.reduce((sum, t) => sum + inlineByteLength(t), 0);
  const target = resolve(path);
  refuseInputOverwrite(target);
  if (totalBytes <= threshold) {
    atomicWrite(target, [encodeModel(model)]);
    return;
  }
  const dataName = `${basename(target)}.data`;
  const dataPath = join(dirname(target), dataName);
  refuseInputOverwrite(dataPath);
  const { inlineModel, chunks } = splitExternal(model, dataName, options.externalMinTensorBytes ?? 1024);
  // Encode before writing anything, so that only the final rename can fail between the two files.
  const modelBytes = encodeModel(inlineModel);
  atomicWrite(dataPath, chunks);
  try {
    atomicWrite(target, [modelBytes]);
  } catch (err) {
    try { unlinkSync(dataPath); } catch { /* keep the write error, which says what went wrong */ }
    throw err; // a data file without its model would be a half-written output
  }
}

/**
 * Writes already-encoded model bytes (`fuse`, `finetune` and `distill` results) atomically, with the same refusal to
 * overwrite an input as writeModel; no second encoding.
 */
export function writeModelBytes(path: string, bytes: Uint8Array): void {
  checkOutputPath(path);
  const target = resolve(path);
  refuseInputOverwrite(target);
  atomicWrite(target, [bytes]);
}

function refuseInputOverwrite(target: string): void {
  let real: string;
  try {
    real = realpathSync(target);
  } catch {
    return; // does not exist yet
  }
  if (filesRead.has(real)) throw new ClafusionError('E_IO', `refusing to overwrite '${target}': it is an input model (or its data) read in this run; choose another output path`);
}

/** A copy of the model whose big float initializers point into one external file laid out as `chunks`. */
function splitExternal(model: ModelProto, location: string, minBytes: number): { inlineModel: ModelProto; chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const initializer = model.graph.initializer.map((tensor) => {
    if (!tensor.rawData || tensor.rawData.length < minBytes) return tensor;
    // ONNX aligns external tensors for mmap; 4096 is what onnx.save uses as its page size.
    const padding = (4096 - (offset % 4096)) % 4096;
    if (padding) chunks.push(new Uint8Array(padding));
    offset += padding;
    chunks.push(tensor.rawData);
    const external: TensorProto = {
      ...tensor,
      rawData: undefined,
      dataLocation: 1,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(tensor.rawData.length) },
      ],
    };
    offset += tensor.rawData.length;
    return external;
  });
  return { inlineModel: { ...model, graph: { ...model.graph, initializer } }, chunks };
}
