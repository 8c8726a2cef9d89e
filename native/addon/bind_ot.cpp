// Placeholder until the ot bindings land (its owner replaces this file).
#include "addon/bindings.hpp"

namespace clf::addon {

void registerOt(Napi::Env, Napi::Object) {}

}  // namespace clf::addon
