// Streaming statistics accumulators (core/moments.hpp). Each adds one chunk's terms to float64 accumulators that
// JS owns and passes in (they are modified in place and pinned until the job ends); the chunk's float32 tap outputs
// are read in place. lib/stats/accumulators.ts checks every argument first.
//   accumulateGram[Sync](K, n, A, rowsA, a0, B, rowsB, b0, d, shift, threads) -> K
//   accumulateCross[Sync](M, Xs, cx, Ys, cy, samples, spatial, threads) -> M        (Xs, Ys: arrays of tap outputs)
//   accumulateSecondMoments[Sync](M, Xs, channels, samples, spatial, threads) -> M
//   accumulateChannels[Sync](sums, squares, positives, X, samples, channels, spatial, threads) -> sums
#include <string>
#include <vector>

#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"
#include "core/moments.hpp"

namespace clf::addon {

namespace {

void requireLength(Napi::Env env, size_t actual, size_t expected, const char* what) {
  if (actual != expected) {
    throw codedError(env, "E_ARG", std::string(what) + " has " + std::to_string(actual) + " elements, needs " + std::to_string(expected));
  }
}

int threadsArg(const Napi::Value& value) { return static_cast<int>(value.As<Napi::Number>().Int32Value()); }

Napi::Value gramBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<double> K = typedSpan<double>(info[0], "K");
  size_t n = sizeArgument(info[1], "n");
  Span<float> A = typedSpan<float>(info[2], "A");
  size_t rowsA = sizeArgument(info[3], "rowsA"), a0 = sizeArgument(info[4], "a0");
  Span<float> B = typedSpan<float>(info[5], "B");
  size_t rowsB = sizeArgument(info[6], "rowsB"), b0 = sizeArgument(info[7], "b0");
  size_t d = sizeArgument(info[8], "d");
  Span<float> shift = typedSpan<float>(info[9], "shift");
  int threads = threadsArg(info[10]);
  requireLength(env, K.length, checkedProduct(env, n, n, "n x n"), "K");
  requireLength(env, A.length, checkedProduct(env, rowsA, d, "rowsA x d"), "A");
  requireLength(env, B.length, checkedProduct(env, rowsB, d, "rowsB x d"), "B");
  requireLength(env, shift.length, d, "shift");
  Pins pins;
  for (size_t k : {0, 2, 5, 9}) pins.add(info[k]);
  return runJob(env, async, pins, [=] { accumulateGramBlock(A.data, rowsA, a0, B.data, rowsB, b0, d, shift.data, n, K.data, threads); },
                returning(info[0]));
}

/**
 * The tap outputs of one side of a cross sum: a JS array of Float32Arrays of samples x channels x spatial values
 * each, pinned until the job ends.
 */
std::vector<const float*> tapOutputs(Napi::Env env, const Napi::Value& value, size_t samples, size_t channels,
                                     size_t spatial, const char* what, Pins& pins) {
  if (!value.IsArray()) throw codedError(env, "E_ARG", std::string(what) + " must be an array of Float32Arrays");
  Napi::Array list = value.As<Napi::Array>();
  size_t length = checkedProduct(env, checkedProduct(env, samples, channels, "samples x channels"), spatial, "x spatial");
  std::vector<const float*> data;
  for (uint32_t k = 0; k < list.Length(); ++k) {
    Napi::Value tap = list.Get(k);
    Span<float> span = typedSpan<float>(tap, what);
    requireLength(env, span.length, length, what);
    pins.add(tap);
    data.push_back(span.data);
  }
  return data;
}

Napi::Value crossBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<double> M = typedSpan<double>(info[0], "M");
  size_t cx = sizeArgument(info[2], "cx");
  size_t cy = sizeArgument(info[4], "cy");
  size_t samples = sizeArgument(info[5], "samples"), spatial = sizeArgument(info[6], "spatial");
  int threads = threadsArg(info[7]);
  requireLength(env, M.length, checkedProduct(env, cx, cy, "cx x cy"), "M");
  Pins pins;
  pins.add(info[0]);
  std::vector<const float*> X = tapOutputs(env, info[1], samples, cx, spatial, "X", pins);
  std::vector<const float*> Y = tapOutputs(env, info[3], samples, cy, spatial, "Y", pins);
  return runJob(env, async, pins, [=] { accumulateCross(X, cx, Y, cy, samples, spatial, M.data, threads); },
                returning(info[0]));
}

Napi::Value secondMomentsBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<double> M = typedSpan<double>(info[0], "M");
  size_t channels = sizeArgument(info[2], "channels");
  size_t samples = sizeArgument(info[3], "samples"), spatial = sizeArgument(info[4], "spatial");
  int threads = threadsArg(info[5]);
  requireLength(env, M.length, checkedProduct(env, channels, channels, "channels x channels"), "M");
  Pins pins;
  pins.add(info[0]);
  std::vector<const float*> X = tapOutputs(env, info[1], samples, channels, spatial, "X", pins);
  return runJob(env, async, pins, [=] { accumulateSecondMoments(X, channels, samples, spatial, M.data, threads); },
                returning(info[0]));
}

Napi::Value channelsBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<double> sums = typedSpan<double>(info[0], "sums");
  Span<double> squares = typedSpan<double>(info[1], "squares");
  Span<double> positives = typedSpan<double>(info[2], "positives");
  Span<float> X = typedSpan<float>(info[3], "X");
  size_t samples = sizeArgument(info[4], "samples"), channels = sizeArgument(info[5], "channels");
  size_t spatial = sizeArgument(info[6], "spatial");
  int threads = threadsArg(info[7]);
  for (const Span<double>* s : {&sums, &squares, &positives}) requireLength(env, s->length, channels, "a channel accumulator");
  requireLength(env, X.length, checkedProduct(env, checkedProduct(env, samples, channels, "samples x channels"), spatial, "x spatial"), "X");
  Pins pins;
  for (size_t k : {0, 1, 2, 3}) pins.add(info[k]);
  return runJob(env, async, pins,
                [=] { accumulateChannels(X.data, samples, channels, spatial, sums.data, squares.data, positives.data, threads); },
                returning(info[0]));
}

}  // namespace

void registerStats(Napi::Env env, Napi::Object exports) {
  exportTwins<gramBinding>(env, exports, "accumulateGram");
  exportTwins<crossBinding>(env, exports, "accumulateCross");
  exportTwins<secondMomentsBinding>(env, exports, "accumulateSecondMoments");
  exportTwins<channelsBinding>(env, exports, "accumulateChannels");
}

}  // namespace clf::addon
