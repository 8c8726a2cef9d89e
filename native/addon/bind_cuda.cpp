// Placeholder until the cuda bindings land (its owner replaces this file).
#include "addon/bindings.hpp"

namespace clf::addon {

void registerCuda(Napi::Env, Napi::Object) {}

}  // namespace clf::addon
