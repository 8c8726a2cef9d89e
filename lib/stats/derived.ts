/**
 * The taps of a network balanced by adding identity units (balanceByAdding), read from a run of the network it came
 * from: every inserted unit computes the identity on its input and the original units keep their function, so each
 * of its taps is a tap of the original network (`balancedTapSources`), and a pass runs the original in its place:
 * - an original unit's taps are its own (its output without its pool, when balancing moved the pool on to a later
 *   inserted unit, is act(preact));
 * - an inserted Layer's pre-activation and output are what enters it (the output of the unit before);
 * - an inserted Residual block's output is its input; its branch layers' pre-activations are zero;
 * - the inserted unit that received the moved pool outputs the original unit's pooled output.
 */
import { ClafusionError } from '../errors.js';
import type { Network, Unit } from '../ir/network.js';
import { type Tap, tapKey } from '../fusion/activations.js';
import type { TapOutputs } from './statistics.js';

/** Where a tap's values come from: an original tap (with ReLU applied where `relu`), or zeros. */
export type TapSource = { tap: Tap; relu: boolean } | { zero: true };

const same = (layer: string, point: Tap['point']): TapSource => ({ tap: { layer, point }, relu: false });

/** An original unit's own taps, all passed through. */
function ownTaps(unit: Unit, set: (layer: string, point: Tap['point'], source: TapSource) => void): void {
  set(unit.name, 'preact', same(unit.name, 'preact'));
  if (unit.type === 'layer') return;
  for (const layer of unit.branch) set(layer.name, 'preact', same(layer.name, 'preact'));
  if (unit.shortcut) set(unit.shortcut.name, 'preact', same(unit.shortcut.name, 'preact'));
}

/**
 * The source in `original` of every tap of `balanced` (balanceByAdding(deep, original, ...)), by tapKey; undefined
 * when it cannot be derived (a unit inserted before the first original one reads the network input, or a moved pool
 * follows an activation other than ReLU).
 */
export function balancedTapSources(original: Network, balanced: Network): Map<string, TapSource> | undefined {
  const originalUnits = new Map(original.segments.flatMap((s) => s.units).map((u) => [u.name, u]));
  const sources = new Map<string, TapSource>();
  const set = (layer: string, point: Tap['point'], source: TapSource) => sources.set(tapKey({ layer, point }), source);
  let current: TapSource | undefined; // what enters the next unit
  let pooled: TapSource | undefined; // the pooled output of the unit whose pool moved forward
  for (const unit of balanced.segments.flatMap((s) => s.units)) {
    const source = originalUnits.get(unit.name);
    if (source) {
      ownTaps(unit, set);
      const movedPool = source.pool !== undefined && unit.pool === undefined;
      if (movedPool && source.activation !== 'relu' && source.activation !== 'none') return undefined;
      if (movedPool) pooled = same(unit.name, 'output');
      current = movedPool ? { tap: { layer: unit.name, point: 'preact' }, relu: source.activation === 'relu' } : same(unit.name, 'output');
      set(unit.name, 'output', current);
      continue;
    }
    if (!current) return undefined;
    set(unit.name, 'preact', current);
    if (unit.type === 'residual') {
      for (const layer of unit.branch) set(layer.name, 'preact', { zero: true });
      if (unit.shortcut) set(unit.shortcut.name, 'preact', current);
    }
    if (unit.pool && !pooled) throw new ClafusionError('E_ARG', `${unit.name}: an inserted unit carries a pool that no original unit had`);
    current = unit.pool ? pooled! : current;
    set(unit.name, 'output', current);
  }
  set(balanced.classifier.name, 'preact', same(original.classifier.name, 'preact'));
  return sources;
}

/**
 * What balancing makes known about the taps of a derived network (by tapKey): `zeros`, the taps that are all zeros
 * (their sums are exactly 0 and need no work), and `values`, the key of the values behind each other tap (its
 * original tap, and whether ReLU'd): taps with one key hold the same values, so their moments are computed once.
 */
export interface KnownTaps {
  zeros: Set<string>;
  values: Map<string, string>;
}

export function knownTaps(sources: Map<string, TapSource> | undefined): KnownTaps {
  const known: KnownTaps = { zeros: new Set(), values: new Map() };
  for (const [key, source] of sources ?? []) {
    if ('zero' in source) known.zeros.add(key);
    else known.values.set(key, `${tapKey(source.tap)}${source.relu ? '|relu' : ''}`);
  }
  return known;
}

/**
 * The outputs of a balanced network's `taps` for `samples` samples, from `original`, the outputs of a run of the
 * network it came from at the source taps: views of them, a ReLU'd copy, or zeros (arrays of `zeros`, by length,
 * shared and never written, so a pass allocates each size once). `valuesOf(tap)` gives a tap's values per sample in
 * the balanced network.
 */
export function derivedChunk(original: TapOutputs, sources: Map<string, TapSource>, samples: number, taps: Tap[],
  valuesOf: (tap: Tap) => number, zeros = new Map<number, Float32Array>()): TapOutputs {
  const chunk: TapOutputs = new Map();
  for (const tap of taps) {
    const key = tapKey(tap);
    const source: TapSource = sources.get(key) ?? { tap, relu: false };
    if ('zero' in source) {
      const length = samples * valuesOf(tap);
      if (!zeros.has(length)) zeros.set(length, new Float32Array(length));
      chunk.set(key, zeros.get(length)!);
      continue;
    }
    const data = original.get(tapKey(source.tap));
    if (!data) throw new ClafusionError('E_ARG', `no outputs at ${tapKey(source.tap)} for ${key}`);
    chunk.set(key, source.relu ? data.map((v) => (v > 0 ? v : 0)) : data);
  }
  return chunk;
}
