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
 */
import { ClafusionError } from '../../errors.js';
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

/** A `width -> width` op shaped like `template`'s, the identity (`fill = 'identity'`) or zero. */
function squareOp(template: Layer, width: number, fill: 'identity' | 'zero'): DenseOp | ConvOp {
  const bias = template.op.bias ? new Float32Array(width) : undefined;
  if (template.op.kind === 'dense') {
    const data = new Float32Array(width * width);
    if (fill === 'identity') for (let c = 0; c < width; c++) data[c * width + c] = 1;
    return { kind: 'dense', weight: { data, shape: [width, width] }, ...(bias ? { bias } : {}) };
  }
  const [, , kh, kw] = template.op.weight.shape;
  const top = Math.floor((kh - 1) / 2);
  const left = Math.floor((kw - 1) / 2);
  const data = new Float32Array(width * width * kh * kw);
  if (fill === 'identity') for (let c = 0; c < width; c++) data[((c * width + c) * kh + top) * kw + left] = 1;
  return {
    kind: 'conv',
    weight: { data, shape: [width, width, kh, kw] },
    ...(bias ? { bias } : {}),
    stride: [1, 1],
    pads: [top, left, kh - 1 - top, kw - 1 - left],
    dilations: [1, 1],
  };
}

function insertedLayer(template: Layer, name: string, width: number, fill: 'identity' | 'zero', bnScale: 'identity' | 'zero'): Layer {
  requireStrideOne(template, 'layer');
  const layer: Layer = { type: 'layer', name, op: squareOp(template, width, fill), activation: template.activation, inserted: true };
  if (template.batchNorm) layer.batchNorm = identityBatchNorm(width, template.batchNorm, bnScale);
  return layer;
}

/** An identity Layer of `width` units standing in for the deep layer `template`. */
export function identityLayer(template: Layer, width: number): Layer {
  return insertedLayer(template, `${template.name}/identity`, width, 'identity', 'identity');
}

/** A zero-branch residual block on a `width`-channel stream standing in for the deep block `template`. */
export function identityBlock(template: Residual, width: number): Residual {
  const last = template.branch.length - 1;
  const branch = template.branch.map((layer, i) =>
    insertedLayer(layer, `${layer.name}/identity`, width, 'zero', i === last ? 'zero' : 'identity'));
  const block: Residual = { type: 'residual', name: `${template.name}/identity`, branch, activation: template.activation, inserted: true };
  if (template.shortcut) block.shortcut = insertedLayer(template.shortcut, `${template.shortcut.name}/identity`, width, 'identity', 'identity');
  return block;
}
