// A double-precision exp that GCC vectorises inside `#pragma omp simd` loops (glibc's exp only vectorises under
// -ffast-math, which the core does not use). The log-domain steps of Sinkhorn spend their time here.
#pragma once
#include <cstdint>

namespace clf::detail {

/**
 * e^x for x <= 709, with 0 returned below -708 (where e^x is subnormal or zero in double).
 *
 * Cody–Waite reduction x = k ln2 + r with k = round(x / ln2) and |r| <= ln2 / 2 (ln2 split into a high part with
 * trailing zero bits and a low correction, so k ln2_hi is exact), e^r by its Taylor series to r^12 (truncation
 * error < 2e-16 relative on that interval), and 2^k built directly in the exponent field. k is obtained with the
 * 1.5 * 2^52 shift trick: adding it rounds x / ln2 to an integer held in the low mantissa bits, which avoids a
 * double -> int64 conversion that AVX2 lacks. Accurate to a few ulp.
 */
inline double expUpTo709(double x) {
  constexpr double kLog2e = 1.4426950408889634074;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kRoundShift = 0x1.8p52;
  const double lower = x < -708.0 ? -708.0 : x;
  const double clamped = lower > 709.0 ? 709.0 : lower;
  const double shifted = clamped * kLog2e + kRoundShift;
  const double k = shifted - kRoundShift;
  const double r = (clamped - k * kLn2Hi) - k * kLn2Lo;
  double p = 1.0 / 479001600.0;  // 1/12!
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // The low 12 bits of `shifted` hold k mod 2^12; moved into the exponent field and biased they give 2^k.
  const uint64_t bits = (__builtin_bit_cast(uint64_t, shifted) << 52) + (uint64_t{1023} << 52);
  const double twoToK = __builtin_bit_cast(double, bits);
  const double value = p * twoToK;
  return x < -708.0 ? 0.0 : value;
}

}  // namespace clf::detail
