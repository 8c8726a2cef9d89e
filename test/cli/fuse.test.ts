/** `clafusion fuse` as a user runs it: recipes (--config, the recipe written beside the output) and --json. */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fuseCommand } from '../../lib/cli/fuse.js';
import { isClafusionError } from '../../lib/errors.js';
import { runCommand } from '../support/cli.js';

const VGG = ['examples/models/vgg_deep.onnx', 'examples/models/vgg_shallow.onnx'];
const TRAIN = 'idx:examples/data/fashion-mnist-train-1k-images-idx3-ubyte.gz';
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const fuseCli = (args: string[]) => runCommand(fuseCommand, args);

function expectArgError(error: unknown, pattern: RegExp): void {
  expect(isClafusionError(error), String(error)).to.equal(true);
  expect(error).to.have.property('code', 'E_ARG');
  expect((error as Error).message).to.match(pattern);
}

describe('clafusion fuse: recipes', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'clafusion-recipe-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the effective recipe beside the output, and --config with it repeats the fusion bit for bit', async () => {
    const out = join(dir, 'fused.onnx');
    const flags = ['--data', TRAIN, '--samples', '48', '--seed', '3', '--solver', 'sinkhorn', '--reg', '0.05'];
    const first = await fuseCli([...VGG, '-o', out, ...flags]);
    expect(first.error).to.equal(null);
    const recipeFile = join(dir, 'fused.recipe.json');
    const recipe = JSON.parse(readFileSync(recipeFile, 'utf8')) as Record<string, unknown>;
    expect(recipe).to.include({
      clafusion: VERSION, output: 'fused.onnx', samples: 48, seed: 3, solver: 'sinkhorn', reg: 0.05, refit: true, repair: false,
    });
    // Paths are relative to the recipe's folder.
    expect((recipe.models as string[]).map((m) => resolve(dir, m))).to.deep.equal(VGG.map((m) => resolve(m)));
    expect(resolve(dir, (recipe.data as string).slice(4))).to.equal(resolve(TRAIN.slice(4)));
    expect(recipe).not.to.have.property('json');
    expect(recipe).not.to.have.property('config');

    const again = await fuseCli(['--config', recipeFile, '-o', join(dir, 'again.onnx')]);
    expect(again.error, String(again.error)).to.equal(null);
    expect(sha256(join(dir, 'again.onnx'))).to.equal(sha256(out));
    const changed = await fuseCli(['--config', recipeFile, '-o', join(dir, 'other.onnx'), '--seed', '4']);
    expect(changed.error).to.equal(null);
    expect(sha256(join(dir, 'other.onnx'))).not.to.equal(sha256(out));
    const other = JSON.parse(readFileSync(join(dir, 'other.recipe.json'), 'utf8')) as Record<string, unknown>;
    expect(other).to.include({ seed: 4, solver: 'sinkhorn', samples: 48 });
  });

  it('reads YAML; flags on the command line win over the recipe, the recipe over the defaults', async () => {
    for (const model of VGG) copyFileSync(model, join(dir, model.split('/').pop()!));
    writeFileSync(join(dir, 'recipe.yaml'), [
      '# two VGGs, weight mode', 'models: [vgg_deep.onnx, vgg_shallow.onnx]', 'output: out/../fused.onnx',
      'solver: sinkhorn', 'reg: 0.1', 'weights: [0.25, 0.75]', 'repair: false', 'target: deep', '',
    ].join('\n'));
    const { error, stdout } = await fuseCli(['--config', join(dir, 'recipe.yaml'), '--reg', '0.2', '--json']);
    expect(error, String(error)).to.equal(null);
    type Summary = { version: string; options: Record<string, unknown>; output: string; layers: object[] };
    const summary = JSON.parse(stdout) as Summary;
    expect(summary.version).to.equal(VERSION);
    // The plan pictures are for the report: the JSON keeps one small record per map.
    expect(summary.layers.length).to.be.greaterThan(0);
    for (const layer of summary.layers) expect(Object.keys(layer)).to.include('cost').and.not.include('plan');
    expect(summary.output).to.equal(join(dir, 'fused.onnx'));
    expect(summary.options).to.include({
      solver: 'sinkhorn', reg: 0.2, mode: 'weights', repair: false, target: 'deep', samples: 200,
    });
    expect(summary.options.weights).to.deep.equal([0.25, 0.75]);
    const written = JSON.parse(readFileSync(join(dir, 'fused.recipe.json'), 'utf8')) as Record<string, unknown>;
    expect(written).to.include({ solver: 'sinkhorn', reg: 0.2, repair: false, target: 'deep', output: 'fused.onnx' });
    expect(written.models).to.deep.equal(['vgg_deep.onnx', 'vgg_shallow.onnx']);
  });

  it('warns when the recipe was written by another version', async () => {
    const recipe = { clafusion: '0.0.1', models: VGG.map((m) => resolve(m)), output: 'f.onnx' };
    writeFileSync(join(dir, 'r.json'), JSON.stringify(recipe));
    const { error, stderr } = await fuseCli(['--config', join(dir, 'r.json')]);
    expect(error).to.equal(null);
    expect(stderr).to.include(`was written by clafusion 0.0.1; this is ${VERSION}`);
    expect(JSON.parse(readFileSync(join(dir, 'f.recipe.json'), 'utf8'))).to.have.property('clafusion', VERSION);
  });

  it('holds every flag of the command, list-valued ones as lists (normalisation), and writes them back', async () => {
    const recipe = {
      models: VGG.map((m) => resolve(m)), output: 'f.onnx', data: `idx:${resolve(TRAIN.slice(4))}`, samples: 16,
      mean: [0.286], std: [0.353], repair: false, solver: 'sinkhorn',
    };
    writeFileSync(join(dir, 'r.yaml'), JSON.stringify(recipe));
    const { error } = await fuseCli(['--config', join(dir, 'r.yaml')]);
    expect(error, String(error)).to.equal(null);
    const written = JSON.parse(readFileSync(join(dir, 'f.recipe.json'), 'utf8')) as Record<string, unknown>;
    expect(written).to.deep.include({ mean: [0.286], std: [0.353], samples: 16, repair: false, solver: 'sinkhorn' });
    const again = await fuseCli(['--config', join(dir, 'f.recipe.json'), '-o', join(dir, 'g.onnx')]);
    expect(again.error, String(again.error)).to.equal(null);
    expect(sha256(join(dir, 'g.onnx'))).to.equal(sha256(join(dir, 'f.onnx')));
  });

  it('positional models replace the recipe\'s', async () => {
    const recipe = { models: ['missing-a.onnx', 'missing-b.onnx'], output: 'f.onnx' };
    writeFileSync(join(dir, 'r.json'), JSON.stringify(recipe));
    const { error } = await fuseCli([...VGG, '--config', join(dir, 'r.json')]);
    expect(error).to.equal(null);
    const written = JSON.parse(readFileSync(join(dir, 'f.recipe.json'), 'utf8')) as { models: string[] };
    expect(written.models.map((m) => resolve(dir, m))).to.deep.equal(VGG.map((m) => resolve(m)));
  });

  const valid = { models: VGG.map((m) => resolve(m)), output: 'f.onnx' };
  const refusals: [string, Record<string, unknown> | string, RegExp][] = [
    ['an unknown key', { ...valid, solvr: 'emd' }, /solvr: unknown key/],
    ['a number of the wrong type', { ...valid, samples: true }, /samples: expected a string, a number/],
    ['a number the flag refuses', { ...valid, samples: -3 }, /samples: expected a positive integer/],
    ['a choice not offered', { ...valid, solver: 'lp' }, /solver: expected one of emd, sinkhorn/],
    ['a switch that is not a boolean', { ...valid, repair: 'no' }, /repair: expected true or false/],
    ['models that are not a list', { ...valid, models: 'a.onnx' }, /models: expected a list/],
    ['a list of lists', { ...valid, weights: [[0.5], 0.5] }, /weights: expected a string, a number or a list/],
    ['a data spec that is not one', { ...valid, data: 'idx:' }, /data: data spec "idx:": a path is empty/],
    ['a top level that is not a mapping', '[1, 2]', /a mapping of keys/],
    ['no models at all', { output: 'f.onnx' }, /at least two models/],
    ['no output', { models: valid.models }, /needs an output file/],
    ['invalid JSON', '{"models": [', /not valid JSON/],
  ];
  for (const [what, content, pattern] of refusals) {
    it(`refuses a recipe with ${what} (E_ARG naming the key), writing nothing`, async () => {
      const file = join(dir, 'r.json');
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      const { error } = await fuseCli(['--config', file]);
      expectArgError(error, pattern);
      expect(existsSync(join(dir, 'f.onnx'))).to.equal(false);
    });
  }

  it('refuses invalid YAML, an unknown extension (E_ARG) and a missing recipe (E_IO)', async () => {
    writeFileSync(join(dir, 'r.yaml'), 'models: [a.onnx\nsolver: : emd\n');
    expectArgError((await fuseCli(['--config', join(dir, 'r.yaml')])).error, /not valid YAML/);
    writeFileSync(join(dir, 'r.toml'), 'models = []');
    expectArgError((await fuseCli(['--config', join(dir, 'r.toml')])).error, /\.json, \.yaml or \.yml/);
    expect((await fuseCli(['--config', join(dir, 'none.json')])).error).to.have.property('code', 'E_IO');
  });
});
