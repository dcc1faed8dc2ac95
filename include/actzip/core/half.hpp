// SPDX-License-Identifier: Apache-2.0
//
// 16-bit floating-point storage types: IEEE 754 binary16 (`actzip::half`) and
// bfloat16 (`actzip::bfloat16`). Conversions are written with integer operations
// (plus, on the host, additions of powers of two whose operands and results are
// normal floats: exact, or correctly rounded under the default rounding the
// quantizer relies on anyway), so they give the same bits on every host and device
// and do not depend on flush-to-zero modes: widening is exact, narrowing rounds to
// nearest, ties to even, keeps the sign of zero, and keeps NaNs quiet NaNs with the
// leading payload bits. The SSE2 four-lane versions in detail give the same bits.
#pragma once

#include <actzip/core/bits.hpp>

#include <cstdint>

#if ACTZIP_HAS_SSE2
#include <emmintrin.h>
#endif

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

#if ACTZIP_HAS_SSE2
namespace detail {

// SSE2 versions of the conversions, four lanes at a time, giving the same bits as
// the scalar ones (tests/half.cpp compares them on every 16-bit value and on
// random and special floats).

//! Selects a where mask is set, else b.
inline __m128i select_si128(__m128i mask, __m128i a, __m128i b) noexcept {
  return _mm_or_si128(_mm_and_si128(mask, a), _mm_andnot_si128(mask, b));
}

//! to_float(half) on four lanes: the low 16 bits of each 32-bit lane are a binary16
//! value. Exact: the only floating-point operation, for zeros and subnormals,
//! subtracts 2^-14 from 2^-14 * (1 + mantissa / 1024), which is exact and normal.
inline __m128 widen_half4(__m128i h) noexcept {
  const __m128i shifted = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x7fff)), 13);  // exponent, mantissa
  const __m128i sign = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x8000)), 16);
  const __m128i exponent_mask = _mm_set1_epi32(0x0f800000);
  const __m128i exponent = _mm_and_si128(shifted, exponent_mask);
  const __m128i rebias = _mm_set1_epi32(112 << 23);
  __m128i out = _mm_add_epi32(shifted, rebias);
  // Inf and NaN: exponent 31 becomes 255, the payload stays.
  out = _mm_add_epi32(out, _mm_and_si128(_mm_cmpeq_epi32(exponent, exponent_mask), rebias));
  // Zeros and subnormals: 2^-14 * (1 + m / 1024) - 2^-14 = m * 2^-24.
  const __m128 magic = _mm_castsi128_ps(_mm_set1_epi32(113 << 23));  // 2^-14
  const __m128i subnormal =
      _mm_castps_si128(_mm_sub_ps(_mm_castsi128_ps(_mm_add_epi32(shifted, _mm_castps_si128(magic))), magic));
  out = select_si128(_mm_cmpeq_epi32(exponent, _mm_setzero_si128()), subnormal, out);
  return _mm_castsi128_ps(_mm_or_si128(out, sign));
}

//! to_half on four lanes: each 32-bit lane gets the binary16 bits, sign-extended from
//! 16 bits (ready for _mm_packs_epi32). The rounding of the normal range is the
//! integer one of to_half; below 2^-14, adding 0.5 rounds the magnitude to a multiple
//! of 2^-24 (the binary16 subnormal bits), correctly and exactly as to_half does
//! under the default rounding the quantizer relies on (a float subnormal, flushed to
//! zero or not, rounds to 0 either way).
inline __m128i narrow_half4(__m128 v) noexcept {
  const __m128i x = _mm_castps_si128(v);
  const __m128i magnitude = _mm_and_si128(x, _mm_set1_epi32(0x7fffffff));
  const __m128i sign = _mm_slli_epi32(_mm_srai_epi32(x, 31), 15);  // 0 or 0xffff8000
  const __m128i odd = _mm_and_si128(_mm_srli_epi32(magnitude, 13), _mm_set1_epi32(1));
  // magnitude - 0x38000000 + 0xfff, modulo 2^32
  const __m128i normal =
      _mm_srli_epi32(_mm_add_epi32(_mm_add_epi32(magnitude, _mm_set1_epi32(static_cast<int>(0xc8000fffu))), odd), 13);
  const __m128 magic = _mm_castsi128_ps(_mm_set1_epi32(126 << 23));  // 0.5
  const __m128i subnormal =
      _mm_sub_epi32(_mm_castps_si128(_mm_add_ps(_mm_castsi128_ps(magnitude), magic)), _mm_castps_si128(magic));
  const __m128i quiet_nan =
      _mm_or_si128(_mm_set1_epi32(0x7e00), _mm_and_si128(_mm_srli_epi32(magnitude, 13), _mm_set1_epi32(0x3ff)));
  __m128i h = select_si128(_mm_cmpgt_epi32(magnitude, _mm_set1_epi32(0x387fffff)), normal, subnormal);
  h = select_si128(_mm_cmpgt_epi32(magnitude, _mm_set1_epi32(0x477fefff)), _mm_set1_epi32(0x7c00), h);
  h = select_si128(_mm_cmpgt_epi32(magnitude, _mm_set1_epi32(0x7f800000)), quiet_nan, h);
  return _mm_or_si128(h, sign);
}

//! to_float(bfloat16) on four lanes (the low 16 bits of each lane): a shift.
inline __m128 widen_bfloat16_4(__m128i b) noexcept { return _mm_castsi128_ps(_mm_slli_epi32(b, 16)); }

//! to_bfloat16 on four lanes, sign-extended from 16 bits like narrow_half4.
inline __m128i narrow_bfloat16_4(__m128 v) noexcept {
  const __m128i x = _mm_castps_si128(v);
  const __m128i is_nan = _mm_cmpgt_epi32(_mm_and_si128(x, _mm_set1_epi32(0x7fffffff)), _mm_set1_epi32(0x7f800000));
  const __m128i odd = _mm_and_si128(_mm_srli_epi32(x, 16), _mm_set1_epi32(1));
  const __m128i rounded = _mm_add_epi32(_mm_add_epi32(x, _mm_set1_epi32(0x7fff)), odd);
  return _mm_srai_epi32(select_si128(is_nan, _mm_or_si128(x, _mm_set1_epi32(0x400000)), rounded), 16);
}

//! to_float(to_half(v)) on four lanes, without the detour through 16 bits: the
//! normal range rounds the float bits to 10 mantissa bits as to_half does, below
//! 2^-14 adding and subtracting 0.5 rounds to a multiple of 2^-24 (both exact but for
//! that one correctly rounded addition), overflow gives Inf, NaN the quiet NaN that
//! to_half keeps.
inline __m128 round_through_half4(__m128 v) noexcept {
  const __m128i x = _mm_castps_si128(v);
  const __m128i magnitude = _mm_and_si128(x, _mm_set1_epi32(0x7fffffff));
  const __m128i sign = _mm_andnot_si128(magnitude, x);
  const __m128i odd = _mm_and_si128(_mm_srli_epi32(magnitude, 13), _mm_set1_epi32(1));
  const __m128i normal = _mm_and_si128(_mm_add_epi32(_mm_add_epi32(magnitude, _mm_set1_epi32(0xfff)), odd),
                                       _mm_set1_epi32(static_cast<int>(0xffffe000u)));
  const __m128 magic = _mm_castsi128_ps(_mm_set1_epi32(126 << 23));  // 0.5
  const __m128i subnormal = _mm_castps_si128(_mm_sub_ps(_mm_add_ps(_mm_castsi128_ps(magnitude), magic), magic));
  const __m128i is_nan = _mm_cmpgt_epi32(magnitude, _mm_set1_epi32(0x7f800000));
  // Inf for overflow, quiet NaN with the leading 10 payload bits for NaN.
  const __m128i special = _mm_and_si128(_mm_or_si128(_mm_set1_epi32(0x7f800000), _mm_and_si128(is_nan, x)),
                                        _mm_set1_epi32(static_cast<int>(0x7fffe000u)));
  const __m128i special_bits = _mm_or_si128(special, _mm_and_si128(is_nan, _mm_set1_epi32(0x400000)));
  __m128i r = select_si128(_mm_cmpgt_epi32(magnitude, _mm_set1_epi32(0x387fffff)), normal, subnormal);
  r = select_si128(_mm_cmpgt_epi32(magnitude, _mm_set1_epi32(0x477fefff)), special_bits, r);
  return _mm_castsi128_ps(_mm_or_si128(r, sign));
}

//! to_float(to_bfloat16(v)) on four lanes.
inline __m128 round_through_bfloat16_4(__m128 v) noexcept {
  return _mm_castsi128_ps(_mm_slli_epi32(narrow_bfloat16_4(v), 16));
}

}  // namespace detail
#endif

namespace detail {
//! to_float(half) with integer operations only (the device and non-SSE2 version).
//! Branch-free: every case is computed and the right one selected.
ACTZIP_HD float to_float_portable(half h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h.bits & 0x8000u) << 16;
  const std::uint32_t exponent = (h.bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = h.bits & 0x3ffu;
  const std::uint32_t normal = ((exponent + 112u) << 23) | (mantissa << 13);
  const std::uint32_t special = 0x7f800000u | (mantissa << 13);  // Inf and NaN, payload kept
  // Subnormal: value = mantissa * 2^-24 (mantissa | 1 keeps the count defined for 0).
  const unsigned top = 31u - static_cast<unsigned>(count_leading_zeros(mantissa | 1u));  // 0..9
  const std::uint32_t subnormal = ((top + 103u) << 23) | ((mantissa << (23u - top)) & 0x7fffffu);
  std::uint32_t out = mantissa == 0 ? 0u : subnormal;
  out = exponent != 0 ? normal : out;
  out = exponent == 0x1fu ? special : out;
  return bit_cast<float>(sign | out);
}
}  // namespace detail

//! Exact widening of a binary16 value to float.
ACTZIP_HD float to_float(half h) noexcept {
#if ACTZIP_DEVICE_CODE
  return detail::to_float_portable(h);
#else
  const std::uint32_t shifted = static_cast<std::uint32_t>(h.bits & 0x7fffu) << 13;  // exponent and mantissa
  const std::uint32_t exponent = shifted & 0x0f800000u;
  std::uint32_t out = shifted + (112u << 23) + (exponent == 0x0f800000u ? 112u << 23 : 0u);  // Inf, NaN: 31 -> 255
  const float magic = bit_cast<float>(113u << 23);  // 2^-14
  const std::uint32_t subnormal = bit_cast<std::uint32_t>(bit_cast<float>(shifted + (113u << 23)) - magic);
  out = exponent == 0 ? subnormal : out;
  return bit_cast<float>(out | (static_cast<std::uint32_t>(h.bits & 0x8000u) << 16));
#endif
}

//! Narrowing of a float to binary16, round to nearest, ties to even. Branch-free.
ACTZIP_HD half to_half(float value) noexcept {
  const std::uint32_t x = bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t magnitude = x & 0x7fffffffu;
  // NaN: quiet, keep the leading payload bits.
  const std::uint32_t quiet_nan = 0x7e00u | ((magnitude >> 13) & 0x3ffu);
  // Normal binary16 range: drop 13 bits, adding 0xfff plus the kept lowest bit rounds
  // to nearest, ties to even; a carry moves into the exponent correctly (up to Inf).
  const std::uint32_t normal = (magnitude - 0x38000000u + 0xfffu + ((magnitude >> 13) & 1u)) >> 13;
  // Subnormal binary16 (units of 2^-24): the same rounding with a shift of 126 -
  // exponent, 14..24; clamping it at 25 gives 0 for everything below 2^-25.
  int shift = 126 - static_cast<int>(magnitude >> 23);
  shift = shift < 14 ? 14 : shift;
  shift = shift > 25 ? 25 : shift;
  const unsigned s = static_cast<unsigned>(shift);
  const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  const std::uint32_t subnormal = (mantissa + ((1u << (s - 1u)) - 1u) + ((mantissa >> s) & 1u)) >> s;
  std::uint32_t h = magnitude >= 0x38800000u ? normal : subnormal;
  h = magnitude >= 0x477ff000u ? 0x7c00u : h;  // >= 65520 rounds to infinity (or is one)
  h = magnitude > 0x7f800000u ? quiet_nan : h;
  return half{static_cast<std::uint16_t>(sign | h)};
}

//! Exact widening of a bfloat16 value to float.
ACTZIP_HD float to_float(bfloat16 b) noexcept { return bit_cast<float>(static_cast<std::uint32_t>(b.bits) << 16); }

//! Narrowing of a float to bfloat16, round to nearest, ties to even.
ACTZIP_HD bfloat16 to_bfloat16(float value) noexcept {
  const std::uint32_t x = bit_cast<std::uint32_t>(value);
  const std::uint32_t quiet_nan = (x >> 16) | 0x40u;  // quiet, keep the leading payload bits
  const std::uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  return bfloat16{static_cast<std::uint16_t>((x & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded)};
}

}  // namespace actzip
