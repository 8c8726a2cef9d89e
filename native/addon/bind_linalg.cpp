// GEMM (float32, and float64 with the SPD solve of the regression maps), pairwise distances, Gram matrices and CKA. Every function comes as `name` (Promise) and `nameSync`.
// Shapes are checked here against the typed-array lengths (lib/solvers/linalg.ts checks everything first, with
// better messages); outputs are created on the JS thread, pinned with the inputs, and filled by the job.
#include <memory>
#include <string>
#include <vector>

#include "addon/bindings.hpp"
#include "addon/napi_job.hpp"
#include "core/cka.hpp"
#include "core/dense64.hpp"
#include "core/distance.hpp"
#include "core/finite.hpp"
#include "core/gemm.hpp"
#include "core/patches.hpp"

namespace clf::addon {

namespace {

size_t sizeArg(const Napi::CallbackInfo& info, size_t index, const char* what) { return sizeArgument(info[index], what); }

void requireLength(Napi::Env env, size_t actual, size_t expected, const char* what) {
  if (actual < expected) {
    throw codedError(env, "E_ARG", std::string(what) + " has " + std::to_string(actual) + " elements, needs " + std::to_string(expected));
  }
}

/** Elements a row-major operand needs: rows of stored length `ld`, the last one only `cols` long. */
size_t storedLength(Napi::Env env, size_t rows, size_t cols, size_t ld) {
  return rows == 0 || cols == 0 ? 0 : checkedProduct(env, rows - 1, ld, "stride x rows") + cols;
}

// sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C | null, ldc, threads) -> new Float32Array (M x ldc)
Napi::Value sgemmBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Transpose ta = info[0].ToBoolean().Value() ? Transpose::Yes : Transpose::No;
  Transpose tb = info[1].ToBoolean().Value() ? Transpose::Yes : Transpose::No;
  size_t M = sizeArg(info, 2, "M"), N = sizeArg(info, 3, "N"), K = sizeArg(info, 4, "K");
  auto alpha = static_cast<float>(info[5].As<Napi::Number>().DoubleValue());
  Span<float> A = typedSpan<float>(info[6], "A");
  size_t lda = sizeArg(info, 7, "lda");
  Span<float> B = typedSpan<float>(info[8], "B");
  size_t ldb = sizeArg(info, 9, "ldb");
  auto beta = static_cast<float>(info[10].As<Napi::Number>().DoubleValue());
  size_t ldc = sizeArg(info, 12, "ldc");
  int threads = static_cast<int>(info[13].As<Napi::Number>().Int32Value());
  requireLength(env, A.length, ta == Transpose::No ? storedLength(env, M, K, lda) : storedLength(env, K, M, lda), "A");
  requireLength(env, B.length, tb == Transpose::No ? storedLength(env, K, N, ldb) : storedLength(env, N, K, ldb), "B");
  const size_t cLength = checkedProduct(env, M, ldc, "M x ldc");
  auto out = newTyped<float>(env, cLength);
  if (!info[11].IsNull() && !info[11].IsUndefined()) {
    Span<float> C = typedSpan<float>(info[11], "C");
    requireLength(env, C.length, cLength, "C");
    std::copy(C.data, C.data + cLength, out.Data());
  }
  Pins pins;
  pins.add(info[6]);
  pins.add(info[8]);
  float* c = out.Data();
  return runJob(env, async, pins, [=] { sgemm(ta, tb, M, N, K, alpha, A.data, lda, B.data, ldb, beta, c, ldc, threads); },
                returning(out));
}

// dgemm(transA, A, B, M, K, N, threads) -> new Float64Array (M x N) = op(A) (M x K) · B (K x N)
Napi::Value dgemmBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  bool transA = info[0].ToBoolean().Value();
  Span<double> A = typedSpan<double>(info[1], "A");
  Span<double> B = typedSpan<double>(info[2], "B");
  size_t M = sizeArg(info, 3, "M"), K = sizeArg(info, 4, "K"), N = sizeArg(info, 5, "N");
  int threads = static_cast<int>(info[6].As<Napi::Number>().Int32Value());
  requireLength(env, A.length, checkedProduct(env, M, K, "M x K"), "A");
  requireLength(env, B.length, checkedProduct(env, K, N, "K x N"), "B");
  auto out = newTyped<double>(env, checkedProduct(env, M, N, "M x N"));
  Pins pins;
  pins.add(info[1]);
  pins.add(info[2]);
  double* c = out.Data();
  return runJob(env, async, pins, [=] { dgemm(transA, A.data, B.data, M, K, N, c, threads); }, returning(out));
}

// solveSpd(A, B, n, m, threads) -> new Float64Array X (n x m) with A X = B; A and B are left as they are
Napi::Value solveSpdBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<double> A = typedSpan<double>(info[0], "A");
  Span<double> B = typedSpan<double>(info[1], "B");
  size_t n = sizeArg(info, 2, "n"), m = sizeArg(info, 3, "m");
  int threads = static_cast<int>(info[4].As<Napi::Number>().Int32Value());
  requireLength(env, A.length, checkedProduct(env, n, n, "n x n"), "A");
  requireLength(env, B.length, checkedProduct(env, n, m, "n x m"), "B");
  auto out = newTyped<double>(env, checkedProduct(env, n, m, "n x m"));
  std::copy(B.data, B.data + n * m, out.Data());
  auto factor = std::make_shared<std::vector<double>>(A.data, A.data + n * n);
  Pins pins;
  double* x = out.Data();
  return runJob(env, async, pins, [=] { solveSpd(factor->data(), x, n, m, threads); }, returning(out));
}

DistanceMetric metricArg(const Napi::CallbackInfo& info, size_t index) {
  std::string name = info[index].IsString() ? info[index].As<Napi::String>().Utf8Value() : "";
  if (name == "sqeuclidean") return DistanceMetric::SqEuclidean;
  if (name == "euclidean") return DistanceMetric::Euclidean;
  if (name == "cosine") return DistanceMetric::Cosine;
  throw codedError(info.Env(), "E_ARG", "metric must be 'sqeuclidean', 'euclidean' or 'cosine', got '" + name + "'");
}

// pairwiseDistances(X, n, Y, m, d, metric, threads) -> Float32Array (n x m)
Napi::Value distancesBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<float> X = typedSpan<float>(info[0], "X");
  size_t n = sizeArg(info, 1, "n");
  Span<float> Y = typedSpan<float>(info[2], "Y");
  size_t m = sizeArg(info, 3, "m"), d = sizeArg(info, 4, "d");
  DistanceMetric metric = metricArg(info, 5);
  int threads = static_cast<int>(info[6].As<Napi::Number>().Int32Value());
  requireLength(env, X.length, checkedProduct(env, n, d, "n x d"), "X");
  requireLength(env, Y.length, checkedProduct(env, m, d, "m x d"), "Y");
  auto out = newTyped<float>(env, checkedProduct(env, n, m, "n x m"));
  Pins pins;
  pins.add(info[0]);
  pins.add(info[2]);
  float* D = out.Data();
  return runJob(env, async, pins, [=] { pairwiseDistances(X.data, n, Y.data, m, d, metric, D, threads); },
                returning(out));
}

// gram(X, n, d, centered, threads) -> Float64Array (n x n)
Napi::Value gramBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<float> X = typedSpan<float>(info[0], "X");
  size_t n = sizeArg(info, 1, "n"), d = sizeArg(info, 2, "d");
  bool centered = info[3].ToBoolean().Value();
  int threads = static_cast<int>(info[4].As<Napi::Number>().Int32Value());
  requireLength(env, X.length, checkedProduct(env, n, d, "n x d"), "X");
  auto out = newTyped<double>(env, checkedProduct(env, n, n, "n x n"));
  Pins pins;
  pins.add(info[0]);
  double* K = out.Data();
  return runJob(env, async, pins, [=] { gramMatrix(X.data, n, d, centered, threads, K); }, returning(out));
}

// linearCka(X, Y, n, dx, dy, debiased, threads) -> number
Napi::Value linearCkaBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Span<float> X = typedSpan<float>(info[0], "X");
  Span<float> Y = typedSpan<float>(info[1], "Y");
  size_t n = sizeArg(info, 2, "n"), dx = sizeArg(info, 3, "dx"), dy = sizeArg(info, 4, "dy");
  bool debiased = info[5].ToBoolean().Value();
  int threads = static_cast<int>(info[6].As<Napi::Number>().Int32Value());
  requireLength(env, X.length, checkedProduct(env, n, dx, "n x dx"), "X");
  requireLength(env, Y.length, checkedProduct(env, n, dy, "n x dy"), "Y");
  Pins pins;
  pins.add(info[0]);
  pins.add(info[1]);
  auto value = std::make_shared<double>(0.0);
  return runJob(env, async, pins, [=] { *value = linearCka(X.data, Y.data, n, dx, dy, debiased, threads); },
                [value](Napi::Env e) { return Napi::Number::New(e, *value); });
}

/** The Float64Array elements of a JS array of n x n Grams, each pinned. */
std::vector<const double*> gramList(const Napi::Value& value, size_t n, const char* what, Pins& pins) {
  if (!value.IsArray()) throw codedError(value.Env(), "E_ARG", std::string(what) + " must be an array of Float64Array");
  auto array = value.As<Napi::Array>();
  std::vector<const double*> grams;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    Span<double> gram = typedSpan<double>(item, what);
    requireLength(value.Env(), gram.length, checkedProduct(value.Env(), n, n, "n x n"), what);
    pins.add(item);
    grams.push_back(gram.data);
  }
  return grams;
}

// ckaCostMatrix(deepGrams, shallowGrams, n, debiased, threads) -> Float64Array (deep x shallow)
Napi::Value costMatrixBinding(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  size_t n = sizeArg(info, 2, "n");
  Pins pins;
  std::vector<const double*> deep = gramList(info[0], n, "deepGrams", pins);
  std::vector<const double*> shallow = gramList(info[1], n, "shallowGrams", pins);
  bool debiased = info[3].ToBoolean().Value();
  int threads = static_cast<int>(info[4].As<Napi::Number>().Int32Value());
  auto out = newTyped<double>(env, deep.size() * shallow.size());
  double* cost = out.Data();
  return runJob(env, async, pins, [=] { ckaCostMatrix(deep, shallow, n, debiased, threads, cost); },
                returning(out));
}

// firstNonFiniteF32(values: Float32Array) -> index of the first NaN/±Infinity, or -1. Memory-bound: sync only.
Napi::Value firstNonFiniteBinding(const Napi::CallbackInfo& info) {
  Span<float> values = typedSpan<float>(info[0], "values");
  size_t index = firstNonFinite(values.data, values.length);
  return Napi::Number::New(info.Env(), index == values.length ? -1.0 : static_cast<double>(index));
}

// patchRows(x: Float32Array, count, window: Int32Array [c, h, w, kh, kw, sh, sw, pt, pl, dh, dw, wo],
//   positions: Int32Array (count x used), used, offset, threads) -> Float32Array (count x rows x used). Memory-bound:
//   sync only.
Napi::Value patchRowsBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Span<float> x = typedSpan<float>(info[0], "x");
  size_t count = sizeArg(info, 1, "count");
  Span<int32_t> w = typedSpan<int32_t>(info[2], "window");
  requireLength(env, w.length, 12, "window");
  const PatchWindow window{w.data[0], w.data[1], w.data[2], w.data[3], w.data[4], w.data[5], w.data[6], w.data[7], w.data[8], w.data[9], w.data[10], w.data[11]};
  if (window.c <= 0 || window.h <= 0 || window.w <= 0 || window.kh <= 0 || window.kw <= 0 || window.wo <= 0) {
    throw codedError(env, "E_ARG", "window sizes must be positive");
  }
  Span<int32_t> positions = typedSpan<int32_t>(info[3], "positions");
  size_t used = sizeArg(info, 4, "used");
  bool offset = info[5].ToBoolean().Value();
  int threads = static_cast<int>(info[6].As<Napi::Number>().Int32Value());
  const size_t plane = checkedProduct(env, static_cast<size_t>(window.h), static_cast<size_t>(window.w), "h x w");
  requireLength(env, x.length, checkedProduct(env, count, checkedProduct(env, static_cast<size_t>(window.c), plane, "c x h x w"), "count x c x h x w"), "x");
  requireLength(env, positions.length, checkedProduct(env, count, used, "count x used"), "positions");
  const size_t rows = static_cast<size_t>(window.c) * window.kh * window.kw + (offset ? 1 : 0);
  auto out = newTyped<float>(env, checkedProduct(env, count, checkedProduct(env, rows, used, "rows x used"), "count x rows x used"));
  patchRows(x.data, count, window, positions.data, used, offset, out.Data(), threads);
  return out;
}

}  // namespace

void registerLinalg(Napi::Env env, Napi::Object exports) {
  exportGuarded<firstNonFiniteBinding>(env, exports, "firstNonFiniteF32");
  exportGuarded<patchRowsBinding>(env, exports, "patchRowsSync");
  exportTwins<sgemmBinding>(env, exports, "sgemm");
  exportTwins<dgemmBinding>(env, exports, "dgemm");
  exportTwins<solveSpdBinding>(env, exports, "solveSpd");
  exportTwins<distancesBinding>(env, exports, "pairwiseDistances");
  exportTwins<gramBinding>(env, exports, "gram");
  exportTwins<linearCkaBinding>(env, exports, "linearCka");
  exportTwins<costMatrixBinding>(env, exports, "ckaCostMatrix");
}

}  // namespace clf::addon
