// SPDX-License-Identifier: Apache-2.0
//
// Chunk geometry: how a 1-D, 2-D or 3-D tensor is cut into chunks of fixed shape.
// The chunk shape is a format constant per rank (written into every header, never
// derived from a thread count); edge chunks are clipped to the tensor. Chunks are
// numbered in C order of the chunk grid.
#pragma once

#include <actzip/core/extents.hpp>
#include <actzip/core/fast_divide.hpp>
#include <actzip/stages/lorenzo.hpp>

#include <cstdint>

namespace actzip {

//! Most elements a chunk holds (every chunk shape below has exactly this many).
inline constexpr std::uint32_t max_chunk_elements = 4096;

//! Chunk shape of a tensor of the given rank, padded to 3-D: 1-D {1,1,4096},
//! 2-D {1,64,64}, 3-D {16,16,16}.
ACTZIP_HD box_extents chunk_shape_for_rank(unsigned rank) noexcept {
  if (rank == 3) return box_extents{16, 16, 16};
  if (rank == 2) return box_extents{1, 64, 64};
  return box_extents{1, 1, 4096};
}

//! A tensor's chunk grid.
struct chunk_geometry {
  std::uint64_t dims[3];   //!< tensor extents padded to 3-D (leading 1s)
  box_extents chunk;       //!< chunk shape
  std::uint64_t grid[3];   //!< chunks along each dimension
  std::uint64_t count;     //!< total number of chunks (0 for an empty tensor)
  fast_divisor grid_div[2];  //!< division by grid[2] and by grid[1] (chunk_box)

  //! One chunk's origin (element coordinates) and clipped extents.
  struct box {
    std::uint64_t origin[3];
    box_extents extent;
  };

  //! The box of chunk `index` (< count).
  ACTZIP_HD box chunk_box(std::uint64_t index) const noexcept {
    box b;
    const std::uint64_t rest = grid_div[0].divide(index);
    const std::uint64_t i2 = grid_div[0].remainder(index, rest);
    const std::uint64_t i0 = grid_div[1].divide(rest);
    const std::uint64_t i1 = grid_div[1].remainder(rest, i0);
    const std::uint64_t idx[3] = {i0, i1, i2};
    const std::uint32_t shape[3] = {chunk.e0, chunk.e1, chunk.e2};
    std::uint32_t ext[3];
    for (int d = 0; d < 3; ++d) {
      b.origin[d] = idx[d] * shape[d];
      const std::uint64_t left = dims[d] - b.origin[d];
      ext[d] = left < shape[d] ? static_cast<std::uint32_t>(left) : shape[d];
    }
    b.extent = box_extents{ext[0], ext[1], ext[2]};
    return b;
  }
};

//! Linear index, in the whole tensor, of element `i` (C order inside the box) of
//! chunk box `b`.
ACTZIP_HD std::uint64_t box_element_index(const chunk_geometry& g, const chunk_geometry::box& b,
                                          std::uint32_t i) noexcept {
  const std::uint32_t i2 = i % b.extent.e2, row = i / b.extent.e2;
  const std::uint32_t i1 = row % b.extent.e1, i0 = row / b.extent.e1;
  return ((b.origin[0] + i0) * g.dims[1] + (b.origin[1] + i1)) * g.dims[2] + b.origin[2] + i2;
}

//! The chunk geometry of `shape` (which must be valid; extents may be 0).
ACTZIP_HD chunk_geometry make_chunk_geometry(const extents& shape) noexcept {
  chunk_geometry g{};
  const unsigned rank = shape.rank();
  for (unsigned d = 0; d < 3; ++d) g.dims[d] = d + rank >= 3 ? shape[d + rank - 3] : 1;
  g.chunk = chunk_shape_for_rank(rank);
  const std::uint32_t shape3[3] = {g.chunk.e0, g.chunk.e1, g.chunk.e2};
  g.count = 1;
  for (int d = 0; d < 3; ++d) {
    // Chunk extents are powers of two: ceil(dims / shape) by a shift.
    unsigned shift = 0;
    while ((std::uint32_t{1} << shift) < shape3[d]) ++shift;
    g.grid[d] = (g.dims[d] >> shift) + ((g.dims[d] & (shape3[d] - 1u)) != 0);
    g.count *= g.grid[d];  // cannot overflow: count <= element count
  }
  g.grid_div[0] = fast_divisor(g.grid[2]);
  g.grid_div[1] = fast_divisor(g.grid[1]);
  return g;
}

}  // namespace actzip
