#include "core/finite.hpp"

#include <cstdint>
#include <cstring>

namespace clf {

namespace {

constexpr uint32_t kExponentMask = 0x7f800000u;  // all exponent bits set <=> NaN or ±Infinity
constexpr size_t kBlock = 4096;

/** True when a block holds a non-finite value: an integer OR-reduction the compiler vectorises. */
bool blockHasNonFinite(const float* x, size_t n) {
  uint32_t found = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    found |= static_cast<uint32_t>((bits & kExponentMask) == kExponentMask);
  }
  return found != 0;
}

}  // namespace

size_t firstNonFinite(const float* x, size_t n) {
  for (size_t start = 0; start < n; start += kBlock) {
    size_t length = n - start < kBlock ? n - start : kBlock;
    if (!blockHasNonFinite(x + start, length)) continue;
    for (size_t i = start; i < start + length; ++i) {
      uint32_t bits;
      std::memcpy(&bits, x + i, sizeof bits);
      if ((bits & kExponentMask) == kExponentMask) return i;
    }
  }
  return n;
}

}  // namespace clf
