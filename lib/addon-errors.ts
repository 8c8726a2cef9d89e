/**
 * The one place where the native addon's errors become ClafusionErrors. The addon throws (or rejects with) plain
 * Errors carrying a string `.code` (native/addon/napi_job.cpp), and node-addon-api's own type checks throw plain
 * TypeErrors; `withCodedErrors` wraps every addon function once, so nothing uncoded reaches a caller. As sharp's
 * `nativeError` does, an async failure gets the stack of the JS call that started it: the native rejection has none.
 */
import { ClafusionError, isErrorCode, type ErrorCode } from './errors.js';

/** The code for an addon error without a documented `.code`. */
function fallbackCode(err: unknown): ErrorCode {
  if (err instanceof RangeError && /allocation failed|out of memory/i.test(err.message)) return 'E_RESOURCE';
  if (err instanceof TypeError || err instanceof RangeError) return 'E_ARG';
  return 'E_NATIVE';
}

/** `err` as a ClafusionError; `callerStack` (the frames of the JS call) replaces the stack when given. */
export function asClafusionError(err: unknown, callerStack?: string): ClafusionError {
  if (err instanceof ClafusionError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : `native call failed: ${String(err)}`;
  const coded = new ClafusionError(isErrorCode(code) ? code : fallbackCode(err), message, { cause: err });
  if (callerStack !== undefined) coded.stack = `${coded.name}: ${coded.message}\n${callerStack}`;
  return coded;
}

/**
 * The call site of a wrapped function, captured but not formatted: V8 formats a captured stack only when `stack` is
 * read, which happens only on failure (formatting on every call cost ~35 ms of a small fusion's ~800 ms).
 */
function captureCaller(): { stack?: string } {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, captureCaller);
  return holder;
}

/** The frames of a captured call site below the wrapper, without the "Error" header line. */
function callerFrames(caller: { stack?: string }): string {
  return (caller.stack ?? '').split('\n').slice(2).join('\n');
}

type AnyFunction = (...args: unknown[]) => unknown;

/**
 * `fn` with coded errors. An async twin (one with a `...Sync` sibling) rejects instead of throwing, also when the
 * addon refuses its arguments before starting the job.
 */
function wrapFunction(fn: AnyFunction, self: object, async: boolean): AnyFunction {
  return (...args: unknown[]) => {
    let result: unknown;
    try {
      result = fn.apply(self, args);
    } catch (err) {
      const coded = asClafusionError(err, callerFrames(captureCaller()));
      if (async) return Promise.reject(coded);
      throw coded;
    }
    if (!(result instanceof Promise)) return result;
    const caller = captureCaller();
    return result.catch((err: unknown) => {
      throw asClafusionError(err, callerFrames(caller));
    });
  };
}

/** A copy of `addon` whose functions throw and reject only with ClafusionErrors; other properties are kept. */
export function withCodedErrors<T extends object>(addon: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(addon)) {
    const async = typeof (addon as Record<string, unknown>)[`${name}Sync`] === 'function';
    wrapped[name] = typeof value === 'function' ? wrapFunction(value as AnyFunction, addon, async) : value;
  }
  return wrapped as T;
}
