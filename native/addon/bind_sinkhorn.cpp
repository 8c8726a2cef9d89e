// sinkhorn(a: Float64Array, b: Float64Array, M: Float32Array | Float64Array, options) -> Promise<result>, and
// sinkhornSync. The plan has M's precision; result = { plan, f, g, iterations, error, converged, cost, epsilon,
// logSteps }. Options (all checked by lib/solvers/sinkhorn.ts): reg, regMode ('absolute' | 'median' | 'max'),
// maxIterations, tolerance, checkEvery, epsilonScaling ('auto' | 'on' | 'off'), threads, throwOnNonConvergence.
#include <memory>
#include <string>

#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"
#include "core/sinkhorn.hpp"

namespace clf::addon {

namespace {

RegMode regModeOption(Napi::Env env, const std::string& name) {
  if (name == "absolute") return RegMode::Absolute;
  if (name == "median") return RegMode::Median;
  if (name == "max") return RegMode::Max;
  throw codedError(env, "E_ARG", "sinkhorn: regMode must be 'absolute', 'median' or 'max', got '" + name + "'");
}

EpsilonScaling epsilonScalingOption(Napi::Env env, const std::string& name) {
  if (name == "auto") return EpsilonScaling::Auto;
  if (name == "on") return EpsilonScaling::On;
  if (name == "off") return EpsilonScaling::Off;
  throw codedError(env, "E_ARG", "sinkhorn: epsilonScaling must be 'auto', 'on' or 'off', got '" + name + "'");
}

SinkhornOptions readOptions(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) throw codedError(env, "E_ARG", "sinkhorn: options must be an object");
  const auto object = value.As<Napi::Object>();
  SinkhornOptions options;
  options.reg = numberOption(object, "reg", 0);
  options.regMode = regModeOption(env, stringOption(object, "regMode", "absolute"));
  options.maxIterations = static_cast<int>(numberOption(object, "maxIterations", options.maxIterations));
  options.tolerance = numberOption(object, "tolerance", options.tolerance);
  options.checkEvery = static_cast<int>(numberOption(object, "checkEvery", options.checkEvery));
  options.epsilonScaling = epsilonScalingOption(env, stringOption(object, "epsilonScaling", "auto"));
  options.threads = static_cast<int>(numberOption(object, "threads", 0));
  options.throwOnNonConvergence = boolOption(object, "throwOnNonConvergence", true);
  return options;
}

Napi::Float64Array toFloat64Array(Napi::Env env, const std::vector<double>& values) {
  auto array = newTyped<double>(env, values.size());
  std::copy(values.begin(), values.end(), array.Data());
  return array;
}

/** Validates, pins the inputs and the preallocated plan, and runs the solver for cost element type T. */
template <typename T>
Napi::Value solve(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  const Span<double> a = typedSpan<double>(info[0], "a");
  const Span<double> b = typedSpan<double>(info[1], "b");
  const Span<T> cost = typedSpan<T>(info[2], "M");
  const SinkhornOptions options = readOptions(info[3]);
  if (cost.length != a.length * b.length) {
    throw codedError(env, "E_ARG", "sinkhorn: M must have a.length x b.length = " + std::to_string(a.length * b.length) +
                                       " elements, got " + std::to_string(cost.length));
  }
  auto plan = newTyped<T>(env, cost.length);
  Pins pins;
  for (size_t k = 0; k < 3; ++k) pins.add(info[k]);  // the plan stays alive through planRef
  T* planData = plan.Data();
  auto result = std::make_shared<SinkhornResult>();
  auto planRef = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(Napi::Value(plan)));
  return runJob(
      env, async, std::move(pins),
      [=] { *result = sinkhorn<T>(a.data, a.length, b.data, b.length, cost.data, planData, options); },
      [=](Napi::Env e) {
        Napi::Object out = Napi::Object::New(e);
        out.Set("plan", planRef->Value());
        out.Set("f", toFloat64Array(e, result->f));
        out.Set("g", toFloat64Array(e, result->g));
        out.Set("iterations", Napi::Number::New(e, result->iterations));
        out.Set("error", Napi::Number::New(e, result->error));
        out.Set("converged", Napi::Boolean::New(e, result->converged));
        out.Set("cost", Napi::Number::New(e, result->cost));
        out.Set("epsilon", Napi::Number::New(e, result->epsilon));
        out.Set("logSteps", Napi::Number::New(e, result->logSteps));
        return out;
      });
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
