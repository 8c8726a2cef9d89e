import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { isClafusionError } from '../../lib/errors.js';
import { rng as random } from '../support/random.js';
import { expectCode } from '../support/errors.js';
import { native, type NativeAddon } from '../../lib/native.js';
import { AUTO_GPU_MIN_ELEMENTS, gpuAvailable, gpuInfo, useGpu } from '../../lib/solvers/device.js';
import { pairwiseDistances, pairwiseDistancesSync, type DistanceOptions } from '../../lib/solvers/linalg.js';
import { sinkhorn, sinkhornSync, type SinkhornOptions } from '../../lib/solvers/sinkhorn.js';
import { maxRelativeDifference } from '../support/compare.js';

type FloatArray = Float32Array | Float64Array;
const onCpu = { device: 'cpu' } as const;
const gpuSinkhorn = (a: FloatArray, b: FloatArray, M: Float32Array, reg: number, o: SinkhornOptions = {}) => sinkhorn(a, b, M, reg, { ...o, device: 'cuda' });
const gpuSinkhornSync = (a: FloatArray, b: FloatArray, M: Float32Array, reg: number, o: SinkhornOptions = {}) => sinkhornSync(a, b, M, reg, { ...o, device: 'cuda' });
const gpuPairwiseDistances = (x: Float32Array, n: number, y: Float32Array, m: number, d: number, o: DistanceOptions = {}) =>
  pairwiseDistances(x, n, y, m, d, { ...o, device: 'cuda' });
const gpuPairwiseDistancesSync = (x: Float32Array, n: number, y: Float32Array, m: number, d: number, o: DistanceOptions = {}) =>
  pairwiseDistancesSync(x, n, y, m, d, { ...o, device: 'cuda' });

const hasGpu = gpuAvailable();
const cudaBuild = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build-cuda', 'Release', 'clafusion_cuda.node');

function points(rows: number, d: number, seed: number): Float32Array {
  const next = random(seed);
  return Float32Array.from({ length: rows * d }, () => next() * 2 - 1);
}

function uniform(n: number): Float64Array {
  return new Float64Array(n).fill(1 / n);
}

function expectArgError(run: () => unknown, pattern: RegExp): void {
  expectCode(run, 'E_ARG', pattern);
}

describe('device selection (lib/solvers/device.ts)', () => {
  it("'cpu' never uses the GPU, whatever the size", () => {
    expect(useGpu('cpu', 1e12)).to.equal(false);
  });

  it("'auto' (and no option) stays on the CPU below 512 x 512 elements", () => {
    expect(useGpu('auto', AUTO_GPU_MIN_ELEMENTS - 1)).to.equal(false);
    expect(useGpu(undefined, 100)).to.equal(false);
  });

  it("'auto' uses the GPU for large problems exactly when one is available", () => {
    expect(useGpu('auto', AUTO_GPU_MIN_ELEMENTS)).to.equal(hasGpu);
  });

  it('rejects an unknown device option and a bad size with E_ARG', () => {
    expectArgError(() => useGpu('gpu' as never, 10), /device must be one of auto, cpu, cuda/);
    expectArgError(() => useGpu('auto', Number.NaN), /size must be a number >= 0/);
  });

  it('reports the CPU backend or no CUDA device (CPU machines only; skipped when a GPU is present)', function () {
    if (hasGpu) this.skip();
    const info = gpuInfo();
    expect(info.backend === 'cpu' || info.devices.length === 0).to.equal(true);
  });

  it("gives E_ARG naming the missing CUDA device for device 'cuda' (CPU machines only; skipped when a GPU is present)", async function () {
    if (hasGpu) this.skip();
    expectArgError(() => useGpu('cuda', 10), /no CUDA device is available/);
    expectArgError(() => gpuSinkhornSync(uniform(2), uniform(2), new Float32Array([0, 1, 1, 0]), 0.1), /no CUDA device/);
    expectArgError(() => gpuPairwiseDistancesSync(new Float32Array(4), 2, new Float32Array(4), 2, 2), /no CUDA device/);
    const rejected = await gpuSinkhorn(uniform(2), uniform(2), new Float32Array([0, 1, 1, 0]), 0.1).catch((err: unknown) => err);
    expect(isClafusionError(rejected, 'E_ARG')).to.equal(true);
  });

  it('checks GPU arguments before looking for a device', () => {
    const cost = new Float32Array([0, 1, 1, 0]);
    expectArgError(() => gpuSinkhornSync(uniform(2), uniform(2), Float64Array.from(cost) as never, 0.1), /device 'cuda' needs a Float32Array cost/);
    expectArgError(() => gpuSinkhornSync(Float64Array.from([1, 1]), uniform(3), new Float32Array(6), 0.1), /same total mass/);
    expectArgError(() => gpuSinkhornSync(uniform(2), uniform(2), cost, 0), /reg must be a finite number > 0/);
    expectArgError(() => gpuSinkhornSync(uniform(2), uniform(2), cost, 0.1, { regMode: 'mean' as never }), /regMode must be one of/);
    expectArgError(() => gpuSinkhornSync(uniform(2), uniform(2), cost, 0.1, { tolerence: 1 } as never), /unknown option 'tolerence'/);
    expectArgError(() => gpuPairwiseDistancesSync(new Float32Array(3), 2, new Float32Array(4), 2, 2), /X must have 4 elements/);
    expectArgError(() => gpuPairwiseDistancesSync(new Float32Array(4), 2, new Float32Array(4), 2, 2, { metric: 'l1' as never }), /metric must be one of/);
  });

  it('the CUDA build loads without a GPU and reports no device (skipped when it is not built or a GPU is present)', function () {
    if (hasGpu || !existsSync(cudaBuild)) this.skip();
    const addon = createRequire(import.meta.url)(cudaBuild) as NativeAddon;
    expect(addon.buildInfo()).to.include({ backend: 'cuda', cudaDevices: 0 });
    expect(addon.cudaInfo!().devices).to.deep.equal([]);
    let caught: unknown;
    try {
      addon.cudaPairwiseDistancesSync!(new Float32Array(4), 2, new Float32Array(4), 2, 2, 'sqeuclidean');
    } catch (err) {
      caught = err;
    }
    expect((caught as { code?: string }).code).to.equal('E_NATIVE');
    expect((caught as Error).message).to.match(/no CUDA device is visible/);
  });
});

describe('GPU kernels against the CPU kernels (GPU only; skipped without a CUDA device)', () => {
  before(function () {
    if (!hasGpu) this.skip();
  });

  it('reports the device it runs on', () => {
    const info = gpuInfo();
    expect(info.backend).to.equal('cuda');
    expect(info.devices.length).to.be.greaterThan(0);
    expect(native().buildInfo().cudaDevices).to.equal(info.devices.length);
  });

  it('sinkhorn: the GPU plan matches the CPU plan, meets the tolerance and is bit-identical when rerun', async () => {
    const n = 300;
    const m = 257;
    const d = 16;
    const cost = pairwiseDistancesSync(points(n, d, 1), n, points(m, d, 2), m, d);
    const a = uniform(n);
    const b = uniform(m);
    const cpu = sinkhornSync(a, b, cost, 0.05, { regMode: 'median', ...onCpu });
    const gpu = await gpuSinkhorn(a, b, cost, 0.05, { regMode: 'median' });
    expect(gpu.converged).to.equal(true);
    expect(gpu.error).to.be.at.most(1e-9);
    expect(gpu.epsilon).to.equal(cpu.epsilon);
    expect(maxRelativeDifference(gpu.plan, cpu.plan)).to.be.below(1e-5);
    expect(Math.abs(gpu.cost - cpu.cost) / cpu.cost).to.be.below(1e-6);
    expect(Buffer.from(gpuSinkhornSync(a, b, cost, 0.05, { regMode: 'median' }).plan.buffer).equals(Buffer.from(gpu.plan.buffer))).to.equal(true);
  });

  it('sinkhorn: a zero-mass row and column get -Infinity potentials and empty plan rows/columns', () => {
    const a = Float64Array.from([0.5, 0, 0.5]);
    const b = Float64Array.from([0.25, 0.75, 0]);
    const cost = Float32Array.from([0, 1, 2, 1, 0, 1, 2, 1, 0]);
    const gpu = gpuSinkhornSync(a, b, cost, 0.5);
    expect(gpu.f[1]).to.equal(-Infinity);
    expect(gpu.g[2]).to.equal(-Infinity);
    expect([gpu.plan[3], gpu.plan[4], gpu.plan[5], gpu.plan[2], gpu.plan[8]]).to.deep.equal([0, 0, 0, 0, 0]);
    expect(gpu.converged).to.equal(true);
  });

  it('sinkhorn: maxIterations running out gives E_SOLVER, or the partial plan with throwOnNonConvergence false', () => {
    const n = 64;
    const cost = pairwiseDistancesSync(points(n, 8, 3), n, points(n, 8, 4), n, 8);
    let caught: unknown;
    try {
      gpuSinkhornSync(uniform(n), uniform(n), cost, 0.001, { regMode: 'median', maxIterations: 3 });
    } catch (err) {
      caught = err;
    }
    expect(isClafusionError(caught, 'E_SOLVER'), String(caught)).to.equal(true);
    const partial = gpuSinkhornSync(uniform(n), uniform(n), cost, 0.001, { regMode: 'median', maxIterations: 3, throwOnNonConvergence: false });
    expect(partial).to.include({ converged: false, iterations: 3 });
  });

  for (const metric of ['sqeuclidean', 'euclidean', 'cosine'] as const) {
    it(`pairwise ${metric} distances match the CPU on edge-sized tiles`, async () => {
      const [n, m, d] = [131, 257, 37];
      const x = points(n, d, 5);
      const y = points(m, d, 6);
      x.fill(0, 0, d); // a zero row: cosine distance 1
      const cpu = pairwiseDistancesSync(x, n, y, m, d, { metric, ...onCpu });
      const gpu = await gpuPairwiseDistances(x, n, y, m, d, { metric });
      expect(maxRelativeDifference(gpu, cpu)).to.be.below(1e-5);
      expect(Buffer.from(gpuPairwiseDistancesSync(x, n, y, m, d, { metric }).buffer).equals(Buffer.from(gpu.buffer))).to.equal(true);
    });
  }
});
