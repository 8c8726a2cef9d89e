/**
 * `clafusion eval <model.onnx...> --data <spec>`: top-1 accuracy and throughput of one or more ONNX models with
 * ONNX Runtime (CPU), and optionally of their prediction ensemble. Results on stdout (`--json` for machines),
 * progress on stderr.
 */
import { Command, Option } from 'commander';
import { basename } from 'node:path';
import { DATA_SPEC_HELP, openDataset, sampleIndices, type Dataset } from '../data/index.js';
import { ensembleAccuracy, evaluate, type EnsembleMode, type EnsembleResult, type EvaluateResult } from '../eval/index.js';
import {
  type CliStreams, type NormalizationFlags, NORMALIZATION_HELP, addNormalizationOptions, nonNegativeInteger,
  normalizationOf, positiveInteger, printWarnings,
} from './args.js';

interface EvalFlags extends NormalizationFlags {
  data: string;
  batchSize: number;
  limit?: number;
  sample?: number;
  seed: number;
  threads: number;
  output?: string;
  ensemble?: EnsembleMode;
  json?: boolean;
}

/**
 * Progress on stderr for runs longer than a moment: on a terminal a line rewritten at most every 100 ms, otherwise
 * a line at most every 2 s; short runs print nothing.
 */
function progressReporter(stderr: CliStreams['stderr'], label: string): (done: number, total: number) => void {
  const interval = stderr.isTTY ? 100 : 2000;
  let last = performance.now();
  let shown = false;
  return (done, total) => {
    const now = performance.now();
    const finished = done === total;
    if (stderr.isTTY && shown && finished) stderr.write(`\r${label}: ${done}/${total}\n`);
    if (finished || now - last < interval) return;
    stderr.write(stderr.isTTY ? `\r${label}: ${done}/${total}` : `${label}: ${done}/${total}\n`);
    last = now;
    shown = true;
  };
}

async function openData(flags: EvalFlags): Promise<Dataset> {
  let dataset = await openDataset(flags.data, normalizationOf(flags));
  if (flags.sample !== undefined) dataset = dataset.select(sampleIndices(dataset.count, Math.min(flags.sample, dataset.count), flags.seed));
  return flags.limit === undefined ? dataset : dataset.limit(flags.limit);
}

function describe(name: string, r: EvaluateResult): string {
  return `${name}: accuracy ${(100 * r.accuracy).toFixed(2)}% (${r.correct}/${r.count}), ${Math.round(r.samplesPerSecond)} samples/s`;
}

async function run(models: string[], flags: EvalFlags, io: CliStreams): Promise<void> {
  const dataset = await openData(flags);
  const common = { batchSize: flags.batchSize, threads: flags.threads, ...(flags.output ? { outputName: flags.output } : {}) };
  const results = [];
  for (const model of models) {
    const result = await evaluate(model, dataset, { ...common, onProgress: progressReporter(io.stderr, `eval ${basename(model)}`) });
    results.push({ model, ...result });
    if (!flags.json) io.stdout.write(`${describe(model, result)}\n`);
  }
  let ensemble: (EnsembleResult & { mode: EnsembleMode }) | undefined;
  if (flags.ensemble) {
    ensemble = { mode: flags.ensemble, ...(await ensembleAccuracy(models, dataset, { ...common, mode: flags.ensemble, onProgress: progressReporter(io.stderr, 'ensemble') })) };
    if (!flags.json) io.stdout.write(`${describe(`ensemble (${flags.ensemble})`, ensemble)}\n`);
  }
  const warnings = [...new Set(results.flatMap((r) => r.warnings))];
  printWarnings(io.stderr, warnings);
  if (flags.json) {
    const ensembled = ensemble ? { ensemble } : {};
    const summary = { data: flags.data, count: dataset.count, models: results, ...ensembled, warnings };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  }
}

export function evalCommand(io: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Command {
  return addNormalizationOptions(new Command('eval')
    .description('Top-1 accuracy and throughput of ONNX models on a labelled dataset (ONNX Runtime, CPU).')
    .argument('<models...>', 'ONNX model files')
    .requiredOption('--data <spec>', 'dataset, one of the forms below')
    .option('--batch-size <n>', 'samples per inference call', positiveInteger, 256)
    .option('--limit <n>', 'use only the first n samples (after --sample)', nonNegativeInteger)
    .option('--sample <k>', 'use k samples drawn without replacement (SplitMix64, see --seed)', nonNegativeInteger)
    .option('--seed <s>', 'seed for --sample', nonNegativeInteger, 0))
    .option('--threads <n>', 'ONNX Runtime threads per model (0: all cores)', nonNegativeInteger, 0)
    .option('--output <name>', "the output holding the class scores (default: the model's first output)")
    .addOption(new Option('--ensemble <mode>', 'also evaluate the prediction ensemble: average of raw outputs or of softmax probabilities').choices(['logits', 'probabilities']))
    .option('--json', 'print the results as JSON on stdout')
    .addHelpText(
      'after',
      `\nData specs (--data):\n${DATA_SPEC_HELP.replace(/^/gm, '  ')}\n\n` +
        `${NORMALIZATION_HELP}\n` +
        'Example: clafusion eval examples/models/mlp_deep.onnx --data idx:examples/data/fashion-mnist-test-2k-images-idx3-ubyte.gz,examples/data/fashion-mnist-test-2k-labels-idx1-ubyte.gz',
    )
    .action((models: string[], flags: EvalFlags) => run(models, flags, io));
}
