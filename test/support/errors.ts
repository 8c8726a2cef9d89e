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

/** Asserts that `promise` rejects with a ClafusionError with `code` (and a message matching `pattern`, when given). */
export async function expectRejects(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(isClafusionError(error), String(error)).to.equal(true);
  expect((error as { code: string }).code).to.equal(code);
  if (pattern) expect((error as Error).message).to.match(pattern);
}
