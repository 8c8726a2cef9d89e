// claAlign(C: Float64Array, m, n, s, f) -> { mapping: Int32Array (1-based), totalCost }. Microseconds: sync only.
#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"
#include "core/cla_dp.hpp"

namespace clf::addon {

namespace {

Napi::Value claAlignSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Span<double> cost = typedSpan<double>(info[0], "cost");
  auto m = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  auto n = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  auto s = static_cast<size_t>(info[3].As<Napi::Number>().Int64Value());
  auto f = static_cast<size_t>(info[4].As<Napi::Number>().Int64Value());
  if (cost.length != m * n) throw codedError(env, "E_ARG", "claAlign: cost has the wrong length");
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
  exports.Set("claAlignSync", Napi::Function::New(env, claAlignSync, "claAlignSync"));
}

}  // namespace clf::addon
