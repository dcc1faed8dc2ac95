// SPDX-License-Identifier: Apache-2.0
//
// Bit utilities shared by host and device code: bit casts, leading-zero counts,
// population counts, zig-zag mapping, the 32x32 bit-matrix transpose behind the
// bitplane codec, and little-endian loads and stores of stream words.
#pragma once

#include <actzip/config.hpp>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace actzip {

//! Reinterprets the bits of `from` as a `To` of the same size (std::bit_cast for C++17).
template <class To, class From>
ACTZIP_HD To bit_cast(const From& from) noexcept {
  static_assert(sizeof(To) == sizeof(From), "bit_cast needs types of equal size");
  static_assert(std::is_trivially_copyable<To>::value && std::is_trivially_copyable<From>::value,
                "bit_cast needs trivially copyable types");
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

//! Number of leading zero bits of a 32-bit word (32 for 0).
ACTZIP_HD int count_leading_zeros(std::uint32_t x) noexcept {
#if ACTZIP_DEVICE_CODE
  return __clz(static_cast<int>(x));
#elif defined(__GNUC__) || defined(__clang__)
  return x == 0 ? 32 : __builtin_clz(x);
#else
  int n = 0;
  for (std::uint32_t bit = 0x80000000u; bit != 0 && !(x & bit); bit >>= 1) ++n;
  return n;
#endif
}

//! Number of bits needed to write x: 0 for 0, 32 when the top bit is set.
ACTZIP_HD unsigned bit_width(std::uint32_t x) noexcept { return 32u - static_cast<unsigned>(count_leading_zeros(x)); }

//! Number of set bits in a 32-bit word.
ACTZIP_HD unsigned population_count(std::uint32_t x) noexcept {
#if ACTZIP_DEVICE_CODE
  return static_cast<unsigned>(__popc(x));
#elif defined(__GNUC__) || defined(__clang__)
  return static_cast<unsigned>(__builtin_popcount(x));
#else
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  return (((x + (x >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24;
#endif
}

//! Zig-zag map of a two's-complement 32-bit integer (given as its bits) to an
//! unsigned one: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
ACTZIP_HD std::uint32_t zigzag_encode(std::uint32_t value) noexcept {
  return (value << 1) ^ (0u - (value >> 31));
}

//! Inverse of zigzag_encode.
ACTZIP_HD std::uint32_t zigzag_decode(std::uint32_t code) noexcept { return (code >> 1) ^ (0u - (code & 1u)); }

//! Transposes a 32x32 bit matrix in place: afterwards bit j of word i is what bit i
//! of word j was. Used in both directions by the bitplane codec: 32 values in, 32
//! bitplanes out (plane b holds bit b of value i at bit i), and back.
ACTZIP_HD void transpose_bits_32x32(std::uint32_t (&words)[32]) noexcept {
  // Recursive block swap: exchange the off-diagonal blocks of size 16, 8, 4, 2, 1.
  // The inner loop runs over contiguous rows, which compilers vectorise.
  std::uint32_t mask = 0x0000ffffu;
  for (unsigned width = 16; width != 0; width >>= 1, mask ^= mask << width) {
    for (unsigned block = 0; block < 32; block += 2 * width) {
      for (unsigned row = block; row < block + width; ++row) {
        const std::uint32_t swap = ((words[row] >> width) ^ words[row + width]) & mask;
        words[row] ^= swap << width;
        words[row + width] ^= swap;
      }
    }
  }
}

//! Stores a 32-bit word at `out` in little-endian byte order (no alignment needed).
ACTZIP_HD void store_le32(unsigned char* out, std::uint32_t value) noexcept {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  std::memcpy(out, &value, 4);
#else
  for (int i = 0; i < 4; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
#endif
}

//! Loads a little-endian 32-bit word from `in` (no alignment needed).
ACTZIP_HD std::uint32_t load_le32(const unsigned char* in) noexcept {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  std::uint32_t value;
  std::memcpy(&value, in, 4);
  return value;
#else
  return static_cast<std::uint32_t>(in[0]) | static_cast<std::uint32_t>(in[1]) << 8 |
         static_cast<std::uint32_t>(in[2]) << 16 | static_cast<std::uint32_t>(in[3]) << 24;
#endif
}

//! Stores a 16-bit value little-endian.
ACTZIP_HD void store_le16(unsigned char* out, std::uint16_t value) noexcept {
  out[0] = static_cast<unsigned char>(value);
  out[1] = static_cast<unsigned char>(value >> 8);
}

//! Loads a little-endian 16-bit value.
ACTZIP_HD std::uint16_t load_le16(const unsigned char* in) noexcept {
  return static_cast<std::uint16_t>(in[0] | (in[1] << 8));
}

//! Stores a 64-bit value little-endian.
ACTZIP_HD void store_le64(unsigned char* out, std::uint64_t value) noexcept {
  store_le32(out, static_cast<std::uint32_t>(value));
  store_le32(out + 4, static_cast<std::uint32_t>(value >> 32));
}

//! Loads a little-endian 64-bit value.
ACTZIP_HD std::uint64_t load_le64(const unsigned char* in) noexcept {
  return static_cast<std::uint64_t>(load_le32(in)) | static_cast<std::uint64_t>(load_le32(in + 4)) << 32;
}

//! An unsigned key with the order of the float `v` (for finite values and
//! infinities): key(a) < key(b) exactly when a < b, and -0 < +0. A GPU finds
//! minima and maxima of floats with integer atomics on these keys. No finite value
//! has the key 0.
ACTZIP_HD std::uint64_t order_key(float v) noexcept {
  const std::uint32_t b = bit_cast<std::uint32_t>(v);
  return (b >> 31) ? ~b : (b | 0x80000000u);
}

//! order_key for double.
ACTZIP_HD std::uint64_t order_key(double v) noexcept {
  const std::uint64_t b = bit_cast<std::uint64_t>(v);
  return (b >> 63) ? ~b : (b | 0x8000000000000000ull);
}

//! The value of type C (float or double) whose order_key is `key`.
template <class C>
ACTZIP_HD C from_order_key(std::uint64_t key) noexcept {
  if constexpr (sizeof(C) == 4) {
    const std::uint32_t k = static_cast<std::uint32_t>(key);
    return bit_cast<float>((k >> 31) ? (k & 0x7fffffffu) : ~k);
  } else {
    return bit_cast<double>((key >> 63) ? (key & 0x7fffffffffffffffull) : ~key);
  }
}

}  // namespace actzip
