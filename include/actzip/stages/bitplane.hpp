// SPDX-License-Identifier: Apache-2.0
//
// The bitplane encoder's per-group logic: a group is 32 zig-zagged Lorenzo deltas;
// its bit width w is the width of their bitwise OR; it is written as w 32-bit
// bitplanes, plane b holding bit b of value i at bit i (LSB first). A group of
// width 0 writes no plane. On a GPU one warp owns a group and `__ballot_sync`
// produces plane b directly; these functions are the reference it must match.
#pragma once

#include <actzip/core/bits.hpp>

#include <cstdint>

namespace actzip {

//! Number of values in a bitplane group.
inline constexpr unsigned group_size = 32;

//! Bit width of a group of 32 zig-zagged values (0 when all are zero).
ACTZIP_HD unsigned group_bit_width(const std::uint32_t* values) noexcept {
  std::uint32_t any = 0;
  for (unsigned i = 0; i < group_size; ++i) any |= values[i];
  return bit_width(any);
}

//! Writes the `width` bitplanes of 32 values to planes[0..width).
ACTZIP_HD void encode_group_planes(const std::uint32_t* values, unsigned width, std::uint32_t* planes) noexcept {
  std::uint32_t matrix[32];
  for (unsigned i = 0; i < group_size; ++i) matrix[i] = values[i];
  transpose_bits_32x32(matrix);
  for (unsigned b = 0; b < width; ++b) planes[b] = matrix[b];
}

//! Rebuilds 32 values from their `width` bitplanes (higher planes are zero).
ACTZIP_HD void decode_group_planes(const std::uint32_t* planes, unsigned width, std::uint32_t* values) noexcept {
  std::uint32_t matrix[32];
  for (unsigned b = 0; b < 32; ++b) matrix[b] = b < width ? planes[b] : 0u;
  transpose_bits_32x32(matrix);
  for (unsigned i = 0; i < group_size; ++i) values[i] = matrix[i];
}

}  // namespace actzip
