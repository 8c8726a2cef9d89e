/**
 * The `--data` spec: one string that says which files hold a dataset.
 *
 *   idx:<images>[,<labels>]           IDX files (MNIST / Fashion-MNIST layout), raw or gzipped
 *   cifar10:<batch.bin>[,<batch.bin>…] CIFAR-10 binary batches, concatenated in order
 *   cifar100:<batch.bin>[,…]          CIFAR-100 binary batches (fine labels)
 *   npy:<samples.npy>[,<labels.npy>]  NumPy arrays: samples uint8/float32 [N,C,H,W] | [N,H,W] | [N,D],
 *                                     labels uint8/int32/int64 [N]
 *   <dir>  or  test:<dir>             a directory with the standard MNIST / Fashion-MNIST names
 *                                     (t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])
 *   train:<dir>                       the same directory's training split (train-*-ubyte[.gz])
 *
 * Paths are separated by commas (so they cannot contain one) and resolved against the working directory. A string
 * without a known `kind:` prefix is a directory. Labels are optional only where shown; evaluation needs them.
 */
import { ClafusionError } from '../errors.js';
import type { CifarVariant } from './cifar.js';
import type { Dataset } from './dataset.js';
import { type NormalizationChoice, resolveNormalization } from './normalization.js';
import { openCifar, openIdx, openIdxDirectory, openNpy, type Split } from './open.js';

export type DataSpec =
  | { kind: 'idx'; images: string; labels?: string }
  | { kind: CifarVariant; batches: string[] }
  | { kind: 'npy'; samples: string; labels?: string }
  | { kind: 'dir'; directory: string; split: Split };

/** One line per form, for `--help` texts. */
export const DATA_SPEC_HELP = (
  [
    ['idx:<images>[,<labels>]', 'IDX files (MNIST layout), raw or .gz'],
    ['cifar10:<batch.bin>[,<batch.bin>...]', 'CIFAR-10 binary batches'],
    ['cifar100:<batch.bin>[,...]', 'CIFAR-100 binary batches (fine labels)'],
    ['npy:<samples.npy>[,<labels.npy>]', 'uint8/float32 samples [N,C,H,W], integer labels [N]'],
    ['<dir> | test:<dir> | train:<dir>', 'MNIST/Fashion-MNIST file names in a directory (default: test split)'],
  ] as const
)
  .map(([form, what]) => `${form.padEnd(38)}${what}`)
  .join('\n');

function usage(spec: string, problem: string): ClafusionError {
  return new ClafusionError('E_ARG', `data spec ${JSON.stringify(spec)}: ${problem}; use one of\n${DATA_SPEC_HELP}`);
}

/** Parses a spec string (see the module comment); throws `E_ARG` with the accepted forms. */
export function parseDataSpec(spec: string): DataSpec {
  const match = /^(idx|cifar10|cifar100|npy|test|train):(.*)$/.exec(spec);
  if (!match) {
    if (spec.trim() === '') throw usage(spec, 'it is empty');
    return { kind: 'dir', directory: spec, split: 'test' };
  }
  const kind = match[1]!;
  const paths = match[2]!.split(',');
  if (paths.some((p) => p === '')) throw usage(spec, 'a path is empty');
  const pairOf = (what: string): [string, string | undefined] => {
    if (paths.length > 2) throw usage(spec, `${kind}: takes ${what} and optional labels, got ${paths.length} paths`);
    return [paths[0]!, paths[1]];
  };
  switch (kind) {
    case 'idx': {
      const [images, labels] = pairOf('images');
      return labels === undefined ? { kind, images } : { kind, images, labels };
    }
    case 'npy': {
      const [samples, labels] = pairOf('samples');
      return labels === undefined ? { kind, samples } : { kind, samples, labels };
    }
    case 'cifar10':
    case 'cifar100':
      return { kind, batches: paths };
    default:
      if (paths.length !== 1) throw usage(spec, `${kind}: takes one directory`);
      return { kind: 'dir', directory: paths[0]!, split: kind as Split };
  }
}

export interface OpenDataOptions {
  /** A preset name or per-channel values; when absent, evaluation takes it from the model's metadata, else none. */
  normalization?: NormalizationChoice;
  /** Use only the first `limit` samples. */
  limit?: number;
}

/** The spec string of a parsed spec (a directory as `test:<dir>` / `train:<dir>`). */
export function formatDataSpec(spec: DataSpec): string {
  switch (spec.kind) {
    case 'idx':
      return `idx:${[spec.images, ...(spec.labels ? [spec.labels] : [])].join(',')}`;
    case 'npy':
      return `npy:${[spec.samples, ...(spec.labels ? [spec.labels] : [])].join(',')}`;
    case 'dir':
      return `${spec.split}:${spec.directory}`;
    default:
      return `${spec.kind}:${spec.batches.join(',')}`;
  }
}

/** The spec with every path it names (files or directory) replaced by `map(path)`, e.g. made relative. */
export function mapDataSpecPaths(spec: string, map: (path: string) => string): string {
  const parsed = parseDataSpec(spec);
  switch (parsed.kind) {
    case 'idx':
      return formatDataSpec({ ...parsed, images: map(parsed.images), ...(parsed.labels ? { labels: map(parsed.labels) } : {}) });
    case 'npy':
      return formatDataSpec({ ...parsed, samples: map(parsed.samples), ...(parsed.labels ? { labels: map(parsed.labels) } : {}) });
    case 'dir':
      return formatDataSpec({ ...parsed, directory: map(parsed.directory) });
    default:
      return formatDataSpec({ ...parsed, batches: parsed.batches.map(map) });
  }
}

/** The files a spec names (a directory spec names none: its files are found when it is opened). */
export function dataSpecFiles(spec: string | DataSpec): string[] {
  const parsed = typeof spec === 'string' ? parseDataSpec(spec) : spec;
  switch (parsed.kind) {
    case 'idx':
      return [parsed.images, ...(parsed.labels ? [parsed.labels] : [])];
    case 'npy':
      return [parsed.samples, ...(parsed.labels ? [parsed.labels] : [])];
    case 'dir':
      return [];
    default:
      return parsed.batches;
  }
}

/** Opens a spec (string or parsed) as a Dataset, with the optional normalisation and limit applied. */
export async function openDataset(spec: string | DataSpec, options: OpenDataOptions = {}): Promise<Dataset> {
  const parsed = typeof spec === 'string' ? parseDataSpec(spec) : spec;
  let dataset = await openParsed(parsed);
  const normalization = resolveNormalization(options.normalization);
  if (normalization) dataset = dataset.withNormalization(normalization);
  return options.limit === undefined ? dataset : dataset.limit(options.limit);
}

function openParsed(spec: DataSpec): Promise<Dataset> {
  switch (spec.kind) {
    case 'idx':
      return openIdx(spec.images, spec.labels);
    case 'npy':
      return openNpy(spec.samples, spec.labels);
    case 'cifar10':
    case 'cifar100':
      return openCifar(spec.batches, spec.kind);
    case 'dir':
      return openIdxDirectory(spec.directory, spec.split);
  }
}
