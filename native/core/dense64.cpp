#include "core/dense64.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace clf {

namespace {

// Columns of C (and of B) per pass of the product: a K x kTile panel of B stays in cache while rows of A go by.
constexpr size_t kTile = 256;
// Rows of C per thread block of the product (each block packs the panels of B it reads once).
constexpr size_t kRowBlock = 64;
// The register tile of the product and of the solves: 4 x 8 sums, eight 4-wide vectors.
constexpr size_t kTileRows = 4;
constexpr size_t kTileCols = 8;
// Right-hand-side columns per thread block of the triangular solves.
constexpr size_t kSolveBlock = 64;
// Independent partial sums of a dot product (vectorisable, and in a fixed order).
constexpr size_t kLanes = 8;

/** sum_k a[k] b[k] in kLanes running sums (k mod kLanes) added in lane order: a fixed order whatever the caller. */
double dot(const double* a, const double* b, size_t count) {
  double lane[kLanes] = {};
  size_t k = 0;
  for (; k + kLanes <= count; k += kLanes)
    for (size_t l = 0; l < kLanes; ++l) lane[l] += a[k + l] * b[k + l];
  for (size_t l = 0; k < count; ++k, ++l) lane[l] += a[k] * b[k];
  double sum = 0;
  for (double value : lane) sum += value;
  return sum;
}

/** A strided read-only matrix: element (r, k) is data[r * rowStride + k * colStride]. */
struct Operand {
  const double* data;
  size_t rowStride;
  size_t colStride;
  double at(size_t r, size_t k) const { return data[r * rowStride + k * colStride]; }
};

/**
 * The register tile: C[r, c] += sign · sum_{k0 <= k < k1} a(row0 + r, k) B[k, col0 + c] for a kTileRows x kTileCols
 * corner of C (row stride ldc), each element one multiply-add per k, k ascending (or descending), exactly as a scalar
 * loop over k does it: the tile only keeps its sums in registers instead of memory.
 */
template <int sign, bool descending = false>
void accumulateTile(const Operand& a, size_t row0, size_t k0, size_t k1, const double* B, size_t ldb, size_t col0,
                    double* C, size_t ldc) {
  static_assert(kTileRows == 4 && kTileCols == 8, "the vector tile below is 4 x 8");
#if defined(__AVX2__) && defined(__FMA__)
  // Two 4-wide vectors per row; one fused multiply-add per term, as the contracted scalar loop does.
  __m256d acc[kTileRows][2];
  for (size_t r = 0; r < kTileRows; ++r) {
    acc[r][0] = _mm256_loadu_pd(C + r * ldc);
    acc[r][1] = _mm256_loadu_pd(C + r * ldc + 4);
  }
  for (size_t step = k0; step < k1; ++step) {
    const size_t k = descending ? k1 - 1 - (step - k0) : step;
    const double* b = B + k * ldb + col0;
    const __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);
    for (size_t r = 0; r < kTileRows; ++r) {
      const __m256d x = _mm256_set1_pd(sign * a.at(row0 + r, k));
      acc[r][0] = _mm256_fmadd_pd(x, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_pd(x, b1, acc[r][1]);
    }
  }
  for (size_t r = 0; r < kTileRows; ++r) {
    _mm256_storeu_pd(C + r * ldc, acc[r][0]);
    _mm256_storeu_pd(C + r * ldc + 4, acc[r][1]);
  }
#else
  double acc[kTileRows][kTileCols];
  for (size_t r = 0; r < kTileRows; ++r)
    for (size_t c = 0; c < kTileCols; ++c) acc[r][c] = C[r * ldc + c];
  for (size_t step = k0; step < k1; ++step) {
    const size_t k = descending ? k1 - 1 - (step - k0) : step;
    const double* b = B + k * ldb + col0;
    for (size_t r = 0; r < kTileRows; ++r) {
      const double x = sign * a.at(row0 + r, k);
      for (size_t c = 0; c < kTileCols; ++c) acc[r][c] += x * b[c];
    }
  }
  for (size_t r = 0; r < kTileRows; ++r)
    for (size_t c = 0; c < kTileCols; ++c) C[r * ldc + c] = acc[r][c];
#endif
}

/** Row `row` of C, columns [j0, j1): the product's elements the tiles leave (ragged edges), in the same order. */
void productTail(const Operand& a, size_t row, size_t K, const double* B, size_t ldb, size_t j0, size_t j1, double* c) {
  for (size_t k = 0; k < K; ++k) {
    const double x = a.at(row, k);
    const double* b = B + k * ldb;
    for (size_t j = j0; j < j1; ++j) c[j] += x * b[j];
  }
}

/** The Cholesky factor in place of A's lower triangle (row-major), column by column; rows below split over threads. */
void cholesky(double* A, size_t n, int threads) {
  for (size_t j = 0; j < n; ++j) {
    double* rowJ = A + j * n;
    const double d = rowJ[j] - dot(rowJ, rowJ, j);
    if (!(d > 0)) throw Error("E_SOLVER", "the regression map needs a positive definite moment matrix");
    const double root = std::sqrt(d);
    rowJ[j] = root;
    const size_t below = n - j - 1;
    parallelFor((below + 63) / 64, below > 256 ? threads : 1, [&](size_t block) {
      for (size_t i = j + 1 + block * 64, end = std::min(n, j + 1 + (block + 1) * 64); i < end; ++i) {
        double* rowI = A + i * n;
        rowI[j] = (rowI[j] - dot(rowI, rowJ, j)) / root;
      }
    });
  }
}

/** Row i of B's columns [c0, c1): x -= sum over k in `ks` (in that order) of L(i, k) y_k, then x /= L[i, i]. */
template <typename Ks>
void solveRow(const Operand& l, double pivot, size_t i, Ks ks, double* B, size_t m, size_t c0, size_t c1) {
  double* x = B + i * m;
  ks([&](size_t k) {
    const double lik = l.at(i, k);
    const double* y = B + k * m;
    for (size_t c = c0; c < c1; ++c) x[c] -= lik * y[c];
  });
  for (size_t c = c0; c < c1; ++c) x[c] /= pivot;
}

/**
 * B (n x m) in place: L Y = B (each row's terms k ascending), then Lᵀ X = Y (k descending, from the last row back),
 * each divided by the pivot last. Rows go kTileRows at a time: the terms of rows already solved go through
 * the register tile, the few within the group one by one after them, so every element keeps its one order.
 */
void triangularSolves(const double* L, double* B, size_t n, size_t m) {
  const Operand lower{L, n, 1};
  const Operand upper{L, 1, n};  // Lᵀ: element (i, k) is L[k, i]
  const auto ascending = [](size_t from, size_t to) { return [=](auto add) { for (size_t k = from; k < to; ++k) add(k); }; };
  const auto descending = [](size_t from, size_t to) { return [=](auto add) { for (size_t k = to; k-- > from;) add(k); }; };
  const size_t tiled = m / kTileCols * kTileCols;
  for (size_t i0 = 0; i0 < n; i0 += kTileRows) {
    const bool full = n - i0 >= kTileRows;
    for (size_t c = 0; full && c < tiled; c += kTileCols) accumulateTile<-1>(lower, i0, 0, i0, B, m, c, B + i0 * m + c, m);
    for (size_t i = i0; i < std::min(n, i0 + kTileRows); ++i) {
      solveRow(lower, L[i * n + i], i, ascending(full ? i0 : 0, i), B, m, 0, tiled);
      solveRow(lower, L[i * n + i], i, ascending(0, i), B, m, tiled, m);
    }
  }
  for (size_t end = n; end > 0;) {
    const bool full = end >= kTileRows;
    const size_t i0 = full ? end - kTileRows : 0;
    for (size_t c = 0; full && c < tiled; c += kTileCols) {
      accumulateTile<-1, true>(upper, i0, end, n, B, m, c, B + i0 * m + c, m);
    }
    for (size_t i = end; i-- > i0;) {
      solveRow(upper, L[i * n + i], i, descending(i + 1, full ? end : n), B, m, 0, tiled);
      solveRow(upper, L[i * n + i], i, descending(i + 1, n), B, m, tiled, m);
    }
    end = i0;
  }
}

/**
 * Columns [j0, j0 + panels · kTileCols) of B (K rows, row stride ldb) as `panels` contiguous K x kTileCols panels:
 * the tile then reads its K rows of B from consecutive memory, not from K pages kilobytes apart.
 */
void packPanels(const double* B, size_t ldb, size_t K, size_t j0, size_t panels, double* packed) {
  for (size_t p = 0; p < panels; ++p)
    for (size_t k = 0; k < K; ++k)
      std::copy_n(B + k * ldb + j0 + p * kTileCols, kTileCols, packed + (p * K + k) * kTileCols);
}

/** Rows [i0, i0 + kTileRows) of op(A) (K columns) interleaved k-major, packed[k · kTileRows + r]: one tile's A. */
void packRows(const Operand& a, size_t i0, size_t K, double* packed) {
  for (size_t k = 0; k < K; ++k)
    for (size_t r = 0; r < kTileRows; ++r) packed[k * kTileRows + r] = a.at(i0 + r, k);
}

}  // namespace

void dgemm(bool transA, const double* A, const double* B, size_t M, size_t K, size_t N, double* C, int threads) {
  std::fill(C, C + M * N, 0.0);
  if (M == 0 || N == 0 || K == 0) return;
  const size_t rowBlocks = (M + kRowBlock - 1) / kRowBlock;
  const Operand a{A, transA ? 1 : K, transA ? M : 1};
  parallelFor(rowBlocks, resolveThreads(threads), [&](size_t block) {
    const size_t i0 = block * kRowBlock, i1 = std::min(M, i0 + kRowBlock);
    const size_t groups = (i1 - i0) / kTileRows;
    std::vector<double> rows(groups * K * kTileRows);
    for (size_t g = 0; g < groups; ++g) packRows(a, i0 + g * kTileRows, K, rows.data() + g * K * kTileRows);
    std::vector<double> packed(K * kTile);
    for (size_t j0 = 0; j0 < N; j0 += kTile) {
      const size_t j1 = std::min(N, j0 + kTile);
      const size_t panels = (j1 - j0) / kTileCols;
      const size_t tiled = j0 + panels * kTileCols;
      packPanels(B, N, K, j0, panels, packed.data());
      for (size_t g = 0; g < groups; ++g) {
        const size_t i = i0 + g * kTileRows;
        const Operand tileRows{rows.data() + g * K * kTileRows, 1, kTileRows};
        for (size_t p = 0; p < panels; ++p) {
          accumulateTile<1>(tileRows, 0, 0, K, packed.data() + p * K * kTileCols, kTileCols, 0, C + i * N + j0 + p * kTileCols, N);
        }
        for (size_t r = i; r < i + kTileRows; ++r) productTail(a, r, K, B, N, tiled, j1, C + r * N);
      }
      for (size_t i = i0 + groups * kTileRows; i < i1; ++i) productTail(a, i, K, B, N, j0, j1, C + i * N);
    }
  });
}

void solveSpd(double* A, double* B, size_t n, size_t m, int threads) {
  if (n == 0) throw argError("solveSpd: n must be positive");
  int nt = resolveThreads(threads);
  cholesky(A, n, nt);
  const size_t blocks = (m + kSolveBlock - 1) / kSolveBlock;
  parallelFor(blocks, nt, [&](size_t block) {
    // The block's columns solved in a contiguous copy (rows of kSolveBlock values, not of m): the same operations.
    const size_t c0 = block * kSolveBlock, width = std::min(m, c0 + kSolveBlock) - c0;
    std::vector<double> columns(n * width);
    for (size_t i = 0; i < n; ++i) std::copy_n(B + i * m + c0, width, columns.data() + i * width);
    triangularSolves(A, columns.data(), n, width);
    for (size_t i = 0; i < n; ++i) std::copy_n(columns.data() + i * width, width, B + i * m + c0);
  });
}

}  // namespace clf
