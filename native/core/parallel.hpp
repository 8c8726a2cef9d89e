// Thread-count handling shared by the kernels. Every kernel takes `threads` (<= 0 means "all cores") and splits
// work into fixed blocks whose partial results are combined in a fixed order, so results do not depend on the
// thread count beyond float rounding order and are identical run to run.
#pragma once
#include <omp.h>

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

}  // namespace clf
