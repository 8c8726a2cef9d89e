// claAlign(C: Float64Array, m, n, s, f) -> { mapping: Int32Array (1-based), totalCost }. Microseconds: sync only.
#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"
#include "core/cla_dp.hpp"

namespace clf::addon {

namespace {

Napi::Value claAlignSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Span<double> cost = typedSpan<double>(info[0], "cost");
  size_t m = sizeArgument(info[1], "claAlign: m");
  size_t n = sizeArgument(info[2], "claAlign: n");
  size_t s = sizeArgument(info[3], "claAlign: s");
  size_t f = sizeArgument(info[4], "claAlign: f");
  if (cost.length != checkedProduct(env, m, n, "claAlign: m x n")) throw codedError(env, "E_ARG", "claAlign: cost has the wrong length");
  ClaAlignment alignment;
  return runJob(env, false, Pins(), [&] { alignment = claAlign(cost.data, m, n, s, f); }, [&](Napi::Env e) {
    auto mapping = newTyped<int32_t>(e, alignment.mapping.size());
    std::copy(alignment.mapping.begin(), alignment.mapping.end(), mapping.Data());
    Napi::Object out = Napi::Object::New(e);
    out.Set("mapping", mapping);
    out.Set("totalCost", Napi::Number::New(e, alignment.totalCost));
    return out;
  });
}

}  // namespace

void registerCla(Napi::Env env, Napi::Object exports) {
  exportGuarded<claAlignSync>(env, exports, "claAlignSync");
}

}  // namespace clf::addon
