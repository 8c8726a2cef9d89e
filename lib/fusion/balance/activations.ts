/**
 * Activations of a network balanced by adding identity units, derived from the original network's activations
 * instead of running the balanced network again (one ONNX Runtime pass less). Exact, because every inserted unit
 * computes the identity on its input and the original units keep their function:
 *
 * - an inserted Layer's pre-activation = its input = the output of the unit before it;
 * - an inserted Residual block's output = its input; its branch layers' pre-activations are zero (each with its own
 *   width: the inner layers of a compact block are as wide as the deep block's);
 * - a unit's output without its pool (when balancing moved the pool to a later inserted unit) = act(preact);
 * - the inserted unit that received the moved pool outputs the original unit's pooled output.
 *
 * The original activations must hold the `derivationTaps`, and the pre-activations of the original's Layers that the
 * caller reads (they pass through unchanged).
 */
import { ClafusionError } from '../../errors.js';
import { applyActivationInPlace } from '../../ir/activation.js';
import { type Layer, type Network, type Residual, type Unit, layerWidth } from '../../ir/network.js';
import { type ActivationTensor, type Activations, type Tap, tapKey } from '../activations.js';

/**
 * The taps of the original network that `deriveBalancedActivations` reads, beyond those wanted for the original:
 * every unit's output, and the pre-activation of a unit that carries a pool (balancing may move the pool away). Other
 * pre-activations (a block's sum is as large as its output) are not read, so they are not recorded.
 */
export function derivationTaps(network: Network): Tap[] {
  return network.segments.flatMap((s) => s.units).flatMap((unit): Tap[] => [
    ...(unit.pool ? [{ layer: unit.name, point: 'preact' as const }] : []),
    { layer: unit.name, point: 'output' },
  ]);
}

/** Zeros shaped like `t` ([N, C, ...]) with `channels` channels. */
function zerosWithChannels(t: ActivationTensor, channels: number): ActivationTensor {
  const shape = [t.shape[0], channels, ...t.shape.slice(2)];
  return { data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape };
}

function required(acts: Activations, layer: string, point: 'preact' | 'output'): ActivationTensor {
  const tensor = acts.get(tapKey({ layer, point }));
  if (!tensor) throw new ClafusionError('E_ARG', `deriving balanced activations needs ${layer}:${point}`);
  return tensor;
}

/** Output of an original unit without the pool it carried in the original network. */
function unpooledOutput(unit: Unit, acts: Activations): ActivationTensor {
  const preact = required(acts, unit.name, 'preact');
  const data = preact.data.slice();
  applyActivationInPlace(unit.activation, data);
  return { data, shape: preact.shape };
}

/**
 * Activations of `balanced` (the result of balancing `original`) at every unit tap and every branch layer's
 * pre-activation, from `acts` of `original` (see `derivationTaps`) and the network input `input` ([N, ...]).
 */
export function deriveBalancedActivations(original: Network, balanced: Network, acts: Activations, input?: ActivationTensor): Activations {
  const originalUnits = new Map(original.segments.flatMap((s) => s.units).map((u) => [u.name, u]));
  const derived: Activations = new Map(acts);
  let current: ActivationTensor | undefined = input; // what enters the next unit
  let pooledSource: ActivationTensor | undefined; // the pooled output of the unit whose pool moved forward
  const set = (layer: string, point: 'preact' | 'output', t: ActivationTensor) => derived.set(tapKey({ layer, point }), t);
  for (const unit of balanced.segments.flatMap((s) => s.units)) {
    const source = originalUnits.get(unit.name);
    if (source) {
      const movedPool = source.pool !== undefined && unit.pool === undefined;
      if (movedPool) pooledSource = required(acts, unit.name, 'output');
      current = movedPool ? unpooledOutput(source, acts) : required(acts, unit.name, 'output');
      if (movedPool) set(unit.name, 'output', current);
      continue;
    }
    if (!current) throw new ClafusionError('E_ARG', `${unit.name}: an inserted unit at the network input needs the input activations`);
    const entering: ActivationTensor = current;
    if (unit.type === 'layer') setInsertedLayer(unit, entering, set);
    else setInsertedBlock(unit, entering, set);
    current = unit.pool ? (pooledSource ?? failPool(unit)) : entering;
    set(unit.name, 'output', current);
  }
  return derived;
}

function failPool(unit: Unit): never {
  throw new ClafusionError('E_ARG', `${unit.name}: an inserted unit carries a pool that no original unit had`);
}

function setInsertedLayer(layer: Layer, entering: ActivationTensor, set: (layer: string, point: 'preact' | 'output', t: ActivationTensor) => void): void {
  set(layer.name, 'preact', entering);
}

function setInsertedBlock(block: Residual, entering: ActivationTensor, set: (layer: string, point: 'preact' | 'output', t: ActivationTensor) => void): void {
  for (const layer of block.branch) set(layer.name, 'preact', zerosWithChannels(entering, layerWidth(layer)));
  if (block.shortcut) set(block.shortcut.name, 'preact', entering);
  set(block.name, 'preact', entering);
}
