import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputPath } from '../../lib/cli/output.js';
import { expectCode } from '../support/errors.js';

describe('checkOutputPath (fuse, finetune, distill -o)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clafusion-output-'));
  const model = join(dir, 'model.onnx');
  const images = join(dir, 'images.gz');
  const labels = join(dir, 'labels.gz');
  for (const file of [model, images, labels]) writeFileSync(file, 'x');
  symlinkSync(images, join(dir, 'link.gz'));

  it('refuses an input model, also through a link', () => {
    expectCode(() => checkOutputPath(model, [model]), 'E_ARG', /is the input model/);
  });

  it('refuses a file of a --data or --eval-data spec, also through a link', () => {
    expectCode(() => checkOutputPath(labels, [model], [undefined, `idx:${images},${labels}`]), 'E_ARG', /is the input data file/);
    expectCode(() => checkOutputPath(join(dir, 'link.gz'), [model], [`idx:${images}`]), 'E_ARG', /is the input data file/);
  });

  it('accepts a new path', () => {
    checkOutputPath(join(dir, 'fused.onnx'), [model], [`idx:${images},${labels}`, `npy:${join(dir, 'x.npy')}`, dir]);
  });
});
