// Log-domain Sinkhorn on the GPU, with the CPU solver's options and result (core/sinkhorn.hpp). Plain C++ host API.
#pragma once
#include <cstddef>

#include "core/sinkhorn.hpp"

namespace clf::cuda {

/**
 * Solves min_T <T, M> - ε H(T) s.t. T 1 = a, T^T 1 = b on CUDA device 0, for a float32 cost M (n x m, row-major)
 * and non-negative marginals a (n), b (m) with equal sums; the float32 plan goes to `plan` (n x m).
 *
 * Log-domain iterations on the dual potentials f (n), g (m), kept in double:
 *
 *   g_j <- ε log b_j - ε LSE_i((f_i - M_ij) / ε),   f_i <- ε log a_i - ε LSE_j((g_j - M_ij) / ε),
 *   T_ij = exp((f_i + g_j - M_ij) / ε),
 *
 * each LSE taken with a running maximum, so no exp overflows or underflows whatever ε. After the f step the row
 * sums are exact; after iterations 1, 1 + checkEvery, ... and the last one (the CPU solver's schedule) the error
 * ||colsum(T) - b||_2 of that plan is measured and compared with `tolerance`, as on the CPU. Both LSE directions use one block per row (the
 * column direction on a transposed copy of M, so its reads are coalesced); every reduction runs in a fixed order,
 * so results are bit-identical from run to run. Only the checks wait for the device.
 *
 * `options.reg` is ε itself: `regMode` must be Absolute (resolve Median/Max first with clf::sinkhornEpsilon).
 * `epsilonScaling` and `threads` do not apply here. Fills f, g, iterations, error, converged, cost, epsilon
 * (logSteps = iterations: every step is in the log domain). Throws E_ARG for bad sizes or options, E_SOLVER when
 * the tolerance is not met and `throwOnNonConvergence` is set, or when the error becomes NaN, and E_NATIVE (with
 * CUDA's message) when the device fails or its memory runs out.
 */
SinkhornResult sinkhorn(const double* a, size_t n, const double* b, size_t m, const float* cost, float* plan,
                        const SinkhornOptions& options);

}  // namespace clf::cuda
