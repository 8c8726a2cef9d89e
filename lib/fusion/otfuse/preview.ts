/**
 * Small pictures of transport maps for reports: the first maps of a fusion, shrunk to a grid of at most
 * PREVIEW_SIZE x PREVIEW_SIZE cells by summing T̂ over blocks of units (block r of n units covers units
 * floor(r·n/b) .. floor((r+1)·n/b) - 1). Summing keeps the mass: a block's value is the share of the block's source
 * units in its target units. Keeping only PREVIEW_MAPS maps of a few KB each bounds the memory a result holds.
 */
import type { UnitMap } from '../transport.js';

/** Maps previewed per source model (the first ones computed, in forward order). */
export const PREVIEW_MAPS = 4;
/** Cells per side at most. */
export const PREVIEW_SIZE = 32;

export interface PlanPreview {
  /** Preview rows (source-unit blocks) and columns (target-unit blocks). */
  rows: number;
  cols: number;
  /** Units of the map: source (rows) and target (columns). */
  sourceUnits: number;
  targetUnits: number;
  /** rows x cols, row-major: the sum of T̂ over each block. */
  data: number[];
}

/** Block index of each of `n` units among `blocks` blocks. */
function blockOf(n: number, blocks: number): Int32Array {
  const block = new Int32Array(n);
  for (let b = 0; b < blocks; b++) {
    for (let u = Math.floor((b * n) / blocks); u < Math.floor(((b + 1) * n) / blocks); u++) block[u] = b;
  }
  return block;
}

export function planPreview(map: UnitMap, size = PREVIEW_SIZE): PlanPreview {
  const rows = Math.min(map.rows, size);
  const cols = Math.min(map.cols, size);
  const rowBlock = blockOf(map.rows, rows);
  const colBlock = blockOf(map.cols, cols);
  const data = new Array<number>(rows * cols).fill(0);
  const { row, col, value } = map.nonzeros;
  for (let k = 0; k < value.length; k++) data[rowBlock[row[k]] * cols + colBlock[col[k]]] += value[k];
  return { rows, cols, sourceUnits: map.rows, targetUnits: map.cols, data };
}
