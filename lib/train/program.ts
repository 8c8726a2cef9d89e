/**
 * Network IR → the native trainer's program (native/core/train_program.hpp): a flat list of ops over activation
 * slots, with every trainable parameter at an offset into one Float32Array and every batch-norm running statistic at
 * an offset into another. The parameter layout follows `allLayers` (forward order: branch layers, then the shortcut,
 * per block; the classifier last), per layer: weight, bias, BN scale, BN shift; the statistics: BN mean, variance.
 *
 *   Layer     := conv | dense (a 1x1 conv on flat features)  [batchnorm]  [act]  [pool]
 *   Residual  := branch layers from x;  shortcut layer from x (or x itself);  add  [act]  [pool]
 *   act       := relu (in place) | activation (LeakyReLU α, GELU, SiLU, sigmoid, tanh; into a new slot, since the
 *                backward reads its input)
 *   flatten   := [global pool → (C, 1)] | [flatten (C, H·W) → (C·H·W, 1)]
 *
 * Inserted identity layers and zero residual blocks are ordinary layers here, so they train like any other.
 */
import { ClafusionError } from '../errors.js';
import { flattenShape, inputSampleShape, layerShapes, poolShape, type SampleShape, unitShapes } from '../graph/shapes.js';
import {
  type Activation, allLayers, cloneNetwork, type FlattenStep, type Layer, type Network, type Pool, type Unit,
} from '../ir/network.js';
import type { TrainProgramArg as TrainProgram } from '../native.js';

export type { TrainProgram };

/** Op kinds, as numbered in train_program.hpp. */
const OP = {
  conv: 0, batchNorm: 1, relu: 2, maxPool: 3, avgPool: 4, globalAvgPool: 5, globalMaxPool: 6, flatten: 7, add: 8,
  activation: 9,
} as const;

/** ActivationKind of train_program.hpp (the `flag` of an activation op). */
const ACTIVATION = { leaky_relu: 0, gelu: 1, silu: 2, sigmoid: 3, tanh: 4 } as const;

export interface CompiledNetwork {
  program: TrainProgram;
  /** Initial parameters (copied from the network). */
  params: Float32Array;
  /** Initial batch-norm running statistics. */
  running: Float32Array;
  /** Values per sample the input slot holds (C·H·W or F). */
  inputSize: number;
  classes: number;
}

/** Offsets of one layer's values in the parameter and statistics buffers (-1: absent). */
interface LayerOffsets {
  weight: number;
  bias: number;
  scale: number;
  shift: number;
  running: number;
}

function layout(layers: Layer[]): { offsets: LayerOffsets[]; paramCount: number; statCount: number } {
  let params = 0;
  let stats = 0;
  const take = (length: number): number => {
    const at = params;
    params += length;
    return at;
  };
  const offsets = layers.map((layer): LayerOffsets => {
    const width = layer.op.weight.shape[0]!;
    const weight = take(layer.op.weight.data.length);
    const bias = layer.op.bias ? take(width) : -1;
    if (!layer.batchNorm) return { weight, bias, scale: -1, shift: -1, running: -1 };
    const scale = take(width);
    const shift = take(width);
    const running = stats;
    stats += 2 * width;
    return { weight, bias, scale, shift, running };
  });
  return { offsets, paramCount: params, statCount: stats };
}

interface Flow {
  slot: number;
  shape: SampleShape;
}

/** Builds the op list while walking the network in forward order. */
class Compiler {
  private readonly ops: number[] = [];
  private readonly epsilons: number[] = [];
  private readonly slots: number[] = [];

  constructor(private readonly offsets: Map<Layer, LayerOffsets>) {}

  newSlot(shape: SampleShape): number {
    const [c, ...rest] = shape;
    this.slots.push(c!, rest.reduce((a, b) => a * b, 1));
    return this.slots.length / 2 - 1;
  }

  private emit(kind: number, input: Flow, output: SampleShape, fields: Partial<Record<'in2' | 'out' | 'kh' | 'kw' | 'sh' | 'sw' | 'pt' | 'pl' | 'pb' | 'pr' | 'dh' | 'dw' | 'weight' | 'bias' | 'aux' | 'flag', number>>, epsilon = 0): Flow {
    const out = fields.out ?? this.newSlot(output);
    const [c, h, w] = mapDims(input.shape);
    const [co, ho, wo] = mapDims(output);
    const f = { kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, weight: -1, bias: -1, aux: -1, flag: 0, in2: -1, ...fields };
    this.ops.push(kind, input.slot, f.in2, out, c, h, w, co, ho, wo, f.kh, f.kw, f.sh, f.sw, f.pt, f.pl, f.pb, f.pr, f.dh, f.dw, f.weight, f.bias, f.aux, f.flag);
    this.epsilons.push(epsilon);
    return { slot: out, shape: output };
  }

  layer(layer: Layer, input: Flow): Flow {
    const at = this.offsets.get(layer)!;
    const shapes = layerShapes(layer, input.shape);
    let flow: Flow;
    if (layer.op.kind === 'dense') {
      flow = this.emit(OP.conv, input, shapes.preact, { weight: at.weight, bias: at.bias });
    } else {
      const { weight, stride, pads, dilations } = layer.op;
      flow = this.emit(OP.conv, input, shapes.preact, {
        kh: weight.shape[2], kw: weight.shape[3], sh: stride[0], sw: stride[1],
        pt: pads[0], pl: pads[1], pb: pads[2], pr: pads[3], dh: dilations[0], dw: dilations[1], weight: at.weight, bias: at.bias,
      });
    }
    if (layer.batchNorm) flow = this.emit(OP.batchNorm, flow, flow.shape, { weight: at.scale, bias: at.shift, aux: at.running }, layer.batchNorm.epsilon);
    return this.activationAndPool(flow, layer.activation, layer.pool, `layer '${layer.name}'`);
  }

  unit(unit: Unit, input: Flow): Flow {
    if (unit.type === 'layer') return this.layer(unit, input);
    unitShapes(unit, input.shape); // checks that branch and shortcut agree
    let branch = input;
    for (const layer of unit.branch) branch = this.layer(layer, branch);
    const shortcut = unit.shortcut ? this.layer(unit.shortcut, input) : input;
    const sum = this.emit(OP.add, branch, branch.shape, { in2: shortcut.slot });
    return this.activationAndPool(sum, unit.activation, unit.pool, `residual '${unit.name}'`);
  }

  flatten(step: FlattenStep, input: Flow): Flow {
    const output = flattenShape(input.shape, step);
    if (step.globalPool !== 'none') {
      return this.emit(step.globalPool === 'avg' ? OP.globalAvgPool : OP.globalMaxPool, input, output, {});
    }
    return input.shape.length === 1 ? input : this.emit(OP.flatten, input, output, {});
  }

  finish(paramCount: number, statCount: number): TrainProgram {
    return { ops: Int32Array.from(this.ops), epsilons: Float64Array.from(this.epsilons), slots: Int32Array.from(this.slots), paramCount, statCount };
  }

  private activationAndPool(flow: Flow, activation: Activation, pool: Pool | undefined, where: string): Flow {
    if (activation === 'relu') flow = this.emit(OP.relu, flow, flow.shape, { out: flow.slot });
    else if (typeof activation === 'object') {
      flow = this.emit(OP.activation, flow, flow.shape, { flag: ACTIVATION.leaky_relu }, activation.alpha);
    }
    else if (activation !== 'none') flow = this.emit(OP.activation, flow, flow.shape, { flag: ACTIVATION[activation] });
    if (!pool) return flow;
    return this.emit(pool.kind === 'max' ? OP.maxPool : OP.avgPool, flow, poolShape(pool, flow.shape, where), {
      kh: pool.kernel[0], kw: pool.kernel[1], sh: pool.stride[0], sw: pool.stride[1],
      pt: pool.pads[0], pl: pool.pads[1], pb: pool.pads[2], pr: pool.pads[3], flag: pool.countIncludePad ? 1 : 0,
    });
  }
}

/** [C, H, W] as is; flat [F] as F channels of a 1x1 map. */
function mapDims(shape: SampleShape): [number, number, number] {
  if (shape.length === 3) return [shape[0]!, shape[1]!, shape[2]!];
  if (shape.length === 1) return [shape[0]!, 1, 1];
  throw new ClafusionError('E_SHAPE', `the trainer handles [C, H, W] maps and flat features, got a [${shape.join(', ')}] tensor`);
}

/** Compiles `network` for the native trainer, with its current weights and statistics as the starting point. */
export function compileNetwork(network: Network): CompiledNetwork {
  const layers = allLayers(network);
  const { offsets, paramCount, statCount } = layout(layers);
  const params = new Float32Array(paramCount);
  const running = new Float32Array(statCount);
  layers.forEach((layer, i) => writeLayer(layer, offsets[i]!, params, running));
  const compiler = new Compiler(new Map(layers.map((layer, i) => [layer, offsets[i]!])));
  const sampleShape = inputSampleShape(network);
  const inputSize = sampleShape.reduce((a, b) => a * b, 1);
  // Maps stay [C, H, W]; any other input is fed as flat features (an MLP on [1, 28, 28] images reads 784 values).
  const inputShape = sampleShape.length === 3 ? sampleShape : [inputSize];
  let flow: Flow = { slot: compiler.newSlot(inputShape), shape: inputShape };
  for (const segment of network.segments) {
    if (segment.flatten) flow = compiler.flatten(segment.flatten, flow);
    for (const unit of segment.units) flow = compiler.unit(unit, flow);
  }
  if (network.classifierFlatten) flow = compiler.flatten(network.classifierFlatten, flow);
  compiler.layer(network.classifier, flow);
  return { program: compiler.finish(paramCount, statCount), params, running, inputSize, classes: network.classifier.op.weight.shape[0]! };
}

function writeLayer(layer: Layer, at: LayerOffsets, params: Float32Array, running: Float32Array): void {
  params.set(layer.op.weight.data, at.weight);
  if (layer.op.bias) params.set(layer.op.bias, at.bias);
  if (!layer.batchNorm) return;
  const bn = layer.batchNorm;
  params.set(bn.scale, at.scale);
  params.set(bn.bias, at.shift);
  running.set(bn.mean, at.running);
  running.set(bn.variance, at.running + bn.mean.length);
}

/** A copy of `network` holding the trained `params` and `running` statistics (laid out as by compileNetwork). */
export function networkWithParameters(network: Network, params: Float32Array, running: Float32Array): Network {
  const trained = cloneNetwork(network);
  const layers = allLayers(trained);
  const { offsets, paramCount, statCount } = layout(layers);
  if (params.length !== paramCount || running.length !== statCount) {
    throw new ClafusionError('E_SHAPE', `parameters (${params.length}, ${running.length}) do not fit the network (${paramCount}, ${statCount})`);
  }
  layers.forEach((layer, i) => {
    const at = offsets[i]!;
    const slice = (from: number, length: number, source = params) => source.slice(from, from + length);
    layer.op.weight.data = slice(at.weight, layer.op.weight.data.length);
    if (layer.op.bias) layer.op.bias = slice(at.bias, layer.op.bias.length);
    const bn = layer.batchNorm;
    if (!bn) return;
    const width = bn.scale.length;
    bn.scale = slice(at.scale, width);
    bn.bias = slice(at.shift, width);
    bn.mean = slice(at.running, width, running);
    bn.variance = slice(at.running + width, width, running);
  });
  return trained;
}
