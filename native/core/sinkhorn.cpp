// Sinkhorn–Knopp with absorption (Schmitzer 2019, "Stabilized sparse scaling algorithms for entropy regularized
// transport problems", §3) and ε-scaling.
//
// The plan is kept as T_ij = u_i K̃_ij v_j with K̃_ij = exp((f_i + g_j - M_ij) / ε), f and g in double.
// A scaling iteration is one fused pass over K̃ (stored in the output buffer, in the cost's precision):
//     u_i = a_i / Σ_j K̃_ij v_j                      (row dots, 4 rows at a time)
//     c_j = Σ_i K̃_ij u_i                            (column sums, while the rows are still in cache)
//     error = ||v ⊙ c - b||_2,  v_j = b_j / c_j      (the error of POT's `stopThr` comes for free)
// Sums are double (float costs: row dots in float within 64-column chunks, see kSingleDotChunk; the column sums
// and the error always in double). When u or v leaves [1/τ, τ] (relative to a, b) or a row sum underflows, the next
// iteration is a log-domain step instead: v is absorbed into g (g += ε log v, v = 1), then per row
//     f_i = -max_j (g_j - M_ij),  K̃_ij = exp((f_i + g_j - M_ij) / ε) <= 1,  u_i = a_i / Σ_j K̃_ij
// which is an exact soft-min row update that cannot overflow (every row of K̃ holds a 1). Each ε phase starts
// with such a step, so K̃ is recomputed only at phase starts and absorptions; the other iterations cost two
// FMAs per element.

// GCC if-converts (and so vectorises) the clamps in expUpTo709 only without trapping math; nothing here reads
// floating-point exception flags. It must come before every include: GCC does not inline across functions
// compiled under different optimisation options (std::max & co. would become calls).
#pragma GCC optimize("no-trapping-math")

#include "core/sinkhorn.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"

#include "core/sinkhorn_exp.hpp"

namespace clf {

namespace {

/** Below this many rows one iteration takes a few µs, comparable to an OpenMP fork/join: run on one thread. */
constexpr size_t kMinRowsPerThreadedRun = 512;
/** Rows per column-sum part, and the most parts: the partition depends on n alone, never on the thread count, so
 *  the per-part column sums, added in part order, give the same bits for any thread count. Small parts keep many
 *  cores busy (n = 512 already has 4); adding the parts' sums costs parts x m per iteration, under 2 % of n x m. */
constexpr size_t kRowsPerPart = 128;
constexpr size_t kMaxParts = 32;

/** Row parts of an n-row problem: one below the threading threshold, else n / 128 capped at 32. */
int rowParts(size_t n) {
  return n < kMinRowsPerThreadedRun ? 1 : static_cast<int>(std::min(kMaxParts, n / kRowsPerPart));
}
/** Auto ε-scaling starts when (max M - min M) / ε exceeds this. */
constexpr double kAutoEpsilonScalingRatio = 200;
/** ε-scaling: ε_{k+1} = kEpsilonDecay ε_k from (max M - min M) down to the target ε. */
constexpr double kEpsilonDecay = 0.5;
/** Intermediate ε phases stop at this error relative to ||b||_2: they only warm-start the next phase. */
constexpr double kPhaseRelativeTolerance = 1e-2;
constexpr double kInf = std::numeric_limits<double>::infinity();
/**
 * Float row dots Σ_j K̃_ij v_j run in float over chunks of this many columns, the chunk sums in double. A double
 * dot is bound by float -> double conversions (one per element); a float one over the whole row would put a
 * ~1e-7·sqrt(m) relative error on u. Chunked, u is good to ~1e-8 relative: the plan's row sums are off by about
 * its own float32 rounding, while the column sums (double, from the u actually used) and so the stopping error
 * stay exact.
 */
constexpr size_t kSingleDotChunk = 64;

/** τ (scalings beyond [1/τ, τ] × the marginal are absorbed) and the smallest K̃ entry kept, per precision. */
template <typename T>
struct Stability;
template <>
struct Stability<float> {
  // K̃ entries below 1e-37 are flushed to 0 (no float subnormals); with u, v <= 1e8 the mass lost is < 1e-21.
  static constexpr double scalingBound = 1e8;
  static constexpr double smallestEntry = 1e-37;
};
template <>
struct Stability<double> {
  static constexpr double scalingBound = 1e50;
  static constexpr double smallestEntry = 0;  // expUpTo709 already returns 0 below e^-708
};

/** `value` in %.3g form (std::to_string prints small errors as 0.000000). */
std::string shortNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", value);
  return text;
}

template <typename T>
class Solver {
 public:
  Solver(const double* a, size_t n, const double* b, size_t m, const T* cost, T* kernel, int threads)
      : a_(a), b_(b), cost_(cost), kernel_(kernel), n_(n), m_(m),
        parts_(rowParts(n)),
        threads_(std::min(parts_, resolveThreads(threads))),
        f_(n, 0.0), g_(m, 0.0), u_(n, 0.0), v_(m, 0.0), colsum_(m, 0.0),
        partials_(parts_ > 1 ? static_cast<size_t>(parts_) * m : 0),
        vSingle_(std::is_same_v<T, float> ? m : 0) {}

  /** Runs the ε schedule from g = columnMinima (the c-transform of f = 0: every row and column of the first
   *  K̃ then holds a 1). */
  SinkhornResult solve(const std::vector<double>& epsilons, std::vector<double> columnMinima, const SinkhornOptions& options);

 private:
  bool scalingRows(size_t begin, size_t end, double* colsum);
  bool scalingRowBlock4(size_t i, double* colsum);
  bool scalingRow(size_t i, double* colsum);
  bool logRows(size_t begin, size_t end, double* colsum);
  template <typename RowsFn>
  bool sweep(RowsFn rows);
  size_t rowBegin(int part) const;
  double rowScaling(size_t i, double rowSum, bool& ok) const;

  void initialisePotentials(std::vector<double> columnMinima);
  void absorbColumnScalings();
  void logStep();
  bool scalingStep();
  bool rowScalingsOutOfRange() const;
  double marginalError() const;
  bool updateColumnScalings();
  void writePlan(SinkhornResult& result);
  bool runPhase(double tolerance, const SinkhornOptions& options, int& iteration, SinkhornResult& result);

  const double* a_;
  const double* b_;
  const T* cost_;
  T* kernel_;  // K̃ during the iterations, the plan at the end
  size_t n_, m_;
  int parts_;    // row parts (rowParts(n)): fixed by n, so the results do not depend on the thread count
  int threads_;  // at most parts_
  double epsilon_ = 0;
  std::vector<double> f_, g_, u_, v_, colsum_;
  std::vector<double> partials_;  // per-part column sums, combined in part order
  std::vector<float> vSingle_;     // v rounded to float, for the float row dots
};

/** Rows of part `part` of parts_: contiguous, boundaries on multiples of 4 so the 4-row blocks are the same for
 *  every partition. */
template <typename T>
size_t Solver<T>::rowBegin(int part) const {
  if (part >= parts_) return n_;
  return (n_ / 4 * static_cast<size_t>(part) / static_cast<size_t>(parts_)) * 4;
}

/** Runs rows(begin, end, colsum) over all rows, in parallel over row parts; colsum_ gets the column sums. */
template <typename T>
template <typename RowsFn>
bool Solver<T>::sweep(RowsFn rows) {
  if (parts_ == 1) {
    std::fill(colsum_.begin(), colsum_.end(), 0.0);
    return rows(0, n_, colsum_.data());
  }
  bool ok = true;
#pragma omp parallel num_threads(threads_) reduction(&& : ok) if (threads_ > 1)
  {
    // The team may be smaller than asked for (thread limits): each member takes every team-th part.
    const int team = omp_get_num_threads();
    for (int part = omp_get_thread_num(); part < parts_; part += team) {
      double* partial = partials_.data() + static_cast<size_t>(part) * m_;
      std::fill(partial, partial + m_, 0.0);
      ok = rows(rowBegin(part), rowBegin(part + 1), partial) && ok;
    }
  }
  for (size_t j = 0; j < m_; ++j) {
    double sum = 0;
    for (int part = 0; part < parts_; ++part) sum += partials_[static_cast<size_t>(part) * m_ + j];
    colsum_[j] = sum;
  }
  return ok;
}

/** u_i = a_i / rowSum; ok becomes false when that is not a finite number (the row underflowed). */
template <typename T>
double Solver<T>::rowScaling(size_t i, double rowSum, bool& ok) const {
  if (a_[i] == 0) return 0;
  const double scaling = a_[i] / rowSum;
  if (!std::isfinite(scaling)) ok = false;
  return scaling;
}

template <typename T>
bool Solver<T>::scalingRowBlock4(size_t i, double* colsum) {
  const T* k0 = kernel_ + i * m_;
  const T* k1 = k0 + m_;
  const T* k2 = k1 + m_;
  const T* k3 = k2 + m_;
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  if constexpr (std::is_same_v<T, float>) {
    const float* v = vSingle_.data();
    for (size_t chunk = 0; chunk < m_; chunk += kSingleDotChunk) {
      const size_t end = std::min(m_, chunk + kSingleDotChunk);
      float p0 = 0, p1 = 0, p2 = 0, p3 = 0;
#pragma omp simd reduction(+ : p0, p1, p2, p3)
      for (size_t j = chunk; j < end; ++j) {
        p0 += k0[j] * v[j];
        p1 += k1[j] * v[j];
        p2 += k2[j] * v[j];
        p3 += k3[j] * v[j];
      }
      s0 += p0;
      s1 += p1;
      s2 += p2;
      s3 += p3;
    }
  } else {
    const double* v = v_.data();
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (size_t j = 0; j < m_; ++j) {
      s0 += k0[j] * v[j];
      s1 += k1[j] * v[j];
      s2 += k2[j] * v[j];
      s3 += k3[j] * v[j];
    }
  }
  bool ok = true;
  const double u0 = u_[i] = rowScaling(i, s0, ok);
  const double u1 = u_[i + 1] = rowScaling(i + 1, s1, ok);
  const double u2 = u_[i + 2] = rowScaling(i + 2, s2, ok);
  const double u3 = u_[i + 3] = rowScaling(i + 3, s3, ok);
  // In double even for float K̃: a float combination would round u to float, and once u moved by less than a
  // float ulp the measured error would drop to 0 while the true one stays ~1e-8 (a false convergence).
  // One cache line per row and step; the next block's rows are prefetched meanwhile, so its row dots (which
  // otherwise wait on L3 / memory) overlap with this compute-bound pass (~5-8 % at n = 1024-2048).
  constexpr size_t kLine = 64 / sizeof(T);
  const T* next = k3 + m_;
  const bool prefetchNext = i + 8 <= n_;
  for (size_t line = 0; line < m_; line += kLine) {
    if (prefetchNext) {
      __builtin_prefetch(next + line, 0, 2);
      __builtin_prefetch(next + m_ + line, 0, 2);
      __builtin_prefetch(next + 2 * m_ + line, 0, 2);
      __builtin_prefetch(next + 3 * m_ + line, 0, 2);
    }
    const size_t end = std::min(m_, line + kLine);
#pragma omp simd
    for (size_t j = line; j < end; ++j) {
      colsum[j] += static_cast<double>(k0[j]) * u0 + static_cast<double>(k1[j]) * u1 +
                   static_cast<double>(k2[j]) * u2 + static_cast<double>(k3[j]) * u3;
    }
  }
  return ok;
}

template <typename T>
bool Solver<T>::scalingRow(size_t i, double* colsum) {
  const T* k = kernel_ + i * m_;
  double s = 0;
  if constexpr (std::is_same_v<T, float>) {
    for (size_t chunk = 0; chunk < m_; chunk += kSingleDotChunk) {
      const size_t end = std::min(m_, chunk + kSingleDotChunk);
      float p = 0;
#pragma omp simd reduction(+ : p)
      for (size_t j = chunk; j < end; ++j) p += k[j] * vSingle_[j];
      s += p;
    }
  } else {
#pragma omp simd reduction(+ : s)
    for (size_t j = 0; j < m_; ++j) s += k[j] * v_[j];
  }
  bool ok = true;
  const double u = u_[i] = rowScaling(i, s, ok);
#pragma omp simd
  for (size_t j = 0; j < m_; ++j) colsum[j] += static_cast<double>(k[j]) * u;
  return ok;
}

template <typename T>
bool Solver<T>::scalingRows(size_t begin, size_t end, double* colsum) {
  bool ok = true;
  size_t i = begin;
  for (; i + 4 <= end; i += 4) ok = scalingRowBlock4(i, colsum) && ok;
  for (; i < end; ++i) ok = scalingRow(i, colsum) && ok;
  return ok;
}

/** The log-domain row step (see the file comment). Rows of zero mass get f_i = -inf, u_i = 0, K̃ row 0. */
template <typename T>
bool Solver<T>::logRows(size_t begin, size_t end, double* colsum) {
  const double inverseEpsilon = 1.0 / epsilon_;
  const double* g = g_.data();
  for (size_t i = begin; i < end; ++i) {
    const T* c = cost_ + i * m_;
    T* k = kernel_ + i * m_;
    if (a_[i] == 0) {
      std::fill(k, k + m_, T(0));
      f_[i] = -kInf;
      u_[i] = 0;
      continue;
    }
    double best = -kInf;
#pragma omp simd reduction(max : best)
    for (size_t j = 0; j < m_; ++j) best = std::max(best, g[j] - static_cast<double>(c[j]));
    double rowSum = 0;
#pragma omp simd reduction(+ : rowSum)
    for (size_t j = 0; j < m_; ++j) {
      const double entry = detail::expUpTo709((g[j] - static_cast<double>(c[j]) - best) * inverseEpsilon);
      const T stored = entry < Stability<T>::smallestEntry ? T(0) : static_cast<T>(entry);
      k[j] = stored;
      rowSum += static_cast<double>(stored);
    }
    f_[i] = -best;
    const double u = u_[i] = a_[i] / rowSum;  // rowSum >= 1: the maximising column contributes exp(0)
#pragma omp simd
    for (size_t j = 0; j < m_; ++j) colsum[j] += static_cast<double>(k[j]) * u;
  }
  return true;
}

/** g_j = min_i M_ij, v = 1; columns of zero mass get g = -inf, v = 0 (they carry no plan entries). */
template <typename T>
void Solver<T>::initialisePotentials(std::vector<double> columnMinima) {
  g_ = std::move(columnMinima);
  for (size_t j = 0; j < m_; ++j) {
    if (b_[j] == 0) g_[j] = -kInf;
    v_[j] = b_[j] == 0 ? 0.0 : 1.0;
  }
}

/** g += ε log v, v = 1 (columns of zero mass keep g = -inf, v = 0). */
template <typename T>
void Solver<T>::absorbColumnScalings() {
  for (size_t j = 0; j < m_; ++j) {
    if (b_[j] == 0) continue;
    g_[j] += epsilon_ * std::log(v_[j]);
    v_[j] = 1;
  }
}

template <typename T>
bool Solver<T>::scalingStep() {
  if constexpr (std::is_same_v<T, float>) std::copy(v_.begin(), v_.end(), vSingle_.begin());
  return sweep([this](size_t begin, size_t end, double* colsum) { return scalingRows(begin, end, colsum); });
}

template <typename T>
void Solver<T>::logStep() {
  absorbColumnScalings();
  sweep([this](size_t begin, size_t end, double* colsum) { return logRows(begin, end, colsum); });
}

template <typename T>
bool Solver<T>::rowScalingsOutOfRange() const {
  const double bound = Stability<T>::scalingBound;
  for (size_t i = 0; i < n_; ++i) {
    if (a_[i] > 0 && (u_[i] > bound * a_[i] || u_[i] * bound < a_[i])) return true;
  }
  return false;
}

/** ||v ⊙ c - b||_2: the column marginal error of the current plan (its rows are exact). */
template <typename T>
double Solver<T>::marginalError() const {
  double sum = 0;
  for (size_t j = 0; j < m_; ++j) {
    const double difference = v_[j] * colsum_[j] - b_[j];
    sum += difference * difference;
  }
  return std::sqrt(sum);
}

/** v_j = b_j / c_j; returns true when some v_j left [1/τ, τ] × b_j, so the next iteration must absorb it. */
template <typename T>
bool Solver<T>::updateColumnScalings() {
  const double bound = Stability<T>::scalingBound;
  bool outOfRange = false;
  for (size_t j = 0; j < m_; ++j) {
    if (b_[j] == 0) continue;
    if (!(colsum_[j] > 0)) {
      throw solverError("sinkhorn: column " + std::to_string(j) + " of the plan underflowed to 0 at ε = " +
                        shortNumber(epsilon_) + "; increase reg, turn epsilonScaling on, or pass a Float64 cost");
    }
    v_[j] = b_[j] / colsum_[j];
    if (v_[j] > bound * b_[j] || v_[j] * bound < b_[j]) outOfRange = true;
  }
  return outOfRange;
}

/** The plan u_i K̃_ij v_j in place, <T, M> (per-row sums added in row order), and the potentials with u, v folded in. */
template <typename T>
void Solver<T>::writePlan(SinkhornResult& result) {
  std::vector<double> rowCost(n_, 0.0);
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (size_t i = 0; i < n_; ++i) {
    T* k = kernel_ + i * m_;
    const T* c = cost_ + i * m_;
    const double u = u_[i];
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (size_t j = 0; j < m_; ++j) {
      const T entry = static_cast<T>(u * static_cast<double>(k[j]) * v_[j]);
      k[j] = entry;
      sum += static_cast<double>(entry) * static_cast<double>(c[j]);
    }
    rowCost[i] = sum;
  }
  result.cost = 0;
  for (double c : rowCost) result.cost += c;
  result.f.resize(n_);
  result.g.resize(m_);
  for (size_t i = 0; i < n_; ++i) result.f[i] = a_[i] == 0 ? -kInf : f_[i] + epsilon_ * std::log(u_[i]);
  for (size_t j = 0; j < m_; ++j) result.g[j] = b_[j] == 0 ? -kInf : g_[j] + epsilon_ * std::log(v_[j]);
}

/** Iterates at the current ε until the error is <= tolerance (true) or `iteration` reaches maxIterations. */
template <typename T>
bool Solver<T>::runPhase(double tolerance, const SinkhornOptions& options, int& iteration, SinkhornResult& result) {
  bool needLogStep = true;  // K̃ is (re)built for this ε
  for (int phaseIteration = 0; iteration < options.maxIterations; ++phaseIteration) {
    const bool scaled = !needLogStep && scalingStep();
    if (!scaled) {
      logStep();
      ++result.logSteps;
    }
    needLogStep = rowScalingsOutOfRange();
    ++iteration;
    if (phaseIteration % options.checkEvery == 0 || iteration == options.maxIterations) {
      result.error = marginalError();
      if (result.error <= tolerance) return true;  // v stays: the plan u K̃ v has exact rows and this column error
    }
    if (iteration == options.maxIterations) break;  // keep the plan whose error was just measured
    needLogStep = updateColumnScalings() || needLogStep;
  }
  return false;
}

template <typename T>
SinkhornResult Solver<T>::solve(const std::vector<double>& epsilons, std::vector<double> columnMinima,
                                 const SinkhornOptions& options) {
  SinkhornResult result;
  double bNorm = 0;
  for (size_t j = 0; j < m_; ++j) bNorm += b_[j] * b_[j];
  bNorm = std::sqrt(bNorm);
  initialisePotentials(std::move(columnMinima));
  int iteration = 0;
  for (size_t phase = 0; phase < epsilons.size(); ++phase) {
    const bool lastPhase = phase + 1 == epsilons.size();
    if (phase > 0) {
      if (iteration == options.maxIterations) break;  // no iteration left for the next ε: keep this phase's plan
      absorbColumnScalings();                         // under the old ε, before it changes
    }
    epsilon_ = epsilons[phase];
    const double tolerance = lastPhase ? options.tolerance : std::max(options.tolerance, kPhaseRelativeTolerance * bNorm);
    const bool phaseDone = runPhase(tolerance, options, iteration, result);
    result.converged = phaseDone && lastPhase;
    if (!phaseDone) break;
  }
  result.iterations = iteration;
  result.epsilon = epsilon_;
  if (!result.converged && options.throwOnNonConvergence) {
    throw solverError("sinkhorn did not converge: marginal error " + shortNumber(result.error) + " > tolerance " +
                      shortNumber(options.tolerance) + " after " + std::to_string(iteration) +
                      " iterations; raise maxIterations or reg, loosen tolerance, or pass throwOnNonConvergence: false "
                      "to get the partial plan");
  }
  writePlan(result);
  return result;
}

/** The ε schedule: just ε, or (with ε-scaling) range, range/2, ..., down to ε. */
std::vector<double> epsilonSchedule(double epsilon, double costRange, EpsilonScaling mode) {
  const bool scale = mode == EpsilonScaling::On ||
                     (mode == EpsilonScaling::Auto && costRange > kAutoEpsilonScalingRatio * epsilon);
  std::vector<double> schedule;
  if (scale) {
    for (double phase = costRange; phase > epsilon; phase *= kEpsilonDecay) schedule.push_back(phase);
  }
  schedule.push_back(epsilon);
  return schedule;
}

/** What one pass over M yields: its range (for the ε schedule) and its column minima (the initial g). */
struct CostScan {
  double range = 0;
  std::vector<double> columnMinima;
};

/** The CostScan of M; throws E_ARG when M holds a NaN or an infinity (checked here, in one vectorised pass,
 *  rather than in TypeScript, where the loop over n x m values costs as much as 10-20 iterations). */
template <typename T>
CostScan scanCost(const T* cost, size_t n, size_t m) {
  CostScan scan{0, std::vector<double>(m, kInf)};
  double* columnMinima = scan.columnMinima.data();
  double low = kInf, high = -kInf;
  double poisoned = 0;  // x * 0 is NaN for x = NaN or ±inf and 0 otherwise (NaN is invisible to min / max)
  for (size_t i = 0; i < n; ++i) {
    const T* c = cost + i * m;
#pragma omp simd reduction(min : low) reduction(max : high) reduction(+ : poisoned)
    for (size_t j = 0; j < m; ++j) {
      const double value = static_cast<double>(c[j]);
      low = std::min(low, value);
      high = std::max(high, value);
      poisoned += value * 0.0;
      columnMinima[j] = std::min(columnMinima[j], value);
    }
  }
  if (poisoned != 0) throw argError("M holds NaN or ±Infinity; every cost must be finite");
  scan.range = high - low;
  return scan;
}

/** Checks the arguments and returns b rescaled to a's mass, so rounding in the masses cannot stall convergence. */
std::vector<double> checkArguments(const double* a, size_t n, const double* b, size_t m, const SinkhornOptions& options) {
  if (n == 0 || m == 0) throw argError("sinkhorn: the marginals must not be empty");
  if (options.maxIterations < 1) throw argError("sinkhorn: maxIterations must be >= 1");
  if (options.checkEvery < 1) throw argError("sinkhorn: checkEvery must be >= 1");
  if (!(options.tolerance >= 0)) throw argError("sinkhorn: tolerance must be >= 0");
  double massA = 0, massB = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!(a[i] >= 0) || !std::isfinite(a[i])) throw argError("sinkhorn: a must be finite and non-negative");
    massA += a[i];
  }
  for (size_t j = 0; j < m; ++j) {
    if (!(b[j] >= 0) || !std::isfinite(b[j])) throw argError("sinkhorn: b must be finite and non-negative");
    massB += b[j];
  }
  if (!(massA > 0) || std::fabs(massA - massB) > 1e-6 * std::max(massA, massB)) {
    throw argError("sinkhorn: a and b must have the same positive total mass");
  }
  std::vector<double> rescaled(b, b + m);
  for (double& value : rescaled) value *= massA / massB;
  return rescaled;
}

}  // namespace

template <typename T>
double sinkhornEpsilon(const T* cost, size_t count, double reg, RegMode mode) {
  if (mode == RegMode::Absolute) return reg;
  if (mode == RegMode::Max) return reg * static_cast<double>(*std::max_element(cost, cost + count));
  std::vector<T> values(cost, cost + count);
  const size_t middle = count / 2;
  std::nth_element(values.begin(), values.begin() + middle, values.end());
  double median = static_cast<double>(values[middle]);
  if (count % 2 == 0) median = 0.5 * (median + static_cast<double>(*std::max_element(values.begin(), values.begin() + middle)));
  return reg * median;
}

template <typename T>
SinkhornResult sinkhorn(const double* a, size_t n, const double* b, size_t m, const T* cost, T* plan,
                        const SinkhornOptions& options) {
  const std::vector<double> bRescaled = checkArguments(a, n, b, m, options);
  const size_t count = n * m;
  CostScan scan = scanCost(cost, n, m);
  if (!(options.reg > 0) || !std::isfinite(options.reg)) throw argError("sinkhorn: reg must be a finite number > 0");
  const double epsilon = sinkhornEpsilon(cost, count, options.reg, options.regMode);
  if (!(epsilon > 0) || !std::isfinite(epsilon)) {
    throw argError("sinkhorn: ε = reg x " + std::string(options.regMode == RegMode::Median ? "median" : "max") +
                   "(M) is not > 0 (the cost's " + (options.regMode == RegMode::Median ? "median" : "max") +
                   " is <= 0); use regMode 'absolute'");
  }
  Solver<T> solver(a, n, bRescaled.data(), m, cost, plan, options.threads);
  return solver.solve(epsilonSchedule(epsilon, scan.range, options.epsilonScaling), std::move(scan.columnMinima), options);
}

template SinkhornResult sinkhorn<float>(const double*, size_t, const double*, size_t, const float*, float*, const SinkhornOptions&);
template SinkhornResult sinkhorn<double>(const double*, size_t, const double*, size_t, const double*, double*, const SinkhornOptions&);
template double sinkhornEpsilon<float>(const float*, size_t, double, RegMode);
template double sinkhornEpsilon<double>(const double*, size_t, double, RegMode);

}  // namespace clf
