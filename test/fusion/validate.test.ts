/** validateFusion runs its evaluations at once: the same accuracies as one at a time, progress once per evaluation. */
import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { openDataset } from '../../lib/data/spec.js';
import { ensembleAccuracy } from '../../lib/eval/ensemble.js';
import { evaluate } from '../../lib/eval/evaluate.js';
import { sharedThreads } from '../../lib/eval/runner.js';
import { fuse } from '../../lib/fusion/index.js';
import { validateFusion, vanillaAverage } from '../../lib/fusion/validate.js';
import { emitModel } from '../../lib/graph/emit.js';

const TRAIN = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';
const TEST = 'idx:examples/data/fashion-mnist-test-2k-images-idx3-ubyte.gz,examples/data/fashion-mnist-test-2k-labels-idx1-ubyte.gz';

describe('validation of a fusion', () => {
  it('sharedThreads splits the cores between sessions that run at once, at least one each', () => {
    const cores = availableParallelism();
    expect(sharedThreads(1)).to.equal(cores);
    expect(sharedThreads(2)).to.equal(Math.max(1, Math.floor(cores / 2)));
    expect(sharedThreads(cores + 1)).to.equal(1);
    expect(sharedThreads(0)).to.equal(cores);
  });

  for (const family of ['mlp', 'resnet']) {
    it(`${family} pair: concurrent evaluations give the one-at-a-time accuracies; progress once per evaluation`, async () => {
      const models = [`examples/models/${family}_deep.onnx`, `examples/models/${family}_shallow.onnx`];
      const result = await fuse(models, { data: TRAIN, samples: 100 });
      const progress: [string, number, number][] = [];
      const v = await validateFusion(models, result, TEST, { onProgress: (label, done, total) => progress.push([label, done, total]) });
      const dataset = await openDataset(TEST);
      const ensemble = await ensembleAccuracy(models, dataset, { mode: 'logits' });
      expect(v.ensemble).to.equal(ensemble.accuracy);
      expect(v.models).to.deep.equal(ensemble.modelAccuracies);
      expect(v.fused).to.equal((await evaluate(result.bytes, dataset)).accuracy);
      if (v.vanilla === null) expect(v.vanillaNote).to.match(/^not applicable/);
      else expect(v.vanilla).to.equal((await evaluate(emitModel(vanillaAverage(result.models)).bytes, dataset)).accuracy);
      expect(progress.map(([, done, total]) => [done, total])).to.deep.equal([[1, 3], [2, 3], [3, 3]]);
      expect(progress.map(([label]) => label).sort()).to.deep.equal(['ensemble', 'fused', 'vanilla']);
    });
  }
});
