// Primal network simplex for the transportation problem on the complete bipartite graph (exact OT, general marginals).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace clf {

struct SimplexOutcome {
  uint64_t iterations = 0;  // pivots
  std::vector<double> u, v;  // duals: M_ij - u_i - v_j >= 0 (up to rounding), = 0 on the plan's support
};

/**
 * min_T <T, M> s.t. T 1 = a, T^T 1 = b, T >= 0, with sum a == sum b (the caller rescales b). `plan` (n x m,
 * row-major, zeroed by the caller) receives T. Big-M start (one artificial arc per node to a root), block-search
 * pivot over blocks of ~sqrt(nm) arcs, leaving arc chosen to keep the tree strongly feasible (no cycling).
 * `maxIterations` = 0 means no cap; reaching a cap throws E_SOLVER (never a non-optimal plan).
 */
SimplexOutcome networkSimplex(const double* a, size_t n, const double* b, size_t m, const double* M, double* plan,
                              uint64_t maxIterations);

}  // namespace clf
