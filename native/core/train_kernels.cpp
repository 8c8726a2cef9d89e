#include "core/train_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace clf::train {

namespace {

/**
 * C (M x N) = op(A) op(B) + beta C, row-major. float goes to the blocked sgemm; double (the gradient checks on tiny
 * networks) to a plain loop with the same fixed k order.
 */
void gemm(bool ta, bool tb, size_t M, size_t N, size_t K, const float* A, size_t lda, const float* B, size_t ldb, float beta,
          float* C, size_t ldc, int threads) {
  sgemm(ta ? Transpose::Yes : Transpose::No, tb ? Transpose::Yes : Transpose::No, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc,
        threads);
}

void gemm(bool ta, bool tb, size_t M, size_t N, size_t K, const double* A, size_t lda, const double* B, size_t ldb, double beta,
          double* C, size_t ldc, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t i = 0; i < static_cast<ptrdiff_t>(M); i++) {
    for (size_t j = 0; j < N; j++) {
      double acc = 0;
      for (size_t k = 0; k < K; k++) acc += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = (beta == 0 ? 0 : beta * C[i * ldc + j]) + acc;
    }
  }
}

size_t plane(const Op& op) { return static_cast<size_t>(op.h) * op.w; }
size_t outPlane(const Op& op) { return static_cast<size_t>(op.ho) * op.wo; }

/**
 * Σ_{i < count} term(i) in double, accumulated in 8 interleaved partial sums that are combined in a fixed order: the
 * independent chains vectorise and pipeline (one running sum is bound by the add latency), and the order depends on
 * `count` only, so the result is the same for every thread count.
 */
template <typename Term>
double laneSum(size_t count, Term term) {
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    for (size_t l = 0; l < 8; l++) lanes[l] += term(i + l);
  double tail = 0;
  for (; i < count; i++) tail += term(i);
  return (((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))) + tail;
}

/** A 1x1, stride-1, unpadded convolution (and every dense layer) reads its input as the column matrix itself. */
bool pointwise(const Op& op) {
  return op.kh == 1 && op.kw == 1 && op.sh == 1 && op.sw == 1 && op.pt == 0 && op.pl == 0 && op.pb == 0 && op.pr == 0;
}

/**
 * The output columns j whose input column j·sw − pl + b·dw falls inside [0, w): [first, last). Hoisting this bound
 * out of the inner loops leaves them branch-free.
 */
struct ColumnRange {
  int32_t first, last;
};

ColumnRange validColumns(const Op& op, int32_t b) {
  const int32_t offset = b * op.dw - op.pl;  // iw = j·sw + offset
  int32_t first = offset >= 0 ? 0 : (-offset + op.sw - 1) / op.sw;
  int32_t last = op.w - offset <= 0 ? 0 : (op.w - offset + op.sw - 1) / op.sw;  // iw < w  ⇔  j < (w − offset) / sw
  first = std::min(first, op.wo);
  last = std::max(first, std::min(last, op.wo));
  return {first, last};
}

/**
 * cols[(c, a, b)][(s − s0, i, j)] = x[c][s][i·sh − pt + a·dh][j·sw − pl + b·dw] (0 in the padding), for the samples
 * s in [s0, s0 + count) of a batch of n.
 */
template <typename T>
void im2col(const Op& op, size_t n, size_t s0, size_t count, const T* x, T* cols, int threads) {
  const size_t rows = static_cast<size_t>(op.c) * op.kh * op.kw, outer = outPlane(op), width = count * outer;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t r = 0; r < static_cast<ptrdiff_t>(rows); r++) {
    const int32_t c = static_cast<int32_t>(r / (op.kh * op.kw)), a = static_cast<int32_t>(r / op.kw % op.kh), b = static_cast<int32_t>(r % op.kw);
    const ColumnRange valid = validColumns(op, b);
    const int32_t offset = b * op.dw - op.pl;
    T* row = cols + r * width;
    for (size_t s = 0; s < count; s++) {
      const T* input = x + (static_cast<size_t>(c) * n + s0 + s) * plane(op);
      for (int32_t i = 0; i < op.ho; i++) {
        const int32_t ih = i * op.sh - op.pt + a * op.dh;
        T* out = row + s * outer + static_cast<size_t>(i) * op.wo;
        if (ih < 0 || ih >= op.h) {
          std::fill(out, out + op.wo, T(0));
          continue;
        }
        const T* line = input + static_cast<size_t>(ih) * op.w;
        std::fill(out, out + valid.first, T(0));
        if (op.sw == 1) std::copy(line + valid.first + offset, line + valid.last + offset, out + valid.first);
        else for (int32_t j = valid.first; j < valid.last; j++) out[j] = line[j * op.sw + offset];
        std::fill(out + valid.last, out + op.wo, T(0));
      }
    }
  }
}

/**
 * dx[c] += the column gradients of channel c for the samples [s0, s0 + count), scattered back (one thread per
 * channel, rows in a fixed order).
 */
template <typename T>
void col2imAdd(const Op& op, size_t n, size_t s0, size_t count, const T* dcols, T* dx, int threads) {
  const size_t outer = outPlane(op), width = count * outer;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int32_t c = 0; c < op.c; c++) {
    for (int32_t a = 0; a < op.kh; a++) {
      for (int32_t b = 0; b < op.kw; b++) {
        const ColumnRange valid = validColumns(op, b);
        const int32_t offset = b * op.dw - op.pl;
        const T* row = dcols + ((static_cast<size_t>(c) * op.kh + a) * op.kw + b) * width;
        for (size_t s = 0; s < count; s++) {
          T* input = dx + (static_cast<size_t>(c) * n + s0 + s) * plane(op);
          for (int32_t i = 0; i < op.ho; i++) {
            const int32_t ih = i * op.sh - op.pt + a * op.dh;
            if (ih < 0 || ih >= op.h) continue;
            const T* in = row + s * outer + static_cast<size_t>(i) * op.wo;
            T* line = input + static_cast<size_t>(ih) * op.w;
            for (int32_t j = valid.first; j < valid.last; j++) line[j * op.sw + offset] += in[j];
          }
        }
      }
    }
  }
}

/**
 * Samples per im2col chunk: the column block of a chunk (about 2 MB) stays in cache from im2col to the GEMM instead of
 * streaming the whole batch's columns through memory several times. Depends only on the shapes, never on the thread
 * count, so the chunked sums (the weight gradient adds one partial per chunk) are the same on every machine.
 */
size_t chunkSamples(const Op& op, size_t n) {
  const size_t perSample = static_cast<size_t>(op.c) * op.kh * op.kw * outPlane(op);
  return std::min(n, std::max<size_t>(1, (size_t{1} << 19) / perSample));
}

/** Sizes one column buffer (and, when `withGradient`, one column-gradient buffer) of `length` per thread. */
template <typename T>
void prepareColumns(ConvWorkspace<T>& ws, int threads, size_t length, bool withGradient) {
  ws.cols.resize(threads);
  for (auto& buffer : ws.cols) buffer.resize(length);
  if (!withGradient) return;
  ws.dcols.resize(threads);
  for (auto& buffer : ws.dcols) buffer.resize(length);
}

/**
 * Runs body(chunk index, first sample, samples, thread) for every chunk of the batch, the chunks spread over the
 * threads (one parallel region per conv instead of one per chunk and kernel; each chunk's GEMMs run on its thread).
 */
template <typename Body>
void forChunks(size_t n, size_t chunk, int threads, Body body) {
  const size_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t k = 0; k < static_cast<ptrdiff_t>(chunks); k++) {
    const size_t s0 = static_cast<size_t>(k) * chunk;
    body(static_cast<size_t>(k), s0, std::min(chunk, n - s0), omp_get_thread_num());
  }
}

}  // namespace

template <typename T>
void convForward(const Op& op, size_t n, const T* x, const T* params, T* y, ConvWorkspace<T>& ws, int threads) {
  const size_t K = static_cast<size_t>(op.c) * op.kh * op.kw, outer = outPlane(op), P = n * outer;
  const T* W = params + op.weight;
  if (pointwise(op)) {
    gemm(false, false, op.co, P, K, W, K, x, P, T(0), y, P, threads);
  } else {
    const size_t chunk = chunkSamples(op, n);
    prepareColumns(ws, threads, K * chunk * outer, false);
    forChunks(n, chunk, threads, [&](size_t, size_t s0, size_t count, int thread) {
      T* cols = ws.cols[thread].data();
      im2col(op, n, s0, count, x, cols, 1);
      gemm(false, false, op.co, count * outer, K, W, K, cols, count * outer, T(0), y + s0 * outer, P, 1);
    });
  }
  if (op.bias < 0) return;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int32_t o = 0; o < op.co; o++) {
    const T b = params[op.bias + o];
    for (size_t p = 0; p < P; p++) y[o * P + p] += b;
  }
}

template <typename T>
void convBackward(const Op& op, size_t n, const T* x, const T* params, const T* dy, T* dx, T* grad, ConvWorkspace<T>& ws, int threads) {
  const size_t K = static_cast<size_t>(op.c) * op.kh * op.kw, outer = outPlane(op), P = n * outer;
  const T* W = params + op.weight;
  T* dW = grad + op.weight;
  if (op.bias >= 0) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int32_t o = 0; o < op.co; o++) {
      const T* row = dy + o * P;
      grad[op.bias + o] = static_cast<T>(laneSum(P, [row](size_t p) { return static_cast<double>(row[p]); }));
    }
  }
  if (pointwise(op)) {
    gemm(false, true, op.co, K, P, dy, P, x, P, T(0), dW, K, threads);
    if (dx) gemm(true, false, K, P, op.co, W, K, dy, P, T(1), dx, P, threads);
    return;
  }
  // Per chunk: its weight-gradient partial dY_chunk · cols_chunkᵀ, and dX += col2im(Wᵀ · dY_chunk) on its own samples.
  const size_t chunk = chunkSamples(op, n), chunks = (n + chunk - 1) / chunk, size = static_cast<size_t>(op.co) * K;
  prepareColumns(ws, threads, K * chunk * outer, dx != nullptr);
  ws.partials.resize(chunks * size);
  forChunks(n, chunk, threads, [&](size_t k, size_t s0, size_t count, int thread) {
    const size_t width = count * outer;
    const T* dyChunk = dy + s0 * outer;
    T* cols = ws.cols[thread].data();
    im2col(op, n, s0, count, x, cols, 1);
    gemm(false, true, op.co, K, width, dyChunk, P, cols, width, T(0), ws.partials.data() + k * size, K, 1);
    if (!dx) return;
    T* dcols = ws.dcols[thread].data();
    gemm(true, false, K, width, op.co, W, K, dyChunk, P, T(0), dcols, width, 1);
    col2imAdd(op, n, s0, count, dcols, dx, 1);
  });
  // dW = Σ_k partial_k, chunks in order.
  const T* partials = ws.partials.data();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t i = 0; i < static_cast<ptrdiff_t>(size); i++) {
    T sum = partials[i];
    for (size_t k = 1; k < chunks; k++) sum += partials[k * size + i];
    dW[i] = sum;
  }
}

template <typename T>
void batchNormForwardTrain(const Op& op, size_t n, const T* x, const T* params, T* y, BatchStats& stats, int threads) {
  const size_t M = n * plane(op);
  stats.mean.assign(op.c, 0);
  stats.variance.assign(op.c, 0);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int32_t c = 0; c < op.c; c++) {
    const T* in = x + c * M;
    const double mean = laneSum(M, [in](size_t i) { return static_cast<double>(in[i]); }) / M;
    const double variance = laneSum(M, [in, mean](size_t i) { return (in[i] - mean) * (in[i] - mean); }) / M;
    stats.mean[c] = mean;
    stats.variance[c] = variance;
    // y = γ (x − μ) / σ + β = a x + b, with a and b formed in double once per channel.
    const double scale = params[op.weight + c] / std::sqrt(variance + op.epsilon);
    const T a = static_cast<T>(scale), b = static_cast<T>(params[op.bias + c] - mean * scale);
    T* out = y + c * M;
    for (size_t i = 0; i < M; i++) out[i] = a * in[i] + b;
  }
}

template <typename T>
void batchNormForwardEval(const Op& op, size_t n, const T* x, const T* params, const T* running, T* y, int threads) {
  const size_t M = n * plane(op);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int32_t c = 0; c < op.c; c++) {
    const double mean = running[op.aux + c], variance = running[op.aux + op.c + c];
    const double scale = params[op.weight + c] / std::sqrt(variance + op.epsilon), shift = params[op.bias + c];
    for (size_t i = 0; i < M; i++) y[c * M + i] = static_cast<T>((x[c * M + i] - mean) * scale + shift);
  }
}

template <typename T>
void batchNormBackward(const Op& op, size_t n, const T* x, const T* params, const BatchStats& stats, const T* dy, T* dx, T* grad, int threads) {
  const size_t M = n * plane(op);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int32_t c = 0; c < op.c; c++) {
    const T* in = x + c * M;
    const T* g = dy + c * M;
    const double mean = stats.mean[c], invStd = 1 / std::sqrt(stats.variance[c] + op.epsilon);
    const double sumDy = laneSum(M, [g](size_t i) { return static_cast<double>(g[i]); });
    const double sumDyXhat = laneSum(M, [g, in, mean](size_t i) { return g[i] * (in[i] - mean); }) * invStd;
    grad[op.weight + c] = static_cast<T>(sumDyXhat);
    grad[op.bias + c] = static_cast<T>(sumDy);
    if (!dx) continue;
    // dx += γ/σ · (dy − mean(dy) − x̂ · mean(dy x̂)) = a dy + b x + k, with x̂ = (x − μ)/σ.
    const double scale = params[op.weight + c] * invStd, meanDy = sumDy / M, meanDyXhat = sumDyXhat / M;
    const T a = static_cast<T>(scale), b = static_cast<T>(-scale * invStd * meanDyXhat);
    const T k = static_cast<T>(scale * (mean * invStd * meanDyXhat - meanDy));
    T* out = dx + c * M;
    for (size_t i = 0; i < M; i++) out[i] += a * g[i] + b * in[i] + k;
  }
}

template <typename T>
void updateRunningStats(const Op& op, size_t n, const BatchStats& stats, double momentum, T* running) {
  const size_t M = n * plane(op);
  const double unbias = M > 1 ? static_cast<double>(M) / (M - 1) : 1.0;
  for (int32_t c = 0; c < op.c; c++) {
    T& mean = running[op.aux + c];
    T& variance = running[op.aux + op.c + c];
    mean = static_cast<T>((1 - momentum) * mean + momentum * stats.mean[c]);
    variance = static_cast<T>((1 - momentum) * variance + momentum * stats.variance[c] * unbias);
  }
}

template <typename T>
void reluForward(size_t count, const T* x, T* y, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t i = 0; i < static_cast<ptrdiff_t>(count); i++) y[i] = x[i] > 0 ? x[i] : T(0);
}

template <typename T>
void reluBackward(size_t count, const T* y, const T* dy, T* dx, int threads) {
  const bool inPlace = dx == dy;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t i = 0; i < static_cast<ptrdiff_t>(count); i++) {
    if (inPlace) dx[i] = y[i] > 0 ? dy[i] : T(0);
    else if (y[i] > 0) dx[i] += dy[i];
  }
}

namespace {

/** f(x) of one activation, in double (rounded to T by the caller). */
double activationValue(ActivationKind kind, double alpha, double x) {
  switch (kind) {
    case ActivationKind::LeakyRelu: return x >= 0 ? x : alpha * x;
    case ActivationKind::Gelu: return 0.5 * x * (1 + std::erf(x * M_SQRT1_2));
    case ActivationKind::Silu: return x / (1 + std::exp(-x));
    case ActivationKind::Sigmoid: return 1 / (1 + std::exp(-x));
    case ActivationKind::Tanh: return std::tanh(x);
  }
  return x;
}

/** f'(x) of one activation; `y` = f(x). */
double activationSlope(ActivationKind kind, double alpha, double x, double y) {
  switch (kind) {
    case ActivationKind::LeakyRelu: return x >= 0 ? 1 : alpha;
    case ActivationKind::Gelu: {
      const double phi = std::exp(-0.5 * x * x) * 0.5 * M_2_SQRTPI * M_SQRT1_2;  // φ(x) = e^(−x²/2) / √(2π)
      return 0.5 * (1 + std::erf(x * M_SQRT1_2)) + x * phi;
    }
    case ActivationKind::Silu: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 + x * (1 - s));
    }
    case ActivationKind::Sigmoid: return y * (1 - y);
    case ActivationKind::Tanh: return 1 - y * y;
  }
  return 1;
}

}  // namespace

template <typename T>
void activationForward(ActivationKind kind, double alpha, size_t count, const T* x, T* y, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t i = 0; i < static_cast<ptrdiff_t>(count); i++) {
    y[i] = static_cast<T>(activationValue(kind, alpha, x[i]));
  }
}

template <typename T>
void activationBackward(ActivationKind kind, double alpha, size_t count, const T* x, const T* y, const T* dy, T* dx,
                        int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t i = 0; i < static_cast<ptrdiff_t>(count); i++) {
    dx[i] += static_cast<T>(dy[i] * activationSlope(kind, alpha, x[i], y[i]));
  }
}

namespace {

/** A pooling window clipped to the map; `divisor` is PyTorch's average-pool divisor. */
struct Window {
  int32_t h0, h1, w0, w1;
  double divisor;
};

Window window(const Op& op, int32_t i, int32_t j) {
  int32_t h0 = i * op.sh - op.pt, w0 = j * op.sw - op.pl;
  int32_t h1 = std::min(h0 + op.kh, op.h + op.pb), w1 = std::min(w0 + op.kw, op.w + op.pr);
  const double padded = static_cast<double>(h1 - h0) * (w1 - w0);
  h0 = std::max(h0, 0), w0 = std::max(w0, 0), h1 = std::min(h1, op.h), w1 = std::min(w1, op.w);
  return {h0, h1, w0, w1, op.flag ? padded : static_cast<double>(h1 - h0) * (w1 - w0)};
}

/** Position of the first maximum inside the window (row-major scan). */
template <typename T>
size_t argmaxIn(const Op& op, const T* in, const Window& win) {
  size_t best = static_cast<size_t>(win.h0) * op.w + win.w0;
  for (int32_t h = win.h0; h < win.h1; h++) {
    for (int32_t w = win.w0; w < win.w1; w++) {
      const size_t at = static_cast<size_t>(h) * op.w + w;
      if (in[at] > in[best]) best = at;
    }
  }
  return best;
}

}  // namespace

template <typename T>
void poolForward(const Op& op, size_t n, const T* x, T* y, int threads) {
  const bool isMax = op.kind == OpKind::MaxPool;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t p = 0; p < static_cast<ptrdiff_t>(op.c * n); p++) {
    const T* in = x + p * plane(op);
    T* out = y + p * outPlane(op);
    for (int32_t i = 0; i < op.ho; i++) {
      for (int32_t j = 0; j < op.wo; j++) {
        const Window win = window(op, i, j);
        if (isMax) {
          out[i * op.wo + j] = in[argmaxIn(op, in, win)];
          continue;
        }
        double sum = 0;
        for (int32_t h = win.h0; h < win.h1; h++)
          for (int32_t w = win.w0; w < win.w1; w++) sum += in[static_cast<size_t>(h) * op.w + w];
        out[i * op.wo + j] = static_cast<T>(sum / win.divisor);
      }
    }
  }
}

template <typename T>
void poolBackward(const Op& op, size_t n, const T* x, const T* dy, T* dx, int threads) {
  const bool isMax = op.kind == OpKind::MaxPool;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t p = 0; p < static_cast<ptrdiff_t>(op.c * n); p++) {
    const T* in = x + p * plane(op);
    const T* g = dy + p * outPlane(op);
    T* out = dx + p * plane(op);
    for (int32_t i = 0; i < op.ho; i++) {
      for (int32_t j = 0; j < op.wo; j++) {
        const Window win = window(op, i, j);
        const T grad = g[i * op.wo + j];
        if (isMax) {
          out[argmaxIn(op, in, win)] += grad;
          continue;
        }
        const T share = static_cast<T>(grad / win.divisor);
        for (int32_t h = win.h0; h < win.h1; h++)
          for (int32_t w = win.w0; w < win.w1; w++) out[static_cast<size_t>(h) * op.w + w] += share;
      }
    }
  }
}

template <typename T>
void globalPoolForward(const Op& op, size_t n, const T* x, T* y, int threads) {
  const size_t S = plane(op);
  const bool isMax = op.kind == OpKind::GlobalMaxPool;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t p = 0; p < static_cast<ptrdiff_t>(op.c * n); p++) {
    const T* in = x + p * S;
    if (isMax) {
      y[p] = *std::max_element(in, in + S);
      continue;
    }
    double sum = 0;
    for (size_t s = 0; s < S; s++) sum += in[s];
    y[p] = static_cast<T>(sum / S);
  }
}

template <typename T>
void globalPoolBackward(const Op& op, size_t n, const T* x, const T* dy, T* dx, int threads) {
  const size_t S = plane(op);
  const bool isMax = op.kind == OpKind::GlobalMaxPool;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (ptrdiff_t p = 0; p < static_cast<ptrdiff_t>(op.c * n); p++) {
    T* out = dx + p * S;
    if (isMax) {
      const T* in = x + p * S;
      out[std::max_element(in, in + S) - in] += dy[p];  // max_element returns the first maximum
      continue;
    }
    const T share = static_cast<T>(dy[p] / static_cast<double>(S));
    for (size_t s = 0; s < S; s++) out[s] += share;
  }
}

template <typename T>
void flattenForward(const Op& op, size_t n, const T* x, T* y) {
  const size_t S = plane(op);
  for (int32_t c = 0; c < op.c; c++)
    for (size_t s = 0; s < n; s++)
      for (size_t k = 0; k < S; k++) y[(c * S + k) * n + s] = x[(c * n + s) * S + k];
}

template <typename T>
void flattenBackward(const Op& op, size_t n, const T* dy, T* dx) {
  const size_t S = plane(op);
  for (int32_t c = 0; c < op.c; c++)
    for (size_t s = 0; s < n; s++)
      for (size_t k = 0; k < S; k++) dx[(c * n + s) * S + k] += dy[(c * S + k) * n + s];
}

#define CLF_TRAIN_KERNELS(T)                                                                                          \
  template void convForward<T>(const Op&, size_t, const T*, const T*, T*, ConvWorkspace<T>&, int);                   \
  template void convBackward<T>(const Op&, size_t, const T*, const T*, const T*, T*, T*, ConvWorkspace<T>&, int);    \
  template void batchNormForwardTrain<T>(const Op&, size_t, const T*, const T*, T*, BatchStats&, int);               \
  template void batchNormForwardEval<T>(const Op&, size_t, const T*, const T*, const T*, T*, int);                   \
  template void batchNormBackward<T>(const Op&, size_t, const T*, const T*, const BatchStats&, const T*, T*, T*, int); \
  template void updateRunningStats<T>(const Op&, size_t, const BatchStats&, double, T*);                             \
  template void reluForward<T>(size_t, const T*, T*, int);                                                           \
  template void reluBackward<T>(size_t, const T*, const T*, T*, int);                                                \
  template void activationForward<T>(ActivationKind, double, size_t, const T*, T*, int);                             \
  template void activationBackward<T>(ActivationKind, double, size_t, const T*, const T*, const T*, T*, int);        \
  template void poolForward<T>(const Op&, size_t, const T*, T*, int);                                                \
  template void poolBackward<T>(const Op&, size_t, const T*, const T*, T*, int);                                     \
  template void globalPoolForward<T>(const Op&, size_t, const T*, T*, int);                                          \
  template void globalPoolBackward<T>(const Op&, size_t, const T*, const T*, T*, int);                               \
  template void flattenForward<T>(const Op&, size_t, const T*, T*);                                                  \
  template void flattenBackward<T>(const Op&, size_t, const T*, T*);

CLF_TRAIN_KERNELS(float)
CLF_TRAIN_KERNELS(double)

}  // namespace clf::train
