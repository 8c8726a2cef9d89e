#include "core/patches.hpp"

#include <algorithm>

#include "core/parallel.hpp"

namespace clf {

void patchRows(const float* x, size_t count, const PatchWindow& g, const int32_t* positions, size_t used, bool offset,
               float* out, int threads) {
  const size_t plane = static_cast<size_t>(g.h) * g.w;
  const size_t rows = static_cast<size_t>(g.c) * g.kh * g.kw + (offset ? 1 : 0);
  parallelFor(count, resolveThreads(threads), [&](size_t n) {
    const int32_t* at = positions + n * used;
    float* row = out + n * rows * used;
    for (int32_t c = 0; c < g.c; c++) {
      const float* input = x + (n * g.c + c) * plane;
      for (int32_t i = 0; i < g.kh; i++) {
        for (int32_t j = 0; j < g.kw; j++, row += used) {
          for (size_t k = 0; k < used; k++) {
            const int32_t yy = at[k] / g.wo * g.sh - g.pt + i * g.dh;
            const int32_t xx = at[k] % g.wo * g.sw - g.pl + j * g.dw;
            row[k] = yy >= 0 && yy < g.h && xx >= 0 && xx < g.w ? input[static_cast<size_t>(yy) * g.w + xx] : 0.0f;
          }
        }
      }
    }
    if (offset) std::fill(row, row + used, 1.0f);
  });
}

}  // namespace clf
