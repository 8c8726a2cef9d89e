import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { emd, emd2, emd2Sync, emdSync, uniform, type EmdMethod, type EmdResult } from '../../lib/solvers/emd.js';
import { rng } from '../support/random.js';
import { expectCode } from '../support/errors.js';

interface Vector {
  name: string; n: number; m: number; d: number; metric: 'sqeuclidean' | 'euclidean' | 'cityblock';
  X: number[]; Y: number[]; a: number[]; b: number[]; potCost: number; lpCost?: number;
}

const vectors = (JSON.parse(readFileSync(new URL('../fixtures/ot/emd-vectors.json', import.meta.url), 'utf8')) as
  { problems: Vector[] }).problems;

/** The cost exactly as scripts/make-ot-vectors.py builds it (same loop order). */
function costOf(v: Vector): Float64Array {
  const M = new Float64Array(v.n * v.m);
  for (let i = 0; i < v.n; i++) {
    for (let j = 0; j < v.m; j++) {
      let acc = 0;
      for (let k = 0; k < v.d; k++) {
        const diff = v.X[i * v.d + k] - v.Y[j * v.d + k];
        acc += v.metric === 'cityblock' ? Math.abs(diff) : diff * diff;
      }
      M[i * v.m + j] = v.metric === 'euclidean' ? Math.sqrt(acc) : acc;
    }
  }
  return M;
}

function normalised(weights: number[]): Float64Array {
  const total = weights.reduce((s, w) => s + w, 0);
  return Float64Array.from(weights, (w) => w / total);
}

function problemOf(v: Vector): [Float64Array, Float64Array, Float64Array] {
  return [normalised(v.a), normalised(v.b), costOf(v)];
}

function randomCost(seed: number, n: number, m: number, integer = false): Float64Array {
  const random = rng(seed);
  return Float64Array.from({ length: n * m }, () => (integer ? Math.floor(random() * 4) : random()));
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]));
}

function bruteForceAssignment(M: Float64Array, n: number): number {
  let best = Infinity;
  for (const p of permutations(n)) best = Math.min(best, p.reduce((s, j, i) => s + M[i * n + j], 0));
  return best;
}

function expectClose(actual: number, expected: number, relative: number): void {
  expect(Math.abs(actual - expected)).to.be.at.most(relative * Math.max(1, Math.abs(expected)));
}

/** Row and column sums of the plan equal a and b to 1e-12, and no entry is negative. */
function expectFeasible(result: EmdResult, a: Float64Array, b: Float64Array): void {
  const n = a.length, m = b.length;
  const cols = new Float64Array(m);
  let worstMarginal = 0;
  let smallest = Infinity;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let j = 0; j < m; j++) {
      const t = result.plan[i * m + j];
      smallest = Math.min(smallest, t);
      row += t;
      cols[j] += t;
    }
    worstMarginal = Math.max(worstMarginal, Math.abs(row - a[i]));
  }
  for (let j = 0; j < m; j++) worstMarginal = Math.max(worstMarginal, Math.abs(cols[j] - b[j]));
  expect(smallest).to.be.at.least(0);
  expect(worstMarginal).to.be.at.most(1e-12);
}

/** The duals are feasible and close the gap: a.u + b.v = cost. */
function expectDualCertificate(result: EmdResult, a: Float64Array, b: Float64Array, M: Float64Array): void {
  const m = b.length;
  let dual = 0;
  for (let i = 0; i < a.length; i++) dual += a[i] * result.u[i];
  for (let j = 0; j < m; j++) dual += b[j] * result.v[j];
  expectClose(dual, result.cost, 1e-9);
  let worst = Infinity;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < m; j++) worst = Math.min(worst, M[i * m + j] - result.u[i] - result.v[j]);
  }
  expect(worst).to.be.at.least(-1e-9);
}

function bitwiseEqual(x: Float64Array, y: Float64Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}


describe('emd: assignment problems against brute force over all permutations', () => {
  for (let n = 1; n <= 7; n++) {
    for (const integer of [false, true]) {
      for (const method of ['assignment', 'network-simplex'] as EmdMethod[]) {
        it(`n = ${n}, ${integer ? 'integer costs with ties' : 'random costs'}, ${method}`, () => {
          const M = randomCost(100 * n + (integer ? 1 : 0), n, n, integer);
          const a = uniform(n);
          const result = emdSync(a, a, M, { method });
          expect(result.method).to.equal(method);
          expect(result.optimal).to.equal(true);
          expectClose(result.cost, bruteForceAssignment(M, n) / n, 1e-12);
          expectFeasible(result, a, a);
          expectDualCertificate(result, a, a, M);
        });
      }
    }
  }

  it('returns a permutation scaled by the mass (an extreme point) on the assignment path', () => {
    const n = 6;
    const a = uniform(n);
    const result = emdSync(a, a, randomCost(7, n, n, true));
    for (const t of result.plan) expect([0, 1 / n]).to.include(t);
  });
});

describe('emd: ties (the zero blocks of spec §3.8, where every plan is optimal)', () => {
  const n = 64;
  const a = uniform(n);
  const cases: [string, Float64Array][] = [
    ['all-zero costs', new Float64Array(n * n)],
    ['costs constant along each row', Float64Array.from({ length: n * n }, (_, k) => Math.floor(k / n) % 5)],
  ];
  for (const [name, M] of cases) {
    for (const method of ['assignment', 'network-simplex'] as EmdMethod[]) {
      it(`${name}, ${method}: the lowest index wins, so the plan is the identity / n`, () => {
        const result = emdSync(a, a, M, { method });
        for (let i = 0; i < n; i++) expect(result.plan[i * n + i], `row ${i}`).to.equal(1 / n);
        expect(result.optimal).to.equal(true);
      });
    }
  }
});

describe('emd: general marginals against stored references (POT ot.emd2, SciPy HiGHS LP)', () => {
  for (const v of vectors) {
    it(`${v.name} (${v.n} x ${v.m}, ${v.metric}) matches POT${v.lpCost === undefined ? '' : ' and the LP'}`, () => {
      const [a, b, M] = problemOf(v);
      const result = emdSync(a, b, M);
      expect(result.optimal).to.equal(true);
      expectClose(result.cost, v.potCost, 1e-9);
      if (v.lpCost !== undefined) expectClose(result.cost, v.lpCost, 1e-9);
      expectFeasible(result, a, b);
      expectDualCertificate(result, a, b, M);
    });
  }

  it('certifies 300 random small problems (zero weights, integer costs with ties) by feasible duals with no gap', () => {
    const random = rng(91);
    const histogram = (k: number) => normalised(Array.from({ length: k }, (_, i) => (i === 0 || random() > 0.3 ? random() : 0)));
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(random() * 12), m = 1 + Math.floor(random() * 12);
      const [a, b, M] = [histogram(n), histogram(m), randomCost(5000 + trial, n, m, trial % 2 === 1)];
      const result = emdSync(a, b, M);
      expect(result.optimal, `${n} x ${m}, trial ${trial}`).to.equal(true);
      expectFeasible(result, a, b);
      expectDualCertificate(result, a, b, M);
    }
  });

  it('is unmoved by a large cost offset: plans for M + 1e8 are optimal for M, for both solvers', () => {
    const planCost = (plan: Float64Array, C: Float64Array) => plan.reduce((s, t, k) => s + t * C[k], 0);
    const [a, b, M] = problemOf(vectors.find((v) => v.name === 'large-300x240')!);
    const simplex = emdSync(a, b, M.map((x) => x + 1e8));
    expect(simplex.method).to.equal('network-simplex');
    expectClose(planCost(simplex.plan, M), emdSync(a, b, M).cost, 1e-12);
    const [u, C] = [uniform(200), randomCost(9, 200, 200)];
    const assignment = emdSync(u, u, C.map((x) => x + 1e8));
    expect(assignment.method).to.equal('assignment');
    expectClose(planCost(assignment.plan, C), emdSync(u, u, C).cost, 1e-12);
  });

  it('uses the network simplex for non-uniform marginals and the assignment solver for uniform ones', () => {
    const [a, b, M] = problemOf(vectors.find((v) => v.name === 'mid-50x80')!);
    expect(emdSync(a, b, M).method).to.equal('network-simplex');
    const [ua, ub, uM] = problemOf(vectors.find((v) => v.name === 'mid-128x128-uniform')!);
    expect(emdSync(ua, ub, uM).method).to.equal('assignment');
  });
});

describe('emd: the expanded assignment for uniform marginals with n != m', () => {
  const cases: [string, string][] = [
    ['mid-50x100-uniform', 'assignment'], ['large-300x150-uniform', 'assignment'],
    ['mid-64x48-uniform', 'network-simplex'], ['large-300x200-uniform', 'network-simplex'],
  ];
  for (const [name, autoMethod] of cases) {
    it(`${name}: auto picks ${autoMethod}; the lcm-expanded assignment equals the simplex cost`, () => {
      const [a, b, M] = problemOf(vectors.find((v) => v.name === name)!);
      expect(emdSync(a, b, M).method).to.equal(autoMethod);
      const viaAssignment = emdSync(a, b, M, { method: 'assignment' });
      const viaSimplex = emdSync(a, b, M, { method: 'network-simplex' });
      expect(viaAssignment.method).to.equal('assignment');
      expect(viaSimplex.method).to.equal('network-simplex');
      expect(viaAssignment.optimal && viaSimplex.optimal).to.equal(true);
      expectClose(viaAssignment.cost, viaSimplex.cost, 1e-12);
      expectFeasible(viaAssignment, a, b);
      expectDualCertificate(viaAssignment, a, b, M);
    });
  }

  it('assignment == simplex on 300 random small uniform problems (all size pairs up to 9, integer costs with ties)', () => {
    const random = rng(77);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(random() * 9), m = 1 + Math.floor(random() * 9);
      const M = randomCost(1000 + trial, n, m, trial % 2 === 0);
      const [a, b] = [uniform(n), uniform(m)];
      const viaAssignment = emdSync(a, b, M, { method: 'assignment' });
      const viaSimplex = emdSync(a, b, M, { method: 'network-simplex' });
      expect(viaAssignment.optimal && viaSimplex.optimal, `${n} x ${m}, trial ${trial}`).to.equal(true);
      expectClose(viaAssignment.cost, viaSimplex.cost, 1e-12);
      expectFeasible(viaAssignment, a, b);
      expectDualCertificate(viaAssignment, a, b, M);
    }
  });

  it('auto hands a uniform 512 x 512 problem that leaves most rows free after the assignment start to the simplex', () => {
    // Distances between the units of two unrelated models are mostly norms: M_ij ≈ √(|x_i|² + |y_j|²). Every column's
    // cheapest row is then the same few, the start settles almost nothing, and each shortest-path search is O(n²).
    const random = rng(31);
    const n = 512;
    const rowNorms = Array.from({ length: n }, () => (1 + 3 * random()) ** 2);
    const colNorms = Array.from({ length: n }, () => (1 + random()) ** 2);
    const distance = (i: number, j: number) => Math.sqrt(rowNorms[i] + colNorms[j]) + 0.01 * random();
    const M = Float64Array.from({ length: n * n }, (_, k) => distance(Math.floor(k / n), k % n));
    const auto = emdSync(uniform(n), uniform(n), M);
    const viaAssignment = emdSync(uniform(n), uniform(n), M, { method: 'assignment' });
    expect(auto.method).to.equal('network-simplex');
    expect(viaAssignment.method).to.equal('assignment');
    expect(viaAssignment.iterations, 'rows left free after the start').to.be.above(n / 4);
    expect(auto.optimal && viaAssignment.optimal).to.equal(true);
    expectClose(auto.cost, viaAssignment.cost, 1e-12);
    expect(auto.plan.every((x) => x === 0 || x === 1 / n), 'a permutation / n').to.equal(true);
  });

  it('uses the simplex when n and m are coprime (n = 97, m = 89)', () => {
    const M = randomCost(11, 97, 89);
    const result = emdSync(uniform(97), uniform(89), M);
    expect(result.method).to.equal('network-simplex');
    expect(result.optimal).to.equal(true);
    expectFeasible(result, uniform(97), uniform(89));
    expectDualCertificate(result, uniform(97), uniform(89), M);
  });
});

describe('emd: determinism and the async twin', () => {
  const [a, b, M] = problemOf(vectors.find((v) => v.name === 'large-300x240')!);
  const uM = randomCost(5, 200, 200);
  const u = uniform(200);

  it('two runs are bit-identical (simplex and assignment)', () => {
    for (const [x, y, C] of [[a, b, M], [u, u, uM]] as const) {
      const first = emdSync(x, y, C);
      const second = emdSync(x, y, C);
      expect(bitwiseEqual(first.plan, second.plan)).to.equal(true);
      expect(bitwiseEqual(first.u, second.u) && bitwiseEqual(first.v, second.v)).to.equal(true);
      expect(first.cost).to.equal(second.cost);
    }
  });

  it('emd (async) returns exactly what emdSync returns', async () => {
    for (const [x, y, C] of [[a, b, M], [u, u, uM]] as const) {
      const sync = emdSync(x, y, C);
      const promised = await emd(x, y, C);
      expect(bitwiseEqual(sync.plan, promised.plan)).to.equal(true);
      expect(promised.cost).to.equal(sync.cost);
      expect(promised.iterations).to.equal(sync.iterations);
      expect(promised.method).to.equal(sync.method);
    }
  });

  it('emd2 and emd2Sync return the cost; Float32 inputs are accepted', async () => {
    const sync = emdSync(a, b, M);
    expect(emd2Sync(a, b, M)).to.equal(sync.cost);
    expect(await emd2(a, b, M)).to.equal(sync.cost);
    const u32 = Float32Array.from(uniform(4));
    const M32 = Float32Array.from(randomCost(3, 4, 4));
    expectClose(emd2Sync(u32, u32, M32), bruteForceAssignment(Float64Array.from(M32), 4) * u32[0], 1e-7);
  });
});

describe('emd: errors', () => {
  const a = uniform(3);
  const M = randomCost(1, 3, 3);

  it('rejects malformed inputs with E_ARG and a message that names the problem', () => {
    expectCode(() => emdSync(a, a, new Float64Array(8)), 'E_ARG', /a\.length \* b\.length/);
    expectCode(() => emdSync(a, a, Float64Array.from([...M.slice(0, 8), NaN])), 'E_ARG', /M\[8\] is NaN/);
    expectCode(() => emdSync(a, a, Float64Array.from([Infinity, ...M.slice(1)])), 'E_ARG', /finite/);
    expectCode(() => emdSync(Float64Array.from([0.5, 0.7, -0.2]), a, M), 'E_ARG', /a\[2\] is -0\.2/);
    expectCode(() => emdSync(a, Float64Array.from([NaN, 0.5, 0.5]), M), 'E_ARG', /b\[0\] is NaN/);
    expectCode(() => emdSync(new Float64Array(3), a, M), 'E_ARG', /zero total mass/);
    expectCode(() => emdSync(a, Float64Array.from([0.5, 0.5, 0.5]), M), 'E_ARG', /same total mass/);
    expectCode(() => emdSync(new Float64Array(0), a, new Float64Array(0)), 'E_ARG', /must not be empty/);
    expectCode(() => emdSync([1] as unknown as Float64Array, uniform(1), M.slice(0, 1)), 'E_ARG', /Float64Array/);
    expectCode(() => emdSync(a, a, Array.from(M) as unknown as Float64Array), 'E_ARG', /M must be a Float64Array/);
    expectCode(() => uniform(0), 'E_ARG', /positive integer/);
  });

  it('rejects bad options with E_ARG', () => {
    expectCode(() => emdSync(a, a, M, { method: 'sinkhorn' as EmdMethod }), 'E_ARG', /method must be one of/);
    expectCode(() => emdSync(a, a, M, { maxIterations: -1 }), 'E_ARG', /maxIterations/);
    expectCode(() => emdSync(a, a, M, { maxIterations: 1.5 }), 'E_ARG', /maxIterations/);
    expectCode(() => emdSync(a, a, M, { maxIterations: 0 }), 'E_ARG', /maxIterations/);
    expectCode(() => emdSync(a, a, M, { threads: 0 }), 'E_ARG', /threads/);
    const skewed = Float64Array.from([0.2, 0.3, 0.5]);
    expectCode(() => emdSync(skewed, a, M, { method: 'assignment' }), 'E_ARG', /uniform marginals/);
    expectCode(() => emdSync(uniform(211), uniform(199), new Float64Array(211 * 199), { method: 'assignment' }), 'E_ARG', /lcm/);
  });

  it('throws E_SOLVER when the simplex reaches maxIterations instead of returning a non-optimal plan', async () => {
    const [va, vb, vM] = problemOf(vectors.find((v) => v.name === 'mid-50x80')!);
    expectCode(() => emdSync(va, vb, vM, { maxIterations: 5 }), 'E_SOLVER', /maxIterations = 5/);
    let code: string | undefined;
    await emd(va, vb, vM, { maxIterations: 5 }).catch((err: { code: string }) => { code = err.code; });
    expect(code).to.equal('E_SOLVER');
    const pivots = emdSync(va, vb, vM).iterations;
    expect(emdSync(va, vb, vM, { maxIterations: pivots }).optimal).to.equal(true);
  });

  it('throws E_SOLVER instead of returning a plan it cannot prove optimal (costs whose range overflows)', () => {
    const huge = Float64Array.from([1.7e308, -1.7e308, -1.7e308, 1.7e308]);
    expectCode(() => emdSync(Float64Array.from([0.3, 0.7]), Float64Array.from([0.6, 0.4]), huge), 'E_SOLVER', /could not prove its plan optimal/);
  });
});
