/**
 * Alignment units and groups (spec §1.1). The cross-layer alignment matches the hidden units of two networks group by
 * group, one dynamic program per group:
 * - MLP: every hidden dense layer, one group (the flat segment);
 * - plain CNN: every conv, one group per segment (the chunks between poolings);
 * - ResNet: every residual block, one group per stage (segment); a run of plain layers before the blocks (the stem)
 *   is a group of its own, so the stem maps to the stem.
 * A group is a maximal run of units of one kind (Layer or Residual) inside one segment. Both networks must have the
 * same sequence of groups; only the number of units inside a group may differ.
 */
import { ClafusionError } from '../../errors.js';
import type { Network, Unit } from '../../ir/network.js';

export interface AlignmentGroup {
  /** Index of the segment that holds the group. */
  segment: number;
  kind: 'layer' | 'residual';
  /** Unit indices inside the segment, in order. */
  units: number[];
}

/** The network's groups in forward order. */
export function alignmentGroups(network: Network): AlignmentGroup[] {
  const groups: AlignmentGroup[] = [];
  network.segments.forEach((segment, s) => {
    segment.units.forEach((unit, u) => {
      const last = groups[groups.length - 1];
      if (last && last.segment === s && last.kind === unit.type) last.units.push(u);
      else groups.push({ segment: s, kind: unit.type, units: [u] });
    });
  });
  return groups;
}

/** The unit at a group position. */
export function groupUnit(network: Network, group: AlignmentGroup, position: number): Unit {
  return network.segments[group.segment].units[group.units[position]];
}

function describe(groups: AlignmentGroup[]): string {
  return groups.map((g) => `${g.kind === 'layer' ? 'layers' : 'blocks'}×${g.units.length}@seg${g.segment}`).join(', ');
}

/**
 * Checks that two networks have matching groups (same count, kinds and segments) and returns both lists.
 * Different segment structures (e.g. a different number of poolings) cannot be aligned: E_SHAPE.
 */
export function matchingGroups(a: Network, b: Network, names: [string, string]): [AlignmentGroup[], AlignmentGroup[]] {
  const ga = alignmentGroups(a);
  const gb = alignmentGroups(b);
  const compatible = ga.length === gb.length && ga.every((g, i) => g.kind === gb[i].kind && g.segment === gb[i].segment);
  if (!compatible || a.segments.length !== b.segments.length) {
    throw new ClafusionError('E_SHAPE',
      `${names[0]} and ${names[1]} have different segment structures (${a.segments.length} vs ${b.segments.length} segments; ` +
      `groups ${describe(ga)} vs ${describe(gb)}); cross-layer alignment needs the same poolings / stages in both networks, ` +
      'with only the number of layers or blocks inside a segment differing');
  }
  return [ga, gb];
}
