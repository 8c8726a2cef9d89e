#include "addon/napi_job.hpp"

#include <algorithm>
#include <new>
#include <type_traits>

#include "core/error.hpp"

namespace clf::addon {

Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Float64Array float64Array(Napi::Env env, const std::vector<double>& values) {
  auto array = Napi::Float64Array::New(env, values.size());
  std::copy(values.begin(), values.end(), array.Data());
  return array;
}

Kept keep(const Napi::Value& value) { return std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(value)); }

Finish returning(const Napi::Value& value) {
  Kept kept = keep(value);
  return [kept](Napi::Env) { return kept->Value(); };
}

size_t checkedProduct(Napi::Env env, size_t a, size_t b, const char* what) {
  size_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) throw codedError(env, "E_ARG", std::string(what) + ": the sizes overflow");
  return product;
}

size_t sizeArgument(const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) throw codedError(value.Env(), "E_ARG", std::string(what) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  // 2^53: every integer below it is exact in a double, and no array is that long.
  if (!(number >= 0) || number != static_cast<double>(static_cast<int64_t>(number)) || number > 9007199254740992.0) {
    throw codedError(value.Env(), "E_ARG", std::string(what) + " must be a non-negative integer");
  }
  return static_cast<size_t>(number);
}

template <typename T>
Span<T> typedSpan(const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray()) throw codedError(value.Env(), "E_ARG", std::string(what) + " must be a typed array");
  auto array = value.As<Napi::TypedArray>();
  napi_typedarray_type expected;
  if constexpr (std::is_same_v<T, double>) expected = napi_float64_array;
  else if constexpr (std::is_same_v<T, float>) expected = napi_float32_array;
  else if constexpr (std::is_same_v<T, int32_t>) expected = napi_int32_array;
  else expected = napi_uint8_array;
  if (array.TypedArrayType() != expected) throw codedError(value.Env(), "E_ARG", std::string(what) + " has the wrong element type");
  auto typed = value.As<Napi::TypedArrayOf<T>>();
  return Span<T>{typed.Data(), typed.ElementLength()};
}

template <typename T>
Napi::TypedArrayOf<T> newTyped(Napi::Env env, size_t length) {
  return Napi::TypedArrayOf<T>::New(env, length);
}

template Span<double> typedSpan<double>(const Napi::Value&, const char*);
template Span<float> typedSpan<float>(const Napi::Value&, const char*);
template Span<int32_t> typedSpan<int32_t>(const Napi::Value&, const char*);
template Span<uint8_t> typedSpan<uint8_t>(const Napi::Value&, const char*);
template Napi::TypedArrayOf<double> newTyped<double>(Napi::Env, size_t);
template Napi::TypedArrayOf<float> newTyped<float>(Napi::Env, size_t);
template Napi::TypedArrayOf<int32_t> newTyped<int32_t>(Napi::Env, size_t);

namespace {

/** Runs `compute`, mapping every C++ exception to (code, message). Returns true on success. */
bool guarded(const Compute& compute, std::string& code, std::string& message) {
  try {
    compute();
    return true;
  } catch (const clf::Error& e) {
    code = e.code();
    message = e.what();
  } catch (const std::bad_alloc&) {
    code = "E_NATIVE";
    message = "out of memory in the native core";
  } catch (const std::exception& e) {
    code = "E_NATIVE";
    message = e.what();
  }
  return false;
}

class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, Pins pins, Compute compute, Finish finish)
      : Napi::AsyncWorker(env, "clafusion"),
        deferred_(Napi::Promise::Deferred::New(env)),
        pins_(std::move(pins)),
        compute_(std::move(compute)),
        finish_(std::move(finish)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    if (!guarded(compute_, code_, message_)) SetError(message_);
  }

  void OnOK() override {
    try {
      deferred_.Resolve(finish_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {  // e.g. bad_alloc while building the result: settle the Promise anyway
      deferred_.Reject(codedError(Env(), "E_NATIVE", e.what()).Value());
    }
  }

  void OnError(const Napi::Error&) override { deferred_.Reject(codedError(Env(), code_, message_).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Pins pins_;
  Compute compute_;
  Finish finish_;
  std::string code_;
  std::string message_;
};

}  // namespace

Napi::Value runJob(Napi::Env env, bool async, Pins pins, Compute compute, Finish finish) {
  if (!async) {
    std::string code, message;
    if (!guarded(compute, code, message)) throw codedError(env, code, message);
    return finish(env);
  }
  auto* job = new Job(env, std::move(pins), std::move(compute), std::move(finish));
  Napi::Promise promise = job->promise();
  job->Queue();
  return promise;
}

double numberOption(const Napi::Object& options, const char* key, double fallback) {
  Napi::Value value = options.Get(key);
  return value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : fallback;
}

bool boolOption(const Napi::Object& options, const char* key, bool fallback) {
  Napi::Value value = options.Get(key);
  return value.IsBoolean() ? value.As<Napi::Boolean>().Value() : fallback;
}

std::string stringOption(const Napi::Object& options, const char* key, const std::string& fallback) {
  Napi::Value value = options.Get(key);
  return value.IsString() ? value.As<Napi::String>().Utf8Value() : fallback;
}

}  // namespace clf::addon
