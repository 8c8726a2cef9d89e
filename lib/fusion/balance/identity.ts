/**
 * Identity units for balancing (spec §2.1). Each inserted unit mirrors the structure of the deep unit it stands in
 * for (kernel size, bias and batch-norm presence, activation), so that the pair can be fused parameter by parameter,
 * while computing the identity on its input:
 * - dense: W = I_w, zero bias; exact because its input is post-ReLU (ReLU(I·h) = h for h >= 0);
 * - conv: a centre tap, weight[c, c, pT, pL] = 1 with pads pT = ⌊(kH-1)/2⌋, pL = ⌊(kW-1)/2⌋ (and the rest on the
 *   other side) so the spatial size is kept, stride 1;
 * - batch-norm, where the deep unit has one: identity statistics (mean 0, variance 1, shift 0, scale √(1+ε));
 * - residual block: a branch that outputs zero (every branch conv zero; the last batch-norm with scale 0 and shift 0)
 *   and an identity shortcut (or an identity projection where the deep block has a projection), so
 *   out = act(0 + x) = x for x >= 0.
 *
 * Compact (DESIGN "Inserted units cost nothing they do not need"): a zero branch outputs zero whatever its inner
 * widths, so its inner layers take the widths of the deep block's (a Bottleneck's w → w/4 → w/4 → w, not
 * w → w → w → w): the balanced network, and the fused one, then have the deep network's size. An identity Layer
 * has no free width (it must carry its w inputs, and more units would only add zero weights), so it stays w wide.
 *
 * The inserted layer or block keeps the deep unit's activation only where that is the identity on its inputs (ReLU
 * after ReLU); with any other activation (GELU, SiLU, tanh, sigmoid, LeakyReLU: act(act(z)) ≠ act(z)) it has none,
 * so it still computes the identity exactly (ir/activation.ts insertedActivation).
 */
import { ClafusionError } from '../../errors.js';
import { insertedActivation } from '../../ir/activation.js';
import type { BatchNorm, ConvOp, DenseOp, Layer, Residual } from '../../ir/network.js';

function identityBatchNorm(width: number, template: BatchNorm, scale: 'identity' | 'zero'): BatchNorm {
  return {
    scale: new Float32Array(width).fill(scale === 'zero' ? 0 : Math.sqrt(1 + template.epsilon)),
    bias: new Float32Array(width),
    mean: new Float32Array(width),
    variance: new Float32Array(width).fill(1),
    epsilon: template.epsilon,
  };
}

function requireStrideOne(template: Layer, role: string): void {
  if (template.op.kind === 'conv' && (template.op.stride[0] !== 1 || template.op.stride[1] !== 1)) {
    throw new ClafusionError('E_SHAPE',
      `the alignment left the strided ${role} ${template.name} of the deeper network unmatched; an identity unit cannot ` +
      'stand in for a strided layer. Keep the first unit of every stage pinned (startLayer >= 2)');
  }
}

/**
 * An `inputs -> outputs` op shaped like `template`'s (kernel, bias presence): the identity (`fill = 'identity'`,
 * needs inputs = outputs) or zero.
 */
function insertedOp(template: Layer, outputs: number, inputs: number, fill: 'identity' | 'zero'): DenseOp | ConvOp {
  const bias = template.op.bias ? new Float32Array(outputs) : undefined;
  if (template.op.kind === 'dense') {
    const data = new Float32Array(outputs * inputs);
    if (fill === 'identity') for (let c = 0; c < outputs; c++) data[c * inputs + c] = 1;
    return { kind: 'dense', weight: { data, shape: [outputs, inputs] }, ...(bias ? { bias } : {}) };
  }
  const [, , kh, kw] = template.op.weight.shape;
  const top = Math.floor((kh - 1) / 2);
  const left = Math.floor((kw - 1) / 2);
  const data = new Float32Array(outputs * inputs * kh * kw);
  if (fill === 'identity') for (let c = 0; c < outputs; c++) data[((c * inputs + c) * kh + top) * kw + left] = 1;
  return {
    kind: 'conv',
    weight: { data, shape: [outputs, inputs, kh, kw] },
    ...(bias ? { bias } : {}),
    stride: [1, 1],
    pads: [top, left, kh - 1 - top, kw - 1 - left],
    dilations: [1, 1],
  };
}

interface InsertedShape {
  outputs: number;
  inputs: number;
  fill: 'identity' | 'zero';
  bnScale: 'identity' | 'zero';
}

function insertedLayer(template: Layer, name: string, shape: InsertedShape,
  activation = insertedActivation(template.activation)): Layer {
  requireStrideOne(template, 'layer');
  const op = insertedOp(template, shape.outputs, shape.inputs, shape.fill);
  const layer: Layer = { type: 'layer', name, op, activation, inserted: true };
  if (template.batchNorm) layer.batchNorm = identityBatchNorm(shape.outputs, template.batchNorm, shape.bnScale);
  return layer;
}

const IDENTITY = { fill: 'identity', bnScale: 'identity' } as const;

/** An identity Layer of `width` units standing in for the deep layer `template`. */
export function identityLayer(template: Layer, width: number): Layer {
  return insertedLayer(template, `${template.name}/identity`, { outputs: width, inputs: width, ...IDENTITY });
}

/**
 * A zero-branch residual block on a `width`-channel stream standing in for the deep block `template`: the branch
 * reads and writes the stream's `width` channels, its inner layers have the widths of `template`'s.
 */
export function identityBlock(template: Residual, width: number): Residual {
  const last = template.branch.length - 1;
  const innerWidth = (i: number) => (i < 0 || i === last ? width : template.branch[i].op.weight.shape[0]);
  // The branch outputs zero whatever its activations do (every conv after the first reads zero weights, the last BN
  // has scale and shift 0), so its layers keep the deep block's activations.
  const branch = template.branch.map((layer, i) => insertedLayer(layer, `${layer.name}/identity`,
    { outputs: innerWidth(i), inputs: innerWidth(i - 1), fill: 'zero', bnScale: i === last ? 'zero' : 'identity' },
    layer.activation));
  const activation = insertedActivation(template.activation);
  const block: Residual = { type: 'residual', name: `${template.name}/identity`, branch, activation, inserted: true };
  if (template.shortcut) {
    const name = `${template.shortcut.name}/identity`;
    block.shortcut = insertedLayer(template.shortcut, name, { outputs: width, inputs: width, ...IDENTITY });
  }
  return block;
}
