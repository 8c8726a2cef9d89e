// Exact optimal transport (earth mover's distance) between two histograms: dispatch to an assignment solver when the
// problem is an assignment in disguise, to the network simplex otherwise; verify the duals either way.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace clf {

enum class EmdMethod { Auto, NetworkSimplex, Assignment };

struct EmdOptions {
  EmdMethod method = EmdMethod::Auto;
  uint64_t maxIterations = 0;  // network simplex pivots; 0 = automatic: defaultSimplexIterationCap(n, m)
  int threads = 1;             // accepted for the API; both solvers are sequential (see perf-anchors §1)
};

struct EmdResult {
  double cost = 0;           // <plan, M>
  uint64_t iterations = 0;   // simplex pivots, or assignment augmentations
  bool optimal = false;      // every reduced cost M_ij - u_i - v_j >= -tol and a.u + b.v == cost (to tol)
  std::string method;        // "assignment" | "network-simplex"
  std::vector<double> u, v;  // duals, centred so that a.u == b.v
};

/**
 * The pivot cap used when none is given: 2nm + 10^6, far above what the simplex needs (about 0.01-0.02 nm pivots
 * on 1000 x 800 to 2000 x 1500 random problems), so it only stops a run that would never end.
 */
inline uint64_t defaultSimplexIterationCap(size_t n, size_t m) { return 2 * static_cast<uint64_t>(n) * m + 1000000; }

/**
 * `Auto` dispatches uniform problems to the assignment solver when n == m, or when one size divides the other and
 * the larger is at most this. Other sizes expand with copied rows on both sides, which the simplex beats.
 */
constexpr size_t kAutoAssignmentLimit = 4096;
/**
 * From this many (expanded) rows on, `Auto` gives an assignment whose reduction start leaves more than a quarter of
 * the rows free to the network simplex instead (emd.cpp autoFreeRowLimit).
 */
constexpr size_t kAutoFallbackMinRows = 256;
/** Largest expanded assignment an explicit `Assignment` request accepts. */
constexpr size_t kMaxAssignmentSize = 1 << 15;

/**
 * gamma* = argmin_{gamma >= 0, gamma 1 = a, gamma^T 1 = b} <gamma, M>. a (n) and b (m) are non-negative with
 * equal positive mass (b is rescaled to sum a exactly); M is n x m row-major and finite. With uniform a and b the
 * problem is an assignment of size lcm(n, m) (rows copied lcm/n times, columns lcm/m times).
 * `plan` (n x m, row-major, zeroed by the caller) receives gamma*.
 */
EmdResult solveEmd(const double* a, size_t n, const double* b, size_t m, const double* M, const EmdOptions& options,
                   double* plan);

}  // namespace clf
