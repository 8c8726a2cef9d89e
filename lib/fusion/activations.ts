/**
 * Where the fusion stages read activations: taps ('preact' of a Layer: after its weight op and batch-norm, before
 * the activation; 'output' of a unit: after its activation and pooling, for a Residual block after the sum). The
 * activations themselves are never stored: lib/stats streams them into the statistics the stages read.
 */
import type { Layer, Residual } from '../ir/network.js';

export type TapPoint = 'preact' | 'output';

export interface Tap {
  layer: string;
  point: TapPoint;
}

export function tapKey(tap: Tap): string {
  return `${tap.layer}:${tap.point}`;
}

export function preactTap(layer: Layer): Tap {
  return { layer: layer.name, point: 'preact' };
}

export function outputTap(block: Residual): Tap {
  return { layer: block.name, point: 'output' };
}
