/**
 * `clafusion distill student.onnx --teacher T1.onnx [T2.onnx ...] -o out.onnx --data <spec> [--alpha a]
 * [--temperature T] [--kd-reduction mean|batchmean]`: knowledge distillation from the teachers' mean logits into the
 * student (spec §4.3), with the training options of `finetune`. Written atomically at the end, never over an input.
 */
import { Command, Option } from 'commander';
import { DATA_SPEC_HELP } from '../data/index.js';
import { writeModelBytes } from '../onnx/file.js';
import { distill } from '../train/index.js';
import { type CliStreams, NORMALIZATION_HELP, positiveNumber, unitInterval } from './args.js';
import { checkOutputPath } from './output.js';
import { addTrainOptions, reportTraining, type TrainFlags, trainOptionsOf, trainReporter } from './finetune.js';

export interface KdFlags {
  alpha: number;
  temperature: number;
  kdReduction: 'batchmean' | 'mean';
}

interface DistillFlags extends TrainFlags, KdFlags {
  teacher: string[];
}

async function run(student: string, flags: DistillFlags, io: CliStreams): Promise<void> {
  checkOutputPath(flags.output, [student, ...flags.teacher], [flags.data, flags.evalData]);
  const started = performance.now();
  const result = await distill(student, flags.teacher, {
    ...trainOptionsOf(flags),
    alpha: flags.alpha,
    temperature: flags.temperature,
    kdReduction: flags.kdReduction,
    onProgress: trainReporter(io.stderr, 'distill'),
  });
  writeModelBytes(flags.output, result.bytes); // last: a failure above leaves no file behind
  reportTraining(flags, result, performance.now() - started, io, { student, teachers: flags.teacher, alpha: flags.alpha, temperature: flags.temperature, kdReduction: flags.kdReduction });
}

/** The KD-loss options (shared with `compress`). */
export function addKdOptions(command: Command): Command {
  return command
    .option('--alpha <a>', 'weight of the KD term; 1 - alpha weighs the cross-entropy with the labels', unitInterval, 0.5)
    .option('--temperature <T>', 'softmax temperature', positiveNumber, 20)
    .addOption(new Option('--kd-reduction <r>', "KL averaging: per sample and class ('mean', as the published code; stable with T 20) or per sample ('batchmean')").choices(['mean', 'batchmean']).default('mean'));
}

export function distillCommand(io: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Command {
  return addKdOptions(addTrainOptions(new Command('distill')
    .description('Knowledge distillation: train a student ONNX model on the mean logits of one or more teachers and the labels.')
    .argument('<student>', 'ONNX model file of the student (e.g. a fused or a small model)')
    .requiredOption('--teacher <models...>', 'teacher ONNX model files (their logits are averaged)')))
    .addHelpText('after', `\nData specs (--data, --eval-data):\n${DATA_SPEC_HELP.replace(/^/gm, '  ')}\n\n${NORMALIZATION_HELP}\n\n` +
      'Example: clafusion distill examples/models/vgg_shallow.onnx --teacher examples/models/vgg_deep.onnx -o student.onnx \\\n' +
      '  --data idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz,examples/data/fashion-mnist-train-1k-labels-idx1-ubyte.gz --epochs 2')
    .action((student: string, flags: DistillFlags) => run(student, flags, io));
}
