/**
 * Quality of one-shot CLAFusion on the trained Fashion-MNIST fixture pairs (examples/models/pairs.json: a deeper and
 * a shallower model of one family), with real data: activations from 200 of the 1k training images, accuracy on the
 * 2k test images. The fused model must be far above chance (10 %) and beat vanilla averaging of the balanced pair
 * where that is defined. The numbers are printed.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { fuse } from '../../lib/fusion/index.js';
import { validateFusion } from '../../lib/fusion/validate.js';

const MODELS = 'examples/models';
const TRAIN = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';
const TEST = 'idx:examples/data/fashion-mnist-test-2k-images-idx3-ubyte.gz,examples/data/fashion-mnist-test-2k-labels-idx1-ubyte.gz';

const pairs = JSON.parse(readFileSync(`${MODELS}/pairs.json`, 'utf8')) as Record<string, { deep: string; shallow: string }>;

function percent(value: number | null): string {
  return value === null ? 'n/a' : `${(100 * value).toFixed(2)}%`;
}

describe('CLAFusion on the trained fixture pairs (one-shot, activation mode, EMD)', () => {
  for (const [name, pair] of Object.entries(pairs)) {
    const models = [`${MODELS}/${pair.deep}.onnx`, `${MODELS}/${pair.shallow}.onnx`];
    const present = models.every((m) => existsSync(m));
    (present ? it : it.skip)(`${name}: ${pair.deep} + ${pair.shallow}`, async () => {
      const result = await fuse(models, { data: TRAIN, samples: 200 });
      const v = await validateFusion(models, result, TEST);
      const mapping = result.alignments.map((a) => a.alignment.groups.map((g) => `[${g.mapping.join(',')}]`).join(' ')).join('; ');
      console.log(`      ${name}: deep ${percent(v.models[0])}, shallow ${percent(v.models[1])}, fused ${percent(v.fused)}, ` +
        `ensemble ${percent(v.ensemble)}, vanilla ${v.vanilla === null ? v.vanillaNote : percent(v.vanilla)}; mapping ${mapping}`);
      expect(result.alignments).to.have.length(1);
      expect(v.fused).to.be.above(0.4);
      if (v.vanilla !== null) expect(v.fused).to.be.above(v.vanilla);
    });
  }

  it('mlp balanced by merging (sum ReLU approximation) instead of adding identities', async () => {
    const models = [`${MODELS}/mlp_deep.onnx`, `${MODELS}/mlp_shallow.onnx`];
    const result = await fuse(models, { data: TRAIN, samples: 200, balance: 'merge' });
    const v = await validateFusion(models, result, TEST);
    console.log(`      mlp (merge): fused ${percent(v.fused)}`);
    expect(result.network.segments[0].units).to.have.length(3);
    expect(v.fused).to.be.above(0.4);
  });

  it('mlp with Sinkhorn (reg 0.01 x median cost) instead of EMD', async () => {
    const models = [`${MODELS}/mlp_deep.onnx`, `${MODELS}/mlp_shallow.onnx`];
    const result = await fuse(models, { data: TRAIN, samples: 200, solver: 'sinkhorn' });
    const v = await validateFusion(models, result, TEST);
    console.log(`      mlp (sinkhorn): fused ${percent(v.fused)}`);
    expect(result.layers.every((l) => l.method.startsWith('sinkhorn'))).to.equal(true);
    expect(v.fused).to.be.above(0.4);
  });
});
