// SPDX-License-Identifier: Apache-2.0
// Tests of format/chunk.hpp and stages/chunk.hpp: the three chunk kinds, the raw
// fallback bound, and the validating chunk parser.
#include "test_support.hpp"

#include <actzip/stages/chunk.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <vector>

using namespace actzip;

namespace {
struct encoded {
  std::vector<unsigned char> bytes;
  chunk_geometry geometry;
};
template <class T>
encoded encode_one(const std::vector<T>& v, const extents& shape, double eb) {
  using C = typename dtype_traits<T>::compute_type;
  auto scratch = std::make_unique<chunk_scratch<T>>();
  encoded e;
  e.geometry = make_chunk_geometry(shape);
  const quantizer<C> q = make_quantizer<C>(eb, false);
  const std::uint32_t size = encode_chunk(v.data(), e.geometry, 0, q, *scratch, nullptr);
  e.bytes.assign(size, 0xee);
  CHECK(encode_chunk(v.data(), e.geometry, 0, q, *scratch, e.bytes.data()) == size);
  return e;
}
}  // namespace

TEST_CASE("an all-zero chunk takes no bytes") {
  std::vector<float> v(4096, 0.0f);
  CHECK(encode_one(v, extents{4096}, 1e-3).bytes.empty());
  std::vector<float> c(4096, 3.0f);  // constant: a single non-zero delta
  const encoded e = encode_one(c, extents{4096}, 0.5);
  CHECK(e.bytes.size() == 4 + 16 + 4 + 4 * 3);  // control, bitmap, one width padded, 3 planes (zig-zag 6)
}

TEST_CASE("an incompressible chunk falls back to raw and never exceeds the raw size") {
  actzip_test::rng g(8);
  std::vector<float> v(4096);
  for (auto& x : v) x = actzip_test::bit_cast_random<float>(g);
  const encoded e = encode_one(v, extents{4096}, 1e-30);
  REQUIRE(e.bytes.size() == 4 + 4 * 4096);
  CHECK(load_le32(e.bytes.data()) == 0x80000000u);
  chunk_view view;
  CHECK(parse_chunk(e.bytes.data(), e.bytes.size(), 4096, 4, &view) == status::success);
  CHECK(view.type == chunk_view::kind::raw);
}

TEST_CASE("parse_chunk validates every section") {
  std::vector<double> v(300);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.1 * static_cast<double>(i));
  v[17] = std::nan("");
  v[200] = 1e300;
  const encoded e = encode_one(v, extents{300}, 1e-4);
  chunk_view view;
  REQUIRE(parse_chunk(e.bytes.data(), e.bytes.size(), 300, 8, &view) == status::success);
  REQUIRE(view.type == chunk_view::kind::encoded);
  CHECK(view.lossless_count == 2);
  CHECK(view.group_count == 10);
  // A wrong element count, size or value size is refused.
  CHECK(parse_chunk(e.bytes.data(), e.bytes.size(), 288, 8, &view) != status::success);
  CHECK(parse_chunk(e.bytes.data(), e.bytes.size() - 4, 300, 8, &view) == status::corrupt_stream);
  CHECK(parse_chunk(e.bytes.data(), e.bytes.size(), 300, 4, &view) == status::corrupt_stream);
  CHECK(parse_chunk(e.bytes.data(), 2, 300, 8, &view) == status::corrupt_stream);
  // Each single-bit flip is either refused or still a well-formed chunk.
  for (std::size_t i = 0; i < e.bytes.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<unsigned char> b = e.bytes;
      b[i] ^= static_cast<unsigned char>(1u << bit);
      const status s = parse_chunk(b.data(), b.size(), 300, 8, &view);
      CHECK((s == status::success || s == status::corrupt_stream));
    }
}

TEST_CASE("chunk geometry clips edge chunks and numbers chunks in C order") {
  const chunk_geometry g = make_chunk_geometry(extents{20, 33, 17});
  CHECK(g.count == 2 * 3 * 2);
  const auto last = g.chunk_box(g.count - 1);
  CHECK(last.origin[0] == 16);
  CHECK(last.origin[1] == 32);
  CHECK(last.origin[2] == 16);
  CHECK(last.extent.e0 == 4);
  CHECK(last.extent.e1 == 1);
  CHECK(last.extent.e2 == 1);
  CHECK(make_chunk_geometry(extents{0, 5}).count == 0);
  CHECK(make_chunk_geometry(extents{4097}).count == 2);
  CHECK(make_chunk_geometry(extents{65, 64}).count == 2);
}

TEST_CASE("box_element_index walks a chunk box in C order") {
  // The per-element addressing the CUDA executor uses, against the row pointers.
  const extents shapes[] = {extents{20, 33, 17}, extents{130, 70}, extents{5000}, extents{1, 1, 1}};
  for (const extents& shape : shapes) {
    const chunk_geometry g = make_chunk_geometry(shape);
    for (std::uint64_t c = 0; c < g.count; ++c) {
      const chunk_geometry::box b = g.chunk_box(c);
      std::uint32_t i = 0;
      for (std::uint32_t i0 = 0; i0 < b.extent.e0; ++i0)
        for (std::uint32_t i1 = 0; i1 < b.extent.e1; ++i1)
          for (std::uint32_t i2 = 0; i2 < b.extent.e2; ++i2, ++i) {
            const std::uint64_t expected = ((b.origin[0] + i0) * g.dims[1] + b.origin[1] + i1) * g.dims[2] + b.origin[2] + i2;
            REQUIRE(box_element_index(g, b, i) == expected);
          }
    }
  }
}

TEST_CASE("fast_divisor divides exactly: every divisor class, edge dividends, random pairs") {
  std::vector<std::uint64_t> divisors = {1, 2, 3, 5, 7, 10, 16, 255, 256, 641, 4096, 65535, 65537,
                                         0xffffffffull, 0x100000000ull, 0x100000001ull, 0x7fffffffffffffffull,
                                         0x8000000000000000ull, 0x8000000000000001ull, 0xfffffffffffffffeull,
                                         0xffffffffffffffffull};
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state] {  // splitmix64
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  for (int i = 0; i < 200; ++i) {
    const std::uint64_t r = next();
    divisors.push_back(r >> (r % 64));  // every magnitude
  }
  std::size_t checked = 0;
  for (const std::uint64_t d0 : divisors) {
    const std::uint64_t d = d0 == 0 ? 1 : d0;
    const actzip::fast_divisor f(d);
    REQUIRE(f.divisor() == d);
    std::vector<std::uint64_t> ns = {0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, ~std::uint64_t{0},
                                     ~std::uint64_t{0} - 1, ~std::uint64_t{0} - d, 0x8000000000000000ull};
    for (int i = 0; i < 500; ++i) {
      const std::uint64_t r = next();
      ns.push_back(r >> (r % 64));
    }
    for (const std::uint64_t n : ns) {
      const std::uint64_t q = f.divide(n);
      if (q != n / d || f.remainder(n, q) != n % d) {
        FAIL_CHECK("fast_divisor(" << d << ").divide(" << n << ") = " << q << ", expected " << n / d);
      }
      ++checked;
    }
  }
  CHECK(checked > 100000);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t a = next(), b = next() >> (i % 64);
    REQUIRE(actzip::multiply_high_portable(a, b) == actzip::multiply_high(a, b));
  }
  REQUIRE(actzip::multiply_high_portable(~std::uint64_t{0}, ~std::uint64_t{0}) == ~std::uint64_t{0} - 1);
}

TEST_CASE("chunk_box matches the chunk coordinates by division on odd grids") {
  for (const auto& shape : {actzip::extents{3, 1000, 17}, actzip::extents{70, 129}, actzip::extents{40961},
                            actzip::extents{33, 17, 49}}) {
    const actzip::chunk_geometry g = actzip::make_chunk_geometry(shape);
    for (std::uint64_t c = 0; c < g.count; ++c) {
      const actzip::chunk_geometry::box b = g.chunk_box(c);
      const std::uint64_t idx[3] = {c / g.grid[2] / g.grid[1], c / g.grid[2] % g.grid[1], c % g.grid[2]};
      const std::uint32_t shape3[3] = {g.chunk.e0, g.chunk.e1, g.chunk.e2};
      for (int d = 0; d < 3; ++d) REQUIRE(b.origin[d] == idx[d] * shape3[d]);
    }
  }
}
