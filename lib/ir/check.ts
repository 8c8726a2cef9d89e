/**
 * Structural checks of a Network handed to a public function: the IR is a plain object, so a caller can pass
 * anything, and a malformed one would otherwise fail deep inside with a TypeError. This checks the skeleton every
 * function walks (specs, segments, units, layers and their weights), not the values; those are checked where used.
 */
import { ClafusionError } from '../errors.js';
import type { Layer, Network, Unit } from './network.js';

function fail(what: string, problem: string): never {
  throw new ClafusionError('E_ARG',
    `${what} is not a Network as readNetwork returns it: ${problem}; pass a network from readNetwork or fuse`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function checkSpec(value: unknown, what: string, name: string): void {
  if (!isObject(value) || typeof value.name !== 'string' || !Array.isArray(value.shape)) {
    fail(what, `its ${name} has no name and shape`);
  }
}

/** A Layer: type 'layer', a dense or conv op with a Float32Array weight and its shape. */
export function checkLayer(value: unknown, what = 'layer'): asserts value is Layer {
  if (!isObject(value) || value.type !== 'layer') fail(what, "it is not a layer (type 'layer')");
  const op = value.op as Record<string, unknown> | undefined;
  const weight = op?.weight as Record<string, unknown> | undefined;
  if (!isObject(op) || (op.kind !== 'dense' && op.kind !== 'conv')) fail(what, "its op is not 'dense' or 'conv'");
  const shaped = isObject(weight) && Array.isArray(weight.shape) && weight.shape.length > 0;
  if (!shaped || !(weight.data instanceof Float32Array)) {
    fail(what, 'its weight is not a Float32Array with a shape');
  }
}

/** A Unit: a layer, or a residual block with a non-empty branch of layers (and maybe a shortcut layer). */
export function checkUnit(value: unknown, what = 'unit'): asserts value is Unit {
  if (isObject(value) && value.type === 'residual') {
    if (!Array.isArray(value.branch) || value.branch.length === 0) fail(what, 'its residual branch is empty');
    value.branch.forEach((layer, i) => checkLayer(layer, `${what}, branch layer ${i}`));
    if (value.shortcut !== undefined) checkLayer(value.shortcut, `${what}, shortcut`);
    return;
  }
  checkLayer(value, what);
}

/** E_ARG unless `value` has the skeleton of a Network. */
export function checkNetwork(value: unknown, what = 'network'): asserts value is Network {
  if (!isObject(value)) fail(what, `it is ${value === null ? 'null' : typeof value}`);
  checkSpec(value.input, what, 'input');
  checkSpec(value.output, what, 'output');
  if (!Array.isArray(value.segments)) fail(what, 'it has no segments');
  value.segments.forEach((segment: unknown, s: number) => {
    if (!isObject(segment) || !Array.isArray(segment.units)) fail(what, `segment ${s} has no units`);
    segment.units.forEach((unit: unknown, u: number) => checkUnit(unit, `${what}: segment ${s}, unit ${u}`));
  });
  checkLayer(value.classifier, `${what}: classifier`);
}
