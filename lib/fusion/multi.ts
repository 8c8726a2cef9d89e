/**
 * Fusing more than two models (spec §4.4).
 *
 * many-to-one (default): every other model is aligned and balanced against one anchor (default: the deepest model;
 * `target` picks another, which must then be at least as deep as every other model), transported into the anchor's
 * basis, and all K models are averaged with equal weights (or `weights`). The fused model has the anchor's widths.
 *
 * iterative: the models are folded in one at a time, fused ← fuse(fused, model_i) with weights 0.5 / 0.5 and the
 * running fused model as the target, so model 0 ends up with weight 1/2^(K−1).
 */
import { ClafusionError } from '../errors.js';
import type { Network } from '../ir/network.js';
import { balanceByAdding } from './balance/add.js';
import { hiddenDepth } from './cla/index.js';
import { type FusionContext, type PairAlignment, alignPair, fusePair } from './index.js';
import { type LayerDiagnostics, otFuse } from './otfuse/index.js';

export interface MultiFusion {
  network: Network;
  models: Network[];
  alignments: PairAlignment[];
  layers: LayerDiagnostics[];
  target: number;
}

function anchorIndex(networks: Network[], target: unknown): number {
  const depths = networks.map(hiddenDepth);
  if (target === undefined) return depths.indexOf(Math.max(...depths));
  if (typeof target !== 'number' || !Number.isInteger(target) || target < 0 || target >= networks.length) {
    throw new ClafusionError('E_ARG', `with ${networks.length} models, target must be the anchor's index (0..${networks.length - 1}), got ${String(target)}`);
  }
  const deeper = depths.findIndex((d) => d > depths[target]);
  if (deeper >= 0) throw new ClafusionError('E_ARG', `model ${deeper} is deeper than the anchor model ${target}; choose the deepest model as the anchor`);
  return target;
}

async function manyToOne(networks: Network[], context: FusionContext): Promise<MultiFusion> {
  const options = context.options;
  if (options.balance === 'merge') throw new ClafusionError('E_ARG', "many-to-one fusion balances with 'add' only");
  const anchor = anchorIndex(networks, options.target);
  const models = [...networks];
  const alignments: PairAlignment[] = [];
  for (let i = 0; i < networks.length; i++) {
    if (i === anchor || hiddenDepth(networks[i]) === hiddenDepth(networks[anchor])) continue;
    const alignment = await alignPair(networks[anchor], networks[i], context);
    alignments.push({ deep: anchor, shallow: i, alignment });
    const groups = alignment.groups;
    const balanced = await context.timed('balancing', () => balanceByAdding(networks[anchor], networks[i], groups));
    models[i] = context.nameDerived(balanced, networks[i], 'balanced');
  }
  const sources = models.map((_, i) => i).filter((i) => i !== anchor);
  const weights = options.weights ?? models.map(() => 1 / models.length);
  // One pass of every model at once for the ground costs and the repair targets.
  const stats = await context.fusionStatistics(sources.map((i) => models[i]), models[anchor]);
  const fused = await context.timed('fusion', () =>
    otFuse(sources.map((i) => models[i]), models[anchor], [...sources.map((i) => weights[i]), weights[anchor]], context.otFuseOptions(), stats));
  const refit = fused.refitTargets && { models: [...sources.map((i) => models[i]), models[anchor]], targets: fused.refitTargets };
  return { network: await context.finish(fused.network, fused.statistics, refit), models, alignments, layers: fused.diagnostics, target: anchor };
}

async function iterative(networks: Network[], context: FusionContext): Promise<MultiFusion> {
  if (context.options.weights) throw new ClafusionError('E_ARG', 'iterative fusion weighs every step 0.5 / 0.5; drop weights or use many-to-one');
  let current = networks[0];
  const alignments: PairAlignment[] = [];
  const layers: LayerDiagnostics[] = [];
  for (let i = 1; i < networks.length; i++) {
    const step = await fusePair([current, networks[i]], context, [0.5, 0.5], 0);
    // Index 0 of each step is the model fused so far (model 0 in the first step).
    if (step.alignment) alignments.push({ ...step.alignment, deep: step.alignment.deep === 0 ? 0 : i, shallow: step.alignment.shallow === 0 ? 0 : i });
    layers.push(...step.layers);
    current = step.network;
  }
  return { network: current, models: networks, alignments, layers, target: 0 };
}

/** Fuses three or more models with the approach in `context.options.multi`. */
export function fuseMany(networks: Network[], context: FusionContext): Promise<MultiFusion> {
  return (context.options.multi ?? 'many-to-one') === 'iterative' ? iterative(networks, context) : manyToOne(networks, context);
}
