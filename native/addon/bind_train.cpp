// The trainer (core/train_*.hpp). `program` is { ops: Int32Array (24 fields per op), epsilons: Float64Array,
// slots: Int32Array ((C, S) per slot), paramCount, statCount }, compiled by lib/train/program.ts.
//   trainStep(program, params, running, velocity, input, n, labels, teacher | null, options) -> Promise<{ loss, correct }>
//     float32 buffers, updated in place (params, running statistics, momentum buffer); options: { learningRate,
//     momentum, weightDecay, bnMomentum, alpha, temperature, kdReduction: 'batchmean' | 'mean', threads,
//     workspace }; `workspace` (from trainWorkspace()) keeps the activation buffers from one step to the next.
//   trainWorkspace() -> an opaque handle owning those buffers (freed with the handle).
//   trainGradients(program, params, running | null, input, n, labels, teacher | null, options) -> Promise<{ loss, correct, gradient }>
//     float32 or float64 (all buffers alike; float64 is for gradient checks); running statistics updated when given.
//   trainForward(program, params, running, input, n, threads) -> Promise<logits [n][classes]> (batch-norms in eval mode).
// Each comes with its `...Sync` twin.
#include <memory>
#include <string>

#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"
#include "core/error.hpp"
#include "core/train_net.hpp"

namespace clf::addon {

namespace {

using train::Program;

std::shared_ptr<const Program> programArg(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) throw codedError(env, "E_ARG", "train: program must be an object { ops, epsilons, slots, paramCount, statCount }");
  Napi::Object object = value.As<Napi::Object>();
  Span<int32_t> ops = typedSpan<int32_t>(object.Get("ops"), "program.ops");
  Span<double> epsilons = typedSpan<double>(object.Get("epsilons"), "program.epsilons");
  Span<int32_t> slots = typedSpan<int32_t>(object.Get("slots"), "program.slots");
  const double paramCount = numberOption(object, "paramCount", -1), statCount = numberOption(object, "statCount", -1);
  if (!(paramCount >= 0) || !(statCount >= 0)) throw codedError(env, "E_ARG", "train: program.paramCount and statCount must be numbers >= 0");
  try {
    return std::make_shared<const Program>(train::decodeProgram(ops.data, ops.length, epsilons.data, epsilons.length, slots.data,
                                                                slots.length, static_cast<size_t>(paramCount), static_cast<size_t>(statCount)));
  } catch (const Error& e) {
    throw codedError(env, e.code(), e.what());
  }
}

size_t batchArg(const Napi::Value& value) {
  if (!value.IsNumber() || value.As<Napi::Number>().DoubleValue() < 1) throw codedError(value.Env(), "E_ARG", "train: n must be a positive batch size");
  return static_cast<size_t>(value.As<Napi::Number>().Int64Value());
}

template <typename T>
Span<T> sized(const Napi::Value& value, size_t length, const char* what) {
  Span<T> span = typedSpan<T>(value, what);
  if (span.length != length) {
    throw codedError(value.Env(), "E_ARG", std::string("train: ") + what + " has " + std::to_string(span.length) + " elements, expected " + std::to_string(length));
  }
  return span;
}

bool isNull(const Napi::Value& value) { return value.IsNull() || value.IsUndefined(); }

/** Pins the arguments [first, last] that are arrays (numbers and an absent teacher cannot be referenced). */
Pins pinArrays(const Napi::CallbackInfo& info, size_t first, size_t last) {
  Pins pins;
  for (size_t i = first; i <= last; i++) {
    if (info[i].IsObject()) pins.add(info[i]);
  }
  return pins;
}

train::LossOptions lossOptions(const Napi::Object& options) {
  train::LossOptions loss;
  loss.alpha = numberOption(options, "alpha", 0.5);
  loss.temperature = numberOption(options, "temperature", 1);
  const std::string reduction = stringOption(options, "kdReduction", "batchmean");
  if (reduction != "batchmean" && reduction != "mean") throw codedError(options.Env(), "E_ARG", "train: kdReduction must be 'batchmean' or 'mean'");
  loss.reduction = reduction == "mean" ? train::KdReduction::Mean : train::KdReduction::BatchMean;
  if (!(loss.alpha >= 0 && loss.alpha <= 1) || !(loss.temperature > 0)) throw codedError(options.Env(), "E_ARG", "train: alpha must be in [0, 1] and temperature > 0");
  return loss;
}

Napi::Object optionsArg(const Napi::Value& value) {
  return value.IsObject() ? value.As<Napi::Object>() : Napi::Object::New(value.Env());
}

Napi::Object stepResult(Napi::Env env, const train::StepResult& result) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("loss", Napi::Number::New(env, result.loss));
  out.Set("correct", Napi::Number::New(env, static_cast<double>(result.correct)));
  return out;
}

using FloatWorkspace = train::Workspace<float>;

Napi::Value trainWorkspace(const Napi::CallbackInfo& info) {
  return Napi::External<FloatWorkspace>::New(info.Env(), new FloatWorkspace(), [](Napi::Env, FloatWorkspace* workspace) { delete workspace; });
}

// trainStep(program, params, running, velocity, input, n, labels, teacher | null, options)
Napi::Value trainStepBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  auto program = programArg(info[0]);
  const size_t n = batchArg(info[5]);
  Span<float> params = sized<float>(info[1], program->paramCount, "params");
  Span<float> running = sized<float>(info[2], program->statCount, "running statistics");
  Span<float> velocity = sized<float>(info[3], program->paramCount, "velocity");
  Span<float> input = sized<float>(info[4], n * program->inputSize(), "input");
  Span<int32_t> labels = sized<int32_t>(info[6], n, "labels");
  Napi::Object options = optionsArg(info[8]);
  train::LossOptions loss = lossOptions(options);
  if (!isNull(info[7])) loss.teacher = sized<float>(info[7], n * program->classes(), "teacher logits").data;
  train::SgdOptions sgd;
  sgd.learningRate = numberOption(options, "learningRate", 0.01);
  sgd.momentum = numberOption(options, "momentum", 0);
  sgd.weightDecay = numberOption(options, "weightDecay", 0);
  const double bnMomentum = numberOption(options, "bnMomentum", 0.1);
  const int threads = static_cast<int>(numberOption(options, "threads", 0));
  Pins pins = pinArrays(info, 1, 7);
  // A shared workspace lives as long as its handle, which the pins keep alive; otherwise the job owns a fresh one.
  Napi::Value handle = options.Get("workspace");
  std::shared_ptr<FloatWorkspace> owned;
  FloatWorkspace* workspace = nullptr;
  if (handle.IsExternal()) {
    workspace = handle.As<Napi::External<FloatWorkspace>>().Data();
    pins.add(handle);
  } else {
    owned = std::make_shared<FloatWorkspace>();
    workspace = owned.get();
  }
  auto result = std::make_shared<train::StepResult>();
  return runJob(
      env, async, std::move(pins),
      [=] {
        *result = train::trainStep(*program, params.data, running.data, velocity.data, bnMomentum, input.data, n, labels.data, loss, sgd,
                                   threads, *workspace);
        (void)owned;
      },
      [=](Napi::Env e) { return stepResult(e, *result); });
}

template <typename T>
Napi::Value gradientsTyped(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  auto program = programArg(info[0]);
  const size_t n = batchArg(info[4]);
  Span<T> params = sized<T>(info[1], program->paramCount, "params");
  Span<T> running = isNull(info[2]) ? Span<T>() : sized<T>(info[2], program->statCount, "running statistics");
  Span<T> input = sized<T>(info[3], n * program->inputSize(), "input");
  Span<int32_t> labels = sized<int32_t>(info[5], n, "labels");
  Napi::Object options = optionsArg(info[7]);
  train::LossOptions loss = lossOptions(options);
  if (!isNull(info[6])) loss.teacher = sized<T>(info[6], n * program->classes(), "teacher logits").data;
  const double bnMomentum = numberOption(options, "bnMomentum", 0.1);
  const int threads = static_cast<int>(numberOption(options, "threads", 0));
  auto gradient = newTyped<T>(env, program->paramCount);
  Pins pins = pinArrays(info, 1, 6);
  T* gradientData = gradient.Data();
  Kept gradientRef = keep(gradient);
  auto result = std::make_shared<train::StepResult>();
  return runJob(
      env, async, std::move(pins),
      [=] { *result = train::computeGradients<T>(*program, params.data, running.data, bnMomentum, input.data, n, labels.data, loss, gradientData, threads); },
      [=](Napi::Env e) {
        Napi::Object out = stepResult(e, *result);
        out.Set("gradient", gradientRef->Value());
        return out;
      });
}

bool isFloat64(const Napi::Value& value) {
  return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
}

Napi::Value trainGradientsBinding(const Napi::CallbackInfo& info, bool async) {
  return isFloat64(info[1]) ? gradientsTyped<double>(info, async) : gradientsTyped<float>(info, async);
}

template <typename T>
Napi::Value forwardTyped(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  auto program = programArg(info[0]);
  const size_t n = batchArg(info[4]);
  Span<T> params = sized<T>(info[1], program->paramCount, "params");
  Span<T> running = sized<T>(info[2], program->statCount, "running statistics");
  Span<T> input = sized<T>(info[3], n * program->inputSize(), "input");
  const int threads = info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : 0;
  auto logits = newTyped<T>(env, n * program->classes());
  Pins pins = pinArrays(info, 1, 3);
  T* out = logits.Data();
  return runJob(
      env, async, std::move(pins), [=] { train::forwardLogits<T>(*program, params.data, running.data, input.data, n, out, threads); },
      returning(logits));
}

Napi::Value trainForwardBinding(const Napi::CallbackInfo& info, bool async) {
  return isFloat64(info[1]) ? forwardTyped<double>(info, async) : forwardTyped<float>(info, async);
}

}  // namespace

void registerTrain(Napi::Env env, Napi::Object exports) {
  exportGuarded<trainWorkspace>(env, exports, "trainWorkspace");
  exportTwins<trainStepBinding>(env, exports, "trainStep");
  exportTwins<trainGradientsBinding>(env, exports, "trainGradients");
  exportTwins<trainForwardBinding>(env, exports, "trainForward");
}

}  // namespace clf::addon
