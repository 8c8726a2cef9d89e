#include "core/distance.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace clf {

namespace {

/** |row_i|^2 for each row, summed in double so long rows lose nothing before the float cast. */
std::vector<double> rowSquaredNorms(const float* X, size_t rows, size_t d, int threads) {
  std::vector<double> norms(rows);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && rows * d > 65536)
  for (size_t i = 0; i < rows; ++i) {
    double sum = 0;
    for (size_t k = 0; k < d; ++k) sum += static_cast<double>(X[i * d + k]) * X[i * d + k];
    norms[i] = sum;
  }
  return norms;
}

std::vector<float> asFloats(const std::vector<double>& values) { return std::vector<float>(values.begin(), values.end()); }

/** 1/|row| per row, 0 for a zero row (so its cosine similarity is 0 and its distance 1). */
std::vector<float> inverseNorms(const std::vector<double>& squaredNorms) {
  std::vector<float> inverse(squaredNorms.size());
  for (size_t i = 0; i < inverse.size(); ++i) inverse[i] = squaredNorms[i] > 0 ? static_cast<float>(1.0 / std::sqrt(squaredNorms[i])) : 0.0f;
  return inverse;
}

/** Applies `f(value, i, j)` to every element of the D block (row0.., col0..). */
template <typename F>
GemmEpilogue blockwise(float* D, size_t m, F f) {
  return [D, m, f](size_t row0, size_t col0, size_t rows, size_t cols) {
    for (size_t i = row0; i < row0 + rows; ++i) {
      float* row = D + i * m;
      for (size_t j = col0; j < col0 + cols; ++j) row[j] = f(row[j], i, j);
    }
  };
}

}  // namespace

void pairwiseDistances(const float* X, size_t n, const float* Y, size_t m, size_t d, DistanceMetric metric, float* D,
                       int threads) {
  if (n == 0 || m == 0 || d == 0) throw argError("pairwiseDistances: n, m and d must all be positive");
  int nt = resolveThreads(threads);
  std::vector<double> xx = rowSquaredNorms(X, n, d, nt);
  std::vector<double> yy = rowSquaredNorms(Y, m, d, nt);
  if (metric == DistanceMetric::Cosine) {
    std::vector<float> ix = inverseNorms(xx), iy = inverseNorms(yy);
    auto cosine = [&ix, &iy](float dot, size_t i, size_t j) { return std::clamp(1.0f - dot * ix[i] * iy[j], 0.0f, 2.0f); };
    sgemm(Transpose::No, Transpose::Yes, n, m, d, 1.0f, X, d, Y, d, 0.0f, D, m, nt, blockwise(D, m, cosine));
    return;
  }
  std::vector<float> fx = asFloats(xx), fy = asFloats(yy);
  if (metric == DistanceMetric::SqEuclidean) {
    auto squared = [&fx, &fy](float cross, size_t i, size_t j) { return std::max(fx[i] + fy[j] + cross, 0.0f); };
    sgemm(Transpose::No, Transpose::Yes, n, m, d, -2.0f, X, d, Y, d, 0.0f, D, m, nt, blockwise(D, m, squared));
  } else {
    auto euclidean = [&fx, &fy](float cross, size_t i, size_t j) { return std::sqrt(std::max(fx[i] + fy[j] + cross, 0.0f)); };
    sgemm(Transpose::No, Transpose::Yes, n, m, d, -2.0f, X, d, Y, d, 0.0f, D, m, nt, blockwise(D, m, euclidean));
  }
}

}  // namespace clf
