/** What every subcommand shares: its output streams, the option-value parsers, and how it prints an accuracy. */
import { InvalidArgumentError } from 'commander';

/** stdout for results, stderr for progress and logs (tests pass fakes). */
export interface CliStreams {
  stdout: Pick<NodeJS.WriteStream, 'write'>;
  stderr: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean };
}

function parsed(text: string, ok: (value: number) => boolean, expected: string): number {
  const value = text.trim() === '' ? NaN : Number(text);
  if (!ok(value)) throw new InvalidArgumentError(`expected ${expected}, got '${text}'`);
  return value;
}

export function positiveInteger(text: string): number {
  return parsed(text, (v) => Number.isSafeInteger(v) && v > 0, 'a positive integer');
}

export function nonNegativeInteger(text: string): number {
  return parsed(text, (v) => Number.isSafeInteger(v) && v >= 0, 'a non-negative integer');
}

export function positiveNumber(text: string): number {
  return parsed(text, (v) => Number.isFinite(v) && v > 0, 'a positive number');
}

export function nonNegativeNumber(text: string): number {
  return parsed(text, (v) => Number.isFinite(v) && v >= 0, 'a number >= 0');
}

export function unitInterval(text: string): number {
  return parsed(text, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
}

/** An accuracy in [0, 1] as "12.34%", or "n/a". */
export function percent(value: number | null): string {
  return value === null ? 'n/a' : `${(100 * value).toFixed(2)}%`;
}
