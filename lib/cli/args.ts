/**
 * What every subcommand shares: its output streams, the option-value parsers, the normalisation options of the
 * commands that read data, how it prints an accuracy and its warnings.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { NORMALIZATION_PRESET_NAMES, type NormalizationChoice, normalizationFromFlags } from '../data/normalization.js';

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

/** Comma-separated finite numbers, one per channel. */
export function numberList(text: string): number[] {
  const values = text.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (values.some((v) => !Number.isFinite(v))) {
    throw new InvalidArgumentError(`expected comma-separated numbers (one per channel), got '${text}'`);
  }
  return values;
}

/** The flags of `addNormalizationOptions`. */
export interface NormalizationFlags {
  normalize?: string;
  mean?: number[];
  std?: number[];
}

/** --normalize <preset> | --mean/--std, for every command that reads data. */
export function addNormalizationOptions(command: Command): Command {
  return command
    .addOption(new Option('--normalize <preset>', "input normalisation preset (default: the models' metadata)")
      .choices(NORMALIZATION_PRESET_NAMES))
    .option('--mean <list>', "per-channel mean, e.g. 0.4914,0.4822,0.4465 (with --std; default: metadata)", numberList)
    .option('--std <list>', "per-channel std (with --mean; default: the models' clafusion.input_std)", numberList);
}

/** The normalisation the flags choose, for the API's `normalization` option (E_ARG for contradicting flags). */
export function normalizationOf(flags: NormalizationFlags): { normalization?: NormalizationChoice } {
  const choice = normalizationFromFlags(flags);
  return choice === undefined ? {} : { normalization: choice };
}

export const NORMALIZATION_HELP = 'Inputs are x = (pixel/255 - mean_c)/std_c per channel c, with --normalize ' +
  `(${NORMALIZATION_PRESET_NAMES.join(', ')}) or --mean/--std, else what the models' metadata records; uint8 data ` +
  'reaching a model that records none is fed pixel/255 with a warning. Float .npy samples are fed as stored unless\n' +
  'a normalisation is given.';

/** Each distinct warning once on stderr. */
export function printWarnings(stderr: CliStreams['stderr'], warnings: readonly string[]): void {
  for (const warning of new Set(warnings)) stderr.write(`warning: ${warning}\n`);
}
