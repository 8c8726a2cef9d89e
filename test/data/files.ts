/** Writers for small synthetic data files in the formats that lib/data reads (test helpers). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'clafusion-data-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** IDX bytes: uint8 elements with the given dims. */
export function idxBytes(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

export function writeIdx(path: string, dims: number[], data: Uint8Array, gzip = false): string {
  const bytes = idxBytes(dims, data);
  writeFileSync(path, gzip ? gzipSync(bytes) : bytes);
  return path;
}

/** .npy bytes in format version `major` (1, 2 or 3), C order. */
export function npyBytes(descr: string, shape: number[], data: ArrayBufferView, major = 1, extra = ''): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), ${extra}}`;
  const lengthBytes = major === 1 ? 2 : 4;
  const unpadded = 8 + lengthBytes + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(8 + lengthBytes);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = major;
  if (major === 1) prefix.writeUInt16LE(header.length, 8);
  else prefix.writeUInt32LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export function writeNpy(path: string, descr: string, shape: number[], data: ArrayBufferView, major = 1): string {
  writeFileSync(path, npyBytes(descr, shape, data, major));
  return path;
}

/** A CIFAR batch: `labels[i]` then image i (3072 bytes; CIFAR-100 also gets a coarse label byte first). */
export function cifarBytes(images: Uint8Array, labels: number[], variant: 'cifar10' | 'cifar100'): Buffer {
  const labelBytes = variant === 'cifar10' ? 1 : 2;
  const record = labelBytes + 3072;
  const out = Buffer.alloc(labels.length * record);
  labels.forEach((label, i) => {
    out[i * record + labelBytes - 1] = label;
    if (variant === 'cifar100') out[i * record] = label % 20;
    out.set(images.subarray(i * 3072, (i + 1) * 3072), i * record + labelBytes);
  });
  return out;
}

/** Deterministic pseudo-random bytes (an LCG) for synthetic images. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}
