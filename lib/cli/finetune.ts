/**
 * `clafusion finetune model.onnx -o out.onnx --data <spec> [--eval-data <spec>] [--epochs E] [--lr η] ...`: SGD
 * finetuning with cross-entropy (e.g. of a fused model), the trained model written atomically at the end (never over
 * an input; nothing is written when anything fails). Progress on stderr; `--json` prints the history on stdout.
 * The training options (shared with `distill`) are defined here.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DATA_SPEC_HELP } from '../data/index.js';
import { writeModelBytes } from '../onnx/file.js';
import { finetune, parseSchedule, SCHEDULE_HELP, type LrSchedule, type ResolvedTrainOptions, type TrainOptions, type TrainProgress, type TrainResult } from '../train/index.js';
import {
  type CliStreams, type NormalizationFlags, NORMALIZATION_HELP, addNormalizationOptions, nonNegativeInteger,
  nonNegativeNumber, normalizationOf, percent, positiveInteger, printWarnings,
} from './args.js';
import { checkOutputPath } from './output.js';

export interface TrainFlags extends Omit<ResolvedTrainOptions, 'threads'>, NormalizationFlags {
  output: string;
  data: string;
  evalData?: string;
  threads?: number;
  json?: boolean;
}

function scheduleArg(text: string): LrSchedule {
  try {
    return parseSchedule(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** The options every training command shares. */
export function addTrainOptions(command: Command): Command {
  return addNormalizationOptions(command)
    .requiredOption('-o, --output <file>', 'where to write the trained ONNX model (never one of the inputs)')
    .requiredOption('--data <spec>', 'labelled training data (e.g. train:/usr/share/datasets/fashion-mnist)')
    .option('--eval-data <spec>', 'labelled data evaluated before training and after every epoch')
    .option('--epochs <n>', 'passes over the training data', positiveInteger, 1)
    .option('--lr <rate>', 'base learning rate', nonNegativeNumber, 0.01)
    .option('--momentum <m>', 'SGD momentum', nonNegativeNumber, 0.9)
    .option('--weight-decay <w>', 'L2 weight decay (torch SGD convention)', nonNegativeNumber, 5e-4)
    .option('--batch-size <n>', 'samples per SGD step', positiveInteger, 128)
    .addOption(new Option('--schedule <spec>', `learning-rate schedule per epoch: ${SCHEDULE_HELP}`).argParser(scheduleArg).default({ kind: 'constant' } as LrSchedule, 'constant'))
    .option('--seed <s>', 'seed of the per-epoch shuffles', nonNegativeInteger, 42)
    .option('--bn-momentum <m>', 'batch-norm running-statistics momentum (torch convention)', nonNegativeNumber, 0.1)
    .addOption(new Option('--keep <which>', "return the last epoch's weights or the best on --eval-data").choices(['last', 'best']).default('last'))
    .option('--threads <n>', 'native threads (default: every core)', positiveInteger)
    .option('--json', 'print the result as JSON on stdout');
}

export function trainOptionsOf(flags: TrainFlags): TrainOptions {
  return {
    data: flags.data,
    evalData: flags.evalData,
    epochs: flags.epochs,
    lr: flags.lr,
    momentum: flags.momentum,
    weightDecay: flags.weightDecay,
    batchSize: flags.batchSize,
    schedule: flags.schedule,
    seed: flags.seed,
    bnMomentum: flags.bnMomentum,
    keep: flags.keep,
    ...(flags.threads === undefined ? {} : { threads: flags.threads }),
    ...normalizationOf(flags),
  };
}

/** Progress on stderr: a rewritten line on a terminal, one line per phase and epoch otherwise. */
export function trainReporter(stderr: CliStreams['stderr'], label: string): (progress: TrainProgress) => void {
  let last = '';
  return (p) => {
    const where = p.phase === 'train' ? `epoch ${p.epoch}/${p.epochs}` : p.phase === 'evaluate' ? `evaluate after epoch ${p.epoch}` : 'teacher logits';
    const loss = p.loss === undefined ? '' : ` loss ${p.loss.toFixed(4)}`;
    if (stderr.isTTY) stderr.write(`\r\x1b[K${label}: ${where} ${p.done}/${p.total}${loss}`);
    else if (where !== last) stderr.write(`${label}: ${where}\n`);
    last = where;
  };
}

/** The per-epoch table (or JSON) on stdout. */
export function reportTraining(flags: TrainFlags, result: TrainResult, totalMs: number, io: CliStreams, extra: Record<string, unknown> = {}): void {
  if (io.stderr.isTTY) io.stderr.write('\n');
  const { history, initialAccuracy, bestEpoch, bestAccuracy, warnings } = result;
  printWarnings(io.stderr, warnings);
  if (flags.json) {
    const summary = {
      output: flags.output, ...extra, initialAccuracy, bestEpoch, bestAccuracy, history, totalMs, warnings,
    };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  if (initialAccuracy !== null) io.stdout.write(`accuracy before training on ${flags.evalData}: ${percent(initialAccuracy)}\n`);
  io.stdout.write('epoch  lr          loss     train acc  eval acc  images/s\n');
  for (const r of history) {
    io.stdout.write(`${String(r.epoch).padStart(5)}  ${r.learningRate.toExponential(3).padEnd(10)}  ${r.loss.toFixed(4)}  ${percent(r.trainAccuracy).padStart(9)}  ${percent(r.evalAccuracy).padStart(8)}  ${r.imagesPerSecond.toFixed(0).padStart(8)}\n`);
  }
  if (bestEpoch !== null) io.stdout.write(`best eval accuracy ${percent(bestAccuracy)} after epoch ${bestEpoch}\n`);
  io.stdout.write(`wrote ${flags.output} (${flags.keep} epoch's weights); total ${(totalMs / 1000).toFixed(1)} s\n`);
}

async function run(model: string, flags: TrainFlags, io: CliStreams): Promise<void> {
  checkOutputPath(flags.output, [model], [flags.data, flags.evalData]);
  const started = performance.now();
  const result = await finetune(model, { ...trainOptionsOf(flags), onProgress: trainReporter(io.stderr, 'finetune') });
  writeModelBytes(flags.output, result.bytes); // last: a failure above leaves no file behind
  reportTraining(flags, result, performance.now() - started, io, { model });
}

export function finetuneCommand(io: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Command {
  return addTrainOptions(new Command('finetune')
    .description('Finetune an ONNX model (e.g. a fused one) with SGD and cross-entropy on labelled data.')
    .argument('<model>', 'ONNX model file'))
    .addHelpText('after', `\nData specs (--data, --eval-data):\n${DATA_SPEC_HELP.replace(/^/gm, '  ')}\n\n${NORMALIZATION_HELP}\n\n` +
      'Example: clafusion finetune fused.onnx -o fused-ft.onnx --data train:/usr/share/datasets/fashion-mnist \\\n' +
      '  --eval-data test:/usr/share/datasets/fashion-mnist --epochs 1 --lr 0.01')
    .action((model: string, flags: TrainFlags) => run(model, flags, io));
}
