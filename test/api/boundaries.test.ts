import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as api from '../../lib/index.js';

const LIB = join(import.meta.dirname, '..', '..', 'lib');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('module boundaries', () => {
  it('the public API does not hand out the raw addon', () => {
    expect(api).not.to.have.property('native');
    expect(api.inspectModel).to.be.a('function');
  });

  it('nothing outside lib/cli imports the CLI (the CLI is a shell over the API)', () => {
    const leaks = sources(LIB)
      .filter((file) => !relative(LIB, file).startsWith('cli'))
      .filter((file) => /from '(\.\.?\/)+cli\//.test(readFileSync(file, 'utf8')));
    expect(leaks.map((file) => relative(LIB, file))).to.deep.equal([]);
  });
});
