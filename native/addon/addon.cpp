// Entry point of clafusion.node (and clafusion_cuda.node): registers every binding group.
#include <napi.h>

#include "addon/bindings.hpp"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  clf::addon::registerDevice(env, exports);
  clf::addon::registerEmd(env, exports);
  clf::addon::registerSinkhorn(env, exports);
  clf::addon::registerLinalg(env, exports);
  clf::addon::registerCla(env, exports);
  clf::addon::registerStats(env, exports);
  clf::addon::registerCuda(env, exports);
  clf::addon::registerTrain(env, exports);
  clf::addon::registerMemory(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(clafusion, init)
