/** Where a command may write its output model: never over one of its inputs. */
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { dataSpecFiles } from '../data/index.js';
import { ClafusionError } from '../errors.js';

/** The same file, also through links; a missing file is only equal to itself. */
function samePath(a: string, b: string): boolean {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
  return real(a) === real(b);
}

/**
 * E_ARG before any work when `output` would replace an input: one of the `models`, or a file named by one of the
 * `dataSpecs` (--data, --eval-data).
 */
export function checkOutputPath(output: string, models: string[], dataSpecs: (string | undefined)[] = []): void {
  const model = models.find((m) => samePath(m, output));
  if (model) throw new ClafusionError('E_ARG', `the output ${output} is the input model ${model}; choose another output path (-o)`);
  const dataFile = dataSpecs.flatMap((spec) => (spec ? dataSpecFiles(spec) : [])).find((file) => samePath(file, output));
  if (dataFile) throw new ClafusionError('E_ARG', `the output ${output} is the input data file ${dataFile}; choose another output path (-o)`);
}
