#include "addon/sinkhorn_js.hpp"

#include <string>

#include "addon/napi_job.hpp"

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

}  // namespace

SinkhornOptions sinkhornOptionsFrom(const Napi::Value& value) {
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

Napi::Object sinkhornResultObject(Napi::Env env, const SinkhornResult& result, const Napi::Value& plan) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("plan", plan);
  out.Set("f", float64Array(env, result.f));
  out.Set("g", float64Array(env, result.g));
  out.Set("iterations", Napi::Number::New(env, result.iterations));
  out.Set("error", Napi::Number::New(env, result.error));
  out.Set("converged", Napi::Boolean::New(env, result.converged));
  out.Set("cost", Napi::Number::New(env, result.cost));
  out.Set("epsilon", Napi::Number::New(env, result.epsilon));
  out.Set("logSteps", Napi::Number::New(env, result.logSteps));
  return out;
}

}  // namespace clf::addon
