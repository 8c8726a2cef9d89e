#include "addon/napi_job.hpp"

#include <algorithm>
#include <cstdlib>
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

namespace {

/** The typed-array type whose elements are T. */
template <typename T>
constexpr napi_typedarray_type typedArrayTypeOf() {
  if constexpr (std::is_same_v<T, double>) return napi_float64_array;
  else if constexpr (std::is_same_v<T, float>) return napi_float32_array;
  else if constexpr (std::is_same_v<T, int32_t>) return napi_int32_array;
  else return napi_uint8_array;
}

}  // namespace

template <typename T>
Span<T> typedSpan(const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray()) throw codedError(value.Env(), "E_ARG", std::string(what) + " must be a typed array");
  auto array = value.As<Napi::TypedArray>();
  constexpr napi_typedarray_type expected = typedArrayTypeOf<T>();
  if (array.TypedArrayType() != expected) throw codedError(value.Env(), "E_ARG", std::string(what) + " has the wrong element type");
  auto typed = value.As<Napi::TypedArrayOf<T>>();
  return Span<T>{typed.Data(), typed.ElementLength()};
}

namespace {

void freeBacking(napi_env, void* data, void*) { std::free(data); }

// v8::TypedArray::kMaxLength on Node 20 (later Node allows more; lib/resources.ts checks against the running one).
// Above it V8's own check aborts the process instead of throwing.
constexpr size_t kMaxResultLength = size_t{1} << 32;

}  // namespace

template <typename T>
Napi::TypedArrayOf<T> newTyped(Napi::Env env, size_t length) {
  if (length > kMaxResultLength) {
    throw codedError(env, "E_ARG", "a result of " + std::to_string(length) + " elements is longer than a typed array " +
                                       "can be (" + std::to_string(kMaxResultLength) + "); use smaller inputs");
  }
  const size_t bytes = length * sizeof(T);
  void* data = std::calloc(std::max<size_t>(bytes, 1), 1);
  if (data == nullptr) {
    throw codedError(env, "E_RESOURCE", "cannot allocate " + std::to_string(bytes) + " bytes for a result array " +
                                            "(out of memory); use smaller inputs");
  }
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, data, bytes, freeBacking, nullptr, &buffer) != napi_ok) {
    std::free(data);  // a runtime without external buffers (V8 sandbox): V8 allocates, as before
    return Napi::TypedArrayOf<T>::New(env, length);
  }
  napi_value array;
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, typedArrayTypeOf<T>(), length,
                                                   buffer, 0, &array), Napi::TypedArrayOf<T>());
  return Napi::TypedArrayOf<T>(env, array);
}

template Span<double> typedSpan<double>(const Napi::Value&, const char*);
template Span<float> typedSpan<float>(const Napi::Value&, const char*);
template Span<int32_t> typedSpan<int32_t>(const Napi::Value&, const char*);
template Span<uint8_t> typedSpan<uint8_t>(const Napi::Value&, const char*);
template Napi::TypedArrayOf<double> newTyped<double>(Napi::Env, size_t);
template Napi::TypedArrayOf<float> newTyped<float>(Napi::Env, size_t);
template Napi::TypedArrayOf<int32_t> newTyped<int32_t>(Napi::Env, size_t);

namespace {

const char* const kOutOfMemory = "out of memory in the native core: the inputs need more memory than the machine has "
                                 "free; use smaller inputs";

/** (code, message) of a C++ exception: clf::Error keeps its code, bad_alloc is E_RESOURCE, anything else a bug. */
void describe(const std::exception& e, std::string& code, std::string& message) {
  if (const auto* coded = dynamic_cast<const clf::Error*>(&e)) {
    code = coded->code();
    message = coded->what();
  } else if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    code = "E_RESOURCE";
    message = kOutOfMemory;
  } else {
    code = "E_NATIVE";
    message = std::string("internal error in the native core: ") + e.what();
  }
}

/** Runs `compute`, mapping every C++ exception to (code, message). Returns true on success. */
bool guarded(const Compute& compute, std::string& code, std::string& message) {
  try {
    compute();
    return true;
  } catch (const std::exception& e) {
    describe(e, code, message);
  } catch (...) {
    code = "E_NATIVE";
    message = "internal error in the native core: a non-standard exception";
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
      deferred_.Reject(errorFromException(Env(), e).Value());
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

Napi::Error errorFromException(Napi::Env env, const std::exception& e) {
  std::string code, message;
  describe(e, code, message);
  return codedError(env, code, message);
}

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
