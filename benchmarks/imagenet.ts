/**
 * ImageNet-scale models and samples for the large benchmarks (`npm run bench -- --large`), generated in the
 * benchmark itself (no downloads): ResNet-50/101/152-shaped networks in torchvision's layout (Bottleneck blocks
 * [3,4,6,3], [3,4,23,3], [3,8,36,3], planes 64..512 so streams 256..2048 wide, a 7x7 stride-2 stem and 3x3 max-pool,
 * BN, 1000 classes, 3x224x224 inputs) with seeded He-initialised weights, built as IR and written by the emitter; and
 * smooth random images.
 *
 * BN running statistics are those of smooth images flowing through the network (one training-mode ONNX Runtime pass
 * over a few of them, recalibrate.ts), so every BN normalises what reaches it, as in a trained network, and the
 * activations neither vanish nor explode over 50 blocks.
 */
import { Dataset } from '../lib/data/dataset.js';
import { MemorySource } from '../lib/data/source.js';
import { emitModel } from '../lib/graph/emit.js';
import type { Network } from '../lib/ir/network.js';
import { recalibrateBatchNorm } from '../lib/fusion/recalibrate.js';
import { buildBottleneckResnet, rng } from '../test/fusion/helpers.js';

export type ResnetDepth = 50 | 101 | 152;

const BLOCKS: Record<ResnetDepth, number[]> = { 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3] };
const PLANES = [64, 128, 256, 512];
export const IMAGE: [number, number, number] = [3, 224, 224];
/** Images the BN statistics are taken from. */
const CALIBRATION_SAMPLES = 8;

/** Coarse grid of the smooth images: each channel is a bilinear upsampling of GRID x GRID random values. */
const GRID = 8;

/**
 * `count` smooth random uint8 images (3x224x224): per channel, uniform random values on a GRID x GRID lattice,
 * bilinearly interpolated over the image (natural images are dominated by low frequencies; white noise is not).
 */
export function smoothImages(count: number, seed: number): Dataset {
  const [channels, height, width] = IMAGE;
  const random = rng(seed);
  const pixels = new Uint8Array(count * channels * height * width);
  const lattice = new Float64Array((GRID + 1) * (GRID + 1));
  let at = 0;
  for (let plane = 0; plane < count * channels; plane++) {
    for (let k = 0; k < lattice.length; k++) lattice[k] = random() * 255;
    for (let y = 0; y < height; y++) {
      const gy = (y / (height - 1)) * GRID;
      const y0 = Math.min(Math.floor(gy), GRID - 1);
      const fy = gy - y0;
      for (let x = 0; x < width; x++) {
        const gx = (x / (width - 1)) * GRID;
        const x0 = Math.min(Math.floor(gx), GRID - 1);
        const fx = gx - x0;
        const top = lattice[y0 * (GRID + 1) + x0] * (1 - fx) + lattice[y0 * (GRID + 1) + x0 + 1] * fx;
        const bottom = lattice[(y0 + 1) * (GRID + 1) + x0] * (1 - fx) + lattice[(y0 + 1) * (GRID + 1) + x0 + 1] * fx;
        pixels[at++] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  const labels = Int32Array.from({ length: count }, () => Math.floor(random() * 1000));
  return Dataset.fromSource(new MemorySource(pixels, channels * height * width), IMAGE, labels, `${count} smooth random 3x224x224 images`);
}

/** A ResNet-`depth`-shaped network with seeded He-initialised weights and BN statistics of smooth images. */
export async function imagenetResnet(depth: ResnetDepth, seed: number): Promise<Network> {
  const network = buildBottleneckResnet(BLOCKS[depth], PLANES, IMAGE, 1000, { batchNorm: true, imagenetStem: true, seed });
  return recalibrateBatchNorm(network, smoothImages(CALIBRATION_SAMPLES, seed + 1000));
}

/** The same as ONNX bytes (what `fuse` reads). */
export async function imagenetResnetBytes(depth: ResnetDepth, seed: number): Promise<Uint8Array> {
  return emitModel(await imagenetResnet(depth, seed)).bytes;
}
