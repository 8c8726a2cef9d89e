// emd(a, b, M, options) -> Promise<{ plan, cost, iterations, optimal, method, u, v }> and its emdSync twin.
// a: Float64Array (n), b: Float64Array (m), M: Float64Array (n*m, row-major); options: { method, maxIterations,
// threads }. The plan is allocated here as a JS Float64Array and written in place by the solver.
#include <cmath>

#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"
#include "core/emd.hpp"

namespace clf::addon {

namespace {

EmdMethod parseMethod(Napi::Env env, const std::string& name) {
  if (name == "auto") return EmdMethod::Auto;
  if (name == "network-simplex") return EmdMethod::NetworkSimplex;
  if (name == "assignment") return EmdMethod::Assignment;
  throw codedError(env, "E_ARG", "emd: unknown method '" + name + "' (use auto, network-simplex or assignment)");
}

EmdOptions parseOptions(Napi::Env env, const Napi::Value& value) {
  EmdOptions options;
  if (!value.IsObject()) return options;
  Napi::Object object = value.As<Napi::Object>();
  options.method = parseMethod(env, stringOption(object, "method", "auto"));
  const double maxIterations = numberOption(object, "maxIterations", 0);
  if (!(maxIterations >= 0) || !std::isfinite(maxIterations)) {
    throw codedError(env, "E_ARG", "emd: maxIterations must be a finite number >= 0 (0 = the automatic cap)");
  }
  options.maxIterations = static_cast<uint64_t>(maxIterations);
  options.threads = static_cast<int>(numberOption(object, "threads", 1));
  return options;
}

Napi::Value emdJob(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<double> a = typedSpan<double>(info[0], "a");
  Span<double> b = typedSpan<double>(info[1], "b");
  Span<double> M = typedSpan<double>(info[2], "M");
  if (a.length == 0 || b.length == 0) throw codedError(env, "E_ARG", "emd: a and b must be non-empty");
  if (M.length != a.length * b.length) throw codedError(env, "E_ARG", "emd: M must have a.length * b.length elements");
  const EmdOptions options = parseOptions(env, info[3]);
  Napi::Float64Array plan = newTyped<double>(env, M.length);
  Pins pins;
  pins.add(info[0]);
  pins.add(info[1]);
  pins.add(info[2]);
  double* planData = plan.Data();
  auto result = std::make_shared<EmdResult>();
  Kept planRef = keep(plan);
  return runJob(
      env, async, std::move(pins),
      [=] { *result = solveEmd(a.data, a.length, b.data, b.length, M.data, options, planData); },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object out = Napi::Object::New(e);
        out.Set("plan", planRef->Value());
        out.Set("cost", Napi::Number::New(e, result->cost));
        out.Set("iterations", Napi::Number::New(e, static_cast<double>(result->iterations)));
        out.Set("optimal", Napi::Boolean::New(e, result->optimal));
        out.Set("method", Napi::String::New(e, result->method));
        out.Set("u", float64Array(e, result->u));
        out.Set("v", float64Array(e, result->v));
        return out;
      });
}

}  // namespace

void registerEmd(Napi::Env env, Napi::Object exports) {
  exportTwins<emdJob>(env, exports, "emd");
}

}  // namespace clf::addon
