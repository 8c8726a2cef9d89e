// CUDA device discovery for the addon. Plain C++ (no CUDA types), so g++ compiles the files that include it.
#pragma once
#include <cstddef>
#include <string>

namespace clf::cuda {

/** Number of CUDA devices the driver reports; 0 when there is no driver, no device or the runtime fails. Never throws. */
int deviceCount() noexcept;

/** Facts about one device, as reported by the CUDA runtime. */
struct DeviceInfo {
  int index = 0;
  std::string name;
  int computeMajor = 0;
  int computeMinor = 0;
  int multiprocessors = 0;
  size_t totalMemoryBytes = 0;
  size_t freeMemoryBytes = 0;
};

/** Device `index` (0-based, < deviceCount()); throws E_ARG for a bad index and E_NATIVE when the query fails. */
DeviceInfo deviceInfo(int index);

/** CUDA runtime version this addon was linked with, encoded as 1000 * major + 10 * minor (e.g. 13000). */
int runtimeVersion() noexcept;

/** Newest CUDA version the installed driver supports (same encoding); 0 when there is no driver. Never throws. */
int driverVersion() noexcept;

}  // namespace clf::cuda
