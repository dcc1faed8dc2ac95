// SPDX-License-Identifier: Apache-2.0
// Tests of core/half.hpp: exact widening and round-to-nearest-even narrowing.
#include "test_support.hpp"

#include <doctest/doctest.h>

using namespace actzip;

namespace {
// Reference narrowing by exhaustive search over the 16-bit values: the nearest
// finite value (ties to even mantissa), with the IEEE overflow rule.
template <class Narrow>
std::uint16_t reference(float f, Narrow widen_of) {
  if (std::isnan(f)) return 0;  // compared separately
  std::uint16_t best = 0;
  double best_distance = INFINITY;
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float w = widen_of(static_cast<std::uint16_t>(b));
    if (std::isnan(w) || std::isinf(w)) continue;
    if (std::signbit(w) != std::signbit(f)) continue;
    const double d = std::fabs(static_cast<double>(w) - static_cast<double>(f));
    if (d < best_distance || (d == best_distance && (b & 1u) == 0)) {
      best_distance = d;
      best = static_cast<std::uint16_t>(b);
    }
  }
  return best;
}
}  // namespace

TEST_CASE("half: every value widens and narrows back to itself") {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const half h{static_cast<std::uint16_t>(b)};
    const float f = to_float(h);
    const half back = to_half(f);
    if (std::isnan(f)) {
      CHECK((back.bits & 0x7c00u) == 0x7c00u);
      CHECK((back.bits & 0x3ffu) != 0);
    } else {
      REQUIRE(back.bits == h.bits);
    }
  }
  CHECK(to_float(half{0x3c00}) == 1.0f);
  CHECK(to_float(half{0x0001}) == std::ldexp(1.0f, -24));
  CHECK(to_float(half{0x7bff}) == 65504.0f);
}

TEST_CASE("bfloat16: every value widens and narrows back to itself") {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const bfloat16 h{static_cast<std::uint16_t>(b)};
    const float f = to_float(h);
    if (std::isnan(f)) {
      CHECK(std::isnan(to_float(to_bfloat16(f))));
    } else {
      REQUIRE(to_bfloat16(f).bits == h.bits);
    }
  }
}

TEST_CASE("narrowing rounds to nearest, ties to even, against a brute-force reference") {
  actzip_test::rng g(3);
  std::vector<float> samples = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 1e-8f, -3e-8f, 2.98023224e-8f,
                                5.96046448e-8f, 8.9e-8f, 6.1e-5f, 1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f,
                                1e30f, -1e30f, std::numeric_limits<float>::denorm_min()};
  for (int i = 0; i < 300; ++i) {
    const float f = static_cast<float>(std::ldexp(g.uniform(-1, 1), static_cast<int>(g.next() % 48) - 30));
    samples.push_back(f);
  }
  for (float f : samples) {
    const half h = to_half(f);
    if (std::fabs(f) >= 65520.0f) {
      CHECK((h.bits & 0x7fffu) == 0x7c00u);
    } else {
      CHECK(h.bits == reference(f, [](std::uint16_t b) { return to_float(half{b}); }));
    }
    const bfloat16 bf = to_bfloat16(f);
    CHECK(bf.bits == reference(f, [](std::uint16_t b) { return to_float(bfloat16{b}); }));
  }
}

#if defined(__FLT16_MAX__) && !defined(__clang__)
TEST_CASE("half narrowing agrees with the compiler's _Float16 on random floats") {
  actzip_test::rng g(5);
  for (int i = 0; i < 1000000; ++i) {
    const float f = bit_cast<float>(static_cast<std::uint32_t>(g.next()));
    const _Float16 ref = static_cast<_Float16>(f);
    const half ours = to_half(f);
    if (std::isnan(f)) continue;
    REQUIRE(ours.bits == bit_cast<std::uint16_t>(ref));
  }
}
#endif
