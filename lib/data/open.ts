/** Opens the supported file formats as Datasets. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ClafusionError } from '../errors.js';
import { CIFAR_SHAPE, readCifar, type CifarVariant } from './cifar.js';
import { Dataset } from './dataset.js';
import { dataError } from './io.js';
import { readIdx } from './idx.js';
import { readNpyHeader, readNpyLabels } from './npy.js';
import { MemorySource, NpyRangeSource } from './source.js';

/** Per-sample shape from a file's full shape [N, ...]: a lone [H, W] image gets one channel. */
function sampleShape(dims: readonly number[]): number[] {
  const rest = dims.slice(1);
  return rest.length === 2 ? [1, ...rest] : rest;
}

/** IDX images ([N, H, W] uint8) with optional IDX labels ([N] uint8). */
export async function openIdx(imagesPath: string, labelsPath?: string): Promise<Dataset> {
  const images = await readIdx(imagesPath);
  if (images.dims.length < 2) throw dataError(imagesPath, 3, `IDX images need at least 2 dimensions [N, ...], got [${images.dims.join(', ')}]`);
  let labels: Int32Array | null = null;
  if (labelsPath !== undefined) {
    const raw = await readIdx(labelsPath);
    if (raw.dims.length !== 1) throw dataError(labelsPath, 3, `IDX labels must have 1 dimension, got [${raw.dims.join(', ')}]`);
    labels = Int32Array.from(raw.data);
  }
  const shape = sampleShape(images.dims);
  const sampleSize = shape.reduce((a, b) => a * b, 1);
  if (sampleSize === 0) throw dataError(imagesPath, 4, `IDX images have an empty sample shape [${images.dims.join(', ')}]`);
  return Dataset.fromSource(new MemorySource(images.data, sampleSize), shape, labels, imagesPath);
}

/** One or more CIFAR-10 / CIFAR-100 binary batch files, concatenated in the given order. */
export async function openCifar(paths: readonly string[], variant: CifarVariant): Promise<Dataset> {
  const { images, labels } = await readCifar(paths, variant);
  const sampleSize = CIFAR_SHAPE.reduce((a, b) => a * b, 1);
  return Dataset.fromSource(new MemorySource(images, sampleSize), CIFAR_SHAPE, labels, paths.join(','));
}

/** A .npy sample array (uint8 or float32, [N, C, H, W], [N, H, W] or [N, D]) with an optional .npy label vector. */
export async function openNpy(samplesPath: string, labelsPath?: string): Promise<Dataset> {
  const header = await readNpyHeader(samplesPath);
  if (header.dtype !== 'u1' && header.dtype !== 'f4') {
    throw dataError(samplesPath, header.dataOffset, `samples must be uint8 or float32, got ${header.dtype}`);
  }
  if (header.shape.length < 2) throw dataError(samplesPath, header.dataOffset, `samples need shape [N, ...], got (${header.shape.join(', ')})`);
  const labels = labelsPath === undefined ? null : await readNpyLabels(labelsPath);
  return Dataset.fromSource(new NpyRangeSource(header), sampleShape(header.shape), labels, samplesPath);
}

export type Split = 'train' | 'test';

/** The standard MNIST / Fashion-MNIST file names in a directory, raw or gzipped; `test` is the t10k split. */
export async function openIdxDirectory(directory: string, split: Split): Promise<Dataset> {
  const prefix = split === 'test' ? 't10k' : 'train';
  const find = (stem: string): string => {
    const candidates = [stem, `${stem}.gz`].map((name) => join(directory, name));
    const found = candidates.find((path) => existsSync(path));
    if (!found) throw new ClafusionError('E_IO', `${directory} has neither ${candidates.map((p) => p.slice(directory.length + 1)).join(' nor ')}; pass the IDX files with idx:<images>,<labels>`);
    return found;
  };
  return openIdx(find(`${prefix}-images-idx3-ubyte`), find(`${prefix}-labels-idx1-ubyte`));
}
