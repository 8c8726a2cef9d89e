// Log-domain Sinkhorn kernels: one "softmin" pass per direction per iteration, one block per row of M (or of M^T).
#include <cmath>
#include <limits>
#include <string>

#include "cuda/cuda_util.cuh"
#include "cuda/sinkhorn_cuda.hpp"

namespace clf::cuda {

namespace {

constexpr unsigned kRowThreads = 256;  // threads per row block: 8 warps
constexpr unsigned kSumThreads = 1024;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

/** A running log-sum-exp: sum = sum of exp(z - max) over the values seen; max = -inf when none (or all -inf). */
struct RunningLse {
  double max = kNegInf;
  double sum = 0;

  __device__ void add(double z) {
    if (z == kNegInf) return;  // a zero marginal: exp(-inf) adds nothing (and -inf - -inf would be NaN)
    if (z <= max) {
      sum += exp(z - max);
    } else {
      sum = sum * exp(max - z) + 1.0;
      max = z;
    }
  }

  __device__ void merge(const RunningLse& other) {
    if (other.max == kNegInf) return;
    if (max == kNegInf) {
      *this = other;
      return;
    }
    const double top = fmax(max, other.max);
    sum = sum * exp(max - top) + other.sum * exp(other.max - top);
    max = top;
  }

  __device__ double value() const { return max == kNegInf ? kNegInf : max + log(sum); }
};

/** Merges the lanes of a warp into lane 0 along a fixed tree (the same order every run). */
__device__ RunningLse warpMerge(RunningLse lse) {
  for (int offset = 16; offset > 0; offset /= 2) {
    RunningLse other;
    other.max = __shfl_down_sync(0xffffffffu, lse.max, offset);
    other.sum = __shfl_down_sync(0xffffffffu, lse.sum, offset);
    lse.merge(other);
  }
  return lse;
}

/** Merges a block's threads; the result is valid in thread 0. Warps are merged in index order. */
__device__ RunningLse blockMerge(RunningLse lse) {
  __shared__ RunningLse perWarp[kRowThreads / 32];
  lse = warpMerge(lse);
  const unsigned warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) perWarp[warp] = lse;
  __syncthreads();
  if (threadIdx.x != 0) return lse;
  for (unsigned w = 1; w < kRowThreads / 32; ++w) perWarp[0].merge(perWarp[w]);
  return perWarp[0];
}

/**
 * One half-iteration for every row r of K (rows x cols, row-major; K = M for the f step, M^T for the g step):
 *
 *   lse_r = LSE_c((other_c - K_rc) / ε),   next_r = ε log target_r - ε lse_r,
 *
 * and, when `squaredDeviation` is set, the current marginal's squared deviation (exp(own_r / ε + lse_r) - target_r)^2
 * (the marginal of the plan built from `own` and `other`). `next` may alias `own`: each block reads own_r first.
 */
__global__ void __launch_bounds__(kRowThreads) softminStep(const float* __restrict__ K, size_t rows, size_t cols,
                                                           const double* __restrict__ other,
                                                           const double* __restrict__ target, double inverseEps,
                                                           double eps, const double* own, double* next,
                                                           double* __restrict__ squaredDeviation) {
  const size_t r = blockIdx.x;
  const float* row = K + r * cols;
  RunningLse lse;
  for (size_t c = threadIdx.x; c < cols; c += kRowThreads) lse.add((other[c] - static_cast<double>(row[c])) * inverseEps);
  lse = blockMerge(lse);
  if (threadIdx.x != 0) return;
  const double logSum = lse.value();
  if (squaredDeviation != nullptr) {
    const double deviation = exp(own[r] * inverseEps + logSum) - target[r];
    squaredDeviation[r] = deviation * deviation;
  }
  next[r] = eps * (log(target[r]) - logSum);
}

/** out[0] = sum of values[0..count) in a fixed order: strided per-thread sums, then a shared-memory tree. */
__global__ void __launch_bounds__(kSumThreads) orderedSum(const double* __restrict__ values, size_t count,
                                                          double* __restrict__ out) {
  __shared__ double partial[kSumThreads];
  double sum = 0;
  for (size_t i = threadIdx.x; i < count; i += kSumThreads) sum += values[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (unsigned half = kSumThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = partial[0];
}

/** out (cols x rows) = in^T for in (rows x cols), through 32 x 32 shared tiles (both sides coalesced). */
__global__ void transpose(const float* __restrict__ in, size_t rows, size_t cols, float* __restrict__ out) {
  __shared__ float tile[32][33];
  const size_t c0 = static_cast<size_t>(blockIdx.x) * 32, r0 = static_cast<size_t>(blockIdx.y) * 32;
  for (unsigned dy = threadIdx.y; dy < 32; dy += blockDim.y) {
    const size_t r = r0 + dy, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[dy][threadIdx.x] = in[r * cols + c];
  }
  __syncthreads();
  for (unsigned dy = threadIdx.y; dy < 32; dy += blockDim.y) {
    const size_t c = c0 + dy, r = r0 + threadIdx.x;
    if (r < rows && c < cols) out[c * rows + r] = tile[threadIdx.x][dy];
  }
}

/** T_ij = exp((f_i + g_j - M_ij) / ε) as float, and rowCost_i = sum_j T_ij M_ij in double (one block per row). */
__global__ void __launch_bounds__(kRowThreads) buildPlan(const float* __restrict__ M, size_t cols,
                                                         const double* __restrict__ f, const double* __restrict__ g,
                                                         double inverseEps, float* __restrict__ plan,
                                                         double* __restrict__ rowCost) {
  __shared__ double partial[kRowThreads];
  const size_t r = blockIdx.x;
  const double fr = f[r];
  double cost = 0;
  for (size_t c = threadIdx.x; c < cols; c += kRowThreads) {
    const float mass = static_cast<float>(exp((fr + g[c] - static_cast<double>(M[r * cols + c])) * inverseEps));
    plan[r * cols + c] = mass;
    cost += static_cast<double>(mass) * M[r * cols + c];
  }
  partial[threadIdx.x] = cost;
  __syncthreads();
  for (unsigned half = kRowThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) rowCost[r] = partial[0];
}

void checkOptions(size_t n, size_t m, const SinkhornOptions& options) {
  if (n == 0 || m == 0) throw argError("sinkhorn (CUDA): the cost matrix must have at least one row and one column");
  if (n > 0x7fffffffu || m > 0x7fffffffu) throw argError("sinkhorn (CUDA): too many rows or columns for one launch");
  if (options.regMode != RegMode::Absolute) throw argError("sinkhorn (CUDA): reg must be absolute (resolve Median/Max first)");
  if (!(options.reg > 0) || !std::isfinite(options.reg)) throw argError("sinkhorn (CUDA): reg must be a finite number > 0");
  if (options.maxIterations < 1) throw argError("sinkhorn (CUDA): maxIterations must be >= 1");
  if (options.checkEvery < 1) throw argError("sinkhorn (CUDA): checkEvery must be >= 1");
  if (!(options.tolerance >= 0)) throw argError("sinkhorn (CUDA): tolerance must be >= 0");
}

/** Device state of one solve: M, M^T, the marginals, the potentials (g double-buffered) and scratch vectors. */
struct Problem {
  Problem(size_t n, size_t m)
      : n(n), m(m), cost(n * m), costT(n * m), a(n), b(m), f(n), g(m), gNext(m), squaredDeviation(m), rowCost(n), scalar(1) {}
  size_t n, m;
  detail::DeviceBuffer<float> cost, costT;
  detail::DeviceBuffer<double> a, b, f, g, gNext, squaredDeviation, rowCost, scalar;
};

/** f step (rows exact afterwards): f <- ε log a - ε LSE_j((g_j - M_ij) / ε). */
void rowStep(Problem& p, double eps, cudaStream_t stream) {
  softminStep<<<static_cast<unsigned>(p.n), kRowThreads, 0, stream>>>(p.cost.get(), p.n, p.m, p.g.get(), p.a.get(),
                                                                       1.0 / eps, eps, p.f.get(), p.f.get(), nullptr);
  detail::checkLaunch("softminStep (rows)");
}

/** g step into gNext; with `measure`, also the squared column deviations of the plan (f, g) before the step. */
void columnStep(Problem& p, double eps, bool measure, cudaStream_t stream) {
  softminStep<<<static_cast<unsigned>(p.m), kRowThreads, 0, stream>>>(
      p.costT.get(), p.m, p.n, p.f.get(), p.b.get(), 1.0 / eps, eps, p.g.get(), p.gNext.get(),
      measure ? p.squaredDeviation.get() : nullptr);
  detail::checkLaunch("softminStep (columns)");
}

/** Sum of `count` device doubles in a fixed order, brought to the host (this is the only wait per check). */
double sumOnDevice(Problem& p, const double* values, size_t count, cudaStream_t stream, const char* what) {
  orderedSum<<<1, kSumThreads, 0, stream>>>(values, count, p.scalar.get());
  detail::checkLaunch("orderedSum");
  double sum = 0;
  detail::download(&sum, p.scalar.get(), 1, stream, what);
  detail::check(cudaStreamSynchronize(stream), what);
  return sum;
}

/**
 * Runs the iterations and returns (iterations, error, converged). Each iteration is a g step then an f step;
 * on a check iteration the next g step is run at once with `measure`, which gives ||colsum(T) - b||_2 of the
 * plan (f, g) just reached, and is kept as the next iteration's g step when the solve goes on.
 */
void iterate(Problem& p, const SinkhornOptions& options, cudaStream_t stream, SinkhornResult& result) {
  const double eps = options.reg;
  bool gStepDone = false;  // gNext already holds the next g step (computed by the last check)
  for (int iteration = 1; iteration <= options.maxIterations; ++iteration) {
    if (!gStepDone) columnStep(p, eps, false, stream);
    p.g.swap(p.gNext);
    rowStep(p, eps, stream);
    gStepDone = false;
    // The CPU solver's schedule: after iterations 1, 1 + checkEvery, ... and the last one.
    if ((iteration - 1) % options.checkEvery != 0 && iteration != options.maxIterations) continue;
    columnStep(p, eps, true, stream);
    gStepDone = true;
    result.iterations = iteration;
    result.error = std::sqrt(sumOnDevice(p, p.squaredDeviation.get(), p.m, stream, "sinkhorn (CUDA): error check"));
    if (std::isnan(result.error)) {
      throw solverError("sinkhorn (CUDA): the marginal error became NaN after " + std::to_string(iteration) +
                        " iterations; check the cost and marginals for NaN or infinite values");
    }
    if (result.error <= options.tolerance) {
      result.converged = true;
      return;
    }
  }
}

}  // namespace

SinkhornResult sinkhorn(const double* a, size_t n, const double* b, size_t m, const float* cost, float* plan,
                        const SinkhornOptions& options) {
  checkOptions(n, m, options);
  detail::useFirstDevice();
  detail::Stream stream;
  const cudaStream_t s = stream.get();
  Problem p(n, m);
  detail::upload(p.cost.get(), cost, n * m, s, "copying the cost to the GPU");
  detail::upload(p.a.get(), a, n, s, "copying a to the GPU");
  detail::upload(p.b.get(), b, m, s, "copying b to the GPU");
  detail::check(cudaMemsetAsync(p.f.get(), 0, n * sizeof(double), s), "cudaMemset(f)");
  detail::check(cudaMemsetAsync(p.g.get(), 0, m * sizeof(double), s), "cudaMemset(g)");
  transpose<<<dim3(detail::blocksFor(m, 32), detail::blocksFor(n, 32)), dim3(32, 8), 0, s>>>(p.cost.get(), n, m,
                                                                                          p.costT.get());
  detail::checkLaunch("transpose");

  SinkhornResult result;
  result.epsilon = options.reg;
  iterate(p, options, s, result);
  result.logSteps = result.iterations;

  // M^T is no longer needed: its memory holds the plan.
  float* devicePlan = p.costT.get();
  buildPlan<<<static_cast<unsigned>(n), kRowThreads, 0, s>>>(p.cost.get(), m, p.f.get(), p.g.get(), 1.0 / options.reg,
                                                             devicePlan, p.rowCost.get());
  detail::checkLaunch("buildPlan");
  result.cost = sumOnDevice(p, p.rowCost.get(), n, s, "sinkhorn (CUDA): transport cost");
  result.f.resize(n);
  result.g.resize(m);
  detail::download(plan, devicePlan, n * m, s, "copying the plan from the GPU");
  detail::download(result.f.data(), p.f.get(), n, s, "copying f from the GPU");
  detail::download(result.g.data(), p.g.get(), m, s, "copying g from the GPU");
  stream.synchronize("sinkhorn (CUDA)");

  if (!result.converged && options.throwOnNonConvergence) {
    throw solverError("sinkhorn (CUDA): the marginal error is " + std::to_string(result.error) + " after " +
                      std::to_string(result.iterations) + " iterations, above the tolerance " +
                      std::to_string(options.tolerance) + "; raise maxIterations or reg, or loosen the tolerance");
  }
  return result;
}

}  // namespace clf::cuda
