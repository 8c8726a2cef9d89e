// Entropic optimal transport (Sinkhorn–Knopp), stabilised so that it never overflows, for float and double costs.
#pragma once
#include <cstddef>
#include <vector>

namespace clf {

/** How `SinkhornOptions::reg` is read: as ε itself, or as a multiple of the cost's median or maximum. */
enum class RegMode { Absolute, Median, Max };

/** ε-scaling: Auto turns it on when the cost range is large against ε (range / ε > kAutoEpsilonScalingRatio). */
enum class EpsilonScaling { Auto, On, Off };

struct SinkhornOptions {
  double reg = 0;
  RegMode regMode = RegMode::Absolute;
  int maxIterations = 10000;
  /** Stop when ||colsum(T) - b||_2 <= tolerance (POT's `stopThr`; the row sums are exact after each iteration). */
  double tolerance = 1e-9;
  int checkEvery = 10;
  EpsilonScaling epsilonScaling = EpsilonScaling::Auto;
  /** <= 0: every core. Problems with fewer than kMinRowsPerThreadedRun rows run on one thread. */
  int threads = 0;
  /** Throw E_SOLVER when maxIterations runs out; otherwise return the partial result with converged = false. */
  bool throwOnNonConvergence = true;
};

struct SinkhornResult {
  /** Dual potentials in cost units: T_ij = exp((f_i + g_j - M_ij) / ε). -inf where the marginal is 0. */
  std::vector<double> f, g;
  int iterations = 0;
  /** ||colsum(T) - b||_2 at the last check. */
  double error = 0;
  bool converged = false;
  /** <T, M>, accumulated in double. */
  double cost = 0;
  /** The absolute ε of the returned plan: the target, unless ε-scaling ran out of iterations before reaching it. */
  double epsilon = 0;
  /** How many iterations ran in the log domain (the start of each ε phase and every absorption). */
  int logSteps = 0;
};

/**
 * Solves min_T <T, M> - ε H(T) s.t. T 1 = a, T^T 1 = b, with M n x m row-major and a, b non-negative with equal
 * sums. The plan (n x m, the cost's precision) is written into `plan`. Throws E_ARG for inconsistent arguments
 * and E_SOLVER when the tolerance is not met in time (unless `throwOnNonConvergence` is false) or when the
 * problem underflows even in the log domain.
 */
template <typename T>
SinkhornResult sinkhorn(const double* a, size_t n, const double* b, size_t m, const T* cost, T* plan,
                        const SinkhornOptions& options);

/** ε for `reg` under `mode`: reg itself, or reg times the median (numpy's: mean of the middle two) or max of M. */
template <typename T>
double sinkhornEpsilon(const T* cost, size_t count, double reg, RegMode mode);

}  // namespace clf
