/**
 * Fuzz cases as plain data: a case names a target and holds concrete mutation records (not a seed), so a saved
 * reproducer replays the same input however the generators change. The generators draw records from a seeded
 * generator: the same seed gives the same cases on every machine.
 *
 *   model    a fixture model, decoded and mutated structurally (dims, types, nodes, attributes, external data,
 *            nested subgraphs), encoded, then mutated as bytes (bit flips, truncation, splices, nested groups)
 *   dataset  a small IDX / npy / CIFAR file built from fixed bytes, its header fields and length mutated
 *   solver   a public solver called with arguments near valid ones: odd sizes, NaN, mismatched lengths, options
 */
import { rng } from '../support/random.js';

/** A typed array or a special value, as JSON. */
export type Arg =
  | { t: 'f32' | 'f64' | 'i32'; v: (number | string)[] }
  | { t: 'fill'; type: 'f32' | 'f64'; length: number; value: number | string }
  | { t: 'undefined' }
  | { t: 'list'; v: Arg[] }
  | { t: 'object'; v: Record<string, Arg> }
  | { t: 'plain'; v: unknown };

export type ModelMutation =
  | { op: 'dim'; tensor: number; index: number; value: number }
  | { op: 'dtype'; tensor: number; value: number }
  | { op: 'truncateRaw'; tensor: number; length: number }
  | { op: 'external'; tensor: number; location: string; offset?: string; length?: string }
  | { op: 'dropNode' | 'dupNode'; node: number }
  | { op: 'opType'; node: number; value: string }
  | { op: 'nodeInput'; node: number; index: number; value: string }
  | { op: 'attrInt'; node: number; attr: number; value: number }
  | { op: 'attrInts'; node: number; attr: number; value: number[] }
  | { op: 'dropAttr'; node: number; attr: number }
  | { op: 'inputDim'; input: number; index: number; value: number }
  | { op: 'dropInitializer'; tensor: number }
  | { op: 'dropOutput' }
  | { op: 'subgraph'; node: number; depth: number }
  | { op: 'opset'; value: number };

export type ByteMutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'splice'; at: number; bytes: number[] }
  | { op: 'groups'; count: number };

export interface ModelCase {
  target: 'model';
  /** Repository-relative path of the fixture. */
  seed: string;
  mutations: ModelMutation[];
  bytes: ByteMutation[];
}

export interface DatasetCase {
  target: 'dataset';
  format: 'idx' | 'idx.gz' | 'npy' | 'cifar10';
  /** Header field edits and length changes of the samples file, applied in order. */
  bytes: ByteMutation[];
  /** Edits of the npy header text (search, replace), before the byte edits. */
  header?: [string, string][];
  /** Trailing bytes added to the labels file (negative: removed). */
  labelsDelta: number;
}

export interface SolverCase {
  target: 'solver';
  fn: string;
  args: Arg[];
}

/** The harness's own check that a crash and a hang are seen (never generated). */
export interface SelfTestCase {
  target: 'selftest';
  action: 'kill' | 'block';
}

export type FuzzCase = ModelCase | DatasetCase | SolverCase | SelfTestCase;

/** Small fixtures: mutants stay small enough to save as reproducers. */
export const MODEL_SEEDS = [
  'test/fixtures/graph/mlp_logsoftmax_op11.onnx',
  'test/fixtures/graph/resnet_basic_bn_op17.onnx',
  'test/fixtures/graph/resnet_basic_nobn_op11.onnx',
  'test/fixtures/graph/resnet_bottleneck_op17.onnx',
  'test/fixtures/graph/vgg_bn_folded_op11.onnx',
  'test/fixtures/graph/vgg_bn_softmax_op17.onnx',
  'test/fixtures/eval/mlp_a.onnx',
  'test/fixtures/eval/mlp_b.onnx',
  'examples/models/vgg_shallow.onnx',
];

/** Locations an external tensor is pointed at: files the case folder holds, and hostile ones. */
export const LOCATIONS = [
  'w.bin', 'x/../w.bin', 'sub/../w.bin', 'w.bin\0junk', 'fifo', 'sub', 'sub/', '.', '', '../w.bin', '/etc/passwd',
  'link-out', 'link-in', 'missing.bin', 'C:\\w.bin', 'dev-null',
];

const OP_TYPES = ['Relu', 'Gemm', 'Conv', 'Add', 'MatMul', 'Flatten', 'Reshape', 'MaxPool', 'BatchNormalization', 'Identity', 'If', 'Bogus', ''];
const SIZES = [0, 1, 2, 3, -1, 1.5, NaN, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 1e9];
const SPECIAL = ['NaN', 'Infinity', '-Infinity', -1, 0, 1e300, -1e-300, 5e-324];

export class Draw {
  readonly random: () => number;
  constructor(seed: number) { this.random = rng(seed); }
  int(n: number): number { return Math.floor(this.random() * n); }
  chance(p: number): boolean { return this.random() < p; }
  pick<T>(items: readonly T[]): T { return items[this.int(items.length)]!; }
  /** Mostly small non-negative integers, sometimes an edge case. */
  size(): number { return this.chance(0.8) ? 1 + this.int(6) : this.pick(SIZES); }
  value(): number | string { return this.chance(0.9) ? Math.round((this.random() * 4 - 2) * 1000) / 1000 : this.pick(SPECIAL); }
}

function modelMutation(d: Draw): ModelMutation {
  const i = d.int(64);
  switch (d.int(15)) {
    case 0: return { op: 'dim', tensor: i, index: d.int(4), value: d.pick([0, 1, 2, 3, -1, 7, 2 ** 31, 2 ** 40, 2 ** 53]) };
    case 1: return { op: 'dtype', tensor: i, value: d.pick([0, 1, 2, 6, 7, 8, 10, 11, 16, 99, -1]) };
    case 2: return { op: 'truncateRaw', tensor: i, length: d.int(64) };
    case 3: return { op: 'external', tensor: i, location: d.pick(LOCATIONS), ...(d.chance(0.5) ? { offset: d.pick(['0', '4', '4096', '-1', 'x', '99999999999']) } : {}), ...(d.chance(0.5) ? { length: d.pick(['0', '4', '48', '16', 'abc', '1e3']) } : {}) };
    case 4: return { op: d.chance(0.5) ? 'dropNode' : 'dupNode', node: i };
    case 5: return { op: 'opType', node: i, value: d.pick(OP_TYPES) };
    case 6: return { op: 'nodeInput', node: i, index: d.int(3), value: d.pick(['', 'missing', 'x', 'input', 'self']) };
    case 7: return { op: 'attrInt', node: i, attr: d.int(6), value: d.pick([0, 1, -1, 2, 3, 7, 2 ** 31, -(2 ** 31)]) };
    case 8: return { op: 'attrInts', node: i, attr: d.int(6), value: Array.from({ length: d.int(5) }, () => d.pick([0, 1, 2, 3, -1, 9, 2 ** 20])) };
    case 9: return { op: 'dropAttr', node: i, attr: d.int(6) };
    case 10: return { op: 'inputDim', input: d.int(2), index: d.int(4), value: d.pick([0, 1, 2, 3, 5, 28, -1, 2 ** 31]) };
    case 11: return { op: 'dropInitializer', tensor: i };
    case 12: return { op: 'dropOutput' };
    case 13: return { op: 'subgraph', node: i, depth: d.pick([1, 2, 40, 70]) };
    default: return { op: 'opset', value: d.pick([1, 7, 9, 11, 13, 17, 21, 99, 0, -1]) };
  }
}

function byteMutation(d: Draw, maxAt: number): ByteMutation {
  const at = d.int(maxAt);
  switch (d.int(5)) {
    case 0: return { op: 'flip', at, bit: d.int(8) };
    case 1: return { op: 'set', at, value: d.pick([0, 1, 0x7f, 0x80, 0xff, 0x08, 0x0b]) };
    case 2: return { op: 'truncate', at };
    case 3: return { op: 'splice', at, bytes: Array.from({ length: 1 + d.int(6) }, () => d.int(256)) };
    default: return { op: 'groups', count: d.pick([1, 50, 99, 100, 101, 5000]) };
  }
}

function modelCase(d: Draw): ModelCase {
  const mutations = Array.from({ length: d.int(4) }, () => modelMutation(d));
  const bytes = d.chance(0.4) ? Array.from({ length: 1 + d.int(3) }, () => byteMutation(d, 16384)) : [];
  return { target: 'model', seed: d.pick(MODEL_SEEDS), mutations, bytes };
}

const NPY_EDITS: [string, string][] = [
  ["'<f4'", "'<f8'"], ["'<f4'", "'|u1'"], ["'<f4'", "'>f4'"], ["'<f4'", "'O'"], ['False', 'True '], ['(5, 1, 2, 2)', '(5, 1, 2, 3)'],
  ['(5, 1, 2, 2)', '(-5, 1, 2, 2)'], ['(5, 1, 2, 2)', '(99999999999, 1, 2, 2)'], ['(5, 1, 2, 2)', '()'], ["'shape'", "'shap'"],
  ['(5, 1, 2, 2)', '(5,)'], ['(5, 1, 2, 2)', '(5, 0, 2, 2)'],
];

function datasetCase(d: Draw): DatasetCase {
  const format = d.pick(['idx', 'idx.gz', 'npy', 'cifar10'] as const);
  const header = format === 'npy' && d.chance(0.6) ? [d.pick(NPY_EDITS)] : undefined;
  const bytes = Array.from({ length: d.int(3) }, () => byteMutation(d, format === 'cifar10' ? 3100 : 64))
    .filter((m) => m.op !== 'groups');
  const labelsDelta = d.chance(0.2) ? d.pick([-1, 1, 8]) : 0;
  return { target: 'dataset', format, bytes, header, labelsDelta };
}

function floats(d: Draw, length: number, type: 'f32' | 'f64' = d.chance(0.5) ? 'f32' : 'f64'): Arg {
  if (!(length >= 0 && length <= 4096 && Number.isInteger(length))) return { t: 'fill', type, length: 2, value: 1 };
  return { t: type, v: Array.from({ length }, () => (d.chance(0.95) ? Math.abs(Number(d.value())) || 0.5 : d.value())) };
}

function sometimes(d: Draw, arg: Arg): Arg {
  if (!d.chance(0.1)) return arg;
  return d.pick<Arg>([{ t: 'undefined' }, { t: 'plain', v: null }, { t: 'plain', v: 'text' }, { t: 'i32', v: [1, 2] }, { t: 'plain', v: {} }]);
}

function options(d: Draw, keys: Record<string, unknown[]>): Arg {
  const v: Record<string, Arg> = {};
  for (const [key, values] of Object.entries(keys)) if (d.chance(0.3)) v[key] = { t: 'plain', v: d.pick(values) };
  if (d.chance(0.05)) v.bogus = { t: 'plain', v: 1 };
  return { t: 'object', v };
}

const THREADS = [1, 2, 0, -1, 1.5, 5000, 'x'];

function solverCase(d: Draw): SolverCase {
  const n = d.size();
  const m = d.size();
  const k = d.size();
  const len = (x: number) => (d.chance(0.9) ? x : Math.max(0, x + d.pick([-1, 1])));
  const fn = d.pick([
    'emd', 'emdSync', 'emd2', 'sinkhorn', 'sinkhornSync', 'sinkhorn2Sync', 'pairwiseDistances', 'pairwiseDistancesSync',
    'gemm', 'gemmSync', 'gram', 'gramSync', 'centeredGramSync', 'linearCka', 'linearCkaSync', 'ckaCostMatrixSync', 'claAlign', 'uniform',
  ]);
  const f32 = (x: number) => sometimes(d, floats(d, len(x), 'f32'));
  const hist = (x: number) => sometimes(d, floats(d, len(x)));
  let args: Arg[];
  if (fn.startsWith('emd')) {
    args = [hist(n), hist(m), hist(n * m), options(d, { method: ['auto', 'assignment', 'network-simplex', 'x'], maxIterations: [1, 10, 0, -1, 1.5], threads: THREADS })];
  } else if (fn.startsWith('sinkhorn')) {
    args = [hist(n), hist(m), hist(n * m), { t: 'plain', v: d.pick([0.1, 1, 0, -1, NaN, 1e-9, 1e6]) },
      options(d, { regMode: ['absolute', 'median', 'max', 'x'], maxIterations: [1, 10, 0, 1.5], tolerance: [1e-9, 0, -1, NaN], epsilonScaling: [true, false, 'auto', 'x'], checkEvery: [1, 0, 3], threads: THREADS, throwOnNonConvergence: [true, false, 1], device: ['cpu', 'auto', 'cuda', 'tpu'] })];
  } else if (fn.startsWith('pairwise')) {
    args = [f32(n * k), { t: 'plain', v: n }, f32(m * k), { t: 'plain', v: m }, { t: 'plain', v: k }, options(d, { metric: ['sqeuclidean', 'euclidean', 'cosine', 'x'], threads: THREADS, device: ['cpu', 'auto', 'cuda', 'tpu'] })];
  } else if (fn.startsWith('gemm')) {
    args = [f32(n * k), f32(k * m), { t: 'plain', v: n }, { t: 'plain', v: m }, { t: 'plain', v: k }, options(d, { transA: [true, false], transB: [true, false], alpha: [1, NaN, 2], beta: [0, 1], lda: [1, 2, 100, 0], ldb: [1, 2, 100], ldc: [1, 3, 100], threads: THREADS })];
  } else if (fn.startsWith('gram') || fn.startsWith('centered')) {
    args = [f32(n * k), { t: 'plain', v: n }, { t: 'plain', v: k }, options(d, { threads: THREADS })];
  } else if (fn.startsWith('linearCka')) {
    args = [f32(n * k), f32(n * m), { t: 'plain', v: n }, { t: 'plain', v: k }, { t: 'plain', v: m }, options(d, { debiased: [true, false], threads: THREADS })];
  } else if (fn.startsWith('ckaCost')) {
    const side = Number.isInteger(n) && n > 0 && n <= 64 ? n : 2;
    const gramOf = () => sometimes(d, { t: 'f64', v: Array.from({ length: len(side * side) }, (_, i) => (i % (side + 1) === 0 ? 1 : 0.25)) });
    args = [{ t: 'list', v: Array.from({ length: d.int(3) }, gramOf) }, { t: 'list', v: Array.from({ length: 1 + d.int(2) }, gramOf) }, { t: 'plain', v: n }, options(d, { debiased: [true, false], threads: THREADS })];
  } else if (fn === 'claAlign') {
    args = [hist(n * m), { t: 'plain', v: n }, { t: 'plain', v: m }, options(d, { startLayer: [1, 2, 3, 0, -1], pinnedEnd: [0, 1, 2, 9] })];
  } else {
    // uniform's only argument is a size: no huge valid ones (2^31 bins is a legitimate 16 GiB, slow to fill).
    args = [{ t: 'plain', v: d.pick([0, 1, 5, -1, 1.5, NaN, 2 ** 32 + 1, 2 ** 53, Infinity]) }];
  }
  return { target: 'solver', fn, args };
}

/** Case `index` of the run seeded `seed`: the same pair gives the same case. */
export function generateCase(seed: number, index: number): FuzzCase {
  const d = new Draw((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  const pick = d.random();
  return pick < 0.5 ? modelCase(d) : pick < 0.7 ? datasetCase(d) : solverCase(d);
}

/** JSON for a case: NaN, ±Infinity and -0 survive (plain JSON would turn them into null and 0). */
export function serializeCase(c: FuzzCase): string {
  return JSON.stringify(c, (_key, value: unknown) =>
    typeof value === 'number' && (!Number.isFinite(value) || Object.is(value, -0)) ? { $number: String(value) } : value, 1);
}

/** The case of a saved reproducer, `{"found": {...}, "case": {...}}`. */
export function reproducerCase(text: string): FuzzCase {
  return (parseCase(text) as unknown as { case: FuzzCase }).case;
}

export function parseCase(text: string): FuzzCase {
  return JSON.parse(text, (_key, value: unknown) => {
    const special = (value as { $number?: string } | null)?.$number;
    return typeof special === 'string' ? (special === '-0' ? -0 : Number(special)) : value;
  }) as FuzzCase;
}
