// Input patches of a convolution at chosen output positions: im2col restricted to a few positions per sample, the
// rows the layer-wise refit sums its least-squares moments over (lib/fusion/refit.ts).
#pragma once
#include <cstddef>
#include <cstdint>

namespace clf {

/** A convolution's window over C x H x W input maps; output positions are p = oy · wo + ox. */
struct PatchWindow {
  int32_t c, h, w;  // input channels and plane
  int32_t kh, kw;   // kernel
  int32_t sh, sw;   // strides
  int32_t pt, pl;   // top and left padding
  int32_t dh, dw;   // dilations
  int32_t wo;       // output width
};

/**
 * out[n][r][k] = x[n][c][oy·sh − pt + i·dh][ox·sw − pl + j·dw] for row r = (c, i, j) and (oy, ox) the k-th chosen
 * position of sample n (positions[n·used + k]), 0 in the padding; with `offset`, a last row of 1s per sample. out
 * holds count x (C·kh·kw + offset) x used floats. Every value is a copy, so the result does not depend on `threads`.
 */
void patchRows(const float* x, size_t count, const PatchWindow& window, const int32_t* positions, size_t used, bool offset,
               float* out, int threads);

}  // namespace clf
