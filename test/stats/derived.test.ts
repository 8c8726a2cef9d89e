/**
 * A balanced network's taps read from a run of the original network (lib/stats/derived.ts) equal a forward pass of
 * the balanced network itself.
 */
import { expect } from 'chai';
import { tapKey } from '../../lib/fusion/activations.js';
import { balanceByAdding } from '../../lib/fusion/balance/add.js';
import { crossLayerAlignment } from '../../lib/fusion/cla/index.js';
import type { Network } from '../../lib/ir/network.js';
import { type KnownTaps, balancedTapSources, derivedChunk, knownTaps } from '../../lib/stats/derived.js';
import { type Statistics, StatisticsBuilder } from '../../lib/stats/statistics.js';
import { type StreamOptions, streamStatistics, tapShapes } from '../../lib/stats/stream.js';
import { Dataset } from '../../lib/data/dataset.js';
import { MemorySource } from '../../lib/data/source.js';
import {
  allTaps, buildBottleneckResnet, buildMlp, buildResnet, buildVgg, maxAbsDiff, recordedTaps, rng,
} from '../fusion/helpers.js';

describe('taps of a balanced network from the original network', () => {
  const pairs: [string, () => Network, () => Network, number, number][] = [
    ['MLP', () => buildMlp([12, 10, 9, 8, 7, 6], 4, { bias: true, seed: 1 }), () => buildMlp([12, 10, 9, 8], 4, { bias: true, seed: 2 }), 2, 1],
    ['VGG, identities after the pooled layer', () => buildVgg([[3, 4, 4], [5, 5]], [2, 8, 8], 4, { seed: 3 }), () => buildVgg([[3, 4], [5]], [2, 8, 8], 4, { seed: 4 }), 2, 0],
    ['ResNet with BN', () => buildResnet([3, 3], [3, 4], [2, 8, 8], 4, { seed: 7, batchNorm: true }), () => buildResnet([2, 1], [3, 5], [2, 8, 8], 4, { seed: 8, batchNorm: true }), 2, 1],
    ['Bottleneck ResNet with BN (compact inserted blocks)',
      () => buildBottleneckResnet([3, 3], [2, 3], [2, 8, 8], 4, { seed: 9, batchNorm: true }),
      () => buildBottleneckResnet([2, 1], [2, 3], [2, 8, 8], 4, { seed: 10, batchNorm: true }), 2, 1],
  ];
  for (const [name, deepOf, shallowOf, s, f] of pairs) {
    it(`${name}: every tap equals a forward pass of the balanced network (chunks of samples)`, async () => {
      const [deep, shallow] = [deepOf(), shallowOf()];
      const alignment = await crossLayerAlignment(deep, shallow, { startLayer: s, pinnedEnd: f });
      const balanced = balanceByAdding(deep, shallow, alignment.groups);
      const sources = balancedTapSources(shallow, balanced)!;
      const shapes = tapShapes(balanced);
      const direct = recordedTaps(balanced, 6);
      const original = recordedTaps(shallow, 6);
      expect(sources.size).to.equal(shapes.size);
      const taps = allTaps(balanced);
      const size = (tap: { layer: string; point: 'preact' | 'output' }) => shapes.get(tapKey(tap))!.reduce((a, b) => a * b, 1);
      for (const [start, end] of [[0, 6], [2, 5]]) {
        const run = new Map([...original].map(([key, data]) => {
          const values = data.length / 6;
          return [key, data.subarray(start * values, end * values)];
        }));
        const chunk = derivedChunk(run, sources, end - start, taps, size);
        for (const tap of taps) {
          const key = tapKey(tap);
          const expected = direct.get(key)!.subarray(start * size(tap), end * size(tap));
          expect(maxAbsDiff(chunk.get(key)!, expected), key).to.be.below(1e-5);
        }
      }
    });
  }

  it('running the original in place of the balanced network gives the same statistics, bit for bit', async function () {
    this.timeout(60_000);
    const [, deepOf, shallowOf, s, f] = pairs[3];
    const [deep, shallow] = [deepOf(), shallowOf()];
    const alignment = await crossLayerAlignment(deep, shallow, { startLayer: s, pinnedEnd: f });
    const balanced = balanceByAdding(deep, shallow, alignment.groups);
    const sources = balancedTapSources(shallow, balanced)!;
    const taps = allTaps(balanced);
    const outputs = taps.filter((tap) => tap.point === 'output');
    // The outputs of the widest run of same-shaped units (a stream), summed in one request.
    const shapeOf = (tap: { layer: string; point: 'preact' | 'output' }) => tapShapes(balanced).get(tapKey(tap))!.join('x');
    const counts = new Map<string, number>();
    for (const tap of outputs) counts.set(shapeOf(tap), (counts.get(shapeOf(tap)) ?? 0) + 1);
    const widest = [...counts].reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
    const stream = outputs.filter((tap) => shapeOf(tap) === widest);
    const logits = (network: Network) => ({ layer: network.classifier.name, point: 'preact' as const });
    const request = {
      grams: outputs.map((tap) => ({ model: 1, tap })),
      channels: taps.map((tap) => ({ model: 1, tap })),
      // Every tap's second moments too: the inserted blocks' zero branches are skipped, the rest take the symmetric path.
      cross: [{ a: 0, tapsA: [logits(deep)], b: 1, tapsB: [logits(balanced)] }, ...taps.map((tap) => ({ a: 1, tapsA: [tap], b: 1, tapsB: [tap] })),
        // and all of them in one sum, where the inserted blocks' outputs repeat the taps before them
        { a: 1, tapsA: stream, b: 1, tapsB: stream }],
    };
    expect([...sources.values()].some((source) => 'zero' in source)).to.equal(true);
    const random = rng(4);
    const pixels = Uint8Array.from({ length: 10 * 128 }, () => Math.floor(random() * 256));
    const samples = Dataset.fromSource(new MemorySource(pixels, 128), [2, 8, 8], null, 'random');
    const pass = (options: StreamOptions) => streamStatistics([deep, balanced], request, samples, options);
    const direct = await pass({ chunkSize: 3 });
    const derived = await pass({ chunkSize: 4, derived: [undefined, { original: shallow, sources }] });
    const bits = (values: Float64Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength)
      .toString('hex');
    for (const tap of taps) {
      expect(bits(derived.channels(1, tap).sums), tapKey(tap)).to.equal(bits(direct.channels(1, tap).sums));
    }
    for (const tap of outputs) expect(bits(derived.gram(1, tap)), tapKey(tap)).to.equal(bits(direct.gram(1, tap)));
    const moments = (statistics: Statistics) => bits(statistics.moments(0, [logits(deep)], 1, [logits(balanced)]).cross);
    expect(moments(derived)).to.equal(moments(direct));
    for (const tap of taps) {
      const own = (statistics: Statistics) => bits(statistics.moments(1, [tap], 1, [tap]).cross);
      expect(own(derived), tapKey(tap)).to.equal(own(direct));
    }
    // Taps that hold the same values (an inserted block's output is its input) have their moments computed once.
    const known = knownTaps(sources);
    const summed = (statistics: Statistics) => bits(statistics.moments(1, stream, 1, stream).cross);
    expect(stream.some((tap) => known.values.get(tapKey(tap)) !== tapKey(tap))).to.equal(true);
    expect(summed(derived)).to.equal(summed(direct));
    const shapes = [tapShapes(deep), tapShapes(balanced)];
    const width = (tap: { layer: string; point: 'preact' | 'output' }) => shapes[1].get(tapKey(tap))![0];
    const nonzero = taps.filter((tap) => !known.zeros.has(tapKey(tap)));
    const distinct = new Map(nonzero.map((tap) => [known.values.get(tapKey(tap)), width(tap)]));
    expect(distinct.size).to.be.below(nonzero.length);
    const saved = nonzero.reduce((n, tap) => n + width(tap) ** 2, 0) - [...distinct.values()].reduce((n, c) => n + c ** 2, 0);
    const held = (k?: KnownTaps[]) => StatisticsBuilder.heldValues(request, 10, shapes, k);
    expect(held() - held([knownTaps(undefined), known])).to.equal(saved);
  });

  it('a unit inserted before the first original one reads the network input: no sources', async () => {
    const deep = buildMlp([12, 10, 9, 8, 7], 4, { seed: 5 });
    const shallow = buildMlp([12, 8, 7], 4, { seed: 6 }); // the neuron cost maps its layers to the deep 8 and 7
    const balanced = balanceByAdding(deep, shallow, (await crossLayerAlignment(deep, shallow, { startLayer: 1, pinnedEnd: 0 })).groups);
    const first = balanced.segments[0].units[0];
    expect(first.inserted).to.equal(true);
    expect(balancedTapSources(shallow, balanced)).to.equal(undefined);
  });
});
