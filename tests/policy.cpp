// SPDX-License-Identifier: Apache-2.0
// The error-bound policies: fixed (roles, small tensors, bad bounds), adaptive (the
// bound formula computed by hand, moving averages, the update cadence, warm-up, cap,
// floor, roles, options), budget (meeting a budget on synthetic rate laws, tighter
// bounds for more sensitive tensors, an impossible budget), and real compressions
// driven by the policies' decisions.
#include "test_support.hpp"

#include <actzip/policy.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

using namespace actzip;
using namespace actzip::policy;

namespace {

tensor_info tensor(std::uint64_t key, std::uint64_t count, tensor_role role, double range = -1.0,
                   std::uint64_t fan_in = 0, dtype type = dtype::float32) {
  tensor_info t;
  t.key = key;
  t.count = count;
  t.role = role;
  t.value_range = range;
  t.fan_in = fan_in;
  t.type = type;
  return t;
}

layer_feedback feedback(std::uint64_t key, double dW, double G, double rho, std::uint64_t fan_in) {
  layer_feedback f;
  f.key = key;
  f.weight_grad_norm = dW;
  f.output_grad_norm = G;
  f.nonzero_fraction = rho;
  f.fan_in = fan_in;
  return f;
}

//! The status of the actzip::error `f` throws; success when it throws nothing.
status thrown(const std::function<void()>& f) {
  try {
    f();
  } catch (const actzip::error& e) {
    return e.code();
  }
  return status::success;
}

//! The options of a controller without warm-up that recomputes every step.
adaptive_options every_step() {
  adaptive_options o;
  o.warmup_steps = 0;
  o.update_interval = 1;
  return o;
}

constexpr std::uint64_t big = 1u << 16;  // above every min_elements used here

}  // namespace

TEST_CASE("fixed: one bound, roles, small tensors") {
  fixed pol{actzip::rel(1e-3)};
  decision d = pol.decide(tensor(1, big, tensor_role::linear_input));
  CHECK(d.compress);
  CHECK(d.p.error_bound.mode == bound_mode::relative);
  CHECK(d.p.error_bound.value == 1e-3);
  CHECK_FALSE(d.p.preserve_sign);
  CHECK(d.p.codec == codec::bitplane);
  for (const codec c : {codec::huffman, codec::automatic}) {
    fixed_options with_codec;
    with_codec.codec = c;
    const decision dc = fixed{actzip::rel(1e-3), with_codec}.decide(tensor(1, big, tensor_role::mask));
    CHECK(dc.p.codec == c);
    CHECK(dc.p.preserve_sign);
  }

  d = pol.decide(tensor(2, big, tensor_role::mask));
  CHECK(d.compress);
  CHECK(d.p.preserve_sign);
  CHECK(d.p.error_bound.value == 1e-3);

  CHECK_FALSE(pol.decide(tensor(3, big, tensor_role::exact)).compress);
  CHECK(pol.decide(tensor(4, big, tensor_role::other)).compress);
  CHECK(pol.configuration().min_elements == 4096);
  CHECK_FALSE(pol.decide(tensor(5, 4095, tensor_role::linear_input)).compress);
  CHECK(pol.decide(tensor(5, 4096, tensor_role::linear_input)).compress);
  CHECK_FALSE(pol.decide(tensor(6, 0, tensor_role::other)).compress);

  fixed_options o;
  o.min_elements = 10;
  fixed absolute{actzip::abs(0.25), o};
  d = absolute.decide(tensor(7, 10, tensor_role::other));
  CHECK(d.compress);
  CHECK(d.p.error_bound.mode == bound_mode::absolute);
  CHECK(d.p.error_bound.value == 0.25);
  CHECK_FALSE(absolute.decide(tensor(7, 9, tensor_role::other)).compress);
  // Statistics and steps change nothing.
  absolute.observe(feedback(7, 1, 1, 1, 10));
  absolute.end_step();
  CHECK(absolute.decide(tensor(7, 10, tensor_role::other)).p.error_bound.value == 0.25);
}

TEST_CASE("fixed: bad bounds, codecs and tensor descriptions are refused") {
  CHECK(thrown([] { fixed p{actzip::abs(-1)}; }) == status::invalid_argument);
  CHECK(thrown([] { fixed p{actzip::abs(std::nan(""))}; }) == status::invalid_argument);
  CHECK(thrown([] { fixed p{actzip::abs(INFINITY)}; }) == status::invalid_argument);
  CHECK(thrown([] { fixed p{actzip::rel(0)}; }) == status::invalid_argument);
  CHECK(thrown([] { fixed p{actzip::rel(-1e-3)}; }) == status::invalid_argument);
  CHECK(thrown([] { fixed p{bound{static_cast<bound_mode>(9), 1.0}}; }) == status::invalid_argument);
  CHECK(thrown([] { fixed p{actzip::abs(0)}; }) == status::success);
  fixed_options o;
  o.codec = static_cast<codec>(7);
  CHECK(thrown([&] { fixed p(actzip::abs(1), o); }) == status::unsupported);
  try {
    fixed p{actzip::rel(-2)};
    FAIL("no exception");
  } catch (const actzip::error& e) {
    CHECK(std::string(e.what()).find("relative bound must be > 0") != std::string::npos);
  }

  fixed pol{actzip::abs(1)};
  CHECK(thrown([&] { pol.decide(tensor(1, big, tensor_role::other, -1, 0, static_cast<dtype>(0))); }) ==
        status::invalid_argument);
  CHECK(thrown([&] { pol.decide(tensor(1, big, static_cast<tensor_role>(4))); }) == status::invalid_argument);
  CHECK(thrown([&] { pol.decide(tensor(1, big, tensor_role::other, std::nan(""))); }) == status::invalid_argument);
}

TEST_CASE("adaptive: the bound formula, computed by hand") {
  // beta 0.1, ||dW|| 2, ||G|| 4, rho 0.25, fan_in 144: 0.1 * sqrt(3) * 2 / (sqrt(36) * 4).
  CHECK(adaptive::formula_bound(0.1, 2.0, 4.0, 0.25, 144) == doctest::Approx(0.1 * 1.7320508075688772 * 2 / 24).epsilon(1e-15));
  CHECK(adaptive::formula_bound(0.5, 3.0, 1.5, 1.0, 3) == doctest::Approx(0.5 * 2.0).epsilon(1e-15));  // sqrt(3)/sqrt(3)
  CHECK(std::isinf(adaptive::formula_bound(0.1, 1, 0, 0.5, 10)));
  CHECK(std::isinf(adaptive::formula_bound(0.1, 1, 1, 0, 10)));
  CHECK(adaptive::formula_bound(0.1, 0, 1, 0.5, 10) == 0);
  CHECK(thrown([] { adaptive::formula_bound(0.1, 1, 1, 1, 0); }) == status::invalid_argument);
  CHECK(thrown([] { adaptive::formula_bound(0.1, -1, 1, 1, 4); }) == status::invalid_argument);
  CHECK(thrown([] { adaptive::formula_bound(0.1, 1, 1, 1.5, 4); }) == status::invalid_argument);

  // The policy applies it to the moving averages: a single observation sets them.
  adaptive pol{every_step()};
  pol.observe(feedback(9, 2.0, 4.0, 0.25, 144));
  pol.end_step();
  const double expected = 0.1 * std::sqrt(3.0) * 2.0 / (std::sqrt(0.25 * 144.0) * 4.0);
  CHECK(pol.current_bound(9) == doctest::Approx(expected).epsilon(1e-15));
  const decision d = pol.decide(tensor(9, big, tensor_role::linear_input, 100.0, 144));
  CHECK(d.compress);
  CHECK(d.p.error_bound.mode == bound_mode::absolute);
  CHECK(d.p.error_bound.value == pol.current_bound(9));
  CHECK_FALSE(d.p.preserve_sign);
}

TEST_CASE("adaptive: exponential moving averages") {
  adaptive_options o = every_step();
  o.ema_decay = 0.9;
  adaptive pol{o};
  CHECK(pol.state(3).observations == 0);
  CHECK(pol.current_bound(3) < 0);
  pol.observe(feedback(3, 1.0, 10.0, 0.5, 64));
  CHECK(pol.state(3).weight_grad_norm == 1.0);
  CHECK(pol.state(3).output_grad_norm == 10.0);
  CHECK(pol.state(3).nonzero_fraction == 0.5);
  pol.observe(feedback(3, 3.0, 20.0, 1.0, 0));  // fan_in 0: keeps 64
  adaptive_key_state s = pol.state(3);
  CHECK(s.observations == 2);
  CHECK(s.weight_grad_norm == doctest::Approx(0.9 * 1.0 + 0.1 * 3.0).epsilon(1e-15));
  CHECK(s.output_grad_norm == doctest::Approx(0.9 * 10.0 + 0.1 * 20.0).epsilon(1e-15));
  CHECK(s.nonzero_fraction == doctest::Approx(0.9 * 0.5 + 0.1 * 1.0).epsilon(1e-15));
  CHECK(s.fan_in == 64);
  pol.observe(feedback(3, 0.0, 0.0, 0.0, 32));
  s = pol.state(3);
  CHECK(s.weight_grad_norm == doctest::Approx(0.9 * 1.2).epsilon(1e-15));
  CHECK(s.output_grad_norm == doctest::Approx(0.9 * 11.0).epsilon(1e-15));
  CHECK(s.nonzero_fraction == doctest::Approx(0.9 * 0.55).epsilon(1e-15));
  CHECK(s.fan_in == 32);
  pol.end_step();
  CHECK(pol.current_bound(3) ==
        doctest::Approx(0.1 * std::sqrt(3.0) * s.weight_grad_norm / (std::sqrt(s.nonzero_fraction * 32) * s.output_grad_norm))
            .epsilon(1e-14));

  // Decay 0: the latest observation only.
  o.ema_decay = 0;
  adaptive latest{o};
  latest.observe(feedback(1, 5, 5, 0.5, 8));
  latest.observe(feedback(1, 7, 2, 0.25, 8));
  CHECK(latest.state(1).weight_grad_norm == 7);
  CHECK(latest.state(1).output_grad_norm == 2);
  CHECK(latest.state(1).nonzero_fraction == 0.25);
}

TEST_CASE("adaptive: bounds change only every K steps") {
  adaptive_options o;
  o.warmup_steps = 0;
  o.update_interval = 5;
  o.ema_decay = 0;  // the bound follows the latest observation, so changes are visible
  adaptive pol{o};
  const tensor_info t = tensor(1, big, tensor_role::linear_input, -1, 16);
  std::vector<double> bounds;
  for (int step = 0; step < 16; ++step) {
    CHECK(pol.step() == static_cast<std::uint64_t>(step));
    const decision d = pol.decide(t);
    REQUIRE(d.compress);
    if (step < 5) {
      CHECK(d.p.error_bound.mode == bound_mode::relative);  // no bound yet: the fallback
      CHECK(d.p.error_bound.value == 1e-3);
    } else {
      CHECK(d.p.error_bound.mode == bound_mode::absolute);
      CHECK(d.p.error_bound.value == pol.current_bound(1));
    }
    bounds.push_back(pol.current_bound(1));
    pol.observe(feedback(1, 1.0 + step, 1.0, 1.0, 16));  // a different ||dW|| every step
    pol.end_step();
  }
  // Recomputed at steps 5, 10 and 15 from the observation of the step before.
  for (int step = 0; step < 5; ++step) CHECK(bounds[step] < 0);
  for (int step = 5; step < 10; ++step) CHECK(bounds[step] == doctest::Approx(0.1 * std::sqrt(3.0) * 5 / 4).epsilon(1e-15));
  for (int step = 10; step < 15; ++step) CHECK(bounds[step] == doctest::Approx(0.1 * std::sqrt(3.0) * 10 / 4).epsilon(1e-15));
  CHECK(bounds[15] == doctest::Approx(0.1 * std::sqrt(3.0) * 15 / 4).epsilon(1e-15));
}

TEST_CASE("adaptive: warm-up, exact or with the fallback bound") {
  adaptive_options o;
  o.warmup_steps = 3;
  o.update_interval = 2;
  adaptive pol{o};
  CHECK(pol.configuration().warmup == warmup_mode::exact);
  for (int step = 0; step < 3; ++step) {
    CHECK(pol.warming_up());
    CHECK_FALSE(pol.decide(tensor(1, big, tensor_role::linear_input, 1.0, 16)).compress);
    CHECK_FALSE(pol.decide(tensor(2, big, tensor_role::mask)).compress);
    CHECK_FALSE(pol.decide(tensor(3, big, tensor_role::other)).compress);
    pol.observe(feedback(1, 1.0, 1.0, 1.0, 16));
    pol.end_step();
    CHECK(pol.current_bound(1) == (step == 2 ? doctest::Approx(0.1 * std::sqrt(3.0) / 4) : doctest::Approx(-1.0)));
  }
  CHECK_FALSE(pol.warming_up());
  decision d = pol.decide(tensor(1, big, tensor_role::linear_input, 1.0, 16));
  CHECK(d.compress);
  CHECK(d.p.error_bound.mode == bound_mode::absolute);
  CHECK(d.p.error_bound.value == std::min(0.1 * std::sqrt(3.0) / 4, 1e-2));  // capped at 1 % of the range 1
  // Later recomputations at 3 + 2j.
  pol.observe(feedback(1, 4.0, 1.0, 1.0, 16));
  pol.end_step();  // step 4: no recomputation
  CHECK(pol.current_bound(1) == doctest::Approx(0.1 * std::sqrt(3.0) / 4));
  pol.end_step();  // step 5
  CHECK(pol.current_bound(1) == doctest::Approx(0.1 * std::sqrt(3.0) * (0.9 + 0.4) / 4));

  o.warmup = warmup_mode::fallback;
  o.fallback = actzip::rel(2e-3);
  adaptive conservative{o};
  d = conservative.decide(tensor(1, big, tensor_role::linear_input, 1.0, 16));
  CHECK(d.compress);
  CHECK(d.p.error_bound.mode == bound_mode::relative);
  CHECK(d.p.error_bound.value == 2e-3);
  d = conservative.decide(tensor(2, big, tensor_role::mask));
  CHECK(d.compress);
  CHECK(d.p.preserve_sign);
  CHECK_FALSE(conservative.decide(tensor(3, big, tensor_role::exact)).compress);
}

TEST_CASE("adaptive: the cap at a fraction of the value range") {
  adaptive pol{every_step()};
  pol.observe(feedback(1, 100.0, 1.0, 1.0, 3));  // formula bound 0.1 * 100 = 10
  pol.observe(feedback(2, 1.0, 0.0, 1.0, 3));    // ||G|| = 0: unbounded
  pol.end_step();
  CHECK(pol.current_bound(1) == doctest::Approx(10.0));
  CHECK(std::isinf(pol.current_bound(2)));
  // Range 50: cap 0.5.
  CHECK(pol.decide(tensor(1, big, tensor_role::linear_input, 50.0)).p.error_bound.value == 0.5);
  // Range 5000: cap 50, above the formula bound.
  CHECK(pol.decide(tensor(1, big, tensor_role::linear_input, 5000.0)).p.error_bound.value == pol.current_bound(1));
  // Unknown range: no cap.
  CHECK(pol.decide(tensor(1, big, tensor_role::linear_input)).p.error_bound.value == pol.current_bound(1));
  // Infinite formula bound: the cap when the range is known, the fallback otherwise.
  decision d = pol.decide(tensor(2, big, tensor_role::linear_input, 8.0));
  CHECK(d.p.error_bound.mode == bound_mode::absolute);
  CHECK(d.p.error_bound.value == 8.0 * 1e-2);
  d = pol.decide(tensor(2, big, tensor_role::linear_input));
  CHECK(d.p.error_bound.mode == bound_mode::relative);
  CHECK(d.p.error_bound.value == 1e-3);
  // A relative fallback above the cap is capped too.
  adaptive_options o = every_step();
  o.fallback = actzip::rel(0.5);
  o.cap_fraction = 0.05;
  adaptive loose{o};
  CHECK(loose.decide(tensor(1, big, tensor_role::other)).p.error_bound.value == 0.05);
}

TEST_CASE("adaptive: the floor keeps tensors exact") {
  adaptive pol{every_step()};
  pol.observe(feedback(1, 0.0, 1.0, 1.0, 3));     // ||dW|| = 0: bound 0
  pol.observe(feedback(2, 1e-5, 1.0, 1.0, 3));    // bound 1e-6
  pol.end_step();
  CHECK(pol.current_bound(1) == 0);
  CHECK_FALSE(pol.decide(tensor(1, big, tensor_role::linear_input)).compress);
  CHECK_FALSE(pol.decide(tensor(1, big, tensor_role::linear_input, 1.0)).compress);
  // 1e-6 against a range of 0.5 (floor 5e-7): compressed; against a range of 2 (floor 2e-6): exact.
  CHECK(pol.decide(tensor(2, big, tensor_role::linear_input, 0.5)).compress);
  CHECK(pol.decide(tensor(2, big, tensor_role::linear_input, 0.5)).p.error_bound.value == doctest::Approx(1e-6));
  CHECK_FALSE(pol.decide(tensor(2, big, tensor_role::linear_input, 2.0)).compress);
  // The absolute floor applies without a range.
  adaptive_options o = every_step();
  o.min_absolute_bound = 1e-5;
  adaptive strict{o};
  strict.observe(feedback(2, 1e-5, 1.0, 1.0, 3));
  strict.end_step();
  CHECK_FALSE(strict.decide(tensor(2, big, tensor_role::linear_input)).compress);
  // A relative bound under floor_fraction is exact as well.
  o = every_step();
  o.fallback = actzip::rel(1e-7);
  adaptive tiny{o};
  CHECK_FALSE(tiny.decide(tensor(5, big, tensor_role::other)).compress);
}

TEST_CASE("adaptive: roles, fan_in and small tensors") {
  adaptive pol{every_step()};
  pol.observe(feedback(1, 2.0, 1.0, 1.0, 0));  // no fan_in yet
  pol.observe(feedback(3, 2.0, 1.0, 1.0, 12));
  pol.end_step();
  CHECK(pol.current_bound(1) < 0);  // fan_in unknown: no bound
  decision d = pol.decide(tensor(1, big, tensor_role::linear_input, -1, 3));  // learns fan_in 3
  CHECK(d.p.error_bound.mode == bound_mode::relative);
  CHECK(pol.state(1).fan_in == 3);
  pol.end_step();
  CHECK(pol.current_bound(1) == doctest::Approx(0.2));

  // mask: preserve_sign with the key's bound, or the fallback without one.
  d = pol.decide(tensor(3, big, tensor_role::mask, 100.0));
  CHECK(d.compress);
  CHECK(d.p.preserve_sign);
  CHECK(d.p.error_bound.mode == bound_mode::absolute);
  CHECK(d.p.error_bound.value == pol.current_bound(3));
  d = pol.decide(tensor(4, big, tensor_role::mask, 100.0));
  CHECK(d.p.preserve_sign);
  CHECK(d.p.error_bound.mode == bound_mode::relative);
  CHECK(d.p.error_bound.value == 1e-3);
  // other: the fallback, statistics or not; exact: raw.
  d = pol.decide(tensor(3, big, tensor_role::other, 100.0));
  CHECK_FALSE(d.p.preserve_sign);
  CHECK(d.p.error_bound.mode == bound_mode::relative);
  CHECK_FALSE(pol.decide(tensor(3, big, tensor_role::exact, 100.0)).compress);
  // min_elements.
  CHECK_FALSE(pol.decide(tensor(3, 4095, tensor_role::linear_input, 100.0)).compress);
  CHECK(pol.decide(tensor(3, 4096, tensor_role::linear_input, 100.0)).compress);
  adaptive_options o = every_step();
  o.min_elements = 0;
  CHECK(adaptive{o}.decide(tensor(3, 1, tensor_role::other)).compress);
  CHECK(std::vector<std::uint64_t>{1, 3} == pol.keys());
}

TEST_CASE("adaptive: options and statistics are validated") {
  const auto refused = [](const std::function<void(adaptive_options&)>& change) {
    adaptive_options o;
    change(o);
    return thrown([&] { adaptive p{o}; });
  };
  CHECK(refused([](adaptive_options&) {}) == status::success);
  CHECK(refused([](adaptive_options& o) { o.beta = 0; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.beta = -0.1; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.beta = std::nan(""); }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.beta = INFINITY; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.update_interval = 0; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.ema_decay = 1; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.ema_decay = -0.1; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.cap_fraction = 0; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.cap_fraction = 1.5; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.floor_fraction = -1e-9; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.floor_fraction = o.cap_fraction; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.min_absolute_bound = -1; }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.warmup = static_cast<warmup_mode>(5); }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.fallback = actzip::rel(0); }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.fallback = actzip::abs(-1); }) == status::invalid_argument);
  CHECK(refused([](adaptive_options& o) { o.codec = static_cast<codec>(4); }) == status::unsupported);
  CHECK(refused([](adaptive_options& o) { o.codec = codec::huffman; }) == status::success);
  CHECK(refused([](adaptive_options& o) { o.codec = codec::automatic; }) == status::success);
  CHECK(refused([](adaptive_options& o) { o.warmup_steps = 0; }) == status::success);

  adaptive pol;
  CHECK(thrown([&] { pol.observe(feedback(1, -1, 1, 1, 4)); }) == status::invalid_argument);
  CHECK(thrown([&] { pol.observe(feedback(1, 1, std::nan(""), 1, 4)); }) == status::invalid_argument);
  CHECK(thrown([&] { pol.observe(feedback(1, INFINITY, 1, 1, 4)); }) == status::invalid_argument);
  CHECK(thrown([&] { pol.observe(feedback(1, 1, 1, 1.01, 4)); }) == status::invalid_argument);
  CHECK(thrown([&] { pol.observe(feedback(1, 1, 1, -0.5, 4)); }) == status::invalid_argument);
  CHECK(pol.state(1).observations == 0);  // nothing was recorded
  CHECK(thrown([&] { pol.decide(tensor(1, big, tensor_role::mask, std::nan(""))); }) == status::invalid_argument);
  CHECK(thrown([&] { pol.decide_scaled(tensor(1, big, tensor_role::mask), 0.0); }) == status::invalid_argument);
}

namespace {

//! A synthetic codec: bits per element = clamp(offset - slope * log2(eb / range), 0.5, 32).
struct rate_law {
  double offset;
  double slope;
  double bytes(const tensor_info& t, const decision& d) const {
    const double raw = static_cast<double>(t.count) * 4;
    if (!d.compress) return raw;
    const double eb = d.p.error_bound.mode == bound_mode::relative ? d.p.error_bound.value * t.value_range
                                                                   : d.p.error_bound.value;
    const double bits = std::clamp(offset - slope * std::log2(eb / t.value_range), 0.5, 32.0);
    return std::floor(static_cast<double>(t.count) * bits / 8);
  }
};

//! Runs `steps` steps of four linear-input tensors of different sensitivity under a
//! budget policy and a synthetic rate law; returns the decisions of the last step.
std::vector<decision> run_budget(budget& pol, const rate_law& law, int steps, std::vector<double>* step_bytes = nullptr) {
  const std::uint64_t n = 1u << 20;
  std::vector<decision> last;
  for (int step = 0; step < steps; ++step) {
    last.clear();
    double total = 0;
    for (std::uint64_t k = 0; k < 4; ++k) {
      const tensor_info t = tensor(k, n, tensor_role::linear_input, 10.0, 256);
      const decision d = pol.decide(t);
      tensor_result r;
      r.key = k;
      r.raw_bytes = n * 4;
      r.compressed_bytes = static_cast<std::uint64_t>(law.bytes(t, d));
      r.absolute_bound = d.compress ? (d.p.error_bound.mode == bound_mode::relative ? d.p.error_bound.value * 10.0
                                                                                      : d.p.error_bound.value)
                                    : 0.0;
      pol.record(r);
      total += static_cast<double>(r.compressed_bytes);
      last.push_back(d);
      // Key k is 4^k times less sensitive: ||G|| shrinks with k.
      pol.observe(feedback(k, 1.0, std::pow(4.0, -static_cast<double>(k)) * 1000.0, 0.5, 256));
    }
    if (step_bytes) step_bytes->push_back(total);
    pol.end_step();
    CHECK(pol.last_step_bytes() == static_cast<std::uint64_t>(total));
  }
  return last;
}

budget_options budget_every_step() {
  budget_options o;
  o.controller = every_step();
  return o;
}

//! The bytes of the second step of run_budget with a budget that is never binding
//! (scale 1: the controller's own bounds).
double bytes_at_scale_one(const rate_law& law) {
  budget pol{1ull << 40, budget_every_step()};
  std::vector<double> bytes;
  run_budget(pol, law, 2, &bytes);
  CHECK(pol.scale() == 1.0);
  return bytes[1];
}

}  // namespace

TEST_CASE("budget: meets the budget, keeps the most sensitive tensors tightest") {
  // Bits per element at each key's own adaptive bound: about 12, so the four tensors
  // take about 6 MiB; the budget is 4 MiB.
  const rate_law law{-2.0, 1.0};
  const std::uint64_t budget_bytes = 4u << 20;
  budget pol{budget_bytes, budget_every_step()};
  std::vector<double> bytes;
  const std::vector<decision> last = run_budget(pol, law, 4, &bytes);
  CHECK(pol.budget_met());
  CHECK(pol.scale() > 1.0);
  // The rate law has the model's shape: from the second step on, the sizes sit at
  // the plan's target, 99 % of the budget (headroom 0.01), to within rounding.
  for (std::size_t step = 2; step < bytes.size(); ++step) {
    CHECK(bytes[step] <= 0.99 * static_cast<double>(budget_bytes) + 4);  // each law value is rounded down
    CHECK(bytes[step] >= 0.989 * static_cast<double>(budget_bytes));
  }
  // The common factor keeps the controller's ordering: key 0 is the most sensitive.
  for (std::size_t k = 0; k < 4; ++k) {
    REQUIRE(last[k].compress);
    CHECK(last[k].p.error_bound.mode == bound_mode::absolute);
    // One factor for all (the scale of the last step; the plan after it barely moved).
    const double factor = last[k].p.error_bound.value / pol.controller().current_bound(k);
    CHECK(factor == doctest::Approx(last[0].p.error_bound.value / pol.controller().current_bound(0)).epsilon(1e-12));
    CHECK(factor == doctest::Approx(pol.scale()).epsilon(1e-3));
    if (k > 0) CHECK(last[k].p.error_bound.value == doctest::Approx(4.0 * last[k - 1].p.error_bound.value));
  }
}

TEST_CASE("budget: a rate law flatter than the prior is learnt in a few steps") {
  // The prior is one bit per element per doubling; the laws give 0.5, 0.9 and 0.25.
  for (double slope : {0.5, 0.9, 0.25}) {
    CAPTURE(slope);
    const rate_law law{2.0, slope};
    const auto budget_bytes = static_cast<std::uint64_t>(0.75 * bytes_at_scale_one(law));
    budget pol{budget_bytes, budget_every_step()};
    std::vector<double> bytes;
    run_budget(pol, law, 8, &bytes);
    CHECK(pol.budget_met());
    for (std::size_t step = 3; step < bytes.size(); ++step) {
      CHECK(bytes[step] <= 0.99 * static_cast<double>(budget_bytes) + 4);
      CHECK(bytes[step] >= 0.989 * static_cast<double>(budget_bytes));
    }
    const budget::rate_model m = pol.model(0);
    CHECK(m.measured);
    CHECK(m.slope == doctest::Approx(slope * (1u << 20) / 8).epsilon(0.01));
  }
}

TEST_CASE("budget: a generous budget keeps the controller's bounds, or tightens them when allowed") {
  const rate_law law{-2.0, 1.0};
  budget pol{1u << 30, budget_every_step()};
  run_budget(pol, law, 3);
  CHECK(pol.budget_met());
  CHECK(pol.scale() == 1.0);
  CHECK(pol.predicted_bytes() < static_cast<double>(1u << 30));

  budget_options o = budget_every_step();
  o.min_scale = 1e-3;
  // 2 % more than the controller's bounds need: bounds about 20 % tighter.
  const auto budget_bytes = static_cast<std::uint64_t>(1.02 * bytes_at_scale_one(law));
  budget tight{budget_bytes, o};
  std::vector<double> bytes;
  run_budget(tight, law, 4, &bytes);
  CHECK(tight.budget_met());
  CHECK(tight.scale() < 1.0);
  CHECK(tight.scale() > 0.5);
  CHECK(bytes.back() <= 0.99 * static_cast<double>(budget_bytes) + 4);
  CHECK(bytes.back() >= 0.989 * static_cast<double>(budget_bytes));
}

TEST_CASE("budget: an impossible budget puts every bound at its cap and says so") {
  const rate_law law{-2.0, 1.0};
  budget_options o = budget_every_step();
  o.max_scale = 1e6;
  budget pol{1000, o};
  CHECK(pol.budget_met());  // no plan yet
  const std::vector<decision> last = run_budget(pol, law, 3);
  CHECK_FALSE(pol.budget_met());
  CHECK(pol.predicted_bytes() > 1000);
  for (const decision& d : last) {
    REQUIRE(d.compress);
    CHECK(d.p.error_bound.mode == bound_mode::absolute);
    CHECK(d.p.error_bound.value == doctest::Approx(1e-2 * 10.0));  // cap_fraction * range
  }
  // With the default max_scale (1000) the most sensitive tensor stays below its cap.
  budget limited{1000, budget_every_step()};
  run_budget(limited, law, 3);
  CHECK_FALSE(limited.budget_met());
  CHECK(limited.scale() == 1e3);
}

TEST_CASE("budget: the rate model and bad arguments") {
  CHECK(thrown([] { budget p{0}; }) == status::invalid_argument);
  budget_options o;
  o.min_scale = 0;
  CHECK(thrown([&] { budget p(100, o); }) == status::invalid_argument);
  o.min_scale = 2;
  o.max_scale = 1;
  CHECK(thrown([&] { budget p(100, o); }) == status::invalid_argument);
  o = budget_options{};
  o.headroom = 1;
  CHECK(thrown([&] { budget p(100, o); }) == status::invalid_argument);
  o.headroom = -0.1;
  CHECK(thrown([&] { budget p(100, o); }) == status::invalid_argument);
  o = budget_options{};
  o.controller.beta = -1;
  CHECK(thrown([&] { budget p(100, o); }) == status::invalid_argument);

  budget pol{1u << 20, budget_every_step()};
  tensor_result r;
  r.key = 42;
  r.raw_bytes = 4 * big;
  r.compressed_bytes = 1000;
  r.absolute_bound = 1e-3;
  CHECK(thrown([&] { pol.record(r); }) == status::invalid_argument);  // never decided
  pol.decide(tensor(42, big, tensor_role::linear_input, 1.0));
  r.absolute_bound = std::nan("");
  CHECK(thrown([&] { pol.record(r); }) == status::invalid_argument);
  r.absolute_bound = 1e-3;
  pol.record(r);
  budget::rate_model m = pol.model(42);
  CHECK(m.measured);
  CHECK(m.bound_at == 1e-3);
  CHECK(m.bytes_at == 1000);
  CHECK(m.slope == static_cast<double>(big) / 8);  // one bit per element per doubling
  CHECK(pol.predict(42, 1e-3) == 1000);
  CHECK(pol.predict(42, 5e-4) == 1000 + static_cast<double>(big) / 8);
  CHECK(pol.predict(42, 1.0) == doctest::Approx(1000.0 / 16));  // the floor
  CHECK(pol.predict(42, 1e-30) == 4.0 * big);                   // the raw size
  // A second measurement at a bound 4x larger refits the slope.
  r.absolute_bound = 4e-3;
  r.compressed_bytes = 400;
  pol.record(r);
  CHECK(pol.model(42).slope == doctest::Approx(300.0));
  // The slope stays within [1/32, 1] bit per element per doubling.
  r.absolute_bound = 8e-3;
  r.compressed_bytes = 390;
  pol.record(r);
  CHECK(pol.model(42).slope == static_cast<double>(big) / 256);
  // One 5 % away does not (too close to tell the slope from noise).
  r.absolute_bound = 8.4e-3;
  r.compressed_bytes = 100;
  pol.record(r);
  CHECK(pol.model(42).slope == static_cast<double>(big) / 256);
  CHECK(pol.model(42).bytes_at == 100);
}

TEST_CASE("policies drive real compressions: the bound holds, record() feeds the budget") {
  const std::uint64_t n = 1u << 16;
  const extents shape{64, 1024};
  const std::vector<float> act = actzip_test::relu_field<float>(n, 11);
  const auto [lo, hi] = std::minmax_element(act.begin(), act.end());
  const double range = static_cast<double>(*hi) - static_cast<double>(*lo);

  // Adaptive: a linear input and a mask from the same statistics.
  adaptive pol{every_step()};
  pol.observe(feedback(1, 0.5, 2.0, 0.5, 576));
  pol.end_step();
  for (tensor_role role : {tensor_role::linear_input, tensor_role::mask}) {
    const decision d = pol.decide(tensor(1, n, role, range, 576));
    REQUIRE(d.compress);
    CHECK(d.p.error_bound.value == doctest::Approx(0.1 * std::sqrt(3.0) * 0.5 / (std::sqrt(0.5 * 576) * 2.0)));
    header h;
    const std::vector<float> back = actzip_test::round_trip(exec::serial, act, shape, d.p, &h);
    CHECK(h.absolute_bound <= d.p.error_bound.value);
    const actzip_test::check_result c = actzip_test::check(act, back, d.p.error_bound.value);
    CHECK(c.violations == 0);
    CHECK(c.zero_changed == 0);
    if (role == tensor_role::mask) CHECK(c.sign_changed == 0);
  }

  // Budget: real sizes go into the model. A budget of 80 % of the first step's size
  // (fallback bound rel 1e-3) loosens the bounds until the real stream fits; one of
  // 50 % cannot be met below the cap (1 % of the range), and the policy says so.
  const budget_options o = budget_every_step();
  std::uint64_t first_size = 0;
  {
    budget probe{1u << 30, o};
    const decision d = probe.decide(tensor(7, n, tensor_role::linear_input, range, 576));
    first_size = actzip::compress(exec::serial, act.data(), shape, d.p).size();
  }
  for (const double fraction : {0.8, 0.5}) {
    CAPTURE(fraction);
    const auto budget_bytes = static_cast<std::uint64_t>(fraction * static_cast<double>(first_size));
    budget real{budget_bytes, o};
    std::vector<std::uint64_t> sizes;
    decision d;
    for (int step = 0; step < 6; ++step) {
      d = real.decide(tensor(7, n, tensor_role::linear_input, range, 576));
      REQUIRE(d.compress);
      header h;
      std::vector<std::byte> z;
      const std::vector<float> back = actzip_test::round_trip(exec::serial, act, shape, d.p, &h, &z);
      CHECK(actzip_test::check(act, back, h.absolute_bound).violations == 0);
      CHECK(h.absolute_bound <= d.p.error_bound.value * (d.p.error_bound.mode == bound_mode::relative ? range : 1.0));
      tensor_result r;
      r.key = 7;
      r.raw_bytes = n * sizeof(float);
      r.compressed_bytes = z.size();
      r.absolute_bound = h.absolute_bound;
      real.record(r);
      const budget::rate_model m = real.model(7);
      CHECK(m.measured);
      CHECK(m.bytes_at == static_cast<double>(z.size()));
      CHECK(m.bound_at == h.absolute_bound);
      CHECK(real.predict(7, h.absolute_bound) == static_cast<double>(z.size()));
      sizes.push_back(z.size());
      real.observe(feedback(7, 0.5, 2.0, 0.5, 576));
      real.end_step();
    }
    CHECK(sizes[0] == first_size);
    CHECK(real.scale() > 1.0);
    CHECK(real.last_step_bytes() == sizes.back());
    if (fraction == 0.8) {
      CHECK(real.budget_met());
      CHECK(sizes.back() <= budget_bytes);
      CHECK(sizes.back() >= budget_bytes * 9 / 10);
    } else {
      CHECK_FALSE(real.budget_met());
      CHECK(d.p.error_bound.value == doctest::Approx(1e-2 * range));
      CHECK(sizes.back() > budget_bytes);
    }
  }
}
