// Thread-count handling shared by the kernels. Every kernel takes `threads` (<= 0 means "all cores") and splits
// work into fixed blocks whose partial results are combined in a fixed order, so results do not depend on the
// thread count beyond float rounding order and are identical run to run.
#pragma once
#include <omp.h>

#include <cstddef>
#include <exception>
#include <vector>

namespace clf {

/** More threads than this only oversubscribe the cores, and far more make libgomp fail to create them (a crash). */
inline int maxThreads() {
  int procs = omp_get_num_procs();
  return 4 * (procs > 0 ? procs : 1);
}

/** The thread count a kernel uses: `threads` clamped to [1, maxThreads()], or every core for `threads` <= 0. */
inline int resolveThreads(int threads) {
  if (threads <= 0) {
    int procs = omp_get_num_procs();
    return procs > 0 ? procs : 1;
  }
  return threads < maxThreads() ? threads : maxThreads();
}

/**
 * body(i) for i in [0, count) on up to `threads` threads. An exception must not leave an OpenMP region (it would
 * abort the process), so each index keeps its own and the first is rethrown after the loop.
 */
template <typename Body>
void parallelFor(size_t count, int threads, Body body) {
  std::vector<std::exception_ptr> failures(count);
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1 && count > 1)
  for (size_t i = 0; i < count; ++i) {
    try {
      body(i);
    } catch (...) {
      failures[i] = std::current_exception();
    }
  }
  for (const std::exception_ptr& failure : failures)
    if (failure) std::rethrow_exception(failure);
}

}  // namespace clf
