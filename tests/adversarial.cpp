// SPDX-License-Identifier: Apache-2.0
// The adversarial suite: inputs chosen to break an error-bounded quantizer. Every
// case must come back with zero bound violations, for every dtype, rank and mode.
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <functional>

using namespace actzip;

namespace {

template <class T>
T max_value() {
  if constexpr (std::is_same<T, half>::value)
    return half{0x7bff};
  else if constexpr (std::is_same<T, bfloat16>::value)
    return bfloat16{0x7f7f};
  else
    return std::numeric_limits<T>::max();
}
template <class T>
T min_subnormal() {
  if constexpr (std::is_same<T, half>::value || std::is_same<T, bfloat16>::value)
    return T{0x0001};
  else
    return std::numeric_limits<T>::denorm_min();
}

template <class T>
using generator = std::function<std::vector<T>(std::size_t n, double eb, actzip_test::rng& g)>;

template <class T>
std::vector<std::pair<const char*, generator<T>>> generators() {
  using actzip_test::from_double;
  return {
      {"random bit patterns",
       [](std::size_t n, double, actzip_test::rng& g) {
         std::vector<T> v(n);
         for (auto& x : v) x = actzip_test::bit_cast_random<T>(g);
         return v;
       }},
      {"magnitudes from subnormal to max",
       [](std::size_t n, double, actzip_test::rng& g) {
         std::vector<T> v(n);
         for (std::size_t i = 0; i < n; ++i) {
           const int e = static_cast<int>(g.next() % 2200) - 1100;
           double x = std::ldexp(g.uniform(1, 2), e) * (g.next() % 2 ? 1 : -1);
           if (i % 5 == 0) x = actzip_test::to_double(max_value<T>()) * (i % 10 ? 1 : -1);
           if (i % 5 == 1) x = actzip_test::to_double(min_subnormal<T>()) * (i % 10 == 1 ? 1 : -1);
           v[i] = from_double<T>(x);
         }
         return v;
       }},
      {"beside multiples of 2eb",
       [](std::size_t n, double eb, actzip_test::rng& g) {
         std::vector<T> v(n);
         for (auto& x : v) {
           const double k = static_cast<double>(static_cast<std::int64_t>(g.next() % 20001) - 10000);
           const double center = (2 * k + (g.next() % 2 ? 1 : 0)) * eb;  // multiples and half-way points
           x = from_double<T>(center);
           if (g.next() % 2) {
             const auto bits = actzip_test::bits_of(x);
             x = actzip::bit_cast<T>(static_cast<decltype(bits)>(bits + (g.next() % 2 ? 1 : -1)));
           }
         }
         return v;
       }},
      {"|x|/eb beyond 2^31 and 2^63",
       [](std::size_t n, double eb, actzip_test::rng& g) {
         std::vector<T> v(n);
         for (auto& x : v)
           x = from_double<T>(eb * std::ldexp(g.uniform(1, 2), 30 + static_cast<int>(g.next() % 40)) *
                              (g.next() % 2 ? 1 : -1));
         return v;
       }},
      {"NaN, infinities and signed zeros",
       [](std::size_t n, double, actzip_test::rng& g) {
         std::vector<T> v(n);
         for (std::size_t i = 0; i < n; ++i) {
           switch (g.next() % 6) {
             case 0:
               v[i] = from_double<T>(std::nan(""));
               break;
             case 1:
               v[i] = from_double<T>(INFINITY);
               break;
             case 2:
               v[i] = from_double<T>(-INFINITY);
               break;
             case 3:
               v[i] = from_double<T>(-0.0);
               break;
             case 4:
               v[i] = from_double<T>(0.0);
               break;
             default:
               v[i] = from_double<T>(g.uniform(-1, 1));
           }
         }
         return v;
       }},
      {"constant", [](std::size_t n, double, actzip_test::rng&) { return std::vector<T>(n, from_double<T>(3.14159)); }},
      {"alternating signs",
       [](std::size_t n, double, actzip_test::rng&) {
         std::vector<T> v(n);
         for (std::size_t i = 0; i < n; ++i) v[i] = from_double<T>(i % 2 ? 1.0 : -1.0);
         return v;
       }},
      {"smooth",
       [](std::size_t n, double, actzip_test::rng& g) {
         std::vector<T> v(n);
         for (std::size_t i = 0; i < n; ++i)
           v[i] = from_double<T>(std::sin(0.01 * static_cast<double>(i)) + 1e-3 * g.uniform());
         return v;
       }},
  };
}

std::vector<extents> adversarial_shapes(std::size_t n) {
  // Sizes 0, 1, 31, 32, 33, primes, and shapes that do not divide the chunk geometry.
  switch (n) {
    case 0:
      return {extents{0}, extents{0, 7}, extents{3, 0, 5}};
    case 1:
      return {extents{1}, extents{1, 1}, extents{1, 1, 1}};
    default:
      break;
  }
  std::vector<extents> s = {extents{n}};
  if (n == 4099) s.push_back(extents{4099 / 1, 1});
  if (n == 1021) s.push_back(extents{1021, 1, 1});
  if (n == 33) s.push_back(extents{3, 11});
  if (n == 4913) s.push_back(extents{17, 17, 17});
  if (n == 4225) s.push_back(extents{65, 65});
  return s;
}

template <class T>
void run_adversarial() {
  const std::size_t sizes[] = {0, 1, 31, 32, 33, 1021, 4099, 4225, 4913};
  const bound bounds[] = {actzip::abs(1e-30), actzip::abs(1e-6),  actzip::abs(1e-3), actzip::abs(0.5),
                          actzip::abs(1e30),  actzip::abs(1e300), actzip::abs(0.0),  actzip::rel(1e-7),
                          actzip::rel(1e-3),  actzip::rel(0.5),   actzip::rel(1e10)};
  std::uint64_t cases = 0;
  actzip_test::rng g(2024);
  for (const auto& named_generator : generators<T>()) {
    const char* const name = named_generator.first;
    const auto& make = named_generator.second;
    for (std::size_t n : sizes) {
      for (const bound b : bounds) {
        const double eb_hint = b.mode == bound_mode::absolute && b.value > 0 ? b.value : 1e-3;
        const std::vector<T> input = make(n, eb_hint, g);
        for (const extents& shape : adversarial_shapes(n)) {
          if (shape.size() != input.size()) continue;
          for (bool sign : {false, true})
            for (const codec kind : actzip_test::all_codecs) {
              params p{b};
              p.preserve_sign = sign;
              p.codec = kind;
              CAPTURE(static_cast<int>(kind));
              CAPTURE(name);
              CAPTURE(n);
              CAPTURE(shape.rank());
              CAPTURE(b.value);
              CAPTURE(static_cast<int>(b.mode));
              CAPTURE(sign);
              std::vector<std::byte> z;
              header h;
              const std::vector<T> back = actzip_test::round_trip(exec::serial, input, shape, p, &h, &z);
              const actzip_test::check_result r = actzip_test::check(input, back, h.absolute_bound);
              REQUIRE_MESSAGE(r.violations == 0, r.first);
              REQUIRE(r.zero_changed == 0);
              if (sign) REQUIRE(r.sign_changed == 0);
              REQUIRE(z.size() <= max_compressed_bytes<T>(shape));
              if (b.mode == bound_mode::absolute) REQUIRE(h.absolute_bound <= b.value);
              ++cases;
            }
        }
      }
    }
  }
  MESSAGE("adversarial cases checked: " << cases << ", violations: 0");
}

}  // namespace

TEST_CASE_TEMPLATE("adversarial inputs: zero bound violations", T, ACTZIP_ELEMENT_TYPES) {
  run_adversarial<T>();
}
