/**
 * Seeded benchmark problems for the OT solvers: two point clouds X (n x d) and Y (m x d), float32, and their
 * squared-euclidean cost M_ij = ||x_i - y_j||^2 (n x m, computed by `pairwiseDistances` on the CPU, whose result does
 * not depend on the thread count). Families:
 *
 *   fusion:  X ~ N(0, 1)^{n x d},  Y_j = X_{π(j mod n)} + 0.5 ξ_j,  ξ_j ~ N(0, I_d)   (two networks' neurons,
 *            equal up to a permutation π and some noise: the problem OTFusion solves);
 *   random:  X, Y i.i.d. N(0, 1).
 *
 * For CKA the representations are compared sample by sample, so the fusion family permutes features instead:
 * Y = X[:, σ] + 0.5 ξ (n x d), which linear CKA sees as nearly the same representation.
 *
 * Every number comes from SplitMix64 streams (lib/data/sampling.ts) seeded from `seed`, one stream per role (X, the
 * permutation, Y's noise), and Box-Muller normals; the same seed gives bit-identical problems on every run.
 */
import { SplitMix64, sampleIndices } from '../data/sampling.js';
import { pairwiseDistancesSync } from '../solvers/linalg.js';
import { checkDim } from '../solvers/validate.js';
import { requireArg } from '../errors.js';
import { checkAllocation } from '../resources.js';

export type BenchFamily = 'fusion' | 'random';

export interface PointClouds {
  family: BenchFamily;
  n: number;
  m: number;
  d: number;
  /** n x d, row-major. */
  x: Float32Array;
  /** m x d, row-major. */
  y: Float32Array;
}

export interface CostProblem extends PointClouds {
  /** M_ij = ||x_i - y_j||^2, n x m row-major. */
  cost: Float32Array;
}

/** The stream of one role, so that X does not depend on the family and Y's noise not on the permutation. */
type Role = 'x' | 'permutation' | 'y';
const ROLE_INDEX: Record<Role, bigint> = { x: 0n, permutation: 1n, y: 2n };

function streamSeed(seed: number, role: Role): bigint {
  return (BigInt(seed) << 32n) | ROLE_INDEX[role];
}

const TWO_53 = 2 ** 53;

/** `length` N(0, 1) deviates: Box-Muller on uniforms in (0, 1) from the top 53 bits of SplitMix64. */
function gaussians(seed: bigint, length: number): Float64Array {
  const rng = new SplitMix64(seed);
  const uniform = () => (Number(rng.next() >> 11n) + 0.5) / TWO_53;
  const out = new Float64Array(length);
  for (let i = 0; i < length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < length) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/** X ~ N(0, 1)^{n x d}; the first rows are the same for every n with the same seed. */
function baseCloud(n: number, d: number, seed: number): Float32Array {
  return Float32Array.from(gaussians(streamSeed(seed, 'x'), n * d));
}

/** The point clouds of one problem (see the module comment). */
export function pointClouds(family: BenchFamily, n: number, m: number, d: number, seed: number): PointClouds {
  const x = baseCloud(n, d, seed);
  const noise = gaussians(streamSeed(seed, 'y'), m * d);
  const y = new Float32Array(m * d);
  if (family === 'random') {
    y.set(noise);
  } else {
    const permutation = sampleIndices(n, n, streamSeed(seed, 'permutation'));
    for (let j = 0; j < m; j++) {
      const source = permutation[j % n] * d;
      for (let k = 0; k < d; k++) y[j * d + k] = x[source + k] + 0.5 * noise[j * d + k];
    }
  }
  return { family, n, m, d, x, y };
}

/** The point clouds and their squared-euclidean cost matrix. */
export function costProblem(family: BenchFamily, n: number, m: number, d: number, seed: number): CostProblem {
  requireArg(family === 'fusion' || family === 'random', `costProblem: family must be 'fusion' or 'random', got ${String(family)}`);
  [n, m, d].forEach((size, i) => checkDim(size, ['n', 'm', 'd'][i]!));
  checkAllocation(4 * (n + m) * d, `costProblem: ${n} + ${m} points of dimension ${d}`, Math.max(n, m) * d);
  const clouds = pointClouds(family, n, m, d, seed);
  const cost = pairwiseDistancesSync(clouds.x, n, clouds.y, m, d, { metric: 'sqeuclidean', device: 'cpu' });
  return { ...clouds, cost };
}

/**
 * Two representations of the same n samples for linear CKA, n x d each: X as above; fusion: Y = X[:, σ] + 0.5 ξ
 * with σ a permutation of the d features; random: Y i.i.d. N(0, 1).
 */
export function ckaRepresentations(family: BenchFamily, n: number, d: number, seed: number): { x: Float32Array; y: Float32Array } {
  const x = baseCloud(n, d, seed);
  const noise = gaussians(streamSeed(seed, 'y'), n * d);
  if (family === 'random') return { x, y: Float32Array.from(noise) };
  const features = sampleIndices(d, d, streamSeed(seed, 'permutation'));
  const y = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) y[i * d + k] = x[i * d + features[k]] + 0.5 * noise[i * d + k];
  }
  return { x, y };
}
