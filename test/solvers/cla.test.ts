import { expect } from 'chai';
import { claAlign } from '../../lib/solvers/cla.js';
import { rng } from '../support/random.js';

const C1 = [[0, 0.9, 0.9], [0.5, 0.2, 0.8], [0.6, 0.1, 0.7], [0.9, 0.7, 0.3], [0.8, 0.9, 0.5]];
const C2 = [[0.3, 0.9, 0.9], [0.1, 0.9, 0.9], [0.9, 0.2, 0.9], [0.9, 0.9, 0.05], [0.9, 0.9, 0.6]];
const C3 = [[0, 1, 1], [1, 0.5, 1], [1, 0.5, 1], [1, 1, 0]];

function flat(rows: number[][]): Float64Array {
  return Float64Array.from(rows.flat());
}

function align(rows: number[][], s: number, f: number): number[] {
  return claAlign(flat(rows), rows.length, rows[0].length, { startLayer: s, pinnedEnd: f }).mapping;
}

describe('claAlign (spec §1.4 test vectors)', () => {
  const cases: [string, number[][], number, number, number[]][] = [
    ['C1', C1, 1, 0, [1, 3, 4]], ['C1', C1, 1, 1, [1, 3, 5]], ['C1', C1, 2, 0, [1, 3, 4]], ['C1', C1, 2, 1, [1, 3, 5]],
    ['C2', C2, 1, 0, [2, 3, 4]], ['C2', C2, 1, 1, [2, 3, 5]], ['C2', C2, 2, 0, [1, 3, 4]], ['C2', C2, 2, 1, [1, 3, 5]],
    ['C3', C3, 1, 0, [1, 2, 4]], ['C3', C3, 2, 1, [1, 2, 4]],
  ];
  for (const [name, rows, s, f, expected] of cases) {
    it(`${name} with (s, f) = (${s}, ${f}) gives [${expected}]`, () => {
      expect(align(rows, s, f)).to.deep.equal(expected);
    });
  }

  it('breaks ties toward the earliest deep layer (zero costs)', () => {
    expect(align([[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]], 1, 0)).to.deep.equal([1, 2, 3]);
  });
});

/** Every strictly increasing map of shallow 1..n into deep 1..m (1-based) that keeps the pins of spec §1.4. */
function pinnedMaps(m: number, n: number, s: number, f: number): number[][] {
  const maps: number[][] = [];
  const extend = (prefix: number[]) => {
    if (prefix.length === n) {
      maps.push(prefix);
      return;
    }
    const k = prefix.length + 1;
    const last = prefix.length === 0 ? 0 : prefix[prefix.length - 1];
    for (let l = last + 1; l <= m - (n - k); l++) {
      const pinnedStart = k < s && l !== k;
      const pinnedEnd = k > n - f && l !== m - (n - k);
      if (!pinnedStart && !pinnedEnd) extend([...prefix, l]);
    }
  };
  extend([]);
  return maps;
}

function costOf(rows: number[][], map: number[]): number {
  return map.reduce((sum, deep, k) => sum + rows[deep - 1][k], 0);
}

describe('claAlign against brute force', () => {
  it('finds the cheapest pinned monotone map on 200 random matrices (m <= 8, s in {1,2}, f in {0,1})', () => {
    const random = rng(2023);
    let checked = 0;
    while (checked < 200) {
      const m = 1 + Math.floor(random() * 8);
      const n = 1 + Math.floor(random() * m);
      const s = 1 + Math.floor(random() * 2);
      const f = Math.floor(random() * 2);
      if (n > 1 && s - 1 + f > n) continue;
      const rows = Array.from({ length: m }, () => Array.from({ length: n }, () => random()));
      const result = claAlign(flat(rows), m, n, { startLayer: s, pinnedEnd: f });
      // One shallow layer always maps to deep layer 1 (spec §1.4), whatever the costs and pins.
      const candidates = n === 1 ? [[1]] : pinnedMaps(m, n, s, f);
      const best = candidates.reduce((a, b) => (costOf(rows, b) < costOf(rows, a) ? b : a));
      expect(result.mapping, `m=${m} n=${n} s=${s} f=${f}`).to.deep.equal(best);
      expect(result.totalCost).to.be.closeTo(costOf(rows, best), 1e-12);
      checked++;
    }
  });
});

describe('claAlign on the spec §1.5 MLP example (neuron cost)', () => {
  // Deep MLP 400-200-100-50-25 vs shallow 400-200-100; C[i][j] = (n_i - n_j)^2.
  const deep = [400, 200, 100, 50, 25];
  const shallow = [400, 200, 100];
  const rows = deep.map((a) => shallow.map((b) => (a - b) ** 2));

  it('gives [1, 2, 5] with s = 2, f = 1 and [1, 2, 3] with s = 1, f = 0', () => {
    expect(align(rows, 2, 1)).to.deep.equal([1, 2, 5]);
    expect(align(rows, 1, 0)).to.deep.equal([1, 2, 3]);
  });

  it('uses the published defaults s = 2, f = 1', () => {
    expect(claAlign(flat(rows), 5, 3).mapping).to.deep.equal([1, 2, 5]);
  });
});

describe('claAlign argument errors', () => {
  const cost = flat(C1);
  const cases: [string, () => unknown][] = [
    ['n > m', () => claAlign(flat([[1, 2, 3]]), 1, 3)],
    ['zero layers', () => claAlign(new Float64Array(0), 0, 0)],
    ['a non-integer m', () => claAlign(cost, 5.5, 3)],
    ['a wrong length', () => claAlign(cost, 4, 3)],
    ['NaN in the costs', () => claAlign(Float64Array.from([NaN, 1, 2, 3]), 2, 2)],
    ['an infinite cost', () => claAlign(Float64Array.from([Infinity, 1, 2, 3]), 2, 2)],
    ['a plain array', () => claAlign([1, 2, 3, 4] as unknown as Float64Array, 2, 2)],
    ['startLayer 0', () => claAlign(cost, 5, 3, { startLayer: 0 })],
    ['a negative pinnedEnd', () => claAlign(cost, 5, 3, { pinnedEnd: -1 })],
    ['pins that exceed the shallow layers', () => claAlign(cost, 5, 3, { startLayer: 3, pinnedEnd: 2 })],
  ];
  for (const [name, call] of cases) {
    it(`rejects ${name} with E_ARG`, () => {
      expect(call).to.throw().with.property('code', 'E_ARG');
    });
  }
});
