// SPDX-License-Identifier: Apache-2.0
//
// The IEEE operations the quantizer runs on float and double, one function each, so
// that nvcc's fast-math flags cannot change them. --use_fast_math (-ftz=true
// -prec-div=false -fmad=true) defines no macro, yet under it nvcc flushes float
// subnormals to zero in arithmetic, comparisons and conversions (.ftz), divides
// approximately (div.approx, rcp.approx) and fuses multiplications with additions;
// every one of those would make device streams differ from the host's and let
// subnormal inputs break the strict bound. In device code (ACTZIP_DEVICE_CODE) each
// function is therefore one inline PTX instruction with an explicit rounding mode and
// no .ftz, which nvcc passes through untouched and ptxas never contracts; elsewhere
// (host compilers, nvcc's host pass, kernels emulated on the CPU) it is the plain C++
// operation, which the host builds keep exact with -ffp-contract=off. Comparisons are
// those of C++: false when an operand is NaN, except ne, which is true then.
// tests/cuda/fast_math_probe.cu and fast_math_ptx.cmake check the PTX.
#pragma once

#include <actzip/config.hpp>

#include <cstdint>
#include <type_traits>

namespace actzip {
namespace detail {
namespace ieee {

#if ACTZIP_DEVICE_CODE
// One PTX instruction per operation on float ("f" registers) or double ("d").
#define ACTZIP_IEEE_BINARY(C, a, b, f32, f64)           \
  C r;                                                  \
  if constexpr (sizeof(C) == 4) {                       \
    asm(f32 " %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); \
  } else {                                              \
    asm(f64 " %0, %1, %2;" : "=d"(r) : "d"(a), "d"(b)); \
  }                                                     \
  return r
// A comparison: the predicate as 0 or 1.
#define ACTZIP_IEEE_COMPARE(C, a, b, f32, f64)                                                                \
  unsigned r;                                                                                                 \
  if constexpr (sizeof(C) == 4) {                                                                             \
    asm("{\n\t.reg .pred p;\n\t" f32 " p, %1, %2;\n\tselp.u32 %0, 1, 0, p;\n\t}" : "=r"(r) : "f"(a), "f"(b)); \
  } else {                                                                                                    \
    asm("{\n\t.reg .pred p;\n\t" f64 " p, %1, %2;\n\tselp.u32 %0, 1, 0, p;\n\t}" : "=r"(r) : "d"(a), "d"(b)); \
  }                                                                                                           \
  return r != 0
#endif

//! a + b, correctly rounded (ties to even), never fused.
template <class C>
ACTZIP_HD C add(C a, C b) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  ACTZIP_IEEE_BINARY(C, a, b, "add.rn.f32", "add.rn.f64");
#else
  return a + b;
#endif
}

//! a - b, correctly rounded, never fused with a preceding multiplication.
template <class C>
ACTZIP_HD C sub(C a, C b) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  ACTZIP_IEEE_BINARY(C, a, b, "sub.rn.f32", "sub.rn.f64");
#else
  return a - b;
#endif
}

//! a * b, correctly rounded, never fused with a following addition.
template <class C>
ACTZIP_HD C mul(C a, C b) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  ACTZIP_IEEE_BINARY(C, a, b, "mul.rn.f32", "mul.rn.f64");
#else
  return a * b;
#endif
}

//! a / b, correctly rounded (never the approximate division of -prec-div=false).
template <class C>
ACTZIP_HD C div(C a, C b) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  ACTZIP_IEEE_BINARY(C, a, b, "div.rn.f32", "div.rn.f64");
#else
  return a / b;
#endif
}

//! -a (exact; a subnormal keeps its magnitude).
template <class C>
ACTZIP_HD C neg(C a) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  C r;
  if constexpr (sizeof(C) == 4) {
    asm("neg.f32 %0, %1;" : "=f"(r) : "f"(a));
  } else {
    asm("neg.f64 %0, %1;" : "=d"(r) : "d"(a));
  }
  return r;
#else
  return -a;
#endif
}

//! a < b (false when either is NaN).
template <class C>
ACTZIP_HD bool lt(C a, C b) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  ACTZIP_IEEE_COMPARE(C, a, b, "setp.lt.f32", "setp.lt.f64");
#else
  return a < b;
#endif
}

//! a > b (false when either is NaN).
template <class C>
ACTZIP_HD bool gt(C a, C b) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  ACTZIP_IEEE_COMPARE(C, a, b, "setp.gt.f32", "setp.gt.f64");
#else
  return a > b;
#endif
}

//! a <= b (false when either is NaN).
template <class C>
ACTZIP_HD bool le(C a, C b) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  ACTZIP_IEEE_COMPARE(C, a, b, "setp.le.f32", "setp.le.f64");
#else
  return a <= b;
#endif
}

//! a == b (false when either is NaN; a subnormal is not 0).
template <class C>
ACTZIP_HD bool eq(C a, C b) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  ACTZIP_IEEE_COMPARE(C, a, b, "setp.eq.f32", "setp.eq.f64");
#else
  return a == b;
#endif
}

//! a != b (true when either is NaN).
template <class C>
ACTZIP_HD bool ne(C a, C b) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  ACTZIP_IEEE_COMPARE(C, a, b, "setp.neu.f32", "setp.neu.f64");
#else
  return a != b;
#endif
}

#if ACTZIP_DEVICE_CODE
#undef ACTZIP_IEEE_BINARY
#undef ACTZIP_IEEE_COMPARE
#endif

//! y rounded to the nearest integer, ties to even (the IEEE default rounding), for
//! any finite y; NaN and infinities pass through.
template <class C>
ACTZIP_HD C round_to_integer(C y) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  C r;
  if constexpr (sizeof(C) == 4) {
    asm("cvt.rni.f32.f32 %0, %1;" : "=f"(r) : "f"(y));
  } else {
    asm("cvt.rni.f64.f64 %0, %1;" : "=d"(r) : "d"(y));
  }
  return r;
#else
  // 2^23 (float) or 2^52 (double): adding and subtracting it rounds to an integer.
  const C shifter = sizeof(C) == 4 ? C(8388608.0) : C(4503599627370496.0);
  const C signed_shifter = y >= C(0) ? shifter : -shifter;
  const C rounded = (y + signed_shifter) - signed_shifter;
  return (y < shifter && y > -shifter) ? rounded : y;  // larger values are integers already (or NaN / Inf)
#endif
}

//! The integer q as C, rounded to nearest, ties to even (exact when |q| <= 2^24).
template <class C>
ACTZIP_HD C from_int(std::int32_t q) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  C r;
  if constexpr (sizeof(C) == 4) {
    asm("cvt.rn.f32.s32 %0, %1;" : "=f"(r) : "r"(q));
  } else {
    asm("cvt.rn.f64.s32 %0, %1;" : "=d"(r) : "r"(q));
  }
  return r;
#else
  return static_cast<C>(q);
#endif
}

//! y truncated to a 32-bit integer; y must be an integer within range (the caller
//! clamps it).
template <class C>
ACTZIP_HD std::int32_t to_int(C y) noexcept {
  static_assert(std::is_floating_point<C>::value, "float or double");
#if ACTZIP_DEVICE_CODE
  std::int32_t r;
  if constexpr (sizeof(C) == 4) {
    asm("cvt.rzi.s32.f32 %0, %1;" : "=r"(r) : "f"(y));
  } else {
    asm("cvt.rzi.s32.f64 %0, %1;" : "=r"(r) : "d"(y));
  }
  return r;
#else
  return static_cast<std::int32_t>(y);
#endif
}

//! v widened to double: exact, subnormals included.
ACTZIP_HD double to_double(float v) noexcept {
#if ACTZIP_DEVICE_CODE
  double r;
  asm("cvt.f64.f32 %0, %1;" : "=d"(r) : "f"(v));
  return r;
#else
  return static_cast<double>(v);
#endif
}

//! v as double (the identity, for code written for either compute type).
ACTZIP_HD double to_double(double v) noexcept {
  return v;
}

//! v rounded to float, to nearest, ties to even; results below FLT_MIN are
//! subnormals, not zeros.
ACTZIP_HD float to_float(double v) noexcept {
#if ACTZIP_DEVICE_CODE
  float r;
  asm("cvt.rn.f32.f64 %0, %1;" : "=f"(r) : "d"(v));
  return r;
#else
  return static_cast<float>(v);
#endif
}

}  // namespace ieee
}  // namespace detail
}  // namespace actzip
