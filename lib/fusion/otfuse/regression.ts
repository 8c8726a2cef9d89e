/**
 * Regression maps: linear maps between the units of two layers beyond one permutation (in the spirit of CCA Merge,
 * Horoi et al. 2024, and RegMean, Jin et al. 2023), fitted on the activation moments and pulled towards the OT plan.
 *
 * With X_s (N x n_s) and X_t (N x n_t) the two models' values of a node's units over the same N positions
 * (samples x spatial positions, uncentred, so offsets and constant units are carried too) and P the OT plan T̂:
 *
 *   outputs  T = argmin_T ‖X_s T − X_t‖² / N + λ_s ‖T − P‖²   = (G_ss + λ_s I)⁻¹ (G_st + λ_s P)
 *   inputs   R = argmin_R ‖X_t R − X_s‖² / N + λ_t ‖R − Pᵀ‖²  = (G_tt + λ_t I)⁻¹ (G_ts + λ_t Pᵀ)
 *
 * with G = XᵀX / N and λ = ridge · tr(G) / n. T predicts the target's units from the source's (a layer's output rows
 * and vectors move with Tᵀ, as a plan's do); Rᵀ predicts the source's units from the target's, so the next layer
 * reads the fused units with Ŵ = W·Rᵀ. ridge → ∞ gives the plan back. For a permuted copy, X_t = X_s P, both fits
 * are P exactly (G_st = G_ss P), so fuse(A, P(A)) = P(A) still; a fit within rounding of the plan is the plan.
 */
import { solveSpd } from '../../solvers/dense64.js';
import { type UnitMap, transposed, unitMap } from '../transport.js';

/** Uncentred second moments of one node, each summed over `count` positions. */
export interface NodeMoments {
  count: number;
  /** Σ x_s x_sᵀ, n_s x n_s. */
  source: Float64Array;
  /** Σ x_t x_tᵀ, n_t x n_t. */
  target: Float64Array;
  /** Σ x_s x_tᵀ, n_s x n_t. */
  cross: Float64Array;
}

export interface RegressionMaps {
  outputs: UnitMap;
  inputs: UnitMap;
}

/**
 * A fit this close to the plan (max abs difference) is the plan: the activations of a permuted copy agree with the
 * original's only to float32 rounding (another summation order), which moves an exact fit by about 1e-7.
 */
const SNAP = 1e-6;

/** (G + λI)⁻¹ (C + λ Q) with G = gram / count (n x n), C = cross / count (n x m), λ = ridge · tr(G) / n. */
function ridgeFit(gram: Float64Array, cross: Float64Array, prior: Float64Array, n: number, m: number, count: number,
  ridge: number): Float64Array {
  const g = gram.map((v) => v / count);
  let trace = 0;
  for (let i = 0; i < n; i++) trace += g[i * n + i];
  // A node whose units are all zero on this side has no scale: any positive λ gives the plan.
  const lambda = trace > 0 ? (ridge * trace) / n : 1;
  for (let i = 0; i < n; i++) g[i * n + i] += lambda;
  const rhs = cross.map((v, k) => v / count + lambda * prior[k]);
  return solveSpd(g, rhs, n, m);
}

function nearPlan(fit: Float64Array, plan: UnitMap): boolean {
  return fit.every((v, k) => Math.abs(v - plan.data[k]) <= SNAP);
}

/** The output and input maps of a node (see the module comment); `plan` is its OT map, n_s x n_t. */
export function regressionMaps(plan: UnitMap, moments: NodeMoments, ridge: number): RegressionMaps {
  const { rows, cols } = plan;
  const outputs = ridgeFit(moments.source, moments.cross, plan.data, rows, cols, moments.count, ridge);
  const backwards = ridgeFit(moments.target, transposed(moments.cross, rows, cols), transposed(plan.data, rows, cols),
    cols, rows, moments.count, ridge);
  const inputs = transposed(backwards, cols, rows);
  if (nearPlan(outputs, plan) && nearPlan(inputs, plan)) return { outputs: plan, inputs: plan };
  return { outputs: unitMap(outputs, rows, cols), inputs: unitMap(inputs, rows, cols) };
}
