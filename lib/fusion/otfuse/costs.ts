/**
 * Ground costs computed from unit moments: the per-unit sums and sums of squares and the cross moments between the
 * units of the two layers, as the streaming accumulators of lib/stats keep them, so no stored activations are needed.
 *
 * 'correlation' (matching on standardised activations, as in REPAIR and Git Re-Basin): with x_i the source unit's
 * values and y_j the target unit's over the same d positions (samples × spatial positions),
 *
 *   M_ij = 1 − ρ_ij,   ρ_ij = (Σ x_i y_j / d − μ_i ν_j) / (σ_i τ_j)
 *
 * (population moments). It equals ‖z_i − z'_j‖² / (2d) for the standardised rows z = (x − μ)/σ, so an exact plan
 * on it maximises the total correlation of the matched units, whatever each unit's scale and offset; the euclidean
 * metric would pair a unit with a low-variance one that merely sits near its mean. A unit with zero variance (a
 * dead unit, or the zero branch of an inserted block) is uncorrelated with every unit: cost 1.
 */
import { ChannelAccumulator, CrossAccumulator } from '../../stats/accumulators.js';
import { sumArrays } from '../../stats/ground.js';
import type { Points } from './solve.js';

/** Per-unit sums over the unit's values, as a ChannelAccumulator keeps them (count: values per unit). */
export type UnitMoments = Pick<ChannelAccumulator, 'count' | 'sums' | 'squares'>;

export interface CrossMoments {
  source: UnitMoments;
  target: UnitMoments;
  /** Σ_k x_ik y_jk, source units × target units, row-major (a CrossAccumulator's `moments`). */
  cross: Float64Array;
}

function stackSide(sides: UnitMoments[]): UnitMoments {
  const count = sides.reduce((n, m) => n + m.count, 0);
  return { count, sums: sumArrays(sides.map((m) => m.sums)), squares: sumArrays(sides.map((m) => m.squares)) };
}

/**
 * The moments of units described by several taps at once (a residual stream's map reads the starter's and the
 * blocks' outputs): a unit's point is the concatenation, so every sum adds over the parts; `cross` is the cross
 * moments already summed over the tap pairs (a streamed request's sum).
 */
export function stackMoments(sources: UnitMoments[], targets: UnitMoments[], cross: Float64Array): CrossMoments {
  return { source: stackSide(sources), target: stackSide(targets), cross };
}

/**
 * The moments of two sets of points (weight rows, in weight mode) with the streaming accumulators: C points of d
 * values are one "sample" of C channels at d positions.
 */
export async function pointMoments(source: Points, target: Points): Promise<CrossMoments> {
  const moments = async (points: Points) => {
    const channels = new ChannelAccumulator(points.rows, points.dim);
    await channels.add(points.data);
    return channels;
  };
  const cross = new CrossAccumulator(source.rows, target.rows, source.dim);
  await cross.add([source.data], [target.data]);
  return { source: await moments(source), target: await moments(target), cross: cross.moments };
}

/** Mean and population standard deviation per unit (ChannelAccumulator.moments, for stacked sums too). */
function meanAndStd(m: UnitMoments): { mean: Float64Array; std: Float64Array } {
  const mean = m.sums.map((s) => s / m.count);
  return { mean, std: m.squares.map((q, u) => Math.sqrt(Math.max(q / m.count - mean[u] * mean[u], 0))) };
}

/** M = 1 − ρ (see the module comment), source units × target units, float32 as the other ground costs. */
export function correlationCost(moments: CrossMoments): Float32Array {
  const x = meanAndStd(moments.source);
  const y = meanAndStd(moments.target);
  const rows = x.mean.length;
  const cols = y.mean.length;
  const count = moments.source.count;
  const cost = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const scale = x.std[i] * y.std[j];
      const rho = scale > 0 ? (moments.cross[i * cols + j] / count - x.mean[i] * y.mean[j]) / scale : 0;
      cost[i * cols + j] = 1 - Math.min(Math.max(rho, -1), 1);
    }
  }
  return cost;
}
