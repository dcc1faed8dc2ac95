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

namespace actzip {

//! Extents of one chunk's box, C order, padded to 3-D (unused leading extents are 1).
struct box_extents {
  std::uint32_t e0, e1, e2;  //!< slowest to contiguous
  //! Number of elements in the box.
  ACTZIP_HD std::uint32_t count() const noexcept { return e0 * e1 * e2; }
};

//! Replaces indices `v` (C order over `box`) by their Lorenzo deltas, in place.
ACTZIP_HD void lorenzo_forward(std::uint32_t* v, box_extents box) noexcept {
  const std::uint32_t plane = box.e1 * box.e2;
  for (std::uint32_t i0 = 0; i0 < box.e0; ++i0) {
    for (std::uint32_t i1 = 0; i1 < box.e1; ++i1) {
      std::uint32_t* row = v + i0 * plane + i1 * box.e2;
      for (std::uint32_t i2 = box.e2; i2-- > 1;) row[i2] -= row[i2 - 1];
    }
    std::uint32_t* slab = v + i0 * plane;
    for (std::uint32_t i1 = box.e1; i1-- > 1;)
      for (std::uint32_t i2 = 0; i2 < box.e2; ++i2) slab[i1 * box.e2 + i2] -= slab[(i1 - 1) * box.e2 + i2];
  }
  for (std::uint32_t i0 = box.e0; i0-- > 1;)
    for (std::uint32_t k = 0; k < plane; ++k) v[i0 * plane + k] -= v[(i0 - 1) * plane + k];
}

//! Inverse of lorenzo_forward: prefix sums along each dimension, in place.
ACTZIP_HD void lorenzo_inverse(std::uint32_t* v, box_extents box) noexcept {
  const std::uint32_t plane = box.e1 * box.e2;
  for (std::uint32_t i0 = 1; i0 < box.e0; ++i0)
    for (std::uint32_t k = 0; k < plane; ++k) v[i0 * plane + k] += v[(i0 - 1) * plane + k];
  for (std::uint32_t i0 = 0; i0 < box.e0; ++i0) {
    std::uint32_t* slab = v + i0 * plane;
    for (std::uint32_t i1 = 1; i1 < box.e1; ++i1)
      for (std::uint32_t i2 = 0; i2 < box.e2; ++i2) slab[i1 * box.e2 + i2] += slab[(i1 - 1) * box.e2 + i2];
    for (std::uint32_t i1 = 0; i1 < box.e1; ++i1) {
      std::uint32_t* row = slab + i1 * box.e2;
      for (std::uint32_t i2 = 1; i2 < box.e2; ++i2) row[i2] += row[i2 - 1];
    }
  }
}

}  // namespace actzip
