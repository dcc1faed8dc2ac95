// SPDX-License-Identifier: Apache-2.0
// Tests of stages/quantize.hpp: rounding, the bound rounding-down, degenerate
// bounds, and the exactness of the strict check.
#include "test_support.hpp"

#include <actzip/stages/quantize.hpp>

#include <doctest/doctest.h>

using namespace actzip;

TEST_CASE("round_to_nearest_even matches std::nearbyint") {
  actzip_test::rng g(1);
  const float fs[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 8388607.5f, -8388607.5f, 8388608.0f, 1e20f, 0.49999997f};
  for (float f : fs) CHECK(detail::round_to_nearest_even(f) == std::nearbyint(f));
  for (int i = 0; i < 100000; ++i) {
    const double d = std::ldexp(g.uniform(-1, 1), static_cast<int>(g.next() % 60));
    REQUIRE(detail::round_to_nearest_even(d) == std::nearbyint(d));
    const float f = static_cast<float>(d);
    REQUIRE(detail::round_to_nearest_even(f) == std::nearbyint(f));
  }
  CHECK(std::isnan(detail::round_to_nearest_even(NAN)));
}

TEST_CASE("the effective bound never exceeds the requested one") {
  actzip_test::rng g(2);
  for (int i = 0; i < 100000; ++i) {
    const double requested = std::ldexp(g.uniform(), static_cast<int>(g.next() % 200) - 150);
    const quantizer<float> qf = make_quantizer<float>(requested, false);
    REQUIRE(static_cast<double>(qf.bound) <= requested);
    const quantizer<double> qd = make_quantizer<double>(requested, false);
    REQUIRE(qd.bound == requested);
  }
  CHECK(make_quantizer<float>(1e300, false).bound == std::numeric_limits<float>::max() / 4);
  CHECK(make_quantizer<float>(0.0, false).inverse_step == 0.0f);
  CHECK(make_quantizer<float>(1e-45, false).inverse_step == 0.0f);  // 1 / (2 * denorm) overflows
}

TEST_CASE("quantize_index clamps and maps NaN to zero") {
  const quantizer<float> q = make_quantizer<float>(0.5, false);  // step 1
  CHECK(quantize_index(3.4f, q) == 3);
  CHECK(quantize_index(-3.6f, q) == -4);
  CHECK(quantize_index(2.5f, q) == 2);
  CHECK(quantize_index(1e30f, q) == quantization_radius);
  CHECK(quantize_index(-INFINITY, q) == -quantization_radius);
  CHECK(quantize_index(NAN, q) == 0);
}

TEST_CASE("within_bound decides exactly at the boundary") {
  const quantizer<double> q = make_quantizer<double>(0.25, false);
  CHECK(within_bound(1.0, 1.0, q));
  CHECK(within_bound(1.0, 1.25 - 1e-12, q));
  CHECK_FALSE(within_bound(1.0, 1.5, q));
  CHECK_FALSE(within_bound(double(NAN), 0.0, q));
  CHECK_FALSE(within_bound(double(INFINITY), double(INFINITY), q));
  const quantizer<double> zero = make_quantizer<double>(0.0, false);
  CHECK(within_bound(3.0, 3.0, zero));
  CHECK_FALSE(within_bound(3.0, std::nextafter(3.0, 4.0), zero));
  const quantizer<float> signs = make_quantizer<float>(1.0, true);
  CHECK_FALSE(within_bound(0.25f, 0.0f, signs));
  CHECK_FALSE(within_bound(-0.25f, 0.5f, signs));
  CHECK(within_bound(0.25f, 0.5f, signs));
  CHECK(within_bound(0.0f, 0.0f, signs));
}

TEST_CASE_TEMPLATE("quantize_element never accepts a reconstruction outside the bound", T, ACTZIP_ELEMENT_TYPES) {
  using C = typename dtype_traits<T>::compute_type;
  actzip_test::rng g(9);
  for (int trial = 0; trial < 2000; ++trial) {
    const double eb = std::ldexp(1.0 + g.uniform(), static_cast<int>(g.next() % 40) - 30);
    const quantizer<C> q = make_quantizer<C>(eb, trial % 2 == 0);
    for (int i = 0; i < 64; ++i) {
      T x;
      if (i % 4 == 0) {  // just beside a multiple of 2eb
        x = actzip_test::from_double<T>(static_cast<double>(g.next() % 1000) * 2 * eb + (g.uniform() - 0.5) * 1e-6 * eb);
      } else {
        x = actzip_test::bit_cast_random<T>(g);
      }
      bool lossless = false;
      const std::int32_t index = quantize_element(x, q, &lossless);
      if (!lossless) {
        const double a = actzip_test::to_double(x), b = actzip_test::to_double(reconstruct<T>(index, q));
        REQUIRE(std::isfinite(a));
        REQUIRE_FALSE(actzip_test::exceeds(a, b, static_cast<double>(q.bound)));
        REQUIRE(static_cast<double>(q.bound) <= eb);
        if (a == 0) REQUIRE(b == 0);
        if (q.preserve_sign && a != 0) REQUIRE(((a < 0) == (b < 0) && b != 0));
      }
    }
  }
}

TEST_CASE_TEMPLATE("quantize_run and quantize_element agree on every input", T, ACTZIP_ELEMENT_TYPES) {
  using C = typename dtype_traits<T>::compute_type;
  actzip_test::rng g(12);
  for (const double eb : {1e-2, 1e-6, 0.0, 1e30}) {
    for (const bool sign : {false, true}) {
      const quantizer<C> q = make_quantizer<C>(eb, sign);
      std::vector<T> in(20000);
      for (std::size_t i = 0; i < in.size(); ++i)
        in[i] = i % 2 ? actzip_test::bit_cast_random<T>(g)
                      : actzip_test::from_double<T>(static_cast<double>(g.next() % 20001) * 0.001 - 10.0);
      std::vector<std::uint32_t> indices(in.size());
      std::vector<unsigned char> keep(in.size());
      quantize_run(in.data(), static_cast<std::uint32_t>(in.size()), q, indices.data(), keep.data());
      for (std::size_t i = 0; i < in.size(); ++i) {
        bool lossless = false;
        const std::int32_t index = quantize_element(in[i], q, &lossless);
        REQUIRE(static_cast<std::uint32_t>(index) == indices[i]);
        REQUIRE(lossless == (keep[i] != 0));
        REQUIRE(index <= quantization_radius);
        REQUIRE(index >= -quantization_radius);
      }
    }
  }
}

TEST_CASE("quantize_run matches the portable path on special and random values") {
  // Compares the compiled path (SSE2 for float where ACTZIP_HAS_SSE2) with the
  // portable reference: NaN, infinities, signed zeros, denormals, ties, values far
  // beyond the quantization radius, both preserve_sign settings, odd lengths.
  actzip_test::rng g(17);
  const float specials[] = {0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, 1e-45f, -1e-45f, 1e-38f,
                            std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                            0.5f, 1.5f, -2.5f, 8388608.0f, -8388609.0f, 1.0e9f, -3.0e9f};
  for (int trial = 0; trial < 400; ++trial) {
    const double bound = std::ldexp(g.uniform(), static_cast<int>(g.next() % 80) - 60);
    const quantizer<float> qz = make_quantizer<float>(trial % 7 == 0 ? 0.0 : bound, trial % 2 == 1);
    const std::uint32_t count = static_cast<std::uint32_t>(g.next() % 70);
    std::vector<float> in(count);
    for (auto& x : in) {
      const std::uint64_t r = g.next();
      if (r % 5 == 0) {
        x = specials[(r >> 8) % (sizeof specials / sizeof specials[0])];
      } else if (r % 5 == 1) {  // an exact multiple of the step, or half-way between two
        x = static_cast<float>(static_cast<double>(qz.step) * (static_cast<double>((r >> 8) % 2001) / 2 - 500));
      } else {
        x = static_cast<float>(std::ldexp(g.uniform(-1, 1), static_cast<int>(g.next() % 40) - 20) *
                               static_cast<double>(bound) * 4e4);
      }
    }
    std::vector<std::uint32_t> q(count + 1, 7), q_ref(count + 1, 7);
    std::vector<unsigned char> keep(count + 1, 7), keep_ref(count + 1, 7);
    quantize_run(in.data(), count, qz, q.data(), keep.data());
    detail::quantize_run_portable(in.data(), count, qz, q_ref.data(), keep_ref.data());
    REQUIRE(q == q_ref);
    REQUIRE(keep == keep_ref);
  }
}

TEST_CASE_TEMPLATE("quantize_run and reconstruct_run of 16-bit types match the portable path", T, half, bfloat16) {
  // The compiled path (SSE2 where ACTZIP_HAS_SSE2) against the portable reference
  // and the scalar reconstruct: NaN with payloads, infinities, signed zeros,
  // subnormals, exact multiples of the step and ties between them, indices whose
  // reconstruction overflows the type or falls into its subnormals, odd lengths.
  using B = typename dtype_traits<T>::bits_type;
  actzip_test::rng g(29);
  const B specials[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7c01, 0xfe00, 0x7fff,
                        0x7f80, 0xff80, 0x7f81, 0xffc0, 0x007f, 0x0080, 0x7bff, 0x7f7f, 0x3c00, 0xbc00};
  for (int trial = 0; trial < 600; ++trial) {
    const double bound = std::ldexp(g.uniform(), static_cast<int>(g.next() % 150) - 130);
    const quantizer<float> qz = make_quantizer<float>(trial % 11 == 0 ? 0.0 : bound, trial % 2 == 1);
    const std::uint32_t count = static_cast<std::uint32_t>(g.next() % 90);
    std::vector<T> in(count);
    for (auto& x : in) {
      const std::uint64_t r = g.next();
      if (r % 5 == 0) {
        x = bit_cast<T>(specials[(r >> 8) % (sizeof specials / sizeof specials[0])]);
      } else if (r % 5 == 1) {  // near an exact multiple of the step, or half-way between two
        x = actzip_test::from_double<T>(static_cast<double>(qz.step) * (static_cast<double>((r >> 8) % 2001) / 2 - 500));
      } else if (r % 5 == 2) {
        x = actzip_test::from_double<T>(std::ldexp(g.uniform(-1, 1), static_cast<int>(g.next() % 40) - 20) *
                                        static_cast<double>(bound) * 4e4);
      } else {
        x = actzip_test::bit_cast_random<T>(g);
      }
    }
    std::vector<std::uint32_t> q(count + 1, 7), q_ref(count + 1, 7);
    std::vector<unsigned char> keep(count + 1, 7), keep_ref(count + 1, 7);
    quantize_run(in.data(), count, qz, q.data(), keep.data());
    detail::quantize_run_portable(in.data(), count, qz, q_ref.data(), keep_ref.data());
    REQUIRE(q == q_ref);
    REQUIRE(keep == keep_ref);

    // Reconstruction: the indices just computed, and random ones of any size.
    for (std::uint32_t i = 0; i < count; ++i)
      if (g.next() % 2) q[i] = static_cast<std::uint32_t>(g.next() >> (g.next() % 32));
    std::vector<T> out(count + 1, bit_cast<T>(B(0x1234))), out_ref(count + 1, bit_cast<T>(B(0x1234)));
    reconstruct_run(q.data(), count, qz, out.data());
    for (std::uint32_t i = 0; i < count; ++i) out_ref[i] = reconstruct<T>(static_cast<std::int32_t>(q[i]), qz);
    for (std::uint32_t i = 0; i <= count; ++i) REQUIRE(actzip_test::bits_of(out[i]) == actzip_test::bits_of(out_ref[i]));
  }
}
