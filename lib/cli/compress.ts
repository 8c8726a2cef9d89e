/**
 * `clafusion compress TEACHER STUDENT -o out.onnx --data <spec> [--depth teacher|student] [--training distill|finetune]
 * ...`: teacher-student compression (spec §4.2, lib/compress): the teacher fused onto the student's widths (and
 * depth, with --depth student), then distilled from the teacher or finetuned, with the training options of
 * `finetune` and the KD options of `distill`. Written atomically at the end, never over an input. Progress on
 * stderr; `--json` prints the costs and the history on stdout.
 */
import { Command, Option } from 'commander';
import { compress, type CompressOptions, type CompressProgress, type ModelCost } from '../compress/index.js';
import { DATA_SPEC_HELP } from '../data/index.js';
import { writeModelBytes } from '../onnx/file.js';
import { type CliStreams, positiveInteger, unitInterval } from './args.js';
import { stageReporter } from './align.js';
import { addKdOptions, type KdFlags } from './distill.js';
import { addTrainOptions, reportTraining, type TrainFlags, trainOptionsOf, trainReporter } from './finetune.js';
import { addRefitOptions } from './fuse.js';
import { checkOutputPath } from './output.js';

interface CompressFlags extends TrainFlags, KdFlags {
  depth: 'teacher' | 'student';
  training: 'distill' | 'finetune';
  teacherWeight: number;
  fusionData?: string;
  samples: number;
  /** true with --refit, false with --no-refit, undefined: fuse's default. */
  refit?: boolean;
  refitSamples: number;
}

function progressReporter(io: CliStreams): (progress: CompressProgress) => void {
  const fusion = stageReporter(io.stderr, 'compress: fuse');
  const training = trainReporter(io.stderr, 'compress');
  return (p) => (p.phase === 'fuse' ? fusion(p.stage, p.done, p.total) : training(p));
}

function describeCost(name: string, cost: ModelCost): string {
  const [parameters, depth] = [String(cost.parameters).padStart(10), String(cost.depth).padStart(5)];
  return `${name.padEnd(8)} ${parameters}  ${depth}  ${cost.widths.join(' ')}\n`;
}

async function run(teacher: string, student: string, flags: CompressFlags, io: CliStreams): Promise<void> {
  checkOutputPath(flags.output, [teacher, student], [flags.data, flags.evalData, flags.fusionData]);
  const started = performance.now();
  const options: CompressOptions = {
    ...trainOptionsOf(flags),
    alpha: flags.alpha,
    temperature: flags.temperature,
    kdReduction: flags.kdReduction,
    depth: flags.depth,
    training: flags.training,
    teacherWeight: flags.teacherWeight,
    fusion: { samples: flags.samples, refit: flags.refit, refitSamples: flags.refitSamples },
    ...(flags.fusionData === undefined ? {} : { fusionData: flags.fusionData }),
    onProgress: progressReporter(io),
  };
  const result = await compress(teacher, student, options);
  writeModelBytes(flags.output, result.bytes); // last: a failure above leaves no file behind
  const { cost, depthMethod } = result;
  if (!flags.json) {
    const rows = (['teacher', 'student', 'result'] as const).map((name) => describeCost(name, cost[name]));
    io.stdout.write(`model        params  depth  widths\n${rows.join('')}`);
  }
  const { alpha, temperature, kdReduction } = flags;
  const kd = flags.training === 'distill' ? { alpha, temperature, kdReduction } : {};
  const { depth, training, teacherWeight } = flags;
  reportTraining(flags, result.training, performance.now() - started, io,
    { teacher, student, depth, depthMethod, training, teacherWeight, cost, ...kd });
}

export function compressCommand(io: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Command {
  const command = addKdOptions(addTrainOptions(new Command('compress')
    .description("Teacher-student compression: fuse a wide, deep teacher onto a narrow, shallow student's widths, " +
      'then distil or finetune the result.')
    .argument('<teacher>', 'ONNX model file of the teacher (wide and deep)')
    .argument('<student>', 'ONNX model file of the student (narrow, at most as deep): the result has its widths')))
    .addOption(new Option('--depth <which>', "the result's depth: the teacher's (as published) or the student's " +
      '(merge for MLPs, else the inserted units dropped)').choices(['teacher', 'student']).default('teacher'))
    .addOption(new Option('--training <how>', 'distil the fused model from the teacher, or finetune it on the labels')
      .choices(['distill', 'finetune']).default('distill'))
    .option('--teacher-weight <w>', "the teacher's weight in the fusion average (the student gets 1 - w)",
      unitInterval, 0.5)
    .option('--fusion-data <spec>', 'activation samples for the fusion (default: --data)')
    .option('--samples <n>', 'activation samples drawn for the fusion', positiveInteger, 200);
  return addRefitOptions(command)
    .addHelpText('after', '\nData specs (--data, --eval-data, --fusion-data):\n' +
      `${DATA_SPEC_HELP.replace(/^/gm, '  ')}\n\n` +
      'Example: clafusion compress examples/models/vgg_deep.onnx examples/models/vgg_student.onnx -o small.onnx \\\n' +
      '  --data train:/usr/share/datasets/fashion-mnist --eval-data test:/usr/share/datasets/fashion-mnist \\\n' +
      '  --epochs 2 --schedule multistep:1')
    .action((teacher: string, student: string, flags: CompressFlags) => run(teacher, student, flags, io));
}
