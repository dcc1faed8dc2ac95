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

TEST_CASE("half: to_float agrees with the integer-only to_float_portable on every value") {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const half h{static_cast<std::uint16_t>(b)};
    REQUIRE(bit_cast<std::uint32_t>(to_float(h)) == bit_cast<std::uint32_t>(detail::to_float_portable(h)));
  }
}

#if ACTZIP_HAS_SSE2
namespace {
// Floats that probe every rounding case of the narrowing conversions: random bit
// patterns (NaN with any payload, Inf, zeros, float subnormals), the exact midpoints
// between neighbouring 16-bit values and their float neighbours (ties, both
// directions), and the overflow and underflow thresholds.
std::vector<float> narrowing_probes() {
  actzip_test::rng g(23);
  std::vector<float> probes = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 65504.0f, 65519.996f, 65520.0f,
                               -65520.0f, 65536.0f, 5.9604645e-8f, 2.9802322e-8f, -2.9802322e-8f, 2.9802326e-8f,
                               6.1035156e-5f, 6.1032134e-5f, std::numeric_limits<float>::denorm_min(),
                               std::numeric_limits<float>::min(), std::numeric_limits<float>::max(),
                               bit_cast<float>(0x7f800001u), bit_cast<float>(0xffbfffffu), bit_cast<float>(0x7fffffffu)};
  for (std::uint32_t b = 0; b < 65536; ++b) {
    // Midpoints above each binary16 normal and each bfloat16 value, and their neighbours.
    const std::uint32_t mids[2] = {bit_cast<std::uint32_t>(to_float(half{static_cast<std::uint16_t>(b)})) + 0x1000u,
                                   (b << 16) + 0x8000u};
    for (const std::uint32_t mid : mids)
      for (const std::uint32_t d : {0u, 1u, 0xffffffffu}) probes.push_back(bit_cast<float>(mid + d));
    // Midpoints between binary16 subnormals: (b + 1/2) * 2^-24.
    const float sub_mid = static_cast<float>((static_cast<double>(b & 0x7ffu) + 0.5) * std::ldexp(1.0, -24));
    probes.push_back(sub_mid);
    probes.push_back(-sub_mid);
    probes.push_back(std::nextafter(sub_mid, 0.0f));
    probes.push_back(std::nextafter(sub_mid, 1.0f));
  }
  for (int i = 0; i < 1000000; ++i) probes.push_back(bit_cast<float>(static_cast<std::uint32_t>(g.next())));
  return probes;
}
}  // namespace

TEST_CASE("SSE2 conversions give the bits of the scalar ones") {
  // Widening: every 16-bit value, in every lane.
  for (std::uint32_t b = 0; b < 65536; b += 4) {
    const __m128i bits = _mm_setr_epi32(static_cast<int>(b), static_cast<int>(b + 1), static_cast<int>(b + 2),
                                        static_cast<int>(b + 3));
    std::uint32_t h_out[4], bf_out[4];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h_out), _mm_castps_si128(detail::widen_half4(bits)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bf_out), _mm_castps_si128(detail::widen_bfloat16_4(bits)));
    for (std::uint32_t k = 0; k < 4; ++k) {
      const std::uint16_t v = static_cast<std::uint16_t>(b + k);
      REQUIRE(h_out[k] == bit_cast<std::uint32_t>(detail::to_float_portable(half{v})));
      REQUIRE(bf_out[k] == bit_cast<std::uint32_t>(to_float(bfloat16{v})));
    }
  }
  // Narrowing and rounding through 16 bits.
  const std::vector<float> probes = narrowing_probes();
  for (std::size_t i = 0; i + 4 <= probes.size(); i += 4) {
    const __m128 v = _mm_loadu_ps(probes.data() + i);
    std::int32_t h[4], bf[4];
    std::uint32_t h_round[4], bf_round[4];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h), detail::narrow_half4(v));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bf), detail::narrow_bfloat16_4(v));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h_round), _mm_castps_si128(detail::round_through_half4(v)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bf_round), _mm_castps_si128(detail::round_through_bfloat16_4(v)));
    for (std::size_t k = 0; k < 4; ++k) {
      const float f = probes[i + k];
      const half ref_h = to_half(f);
      const bfloat16 ref_bf = to_bfloat16(f);
      INFO("float bits " << bit_cast<std::uint32_t>(f));
      REQUIRE(h[k] == static_cast<std::int16_t>(ref_h.bits));  // sign-extended, ready for packs
      REQUIRE(bf[k] == static_cast<std::int16_t>(ref_bf.bits));
      REQUIRE(h_round[k] == bit_cast<std::uint32_t>(to_float(ref_h)));
      REQUIRE(bf_round[k] == bit_cast<std::uint32_t>(to_float(ref_bf)));
    }
  }
}
#endif
