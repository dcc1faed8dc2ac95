// SPDX-License-Identifier: Apache-2.0
//
// 16-bit floating-point storage types: IEEE 754 binary16 (`actzip::half`) and
// bfloat16 (`actzip::bfloat16`). Conversions are written with integer operations
// only, so they give the same bits on every host and device and do not depend on
// flush-to-zero modes: widening is exact, narrowing rounds to nearest, ties to even,
// keeps the sign of zero, and keeps NaNs quiet NaNs with the leading payload bits.
#pragma once

#include <actzip/core/bits.hpp>

#include <cstdint>

namespace actzip {

//! IEEE 754 binary16 value stored as its 16 bits. Layout-compatible with CUDA's
//! `__half` and PyTorch's `torch.half`.
struct half {
  std::uint16_t bits;  //!< the raw binary16 bits
};

//! bfloat16 value (the upper 16 bits of a binary32) stored as its 16 bits.
//! Layout-compatible with CUDA's `__nv_bfloat16` and `torch.bfloat16`.
struct bfloat16 {
  std::uint16_t bits;  //!< the raw bfloat16 bits
};

//! Exact widening of a binary16 value to float.
ACTZIP_HD float to_float(half h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h.bits & 0x8000u) << 16;
  const std::uint32_t exponent = (h.bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = h.bits & 0x3ffu;
  std::uint32_t out;
  if (exponent == 0x1fu) {
    out = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    out = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    out = sign;
  } else {  // subnormal: value = mantissa * 2^-24
    const unsigned top = 31u - static_cast<unsigned>(count_leading_zeros(mantissa));  // 0..9
    out = sign | ((top + 103u) << 23) | ((mantissa << (23u - top)) & 0x7fffffu);
  }
  return bit_cast<float>(out);
}

//! Narrowing of a float to binary16, round to nearest, ties to even.
ACTZIP_HD half to_half(float value) noexcept {
  const std::uint32_t x = bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t magnitude = x & 0x7fffffffu;
  std::uint32_t h;
  if (magnitude > 0x7f800000u) {  // NaN: quiet, keep the leading payload bits
    h = 0x7e00u | ((magnitude >> 13) & 0x3ffu);
  } else if (magnitude >= 0x477ff000u) {  // >= 65520 rounds to infinity (or is one)
    h = 0x7c00u;
  } else if (magnitude >= 0x38800000u) {  // normal binary16 range
    h = (magnitude - 0x38000000u) >> 13;
    const std::uint32_t rest = magnitude & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry moves into the exponent correctly
  } else if (magnitude <= 0x33000000u) {  // <= 2^-25 rounds to zero
    h = 0;
  } else {  // binary16 subnormal: units of 2^-24
    const std::uint32_t exponent = magnitude >> 23;  // 102..112
    const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - exponent;  // 14..24
    h = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1u << shift) - 1u);
    const std::uint32_t halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (h & 1u))) ++h;
  }
  return half{static_cast<std::uint16_t>(sign | h)};
}

//! Exact widening of a bfloat16 value to float.
ACTZIP_HD float to_float(bfloat16 b) noexcept { return bit_cast<float>(static_cast<std::uint32_t>(b.bits) << 16); }

//! Narrowing of a float to bfloat16, round to nearest, ties to even.
ACTZIP_HD bfloat16 to_bfloat16(float value) noexcept {
  const std::uint32_t x = bit_cast<std::uint32_t>(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) return bfloat16{static_cast<std::uint16_t>((x >> 16) | 0x40u)};
  const std::uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);
  return bfloat16{static_cast<std::uint16_t>(rounded >> 16)};
}

}  // namespace actzip
