// Dense linear assignment by shortest augmenting paths (Jonker-Volgenant / Crouse style), with dual variables.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace clf {

/**
 * A square assignment problem of size N read from a dense n x m cost matrix C through replication:
 * expanded row r is original row r / rowCopies, expanded column c is original column c / colCopies, so
 * N = n * rowCopies = m * colCopies. With rowCopies = colCopies = 1 it is the plain n x n problem.
 */
struct LapProblem {
  const double* cost = nullptr;  // n x m, row-major
  size_t n = 0, m = 0;
  size_t rowCopies = 1, colCopies = 1;
  size_t size() const { return n * rowCopies; }
};

/**
 * min over permutations sigma of sum_r C'[r, sigma(r)], with duals u, v such that C'[r, c] - u_r - v_c >= 0 for all
 * (r, c) and = 0 on the chosen pairs (so sum u + sum v is the optimum).
 */
struct LapSolution {
  std::vector<int32_t> colForRow;  // sigma, length N
  std::vector<double> u, v;        // length N each
  uint64_t augmentations = 0;      // shortest-path searches run after the column-reduction start
};

/**
 * Solves the assignment exactly in O(N^3) worst case. Start: column reduction (v_c = min_r C'[r, c], each column
 * given to its cheapest row while that row is free), then one Dijkstra search per free row on the reduced costs.
 * Ties go to the lowest index, so the result is deterministic.
 */
LapSolution solveAssignment(const LapProblem& problem);

}  // namespace clf
