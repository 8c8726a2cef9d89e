import { expect } from 'chai';
import { SplitMix64, sampleIndices } from '../../lib/data/index.js';
import { isClafusionError } from '../../lib/errors.js';

describe('deterministic sampling', () => {
  it('SplitMix64 reproduces the published reference outputs for seed 0', () => {
    const rng = new SplitMix64(0);
    expect([rng.next(), rng.next(), rng.next()]).to.deep.equal([0xe220a8397b1dcdafn, 0x6e789e6aa1b965f4n, 0x06c45d188009454fn]);
  });

  it('gives the same indices for the same seed and different ones for another seed', () => {
    const a = sampleIndices(60000, 200, 42);
    expect(Array.from(sampleIndices(60000, 200, 42))).to.deep.equal(Array.from(a));
    expect(Array.from(sampleIndices(60000, 200, 43))).to.not.deep.equal(Array.from(a));
    expect(Array.from(sampleIndices(60000, 200, 42n))).to.deep.equal(Array.from(a));
  });

  it('matches indices computed by an independent Python implementation of the documented algorithm', () => {
    expect(Array.from(sampleIndices(1000, 8, 42))).to.deep.equal([413, 182, 552, 26, 338, 942, 855, 396]);
    expect(Array.from(sampleIndices(10, 10, 1))).to.deep.equal([5, 8, 1, 3, 7, 2, 4, 6, 0, 9]);
  });

  it('draws distinct in-range indices, a prefix of a longer draw, and a permutation when k = count', () => {
    const draw = Array.from(sampleIndices(50, 30, 7));
    expect(new Set(draw).size).to.equal(30);
    expect(draw.every((i) => i >= 0 && i < 50)).to.equal(true);
    expect(Array.from(sampleIndices(50, 10, 7))).to.deep.equal(draw.slice(0, 10));
    expect(Array.from(sampleIndices(50, 50, 7)).sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    expect(sampleIndices(0, 0, 1).length).to.equal(0);
  });

  it('is close to uniform: every index of 10 is drawn first about 1/10 of the time', () => {
    const firsts = new Array<number>(10).fill(0);
    for (let seed = 0; seed < 5000; seed++) firsts[sampleIndices(10, 1, seed)[0]!]!++;
    for (const n of firsts) expect(n).to.be.within(400, 600);
  });

  it('rejects k > count and non-integer arguments with E_ARG', () => {
    for (const call of [() => sampleIndices(5, 6, 1), () => sampleIndices(5.5, 1, 1), () => sampleIndices(5, 1, 0.5)]) {
      expect(call).to.throw().that.satisfies((err: unknown) => isClafusionError(err, 'E_ARG'));
    }
  });
});
