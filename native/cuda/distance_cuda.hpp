// Pairwise distances between the rows of two float32 matrices on the GPU. Plain C++ host API (no CUDA types).
#pragma once
#include <cstddef>

#include "core/distance.hpp"

namespace clf::cuda {

/**
 * D (n x m, row-major) with D_ij = dist(x_i, y_j) for the rows x_i of X (n x d) and y_j of Y (m x d), all row-major
 * float32, on CUDA device 0, with the CPU's formulas (core/distance.hpp):
 *
 *   SqEuclidean  D_ij = max(0, |x_i|^2 + |y_j|^2 - 2 <x_i, y_j>)
 *   Euclidean    D_ij = sqrt of the above
 *   Cosine       D_ij = clamp(1 - <x_i, y_j> / (|x_i| |y_j|), 0, 2)    (a zero row is at distance 1 from everything)
 *
 * The squared norms are summed in double and rounded to float, as on the CPU. <x_i, y_j> comes from one tiled
 * shared-memory SGEMM (X Y^T) with the norms applied in its epilogue; every output sums its d products in ascending
 * k order (float32 FMA), so the result is bit-identical from run to run (it differs from the CPU's blocked sums
 * only by float rounding).
 * Throws E_ARG for empty shapes and E_NATIVE (with CUDA's message) when the device fails or memory runs out.
 */
void pairwiseDistances(const float* X, size_t n, const float* Y, size_t m, size_t d, DistanceMetric metric, float* D);

}  // namespace clf::cuda
