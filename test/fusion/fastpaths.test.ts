/** The fusion's hand-tuned loops must give the plain definitions' results to the bit. */
import { expect } from 'chai';
import { accumulateMappedOutputs, columnNormalise, mapOutputs } from '../../lib/fusion/transport.js';
import { rng } from './helpers.js';

describe('bit-exact fast paths', () => {
  it('accumulateMappedOutputs equals accumulating mapOutputs, for permutation, sparse and dense plans', () => {
    const random = rng(5);
    const [rows, cols, inner] = [6, 4, 5];
    const plans = {
      permutation: (i: number, j: number) => (i === [2, 0, 5, 1][j] ? 1 : 0),
      sparse: (i: number, j: number) => ((i + 2 * j) % 3 === 0 ? random() : 0),
      dense: () => random(),
      'empty column': (_: number, j: number) => (j === 3 ? 0 : random()),
    };
    for (const [name, entry] of Object.entries(plans)) {
      const plan = Float64Array.from({ length: rows * cols }, (_, k) => entry(Math.floor(k / cols), k % cols));
      const map = columnNormalise(plan, rows, cols);
      const values = Float32Array.from({ length: rows * inner }, () => (random() - 0.5) * 2 ** (40 * random() - 20));
      values[3] = -0;
      const start = Float64Array.from({ length: cols * inner }, () => random() - 0.5);
      start[0] = -0; // a -0 total turns +0 when 0 is added: both paths must do the same
      const expected = Float64Array.from(start);
      const mapped = mapOutputs(values, map);
      for (let k = 0; k < expected.length; k++) expected[k] += 0.3 * mapped[k];
      const found = Float64Array.from(start);
      accumulateMappedOutputs(found, values, map, 0.3);
      expect(Array.from(found), name).to.deep.equal(Array.from(expected));
    }
  });
});

