// A finiteness scan for argument checks: the TypeScript layer validates every array before a kernel reads it, and
// on the large activation matrices of a fusion a JS loop over them costs more than the kernels it guards.
#pragma once
#include <cstddef>

namespace clf {

/** Index of the first NaN or ±Infinity in x[0..n), or n when every value is finite. */
size_t firstNonFinite(const float* x, size_t n);

}  // namespace clf
