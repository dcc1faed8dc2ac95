// SPDX-License-Identifier: Apache-2.0
//
// Compression parameters: the error bound (absolute, or relative to the value
// range), the codec, and the sign-preservation option.
#pragma once

#include <actzip/config.hpp>

#include <cstdint>

namespace actzip {

//! How the bound value is interpreted.
enum class bound_mode : std::uint8_t {
  absolute = 1,  //!< |x - x'| <= value
  relative = 2,  //!< |x - x'| <= value * (max - min), over the finite values of the tensor
};

//! The encoder that follows quantization and Lorenzo prediction.
enum class codec : std::uint8_t {
  bitplane = 1,   //!< fast: per group of 32, zig-zag, bit width, bitplanes, zero-group elision
  huffman = 2,    //!< ratio: one canonical Huffman code book per stream, zero runs, parallel segments
  automatic = 3,  //!< per chunk the smaller of bitplane and huffman (both are sized for every chunk)
};

//! The codec's name: "bitplane", "huffman", "automatic" (or "unknown").
inline const char* to_string(codec c) noexcept {
  switch (c) {
    case codec::bitplane: return "bitplane";
    case codec::huffman: return "huffman";
    case codec::automatic: return "automatic";
  }
  return "unknown";
}

//! An error bound: a mode and a value.
struct bound {
  bound_mode mode = bound_mode::absolute;  //!< absolute or value-range relative
  double value = 0.0;                      //!< the bound (>= 0 absolute, > 0 relative)
};

//! An absolute error bound: every reconstructed value x' satisfies |x - x'| <= value.
inline constexpr bound abs(double value) noexcept { return bound{bound_mode::absolute, value}; }
//! A bound relative to the value range: |x - x'| <= value * (max - min), where max
//! and min are taken over the finite values of the tensor.
inline constexpr bound rel(double value) noexcept { return bound{bound_mode::relative, value}; }

//! Parameters of one compression.
struct params {
  bound error_bound;                              //!< the error bound (actzip::abs or actzip::rel)
  actzip::codec codec = actzip::codec::bitplane;  //!< the encoder
  //! When true, no non-zero value reconstructs to zero or to a value of the other
  //! sign (values that would are stored losslessly), so masks such as x > 0 computed
  //! from the reconstruction are exact. Zeros always reconstruct to exactly zero.
  bool preserve_sign = false;
};

//! Options of one decompression.
struct decode_options {
  //! Verify the stream's checksum before decoding (the default). A stream whose
  //! checksum does not match is refused with status::checksum_mismatch. Skipping
  //! the check saves one pass over the stream; structural damage is still caught.
  bool verify_checksum = true;
};

}  // namespace actzip
