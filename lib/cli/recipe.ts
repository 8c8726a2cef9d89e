/**
 * Recipes: a JSON or YAML file that holds what a command's flags hold, so that a run can be written down, repeated
 * and shared (`clafusion fuse --config recipe.yaml`). Its keys are the flags' names in camelCase (`--eval-data` ->
 * `evalData`, `--no-repair` -> `repair: false`) plus `models`; `clafusion` (the version that wrote it) is informative.
 *
 * Precedence: a flag given on the command line > the recipe > the built-in default. Positional models given on the
 * command line replace the recipe's list. Relative paths in a recipe (models, outputs, data specs) are relative to
 * the recipe's folder, so a recipe travels with its files. Validation is strict: an unknown key, a value of the
 * wrong type or one the flag would refuse is an `E_ARG` naming the key.
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, relative, resolve } from 'node:path';
import { type Command, InvalidArgumentError, type Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { mapDataSpecPaths } from '../data/spec.js';
import { ClafusionError, isClafusionError } from '../errors.js';
import { atomicWrite } from '../onnx/file.js';
import { VERSION } from '../version.js';

/** A recipe as read: `models` and one value per flag (already parsed as the flag would parse it). */
export interface Recipe {
  models?: string[];
  options: Map<string, unknown>;
  /** The version that wrote it, when it says. */
  version?: string;
}

/** Which recipe keys hold paths: plain file paths, or data specs (whose paths are inside the spec). */
export interface PathKeys {
  files: string[];
  specs: string[];
}

/** Keys of a recipe besides the flags. */
const RECIPE_KEYS = ['models', 'clafusion'];

/** Flags that only say how to run or print, never part of a recipe. */
const NOT_IN_RECIPE = new Set(['config', 'json']);

function recipeError(file: string, key: string, problem: string): ClafusionError {
  return new ClafusionError('E_ARG', `recipe ${file}: ${key}: ${problem}`);
}

function parseRecipeText(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ClafusionError('E_IO', `cannot read the recipe ${file}: ${(err as Error).message}`, { cause: err });
  }
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.json') return JSON.parse(text);
    if (ext === '.yaml' || ext === '.yml') return parseYaml(text);
  } catch (err) {
    const format = ext.slice(1).toUpperCase();
    const problem = (err as Error).message;
    throw new ClafusionError('E_ARG', `recipe ${file} is not valid ${format}: ${problem}`, { cause: err });
  }
  throw new ClafusionError('E_ARG', `recipe ${file}: expected a .json, .yaml or .yml file`);
}

function recipeOptions(command: Command): Map<string, Option> {
  const options = command.options.filter((o) => !NOT_IN_RECIPE.has(o.attributeName()));
  return new Map(options.map((o) => [o.attributeName(), o]));
}

/** A recipe value as the command-line text the flag parses: numbers as written, lists comma-separated. */
function flagText(file: string, key: string, value: unknown): string {
  const scalar = (v: unknown): v is string | number =>
    typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
  if (scalar(value)) return String(value);
  if (Array.isArray(value) && value.length > 0 && value.every(scalar)) return value.join(',');
  throw recipeError(file, key, `expected a string, a number or a list of them, got ${JSON.stringify(value)}`);
}

/** The value `option` would have if `value` were given on the command line. */
/** How a recipe's paths are read: relative to its folder. */
interface RecipeContext {
  file: string;
  resolvePath: (path: string) => string;
  paths: PathKeys;
}

function optionValue(option: Option, value: unknown, { file, resolvePath, paths }: RecipeContext): unknown {
  const key = option.attributeName();
  // A switch (--reference, --no-repair) takes no argument on the command line and a boolean in a recipe.
  if (!option.required && !option.optional) {
    if (typeof value !== 'boolean') throw recipeError(file, key, `expected true or false, got ${String(value)}`);
    return value;
  }
  let text = flagText(file, key, value);
  if (option.argChoices && !option.argChoices.includes(text)) {
    throw recipeError(file, key, `expected one of ${option.argChoices.join(', ')}, got '${text}'`);
  }
  if (paths.files.includes(key)) text = resolvePath(text);
  try {
    if (paths.specs.includes(key)) text = mapDataSpecPaths(text, resolvePath);
    return option.parseArg ? option.parseArg(text, undefined) : text;
  } catch (err) {
    if (err instanceof InvalidArgumentError || isClafusionError(err)) throw recipeError(file, key, err.message);
    throw err;
  }
}

function recipeModels(file: string, value: unknown, resolvePath: (path: string) => string): string[] {
  if (!Array.isArray(value) || value.some((m) => typeof m !== 'string' || m === '')) {
    throw recipeError(file, 'models', `expected a list of model files, got ${JSON.stringify(value)}`);
  }
  return value.map(resolvePath);
}

/** Reads and validates a recipe for `command` (see the module comment); paths come back resolved. */
export function readRecipe(file: string, command: Command, paths: PathKeys): Recipe {
  const content = parseRecipeText(file);
  if (typeof content !== 'object' || content === null || Array.isArray(content)) {
    throw new ClafusionError('E_ARG', `recipe ${file}: expected a mapping of keys to values at the top level`);
  }
  const folder = dirname(resolve(file));
  const resolvePath = (path: string): string => resolve(folder, path);
  const known = recipeOptions(command);
  const recipe: Recipe = { options: new Map() };
  for (const [key, value] of Object.entries(content)) {
    if (key === 'models') recipe.models = recipeModels(file, value, resolvePath);
    else if (key === 'clafusion') {
      if (typeof value !== 'string') throw recipeError(file, key, `expected a version, got ${JSON.stringify(value)}`);
      recipe.version = value;
    } else {
      const option = known.get(key);
      const keys = [...RECIPE_KEYS, ...known.keys()].join(', ');
      if (!option) throw recipeError(file, key, `unknown key; the keys are ${keys}`);
      recipe.options.set(key, optionValue(option, value, { file, resolvePath, paths }));
    }
  }
  return recipe;
}

/**
 * Sets the recipe's values on `command` where the command line gave none (command line > recipe > default), and
 * returns the models: the command line's when it named any, else the recipe's.
 */
export function applyRecipe(command: Command, recipe: Recipe, models: string[]): string[] {
  for (const [key, value] of recipe.options) {
    if (command.getOptionValueSource(key) !== 'cli') command.setOptionValueWithSource(key, value, 'config');
  }
  return models.length > 0 ? models : recipe.models ?? [];
}

/**
 * The recipe of a run: its models and every flag's effective value, paths relative to the recipe's folder; `resolved`
 * gives the values the run chose for flags left unset (a default decided by the run, such as the refit's).
 */
export function effectiveRecipe(command: Command, models: string[], file: string,
  paths: PathKeys, resolved: Record<string, unknown> = {}): Record<string, unknown> {
  const folder = dirname(resolve(file));
  const relativePath = (path: string): string => relative(folder, resolve(path)) || '.';
  const values = command.opts();
  const recipe: Record<string, unknown> = { clafusion: VERSION, models: models.map(relativePath) };
  for (const key of recipeOptions(command).keys()) {
    let value = values[key] ?? resolved[key];
    if (value === undefined) continue;
    if (paths.files.includes(key)) value = relativePath(value as string);
    if (paths.specs.includes(key)) value = mapDataSpecPaths(value as string, relativePath);
    recipe[key] = value;
  }
  return recipe;
}

/** Writes a text file atomically (no half-written file on failure). */
export function writeTextFile(file: string, text: string): void {
  atomicWrite(resolve(file), [Buffer.from(text)]);
}

export function writeRecipe(file: string, recipe: Record<string, unknown>): void {
  writeTextFile(file, `${JSON.stringify(recipe, null, 2)}\n`);
}

/** Where a run that writes `output` writes its recipe: beside it, `fused.onnx` -> `fused.recipe.json`. */
export function recipePathFor(output: string): string {
  return `${output.replace(/\.onnx$/i, '')}.recipe.json`;
}
