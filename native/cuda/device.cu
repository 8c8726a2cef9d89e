#include "cuda/device.hpp"

#include "cuda/cuda_util.cuh"

namespace clf::cuda {

int deviceCount() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver / no device: not an error for discovery
    return 0;
  }
  return count;
}

DeviceInfo deviceInfo(int index) {
  if (index < 0 || index >= deviceCount()) throw argError("CUDA device index " + std::to_string(index) + " does not exist");
  cudaDeviceProp props{};
  detail::check(cudaGetDeviceProperties(&props, index), "cudaGetDeviceProperties");
  DeviceInfo info;
  info.index = index;
  info.name = props.name;
  info.computeMajor = props.major;
  info.computeMinor = props.minor;
  info.multiprocessors = props.multiProcessorCount;
  info.totalMemoryBytes = props.totalGlobalMem;
  int previous = 0;
  detail::check(cudaGetDevice(&previous), "cudaGetDevice");
  detail::check(cudaSetDevice(index), "cudaSetDevice");
  size_t freeBytes = 0, totalBytes = 0;
  cudaError_t status = cudaMemGetInfo(&freeBytes, &totalBytes);
  cudaSetDevice(previous);
  detail::check(status, "cudaMemGetInfo");
  info.freeMemoryBytes = freeBytes;
  return info;
}

int runtimeVersion() noexcept {
  int version = 0;
  if (cudaRuntimeGetVersion(&version) != cudaSuccess) cudaGetLastError();
  return version;
}

int driverVersion() noexcept {
  int version = 0;
  if (cudaDriverGetVersion(&version) != cudaSuccess) cudaGetLastError();
  return version;
}

}  // namespace clf::cuda
