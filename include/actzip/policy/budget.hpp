// SPDX-License-Identifier: Apache-2.0
//
// The byte-budget policy: keep the compressed size of the tensors saved in one step
// at or under a budget. It takes the per-key bounds of the gradient-aware
// controller (policy::adaptive) as a measure of each tensor's sensitivity and
// multiplies all of them by one common factor s, chosen after every step from a
// per-key rate model learnt from record(); tensors with the tightest adaptive bound
// keep the tightest bound. docs/POLICIES.md describes the model and its assumptions.
#pragma once

#include <actzip/policy/adaptive.hpp>
#include <actzip/policy/fixed.hpp>
#include <actzip/policy/policy.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>

namespace actzip::policy {

//! Options of policy::budget.
struct budget_options {
  //! The controller whose bounds are scaled (its warm-up, cap, floor, fallback,
  //! codec and min_elements all apply).
  adaptive_options controller{};
  //! The smallest common factor s. 1: never tighter than the controller asks, whose
  //! bounds already keep the gradient error at beta; below 1 the budget left over
  //! buys tighter bounds. Finite, > 0, <= max_scale.
  double min_scale = 1.0;
  //! The largest common factor s. Bounds are capped at cap_fraction of the value
  //! range anyway; this limit matters for tensors whose range the adapter does not
  //! give. 1000. Finite, >= min_scale.
  double max_scale = 1e3;
  //! The plan aims at (1 - headroom) * the budget: the rate model is exact only at
  //! its latest measurement, and sizes move a little from step to step with the
  //! data. 0.01. In [0, 1).
  double headroom = 0.01;
};

//! The rate model of one key: bytes(eb) = clamp(bytes_at - slope * log2(eb / bound_at),
//! floor, raw), anchored at the latest measurement.
struct budget_rate_model {
  bool measured = false;      //!< false until a record() with a positive absolute bound
  double bound_at = 0.0;      //!< absolute bound of the latest measurement
  double bytes_at = 0.0;      //!< compressed bytes of the latest measurement
  double slope = 0.0;         //!< bytes saved each time the bound doubles
  double raw_bytes = 0.0;     //!< the tensor's uncompressed size
  double range_estimate = -1; //!< value range (from tensor_info, or inferred from a relative bound), < 0 unknown
};

//! Meets a per-step byte budget with one common factor on the controller's bounds.
//!
//! Call sequence as for every policy. decide() returns the controller's decision
//! with its bound multiplied by scale() (capped and floored as usual); record()
//! updates the key's rate model and adds to the step's byte count; observe() goes
//! to the controller; end_step() steps the controller, then chooses the scale for
//! the next step: the smallest s in [min_scale, max_scale] whose predicted total
//! (over the tensors decided in the step just ended) is <= (1 - headroom) times the
//! budget, or, when no
//! s is, the s that puts every bound at its cap (budget_met() false).
class budget final : public policy {
 public:
  //! The options type.
  using options = budget_options;
  //! The rate model type.
  using rate_model = budget_rate_model;

  //! A policy keeping each step's saved tensors within `bytes_per_step` bytes, with
  //! the default options. Throws actzip::error (invalid_argument) for a budget of 0.
  explicit budget(std::uint64_t bytes_per_step) : budget(bytes_per_step, budget_options{}) {}

  //! As above with options `o`. Throws actzip::error (invalid_argument) for a budget
  //! of 0 or an option outside its domain (controller options included).
  budget(std::uint64_t bytes_per_step, const budget_options& o)
      : controller_(o.controller), options_(o), bytes_per_step_(bytes_per_step) {
    const char* who = "policy::budget";
    if (bytes_per_step == 0) detail::invalid(who, "bytes_per_step must be > 0");
    if (!(o.min_scale > 0) || !std::isfinite(o.min_scale)) detail::invalid(who, "min_scale must be finite and > 0");
    if (!(o.max_scale >= o.min_scale) || !std::isfinite(o.max_scale))
      detail::invalid(who, "max_scale must be finite and >= min_scale");
    if (!(o.headroom >= 0 && o.headroom < 1)) detail::invalid(who, "headroom must lie in [0, 1)");
    scale_ = o.min_scale;
  }

  //! The controller's decision for `info` with its bound scaled by scale(). Errors as
  //! adaptive::decide.
  decision decide(const tensor_info& info) override {
    const decision d = controller_.decide_scaled(info, scale_);
    entry& e = keys_[info.key];
    e.info = info;
    ++e.uses;
    e.last = d;
    e.model.raw_bytes = raw_bytes(info);
    if (range_known(info.value_range)) e.model.range_estimate = info.value_range;
    return d;
  }

  //! Learns from one compressed tensor: anchors the key's rate model at
  //! (absolute_bound, compressed_bytes) and refits its slope when the bound moved by
  //! 10 % or more since the previous measurement. A result with absolute_bound 0
  //! (raw or lossless) only counts towards the step's bytes. Throws actzip::error
  //! (invalid_argument) for a key never passed to decide() or a negative or
  //! non-finite bound.
  void record(const tensor_result& r) override {
    const char* who = "policy::budget::record";
    const auto it = keys_.find(r.key);
    if (it == keys_.end()) detail::invalid(who, "key " + std::to_string(r.key) + " was never passed to decide()");
    if (!(r.absolute_bound >= 0) || !std::isfinite(r.absolute_bound))
      detail::invalid(who, "absolute_bound must be finite and >= 0");
    step_bytes_ += r.compressed_bytes;
    entry& e = it->second;
    rate_model& m = e.model;
    if (r.raw_bytes != 0) m.raw_bytes = static_cast<double>(r.raw_bytes);
    if (r.absolute_bound == 0 || r.compressed_bytes == 0) return;
    const double bytes = static_cast<double>(r.compressed_bytes);
    const double n = static_cast<double>(e.info.count);
    if (!m.measured) {
      // Prior: one bit per element per doubling, on the non-zero share of the
      // elements when the controller has seen it (zeros cost nothing at any bound).
      const double rho = controller_.state(r.key).observations > 0 ? controller_.state(r.key).nonzero_fraction : 1.0;
      m.slope = std::clamp(rho, min_bits_per_doubling, max_bits_per_doubling) * n / 8;
    } else {
      const double doublings = std::log2(r.absolute_bound / m.bound_at);
      if (std::fabs(doublings) >= std::log2(1.1))
        m.slope = std::clamp((m.bytes_at - bytes) / doublings, min_bits_per_doubling * n / 8, max_bits_per_doubling * n / 8);
    }
    m.measured = true;
    m.bound_at = r.absolute_bound;
    m.bytes_at = bytes;
    if (e.last.compress && e.last.p.error_bound.mode == bound_mode::relative && !range_known(e.info.value_range))
      m.range_estimate = r.absolute_bound / e.last.p.error_bound.value;
  }

  //! Passes one layer's statistics to the controller.
  void observe(const layer_feedback& f) override { controller_.observe(f); }

  //! Steps the controller, then chooses the scale of the next step (see the class
  //! comment). A step with no decide() keeps the scale.
  void end_step() override {
    controller_.end_step();
    last_step_bytes_ = step_bytes_;
    step_bytes_ = 0;
    bool any = false;
    for (const auto& k : keys_) any = any || k.second.uses != 0;
    if (any) plan();
    for (auto& k : keys_) k.second.uses = 0;
  }

  //! The common factor applied to the controller's bounds in the current step.
  double scale() const noexcept { return scale_; }
  //! False when the last plan predicted more than (1 - headroom) times the budget even with every bound
  //! at its cap (or at max_scale); true before the first plan.
  bool budget_met() const noexcept { return budget_met_; }
  //! The total bytes the last plan predicted for one step at scale().
  double predicted_bytes() const noexcept { return predicted_bytes_; }
  //! Sum of compressed_bytes over the record() calls of the last completed step.
  std::uint64_t last_step_bytes() const noexcept { return last_step_bytes_; }
  //! The budget, in bytes per step.
  std::uint64_t bytes_per_step() const noexcept { return bytes_per_step_; }
  //! The rate model of `key` (unmeasured for a key never seen).
  rate_model model(std::uint64_t key) const {
    const auto it = keys_.find(key);
    return it == keys_.end() ? rate_model{} : it->second.model;
  }
  //! The bytes the rate model of `key` predicts at absolute bound `eb` (> 0); its
  //! raw size when the key was never measured.
  double predict(std::uint64_t key, double eb) const {
    const rate_model m = model(key);
    if (!m.measured) return m.raw_bytes;
    const double floor = std::min(m.bytes_at, m.raw_bytes) / max_extrapolated_gain;
    return std::clamp(m.bytes_at - m.slope * std::log2(eb / m.bound_at), floor, std::max(floor, m.raw_bytes));
  }
  //! The controller whose bounds are scaled.
  const adaptive& controller() const noexcept { return controller_; }
  //! The options the policy was built with.
  const budget_options& configuration() const noexcept { return options_; }

  //! Slope limits of the rate model, in bits per element per doubling of the bound.
  static constexpr double min_bits_per_doubling = 1.0 / 32;
  static constexpr double max_bits_per_doubling = 1.0;
  //! The model never predicts less than 1/16 of the smaller of the measured and raw sizes.
  static constexpr double max_extrapolated_gain = 16.0;

 private:
  struct entry {
    tensor_info info{};
    std::uint64_t uses = 0;  // decide() calls in the current step
    decision last{};         // the latest decision
    rate_model model{};
  };

  static bool range_known(double value_range) noexcept { return value_range > 0 && std::isfinite(value_range); }
  static double raw_bytes(const tensor_info& info) noexcept {
    return static_cast<double>(info.count) * static_cast<double>(dtype_size(info.type));
  }

  // Predicted bytes of one tensor at scale s.
  double predict_at(std::uint64_t key, const entry& e, double s) const {
    const decision d = controller_.preview(e.info, s);
    if (!d.compress) return e.model.raw_bytes;
    double eb = d.p.error_bound.value;
    if (d.p.error_bound.mode == bound_mode::relative) {
      if (e.model.range_estimate <= 0) return e.model.measured ? e.model.bytes_at : e.model.raw_bytes;
      eb *= e.model.range_estimate;
    }
    if (!(eb > 0)) return e.model.raw_bytes;
    return predict(key, eb);
  }

  double total_at(double s) const {
    double total = 0;
    for (const auto& k : keys_)
      if (k.second.uses != 0) total += static_cast<double>(k.second.uses) * predict_at(k.first, k.second, s);
    return total;
  }

  // The scale beyond which no bound grows: every scalable bound at its cap, or
  // max_scale when some bound has no cap.
  double loosest_scale() const {
    const adaptive_options& c = options_.controller;
    double s_cap = options_.min_scale;
    for (const auto& k : keys_) {
      const entry& e = k.second;
      if (e.uses == 0) continue;
      const decision d = controller_.preview(e.info, 1.0);
      if (!d.compress) continue;
      const double v = d.p.error_bound.value;
      double cap;
      if (d.p.error_bound.mode == bound_mode::relative) {
        cap = c.cap_fraction;
      } else if (range_known(e.info.value_range)) {
        cap = c.cap_fraction * e.info.value_range;
      } else {
        return options_.max_scale;
      }
      if (v > 0) s_cap = std::max(s_cap, cap / v);
    }
    return std::min(s_cap, options_.max_scale);
  }

  void plan() {
    const double budget_bytes = (1 - options_.headroom) * static_cast<double>(bytes_per_step_);
    const double lo = options_.min_scale;
    const double hi = std::max(lo, loosest_scale());
    if (total_at(lo) <= budget_bytes) {
      scale_ = lo;
      budget_met_ = true;
    } else if (total_at(hi) > budget_bytes) {
      scale_ = hi;
      budget_met_ = false;
    } else {
      // Bisection on log s: the predicted total does not increase with s.
      // s_ok always meets the budget, s_over never does.
      double s_ok = hi, s_over = lo;
      for (int i = 0; i < 100 && s_ok > s_over * (1 + 1e-12); ++i) {
        const double mid = std::sqrt(s_ok) * std::sqrt(s_over);
        if (total_at(mid) <= budget_bytes) s_ok = mid;
        else s_over = mid;
      }
      scale_ = s_ok;
      budget_met_ = true;
    }
    predicted_bytes_ = total_at(scale_);
  }

  adaptive controller_;
  budget_options options_;
  std::uint64_t bytes_per_step_;
  double scale_ = 1.0;
  bool budget_met_ = true;
  double predicted_bytes_ = 0.0;
  std::uint64_t step_bytes_ = 0;
  std::uint64_t last_step_bytes_ = 0;
  std::map<std::uint64_t, entry> keys_;
};

}  // namespace actzip::policy
