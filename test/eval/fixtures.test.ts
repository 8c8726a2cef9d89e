/**
 * The committed example models (examples/models) evaluated through ONNX Runtime give exactly the accuracies that
 * scripts/train_fixtures.py recorded in torch (models.json, pairs.json) on the committed 2000 test images.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { openDataset, type Dataset } from '../../lib/data/index.js';
import { ensembleAccuracy, evaluate } from '../../lib/eval/index.js';

const examples = (path: string): string => new URL(`../../examples/${path}`, import.meta.url).pathname;
const models = JSON.parse(readFileSync(examples('models/models.json'), 'utf8')) as Record<string, { file: string; correct_test2k: number }>;
const pairs = JSON.parse(readFileSync(examples('models/pairs.json'), 'utf8')) as Record<string, { deep: string; shallow: string; ensemble_correct_test2k: number }>;

describe('example models through ONNX Runtime', () => {
  let test2k: Dataset;
  before(async () => {
    test2k = await openDataset(`idx:${examples('data/fashion-mnist-test-2k-images-idx3-ubyte.gz')},${examples('data/fashion-mnist-test-2k-labels-idx1-ubyte.gz')}`);
  });

  for (const [name, model] of Object.entries(models)) {
    it(`${name} scores the recorded ${model.correct_test2k}/2000`, async () => {
      const result = await evaluate(examples(`models/${model.file}`), test2k, { threads: 1 });
      expect(result.count).to.equal(2000);
      expect(result.correct).to.equal(model.correct_test2k);
    });
  }

  for (const [name, pair] of Object.entries(pairs)) {
    it(`the ${name} pair's logit-average ensemble scores the recorded ${pair.ensemble_correct_test2k}/2000`, async () => {
      const files = [pair.deep, pair.shallow].map((m) => examples(`models/${models[m]!.file}`));
      const result = await ensembleAccuracy(files, test2k, { mode: 'logits', threads: 1 });
      expect(result.correct).to.equal(pair.ensemble_correct_test2k);
    });
  }
});
