/**
 * Normalisation choices: the presets, the flags, one shared normalisation for models that see the same inputs
 * (agreement, refusal, warnings), and the metadata that records it.
 */
import { expect } from 'chai';
import { Dataset } from '../../lib/data/dataset.js';
import { NORMALIZATION_PRESETS, normalizationFromFlags, resolveNormalization } from '../../lib/data/normalization.js';
import { MemorySource, type SampleSource } from '../../lib/data/source.js';
import {
  normalizationFromMetadata, normalizationMetadata, normalizationWarning, sharedNormalization,
} from '../../lib/eval/input.js';
import { isClafusionError } from '../../lib/errors.js';

function pixels(encoding: 'u8' | 'f32'): Dataset {
  const read = async () => Float32Array.from([0, 1, 0.2, 0.4]);
  const floats: SampleSource = { encoding: 'f32', count: 2, sampleSize: 2, read };
  const source = encoding === 'u8' ? new MemorySource(Uint8Array.from([0, 255, 51, 102]), 2) : floats;
  return Dataset.fromSource(source, [1, 1, 2], null, 'pixels');
}

const fashion = { 'clafusion.input_mean': '0.286', 'clafusion.input_std': '0.353' };
const other = { 'clafusion.input_mean': '0.5', 'clafusion.input_std': '0.25' };

describe('input normalisation', () => {
  it('float32 samples in memory are fed as stored without a normalisation, normalised with one', async () => {
    const values = Float32Array.from([0.5, -1.25, 3, 1e-30, -0, 7]);
    const floats = Dataset.fromSource(new MemorySource(values, 2), [1, 1, 2], null, 'floats');
    const taken = await floats.take([2, 0, 1]);
    expect([...taken.data]).to.deep.equal([-0, 7, 0.5, -1.25, 3, 1e-30].map(Math.fround));
    expect(Object.is(taken.data[0], -0)).to.equal(true);
    const scaled = await floats.withNormalization({ mean: [1], std: [2] }).take([0]);
    expect([...scaled.data]).to.deep.equal([-0.25, -1.125]);
  });

  it('presets are the published statistics, and explicit values pass through', () => {
    expect(resolveNormalization('fashion-mnist')).to.deep.equal({ mean: [0.286], std: [0.353] });
    expect(resolveNormalization('mnist')).to.deep.equal({ mean: [0.1307], std: [0.3081] });
    expect(resolveNormalization('imagenet')).to.deep.equal({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    const cifar10 = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };
    expect(resolveNormalization('cifar10')).to.deep.equal(cifar10);
    expect(resolveNormalization('none')).to.deep.equal({ mean: [0], std: [1] });
    expect(resolveNormalization({ mean: [0.1], std: [2] })).to.deep.equal({ mean: [0.1], std: [2] });
    expect(resolveNormalization(undefined)).to.equal(undefined);
    // A copy: changing the result leaves the table alone.
    resolveNormalization('mnist')!.mean[0] = 9;
    expect(NORMALIZATION_PRESETS.mnist.mean[0]).to.equal(0.1307);
  });

  it('refuses unknown presets and contradicting flags with E_ARG', () => {
    const arg = (err: unknown) => isClafusionError(err, 'E_ARG');
    expect(() => resolveNormalization('cifar' as 'cifar10')).to.throw(/unknown normalisation preset 'cifar'/)
      .that.satisfies(arg);
    expect(() => normalizationFromFlags({ mean: [0.5] })).to.throw(/--mean and --std together/).that.satisfies(arg);
    expect(() => normalizationFromFlags({ normalize: 'mnist', mean: [0.5], std: [1] }))
      .to.throw(/either --normalize or --mean/)
      .that.satisfies(arg);
    expect(normalizationFromFlags({ normalize: 'mnist' })).to.equal('mnist');
    expect(normalizationFromFlags({ mean: [0.5], std: [0.25] })).to.deep.equal({ mean: [0.5], std: [0.25] });
    expect(normalizationFromFlags({})).to.equal(undefined);
  });

  it('metadata written by normalizationMetadata reads back the same', () => {
    const n = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };
    expect(normalizationFromMetadata(normalizationMetadata(n), 'm')).to.deep.equal(n);
  });

  it('warns for uint8 data reaching a model that records no normalisation, only then', () => {
    expect(normalizationWarning({ name: 'plain.onnx', metadata: {} }, pixels('u8')))
      .to.match(/plain\.onnx records no input normalisation.*pixel\/255.*--normalize/);
    expect(normalizationWarning({ name: 'm', metadata: fashion }, pixels('u8'))).to.equal(null);
    expect(normalizationWarning({ name: 'm', metadata: {} }, pixels('f32'))).to.equal(null);
    const chosen = pixels('u8').withNormalization({ mean: [0], std: [1] });
    expect(normalizationWarning({ name: 'm', metadata: {} }, chosen)).to.equal(null);
  });

  describe('one normalisation for models that see the same inputs', () => {
    it('takes the one they record, also for a model that records none (with a warning)', () => {
      const models = [{ name: 'a', metadata: fashion }, { name: 'b', metadata: {} }, { name: 'c', metadata: fashion }];
      const shared = sharedNormalization(models, pixels('u8'));
      expect(shared.normalization).to.deep.equal({ mean: [0.286], std: [0.353] });
      expect(shared.warnings).to.have.length(1);
      expect(shared.warnings[0]).to.match(/^b records no input normalisation; it is fed a's/);
    });

    it('refuses models that record different ones with E_ARG naming both, unless one is given', () => {
      const models = [{ name: 'a.onnx', metadata: fashion }, { name: 'b.onnx', metadata: other }];
      expect(() => sharedNormalization(models, pixels('u8')))
        .to.throw(/a\.onnx records input normalisation mean \[0\.286\].*b\.onnx records mean \[0\.5\]/)
        .that.satisfies((err: unknown) => isClafusionError(err, 'E_ARG'));
      expect(() => sharedNormalization(models, undefined)).to.throw(/b\.onnx/);
      expect(sharedNormalization(models, pixels('u8'), { mean: [0.1], std: [1] }))
        .to.deep.equal({ normalization: { mean: [0.1], std: [1] }, warnings: [] });
      const chosen = pixels('u8').withNormalization({ mean: [0.2], std: [1] });
      expect(sharedNormalization(models, chosen).normalization).to.deep.equal({ mean: [0.2], std: [1] });
    });

    it('one value equals the same value per channel', () => {
      const perChannel = { 'clafusion.input_mean': '0.286,0.286,0.286', 'clafusion.input_std': '0.353,0.353,0.353' };
      const models = [{ name: 'a', metadata: fashion }, { name: 'b', metadata: perChannel }];
      expect(sharedNormalization(models, undefined).normalization).to.deep.equal({ mean: [0.286], std: [0.353] });
    });

    it('with nothing recorded: none, and each model warned about for uint8 data (not for float data)', () => {
      const models = [{ name: 'a', metadata: {} }, { name: 'b', metadata: {} }];
      const u8 = sharedNormalization(models, pixels('u8'));
      expect(u8.normalization).to.equal(undefined);
      expect(u8.warnings.map((w) => w.split(' ')[0])).to.deep.equal(['a', 'b']);
      expect(sharedNormalization(models, pixels('f32'))).to.deep.equal({ normalization: undefined, warnings: [] });
      expect(sharedNormalization(models, undefined)).to.deep.equal({ normalization: undefined, warnings: [] });
    });
  });
});
