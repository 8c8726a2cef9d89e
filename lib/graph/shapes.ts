/**
 * Shape inference over the Network IR. Shapes here are per sample (the batch dimension left out): [C, H, W] for
 * feature maps, [F] for flat features. Used by the recogniser (segmenting, Reshape checks), the emitter (tap
 * shapes) and the fusion stage (activation sizes).
 */
import { ClafusionError } from '../errors.js';
import type { FlattenStep, Layer, Network, Pool, Unit } from '../ir/network.js';
import { checkNetwork } from '../ir/check.js';

export type SampleShape = number[];

function shapeError(message: string): ClafusionError {
  return new ClafusionError('E_SHAPE', message);
}

/** Output length of a convolution along one axis: floor((n + p0 + p1 - d(k-1) - 1) / s) + 1. */
export function convOutputSize(size: number, kernel: number, stride: number, padBegin: number, padEnd: number, dilation: number): number {
  return Math.floor((size + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * Output length of a pooling window along one axis. With ceil mode, out = ceil((n + p0 + p1 - k) / s) + 1, less one
 * when the last window would start inside the end padding: the rule of PyTorch and of ONNX Runtime's pooling kernels
 * (ORT 1.30's shape inference omits the correction, so ORT cannot load a model that hits this edge either way).
 */
export function poolOutputSize(size: number, kernel: number, stride: number, padBegin: number, padEnd: number, ceilMode: boolean): number {
  const span = size + padBegin + padEnd - kernel;
  if (!ceilMode) return Math.floor(span / stride) + 1;
  const out = Math.ceil(span / stride) + 1;
  return (out - 1) * stride >= size + padBegin ? out - 1 : out;
}

/**
 * Explicit [top, left, bottom, right] pads for ONNX auto_pad SAME_UPPER / SAME_LOWER: the total padding
 * max((ceil(n/s) - 1) s + d(k-1) + 1 - n, 0), split with the odd pixel at the end (UPPER) or the start (LOWER).
 */
export function samePads(inputHW: [number, number], kernel: [number, number], stride: [number, number], dilation: [number, number], upper: boolean): [number, number, number, number] {
  const begin: number[] = [];
  const end: number[] = [];
  for (let axis = 0; axis < 2; axis++) {
    const n = inputHW[axis];
    const total = Math.max((Math.ceil(n / stride[axis]) - 1) * stride[axis] + dilation[axis] * (kernel[axis] - 1) + 1 - n, 0);
    const small = Math.floor(total / 2);
    begin.push(upper ? small : total - small);
    end.push(upper ? total - small : small);
  }
  return [begin[0], begin[1], end[0], end[1]];
}

export function poolShape(pool: Pool, input: SampleShape, where: string): SampleShape {
  if (input.length !== 3) throw shapeError(`${where}: pooling needs feature maps [C, H, W], got [${input.join(', ')}]`);
  const [c, h, w] = input;
  const out = [
    c,
    poolOutputSize(h, pool.kernel[0], pool.stride[0], pool.pads[0], pool.pads[2], pool.ceilMode),
    poolOutputSize(w, pool.kernel[1], pool.stride[1], pool.pads[1], pool.pads[3], pool.ceilMode),
  ];
  if (out[1] < 1 || out[2] < 1) throw shapeError(`${where}: a ${pool.kernel.join('x')} pool does not fit a ${h}x${w} map`);
  return out;
}

/** Shape after the weight op (and batch-norm, which keeps it). */
export function weightOpShape(layer: Layer, input: SampleShape): SampleShape {
  const weight = layer.op.weight.shape;
  if (layer.op.kind === 'dense') {
    if (input.length !== 1) throw shapeError(`layer '${layer.name}': a dense layer needs flat features, got [${input.join(', ')}]`);
    if (weight[1] !== input[0]) throw shapeError(`layer '${layer.name}': weight [${weight.join(', ')}] expects ${weight[1]} inputs, got ${input[0]}`);
    return [weight[0]];
  }
  if (input.length !== 3) throw shapeError(`layer '${layer.name}': a conv needs feature maps [C, H, W], got [${input.join(', ')}]`);
  if (weight[1] !== input[0]) throw shapeError(`layer '${layer.name}': weight [${weight.join(', ')}] expects ${weight[1]} input channels, got ${input[0]}`);
  const { stride, pads, dilations } = layer.op;
  const h = convOutputSize(input[1], weight[2], stride[0], pads[0], pads[2], dilations[0]);
  const w = convOutputSize(input[2], weight[3], stride[1], pads[1], pads[3], dilations[1]);
  if (h < 1 || w < 1) throw shapeError(`layer '${layer.name}': a ${weight[2]}x${weight[3]} kernel does not fit a ${input[1]}x${input[2]} map`);
  return [weight[0], h, w];
}

export interface UnitShapes {
  /** Shape entering the unit. */
  input: SampleShape;
  /** Before the activation: after weight op and BN (a Layer), or the residual sum. */
  preact: SampleShape;
  /** After activation and pooling. */
  output: SampleShape;
}

export function layerShapes(layer: Layer, input: SampleShape): UnitShapes {
  const preact = weightOpShape(layer, input);
  return { input, preact, output: layer.pool ? poolShape(layer.pool, preact, `layer '${layer.name}'`) : preact };
}

function sameShape(a: SampleShape, b: SampleShape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function unitShapes(unit: Unit, input: SampleShape): UnitShapes {
  if (unit.type === 'layer') return layerShapes(unit, input);
  let branchShape = input;
  for (const layer of unit.branch) branchShape = layerShapes(layer, branchShape).output;
  const shortcutShape = unit.shortcut ? layerShapes(unit.shortcut, input).output : input;
  if (!sameShape(branchShape, shortcutShape)) {
    throw shapeError(`residual '${unit.name}': branch gives [${branchShape.join(', ')}] but the shortcut gives [${shortcutShape.join(', ')}]`);
  }
  return { input, preact: branchShape, output: unit.pool ? poolShape(unit.pool, branchShape, `residual '${unit.name}'`) : branchShape };
}

/** Flat feature count after an optional global pool and a flatten. */
export function flattenShape(input: SampleShape, step: FlattenStep): SampleShape {
  if (step.globalPool !== 'none') {
    if (input.length !== 3) throw shapeError(`a global pool needs feature maps [C, H, W], got [${input.join(', ')}]`);
    return [input[0]];
  }
  return [input.reduce((n, d) => n * d, 1)];
}

/** The network's per-sample input shape (every non-batch dimension must be a number). */
export function inputSampleShape(network: Network): SampleShape {
  const dims = network.input.shape.slice(1);
  if (!dims.every((d): d is number => typeof d === 'number' && d > 0)) {
    throw shapeError(`input '${network.input.name}' has shape [${network.input.shape.join(', ')}]; all but the batch dimension must be fixed numbers`);
  }
  return dims;
}

/** Shapes through every hidden unit (in `hiddenUnits` order) and into the classifier. */
export function networkShapes(network: Network): { units: UnitShapes[]; classifier: UnitShapes } {
  checkNetwork(network);
  let shape = inputSampleShape(network);
  const units: UnitShapes[] = [];
  for (const segment of network.segments) {
    if (segment.flatten) shape = flattenShape(shape, segment.flatten);
    for (const unit of segment.units) {
      const shapes = unitShapes(unit, shape);
      units.push(shapes);
      shape = shapes.output;
    }
  }
  if (network.classifierFlatten) shape = flattenShape(shape, network.classifierFlatten);
  return { units, classifier: layerShapes(network.classifier, shape) };
}

/** Per-unit shapes of the hidden units, in `hiddenUnits(network)` order. */
export function unitOutputShapes(network: Network): UnitShapes[] {
  return networkShapes(network).units;
}
