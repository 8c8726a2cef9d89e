import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { sinkhorn, sinkhorn2, sinkhorn2Sync, sinkhornSync, type SinkhornOptions } from '../../lib/solvers/sinkhorn.js';
import { pairwiseDistancesSync } from '../../lib/solvers/linalg.js';
import { isClafusionError } from '../../lib/errors.js';
import { type FloatArray } from '../../lib/solvers/validate.js';
import { rng } from '../support/random.js';
import { expectCode } from '../support/errors.js';

interface PotCase { name: string; n: number; m: number; reg: number; a: number[]; b: number[]; M: number[]; plan: number[]; cost: number }

const potCases = (JSON.parse(readFileSync(new URL('../fixtures/ot/sinkhorn-pot.json', import.meta.url), 'utf8')) as
  { cases: PotCase[] }).cases;

function uniform(n: number): Float64Array {
  return new Float64Array(n).fill(1 / n);
}

function histogram(seed: number, n: number): Float64Array {
  const random = rng(seed);
  const weights = Float64Array.from({ length: n }, () => 0.2 + random());
  const mass = weights.reduce((sum, w) => sum + w, 0);
  return weights.map((w) => w / mass);
}

function randomCost(seed: number, n: number, m: number): Float64Array {
  const random = rng(seed);
  return Float64Array.from({ length: n * m }, () => random());
}

/** Squared euclidean costs between n and m random points in R^d (unit-variance coordinates), float32. */
function featureCost(seed: number, n: number, m: number, d: number): Float32Array {
  const random = rng(seed);
  const points = (count: number) => Float32Array.from({ length: count * d }, () => Math.sqrt(3) * (2 * random() - 1));
  return pairwiseDistancesSync(points(n), n, points(m), m, d, { metric: 'sqeuclidean' });
}

/** [L1 error of the row sums, 2-norm error of the column sums] of an n x m plan. */
function marginalErrors(plan: FloatArray, a: Float64Array, b: Float64Array): [number, number] {
  const n = a.length;
  const m = b.length;
  const columns = new Float64Array(m);
  let rowError = 0;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let j = 0; j < m; j++) {
      row += plan[i * m + j];
      columns[j] += plan[i * m + j];
    }
    rowError += Math.abs(row - a[i]);
  }
  let columnError = 0;
  for (let j = 0; j < m; j++) columnError += (columns[j] - b[j]) ** 2;
  return [rowError, Math.sqrt(columnError)];
}

function maxAbsDifference(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let worst = 0;
  for (let k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs(x[k] - y[k]));
  return worst;
}

function bitwiseEqual(x: ArrayLike<number>, y: ArrayLike<number>): boolean {
  return x.length === y.length && Array.from(x).every((value, k) => Object.is(value, y[k]));
}

function largest(values: ArrayLike<number>): number {
  let best = -Infinity;
  for (let k = 0; k < values.length; k++) best = Math.max(best, values[k]);
  return best;
}

function allFinite(values: ArrayLike<number>): boolean {
  return Array.from(values).every(Number.isFinite);
}


/** The optimal permutation plan (scaled by 1/n) of an n x n cost, by enumerating all n! permutations. */
function bruteForceAssignmentPlan(M: Float64Array, n: number): Float64Array {
  let best = Infinity;
  let bestPermutation: number[] = [];
  const permute = (prefix: number[], rest: number[], cost: number) => {
    if (rest.length === 0) {
      if (cost < best) [best, bestPermutation] = [cost, prefix];
      return;
    }
    for (const j of rest) permute([...prefix, j], rest.filter((k) => k !== j), cost + M[prefix.length * n + j]);
  };
  permute([], [...Array(n).keys()], 0);
  const plan = new Float64Array(n * n);
  bestPermutation.forEach((j, i) => { plan[i * n + j] = 1 / n; });
  return plan;
}

function median(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

describe('sinkhorn', () => {
  describe('marginals and stopping rule', () => {
    const a = histogram(1, 40);
    const b = histogram(2, 30);
    const M = randomCost(3, 40, 30);

    it('float64: rows exact, columns within the tolerance (POT stopThr semantics)', () => {
      const result = sinkhornSync(a, b, M, 0.05, { tolerance: 1e-10 });
      expect(result.converged).to.equal(true);
      expect(result.plan).to.be.instanceOf(Float64Array);
      expect(result.error).to.be.at.most(1e-10);
      const [rowError, columnError] = marginalErrors(result.plan, a, b);
      expect(rowError).to.be.below(1e-14);
      expect(columnError).to.be.below(1e-10 + 1e-14);
    });

    it('float32: the plan is float32 and meets the marginals to float rounding', () => {
      const result = sinkhornSync(a, b, Float32Array.from(M), 0.05, { tolerance: 1e-9 });
      expect(result.converged).to.equal(true);
      expect(result.plan).to.be.instanceOf(Float32Array);
      const [rowError, columnError] = marginalErrors(result.plan, a, b);
      expect(rowError).to.be.below(1e-7);
      expect(columnError).to.be.below(1e-7);
    });

    it('returns <T, M> as cost and potentials that reproduce the plan', () => {
      const result = sinkhornSync(a, b, M, 0.05);
      let cost = 0;
      for (let k = 0; k < M.length; k++) cost += result.plan[k] * M[k];
      expect(result.cost).to.be.closeTo(cost, 1e-12);
      expect(result.epsilon).to.equal(0.05);
      const [i, j] = [7, 11];
      expect(Math.exp((result.f[i] + result.g[j] - M[i * 30 + j]) / 0.05)).to.be.closeTo(result.plan[i * 30 + j], 1e-12);
      expect(sinkhorn2Sync(a, b, M, 0.05)).to.equal(result.cost);
    });

    it('reads reg relative to the median or the max of M', () => {
      const byMedian = sinkhornSync(a, b, M, 0.1, { regMode: 'median' });
      expect(byMedian.epsilon).to.be.closeTo(0.1 * median(M), 1e-15);
      const byMax = sinkhornSync(a, b, M, 0.1, { regMode: 'max' });
      expect(byMax.epsilon).to.be.closeTo(0.1 * largest(M), 1e-15);
    });

    it('gives rows and columns of zero mass an empty plan row / column and -Infinity potentials', () => {
      const a0 = Float64Array.from([0.5, 0, 0.5]);
      const b0 = Float64Array.from([0.25, 0.75, 0]);
      const result = sinkhornSync(a0, b0, randomCost(4, 3, 3), 0.1);
      expect(Array.from(result.plan.slice(3, 6))).to.deep.equal([0, 0, 0]);
      expect([result.plan[2], result.plan[5], result.plan[8]]).to.deep.equal([0, 0, 0]);
      expect(result.f[1]).to.equal(-Infinity);
      expect(result.g[2]).to.equal(-Infinity);
      expect(marginalErrors(result.plan, a0, b0)[1]).to.be.below(1e-9);
    });
  });

  describe('agreement with POT ot.sinkhorn (test/fixtures/ot/sinkhorn-pot.json)', () => {
    for (const c of potCases) {
      it(`${c.name} (float64 to 1e-10, float32 to 1e-6)`, () => {
        const [a, b, M] = [Float64Array.from(c.a), Float64Array.from(c.b), Float64Array.from(c.M)];
        const result = sinkhornSync(a, b, M, c.reg, { tolerance: 1e-13, maxIterations: 200000 });
        expect(maxAbsDifference(result.plan, c.plan)).to.be.below(1e-10);
        expect(result.cost).to.be.closeTo(c.cost, 1e-10 * Math.abs(c.cost));
        const single = sinkhornSync(a, b, Float32Array.from(M), c.reg, { tolerance: 1e-9, maxIterations: 200000 });
        expect(maxAbsDifference(single.plan, c.plan)).to.be.below(1e-6);
      });
    }
  });

  describe('small ε', () => {
    it('tends to the exact (assignment) plan as reg shrinks (n = 7, brute force over 5040 permutations)', () => {
      // A planted permutation (costs in [0, 0.5)) among costs in [1, 2): the optimum is well separated. (On
      // near-ties, e.g. i.i.d. random costs, Sinkhorn, POT's included, needs 1e5+ iterations at small ε.)
      const n = 7;
      const random = rng(21);
      const permutation = [3, 0, 6, 2, 5, 1, 4];
      const M = Float64Array.from({ length: n * n }, (_, k) =>
        (permutation[Math.floor(k / n)] === k % n ? 0.5 * random() : 1 + random()));
      const exact = bruteForceAssignmentPlan(M, n);
      let exactCost = 0;
      for (let k = 0; k < M.length; k++) exactCost += exact[k] * M[k];
      const gaps = [0.3, 0.1, 0.03, 0.01].map((reg) => {
        const result = sinkhornSync(uniform(n), uniform(n), M, reg, { regMode: 'median' });
        return { distance: maxAbsDifference(result.plan, exact), costGap: result.cost - exactCost };
      });
      for (let k = 1; k < gaps.length; k++) {
        expect(gaps[k].distance).to.be.below(gaps[k - 1].distance);
        expect(gaps[k].costGap).to.be.below(gaps[k - 1].costGap);
      }
      expect(gaps[3].distance).to.be.below(1e-6);
      expect(gaps[3].costGap).to.be.within(-1e-9, 1e-6 * exactCost);
    });

    it('reg = 1e-3 x median converges on n = 256 (float32, d = 576) with no NaN or overflow', function () {
      this.timeout(60000);
      const n = 256;
      const M = featureCost(31, n, n, 576);
      const result = sinkhornSync(uniform(n), uniform(n), M, 1e-3, { regMode: 'median', tolerance: 1e-6, maxIterations: 20000 });
      expect(result.converged).to.equal(true);
      expect(result.epsilon).to.be.closeTo(1e-3 * median(M), 1e-6 * median(M));
      expect(allFinite(result.plan) && allFinite(result.f) && allFinite(result.g)).to.equal(true);
      const [rowError, columnError] = marginalErrors(result.plan, uniform(n), uniform(n));
      expect(rowError).to.be.below(1e-6);
      expect(columnError).to.be.below(1.1e-6);
    });

    it('ε-scaling on and off reach the same plan', () => {
      const M = randomCost(41, 12, 12);
      const options: SinkhornOptions = { regMode: 'median', tolerance: 1e-11, maxIterations: 100000 };
      const scaled = sinkhornSync(uniform(12), uniform(12), M, 0.05, { ...options, epsilonScaling: true });
      const direct = sinkhornSync(uniform(12), uniform(12), M, 0.05, { ...options, epsilonScaling: false });
      expect(scaled.logSteps).to.be.greaterThan(direct.logSteps);
      expect(maxAbsDifference(scaled.plan, direct.plan)).to.be.below(1e-9);
    });
  });

  describe('non-convergence', () => {
    const M = randomCost(5, 20, 20);

    it('throws E_SOLVER when maxIterations runs out', () => {
      expectCode(() => sinkhornSync(uniform(20), uniform(20), M, 0.001, { maxIterations: 3 }), 'E_SOLVER', /did not converge.*maxIterations/);
    });

    it('returns the partial plan with converged = false when asked to', () => {
      const result = sinkhornSync(uniform(20), uniform(20), M, 0.001, { maxIterations: 3, throwOnNonConvergence: false });
      expect(result.converged).to.equal(false);
      expect(result.iterations).to.equal(3);
      expect(result.error).to.be.greaterThan(1e-9);
      expect(allFinite(result.plan)).to.equal(true);
      expect(marginalErrors(result.plan, uniform(20), uniform(20))[1]).to.be.closeTo(result.error, 1e-12);
    });

    it('rejects asynchronously with E_SOLVER too', async () => {
      const error = await sinkhorn(uniform(20), uniform(20), M, 0.001, { maxIterations: 3 }).catch((err: unknown) => err);
      expect(isClafusionError(error, 'E_SOLVER')).to.equal(true);
    });
  });

  describe('precision, determinism and threads', () => {
    const n = 600; // above the 512-row threshold for multi-threading
    const M32 = featureCost(51, n, n, 64);
    const M64 = Float64Array.from(M32);
    const a = uniform(n);

    it('float32 and float64 plans agree to ~1e-5 relative to the largest entry', () => {
      const single = sinkhornSync(a, a, M32, 0.05, { regMode: 'median' });
      const double = sinkhornSync(a, a, M64, 0.05, { regMode: 'median' });
      expect(maxAbsDifference(single.plan, double.plan) / largest(double.plan)).to.be.below(1e-5);
      expect(single.cost).to.be.closeTo(double.cost, 1e-6 * double.cost);
    });

    it('is bit-identical run to run (2 threads)', () => {
      const first = sinkhornSync(a, a, M32, 0.05, { regMode: 'median', threads: 2 });
      const second = sinkhornSync(a, a, M32, 0.05, { regMode: 'median', threads: 2 });
      expect(bitwiseEqual(first.plan, second.plan) && bitwiseEqual(first.f, second.f)).to.equal(true);
      expect(second.cost).to.equal(first.cost);
    });

    it('gives the same bits for 1, 2 and 3 threads (row parts fixed by n, not by the thread count)', () => {
      for (const M of [M64, M32]) {
        const one = sinkhornSync(a, a, M, 0.05, { regMode: 'median', threads: 1 });
        for (const threads of [2, 3]) {
          const many = sinkhornSync(a, a, M, 0.05, { regMode: 'median', threads });
          expect(many.iterations).to.equal(one.iterations);
          expect(Buffer.from(many.plan.buffer).equals(Buffer.from(one.plan.buffer))).to.equal(true);
          expect(many.cost).to.equal(one.cost);
        }
      }
    });

    it('async equals sync bit for bit', async () => {
      const sync = sinkhornSync(a, a, M32, 0.05, { regMode: 'median', threads: 2 });
      const result = await sinkhorn(a, a, M32, 0.05, { regMode: 'median', threads: 2 });
      expect(bitwiseEqual(result.plan, sync.plan) && bitwiseEqual(result.g, sync.g)).to.equal(true);
      expect(await sinkhorn2(a, a, M32, 0.05, { regMode: 'median', threads: 2 })).to.equal(sync.cost);
    });
  });

  describe('argument errors (E_ARG)', () => {
    const a = uniform(3);
    const b = uniform(2);
    const M = randomCost(6, 3, 2);
    const cases: [string, () => unknown, RegExp][] = [
      ['M of the wrong length', () => sinkhornSync(a, b, new Float64Array(5), 1), /M must have .* = 6 elements/],
      ['M not a float array', () => sinkhornSync(a, b, [1, 2, 3, 4, 5, 6] as unknown as Float64Array, 1), /M must be a Float64Array/],
      ['NaN in M', () => sinkhornSync(a, b, Float64Array.from([1, 2, NaN, 4, 5, 6]), 1), /M holds NaN or ±Infinity/],
      ['-Infinity in a float32 M', () => sinkhornSync(a, b, Float32Array.from([1, 2, 3, -Infinity, 5, 6]), 1), /M holds NaN or ±Infinity/],
      ['Infinity in a', () => sinkhornSync(Float64Array.from([Infinity, 0, 0]), b, M, 1), /a\[0\] is Infinity/],
      ['a negative weight', () => sinkhornSync(Float64Array.from([1.5, -0.5, 0]), b, M, 1), /a\[1\] is -0.5/],
      ['unequal masses', () => sinkhornSync(a, Float64Array.from([0.5, 0.6]), M, 1), /same total mass/],
      ['an empty marginal', () => sinkhornSync(new Float64Array(0), b, new Float64Array(0), 1), /a must not be empty/],
      ['zero mass', () => sinkhornSync(new Float64Array(3), b, M, 1), /zero total mass/],
      ['reg = 0', () => sinkhornSync(a, b, M, 0), /reg must be a finite number > 0/],
      ['reg < 0', () => sinkhornSync(a, b, M, -1), /reg must be a finite number > 0/],
      ['reg = NaN', () => sinkhornSync(a, b, M, NaN), /reg must be a finite number > 0/],
      ['reg = Infinity', () => sinkhornSync(a, b, M, Infinity), /reg must be a finite number > 0/],
      ['an unknown option', () => sinkhornSync(a, b, M, 1, { stopThr: 1e-9 } as SinkhornOptions), /unknown option 'stopThr'/],
      ['a bad regMode', () => sinkhornSync(a, b, M, 1, { regMode: 'mean' as 'max' }), /regMode must be one of/],
      ['a bad epsilonScaling', () => sinkhornSync(a, b, M, 1, { epsilonScaling: 'yes' as 'auto' }), /epsilonScaling must be/],
      ['maxIterations = 0', () => sinkhornSync(a, b, M, 1, { maxIterations: 0 }), /maxIterations must be a positive integer/],
      ['checkEvery = 1.5', () => sinkhornSync(a, b, M, 1, { checkEvery: 1.5 }), /checkEvery must be a positive integer/],
      ['tolerance = 0', () => sinkhornSync(a, b, M, 1, { tolerance: 0 }), /tolerance must be a finite number > 0/],
      ['threads = 0', () => sinkhornSync(a, b, M, 1, { threads: 0 }), /threads must be a positive integer/],
      ['a non-boolean throwOnNonConvergence', () => sinkhornSync(a, b, M, 1, { throwOnNonConvergence: 'no' as unknown as boolean }), /throwOnNonConvergence must be a boolean/],
      ['a zero median with regMode median', () => sinkhornSync(a, b, new Float64Array(6), 1, { regMode: 'median' }), /median.*use regMode 'absolute'/],
    ];
    for (const [what, call, pattern] of cases) {
      it(`rejects ${what}`, () => expectCode(call, 'E_ARG', pattern));
    }

    it('rejects asynchronously too (a Promise rejection, not a synchronous throw)', async () => {
      const error = await sinkhorn(a, b, M, 0).catch((err: unknown) => err);
      expect(isClafusionError(error, 'E_ARG')).to.equal(true);
    });
  });
});
