// SPDX-License-Identifier: Apache-2.0
//
// The strict error-bounded quantizer (first half of dual quantization): q =
// round(x / 2eb) as an integer, reconstruction x' = q * 2eb computed in the compute
// type and rounded to the element type, and the check that decides, exactly, whether
// |x - x'| <= eb. Values that fail it (NaN, Inf, indices beyond the quantization
// radius, rounding misses, sign changes under preserve_sign) are stored losslessly by
// the caller. Every operation here is a single correctly rounded IEEE operation, so
// host and device produce the same bits. In device code each one is an inline PTX
// instruction (core/ieee.hpp), so nvcc's --use_fast_math, -ftz=true, -prec-div=false
// and -fmad=true change none of them.
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/core/dtype.hpp>
#include <actzip/core/ieee.hpp>

#include <cfloat>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if ACTZIP_HAS_SSE2
#include <emmintrin.h>
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace actzip {

//! Largest |q| the quantizer produces: 2^27, exact in float and double, and small
//! enough that a 3-D Lorenzo delta (a signed sum of eight indices, at most 2^30 in
//! magnitude) always fits in a signed 32-bit integer.
inline constexpr std::int32_t quantization_radius = 1 << 27;

//! Parameters of the quantizer in compute type C (float or double).
template <class C>
struct quantizer {
  C bound;          //!< effective absolute bound, <= the requested one
  C step;           //!< 2 * bound
  C inverse_step;   //!< 1 / step, or 0 when that is not finite (then every q is 0)
  bool preserve_sign;  //!< refuse reconstructions that are zero or of the other sign
};

namespace detail {

//! Rounds to the nearest integer, ties to even (the IEEE default rounding), for any
//! finite y; NaN and infinities pass through.
template <class C>
ACTZIP_HD C round_to_nearest_even(C y) noexcept {
  return ieee::round_to_integer(y);
}

//! Largest finite value of C (a macro constant, usable in device code).
template <class C>
ACTZIP_HD constexpr C largest_finite() noexcept {
  if constexpr (sizeof(C) == 4) {
    return FLT_MAX;
  } else {
    return DBL_MAX;
  }
}

//! Largest value of type C that is <= v, for a finite or infinite v >= 0 (a
//! subnormal when v is one, never flushed to zero).
template <class C>
ACTZIP_HD C round_down_to(double v) noexcept {
  if constexpr (sizeof(C) == 8) {
    return v;
  } else {
    float f = ieee::to_float(v);  // round to nearest
    if (ieee::gt(ieee::to_double(f), v)) f = bit_cast<float>(bit_cast<std::uint32_t>(f) - 1u);
    return f;
  }
}

}  // namespace detail

//! The absolute bound a relative bound `relative` stands for on finite values in
//! [value_min, value_max]: relative * (value_max - value_min), rounded the same way
//! on every executor.
ACTZIP_HD double absolute_from_relative(double relative, double value_min, double value_max) noexcept {
  return detail::ieee::mul(relative, detail::ieee::sub(value_max, value_min));
}

//! The quantizer for an effective absolute bound `absolute_bound` (finite or not,
//! >= 0). The bound is rounded down to the compute type and capped at a quarter of
//! its largest finite value, so the quantizer never promises more than was asked.
template <class C>
ACTZIP_HD quantizer<C> make_quantizer(double absolute_bound, bool preserve_sign) noexcept {
  namespace ieee = detail::ieee;
  quantizer<C> qz{};
  C bound = detail::round_down_to<C>(absolute_bound);
  constexpr C cap = detail::largest_finite<C>() / C(4);  // exact, folded at compile time
  if (!ieee::le(bound, cap)) bound = cap;                // also catches NaN, which callers have rejected already
  qz.bound = bound;
  qz.step = ieee::mul(bound, C(2));
  qz.inverse_step = ieee::div(C(1), qz.step);
  if (!ieee::le(qz.inverse_step, detail::largest_finite<C>())) qz.inverse_step = C(0);  // bound 0 or tiny
  qz.preserve_sign = preserve_sign;
  return qz;
}

//! The quantization index of x: round(x / 2eb), clamped to +-quantization_radius;
//! 0 for NaN. Infinite and out-of-range values are clamped; the check below then
//! sends them to the lossless path. Branch-free, so loops over it vectorise.
template <class C>
ACTZIP_HD std::int32_t quantize_index(C x, const quantizer<C>& qz) noexcept {
  namespace ieee = detail::ieee;
  constexpr C radius = C(quantization_radius), minus_radius = C(-quantization_radius);
  C r = detail::round_to_nearest_even(ieee::mul(x, qz.inverse_step));
  r = ieee::gt(r, radius) ? radius : r;
  r = ieee::lt(r, minus_radius) ? minus_radius : r;
  r = ieee::eq(r, r) ? r : C(0);  // NaN
  return ieee::to_int(r);
}

namespace detail {
//! The strict check on compute-type values: original a, reconstruction b. Bitwise
//! rather than short-circuit logic keeps callers' loops free of branches.
template <class C>
ACTZIP_HD bool accept(C a, C b, C bound, bool preserve_sign) noexcept {
  const C difference = ieee::sub(b, a);
  const bool below = ieee::lt(difference, bound), above = ieee::gt(difference, ieee::neg(bound));
  const bool exact = ieee::eq(difference, C(0));
  const bool inside = (below & above) | exact;
  const bool a_zero = ieee::eq(a, C(0)), b_nonzero = ieee::ne(b, C(0));
  const bool same_sign = ieee::lt(a, C(0)) == ieee::lt(b, C(0));
  const bool sign_kept = a_zero | (b_nonzero & same_sign);
  return inside & (sign_kept | !preserve_sign);
}
}  // namespace detail

//! Reconstruction of index q in the element type T: T(C(q) * 2eb).
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD T reconstruct(std::int32_t q, const quantizer<C>& qz) noexcept {
  return dtype_traits<T>::from_compute(detail::ieee::mul(detail::ieee::from_int<C>(q), qz.step));
}

//! True when `reconstructed` may stand for `original`: |original - reconstructed| <=
//! bound, decided exactly (the subtraction is monotone, so a rounded difference
//! strictly below the bound proves the exact one is <= it; equal values always pass),
//! and, under preserve_sign, a non-zero original keeps a non-zero reconstruction of
//! the same sign. NaN and Inf originals never pass.
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD bool within_bound(T original, T reconstructed, const quantizer<C>& qz) noexcept {
  return detail::accept(dtype_traits<T>::to_compute(original), dtype_traits<T>::to_compute(reconstructed), qz.bound,
                        qz.preserve_sign);
}

namespace detail {

//! Portable quantize_run: the same arithmetic as quantize_element, written without
//! early exits so that compilers vectorise it.
template <class T, class C>
ACTZIP_HD void quantize_run_portable(const T* in, std::uint32_t count, const quantizer<C>& qz, std::uint32_t* q,
                                     unsigned char* keep) noexcept {
  // A local copy: stores through `keep` (unsigned char) could otherwise alias qz.
  const quantizer<C> local = qz;
  for (std::uint32_t i = 0; i < count; ++i) {
    const C x = dtype_traits<T>::to_compute(in[i]);
    const std::int32_t index = quantize_index(x, local);
    const C back = dtype_traits<T>::to_compute(reconstruct<T>(index, local));
    q[i] = static_cast<std::uint32_t>(index);
    keep[i] = static_cast<unsigned char>(!detail::accept(x, back, local.bound, local.preserve_sign));
  }
}

#if ACTZIP_HAS_SSE2
//! Four elements of T (float, half or bfloat16) widened to float.
template <class T>
inline __m128 load4_as_float(const T* in) noexcept {
  if constexpr (std::is_same<T, float>::value) {
    return _mm_loadu_ps(in);
  } else {
    const __m128i bits = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in));
    if constexpr (std::is_same<T, half>::value) {
      return widen_half4(_mm_unpacklo_epi16(bits, _mm_setzero_si128()));
    } else {
      return _mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), bits));
    }
  }
}

//! to_compute(from_compute(v)) for T on four lanes: v rounded to T and back.
template <class T>
inline __m128 round_through4(__m128 v) noexcept {
  if constexpr (std::is_same<T, float>::value) {
    return v;
  } else if constexpr (std::is_same<T, half>::value) {
    return round_through_half4(v);
  } else {
    return round_through_bfloat16_4(v);
  }
}

//! Eight floats narrowed to T (half or bfloat16), packed into 16-bit lanes.
template <class T>
inline __m128i narrow8(__m128 lo, __m128 hi) noexcept {
  if constexpr (std::is_same<T, half>::value) {
    return _mm_packs_epi32(narrow_half4(lo), narrow_half4(hi));
  } else {
    return _mm_packs_epi32(narrow_bfloat16_4(lo), narrow_bfloat16_4(hi));
  }
}

//! quantize_run in SSE2 for T = float, half or bfloat16 with compute type float, for
//! one value of preserve_sign: each operation is the single IEEE operation of the
//! portable path on four lanes, so the bits are the same. The rounding is cvtps2dq's
//! (round to nearest even, the default rounding the portable path's add and
//! subtract of 2^23 also rely on) of the value clamped first, which is the rounded
//! value clamped, as the radius is an integer; minps and maxps are exactly the
//! clamps' `a < b ? a : b` (NaN passes both and becomes 0); the conversions give the
//! bits of to_float / to_half / to_bfloat16.
template <bool PreserveSign, class T>
inline void quantize_run_sse2(const T* in, std::uint32_t count, const quantizer<float>& qz, std::uint32_t* q,
                              unsigned char* keep) noexcept {
  const __m128 zero = _mm_setzero_ps();
  const __m128 inverse_step = _mm_set1_ps(qz.inverse_step), step = _mm_set1_ps(qz.step);
  const __m128 bound = _mm_set1_ps(qz.bound);
  const __m128 magnitude = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  const __m128 radius = _mm_set1_ps(float(quantization_radius)), minus_radius = _mm_set1_ps(-float(quantization_radius));
  // Four elements: their indices to q_out; returns 1 in each lane to store losslessly.
  auto quantize4 = [&](const T* x_in, std::uint32_t* q_out) {
    const __m128 x = load4_as_float(x_in);
    __m128 r = _mm_max_ps(minus_radius, _mm_min_ps(radius, _mm_mul_ps(x, inverse_step)));
    r = _mm_and_ps(_mm_cmpeq_ps(r, r), r);
    const __m128i index = _mm_cvtps_epi32(r);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q_out), index);
    // reconstruct (rounded to T and back), then accept: |back - x| < bound, or equal
    const __m128 back = round_through4<T>(_mm_mul_ps(_mm_cvtepi32_ps(index), step));
    const __m128 difference = _mm_sub_ps(back, x);
    __m128 accepted =
        _mm_or_ps(_mm_cmplt_ps(_mm_and_ps(difference, magnitude), bound), _mm_cmpeq_ps(difference, zero));
    if constexpr (PreserveSign) {
      const __m128 same_sign = _mm_xor_ps(_mm_cmplt_ps(x, zero), _mm_cmplt_ps(back, zero));  // ones where different
      const __m128 sign_kept = _mm_or_ps(_mm_cmpeq_ps(x, zero), _mm_andnot_ps(same_sign, _mm_cmpneq_ps(back, zero)));
      accepted = _mm_and_ps(accepted, sign_kept);
    }
    return _mm_andnot_si128(_mm_castps_si128(accepted), _mm_set1_epi32(1));  // 1 where rejected
  };
  std::uint32_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m128i k0 = quantize4(in + i, q + i), k1 = quantize4(in + i + 4, q + i + 4);
    const __m128i k2 = quantize4(in + i + 8, q + i + 8), k3 = quantize4(in + i + 12, q + i + 12);
    const __m128i bytes = _mm_packs_epi16(_mm_packs_epi32(k0, k1), _mm_packs_epi32(k2, k3));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(keep + i), bytes);
  }
  // Rows shorter than 16 (edge chunks) and the ends of longer ones, four at a time.
  for (; i + 4 <= count; i += 4) {
    const __m128i k = quantize4(in + i, q + i);
    const int bytes = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(k, k), _mm_setzero_si128()));
    std::memcpy(keep + i, &bytes, 4);
  }
  quantize_run_portable(in + i, count - i, qz, q + i, keep + i);
}

//! reconstruct_run in SSE2 for T = float, half or bfloat16 with compute type float;
//! returns how many leading elements it wrote (the caller finishes the rest).
template <class T>
inline std::uint32_t reconstruct_run_sse2(const std::uint32_t* q, std::uint32_t count, const quantizer<float>& qz,
                                          T* out) noexcept {
  const __m128 step = _mm_set1_ps(qz.step);
  auto back4 = [&](const std::uint32_t* q_in) {
    return _mm_mul_ps(_mm_cvtepi32_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q_in))), step);
  };
  std::uint32_t i = 0;
  if constexpr (std::is_same<T, float>::value) {
    for (; i + 4 <= count; i += 4) _mm_storeu_ps(out + i, back4(q + i));
  } else {
    for (; i + 8 <= count; i += 8)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), narrow8<T>(back4(q + i), back4(q + i + 4)));
  }
  return i;
}
#endif

}  // namespace detail

//! Quantizes `count` contiguous elements: index bits to q[i], and keep[i] = 1 when
//! element i must be stored losslessly (else 0).
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD void quantize_run(const T* in, std::uint32_t count, const quantizer<C>& qz, std::uint32_t* q,
                            unsigned char* keep) noexcept {
#if ACTZIP_HAS_SSE2
  if constexpr (std::is_same<C, float>::value && (std::is_same<T, float>::value || std::is_same<T, half>::value ||
                                                   std::is_same<T, bfloat16>::value)) {
    if (qz.preserve_sign)
      detail::quantize_run_sse2<true>(in, count, qz, q, keep);
    else
      detail::quantize_run_sse2<false>(in, count, qz, q, keep);
    return;
  }
#endif
  detail::quantize_run_portable(in, count, qz, q, keep);
}

//! Reconstructs `count` elements from their index bits: out[i] = reconstruct(q[i]).
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD void reconstruct_run(const std::uint32_t* q, std::uint32_t count, const quantizer<C>& qz, T* out) noexcept {
  const quantizer<C> local = qz;
  std::uint32_t i = 0;
#if ACTZIP_HAS_SSE2
  if constexpr (std::is_same<C, float>::value && (std::is_same<T, float>::value || std::is_same<T, half>::value ||
                                                   std::is_same<T, bfloat16>::value)) {
    i = detail::reconstruct_run_sse2(q, count, local, out);
  }
#endif
  for (; i < count; ++i) out[i] = reconstruct<T>(static_cast<std::int32_t>(q[i]), local);
}

//! Quantizes one element: returns its index and sets *lossless when the element
//! must be stored losslessly instead.
template <class T, class C = typename dtype_traits<T>::compute_type>
ACTZIP_HD std::int32_t quantize_element(T x, const quantizer<C>& qz, bool* lossless) noexcept {
  const std::int32_t q = quantize_index(dtype_traits<T>::to_compute(x), qz);
  *lossless = !within_bound(x, reconstruct<T>(q, qz), qz);
  return q;
}

}  // namespace actzip
