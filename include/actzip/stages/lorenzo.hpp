// SPDX-License-Identifier: Apache-2.0
//
// Lorenzo prediction on quantization indices (second half of dual quantization).
// Inside one chunk, the 1-D/2-D/3-D Lorenzo delta is the product of backward
// differences along each dimension, with zeros outside the chunk, so it is computed
// as one pass of differences per dimension and undone by one prefix sum per
// dimension. Indices travel as uint32 bit patterns: wrap-around arithmetic is
// defined, so corrupt input cannot cause undefined behaviour, and valid input never
// wraps (quantization_radius keeps every delta inside int32).
#pragma once

#include <actzip/config.hpp>

#include <cstdint>

#if ACTZIP_HAS_SSE2
#include <emmintrin.h>
#endif

namespace actzip {

//! Extents of one chunk's box, C order, padded to 3-D (unused leading extents are 1).
struct box_extents {
  std::uint32_t e0, e1, e2;  //!< slowest to contiguous
  //! Number of elements in the box.
  ACTZIP_HD std::uint32_t count() const noexcept { return e0 * e1 * e2; }
};

namespace detail {

//! dst[k] -= src[k] for k in [0, n); the rows do not overlap (compilers vectorise the
//! loop, but check for overlap first, which costs as much as short rows themselves).
ACTZIP_HD void subtract_row(std::uint32_t* dst, const std::uint32_t* src, std::uint32_t n) noexcept {
  std::uint32_t k = 0;
#if ACTZIP_HAS_SSE2
  for (; k + 4 <= n; k += 4) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dst + k));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k), _mm_sub_epi32(a, b));
  }
#endif
  for (; k < n; ++k) dst[k] -= src[k];
}

//! dst[k] += src[k] for k in [0, n); the rows do not overlap.
ACTZIP_HD void add_row(std::uint32_t* dst, const std::uint32_t* src, std::uint32_t n) noexcept {
  std::uint32_t k = 0;
#if ACTZIP_HAS_SSE2
  for (; k + 4 <= n; k += 4) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dst + k));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k), _mm_add_epi32(a, b));
  }
#endif
  for (; k < n; ++k) dst[k] += src[k];
}

//! Portable difference_along_row.
ACTZIP_HD void difference_along_row_portable(std::uint32_t* row, std::uint32_t n) noexcept {
  for (std::uint32_t i = n; i-- > 1;) row[i] -= row[i - 1];
}

//! Portable prefix_sum_along_row.
ACTZIP_HD void prefix_sum_along_row_portable(std::uint32_t* row, std::uint32_t n) noexcept {
  for (std::uint32_t i = 1; i < n; ++i) row[i] += row[i - 1];
}

#if ACTZIP_HAS_SSE2
//! SSE2 difference_along_row: blocks of four from the end, each loaded (with its
//! left neighbour) before the block to its left is written.
inline void difference_along_row_sse2(std::uint32_t* row, std::uint32_t n) noexcept {
  std::uint32_t i = n;
  for (; i >= 5; i -= 4) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i - 4));
    const __m128i left = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i - 5));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(row + i - 4), _mm_sub_epi32(x, left));
  }
  difference_along_row_portable(row, i);
}

//! SSE2 prefix_sum_along_row: an in-register scan of four, plus the carry.
inline void prefix_sum_along_row_sse2(std::uint32_t* row, std::uint32_t n) noexcept {
  __m128i carry = _mm_setzero_si128();
  std::uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i));
    x = _mm_add_epi32(x, _mm_slli_si128(x, 4));
    x = _mm_add_epi32(x, _mm_slli_si128(x, 8));
    x = _mm_add_epi32(x, carry);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(row + i), x);
    carry = _mm_shuffle_epi32(x, 0xff);
  }
  for (i = i == 0 ? 1 : i; i < n; ++i) row[i] += row[i - 1];
}
#endif

//! row[i] -= row[i - 1] for i = n-1 down to 1: backward differences along a row.
ACTZIP_HD void difference_along_row(std::uint32_t* row, std::uint32_t n) noexcept {
#if ACTZIP_HAS_SSE2
  difference_along_row_sse2(row, n);
#else
  difference_along_row_portable(row, n);
#endif
}

//! row[i] += row[i - 1] for i = 1 up to n-1: prefix sums along a row.
ACTZIP_HD void prefix_sum_along_row(std::uint32_t* row, std::uint32_t n) noexcept {
#if ACTZIP_HAS_SSE2
  prefix_sum_along_row_sse2(row, n);
#else
  prefix_sum_along_row_portable(row, n);
#endif
}

}  // namespace detail

namespace detail {

//! Replaces the e1 rows of e2 indices of one plane by their 2-D Lorenzo deltas, in place.
ACTZIP_HD void lorenzo_forward_plane(std::uint32_t* slab, std::uint32_t e1, std::uint32_t e2) noexcept {
  for (std::uint32_t i1 = 0; i1 < e1; ++i1) difference_along_row(slab + i1 * e2, e2);
  for (std::uint32_t i1 = e1; i1-- > 1;) subtract_row(slab + i1 * e2, slab + (i1 - 1) * e2, e2);
}

}  // namespace detail

//! Replaces indices `v` (C order over `box`) by their Lorenzo deltas, in place.
ACTZIP_HD void lorenzo_forward(std::uint32_t* v, box_extents box) noexcept {
  const std::uint32_t plane = box.e1 * box.e2;
  for (std::uint32_t i0 = 0; i0 < box.e0; ++i0) detail::lorenzo_forward_plane(v + i0 * plane, box.e1, box.e2);
  for (std::uint32_t i0 = box.e0; i0-- > 1;) detail::subtract_row(v + i0 * plane, v + (i0 - 1) * plane, plane);
}

//! Where element i of a box lies: its column i2, row i1 and plane i0, and the strides
//! of a row (s1) and of a plane (s0). position_in_box finds it by division, for any
//! box; the CUDA executor's full chunks, whose extents are powers of two, by shifts.
struct box_position {
  std::uint32_t i2, i1, i0, s1, s0;
};

//! The position of element `i` (C order) in `box`.
ACTZIP_HD box_position position_in_box(box_extents box, std::uint32_t i) noexcept {
  const std::uint32_t row = i / box.e2;
  return box_position{i % box.e2, row % box.e1, row / box.e1, box.e2, box.e1 * box.e2};
}

//! The Lorenzo delta of element `i` at position `p` of indices `v`: the
//! inclusion-exclusion of its neighbours, zeros outside the box.
ACTZIP_HD std::uint32_t lorenzo_delta(const std::uint32_t* v, std::uint32_t i, const box_position& p) noexcept {
  const std::uint32_t s1 = p.s1, s0 = p.s0;
  std::uint32_t d = v[i];
  if (p.i2 != 0) d -= v[i - 1];
  if (p.i1 != 0) d -= v[i - s1];
  if (p.i0 != 0) d -= v[i - s0];
  if (p.i2 != 0 && p.i1 != 0) d += v[i - 1 - s1];
  if (p.i2 != 0 && p.i0 != 0) d += v[i - 1 - s0];
  if (p.i1 != 0 && p.i0 != 0) d += v[i - s1 - s0];
  if (p.i2 != 0 && p.i1 != 0 && p.i0 != 0) d -= v[i - 1 - s1 - s0];
  return d;
}

//! The Lorenzo delta of element `i` (C order over `box`) of indices `v`, computed
//! from its neighbours alone: the inclusion-exclusion form of lorenzo_forward, with
//! zeros outside the box. Executors that give each element its own thread (the
//! CUDA executor) use it; it equals lorenzo_forward's result at i.
ACTZIP_HD std::uint32_t lorenzo_delta_at(const std::uint32_t* v, box_extents box, std::uint32_t i) noexcept {
  return lorenzo_delta(v, i, position_in_box(box, i));
}

//! Inverse of lorenzo_forward: prefix sums along each dimension, in place.
ACTZIP_HD void lorenzo_inverse(std::uint32_t* v, box_extents box) noexcept {
  const std::uint32_t plane = box.e1 * box.e2;
  for (std::uint32_t i0 = 1; i0 < box.e0; ++i0) detail::add_row(v + i0 * plane, v + (i0 - 1) * plane, plane);
  for (std::uint32_t i0 = 0; i0 < box.e0; ++i0) {
    std::uint32_t* slab = v + i0 * plane;
    for (std::uint32_t i1 = 1; i1 < box.e1; ++i1) detail::add_row(slab + i1 * box.e2, slab + (i1 - 1) * box.e2, box.e2);
    for (std::uint32_t i1 = 0; i1 < box.e1; ++i1) detail::prefix_sum_along_row(slab + i1 * box.e2, box.e2);
  }
}

//! The predictors a Huffman chunk may use (its control word names one). Each maps
//! a chunk's indices to deltas and back, exactly and invertibly:
//! - lorenzo_3d: lorenzo_forward (every dimension of the box).
//! - lorenzo_2d: 2-D Lorenzo inside each plane i0, the planes' first elements
//!   chained along i0 (for tensors whose slowest dimension is not smooth, such as
//!   the channels of activations folded into it).
//! - rows: differences along each row, the rows' first elements chained in order
//!   (for data smooth along its rows only).
enum class predictor : unsigned { lorenzo_3d = 0, lorenzo_2d = 1, rows = 2 };
//! Number of predictors.
inline constexpr unsigned predictor_count = 3;

//! The delta of element `i` at position `p` of indices `v` under predictor `m`.
ACTZIP_HD std::uint32_t predictor_delta(const std::uint32_t* v, std::uint32_t i, const box_position& p,
                                        predictor m) noexcept {
  if (m == predictor::lorenzo_3d) return lorenzo_delta(v, i, p);
  if (m == predictor::rows) {
    if (p.i2 != 0) return v[i] - v[i - 1];
    return p.i1 != 0 || p.i0 != 0 ? v[i] - v[i - p.s1] : v[i];
  }
  if (p.i1 == 0 && p.i2 == 0) return p.i0 != 0 ? v[i] - v[i - p.s0] : v[i];
  std::uint32_t d = v[i];
  if (p.i2 != 0) d -= v[i - 1];
  if (p.i1 != 0) d -= v[i - p.s1];
  if (p.i2 != 0 && p.i1 != 0) d += v[i - 1 - p.s1];
  return d;
}

//! The delta of element `i` (C order over `box`) of indices `v` under predictor `m`.
ACTZIP_HD std::uint32_t predictor_delta_at(const std::uint32_t* v, box_extents box, std::uint32_t i,
                                           predictor m) noexcept {
  return predictor_delta(v, i, position_in_box(box, i), m);
}

//! Writes the deltas of predictor `m` of indices `v` (C order over `box`) to `out`
//! (which must not overlap `v`): out[i] == predictor_delta_at(v, box, i, m) for
//! every i, computed with whole-row differences instead of element by element.
ACTZIP_HD void predictor_forward(const std::uint32_t* v, std::uint32_t* out, box_extents box, predictor m) noexcept {
  const std::uint32_t n = box.count(), plane = box.e1 * box.e2, rows = box.e0 * box.e1;
  for (std::uint32_t i = 0; i < n; ++i) out[i] = v[i];
  if (m == predictor::lorenzo_3d) {
    lorenzo_forward(out, box);
    return;
  }
  if (m == predictor::rows) {
    for (std::uint32_t r = 0; r < rows; ++r) detail::difference_along_row(out + r * box.e2, box.e2);
    for (std::uint32_t r = 1; r < rows; ++r) out[r * box.e2] = v[r * box.e2] - v[(r - 1) * box.e2];
    return;
  }
  for (std::uint32_t i0 = 0; i0 < box.e0; ++i0) detail::lorenzo_forward_plane(out + i0 * plane, box.e1, box.e2);
  for (std::uint32_t i0 = 1; i0 < box.e0; ++i0) out[i0 * plane] = v[i0 * plane] - v[(i0 - 1) * plane];
}

//! Inverse of predictor_delta_at over the whole box, in place.
ACTZIP_HD void predictor_inverse(std::uint32_t* v, box_extents box, predictor m) noexcept {
  if (m == predictor::lorenzo_3d) {
    lorenzo_inverse(v, box);
    return;
  }
  const std::uint32_t plane = box.e1 * box.e2, rows = box.e0 * box.e1;
  if (m == predictor::rows) {
    for (std::uint32_t r = 1; r < rows; ++r) v[r * box.e2] += v[(r - 1) * box.e2];
    for (std::uint32_t r = 0; r < rows; ++r) detail::prefix_sum_along_row(v + r * box.e2, box.e2);
    return;
  }
  for (std::uint32_t i0 = 1; i0 < box.e0; ++i0) v[i0 * plane] += v[(i0 - 1) * plane];
  for (std::uint32_t i0 = 0; i0 < box.e0; ++i0) {
    std::uint32_t* slab = v + i0 * plane;
    for (std::uint32_t i1 = 1; i1 < box.e1; ++i1) detail::add_row(slab + i1 * box.e2, slab + (i1 - 1) * box.e2, box.e2);
    for (std::uint32_t i1 = 0; i1 < box.e1; ++i1) detail::prefix_sum_along_row(slab + i1 * box.e2, box.e2);
  }
}

//! The predictors worth trying on a box: all three on 3-D boxes, lorenzo_3d and
//! rows on 2-D ones (lorenzo_2d is lorenzo_3d there), lorenzo_3d on rows.
ACTZIP_HD unsigned predictors_for(box_extents box) noexcept { return box.e0 > 1 ? 3u : box.e1 > 1 ? 2u : 1u; }

//! The k-th predictor worth trying on a box (k < predictors_for(box)).
ACTZIP_HD predictor predictor_choice(box_extents box, unsigned k) noexcept {
  if (k == 0) return predictor::lorenzo_3d;
  if (k == 1 && box.e0 > 1) return predictor::lorenzo_2d;
  return predictor::rows;
}

}  // namespace actzip
