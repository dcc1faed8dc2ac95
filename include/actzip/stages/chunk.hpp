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
#include <actzip/stages/bitplane.hpp>
#include <actzip/stages/lorenzo.hpp>
#include <actzip/stages/quantize.hpp>

#include <cstdint>
#include <cstring>

namespace actzip {

//! Per-thread scratch memory for one chunk (about 16 KiB plus 4 KiB per element byte).
template <class T>
struct chunk_scratch {
  std::uint32_t values[max_chunk_elements];            //!< indices, then deltas, then zig-zag codes
  std::uint16_t lossless_position[max_chunk_elements];  //!< positions of losslessly stored values
  T lossless_value[max_chunk_elements];                  //!< those values
  unsigned char width[max_chunk_elements / group_size];  //!< bit width of each group
  unsigned char keep[max_chunk_elements];                //!< 1 where a value is stored losslessly
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

//! Encodes chunk `chunk` of `data` (the whole tensor, C order). Returns the chunk's
//! size in bytes (0 for an all-zero chunk); writes the bytes to `out` unless it is
//! null. The size never exceeds detail::raw_chunk_bytes of the chunk.
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD std::uint32_t encode_chunk(const T* data, const chunk_geometry& g, std::uint64_t chunk,
                                     const quantizer<C>& qz, chunk_scratch<T>& s, unsigned char* out) noexcept {
  const chunk_geometry::box b = g.chunk_box(chunk);
  const box_extents e = b.extent;
  const std::uint32_t n = e.count();

  // Quantize row by row, then collect the values that failed the strict check.
  std::uint32_t position = 0;
  for (std::uint32_t i0 = 0; i0 < e.e0; ++i0)
    for (std::uint32_t i1 = 0; i1 < e.e1; ++i1, position += e.e2)
      quantize_run(detail::box_row(data, g, b, i0, i1), e.e2, qz, s.values + position, s.keep + position);
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

  lorenzo_forward(s.values, e);

  const std::uint32_t groups = detail::chunk_group_count(n);
  for (std::uint32_t i = 0; i < n; ++i) s.values[i] = zigzag_encode(s.values[i]);
  for (std::uint32_t i = n; i < groups * group_size; ++i) s.values[i] = 0;
  std::uint32_t nonzero = 0, plane_words = 0;
  for (std::uint32_t grp = 0; grp < groups; ++grp) {
    const unsigned w = group_bit_width(s.values + grp * group_size);
    s.width[grp] = static_cast<unsigned char>(w);
    plane_words += w;
    nonzero += w != 0;
  }
  if (nonzero == 0 && lossless == 0) return 0;

  const detail::encoded_chunk_layout l = detail::make_encoded_layout(n, nonzero, plane_words, lossless, sizeof(T));
  const std::uint32_t raw_size = detail::raw_chunk_bytes(n, sizeof(T));
  const bool raw = l.total > raw_size;
  if (out == nullptr) return raw ? raw_size : l.total;

  if (raw) {
    store_le32(out, detail::chunk_raw_flag);
    unsigned char* p = out + 4;
    for (std::uint32_t i0 = 0; i0 < e.e0; ++i0)
      for (std::uint32_t i1 = 0; i1 < e.e1; ++i1) {
        const T* row = detail::box_row(data, g, b, i0, i1);
        for (std::uint32_t i2 = 0; i2 < e.e2; ++i2, p += sizeof(T)) detail::store_element(p, row[i2]);
      }
    for (unsigned char* end = out + raw_size; p < end; ++p) *p = 0;
    return raw_size;
  }

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
  unsigned char* p = out + l.indices;
  for (std::uint32_t k = 0; k < lossless; ++k, p += 2) store_le16(p, s.lossless_position[k]);
  while (p < out + l.values) *p++ = 0;
  for (std::uint32_t k = 0; k < lossless; ++k, p += sizeof(T)) detail::store_element(p, s.lossless_value[k]);
  while (p < out + l.total) *p++ = 0;
  return l.total;
}

//! Decodes a validated chunk `view` of chunk `chunk` into `out` (the whole tensor).
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD void decode_chunk(const chunk_view& view, const chunk_geometry& g, std::uint64_t chunk,
                            const quantizer<C>& qz, chunk_scratch<T>& s, T* out) noexcept {
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
    return;
  }
  if (view.type == chunk_view::kind::empty) {
    const T zero = reconstruct<T>(0, qz);
    for (std::uint32_t i0 = 0; i0 < e.e0; ++i0)
      for (std::uint32_t i1 = 0; i1 < e.e1; ++i1) {
        T* row = detail::box_row(out, g, b, i0, i1);
        for (std::uint32_t i2 = 0; i2 < e.e2; ++i2) row[i2] = zero;
      }
    return;
  }

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
  for (std::uint32_t i = 0; i < n; ++i) s.values[i] = zigzag_decode(s.values[i]);
  lorenzo_inverse(s.values, e);

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
}

}  // namespace actzip
