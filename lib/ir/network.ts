/**
 * The Network IR: the only currency between the stages (onnx/graph -> fusion -> graph/onnx). Plain data: typed
 * arrays with shapes in ONNX order, no sessions, no file paths.
 *
 *   input ─▶ segments[0].units ─▶ … ─▶ segments[k].units ─▶ classifier ─▶ output
 *
 * A segment is a run of units at one spatial size (`spatial`: conv units on NCHW maps) or on flat features (`flat`:
 * dense units). Segment boundaries fall at pooling, strided convs and the flatten. The move from spatial maps to
 * flat features (an optional global pool, then a flatten) is described by `flatten` on the first flat segment or,
 * when there are no hidden dense layers, on the classifier.
 */
import { checkLayer, checkNetwork, checkUnit } from './check.js';

/** A float32 tensor with its ONNX shape: dense [out, in], conv [out, in, kH, kW]. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

/** Batch-norm parameters of one layer's output channels (inference form: y = scale * (x - mean) / sqrt(var + eps) + bias). */
export interface BatchNorm {
  scale: Float32Array;
  bias: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/**
 * The elementwise activation after a layer or a residual join (see activation.ts for the functions): ReLU,
 * LeakyReLU with its negative slope α, GELU (exact, erf form), SiLU, sigmoid, tanh, or none.
 */
export type Activation = 'relu' | 'none' | 'gelu' | 'silu' | 'sigmoid' | 'tanh' | LeakyRelu;

export interface LeakyRelu {
  kind: 'leaky_relu';
  alpha: number;
}

/** A pooling window (MaxPool / AveragePool); pads are [top, left, bottom, right] as in ONNX. */
export interface Pool {
  kind: 'max' | 'avg';
  kernel: [number, number];
  stride: [number, number];
  pads: [number, number, number, number];
  ceilMode: boolean;
  countIncludePad: boolean;
}

export interface DenseOp {
  kind: 'dense';
  /** [out, in] (a MatMul's [in, out] initializer is transposed on the way in). */
  weight: Tensor;
  bias?: Float32Array;
}

export interface ConvOp {
  kind: 'conv';
  /** [out, in, kH, kW]; groups = 1. */
  weight: Tensor;
  bias?: Float32Array;
  stride: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
}

/** Weight op, then batch-norm, then activation, then pooling. */
export interface Layer {
  type: 'layer';
  /** A stable, readable name taken from the source graph (usually the weight initializer or node name). */
  name: string;
  op: DenseOp | ConvOp;
  batchNorm?: BatchNorm;
  activation: Activation;
  pool?: Pool;
  /** True for identity layers inserted by balancing. */
  inserted?: boolean;
}

/**
 * A residual block: out = activation(branch(x) + shortcut(x)), then an optional pool. The branch's last layer has
 * activation 'none'. `shortcut` undefined means the identity.
 */
export interface Residual {
  type: 'residual';
  name: string;
  branch: Layer[];
  shortcut?: Layer;
  activation: Activation;
  pool?: Pool;
  /** True for zero-branch blocks inserted by balancing. */
  inserted?: boolean;
}

export type Unit = Layer | Residual;

/** How spatial maps become flat features before a dense layer. */
export interface FlattenStep {
  globalPool: 'avg' | 'max' | 'none';
}

export interface Segment {
  kind: 'spatial' | 'flat';
  /** Set on the first flat segment when it follows spatial maps (or when the input itself is not flat). */
  flatten?: FlattenStep;
  units: Unit[];
}

export interface TensorSpec {
  name: string;
  /** Dimensions; the batch dimension is a string (symbolic) or a number. */
  shape: (number | string)[];
}

export interface Network {
  input: TensorSpec & { layout: 'NCHW' | 'NC' };
  /** Hidden units, grouped at changes of spatial size. */
  segments: Segment[];
  /** The output layer: dense, activation 'none'. Its `flatten` applies when no flat segment precedes it. */
  classifier: Layer & { op: DenseOp };
  classifierFlatten?: FlattenStep;
  /** Applied to the classifier's logits in the graph output. */
  output: TensorSpec & { transform: 'none' | 'logsoftmax' | 'softmax' };
  /** ONNX facts carried through so the written model looks like its source (a fused model: its provenance). */
  meta: { opset: number; irVersion: number; producerName: string; producerVersion?: string; metadata: Record<string, string> };
}

/** Output channels (conv) or features (dense) of a layer. */
export function layerWidth(layer: Layer): number {
  checkLayer(layer);
  return layer.op.weight.shape[0];
}

/** Output width of a unit: a layer's width, or a residual block's (its branch's last layer). */
export function unitWidth(unit: Unit): number {
  checkUnit(unit);
  return unit.type === 'layer' ? layerWidth(unit) : layerWidth(unit.branch[unit.branch.length - 1]);
}

/** Every Layer of the network in forward order: branch layers, then the shortcut, per block; the classifier last. */
export function allLayers(network: Network): Layer[] {
  checkNetwork(network);
  const layers: Layer[] = [];
  for (const segment of network.segments) {
    for (const unit of segment.units) {
      if (unit.type === 'layer') layers.push(unit);
      else layers.push(...unit.branch, ...(unit.shortcut ? [unit.shortcut] : []));
    }
  }
  layers.push(network.classifier);
  return layers;
}

/** All hidden units in order (every segment), the classifier excluded. */
export function hiddenUnits(network: Network): Unit[] {
  checkNetwork(network);
  return network.segments.flatMap((segment) => segment.units);
}

/** Number of weight parameters (weights, biases, BN scale and shift). */
export function parameterCount(network: Network): number {
  let count = 0;
  for (const layer of allLayers(network)) {
    count += layer.op.weight.data.length + (layer.op.bias?.length ?? 0);
    if (layer.batchNorm) count += 2 * layer.batchNorm.scale.length;
  }
  return count;
}

/** A deep copy (every typed array copied), so a stage can modify its copy freely. */
export function cloneNetwork(network: Network): Network {
  checkNetwork(network);
  return structuredClone(network);
}
