// Tiled SGEMM for X Y^T with the distance epilogue. Block tile 128 x 128 x 8, 256 threads, 8 x 8 outputs per thread
// held in registers; tiles of X and Y are staged in shared memory transposed (k-major) so that every thread reads
// its 8 rows and 8 columns of a k-slice as float4 pairs.
#include "cuda/cuda_util.cuh"
#include "cuda/distance_cuda.hpp"

namespace clf::cuda {

namespace {

constexpr int kTile = 128;          // rows of X (and of Y) per block
constexpr int kDepth = 8;           // k per shared-memory stage
constexpr int kMicro = 8;           // outputs per thread along each side
constexpr int kThreads = 256;       // (kTile / kMicro)^2
constexpr int kPadded = kTile + 4;  // padding breaks the bank conflicts of the transposed stores; keeps float4 alignment

/**
 * The per-row factor the epilogue needs, from |row|^2 summed in double (one warp per row, lanes striding k, a fixed
 * shuffle tree, so deterministic): |row|^2 as float for the euclidean metrics, 1/|row| as float (0 for a zero row)
 * for cosine; the same roundings as the CPU's distance.cpp.
 */
__global__ void rowFactors(const float* __restrict__ rows, size_t count, size_t d, DistanceMetric metric,
                           float* __restrict__ factors) {
  const size_t row = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const unsigned lane = threadIdx.x % 32;
  if (row >= count) return;
  const float* x = rows + row * d;
  double sum = 0;
  for (size_t k = lane; k < d; k += 32) sum += static_cast<double>(x[k]) * x[k];
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (lane != 0) return;
  if (metric == DistanceMetric::Cosine) factors[row] = sum > 0 ? static_cast<float>(1.0 / sqrt(sum)) : 0.f;
  else factors[row] = static_cast<float>(sum);
}

/** Loads the kTile x kDepth slice [row0.., k0..] of `rows` (count x d) into `tile[k][r]`, zero outside the matrix. */
__device__ void stageTile(const float* __restrict__ rows, size_t count, size_t d, size_t row0, size_t k0,
                          float (*tile)[kPadded]) {
  const int r = threadIdx.x / 2;              // 128 rows, two threads per row
  const int kq = (threadIdx.x % 2) * 4;       // each thread loads 4 consecutive k
  const size_t row = row0 + r;
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const size_t k = k0 + kq + q;
    tile[kq + q][r] = (row < count && k < d) ? rows[row * d + k] : 0.f;
  }
}

/** D_ij from the dot product and the two row factors (see rowFactors), evaluated as distance.cpp does. */
__device__ float distanceFromDot(float dot, float xFactor, float yFactor, DistanceMetric metric) {
  if (metric == DistanceMetric::Cosine) return fminf(fmaxf(1.0f - dot * xFactor * yFactor, 0.f), 2.f);
  const float squared = fmaxf(xFactor + yFactor + -2.0f * dot, 0.f);
  return metric == DistanceMetric::Euclidean ? sqrtf(squared) : squared;
}

__global__ void __launch_bounds__(kThreads) distanceGemm(const float* __restrict__ X, size_t n,
                                                          const float* __restrict__ Y, size_t m, size_t d,
                                                          const float* __restrict__ xFactors,
                                                          const float* __restrict__ yFactors, DistanceMetric metric,
                                                          float* __restrict__ D) {
  __shared__ __align__(16) float xTile[kDepth][kPadded];
  __shared__ __align__(16) float yTile[kDepth][kPadded];
  const size_t row0 = static_cast<size_t>(blockIdx.y) * kTile;
  const size_t col0 = static_cast<size_t>(blockIdx.x) * kTile;
  const int ty = threadIdx.x / (kTile / kMicro);  // this thread's rows: ty*8 .. ty*8+7 of the tile
  const int tx = threadIdx.x % (kTile / kMicro);  // this thread's columns: tx*8 .. tx*8+7

  float acc[kMicro][kMicro] = {};
  for (size_t k0 = 0; k0 < d; k0 += kDepth) {
    stageTile(X, n, d, row0, k0, xTile);
    stageTile(Y, m, d, col0, k0, yTile);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kDepth; ++k) {
      float xs[kMicro], ys[kMicro];
      *reinterpret_cast<float4*>(&xs[0]) = *reinterpret_cast<const float4*>(&xTile[k][ty * kMicro]);
      *reinterpret_cast<float4*>(&xs[4]) = *reinterpret_cast<const float4*>(&xTile[k][ty * kMicro + 4]);
      *reinterpret_cast<float4*>(&ys[0]) = *reinterpret_cast<const float4*>(&yTile[k][tx * kMicro]);
      *reinterpret_cast<float4*>(&ys[4]) = *reinterpret_cast<const float4*>(&yTile[k][tx * kMicro + 4]);
#pragma unroll
      for (int i = 0; i < kMicro; ++i)
#pragma unroll
        for (int j = 0; j < kMicro; ++j) acc[i][j] = fmaf(xs[i], ys[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kMicro; ++i) {
    const size_t row = row0 + ty * kMicro + i;
    if (row >= n) break;
    const float xFactor = xFactors[row];
#pragma unroll
    for (int j = 0; j < kMicro; ++j) {
      const size_t col = col0 + tx * kMicro + j;
      if (col < m) D[row * m + col] = distanceFromDot(acc[i][j], xFactor, yFactors[col], metric);
    }
  }
}

}  // namespace

void pairwiseDistances(const float* X, size_t n, const float* Y, size_t m, size_t d, DistanceMetric metric, float* D) {
  if (n == 0 || m == 0 || d == 0) throw argError("pairwiseDistances (CUDA): n, m and d must all be positive");
  if ((n + kTile - 1) / kTile > 65535) throw argError("pairwiseDistances (CUDA): X has too many rows for one launch");
  detail::useFirstDevice();
  detail::Stream stream;
  detail::DeviceBuffer<float> x(n * d), y(m * d), xFactors(n), yFactors(m), distances(n * m);
  detail::upload(x.get(), X, n * d, stream.get(), "copying X to the GPU");
  detail::upload(y.get(), Y, m * d, stream.get(), "copying Y to the GPU");

  constexpr unsigned factorThreads = 256;  // 8 rows (warps) per block
  rowFactors<<<detail::blocksFor(n * 32, factorThreads), factorThreads, 0, stream.get()>>>(x.get(), n, d, metric,
                                                                                         xFactors.get());
  detail::checkLaunch("rowFactors(X)");
  rowFactors<<<detail::blocksFor(m * 32, factorThreads), factorThreads, 0, stream.get()>>>(y.get(), m, d, metric,
                                                                                         yFactors.get());
  detail::checkLaunch("rowFactors(Y)");

  const dim3 grid(detail::blocksFor(m, kTile), detail::blocksFor(n, kTile));
  distanceGemm<<<grid, kThreads, 0, stream.get()>>>(x.get(), n, y.get(), m, d, xFactors.get(), yFactors.get(), metric,
                                                    distances.get());
  detail::checkLaunch("distanceGemm");
  detail::download(D, distances.get(), n * m, stream.get(), "copying the distances from the GPU");
  stream.synchronize("pairwiseDistances (CUDA)");
}

}  // namespace clf::cuda
