/**
 * Elementwise activations of the IR, their names and their values in TypeScript (for the stages that apply an
 * activation outside ONNX Runtime: derived balanced activations, the in-process MLP statistics pass).
 *
 *   relu(x) = max(x, 0)                  leaky_relu(x) = x for x >= 0, α x otherwise
 *   gelu(x) = x Φ(x) = ½ x (1 + erf(x/√2))   (exact GELU, torch's default)
 *   silu(x) = x σ(x)                     sigmoid(x) = σ(x) = 1 / (1 + e^(−x))        tanh(x)
 *
 * OT fusion is exact for every one of them: a permutation of units commutes with any elementwise map. Balancing
 * is not: an inserted identity unit computes act(I·h) = h only for an activation that is the identity on its own
 * outputs (ReLU: relu(h) = h for h = relu(z) >= 0), so for the others the inserted unit has no activation
 * (`insertedActivation`).
 */
import { ClafusionError } from '../errors.js';
import type { Activation } from './network.js';

const NAMED: readonly unknown[] = ['none', 'relu', 'gelu', 'silu', 'sigmoid', 'tanh'];

/** E_ARG unless `activation` is one of the IR's activations. */
function checkActivation(activation: unknown): void {
  const leaky = activation as { kind?: unknown; alpha?: unknown } | null;
  if (NAMED.includes(activation) || (leaky?.kind === 'leaky_relu' && Number.isFinite(leaky.alpha))) return;
  throw new ClafusionError('E_ARG', `unknown activation ${JSON.stringify(activation)}; use ${NAMED.join(', ')} or { kind: 'leaky_relu', alpha }`);
}

/** The activation's name as the CLI prints it: 'relu', 'gelu', 'leaky_relu(0.1)', ... */
export function activationName(activation: Activation): string {
  checkActivation(activation);
  return typeof activation === 'string' ? activation : `leaky_relu(${activation.alpha})`;
}

/** True when the layer applies no activation. */
export function isLinear(activation: Activation): boolean {
  return activation === 'none';
}

/**
 * The activation of an identity unit inserted in place of a unit with `activation`: the same where act(h) = h on
 * the activation's outputs (ReLU, none), else none, so the inserted unit is the identity.
 */
export function insertedActivation(activation: Activation): Activation {
  return activation === 'relu' ? 'relu' : 'none';
}

/**
 * erf(x) from the complementary error function's Chebyshev fit (Numerical Recipes `erfcc`, fractional error below
 * 1.2e-7 everywhere): below float32 resolution for the GELU values it serves.
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return x >= 0 ? 1 - erfc : erfc - 1;
}

/** The scalar function of an activation. */
export function activationFunction(activation: Activation): (x: number) => number {
  checkActivation(activation);
  if (typeof activation === 'object') {
    const { alpha } = activation;
    return (x) => (x >= 0 ? x : alpha * x);
  }
  switch (activation) {
    case 'none': return (x) => x;
    case 'relu': return (x) => (x > 0 ? x : 0);
    case 'gelu': return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'silu': return (x) => x / (1 + Math.exp(-x));
    case 'sigmoid': return (x) => 1 / (1 + Math.exp(-x));
    case 'tanh': return Math.tanh;
  }
}

/** `activation` applied to every value of `data`, in place (float32 results). */
export function applyActivationInPlace(activation: Activation, data: Float32Array): void {
  if (activation === 'none') return;
  const f = activationFunction(activation);
  for (let i = 0; i < data.length; i++) data[i] = f(data[i]);
}
