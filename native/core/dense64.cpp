#include "core/dense64.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace clf {

namespace {

// Columns of C (and of B) per pass of the product: a K x kTile panel of B stays in cache while rows of A go by.
constexpr size_t kTile = 256;
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

/** Columns [c0, c1) of B: L Y = B, then Lᵀ X = Y, each row an axpy over the columns (k ascending). */
void triangularSolves(const double* L, double* B, size_t n, size_t m, size_t c0, size_t c1) {
  for (size_t i = 0; i < n; ++i) {
    double* x = B + i * m;
    for (size_t k = 0; k < i; ++k) {
      const double l = L[i * n + k];
      const double* y = B + k * m;
      for (size_t c = c0; c < c1; ++c) x[c] -= l * y[c];
    }
    const double pivot = L[i * n + i];
    for (size_t c = c0; c < c1; ++c) x[c] /= pivot;
  }
  for (size_t i = n; i-- > 0;) {
    double* x = B + i * m;
    for (size_t k = i + 1; k < n; ++k) {
      const double l = L[k * n + i];
      const double* y = B + k * m;
      for (size_t c = c0; c < c1; ++c) x[c] -= l * y[c];
    }
    const double pivot = L[i * n + i];
    for (size_t c = c0; c < c1; ++c) x[c] /= pivot;
  }
}

}  // namespace

void dgemm(bool transA, const double* A, const double* B, size_t M, size_t K, size_t N, double* C, int threads) {
  std::fill(C, C + M * N, 0.0);
  if (M == 0 || N == 0 || K == 0) return;
  const size_t rowBlocks = (M + 15) / 16;
  parallelFor(rowBlocks, resolveThreads(threads), [&](size_t block) {
    const size_t i0 = block * 16, i1 = std::min(M, i0 + 16);
    for (size_t j0 = 0; j0 < N; j0 += kTile) {
      const size_t j1 = std::min(N, j0 + kTile);
      for (size_t i = i0; i < i1; ++i) {
        double* c = C + i * N;
        for (size_t k = 0; k < K; ++k) {
          const double a = transA ? A[k * M + i] : A[i * K + k];
          const double* b = B + k * N;
          for (size_t j = j0; j < j1; ++j) c[j] += a * b[j];
        }
      }
    }
  });
}

void solveSpd(double* A, double* B, size_t n, size_t m, int threads) {
  if (n == 0) throw argError("solveSpd: n must be positive");
  int nt = resolveThreads(threads);
  cholesky(A, n, nt);
  const size_t blocks = (m + kSolveBlock - 1) / kSolveBlock;
  parallelFor(blocks, nt, [&](size_t block) {
    triangularSolves(A, B, n, m, block * kSolveBlock, std::min(m, (block + 1) * kSolveBlock));
  });
}

}  // namespace clf
