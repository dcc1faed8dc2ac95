// SPDX-License-Identifier: Apache-2.0
//
// The gradient-aware error-bound policy. For the saved input of a convolution or
// linear layer it chooses the largest absolute bound whose expected effect on the
// weight gradient stays below a fraction beta of the gradient itself:
//
//   eb = beta * sqrt(3) * ||dW||_F / ( sqrt(rho * fan_in) * ||G||_F )
//
// from exponential moving averages of ||dW||_F, ||G||_F and rho measured in
// earlier backward passes, recomputed every K steps after a warm-up, capped at a
// fraction of the tensor's value range. docs/POLICIES.md derives the formula and
// states its assumptions.
#pragma once

#include <actzip/policy/fixed.hpp>
#include <actzip/policy/policy.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace actzip::policy {

//! What policy::adaptive does during its warm-up.
enum class warmup_mode : std::uint8_t {
  exact = 0,     //!< keep every tensor uncompressed
  fallback = 1,  //!< compress every tensor (except exact ones) with the fallback bound
};

//! Options of policy::adaptive. Every default is explained in docs/POLICIES.md.
struct adaptive_options {
  //! Target ratio between the expected Frobenius norm of the weight-gradient error
  //! and ||dW||_F. 0.1 keeps the added gradient variance at 1 % (beta^2) of the squared
  //! gradient norm, small beside the mini-batch sampling noise SGD already carries.
  //! Finite, > 0.
  double beta = 0.1;
  //! K: the formula bounds are recomputed when step() reaches warmup_steps + j*K
  //! (j = 0, 1, ...) and stay fixed in between. 50 steps: the bound tracks the slow
  //! drift of the gradient statistics while most steps see no change. >= 1.
  std::uint64_t update_interval = 50;
  //! W: during the first W steps (step() < W) tensors are treated as `warmup` says;
  //! gradients change fastest early in training. 100 = two update intervals. >= 0.
  std::uint64_t warmup_steps = 100;
  //! What the warm-up does: keep tensors exact (default, the safe choice) or
  //! compress them with `fallback`.
  warmup_mode warmup = warmup_mode::exact;
  //! d: every observation x updates a statistic as ema = d * ema + (1 - d) * x (the
  //! first observation of a key sets it). 0.9 averages over about 10 steps, enough to
  //! smooth mini-batch noise and well inside one update interval. In [0, 1).
  double ema_decay = 0.9;
  //! The bound of a tensor whose value range is known (> 0) never exceeds
  //! cap_fraction * value_range; relative bounds never exceed cap_fraction. 1e-2:
  //! the formula grows without limit when ||G|| is tiny, and a bound of 1 % of the
  //! range still keeps about 50 quantization levels across it. In (0, 1].
  double cap_fraction = 1e-2;
  //! A tensor whose bound would fall below floor_fraction * value_range (range known,
  //! > 0), or whose relative bound would fall below floor_fraction, is kept raw: a
  //! quantization step that fine needs about 19 bits a value and saves little, and
  //! half / bfloat16 values would mostly be stored losslessly anyway. 1e-6. In
  //! [0, cap_fraction).
  double floor_fraction = 1e-6;
  //! A tensor whose absolute bound would fall below this value is kept raw, whatever
  //! its range: it catches degenerate statistics (||dW|| = 0 gives a bound of 0). 1e-30. >= 0, finite.
  double min_absolute_bound = 1e-30;
  //! The bound of tensors the formula does not cover: keys without statistics yet,
  //! keys whose fan_in is unknown, roles `other`, and the warm-up in fallback mode.
  //! rel(1e-3): tight enough for any role, 10x below the cap.
  bound fallback = rel(1e-3);
  //! The encoder of every compressed tensor.
  actzip::codec codec = actzip::codec::bitplane;
  //! Tensors with fewer elements are kept raw (see fixed_options::min_elements).
  std::uint64_t min_elements = 4096;
};

//! What policy::adaptive knows about one key.
struct adaptive_key_state {
  std::uint64_t observations = 0;  //!< number of observe() calls for the key
  double weight_grad_norm = 0.0;   //!< EMA of ||dW||_F
  double output_grad_norm = 0.0;   //!< EMA of ||G||_F
  double nonzero_fraction = 0.0;   //!< EMA of rho
  std::uint64_t fan_in = 0;        //!< the latest non-zero fan_in from observe() or decide(), 0 if none
  //! The formula bound (absolute, before the cap and floor) set at the last
  //! recomputation; < 0 when none was computed yet; +Inf when ||G|| or rho was 0.
  double bound = -1.0;
};

//! The gradient-aware policy (see the file comment and docs/POLICIES.md).
//!
//! decide(), for a tensor with at least min_elements elements, after the warm-up:
//! - linear_input: abs(eb) with eb the key's formula bound, capped at
//!   cap_fraction * value_range; the fallback bound while the key has none;
//! - mask: the same bound with preserve_sign = true;
//! - other: the fallback bound;
//! - exact: raw.
//! A bound under the floor means raw storage. observe() updates the key's moving
//! averages; end_step() counts steps and recomputes the formula bounds on schedule.
class adaptive : public policy {
 public:
  //! The options type.
  using options = adaptive_options;
  //! The per-key state type.
  using key_state = adaptive_key_state;

  //! A policy with the default options.
  adaptive() : adaptive(adaptive_options{}) {}

  //! A policy with options `o`. Throws actzip::error (invalid_argument) for an
  //! option outside its documented domain, unsupported for an unknown codec.
  explicit adaptive(const adaptive_options& o) : options_(o) { validate(o); }

  //! The formula bound beta * sqrt(3) * dW / (sqrt(rho * fan_in) * G) for Frobenius
  //! norms `dW` = ||dW||_F and `G` = ||G||_F and non-zero fraction `rho`; +Inf when
  //! G or rho is 0 (no error can reach the weight gradient). Throws actzip::error
  //! (invalid_argument) for fan_in == 0 or a negative, NaN or infinite argument.
  static double formula_bound(double beta, double dW, double G, double rho, std::uint64_t fan_in) {
    const char* who = "policy::adaptive::formula_bound";
    if (fan_in == 0) detail::invalid(who, "fan_in must be > 0");
    if (!(beta > 0) || !std::isfinite(beta)) detail::invalid(who, "beta must be finite and > 0");
    if (!(dW >= 0) || !std::isfinite(dW) || !(G >= 0) || !std::isfinite(G))
      detail::invalid(who, "gradient norms must be finite and >= 0");
    if (!(rho >= 0 && rho <= 1)) detail::invalid(who, "rho must lie in [0, 1]");
    if (G == 0 || rho == 0) return std::numeric_limits<double>::infinity();
    return beta * std::sqrt(3.0) * dW / (std::sqrt(rho * static_cast<double>(fan_in)) * G);
  }

  //! The bound (or raw storage) for one tensor; remembers its fan_in when non-zero.
  //! Throws actzip::error (invalid_argument) for an unknown dtype or role or a NaN
  //! value range.
  decision decide(const tensor_info& info) override { return decide_scaled(info, 1.0); }

  //! As decide(), with the bound multiplied by `scale` (> 0, finite) before the cap
  //! and the floor are applied: the entry point of policy::budget.
  decision decide_scaled(const tensor_info& info, double scale) {
    decision d = preview(info, scale);
    if (info.fan_in != 0 && (info.role == tensor_role::linear_input || info.role == tensor_role::mask))
      keys_[info.key].fan_in = info.fan_in;
    return d;
  }

  //! What decide_scaled(info, scale) would return, without remembering anything.
  decision preview(const tensor_info& info, double scale = 1.0) const {
    const char* who = "policy::adaptive::decide";
    detail::check_info(info, who);
    if (!(scale > 0) || !std::isfinite(scale)) detail::invalid(who, "the scale must be finite and > 0");
    if (info.role == tensor_role::exact || info.count < options_.min_elements) return detail::keep_raw();
    if (warming_up() && options_.warmup == warmup_mode::exact) return detail::keep_raw();
    bound b = options_.fallback;
    if (!warming_up() && (info.role == tensor_role::linear_input || info.role == tensor_role::mask)) {
      const auto it = keys_.find(info.key);
      if (it != keys_.end() && it->second.bound >= 0) {
        const double eb = it->second.bound;
        // An infinite formula bound is usable only where the cap makes it finite.
        if (std::isfinite(eb) || range_known(info.value_range)) b = abs(eb);
      }
    }
    b.value *= scale;
    return finish(info, b);
  }

  //! Feeds one layer's backward statistics: updates the key's moving averages (the
  //! bound itself changes only at the next recomputation). Throws actzip::error
  //! (invalid_argument) for a negative, NaN or infinite norm or rho outside [0, 1].
  void observe(const layer_feedback& f) override {
    const char* who = "policy::adaptive::observe";
    if (!(f.weight_grad_norm >= 0) || !std::isfinite(f.weight_grad_norm))
      detail::invalid(who, "weight_grad_norm must be finite and >= 0 (got " + detail::number(f.weight_grad_norm) + ")");
    if (!(f.output_grad_norm >= 0) || !std::isfinite(f.output_grad_norm))
      detail::invalid(who, "output_grad_norm must be finite and >= 0 (got " + detail::number(f.output_grad_norm) + ")");
    if (!(f.nonzero_fraction >= 0 && f.nonzero_fraction <= 1))
      detail::invalid(who, "nonzero_fraction must lie in [0, 1] (got " + detail::number(f.nonzero_fraction) + ")");
    key_state& s = keys_[f.key];
    if (s.observations == 0) {
      s.weight_grad_norm = f.weight_grad_norm;
      s.output_grad_norm = f.output_grad_norm;
      s.nonzero_fraction = f.nonzero_fraction;
    } else {
      const double d = options_.ema_decay;
      s.weight_grad_norm = d * s.weight_grad_norm + (1 - d) * f.weight_grad_norm;
      s.output_grad_norm = d * s.output_grad_norm + (1 - d) * f.output_grad_norm;
      s.nonzero_fraction = d * s.nonzero_fraction + (1 - d) * f.nonzero_fraction;
    }
    ++s.observations;
    if (f.fan_in != 0) s.fan_in = f.fan_in;
  }

  //! Counts one step; when step() reaches warmup_steps + j*K, recomputes the formula
  //! bound of every key that has statistics and a fan_in.
  void end_step() override {
    ++step_;
    if (step_ < options_.warmup_steps || (step_ - options_.warmup_steps) % options_.update_interval != 0) return;
    for (auto& entry : keys_) {
      key_state& s = entry.second;
      if (s.observations == 0 || s.fan_in == 0) continue;
      s.bound = formula_bound(options_.beta, s.weight_grad_norm, s.output_grad_norm, s.nonzero_fraction, s.fan_in);
    }
  }

  //! Number of end_step() calls so far.
  std::uint64_t step() const noexcept { return step_; }
  //! True while step() < warmup_steps.
  bool warming_up() const noexcept { return step_ < options_.warmup_steps; }
  //! The state of `key` (a default key_state, bound < 0, for a key never seen).
  key_state state(std::uint64_t key) const {
    const auto it = keys_.find(key);
    return it == keys_.end() ? key_state{} : it->second;
  }
  //! The key's formula bound from the last recomputation (absolute, before the cap
  //! and the floor); < 0 when none; +Inf when ||G|| or rho was 0.
  double current_bound(std::uint64_t key) const { return state(key).bound; }
  //! Every key the policy has seen in observe() or decide() (with a fan_in), in
  //! increasing order.
  std::vector<std::uint64_t> keys() const {
    std::vector<std::uint64_t> out;
    out.reserve(keys_.size());
    for (const auto& entry : keys_) out.push_back(entry.first);
    return out;
  }
  //! The options the policy was built with.
  const adaptive_options& configuration() const noexcept { return options_; }

 private:
  static bool range_known(double value_range) noexcept { return value_range > 0 && std::isfinite(value_range); }

  // Applies the cap and the floor to bound b, sets codec and preserve_sign.
  decision finish(const tensor_info& info, bound b) const {
    const adaptive_options& o = options_;
    const bool known = range_known(info.value_range);
    decision d;
    d.p.codec = o.codec;
    d.p.preserve_sign = info.role == tensor_role::mask;
    if (b.mode == bound_mode::absolute) {
      double eb = b.value;
      if (known) eb = std::min(eb, o.cap_fraction * info.value_range);
      if (!std::isfinite(eb)) {  // an infinite formula bound without a range, or a scale overflow
        b = o.fallback;
        return finish(info, b);
      }
      if (!(eb >= o.min_absolute_bound) || (known && eb < o.floor_fraction * info.value_range)) return detail::keep_raw();
      d.p.error_bound = abs(eb);
    } else {
      const double v = std::min(b.value, o.cap_fraction);
      if (!(v > 0) || v < o.floor_fraction || (known && v * info.value_range < o.min_absolute_bound))
        return detail::keep_raw();
      d.p.error_bound = rel(v);
    }
    return d;
  }

  static void validate(const adaptive_options& o) {
    const char* who = "policy::adaptive";
    if (!(o.beta > 0) || !std::isfinite(o.beta)) detail::invalid(who, "beta must be finite and > 0");
    if (o.update_interval == 0) detail::invalid(who, "update_interval must be >= 1");
    if (!(o.ema_decay >= 0 && o.ema_decay < 1)) detail::invalid(who, "ema_decay must lie in [0, 1)");
    if (!(o.cap_fraction > 0 && o.cap_fraction <= 1)) detail::invalid(who, "cap_fraction must lie in (0, 1]");
    if (!(o.floor_fraction >= 0 && o.floor_fraction < o.cap_fraction))
      detail::invalid(who, "floor_fraction must lie in [0, cap_fraction)");
    if (!(o.min_absolute_bound >= 0) || !std::isfinite(o.min_absolute_bound))
      detail::invalid(who, "min_absolute_bound must be finite and >= 0");
    if (o.warmup != warmup_mode::exact && o.warmup != warmup_mode::fallback)
      detail::invalid(who, "unknown warmup mode");
    detail::check_bound(o.fallback, who, "the fallback bound");
    detail::check_codec(o.codec, who);
  }

  adaptive_options options_;
  std::uint64_t step_ = 0;
  std::map<std::uint64_t, key_state> keys_;
};

}  // namespace actzip::policy
