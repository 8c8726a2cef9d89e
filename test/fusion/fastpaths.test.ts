/** The fusion's hand-tuned loops must give the plain definitions' results to the bit. */
import { expect } from 'chai';
import { unitRows } from '../../lib/fusion/activations.js';
import { channelStatistics } from '../../lib/fusion/repair.js';
import { accumulateMappedOutputs, columnNormalise, mapOutputs } from '../../lib/fusion/transport.js';
import { rng } from './helpers.js';

/** The definition: per channel, Σ_n Σ_s in float64 (n outer, s inner), then the mean of squared deviations. */
function plainStatistics(data: Float32Array, shape: number[]): { mean: number[]; std: number[] } {
  const [samples, channels] = shape;
  const inner = data.length / (samples * channels);
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let n = 0; n < samples; n++) for (let k = 0; k < inner; k++) sum += data[(n * channels + c) * inner + k];
    const m = sum / (samples * inner);
    let squares = 0;
    for (let n = 0; n < samples; n++) {
      for (let k = 0; k < inner; k++) {
        const d = data[(n * channels + c) * inner + k] - m;
        squares += d * d;
      }
    }
    mean.push(m);
    std.push(Math.sqrt(squares / (samples * inner)));
  }
  return { mean, std };
}

describe('bit-exact fast paths', () => {
  it('channelStatistics equals the plain per-channel loop bit for bit (1 to 9 channels, dense and conv)', () => {
    const random = rng(3);
    for (let channels = 1; channels <= 9; channels++) {
      for (const shape of [[13, channels], [5, channels, 3, 7]]) {
        const length = shape.reduce((a, b) => a * b, 1);
        // Magnitudes over 18 decades: the float64 sums round, so any other summation order would show.
        const data = Float32Array.from({ length }, () => (random() - 0.3) * 2 ** (60 * random() - 30));
        const found = channelStatistics({ data, shape });
        const expected = plainStatistics(data, shape);
        expect(Array.from(found.mean), `mean ${shape}`).to.deep.equal(expected.mean);
        expect(Array.from(found.std), `std ${shape}`).to.deep.equal(expected.std);
      }
    }
  });

  it('unitRows lays out [tap][N, C, S] as rows c = [tap 1 (n, s) ..., tap 2 ...], small and large S alike', () => {
    const random = rng(4);
    const channels = 3;
    for (const spatial of [1, 7, 300]) {
      const taps = [2, 3].map((samples) => {
        const data = Float32Array.from({ length: samples * channels * spatial }, () => random() - 0.5);
        data[1] = -0; // deep.equal tells -0 from 0: the sign of zero must survive the copy
        return { data, shape: [samples, channels, spatial] };
      });
      const { data, rows, dim } = unitRows(taps);
      const expected: number[] = [];
      for (let c = 0; c < channels; c++) {
        for (const t of taps) for (let n = 0; n < t.shape[0]; n++) for (let s = 0; s < spatial; s++) expected.push(t.data[(n * channels + c) * spatial + s]);
      }
      expect([rows, dim]).to.deep.equal([channels, 5 * spatial]);
      expect(Array.from(data), `S = ${spatial}`).to.deep.equal(expected);
      // Into reused storage (what the OT stage passes): every element is written, whatever was there.
      const dirty = new Float32Array(data.length + 5).fill(Number.NaN);
      const reused = unitRows(taps, (length) => dirty.subarray(0, length));
      expect(reused.data.buffer).to.equal(dirty.buffer);
      expect(Array.from(reused.data), `S = ${spatial}, reused`).to.deep.equal(expected);
    }
  });

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

