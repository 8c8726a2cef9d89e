/**
 * `npm run quality [-- options]`: the one-shot quality of fusion on the fixture families (scripts/train_families.py).
 * Per pair it prints the inputs' test accuracies, their prediction ensemble (mean logits), the fused model under each
 * method of methods.ts, and the stages of stages.ts that were asked for; at the end, per family, how far the
 * heterogeneous fusions are from the better input and from the homogeneous fusion (issue 9's goals: within 3 points
 * of the better input, within 1 point of homogeneous). Accuracies are on the 10k Fashion-MNIST test split; the
 * activation samples come from the training split. Never part of `npm test`.
 *
 *   --families DIR   the fixtures (default .fixtures/families)
 *   --data-dir DIR   Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)
 *   --only a,b       families to run (default all)
 *   --pairs a,b      pairs to run, by the members in their names (e.g. deep_b+shallow_a; default all)
 *   --methods a,b    methods to run (default all; see methods.ts)
 *   --stages a,b     extra stages to run (default none; see stages.ts)
 *   --samples N      activation samples (default 200)
 *   --json PATH      also write the figures as JSON
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDataset } from '../../lib/data/spec.js';
import type { Dataset } from '../../lib/data/dataset.js';
import { ensembleAccuracy, evaluate } from '../../lib/eval/index.js';
import { fuse } from '../../lib/fusion/index.js';
import { type FamilyIndex, type QualityPair, modelPath, readFamilies } from './families.js';
import { type QualityMethod, methodsNamed } from './methods.js';
import { STAGES, type QualityStage } from './stages.js';

interface Options {
  families: string;
  dataDir: string;
  only?: string[];
  pairs?: string[];
  methods?: string[];
  stages: string[];
  samples: number;
  json?: string;
}

interface PairResult {
  name: string;
  family: string;
  kind: QualityPair['kind'];
  inputs: [number, number];
  ensemble: number;
  /** Accuracy of the fused model per method; fusion milliseconds beside it. */
  methods: Record<string, number>;
  fuseMs: Record<string, number>;
  stages: Record<string, number>;
}

function parseArgs(argv: string[]): Options {
  const value = (flag: string): string | undefined => {
    const k = argv.indexOf(flag);
    return k >= 0 ? argv[k + 1] : undefined;
  };
  const list = (flag: string) => value(flag)?.split(',').filter((s) => s !== '');
  return {
    families: value('--families') ?? join(process.cwd(), '.fixtures', 'families'),
    dataDir: value('--data-dir') ?? '/usr/share/datasets/fashion-mnist',
    only: list('--only'),
    pairs: list('--pairs'),
    methods: list('--methods'),
    stages: list('--stages') ?? [],
    samples: Number(value('--samples') ?? 200),
    json: value('--json'),
  };
}

function stagesNamed(names: string[]): QualityStage[] {
  return names.map((name) => {
    const stage = STAGES.find((s) => s.name === name);
    const known = STAGES.map((s) => s.name).join(', ') || '(none defined)';
    if (!stage) throw new Error(`unknown stage ${name}; choose from ${known}`);
    return stage;
  });
}

const percent = (x: number | undefined) => (x === undefined ? '-' : (100 * x).toFixed(2));

interface Run {
  index: FamilyIndex;
  methods: QualityMethod[];
  stages: QualityStage[];
  data: { train: Dataset; test: Dataset };
  samples: number;
}

async function runPair(pair: QualityPair, { index, methods, stages, data, samples }: Run): Promise<PairResult> {
  const models = pair.models.map((name) => modelPath(index, name));
  const ensemble = await ensembleAccuracy(models, data.test);
  const result: PairResult = {
    name: pair.name, family: pair.family, kind: pair.kind,
    inputs: [ensemble.modelAccuracies[0], ensemble.modelAccuracies[1]],
    ensemble: ensemble.accuracy, methods: {}, fuseMs: {}, stages: {},
  };
  let fusedByDefault: Uint8Array | undefined;
  for (const method of methods) {
    const started = performance.now();
    const fused = await fuse(models, { ...method.options, data: data.train, samples });
    result.fuseMs[method.name] = performance.now() - started;
    result.methods[method.name] = (await evaluate(fused.bytes, data.test)).accuracy;
    if (method.name === 'default') fusedByDefault = fused.bytes;
  }
  if (stages.length > 0) {
    fusedByDefault ??= (await fuse(models, { data: data.train, samples })).bytes;
    for (const stage of stages) {
      const context = { pair, models, fused: fusedByDefault, train: data.train, test: data.test };
      result.stages[stage.name] = await stage.run(context);
    }
  }
  return result;
}

function printHeader(methods: QualityMethod[], stages: QualityStage[]): void {
  const columns = ['pair', 'inputs', 'ensemble', ...methods.map((m) => m.name), ...stages.map((s) => s.name)];
  console.log(`| ${columns.join(' | ')} |`);
  console.log(`|${columns.map(() => '---').join('|')}|`);
}

function printRow(r: PairResult, methods: QualityMethod[], stages: QualityStage[]): void {
  const best = Math.max(...methods.map((m) => r.methods[m.name]));
  const cell = (name: string) => (r.methods[name] === best ? `**${percent(best)}**` : percent(r.methods[name]));
  const kind = r.kind === 'homogeneous' ? 'homo' : 'hetero';
  const cells = [`${r.name} (${kind})`, `${percent(r.inputs[0])} / ${percent(r.inputs[1])}`,
    percent(r.ensemble), ...methods.map((m) => cell(m.name)), ...stages.map((s) => percent(r.stages[s.name]))];
  console.log(`| ${cells.join(' | ')} |`);
}

/** Per family and method: worst gap of a heterogeneous fusion to its better input and to the homogeneous fusion. */
function goals(results: PairResult[], methods: QualityMethod[]): string[] {
  const lines: string[] = [];
  for (const family of [...new Set(results.map((r) => r.family))]) {
    const mine = results.filter((r) => r.family === family);
    const homogeneous = mine.find((r) => r.kind === 'homogeneous');
    for (const method of methods) {
      const hetero = mine.filter((r) => r.kind === 'heterogeneous');
      const gap = (r: PairResult, reference: number) => 100 * (reference - r.methods[method.name]);
      const toInput = Math.max(...hetero.map((r) => gap(r, Math.max(...r.inputs))));
      const toHomo = homogeneous ? Math.max(...hetero.map((r) => gap(r, homogeneous.methods[method.name]))) : NaN;
      const figure = (x: number) => x.toFixed(2).padStart(6);
      lines.push(`${family.padEnd(12)} ${method.name.padEnd(14)} below better input ${figure(toInput)} (goal <= 3)` +
        `   below homogeneous ${figure(toHomo)} (goal <= 1)`);
    }
  }
  return lines;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const index = readFamilies(options.families);
  const methods = methodsNamed(options.methods);
  const stages = stagesNamed(options.stages);
  const train = await openDataset(`train:${options.dataDir}`);
  const data = { train, test: await openDataset(`test:${options.dataDir}`) };
  const pairs = index.pairs.filter((p) => (!options.only || options.only.includes(p.family)) &&
    (!options.pairs || options.pairs.includes(p.name.split(' ')[1])));
  const setup = `${options.samples} activation samples, test accuracy (%) on ${data.test.count} images`;
  console.log(`quality: ${pairs.length} pairs, ${setup} (best method in bold)`);
  printHeader(methods, stages);
  const results: PairResult[] = [];
  for (const pair of pairs) {
    const result = await runPair(pair, { index, methods, stages, data, samples: options.samples });
    results.push(result);
    printRow(result, methods, stages);
  }
  console.log('');
  for (const line of goals(results, methods)) console.log(line);
  console.log('\nmethods:');
  for (const m of methods) console.log(`  ${m.name.padEnd(14)} ${m.description}`);
  if (options.json) {
    const report = { date: new Date().toISOString(), samples: options.samples, results };
    writeFileSync(options.json, JSON.stringify(report, null, 2) + '\n');
    console.error(`quality: wrote ${options.json}`);
  }
}

await main();
