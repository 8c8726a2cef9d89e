/**
 * Argument checks shared by every solver wrapper. They run in TypeScript before any native call, so a bad input
 * becomes an `E_ARG` error that says what was wrong instead of reaching C++.
 */
import { ClafusionError } from '../errors.js';
import { native } from '../native.js';

export type FloatArray = Float32Array | Float64Array;

function fail(message: string): never {
  throw new ClafusionError('E_ARG', message);
}

/** A positive integer dimension. */
export function checkDim(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) fail(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/** A non-negative integer. */
export function checkCount(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(`${name} must be a non-negative integer, got ${String(value)}`);
  return value;
}

/** A Float32Array or Float64Array of exactly `length` finite values. */
export function checkFinite(values: unknown, length: number, name: string): FloatArray {
  if (!(values instanceof Float64Array || values instanceof Float32Array)) fail(`${name} must be a Float64Array or Float32Array`);
  if (values.length !== length) fail(`${name} must have ${length} elements, got ${values.length}`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) fail(`${name}[${i}] is ${values[i]}; every value must be finite`);
  }
  return values;
}

/** A finite, strictly positive number. */
export function checkPositive(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(`${name} must be a finite number > 0, got ${String(value)}`);
  return value;
}

/** Thread counts above this are refused (the native kernels also clamp to 4x the cores). */
const MAX_THREADS = 1024;

/** A thread count: a positive integer up to 1024, or undefined for the default. */
export function checkThreads(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const threads = checkDim(value, 'threads');
  if (threads > MAX_THREADS) fail(`threads must be at most ${MAX_THREADS}, got ${threads}`);
  return threads;
}

/** Float64 view of `values` (copied only when it is Float32). */
export function asFloat64(values: FloatArray): Float64Array {
  return values instanceof Float64Array ? values : Float64Array.from(values);
}

/** A Float32Array of finite values: exactly `length` of them, or at least `length` when `allowLonger` (strided views). */
export function checkFloat32(values: unknown, length: number, name: string, allowLonger = false): Float32Array {
  if (!(values instanceof Float32Array)) fail(`${name} must be a Float32Array (convert with Float32Array.from)`);
  if (allowLonger ? values.length < length : values.length !== length) {
    fail(`${name} must have ${allowLonger ? 'at least ' : ''}${length} elements, got ${values.length}`);
  }
  // A native scan: on the activation matrices of a fusion (up to hundreds of MB) a JS loop costs more than the
  // kernels it guards.
  const bad = native().firstNonFiniteF32(values);
  if (bad >= 0) fail(`${name}[${bad}] is ${values[bad]}; every value must be finite`);
  return values;
}

/** A histogram: a non-empty Float32Array or Float64Array of finite values >= 0 with positive total mass. */
export function checkHistogram(values: unknown, name: string): FloatArray {
  if (!(values instanceof Float64Array || values instanceof Float32Array)) fail(`${name} must be a Float64Array or Float32Array`);
  if (values.length === 0) fail(`${name} must not be empty`);
  let mass = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isFinite(value) || value < 0) fail(`${name}[${i}] is ${value}; every weight must be finite and >= 0`);
    mass += value;
  }
  if (!(mass > 0)) fail(`${name} has zero total mass; give at least one positive weight`);
  return values;
}

/** Two histograms of the same total mass, up to `relativeTolerance` of the larger mass. */
export function checkEqualMass(a: FloatArray, b: FloatArray, relativeTolerance: number, names = ['a', 'b']): void {
  let massA = 0;
  let massB = 0;
  for (const value of a) massA += value;
  for (const value of b) massB += value;
  if (Math.abs(massA - massB) > relativeTolerance * Math.max(massA, massB)) {
    fail(`${names[0]} and ${names[1]} must have the same total mass (got ${massA} and ${massB}); normalise both, e.g. divide each by its sum`);
  }
}
