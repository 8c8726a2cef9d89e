import { expect } from 'chai';
import { isClafusionError } from '../../lib/errors.js';

/** Asserts that `fn` throws a ClafusionError with `code` (and a message matching `pattern`, when given). */
export function expectCode(fn: () => unknown, code: string, pattern?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isClafusionError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code).to.equal(code);
    if (pattern) expect((err as Error).message).to.match(pattern);
    return;
  }
  expect.fail(`expected an error with code ${code}`);
}
