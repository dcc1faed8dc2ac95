// SPDX-License-Identifier: Apache-2.0
//
// The simplest error-bound policy: one bound (absolute, or relative to each
// tensor's value range) for every tensor, whatever the step. Tensors saved for a
// sign or zero mask are compressed with preserve_sign, tensors marked exact and
// small tensors are kept raw. Also holds the argument checks shared by every
// policy (actzip::policy::detail).
#pragma once

#include <actzip/core/dtype.hpp>
#include <actzip/error.hpp>
#include <actzip/params.hpp>
#include <actzip/policy/policy.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace actzip::policy {

namespace detail {

//! Raises status::invalid_argument with "<who>: <what>" (throws actzip::error;
//! without exceptions, prints and aborts).
[[noreturn]] inline void invalid(const char* who, const std::string& what) {
  actzip::detail::raise(status::invalid_argument, std::string(who) + ": " + what);
}

//! `v` as text with six significant digits ("1e-07", "-2.5"), for error messages.
inline std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

//! Checks an error bound as the compressor would: a known mode, a finite value,
//! >= 0 when absolute, > 0 when relative.
inline void check_bound(const bound& b, const char* who, const char* name) {
  const std::string n(name);
  if (b.mode != bound_mode::absolute && b.mode != bound_mode::relative)
    invalid(who, n + " has an unknown bound mode");
  if (!std::isfinite(b.value)) invalid(who, n + " must be finite (got " + number(b.value) + ")");
  if (b.mode == bound_mode::absolute && !(b.value >= 0))
    invalid(who, n + ": an absolute bound must be >= 0 (got " + number(b.value) + ")");
  if (b.mode == bound_mode::relative && !(b.value > 0))
    invalid(who, n + ": a relative bound must be > 0 (got " + number(b.value) + ")");
}

//! Checks that `c` names a codec this version of the library provides (bitplane,
//! huffman, automatic: every policy hands each of them on to the tensors it decides).
inline void check_codec(actzip::codec c, const char* who) {
  if (c != actzip::codec::bitplane && c != actzip::codec::huffman && c != actzip::codec::automatic)
    actzip::detail::raise(status::unsupported, std::string(who) + ": unknown codec " +
                                                   std::to_string(static_cast<unsigned>(c)));
}

//! Checks what an adapter says about a tensor: a known element type and role, and a
//! value range that is not NaN (negative means unknown, +Inf is accepted and
//! treated as unknown by the policies that use it).
inline void check_info(const tensor_info& info, const char* who) {
  if (dtype_size(info.type) == 0)
    invalid(who, "tensor_info.type is not a known dtype (" + std::to_string(static_cast<unsigned>(info.type)) + ")");
  if (static_cast<unsigned>(info.role) > static_cast<unsigned>(tensor_role::other))
    invalid(who, "tensor_info.role is not a known role (" + std::to_string(static_cast<unsigned>(info.role)) + ")");
  if (std::isnan(info.value_range)) invalid(who, "tensor_info.value_range is NaN");
}

//! The decision "keep this tensor uncompressed".
inline decision keep_raw() noexcept {
  decision d;
  d.compress = false;
  return d;
}

}  // namespace detail

//! Options of policy::fixed.
struct fixed_options {
  //! The encoder of every compressed tensor.
  actzip::codec codec = actzip::codec::bitplane;
  //! Tensors with fewer elements are kept raw. 4096 elements (16 KiB of float): below
  //! that the stream header and chunk table are a visible share of the output and the
  //! call costs more than it saves, while such tensors (biases, per-channel
  //! statistics, small heads) hold a negligible share of a network's activations.
  std::uint64_t min_elements = 4096;
};

//! One error bound for every tensor.
//!
//! decide() returns, for a tensor with at least `min_elements` elements:
//! - role exact: compress = false;
//! - role mask: the bound with preserve_sign = true, so masks computed from the
//!   reconstruction (x > 0, x != 0) are exact;
//! - role linear_input or other: the bound.
//! Tensors with fewer elements are kept raw. record, observe and end_step do
//! nothing. A relative bound is applied by the compressor to each tensor's own
//! value range.
class fixed final : public policy {
 public:
  //! The options type.
  using options = fixed_options;

  //! A policy with bound `b` and default options. Throws actzip::error
  //! (invalid_argument) for a negative or non-finite bound, a relative bound <= 0,
  //! or an unknown bound mode.
  explicit fixed(const bound& b) : fixed(b, fixed_options{}) {}

  //! A policy with bound `b` and options `o`. Errors as above, and unsupported for an
  //! unknown codec.
  fixed(const bound& b, const fixed_options& o) : bound_(b), options_(o) {
    detail::check_bound(b, "policy::fixed", "the bound");
    detail::check_codec(o.codec, "policy::fixed");
  }

  //! The bound (or raw storage) for one tensor. Throws actzip::error
  //! (invalid_argument) for an unknown dtype or role or a NaN value range.
  decision decide(const tensor_info& info) override {
    detail::check_info(info, "policy::fixed::decide");
    if (info.role == tensor_role::exact || info.count < options_.min_elements) return detail::keep_raw();
    decision d;
    d.p.error_bound = bound_;
    d.p.codec = options_.codec;
    d.p.preserve_sign = info.role == tensor_role::mask;
    return d;
  }

  //! The bound every compressed tensor gets.
  const bound& error_bound() const noexcept { return bound_; }
  //! The options the policy was built with.
  const fixed_options& configuration() const noexcept { return options_; }

 private:
  bound bound_;
  fixed_options options_;
};

}  // namespace actzip::policy
