#include "core/gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "core/parallel.hpp"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace clf {

namespace {

constexpr size_t kMcMax = 144;   // rows of A per packed block: 144 x 256 floats = 144 KiB, fits L2
constexpr size_t kKcMax = 256;   // depth of one packed panel
constexpr size_t kNc = 3072;     // columns of B per packed panel: 256 x 3072 floats = 3 MiB, fits L3

/**
 * C[0:rows, 0:cols] += alpha * sum_k a[k*mr + r] * b[k*nr + j] for one mr x nr tile. The vector kernels sum each
 * element's products in k order with one FMA each and add alpha * sum with one more FMA, so they give the same bits.
 */
using MicroKernel = void (*)(size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha, size_t rows,
                             size_t cols);

struct Kernel {
  size_t mr;  // micro-tile rows (broadcast values of A)
  size_t nr;  // micro-tile columns (vector lanes of B)
  MicroKernel run;
};

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
};

/**
 * Copies `count` strided source vectors into the interleaved layout dst[k*width + lane] (k < kc, lane < count) and
 * zeroes lanes count..width-1. Walks whichever way the source is contiguous: lane by lane when each vector is (k
 * stride 1), k by k otherwise, so the reads stream.
 */
void interleave(const float* src, size_t laneStride, size_t kStride, size_t count, size_t width, size_t kc, float* dst) {
  if (kStride == 1) {
    for (size_t lane = 0; lane < count; ++lane) {
      const float* vec = src + lane * laneStride;
      for (size_t k = 0; k < kc; ++k) dst[k * width + lane] = vec[k];
    }
  } else {
    for (size_t k = 0; k < kc; ++k)
      for (size_t lane = 0; lane < count; ++lane) dst[k * width + lane] = src[k * kStride + lane * laneStride];
  }
  for (size_t k = 0; k < kc; ++k)
    for (size_t lane = count; lane < width; ++lane) dst[k * width + lane] = 0.0f;
}

/** Copies rows [i0, i0+mc) x depth [k0, k0+kc) of op(A) into mr-row micro-panels, k-major, zero-padded. */
void packA(const View& a, size_t mr, size_t i0, size_t mc, size_t k0, size_t kc, float* dst) {
  for (size_t ir = 0; ir < mc; ir += mr) {
    interleave(&a.data[(i0 + ir) * a.rowStride + k0 * a.colStride], a.rowStride, a.colStride, std::min(mr, mc - ir), mr,
               kc, dst + ir * kc);
  }
}

/** Copies nr-column micro-panel `panel` of depth [k0, k0+kc) x columns [j0, j0+nc) of op(B), k-major, zero-padded. */
void packBPanel(const View& b, size_t nr, size_t k0, size_t kc, size_t j0, size_t nc, size_t panel, float* dst) {
  size_t jr = panel * nr;
  interleave(&b.data[k0 * b.rowStride + (j0 + jr) * b.colStride], b.colStride, b.rowStride, std::min(nr, nc - jr), nr,
             kc, dst + panel * nr * kc);
}

/** Adds alpha * tile (row-major, row stride nr) to the rows x cols corner of C: the ragged edges of C. */
void addTile(const float* tile, size_t nr, float alpha, float* c, size_t ldc, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j) c[r * ldc + j] = std::fma(alpha, tile[r * nr + j], c[r * ldc + j]);
}

#ifdef __AVX2__
/** 6 x 16: twelve 8-wide accumulators stay in registers. */
void microKernelAvx2(size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha, size_t rows,
                     size_t cols) {
  constexpr size_t mr = 6, nr = 16;
  __m256 acc[mr][2];
#pragma GCC unroll 6
  for (size_t r = 0; r < mr; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (size_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_load_ps(b);
    __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (size_t r = 0; r < mr; ++r) {
      __m256 ar = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += mr;
    b += nr;
  }
  __m256 va = _mm256_set1_ps(alpha);
  if (rows == mr && cols == nr) {
#pragma GCC unroll 6
    for (size_t r = 0; r < mr; ++r) {
      float* cr = c + r * ldc;
      _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, acc[r][0], _mm256_loadu_ps(cr)));
      _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, acc[r][1], _mm256_loadu_ps(cr + 8)));
    }
    return;
  }
  alignas(32) float tile[mr * nr];
  for (size_t r = 0; r < mr; ++r) {
    _mm256_store_ps(tile + r * nr, acc[r][0]);
    _mm256_store_ps(tile + r * nr + 8, acc[r][1]);
  }
  addTile(tile, nr, alpha, c, ldc, rows, cols);
}

#if defined(__GNUC__) && defined(__x86_64__)
#define CLF_GEMM_AVX512 1
/**
 * 12 x 32 for CPUs with AVX-512 (chosen at run time; the build itself targets x86-64-v3): twenty-four 16-wide
 * accumulators, twice the work per instruction of the AVX2 kernel.
 */
__attribute__((target("avx512f"))) void microKernelAvx512(size_t kc, const float* a, const float* b, float* c,
                                                          size_t ldc, float alpha, size_t rows, size_t cols) {
  constexpr size_t mr = 12, nr = 32;
  __m512 acc[mr][2];
#pragma GCC unroll 12
  for (size_t r = 0; r < mr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (size_t k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_load_ps(b);
    __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (size_t r = 0; r < mr; ++r) {
      __m512 ar = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += mr;
    b += nr;
  }
  __m512 va = _mm512_set1_ps(alpha);
  if (rows == mr && cols == nr) {
#pragma GCC unroll 12
    for (size_t r = 0; r < mr; ++r) {
      float* cr = c + r * ldc;
      _mm512_storeu_ps(cr, _mm512_fmadd_ps(va, acc[r][0], _mm512_loadu_ps(cr)));
      _mm512_storeu_ps(cr + 16, _mm512_fmadd_ps(va, acc[r][1], _mm512_loadu_ps(cr + 16)));
    }
    return;
  }
  alignas(64) float tile[mr * nr];
  for (size_t r = 0; r < mr; ++r) {
    _mm512_store_ps(tile + r * nr, acc[r][0]);
    _mm512_store_ps(tile + r * nr + 16, acc[r][1]);
  }
  addTile(tile, nr, alpha, c, ldc, rows, cols);
}
#endif

/** CLAFUSION_GEMM_KERNEL=avx2 keeps the AVX2 kernel on an AVX-512 CPU (the tests use it to compare the two). */
bool avx2Forced() {
  const char* choice = std::getenv("CLAFUSION_GEMM_KERNEL");
  return choice != nullptr && std::string(choice) == "avx2";
}

Kernel selectKernel() {
#ifdef CLF_GEMM_AVX512
  static const bool avx512 = __builtin_cpu_supports("avx512f") && !avx2Forced();
  if (avx512) return {12, 32, microKernelAvx512};
#endif
  return {6, 16, microKernelAvx2};
}
#else
/**
 * Portable 6 x 16 kernel: the same k order, but a separate multiply and add where the CPU has no FMA (std::fma would
 * be a slow library call there), so its bits may differ from the FMA kernels'. Compilers vectorise the j loop.
 */
void microKernelPortable(size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha, size_t rows,
                         size_t cols) {
  constexpr size_t mr = 6, nr = 16;
  float tile[mr * nr] = {};
  for (size_t k = 0; k < kc; ++k) {
    for (size_t r = 0; r < mr; ++r)
      for (size_t j = 0; j < nr; ++j) tile[r * nr + j] += a[r] * b[j];
    a += mr;
    b += nr;
  }
  addTile(tile, nr, alpha, c, ldc, rows, cols);
}

Kernel selectKernel() { return {6, 16, microKernelPortable}; }
#endif

/** C block (mc x nc) += alpha * packedA (mc x kc) * packedB (kc x nc), tile by tile. */
void macroKernel(const Kernel& kernel, size_t mc, size_t nc, size_t kc, float alpha, const float* packedA,
                 const float* packedB, float* c, size_t ldc) {
  for (size_t jr = 0; jr < nc; jr += kernel.nr) {
    const float* bPanel = packedB + jr * kc;
    for (size_t ir = 0; ir < mc; ir += kernel.mr) {
      kernel.run(kc, packedA + ir * kc, bPanel, c + ir * ldc + jr, ldc, alpha, std::min(kernel.mr, mc - ir),
                 std::min(kernel.nr, nc - jr));
    }
  }
}

/** C[r0:r1, c0:c1] *= beta (beta == 0 overwrites, so NaN in C does not survive). */
void scaleC(float beta, float* C, size_t ldc, size_t r0, size_t r1, size_t c0, size_t c1) {
  if (beta == 1.0f) return;
  for (size_t i = r0; i < r1; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f) std::fill(row + c0, row + c1, 0.0f);
    else for (size_t j = c0; j < c1; ++j) row[j] *= beta;
  }
}

/** What every thread's share of one sgemm call needs. */
struct Problem {
  View a, b;
  size_t K;
  size_t kcMax;
  float alpha, beta;
  float* C;
  size_t ldc;
  Kernel kernel;
  const GemmEpilogue& epilogue;
};

/**
 * C[r0:r1, c0:c1] on one thread, in the Goto loop order: columns in NC panels, depth in KC panels (B panel packed
 * once), rows in MC blocks (A block packed once per B panel), then mr x nr tiles.
 */
void gemmRange(const Problem& p, size_t r0, size_t r1, size_t c0, size_t c1, float* packedA, float* packedB) {
  scaleC(p.beta, p.C, p.ldc, r0, r1, c0, c1);
  for (size_t jc = c0; jc < c1; jc += kNc) {
    size_t nc = std::min(kNc, c1 - jc);
    for (size_t pc = 0; pc < p.K; pc += p.kcMax) {
      size_t kc = std::min(p.kcMax, p.K - pc);
      for (size_t panel = 0; panel < ceilDiv(nc, p.kernel.nr); ++panel) packBPanel(p.b, p.kernel.nr, pc, kc, jc, nc, panel, packedB);
      for (size_t ic = r0; ic < r1; ic += kMcMax) {
        size_t rows = std::min(kMcMax, r1 - ic);
        packA(p.a, p.kernel.mr, ic, rows, pc, kc, packedA);
        macroKernel(p.kernel, rows, nc, kc, p.alpha, packedA, packedB, p.C + ic * p.ldc + jc, p.ldc);
        if (pc + kc == p.K && p.epilogue) p.epilogue(ic, jc, rows, nc);
      }
    }
  }
}

/**
 * How C is shared out: one contiguous strip per thread, along the longer side, in whole tiles. Each thread then
 * works alone (no barrier until the end), which matters on a machine shared with other jobs.
 */
struct Split {
  bool byColumns;
  size_t unit;   // strip widths are multiples of this (the tile side)
  size_t units;  // tiles along the split side
  size_t parts;
  /** [begin, end) of strip `part` along the split side of length `extent`. */
  std::pair<size_t, size_t> range(size_t part, size_t extent) const {
    return {std::min(extent, units * part / parts * unit), std::min(extent, units * (part + 1) / parts * unit)};
  }
};

Split chooseSplit(size_t M, size_t N, const Kernel& kernel, int threads) {
  Split split;
  split.byColumns = N >= M;
  split.unit = split.byColumns ? kernel.nr : kernel.mr;
  split.units = ceilDiv(split.byColumns ? N : M, split.unit);
  split.parts = std::min(static_cast<size_t>(threads), split.units);
  return split;
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
  if (K == 0 || alpha == 0.0f) {
    scaleC(beta, C, ldc, 0, M, 0, N);
    if (epilogue) epilogue(0, 0, M, N);
    return;
  }
  Kernel kernel = selectKernel();
  size_t kcMax = chooseKc(K);
  Problem problem{transA == Transpose::No ? View{A, lda, 1} : View{A, 1, lda},
                  transB == Transpose::No ? View{B, ldb, 1} : View{B, 1, ldb},
                  K, kcMax, alpha, beta, C, ldc, kernel, epilogue};
  Split split = chooseSplit(M, N, kernel, resolveThreads(threads));
  // Buffers are allocated here, outside the parallel region, so an allocation failure throws normally.
  // Sizes in whole cache lines, so every packed B starts 64-byte aligned for the aligned vector loads.
  size_t aSize = roundUp(std::min(kMcMax, roundUp(M, kernel.mr)) * kcMax, 16);
  size_t bSize = roundUp(std::min(kNc, roundUp(N, kernel.nr)) * kcMax, 16);
  AlignedFloats buffers = alignedFloats(split.parts * (aSize + bSize));

#pragma omp parallel num_threads(static_cast<int>(split.parts)) if (split.parts > 1)
  {
    // A smaller team than asked for (nested regions, thread limits) takes several strips each.
    auto team = static_cast<size_t>(omp_get_num_threads());
    for (auto part = static_cast<size_t>(omp_get_thread_num()); part < split.parts; part += team) {
      float* packedA = buffers.get() + part * (aSize + bSize);
      float* packedB = packedA + aSize;
      auto [begin, end] = split.range(part, split.byColumns ? N : M);
      if (split.byColumns) gemmRange(problem, 0, M, begin, end, packedA, packedB);
      else gemmRange(problem, begin, end, 0, N, packedA, packedB);
    }
  }
}

}  // namespace clf
