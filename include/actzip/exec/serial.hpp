// SPDX-License-Identifier: Apache-2.0
//
// The serial host executor: runs every stage on the calling thread. It is the
// reference the other executors must match byte for byte, and the fallback for any
// back end that does not specialise a step.
#pragma once

#include <actzip/config.hpp>

#include <cstdint>

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

//! Smallest and largest finite value of values[0, count) converted by `convert`;
//! false when there is none.
template <class T, class Convert, class C>
bool finite_min_max(const serial_t&, const T* values, std::uint64_t count, Convert convert, C* min_out, C* max_out) {
  bool any = false;
  C lo = 0, hi = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    const C v = convert(values[i]);
    if (!(v - v == C(0))) continue;  // NaN or Inf
    if (!any) {
      lo = hi = v;
      any = true;
    } else {
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
  }
  *min_out = lo;
  *max_out = hi;
  return any;
}

}  // namespace exec
}  // namespace actzip
