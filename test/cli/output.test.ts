import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputPath } from '../../lib/cli/output.js';
import { expectCode } from '../support/errors.js';

describe('checkOutputPath (fuse, finetune, distill -o)', () => {
  let dir = '';
  let model = '';
  let images = '';
  let labels = '';

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'clafusion-output-'));
    [model, images, labels] = ['model.onnx', 'images.gz', 'labels.gz'].map((name) => join(dir, name));
    for (const file of [model, images, labels]) writeFileSync(file, 'x');
    symlinkSync(images, join(dir, 'link.gz'));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

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
