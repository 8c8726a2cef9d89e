// The process's allocator: glibc's mmap threshold, which decides whether a large block returns to the system when it
// is freed (lib/resources.ts boundHeapGrowth says why the streaming passes fix it).
#include <cmath>  // before the check below: a C library header is what defines __GLIBC__

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"
#include "core/error.hpp"

namespace clf::addon {

namespace {

/**
 * setMmapThreshold(bytes) -> true when set: glibc then serves every block of at least `bytes` with its own mapping,
 * unmapped on free, and stops raising the threshold by itself (mallopt(M_MMAP_THRESHOLD) turns that off). False where
 * the C library is not glibc: nothing changes.
 */
Napi::Value setMmapThreshold(const Napi::CallbackInfo& info) {
  double bytes = info[0].As<Napi::Number>().DoubleValue();
  // glibc accepts at most HEAP_MAX_SIZE / 2 (32 MiB on 64-bit); lib/resources.ts checks the range first.
  if (!(bytes >= 0 && bytes <= 32.0 * 1024 * 1024) || std::floor(bytes) != bytes) {
    throw argError("setMmapThreshold: bytes must be an integer in 0 .. 32 MiB");
  }
#if defined(__GLIBC__)
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(bytes)) != 1) throw Error("E_NATIVE", "mallopt(M_MMAP_THRESHOLD) failed");
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace

void registerMemory(Napi::Env env, Napi::Object exports) {
  exportGuarded<setMmapThreshold>(env, exports, "setMmapThreshold");
}

}  // namespace clf::addon
