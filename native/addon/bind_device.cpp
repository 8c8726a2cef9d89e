// Build and runtime facts: which backend this binary is, how many threads OpenMP sees, which CUDA devices exist.
#include <omp.h>

#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"

#ifdef CLAFUSION_WITH_CUDA
#include "cuda/device.hpp"
#endif

namespace clf::addon {

namespace {

Napi::Value buildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("backend", Napi::String::New(env,
#ifdef CLAFUSION_WITH_CUDA
                                       "cuda"
#else
                                       "cpu"
#endif
                                       ));
  out.Set("openmp", Napi::Number::New(env, _OPENMP));
  out.Set("maxThreads", Napi::Number::New(env, omp_get_num_procs()));
#ifdef CLAFUSION_WITH_CUDA
  out.Set("cudaDevices", Napi::Number::New(env, clf::cuda::deviceCount()));
#else
  out.Set("cudaDevices", Napi::Number::New(env, 0));
#endif
  return out;
}

}  // namespace

void registerDevice(Napi::Env env, Napi::Object exports) {
  exportGuarded<buildInfo>(env, exports, "buildInfo");
}

}  // namespace clf::addon
