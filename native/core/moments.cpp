#include "core/moments.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace clf {

namespace {

// Features per float32 dot product of the Gram: rounding grows with at most 512 products before the float64 sum.
constexpr size_t kGramBlock = 512;
// From this many positions per channel, a sample's cross term is one sgemm dot product (else float64 products).
constexpr size_t kCrossFloatMin = 16;
// Below this many positions per sample, a sample's product is too shallow to pay for writing M out and back: M is
// then accumulated in blocks (kCrossRows x kCrossCols float64, 288 KiB, with one sample's 144 KiB of products) that
// stay in L2 while the samples stream past. From it, each sample's product is one sgemm over the whole strip (B
// packed once per sample), and only the lower triangle's blocks of second moments are cut (kTriangleRows rows).
constexpr size_t kCrossDeep = 128;
constexpr size_t kCrossRows = 144;
constexpr size_t kCrossCols = 256;
constexpr size_t kTriangleRows = 128;
// Independent running sums per sample in the channel sums.
constexpr size_t kLanes = 8;
// Values from which the channel sums split channels over threads: one thread sums about 3 values per ns, so a
// smaller tap costs more in waking threads than it saves.
constexpr size_t kChannelsParallelMin = size_t{1} << 22;

/** [begin, end) of part p of `count` rows split into `parts`; `triangle` spaces them evenly by area of a lower triangle. */
std::pair<size_t, size_t> partRange(size_t count, size_t parts, size_t p, bool triangle) {
  auto boundary = [&](size_t q) {
    if (!triangle) return count * q / parts;
    return static_cast<size_t>(std::lround(count * std::sqrt(static_cast<double>(q) / parts)));
  };
  return {boundary(p), boundary(p + 1)};
}

/** Rows [row0, row1) of A against B: the Gram block entries on or below the diagonal (accumulateGramBlock). */
void gramStrip(const float* A, size_t a0, const float* B, size_t rowsB, size_t b0, size_t d, const float* shift,
               size_t n, double* K, size_t row0, size_t row1) {
  size_t lastSample = a0 + row1 - 1;
  if (row1 <= row0 || lastSample < b0) return;
  size_t rows = row1 - row0;
  size_t cols = std::min(rowsB, lastSample - b0 + 1);
  size_t width = std::min(d, kGramBlock);
  std::vector<float> a(rows * width), b(cols * width), partial(rows * cols);
  for (size_t f0 = 0; f0 < d; f0 += kGramBlock) {
    size_t fc = std::min(kGramBlock, d - f0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t k = 0; k < fc; ++k) a[r * fc + k] = A[(row0 + r) * d + f0 + k] - shift[f0 + k];
    for (size_t j = 0; j < cols; ++j)
      for (size_t k = 0; k < fc; ++k) b[j * fc + k] = B[j * d + f0 + k] - shift[f0 + k];
    sgemm(Transpose::No, Transpose::Yes, rows, cols, fc, 1.0f, a.data(), fc, b.data(), fc, 0.0f, partial.data(), cols,
          1);
    for (size_t r = 0; r < rows; ++r) {
      size_t i = a0 + row0 + r;
      double* row = K + i * n + b0;
      size_t limit = std::min(cols, i - b0 + 1);  // columns b0 + j <= i only
      for (size_t j = 0; j < limit; ++j) row[j] += partial[r * cols + j];
    }
  }
}

/** The tap pairs of one sum, X[t] against Y[t] (t = 0 .. taps - 1), and the shape they share. */
struct TapPairs {
  const std::vector<const float*>& X;
  const std::vector<const float*>& Y;
  size_t cx, cy, samples, spatial;
  /** Pair t reads the same arrays as pair t - 1 (an inserted block's output repeats its input). */
  bool repeats(size_t t) const { return t > 0 && X[t] == X[t - 1] && Y[t] == Y[t - 1]; }
};

/**
 * M's block [i0, i1) x [j0, j1) over every sample and tap pair, samples ascending, then pairs in order, in float32
 * dot products, each added to M as soon as it is computed (a small block and its products stay in cache while the
 * samples stream past; see crossStrip for the block sizes). A pair that repeats the one before adds the same products
 * again without computing them. With `lower` (Y = X), only the entries with j <= i are added.
 */
void crossBlock(const TapPairs& p, double* M, size_t i0, size_t i1, size_t j0, size_t j1, bool lower,
                std::vector<float>& partial) {
  size_t rows = i1 - i0, cols = j1 - j0;
  partial.resize(rows * cols);
  for (size_t s = 0; s < p.samples; ++s) {
    for (size_t t = 0; t < p.X.size(); ++t) {
      if (!p.repeats(t)) {
        const float* x = p.X[t] + (s * p.cx + i0) * p.spatial;
        const float* y = p.Y[t] + (s * p.cy + j0) * p.spatial;
        sgemm(Transpose::No, Transpose::Yes, rows, cols, p.spatial, 1.0f, x, p.spatial, y, p.spatial, 0.0f,
              partial.data(), cols, 1);
      }
      for (size_t r = 0; r < rows; ++r) {
        double* row = M + (i0 + r) * p.cy + j0;
        const float* terms = partial.data() + r * cols;
        size_t i = i0 + r;
        size_t end = !lower ? cols : i < j0 ? 0 : std::min(cols, i + 1 - j0);
        for (size_t j = 0; j < end; ++j) row[j] += terms[j];
      }
    }
  }
}

/** Rows [row0, row1) of M in exact float64 products (fewer than kCrossFloatMin positions), in crossBlock's order. */
void crossRowsExact(const TapPairs& p, double* M, size_t row0, size_t row1, bool lower) {
  for (size_t s = 0; s < p.samples; ++s) {
    for (size_t t = 0; t < p.X.size(); ++t) {
      for (size_t i = row0; i < row1; ++i) {
        double* row = M + i * p.cy;
        const float* x = p.X[t] + (s * p.cx + i) * p.spatial;
        for (size_t q = 0; q < p.spatial; ++q) {
          const double value = x[q];  // float x float is exact in float64
          const float* y = p.Y[t] + s * p.cy * p.spatial + q;
          for (size_t j = 0, end = lower ? i + 1 : p.cy; j < end; ++j) row[j] += value * y[j * p.spatial];
        }
      }
    }
  }
}

/**
 * Rows [row0, row1) of M (accumulateCross); with `lower` (Y = X), only the entries on or below the diagonal, and
 * only the blocks that hold some (half the products). An entry's sum does not depend on the blocks or on which
 * other entries are computed with it.
 */
void crossStrip(const TapPairs& p, double* M, size_t row0, size_t row1, bool lower) {
  if (row1 <= row0) return;
  if (p.spatial < kCrossFloatMin) return crossRowsExact(p, M, row0, row1, lower);
  bool deep = p.spatial >= kCrossDeep;
  size_t rowBlock = !deep ? kCrossRows : lower ? kTriangleRows : row1 - row0;
  std::vector<float> partial;
  for (size_t i0 = row0; i0 < row1; i0 += rowBlock) {
    size_t i1 = std::min(row1, i0 + rowBlock);
    size_t last = lower ? i1 : p.cy;  // columns [0, last) hold entries of these rows
    size_t colBlock = deep ? last : kCrossCols;
    for (size_t j0 = 0; j0 < last; j0 += colBlock) crossBlock(p, M, i0, i1, j0, std::min(last, j0 + colBlock), lower, partial);
  }
}

void checkTapPairs(const TapPairs& p, const char* what) {
  if (p.cx == 0 || p.cy == 0 || p.spatial == 0) throw argError(std::string(what) + ": channels and positions must be positive");
  if (p.X.empty() || p.X.size() != p.Y.size()) throw argError(std::string(what) + ": needs one or more taps, as many on each side");
}

}  // namespace

void accumulateGramBlock(const float* A, size_t rowsA, size_t a0, const float* B, size_t rowsB, size_t b0, size_t d,
                         const float* shift, size_t n, double* K, int threads) {
  if (n == 0 || d == 0) throw argError("accumulateGramBlock: n and d must be positive");
  if (a0 + rowsA > n || b0 + rowsB > n) throw argError("accumulateGramBlock: the sample blocks run past n");
  if (rowsA == 0 || rowsB == 0) return;
  bool triangle = a0 == b0;
  size_t parts = std::min<size_t>(resolveThreads(threads), (rowsA + 11) / 12);
  parallelFor(parts, static_cast<int>(parts), [&](size_t p) {
    auto [row0, row1] = partRange(rowsA, parts, p, triangle);
    gramStrip(A, a0, B, rowsB, b0, d, shift, n, K, row0, row1);
  });
}

void accumulateCross(const std::vector<const float*>& X, size_t cx, const std::vector<const float*>& Y, size_t cy,
                     size_t samples, size_t spatial, double* M, int threads) {
  TapPairs pairs{X, Y, cx, cy, samples, spatial};
  checkTapPairs(pairs, "accumulateCross");
  if (samples == 0) return;
  size_t parts = std::min<size_t>(resolveThreads(threads), (cx + 7) / 8);
  parallelFor(parts, static_cast<int>(parts), [&](size_t part) {
    auto [row0, row1] = partRange(cx, parts, part, false);
    crossStrip(pairs, M, row0, row1, false);
  });
}

void accumulateSecondMoments(const std::vector<const float*>& X, size_t channels, size_t samples, size_t spatial,
                             double* M, int threads) {
  TapPairs pairs{X, X, channels, channels, samples, spatial};
  checkTapPairs(pairs, "accumulateSecondMoments");
  if (samples == 0) return;
  size_t parts = std::min<size_t>(resolveThreads(threads), (channels + 7) / 8);
  parallelFor(parts, static_cast<int>(parts), [&](size_t part) {
    auto [row0, row1] = partRange(channels, parts, part, true);
    crossStrip(pairs, M, row0, row1, true);
  });
}

// The channel sums' lanes as GCC/Clang vectors (SIMD registers where the target has them, portable elsewhere): kLanes
// floats and int32 counts, and the doubles in two halves (one 8-double vector spills on AVX2).
constexpr size_t kHalf = kLanes / 2;
typedef float FloatLanes __attribute__((vector_size(kLanes * sizeof(float))));
typedef float FloatHalf __attribute__((vector_size(kHalf * sizeof(float))));
typedef int32_t CountLanes __attribute__((vector_size(kLanes * sizeof(int32_t))));
typedef double DoubleHalf __attribute__((vector_size(kHalf * sizeof(double))));

void accumulateChannels(const float* X, size_t samples, size_t channels, size_t spatial, double* sums, double* squares,
                        double* positives, int threads) {
  if (channels == 0 || spatial == 0) throw argError("accumulateChannels: channels and positions must be positive");
  int nt = resolveThreads(threads);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && samples * channels * spatial > kChannelsParallelMin)
  for (size_t c = 0; c < channels; ++c) {
    for (size_t s = 0; s < samples; ++s) {
      const float* x = X + (s * channels + c) * spatial;
      // One sample's terms in kLanes independent running sums (position p into lane p mod kLanes), combined in lane
      // order: the same order whatever the chunk, and no chain of dependent additions per element. The lanes are
      // one vector, and the count of positives is a compare mask, not a branch (activations' signs are random, so a
      // branch per value mispredicts half the time).
      DoubleHalf sum[2] = {}, square[2] = {};  // lanes 0..3 and 4..7
      CountLanes positive = {};                // exact integers, so the same values as counting in float64
      size_t p = 0;
      for (; p + kLanes <= spatial; p += kLanes) {
        FloatLanes lanes;
        std::memcpy(&lanes, x + p, sizeof lanes);
        positive -= lanes > 0.0f;  // a vector compare gives -1 where true
        for (size_t h = 0; h < 2; ++h) {
          FloatHalf half;
          std::memcpy(&half, x + p + h * kHalf, sizeof half);
          const DoubleHalf value = __builtin_convertvector(half, DoubleHalf);
          sum[h] += value;
          square[h] += value * value;
        }
      }
      for (size_t l = 0; p < spatial; ++p, ++l) {
        const double value = x[p];
        sum[l / kHalf][l % kHalf] += value;
        square[l / kHalf][l % kHalf] += value * value;
        positive[l] += value > 0 ? 1 : 0;
      }
      for (size_t l = 0; l < kLanes; ++l) {
        sums[c] += sum[l / kHalf][l % kHalf];
        squares[c] += square[l / kHalf][l % kHalf];
        positives[c] += positive[l];
      }
    }
  }
}

}  // namespace clf
