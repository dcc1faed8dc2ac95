// SPDX-License-Identifier: Apache-2.0
//
// Division of 64-bit unsigned integers by a divisor fixed in advance, with one
// high multiplication, an add and shifts instead of a division instruction
// (Granlund and Montgomery, "Division by invariant integers using multiplication",
// 1994, the round-up method for N-bit unsigned division). Exact for every dividend
// and every divisor >= 1. The chunk grid uses it to turn a chunk index into chunk
// coordinates: a GPU has no integer divide instruction, and the division it emits
// instead costs dozens of instructions.
#pragma once

#include <actzip/config.hpp>

#include <cstdint>

namespace actzip {

//! The high 64 bits of the 128-bit product a * b from 32-bit halves (compilers
//! without a 128-bit integer type).
ACTZIP_HD std::uint64_t multiply_high_portable(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
  const std::uint64_t low = a0 * b0, mid1 = a1 * b0, mid2 = a0 * b1;
  const std::uint64_t carry = ((low >> 32) + (mid1 & 0xffffffffu) + (mid2 & 0xffffffffu)) >> 32;
  return a1 * b1 + (mid1 >> 32) + (mid2 >> 32) + carry;
}

//! The high 64 bits of the 128-bit product a * b.
ACTZIP_HD std::uint64_t multiply_high(std::uint64_t a, std::uint64_t b) noexcept {
#if ACTZIP_DEVICE_CODE
  return __umul64hi(a, b);
#elif defined(__SIZEOF_INT128__)
  __extension__ typedef unsigned __int128 wide;  // __extension__: no -Wpedantic warning
  return static_cast<std::uint64_t>((static_cast<wide>(a) * b) >> 64);
#else
  return multiply_high_portable(a, b);
#endif
}

//! n / d and n % d for a divisor d fixed when the object is made.
class fast_divisor {
 public:
  //! Trivial (so that structures holding one may live in shared memory); a
  //! value-initialised one divides by 1 and must not be asked for a remainder.
  fast_divisor() = default;

  //! d >= 1 (0 is taken as 1).
  ACTZIP_HD explicit fast_divisor(std::uint64_t d) noexcept : divisor_(d == 0 ? 1 : d) {
    // l = ceil(log2 d); multiplier = floor(2^64 * (2^l - d) / d) + 1, computed by long
    // division of (2^l - d) * 2^64 by d (2^l - d < d, so the quotient fits 64 bits).
    unsigned l = 0;
    while (l < 64 && (std::uint64_t{1} << l) < divisor_) ++l;
    const std::uint64_t r = (l == 64 ? std::uint64_t{0} : (std::uint64_t{1} << l)) - divisor_;
    std::uint64_t q = 0, rem = r;
    for (int i = 0; i < 64; ++i) {
      const bool carry = (rem >> 63) != 0;
      rem <<= 1;
      q <<= 1;
      if (carry || rem >= divisor_) {
        rem -= divisor_;
        q |= 1u;
      }
    }
    multiplier_ = q + 1;
    shift1_ = l < 1 ? l : 1;
    shift2_ = l > 1 ? l - 1 : 0;
  }

  ACTZIP_HD std::uint64_t divisor() const noexcept { return divisor_; }

  //! n / d.
  ACTZIP_HD std::uint64_t divide(std::uint64_t n) const noexcept {
    const std::uint64_t t = multiply_high(multiplier_, n);
    return (t + ((n - t) >> shift1_)) >> shift2_;
  }

  //! n % d, given q = n / d.
  ACTZIP_HD std::uint64_t remainder(std::uint64_t n, std::uint64_t q) const noexcept { return n - q * divisor_; }

 private:
  std::uint64_t divisor_;
  std::uint64_t multiplier_;
  unsigned shift1_, shift2_;
};

}  // namespace actzip
