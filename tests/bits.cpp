// SPDX-License-Identifier: Apache-2.0
// Tests of core/bits.hpp: transpose, zig-zag, widths, little-endian words, order keys.
#include "test_support.hpp"

#include <actzip/core/bits.hpp>
#include <actzip/stages/bitplane.hpp>

#include <iterator>
#include <limits>

#include <doctest/doctest.h>

using namespace actzip;

TEST_CASE("transpose_bits_32x32 matches the definition and is an involution") {
  actzip_test::rng g(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::uint32_t m[32], original[32];
    for (auto& w : m) w = static_cast<std::uint32_t>(g.next()) & static_cast<std::uint32_t>(g.next() | (trial % 2 ? 0 : ~0ull));
    std::memcpy(original, m, sizeof m);
    transpose_bits_32x32(m);
    for (unsigned i = 0; i < 32; ++i)
      for (unsigned j = 0; j < 32; ++j) REQUIRE(((m[i] >> j) & 1u) == ((original[j] >> i) & 1u));
    transpose_bits_32x32(m);
    CHECK(std::memcmp(m, original, sizeof m) == 0);
  }
}

TEST_CASE("bitplane groups round trip at every width") {
  actzip_test::rng g(11);
  for (unsigned width = 0; width <= 32; ++width) {
    std::uint32_t values[32], planes[32], back[32];
    for (auto& v : values) v = width == 0 ? 0u : static_cast<std::uint32_t>(g.next()) >> (32 - width);
    values[5] = width == 0 ? 0u : (width == 32 ? 0x80000000u : (1u << (width - 1)));  // force the width
    CHECK(group_bit_width(values) == width);
    encode_group_planes(values, width, planes);
    decode_group_planes(planes, width, back);
    CHECK(std::memcmp(values, back, sizeof values) == 0);
  }
}

TEST_CASE("store_group_planes and load_group_planes match the portable transpose") {
  // Checks the compiled path (SSE2 where ACTZIP_HAS_SSE2, else portable) and, where
  // available, the SSE2 routines themselves against the portable reference.
  actzip_test::rng g(13);
  for (int trial = 0; trial < 2000; ++trial) {
    const unsigned width = static_cast<unsigned>(trial % 33);
    std::uint32_t values[32], planes[32], back[32], portable_back[32];
    for (auto& v : values) v = width == 0 ? 0u : static_cast<std::uint32_t>(g.next()) >> (32 - width);
    if (trial % 5 == 0)  // sparse bits, as in real deltas
      for (auto& v : values) v &= static_cast<std::uint32_t>(g.next()) & static_cast<std::uint32_t>(g.next());
    detail::encode_group_planes_portable(values, width, planes);
    unsigned char expected[4 * 32 + 4], bytes[4 * 32 + 4];
    std::memset(expected, 0xa5, sizeof expected);
    std::memset(bytes, 0xa5, sizeof bytes);
    for (unsigned p = 0; p < width; ++p) store_le32(expected + 4 * p, planes[p]);
    store_group_planes(values, width, bytes);
    REQUIRE(std::memcmp(bytes, expected, sizeof bytes) == 0);  // nothing written past 4 * width
#if ACTZIP_HAS_SSE2
    std::memset(bytes, 0xa5, sizeof bytes);
    detail::encode_group_planes_sse2(values, width, bytes);
    REQUIRE(std::memcmp(bytes, expected, sizeof bytes) == 0);
#endif
    // Decoding arbitrary planes (not only those of narrow values).
    for (unsigned p = 0; p < width; ++p) store_le32(bytes + 4 * p, static_cast<std::uint32_t>(g.next()));
    for (unsigned p = 0; p < width; ++p) planes[p] = load_le32(bytes + 4 * p);
    detail::decode_group_planes_portable(planes, width, portable_back);
    load_group_planes(bytes, width, back);
    REQUIRE(std::memcmp(back, portable_back, sizeof back) == 0);
#if ACTZIP_HAS_SSE2
    std::memset(back, 0, sizeof back);
    detail::decode_group_planes_sse2(bytes, width, back);
    REQUIRE(std::memcmp(back, portable_back, sizeof back) == 0);
#endif
  }
}

TEST_CASE("zig-zag maps signed to unsigned and back") {
  const std::int32_t samples[] = {0, -1, 1, -2, 2, 1000, -1000, INT32_MAX, INT32_MIN};
  const std::uint32_t expected[] = {0, 1, 2, 3, 4, 2000, 1999, 0xfffffffeu, 0xffffffffu};
  for (int i = 0; i < 9; ++i) {
    const auto bits = static_cast<std::uint32_t>(samples[i]);
    CHECK(zigzag_encode(bits) == expected[i]);
    CHECK(zigzag_decode(zigzag_encode(bits)) == bits);
  }
}

TEST_CASE("bit widths and counts") {
  CHECK(bit_width(0) == 0);
  CHECK(bit_width(1) == 1);
  CHECK(bit_width(0x80000000u) == 32);
  CHECK(bit_width(255) == 8);
  CHECK(population_count(0) == 0);
  CHECK(population_count(0xffffffffu) == 32);
  CHECK(population_count(0x10101010u) == 4);
  CHECK(count_leading_zeros(0) == 32);
}

TEST_CASE("little-endian loads and stores") {
  unsigned char b[8];
  store_le32(b, 0x11223344u);
  CHECK(b[0] == 0x44);
  CHECK(b[3] == 0x11);
  CHECK(load_le32(b) == 0x11223344u);
  store_le64(b, 0x0102030405060708ull);
  CHECK(b[0] == 0x08);
  CHECK(b[7] == 0x01);
  CHECK(load_le64(b) == 0x0102030405060708ull);
  store_le16(b, 0xabcd);
  CHECK(b[0] == 0xcd);
  CHECK(load_le16(b) == 0xabcd);
}

TEST_CASE("order keys sort like the values they stand for and map back") {
  const float floats[] = {-std::numeric_limits<float>::infinity(), -3.0e38f, -1.5f, -1e-40f, -0.0f, 0.0f,
                          1e-45f, 1e-40f, 1.0f, 2.5f, 3.0e38f, std::numeric_limits<float>::infinity()};
  for (std::size_t i = 0; i < std::size(floats); ++i) {
    CHECK(order_key(floats[i]) != 0);
    CHECK(bit_cast<std::uint32_t>(from_order_key<float>(order_key(floats[i]))) == bit_cast<std::uint32_t>(floats[i]));
    if (i > 0) CHECK(order_key(floats[i - 1]) < order_key(floats[i]));
  }
  const double doubles[] = {-std::numeric_limits<double>::infinity(), -1e300, -1.0, -4.9e-324, -0.0, 0.0, 4.9e-324,
                            1.0, 1e300, std::numeric_limits<double>::infinity()};
  for (std::size_t i = 0; i < std::size(doubles); ++i) {
    CHECK(order_key(doubles[i]) != 0);
    CHECK(bit_cast<std::uint64_t>(from_order_key<double>(order_key(doubles[i]))) == bit_cast<std::uint64_t>(doubles[i]));
    if (i > 0) CHECK(order_key(doubles[i - 1]) < order_key(doubles[i]));
  }
  actzip_test::rng g(9);
  for (int k = 0; k < 100000; ++k) {
    const float a = bit_cast<float>(static_cast<std::uint32_t>(g.next()));
    const float b = bit_cast<float>(static_cast<std::uint32_t>(g.next()));
    if (a != a || b != b) continue;
    REQUIRE((a < b) == (order_key(a) < order_key(b)));
  }
}
