// SPDX-License-Identifier: Apache-2.0
//
// The shape of a tensor, 1-D to 3-D, in C order: the first extent is the slowest
// dimension and the last is contiguous, exactly like `torch.Tensor.shape` and numpy.
// An NCHW activation is the 3-D field {N*C, H, W}; a (batch, tokens, hidden)
// activation is {B*T, H}.
#pragma once

#include <actzip/config.hpp>
#include <actzip/core/fast_divide.hpp>

#include <cstdint>
#include <type_traits>

namespace actzip {

//! Shape of a tensor: rank 1..3, C order, 64-bit extents. Extents of zero are
//! allowed (an empty tensor).
class extents {
 public:
  //! Largest supported rank.
  static constexpr unsigned max_rank = 3;

  //! An empty 1-D shape {0}.
  constexpr extents() noexcept = default;
  //! A shape from its extents, slowest first, e.g. `extents{n * c, h, w}`; any
  //! integer types. More than max_rank extents, or a negative one, gives an invalid
  //! shape (`valid()` is false).
  template <class... Dims, std::enable_if_t<(sizeof...(Dims) >= 1) && (std::is_integral<Dims>::value && ...), int> = 0>
  constexpr extents(Dims... dims) noexcept {
    const long double probe[] = {static_cast<long double>(dims)...};  // sign check without conversion warnings
    const std::uint64_t values[] = {static_cast<std::uint64_t>(dims)...};
    if (sizeof...(Dims) > max_rank) {
      rank_ = 0;
      return;
    }
    rank_ = static_cast<unsigned>(sizeof...(Dims));
    for (unsigned i = 0; i < rank_; ++i) {
      if (probe[i] < 0) rank_ = 0;
      dims_[i] = values[i];
    }
    if (rank_ == 0) dims_[0] = 0;
  }
  //! A 1-D shape of `n` elements.
  ACTZIP_HD static extents linear(std::uint64_t n) noexcept {
    extents e;
    e.dims_[0] = n;
    return e;
  }
  //! A shape of `rank` extents read from `dims` (rank outside 1..3 gives an invalid shape).
  ACTZIP_HD static extents from_array(unsigned rank, const std::uint64_t* dims) noexcept {
    extents e;
    if (rank == 0 || rank > max_rank) {
      e.rank_ = 0;
      return e;
    }
    e.rank_ = rank;
    for (unsigned i = 0; i < rank; ++i) e.dims_[i] = dims[i];
    return e;
  }

  //! Number of dimensions (1..3; 0 for an invalid shape).
  ACTZIP_HD unsigned rank() const noexcept { return rank_; }
  //! Extent of dimension `i` (0 = slowest). Dimensions at or beyond rank() read as 1.
  ACTZIP_HD std::uint64_t operator[](unsigned i) const noexcept { return i < rank_ ? dims_[i] : 1; }
  //! True for rank 1..3.
  ACTZIP_HD bool valid() const noexcept { return rank_ >= 1 && rank_ <= max_rank; }
  //! Number of elements, or false (and *count untouched) if it overflows 64 bits.
  ACTZIP_HD bool element_count(std::uint64_t* count) const noexcept {
    std::uint64_t n = 1;
    for (unsigned i = 0; i < rank_; ++i) {
      if (multiply_high(n, dims_[i]) != 0) return false;  // the product needs more than 64 bits
      n *= dims_[i];
    }
    *count = n;
    return true;
  }
  //! Number of elements (callers must have checked element_count for overflow).
  ACTZIP_HD std::uint64_t size() const noexcept {
    std::uint64_t n = 1;
    for (unsigned i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }

  friend bool operator==(const extents& a, const extents& b) noexcept {
    if (a.rank_ != b.rank_) return false;
    for (unsigned i = 0; i < a.rank_; ++i)
      if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }
  friend bool operator!=(const extents& a, const extents& b) noexcept { return !(a == b); }

 private:
  unsigned rank_ = 1;
  std::uint64_t dims_[max_rank] = {0, 1, 1};
};

}  // namespace actzip
