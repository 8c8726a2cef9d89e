// The one pattern every binding uses: validate shapes, pin the JS inputs, run the core function either now
// (the `...Sync` twin) or on the libuv pool (a Promise), and turn any clf::Error into a JS Error with `.code`.
#pragma once
#include <napi.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace clf::addon {

/** A JS Error with a stable `.code` property (E_ARG, E_SOLVER, E_NATIVE, ...). */
Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& message);

/** Keeps JS values (input typed arrays, preallocated outputs) alive until async work finishes. */
class Pins {
 public:
  void add(const Napi::Value& value) { refs_.push_back(std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(value))); }

 private:
  std::vector<std::shared_ptr<Napi::Reference<Napi::Value>>> refs_;
};

/** a * b, or an E_ARG error naming `what` when the product does not fit in size_t (lengths from JS numbers). */
size_t checkedProduct(Napi::Env env, size_t a, size_t b, const char* what);

/** A non-negative integer argument (a dimension or a count); E_ARG naming `what` otherwise. */
size_t sizeArgument(const Napi::Value& value, const char* what);

/** A typed array's memory, read in place (no copy). */
template <typename T>
struct Span {
  T* data = nullptr;
  size_t length = 0;
};

/** The typed array `value` as a Span; throws E_ARG naming `what` when it is not a TypedArray of element T. */
template <typename T>
Span<T> typedSpan(const Napi::Value& value, const char* what);

/**
 * A new Float64Array / Float32Array / Int32Array of `length` elements, zeroed, owned by JS. Its memory comes from
 * calloc, not V8: V8 aborts the process when it cannot allocate an ArrayBuffer, here that is an E_RESOURCE error
 * (and a length no typed array can have is E_ARG).
 */
template <typename T>
Napi::TypedArrayOf<T> newTyped(Napi::Env env, size_t length);

/** The coded JS error for a C++ exception: clf::Error keeps its code, std::bad_alloc is E_RESOURCE. */
Napi::Error errorFromException(Napi::Env env, const std::exception& e);

/**
 * Calls `body`, turning any C++ exception into a coded JS error: node-addon-api passes only Napi::Error on to JS,
 * and any other exception leaving a callback (std::bad_alloc while pinning inputs) would terminate the process.
 */
template <typename Body>
Napi::Value guardedCall(Napi::Env env, Body body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw errorFromException(env, e);
  }
}

using Compute = std::function<void()>;
using Finish = std::function<Napi::Value(Napi::Env)>;

/** A new Float64Array holding a copy of `values` (small results: potentials, duals). */
Napi::Float64Array float64Array(Napi::Env env, const std::vector<double>& values);

/** A JS value kept alive until the job's `finish` has read it back: an output the job writes into. */
using Kept = std::shared_ptr<Napi::Reference<Napi::Value>>;
Kept keep(const Napi::Value& value);

/** A `finish` that returns `value` (kept alive until then). */
Finish returning(const Napi::Value& value);

/**
 * Runs `compute` (which must not touch JS) and returns `finish(env)`: synchronously when `async` is false,
 * otherwise on a worker thread, returning a Promise. `pins` holds every JS value `compute` reads or writes.
 */
Napi::Value runJob(Napi::Env env, bool async, Pins pins, Compute compute, Finish finish);

/** A binding body that runs its job on a worker thread (Promise) when `async`, else on the calling thread. */
using TwinBinding = Napi::Value (*)(const Napi::CallbackInfo& info, bool async);

/** Exports `name` (returns a Promise) and `nameSync` (returns the value), both running `binding`. */
template <TwinBinding binding>
void exportTwins(Napi::Env env, Napi::Object exports, const std::string& name) {
  exports.Set(name, Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return guardedCall(info.Env(), [&] { return binding(info, true); });
  }, name));
  exports.Set(name + "Sync", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return guardedCall(info.Env(), [&] { return binding(info, false); });
  }, name + "Sync"));
}

/** A plain (not twinned) binding. */
using PlainBinding = Napi::Value (*)(const Napi::CallbackInfo& info);

/** Exports `name` running `binding` with C++ exceptions turned into coded errors. */
template <PlainBinding binding>
void exportGuarded(Napi::Env env, Napi::Object exports, const std::string& name) {
  exports.Set(name, Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return guardedCall(info.Env(), [&] { return binding(info); });
  }, name));
}

/** Option readers for a plain JS options object (missing -> fallback). */
double numberOption(const Napi::Object& options, const char* key, double fallback);
bool boolOption(const Napi::Object& options, const char* key, bool fallback);
std::string stringOption(const Napi::Object& options, const char* key, const std::string& fallback);

}  // namespace clf::addon
