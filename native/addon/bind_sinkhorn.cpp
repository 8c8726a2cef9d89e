// sinkhorn(a: Float64Array, b: Float64Array, M: Float32Array | Float64Array, options) -> Promise<result>, and
// sinkhornSync. The plan has M's precision; result = { plan, f, g, iterations, error, converged, cost, epsilon,
// logSteps }. Options (all checked by lib/solvers/sinkhorn.ts): reg, regMode ('absolute' | 'median' | 'max'),
// maxIterations, tolerance, checkEvery, epsilonScaling ('auto' | 'on' | 'off'), threads, throwOnNonConvergence.
#include <memory>
#include <string>

#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"
#include "addon/sinkhorn_js.hpp"
#include "core/sinkhorn.hpp"

namespace clf::addon {

namespace {

/** Validates, pins the inputs and the preallocated plan, and runs the solver for cost element type T. */
template <typename T>
Napi::Value solve(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  const Span<double> a = typedSpan<double>(info[0], "a");
  const Span<double> b = typedSpan<double>(info[1], "b");
  const Span<T> cost = typedSpan<T>(info[2], "M");
  const SinkhornOptions options = sinkhornOptionsFrom(info[3]);
  if (cost.length != a.length * b.length) {
    throw codedError(env, "E_ARG", "sinkhorn: M must have a.length x b.length = " + std::to_string(a.length * b.length) +
                                       " elements, got " + std::to_string(cost.length));
  }
  auto plan = newTyped<T>(env, cost.length);
  Pins pins;
  for (size_t k = 0; k < 3; ++k) pins.add(info[k]);
  T* planData = plan.Data();
  auto result = std::make_shared<SinkhornResult>();
  Kept planRef = keep(plan);
  return runJob(
      env, async, std::move(pins),
      [=] { *result = sinkhorn<T>(a.data, a.length, b.data, b.length, cost.data, planData, options); },
      [=](Napi::Env e) { return sinkhornResultObject(e, *result, planRef->Value()); });
}

Napi::Value dispatch(const Napi::CallbackInfo& info, bool async) {
  if (info.Length() < 4) throw codedError(info.Env(), "E_ARG", "sinkhorn: expected (a, b, M, options)");
  if (info[2].IsTypedArray() && info[2].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    return solve<float>(info, async);
  }
  return solve<double>(info, async);
}

}  // namespace

void registerSinkhorn(Napi::Env env, Napi::Object exports) {
  exportTwins<dispatch>(env, exports, "sinkhorn");
}

}  // namespace clf::addon
