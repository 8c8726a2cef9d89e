/**
 * The streaming accumulators (lib/stats/accumulators.ts, native/core/moments.cpp): bit-identical for any chunk size
 * and thread count, and equal to the whole-matrix kernels (centred Gram, pairwise distances, two-pass channel
 * statistics) to float tolerance.
 */
import { expect } from 'chai';
import { centeredGram, pairwiseDistances } from '../../lib/solvers/linalg.js';
import { ChannelAccumulator, CrossAccumulator, GramAccumulator } from '../../lib/stats/accumulators.js';
import { momentDistances } from '../../lib/stats/ground.js';
import { maxRelativeDifference } from '../support/compare.js';
import { expectRejects } from '../support/errors.js';
import { rng } from '../support/random.js';

/** Values with a large common mean (post-ReLU-like) where `offset` > 0. */
function randomData(length: number, seed: number, offset = 0): Float32Array {
  const random = rng(seed);
  return Float32Array.from({ length }, () => offset + (random() - 0.5) * 2);
}

function bits(values: Float64Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

/** The Gram from panels of `panel` samples against streamed chunks of `chunk` (as the streaming pass adds them). */
async function blockedGram(x: Float32Array, n: number, d: number, panel: number, chunk: number, threads?: number): Promise<Float64Array> {
  const gram = new GramAccumulator(n, d, threads);
  const rows = (from: number, to: number) => x.subarray(from * d, Math.min(n, to) * d);
  for (let p0 = 0; p0 < n; p0 += panel) {
    const held = rows(p0, p0 + panel);
    await gram.add(held, p0, held, p0);
    for (let q0 = p0 + panel; q0 < n; q0 += chunk) await gram.add(rows(q0, q0 + chunk), q0, held, p0);
  }
  return gram.gram();
}

function doubleCentre(k: Float64Array, n: number): Float64Array {
  const rowMeans = Array.from({ length: n }, (_, i) => k.subarray(i * n, (i + 1) * n).reduce((a, b) => a + b, 0) / n);
  const grand = rowMeans.reduce((a, b) => a + b, 0) / n;
  return k.map((v, idx) => v - rowMeans[Math.floor(idx / n)] - rowMeans[idx % n] + grand);
}

describe('streaming statistics accumulators', () => {
  const n = 23;
  const d = 1100; // three feature blocks of the Gram (512, 512, 76)

  it('sample Gram: bit-identical for panels/chunks 1, 7 and all, and for 1-3 threads', async () => {
    const x = randomData(n * d, 1, 3);
    const reference = bits(await blockedGram(x, n, d, n, n, 1));
    for (const [panel, chunk] of [[1, 1], [7, 7], [7, 3], [5, 11], [n, n]]) {
      for (const threads of [1, 2, 3]) expect(bits(await blockedGram(x, n, d, panel, chunk, threads)), `${panel}/${chunk}/${threads}`).to.equal(reference);
    }
  });

  it('sample Gram: its double centring is the centred Gram H X Xᵀ H (features with a large mean)', async () => {
    const x = randomData(n * d, 2, 20);
    const centred = doubleCentre(await blockedGram(x, n, d, 7, 7), n);
    expect(maxRelativeDifference(centred, await centeredGram(x, n, d))).to.be.below(1e-6);
  });

  for (const spatial of [1, 5, 40]) {
    it(`cross moments (${spatial} positions): bit-identical over chunks and threads, and the pairwise distances`, async () => {
      const [cx, cy] = [13, 9];
      const x = randomData(n * cx * spatial, 3, 0.5);
      const y = randomData(n * cy * spatial, 4, 0.5);
      const run = async (chunk: number, threads: number) => {
        const acc = new CrossAccumulator(cx, cy, spatial, threads);
        for (let s = 0; s < n; s += chunk) {
          const end = Math.min(n, s + chunk);
          await acc.add([x.subarray(s * cx * spatial, end * cx * spatial)], [y.subarray(s * cy * spatial, end * cy * spatial)]);
        }
        return acc.moments;
      };
      const reference = await run(n, 1);
      for (const chunk of [1, 7, n]) for (const threads of [1, 2, 3]) expect(bits(await run(chunk, threads))).to.equal(bits(reference));
      // Unit rows: channel c over (sample, position), as the stored-activation path laid them out.
      const unitRows = (t: Float32Array, c: number) => {
        const rows = new Float32Array(c * n * spatial);
        for (let s = 0; s < n; s++) for (let k = 0; k < c; k++) for (let p = 0; p < spatial; p++) rows[k * n * spatial + s * spatial + p] = t[(s * c + k) * spatial + p];
        return rows;
      };
      const squares = async (t: Float32Array, c: number) => {
        const acc = new ChannelAccumulator(c, spatial);
        await acc.add(t);
        return acc.squares;
      };
      const moments = { cross: reference, rowSquares: await squares(x, cx), colSquares: await squares(y, cy) };
      for (const metric of ['sqeuclidean', 'euclidean', 'cosine'] as const) {
        const expected = await pairwiseDistances(unitRows(x, cx), cx, unitRows(y, cy), cy, n * spatial, { metric, device: 'cpu' });
        expect(maxRelativeDifference(momentDistances(moments, metric), expected), metric).to.be.below(1e-5);
      }
    });
  }

  for (const spatial of [1, 5, 40]) {
    it(`second moments of one tap (${spatial} positions): the bits of the cross moments with itself, for any chunk and thread count`, async () => {
      const channels = 29; // several row strips of unequal triangle area
      const x = randomData(n * channels * spatial, 5, 0.5);
      const run = async (chunk: number, threads: number, symmetric: boolean) => {
        const acc = new CrossAccumulator(channels, channels, spatial, threads, symmetric);
        for (let s = 0; s < n; s += chunk) {
          const rows = x.subarray(s * channels * spatial, Math.min(n, s + chunk) * channels * spatial);
          await acc.add([rows], [rows]);
        }
        return acc.moments;
      };
      const reference = bits(await run(n, 1, false));
      for (const chunk of [1, 7, n]) for (const threads of [1, 2, 3]) expect(bits(await run(chunk, threads, true)), `${chunk}/${threads}`).to.equal(reference);
    });
  }

  // Wide taps cross the kernel's cache blocks (144 x 256 of M below 128 positions, 128-row triangle strips above).
  for (const spatial of [40, 130]) {
    it(`wide taps (300 x 270 channels, ${spatial} positions): cross and second moments over blocks, chunks and threads`, async () => {
      const [samples, cx, cy] = [5, 300, 270];
      const x = randomData(samples * cx * spatial, 6, 0.5);
      const y = randomData(samples * cy * spatial, 7, 0.5);
      const run = async (chunk: number, threads: number, c: number, data: Float32Array, symmetric = false) => {
        const other = symmetric ? data : y;
        const acc = new CrossAccumulator(c, symmetric ? c : cy, spatial, threads, symmetric);
        for (let s = 0; s < samples; s += chunk) {
          const end = Math.min(samples, s + chunk);
          const part = data.subarray(s * c * spatial, end * c * spatial);
          await acc.add([part], [symmetric ? part : other.subarray(s * cy * spatial, end * cy * spatial)]);
        }
        return acc.moments;
      };
      const cross = await run(samples, 1, cx, x);
      const exact = new Float64Array(cx * cy);
      for (let s = 0; s < samples; s++) {
        for (let i = 0; i < cx; i++) {
          for (let j = 0; j < cy; j++) {
            let sum = 0;
            for (let p = 0; p < spatial; p++) sum += x[(s * cx + i) * spatial + p] * y[(s * cy + j) * spatial + p];
            exact[i * cy + j] += sum;
          }
        }
      }
      expect(maxRelativeDifference(cross, exact)).to.be.below(1e-5);
      const own = bits(await run(samples, 1, cx, x, true));
      for (const [chunk, threads] of [[1, 2], [2, 3], [samples, 2]]) {
        expect(bits(await run(chunk, threads, cx, x)), `cross ${chunk}/${threads}`).to.equal(bits(cross));
        expect(bits(await run(chunk, threads, cx, x, true)), `second ${chunk}/${threads}`).to.equal(own);
      }
      // The second moments are the cross moments of the tap with itself, bit for bit.
      const itself = new CrossAccumulator(cx, cx, spatial, 2);
      await itself.add([x], [x]);
      expect(own).to.equal(bits(itself.moments));
    });
  }

  for (const spatial of [5, 40, 130]) {
    it(`summed tap pairs (${spatial} positions): the sum of each pair's moments, the same bits for any chunk and thread count, and a repeated pair costs no products`, async () => {
      const [samples, cx, cy] = [6, 150, 40];
      const tap = (c: number, seed: number) => randomData(samples * c * spatial, seed, 0.5);
      const [x1, x2, y1, y2] = [tap(cx, 11), tap(cx, 12), tap(cy, 13), tap(cy, 14)];
      // Pair 2 repeats pair 1 (the same arrays): an inserted block's output is its input.
      const xs = [x1, x1, x2];
      const ys = [y1, y1, y2];
      const slice = (t: Float32Array, c: number, s: number, end: number) => t.subarray(s * c * spatial, end * c * spatial);
      const run = async (left: Float32Array[], right: Float32Array[], chunk: number, threads: number, symmetric = false) => {
        const acc = new CrossAccumulator(cx, symmetric ? cx : cy, spatial, threads, symmetric);
        for (let s = 0; s < samples; s += chunk) {
          const end = Math.min(samples, s + chunk);
          const a = left.map((t) => slice(t, cx, s, end));
          await acc.add(a, symmetric ? a : right.map((t) => slice(t, cy, s, end)));
        }
        return acc.moments;
      };
      const summed = await run(xs, ys, samples, 1);
      const singles = await Promise.all(xs.map((x, t) => run([x], [ys[t]], samples, 1)));
      const total = singles[0].map((v, k) => v + singles[1][k] + singles[2][k]);
      expect(maxRelativeDifference(summed, total)).to.be.below(1e-12);
      // Copies of the repeated arrays are recomputed: the reuse gives the bits of recomputing.
      expect(bits(await run([x1, x1.slice(), x2], [y1, y1.slice(), y2], samples, 2))).to.equal(bits(summed));
      for (const [chunk, threads] of [[1, 1], [4, 2], [samples, 3]]) {
        expect(bits(await run(xs, ys, chunk, threads)), `${chunk}/${threads}`).to.equal(bits(summed));
      }
      const own = await run(xs, xs, samples, 1, true);
      const asCross = new CrossAccumulator(cx, cx, spatial, 2);
      await asCross.add(xs, xs);
      expect(bits(own)).to.equal(bits(asCross.moments));
      for (const [chunk, threads] of [[1, 2], [5, 3]]) expect(bits(await run(xs, xs, chunk, threads, true))).to.equal(bits(own));
    });
  }

  it('second moments of one tap: another tap as y, or unequal widths, are coded errors', async () => {
    const x = randomData(4 * 3 * 2, 6);
    expect(() => new CrossAccumulator(3, 4, 2, 1, true)).to.throw().with.property('code', 'E_SHAPE');
    await expectRejects(new CrossAccumulator(3, 3, 2, 1, true).add([x], [x.slice()]), 'E_ARG');
  });

  it('channel sums: bit-identical over chunks and threads; mean and std as the two-pass loop', async () => {
    const [channels, spatial] = [6, 49];
    const x = randomData(n * channels * spatial, 5, 4);
    const run = async (chunk: number, threads: number) => {
      const acc = new ChannelAccumulator(channels, spatial, threads);
      for (let s = 0; s < n; s += chunk) await acc.add(x.subarray(s * channels * spatial, Math.min(n, s + chunk) * channels * spatial));
      return acc;
    };
    const reference = await run(n, 1);
    for (const chunk of [1, 7]) {
      for (const threads of [1, 3]) {
        const acc = await run(chunk, threads);
        expect([bits(acc.sums), bits(acc.squares), bits(acc.positives)]).to.deep.equal([bits(reference.sums), bits(reference.squares), bits(reference.positives)]);
      }
    }
    const { mean, std } = reference.moments();
    for (let c = 0; c < channels; c++) {
      const values: number[] = [];
      for (let s = 0; s < n; s++) for (let p = 0; p < spatial; p++) values.push(x[(s * channels + c) * spatial + p]);
      const m = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / values.length);
      expect(mean[c]).to.be.closeTo(m, 1e-12);
      expect(std[c]).to.be.closeTo(sd, 1e-9);
      expect(reference.positives[c]).to.equal(values.filter((v) => v > 0).length);
    }
  });

  for (const spatial of [3, 13, 16, 49]) {
    it(`channel sums (${spatial} positions, signs mixed, exact zeros): the positives counted exactly, sums and squares as a plain loop`, async () => {
      const [samples, channels] = [5, 7];
      const random = rng(spatial);
      const x = Float32Array.from({ length: samples * channels * spatial }, () => {
        const u = random();
        return u < 0.2 ? 0 : u < 0.25 ? -0 : (random() - 0.5) * 10;
      });
      const acc = new ChannelAccumulator(channels, spatial, 1);
      await acc.add(x);
      for (let c = 0; c < channels; c++) {
        let [sum, square, positive] = [0, 0, 0];
        for (let t = 0; t < samples; t++) {
          for (let p = 0; p < spatial; p++) {
            const v = x[(t * channels + c) * spatial + p];
            sum += v;
            square += v * v;
            positive += v > 0 ? 1 : 0;
          }
        }
        expect(acc.positives[c]).to.equal(positive);
        expect(acc.sums[c]).to.be.closeTo(sum, 1e-9);
        expect(acc.squares[c]).to.be.closeTo(square, 1e-8);
      }
    });
  }

  it('bad blocks and shapes are coded errors', async () => {
    const gram = new GramAccumulator(4, 3);
    await expectRejects(gram.add(new Float32Array(6), 2, new Float32Array(6), 0), 'E_ARG'); // shift block first
    await expectRejects(gram.add(new Float32Array(6), 0, new Float32Array(6), 2), 'E_ARG'); // above the diagonal
    await expectRejects(gram.add(new Float32Array(7), 0, new Float32Array(6), 0), 'E_SHAPE');
    await expectRejects(gram.add(Float32Array.of(0, 0, NaN), 0, new Float32Array(3), 0), 'E_ARG');
    await expectRejects(new CrossAccumulator(2, 3, 1).add([new Float32Array(4)], [new Float32Array(9)]), 'E_SHAPE');
    await expectRejects(new CrossAccumulator(2, 3, 1).add([], []), 'E_ARG');
    await expectRejects(new CrossAccumulator(2, 3, 1).add([new Float32Array(4)], [new Float32Array(6), new Float32Array(6)]), 'E_ARG');
    await expectRejects(new CrossAccumulator(2, 3, 1).add([new Float32Array(4), new Float32Array(2)], [new Float32Array(6), new Float32Array(6)]), 'E_SHAPE');
    expect(() => new ChannelAccumulator(0, 1)).to.throw().with.property('code', 'E_ARG');
    expect(() => new ChannelAccumulator(2, 1).moments()).to.throw().with.property('code', 'E_ARG');
  });
});
