// Thread-count handling shared by the kernels. Every kernel takes `threads` (<= 0 means "all cores") and splits
// work into fixed blocks whose partial results are combined in a fixed order, so results do not depend on the
// thread count beyond float rounding order and are identical run to run.
#pragma once
#include <omp.h>

namespace clf {

inline int resolveThreads(int threads) {
  if (threads > 0) return threads;
  int procs = omp_get_num_procs();
  return procs > 0 ? procs : 1;
}

}  // namespace clf
