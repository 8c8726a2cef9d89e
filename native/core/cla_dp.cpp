#include "core/cla_dp.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"

namespace clf {

namespace {

void checkArguments(size_t m, size_t n, size_t s, size_t f) {
  if (n == 0 || m == 0) throw argError("claAlign: the cost matrix is empty");
  if (n > m) throw argError("claAlign: the shallow network (" + std::to_string(n) + " layers) must not be deeper than the deep one (" + std::to_string(m) + ")");
  if (s < 1) throw argError("claAlign: startLayer (s) must be >= 1");
  if (n > 1 && (f > n || s - 1 > n - f)) throw argError("claAlign: the pins (s-1 = " + std::to_string(s - 1) + " first, f = " + std::to_string(f) + " last) exceed the " + std::to_string(n) + " shallow layers");
}

double totalCost(const double* C, size_t n, const std::vector<int>& mapping) {
  double total = 0;
  for (size_t k = 0; k < mapping.size(); ++k) total += C[(mapping[k] - 1) * n + k];
  return total;
}

}  // namespace

ClaAlignment claAlign(const double* C, size_t m, size_t n, size_t s, size_t f) {
  checkArguments(m, n, s, f);
  ClaAlignment result;
  result.mapping.assign(n, 0);
  if (n == 1) {
    result.mapping[0] = 1;
    result.totalCost = C[0];
    return result;
  }
  auto cost = [&](size_t deep, size_t shallow) { return C[(deep - 1) * n + (shallow - 1)]; };  // 1-based
  std::vector<double> F((n + 1) * (m + 1), 0.0);
  auto at = [&](size_t k, size_t l) -> double& { return F[k * (m + 1) + l]; };

  for (size_t k = 1; k <= n; ++k) at(k, k) = at(k - 1, k - 1) + cost(k, k);
  if (s > 1)
    for (size_t l = s; l + f <= m; ++l) at(s - 1, l) = at(s - 1, s - 1);
  for (size_t k = s; k + f <= n; ++k)
    for (size_t l = k + 1; l + f <= m; ++l) at(k, l) = std::min(at(k, l - 1), at(k - 1, l - 1) + cost(l, k));

  for (size_t t = 1; t < s; ++t) result.mapping[t - 1] = static_cast<int>(t);
  for (size_t t = 0; t < f; ++t) result.mapping[n - t - 1] = static_cast<int>(m - t);
  size_t l = m - f;
  for (size_t k = n - f; k >= s && k >= 1; --k) {
    while (l >= k + 1 && at(k, l) == at(k, l - 1)) --l;
    result.mapping[k - 1] = static_cast<int>(l);
    --l;
  }
  result.totalCost = totalCost(C, n, result.mapping);
  return result;
}

}  // namespace clf
