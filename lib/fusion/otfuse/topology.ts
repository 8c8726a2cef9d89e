/**
 * Which transport map each weight layer's inputs and outputs use (spec §3.4, §3.7 and DESIGN "Residual streams").
 *
 * Every weight layer is a *slot*; every distinct unit space is a *node* with one map. A slot's inputs are aligned
 * with the map of its input node(s) (the mean of their maps when several, reference mode only), its outputs with
 * the map of its output node.
 *
 * Streams (default): a residual stream is the output of a starter (a plain Layer, or a block with a projection
 * shortcut) followed by identity-shortcut blocks. Everything summed into it (the starter's output layers, every
 * block's last branch layer) shares the stream's ONE map, computed from the stream's activations (the starter's and
 * the blocks' outputs, stacked per channel) or, in weight mode, from the starter's weights. A permuted copy of a
 * ResNet then fuses back exactly.
 *
 * Reference (the published `--handle-skips`): every layer has its own plan from its own pre-activation; after an
 * identity block the stream's map is conv2's plan; after a projection block the next layer's inputs use the mean of
 * the shortcut's and conv2's maps (the shortcut's map alone when the shortcut has a bias or batch-norm).
 */
import type { Layer, Network, Residual, Unit } from '../../ir/network.js';
import { type Tap, outputTap, preactTap } from '../activations.js';

export interface Slot {
  layer: Layer;
  /** Nodes whose maps align this slot's inputs (one, or two averaged in reference mode). */
  inputs: number[];
  output: number;
  /** A layer of the zero branch of a block inserted by balancing (otfuse/weights.ts). */
  zeroBranch: boolean;
}

export type NodeKind = 'input' | 'layer' | 'stream' | 'classifier';

export interface MapNode {
  kind: NodeKind;
  /** Units in this space: the width shared by every slot writing to it. */
  width: number;
  /** Activation mode: the taps whose per-channel values describe the units. */
  taps: Tap[];
  /** Weight mode: the slots whose (input-aligned) weight rows describe the units. */
  costSlots: number[];
  /**
   * The node is the output of an inner layer of the zero branch of an inserted block: that model's activations there
   * are all zero (and its weights too), so every plan is optimal; the node takes the identity map instead (its
   * widths are the deep block's on both sides, see balance/identity.ts).
   */
  degenerate: boolean;
}

export interface Topology {
  slots: Slot[];
  nodes: MapNode[];
}

function isStreamContinuation(unit: Unit | undefined): unit is Residual {
  return unit !== undefined && unit.type === 'residual' && !unit.shortcut;
}

/** The identity-shortcut blocks that follow `index` (they extend the stream started there). */
function followingIdentityBlocks(units: Unit[], index: number): Residual[] {
  const blocks: Residual[] = [];
  for (let k = index + 1; isStreamContinuation(units[k]); k++) blocks.push(units[k] as Residual);
  return blocks;
}

class Builder {
  readonly slots: Slot[] = [];
  readonly nodes: MapNode[] = [];

  node(kind: NodeKind, width: number, taps: Tap[], degenerate = false): number {
    this.nodes.push({ kind, width, taps, costSlots: [], degenerate });
    return this.nodes.length - 1;
  }

  slot(layer: Layer, inputs: number[], output: number, costSlot: boolean, zeroBranch = false): number {
    this.slots.push({ layer, inputs, output, zeroBranch });
    const index = this.slots.length - 1;
    if (costSlot) this.nodes[output].costSlots.push(index);
    return index;
  }

  /** A layer with a map of its own, described by its pre-activation. */
  plainLayer(layer: Layer, inputs: number[], degenerate: boolean, zeroBranch = false): number {
    const node = this.node('layer', layer.op.weight.shape[0], [preactTap(layer)], degenerate);
    this.slot(layer, inputs, node, true, zeroBranch);
    return node;
  }
}

function streamTopology(network: Network, builder: Builder, input: number): number {
  const units = network.segments.flatMap((s) => s.units);
  let current = input;
  units.forEach((unit, index) => {
    const continuation = followingIdentityBlocks(units, index).map(outputTap);
    if (unit.type === 'layer') {
      if (continuation.length === 0) {
        current = builder.plainLayer(unit, [current], false);
        return;
      }
      const stream = builder.node('stream', unit.op.weight.shape[0], [preactTap(unit), ...continuation]);
      builder.slot(unit, [current], stream, true);
      current = stream;
      return;
    }
    const zeroBranch = unit.inserted === true;
    const blockInput = current;
    let inner = blockInput;
    const last = unit.branch[unit.branch.length - 1];
    for (const layer of unit.branch.slice(0, -1)) inner = builder.plainLayer(layer, [inner], zeroBranch, zeroBranch);
    if (!unit.shortcut) {
      // An identity block continues the stream it reads: its branch output is summed into that same space.
      builder.slot(last, [inner], blockInput, false, zeroBranch);
      return;
    }
    const stream = builder.node('stream', last.op.weight.shape[0], [outputTap(unit), ...continuation]);
    builder.slot(last, [inner], stream, true, zeroBranch);
    builder.slot(unit.shortcut, [blockInput], stream, true);
    current = stream;
  });
  return current;
}

function referenceTopology(network: Network, builder: Builder, input: number): number[] {
  let current = [input];
  // Reference mode computes every plan, degenerate or not (as published).
  for (const unit of network.segments.flatMap((s) => s.units)) {
    if (unit.type === 'layer') {
      current = [builder.plainLayer(unit, current, false)];
      continue;
    }
    let inner = current;
    for (const layer of unit.branch) inner = [builder.plainLayer(layer, inner, false, unit.inserted === true)];
    if (!unit.shortcut) {
      current = inner;
      continue;
    }
    const shortcut = builder.plainLayer(unit.shortcut, current, false);
    current = averagesAfterShortcut(unit.shortcut) ? [shortcut, ...inner] : [shortcut];
  }
  return current;
}

/**
 * The published rule 3 (spec §3.7) averages the shortcut's and conv2's maps for the next conv only when that conv
 * is the parameter right after the shortcut's weight (`residual_T_var_idx == idx - 1`). A shortcut bias or
 * batch-norm puts 1-D parameters in between, so then the next conv takes the last plan computed: the shortcut's.
 */
function averagesAfterShortcut(shortcut: Layer): boolean {
  return shortcut.op.bias === undefined && shortcut.batchNorm === undefined;
}

/**
 * The slots and nodes of a network, in forward order (a node's map depends only on earlier slots). The classifier
 * is the last slot; its output node is kind 'classifier' (pinned unless reference mode aligns it).
 */
export function buildTopology(network: Network, reference: boolean): Topology {
  const builder = new Builder();
  const input = builder.node('input', network.input.shape[1] as number, []);
  const last = reference ? referenceTopology(network, builder, input) : [streamTopology(network, builder, input)];
  const classifier = network.classifier;
  const node = builder.node('classifier', classifier.op.weight.shape[0], [preactTap(classifier)]);
  builder.slot(classifier, last, node, true);
  return { slots: builder.slots, nodes: builder.nodes };
}

/**
 * True when node `index` of a pair takes a fixed map, read from no data: the network input, the pinned classifier,
 * or a node degenerate on either side (the zero branch of an inserted block) with the same widths, whose identity
 * map is as optimal as any plan.
 */
export function takesFixedMap(source: Topology, target: Topology, index: number, alignClassifier: boolean): boolean {
  const node = target.nodes[index];
  if (node.kind === 'input' || (node.kind === 'classifier' && !alignClassifier)) return true;
  const theirs = source.nodes[index];
  return theirs !== undefined && (node.degenerate || theirs.degenerate) && theirs.width === node.width;
}

/**
 * True when a layer writing node `index` was inserted by balancing on either side (it copies its inputs): such a
 * node keeps its plan, never a fitted regression map.
 */
export function atInsertedUnit(source: Topology, target: Topology, index: number): boolean {
  const inserted = (topology: Topology) =>
    topology.nodes[index]?.costSlots.some((k) => topology.slots[k].layer.inserted) ?? false;
  return inserted(source) || inserted(target);
}
