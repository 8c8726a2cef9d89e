/**
 * One layer's transport plan (spec §3.2-3.4): the ground cost between the source's and the target's units →
 * marginals → OT plan → the column-normalised map T̂. The ground cost comes from the units' weight rows
 * (`weightGround`, pairwise distances) or from their streamed activation statistics (lib/stats/ground.ts).
 *
 * - ground metric: euclidean (not squared: the published `--not-squared` default), squared euclidean, or cosine;
 *   or 'correlation', 1 − the Pearson correlation of the units (costs.ts). The published `--dist-normalize`
 *   (÷ number of samples) is a global scaling: it changes no exact plan, and Sinkhorn's regularisation is taken
 *   relative to the median cost instead, so it is left out.
 * - marginals: uniform (published), or importance ∝ each unit's L1 / L2 weight-row norm (+1e-9), renormalised.
 * - solver: exact EMD (default; network simplex or assignment), or entropic Sinkhorn with reg = `reg` × median(M)
 *   (default 0.01 × median, our choice: the published absolute 0.01 depends on the scale of the activations).
 */
import { ClafusionError } from '../../errors.js';
import { emd, uniform } from '../../solvers/emd.js';
import { type DistanceMetric, pairwiseDistances } from '../../solvers/linalg.js';
import { type DeviceOption, useGpu } from '../../solvers/device.js';
import { sinkhorn } from '../../solvers/sinkhorn.js';
import { type UnitMap, columnNormalise } from '../transport.js';
import { correlationCost, pointMoments } from './costs.js';

const SINKHORN_TOLERANCE = 1e-7;

export type Marginals = 'uniform' | 'importance-l1' | 'importance-l2';
/** How two units' descriptions are compared: a distance between them, or one minus their correlation. */
export type GroundMetric = DistanceMetric | 'correlation';
export type Solver = 'emd' | 'sinkhorn';

export interface PlanOptions {
  metric: GroundMetric;
  marginals: Marginals;
  solver: Solver;
  /** Sinkhorn regularisation relative to the median ground cost. */
  reg: number;
  /** Added to the column sums in T̂ = T / (colsum + epsilon): 0, or the published 1e-7 in reference mode. */
  correctionEpsilon: number;
  /** Where the pairwise distances and Sinkhorn run (lib/solvers/device.ts); EMD runs on the CPU. */
  device: DeviceOption;
}

/** The source's and the target's units over one space: rows x cols, row = source unit. */
export interface Ground {
  cost: Float32Array;
  rows: number;
  cols: number;
}

export interface Points {
  data: Float32Array;
  rows: number;
  dim: number;
}

export interface PlanDiagnostics {
  /** <T, M>. */
  cost: number;
  iterations: number;
  method: string;
  ms: number;
}

/** Marginal weights ∝ the L1 or L2 norm of each unit's weight row, renormalised to 1. */
export function importanceHistogram(rows: ArrayLike<number>, units: number, norm: 'l1' | 'l2'): Float64Array {
  const inner = rows.length / units;
  const h = new Float64Array(units);
  let total = 0;
  for (let u = 0; u < units; u++) {
    let s = 0;
    for (let k = 0; k < inner; k++) {
      const v = rows[u * inner + k];
      s += norm === 'l1' ? Math.abs(v) : v * v;
    }
    h[u] = (norm === 'l1' ? s : Math.sqrt(s)) + 1e-9;
    total += h[u];
  }
  for (let u = 0; u < units; u++) h[u] /= total;
  return h;
}

/** The ground cost between units described by points (weight rows), on the device `options.device` picks. */
export async function weightGround(source: Points, target: Points, options: PlanOptions): Promise<Ground> {
  if (source.dim !== target.dim) {
    throw new ClafusionError('E_SHAPE', `cannot compare units described by ${source.dim} and ${target.dim} values; the layers' weight shapes differ`);
  }
  const { metric, device } = options;
  const cost = metric === 'correlation'
    ? correlationCost(await pointMoments(source, target))
    : await pairwiseDistances(source.data, source.rows, target.data, target.rows, source.dim, { metric, device });
  return { cost, rows: source.rows, cols: target.rows };
}

/**
 * The map between the source's and the target's units from their ground cost. `weightRows` (each model's own
 * weights, for importance marginals) may be omitted with uniform marginals.
 */
export async function transportMap(ground: Ground, options: PlanOptions, weightRows?: [ArrayLike<number>, ArrayLike<number>]): Promise<{ map: UnitMap; diagnostics: PlanDiagnostics }> {
  const start = performance.now();
  const { rows, cols } = ground;
  let a: Float64Array = uniform(rows);
  let b: Float64Array = uniform(cols);
  if (options.marginals !== 'uniform') {
    if (!weightRows) throw new ClafusionError('E_ARG', 'importance marginals need the weight rows');
    const norm = options.marginals === 'importance-l1' ? 'l1' : 'l2';
    a = importanceHistogram(weightRows[0], rows, norm);
    b = importanceHistogram(weightRows[1], cols, norm);
  }
  let plan: Float64Array;
  let diagnostics: Omit<PlanDiagnostics, 'ms'>;
  if (options.solver === 'emd') {
    const result = await emd(a, b, ground.cost);
    plan = result.plan;
    diagnostics = { cost: result.cost, iterations: result.iterations, method: result.method };
  } else {
    // Sinkhorn's row sums are exact at every check and T̂ is column-normalised afterwards, so a plan whose column
    // marginals are still off after the iteration cap is kept (and reported) rather than failing the fusion.
    // The CUDA solver takes float32 costs; the CPU keeps solving in float64.
    const gpu = useGpu(options.device, ground.cost.length);
    const cost = gpu ? ground.cost : Float64Array.from(ground.cost);
    const result = await sinkhorn(a, b, cost, options.reg, { regMode: 'median', tolerance: SINKHORN_TOLERANCE, throwOnNonConvergence: false, device: gpu ? 'cuda' : 'cpu' });
    plan = result.plan instanceof Float64Array ? result.plan : Float64Array.from(result.plan);
    const method = result.converged ? 'sinkhorn' : `sinkhorn (iteration cap; marginal error ${result.error.toExponential(1)})`;
    diagnostics = { cost: result.cost, iterations: result.iterations, method };
  }
  const map = columnNormalise(plan, rows, cols, options.correctionEpsilon);
  return { map, diagnostics: { ...diagnostics, ms: performance.now() - start } };
}
