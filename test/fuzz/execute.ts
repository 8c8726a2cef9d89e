/**
 * Runs one fuzz case in a folder of its own: builds the input files from the case's records, calls the public API
 * on them, and classifies what happened. A case passes when every call returns or fails with a ClafusionError
 * whose code is documented, and the folder holds afterwards exactly what the case put there (plus the outputs it
 * asked for). Crashes and hangs are the runner's to see (test/fuzz/runner.ts runs this in a child process).
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as api from '../../lib/index.js';
import { ERROR_MEANINGS } from '../../lib/errors.js';
import {
  decodeModel, encodeModel, type Attribute, type GraphProto, type ModelProto, type NodeProto, type TensorProto,
} from '../../lib/onnx/proto.js';
import { cifarBytes, idxBytes, npyBytes } from '../data/files.js';
import type {
  Arg, ByteMutation, DatasetCase, FuzzCase, ModelCase, ModelMutation, SelfTestCase, SolverCase,
} from './cases.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export type Outcome =
  | { kind: 'ok' | 'coded'; detail: string }
  | { kind: 'uncoded' | 'leftover'; detail: string };

class Uncoded extends Error {}

/** Every path under `dir` (not following symlinks), relative to it. */
function listTree(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const rel = relative(base, path);
    return lstatSync(path).isDirectory() ? [rel + '/', ...listTree(path, base)] : [rel];
  });
}

function pick<T>(items: T[], index: number): T | undefined {
  return items.length === 0 ? undefined : items[index % items.length];
}

// ---------------------------------------------------------------------------------------------------------------
// Models

function applyModelMutation(model: ModelProto, m: ModelMutation): void {
  const g = model.graph;
  const tensor = 'tensor' in m ? pick(g.initializer, m.tensor) : undefined;
  const node = 'node' in m ? pick(g.node, m.node) : undefined;
  switch (m.op) {
    case 'dim': if (tensor && tensor.dims.length) tensor.dims[m.index % tensor.dims.length] = m.value; break;
    case 'dtype': if (tensor) tensor.dataType = m.value; break;
    case 'truncateRaw': if (tensor?.rawData) tensor.rawData = tensor.rawData.subarray(0, m.length); break;
    case 'external': if (tensor) makeExternal(tensor, m); break;
    case 'dropNode': if (node) g.node.splice(g.node.indexOf(node), 1); break;
    case 'dupNode': if (node) g.node.splice(g.node.indexOf(node), 0, { ...node, name: node.name + '_dup' }); break;
    case 'opType': if (node) node.opType = m.value; break;
    case 'nodeInput': {
      const value = m.value === 'self' ? node?.output[0] ?? '' : m.value;
      if (node) node.input[m.index % Math.max(1, node.input.length)] = value;
      break;
    }
    case 'attrInt': editAttribute(node, m.attr, (a) => Object.assign(a, { i: BigInt(m.value), type: 2 })); break;
    case 'attrInts': editAttribute(node, m.attr, (a) => Object.assign(a, { ints: m.value.map(BigInt), type: 7 }));
      break;
    case 'dropAttr': editAttribute(node, m.attr, (a) => node!.attribute.splice(node!.attribute.indexOf(a), 1)); break;
    case 'inputDim': {
      const dims = pick(g.input, m.input)?.type?.tensorType?.shape;
      if (dims?.length) dims[m.index % dims.length] = { value: m.value };
      break;
    }
    case 'dropInitializer': if (tensor) g.initializer.splice(g.initializer.indexOf(tensor), 1); break;
    case 'dropOutput': g.output.pop(); break;
    case 'subgraph': if (node) node.attribute.push({ name: 'then_branch', type: 5, g: nestedGraph(m.depth) }); break;
    case 'opset': if (model.opsetImport[0]) model.opsetImport[0].version = m.value; break;
  }
}

/** Applies `change` to the node's attribute `index` (modulo their count), if the node has any. */
function editAttribute(node: NodeProto | undefined, index: number, change: (attribute: Attribute) => void): void {
  const attribute = node && pick(node.attribute, index);
  if (attribute) change(attribute);
}

function makeExternal(tensor: TensorProto, m: Extract<ModelMutation, { op: 'external' }>): void {
  const entries = [{ key: 'location', value: m.location }];
  if (m.offset !== undefined) entries.push({ key: 'offset', value: m.offset });
  if (m.length !== undefined) entries.push({ key: 'length', value: m.length });
  Object.assign(tensor, { rawData: undefined, floatData: undefined, dataLocation: 1, externalData: entries });
}

function nestedGraph(depth: number): GraphProto {
  const graph: GraphProto = { name: `g${depth}`, node: [], initializer: [], input: [], output: [], valueInfo: [] };
  if (depth > 1) {
    const attribute = [{ name: 'then_branch', type: 5, g: nestedGraph(depth - 1) }];
    graph.node.push({ opType: 'If', name: `if${depth}`, input: ['c'], output: ['o'], domain: '', attribute });
  }
  return graph;
}

function applyBytes(bytes: Uint8Array, mutations: ByteMutation[]): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.op === 'groups' ? 0 : m.at % out.length;
    if (m.op === 'flip') out[at] ^= 1 << m.bit;
    else if (m.op === 'set') out[at] = m.value;
    else if (m.op === 'truncate') out = out.subarray(0, at);
    else if (m.op === 'splice') out = Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
    else out = Uint8Array.from([...groupBytes(m.count), ...out]);
  }
  return out;
}

/** `count` nested unknown groups (field 99, wire type 3), closed again. */
function groupBytes(count: number): number[] {
  return [...Array<number[]>(count).fill([0x9b, 0x06]).flat(), ...Array<number[]>(count).fill([0x9c, 0x06]).flat()];
}

/** The folder a model case sees: external data candidates, a FIFO, a folder, links in and out. */
function modelFolder(work: string): void {
  writeFileSync(join(work, 'w.bin'), new Uint8Array(4096).fill(0x3f));
  mkdirSync(join(work, 'sub'));
  execFileSync('mkfifo', [join(work, 'fifo')]);
  symlinkSync('w.bin', join(work, 'link-in'));
  symlinkSync('/etc/hostname', join(work, 'link-out'));
  symlinkSync('/dev/null', join(work, 'dev-null'));
}

function modelBytes(c: ModelCase): Uint8Array {
  const model = decodeModel(readFileSync(join(ROOT, c.seed)));
  for (const m of c.mutations) applyModelMutation(model, m);
  return applyBytes(encodeModel(model), c.bytes);
}

function runModel(c: ModelCase, work: string): string {
  modelFolder(work);
  const path = join(work, 'model.onnx');
  writeFileSync(path, modelBytes(c));
  api.formatInspect(api.inspectModel(path));
  const network = api.readNetwork(path);
  const rebuilt = encodeModel(api.buildModel(network).model);
  api.readNetwork(rebuilt);
  api.writeNetwork(join(work, 'out.onnx'), network);
  return `model of ${api.allLayers(network).length} layers`;
}

// ---------------------------------------------------------------------------------------------------------------
// Datasets

const PIXELS = Uint8Array.from({ length: 5 * 4 }, (_, i) => (i * 37) % 256);
const LABELS = Uint8Array.of(0, 1, 2, 3, 4);

interface DatasetFiles {
  samples: Uint8Array;
  labels: Uint8Array;
  spec: (samples: string, labels: string) => string;
}

function datasetFiles(c: DatasetCase): DatasetFiles {
  const edit = (bytes: Uint8Array) => applyBytes(bytes, c.bytes);
  const resize = (bytes: Uint8Array) => (c.labelsDelta >= 0
    ? Uint8Array.from([...bytes, ...new Uint8Array(c.labelsDelta)])
    : bytes.subarray(0, bytes.length + c.labelsDelta));
  switch (c.format) {
    case 'idx':
    case 'idx.gz': {
      const gz = (b: Uint8Array) => (c.format === 'idx.gz' ? new Uint8Array(gzipSync(b)) : b);
      const samples = gz(edit(idxBytes([5, 2, 2], PIXELS)));
      return { samples, labels: gz(resize(idxBytes([5], LABELS))), spec: (s, l) => `idx:${s},${l}` };
    }
    case 'npy': {
      let text = npyBytes('<f4', [5, 1, 2, 2], Float32Array.from(PIXELS, (p) => p / 255)).toString('latin1');
      for (const [from, to] of c.header ?? []) text = text.replace(from, to);
      const samples = edit(Buffer.from(text, 'latin1'));
      return { samples, labels: resize(npyBytes('|u1', [5], LABELS)), spec: (s, l) => `npy:${s},${l}` };
    }
    case 'cifar10': {
      const images = Uint8Array.from({ length: 2 * 3072 }, (_, i) => (i * 31) % 256);
      const samples = edit(cifarBytes(images, [3, 7], 'cifar10'));
      return { samples, labels: new Uint8Array(), spec: (s) => `cifar10:${s}` };
    }
  }
}

async function runDataset(c: DatasetCase, work: string): Promise<string> {
  const { samples, labels, spec } = datasetFiles(c);
  const samplesPath = join(work, 'samples.bin');
  const labelsPath = join(work, 'labels.bin');
  writeFileSync(samplesPath, samples);
  writeFileSync(labelsPath, labels);
  const dataset = await api.openDataset(spec(samplesPath, labelsPath));
  const count = Math.min(dataset.count, 64);
  const batch = await dataset.take(Array.from({ length: count }, (_, i) => i));
  return `${dataset.count} samples of [${dataset.shape.join(', ')}], batch of ${batch.data.length} values`;
}

// ---------------------------------------------------------------------------------------------------------------
// Solvers

function number(value: number | string): number {
  return typeof value === 'number' ? value : Number(value);
}

export function decodeArg(arg: Arg): unknown {
  switch (arg.t) {
    case 'f32': return Float32Array.from(arg.v, number);
    case 'f64': return Float64Array.from(arg.v, number);
    case 'i32': return Int32Array.from(arg.v, number);
    case 'fill': {
      const array = arg.type === 'f32' ? new Float32Array(arg.length) : new Float64Array(arg.length);
      return array.fill(number(arg.value));
    }
    case 'undefined': return undefined;
    case 'list': return arg.v.map(decodeArg);
    case 'object': return Object.fromEntries(Object.entries(arg.v).map(([key, value]) => [key, decodeArg(value)]));
    case 'plain': return arg.v;
  }
}

async function runSolver(c: SolverCase): Promise<string> {
  const fn = (api as unknown as Record<string, (...args: unknown[]) => unknown>)[c.fn];
  if (typeof fn !== 'function') throw new Uncoded(`no public function ${c.fn}`);
  const result = await fn(...c.args.map(decodeArg));
  return `${c.fn} returned ${typeof result}`;
}

// ---------------------------------------------------------------------------------------------------------------

function classify(err: unknown): Outcome {
  if (err instanceof Uncoded) return { kind: 'uncoded', detail: err.message };
  if (api.isClafusionError(err) && Object.hasOwn(ERROR_MEANINGS, err.code)) return { kind: 'coded', detail: err.code };
  const e = err as Error;
  const frames = (e?.stack ?? '').split('\n').filter((line) => line.includes('/lib/'));
  const where = frames.slice(0, 3).map((line) => line.trim()).join(' < ');
  const code = (e as { code?: string })?.code;
  const kind = `${e?.constructor?.name ?? typeof err}${code ? ` ${code}` : ''}`;
  return { kind: 'uncoded', detail: `${kind}: ${String(e?.message ?? err).slice(0, 300)} ${where}` };
}

/** A crash (killed, as by a fatal error; no core file) or a hang (the thread blocked, as by an open() of a FIFO). */
function runSelfTest(c: SelfTestCase): never {
  if (c.action === 'kill') process.kill(process.pid, 'SIGKILL');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  throw new Uncoded('Atomics.wait returned');
}

function runTarget(c: FuzzCase, work: string): string | Promise<string> {
  switch (c.target) {
    case 'model': return runModel(c, work);
    case 'dataset': return runDataset(c, work);
    case 'solver': return runSolver(c);
    case 'selftest': return runSelfTest(c);
  }
}

/** Runs `c` in the empty folder `work` (which it fills); leaves it for the caller to remove. */
export async function executeCase(c: FuzzCase, work: string): Promise<Outcome> {
  let outcome: Outcome;
  try {
    const detail = await runTarget(c, work);
    outcome = { kind: 'ok', detail };
  } catch (err) {
    outcome = classify(err);
  }
  const expected = new Set([
    'w.bin', 'sub/', 'fifo', 'link-in', 'link-out', 'dev-null', 'model.onnx', 'out.onnx', 'out.onnx.data',
    'samples.bin', 'labels.bin',
  ]);
  const extra = listTree(work).filter((path) => !expected.has(path));
  if (extra.length > 0 && outcome.kind !== 'uncoded') {
    return { kind: 'leftover', detail: `left behind: ${extra.join(', ')}` };
  }
  return outcome;
}
