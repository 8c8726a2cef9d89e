/**
 * Balancing by adding identity units (spec §2.1, `add`, the default): the shallower network gets an identity unit at
 * every deep position that no shallow unit is mapped to, so both networks have the same units in the same order
 * while the shallower one computes exactly the same function. An inserted unit has the width of the unit before it
 * (the group's input width when it comes first) and mirrors the deep unit it stands in for.
 */
import type { Network, Pool, Unit } from '../../ir/network.js';
import { cloneNetwork, unitWidth } from '../../ir/network.js';
import { networkShapes } from '../../graph/shapes.js';
import { alignmentGroups, groupUnit } from '../cla/groups.js';
import type { GroupAlignment } from '../cla/index.js';
import { identityBlock, identityLayer } from './identity.js';

/** Width of what enters unit `unitIndex` of segment `segmentIndex` (channels, or features after a flatten). */
function widthBefore(network: Network, segmentIndex: number, unitIndex: number): number {
  const position = network.segments.slice(0, segmentIndex).reduce((sum, s) => sum + s.units.length, 0) + unitIndex;
  return networkShapes(network).units[position].input[0];
}

function insertedUnit(template: Unit, width: number): Unit {
  return template.type === 'layer' ? identityLayer(template, width) : identityBlock(template, width);
}

function takePool(unit: Unit): Pool | undefined {
  const pool = unit.pool;
  delete unit.pool;
  return pool;
}

/**
 * The balanced units of one group: deep positions 1..m, filled with the mapped shallow units (`mapping[k]` = 1-based
 * deep position of shallow unit k) and identity units elsewhere. A pooling that closed the shallow group moves to
 * the group's new last unit, so identities placed after the last matched unit still run before the pool.
 */
function balanceGroup(deepUnits: Unit[], shallowUnits: Unit[], mapping: number[], inputWidth: number): Unit[] {
  const byPosition = new Map<number, Unit>();
  mapping.forEach((position, k) => byPosition.set(position, shallowUnits[k]));
  const closingPool = takePool(shallowUnits[shallowUnits.length - 1]);
  const balanced: Unit[] = [];
  let width = inputWidth;
  deepUnits.forEach((deepUnit, p) => {
    const unit = byPosition.get(p + 1) ?? insertedUnit(deepUnit, width);
    balanced.push(unit);
    width = unitWidth(unit);
  });
  if (closingPool) balanced[balanced.length - 1].pool = closingPool;
  return balanced;
}

/**
 * A copy of `shallow` balanced against `deep` with the per-group mappings of the cross-layer alignment. The result
 * has deep's units in deep's order (identities marked `inserted: true`) and computes shallow's function.
 */
export function balanceByAdding(deep: Network, shallow: Network, groups: GroupAlignment[]): Network {
  const balanced = cloneNetwork(shallow);
  const deepGroups = alignmentGroups(deep);
  const shallowGroups = alignmentGroups(balanced);
  const newUnits: Unit[][] = balanced.segments.map(() => []);
  // Read before balancing moves any pool.
  const inputWidths = shallowGroups.map((group) => widthBefore(balanced, group.segment, group.units[0]));
  shallowGroups.forEach((group, g) => {
    const deepUnits = deepGroups[g].units.map((_, p) => groupUnit(deep, deepGroups[g], p));
    const shallowUnits = group.units.map((_, p) => groupUnit(balanced, group, p));
    newUnits[group.segment].push(...balanceGroup(deepUnits, shallowUnits, groups[g].mapping, inputWidths[g]));
  });
  balanced.segments.forEach((segment, s) => { segment.units = newUnits[s]; });
  return balanced;
}
