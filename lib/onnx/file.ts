/**
 * Reading and writing ONNX files: external data resolved only inside the model's own folder, big models written
 * with external data, atomic writes that never overwrite a file this process read as a model input.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ClafusionError } from '../errors.js';
import { decodeModel, encodeModel, type ModelProto, type TensorProto } from './proto.js';
import { inlineByteLength } from './tensor.js';

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

function readInputFile(path: string): Uint8Array {
  try {
    const buffer = readFileSync(path);
    filesRead.add(realpathSync(path));
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (err) {
    throw new ClafusionError('E_IO', `cannot read '${path}': ${(err as Error).message}`, { cause: err });
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
 * Resolves `location` inside `baseDir`; an absolute path, a path that leaves the folder (also through a symlink)
 * or a missing file is an error.
 */
function resolveInside(tensor: TensorProto, baseDir: string, location: string): string {
  if (isAbsolute(location) || /^[a-zA-Z]:/.test(location)) throw externalError(tensor, `location '${location}' is absolute; it must be relative to the model's folder`);
  let realBase: string;
  try {
    realBase = realpathSync(baseDir);
  } catch (err) {
    throw new ClafusionError('E_IO', `cannot resolve the model folder '${baseDir}' for external data: ${(err as Error).message}`, { cause: err });
  }
  const target = resolve(realBase, location);
  let realTarget: string;
  try {
    realTarget = realpathSync(target);
  } catch {
    throw externalError(tensor, `file '${location}' does not exist next to the model`);
  }
  const rel = relative(realBase, realTarget);
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) {
    throw externalError(tensor, `location '${location}' leaves the model's folder; external data must stay inside it`);
  }
  return realTarget;
}

function readExternal(tensor: TensorProto, baseDir: string): Uint8Array {
  const location = externalField(tensor, 'location');
  if (!location) throw externalError(tensor, 'no location');
  const path = resolveInside(tensor, baseDir, location);
  const offset = parseExternalInteger(tensor, 'offset') ?? 0;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new ClafusionError('E_IO', `tensor '${tensor.name}': cannot read external data '${location}': ${(err as Error).message}`, { cause: err });
  }
  try {
    const size = fstatSync(fd).size;
    const length = parseExternalInteger(tensor, 'length') ?? size - offset;
    if (offset + length > size || offset > size) throw externalError(tensor, `offset ${offset} + length ${length} is past the end of '${location}' (${size} bytes)`);
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

/** Writes `model` to `path` atomically; refuses to overwrite a file read as a model input (`E_IO`). */
export function writeModel(path: string, model: ModelProto, options: WriteOptions = {}): void {
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

/** Writes chunks to a temp file in the target's folder, then renames it over the target; no partial file remains. */
export function atomicWrite(target: string, chunks: Uint8Array[]): void {
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx');
    try {
      for (const chunk of chunks) writeFileSync(fd, chunk);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (err) {
    try { unlinkSync(temp); } catch { /* never created, or already renamed */ }
    throw new ClafusionError('E_IO', `cannot write '${target}': ${(err as Error).message}`, { cause: err });
  }
}
