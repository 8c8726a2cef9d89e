// Shortest augmenting path assignment. Each search is Dijkstra on the reduced costs C'[r, c] - u_r - v_c >= 0
// (Crouse 2016, "On implementing 2D rectangular assignment algorithms"), started from Jonker-Volgenant's column
// reduction, which already matches most rows when the cost is close to a permuted diagonal (model fusion).
#include "core/lap_sap.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/error.hpp"

namespace clf {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/** The plain square matrix: expanded indices are original indices. */
struct SquareCosts {
  const double* cost;
  size_t n;
  const double* row(size_t r) const { return cost + r * n; }
  double at(const double* row, size_t c) const { return row[c]; }
};

/** The replicated matrix of LapProblem, read through an index table so nothing N x N is stored. */
struct ReplicatedCosts {
  const double* cost;
  size_t m, rowCopies;
  std::vector<int32_t> originalColumn;
  const double* row(size_t r) const { return cost + (r / rowCopies) * m; }
  double at(const double* row, size_t c) const { return row[originalColumn[c]]; }
};

template <class Costs>
class ShortestPathSolver {
 public:
  ShortestPathSolver(const Costs& costs, size_t size)
      : costs_(costs), size_(size), shortest_(size), path_(size), remaining_(size) {
    solution_.colForRow.assign(size, -1);
    solution_.u.assign(size, 0.0);
    solution_.v.assign(size, kInf);
    rowForCol_.assign(size, -1);
  }

  LapSolution solve() {
    reduceColumns();
    for (size_t r = 0; r < size_; ++r) {
      if (solution_.colForRow[r] >= 0) continue;
      augmentFrom(r);
      ++solution_.augmentations;
    }
    return std::move(solution_);
  }

 private:
  /** v_c = min_r C'[r, c] (lowest r on ties); the column goes to that row if the row is still free. */
  void reduceColumns() {
    std::vector<int32_t> cheapestRow(size_, 0);
    std::vector<double>& v = solution_.v;
    for (size_t r = 0; r < size_; ++r) {
      const double* row = costs_.row(r);
      for (size_t c = 0; c < size_; ++c) {
        double value = costs_.at(row, c);
        if (value < v[c]) {
          v[c] = value;
          cheapestRow[c] = static_cast<int32_t>(r);
        }
      }
    }
    for (size_t c = 0; c < size_; ++c) {
      int32_t r = cheapestRow[c];
      if (solution_.colForRow[r] < 0) assign(r, static_cast<int32_t>(c));
    }
  }

  void assign(int32_t r, int32_t c) {
    solution_.colForRow[r] = c;
    rowForCol_[c] = r;
  }

  /** True when column `c` at distance `d` beats the best so far: shorter, or as short and free (ends the search). */
  bool better(double d, int32_t c, double lowest, int32_t bestCol) const {
    return d < lowest || (d == lowest && rowForCol_[c] < 0 && rowForCol_[bestCol] >= 0);
  }

  /**
   * Dijkstra from free row `start` over alternating paths until it reaches a free column (the sink), then the dual
   * update that keeps every reduced cost >= 0 and makes the new path tight, then the flip along the path.
   */
  void augmentFrom(size_t start) {
    std::vector<double>& u = solution_.u;
    std::vector<double>& v = solution_.v;
    for (size_t c = 0; c < size_; ++c) remaining_[c] = static_cast<int32_t>(c);
    std::fill(shortest_.begin(), shortest_.end(), kInf);
    scannedRows_.clear();
    scannedCols_.clear();
    size_t remainingCount = size_;
    double minDistance = 0.0;
    int32_t sink = -1;
    auto r = static_cast<int32_t>(start);
    while (sink < 0) {
      scannedRows_.push_back(r);
      const double* row = costs_.row(r);
      const double base = minDistance - u[r];
      double lowest = kInf;
      size_t bestIndex = 0;
      for (size_t k = 0; k < remainingCount; ++k) {
        const int32_t c = remaining_[k];
        const double reduced = base + costs_.at(row, c) - v[c];
        if (reduced < shortest_[c]) {
          shortest_[c] = reduced;
          path_[c] = r;
        }
        if (better(shortest_[c], c, lowest, remaining_[bestIndex])) {
          lowest = shortest_[c];
          bestIndex = k;
        }
      }
      if (!(lowest < kInf)) throw solverError("assignment: no augmenting path (non-finite costs?)");
      minDistance = lowest;
      const int32_t c = remaining_[bestIndex];
      scannedCols_.push_back(c);
      remaining_[bestIndex] = remaining_[--remainingCount];
      if (rowForCol_[c] < 0) sink = c;
      else r = rowForCol_[c];
    }
    u[start] += minDistance;
    for (size_t k = 1; k < scannedRows_.size(); ++k) {
      const int32_t row = scannedRows_[k];
      u[row] += minDistance - shortest_[solution_.colForRow[row]];
    }
    for (int32_t c : scannedCols_) v[c] -= minDistance - shortest_[c];
    flipPath(static_cast<int32_t>(start), sink);
  }

  void flipPath(int32_t start, int32_t sink) {
    int32_t c = sink;
    for (;;) {
      const int32_t r = path_[c];
      rowForCol_[c] = r;
      std::swap(solution_.colForRow[r], c);
      if (r == start) break;
    }
  }

  const Costs& costs_;
  size_t size_;
  LapSolution solution_;
  std::vector<int32_t> rowForCol_;
  std::vector<double> shortest_;
  std::vector<int32_t> path_, remaining_, scannedRows_, scannedCols_;
};

}  // namespace

LapSolution solveAssignment(const LapProblem& problem) {
  const size_t size = problem.size();
  if (size == 0 || problem.m * problem.colCopies != size) throw argError("assignment: inconsistent replication");
  if (problem.rowCopies == 1 && problem.colCopies == 1) {
    SquareCosts costs{problem.cost, problem.n};
    return ShortestPathSolver<SquareCosts>(costs, size).solve();
  }
  ReplicatedCosts costs{problem.cost, problem.m, problem.rowCopies, std::vector<int32_t>(size)};
  for (size_t c = 0; c < size; ++c) costs.originalColumn[c] = static_cast<int32_t>(c / problem.colCopies);
  return ShortestPathSolver<ReplicatedCosts>(costs, size).solve();
}

}  // namespace clf
