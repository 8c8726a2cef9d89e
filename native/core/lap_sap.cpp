// Shortest augmenting path assignment. Each search is Dijkstra on the reduced costs C[r, c] - u_r - v_c >= 0
// (Crouse 2016, "On implementing 2D rectangular assignment algorithms"), started from Jonker & Volgenant's (1987)
// column reduction and augmenting row reduction, which settle most rows cheaply: all of them when the cost is close
// to a permuted diagonal (model fusion), most of them on random costs.
#include "core/lap_sap.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/error.hpp"

namespace clf {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
/** Augmenting row reduction: passes over the free rows (as lapjv), and a step budget per pass in units of N. */
constexpr int kRowReductionPasses = 2;
constexpr size_t kRowReductionSteps = 8;

class ShortestPathSolver {
 public:
  explicit ShortestPathSolver(const LapProblem& problem)
      : problem_(problem),
        rows_(problem.rows()),
        cols_(problem.m),
        capacity_(problem.colCopies),
        load_(cols_, 0),
        slots_(cols_ * capacity_, -1),
        shortest_(cols_),
        path_(cols_),
        remaining_(cols_) {
    solution_.colForRow.assign(rows_, -1);
    solution_.u.assign(rows_, 0.0);
    solution_.v.assign(cols_, kInf);
    slack_.assign(rows_, -1.0);
  }

  LapSolution solve() {
    reduceColumns();
    for (int pass = 0; pass < kRowReductionPasses; ++pass) reduceFreeRows();
    const auto free = static_cast<size_t>(std::count(solution_.colForRow.begin(), solution_.colForRow.end(), -1));
    if (free > problem_.maxFreeAfterReduction) {
      solution_.gaveUp = true;
      return std::move(solution_);
    }
    for (size_t r = 0; r < rows_; ++r) {
      if (solution_.colForRow[r] >= 0) continue;
      augmentFrom(static_cast<int32_t>(r));
      ++solution_.augmentations;
    }
    return std::move(solution_);
  }

 private:
  const double* costRow(int32_t r) const { return problem_.cost + (static_cast<size_t>(r) / problem_.rowCopies) * cols_; }
  bool full(int32_t c) const { return load_[c] == capacity_; }

  void assign(int32_t r, int32_t c) {
    solution_.colForRow[r] = c;
    slots_[c * capacity_ + load_[c]++] = r;
  }

  void unassign(int32_t r) {
    const int32_t c = solution_.colForRow[r];
    int32_t* slot = &slots_[c * capacity_];
    std::swap(*std::find(slot, slot + load_[c], r), slot[--load_[c]]);
    solution_.colForRow[r] = -1;
  }

  /**
   * v_c = min_r C[r, c] (lowest r on ties); the column takes free copies of that row (all equally cheap) up to its
   * capacity. Every reduced cost is then >= 0 with u = 0, and 0 on the assigned pairs.
   */
  void reduceColumns() {
    std::vector<int32_t> cheapestRow(cols_, 0);
    std::vector<double>& v = solution_.v;
    for (size_t r = 0; r < rows_; r += problem_.rowCopies) {
      const double* row = costRow(static_cast<int32_t>(r));
      for (size_t c = 0; c < cols_; ++c) {
        if (row[c] < v[c]) {
          v[c] = row[c];
          cheapestRow[c] = static_cast<int32_t>(r);
        }
      }
    }
    std::vector<size_t> copiesUsed(problem_.n, 0);
    for (size_t c = 0; c < cols_; ++c) {
      const size_t original = cheapestRow[c] / problem_.rowCopies;
      while (!full(static_cast<int32_t>(c)) && copiesUsed[original] < problem_.rowCopies) {
        assign(static_cast<int32_t>(original * problem_.rowCopies + copiesUsed[original]++), static_cast<int32_t>(c));
      }
    }
  }

  /**
   * A lower bound on min_{c != col(r)} (C[r, c] - v_c) - u_r, how far u_r can rise before row r loses
   * feasibility. Computed once (O(m)) and then kept as a bound: v only falls during the row reduction, which only
   * raises the true value, and every rise of u_r is subtracted from it.
   */
  double slack(int32_t r) {
    if (slack_[r] >= 0) return slack_[r];
    const double* row = costRow(r);
    const double* v = solution_.v.data();
    const auto except = static_cast<size_t>(solution_.colForRow[r]);
    double lowest = kInf;
    for (size_t c = 0; c < cols_; ++c) {
      if (c != except) lowest = std::min(lowest, row[c] - v[c]);
    }
    slack_[r] = std::max(0.0, lowest - solution_.u[r]);
    return slack_[r];
  }

  /** The lowest-index column with room whose reduced cost for `row` is exactly `cost`, or -1. */
  int32_t roomAt(const double* row, double cost) const {
    for (size_t c = 0; c < cols_; ++c) {
      if (!full(static_cast<int32_t>(c)) && row[c] - solution_.v[c] == cost) return static_cast<int32_t>(c);
    }
    return -1;
  }

  /**
   * One pass of Jonker-Volgenant augmenting row reduction, generalised to column capacities. A free row finds its
   * cheapest column j1 (reduced cost u1) and the next one (u2). With room in j1, or in a column tied with it, it
   * takes the lowest-index such column (u_r = u1): all-equal costs give the identity. Otherwise
   * it evicts the row of j1 with the least slack, and v_j1 drops by delta = min(u2 - u1, slack of the rows that
   * stay), whose u rise by delta: they stay tight, the new row is tight at u_r = u1 + delta, and every other
   * reduced cost only grows. When delta > 0 the evicted row is retried at once (an auction step); otherwise it
   * waits for the next pass. At most kRowReductionSteps * N steps.
   */
  void reduceFreeRows() {
    std::vector<int32_t> freeRows;
    for (size_t r = 0; r < rows_; ++r) {
      if (solution_.colForRow[r] < 0) freeRows.push_back(static_cast<int32_t>(r));
    }
    const size_t maxSteps = kRowReductionSteps * rows_;
    size_t steps = 0;
    for (size_t k = 0; k < freeRows.size() && ++steps <= maxSteps; ++k) {
      const int32_t r = freeRows[k];
      const double* row = costRow(r);
      const double* v = solution_.v.data();
      double first = kInf, second = kInf;
      int32_t firstCol = 0;
      for (size_t c = 0; c < cols_; ++c) {
        const double reduced = row[c] - v[c];
        if (reduced >= second) continue;
        if (reduced < first) {
          second = first;
          first = reduced;
          firstCol = static_cast<int32_t>(c);
        } else {
          second = reduced;
        }
      }
      // firstCol is the lowest index at cost `first`; on a tie, the lowest-index tied column with room.
      const int32_t target = full(firstCol) && !(first < second) ? roomAt(row, first) : firstCol;
      if (target >= 0 && !full(target)) {
        solution_.u[r] = first;
        slack_[r] = (target == firstCol ? second : first) - first;
        assign(r, target);
        continue;
      }
      const int32_t evicted = evictFrom(firstCol, r, second < kInf ? second - first : 0.0);
      if (evicted >= 0) freeRows[k--] = evicted;  // k wraps at 0; the loop's ++k brings it back
    }
  }

  /**
   * Gives full column c to free row r (reduced cost u1 there, u1 + gain at its next column) by evicting the row
   * with the least slack. Returns the evicted row when the duals moved (retry it now), else -1 (next pass).
   */
  int32_t evictFrom(int32_t c, int32_t r, double gain) {
    int32_t* slot = &slots_[c * capacity_];
    int32_t evicted = slot[0];
    double evictedSlack = capacity_ > 1 ? slack(evicted) : 0.0;
    double stayerSlack = kInf;
    for (size_t k = 1; k < capacity_; ++k) {
      const double s = slack(slot[k]);
      if (s < evictedSlack || (s == evictedSlack && slot[k] < evicted)) {
        stayerSlack = std::min(stayerSlack, evictedSlack);
        evicted = slot[k];
        evictedSlack = s;
      } else {
        stayerSlack = std::min(stayerSlack, s);
      }
    }
    const double delta = std::max(0.0, std::min(gain, stayerSlack));
    const double u1 = costRow(r)[c] - solution_.v[c];
    unassign(evicted);
    slack_[evicted] = -1;
    if (delta > 0) {
      solution_.v[c] -= delta;
      for (size_t k = 0; k < load_[c]; ++k) {
        solution_.u[slot[k]] += delta;
        slack_[slot[k]] = std::max(0.0, slack_[slot[k]] - delta);
      }
    }
    solution_.u[r] = u1 + delta;
    assign(r, c);
    slack_[r] = gain - delta;
    return delta > 0 ? evicted : -1;
  }

  /**
   * Relaxes the remaining columns from row r, reached at distance `distance`. When `pick` is set it also returns
   * the index (in remaining_) of the closest column: shortest, or as short and not full (ends the search).
   */
  size_t scanRow(int32_t r, double distance, size_t remainingCount, bool pick) {
    const double* row = costRow(r);
    const double* v = solution_.v.data();
    const double base = distance - solution_.u[r];
    double lowest = kInf;
    size_t bestIndex = 0;
    for (size_t k = 0; k < remainingCount; ++k) {
      const int32_t c = remaining_[k];
      const double reduced = base + row[c] - v[c];
      if (reduced < shortest_[c]) {
        shortest_[c] = reduced;
        path_[c] = r;
      }
      if (pick && (shortest_[c] < lowest ||
                   (shortest_[c] == lowest && !full(c) && full(remaining_[bestIndex])))) {
        lowest = shortest_[c];
        bestIndex = k;
      }
    }
    return bestIndex;
  }

  /**
   * Dijkstra from free row `start` over alternating paths until it reaches a column with room (the sink). Reaching
   * a full column reaches every row it holds (tight arcs) at the same distance. Then the dual update that keeps
   * every reduced cost >= 0 and makes the path tight, and the shift of rows along the path.
   */
  void augmentFrom(int32_t start) {
    std::vector<double>& u = solution_.u;
    std::vector<double>& v = solution_.v;
    for (size_t c = 0; c < cols_; ++c) remaining_[c] = static_cast<int32_t>(c);
    std::fill(shortest_.begin(), shortest_.end(), kInf);
    scannedRows_.clear();
    scannedCols_.clear();
    size_t remainingCount = cols_;
    double distance = 0.0;
    int32_t sink = -1;
    frontier_.assign(1, start);
    while (sink < 0) {
      size_t bestIndex = 0;
      for (size_t k = 0; k < frontier_.size(); ++k) {
        scannedRows_.push_back(frontier_[k]);
        bestIndex = scanRow(frontier_[k], distance, remainingCount, k + 1 == frontier_.size());
      }
      const int32_t c = remaining_[bestIndex];
      if (!(shortest_[c] < kInf)) throw solverError("assignment: no augmenting path (non-finite costs?)");
      distance = shortest_[c];
      scannedCols_.push_back(c);
      remaining_[bestIndex] = remaining_[--remainingCount];
      if (!full(c)) sink = c;
      else frontier_.assign(slots_.begin() + c * capacity_, slots_.begin() + (c + 1) * capacity_);
    }
    u[start] += distance;
    for (size_t k = 1; k < scannedRows_.size(); ++k) {
      const int32_t row = scannedRows_[k];
      u[row] += distance - shortest_[solution_.colForRow[row]];
    }
    for (int32_t c : scannedCols_) v[c] -= distance - shortest_[c];
    shiftAlongPath(start, sink);
  }

  /** Each row on the path moves to the column it reached; the sink gains one row, the others keep their load. */
  void shiftAlongPath(int32_t start, int32_t sink) {
    for (int32_t c = sink;;) {
      const int32_t r = path_[c];
      const int32_t previous = solution_.colForRow[r];
      if (previous >= 0) unassign(r);
      assign(r, c);
      if (r == start) break;
      c = previous;
    }
  }

  const LapProblem& problem_;
  size_t rows_, cols_, capacity_;
  LapSolution solution_;
  std::vector<size_t> load_;
  std::vector<int32_t> slots_;  // rows held by column c: slots_[c * capacity_ + k], k < load_[c]
  std::vector<double> shortest_;
  std::vector<double> slack_;   // row reduction: lower bounds of slack(r), -1 = not known yet
  std::vector<int32_t> path_, remaining_, scannedRows_, scannedCols_, frontier_;
};

}  // namespace

LapSolution solveAssignment(const LapProblem& problem) {
  if (problem.rows() == 0 || problem.m * problem.colCopies != problem.rows()) {
    throw argError("assignment: n * rowCopies must equal m * colCopies");
  }
  return ShortestPathSolver(problem).solve();
}

}  // namespace clf
