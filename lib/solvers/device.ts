/**
 * Where a solver runs: the CPU kernels, or the CUDA kernels of native/cuda when the CUDA addon
 * (build-cuda/Release/clafusion_cuda.node, built only where nvcc exists) is the loaded addon, which lib/native.ts
 * allows only when it sees a device. `useGpu` makes that choice at run time from a `device` option:
 *
 *   'cpu'   always the CPU;
 *   'cuda'  the GPU, or `E_ARG` when there is no CUDA addon or device;
 *   'auto'  (default) the GPU only when it is available and the problem has at least {@link AUTO_GPU_MIN_ELEMENTS}
 *           cost / output elements; below that, launches and host <-> device copies outweigh the kernels.
 *
 * `sinkhorn` and `pairwiseDistances` take a `device` option and call `useGpu`; their arguments are checked once, the
 * same way for both devices. On an H200 the GPU kernels agree with the CPU kernels to 4e-7 (plans, relative to the
 * largest entry) and 2.4e-7 (distances); scripts/gpu/results/ holds the measurements.
 */
import { availableParallelism } from 'node:os';
import { ClafusionError } from '../errors.js';
import { native } from '../native.js';

export type DeviceOption = 'auto' | 'cpu' | 'cuda';

/** 'auto' uses the GPU from this many elements (n x m) on: 512², where the H200 check measured it ahead. */
export const AUTO_GPU_MIN_ELEMENTS = 512 * 512;

export interface CudaDevice {
  index: number;
  name: string;
  /** "major.minor", e.g. "9.0" for Hopper. */
  computeCapability: string;
  multiprocessors: number;
  totalMemoryBytes: number;
  freeMemoryBytes: number;
}

export interface GpuInfo {
  /** Which addon is loaded: the CUDA build is loaded only where it sees a device. */
  backend: 'cpu' | 'cuda';
  /** The devices the CUDA runtime reports (empty for the CPU backend). */
  devices: CudaDevice[];
}

const DEVICE_OPTIONS: readonly DeviceOption[] = ['auto', 'cpu', 'cuda'];

function fail(message: string): never {
  throw new ClafusionError('E_ARG', message);
}

/** The backend and CUDA devices of the loaded addon. Throws E_NATIVE when no addon loads at all. */
export function gpuInfo(): GpuInfo {
  const addon = native();
  const backend = addon.buildInfo().backend;
  return { backend, devices: addon.cudaInfo ? addon.cudaInfo().devices : [] };
}

/** True when the loaded addon is the CUDA build and sees at least one device. */
export function gpuAvailable(): boolean {
  const addon = native();
  return typeof addon.cudaSinkhornSync === 'function' && addon.buildInfo().cudaDevices > 0;
}

/** Throws E_ARG (naming `what`) unless a CUDA device is available. */
export function requireGpu(what: string): void {
  if (gpuAvailable()) return;
  fail(`${what}: device 'cuda' was requested, but no CUDA device is available (the loaded addon is the CPU build: ` +
    'build-cuda/Release/clafusion_cuda.node is built only where nvcc exists at install time, and is loaded only where ' +
    "it sees a GPU; CLAFUSION_DEVICE=cpu also turns it off). Use device 'auto' or 'cpu'.");
}

/** `option` (default 'auto') when it is a known device; E_ARG otherwise. */
export function checkDevice(option: unknown): DeviceOption {
  const choice = option ?? 'auto';
  if (!DEVICE_OPTIONS.includes(choice as DeviceOption)) fail(`device must be one of ${DEVICE_OPTIONS.join(', ')}, got ${String(choice)}`);
  return choice as DeviceOption;
}

/**
 * Whether a problem of `size` elements (n x m) should run on the GPU under `option` (default 'auto').
 * Throws E_ARG for an unknown option, and for 'cuda' when no CUDA device is available.
 */
export function useGpu(option: DeviceOption | undefined, size: number): boolean {
  const choice = checkDevice(option);
  if (typeof size !== 'number' || !(size >= 0)) fail(`useGpu: size must be a number >= 0, got ${String(size)}`);
  if (choice === 'cpu') return false;
  if (choice === 'cuda') {
    requireGpu('useGpu');
    return true;
  }
  return size >= AUTO_GPU_MIN_ELEMENTS && gpuAvailable();
}

/**
 * `useGpu` for pairwise distances. The n x m result has to come back to the host, which on the H200 check ran at
 * about 1.5 GB/s into a fresh JS array, so under 'auto' the GPU pays off only when every output element carries
 * enough arithmetic: 2d flop per 4 bytes copied is about 0.75·d GFLOP/s, against about 40 GFLOP/s per CPU core.
 */
export function useGpuForDistances(option: DeviceOption | undefined, n: number, m: number, d: number): boolean {
  const gpu = useGpu(option, n * m);
  return gpu && (option === 'cuda' || 0.75 * d > 40 * availableParallelism());
}
