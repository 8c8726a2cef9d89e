import { expect } from 'chai';
import { normalizationFromMetadata } from '../../lib/eval/index.js';
import { isClafusionError } from '../../lib/errors.js';

describe('normalisation from model metadata', () => {
  it('reads one value or one per channel, and nothing when the keys are absent', () => {
    expect(normalizationFromMetadata({ 'clafusion.input_mean': '0.2860', 'clafusion.input_std': '0.3530' }, 'm')).to.deep.equal({ mean: [0.286], std: [0.353] });
    expect(normalizationFromMetadata({ 'clafusion.input_mean': '0.4914, 0.4822,0.4465', 'clafusion.input_std': '0.247,0.243,0.261' }, 'm')).to.deep.equal({
      mean: [0.4914, 0.4822, 0.4465],
      std: [0.247, 0.243, 0.261],
    });
    expect(normalizationFromMetadata({ 'clafusion.dataset': 'fashion-mnist' }, 'm')).to.equal(null);
  });

  it('rejects malformed lists with E_DATA naming the model and the key', () => {
    for (const bad of ['', '0.1,,0.2', 'abc', '0.5;0.5']) {
      expect(() => normalizationFromMetadata({ 'clafusion.input_mean': bad, 'clafusion.input_std': '1' }, 'model.onnx'))
        .to.throw(/model\.onnx: metadata clafusion\.input_mean/)
        .that.satisfies((err: unknown) => isClafusionError(err, 'E_DATA'));
    }
  });
});
