/**
 * The training-mode batch statistics of every BN of an emitted model in bounded memory, exactly (see
 * batch-statistics.ts for what they are). BN k normalises with the statistics of its input over ALL samples, which
 * depend on BNs 1 .. k−1, so the model runs in stages cut at the BNs (nodes in emission order, which is
 * topological):
 *
 *   stage k = nodes [b_{k−1}, b_k): BN k−1 (now in inference mode with the statistics just computed) up to the
 *   node before BN k; it yields X_k, the input of BN k.
 *
 * Stage k runs over the samples in chunks (see planMemory for their size; a small ONNX Runtime model per stage, its
 * session opened while stage k−1 runs); what stage k+1 and later need (X_k, and e.g. a residual block's input for
 * its shortcut) is held for all samples, in memory as the chunks came back while it fits the budget, the rest in
 * temp files on disk, removed on success, error, abort and signal. X_k's per-channel Σx and Σx² go into float64
 * accumulators in a fixed order (native, chunk-invariant: ChannelAccumulator; a chunk's sums run while the next
 * chunk runs), and then
 *
 *   mean_c = Σx / (N·P),   var_c = Σx² / (N·P) − mean_c²      (population variance over samples and positions)
 *
 * are BN k's statistics. Every conv runs once per sample, so the pass costs one forward pass plus the copies of
 * every stage's inputs and outputs to and from ONNX Runtime; its peak is the held tensors (or none, on disk) plus
 * one chunk of one stage.
 */
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { ClafusionError, requireArg, throwIfAborted } from '../errors.js';
import type { TensorData } from '../eval/protocol.js';
import { ModelRunner } from '../eval/runner.js';
import { convOutputSize, poolOutputSize } from '../graph/shapes.js';
import { floatValueInfo } from '../onnx/build.js';
import { type Attribute, type ModelProto, type NodeProto, type TensorProto, encodeModel } from '../onnx/proto.js';
import { boundHeapGrowth, checkAllocation, formatBytes } from '../resources.js';
import { ChannelAccumulator } from '../stats/accumulators.js';
import { freeDiskBytes, spillFolder } from '../stats/rows.js';
import { passBudget } from '../stats/stream.js';
import { removeQuietly, stalePid, trackTemp, untrackTemp } from '../temps.js';
import type { BatchStatistics, BatchStatisticsOptions } from './batch-statistics.js';

/**
 * ONNX Runtime's activation memory per sample, as a multiple of the largest node's inputs and outputs. Measured on
 * the one-batch pass of a ResNet-50-shaped model at 224x224 (VmHWM at 8 and 32 samples): 12.7 MiB per sample, of
 * which 1.1 MiB is the input batch (two copies), against 6.1 MiB for the largest node (the stem's BN, 64x112x112 in
 * and out): a factor of 1.9.
 */
const ORT_PEAK_FACTOR = 2;

/** Per-sample shape of every activation tensor of a model (the batch dimension left out). */
type Shapes = Map<string, number[]>;

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function ints(node: NodeProto, name: string, fallback: number[]): number[] {
  const found = node.attribute.find((a: Attribute) => a.name === name);
  return found?.ints ? found.ints.map(Number) : fallback;
}

function int(node: NodeProto, name: string, fallback: number): number {
  const found = node.attribute.find((a: Attribute) => a.name === name);
  return found?.i === undefined ? fallback : Number(found.i);
}

/** Output shape of a Conv, MaxPool or AveragePool node on [C, H, W]. */
function windowShape(node: NodeProto, input: number[], initializers: Map<string, TensorProto>): number[] {
  const weight = node.opType === 'Conv' ? initializers.get(node.input[1])?.dims : undefined;
  const kernel = ints(node, 'kernel_shape', weight ? weight.slice(2) : []);
  const strides = ints(node, 'strides', [1, 1]);
  const pads = ints(node, 'pads', [0, 0, 0, 0]);
  const dilations = ints(node, 'dilations', [1, 1]);
  const ceil = int(node, 'ceil_mode', 0) === 1;
  const out = [0, 1].map((axis) => (weight
    ? convOutputSize(input[axis + 1], kernel[axis], strides[axis], pads[axis], pads[axis + 2], dilations[axis])
    : poolOutputSize(input[axis + 1], kernel[axis], strides[axis], pads[axis], pads[axis + 2], ceil)));
  return [weight ? weight[0] : input[0], ...out];
}

/** The per-sample output shape of one node of the emitter's op set. */
function nodeShape(node: NodeProto, inputs: (number[] | undefined)[], initializers: Map<string, TensorProto>):
  number[] {
  const [x] = inputs;
  if (!x) {
    throw new ClafusionError('E_SHAPE',
      `node ${node.name} (${node.opType}) reads ${node.input[0]}, which no node before makes`);
  }
  switch (node.opType) {
    case 'Conv': case 'MaxPool': case 'AveragePool': return windowShape(node, x, initializers);
    case 'Gemm': return [initializers.get(node.input[1])!.dims[0]];
    case 'GlobalAveragePool': case 'GlobalMaxPool': return [x[0], 1, 1];
    case 'Flatten': return [size(x)];
    case 'Add': case 'Mul': case 'Div': return inputs.reduce((a, b) => (b && b.length > a!.length ? b : a), x)!;
    case 'BatchNormalization': case 'Relu': case 'LeakyRelu': case 'Sigmoid': case 'Tanh': case 'Erf':
    case 'Softmax': case 'LogSoftmax': return x;
    default:
      throw new ClafusionError('E_SHAPE',
        `the layer-by-layer BN statistics do not know the shape of a ${node.opType} node`);
  }
}

function initializerMap(model: ModelProto): Map<string, TensorProto> {
  return new Map(model.graph.initializer.map((t) => [t.name, t]));
}

/** Shapes of the graph input (as `view`'s samples fit it) and of every node output, in node order. */
function graphShapes(model: ModelProto, view: Dataset): Shapes {
  const initializers = initializerMap(model);
  const shapes: Shapes = new Map([[model.graph.input[0].name, modelSampleShape(model, view)]]);
  for (const node of model.graph.node) {
    const inputs = node.input.map((name) => shapes.get(name) ?? initializers.get(name)?.dims);
    shapes.set(node.output[0], nodeShape(node, inputs, initializers));
  }
  return shapes;
}

/** The largest Σ (activation inputs + outputs) of one node, in bytes per sample. */
function peakNodeBytes(nodes: readonly NodeProto[], shapes: Shapes): number {
  const tensors = (names: string[]) => names.reduce((n, name) => n + (shapes.has(name) ? size(shapes.get(name)!) : 0),
    0);
  return 4 * nodes.reduce((peak, node) => Math.max(peak, tensors(node.input) + tensors(node.output.slice(0, 1))), 0);
}

/** One stage of the pass: the nodes from BN k−1 to just before BN k. */
export interface Stage {
  nodes: NodeProto[];
  /** Held tensors the stage reads. */
  inputs: string[];
  /** Tensors the stage makes that later stages (or BN k) read. */
  outputs: string[];
  /** Held tensors (inputs included) that no later stage reads: released after this one. */
  released: string[];
  /** BN k, whose input `bn.input[0]` is the stage's target. */
  bn: NodeProto;
}

/** The stages of `model`, one per BN, cut at the BNs (see the header). */
function planStages(model: ModelProto): Stage[] {
  const { node: nodes } = model.graph;
  const activations = new Set([model.graph.input[0].name, ...nodes.map((n) => n.output[0])]);
  const lastUse = new Map<string, number>();
  nodes.forEach((node, k) => node.input.forEach((name) => { if (activations.has(name)) lastUse.set(name, k); }));
  const cuts = nodes.flatMap((node, k) => (node.opType === 'BatchNormalization' ? [k] : []));
  const held = new Set([model.graph.input[0].name]);
  return cuts.map((cut, k) => {
    const start = k === 0 ? 0 : cuts[k - 1];
    const stageNodes = nodes.slice(start, cut);
    const made = new Set(stageNodes.map((n) => n.output[0]));
    const read = stageNodes.flatMap((n) => n.input.filter((name) => activations.has(name) && !made.has(name)));
    const inputs = [...new Set(read)];
    const outputs = [...made].filter((name) => (lastUse.get(name) ?? -1) >= cut);
    const released = [...held].filter((name) => (lastUse.get(name) ?? -1) < cut);
    for (const name of released) held.delete(name);
    for (const name of outputs) held.add(name);
    return { nodes: stageNodes, inputs, outputs, released, bn: nodes[cut] };
  });
}

/** Temp folders of the pass: `clafusion-bn-<pid>-<random>`, so that the next pass removes those of killed ones. */
const SPILL_PREFIX = 'clafusion-bn-';

/** Free space the spilled tensors leave on their file system, for everyone else. */
const DISK_RESERVE_BYTES = 256 * 2 ** 20;

/** E_RESOURCE unless `bytes` fit under `parent` with DISK_RESERVE_BYTES to spare; removes killed passes' folders. */
function prepareSpill(parent: string, bytes: number): void {
  const free = freeDiskBytes(parent);
  if (bytes + DISK_RESERVE_BYTES > free) {
    throw new ClafusionError('E_RESOURCE', `the layer-by-layer BN statistics hold up to ${formatBytes(bytes)} of ` +
      `activations, which fit neither the memory budget nor the disk under '${parent}' (${formatBytes(free)} free); ` +
      'set CLAFUSION_SPILL_DIR to a folder with room, raise --memory (memoryBytes), or use fewer samples');
  }
  for (const name of readdirSync(parent)) if (stalePid(name, SPILL_PREFIX)) removeQuietly(join(parent, name));
}

/** E_RESOURCE for a full disk, else E_IO. */
function spillError(err: unknown, what: string): ClafusionError {
  const code = (err as NodeJS.ErrnoException).code;
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  return new ClafusionError(full ? 'E_RESOURCE' : 'E_IO', `${what}: ${(err as Error).message}`, { cause: err });
}

/** A tensor held in memory as the chunks the stage that made it returned (kept as they came, not copied). */
interface ChunkedTensor {
  /** First sample of each chunk, ascending. */
  starts: number[];
  chunks: Float32Array[];
}

/**
 * Samples start .. start + rows − 1 of a tensor held as chunks (`starts` ascending, `values` per sample): a view
 * when one chunk holds them all, else a copy.
 */
function gather(held: ChunkedTensor, start: number, rows: number, values: number): Float32Array {
  let k = held.starts.length - 1;
  while (held.starts[k] > start) k--;
  const offset = (start - held.starts[k]) * values;
  if (offset + rows * values <= held.chunks[k].length) return held.chunks[k].subarray(offset, offset + rows * values);
  const data = new Float32Array(rows * values);
  for (let at = 0, first = offset; at < data.length; k++, first = 0) {
    const part = held.chunks[k].subarray(first, first + data.length - at);
    data.set(part, at);
    at += part.length;
  }
  return data;
}

/** Where the pass holds each tensor alive between stages: the graph input is read from the dataset again. */
class HeldTensors {
  private readonly memory = new Map<string, ChunkedTensor>();
  private readonly files = new Map<string, number>();
  /** Files made so far (names the next one). */
  private made = 0;
  private readonly directory?: string;
  /** Bytes held in memory now. */
  private inMemory = 0;

  /**
   * Tensors are held in memory while they fit `memoryRoom` bytes, the others in files of a temp folder under
   * `parent` (made when `plan.disk`; its file system checked for room for `plan.heldBytes` first).
   */
  constructor(private readonly view: Dataset, private readonly input: string, private readonly shapes: Shapes,
    plan: LayerwisePlan, parent: string) {
    this.memoryRoom = plan.memoryRoom;
    if (!plan.disk) return;
    prepareSpill(parent, plan.heldBytes);
    try {
      this.directory = mkdtempSync(join(parent, `${SPILL_PREFIX}${process.pid}-`));
    } catch (err) {
      throw spillError(err, `cannot make a temp folder in '${parent}' for spilled tensors`);
    }
    trackTemp(this.directory);
  }

  get samples(): number {
    return this.view.count;
  }

  /** True when `read(name)` makes a new array (from the disk or the dataset), not a view of what is held. */
  fresh(name: string): boolean {
    return name === this.input || this.files.has(name);
  }

  private values(name: string): number {
    return size(this.shapes.get(name)!);
  }

  private readonly memoryRoom: number;

  /** Room for `name` over all samples: in memory when it fits beside what is held there, else in a file. */
  create(name: string): void {
    const bytes = 4 * this.view.count * this.values(name);
    if (this.inMemory + bytes <= this.memoryRoom || !this.directory) {
      checkAllocation(bytes, `the held tensor ${name} (${this.view.count} samples)`);
      this.memory.set(name, { starts: [], chunks: [] });
      this.inMemory += bytes;
      return;
    }
    try {
      this.files.set(name, openSync(join(this.directory!, `${this.made++}.f32`), 'w+'));
    } catch (err) {
      throw spillError(err, `cannot make a temp file for ${name} in '${this.directory}'`);
    }
  }

  /** Samples start .. start + rows − 1 of `name` ([rows, ...shape], row-major). */
  async read(name: string, start: number, rows: number): Promise<Float32Array> {
    const values = this.values(name);
    if (name === this.input) {
      const batch = await this.view.take(Int32Array.from({ length: rows }, (_, i) => start + i));
      if (batch.data.length !== rows * values) {
        throw new ClafusionError('E_DATA',
          `${this.view.name} has samples of ${batch.data.length / rows} values; the model takes ${values}`);
      }
      return batch.data;
    }
    const held = this.memory.get(name);
    if (held) return gather(held, start, rows, values);
    const data = new Float32Array(rows * values);
    const bytes = new Uint8Array(data.buffer);
    const position = 4 * start * values;
    for (let done = 0; done < bytes.length;) {
      const got = readSync(this.files.get(name)!, bytes, done, bytes.length - done, position + done);
      if (got === 0) throw new ClafusionError('E_IO', `the spilled tensor ${name} ended early in '${this.directory}'`);
      done += got;
    }
    return data;
  }

  write(name: string, start: number, data: Float32Array): void {
    const held = this.memory.get(name);
    if (held) {
      held.starts.push(start);
      held.chunks.push(data);
      return;
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const position = 4 * start * this.values(name);
    try {
      const fd = this.files.get(name)!;
      for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
    } catch (err) {
      throw spillError(err, `cannot spill ${name} to '${this.directory}'`);
    }
  }

  release(name: string): void {
    if (this.memory.delete(name)) this.inMemory -= 4 * this.view.count * this.values(name);
    const fd = this.files.get(name);
    if (fd !== undefined) closeSync(fd);
    this.files.delete(name);
  }

  /** Closes and removes everything held (the temp folder with its files). */
  close(): void {
    for (const name of [...this.files.keys()]) this.release(name);
    this.memory.clear();
    if (!this.directory) return;
    removeQuietly(this.directory);
    untrackTemp(this.directory);
  }
}

type MemoryPlan = Pick<LayerwisePlan, 'chunks' | 'disk' | 'heldBytes' | 'memoryRoom'>;

/**
 * Memory of stage k: `held` bytes per sample held over all samples, `work` per chunk sample (of which `outputs` are
 * the outputs, once), `fixed` once.
 */
interface StageBytes {
  held: number;
  work: number;
  outputs: number;
  fixed: number;
}

/**
 * Per stage: the tensors held over all samples while it runs (those held before it and those it makes; the graph
 * input is read from the dataset), its chunk's working memory (each input and output twice: ours and the worker's
 * copy, and ORT's activations), and its model three times (bytes, the worker's copy, ORT's initializers).
 */
function stageBytes(stages: Stage[], shapes: Shapes, input: string, model: ModelProto): StageBytes[] {
  const values = (names: string[]) => names.reduce((n, name) => n + size(shapes.get(name)!), 0);
  const bytes = (names: string[]) => 4 * values(names.filter((name) => name !== input));
  const weights = initializerMap(model);
  const held = new Set<string>();
  return stages.map((stage) => {
    for (const name of stage.outputs) held.add(name);
    const all = bytes([...held]);
    for (const name of stage.released) held.delete(name);
    const work = 2 * 4 * values([...stage.inputs, ...stage.outputs])
      + ORT_PEAK_FACTOR * peakNodeBytes(stage.nodes, shapes);
    const read = stage.nodes.flatMap((n) => n.input);
    const weightValues = read.reduce((n, name) => n + size(weights.get(name)?.dims ?? [0]), 0);
    const fixed = 3 * 4 * weightValues;
    return { held: all, work, outputs: 4 * values(stage.outputs), fixed };
  });
}

/**
 * A stage whose outputs over all samples take at most this many bytes runs in one chunk (when the budget allows):
 * with small activations the runs' fixed costs dominate (the bundled ResNet's repair pass, 21 stages, 200 samples of
 * 25 KB: about 310 ms in one chunk per stage, 360 ms in chunks of STAGE_CHUNK_BYTES).
 */
const STAGE_WHOLE_BYTES = 8 * 2 ** 20;

/**
 * Otherwise a chunk returns at most this many bytes of outputs (at least one sample): with large activations the
 * cost is each chunk's fresh memory and its passes through the caches, not the number of runs (resnet101 at 224x224,
 * 200 samples, 2 GiB: 49 s in chunks of up to 32 MiB, 41 s at 8 MiB, 33 s at 4 MiB, 28 s at 1 MiB, 1-5 samples).
 */
const STAGE_CHUNK_BYTES = 2 ** 20;

/**
 * Each stage's chunk size and where to hold tensors: E_RESOURCE when one sample of some stage exceeds the budget.
 * Chunks take a stage in one run when its outputs are small, else runs of at most STAGE_CHUNK_BYTES of outputs,
 * within what the budget leaves. When the held tensors do not all fit beside the chunks, those that fit stay in
 * memory (in stage order) and the others go to disk.
 */
function planMemory(stages: StageBytes[], samples: number, options: BatchStatisticsOptions): MemoryPlan {
  const least = stages.reduce((n, s) => Math.max(n, s.fixed + s.work), 0);
  const budget = passBudget(options.memoryBytes, least);
  if (options.hold !== 'memory' && budget < least) {
    throw new ClafusionError('E_RESOURCE', `the memory budget of ${formatBytes(budget)} is too small for the ` +
      `layer-by-layer BN statistics: one sample of its largest stage needs ${formatBytes(least)}; ` +
      'raise --memory (memoryBytes)');
  }
  const inMemory = stages.every((s) => samples * s.held + s.fixed + s.work <= budget);
  const disk = options.hold === 'disk' || (options.hold !== 'memory' && !inMemory);
  const room = (s: StageBytes) => Math.floor((budget - s.fixed - (disk ? 0 : samples * s.held)) / s.work);
  const byBytes = (s: StageBytes) => (samples * s.outputs <= STAGE_WHOLE_BYTES
    ? samples : Math.floor(STAGE_CHUNK_BYTES / s.outputs));
  const chunk = (s: StageBytes) => options.chunkSize ?? Math.max(1, Math.min(room(s), byBytes(s)));
  const chunks = stages.map((s) => Math.min(chunk(s), samples));
  const heldBytes = samples * Math.max(...stages.map((s) => s.held));
  if (!disk) return { chunks, disk, heldBytes, memoryRoom: Infinity };
  const working = Math.max(...stages.map((s, k) => s.fixed + chunks[k] * s.work));
  return { chunks, disk, heldBytes, memoryRoom: options.hold === 'disk' ? 0 : Math.max(0, budget - working) };
}

/** The mean and variance inputs of BN k−1 in stage k (none in stage 0): fed at run time, not baked in. */
function statisticsInputs(stage: Stage, k: number): string[] {
  return k === 0 ? [] : [stage.nodes[0].input[3], stage.nodes[0].input[4]];
}

/**
 * Stage k's model: its nodes, the initializers they read, and as inputs its held tensors and BN k−1's statistics,
 * so that the model does not depend on them and its session can open while stage k−1 runs.
 */
function stageModel(model: ModelProto, stage: Stage, k: number, shapes: Shapes): Uint8Array {
  const initializers = initializerMap(model);
  const fed = statisticsInputs(stage, k);
  const read = [...new Set(stage.nodes.flatMap((n) => n.input))]
    .filter((name) => initializers.has(name) && !fed.includes(name));
  const info = (name: string) => floatValueInfo(name, ['N', ...shapes.get(name)!]);
  return encodeModel({
    ...model,
    graph: {
      ...model.graph,
      node: stage.nodes,
      initializer: read.map((name) => initializers.get(name)!),
      input: [...stage.inputs.map(info), ...fed.map((name) => floatValueInfo(name, initializers.get(name)!.dims))],
      output: stage.outputs.map(info),
      valueInfo: [],
    },
  });
}

/**
 * Runs stage k over all samples in chunks (BN k−1 normalising with `previous`), holding its outputs and summing its
 * target's channels.
 */
async function runStage(runner: ModelRunner, stage: Stage, k: number, held: HeldTensors, plan: LayerwisePlan,
  previous: BatchStatistics | undefined, signal?: AbortSignal): Promise<BatchStatistics> {
  const { shapes } = plan;
  const chunk = plan.chunks[k];
  const target = stage.bn.input[0];
  const shape = shapes.get(target)!;
  const sums = new ChannelAccumulator(shape[0], size(shape.slice(1)));
  const statistics: Record<string, TensorData> = {};
  statisticsInputs(stage, k).forEach((name, i) => {
    const values = i === 0 ? previous!.mean : previous!.variance;
    statistics[name] = { data: values, shape: [values.length] };
  });
  // Inputs whose chunks no one reads after this run move to ONNX Runtime without a copy.
  const owned = (name: string) => held.fresh(name) || stage.released.includes(name);
  const given = new Set(stage.inputs.filter((name) => name !== target && owned(name)));
  for (const name of stage.outputs) held.create(name);
  // A chunk's sums run while the next chunk runs in ONNX Runtime; they are added one chunk after the other.
  let summing = Promise.resolve();
  try {
    for (let start = 0; start < held.samples; start += chunk) {
      throwIfAborted(signal);
      const rows = Math.min(chunk, held.samples - start);
      const feeds: Record<string, TensorData> = { ...statistics };
      for (const name of stage.inputs) {
        feeds[name] = { data: await held.read(name, start, rows), shape: [rows, ...shapes.get(name)!] };
      }
      const outputs = stage.outputs.length > 0 ? await runner.run(feeds, stage.outputs, signal, given) : {};
      await summing;
      for (const name of stage.outputs) held.write(name, start, outputs[name].data);
      const values = outputs[target]?.data ?? await held.read(target, start, rows);
      summing = sums.add(values);
    }
  } finally {
    await summing.catch(() => undefined); // never leave a native job reading arrays that are released
  }
  await summing;
  for (const name of stage.released) held.release(name);
  return channelStatistics(sums);
}

/** mean = Σx / count, population variance = Σx² / count − mean² (float64, then float32). */
function channelStatistics(sums: ChannelAccumulator): BatchStatistics {
  const count = sums.count;
  const mean = Float32Array.from(sums.sums, (s) => s / count);
  const variance = Float32Array.from(sums.squares, (q, c) => Math.max(q / count - (sums.sums[c] / count) ** 2, 0));
  return { mean, variance };
}

/** How the layer-by-layer pass runs a model over a dataset. */
export interface LayerwisePlan {
  stages: Stage[];
  shapes: Shapes;
  /** Samples per chunk, stage by stage. */
  chunks: number[];
  /** True when held tensors (those beyond `memoryRoom`) go to temp files. */
  disk: boolean;
  /** Bytes of held tensors kept in memory at most. */
  memoryRoom: number;
  /** The most bytes held at once (in memory or on disk). */
  heldBytes: number;
}

/** The stages, shapes, chunk size and holding of the pass (E_RESOURCE, before anything runs, when nothing fits). */
export function planLayerwise(model: ModelProto, view: Dataset, options: BatchStatisticsOptions): LayerwisePlan {
  checkOptions(options);
  if (view.count === 0) throw new ClafusionError('E_DATA', `${view.name} has no samples to take BN statistics from`);
  const shapes = graphShapes(model, view);
  const stages = planStages(model);
  const memory = planMemory(stageBytes(stages, shapes, model.graph.input[0].name, model), view.count, options);
  return { stages, shapes, ...memory };
}

/** E_ARG unless the budget (when given) is a positive number of bytes and the chunk size a positive integer. */
function checkOptions({ memoryBytes, chunkSize, hold }: BatchStatisticsOptions): void {
  requireArg(memoryBytes === undefined || (typeof memoryBytes === 'number' && memoryBytes > 0 && Number.isFinite(memoryBytes)),
    `memoryBytes must be a positive number of bytes, got ${String(memoryBytes)}`);
  requireArg(chunkSize === undefined || (Number.isSafeInteger(chunkSize) && chunkSize > 0),
    `chunkSize must be a positive integer, got ${String(chunkSize)}`);
  requireArg(hold === undefined || ['auto', 'memory', 'disk'].includes(hold),
    `hold must be 'auto', 'memory' or 'disk', got ${String(hold)}`);
}

/** Opens stage k's session (in a worker of its own). */
function openStage(model: ModelProto, plan: LayerwisePlan, k: number): Promise<ModelRunner> {
  const stage = plan.stages[k];
  const name = `the BN statistics stage before ${stage.bn.name}`;
  const opening = ModelRunner.open(stageModel(model, stage, k, plan.shapes), { name });
  opening.catch(() => undefined); // awaited later; a failure meanwhile is not an unhandled rejection
  return opening;
}

/**
 * The batch statistics of every BN of `model` (an emitted model with a free batch), in node order. Stage k+1's
 * session opens while stage k runs.
 */
export async function layerwiseStatistics(model: ModelProto, view: Dataset, plan: LayerwisePlan,
  options: BatchStatisticsOptions): Promise<BatchStatistics[]> {
  boundHeapGrowth();
  const folder = spillFolder(options.spillDirectory);
  const held = new HeldTensors(view, model.graph.input[0].name, plan.shapes, plan, folder);
  const statistics: BatchStatistics[] = [];
  let next: Promise<ModelRunner> | undefined = openStage(model, plan, 0);
  try {
    for (let k = 0; k < plan.stages.length; k++) {
      const runner = await next!;
      next = k + 1 < plan.stages.length ? openStage(model, plan, k + 1) : undefined;
      try {
        statistics.push(await runStage(runner, plan.stages[k], k, held, plan, statistics[k - 1], options.signal));
      } finally {
        await runner.close();
      }
    }
  } finally {
    held.close();
    await next?.then((runner) => runner.close(), () => undefined);
  }
  return statistics;
}

/** The model's per-sample input shape (its numeric dimensions; symbolic ones take the data's). */
function modelSampleShape(model: ModelProto, view: Dataset): number[] {
  const dims = model.graph.input[0].type?.tensorType?.shape ?? [];
  const declared = dims.slice(1).map((d, i) => d.value ?? view.shape[i]);
  if (declared.some((d) => !(d > 0)) || size(declared) !== size(view.shape)) {
    throw new ClafusionError('E_DATA',
      `${view.name} has samples of shape [${view.shape.join(', ')}]; the model takes [${declared.join(', ')}]`);
  }
  return declared;
}
