// Placeholder until the emd bindings land (its owner replaces this file).
#include "addon/bindings.hpp"

namespace clf::addon {

void registerEmd(Napi::Env, Napi::Object) {}

}  // namespace clf::addon
