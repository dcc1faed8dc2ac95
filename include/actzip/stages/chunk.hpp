// SPDX-License-Identifier: Apache-2.0
//
// One chunk through the whole bitplane pipeline, written for a team of one thread
// (the host executors run it per chunk; a GPU executor runs the same stages with a
// thread block per chunk and must produce the same bytes). Encoding: quantize with
// the strict check, Lorenzo deltas, zig-zag, per-group widths, then either nothing
// (all zero), the encoded layout, or the raw values when encoding would be larger.
// Decoding reverses it from a validated chunk_view.
#pragma once

#include <actzip/core/dtype.hpp>
#include <actzip/format/chunk.hpp>
#include <actzip/format/geometry.hpp>
#include <actzip/params.hpp>
#include <actzip/stages/bitplane.hpp>
#include <actzip/stages/huffman.hpp>
#include <actzip/stages/lorenzo.hpp>
#include <actzip/stages/quantize.hpp>

#include <cstdint>
#include <cstring>

namespace actzip {

//! Per-thread scratch memory for one chunk (about 60 KiB plus 4 KiB per element byte).
template <class T>
struct chunk_scratch {
  //! indices, then deltas, then zig-zag codes; 8 elements of slack for decoders that
  //! store 8 at a time
  std::uint32_t values[max_chunk_elements + 8];
  std::uint16_t lossless_position[max_chunk_elements];  //!< positions of losslessly stored values
  T lossless_value[max_chunk_elements];                  //!< those values
  unsigned char width[max_chunk_elements / group_size];  //!< bit width of each group
  unsigned char keep[max_chunk_elements];                //!< 1 where a value is stored losslessly
  std::uint32_t index[max_chunk_elements];               //!< Huffman: the quantization indices
  std::uint32_t coded[max_chunk_elements];               //!< Huffman: zig-zagged deltas of its predictor
};

namespace detail {

//! Stores one element's bits little-endian.
template <class T>
ACTZIP_HD void store_element(unsigned char* out, T value) noexcept {
  using bits = typename dtype_traits<T>::bits_type;
  const bits b = bit_cast<bits>(value);
  if constexpr (sizeof(T) == 2) {
    store_le16(out, b);
  } else if constexpr (sizeof(T) == 4) {
    store_le32(out, b);
  } else {
    store_le64(out, b);
  }
}

//! Loads one element's bits, little-endian.
template <class T>
ACTZIP_HD T load_element(const unsigned char* in) noexcept {
  using bits = typename dtype_traits<T>::bits_type;
  if constexpr (sizeof(T) == 2) {
    return bit_cast<T>(static_cast<bits>(load_le16(in)));
  } else if constexpr (sizeof(T) == 4) {
    return bit_cast<T>(static_cast<bits>(load_le32(in)));
  } else {
    return bit_cast<T>(static_cast<bits>(load_le64(in)));
  }
}

//! Pointer to the first element of row (i0, i1) of a chunk box inside the tensor.
template <class P>
ACTZIP_HD P* box_row(P* data, const chunk_geometry& g, const chunk_geometry::box& b, std::uint32_t i0,
                     std::uint32_t i1) noexcept {
  return data + ((b.origin[0] + i0) * g.dims[1] + (b.origin[1] + i1)) * g.dims[2] + b.origin[2];
}

}  // namespace detail

//! Quantizes chunk `chunk` of `data` with the strict check: indices in C order of
//! the chunk's box to `indices`, the values that fail to s.lossless_*. Returns the
//! lossless count.
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD std::uint32_t quantize_chunk(const T* data, const chunk_geometry& g, std::uint64_t chunk,
                                       const quantizer<C>& qz, chunk_scratch<T>& s, std::uint32_t* indices) noexcept {
  const chunk_geometry::box b = g.chunk_box(chunk);
  const box_extents e = b.extent;
  const std::uint32_t n = e.count();
  // Quantize row by row, then collect the values that failed the strict check.
  std::uint32_t position = 0;
  for (std::uint32_t i0 = 0; i0 < e.e0; ++i0)
    for (std::uint32_t i1 = 0; i1 < e.e1; ++i1, position += e.e2)
      quantize_run(detail::box_row(data, g, b, i0, i1), e.e2, qz, indices + position, s.keep + position);
  std::uint32_t lossless = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (i % 8 == 0 && i + 8 <= n) {  // skip eight clear flags at once
      std::uint64_t flags;
      std::memcpy(&flags, s.keep + i, 8);
      if (ACTZIP_LIKELY(flags == 0)) {
        i += 7;
        continue;
      }
    }
    if (ACTZIP_LIKELY(!s.keep[i])) continue;
    const std::uint32_t row = i / e.e2;
    s.lossless_position[lossless] = static_cast<std::uint16_t>(i);
    s.lossless_value[lossless] = detail::box_row(data, g, b, row / e.e1, row % e.e1)[i % e.e2];
    ++lossless;
  }
  return lossless;
}

//! The stages of a bitplane chunk, for chunk `chunk` of `data` (the whole tensor, C
//! order): quantization with the strict check (failures go to s.lossless_*),
//! Lorenzo deltas and zig-zag, leaving the chunk's codes in s.values[0, n) and
//! zeros up to the next multiple of group_size. Returns the lossless count.
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD std::uint32_t prepare_chunk(const T* data, const chunk_geometry& g, std::uint64_t chunk,
                                      const quantizer<C>& qz, chunk_scratch<T>& s) noexcept {
  const box_extents e = g.chunk_box(chunk).extent;
  const std::uint32_t n = e.count();
  const std::uint32_t lossless = quantize_chunk(data, g, chunk, qz, s, s.values);
  lorenzo_forward(s.values, e);
  const std::uint32_t groups = detail::chunk_group_count(n);
  for (std::uint32_t i = 0; i < n; ++i) s.values[i] = zigzag_encode(s.values[i]);
  for (std::uint32_t i = n; i < groups * group_size; ++i) s.values[i] = 0;
  return lossless;
}

//! Sum over the box of the bit widths of the zig-zagged deltas of `indices` under
//! predictor `m`: the cost by which a Huffman chunk picks its predictor.
ACTZIP_HD std::uint32_t predictor_cost(const std::uint32_t* indices, box_extents e, predictor m) noexcept {
  std::uint32_t cost = 0;
  for (std::uint32_t i = 0; i < e.count(); ++i) cost += bit_width(zigzag_encode(predictor_delta_at(indices, e, i, m)));
  return cost;
}

//! The predictor a Huffman chunk uses for `indices`: the cheapest by
//! predictor_cost among those worth trying on its box (the first on a tie).
ACTZIP_HD predictor choose_predictor(const std::uint32_t* indices, box_extents e) noexcept {
  predictor best = predictor::lorenzo_3d;
  std::uint32_t best_cost = 0;
  for (unsigned k = 0; k < predictors_for(e); ++k) {
    const predictor m = predictor_choice(e, k);
    const std::uint32_t cost = predictor_cost(indices, e, m);
    if (k == 0 || cost < best_cost) {
      best = m;
      best_cost = cost;
    }
  }
  return best;
}

namespace detail {

//! Sum of the bit widths of the zig-zag codes of the deltas d[0, n) (the
//! predictor_cost of deltas already computed), without a branch per element.
ACTZIP_HD std::uint32_t zigzag_bit_width_sum(const std::uint32_t* d, std::uint32_t n) noexcept {
  std::uint32_t cost = 0, zeros = 0, i = 0;
#if ACTZIP_HAS_SSE2
  // Four lanes at a time, with the bit width read off a float's exponent: y = z &
  // ~(z >> 1) keeps the leading one of the code z and clears the bit below it, so
  // converting y to float cannot round up to the next power of two; (exponent - 126)
  // is then the width of y, which is z's, for 1 <= y < 2^31; zero lanes give 0, and
  // lanes with bit 31 set are 32.
  {
    const __m128i low31 = _mm_set1_epi32(0x7fffffff), bias = _mm_set1_epi32(126), full = _mm_set1_epi32(32);
    __m128i sum = _mm_setzero_si128();
    for (; i + 4 <= n; i += 4) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
      const __m128i z = _mm_xor_si128(_mm_slli_epi32(x, 1), _mm_srai_epi32(x, 31));
      const __m128i y = _mm_andnot_si128(_mm_srli_epi32(z, 1), z);
      const __m128i top = _mm_srai_epi32(y, 31);
      const __m128i low = _mm_and_si128(y, low31);
      const __m128i exponent = _mm_srli_epi32(_mm_castps_si128(_mm_cvtepi32_ps(low)), 23);
      const __m128i width = _mm_andnot_si128(_mm_cmpeq_epi32(low, _mm_setzero_si128()), _mm_sub_epi32(exponent, bias));
      sum = _mm_add_epi32(sum, _mm_or_si128(_mm_and_si128(top, full), _mm_andnot_si128(top, width)));
    }
    sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0x4e));
    sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0xb1));
    cost = static_cast<std::uint32_t>(_mm_cvtsi128_si32(sum));
  }
#endif
  // z | 1 has the width of z except for 0, whose width 1 the zero count takes back.
  for (; i < n; ++i) {
    const std::uint32_t z = zigzag_encode(d[i]);
    cost += bit_width(z | 1u);
    zeros += z == 0;
  }
  return cost - zeros;
}

//! dst[i] = zigzag_encode(src[i]) for i in [0, n) (src == dst allowed).
ACTZIP_HD void zigzag_encode_run(const std::uint32_t* src, std::uint32_t* dst, std::uint32_t n) noexcept {
  for (std::uint32_t i = 0; i < n; ++i) dst[i] = zigzag_encode(src[i]);
}

}  // namespace detail

//! The stages of a Huffman or automatic chunk: quantization (indices in s.index),
//! the predictor and its zig-zagged deltas in s.coded[0, n), and, when
//! `bitplane_codes` (the automatic codec needs them), the 3-D Lorenzo (bitplane)
//! codes in s.values, zero-padded as prepare_chunk leaves them. The predictor is
//! choose_predictor's, found with whole-row differences (predictor_forward) rather
//! than element by element. Returns the lossless count; the predictor goes to
//! *chosen.
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD std::uint32_t prepare_huffman_chunk(const T* data, const chunk_geometry& g, std::uint64_t chunk,
                                              const quantizer<C>& qz, chunk_scratch<T>& s, predictor* chosen,
                                              bool bitplane_codes = true) noexcept {
  const box_extents e = g.chunk_box(chunk).extent;
  const std::uint32_t n = e.count();
  const std::uint32_t lossless = quantize_chunk(data, g, chunk, qz, s, s.index);
  // The predictors' costs from one buffer (s.values), transformed in place: row
  // differences (the rows predictor but for its chained row starts), then rows
  // differenced within each plane (the 2-D Lorenzo but for its chained plane
  // corners), then planes differenced (the 3-D Lorenzo, which every box ends with).
  // The chained starts are corrected element by element. The cheapest predictor
  // wins, the first on a tie in predictor_choice's order.
  const std::uint32_t* v = s.index;
  std::uint32_t* d = s.values;
  const std::uint32_t plane = e.e1 * e.e2, rows = e.e0 * e.e1;
  for (std::uint32_t i = 0; i < n; ++i) d[i] = v[i];
  for (std::uint32_t r = 0; r < rows; ++r) detail::difference_along_row(d + r * e.e2, e.e2);
  predictor best = predictor::lorenzo_3d;
  if (predictors_for(e) > 1) {
    auto width = [](std::uint32_t delta) { return bit_width(zigzag_encode(delta)); };
    std::uint32_t rows_cost = detail::zigzag_bit_width_sum(d, n);
    for (std::uint32_t r = 1; r < rows; ++r) rows_cost += width(v[r * e.e2] - v[(r - 1) * e.e2]) - width(v[r * e.e2]);
    for (std::uint32_t i0 = 0; i0 < e.e0; ++i0)
      for (std::uint32_t i1 = e.e1; i1-- > 1;)
        detail::subtract_row(d + i0 * plane + i1 * e.e2, d + i0 * plane + (i1 - 1) * e.e2, e.e2);
    std::uint32_t lorenzo_cost = detail::zigzag_bit_width_sum(d, n);
    std::uint32_t plane_cost = lorenzo_cost;
    if (e.e0 > 1) {
      for (std::uint32_t i0 = 1; i0 < e.e0; ++i0)
        plane_cost += width(v[i0 * plane] - v[(i0 - 1) * plane]) - width(v[i0 * plane]);
      for (std::uint32_t i0 = e.e0; i0-- > 1;) detail::subtract_row(d + i0 * plane, d + (i0 - 1) * plane, plane);
      lorenzo_cost = detail::zigzag_bit_width_sum(d, n);
    }
    std::uint32_t best_cost = lorenzo_cost;
    for (unsigned k = 1; k < predictors_for(e); ++k) {
      const predictor m = predictor_choice(e, k);
      const std::uint32_t cost = m == predictor::rows ? rows_cost : plane_cost;
      if (cost < best_cost) {
        best = m;
        best_cost = cost;
      }
    }
  }
  // s.values now holds the 3-D Lorenzo deltas; another winner is computed again.
  const std::uint32_t* best_deltas = s.values;
  if (best != predictor::lorenzo_3d) {
    predictor_forward(s.index, s.coded, e, best);
    best_deltas = s.coded;
  }
  detail::zigzag_encode_run(best_deltas, s.coded, n);
  if (bitplane_codes) {
    detail::zigzag_encode_run(s.values, s.values, n);
    const std::uint32_t groups = detail::chunk_group_count(n);
    for (std::uint32_t i = n; i < groups * group_size; ++i) s.values[i] = 0;
  }
  *chosen = best;
  return lossless;
}

namespace detail {

//! Bits of the Huffman bit stream of segment z[0, count) with `code`, or 0 when a
//! symbol it needs is not in the code (then the chunk cannot be Huffman-coded).
ACTZIP_HD std::uint32_t huffman_segment_bits(const huffman_code& code, const std::uint32_t* z,
                                             std::uint32_t count) noexcept {
  std::uint32_t bits = 0;
  bool coded = true;
  huffman_tokens(z, count, code.min_run, [&](unsigned symbol, std::uint32_t, unsigned extra_bits) {
    coded = coded && code.length[symbol] != 0;
    bits += code.length[symbol] + extra_bits;
  });
  return coded ? bits : 0;
}

//! Writes the lossless positions and values from `p` up to `end` (the chunk's end).
template <class T>
ACTZIP_HD void write_lossless_sections(const chunk_scratch<T>& s, std::uint32_t lossless, unsigned char* p,
                                       unsigned char* values_at, unsigned char* end) noexcept {
  for (std::uint32_t k = 0; k < lossless; ++k, p += 2) store_le16(p, s.lossless_position[k]);
  while (p < values_at) *p++ = 0;
  for (std::uint32_t k = 0; k < lossless; ++k, p += sizeof(T)) store_element(p, s.lossless_value[k]);
  while (p < end) *p++ = 0;
}

}  // namespace detail

//! How encode_chunk stores a chunk, and its size.
struct chunk_choice {
  chunk_view::kind type;         //!< empty, raw, encoded (bitplane) or huffman
  std::uint32_t bytes;           //!< size of the chunk
  std::uint32_t nonzero_groups;  //!< bitplane: non-zero groups
  std::uint32_t plane_words;     //!< bitplane: bitplanes in all
  std::uint32_t segment_bits[huffman_max_segments];  //!< Huffman: bits of each segment
  std::uint32_t stream_bits;     //!< Huffman: bits in all
  predictor huffman_predictor;   //!< Huffman: the predictor of s.coded
};

//! Decides how to store a prepared chunk of n elements with `lossless` values stored
//! losslessly, under codec `mode` (bitplane: prepare_chunk left the codes in
//! s.values; huffman: prepare_huffman_chunk left them in s.coded, for predictor
//! `m`; automatic: both): nothing when every code is zero and nothing is lossless;
//! else the bitplane layout (bitplane, automatic), the Huffman layout (huffman,
//! automatic; needs `code`), whichever is smaller (bitplane on a tie), or raw when
//! that is smaller still.
template <class T>
ACTZIP_HD chunk_choice choose_chunk(std::uint32_t n, std::uint32_t lossless, chunk_scratch<T>& s, codec mode,
                                    const huffman_code* code, predictor m = predictor::lorenzo_3d) noexcept {
  chunk_choice c{};
  c.huffman_predictor = m;
  std::uint32_t nonzero = 0, plane_words = 0;
  bool all_zero = true;
  if (mode != codec::huffman) {
    const std::uint32_t groups = detail::chunk_group_count(n);
    for (std::uint32_t grp = 0; grp < groups; ++grp) {
      const unsigned w = group_bit_width(s.values + grp * group_size);
      s.width[grp] = static_cast<unsigned char>(w);
      plane_words += w;
      nonzero += w != 0;
    }
    all_zero = nonzero == 0;
  } else {
    for (std::uint32_t i = 0; i < n && all_zero; ++i) all_zero = s.coded[i] == 0;
  }
  if (all_zero && lossless == 0) {
    c.type = chunk_view::kind::empty;
    return c;
  }
  c.type = chunk_view::kind::raw;
  c.bytes = detail::raw_chunk_bytes(n, sizeof(T));
  if (mode != codec::huffman) {
    const std::uint32_t size = detail::make_encoded_layout(n, nonzero, plane_words, lossless, sizeof(T)).total;
    if (size <= c.bytes) {
      c.type = chunk_view::kind::encoded;
      c.bytes = size;
      c.nonzero_groups = nonzero;
      c.plane_words = plane_words;
    }
  }
  if (mode != codec::bitplane && code != nullptr && code->stored_lengths != 0) {
    std::uint32_t segment_bits[huffman_max_segments] = {};
    std::uint64_t bits = 0;
    bool coded = true;
    for (std::uint32_t k = 0; k < huffman_segment_count(n); ++k) {
      const std::uint32_t first = k * huffman_segment_elements;
      const std::uint32_t count = n - first < huffman_segment_elements ? n - first : huffman_segment_elements;
      segment_bits[k] = detail::huffman_segment_bits(*code, s.coded + first, count);
      coded = coded && segment_bits[k] != 0;
      bits += segment_bits[k];
    }
    const std::uint32_t size = detail::make_huffman_layout(n, bits, lossless, sizeof(T)).total;
    if (coded && (size < c.bytes || (size == c.bytes && c.type == chunk_view::kind::raw))) {
      c.type = chunk_view::kind::huffman;
      c.bytes = size;
      c.stream_bits = static_cast<std::uint32_t>(bits);
      for (unsigned k = 0; k < huffman_max_segments; ++k) c.segment_bits[k] = segment_bits[k];
    }
  }
  return c;
}

//! Writes a prepared chunk the way `c` (from choose_chunk) says; returns its size.
template <class T>
ACTZIP_HD std::uint32_t write_chunk(const T* data, const chunk_geometry& g, std::uint64_t chunk,
                                    std::uint32_t lossless, const chunk_scratch<T>& s, const chunk_choice& c,
                                    const huffman_code* code, unsigned char* out) noexcept {
  const chunk_geometry::box b = g.chunk_box(chunk);
  const box_extents e = b.extent;
  const std::uint32_t n = e.count();
  if (c.type == chunk_view::kind::empty) return 0;

  if (c.type == chunk_view::kind::raw) {
    store_le32(out, detail::chunk_raw_flag);
    unsigned char* p = out + 4;
    for (std::uint32_t i0 = 0; i0 < e.e0; ++i0)
      for (std::uint32_t i1 = 0; i1 < e.e1; ++i1) {
        const T* row = detail::box_row(data, g, b, i0, i1);
        for (std::uint32_t i2 = 0; i2 < e.e2; ++i2, p += sizeof(T)) detail::store_element(p, row[i2]);
      }
    for (unsigned char* end = out + c.bytes; p < end; ++p) *p = 0;
    return c.bytes;
  }

  if (c.type == chunk_view::kind::huffman) {
    const detail::encoded_chunk_layout l = detail::make_huffman_layout(n, c.stream_bits, lossless, sizeof(T));
    store_le32(out, detail::chunk_huffman_flag | static_cast<std::uint32_t>(c.huffman_predictor) << 16 | lossless);
    const std::uint32_t segments = huffman_segment_count(n);
    for (std::uint32_t k = 0; k < segments; ++k)
      store_le16(out + l.widths + 2 * k, static_cast<std::uint16_t>(c.segment_bits[k]));
    for (std::uint32_t i = l.widths + 2 * segments; i < l.planes; ++i) out[i] = 0;
    bit_writer w{out + l.planes};
    for (std::uint32_t k = 0; k < segments; ++k) {
      const std::uint32_t first = k * huffman_segment_elements;
      const std::uint32_t count = n - first < huffman_segment_elements ? n - first : huffman_segment_elements;
      huffman_tokens(s.coded + first, count, code->min_run, [&](unsigned symbol, std::uint32_t extra, unsigned extra_bits) {
        w.put(code->word[symbol], code->length[symbol]);
        if (extra_bits != 0) w.put(extra, extra_bits);
      });
    }
    w.flush();
    for (std::uint32_t i = l.planes + w.next; i < l.indices; ++i) out[i] = 0;
    detail::write_lossless_sections(s, lossless, out + l.indices, out + l.values, out + l.total);
    return l.total;
  }

  const std::uint32_t groups = detail::chunk_group_count(n);
  const detail::encoded_chunk_layout l =
      detail::make_encoded_layout(n, c.nonzero_groups, c.plane_words, lossless, sizeof(T));
  store_le32(out, lossless);
  const std::uint32_t bitmap_words = detail::chunk_bitmap_words(groups);
  for (std::uint32_t w = 0; w < bitmap_words; ++w) {
    std::uint32_t word = 0;
    for (std::uint32_t bit = 0; bit < 32 && 32 * w + bit < groups; ++bit)
      word |= static_cast<std::uint32_t>(s.width[32 * w + bit] != 0) << bit;
    store_le32(out + l.bitmap + 4 * w, word);
  }
  unsigned char* width_out = out + l.widths;
  unsigned char* plane_out = out + l.planes;
  for (std::uint32_t grp = 0; grp < groups; ++grp) {
    const unsigned w = s.width[grp];
    if (w == 0) continue;
    *width_out++ = static_cast<unsigned char>(w);
    store_group_planes(s.values + grp * group_size, w, plane_out);
    plane_out += 4 * w;
  }
  while (width_out < out + l.planes) *width_out++ = 0;
  detail::write_lossless_sections(s, lossless, out + l.indices, out + l.values, out + l.total);
  return l.total;
}

//! Encodes chunk `chunk` of `data` (the whole tensor, C order) with codec `mode`
//! (`code`: the stream's Huffman code book, for huffman and automatic). Returns the
//! chunk's size in bytes (0 for an all-zero chunk); writes the bytes to `out` unless
//! it is null. The size never exceeds detail::raw_chunk_bytes of the chunk.
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD std::uint32_t encode_chunk(const T* data, const chunk_geometry& g, std::uint64_t chunk,
                                     const quantizer<C>& qz, chunk_scratch<T>& s, unsigned char* out,
                                     codec mode = codec::bitplane, const huffman_code* code = nullptr) noexcept {
  const std::uint32_t n = g.chunk_box(chunk).extent.count();
  predictor m = predictor::lorenzo_3d;
  const std::uint32_t lossless = mode == codec::bitplane
                                     ? prepare_chunk(data, g, chunk, qz, s)
                                     : prepare_huffman_chunk(data, g, chunk, qz, s, &m, mode != codec::huffman);
  const chunk_choice c = choose_chunk(n, lossless, s, mode, code, m);
  if (out == nullptr) return c.bytes;
  return write_chunk(data, g, chunk, lossless, s, c, code, out);
}

//! Decodes the symbols of a validated Huffman chunk `view` of n elements with `code`
//! into zig-zagged deltas values[0, n). False when the bit stream is not valid for
//! the code (or the stream has no code book).
ACTZIP_HD bool decode_huffman_symbols(const chunk_view& view, const huffman_code& code, std::uint32_t n,
                                      std::uint32_t* values) noexcept {
  if (code.stored_lengths == 0) return false;
  const unsigned char* stream = view.base + view.layout.planes;
  const std::uint64_t stream_bytes = view.layout.indices - view.layout.planes;
  std::uint64_t begin = 0;
  for (std::uint32_t k = 0; k < huffman_segment_count(n); ++k) {
    const std::uint32_t first = k * huffman_segment_elements;
    const std::uint32_t count = n - first < huffman_segment_elements ? n - first : huffman_segment_elements;
    const std::uint64_t end = begin + load_le16(view.base + view.layout.widths + 2 * k);
    if (!decode_huffman_segment(code, stream, stream_bytes, begin, end, count, values + first)) return false;
    begin = end;
  }
  return true;
}

//! Decodes a validated chunk `view` of chunk `chunk` into `out` (the whole tensor);
//! `code` is the stream's code book (Huffman chunks). Returns false, writing
//! nothing, when a Huffman chunk's bit stream is not valid. With `symbols_decoded`
//! a Huffman chunk's symbols are already in s.values (a caller that decoded them
//! with its own table), and `code` is not used.
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD bool decode_chunk(const chunk_view& view, const chunk_geometry& g, std::uint64_t chunk,
                            const quantizer<C>& qz, chunk_scratch<T>& s, T* out,
                            const huffman_code* code = nullptr, bool symbols_decoded = false) noexcept {
  const chunk_geometry::box b = g.chunk_box(chunk);
  const box_extents e = b.extent;
  const std::uint32_t n = e.count();

  if (view.type == chunk_view::kind::raw) {
    const unsigned char* p = view.base + 4;
    for (std::uint32_t i0 = 0; i0 < e.e0; ++i0)
      for (std::uint32_t i1 = 0; i1 < e.e1; ++i1) {
        T* row = detail::box_row(out, g, b, i0, i1);
        for (std::uint32_t i2 = 0; i2 < e.e2; ++i2, p += sizeof(T)) row[i2] = detail::load_element<T>(p);
      }
    return true;
  }
  if (view.type == chunk_view::kind::empty) {
    const T zero = reconstruct<T>(0, qz);
    for (std::uint32_t i0 = 0; i0 < e.e0; ++i0)
      for (std::uint32_t i1 = 0; i1 < e.e1; ++i1) {
        T* row = detail::box_row(out, g, b, i0, i1);
        for (std::uint32_t i2 = 0; i2 < e.e2; ++i2) row[i2] = zero;
      }
    return true;
  }

  if (view.type == chunk_view::kind::huffman) {
    if (!symbols_decoded && (code == nullptr || !decode_huffman_symbols(view, *code, n, s.values))) return false;
  } else {
    const unsigned char* width_in = view.base + view.layout.widths;
    const unsigned char* plane_in = view.base + view.layout.planes;
    for (std::uint32_t grp = 0; grp < view.group_count; ++grp) {
      std::uint32_t* values = s.values + grp * group_size;
      if (!view.group_present(grp)) {
        for (unsigned i = 0; i < group_size; ++i) values[i] = 0;
        continue;
      }
      const unsigned w = *width_in++;
      load_group_planes(plane_in, w, values);
      plane_in += 4 * w;
    }
  }
  for (std::uint32_t i = 0; i < n; ++i) s.values[i] = zigzag_decode(s.values[i]);
  if (view.type == chunk_view::kind::huffman) predictor_inverse(s.values, e, view.huffman_predictor);
  else lorenzo_inverse(s.values, e);

  std::uint32_t position = 0;
  for (std::uint32_t i0 = 0; i0 < e.e0; ++i0)
    for (std::uint32_t i1 = 0; i1 < e.e1; ++i1, position += e.e2)
      reconstruct_run(s.values + position, e.e2, qz, detail::box_row(out, g, b, i0, i1));

  const unsigned char* positions = view.base + view.layout.indices;
  const unsigned char* values = view.base + view.layout.values;
  const std::uint32_t plane = e.e1 * e.e2;
  for (std::uint32_t k = 0; k < view.lossless_count; ++k) {
    const std::uint32_t at = load_le16(positions + 2 * k);
    T* row = detail::box_row(out, g, b, at / plane, (at / e.e2) % e.e1);
    row[at % e.e2] = detail::load_element<T>(values + sizeof(T) * k);
  }
  return true;
}

}  // namespace actzip
