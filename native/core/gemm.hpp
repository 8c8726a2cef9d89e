// Single-precision GEMM on row-major matrices:  C = alpha * op(A) * op(B) + beta * C.
//
// Blocked in the usual three levels (NC columns of B in L3, KC x NC panel packed, MC x KC block of A packed into
// L2) around a register-blocked micro-kernel: 12 x 32 with AVX-512 when the CPU has it (picked at run time), 6 x 16
// with AVX2/FMA, a portable loop without AVX2. Threads split the M x N tiles only, and every element of C sums its
// K products in the same fixed order (k ascending inside panels of a fixed depth, panels ascending), so the result
// is bit-identical for any thread count, and the AVX-512 and AVX2 kernels (one FMA per product) agree bit for bit.
#pragma once
#include <cstddef>
#include <functional>

namespace clf {

enum class Transpose { No, Yes };

/**
 * Runs on a finished block of C (rows [row0, row0+rows), columns [col0, col0+cols)) right after its last K panel,
 * while the block is still in cache. Blocks are disjoint and may be handed to different threads at once.
 */
using GemmEpilogue = std::function<void(size_t row0, size_t col0, size_t rows, size_t cols)>;

/**
 * C (M x N, row stride ldc) = alpha * op(A) * op(B) + beta * C, all row-major.
 *   op(A) is M x K: A[i*lda + k] when transA is No, A[k*lda + i] (A stored K x M) when Yes.
 *   op(B) is K x N: B[k*ldb + j] when transB is No, B[j*ldb + k] (B stored N x K) when Yes.
 * beta == 0 overwrites C without reading it (NaN in C does not propagate). K == 0 gives C = beta * C.
 * `threads` <= 0 means all cores. `epilogue`, when set, is called once per finished block of C.
 */
void sgemm(Transpose transA, Transpose transB, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
           const float* B, size_t ldb, float beta, float* C, size_t ldc, int threads,
           const GemmEpilogue& epilogue = nullptr);

}  // namespace clf
