// SPDX-License-Identifier: Apache-2.0
//
// Element types actzip compresses and their traits: the stream code of each type,
// its size, the floating-point type the quantizer computes in, and the conversions
// between the storage type and that compute type.
#pragma once

#include <actzip/core/half.hpp>

#include <cstdint>
#include <type_traits>

namespace actzip {

//! Element type of a tensor, as written in the stream header.
enum class dtype : std::uint8_t {
  float32 = 1,   //!< IEEE binary32 (`float`)
  float64 = 2,   //!< IEEE binary64 (`double`)
  float16 = 3,   //!< IEEE binary16 (`actzip::half`)
  bfloat16 = 4,  //!< bfloat16 (`actzip::bfloat16`)
};

//! Size in bytes of one element of `type` (0 for an unknown code).
ACTZIP_HD unsigned dtype_size(dtype type) noexcept {
  switch (type) {
    case dtype::float32: return 4;
    case dtype::float64: return 8;
    case dtype::float16: return 2;
    case dtype::bfloat16: return 2;
  }
  return 0;
}

//! Name of a dtype as used by the command-line tool: "f32", "f64", "f16", "bf16".
inline const char* to_string(dtype type) noexcept {
  switch (type) {
    case dtype::float32: return "f32";
    case dtype::float64: return "f64";
    case dtype::float16: return "f16";
    case dtype::bfloat16: return "bf16";
  }
  return "unknown";
}

//! Traits of an element type T: `code`, `compute_type` (the type the quantizer uses),
//! `bits_type` (an unsigned integer of the same size), and exact `to_compute` and
//! correctly rounded `from_compute` conversions.
template <class T>
struct dtype_traits;

template <>
struct dtype_traits<float> {
  static constexpr dtype code = dtype::float32;
  using compute_type = float;
  using bits_type = std::uint32_t;
  ACTZIP_HD static float to_compute(float v) noexcept { return v; }
  ACTZIP_HD static float from_compute(float v) noexcept { return v; }
};

template <>
struct dtype_traits<double> {
  static constexpr dtype code = dtype::float64;
  using compute_type = double;
  using bits_type = std::uint64_t;
  ACTZIP_HD static double to_compute(double v) noexcept { return v; }
  ACTZIP_HD static double from_compute(double v) noexcept { return v; }
};

template <>
struct dtype_traits<half> {
  static constexpr dtype code = dtype::float16;
  using compute_type = float;
  using bits_type = std::uint16_t;
  ACTZIP_HD static float to_compute(half v) noexcept { return to_float(v); }
  ACTZIP_HD static half from_compute(float v) noexcept { return to_half(v); }
};

template <>
struct dtype_traits<bfloat16> {
  static constexpr dtype code = dtype::bfloat16;
  using compute_type = float;
  using bits_type = std::uint16_t;
  ACTZIP_HD static float to_compute(bfloat16 v) noexcept { return to_float(v); }
  ACTZIP_HD static bfloat16 from_compute(float v) noexcept { return to_bfloat16(v); }
};

//! True for the element types actzip supports.
template <class T>
inline constexpr bool is_supported_element_v =
    std::is_same<T, float>::value || std::is_same<T, double>::value || std::is_same<T, half>::value ||
    std::is_same<T, bfloat16>::value;

}  // namespace actzip
