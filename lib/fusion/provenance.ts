/**
 * How a fused model was made, recorded so that it can be traced and reproduced: the effective options of the run
 * (what was given, with the defaults that applied filled in) and the inputs (file name, sha256, size, architecture).
 * The fused ONNX carries them in `metadata_props`:
 *
 *   clafusion.version   the package version (also producer_version; producer_name is 'clafusion')
 *   clafusion.inputs    JSON [{ name, sha256, bytes, summary }] of the input models, in input order
 *   clafusion.data      JSON [{ name, sha256, bytes }] of the activation data files (when data is a spec)
 *   clafusion.options   JSON of the effective options (data left out: it is an input, see clafusion.data)
 *   clafusion.seed      the seed of the activation sample draw
 *
 * Names are base names (no local folders leak into a model one shares); no time stamp, so the same inputs and
 * options give the same bytes. The inputs' own metadata describes them, not the fused model, and is dropped, except
 * the input normalisation (`clafusion.input_*`) and `clafusion.dataset`, which still hold: the fused model takes the
 * same inputs, for the same task.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { dataSpecFiles } from '../data/spec.js';
import { ClafusionError } from '../errors.js';
import { type InspectReport, inspectNetwork } from '../inspect/index.js';
import type { Network } from '../ir/network.js';
import { VERSION } from '../version.js';
import type { FuseOptions, FusionContext } from './index.js';

/** A file that went into the fusion. */
export interface FileRecord {
  /** Base name of the file ('model <i>' for a model given as bytes). */
  name: string;
  sha256: string;
  bytes: number;
}

export interface InputRecord extends FileRecord {
  /** The input model's architecture as `inspectModel` counts it. */
  summary: InspectReport['summary'];
}

export interface Provenance {
  version: string;
  inputs: InputRecord[];
  /** The activation data files, when data was given as a spec (none listed for a directory spec). */
  data?: FileRecord[];
}

/**
 * The options of a run as it ran: every option given and the defaults that applied, without the data (an input)
 * and the options that only say how to run (see HOW_TO_RUN). `fuse(models, { ...result.options, data })` repeats it.
 */
export type EffectiveFuseOptions = Omit<FuseOptions, HowToRun> & Required<Pick<FuseOptions,
  'samples' | 'seed' | 'layerCost' | 'startLayer' | 'pinnedEnd' | 'reference' | 'mode' | 'balance' |
  'reluApproximation' | 'metric' | 'marginals' | 'solver' | 'reg' | 'multi' | 'alignClassifier' | 'batchNorm' |
  'repair' | 'maps' | 'ridge' | 'unmatchedBlockWeight' | 'refit' | 'refitSamples'>>;

/**
 * Options that say how to run, not what to compute (progress, cancellation, the memory budget and the streaming
 * chunk size, on which the statistics do not depend): left out of the record, so they cannot change the model's
 * bytes. The data is an input, recorded by its files. (The device is recorded: a GPU's sums may round differently.)
 */
const HOW_TO_RUN = ['data', 'signal', 'onProgress', 'memoryBytes', 'chunkSize'] as const;
type HowToRun = (typeof HOW_TO_RUN)[number];

/** The defaults that do not depend on the data (those are resolved by the run's FusionContext). */
const FIXED_DEFAULTS = {
  samples: 200, seed: 21, startLayer: 2, pinnedEnd: 1, reference: false, balance: 'add', reluApproximation: 'sum',
  marginals: 'uniform', solver: 'emd', reg: 0.01, multi: 'many-to-one', batchNorm: 'average', refitSamples: 600,
} as const;

export function effectiveOptions(context: FusionContext): EffectiveFuseOptions {
  const given = context.options;
  const howToRun: readonly string[] = HOW_TO_RUN;
  const recorded = Object.entries(given).filter(([key, value]) => value !== undefined && !howToRun.includes(key));
  const options: EffectiveFuseOptions = {
    ...FIXED_DEFAULTS,
    ...Object.fromEntries(recorded),
    layerCost: given.layerCost ?? (given.data === undefined ? 'neuron' : 'cka'),
    mode: context.mode,
    metric: context.metric,
    // As they ran: after the refit, the repair only when asked for.
    refit: context.refitRan,
    repair: context.repair && (!context.refitRan || given.repair === true),
    alignClassifier: context.alignClassifier,
    maps: context.maps,
    ridge: context.ridge,
    unmatchedBlockWeight: context.unmatchedBlockWeight,
  };
  // One key order whichever options were given (the record is part of the model's bytes).
  return Object.fromEntries(Object.entries(options).sort(([a], [b]) => (a < b ? -1 : 1))) as unknown as EffectiveFuseOptions;
}

function fileRecord(name: string, bytes: Uint8Array): FileRecord {
  return { name, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}

function readForHash(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    const problem = (err as Error).message;
    throw new ClafusionError('E_IO', `cannot read ${path} to record its sha256: ${problem}`, { cause: err });
  }
}

/** The inputs of a run: each model (path or bytes) with its recognised network, and the data files of a spec. */
export function describeInputs(models: (string | Uint8Array)[], networks: Network[],
  data: FuseOptions['data']): Provenance {
  const inputs = models.map((model, i): InputRecord => {
    const name = typeof model === 'string' ? basename(model) : `model ${i}`;
    const file = fileRecord(name, typeof model === 'string' ? readForHash(model) : model);
    return { ...file, summary: inspectNetwork(networks[i], name).summary };
  });
  const dataFile = (path: string) => fileRecord(basename(path), readForHash(path));
  const files = typeof data === 'string' ? dataSpecFiles(data).map(dataFile) : undefined;
  return { version: VERSION, inputs, ...(files ? { data: files } : {}) };
}

/** Keys of an input's metadata that still describe the fused model: it takes the same inputs, for the same task. */
const KEPT_INPUT_KEY = /^clafusion\.(input_|dataset$)/;

/** `network` with its ONNX facts replaced by the run's provenance (see the module comment). */
export function withProvenance(network: Network, provenance: Provenance, options: EffectiveFuseOptions): Network {
  const kept = Object.entries(network.meta.metadata).filter(([key]) => KEPT_INPUT_KEY.test(key));
  const metadata: Record<string, string> = {
    ...Object.fromEntries(kept),
    'clafusion.version': provenance.version,
    'clafusion.inputs': JSON.stringify(provenance.inputs),
    ...(provenance.data ? { 'clafusion.data': JSON.stringify(provenance.data) } : {}),
    'clafusion.options': JSON.stringify(options),
    'clafusion.seed': String(options.seed),
  };
  const producer = { producerName: 'clafusion', producerVersion: provenance.version };
  return { ...network, meta: { ...network.meta, ...producer, metadata } };
}
