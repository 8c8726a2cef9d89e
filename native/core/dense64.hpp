// Float64 dense algebra for the fitted (regression) maps of the fusion: a product and a symmetric positive definite
// solve, on row-major matrices. Threads split the rows (product) or the right-hand-side columns (solve) only, and
// every element sums its terms in one fixed order (k ascending; the solve's back substitution k descending), so
// results are bit-identical for any thread count. Both run 4 x 8 register tiles over packed panels (dense64.cpp).
#pragma once
#include <cstddef>

namespace clf {

/**
 * C (M x N) = op(A) · B (K x N), row-major, each C[i, j] = sum_k op(A)[i, k] B[k, j] with k ascending; op(A) is A
 * (M x K), or with `transA` the transpose of A stored K x M (a map's T̂ᵀ, read in place).
 */
void dgemm(bool transA, const double* A, const double* B, size_t M, size_t K, size_t N, double* C, int threads);

/**
 * Solves A X = B for X (n x m) in place of B, A (n x n) symmetric positive definite, by Cholesky A = L Lᵀ (L in
 * place of A's lower triangle) and two triangular solves (L Y = B with each row's terms k ascending, then Lᵀ X = Y
 * with k descending). Throws E_SOLVER when A is not positive definite.
 */
void solveSpd(double* A, double* B, size_t n, size_t m, int threads);

}  // namespace clf
