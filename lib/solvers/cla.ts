/**
 * Cross-layer alignment dynamic program (CLAFusion §1.4), the native `claAlign` with its arguments checked.
 */
import { native } from '../native.js';
import { checkCount, checkDim, checkFinite, type FloatArray, asFloat64 } from './validate.js';
import { ClafusionError } from '../errors.js';

export interface ClaAlignOptions {
  /** s: the first s-1 shallow layers are pinned to the first s-1 deep layers. Published default 2. */
  startLayer?: number;
  /** f: the last f shallow layers are pinned to the last f deep layers. Published default 1. */
  pinnedEnd?: number;
}

export interface ClaAlignResult {
  /** mapping[k] = 1-based deep layer matched to shallow layer k+1; strictly increasing. */
  mapping: number[];
  /** Sum of the matched costs. */
  totalCost: number;
}

/**
 * The monotone, injective mapping of the shallow network's n layers into the deep network's m layers of least
 * total cost. `cost` is m x n row-major (row = deep layer, column = shallow layer), n <= m.
 * Ties go to the earliest deep layer; one shallow layer always maps to deep layer 1 (as published).
 */
export function claAlign(cost: FloatArray, m: number, n: number, options: ClaAlignOptions = {}): ClaAlignResult {
  checkDim(m, 'm (deep layers)');
  checkDim(n, 'n (shallow layers)');
  if (n > m) throw new ClafusionError('E_ARG', `claAlign: the shallow network has more layers (${n}) than the deep one (${m}); swap them`);
  checkFinite(cost, m * n, 'cost');
  const s = options.startLayer ?? 2;
  const f = options.pinnedEnd ?? 1;
  checkDim(s, 'startLayer');
  checkCount(f, 'pinnedEnd');
  if (n > 1 && s - 1 + f > n) {
    throw new ClafusionError('E_ARG', `claAlign: the pins (first ${s - 1}, last ${f}) exceed the ${n} shallow layers; lower startLayer or pinnedEnd`);
  }
  const result = native().claAlignSync(asFloat64(cost), m, n, s, f);
  return { mapping: Array.from(result.mapping), totalCost: result.totalCost };
}
