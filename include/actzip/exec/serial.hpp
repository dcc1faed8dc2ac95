// SPDX-License-Identifier: Apache-2.0
//
// The serial host executor: runs every stage on the calling thread. It is the
// reference the other executors must match byte for byte, and the fallback for any
// back end that does not specialise a step.
#pragma once

#include <actzip/config.hpp>

#include <cstdint>
#include <limits>
#include <type_traits>

#if ACTZIP_HAS_SSE2
#include <emmintrin.h>
#endif

namespace actzip {
namespace exec {

//! Tag type of the serial host executor.
struct serial_t {};
//! The serial host executor: `actzip::compress(actzip::exec::serial, ...)`.
inline constexpr serial_t serial{};

//! Calls body(i, scratch) for i in [0, count), in order, with one Scratch object.
template <class Scratch, class Body>
void for_each_chunk(const serial_t&, std::uint64_t count, Body&& body) {
  Scratch scratch;
  for (std::uint64_t i = 0; i < count; ++i) body(i, scratch);
}

//! Sum, modulo 2^64, of part(begin, end) over pieces covering [0, count). The sum
//! does not depend on how the range is split, so every executor gets the same value.
template <class Part>
std::uint64_t sum_parts(const serial_t&, std::uint64_t count, Part&& part) {
  return part(std::uint64_t(0), count);
}

namespace detail {

//! Lowers *lo and raises *hi to the smallest and largest finite value of
//! values[0, count) converted by `convert` (non-finite values never win). Both
//! executors run it, the OpenMP one on pieces of the range.
template <class T, class Convert, class C>
void finite_min_max_range(const T* values, std::uint64_t count, Convert convert, C* lo_io, C* hi_io) {
  const C big = std::numeric_limits<C>::infinity();
  C lo = *lo_io, hi = *hi_io;
  std::uint64_t i = 0;
#if ACTZIP_HAS_SSE2
  if constexpr (std::is_same<C, float>::value) {
    // Four lanes in four independent accumulators (min and max have a latency of
    // several cycles); a non-finite value becomes +-Inf, which never wins. minps and
    // maxps may pick another zero than the scalar loop: callers treat -0 as +0.
    const __m128 inf = _mm_set1_ps(big), minus_inf = _mm_set1_ps(-big), zero = _mm_setzero_ps();
    __m128 lo4[4] = {inf, inf, inf, inf}, hi4[4] = {minus_inf, minus_inf, minus_inf, minus_inf};
    auto lanes = [&](std::uint64_t at) {
      return _mm_setr_ps(convert(values[at]), convert(values[at + 1]), convert(values[at + 2]),
                         convert(values[at + 3]));
    };
    auto take = [&](__m128 v, __m128& l, __m128& h) {
      const __m128 finite = _mm_cmpeq_ps(_mm_sub_ps(v, v), zero);
      const __m128 finite_v = _mm_and_ps(finite, v);
      l = _mm_min_ps(_mm_or_ps(finite_v, _mm_andnot_ps(finite, inf)), l);
      h = _mm_max_ps(_mm_or_ps(finite_v, _mm_andnot_ps(finite, minus_inf)), h);
    };
    for (; i + 16 <= count; i += 16)
      for (int k = 0; k < 4; ++k) take(lanes(i + 4 * k), lo4[k], hi4[k]);
    for (; i + 4 <= count; i += 4) take(lanes(i), lo4[0], hi4[0]);
    float lanes_lo[16], lanes_hi[16];
    for (int k = 0; k < 4; ++k) {
      _mm_storeu_ps(lanes_lo + 4 * k, lo4[k]);
      _mm_storeu_ps(lanes_hi + 4 * k, hi4[k]);
    }
    for (int k = 0; k < 16; ++k) {
      lo = lanes_lo[k] < lo ? lanes_lo[k] : lo;
      hi = lanes_hi[k] > hi ? lanes_hi[k] : hi;
    }
  }
#endif
  for (; i < count; ++i) {
    const C v = convert(values[i]);
    const bool finite = v - v == C(0);  // false for NaN and Inf
    lo = (finite & (v < lo)) ? v : lo;
    hi = (finite & (v > hi)) ? v : hi;
  }
  *lo_io = lo;
  *hi_io = hi;
}

//! finite_min_max's result from the extremes finite_min_max_range found.
template <class C>
bool finite_min_max_result(C lo, C hi, C* min_out, C* max_out) {
  if (lo > hi) {  // no finite value
    *min_out = *max_out = C(0);
    return false;
  }
  *min_out = lo;
  *max_out = hi;
  return true;
}

}  // namespace detail

//! Smallest and largest finite value of values[0, count) converted by `convert`;
//! false when there is none.
template <class T, class Convert, class C>
bool finite_min_max(const serial_t&, const T* values, std::uint64_t count, Convert convert, C* min_out, C* max_out) {
  // Starts from +-Inf, as the omp version does: non-finite values never win.
  C lo = std::numeric_limits<C>::infinity(), hi = -std::numeric_limits<C>::infinity();
  detail::finite_min_max_range(values, count, convert, &lo, &hi);
  return detail::finite_min_max_result(lo, hi, min_out, max_out);
}

}  // namespace exec
}  // namespace actzip
