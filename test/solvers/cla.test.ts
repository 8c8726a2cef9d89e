import { expect } from 'chai';
import { claAlign } from '../../lib/solvers/cla.js';

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
