// Placeholder until the linalg bindings land (its owner replaces this file).
#include "addon/bindings.hpp"

namespace clf::addon {

void registerLinalg(Napi::Env, Napi::Object) {}

}  // namespace clf::addon
