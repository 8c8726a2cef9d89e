// Placeholder until the sinkhorn bindings land (its owner replaces this file).
#include "addon/bindings.hpp"

namespace clf::addon {

void registerSinkhorn(Napi::Env, Napi::Object) {}

}  // namespace clf::addon
