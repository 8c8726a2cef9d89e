/**
 * Intermediate activations as the fusion stages use them: recorded at taps ('preact' of a Layer: after its weight op
 * and batch-norm, before the activation; 'output' of a Residual block: after the sum and its activation), on the same
 * N samples for every network, and reshaped two ways:
 * - sample matrices N x (C·H·W), C-major (the NCHW layout as recorded), for CKA between layers;
 * - unit rows C x (N·H·W), one point per channel, for OT between the units of two layers.
 */
import { ClafusionError } from '../errors.js';
import type { Layer, Residual } from '../ir/network.js';

export type TapPoint = 'preact' | 'output';

export interface Tap {
  layer: string;
  point: TapPoint;
}

/** A recorded tensor: [N, C] or [N, C, H, W]. */
export interface ActivationTensor {
  data: Float32Array;
  shape: number[];
}

/** Activations keyed by `tapKey`. */
export type Activations = Map<string, ActivationTensor>;

export function tapKey(tap: Tap): string {
  return `${tap.layer}:${tap.point}`;
}

export function preactTap(layer: Layer): Tap {
  return { layer: layer.name, point: 'preact' };
}

export function outputTap(block: Residual): Tap {
  return { layer: block.name, point: 'output' };
}

/** The recorded tensor for a tap, or E_ARG naming the missing tap. */
export function tensorAt(activations: Activations, tap: Tap): ActivationTensor {
  const tensor = activations.get(tapKey(tap));
  if (!tensor) throw new ClafusionError('E_ARG', `no activations were recorded at ${tapKey(tap)}`);
  return tensor;
}

/** Below this many positions per channel, copying element by element beats a subarray + set per (sample, channel). */
const BLOCK_COPY_MIN = 256;

/**
 * Unit rows of several taps of one network, concatenated per channel: row c = [tap₁ channel c over (N, H, W), tap₂ …].
 * Every tap must have the same channel count. Returns a C x dim matrix (row-major) in `allocate(C · dim)` (default: a
 * new array; every element is written). Values are copied bit for bit (through integer views).
 */
export function unitRows(tensors: ActivationTensor[], allocate: (length: number) => Float32Array = (length) => new Float32Array(length)): { data: Float32Array; rows: number; dim: number } {
  const channels = tensors[0].shape[1];
  for (const t of tensors) {
    if (t.shape[1] !== channels) throw new ClafusionError('E_SHAPE', `taps with ${channels} and ${t.shape[1]} channels cannot share one transport map`);
  }
  const dims = tensors.map((t) => t.data.length / channels);
  const dim = dims.reduce((a, b) => a + b, 0);
  const data = allocate(channels * dim);
  const rows = new Int32Array(data.buffer);
  let offset = 0;
  tensors.forEach((t, k) => {
    const samples = t.shape[0];
    const spatial = t.data.length / (samples * channels);
    const values = new Int32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    let src = 0;
    for (let s = 0; s < samples; s++) {
      for (let c = 0; c < channels; c++) {
        const dst = c * dim + offset + s * spatial;
        if (spatial >= BLOCK_COPY_MIN) {
          rows.set(values.subarray(src, src + spatial), dst);
          src += spatial;
        } else {
          for (let j = 0; j < spatial; j++) rows[dst + j] = values[src++];
        }
      }
    }
    offset += dims[k];
  });
  return { data, rows: channels, dim };
}
