/**
 * CIFAR binary batches (`data_batch_1.bin`, `test_batch.bin`, ...). Each record is the label byte(s) then a 32x32
 * RGB image as 3072 bytes in channel-major order (1024 R, 1024 G, 1024 B), i.e. already CHW:
 *
 *   CIFAR-10:  <label> <3072 pixels>                  (3073 bytes per record)
 *   CIFAR-100: <coarse label> <fine label> <3072 px>  (3074 bytes per record; we use the fine label)
 */
import { dataError, readWholeFile } from './io.js';
import { requireArg } from '../errors.js';

export type CifarVariant = 'cifar10' | 'cifar100';

export interface CifarData {
  images: Uint8Array;
  labels: Int32Array;
  count: number;
}

export const CIFAR_SHAPE = [3, 32, 32] as const;
const PIXELS = 3 * 32 * 32;
const LAYOUT: Record<CifarVariant, { labelBytes: number; labelByte: number; classes: number }> = {
  cifar10: { labelBytes: 1, labelByte: 0, classes: 10 },
  cifar100: { labelBytes: 2, labelByte: 1, classes: 100 },
};

/** Reads one or more batch files into one uint8 image array (N x 3072) and their labels. */
export async function readCifar(paths: readonly string[], variant: CifarVariant): Promise<CifarData> {
  requireArg(Object.hasOwn(LAYOUT, variant), `the CIFAR variant must be 'cifar10' or 'cifar100', got ${String(variant)}`);
  requireArg(Array.isArray(paths) && paths.length > 0, 'readCifar: pass at least one batch file');
  const { labelBytes, labelByte, classes } = LAYOUT[variant];
  const recordBytes = labelBytes + PIXELS;
  const files: Buffer[] = [];
  for (const path of paths) {
    const bytes = await readWholeFile(path);
    if (bytes.length === 0 || bytes.length % recordBytes !== 0) {
      const complete = Math.floor(bytes.length / recordBytes) * recordBytes;
      throw dataError(path, complete, `truncated or not a ${variant} batch: ${bytes.length} bytes is not a positive multiple of the ${recordBytes}-byte record`);
    }
    files.push(bytes);
  }
  const count = files.reduce((n, b) => n + b.length / recordBytes, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  let sample = 0;
  files.forEach((bytes, f) => {
    for (let offset = 0; offset < bytes.length; offset += recordBytes, sample++) {
      const label = bytes[offset + labelByte]!;
      if (label >= classes) throw dataError(paths[f]!, offset + labelByte, `label ${label} is out of range for ${variant} (0..${classes - 1})`);
      labels[sample] = label;
      images.set(bytes.subarray(offset + labelBytes, offset + recordBytes), sample * PIXELS);
    }
  });
  return { images, labels, count };
}
