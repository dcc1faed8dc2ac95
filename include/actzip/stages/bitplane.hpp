// SPDX-License-Identifier: Apache-2.0
//
// The bitplane encoder's per-group logic: a group is 32 zig-zagged Lorenzo deltas;
// its bit width w is the width of their bitwise OR; it is written as w 32-bit
// bitplanes, plane b holding bit b of value i at bit i (LSB first). A group of
// width 0 writes no plane. On a GPU one warp owns a group and `__ballot_sync`
// produces plane b directly; these functions are the reference it must match.
// On x86 hosts, SSE2 versions (same bits) serve the host codec.
#pragma once

#include <actzip/core/bits.hpp>

#include <cstdint>

#if ACTZIP_HAS_SSE2
#include <emmintrin.h>
#endif

namespace actzip {

//! Number of values in a bitplane group.
inline constexpr unsigned group_size = 32;

//! Bit width of a group of 32 zig-zagged values (0 when all are zero).
ACTZIP_HD unsigned group_bit_width(const std::uint32_t* values) noexcept {
  std::uint32_t any = 0;
  for (unsigned i = 0; i < group_size; ++i) any |= values[i];
  return bit_width(any);
}

namespace detail {

//! Portable encode_group_planes: a full 32x32 bit transpose.
ACTZIP_HD void encode_group_planes_portable(const std::uint32_t* values, unsigned width,
                                            std::uint32_t* planes) noexcept {
  std::uint32_t matrix[32];
  for (unsigned i = 0; i < group_size; ++i) matrix[i] = values[i];
  transpose_bits_32x32(matrix);
  for (unsigned b = 0; b < width; ++b) planes[b] = matrix[b];
}

//! Portable decode_group_planes: a full 32x32 bit transpose.
ACTZIP_HD void decode_group_planes_portable(const std::uint32_t* planes, unsigned width,
                                            std::uint32_t* values) noexcept {
  std::uint32_t matrix[32];
  for (unsigned b = 0; b < 32; ++b) matrix[b] = b < width ? planes[b] : 0u;
  transpose_bits_32x32(matrix);
  for (unsigned i = 0; i < group_size; ++i) values[i] = matrix[i];
}

#if ACTZIP_HAS_SSE2
// The SSE2 codec works on byte layers: layer k is byte k of the 32 values, which
// holds planes 8k..8k+7. Only the layers below the width are touched.

//! Writes the `width` planes of 32 values to out[0, 4 * width), little-endian.
inline void encode_group_planes_sse2(const std::uint32_t* values, unsigned width, unsigned char* out) noexcept {
  __m128i v[8];
  for (int i = 0; i < 8; ++i) v[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(values) + i);
  const __m128i low_byte = _mm_set1_epi32(0xff);
  for (unsigned layer = 0; 8 * layer < width; ++layer) {
    // Byte `layer` of values 0..15 (lo) and 16..31 (hi), one byte per value; the
    // packs cannot saturate on values below 256.
    const __m128i shift = _mm_cvtsi32_si128(static_cast<int>(8 * layer));
    __m128i b[8];
    for (int i = 0; i < 8; ++i) b[i] = _mm_and_si128(_mm_srl_epi32(v[i], shift), low_byte);
    __m128i lo = _mm_packus_epi16(_mm_packs_epi32(b[0], b[1]), _mm_packs_epi32(b[2], b[3]));
    __m128i hi = _mm_packus_epi16(_mm_packs_epi32(b[4], b[5]), _mm_packs_epi32(b[6], b[7]));
    // Bring the layer's highest needed plane to each byte's top bit (16-bit shifts
    // move bits across bytes, but no bit below the top one is ever read), then read
    // the top bits with movemask and move the next plane up by adding each byte to
    // itself.
    const unsigned planes = width - 8 * layer < 8 ? width - 8 * layer : 8;
    const __m128i up = _mm_cvtsi32_si128(static_cast<int>(8 - planes));
    lo = _mm_sll_epi16(lo, up);
    hi = _mm_sll_epi16(hi, up);
    for (unsigned p = planes; p-- > 0;) {
      const std::uint32_t plane = static_cast<std::uint32_t>(_mm_movemask_epi8(lo)) |
                                  static_cast<std::uint32_t>(_mm_movemask_epi8(hi)) << 16;
      store_le32(out + 4 * (8 * layer + p), plane);
      lo = _mm_add_epi8(lo, lo);
      hi = _mm_add_epi8(hi, hi);
    }
  }
}

//! Transposes the 8x8 bit matrix in each 64-bit lane (bit 8i+j <-> bit 8j+i).
inline __m128i transpose_bits_8x8_sse2(__m128i x) noexcept {
  __m128i t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64(x, 7)), _mm_set1_epi64x(0x00AA00AA00AA00AALL));
  x = _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64(t, 7)));
  t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64(x, 14)), _mm_set1_epi64x(0x0000CCCC0000CCCCLL));
  x = _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64(t, 14)));
  t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64(x, 28)), _mm_set1_epi64x(0x00000000F0F0F0F0LL));
  return _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64(t, 28)));
}

//! Rebuilds 32 values from `width` little-endian planes at `in`.
inline void decode_group_planes_sse2(const unsigned char* in, unsigned width, std::uint32_t* values) noexcept {
  const __m128i zero = _mm_setzero_si128();
  __m128i layers[4][2] = {{zero, zero}, {zero, zero}, {zero, zero}, {zero, zero}};
  for (unsigned layer = 0; layer < 4 && 8 * layer < width; ++layer) {
    // The layer's eight planes; those at or above the width are zero.
    __m128i a, b;
    const unsigned planes = width - 8 * layer;
    if (planes >= 8) {
      a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 32 * layer));
      b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 32 * layer + 16));
    } else {
      unsigned char buffer[32] = {};
      std::memcpy(buffer, in + 32 * layer, 4 * planes);
      a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buffer));
      b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buffer + 16));
    }
    // Byte transpose: 64-bit lane q of (x0, x1) gets byte q of planes 0..7, an
    // 8x8 bit matrix whose transpose is byte `layer` of values 8q..8q+7.
    const __m128i t0 = _mm_unpacklo_epi8(a, b), t1 = _mm_unpackhi_epi8(a, b);
    const __m128i u0 = _mm_unpacklo_epi8(t0, t1), u1 = _mm_unpackhi_epi8(t0, t1);
    layers[layer][0] = transpose_bits_8x8_sse2(_mm_unpacklo_epi8(u0, u1));
    layers[layer][1] = transpose_bits_8x8_sse2(_mm_unpackhi_epi8(u0, u1));
  }
  // Interleave the byte layers into 32-bit values.
  for (int half = 0; half < 2; ++half) {
    const __m128i l01 = _mm_unpacklo_epi8(layers[0][half], layers[1][half]);
    const __m128i h01 = _mm_unpackhi_epi8(layers[0][half], layers[1][half]);
    const __m128i l23 = _mm_unpacklo_epi8(layers[2][half], layers[3][half]);
    const __m128i h23 = _mm_unpackhi_epi8(layers[2][half], layers[3][half]);
    __m128i* out = reinterpret_cast<__m128i*>(values + 16 * half);
    _mm_storeu_si128(out + 0, _mm_unpacklo_epi16(l01, l23));
    _mm_storeu_si128(out + 1, _mm_unpackhi_epi16(l01, l23));
    _mm_storeu_si128(out + 2, _mm_unpacklo_epi16(h01, h23));
    _mm_storeu_si128(out + 3, _mm_unpackhi_epi16(h01, h23));
  }
}
#endif

}  // namespace detail

//! Writes the `width` bitplanes of 32 values to planes[0..width).
ACTZIP_HD void encode_group_planes(const std::uint32_t* values, unsigned width, std::uint32_t* planes) noexcept {
  detail::encode_group_planes_portable(values, width, planes);
}

//! Rebuilds 32 values from their `width` bitplanes (higher planes are zero).
ACTZIP_HD void decode_group_planes(const std::uint32_t* planes, unsigned width, std::uint32_t* values) noexcept {
  detail::decode_group_planes_portable(planes, width, values);
}

//! Writes the `width` bitplanes of 32 values to out[0, 4 * width) as little-endian
//! words (the stream's layout).
ACTZIP_HD void store_group_planes(const std::uint32_t* values, unsigned width, unsigned char* out) noexcept {
#if ACTZIP_HAS_SSE2
  detail::encode_group_planes_sse2(values, width, out);
#else
  std::uint32_t planes[32];
  detail::encode_group_planes_portable(values, width, planes);
  for (unsigned p = 0; p < width; ++p) store_le32(out + 4 * p, planes[p]);
#endif
}

//! Rebuilds 32 values from `width` little-endian bitplanes at `in` (the stream's
//! layout; higher planes are zero).
ACTZIP_HD void load_group_planes(const unsigned char* in, unsigned width, std::uint32_t* values) noexcept {
#if ACTZIP_HAS_SSE2
  detail::decode_group_planes_sse2(in, width, values);
#else
  std::uint32_t planes[32];
  for (unsigned p = 0; p < width; ++p) planes[p] = load_le32(in + 4 * p);
  detail::decode_group_planes_portable(planes, width, values);
#endif
}

}  // namespace actzip
