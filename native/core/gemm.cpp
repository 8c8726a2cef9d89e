#include "core/gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "core/parallel.hpp"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace clf {

namespace {

constexpr size_t kMr = 6;        // micro-tile rows (broadcast A values)
constexpr size_t kNr = 16;       // micro-tile columns (two 8-float vectors)
constexpr size_t kMcMax = 144;   // rows of A per packed block: 144 x 256 floats = 144 KiB, fits L2
constexpr size_t kKcMax = 256;   // depth of one packed panel
constexpr size_t kNc = 3072;     // columns of B per packed panel: 256 x 3072 floats = 3 MiB, fits L3

size_t ceilDiv(size_t a, size_t b) { return (a + b - 1) / b; }
size_t roundUp(size_t a, size_t b) { return ceilDiv(a, b) * b; }

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;

AlignedFloats alignedFloats(size_t count) {
  size_t bytes = roundUp(std::max<size_t>(count, 1) * sizeof(float), 64);
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw Error("E_NATIVE", "sgemm: out of memory for packing buffers (" + std::to_string(bytes) + " bytes)");
  return AlignedFloats(p);
}

/** A strided read-only matrix view: element (r, c) is data[r*rowStride + c*colStride]. */
struct View {
  const float* data;
  size_t rowStride;
  size_t colStride;
  float at(size_t r, size_t c) const { return data[r * rowStride + c * colStride]; }
};

/** Copies rows [i0, i0+mc) x depth [k0, k0+kc) of op(A) into MR-row micro-panels, k-major, zero-padded. */
void packA(const View& a, size_t i0, size_t mc, size_t k0, size_t kc, float* dst) {
  for (size_t ir = 0; ir < mc; ir += kMr) {
    size_t rows = std::min(kMr, mc - ir);
    for (size_t k = 0; k < kc; ++k) {
      for (size_t r = 0; r < rows; ++r) dst[r] = a.at(i0 + ir + r, k0 + k);
      for (size_t r = rows; r < kMr; ++r) dst[r] = 0.0f;
      dst += kMr;
    }
  }
}

/** Copies NR-column micro-panel `panel` of depth [k0, k0+kc) x columns [j0, j0+nc) of op(B), k-major, zero-padded. */
void packBPanel(const View& b, size_t k0, size_t kc, size_t j0, size_t nc, size_t panel, float* dst) {
  size_t jr = panel * kNr;
  size_t cols = std::min(kNr, nc - jr);
  dst += panel * kNr * kc;
  for (size_t k = 0; k < kc; ++k) {
    for (size_t c = 0; c < cols; ++c) dst[c] = b.at(k0 + k, j0 + jr + c);
    for (size_t c = cols; c < kNr; ++c) dst[c] = 0.0f;
    dst += kNr;
  }
}

/** Adds alpha * tile (an MR x NR block, row-major) to the rows x cols corner of C. */
void addTile(const float* tile, float alpha, float* c, size_t ldc, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j) c[r * ldc + j] = std::fma(alpha, tile[r * kNr + j], c[r * ldc + j]);
}

#ifdef __AVX2__
/**
 * C[0:rows, 0:cols] += alpha * sum_k a[k*MR + r] * b[k*NR + j]: twelve 8-wide accumulators stay in registers; each
 * element sums its products in k order with one FMA per product.
 */
void microKernel(size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha, size_t rows, size_t cols) {
  __m256 acc[kMr][2];
  for (size_t r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (size_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_load_ps(b);
    __m256 b1 = _mm256_load_ps(b + 8);
    for (size_t r = 0; r < kMr; ++r) {
      __m256 ar = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += kMr;
    b += kNr;
  }
  __m256 va = _mm256_set1_ps(alpha);
  if (rows == kMr && cols == kNr) {
    for (size_t r = 0; r < kMr; ++r) {
      float* cr = c + r * ldc;
      _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, acc[r][0], _mm256_loadu_ps(cr)));
      _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, acc[r][1], _mm256_loadu_ps(cr + 8)));
    }
    return;
  }
  alignas(32) float tile[kMr * kNr];
  for (size_t r = 0; r < kMr; ++r) {
    _mm256_store_ps(tile + r * kNr, acc[r][0]);
    _mm256_store_ps(tile + r * kNr + 8, acc[r][1]);
  }
  addTile(tile, alpha, c, ldc, rows, cols);
}
#else
/** Portable micro-kernel with the same summation order (k ascending per element); compilers vectorise the j loop. */
void microKernel(size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha, size_t rows, size_t cols) {
  float tile[kMr * kNr] = {};
  for (size_t k = 0; k < kc; ++k) {
    for (size_t r = 0; r < kMr; ++r)
      for (size_t j = 0; j < kNr; ++j) tile[r * kNr + j] += a[r] * b[j];
    a += kMr;
    b += kNr;
  }
  addTile(tile, alpha, c, ldc, rows, cols);
}
#endif

/** C block (mc x nc) += alpha * packedA (mc x kc) * packedB (kc x nc), tile by tile. */
void macroKernel(size_t mc, size_t nc, size_t kc, float alpha, const float* packedA, const float* packedB, float* c,
                 size_t ldc) {
  for (size_t jr = 0; jr < nc; jr += kNr) {
    const float* bPanel = packedB + (jr / kNr) * kNr * kc;
    for (size_t ir = 0; ir < mc; ir += kMr) {
      microKernel(kc, packedA + (ir / kMr) * kMr * kc, bPanel, c + ir * ldc + jr, ldc, alpha, std::min(kMr, mc - ir),
                  std::min(kNr, nc - jr));
    }
  }
}

void scaleC(float beta, float* C, size_t ldc, size_t M, size_t N, int threads) {
  if (beta == 1.0f) return;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && M * N > 65536)
  for (size_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f) std::fill(row, row + N, 0.0f);
    else for (size_t j = 0; j < N; ++j) row[j] *= beta;
  }
}

/** Rows per A block: at most kMcMax, a multiple of MR, and (with several threads) a block count divisible by them. */
size_t chooseMc(size_t M, int threads) {
  size_t blocks = ceilDiv(M, kMcMax);
  if (threads > 1) blocks = roundUp(blocks, static_cast<size_t>(threads));
  return roundUp(ceilDiv(M, blocks), kMr);
}

/** Panel depth: at most kKcMax, the panels as even as possible. Depends on K only, so the sum order is fixed. */
size_t chooseKc(size_t K) { return ceilDiv(K, ceilDiv(K, kKcMax)); }

void checkLayout(Transpose transA, Transpose transB, size_t M, size_t N, size_t K, size_t lda, size_t ldb, size_t ldc) {
  size_t needA = transA == Transpose::No ? K : M;
  size_t needB = transB == Transpose::No ? N : K;
  if (lda < std::max<size_t>(needA, 1)) throw argError("sgemm: lda (" + std::to_string(lda) + ") is smaller than op(A)'s stored row length (" + std::to_string(needA) + ")");
  if (ldb < std::max<size_t>(needB, 1)) throw argError("sgemm: ldb (" + std::to_string(ldb) + ") is smaller than op(B)'s stored row length (" + std::to_string(needB) + ")");
  if (ldc < std::max<size_t>(N, 1)) throw argError("sgemm: ldc (" + std::to_string(ldc) + ") is smaller than N (" + std::to_string(N) + ")");
}

}  // namespace

void sgemm(Transpose transA, Transpose transB, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
           const float* B, size_t ldb, float beta, float* C, size_t ldc, int threads, const GemmEpilogue& epilogue) {
  checkLayout(transA, transB, M, N, K, lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  int nt = resolveThreads(threads);
  scaleC(beta, C, ldc, M, N, nt);
  if (K == 0 || alpha == 0.0f) {
    if (epilogue) epilogue(0, 0, M, N);
    return;
  }
  View a = transA == Transpose::No ? View{A, lda, 1} : View{A, 1, lda};
  View b = transB == Transpose::No ? View{B, ldb, 1} : View{B, 1, ldb};
  size_t mc = chooseMc(M, nt);
  size_t kcMax = chooseKc(K);
  size_t ncMax = std::min(kNc, roundUp(N, kNr));
  AlignedFloats packedB = alignedFloats(kcMax * ncMax);
  AlignedFloats packedA = alignedFloats(static_cast<size_t>(nt) * mc * kcMax);
  size_t mBlocks = ceilDiv(M, mc);

  for (size_t jc = 0; jc < N; jc += kNc) {
    size_t nc = std::min(kNc, N - jc);
    size_t bPanels = ceilDiv(nc, kNr);
    for (size_t pc = 0; pc < K; pc += kcMax) {
      size_t kc = std::min(kcMax, K - pc);
      bool lastPanel = pc + kc == K;
#pragma omp parallel num_threads(nt) if (nt > 1)
      {
#pragma omp for schedule(static)
        for (size_t p = 0; p < bPanels; ++p) packBPanel(b, pc, kc, jc, nc, p, packedB.get());
        float* myA = packedA.get() + static_cast<size_t>(omp_get_thread_num()) * mc * kcMax;
#pragma omp for schedule(static)
        for (size_t blk = 0; blk < mBlocks; ++blk) {
          size_t ic = blk * mc;
          size_t rows = std::min(mc, M - ic);
          packA(a, ic, rows, pc, kc, myA);
          macroKernel(rows, nc, kc, alpha, myA, packedB.get(), C + ic * ldc + jc, ldc);
          if (lastPanel && epilogue) epilogue(ic, jc, rows, nc);
        }
      }
    }
  }
}

}  // namespace clf
