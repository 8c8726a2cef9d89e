// Internal helpers shared by the .cu files (never included by the addon, which sees only the plain C++ headers):
// CUDA errors turned into clf::Error("E_NATIVE"), RAII device buffers and streams.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace clf::cuda::detail {

/** Throws E_NATIVE naming `what` and CUDA's own description of `status` unless it is cudaSuccess. */
inline void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear the (non-sticky) error so later calls on this thread start clean
  throw Error("E_NATIVE", std::string("CUDA: ") + what + " failed: " + cudaGetErrorString(status) + " (" +
                              cudaGetErrorName(status) + ")");
}

/** Checks the launch of the kernel just queued (configuration errors surface here, faults at the next sync). */
inline void checkLaunch(const char* kernel) { check(cudaGetLastError(), kernel); }

/** Selects device 0 on the calling thread (jobs run on libuv worker threads); E_NATIVE when there is none. */
inline void useFirstDevice() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    throw Error("E_NATIVE", "CUDA: no CUDA device is visible (driver missing or no GPU); use the CPU solvers");
  }
  check(cudaSetDevice(0), "cudaSetDevice(0)");
}

/** `count` elements of T in device memory, freed on scope exit. */
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t count) {
    if (count > 0) check(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return data_; }
  /** Exchanges the memory of two buffers (double buffering without copies). */
  void swap(DeviceBuffer& other) noexcept { std::swap(data_, other.data_); }

 private:
  T* data_ = nullptr;
};

/** A non-blocking stream owned by one call, synchronised and destroyed on scope exit. */
class Stream {
 public:
  Stream() { check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate"); }
  ~Stream() {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return stream_; }
  void synchronize(const char* what) const { check(cudaStreamSynchronize(stream_), what); }

 private:
  cudaStream_t stream_ = nullptr;
};

/** Host -> device copy of `count` elements, ordered on `stream`. */
template <typename T>
void upload(T* device, const T* host, size_t count, cudaStream_t stream, const char* what) {
  check(cudaMemcpyAsync(device, host, count * sizeof(T), cudaMemcpyHostToDevice, stream), what);
}

/** Device -> host copy of `count` elements, ordered on `stream` (the caller synchronises before reading). */
template <typename T>
void download(T* host, const T* device, size_t count, cudaStream_t stream, const char* what) {
  check(cudaMemcpyAsync(host, device, count * sizeof(T), cudaMemcpyDeviceToHost, stream), what);
}

/** Blocks of `threads` needed to cover `work` items. */
inline unsigned blocksFor(size_t work, unsigned threads) { return static_cast<unsigned>((work + threads - 1) / threads); }

}  // namespace clf::cuda::detail
