// SPDX-License-Identifier: Apache-2.0
//
// The OpenMP host executor: chunks are spread over threads; every chunk's bytes and
// the chunk order are the same as with the serial executor, so streams are
// byte-identical whatever the thread count. Exists only when OpenMP is enabled.
#pragma once

#include <actzip/config.hpp>
#include <actzip/exec/serial.hpp>

#include <cstdint>
#include <limits>

#if ACTZIP_HAS_OPENMP
#include <omp.h>

namespace actzip {
namespace exec {

//! Tag type of the OpenMP host executor; `threads` = 0 uses OpenMP's default.
struct omp_t {
  int threads = 0;  //!< number of threads, 0 for omp_get_max_threads()
};
//! The OpenMP host executor: `actzip::compress(actzip::exec::omp, ...)`.
inline constexpr omp_t omp{};

namespace detail {
//! Items per piece of the parallel reductions (sum_parts, finite_min_max).
inline constexpr std::uint64_t reduction_piece = std::uint64_t(1) << 16;
inline int thread_count(const omp_t& e) { return e.threads > 0 ? e.threads : omp_get_max_threads(); }
}  // namespace detail

//! Calls body(i, scratch) for i in [0, count) on a team of threads, each with its own Scratch.
template <class Scratch, class Body>
void for_each_chunk(const omp_t& e, std::uint64_t count, Body&& body) {
  const std::int64_t n = static_cast<std::int64_t>(count);
#pragma omp parallel num_threads(detail::thread_count(e))
  {
    Scratch scratch;
#pragma omp for schedule(dynamic, 8)
    for (std::int64_t i = 0; i < n; ++i) body(static_cast<std::uint64_t>(i), scratch);
  }
}

//! Parallel version of sum_parts: pieces of 64 Ki items, summed modulo 2^64 (so the
//! result does not depend on the thread count).
template <class Part>
std::uint64_t sum_parts(const omp_t& e, std::uint64_t count, Part&& part) {
  constexpr std::uint64_t piece = detail::reduction_piece;
  const std::int64_t pieces = static_cast<std::int64_t>((count + piece - 1) / piece);
  if (pieces <= 1) return part(std::uint64_t(0), count);
  std::uint64_t total = 0;
#pragma omp parallel for num_threads(detail::thread_count(e)) reduction(+ : total) schedule(static)
  for (std::int64_t k = 0; k < pieces; ++k) {
    const std::uint64_t begin = static_cast<std::uint64_t>(k) * piece;
    const std::uint64_t end = count - begin < piece ? count : begin + piece;
    total += part(begin, end);
  }
  return total;
}

//! Parallel version of finite_min_max: finite_min_max_range on pieces of 64 Ki
//! values (min and max are exact, so the result does not depend on the thread
//! count).
template <class T, class Convert, class C>
bool finite_min_max(const omp_t& e, const T* values, std::uint64_t count, Convert convert, C* min_out, C* max_out) {
  constexpr std::uint64_t piece = detail::reduction_piece;
  const std::int64_t pieces = static_cast<std::int64_t>((count + piece - 1) / piece);
  const C big = std::numeric_limits<C>::infinity();
  C lo = big, hi = -big;
#pragma omp parallel for num_threads(detail::thread_count(e)) reduction(min : lo) reduction(max : hi) schedule(static)
  for (std::int64_t k = 0; k < pieces; ++k) {
    const std::uint64_t begin = static_cast<std::uint64_t>(k) * piece;
    C piece_lo = big, piece_hi = -big;
    exec::detail::finite_min_max_range(values + begin, count - begin < piece ? count - begin : piece, convert,
                                       &piece_lo, &piece_hi);
    lo = piece_lo < lo ? piece_lo : lo;
    hi = piece_hi > hi ? piece_hi : hi;
  }
  return exec::detail::finite_min_max_result(lo, hi, min_out, max_out);
}

}  // namespace exec
}  // namespace actzip
#endif
