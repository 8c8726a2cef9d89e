/**
 * `clafusion fuse A.onnx B.onnx [C.onnx ...] -o fused.onnx [--data <spec>] [--eval-data <spec>]`: CLAFusion of two
 * or more models (of the same or different depths) into one, written atomically (never over an input; nothing is
 * written when anything fails), then, with --eval-data, the accuracy table: each input, the fused model, the
 * prediction ensemble and vanilla averaging. Progress on stderr; `--json` prints everything on stdout.
 */
import { basename } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DATA_SPEC_HELP } from '../data/index.js';
import { type FuseOptions, type FuseResult, fuse } from '../fusion/index.js';
import type { GroundMetric } from '../fusion/otfuse/solve.js';
import { type Validation, validateFusion } from '../fusion/validate.js';
import { writeModelBytes } from '../onnx/file.js';
import { fusionReport } from '../report/index.js';
import { parameterCount } from '../ir/network.js';
import { ClafusionError } from '../errors.js';
import { VERSION } from '../version.js';
import { checkOutputPath } from './output.js';
import { type CliStreams, NORMALIZATION_HELP, percent, positiveInteger, positiveNumber, printWarnings } from './args.js';
import {
  type PathKeys, applyRecipe, effectiveRecipe, readRecipe, recipePathFor, writeRecipe, writeTextFile,
} from './recipe.js';
import { type AlignFlags, addAlignOptions, alignOptionsOf, describeGroups, stageReporter } from './align.js';

interface FuseFlags extends AlignFlags {
  /** Required, from the command line or the recipe. */
  output?: string;
  config?: string;
  report?: string;
  evalData?: string;
  mode?: 'activations' | 'weights';
  solver: 'emd' | 'sinkhorn';
  reg: number;
  metric?: GroundMetric;
  marginals: 'uniform' | 'importance-l1' | 'importance-l2';
  weights?: number[];
  target?: 'shallow' | 'deep' | number;
  balance: 'add' | 'merge';
  reluApprox: 'sum' | 'majority' | 'avg';
  multi: 'many-to-one' | 'iterative';
  alignClassifier?: boolean;
  batchNorm?: 'average' | 'recalibrate' | 'fold';
  /** true with --repair, false with --no-repair, undefined: the default. */
  repair?: boolean;
  maps?: 'plans' | 'regression';
  ridge?: number;
  unmatchedBlockWeight?: number | 'weights';
  /** true with --refit, false with --no-refit, undefined: the default. */
  refit?: boolean;
  refitSamples: number;
  device: 'auto' | 'cpu' | 'cuda';
}

function weightList(text: string): number[] {
  const values = text.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (values.some((v) => !Number.isFinite(v) || v < 0)) throw new InvalidArgumentError(`expected comma-separated non-negative numbers, got '${text}'`);
  return values;
}

function blockWeight(text: string): number | 'weights' {
  if (text === 'weights') return text;
  const value = text.trim() === '' ? NaN : Number(text);
  if (!(value >= 0 && value <= 1)) throw new InvalidArgumentError(`expected a number in [0, 1] or 'weights', got '${text}'`);
  return value;
}

function targetChoice(text: string): 'shallow' | 'deep' | number {
  if (text === 'shallow' || text === 'deep') return text;
  const index = Number(text);
  if (!Number.isSafeInteger(index) || index < 0) throw new InvalidArgumentError(`expected 'shallow', 'deep' or a model index, got '${text}'`);
  return index;
}

function fuseOptionsOf(flags: FuseFlags): FuseOptions {
  return {
    ...alignOptionsOf(flags),
    mode: flags.mode,
    solver: flags.solver,
    reg: flags.reg,
    metric: flags.metric,
    marginals: flags.marginals,
    weights: flags.weights,
    target: flags.target,
    balance: flags.balance,
    device: flags.device,
    reluApproximation: flags.reluApprox,
    multi: flags.multi,
    alignClassifier: flags.alignClassifier,
    batchNorm: flags.batchNorm,
    repair: flags.repair,
    maps: flags.maps,
    ridge: flags.ridge,
    unmatchedBlockWeight: flags.unmatchedBlockWeight,
    refit: flags.refit,
    refitSamples: flags.refitSamples,
  };
}

function accuracyTable(models: string[], validation: Validation): string {
  const rows: [string, string][] = [
    ...models.map((m, i): [string, string] => [basename(m), percent(validation.models[i])]),
    ['fused', percent(validation.fused)],
    ['ensemble (mean logits)', percent(validation.ensemble)],
    ['vanilla average', validation.vanilla === null ? validation.vanillaNote ?? 'n/a' : percent(validation.vanilla)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`).join('\n');
}

function timingLine(result: FuseResult, totalMs: number): string {
  const stages = Object.entries(result.timings).map(([stage, ms]) => `${stage} ${ms.toFixed(0)}`).join(', ');
  return `timings (ms): ${stages}; total ${totalMs.toFixed(0)}`;
}

type RunFlags = FuseFlags & { output: string };

function printResult(models: string[], flags: RunFlags, result: FuseResult, validation: Validation | undefined,
  totalMs: number, io: CliStreams): void {
  if (flags.json) {
    const { alignments, timings, target, options } = result;
    // The plan previews are for the report (and the API); the JSON keeps one small record per map.
    const layers = result.layers.map(({ plan, ...layer }) => layer);
    const report = flags.report ? { report: flags.report } : {};
    const written = { output: flags.output, recipe: recipePathFor(flags.output), ...report };
    const warnings = [...new Set([...result.warnings, ...(validation?.warnings ?? [])])];
    const summary = {
      version: VERSION, ...written, inputs: models, options, parameters: parameterCount(result.network), target,
      alignments, layers, timings, totalMs, validation, warnings,
    };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  for (const a of result.alignments) {
    io.stdout.write(`alignment: deep ${basename(models[a.deep])}, shallow ${basename(models[a.shallow])} (layer cost ${a.alignment.cost})\n`);
    io.stdout.write(`${describeGroups(a.alignment.groups, false)}\n`);
  }
  io.stdout.write(`fused model: ${flags.output} (${parameterCount(result.network)} parameters, widths of ${basename(models[result.target])}), ${result.layers.length} transport maps\n`);
  if (validation) io.stdout.write(`accuracy on ${flags.evalData} (${validation.samples} samples):\n${accuracyTable(models, validation)}\n`);
  io.stdout.write(`${timingLine(result, totalMs)}\n`);
  io.stdout.write(`recipe: ${recipePathFor(flags.output)}${flags.report ? `, report: ${flags.report}` : ''}\n`);
}

/** The recipe keys that hold paths (relative to the recipe's folder in the file). */
const RECIPE_PATHS: PathKeys = { files: ['output', 'report'], specs: ['data', 'evalData'] };

/** The models and flags of the run: the command line over the recipe (--config) over the defaults. */
function withRecipe(command: Command, cliModels: string[], io: CliStreams): { models: string[]; flags: RunFlags } {
  const config = (command.opts() as FuseFlags).config;
  let models = cliModels;
  if (config) {
    const recipe = readRecipe(config, command, RECIPE_PATHS);
    if (recipe.version && recipe.version !== VERSION) io.stderr.write(`fuse: ${config} was written by clafusion ${recipe.version}; this is ${VERSION}, the result may differ\n`);
    models = applyRecipe(command, recipe, cliModels);
  }
  const flags = command.opts() as FuseFlags;
  if (models.length < 2) throw new ClafusionError('E_ARG', `fuse needs at least two models (on the command line or as models in --config), got ${models.length}`);
  if (!flags.output) throw new ClafusionError('E_ARG', 'fuse needs an output file: -o fused.onnx (or output in --config)');
  return { models, flags: { ...flags, output: flags.output } };
}

async function run(command: Command, cliModels: string[], io: CliStreams): Promise<void> {
  const { models, flags } = withRecipe(command, cliModels, io);
  const recipeFile = recipePathFor(flags.output);
  const outputs = [flags.output, recipeFile, ...(flags.report ? [flags.report] : [])];
  for (const output of outputs) checkOutputPath(output, models, [flags.data, flags.evalData]);
  const start = performance.now();
  const progress = stageReporter(io.stderr, 'fuse');
  const result = await fuse(models, { ...fuseOptionsOf(flags), onProgress: progress });
  const totalMs = performance.now() - start;
  let validation: Validation | undefined;
  if (flags.evalData) {
    io.stderr.write(`${io.stderr.isTTY ? '\n' : ''}fuse: validating on ${flags.evalData}\n`);
    validation = await validateFusion(models, result, flags.evalData, { weights: flags.weights });
  }
  printWarnings(io.stderr, [...result.warnings, ...(validation?.warnings ?? [])]);
  // Written last: a failure anywhere above leaves no file behind.
  writeModelBytes(flags.output, result.bytes);
  const { refit, repair } = result.options;
  writeRecipe(recipeFile, effectiveRecipe(command, models, recipeFile, RECIPE_PATHS, { refit, repair }));
  if (flags.report) {
    writeTextFile(flags.report, fusionReport(result, { validation, totalMs, output: basename(flags.output) }));
  }
  printResult(models, flags, result, validation, totalMs, io);
}

/** --refit, --no-refit and --refit-samples (fuse, compress). */
export function addRefitOptions(command: Command): Command {
  return command
    .option('--refit', 'refit every fused layer by least squares to the models\' aligned, averaged outputs on the fused '
      + 'model\'s own inputs (default: on with --data when it is cheap, at most 1e12 estimated multiply-adds, and its '
      + 'held unit outputs fit half of --memory; it runs each fused unit about three times); the repair then runs only '
      + 'with --repair')
    .option('--no-refit', 'skip the refit (the statistics repair runs instead)')
    .option('--refit-samples <n>', 'samples the refit fits on, drawn from --data with --seed (at most all of it)', positiveInteger, 600);
}

export function fuseCommand(io: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Command {
  return addRefitOptions(addAlignOptions(new Command('fuse')
    .description('Fuse two or more ONNX models (of equal or different depths) into one with CLA + layer-wise optimal transport.')
    .argument('[models...]', 'ONNX model files (at least two; or models in --config)')
    .option('-o, --output <file>', 'where to write the fused ONNX model (never one of the inputs); its recipe goes beside it')
    .option('--config <recipe>', 'a recipe (.json, .yaml): models and any of these options; flags given here win')))
    .option('--eval-data <spec>', 'labelled data for the accuracy table (inputs, fused, ensemble, vanilla average)')
    .addOption(new Option('--mode <mode>', 'OT ground cost from activations or weights (default: activations with --data)').choices(['activations', 'weights']))
    .addOption(new Option('--solver <solver>', 'OT solver').choices(['emd', 'sinkhorn']).default('emd'))
    .option('--reg <r>', 'Sinkhorn regularisation, relative to the median ground cost', positiveNumber, 0.01)
    .addOption(new Option('--metric <metric>', 'ground metric between units (default: correlation with activations, '
      + 'euclidean with weights or --reference)').choices(['euclidean', 'sqeuclidean', 'cosine', 'correlation']))
    .addOption(new Option('--marginals <m>', 'OT marginals').choices(['uniform', 'importance-l1', 'importance-l2']).default('uniform'))
    .option('--weights <list>', 'averaging weight per input model, summing to 1 (default equal)', weightList)
    .option('--target <t>', "whose widths the fused model takes: 'shallow' (default), 'deep' or a model index (the anchor with 3+ models)", targetChoice)
    .addOption(new Option('--balance <method>', 'layer balancing').choices(['add', 'merge']).default('add'))
    .addOption(new Option('--relu-approx <method>', "ReLU approximation of 'merge'").choices(['sum', 'majority', 'avg']).default('sum'))
    .addOption(new Option('--multi <approach>', 'fusing 3+ models').choices(['many-to-one', 'iterative']).default('many-to-one'))
    .option('--align-classifier', 'OT-align the output layer too (as published) instead of pinning the classes')
    .addOption(new Option('--batch-norm <how>', 'BN vectors: average them (published), then recalibrate the running statistics on --data, or fold BN into the layers first').choices(['average', 'recalibrate', 'fold']))
    .addOption(new Option('--device <device>', "where the pairwise costs and Sinkhorn run ('cuda' fails without a CUDA device; 'auto' falls back to the CPU)").choices(['auto', 'cpu', 'cuda']).default('auto'))
    .addOption(new Option('--maps <maps>', 'how units move into the target basis: OT plans, or regression maps '
      + 'fitted around them (default: regression for models with BN under the repair, plans otherwise)')
      .choices(['plans', 'regression']))
    .option('--ridge <r>', 'ridge of the regression maps towards the plans, relative (default 0.1)', positiveNumber)
    .option('--unmatched-block-weight <w>', "where balancing inserted a block into one model, the averaging weight of the "
      + "other model's real block, in [0, 1], or 'weights' for the models' weights (default: 0.1 with regression maps, "
      + "'weights' otherwise)", blockWeight)
    .option('--repair', 'run the statistics repair after the refit too')
    .option('--no-repair', 'skip the statistics repair of the fused model (on by default with --data, off with --reference)')
    .option('--report <file>', 'also write a self-contained HTML page: alignments, transport plans, accuracy, timings')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText('after', `\nData specs (--data, --eval-data):\n${DATA_SPEC_HELP.replace(/^/gm, '  ')}\n\n${NORMALIZATION_HELP}\n\n` +
      'Every run writes its effective recipe beside the output (fused.onnx -> fused.recipe.json);\n' +
      '`clafusion fuse --config fused.recipe.json` repeats the fusion bit for bit.\n\n' +
      'Example: clafusion fuse examples/models/mlp_deep.onnx examples/models/mlp_shallow.onnx -o fused.onnx \\\n' +
      '  --data idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz \\\n' +
      '  --eval-data idx:examples/data/fashion-mnist-test-2k-images-idx3-ubyte.gz,examples/data/fashion-mnist-test-2k-labels-idx1-ubyte.gz')
    .action((models: string[], _flags: FuseFlags, command: Command) => run(command, models, io));
}
