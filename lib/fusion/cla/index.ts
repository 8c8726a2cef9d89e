/**
 * Cross-layer alignment (spec §1): per alignment group, an m x n cost between the deep network's units (rows) and
 * the shallow network's (columns), then the dynamic program `claAlign` (monotone, injective, pins s and f) picks
 * which deep unit each shallow unit stands for.
 *
 * Unit representations (taps): a Layer's pre-activation ('preact' tap, as published), a Residual block's output
 * (after the sum and the ReLU). The published code measured a block by its last parameter layer instead: conv2's
 * pre-activation, or the 1x1 shortcut conv's output in a downsampling block (§1.1); `reference` does that.
 */
import { ClafusionError } from '../../errors.js';
import type { Network, Unit } from '../../ir/network.js';
import { unitWidth } from '../../ir/network.js';
import { claAlign } from '../../solvers/cla.js';
import type { StatisticsRequest } from '../../stats/statistics.js';
import { type Tap, outputTap, preactTap } from '../activations.js';
import { type AlignmentGroup, groupUnit, matchingGroups } from './groups.js';
import { type ClaStatistics, type LayerCost, ckaCost, neuronCost, wassersteinCost } from './costs.js';

export type { ClaStatistics, LayerCost } from './costs.js';

export interface ClaOptions {
  /** Layer cost; default 'cka' when statistics are given, else 'neuron'. */
  cost?: LayerCost;
  /** s: the first s−1 units of every group are pinned (default 2, as published). */
  startLayer?: number;
  /** f: the last f units of every group are pinned (default 1, as published). */
  pinnedEnd?: number;
  /** Measure residual blocks as the published code did (see the module comment). */
  reference?: boolean;
}

export interface GroupAlignment {
  segment: number;
  kind: 'layer' | 'residual';
  deepUnits: string[];
  shallowUnits: string[];
  /** mapping[k] = 1-based position, inside the group, of the deep unit matched to shallow unit k. */
  mapping: number[];
  /** The m x n cost matrix, rows = deep units. */
  cost: number[][];
  totalCost: number;
}

export interface Alignment {
  cost: LayerCost;
  groups: GroupAlignment[];
  /** Over all hidden units: mapping[k] = 1-based index of the deep hidden unit matched to shallow hidden unit k. */
  mapping: number[];
}

/** The tap that represents a unit in the layer cost. */
export function representationTap(unit: Unit, reference = false): Tap {
  if (unit.type === 'layer') return preactTap(unit);
  if (!reference) return outputTap(unit);
  return preactTap(unit.shortcut ?? unit.branch[unit.branch.length - 1]);
}

/** Every hidden unit's representation tap, in order. */
export function representationTaps(network: Network, reference = false): Tap[] {
  return network.segments.flatMap((segment) => segment.units.map((unit) => representationTap(unit, reference)));
}

function unitsOf(network: Network, group: AlignmentGroup): Unit[] {
  return group.units.map((_, p) => groupUnit(network, group, p));
}

async function groupCost(cost: LayerCost, deep: Unit[], shallow: Unit[], stats: ClaStatistics | undefined, reference: boolean): Promise<Float64Array> {
  if (cost === 'neuron') return neuronCost(deep.map(unitWidth), shallow.map(unitWidth));
  if (!stats) throw new ClafusionError('E_ARG', `the '${cost}' layer cost needs activation statistics: give data, or use the 'neuron' cost`);
  const deepTaps = deep.map((u) => representationTap(u, reference));
  const shallowTaps = shallow.map((u) => representationTap(u, reference));
  return cost === 'cka' ? ckaCost(deepTaps, shallowTaps, stats) : wassersteinCost(deepTaps, shallowTaps, stats);
}

/**
 * What the alignment reads from a streaming pass where the deep network is model `deep` and the shallow one model
 * `shallow`: the Gram of every representation tap ('cka'), or the cross moments of every deep and shallow unit of
 * a group ('wasserstein'); nothing for 'neuron'.
 */
export function alignmentRequest(deepNetwork: Network, shallowNetwork: Network, deep: number, shallow: number, cost: LayerCost, reference = false): StatisticsRequest {
  const request: StatisticsRequest = { grams: [], channels: [], cross: [] };
  if (cost === 'cka') {
    request.grams.push(...representationTaps(deepNetwork, reference).map((tap) => ({ model: deep, tap })));
    request.grams.push(...representationTaps(shallowNetwork, reference).map((tap) => ({ model: shallow, tap })));
  } else if (cost === 'wasserstein') {
    const [deepGroups, shallowGroups] = matchingGroups(deepNetwork, shallowNetwork, ['the deeper network', 'the shallower network']);
    deepGroups.forEach((group, g) => {
      for (const d of unitsOf(deepNetwork, group)) {
        for (const s of unitsOf(shallowNetwork, shallowGroups[g])) {
          request.cross.push({ a: deep, tapsA: [representationTap(d, reference)], b: shallow, tapsB: [representationTap(s, reference)] });
        }
      }
    });
  }
  return request;
}

function toRows(flat: Float64Array, m: number, n: number): number[][] {
  return Array.from({ length: m }, (_, i) => Array.from(flat.subarray(i * n, (i + 1) * n)));
}

/**
 * Aligns the units of `shallow` to those of `deep`, group by group. `stats` holds what `alignmentRequest` asks for
 * (needed for the 'cka' and 'wasserstein' costs).
 */
export async function crossLayerAlignment(deep: Network, shallow: Network, options: ClaOptions = {}, stats?: ClaStatistics): Promise<Alignment> {
  const cost = options.cost ?? (stats ? 'cka' : 'neuron');
  const reference = options.reference ?? false;
  const [deepGroups, shallowGroups] = matchingGroups(deep, shallow, ['the deeper network', 'the shallower network']);
  const groups: GroupAlignment[] = [];
  const mapping: number[] = [];
  let deepOffset = 0;
  for (let g = 0; g < deepGroups.length; g++) {
    const deepUnits = unitsOf(deep, deepGroups[g]);
    const shallowUnits = unitsOf(shallow, shallowGroups[g]);
    const [m, n] = [deepUnits.length, shallowUnits.length];
    if (n > m) {
      throw new ClafusionError('E_SHAPE',
        `segment ${deepGroups[g].segment}: the shallower network has more ${deepGroups[g].kind === 'layer' ? 'layers' : 'blocks'} (${n}) than the deeper one (${m}); ` +
        'networks that are deeper in one segment and shallower in another cannot be aligned');
    }
    const matrix = await groupCost(cost, deepUnits, shallowUnits, stats, reference);
    const result = claAlign(matrix, m, n, { startLayer: options.startLayer ?? 2, pinnedEnd: options.pinnedEnd ?? 1 });
    groups.push({
      segment: deepGroups[g].segment,
      kind: deepGroups[g].kind,
      deepUnits: deepUnits.map((u) => u.name),
      shallowUnits: shallowUnits.map((u) => u.name),
      mapping: result.mapping,
      cost: toRows(matrix, m, n),
      totalCost: result.totalCost,
    });
    mapping.push(...result.mapping.map((p) => p + deepOffset));
    deepOffset += m;
  }
  return { cost, groups, mapping };
}

/** Total number of alignment units (hidden units) of a network: its depth for the deep/shallow decision. */
export function hiddenDepth(network: Network): number {
  return network.segments.reduce((sum, segment) => sum + segment.units.length, 0);
}
