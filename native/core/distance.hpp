// Pairwise distances between the rows of X (n x d) and Y (m x d), float32, through the GEMM with a fused epilogue.
#pragma once
#include <cstddef>

namespace clf {

enum class DistanceMetric {
  SqEuclidean,  // |x|^2 + |y|^2 - 2 x.y, clamped at 0 (rounding can push it slightly below)
  Euclidean,    // sqrt of the above
  Cosine,       // 1 - x.y / (|x| |y|), clamped to [0, 2]; a zero row is at distance 1 from everything
};

/**
 * D[i*m + j] = dist(X[i,:], Y[j,:]) for row-major X (n x d), Y (m x d), D (n x m).
 * The cross term x.y comes from sgemm (deterministic for any thread count); the row norms are summed in double;
 * the norms are added (and the root / normalisation taken) per block of D while it is still in cache.
 */
void pairwiseDistances(const float* X, size_t n, const float* Y, size_t m, size_t d, DistanceMetric metric, float* D,
                       int threads);

}  // namespace clf
