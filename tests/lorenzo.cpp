// SPDX-License-Identifier: Apache-2.0
// Tests of stages/lorenzo.hpp: the separable form equals the textbook Lorenzo
// predictor, and the inverse undoes it, in 1-D, 2-D and 3-D boxes of any size.
#include "test_support.hpp"

#include <actzip/stages/lorenzo.hpp>

#include <doctest/doctest.h>

using namespace actzip;

TEST_CASE("lorenzo_forward equals the 3-D Lorenzo formula and lorenzo_inverse undoes it") {
  actzip_test::rng g(4);
  const box_extents boxes[] = {{1, 1, 4096}, {1, 1, 1}, {1, 1, 17}, {1, 64, 64}, {1, 7, 3}, {16, 16, 16}, {3, 5, 7}, {16, 1, 9}};
  for (const box_extents& b : boxes) {
    const std::uint32_t n = b.count();
    std::vector<std::uint32_t> q(n), d(n);
    for (auto& v : q) v = static_cast<std::uint32_t>(static_cast<std::int32_t>(g.next() % 2001) - 1000);
    d = q;
    lorenzo_forward(d.data(), b);
    auto at = [&](std::int64_t i, std::int64_t j, std::int64_t k) -> std::int64_t {
      if (i < 0 || j < 0 || k < 0) return 0;
      return static_cast<std::int32_t>(q[(i * b.e1 + j) * b.e2 + k]);
    };
    for (std::int64_t i = 0; i < b.e0; ++i)
      for (std::int64_t j = 0; j < b.e1; ++j)
        for (std::int64_t k = 0; k < b.e2; ++k) {
          const std::int64_t expected = at(i, j, k) - at(i - 1, j, k) - at(i, j - 1, k) - at(i, j, k - 1) +
                                        at(i - 1, j - 1, k) + at(i - 1, j, k - 1) + at(i, j - 1, k - 1) -
                                        at(i - 1, j - 1, k - 1);
          REQUIRE(static_cast<std::int32_t>(d[(i * b.e1 + j) * b.e2 + k]) == expected);
        }
    lorenzo_inverse(d.data(), b);
    CHECK(d == q);
  }
}

TEST_CASE("a constant-gradient field has zero deltas inside the box") {
  const box_extents b{1, 1, 100};
  std::vector<std::uint32_t> v(100);
  for (std::uint32_t i = 0; i < 100; ++i) v[i] = 5;
  lorenzo_forward(v.data(), b);
  CHECK(v[0] == 5);
  for (std::uint32_t i = 1; i < 100; ++i) CHECK(v[i] == 0);
}

TEST_CASE("row differences and prefix sums match the portable loops at every length") {
  // The compiled paths (SSE2 where ACTZIP_HAS_SSE2) against the portable loops,
  // including lengths that leave a scalar tail and values that wrap around.
  actzip_test::rng g(5);
  for (std::uint32_t n = 0; n <= 41; ++n) {
    std::vector<std::uint32_t> v(n + 1), other(n + 1);
    for (auto& x : v) x = static_cast<std::uint32_t>(g.next());
    for (auto& x : other) x = static_cast<std::uint32_t>(g.next());
    std::vector<std::uint32_t> a = v, b = v;
    detail::difference_along_row(a.data(), n);
    detail::difference_along_row_portable(b.data(), n);
    REQUIRE(a == b);
    detail::prefix_sum_along_row(a.data(), n);
    detail::prefix_sum_along_row_portable(b.data(), n);
    REQUIRE(a == b);
    REQUIRE(a == v);
    detail::subtract_row(a.data(), other.data(), n);
    for (std::uint32_t k = 0; k < n; ++k) REQUIRE(a[k] == v[k] - other[k]);
    REQUIRE(a[n] == v[n]);
    detail::add_row(a.data(), other.data(), n);
    REQUIRE(a == v);
  }
}

TEST_CASE("lorenzo_delta_at gives lorenzo_forward's delta at every index") {
  // The per-element form the CUDA executor uses, against the separable passes.
  actzip_test::rng g(6);
  const box_extents boxes[] = {{1, 1, 4096}, {1, 1, 1}, {1, 1, 33}, {1, 64, 64}, {1, 13, 64}, {1, 64, 5},
                               {16, 16, 16}, {3, 5, 7}, {16, 1, 9}, {2, 16, 1}, {16, 16, 3}};
  for (const box_extents& b : boxes) {
    const std::uint32_t n = b.count();
    std::vector<std::uint32_t> q(n);
    for (auto& v : q) v = static_cast<std::uint32_t>(g.next());  // wrap-around values too
    std::vector<std::uint32_t> d = q;
    lorenzo_forward(d.data(), b);
    for (std::uint32_t i = 0; i < n; ++i) REQUIRE(lorenzo_delta_at(q.data(), b, i) == d[i]);
  }
}
