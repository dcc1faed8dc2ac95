// SPDX-License-Identifier: Apache-2.0
//
// Byte layout of one bitplane chunk, and its validating parser. A chunk is either
// empty (zero bytes: every delta is zero and nothing is stored losslessly), raw
// (the chunk's values verbatim, used whenever encoding would be larger), or encoded:
// a control word, a bitmap of the non-zero groups, their bit widths, their
// bitplanes, and the losslessly stored values with their positions. Every section
// is padded to 4 bytes with zeros. docs/FORMAT.md describes it byte by byte.
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/error.hpp>
#include <actzip/format/geometry.hpp>
#include <actzip/stages/bitplane.hpp>

#include <cstdint>

namespace actzip {

namespace detail {

inline constexpr std::uint32_t chunk_raw_flag = 0x80000000u;
inline constexpr std::uint32_t chunk_count_mask = 0x0000ffffu;

ACTZIP_HD std::uint64_t pad4(std::uint64_t bytes) noexcept { return (bytes + 3) & ~std::uint64_t(3); }

//! Number of bitplane groups of a chunk of n elements.
ACTZIP_HD std::uint32_t chunk_group_count(std::uint32_t n) noexcept { return (n + group_size - 1) / group_size; }
//! Number of 32-bit bitmap words for `groups` groups.
ACTZIP_HD std::uint32_t chunk_bitmap_words(std::uint32_t groups) noexcept { return (groups + 31) / 32; }

//! Byte offsets of the sections of an encoded chunk.
struct encoded_chunk_layout {
  std::uint32_t bitmap;    //!< offset of the bitmap (always 4)
  std::uint32_t widths;    //!< offset of the width bytes
  std::uint32_t planes;    //!< offset of the bitplanes
  std::uint32_t indices;   //!< offset of the lossless positions (uint16 each)
  std::uint32_t values;    //!< offset of the lossless values (element bytes each)
  std::uint32_t total;     //!< size of the chunk
};

//! Layout of an encoded chunk of `n` elements with `nonzero_groups` non-zero groups,
//! `plane_words` bitplanes in all and `lossless_count` values stored losslessly.
ACTZIP_HD encoded_chunk_layout make_encoded_layout(std::uint32_t n, std::uint32_t nonzero_groups,
                                                   std::uint32_t plane_words, std::uint32_t lossless_count,
                                                   unsigned value_size) noexcept {
  encoded_chunk_layout l;
  l.bitmap = 4;
  l.widths = l.bitmap + 4 * chunk_bitmap_words(chunk_group_count(n));
  l.planes = l.widths + static_cast<std::uint32_t>(pad4(nonzero_groups));
  l.indices = l.planes + 4 * plane_words;
  l.values = l.indices + static_cast<std::uint32_t>(pad4(2u * lossless_count));
  l.total = l.values + static_cast<std::uint32_t>(pad4(std::uint64_t(value_size) * lossless_count));
  return l;
}

//! Size of a raw chunk of n elements.
ACTZIP_HD std::uint32_t raw_chunk_bytes(std::uint32_t n, unsigned value_size) noexcept {
  return 4u + static_cast<std::uint32_t>(pad4(std::uint64_t(n) * value_size));
}

ACTZIP_HD bool zero_bytes(const unsigned char* p, std::uint64_t count) noexcept {
  for (std::uint64_t i = 0; i < count; ++i)
    if (p[i] != 0) return false;
  return true;
}

}  // namespace detail

//! A validated view of one chunk's bytes.
struct chunk_view {
  enum class kind { empty, raw, encoded } type = kind::empty;  //!< how the chunk is stored
  const unsigned char* base = nullptr;  //!< first byte of the chunk
  std::uint32_t group_count = 0;        //!< groups of 32 in the chunk
  std::uint32_t lossless_count = 0;     //!< values stored losslessly (encoded chunks)
  detail::encoded_chunk_layout layout{};  //!< section offsets (encoded chunks)
  //! True when group g is non-zero (encoded chunks).
  ACTZIP_HD bool group_present(std::uint32_t g) const noexcept {
    return (load_le32(base + layout.bitmap + 4 * (g / 32)) >> (g % 32)) & 1u;
  }
};

//! Validates the `size` bytes of a chunk of `n` elements (1..max_chunk_elements) of
//! `value_size`-byte values. Checks that the control word's reserved bits are zero,
//! that bitmap bits past the last group are zero, that every width is 1..32, that
//! positions are strictly increasing and below n, that padding is zero, and that the
//! sections add up to exactly `size`.
ACTZIP_HD status parse_chunk(const unsigned char* bytes, std::uint64_t size, std::uint32_t n, unsigned value_size,
                             chunk_view* view) noexcept {
  chunk_view v;
  v.base = bytes;
  v.group_count = detail::chunk_group_count(n);
  if (size == 0) {
    v.type = chunk_view::kind::empty;
    *view = v;
    return status::success;
  }
  if (size < 4) return status::corrupt_stream;
  const std::uint32_t control = load_le32(bytes);
  if (control & detail::chunk_raw_flag) {
    if (control != detail::chunk_raw_flag) return status::corrupt_stream;
    if (size != detail::raw_chunk_bytes(n, value_size)) return status::corrupt_stream;
    const std::uint64_t used = 4 + std::uint64_t(n) * value_size;
    if (!detail::zero_bytes(bytes + used, size - used)) return status::corrupt_stream;
    v.type = chunk_view::kind::raw;
    *view = v;
    return status::success;
  }
  if ((control & ~detail::chunk_count_mask) != 0) return status::corrupt_stream;
  const std::uint32_t lossless = control & detail::chunk_count_mask;
  if (lossless > n) return status::corrupt_stream;
  const std::uint32_t bitmap_words = detail::chunk_bitmap_words(v.group_count);
  if (size < 4 + 4ull * bitmap_words) return status::corrupt_stream;
  std::uint32_t nonzero = 0;
  for (std::uint32_t w = 0; w < bitmap_words; ++w) {
    std::uint32_t word = load_le32(bytes + 4 + 4 * w);
    const std::uint32_t first_group = 32 * w;
    if (v.group_count - first_group < 32) {
      const std::uint32_t valid_mask = (1u << (v.group_count - first_group)) - 1u;
      if (word & ~valid_mask) return status::corrupt_stream;
    }
    nonzero += population_count(word);
  }
  const std::uint64_t widths_at = 4 + 4ull * bitmap_words;
  if (size < widths_at + detail::pad4(nonzero)) return status::corrupt_stream;
  std::uint32_t plane_words = 0;
  for (std::uint32_t k = 0; k < nonzero; ++k) {
    const unsigned width = bytes[widths_at + k];
    if (width < 1 || width > 32) return status::corrupt_stream;
    plane_words += width;
  }
  if (!detail::zero_bytes(bytes + widths_at + nonzero, detail::pad4(nonzero) - nonzero)) return status::corrupt_stream;
  v.layout = detail::make_encoded_layout(n, nonzero, plane_words, lossless, value_size);
  if (v.layout.total != size) return status::corrupt_stream;
  std::int64_t previous = -1;
  for (std::uint32_t k = 0; k < lossless; ++k) {
    const std::uint32_t position = load_le16(bytes + v.layout.indices + 2 * k);
    if (position >= n || static_cast<std::int64_t>(position) <= previous) return status::corrupt_stream;
    previous = position;
  }
  if (!detail::zero_bytes(bytes + v.layout.indices + 2ull * lossless, v.layout.values - v.layout.indices - 2ull * lossless))
    return status::corrupt_stream;
  const std::uint64_t values_end = v.layout.values + std::uint64_t(value_size) * lossless;
  if (!detail::zero_bytes(bytes + values_end, v.layout.total - values_end)) return status::corrupt_stream;
  v.type = chunk_view::kind::encoded;
  v.lossless_count = lossless;
  *view = v;
  return status::success;
}

}  // namespace actzip
