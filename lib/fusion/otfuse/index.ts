/**
 * Layer-wise OT fusion (spec §3, pseudo-code §3.9), for one target and one or more sources of the same structure
 * (after balancing). Every source is transported into the target's basis, layer by layer in forward order, and the
 * aligned parameters are averaged:
 *
 *   Ŵ_s = W_s · T̂_in          (inputs; tap by tap for convs, C x HW blocks across a flatten)
 *   fused = w_t · W_t + Σ_s w_s · T̂_outᵀ Ŵ_s
 *
 * with T̂ the column-normalised OT plan between the source's and the target's units of that layer (see topology.ts
 * for which layers share a map). Biases and batch-norm vectors (scale, shift, running mean, running variance) are
 * aligned with T̂_outᵀ and averaged the same way; a side without a bias counts as a zero bias. The fused network has
 * the target's widths. The classifier's outputs are pinned (classes are already aligned) unless `alignClassifier`.
 *
 * The inner layers of the zero branch of a residual block inserted by balancing have a degenerate cost (one side is
 * all zero, so every plan costs the same): they take the identity map, not an arbitrary optimal plan. Their widths
 * are the deep block's on both sides (compact balancing), so the fused block is the deep block's inner units in their
 * own order, which any permutation would only relabel; its last layer writes the stream, whose map is shared anyway.
 * Inserted identity Layers get a real plan: their outputs copy their inputs, but the deep layer they stand in for has
 * a new unit order of its own.
 *
 * With `regression`, each plan is replaced by two regression maps fitted around it (regression.ts): outputs move
 * with Tᵀ, the next layer's inputs with Rᵀ. Batch-norm vectors move with the plan (they are per-unit statistics, and
 * the repair sets them again), and a BN layer's rows are mapped in the folded view (`accumulateThroughBatchNorm`).
 * Nodes written by inserted units keep their plans.
 */
import { ClafusionError, throwIfAborted } from '../../errors.js';
import type { BatchNorm, Layer, Network } from '../../ir/network.js';
import { cloneNetwork } from '../../ir/network.js';
import { type DeviceOption } from '../../solvers/device.js';
import { PREVIEW_MAPS, type PlanPreview, planPreview } from './preview.js';
import { momentDistances } from '../../stats/ground.js';
import { correlationCost, stackMoments } from './costs.js';
import type { Statistics, StatisticsRequest } from '../../stats/statistics.js';
import { preactTap } from '../activations.js';
import type { UnitStatistics } from '../repair.js';
import { type UnitMap, accumulateMappedOutputs, identityMap, mapInputs, mapOutputs, unitMap } from '../transport.js';
import { type Ground, type GroundMetric, type Marginals, type PlanDiagnostics, type PlanOptions, type Points, type Solver, transportMap, weightGround } from './solve.js';
import { type NodeMoments, regressionMaps } from './regression.js';
import { type MapNode, type Slot, type Topology, atInsertedUnit, buildTopology, takesFixedMap } from './topology.js';
import { slotWeights } from './weights.js';
import type { RefitSide, RefitTarget } from '../refit.js';

export interface OtFuseOptions {
  /** Ground cost from activation statistics (needs `stats`) or from incoming-aligned weights. */
  mode: 'activations' | 'weights';
  metric?: GroundMetric;
  marginals?: Marginals;
  solver?: Solver;
  /** Sinkhorn regularisation relative to the median ground cost (default 0.01). */
  reg?: number;
  /** The published behaviour: per-layer plans with the skip rules of §3.7, +1e-7 correction, no passthrough. */
  reference?: boolean;
  /** OT-align the classifier's outputs too (published default; implied by `reference`). */
  alignClassifier?: boolean;
  /** Where the pairwise distances and Sinkhorn run: 'auto' (default), 'cpu' or 'cuda' (lib/solvers/device.ts). */
  device?: DeviceOption;
  /**
   * Activation mode: replace each OT plan by regression maps fitted on the activation moments, with this ridge
   * towards the plan (regression.ts); undefined keeps the plans.
   */
  regression?: number;
  /**
   * The weight the models with a real block share where balancing inserted a zero-branch block into the others
   * (weights.ts); 'weights' (default) keeps the averaging weights there too.
   */
  unmatchedBlockWeight?: number | 'weights';
  /** Also return each hidden layer's target statistics for the repair (activation mode; see repair.ts). */
  statistics?: boolean;
  /** Also return every layer's refit target (refit.ts). */
  refit?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface LayerDiagnostics {
  /** The target layer whose output units the map aligns (the first of its group). */
  layer: string;
  source: number;
  rows: number;
  cols: number;
  /** <T, M>; 0 for maps passed through or pinned. */
  cost: number;
  iterations: number;
  method: string;
  ms: number;
  /** For each target unit, the source unit with the largest share in it (the matching, for a permutation plan). */
  matching: number[];
  /** A small picture of T̂, for the first PREVIEW_MAPS maps of each source (see preview.ts). */
  plan?: PlanPreview;
}

export interface OtFuseResult {
  network: Network;
  diagnostics: LayerDiagnostics[];
  /** Per hidden layer of the fused network: the weighted mean of the models' aligned pre-activation statistics. */
  statistics?: Map<string, UnitStatistics>;
  /** Per layer of the fused network, in forward order: what the refit fits it to (sides: the sources, then the target). */
  refitTargets?: RefitTarget[];
}

type Resolved = Required<Omit<OtFuseOptions, 'signal' | 'onProgress' | 'statistics' | 'regression' | 'refit'>> &
  Pick<OtFuseOptions, 'regression'>;

interface Side {
  network: Network;
  topology: Topology;
  /** The network's model index in the streamed statistics. */
  model?: number;
}

/**
 * Where the streamed statistics of the fusion are (activation mode, and the repair's targets): the pass, and each
 * network's model index in it (`sources[s]` for source s).
 */
export interface OtStatistics {
  statistics: Statistics;
  sources: number[];
  target: number;
}

function describeSlot(slot: Slot): string {
  const op = slot.layer.op;
  const kernel = op.kind === 'conv' ? `${op.weight.shape.slice(2).join('x')}/s${op.stride.join(',')}` : 'dense';
  return `${op.kind}:${kernel}:bn${slot.layer.batchNorm ? 1 : 0}:${slot.inputs.join('+')}>${slot.output}`;
}

/** Both networks must have the same slots and nodes (same units, kernels, strides, batch-norms) after balancing. */
function checkSameStructure(target: Topology, source: Topology, index: number): void {
  const a = target.slots.map(describeSlot);
  const b = source.slots.map(describeSlot);
  const k = a.findIndex((d, i) => d !== b[i]);
  if (a.length !== b.length || k >= 0 || target.nodes.length !== source.nodes.length) {
    const where = k >= 0 ? ` at ${target.slots[k].layer.name} (${a[k]}) vs ${source.slots[k].layer.name} (${b[k]})` : ` (${a.length} vs ${b.length} layers)`;
    throw new ClafusionError('E_SHAPE', `model ${index} does not have the target's structure after balancing${where}; the fused layers must match one to one`);
  }
}

/** Per-channel vectors of a layer in a fixed order: bias, then BN scale, shift, mean, variance. */
function layerVectors(layer: Layer, withBias: boolean, withBatchNorm: boolean): Float64Array[] {
  const width = layer.op.weight.shape[0];
  const vectors: Float64Array[] = [];
  if (withBias) vectors.push(layer.op.bias ? Float64Array.from(layer.op.bias) : new Float64Array(width));
  if (withBatchNorm) {
    const bn = layer.batchNorm as BatchNorm;
    vectors.push(Float64Array.from(bn.scale), Float64Array.from(bn.bias), Float64Array.from(bn.mean), Float64Array.from(bn.variance));
  }
  return vectors;
}

/** One cost slot's description of a layer's units: its weight rows and its per-unit vectors. */
interface FeaturePart {
  weight: ArrayLike<number>;
  vectors: Float64Array[];
}

/**
 * Points = units: row u = [part₁ weight row u | part₁ vectors at u | part₂ …], written straight into float32 (each
 * value rounds once, as Float32Array.from would round the float64 rows).
 */
function featurePoints(parts: FeaturePart[], units: number): Points {
  const inners = parts.map((p) => p.weight.length / units);
  const dim = parts.reduce((sum, p, k) => sum + inners[k] + p.vectors.length, 0);
  const data = new Float32Array(units * dim);
  let at = 0;
  for (let u = 0; u < units; u++) {
    parts.forEach(({ weight, vectors }, k) => {
      const inner = inners[k];
      for (let i = u * inner; i < (u + 1) * inner; i++) data[at++] = weight[i];
      for (const v of vectors) data[at++] = v[u];
    });
  }
  return { data, rows: units, dim };
}

class PairFusion {
  private readonly maps = new Map<number, UnitMap>();
  /** With regression maps: the input-side map of each node (`maps` holds the output side) and the OT plans. */
  private readonly inputMaps = new Map<number, UnitMap>();
  private readonly plans = new Map<number, UnitMap>();
  /** Ŵ per slot: weight mode reads it for the cost, then the fusion for the average. */
  private readonly aligned = new Map<number, Float64Array>();
  readonly diagnostics: LayerDiagnostics[] = [];

  constructor(
    private readonly source: Side,
    private readonly target: Side,
    private readonly sourceIndex: number,
    private readonly options: Resolved,
    private readonly statistics?: Statistics,
  ) {}

  private get planOptions(): PlanOptions {
    const o = this.options;
    return { metric: o.metric, marginals: o.marginals, solver: o.solver, reg: o.reg, correctionEpsilon: o.reference ? 1e-7 : 0, device: o.device };
  }

  private withBias(slot: number): boolean {
    return this.source.topology.slots[slot].layer.op.bias !== undefined || this.target.topology.slots[slot].layer.op.bias !== undefined;
  }

  private withBatchNorm(slot: number): boolean {
    const a = this.source.topology.slots[slot].layer.batchNorm !== undefined;
    if (a !== (this.target.topology.slots[slot].layer.batchNorm !== undefined)) {
      throw new ClafusionError('E_SHAPE', `${this.target.topology.slots[slot].layer.name}: one model has batch-norm there and the other not`);
    }
    return a;
  }

  /** Ŵ = W·T̂_in for the source's layer at `slot` (the mean map where there are several inputs). */
  async alignedInputs(slot: number): Promise<Float64Array> {
    const known = this.aligned.get(slot);
    if (known) return known;
    const { layer, inputs } = this.source.topology.slots[slot];
    const maps = await Promise.all(inputs.map(async (node) => {
      const map = await this.map(node);
      return this.inputMaps.get(node) ?? map;
    }));
    let map = maps[0];
    if (maps.length > 1) {
      const mean = new Float64Array(map.data.length);
      for (const m of maps) for (let k = 0; k < mean.length; k++) mean[k] += m.data[k] / maps.length;
      map = unitMap(mean, map.rows, map.cols);
    }
    const aligned = mapInputs(layer.op.weight.data, layer.op.weight.shape[0], map);
    this.aligned.set(slot, aligned);
    return aligned;
  }

  /** Drops the cached Ŵ of a slot once it is fused (the cache would otherwise hold a float64 copy of the model). */
  release(slot: number): void {
    this.aligned.delete(slot);
  }

  private async weightGround(index: number): Promise<Ground> {
    const node = this.target.topology.nodes[index];
    const sourceParts: FeaturePart[] = [];
    const targetParts: FeaturePart[] = [];
    for (const slot of node.costSlots) {
      const bias = this.withBias(slot);
      const bn = this.withBatchNorm(slot);
      const s = this.source.topology.slots[slot].layer;
      const t = this.target.topology.slots[slot].layer;
      sourceParts.push({ weight: await this.alignedInputs(slot), vectors: layerVectors(s, bias, bn) });
      targetParts.push({ weight: t.op.weight.data, vectors: layerVectors(t, bias, bn) });
    }
    const source: Points = featurePoints(sourceParts, this.source.topology.nodes[index].width);
    return weightGround(source, featurePoints(targetParts, node.width), this.planOptions);
  }

  /**
   * The ground cost at node `index` from the streamed statistics: the moments of the node's taps (the same taps, one
   * to one, on both sides after balancing) summed, as the distances between the stacked points of those taps.
   */
  private activationGround(index: number): Ground {
    const statistics = this.statistics;
    const [s, t] = [this.source.model, this.target.model];
    if (!statistics || s === undefined || t === undefined) {
      throw new ClafusionError('E_ARG', 'activation-based fusion needs activation statistics; give data or use weight mode');
    }
    const sourceTaps = this.source.topology.nodes[index].taps;
    const targetTaps = this.target.topology.nodes[index].taps;
    const moments = statistics.moments(s, sourceTaps, t, targetTaps);
    const [rows, cols] = [moments.rowSquares.length, moments.colSquares.length];
    if (this.options.metric !== 'correlation') return { cost: momentDistances(moments, this.options.metric), rows, cols };
    // The correlation also needs each unit's sums, which the cross requests keep beside the squares.
    const units = (model: number, taps: typeof sourceTaps) => taps.map((tap) => statistics.channels(model, tap));
    return { cost: correlationCost(stackMoments(units(s, sourceTaps), units(t, targetTaps), moments.cross)), rows, cols };
  }

  private async solve(index: number): Promise<UnitMap> {
    const node = this.target.topology.nodes[index];
    const ground = this.options.mode === 'activations' ? this.activationGround(index) : await this.weightGround(index);
    const weightRows = this.options.marginals === 'uniform' ? undefined : this.importanceRows(node);
    const { map, diagnostics } = await transportMap(ground, this.planOptions, weightRows);
    this.record(index, map, diagnostics);
    return map;
  }

  private record(index: number, map: UnitMap, diagnostics: PlanDiagnostics): void {
    const node = this.target.topology.nodes[index];
    this.diagnostics.push({
      layer: this.target.topology.slots[node.costSlots[0]].layer.name, source: this.sourceIndex, rows: map.rows, cols: map.cols, ...diagnostics, matching: matchingOf(map),
      ...(this.diagnostics.length < PREVIEW_MAPS ? { plan: planPreview(map) } : {}),
    });
  }

  /** Each model's own weights at the node's first cost slot, for importance marginals. */
  private importanceRows(node: MapNode): [ArrayLike<number>, ArrayLike<number>] {
    const slot = node.costSlots[0];
    return [this.source.topology.slots[slot].layer.op.weight.data, this.target.topology.slots[slot].layer.op.weight.data];
  }

  /** The map of node `index`, computed once. */
  async map(index: number): Promise<UnitMap> {
    const known = this.maps.get(index);
    if (known) return known;
    const [source, target] = [this.source.topology, this.target.topology];
    let map: UnitMap;
    if (takesFixedMap(source, target, index, this.options.alignClassifier)) {
      map = this.fixedMap(index);
    } else {
      map = await this.solve(index);
      if (this.options.regression !== undefined && !atInsertedUnit(source, target, index)) map = this.regress(index, map);
    }
    this.maps.set(index, map);
    return map;
  }

  /** The identity map of a node that takes a fixed map (takesFixedMap); the input and the classes must agree. */
  private fixedMap(index: number): UnitMap {
    const node = this.target.topology.nodes[index];
    const sourceWidth = this.source.topology.nodes[index].width;
    if (sourceWidth !== node.width) {
      throw new ClafusionError('E_SHAPE', node.kind === 'input'
        ? `the models take inputs with different channel counts (${sourceWidth} vs ${node.width})`
        : `the models have different class counts (${sourceWidth} vs ${node.width})`);
    }
    return identityMap(node.width);
  }

  /** The OT plan of node `index` (the map itself unless regression maps replaced it): the repair's alignment. */
  async plan(index: number): Promise<UnitMap> {
    const map = await this.map(index);
    return this.plans.get(index) ?? map;
  }

  /** The regression maps of node `index` around its plan; returns the output-side map. */
  private regress(index: number, plan: UnitMap): UnitMap {
    const statistics = this.statistics!;
    const [s, t] = [this.source.model!, this.target.model!];
    const sourceTaps = this.source.topology.nodes[index].taps;
    const targetTaps = this.target.topology.nodes[index].taps;
    const moments: NodeMoments = {
      count: sourceTaps.reduce((n, tap) => n + statistics.channels(s, tap).count, 0),
      source: statistics.moments(s, sourceTaps, s, sourceTaps).cross,
      target: statistics.moments(t, targetTaps, t, targetTaps).cross,
      cross: statistics.moments(s, sourceTaps, t, targetTaps).cross,
    };
    const maps = regressionMaps(plan, moments, this.options.regression!);
    this.plans.set(index, plan);
    this.inputMaps.set(index, maps.inputs);
    return maps.outputs;
  }
}

/** argmax over each column of T̂ (ties: the first source unit). */
function matchingOf(map: UnitMap): number[] {
  return Array.from({ length: map.cols }, (_, j) => {
    let best = 0;
    for (let i = 1; i < map.rows; i++) if (map.data[i * map.cols + j] > map.data[best * map.cols + j]) best = i;
    return best;
  });
}

/** Weighted sum of the target's and the aligned sources' values for one parameter. */
function accumulate(total: Float64Array, values: ArrayLike<number>, weight: number): void {
  for (let k = 0; k < total.length; k++) total[k] += weight * values[k];
}

interface FusedParameters {
  weight: Float64Array;
  bias?: Float64Array;
  batchNorm?: Float64Array[];
}

/** Per unit, the factor s = γ / √(var + ε) by which a batch-norm scales its layer's weight rows. */
function batchNormScales(layer: Layer): Float64Array {
  const bn = layer.batchNorm as BatchNorm;
  return Float64Array.from(bn.scale, (g, c) => g / Math.sqrt(bn.variance[c] + bn.epsilon));
}

/**
 * total += weight · diag(1/u) · Tᵀ · diag(s_s) · Ŵ_s for a layer with batch-norm and a regression map T: the map was
 * fitted on what the layers output after their batch-norms, so the source's rows are scaled by its BN (folded),
 * mapped, and brought back to the target's scale u = s_t (the source's scale through the plan where the target's is
 * 0, as in an inserted block's last layer). Only the rows' directions reach the fused BN's output once the repair
 * normalises it, but the target's and the source's rows must be on one scale to be averaged.
 */
function accumulateThroughBatchNorm(total: Float64Array, aligned: Float64Array, source: Layer, target: Layer,
  maps: { out: UnitMap; plan: UnitMap }, weight: number): void {
  const sourceScales = batchNormScales(source);
  const rows = maps.out.rows;
  const inner = aligned.length / rows;
  const folded = aligned.map((v, k) => v * sourceScales[Math.floor(k / inner)]);
  const mapped = new Float64Array(total.length);
  accumulateMappedOutputs(mapped, folded, maps.out, weight);
  const targetScales = batchNormScales(target);
  const throughPlan = mapOutputs(sourceScales, maps.plan);
  for (let c = 0; c < maps.out.cols; c++) {
    const u = targetScales[c] !== 0 ? targetScales[c] : throughPlan[c] !== 0 ? throughPlan[c] : 1;
    for (let k = c * inner; k < (c + 1) * inner; k++) total[k] += mapped[k] / u;
  }
}

/** The averaging weights at `slot` (weights.ts): the sources', then the target's. */
function weightsAt(slot: number, sources: Side[], target: Side, weights: number[], unmatched: number | 'weights'): number[] {
  const zeroBranch = [...sources, target].map((side) => side.topology.slots[slot].zeroBranch);
  return slotWeights(weights, zeroBranch, unmatched);
}

async function fuseSlot(slot: number, pairs: PairFusion[], sources: Side[], target: Side, weights: number[]): Promise<FusedParameters> {
  const t = target.topology.slots[slot];
  const withBias = [t, ...sources.map((s) => s.topology.slots[slot])].some((s) => s.layer.op.bias !== undefined);
  const withBatchNorm = t.layer.batchNorm !== undefined;
  const targetWeight = weights[weights.length - 1];
  const fused: FusedParameters = { weight: new Float64Array(t.layer.op.weight.data.length) };
  accumulate(fused.weight, t.layer.op.weight.data, targetWeight);
  const vectors = layerVectors(t.layer, withBias, withBatchNorm).map((v) => v.map((x) => x * targetWeight));
  for (let s = 0; s < pairs.length; s++) {
    const slotS = sources[s].topology.slots[slot];
    const out = await pairs[s].map(slotS.output);
    const plan = await pairs[s].plan(slotS.output);
    const aligned = await pairs[s].alignedInputs(slot);
    if (withBatchNorm && out !== plan) {
      accumulateThroughBatchNorm(fused.weight, aligned, slotS.layer, t.layer, { out, plan }, weights[s]);
    } else {
      accumulateMappedOutputs(fused.weight, aligned, out, weights[s]);
    }
    pairs[s].release(slot);
    // Batch-norm vectors are per-unit statistics, not values a linear map mixes: they move with the plan.
    const vectorMap = withBatchNorm ? plan : out;
    layerVectors(slotS.layer, withBias, withBatchNorm)
      .forEach((v, k) => accumulate(vectors[k], mapOutputs(v, vectorMap), weights[s]));
  }
  if (withBias) fused.bias = vectors.shift();
  if (withBatchNorm) fused.batchNorm = vectors;
  return fused;
}

function assign(layer: Layer, fused: FusedParameters): void {
  layer.op.weight = { data: Float32Array.from(fused.weight), shape: layer.op.weight.shape };
  if (fused.bias) layer.op.bias = Float32Array.from(fused.bias);
  if (fused.batchNorm && layer.batchNorm) {
    const [scale, bias, mean, variance] = fused.batchNorm.map((v) => Float32Array.from(v));
    layer.batchNorm = { ...layer.batchNorm, scale, bias, mean, variance };
  }
}

/**
 * Fuses `sources` into `target`'s basis. `weights` has one entry per source, then the target's (summing to 1).
 * `stats` (activation mode, and `options.statistics`): what `fusionRequest` asks for, from one streaming pass.
 */
export async function otFuse(sources: Network[], target: Network, weights: number[], options: OtFuseOptions, stats?: OtStatistics): Promise<OtFuseResult> {
  const reference = options.reference ?? false;
  const resolved = {
    mode: options.mode,
    metric: options.metric ?? 'euclidean',
    marginals: options.marginals ?? 'uniform',
    solver: options.solver ?? 'emd',
    reg: options.reg ?? 0.01,
    reference,
    alignClassifier: options.alignClassifier ?? reference,
    device: options.device ?? 'auto',
    regression: options.mode === 'activations' && !reference ? options.regression : undefined,
    unmatchedBlockWeight: options.unmatchedBlockWeight ?? 'weights',
  } satisfies Resolved;
  if (weights.length !== sources.length + 1) throw new ClafusionError('E_ARG', `need ${sources.length + 1} averaging weights, got ${weights.length}`);
  const targetSide: Side = { network: target, topology: buildTopology(target, reference), model: stats?.target };
  const sourceSides: Side[] = sources.map((network, s) => {
    const topology = buildTopology(network, reference);
    checkSameStructure(targetSide.topology, topology, s);
    return { network, topology, model: stats?.sources[s] };
  });
  const pairs = sourceSides.map((side, s) => new PairFusion(side, targetSide, s, resolved, stats?.statistics));
  const slotWeightsOf = (slot: number) => weightsAt(slot, sourceSides, targetSide, weights, resolved.unmatchedBlockWeight);
  const fused: FusedParameters[] = [];
  const total = targetSide.topology.slots.length;
  for (let slot = 0; slot < total; slot++) {
    throwIfAborted(options.signal);
    fused.push(await fuseSlot(slot, pairs, sourceSides, targetSide, slotWeightsOf(slot)));
    options.onProgress?.(slot + 1, total);
  }
  const network = cloneNetwork(target);
  const layers = buildTopology(network, reference).slots.map((s) => s.layer);
  layers.forEach((layer, k) => assign(layer, fused[k]));
  const statistics = options.statistics && stats
    ? await targetStatistics(pairs, sourceSides, targetSide, slotWeightsOf, stats.statistics)
    : undefined;
  const refitTargets = options.refit ? await layerTargets(pairs, sourceSides, targetSide, slotWeightsOf) : undefined;
  return { network, diagnostics: pairs.flatMap((p) => p.diagnostics), ...(statistics ? { statistics } : {}), ...(refitTargets ? { refitTargets } : {}) };
}

/** Every slot's refit target: the sources' layers with their output maps, then the target's layer, with the slot's weights. */
async function layerTargets(pairs: PairFusion[], sources: Side[], target: Side, weightsOf: (slot: number) => number[]): Promise<RefitTarget[]> {
  const targets: RefitTarget[] = [];
  for (let slot = 0; slot < target.topology.slots.length; slot++) {
    const weights = weightsOf(slot);
    const sides: RefitSide[] = [];
    for (let s = 0; s < pairs.length; s++) {
      const slotS = sources[s].topology.slots[slot];
      sides.push({ model: s, layer: slotS.layer.name, map: await pairs[s].map(slotS.output), weight: weights[s] });
    }
    const layer = target.topology.slots[slot].layer.name;
    sides.push({ model: pairs.length, layer, weight: weights[weights.length - 1] });
    targets.push({ layer, sides });
  }
  return targets;
}

/** μ* and σ* of every hidden layer (see repair.ts): the models' pre-activation statistics, aligned and averaged. */
async function targetStatistics(pairs: PairFusion[], sources: Side[], target: Side, weightsOf: (slot: number) => number[],
  recorded: Statistics): Promise<Map<string, UnitStatistics>> {
  const statistics = new Map<string, UnitStatistics>();
  const slots = target.topology.slots;
  for (let slot = 0; slot < slots.length - 1; slot++) {
    const layer = slots[slot].layer;
    const weights = weightsOf(slot);
    const own = recorded.channels(target.model!, preactTap(layer)).moments();
    const mean = own.mean.map((v) => v * weights[weights.length - 1]);
    const std = own.std.map((v) => v * weights[weights.length - 1]);
    for (let s = 0; s < pairs.length; s++) {
      const theirs = recorded.channels(sources[s].model!, preactTap(sources[s].topology.slots[slot].layer)).moments();
      const map = await pairs[s].plan(sources[s].topology.slots[slot].output);
      accumulate(mean, mapOutputs(theirs.mean, map), weights[s]);
      accumulate(std, mapOutputs(theirs.std, map), weights[s]);
    }
    statistics.set(layer.name, { mean, std });
  }
  return statistics;
}

export interface FusionRequestOptions {
  mode: 'activations' | 'weights';
  reference: boolean;
  alignClassifier: boolean;
  repair: boolean;
  /** Regression maps: each side's own second moments at every map's taps too. */
  regression?: boolean;
}

/**
 * What the OT fusion of `sources` into `target` reads from a streaming pass in which source s is model
 * `models.sources[s]` and the target model `models.target`: in activation mode, the cross moments of every map's
 * taps (source tap k against target tap k); with `repair`, every hidden layer's pre-activation channel sums.
 */
export function fusionRequest(sources: Network[], target: Network, models: { sources: number[]; target: number },
  options: FusionRequestOptions): StatisticsRequest {
  const request: StatisticsRequest = { grams: [], channels: [], cross: [] };
  const targetTopology = buildTopology(target, options.reference);
  sources.forEach((source, s) => {
    const topology = buildTopology(source, options.reference);
    if (options.mode === 'activations') {
      targetTopology.nodes.forEach((node, index) => {
        // Fixed maps read no data; inserted units keep their plans (PairFusion.map).
        if (takesFixedMap(topology, targetTopology, index, options.alignClassifier)) return;
        const [tapsA, tapsB] = [topology.nodes[index]?.taps ?? [], node.taps];
        if (tapsA.length === 0) return;
        const [a, b] = [models.sources[s], models.target];
        // One sum per node: its taps, one to one on both sides after balancing (checkSameStructure).
        request.cross.push({ a, tapsA, b, tapsB });
        // Regression maps also read each side's own second moments (regression.ts).
        if (options.regression && !atInsertedUnit(topology, targetTopology, index)) {
          request.cross.push({ a, tapsA, b: a, tapsB: tapsA }, { a: b, tapsA: tapsB, b, tapsB });
        }
      });
    }
    if (options.repair) request.channels.push(...topology.slots.slice(0, -1).map((slot) => ({ model: models.sources[s], tap: preactTap(slot.layer) })));
  });
  if (options.repair) request.channels.push(...targetTopology.slots.slice(0, -1).map((slot) => ({ model: models.target, tap: preactTap(slot.layer) })));
  return request;
}
