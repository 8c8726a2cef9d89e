// Dense linear assignment by shortest augmenting paths (Jonker-Volgenant / Crouse style), with dual variables.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace clf {

/**
 * An assignment problem read from a dense n x m cost matrix C: N = n * rowCopies unit rows (row r is a copy of
 * original row r / rowCopies) and m columns that each take exactly colCopies rows, with N = m * colCopies. This is
 * the lcm-expanded assignment of a uniform transport problem with the column copies merged into one column of
 * capacity colCopies (one dual per column, and each search scans m columns instead of N).
 * rowCopies = colCopies = 1 is the plain n x n assignment.
 */
struct LapProblem {
  const double* cost = nullptr;  // n x m, row-major
  size_t n = 0, m = 0;
  size_t rowCopies = 1, colCopies = 1;
  /** Give up (LapSolution::gaveUp) when the reduction start leaves more free rows than this. */
  size_t maxFreeAfterReduction = SIZE_MAX;
  size_t rows() const { return n * rowCopies; }
};

/**
 * min sum_r C[r / rowCopies, col(r)] over assignments col with every column used colCopies times, with duals
 * u (per unit row) and v (per column) such that C[r / rowCopies, c] - u_r - v_c >= 0 everywhere and = 0 on the
 * assignment (so sum u + colCopies * sum v is the optimum).
 */
struct LapSolution {
  std::vector<int32_t> colForRow;  // length N, values in [0, m)
  std::vector<double> u;           // length N
  std::vector<double> v;           // length m
  uint64_t augmentations = 0;      // shortest-path searches run after the reduction start
  bool gaveUp = false;             // more than maxFreeAfterReduction rows were free: nothing solved
};

/**
 * Solves the assignment exactly in O(N^2 m) worst case. Start: column reduction (v_c = min_r C[r, c]), then
 * Jonker-Volgenant augmenting row reduction for unit capacities or a greedy cheapest-column step otherwise, then
 * one Dijkstra search per still-free row on the reduced costs. Ties go to the lowest index: deterministic.
 */
LapSolution solveAssignment(const LapProblem& problem);

}  // namespace clf
