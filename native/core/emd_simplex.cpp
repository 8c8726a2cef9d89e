// Network simplex on the complete bipartite graph rows -> columns (Ahuja, Magnanti & Orlin, ch. 11; the pricing and
// start follow LEMON's NetworkSimplex as trimmed for OT by Bonneel et al. 2011). Nodes 0..n-1 are rows (supply a),
// n..n+m-1 columns (demand b), node n+m the artificial root. Arc (i, j) has index i*m + j and its flow lives in the
// plan itself. The basis is a spanning tree stored as parent pointers plus child lists; potentials pi make every
// tree arc tight: reduced cost of s -> t is c + pi_s - pi_t.
#include "core/emd_simplex.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"

namespace clf {

namespace {

constexpr int32_t kNone = -1;
constexpr int64_t kArtificialArc = -1;
constexpr double kInfinity = std::numeric_limits<double>::infinity();  // parentArc value of a node hung on the root by its artificial arc

/**
 * min_j (c_j + rowPi - colPi_j) over [begin, end), with four independent minima so the loop pipelines (a single
 * running minimum is one long dependency chain). Same expression as the caller's rescan, so the values match.
 */
double minReducedCost(const double* costs, const double* colPi, double rowPi, size_t begin, size_t end) {
  double lowest[4] = {kInfinity, kInfinity, kInfinity, kInfinity};
  size_t j = begin;
  for (; j + 4 <= end; j += 4) {
    for (size_t k = 0; k < 4; ++k) {
      const double reduced = costs[j + k] + rowPi - colPi[j + k];
      lowest[k] = reduced < lowest[k] ? reduced : lowest[k];
    }
  }
  for (; j < end; ++j) {
    const double reduced = costs[j] + rowPi - colPi[j];
    lowest[0] = reduced < lowest[0] ? reduced : lowest[0];
  }
  return std::min(std::min(lowest[0], lowest[1]), std::min(lowest[2], lowest[3]));
}

class NetworkSimplex {
 public:
  NetworkSimplex(const double* a, size_t n, const double* b, size_t m, const double* M, double* plan)
      : a_(a), b_(b), M_(M), plan_(plan), n_(n), m_(m), nodes_(n + m), root_(static_cast<int32_t>(n + m)) {
    // Costs enter shifted by their minimum (the same for every plan of the given mass), so the potentials, and
    // the rounding in them, scale with the spread of the costs and not with an offset.
    const auto [lowest, highest] = std::minmax_element(M, M + n * m);
    costOffset_ = *lowest;
    const double spread = *highest - *lowest;
    // Any path through the root must cost more than any path of real arcs, so optimal flows avoid it.
    artificialCost_ = (spread > 0 ? spread : 1.0) * static_cast<double>(nodes_ + 1);
    // Reduced costs below -tolerance_ enter; rounding in the potentials is about one ulp of artificialCost_.
    tolerance_ = 64 * std::numeric_limits<double>::epsilon() * artificialCost_;
    blockSize_ = std::max<size_t>(static_cast<size_t>(std::sqrt(static_cast<double>(n * m))), 10);
    buildStartTree();
  }

  SimplexOutcome run(uint64_t maxIterations) {
    SimplexOutcome outcome;
    // Potentials drift by rounding over many pivots: recompute them from the tree and price again before stopping.
    for (;;) {
      for (int64_t arc = findEnteringArc(); arc >= 0; arc = findEnteringArc()) {
        if (maxIterations > 0 && outcome.iterations >= maxIterations) {
          throw solverError("network simplex: reached maxIterations = " + std::to_string(maxIterations) +
                            " before optimality; raise maxIterations (or leave it unset for no cap)");
        }
        pivot(arc);
        ++outcome.iterations;
      }
      recomputePotentials();
      if (findEnteringArc() < 0) break;
    }
    outcome.u.resize(n_);
    outcome.v.resize(m_);
    for (size_t i = 0; i < n_; ++i) outcome.u[i] = costOffset_ - pi_[i];
    for (size_t j = 0; j < m_; ++j) outcome.v[j] = pi_[n_ + j];
    return outcome;
  }

 private:
  /** Every node hangs on the root: rows with supply send it up (i -> root), the rest hang down (root -> node). */
  void buildStartTree() {
    const size_t all = nodes_ + 1;
    parent_.assign(all, root_);
    parentArc_.assign(all, kArtificialArc);
    depth_.assign(all, 1);
    pi_.assign(all, 0.0);
    artificialUp_.assign(all, 0);
    artificialFlow_.assign(all, 0.0);
    firstChild_.assign(all, kNone);
    nextSibling_.assign(all, kNone);
    prevSibling_.assign(all, kNone);
    parent_[root_] = kNone;
    depth_[root_] = 0;
    for (size_t x = 0; x < nodes_; ++x) {
      const bool supplies = x < n_ && a_[x] > 0;
      artificialUp_[x] = supplies;
      artificialFlow_[x] = x < n_ ? a_[x] : b_[x - n_];
      pi_[x] = supplies ? -artificialCost_ : artificialCost_;
      attach(static_cast<int32_t>(x), root_);
    }
  }

  /** Block search: the most negative reduced cost in the first block (of ~sqrt(nm) arcs) that has one. */
  int64_t findEnteringArc() {
    const size_t arcs = n_ * m_;
    double best = -tolerance_;
    int64_t bestArc = -1;
    for (size_t scanned = 0; scanned < arcs;) {
      size_t count = std::min(blockSize_, arcs - scanned);
      scanned += count;
      while (count > 0) {
        const size_t length = std::min(count, m_ - cursorCol_);
        const double* costs = M_ + cursorRow_ * m_;
        const double rowPi = pi_[cursorRow_] - costOffset_;
        const double* colPi = pi_.data() + n_;
        const size_t end = cursorCol_ + length;
        const double segmentBest = minReducedCost(costs, colPi, rowPi, cursorCol_, end);
        if (segmentBest < best) {
          size_t j = cursorCol_;
          while (costs[j] + rowPi - colPi[j] != segmentBest) ++j;
          best = segmentBest;
          bestArc = static_cast<int64_t>(cursorRow_ * m_ + j);
        }
        count -= length;
        cursorCol_ += length;
        if (cursorCol_ == m_) {
          cursorCol_ = 0;
          cursorRow_ = cursorRow_ + 1 == n_ ? 0 : cursorRow_ + 1;
        }
      }
      if (bestArc >= 0) return bestArc;
    }
    return -1;
  }

  /** True when node x's tree arc points from x to its parent. A real arc always goes row -> column. */
  bool pointsUp(int32_t x) const {
    return parentArc_[x] == kArtificialArc ? artificialUp_[x] != 0 : static_cast<size_t>(x) < n_;
  }

  double& treeFlow(int32_t x) { return parentArc_[x] == kArtificialArc ? artificialFlow_[x] : plan_[parentArc_[x]]; }

  int32_t findJoin(int32_t x, int32_t y) const {
    while (x != y) {
      if (depth_[x] >= depth_[y]) x = parent_[x];
      else y = parent_[y];
    }
    return x;
  }

  /**
   * Pushes flow around the cycle closed by `arc` (source s -> target t). The cycle runs join ~> s -> t ~> join;
   * the leaving arc is the LAST blocking arc in that order, which keeps the tree strongly feasible: on the t side
   * `<=` lets a later (closer to the join) arc win; on the s side `<` keeps the earliest (closest to s).
   */
  void pivot(int64_t arc) {
    const auto s = static_cast<int32_t>(arc / static_cast<int64_t>(m_));
    const auto t = static_cast<int32_t>(n_ + arc % static_cast<int64_t>(m_));
    const int32_t join = findJoin(s, t);
    double delta = std::numeric_limits<double>::infinity();
    int32_t leaving = kNone;
    bool leavingOnSourceSide = true;
    for (int32_t x = s; x != join; x = parent_[x]) {
      if (pointsUp(x) && treeFlow(x) < delta) {
        delta = treeFlow(x);
        leaving = x;
      }
    }
    for (int32_t x = t; x != join; x = parent_[x]) {
      if (!pointsUp(x) && treeFlow(x) <= delta) {
        delta = treeFlow(x);
        leaving = x;
        leavingOnSourceSide = false;
      }
    }
    if (leaving == kNone) throw solverError("network simplex: unbounded cycle (internal error)");
    if (delta > 0) {
      for (int32_t x = s; x != join; x = parent_[x]) treeFlow(x) += pointsUp(x) ? -delta : delta;
      for (int32_t x = t; x != join; x = parent_[x]) treeFlow(x) += pointsUp(x) ? delta : -delta;
    }
    const double reduced = M_[arc] - costOffset_ + pi_[s] - pi_[t];
    const int32_t inside = leavingOnSourceSide ? s : t;
    const int32_t outside = leavingOnSourceSide ? t : s;
    rehang(inside, outside, arc, leaving);
    plan_[arc] = delta;
    // The moved subtree shifts by one constant so that the entering arc becomes tight.
    shiftSubtree(inside, leavingOnSourceSide ? -reduced : reduced);
  }

  /**
   * Cuts the tree arc above `leaving` and hangs the cut-off subtree (which holds `inside`) on `outside` through
   * `arc`: the parent pointers on the path inside ~> leaving reverse.
   */
  void rehang(int32_t inside, int32_t outside, int64_t arc, int32_t leaving) {
    int32_t x = inside;
    int32_t newParent = outside;
    int64_t newArc = arc;
    for (;;) {
      const int32_t oldParent = parent_[x];
      const int64_t oldArc = parentArc_[x];
      detach(x);
      parent_[x] = newParent;
      parentArc_[x] = newArc;
      attach(x, newParent);
      if (x == leaving) break;
      newParent = x;
      newArc = oldArc;
      x = oldParent;
    }
  }

  /** pi += shift and depth = parent's + 1 over the subtree of `top` (depth-first, explicit stack). */
  void shiftSubtree(int32_t top, double shift) {
    stack_.assign(1, top);
    while (!stack_.empty()) {
      const int32_t x = stack_.back();
      stack_.pop_back();
      pi_[x] += shift;
      depth_[x] = depth_[parent_[x]] + 1;
      for (int32_t c = firstChild_[x]; c != kNone; c = nextSibling_[c]) stack_.push_back(c);
    }
  }

  /** Fresh potentials from the root down (pi_root = 0), each tree arc tight. */
  void recomputePotentials() {
    stack_.assign(1, root_);
    pi_[root_] = 0.0;
    while (!stack_.empty()) {
      const int32_t x = stack_.back();
      stack_.pop_back();
      for (int32_t c = firstChild_[x]; c != kNone; c = nextSibling_[c]) {
        const double cost = parentArc_[c] == kArtificialArc ? artificialCost_ : M_[parentArc_[c]] - costOffset_;
        pi_[c] = pointsUp(c) ? pi_[x] - cost : pi_[x] + cost;
        stack_.push_back(c);
      }
    }
  }

  void attach(int32_t x, int32_t p) {
    prevSibling_[x] = kNone;
    nextSibling_[x] = firstChild_[p];
    if (firstChild_[p] != kNone) prevSibling_[firstChild_[p]] = x;
    firstChild_[p] = x;
  }

  void detach(int32_t x) {
    if (prevSibling_[x] != kNone) nextSibling_[prevSibling_[x]] = nextSibling_[x];
    else firstChild_[parent_[x]] = nextSibling_[x];
    if (nextSibling_[x] != kNone) prevSibling_[nextSibling_[x]] = prevSibling_[x];
  }

  const double *a_, *b_, *M_;
  double* plan_;
  size_t n_, m_, nodes_;
  int32_t root_;
  double costOffset_ = 0, artificialCost_ = 0, tolerance_ = 0;
  size_t blockSize_ = 0, cursorRow_ = 0, cursorCol_ = 0;
  std::vector<int32_t> parent_, depth_, firstChild_, nextSibling_, prevSibling_, stack_;
  std::vector<int64_t> parentArc_;
  std::vector<double> pi_, artificialFlow_;
  std::vector<uint8_t> artificialUp_;
};

}  // namespace

SimplexOutcome networkSimplex(const double* a, size_t n, const double* b, size_t m, const double* M, double* plan,
                              uint64_t maxIterations) {
  return NetworkSimplex(a, n, b, m, M, plan).run(maxIterations);
}

}  // namespace clf
