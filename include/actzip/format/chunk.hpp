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
#include <actzip/params.hpp>
#include <actzip/stages/bitplane.hpp>
#include <actzip/stages/huffman.hpp>

#include <cstdint>

namespace actzip {

namespace detail {

inline constexpr std::uint32_t chunk_raw_flag = 0x80000000u;
inline constexpr std::uint32_t chunk_huffman_flag = 0x40000000u;
inline constexpr std::uint32_t chunk_predictor_mask = 0x00030000u;  // Huffman chunks: the predictor
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

//! Layout of a Huffman chunk of `n` elements whose bit stream is `bits` long, with
//! `lossless_count` values stored losslessly: `widths` is the offset of the segment
//! sizes, `planes` that of the bit stream.
ACTZIP_HD encoded_chunk_layout make_huffman_layout(std::uint32_t n, std::uint64_t bits, std::uint32_t lossless_count,
                                                   unsigned value_size) noexcept {
  encoded_chunk_layout l;
  l.bitmap = 4;
  l.widths = 4;
  l.planes = l.widths + static_cast<std::uint32_t>(pad4(2u * huffman_segment_count(n)));
  l.indices = l.planes + static_cast<std::uint32_t>(pad4((bits + 7) / 8));
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
  //! How the chunk is stored: nothing (all zero), raw, bitplane-encoded, Huffman-encoded.
  enum class kind { empty, raw, encoded, huffman } type = kind::empty;
  const unsigned char* base = nullptr;  //!< first byte of the chunk
  std::uint32_t group_count = 0;        //!< groups of 32 in the chunk
  std::uint32_t lossless_count = 0;     //!< values stored losslessly (encoded chunks)
  detail::encoded_chunk_layout layout{};  //!< section offsets (encoded and Huffman chunks)
  std::uint32_t stream_bits = 0;        //!< length of the bit stream (Huffman chunks)
  predictor huffman_predictor = predictor::lorenzo_3d;  //!< the predictor (Huffman chunks)
  //! True when group g is non-zero (encoded chunks).
  ACTZIP_HD bool group_present(std::uint32_t g) const noexcept {
    return (load_le32(base + layout.bitmap + 4 * (g / 32)) >> (g % 32)) & 1u;
  }
};

// The parser is split into the steps below so that an executor can run the
// per-group and per-position checks in parallel (the CUDA executor gives each to its
// own thread); parse_chunk runs them in order. Every byte a step reads lies inside
// the `size` bytes that the steps before it have proven to exist.

//! First step: the control word, and for raw chunks everything. For encoded chunks,
//! the bitmap (bits past the last group must be zero), the number of non-zero groups
//! (`*nonzero_groups`) and the zero padding after their width bytes; sets
//! view->layout.bitmap and view->layout.widths. The width bytes themselves are
//! checked by valid_group_width, the rest by finish_chunk_layout.
ACTZIP_HD status parse_chunk_prologue(const unsigned char* bytes, std::uint64_t size, std::uint32_t n,
                                      unsigned value_size, chunk_view* view, std::uint32_t* nonzero_groups,
                                      stream_fault* fault = nullptr) noexcept {
  using detail::refuse;
  constexpr status corrupt = status::corrupt_stream;
  chunk_view v;
  v.base = bytes;
  v.group_count = detail::chunk_group_count(n);
  *nonzero_groups = 0;
  if (size == 0) {
    v.type = chunk_view::kind::empty;
    *view = v;
    return status::success;
  }
  if (size < 4) return refuse(fault, corrupt, "chunk shorter than its control word", 0);
  const std::uint32_t control = load_le32(bytes);
  if (control & detail::chunk_raw_flag) {
    if (control != detail::chunk_raw_flag) return refuse(fault, corrupt, "raw chunk with reserved control bits set", 0);
    if (size != detail::raw_chunk_bytes(n, value_size))
      return refuse(fault, corrupt, "raw chunk size does not match its element count", 0);
    const std::uint64_t used = 4 + std::uint64_t(n) * value_size;
    if (!detail::zero_bytes(bytes + used, size - used)) return refuse(fault, corrupt, "raw chunk padding is not zero", used);
    v.type = chunk_view::kind::raw;
    *view = v;
    return status::success;
  }
  if ((control & ~detail::chunk_count_mask) != 0) return refuse(fault, corrupt, "reserved control bits set", 0);
  const std::uint32_t lossless = control & detail::chunk_count_mask;
  if (lossless > n) return refuse(fault, corrupt, "more lossless values than elements", 0);
  const std::uint32_t bitmap_words = detail::chunk_bitmap_words(v.group_count);
  if (size < 4 + 4ull * bitmap_words) return refuse(fault, corrupt, "chunk truncated inside its group bitmap", size);
  std::uint32_t nonzero = 0;
  for (std::uint32_t w = 0; w < bitmap_words; ++w) {
    std::uint32_t word = load_le32(bytes + 4 + 4 * w);
    const std::uint32_t first_group = 32 * w;
    if (v.group_count - first_group < 32) {
      const std::uint32_t valid_mask = (1u << (v.group_count - first_group)) - 1u;
      if (word & ~valid_mask) return refuse(fault, corrupt, "bitmap bits set past the last group", 4 + 4 * w);
    }
    nonzero += population_count(word);
  }
  const std::uint32_t widths_at = 4 + 4 * bitmap_words;
  if (size < widths_at + detail::pad4(nonzero))
    return refuse(fault, corrupt, "chunk truncated inside its width bytes", size);
  if (!detail::zero_bytes(bytes + widths_at + nonzero, detail::pad4(nonzero) - nonzero))
    return refuse(fault, corrupt, "width padding is not zero", widths_at + nonzero);
  v.type = chunk_view::kind::encoded;
  v.lossless_count = lossless;
  v.layout.bitmap = 4;
  v.layout.widths = widths_at;
  *view = v;
  *nonzero_groups = nonzero;
  return status::success;
}

//! A non-zero group's width byte is valid when it is 1..32.
ACTZIP_HD bool valid_group_width(unsigned width) noexcept { return width >= 1 && width <= 32; }

//! Second step (encoded chunks): the section layout from the counts, which must add
//! up to exactly `size` bytes; then the positions and values sections lie inside.
ACTZIP_HD status finish_chunk_layout(chunk_view* view, std::uint32_t n, std::uint32_t nonzero_groups,
                                     std::uint32_t plane_words, unsigned value_size, std::uint64_t size,
                                     stream_fault* fault = nullptr) noexcept {
  view->layout = detail::make_encoded_layout(n, nonzero_groups, plane_words, view->lossless_count, value_size);
  if (view->layout.total == size) return status::success;
  return detail::refuse(fault, status::corrupt_stream, "the sections' sizes do not add up to the chunk's size", 0);
}

//! Third step (encoded chunks, after finish_chunk_layout): lossless position k is
//! below n and above position k - 1.
ACTZIP_HD bool valid_lossless_position(const chunk_view& view, std::uint32_t k, std::uint32_t n) noexcept {
  const std::uint32_t position = load_le16(view.base + view.layout.indices + 2 * k);
  if (position >= n) return false;
  return k == 0 || position > load_le16(view.base + view.layout.indices + 2 * (k - 1));
}

//! Third step, continued: the padding after the positions and after the values is zero.
ACTZIP_HD bool valid_chunk_tail_padding(const chunk_view& view, unsigned value_size) noexcept {
  const detail::encoded_chunk_layout& l = view.layout;
  const std::uint32_t lossless = view.lossless_count;
  if (!detail::zero_bytes(view.base + l.indices + 2ull * lossless, l.values - l.indices - 2ull * lossless)) return false;
  const std::uint64_t values_end = l.values + std::uint64_t(value_size) * lossless;
  return detail::zero_bytes(view.base + values_end, l.total - values_end);
}

//! Validates the `size` bytes of a chunk of `n` elements (1..max_chunk_elements) of
//! `value_size`-byte values. Checks that the control word's reserved bits are zero,
//! that bitmap bits past the last group are zero, that every width is 1..32, that
//! positions are strictly increasing and below n, that padding is zero, and that the
//! sections add up to exactly `size`.
ACTZIP_HD status parse_chunk(const unsigned char* bytes, std::uint64_t size, std::uint32_t n, unsigned value_size,
                             chunk_view* view, stream_fault* fault = nullptr) noexcept {
  using detail::refuse;
  constexpr status corrupt = status::corrupt_stream;
  chunk_view v;
  std::uint32_t nonzero = 0;
  if (status s = parse_chunk_prologue(bytes, size, n, value_size, &v, &nonzero, fault); s != status::success)
    return s;
  if (v.type != chunk_view::kind::encoded) {
    *view = v;
    return status::success;
  }
  std::uint32_t plane_words = 0;
  for (std::uint32_t k = 0; k < nonzero; ++k) {
    const unsigned width = bytes[v.layout.widths + k];
    if (!valid_group_width(width)) return refuse(fault, corrupt, "a group width outside 1..32", v.layout.widths + k);
    plane_words += width;
  }
  if (status s = finish_chunk_layout(&v, n, nonzero, plane_words, value_size, size, fault); s != status::success)
    return s;
  for (std::uint32_t k = 0; k < v.lossless_count; ++k)
    if (!valid_lossless_position(v, k, n))
      return refuse(fault, corrupt, "a lossless position is out of range or not increasing", v.layout.indices + 2 * k);
  if (!valid_chunk_tail_padding(v, value_size))
    return refuse(fault, corrupt, "padding after the lossless positions or values is not zero", v.layout.indices);
  *view = v;
  return status::success;
}

//! Validates the prologue of the `size` bytes of a Huffman chunk of `n` elements:
//! the control word (the Huffman flag, no reserved bit, at most n lossless values),
//! the segment sizes and their zero padding, that the sections add up to exactly
//! `size`, and the zero bits after the bit stream; what is left to check is the
//! lossless positions and the tail padding (parse_huffman_chunk, or the CUDA
//! decoder's block, one position a thread).
ACTZIP_HD status parse_huffman_prologue(const unsigned char* bytes, std::uint64_t size, std::uint32_t n,
                                     unsigned value_size, chunk_view* view, stream_fault* fault = nullptr) noexcept {
  using detail::refuse;
  constexpr status corrupt = status::corrupt_stream;
  if (size < 4) return refuse(fault, corrupt, "chunk shorter than its control word", 0);
  const std::uint32_t control = load_le32(bytes);
  if ((control & ~(detail::chunk_count_mask | detail::chunk_predictor_mask)) != detail::chunk_huffman_flag)
    return refuse(fault, corrupt, "reserved control bits set", 0);
  const unsigned predictor_code = (control & detail::chunk_predictor_mask) >> 16;
  if (predictor_code >= predictor_count) return refuse(fault, corrupt, "unknown predictor", 2);
  chunk_view v;
  v.base = bytes;
  v.type = chunk_view::kind::huffman;
  v.huffman_predictor = static_cast<predictor>(predictor_code);
  v.group_count = detail::chunk_group_count(n);
  v.lossless_count = control & detail::chunk_count_mask;
  if (v.lossless_count > n) return refuse(fault, corrupt, "more lossless values than elements", 0);
  const std::uint32_t segments = huffman_segment_count(n);
  const std::uint32_t sizes_end = 4 + 2 * segments;
  if (size < detail::pad4(sizes_end)) return refuse(fault, corrupt, "chunk truncated inside its segment sizes", size);
  std::uint64_t bits = 0;
  for (std::uint32_t k = 0; k < segments; ++k) {
    const std::uint32_t b = load_le16(bytes + 4 + 2 * k);
    if (b == 0) return refuse(fault, corrupt, "an empty segment", 4 + 2 * k);
    bits += b;
  }
  if (!detail::zero_bytes(bytes + sizes_end, detail::pad4(sizes_end) - sizes_end))
    return refuse(fault, corrupt, "segment size padding is not zero", sizes_end);
  v.layout = detail::make_huffman_layout(n, bits, v.lossless_count, value_size);
  if (v.layout.total != size)
    return refuse(fault, corrupt, "the sections' sizes do not add up to the chunk's size", 0);
  v.stream_bits = static_cast<std::uint32_t>(bits);
  const std::uint64_t full_bytes = bits / 8;
  if ((bits % 8 != 0 && (bytes[v.layout.planes + full_bytes] >> (bits % 8)) != 0) ||
      !detail::zero_bytes(bytes + v.layout.planes + (bits + 7) / 8, v.layout.indices - v.layout.planes - (bits + 7) / 8))
    return refuse(fault, corrupt, "bits after the bit stream are not zero", v.layout.planes + full_bytes);
  *view = v;
  return status::success;
}

//! Validates the `size` bytes of a Huffman chunk of `n` elements: its prologue
//! (parse_huffman_prologue), the lossless positions and the tail padding. The
//! symbols themselves are checked while decoding (decode_huffman_segment).
ACTZIP_HD status parse_huffman_chunk(const unsigned char* bytes, std::uint64_t size, std::uint32_t n,
                                     unsigned value_size, chunk_view* view, stream_fault* fault = nullptr) noexcept {
  using detail::refuse;
  constexpr status corrupt = status::corrupt_stream;
  chunk_view v;
  if (const status s = parse_huffman_prologue(bytes, size, n, value_size, &v, fault); s != status::success) return s;
  for (std::uint32_t k = 0; k < v.lossless_count; ++k)
    if (!valid_lossless_position(v, k, n))
      return refuse(fault, corrupt, "a lossless position is out of range or not increasing", v.layout.indices + 2 * k);
  if (!valid_chunk_tail_padding(v, value_size))
    return refuse(fault, corrupt, "padding after the lossless positions or values is not zero", v.layout.indices);
  *view = v;
  return status::success;
}

//! True when the chunk whose `size` bytes start at `bytes` is a Huffman chunk
//! (by its control word; the parsers check the rest).
ACTZIP_HD bool is_huffman_chunk(const unsigned char* bytes, std::uint64_t size) noexcept {
  return size >= 4 && (load_le32(bytes) & (detail::chunk_raw_flag | detail::chunk_huffman_flag)) ==
                          detail::chunk_huffman_flag;
}

//! Validates one chunk of a stream written with codec `stream_codec`: bitplane
//! streams hold empty, raw and bitplane chunks; Huffman streams empty, raw and
//! Huffman chunks; automatic streams any of them.
ACTZIP_HD status parse_stream_chunk(codec stream_codec, const unsigned char* bytes, std::uint64_t size,
                                    std::uint32_t n, unsigned value_size, chunk_view* view,
                                    stream_fault* fault = nullptr) noexcept {
  if (stream_codec != codec::bitplane && is_huffman_chunk(bytes, size))
    return parse_huffman_chunk(bytes, size, n, value_size, view, fault);
  if (status s = parse_chunk(bytes, size, n, value_size, view, fault); s != status::success) return s;
  if (stream_codec == codec::huffman && view->type == chunk_view::kind::encoded)
    return detail::refuse(fault, status::corrupt_stream, "a bitplane chunk in a Huffman stream", 0);
  return status::success;
}

}  // namespace actzip
