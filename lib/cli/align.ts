/**
 * `clafusion align A.onnx B.onnx [--data <spec>]`: the cross-layer alignment of two models of different depth:
 * which unit of the deeper model each unit of the shallower one is matched to, per segment, with the layer-cost
 * matrix. Results on stdout (`--json` for machines), progress on stderr.
 */
import { Command, Option } from 'commander';
import { DATA_SPEC_HELP } from '../data/index.js';
import { type AlignResult, type FuseStage, align } from '../fusion/index.js';
import type { GroupAlignment } from '../fusion/cla/index.js';
import {
  type CliStreams, type NormalizationFlags, NORMALIZATION_HELP, addNormalizationOptions, nonNegativeInteger,
  normalizationOf, positiveInteger, positiveNumber, printWarnings,
} from './args.js';

/** Stage progress on stderr: one line per stage (a rewritten line on a terminal). */
export function stageReporter(stderr: CliStreams['stderr'], label: string): (stage: FuseStage, done: number, total: number) => void {
  let last = '';
  return (stage, done, total) => {
    const text = total > 1 ? `${label}: ${stage} ${done}/${total}` : `${label}: ${stage}`;
    if (stderr.isTTY) stderr.write(`\r\x1b[K${text}`);
    else if (stage !== last) stderr.write(`${text}\n`);
    last = stage;
  };
}

export interface AlignFlags extends NormalizationFlags {
  data?: string;
  samples: number;
  seed: number;
  layerCost?: 'cka' | 'neuron' | 'wasserstein';
  startLayer: number;
  pinnedEnd: number;
  reference?: boolean;
  /** GiB. */
  memory?: number;
  json?: boolean;
}

/** The options shared by `align` and `fuse`. */
export function addAlignOptions(command: Command): Command {
  return addNormalizationOptions(command
    .option('--data <spec>', 'activation samples (e.g. training images); without it, only weight-based costs')
    .option('--samples <n>', 'activation samples drawn from --data', positiveInteger, 200)
    .option('--seed <s>', 'seed of the sample draw', nonNegativeInteger, 21)
    .addOption(new Option('--layer-cost <cost>', 'CLA layer cost (default: cka with --data, neuron without)').choices(['cka', 'neuron', 'wasserstein']))
    .option('--start-layer <s>', 'CLA: pin the first s-1 units of every segment', positiveInteger, 2)
    .option('--pinned-end <f>', 'CLA: pin the last f units of every segment', nonNegativeInteger, 1)
    .option('--reference', 'reproduce the published code where it differs (block measure, per-layer plans, +1e-7, aligned output layer)')
    .option('--memory <GiB>', 'memory budget of the activation statistics and the repair pass: the samples stream through ' +
      'the models in chunks sized to fit it, and what does not fit goes to temp files (default: a quarter of the ' +
      'available memory, at most 2 GiB unless a pass needs more; ONNX Runtime\'s working memory comes on top)', positiveNumber));
}

export function alignOptionsOf(flags: AlignFlags) {
  return {
    data: flags.data,
    samples: flags.samples,
    seed: flags.seed,
    layerCost: flags.layerCost,
    startLayer: flags.startLayer,
    pinnedEnd: flags.pinnedEnd,
    reference: flags.reference ?? false,
    ...normalizationOf(flags),
    memoryBytes: flags.memory === undefined ? undefined : flags.memory * 2 ** 30,
  };
}

function formatMatrix(rows: number[][]): string {
  return rows.map((row) => `      ${row.map((v) => v.toFixed(4).padStart(9)).join(' ')}`).join('\n');
}

/** Human-readable description of the per-segment mappings. */
export function describeGroups(groups: GroupAlignment[], withCosts: boolean): string {
  return groups.map((g) => {
    const pairs = g.shallowUnits.map((name, k) => `${name} → ${g.deepUnits[g.mapping[k] - 1]}`).join(', ');
    const head = `  segment ${g.segment} (${g.kind === 'layer' ? 'layers' : 'blocks'}, ${g.deepUnits.length} deep / ${g.shallowUnits.length} shallow): ` +
      `[${g.mapping.join(', ')}], total cost ${g.totalCost.toFixed(4)}\n    ${pairs}`;
    return withCosts ? `${head}\n    cost (rows: deep units, columns: shallow units):\n${formatMatrix(g.cost)}` : head;
  }).join('\n');
}

function report(models: string[], result: AlignResult, flags: AlignFlags, io: CliStreams): void {
  if (flags.json) {
    const { alignment, timings, warnings } = result;
    const summary = { deep: models[result.deep], shallow: models[result.shallow], alignment, timings, warnings };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  io.stdout.write(`deep: ${models[result.deep]}, shallow: ${models[result.shallow]}, layer cost: ${result.alignment.cost}\n`);
  io.stdout.write(`${describeGroups(result.alignment.groups, true)}\n`);
  io.stdout.write(`mapping (shallow unit k → deep unit, 1-based over all hidden units): [${result.alignment.mapping.join(', ')}]\n`);
}

export function alignCommand(io: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Command {
  return addAlignOptions(new Command('align')
    .description('Cross-layer alignment of two models of different depth: the layer mapping and the layer-cost matrix.')
    .argument('<modelA>', 'ONNX model')
    .argument('<modelB>', 'ONNX model'))
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText('after', `\nData specs (--data):\n${DATA_SPEC_HELP.replace(/^/gm, '  ')}\n\n${NORMALIZATION_HELP}\n\n` +
      'Example: clafusion align examples/models/mlp_deep.onnx examples/models/mlp_shallow.onnx --data idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz')
    .action(async (a: string, b: string, flags: AlignFlags) => {
      const result = await align(a, b, { ...alignOptionsOf(flags), onProgress: stageReporter(io.stderr, 'align') });
      if (io.stderr.isTTY) io.stderr.write('\n');
      printWarnings(io.stderr, result.warnings);
      report([a, b], result, flags, io);
    });
}
