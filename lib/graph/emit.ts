/**
 * Network IR → ONNX ModelProto. Every layer becomes Conv or Gemm (transB=1, weight [out, in]), then
 * BatchNormalization, the activation (Relu, LeakyRelu, Sigmoid, Tanh; SiLU as x·Sigmoid(x); GELU as
 * (x·(Erf(x/√2) + 1))·0.5, which every opset from 9 has, as torch writes it) and MaxPool/AveragePool as the layer
 * says; residual blocks add their branch and shortcut with Add; the flatten is an optional
 * GlobalAveragePool/GlobalMaxPool and a Flatten(axis=1); the output transform is LogSoftmax/Softmax(axis=1). Input and output keep their names and shapes (symbolic batch) from the source.
 *
 * Taps expose intermediate tensors as extra graph outputs, so ONNX Runtime returns them with the logits:
 * 'preact' is after the weight op and BN (for a Residual, the sum), 'output' is after activation and pool.
 */
import { ClafusionError } from '../errors.js';
import type { Activation, FlattenStep, Layer, Network, Pool, Residual, Unit } from '../ir/network.js';
import { checkNetwork } from '../ir/check.js';
import { writeModel, type WriteOptions } from '../onnx/file.js';
import { floatAttr, floatValueInfo as valueInfo, intAttr, intsAttr } from '../onnx/build.js';
import { encodeModel, type Attribute, type ModelProto, type NodeProto, type TensorProto, type ValueInfo } from '../onnx/proto.js';
import { floatTensor } from '../onnx/tensor.js';
import { flattenShape, inputSampleShape, layerShapes, type SampleShape, unitShapes } from './shapes.js';

export interface Tap {
  /** A Layer or Residual name (hidden units, branch and shortcut layers, or the classifier). */
  layer: string;
  point: 'preact' | 'output';
}

export interface EmitOptions {
  taps?: Tap[];
}

export interface EmittedModel {
  model: ModelProto;
  /** The graph output name of each tap, in the order of `options.taps`. */
  tapOutputs: string[];
}

/** Lowest IR version that ONNX Runtime accepts with each default-domain opset (onnx/helper.py VERSION_TABLE). */
function minIrVersion(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  return 6;
}

/** Opset of the written model: the source's, but at least 11 (Gemm with optional C, pads and ceil_mode as used). */
const MIN_OPSET = 11;

/** Tensors a unit exposes for taps. */
interface TapPoints {
  preact: string;
  output: string;
  preactShape: SampleShape;
  outputShape: SampleShape;
}

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly taps = new Map<string, TapPoints>();
  private readonly used = new Set<string>();

  constructor(reserved: string[]) {
    for (const name of reserved) this.used.add(name);
  }

  /** A tensor or node name not used before ('x', then 'x_2', ...). */
  fresh(base: string): string {
    let name = base;
    for (let k = 2; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  init(base: string, dims: number[], data: Float32Array): string {
    const name = this.fresh(base);
    this.initializers.push(floatTensor(name, dims, data));
    return name;
  }

  /** Adds a node; its output is `output` when given (a reserved name), else a fresh name from `base`. */
  node(opType: string, base: string, inputs: string[], attribute: Attribute[] = [], output?: string): string {
    const out = output ?? this.fresh(`${base}_out`);
    this.nodes.push({ opType, name: this.fresh(base), input: inputs, output: [out], domain: '', attribute });
    return out;
  }
}

class Emitter {
  private readonly g: GraphBuilder;

  constructor(private readonly network: Network) {
    this.g = new GraphBuilder([network.input.name, network.output.name]);
  }

  build(options: EmitOptions): EmittedModel {
    const { network } = this;
    let x = network.input.name;
    let shape = inputSampleShape(network);
    for (const segment of network.segments) {
      if (segment.flatten) ({ x, shape } = this.flatten(x, shape, segment.flatten));
      for (const unit of segment.units) ({ x, shape } = this.unit(unit, x, shape));
    }
    if (network.classifierFlatten) ({ x, shape } = this.flatten(x, shape, network.classifierFlatten));
    const transform = network.output.transform;
    const logits = this.layer(network.classifier, x, shape, transform === 'none' ? network.output.name : undefined).x;
    if (transform !== 'none') {
      this.g.node(transform === 'logsoftmax' ? 'LogSoftmax' : 'Softmax', transform, [logits], [intAttr('axis', 1)], network.output.name);
    }
    const outputs = [valueInfo(network.output.name, network.output.shape)];
    const tapOutputs = (options.taps ?? []).map((tap) => this.tapOutput(tap, outputs));
    return { model: this.model(outputs), tapOutputs };
  }

  private tapOutput(tap: Tap, outputs: ValueInfo[]): string {
    const points = this.g.taps.get(tap.layer);
    if (!points) throw new ClafusionError('E_ARG', `tap layer '${tap.layer}' is not a Layer or Residual of this network; names: ${[...this.g.taps.keys()].join(', ')}`);
    if (tap.point !== 'preact' && tap.point !== 'output') throw new ClafusionError('E_ARG', `tap point must be 'preact' or 'output', got '${String(tap.point)}'`);
    const name = tap.point === 'preact' ? points.preact : points.output;
    const shape = tap.point === 'preact' ? points.preactShape : points.outputShape;
    if (!outputs.some((o) => o.name === name)) outputs.push(valueInfo(name, [this.network.input.shape[0], ...shape]));
    return name;
  }

  private model(outputs: ValueInfo[]): ModelProto {
    const { meta } = this.network;
    const opset = Math.max(meta.opset, MIN_OPSET);
    return {
      irVersion: Math.max(meta.irVersion, minIrVersion(opset)),
      opsetImport: [{ domain: '', version: opset }],
      producerName: meta.producerName || 'clafusion',
      producerVersion: meta.producerVersion ?? '',
      domain: '',
      modelVersion: 0,
      docString: '',
      graph: {
        name: 'clafusion',
        node: this.g.nodes,
        initializer: this.g.initializers,
        input: [valueInfo(this.network.input.name, this.network.input.shape)],
        output: outputs,
        valueInfo: [],
      },
      metadataProps: Object.entries(meta.metadata).map(([key, value]) => ({ key, value })),
    };
  }

  private flatten(x: string, shape: SampleShape, step: FlattenStep): { x: string; shape: SampleShape } {
    let y = x;
    if (step.globalPool !== 'none') y = this.g.node(step.globalPool === 'avg' ? 'GlobalAveragePool' : 'GlobalMaxPool', 'global_pool', [y]);
    y = this.g.node('Flatten', 'flatten', [y], [intAttr('axis', 1)]);
    return { x: y, shape: flattenShape(shape, step) };
  }

  private unit(unit: Unit, x: string, shape: SampleShape): { x: string; shape: SampleShape } {
    return unit.type === 'layer' ? this.layer(unit, x, shape) : this.residual(unit, x, shape);
  }

  /** weight op → BN → activation → pool; `output` names the last tensor when it is the graph output. */
  private layer(layer: Layer, x: string, shape: SampleShape, output?: string): { x: string; shape: SampleShape } {
    const shapes = layerShapes(layer, shape);
    const last = !layer.batchNorm && layer.activation === 'none' && !layer.pool ? output : undefined;
    let y = this.weightOp(layer, x, last);
    if (layer.batchNorm) {
      const bn = layer.batchNorm;
      const n = bn.scale.length;
      const inputs = [y, this.g.init(`${layer.name}.bn.scale`, [n], bn.scale), this.g.init(`${layer.name}.bn.bias`, [n], bn.bias),
        this.g.init(`${layer.name}.bn.mean`, [n], bn.mean), this.g.init(`${layer.name}.bn.var`, [n], bn.variance)];
      const bnLast = layer.activation === 'none' && !layer.pool ? output : undefined;
      y = this.g.node('BatchNormalization', `${layer.name}/bn`, inputs, [floatAttr('epsilon', bn.epsilon)], bnLast);
    }
    const preact = y;
    y = this.activationAndPool(layer.name, y, layer.activation, layer.pool, output);
    this.registerTap(layer.name, { preact, output: y, preactShape: shapes.preact, outputShape: shapes.output });
    return { x: y, shape: shapes.output };
  }

  private weightOp(layer: Layer, x: string, output?: string): string {
    const { op, name } = layer;
    const inputs = [x, this.g.init(`${name}.weight`, op.weight.shape, op.weight.data)];
    if (op.bias) inputs.push(this.g.init(`${name}.bias`, [op.bias.length], op.bias));
    if (op.kind === 'dense') return this.g.node('Gemm', `${name}/gemm`, inputs, [intAttr('transB', 1)], output);
    const attrs = [
      intsAttr('kernel_shape', op.weight.shape.slice(2)),
      intsAttr('strides', op.stride),
      intsAttr('pads', op.pads),
      intsAttr('dilations', op.dilations),
      intAttr('group', 1),
    ];
    return this.g.node('Conv', `${name}/conv`, inputs, attrs, output);
  }

  private activationAndPool(name: string, x: string, activation: Activation, pool: Pool | undefined,
    output?: string): string {
    let y = this.activation(name, x, activation, pool ? undefined : output);
    if (pool) {
      const attrs = [intsAttr('kernel_shape', pool.kernel), intsAttr('strides', pool.stride), intsAttr('pads', pool.pads), intAttr('ceil_mode', pool.ceilMode ? 1 : 0)];
      if (pool.kind === 'avg') attrs.push(intAttr('count_include_pad', pool.countIncludePad ? 1 : 0));
      y = this.g.node(pool.kind === 'max' ? 'MaxPool' : 'AveragePool', `${name}/pool`, [y], attrs, output);
    }
    return y;
  }

  /** The nodes of `activation` on `x` (none for 'none'); `output` names the last tensor when given. */
  private activation(name: string, x: string, activation: Activation, output?: string): string {
    if (typeof activation === 'object') {
      return this.g.node('LeakyRelu', `${name}/leaky_relu`, [x], [floatAttr('alpha', activation.alpha)], output);
    }
    switch (activation) {
      case 'none': return x;
      case 'relu': return this.g.node('Relu', `${name}/relu`, [x], [], output);
      case 'sigmoid': return this.g.node('Sigmoid', `${name}/sigmoid`, [x], [], output);
      case 'tanh': return this.g.node('Tanh', `${name}/tanh`, [x], [], output);
      case 'silu': {
        const sigmoid = this.g.node('Sigmoid', `${name}/silu_sigmoid`, [x]);
        return this.g.node('Mul', `${name}/silu`, [x, sigmoid], [], output);
      }
      case 'gelu': {
        const scalar = (base: string, value: number) => this.g.init(`${name}/${base}`, [], Float32Array.of(value));
        const scaled = this.g.node('Div', `${name}/gelu_div`, [x, scalar('sqrt2', Math.SQRT2)]);
        const erf = this.g.node('Erf', `${name}/gelu_erf`, [scaled]);
        const shifted = this.g.node('Add', `${name}/gelu_add`, [erf, scalar('one', 1)]);
        const product = this.g.node('Mul', `${name}/gelu_mul`, [x, shifted]);
        return this.g.node('Mul', `${name}/gelu`, [product, scalar('half', 0.5)], [], output);
      }
    }
  }

  /** Records a unit's tap points; names must be unique, since taps and the fusion stage address units by name. */
  private registerTap(name: string, points: TapPoints): void {
    if (this.g.taps.has(name)) throw new ClafusionError('E_ARG', `two units of the network are named '${name}'; layer and residual names must be unique`);
    this.g.taps.set(name, points);
  }

  private residual(unit: Residual, x: string, shape: SampleShape): { x: string; shape: SampleShape } {
    const shapes = unitShapes(unit, shape);
    let branch = x;
    let branchShape = shape;
    for (const layer of unit.branch) ({ x: branch, shape: branchShape } = this.layer(layer, branch, branchShape));
    const shortcut = unit.shortcut ? this.layer(unit.shortcut, x, shape).x : x;
    const sum = this.g.node('Add', `${unit.name}/add`, [branch, shortcut]);
    const y = this.activationAndPool(unit.name, sum, unit.activation, unit.pool);
    this.registerTap(unit.name, { preact: sum, output: y, preactShape: shapes.preact, outputShape: shapes.output });
    return { x: y, shape: shapes.output };
  }
}

/** Builds the ModelProto of a network (with optional taps as extra outputs). */
export function buildModel(network: Network, options: EmitOptions = {}): EmittedModel {
  checkNetwork(network);
  return new Emitter(network).build(options);
}

/** The network as ONNX bytes, plus the graph output name of each tap. */
export function emitModel(network: Network, options: EmitOptions = {}): { bytes: Uint8Array; tapOutputs: string[] } {
  const { model, tapOutputs } = buildModel(network, options);
  return { bytes: encodeModel(model), tapOutputs };
}

/** Writes the network to `path` atomically (external data above the threshold; never over an input file). */
export function writeNetwork(path: string, network: Network, options: WriteOptions = {}): void {
  writeModel(path, buildModel(network).model, options);
}
