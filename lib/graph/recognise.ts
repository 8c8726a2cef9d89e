/**
 * ONNX graph → Network IR. The graph is walked structurally from its input, one unit at a time:
 *
 *   unit     := [Pad] Conv | Gemm | MatMul [Add bias] [BatchNormalization] [act] [MaxPool | [Pad] AveragePool]
 *   residual := fork(x) → branch units … → Add(branch, x | shortcut unit) [act] [pool]
 *   act      := Relu | LeakyRelu | Sigmoid | Tanh | Gelu (exact) | x·Sigmoid(x) (SiLU, as torch exports it)
 *             | (x · (Erf(x / √2) + 1)) · 0.5 (GELU as torch exports it below opset 20)
 *   flatten  := [GlobalAveragePool | GlobalMaxPool] (Flatten | Reshape to 2-D | Squeeze)
 *   head     := dense unit [LogSoftmax | Softmax]
 *
 * Identity, inference-mode Dropout, zero-size Pads and no-op pools (a 1x1 window, stride 1, no padding: torchvision's
 * AdaptiveAvgPool2d((7, 7)) on a 7x7 map in VGG) are looked through; a zero Pad before a Conv or an
 * AveragePool becomes their pads (torch exports padded AvgPool2d that way); Transposes of constant weights are folded. No architecture is named anywhere: any chain of these
 * units is accepted. Anything else fails with `E_UNSUPPORTED_GRAPH` naming the node, its op and the reason; weights
 * that do not fit the shapes flowing into them fail with `E_SHAPE`.
 *
 * Weights are copied out of the model's buffer into compact arrays, so the IR owns its data (a view would keep the
 * whole file alive and `cloneNetwork` would copy the whole file per clone).
 */
import { ClafusionError } from '../errors.js';
import type {
  Activation, BatchNorm, ConvOp, DenseOp, FlattenStep, Layer, Network, Pool, Residual, Segment, Unit,
} from '../ir/network.js';
import { readModel, type ReadOptions } from '../onnx/file.js';
import type { Attribute, ModelProto, NodeProto, TensorProto, ValueInfo } from '../onnx/proto.js';
import { floatTensor, int64Tensor, ownedFloat32, tensorToFloat32, tensorToInt64 } from '../onnx/tensor.js';
import { flattenShape, layerShapes, poolShape, samePads, type SampleShape, type UnitShapes, unitShapes } from './shapes.js';

/** Reads a model (path or bytes) and recognises its graph. */
export function readNetwork(source: string | Uint8Array, options: ReadOptions = {}): Network {
  return recogniseModel(readModel(source, options));
}

// ---------------------------------------------------------------------------------------------------------------
// Node helpers

function nodeLabel(node: NodeProto): string {
  return `node '${node.name || node.output[0] || '(unnamed)'}' (${node.opType})`;
}

function unsupported(node: NodeProto, why: string): ClafusionError {
  return new ClafusionError('E_UNSUPPORTED_GRAPH', `${nodeLabel(node)}: ${why}`);
}

function findAttr(node: NodeProto, name: string): Attribute | undefined {
  return node.attribute.find((a) => a.name === name);
}

function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = findAttr(node, name);
  return a?.i === undefined ? fallback : Number(a.i);
}

function attrFloat(node: NodeProto, name: string, fallback: number): number {
  return findAttr(node, name)?.f ?? fallback;
}

function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = findAttr(node, name);
  return a?.ints?.map(Number);
}

function attrString(node: NodeProto, name: string, fallback: string): string {
  const s = findAttr(node, name)?.s;
  return s === undefined ? fallback : new TextDecoder().decode(s);
}

/** Integer attribute values of a 2-D op, each at least `minimum` (a stride of 0 or a negative pad is malformed). */
function spatialInts(node: NodeProto, name: string, values: number[], count: number, minimum: number): number[] {
  if (values.length !== count) throw unsupported(node, `${name} [${values.join(', ')}] is not 2-D; only 2-D (NCHW) ops are supported`);
  if (values.some((v) => v < minimum)) throw unsupported(node, `${name} [${values.join(', ')}] has values below ${minimum}`);
  return values;
}

/** strides, dilations, kernel_shape: two values >= 1. */
function pair(node: NodeProto, name: string, fallback: number): [number, number] {
  const [a, b] = spatialInts(node, name, attrInts(node, name) ?? [fallback, fallback], 2, 1);
  return [a, b];
}

/** pads: four values >= 0. */
function quad(node: NodeProto, name: string): [number, number, number, number] {
  const [a, b, c, d] = spatialInts(node, name, attrInts(node, name) ?? [0, 0, 0, 0], 4, 0);
  return [a, b, c, d];
}

/** Explicit pads from `pads` or `auto_pad`. */
function resolvePads(node: NodeProto, input: SampleShape, kernel: [number, number], stride: [number, number], dilation: [number, number]): [number, number, number, number] {
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  switch (autoPad) {
    case 'NOTSET': return quad(node, 'pads');
    case 'VALID': return [0, 0, 0, 0];
    case 'SAME_UPPER':
    case 'SAME_LOWER': return samePads([input[1], input[2]], kernel, stride, dilation, autoPad === 'SAME_UPPER');
    default: throw unsupported(node, `auto_pad '${autoPad}' is not an ONNX value`);
  }
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

function scaled(data: Float32Array, factor: number): Float32Array {
  return factor === 1 ? data : data.map((v) => v * factor);
}

/**
 * The spatial [top, left, bottom, right] zero padding of a constant-mode Pad on NCHW data; batch and channels must
 * not be padded. `constantOf` resolves the pads / value inputs (opset >= 11) to constants.
 */
function padAmounts(node: NodeProto, constantOf: (name: string) => TensorProto | undefined): [number, number, number, number] {
  if (attrString(node, 'mode', 'constant') !== 'constant') throw unsupported(node, `Pad mode '${attrString(node, 'mode', '')}'; only constant (zero) padding is supported`);
  const padsTensor = node.input[1] ? constantOf(node.input[1]) : undefined;
  if (node.input[1] && !padsTensor) throw unsupported(node, 'its pads must be a constant');
  const pads = padsTensor ? tensorToInt64(padsTensor).map(Number) : attrInts(node, 'pads') ?? [];
  const valueTensor = node.input[2] ? constantOf(node.input[2]) : undefined;
  const value = valueTensor ? tensorToFloat32(valueTensor)[0] : attrFloat(node, 'value', 0);
  if (pads.length !== 8 || pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0 || pads.some((p) => p < 0) || value !== 0 || (node.input[2] && !valueTensor)) {
    throw unsupported(node, `Pad [${pads.join(', ')}] with value ${value}; only non-negative zero padding of H and W is supported`);
  }
  return [pads[2], pads[3], pads[6], pads[7]];
}

/**
 * A MaxPool / AveragePool that returns its input: a 1x1 window with stride 1 and no padding (any ceil_mode and
 * count_include_pad give the same). torch exports AdaptiveAvgPool2d((7, 7)) on a 7x7 map that way.
 */
function isNoOpPool(node: NodeProto): boolean {
  if (node.opType !== 'MaxPool' && node.opType !== 'AveragePool') return false;
  const ones = (values: number[] | undefined) => values === undefined || values.every((v) => v === 1);
  const kernel = attrInts(node, 'kernel_shape');
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const unpadded = (attrInts(node, 'pads') ?? []).every((p) => p === 0) && !autoPad.startsWith('SAME_');
  const unit = kernel !== undefined && kernel.length === 2 && ones(kernel);
  return unit && ones(attrInts(node, 'strides')) && ones(attrInts(node, 'dilations')) && unpadded;
}

/** Activations that commute with a max (non-decreasing maps): MaxPool then act equals act then MaxPool. */
function commutesWithMax(activation: Activation): boolean {
  if (typeof activation === 'object') return activation.alpha >= 0;
  return activation === 'relu' || activation === 'sigmoid' || activation === 'tanh';
}

/** An activation found on the graph: the nodes that compute it and the tensor they produce. */
interface ActivationMatch {
  activation: Activation;
  nodes: NodeProto[];
  output: string;
}

function paddedShape(shape: SampleShape, pads: [number, number, number, number]): SampleShape {
  return [shape[0], shape[1] + pads[0] + pads[2], shape[2] + pads[1] + pads[3]];
}

/**
 * The module path of a torch-style scoped node name: '/layer1/layer1.0/downsample/downsample.0/Conv' →
 * 'layer1.0.downsample.0' (torch names a container's child scope '<container>.<child>', so such a segment replaces
 * its parent's; the last segment, the op, is dropped). Names without scopes are kept as they are.
 */
function moduleName(nodeName: string): string {
  if (!nodeName.includes('/')) return nodeName;
  const path: string[] = [];
  for (const scope of nodeName.replace(/^\//, '').split('/').slice(0, -1)) {
    if (path.length > 0 && scope.startsWith(`${path[path.length - 1]}.`)) path[path.length - 1] = scope;
    else path.push(scope);
  }
  return path.join('.');
}

/** Constant values of a Constant node, in any of its attribute forms. */
function constantValue(node: NodeProto): TensorProto {
  const name = node.output[0];
  const a = node.attribute[0];
  if (node.attribute.length !== 1) throw unsupported(node, 'a Constant needs exactly one value attribute');
  switch (a.name) {
    case 'value': if (a.t) return { ...a.t, name }; break;
    case 'value_float': return floatTensor(name, [], Float32Array.of(a.f ?? 0));
    case 'value_floats': return floatTensor(name, [a.floats?.length ?? 0], Float32Array.from(a.floats ?? []));
    case 'value_int': return int64Tensor(name, [], [a.i ?? 0n]);
    case 'value_ints': return int64Tensor(name, [a.ints?.length ?? 0], a.ints ?? []);
  }
  throw unsupported(node, `Constant attribute '${a.name}' is not supported (use value, value_float(s) or value_int(s))`);
}

// ---------------------------------------------------------------------------------------------------------------
// The graph as seen by the walk: constants, consumers, no-ops looked through

class GraphView {
  readonly constants = new Map<string, TensorProto>();
  private readonly consumers = new Map<string, NodeProto[]>();
  readonly producers = new Map<string, NodeProto>();
  private readonly alias = new Map<string, string>();
  readonly visited = new Set<NodeProto>();
  readonly skipped = new Set<NodeProto>();

  constructor(readonly model: ModelProto) {
    const graph = model.graph;
    for (const init of graph.initializer) this.constants.set(init.name, init);
    for (const node of graph.node) this.index(node);
  }

  private index(node: NodeProto): void {
    if (node.domain !== '' && node.domain !== 'ai.onnx') throw unsupported(node, `custom domain '${node.domain}'`);
    if (node.opType === 'Constant') {
      this.constants.set(node.output[0], constantValue(node));
      this.skipped.add(node);
      return;
    }
    if (node.opType === 'Transpose' && this.constants.has(this.canonical(node.input[0]))) {
      this.constants.set(node.output[0], this.foldTranspose(node));
      this.skipped.add(node);
      return;
    }
    if (node.opType === 'Identity' || node.opType === 'Dropout' || this.isZeroPad(node) || isNoOpPool(node)) {
      if (node.opType === 'Dropout') this.checkInferenceDropout(node);
      const source = this.canonical(node.input[0]);
      if (source === node.output[0]) throw unsupported(node, 'its output is its own input (a cycle)');
      const constant = this.constants.get(source);
      if (constant) this.constants.set(node.output[0], constant);
      else this.alias.set(node.output[0], source);
      this.skipped.add(node);
      return;
    }
    for (const output of node.output) this.producers.set(output, node);
    // A Shape reads only the dimensions of its input: it is no data consumer (no fork), and is evaluated on demand.
    if (node.opType === 'Shape') return;
    for (const input of node.input) {
      if (input === '') continue;
      const name = this.canonical(input);
      const list = this.consumers.get(name);
      if (list) list.push(node); else this.consumers.set(name, [node]);
    }
  }

  /**
   * A Transpose of a 2-D constant, folded (torch exports `Linear(bias=False)` without constant folding as
   * Transpose(weight) → MatMul). The folded tensor keeps the source's name, which names the layer.
   */
  private foldTranspose(node: NodeProto): TensorProto {
    const source = this.constants.get(this.canonical(node.input[0]))!;
    const perm = attrInts(node, 'perm') ?? [1, 0];
    if (source.dims.length !== 2 || perm[0] !== 1 || perm[1] !== 0) throw unsupported(node, `Transpose of a constant with dims [${source.dims.join(', ')}] and perm [${perm.join(', ')}]; only 2-D transposes are folded`);
    const [rows, cols] = source.dims;
    return floatTensor(source.name, [cols, rows], transpose(tensorToFloat32(source), rows, cols));
  }

  /** A Pad that pads nothing (torch exports AvgPool2d as Pad(0) → AveragePool). */
  private isZeroPad(node: NodeProto): boolean {
    return node.opType === 'Pad' && padAmounts(node, (name) => this.constants.get(this.canonical(name))).every((p) => p === 0);
  }

  private checkInferenceDropout(node: NodeProto): void {
    const mode = node.input[2] ? this.constants.get(this.canonical(node.input[2])) : undefined;
    if (node.input[2] && (!mode || tensorToInt64(mode).some((v) => v !== 0n))) throw unsupported(node, 'Dropout in training mode; export the model in eval mode');
    if (node.output[1]) throw unsupported(node, 'the Dropout mask output is used; export the model in eval mode');
  }

  canonical(name: string): string {
    let current = name;
    for (let next = this.alias.get(current); next !== undefined; next = this.alias.get(current)) current = next;
    return current;
  }

  consumersOf(tensor: string): NodeProto[] {
    return this.consumers.get(this.canonical(tensor)) ?? [];
  }

  isConstant(tensor: string): boolean {
    return this.constants.has(this.canonical(tensor));
  }

  /** A constant input of `node`, or an error saying the weight must be an initializer. */
  constantInput(node: NodeProto, index: number, what: string): TensorProto {
    const name = node.input[index];
    const tensor = name ? this.constants.get(this.canonical(name)) : undefined;
    if (!tensor) throw unsupported(node, `its ${what} (input ${index}) must be a constant initializer`);
    return tensor;
  }

  optionalFloats(node: NodeProto, index: number, what: string): Float32Array | undefined {
    if (!node.input[index]) return undefined;
    return ownedFloat32(this.constantInput(node, index, what));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The walk

interface Cursor {
  tensor: string;
  shape: SampleShape;
}

const SUPPORTED_OPS = 'Conv, Gemm, MatMul, Add, BatchNormalization, Relu, LeakyRelu, Sigmoid, Tanh, Gelu, ' +
  'SiLU (Sigmoid·Mul), GELU (Div·Erf·Add·Mul·Mul), MaxPool, AveragePool, Pad, GlobalAveragePool, GlobalMaxPool, ' +
  'Flatten, Reshape, Squeeze, Identity, Dropout, LogSoftmax, Softmax';

/** Elementwise ops that act as activations in other exports (ReLU6 is a Clip; Mish, ELU, Softplus have ops). */
const OTHER_ACTIVATIONS = new Set([
  'Clip', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'HardSigmoid', 'HardSwish', 'Mish', 'PRelu', 'ThresholdedRelu',
]);

/** Why `node` cannot stand where the walk met it. */
function notSupportedReason(node: NodeProto): string {
  if (OTHER_ACTIVATIONS.has(node.opType)) {
    return `${node.opType} is not a supported activation; supported: Relu, LeakyRelu, Gelu (exact), SiLU, Sigmoid, ` +
      'Tanh';
  }
  if (['Mul', 'Div', 'Erf', 'Sigmoid'].includes(node.opType)) {
    return `a ${node.opType} that is not part of a supported activation pattern (SiLU = x·Sigmoid(x), ` +
      'GELU = (x·(Erf(x/√2) + 1))·0.5) after a weight op or a residual join';
  }
  return `this op is not supported here; supported: ${SUPPORTED_OPS}`;
}

/** The batch dimension in an evaluated shape vector. */
const BATCH = 'batch';

/** A small int64 vector (or scalar) from a shape computation; the batch dimension stays symbolic. */
interface ShapeVector {
  values: (number | typeof BATCH)[];
  scalar: boolean;
}

interface WalkedUnit {
  unit: Unit;
  shapes: UnitShapes;
}

/** Turns a model's graph into a Network, or fails with E_UNSUPPORTED_GRAPH / E_SHAPE naming the node. */
export function recogniseModel(model: ModelProto): Network {
  return new Recogniser(model).run();
}

class Recogniser {
  private readonly view: GraphView;
  private readonly names = new Set<string>();
  private readonly units: WalkedUnit[] = [];
  private flatten?: { step: FlattenStep; at: number };
  private transform: Network['output']['transform'] = 'none';
  private readonly inputInfo: ValueInfo;
  private readonly outputInfo: ValueInfo;
  private readonly outputTensor: string;

  constructor(private readonly model: ModelProto) {
    this.view = new GraphView(model);
    const graph = model.graph;
    const inputs = graph.input.filter((i) => !this.view.constants.has(i.name));
    if (inputs.length !== 1) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `the graph has ${inputs.length} data inputs (${inputs.map((i) => i.name).join(', ')}); exactly one is supported`);
    if (graph.output.length !== 1) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `the graph has ${graph.output.length} outputs (${graph.output.map((o) => o.name).join(', ')}); exactly one is supported`);
    this.inputInfo = inputs[0];
    this.outputInfo = graph.output[0];
    this.outputTensor = this.view.canonical(this.outputInfo.name);
  }

  run(): Network {
    const input = this.describeInput();
    let cursor: Cursor = { tensor: this.view.canonical(this.inputInfo.name), shape: input.shape.slice(1) as number[] };
    while (cursor.tensor !== this.outputTensor) cursor = this.step(cursor);
    this.checkAllNodesUsed();
    return this.assemble(input);
  }

  private describeInput(): Network['input'] {
    const tensorType = this.inputInfo.type?.tensorType;
    if (!tensorType?.shape) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `input '${this.inputInfo.name}' has no tensor shape`);
    if (tensorType.elemType !== 1) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `input '${this.inputInfo.name}' has element type ${tensorType.elemType}; only float32 inputs are supported`);
    const shape = tensorType.shape.map((d, i) => d.value ?? d.param ?? (i === 0 ? 'N' : undefined));
    if (shape.length !== 2 && shape.length !== 4) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `input '${this.inputInfo.name}' has rank ${shape.length}; expected [N, C] or [N, C, H, W]`);
    if (!shape.slice(1).every((d) => typeof d === 'number' && d > 0)) {
      throw new ClafusionError('E_UNSUPPORTED_GRAPH', `input '${this.inputInfo.name}' has shape [${shape.join(', ')}]; all but the batch dimension must be fixed`);
    }
    return { name: this.inputInfo.name, shape: shape as (number | string)[], layout: shape.length === 4 ? 'NCHW' : 'NC' };
  }

  /** The single consumer of `tensor` if it has exactly one and is not the graph output. */
  private soleConsumer(tensor: string): NodeProto | undefined {
    if (tensor === this.outputTensor) return undefined;
    const uses = this.view.consumersOf(tensor);
    return uses.length === 1 ? uses[0] : undefined;
  }

  /** Marks `node` as walked and moves the cursor to its output; the data must be its input `dataInput`. */
  private consume(node: NodeProto, cursor: Cursor, shape: SampleShape, dataInput = 0): Cursor {
    if (this.view.canonical(node.input[dataInput]) !== cursor.tensor) throw unsupported(node, `expected the data flowing from '${cursor.tensor}' as input ${dataInput}`);
    if (this.view.visited.has(node)) throw unsupported(node, 'reached twice: the graph has a cycle');
    for (const extra of node.output.slice(1)) {
      if (extra && (this.view.consumersOf(extra).length > 0 || extra === this.outputTensor)) throw unsupported(node, `its extra output '${extra}' is used`);
    }
    this.view.visited.add(node);
    return { tensor: this.view.canonical(node.output[0]), shape };
  }

  private step(cursor: Cursor): Cursor {
    const uses = this.view.consumersOf(cursor.tensor);
    if (uses.length === 0) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `tensor '${cursor.tensor}' is used by no node and is not the graph output`);
    if (uses.length > 1) return this.residual(cursor, uses);
    const node = uses[0];
    switch (node.opType) {
      case 'Conv': case 'Gemm': case 'MatMul': return this.layerUnit(cursor, node);
      case 'MaxPool': case 'AveragePool': return this.trailingPool(cursor, node);
      case 'Pad': return this.soleConsumer(node.output[0])?.opType === 'AveragePool' ? this.trailingPool(cursor, node) : this.layerUnit(cursor, node);
      case 'GlobalAveragePool': case 'GlobalMaxPool': case 'Flatten': case 'Reshape': case 'Squeeze': return this.flattenStep(cursor, node);
      case 'LogSoftmax': case 'Softmax': return this.outputTransform(cursor, node);
      case 'Add': throw unsupported(node, 'an Add that is neither a bias (constant operand) nor a residual join of a forked tensor');
      case 'Relu': case 'LeakyRelu': case 'Sigmoid': case 'Tanh': case 'Gelu':
        throw unsupported(node, `a ${node.opType} that follows no weight op or residual join`);
      case 'BatchNormalization': throw unsupported(node, 'a BatchNormalization that follows no weight op (pre-activation blocks are not supported)');
      default: throw unsupported(node, notSupportedReason(node));
    }
  }

  private addUnit(unit: Unit, shapes: UnitShapes): void {
    if (this.transform !== 'none') throw new ClafusionError('E_UNSUPPORTED_GRAPH', `unit '${unit.name}' follows the output ${this.transform}`);
    this.units.push({ unit, shapes });
  }

  private layerUnit(cursor: Cursor, node: NodeProto): Cursor {
    const { layer, cursor: next, shapes } = this.parseLayer(cursor, node);
    this.addUnit(layer, shapes);
    return next;
  }

  // --- layers -----------------------------------------------------------------------------------------------

  /** [Pad] weight op [bias Add] [BatchNormalization] [Relu] [pool], stopping early at a fork or the graph output. */
  private parseLayer(cursor: Cursor, first: NodeProto): { layer: Layer; cursor: Cursor; shapes: UnitShapes } {
    const { layer, at: afterWeights } = this.weightStage(cursor, first);
    let at = this.biasStage(layer, afterWeights);
    at = this.batchNormStage(layer, at);
    at = this.activationStage(layer, at);
    const next = this.soleConsumer(at.tensor);
    if (!layer.pool && next && this.startsPool(next)) ({ pool: layer.pool, cursor: at } = this.parsePool(at, next));
    return { layer, cursor: at, shapes: layerShapes(layer, cursor.shape) };
  }

  /** The weight op; a zero Pad before a Conv becomes part of the conv's pads. */
  private weightStage(cursor: Cursor, first: NodeProto): { layer: Layer; at: Cursor } {
    let node = first;
    let start = cursor;
    let extraPads: [number, number, number, number] | undefined;
    if (first.opType === 'Pad') {
      const conv = this.soleConsumer(first.output[0]);
      if (conv?.opType !== 'Conv' || cursor.shape.length !== 3) throw unsupported(first, 'a Pad must be followed by a Conv or an AveragePool');
      extraPads = padAmounts(first, (name) => this.view.constants.get(this.view.canonical(name)));
      start = this.consume(first, cursor, paddedShape(cursor.shape, extraPads));
      node = conv;
    }
    const layer: Layer = { type: 'layer', name: this.layerName(node), op: this.weightOp(node, start.shape), activation: 'none' };
    if (extraPads && layer.op.kind === 'conv') layer.op.pads = layer.op.pads.map((p, i) => p + extraPads[i]) as ConvOp['pads'];
    return { layer, at: this.consume(node, start, layerShapes(layer, cursor.shape).preact) };
  }

  private biasStage(layer: Layer, at: Cursor): Cursor {
    const next = this.soleConsumer(at.tensor);
    if (next?.opType !== 'Add' || !this.isBiasAdd(next, at.tensor)) return at;
    const dataInput = this.addBias(layer, next, at.tensor);
    return this.consume(next, at, at.shape, dataInput);
  }

  private batchNormStage(layer: Layer, at: Cursor): Cursor {
    const next = this.soleConsumer(at.tensor);
    if (next?.opType !== 'BatchNormalization') return at;
    layer.batchNorm = this.batchNorm(next, at.shape[0]);
    return this.consume(next, at, at.shape);
  }

  /**
   * The activation; MaxPool then a non-decreasing activation equals the activation then MaxPool (max commutes with
   * a monotone map), so both orders are taken for those.
   */
  private activationStage(layer: Layer, at: Cursor): Cursor {
    const next = this.soleConsumer(at.tensor);
    let current = at;
    if (next?.opType === 'MaxPool') {
      const after = this.activationAt(this.view.canonical(next.output[0]));
      if (after && commutesWithMax(after.activation)) {
        layer.pool = this.poolOf(next, at.shape);
        current = this.consume(next, at, poolShape(layer.pool, at.shape, nodeLabel(next)));
      }
    }
    const match = this.activationAt(current.tensor);
    if (!match) return current;
    layer.activation = match.activation;
    return this.consumeActivation(match, current);
  }

  /** Marks an activation's nodes walked; the cursor moves to its output. */
  private consumeActivation(match: ActivationMatch, at: Cursor): Cursor {
    for (const node of match.nodes) {
      if (this.view.visited.has(node)) throw unsupported(node, 'reached twice: the graph has a cycle');
      this.view.visited.add(node);
    }
    return { tensor: this.view.canonical(match.output), shape: at.shape };
  }

  /** The activation applied to `tensor`, if its consumers compute one (see the module comment), else undefined. */
  private activationAt(tensor: string): ActivationMatch | undefined {
    if (tensor === this.outputTensor) return undefined;
    const uses = this.view.consumersOf(tensor);
    if (uses.length === 2) return this.siluAt(tensor, uses) ?? this.erfGeluAt(tensor, uses);
    if (uses.length !== 1) return undefined;
    const node = uses[0];
    const single = (activation: Activation): ActivationMatch => ({ activation, nodes: [node], output: node.output[0] });
    switch (node.opType) {
      case 'Relu': return single('relu');
      case 'LeakyRelu': return single({ kind: 'leaky_relu', alpha: attrFloat(node, 'alpha', 0.01) });
      case 'Sigmoid': return single('sigmoid');
      case 'Tanh': return single('tanh');
      case 'Gelu': {
        const approximate = attrString(node, 'approximate', 'none');
        if (approximate !== 'none') {
          throw unsupported(node, `Gelu with approximate='${approximate}'; only the exact (erf) GELU is supported`);
        }
        return single('gelu');
      }
      default: return undefined;
    }
  }

  /** x · Sigmoid(x): SiLU as torch exports it. */
  private siluAt(x: string, uses: NodeProto[]): ActivationMatch | undefined {
    const sigmoid = uses.find((n) => n.opType === 'Sigmoid');
    const mul = uses.find((n) => n.opType === 'Mul');
    if (!sigmoid || !mul || this.soleConsumer(sigmoid.output[0]) !== mul) return undefined;
    if (!this.takes(mul, x, sigmoid.output[0])) return undefined;
    return { activation: 'silu', nodes: [sigmoid, mul], output: mul.output[0] };
  }

  /** (x · (Erf(x / √2) + 1)) · 0.5: exact GELU as torch exports it below opset 20. */
  private erfGeluAt(x: string, uses: NodeProto[]): ActivationMatch | undefined {
    const div = uses.find((n) => n.opType === 'Div');
    const mul = uses.find((n) => n.opType === 'Mul');
    if (!div || !mul || this.view.canonical(div.input[0]) !== x) return undefined;
    if (!this.isScalar(div.input[1], Math.SQRT2)) return undefined;
    const erf = this.soleConsumer(div.output[0]);
    const add = erf?.opType === 'Erf' ? this.soleConsumer(erf.output[0]) : undefined;
    if (!erf || add?.opType !== 'Add' || !add.input.some((name) => this.isScalar(name, 1))) return undefined;
    if (this.soleConsumer(add.output[0]) !== mul || !this.takes(mul, x, add.output[0])) return undefined;
    const half = this.soleConsumer(mul.output[0]);
    if (half?.opType !== 'Mul' || !half.input.some((name) => this.isScalar(name, 0.5))) return undefined;
    return { activation: 'gelu', nodes: [div, erf, add, mul, half], output: half.output[0] };
  }

  /** True when the two-input `node` reads exactly `a` and `b` (in either order). */
  private takes(node: NodeProto, a: string, b: string): boolean {
    const inputs = node.input.map((name) => this.view.canonical(name)).sort();
    const wanted = [this.view.canonical(a), this.view.canonical(b)].sort();
    return inputs.length === 2 && inputs[0] === wanted[0] && inputs[1] === wanted[1];
  }

  /** True when `name` is a one-element constant equal to `value` to float32 precision. */
  private isScalar(name: string | undefined, value: number): boolean {
    const constant = name ? this.view.constants.get(this.view.canonical(name)) : undefined;
    if (!constant) return false;
    const values = tensorToFloat32(constant);
    return values.length === 1 && Math.abs(values[0] - value) <= 1e-6 * Math.abs(value);
  }

  /** A readable name from the weight initializer ('features.0.weight' → 'features.0'), else the node name. */
  private layerName(node: NodeProto): string {
    const weight = this.view.constants.get(this.view.canonical(node.input[1] ?? ''))?.name ?? '';
    const fromWeight = /^(onnx::|\/)/.test(weight) ? '' : weight.replace(/\.weight$/, '');
    const fromNode = moduleName(node.name);
    return this.uniqueName(fromWeight || fromNode || node.opType.toLowerCase());
  }

  private uniqueName(base: string): string {
    let name = base;
    for (let k = 2; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  private weightOp(node: NodeProto, input: SampleShape): DenseOp | ConvOp {
    if (this.view.isConstant(node.input[0])) throw unsupported(node, 'the weight must be its second input and the data its first');
    switch (node.opType) {
      case 'Conv': return this.convOp(node, input);
      case 'Gemm': return this.gemmOp(node);
      default: return this.matMulOp(node);
    }
  }

  private convOp(node: NodeProto, input: SampleShape): ConvOp {
    const weightProto = this.view.constantInput(node, 1, 'weight');
    if (weightProto.dims.length !== 4 || weightProto.dims.some((d) => d < 1)) throw unsupported(node, `weight dims [${weightProto.dims.join(', ')}]; only 2-D convolutions (non-empty 4-D weights) are supported`);
    const group = attrInt(node, 'group', 1);
    if (group !== 1) throw unsupported(node, `grouped convolution (group=${group}); only group=1 is supported`);
    if (input.length !== 3) throw new ClafusionError('E_SHAPE', `${nodeLabel(node)}: a conv needs feature maps [C, H, W], got [${input.join(', ')}]`);
    const kernel: [number, number] = [weightProto.dims[2], weightProto.dims[3]];
    const declared = attrInts(node, 'kernel_shape');
    if (declared && (declared[0] !== kernel[0] || declared[1] !== kernel[1])) {
      throw new ClafusionError('E_SHAPE', `${nodeLabel(node)}: kernel_shape [${declared.join(', ')}] does not match weight dims [${weightProto.dims.join(', ')}]`);
    }
    const stride = pair(node, 'strides', 1);
    const dilations = pair(node, 'dilations', 1);
    const op: ConvOp = {
      kind: 'conv',
      weight: { data: ownedFloat32(weightProto), shape: [...weightProto.dims] },
      stride,
      pads: resolvePads(node, input, kernel, stride, dilations),
      dilations,
    };
    const bias = this.view.optionalFloats(node, 2, 'bias');
    if (bias) op.bias = this.checkedBias(node, bias, weightProto.dims[0]);
    return op;
  }

  private checkedBias(node: NodeProto, bias: Float32Array, width: number): Float32Array {
    if (bias.length === width) return bias;
    if (bias.length === 1) return new Float32Array(width).fill(bias[0]);
    throw new ClafusionError('E_SHAPE', `${nodeLabel(node)}: bias has ${bias.length} values for ${width} outputs`);
  }

  /** Gemm: Y = alpha A op(B) + beta C with A the data; folded into weight [out, in] and bias. */
  private gemmOp(node: NodeProto): DenseOp {
    if (attrInt(node, 'transA', 0) !== 0) throw unsupported(node, 'transA=1 on the data input');
    const weightProto = this.view.constantInput(node, 1, 'weight');
    if (weightProto.dims.length !== 2 || weightProto.dims.some((d) => d < 1)) throw unsupported(node, `weight dims [${weightProto.dims.join(', ')}] are not a non-empty 2-D matrix`);
    const transB = attrInt(node, 'transB', 0) !== 0;
    const [rows, cols] = weightProto.dims;
    const oriented = transB ? ownedFloat32(weightProto) : transpose(tensorToFloat32(weightProto), rows, cols);
    const op: DenseOp = {
      kind: 'dense',
      weight: { data: scaled(oriented, attrFloat(node, 'alpha', 1)), shape: transB ? [rows, cols] : [cols, rows] },
    };
    const bias = this.view.optionalFloats(node, 2, 'bias');
    if (bias) op.bias = scaled(this.checkedBias(node, bias, op.weight.shape[0]), attrFloat(node, 'beta', 1));
    return op;
  }

  /** MatMul(x, W) with W [in, out]: the IR keeps [out, in]. */
  private matMulOp(node: NodeProto): DenseOp {
    const weightProto = this.view.constantInput(node, 1, 'weight');
    if (weightProto.dims.length !== 2 || weightProto.dims.some((d) => d < 1)) throw unsupported(node, `weight dims [${weightProto.dims.join(', ')}] are not a non-empty 2-D matrix`);
    const [rows, cols] = weightProto.dims;
    return { kind: 'dense', weight: { data: transpose(tensorToFloat32(weightProto), rows, cols), shape: [cols, rows] } };
  }

  private isBiasAdd(node: NodeProto, data: string): boolean {
    const other = node.input.find((name) => this.view.canonical(name) !== data);
    return node.input.length === 2 && other !== undefined && this.view.isConstant(other);
  }

  /**
   * A constant Add after a weight op is a per-channel bias: [C], [1, C], [C, 1, 1] or [1, C, 1, 1], or a scalar.
   * Returns which input of the Add carries the data.
   */
  private addBias(layer: Layer, node: NodeProto, data: string): number {
    const index = this.view.canonical(node.input[0]) === data ? 1 : 0;
    const proto = this.view.constantInput(node, index, 'bias');
    const width = layer.op.weight.shape[0];
    const dims = proto.dims.slice(proto.dims.length > 0 && proto.dims[0] === 1 && proto.dims.length > 1 ? 1 : 0);
    const perChannel = layer.op.kind === 'dense' ? dims.length === 1 : dims.length === 3 && dims[1] === 1 && dims[2] === 1;
    const values = tensorToFloat32(proto);
    if (!(values.length === 1 || (perChannel && dims[0] === width))) {
      throw unsupported(node, `Add of a constant with dims [${proto.dims.join(', ')}] is not a per-channel bias for ${width} channels`);
    }
    const bias = this.checkedBias(node, values.slice(), width);
    layer.op.bias = layer.op.bias ? layer.op.bias.map((b, i) => b + bias[i]) : bias;
    return 1 - index;
  }

  private batchNorm(node: NodeProto, channels: number): BatchNorm {
    if (attrInt(node, 'training_mode', 0) !== 0) throw unsupported(node, 'training_mode=1; export the model in eval mode');
    const read = (index: number, what: string): Float32Array => {
      const values = ownedFloat32(this.view.constantInput(node, index, what));
      if (values.length !== channels) throw new ClafusionError('E_SHAPE', `${nodeLabel(node)}: ${what} has ${values.length} values for ${channels} channels`);
      return values;
    };
    return { scale: read(1, 'scale'), bias: read(2, 'bias'), mean: read(3, 'mean'), variance: read(4, 'variance'), epsilon: attrFloat(node, 'epsilon', 1e-5) };
  }

  private poolOf(node: NodeProto, input: SampleShape): Pool {
    if (input.length !== 3) throw new ClafusionError('E_SHAPE', `${nodeLabel(node)}: pooling needs feature maps, got [${input.join(', ')}]`);
    if (!findAttr(node, 'kernel_shape')) throw unsupported(node, 'no kernel_shape');
    const kernel = pair(node, 'kernel_shape', 1);
    const dilations = pair(node, 'dilations', 1);
    if (dilations[0] !== 1 || dilations[1] !== 1) throw unsupported(node, `pool dilations [${dilations.join(', ')}]; only 1 is supported`);
    if (attrInt(node, 'storage_order', 0) !== 0) throw unsupported(node, 'storage_order=1');
    const stride = pair(node, 'strides', 1);
    return {
      kind: node.opType === 'MaxPool' ? 'max' : 'avg',
      kernel,
      stride,
      pads: resolvePads(node, input, kernel, stride, [1, 1]),
      ceilMode: attrInt(node, 'ceil_mode', 0) !== 0,
      countIncludePad: attrInt(node, 'count_include_pad', 0) !== 0,
    };
  }

  private startsPool(node: NodeProto): boolean {
    return node.opType === 'MaxPool' || node.opType === 'AveragePool' || (node.opType === 'Pad' && this.soleConsumer(node.output[0])?.opType === 'AveragePool');
  }

  /**
   * MaxPool / AveragePool, or Pad → AveragePool (torch's AvgPool2d with padding): zero padding counted in the
   * average is the pool's own pads with count_include_pad=1.
   */
  private parsePool(at: Cursor, node: NodeProto): { pool: Pool; cursor: Cursor } {
    if (node.opType !== 'Pad') {
      const pool = this.poolOf(node, at.shape);
      return { pool, cursor: this.consume(node, at, poolShape(pool, at.shape, nodeLabel(node))) };
    }
    const extra = padAmounts(node, (name) => this.view.constants.get(this.view.canonical(name)));
    const avg = this.soleConsumer(node.output[0])!;
    const padded = this.consume(node, at, paddedShape(at.shape, extra));
    const pool = this.poolOf(avg, padded.shape);
    if (pool.pads.some((p) => p !== 0) && !pool.countIncludePad) throw unsupported(avg, 'an explicit Pad plus own pads that are not counted in the average');
    pool.pads = pool.pads.map((p, i) => p + extra[i]) as Pool['pads'];
    pool.countIncludePad = true;
    return { pool, cursor: this.consume(avg, padded, poolShape(pool, at.shape, nodeLabel(avg))) };
  }

  /** A pool after a residual join's activation (a Layer's own pool is taken by parseLayer). */
  private trailingPool(cursor: Cursor, node: NodeProto): Cursor {
    const last = this.units[this.units.length - 1];
    if (!last || last.unit.pool) throw unsupported(node, 'a pool that follows no conv unit, or a second pool in a row');
    const { pool, cursor: next } = this.parsePool(cursor, node);
    last.unit.pool = pool;
    last.shapes = { ...last.shapes, output: next.shape };
    return next;
  }

  // --- residual blocks ----------------------------------------------------------------------------------------

  /** A fork of `cursor` into a branch of layers and an identity or one-layer shortcut, joined by an Add. */
  private residual(cursor: Cursor, uses: NodeProto[]): Cursor {
    const { branch, shortcut, join } = this.residualPaths(cursor, uses);
    const lastLayer = branch[branch.length - 1];
    if (lastLayer.activation !== 'none' || lastLayer.pool) throw unsupported(join, `the branch's last layer '${lastLayer.name}' has an activation or pool before the join; only join-then-activate blocks are supported`);
    this.view.visited.add(join);
    const unit: Residual = { type: 'residual', name: this.residualName(branch, join), branch, ...(shortcut ? { shortcut } : {}), activation: 'none' };
    const shapes = unitShapes(unit, cursor.shape);
    let at: Cursor = { tensor: this.view.canonical(join.output[0]), shape: shapes.preact };
    const match = this.activationAt(at.tensor);
    if (match) {
      unit.activation = match.activation;
      at = this.consumeActivation(match, at);
    }
    this.addUnit(unit, shapes);
    return at;
  }

  /** The branch layers, the projection shortcut (none for the identity) and the joining Add of a fork. */
  private residualPaths(cursor: Cursor, uses: NodeProto[]): { branch: Layer[]; shortcut?: Layer; join: NodeProto } {
    if (uses.length !== 2) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `tensor '${cursor.tensor}' feeds ${uses.length} nodes (${uses.map(nodeLabel).join(', ')}); only two-way residual forks are supported`);
    const joins = uses.filter((n) => n.opType === 'Add');
    if (joins.length === 1) {
      const join = joins[0];
      const main = this.chainToJoin(cursor, uses.find((n) => n !== join)!);
      if (this.soleConsumer(main.end.tensor) !== join) throw unsupported(join, 'the residual branch does not end at this Add');
      return { branch: main.layers, join };
    }
    const first = this.chainToJoin(cursor, uses[0]);
    const second = this.chainToJoin(cursor, uses[1]);
    const join = this.soleConsumer(first.end.tensor)!;
    if (this.soleConsumer(second.end.tensor) !== join) throw unsupported(join, 'the two paths from the fork do not meet at one Add');
    // The projection shortcut is the one-layer path; with one layer on both, the Add's first input is the branch.
    const secondIsShortcut = second.layers.length === 1 && (first.layers.length > 1 || this.view.canonical(join.input[0]) === first.end.tensor);
    const [main, side] = secondIsShortcut ? [first, second] : [second, first];
    if (side.layers.length !== 1) throw unsupported(join, 'neither path to this Add is a single-layer shortcut');
    const shortcut = side.layers[0];
    if (shortcut.activation !== 'none' || shortcut.pool) throw unsupported(join, `the shortcut '${shortcut.name}' must end in no activation and no pool`);
    return { branch: main.layers, shortcut, join };
  }

  /** Layers from `start` until the next tensor feeds an Add of two computed values (the join). */
  private chainToJoin(cursor: Cursor, start: NodeProto): { layers: Layer[]; end: Cursor } {
    const layers: Layer[] = [];
    let at = cursor;
    let node: NodeProto | undefined = start;
    for (;;) {
      if (!node) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `tensor '${at.tensor}' inside a residual branch forks or ends; nested forks are not supported`);
      if (node.opType === 'Add' && !this.isBiasAdd(node, at.tensor)) break;
      if (!['Conv', 'Gemm', 'MatMul', 'Pad'].includes(node.opType)) {
        throw unsupported(node, notSupportedReason(node));
      }
      const parsed = this.parseLayer(at, node);
      layers.push(parsed.layer);
      at = parsed.cursor;
      node = this.soleConsumer(at.tensor);
    }
    if (layers.length === 0) throw unsupported(node, 'a residual join with no layer on either side');
    return { layers, end: at };
  }

  /** The join's module name ('/layer1/layer1.0/Add' → 'layer1.0'), else the dotted prefix the branch layers share. */
  private residualName(branch: Layer[], join: NodeProto): string {
    const parts = branch.map((l) => l.name.split('.'));
    let common = 0;
    while (parts.every((p) => p.length > common + 1 && p[common] === parts[0][common])) common++;
    return this.uniqueName(moduleName(join.name) || parts[0].slice(0, common).join('.') || 'block');
  }

  // --- flatten and head ---------------------------------------------------------------------------------------

  private flattenStep(cursor: Cursor, node: NodeProto): Cursor {
    let globalPool: FlattenStep['globalPool'] = 'none';
    let at = cursor;
    let flattenNode = node;
    if (node.opType === 'GlobalAveragePool' || node.opType === 'GlobalMaxPool') {
      if (cursor.shape.length !== 3) throw new ClafusionError('E_SHAPE', `${nodeLabel(node)}: needs feature maps, got [${cursor.shape.join(', ')}]`);
      globalPool = node.opType === 'GlobalAveragePool' ? 'avg' : 'max';
      at = this.consume(node, cursor, [cursor.shape[0], 1, 1]);
      const next = this.soleConsumer(at.tensor);
      if (!next || !['Flatten', 'Reshape', 'Squeeze'].includes(next.opType)) throw unsupported(node, 'a global pool must be followed by Flatten, Reshape or Squeeze to [N, C]');
      flattenNode = next;
    }
    const flat = this.flattenedShape(flattenNode, at);
    if (cursor.shape.length === 1) return this.consume(flattenNode, at, flat); // already flat: a no-op reshape
    if (this.flatten) throw unsupported(flattenNode, 'a second flatten');
    this.flatten = { step: { globalPool }, at: this.units.length };
    const expected = flattenShape(cursor.shape, { globalPool });
    if (flat[0] !== expected[0]) throw new ClafusionError('E_SHAPE', `${nodeLabel(flattenNode)}: flattens to ${flat[0]} features, expected ${expected[0]}`);
    return this.consume(flattenNode, at, flat);
  }

  /** The [F] that Flatten(axis=1), a 2-D Reshape or a Squeeze of the trailing 1s makes of `shape`; else unsupported. */
  private flattenedShape(node: NodeProto, at: Cursor): SampleShape {
    const { shape } = at;
    const features = shape.reduce((n, d) => n * d, 1);
    const rank = shape.length + 1;
    if (node.opType === 'Flatten') {
      const axis = attrInt(node, 'axis', 1);
      if (axis !== 1 && axis + rank !== 1) throw unsupported(node, `Flatten axis=${axis}; only axis=1 (keep the batch) is supported`);
      return [features];
    }
    if (node.opType === 'Squeeze') {
      const axesInput = node.input[1] ? tensorToInt64(this.view.constantInput(node, 1, 'axes')).map(Number) : attrInts(node, 'axes');
      const axes = (axesInput ?? []).map((a) => (a < 0 ? a + rank : a)).sort();
      const trailing = shape.length === 3 && shape[1] === 1 && shape[2] === 1 && axes.length === 2 && axes[0] === 2 && axes[1] === 3;
      if (!trailing) throw unsupported(node, `Squeeze axes [${axes.join(', ')}] of shape [N, ${shape.join(', ')}]; only squeezing [N, C, 1, 1] to [N, C] is supported`);
      return [shape[0]];
    }
    return this.reshapedShape(node, at, features);
  }

  /**
   * Reshape to [N, F]: the shape (a constant, or computed from the data's Shape) may use 0 (copy) and -1 (infer);
   * a fixed batch must match the input's.
   */
  private reshapedShape(node: NodeProto, at: Cursor, features: number): SampleShape {
    const { shape } = at;
    if (!node.input[1]) throw unsupported(node, 'no shape input');
    const target = this.shapeVector(node.input[1], at).values.map((v) => (v === BATCH ? 0 : v));
    if (target.length !== 2) throw unsupported(node, `Reshape to [${target.join(', ')}]; only 2-D [N, F] targets are supported`);
    if (attrInt(node, 'allowzero', 0) !== 0 && target.includes(0)) throw unsupported(node, 'allowzero=1 with a 0 in the shape');
    const batch = this.inputBatch();
    const [b, f] = target;
    const batchOk = b === 0 || b === -1 || (typeof batch === 'number' && b === batch);
    const featuresOk = f === -1 ? b !== -1 : f === features || (f === 0 && shape.length === 1 && shape[0] === features);
    if (!batchOk || !featuresOk || (b === -1 && f !== features)) {
      throw unsupported(node, `Reshape of [${batch}, ${shape.join(', ')}] to [${target.join(', ')}] is not a flatten to [N, ${features}]`);
    }
    return [features];
  }

  /**
   * Evaluates a small shape computation whose Shape reads the data being reshaped (`data`): torch exports
   * `x.view(x.size(0), -1)` with a dynamic batch as Shape → Gather → Unsqueeze → Concat → Reshape.
   */
  private shapeVector(name: string, data: Cursor, depth = 0): ShapeVector {
    const canonical = this.view.canonical(name);
    if (depth > 32) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `shape '${name}' is computed by more than 32 nested nodes (or a cycle)`);
    const constant = this.view.constants.get(canonical);
    if (constant) return { values: tensorToInt64(constant).map(Number), scalar: constant.dims.length === 0 };
    const node = this.view.producers.get(canonical);
    if (!node) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `shape '${name}' is neither a constant nor computed from the data's Shape`);
    this.view.visited.add(node);
    const input = (i: number): ShapeVector => this.shapeVector(node.input[i], data, depth + 1);
    switch (node.opType) {
      case 'Shape': {
        if (this.view.canonical(node.input[0]) !== data.tensor) throw unsupported(node, 'the Shape of a tensor other than the one reshaped');
        const full: ShapeVector['values'] = [BATCH, ...data.shape];
        const clamp = (i: number): number => Math.min(Math.max(i < 0 ? i + full.length : i, 0), full.length);
        return { values: full.slice(clamp(attrInt(node, 'start', 0)), clamp(attrInt(node, 'end', full.length))), scalar: false };
      }
      case 'Gather': {
        const source = input(0);
        const indices = input(1);
        if (attrInt(node, 'axis', 0) !== 0) throw unsupported(node, 'a Gather on an axis other than 0 in a shape computation');
        const values = indices.values.map((i) => (typeof i === 'number' ? source.values[i < 0 ? i + source.values.length : i] : undefined));
        if (values.some((v) => v === undefined)) throw unsupported(node, 'a Gather index out of range in a shape computation');
        return { values: values as ShapeVector['values'], scalar: indices.scalar };
      }
      case 'Unsqueeze': {
        const v = input(0);
        if (!v.scalar) throw unsupported(node, 'only scalars are unsqueezed in a shape computation');
        return { values: v.values, scalar: false };
      }
      case 'Squeeze': {
        const v = input(0);
        if (v.values.length !== 1) throw unsupported(node, 'only one-element vectors are squeezed in a shape computation');
        return { values: v.values, scalar: true };
      }
      case 'Concat': return { values: node.input.flatMap((_, i) => input(i).values), scalar: false };
      case 'Cast': return input(0);
      default: throw unsupported(node, 'this op cannot be evaluated in a shape computation (supported: Shape, Gather, Unsqueeze, Squeeze, Concat, Cast)');
    }
  }

  private inputBatch(): number | string {
    return this.inputInfo.type?.tensorType?.shape?.[0]?.value ?? this.inputInfo.type?.tensorType?.shape?.[0]?.param ?? 'N';
  }

  private outputTransform(cursor: Cursor, node: NodeProto): Cursor {
    const last = this.units[this.units.length - 1]?.unit;
    if (!last || last.type !== 'layer' || last.op.kind !== 'dense' || cursor.shape.length !== 1) throw unsupported(node, 'a softmax must follow the final dense layer');
    const axis = attrInt(node, 'axis', this.opset() >= 13 ? -1 : 1);
    if (axis !== 1 && axis !== -1) throw unsupported(node, `axis=${axis}; only the class axis (1 or -1) is supported`);
    if (this.view.canonical(node.output[0]) !== this.outputTensor) throw unsupported(node, 'the softmax must produce the graph output');
    if (this.transform !== 'none') throw unsupported(node, 'a second softmax');
    this.transform = node.opType === 'LogSoftmax' ? 'logsoftmax' : 'softmax';
    return this.consume(node, cursor, cursor.shape);
  }

  private opset(): number {
    return this.model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  }

  private checkAllNodesUsed(): void {
    for (const node of this.model.graph.node) {
      if (!this.view.visited.has(node) && !this.view.skipped.has(node)) {
        throw unsupported(node, 'it is not on the chain from the input to the output');
      }
    }
  }

  // --- assembly -----------------------------------------------------------------------------------------------

  private assemble(input: Network['input']): Network {
    const last = this.units.pop();
    if (!last || last.unit.type !== 'layer' || last.unit.op.kind !== 'dense') {
      throw new ClafusionError('E_UNSUPPORTED_GRAPH', 'the network must end in a dense (Gemm/MatMul) classifier layer');
    }
    const classifier = last.unit as Layer & { op: DenseOp };
    if (classifier.activation !== 'none' || classifier.pool) throw new ClafusionError('E_UNSUPPORTED_GRAPH', `the classifier '${classifier.name}' must have no activation (logits out)`);
    const flattenAt = this.flatten?.at ?? (input.layout === 'NC' ? 0 : this.units.length + 1);
    if (input.layout === 'NCHW' && !this.flatten) throw new ClafusionError('E_UNSUPPORTED_GRAPH', 'feature maps reach the classifier without a Flatten/Reshape');
    const segments = this.spatialSegments(this.units.slice(0, flattenAt));
    const flatUnits = this.units.slice(flattenAt).map((w) => w.unit);
    if (flatUnits.length > 0) segments.push({ kind: 'flat', ...(this.flatten ? { flatten: this.flatten.step } : {}), units: flatUnits });
    const network: Network = {
      input,
      segments,
      classifier,
      output: { name: this.outputInfo.name, shape: this.outputShape(classifier), transform: this.transform },
      meta: {
        opset: this.opset(),
        irVersion: this.model.irVersion,
        producerName: this.model.producerName,
        metadata: Object.fromEntries(this.model.metadataProps.map((e) => [e.key, e.value])),
      },
    };
    if (flatUnits.length === 0 && this.flatten) network.classifierFlatten = this.flatten.step;
    return network;
  }

  /** Groups conv units by the spatial size after their weight op: a new segment at every size change. */
  private spatialSegments(units: WalkedUnit[]): Segment[] {
    const segments: Segment[] = [];
    let key = '';
    for (const { unit, shapes } of units) {
      const size = shapes.preact.slice(1).join('x');
      if (segments.length === 0 || size !== key) segments.push({ kind: 'spatial', units: [] });
      segments[segments.length - 1].units.push(unit);
      key = size;
    }
    return segments;
  }

  private outputShape(classifier: Layer): (number | string)[] {
    const declared = this.outputInfo.type?.tensorType?.shape;
    const classes = classifier.op.weight.shape[0];
    if (declared && declared.length === 2 && declared[1].value !== undefined && declared[1].value !== classes) {
      throw new ClafusionError('E_SHAPE', `output '${this.outputInfo.name}' is declared with ${declared[1].value} classes but the classifier has ${classes}`);
    }
    return [declared?.[0]?.value ?? declared?.[0]?.param ?? this.inputBatch(), classes];
  }
}
