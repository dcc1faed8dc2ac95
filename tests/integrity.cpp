// SPDX-License-Identifier: Apache-2.0
// The stream checksum (format version 2): where it sits, that every executor
// writes the same one, that damage is reported as damage and never decoded, that
// checking can be skipped, that version-1 streams still decode, and that refused
// streams are explained (what is wrong, at which byte, in which chunk).
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

using namespace actzip;

namespace {

std::vector<std::byte> sample(std::uint64_t seed = 7) {
  const extents shape{30, 50, 40};
  const std::vector<float> v = actzip_test::smooth_field<float>(shape, seed);
  return compress(exec::serial, v.data(), shape, params{actzip::rel(1e-3)});
}

unsigned char* bytes_of(std::vector<std::byte>& z) { return reinterpret_cast<unsigned char*>(z.data()); }

//! The same stream written as format version 1: version field 1, no checksum.
std::vector<std::byte> as_version_1(std::vector<std::byte> z) {
  store_le16(bytes_of(z) + 4, 1);
  store_le64(bytes_of(z) + checksum_field_offset, 0);
  return z;
}

//! The sum of checksum_term over all words, written out from its definition.
std::uint64_t checksum_by_definition(const std::vector<std::byte>& z) {
  const auto* b = reinterpret_cast<const unsigned char*>(z.data());
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < z.size() / 4; ++i) {
    if (i == 30 || i == 31) continue;
    std::uint64_t x = (i * 0x9E3779B97F4A7C15ull) ^ load_le32(b + 4 * i);
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 32;
    sum += x;
  }
  return sum;
}

template <class T>
status decode(const std::vector<std::byte>& z, const decode_options& options = {}) {
  header h;
  if (status s = inspect(z.data(), z.size(), &h); s != status::success) return s;
  std::vector<T> out(static_cast<std::size_t>(h.element_count) + 1);
  return decompress(exec::serial, z.data(), z.size(), out.data(), out.size(), options);
}

}  // namespace

TEST_CASE("the checksum sits at header bytes 120..127 and follows its definition") {
  const std::vector<std::byte> z = sample();
  const header h = inspect(z.data(), z.size());
  CHECK(h.version == format_version);
  CHECK(h.has_checksum());
  CHECK(h.checksum == load_le64(reinterpret_cast<const unsigned char*>(z.data()) + 120));
  CHECK(h.checksum == checksum_by_definition(z));
  CHECK(h.checksum == detail::stream_checksum(exec::serial, z.data(), z.size()));
#if ACTZIP_HAS_OPENMP
  for (int threads : {1, 2, 3, 8}) CHECK(h.checksum == detail::stream_checksum(exec::omp_t{threads}, z.data(), z.size()));
  // Long enough for several pieces of the parallel sum.
  std::vector<std::byte> big(3u << 20);
  actzip_test::rng g(3);
  for (auto& b : big) b = static_cast<std::byte>(g.next());
  const std::uint64_t serial = detail::stream_checksum(exec::serial, big.data(), big.size());
  for (int threads : {1, 2, 5}) CHECK(serial == detail::stream_checksum(exec::omp_t{threads}, big.data(), big.size()));
  CHECK(serial == checksum_by_definition(big));
#endif
}

TEST_CASE("every single-word change, swap and move of words changes the checksum") {
  const std::vector<std::byte> z = sample(11);
  const std::uint64_t good = detail::stream_checksum(exec::serial, z.data(), z.size());
  actzip_test::rng g(5);
  for (std::size_t w = 0; w < z.size() / 4; ++w) {
    if (w == 30 || w == 31) continue;
    std::vector<std::byte> bad = z;
    const std::uint32_t mask = static_cast<std::uint32_t>(g.next()) | 1u;
    store_le32(bytes_of(bad) + 4 * w, load_le32(bytes_of(bad) + 4 * w) ^ mask);
    REQUIRE(detail::stream_checksum(exec::serial, bad.data(), bad.size()) != good);
  }
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::byte> bad = z;
    const std::size_t a = 32 + g.next() % (z.size() / 4 - 32), b = 32 + g.next() % (z.size() / 4 - 32);
    const std::uint32_t wa = load_le32(bytes_of(bad) + 4 * a), wb = load_le32(bytes_of(bad) + 4 * b);
    if (wa == wb) continue;
    store_le32(bytes_of(bad) + 4 * a, wb);
    store_le32(bytes_of(bad) + 4 * b, wa);
    REQUIRE(detail::stream_checksum(exec::serial, bad.data(), bad.size()) != good);
  }
}

TEST_CASE_TEMPLATE("damage anywhere is refused, never decoded", T, ACTZIP_ELEMENT_TYPES) {
  actzip_test::rng g(17);
  std::uint64_t by_checksum = 0, trials = 0;
  for (const std::vector<std::byte>& good : actzip_test::small_streams<T>()) {
    REQUIRE(decode<T>(good) == status::success);
    REQUIRE(verify(good.data(), good.size()) == status::success);
    // Random multi-byte damage: 1 to 8 bytes anywhere, including the header.
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<std::byte> bad = good;
      const int flips = 1 + static_cast<int>(g.next() % 8);
      for (int f = 0; f < flips; ++f)
        bad[g.next() % bad.size()] ^= static_cast<std::byte>(1u + g.next() % 255u);
      if (bad == good) continue;
      ++trials;
      const status s = decode<T>(bad);
      REQUIRE(s != status::success);
      if (s == status::checksum_mismatch) {
        ++by_checksum;
        CHECK(verify(bad.data(), bad.size()) == status::checksum_mismatch);
#if ACTZIP_HAS_OPENMP
        CHECK(verify(exec::omp, bad.data(), bad.size()) == status::checksum_mismatch);
#endif
      }
    }
  }
  MESSAGE(trials << " damaged streams refused, " << by_checksum << " of them by the checksum");
  CHECK(by_checksum > 0);
  // Damage behind an intact header (offset table and payload) is always a checksum
  // mismatch: the checksum is verified before any chunk is looked at.
  for (const std::vector<std::byte>& good : actzip_test::small_streams<T>()) {
    if (good.size() <= header_bytes) continue;
    for (int trial = 0; trial < 100; ++trial) {
      std::vector<std::byte> bad = good;
      const int flips = 1 + static_cast<int>(g.next() % 4);
      for (int f = 0; f < flips; ++f)
        bad[header_bytes + g.next() % (bad.size() - header_bytes)] ^= static_cast<std::byte>(1u + g.next() % 255u);
      if (bad == good) continue;
      REQUIRE(decode<T>(bad) == status::checksum_mismatch);
    }
  }
}

TEST_CASE("skipping the check decodes a stream whose payload bits were flipped") {
  const extents shape{4096};
  const std::vector<float> v = actzip_test::smooth_field<float>(shape, 2);
  std::vector<std::byte> z = compress(exec::serial, v.data(), shape, params{actzip::abs(1e-4)});
  const header h = inspect(z.data(), z.size());
  // The last plane word of the only chunk: flipping a bit there keeps the structure.
  std::vector<std::byte> bad = z;
  bad[static_cast<std::size_t>(h.total_bytes) - 1] ^= std::byte{0x40};
  CHECK(decode<float>(bad) == status::checksum_mismatch);
  CHECK(verify(bad.data(), bad.size()) == status::checksum_mismatch);
  const std::vector<float> damaged = decompress<float>(exec::serial, bad.data(), bad.size(), decode_options{false});
  const std::vector<float> clean = decompress<float>(exec::serial, z.data(), z.size());
  CHECK(damaged.size() == clean.size());
  CHECK(std::memcmp(damaged.data(), clean.data(), clean.size() * sizeof(float)) != 0);  // silently wrong
  CHECK_THROWS_AS(decompress<float>(exec::serial, bad.data(), bad.size()), actzip::error);
}

TEST_CASE("version-1 streams (no checksum) still decode to the same values") {
  const std::vector<std::byte> z = sample(4);
  const std::vector<std::byte> v1 = as_version_1(z);
  const header h = inspect(v1.data(), v1.size());
  CHECK(h.version == 1);
  CHECK_FALSE(h.has_checksum());
  CHECK(h.checksum == 0);
  CHECK(verify(v1.data(), v1.size()) == status::success);
  const std::vector<float> a = decompress<float>(exec::serial, z.data(), z.size());
  const std::vector<float> b = decompress<float>(exec::serial, v1.data(), v1.size());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST_CASE("refused streams are explained: what, at which byte, in which chunk") {
  const std::vector<std::byte> good = sample(9);
  const header h = inspect(good.data(), good.size());
  const std::uint64_t payload_start = header_bytes + chunk_offset_bytes * h.chunk_count;
  stream_fault fault;
  CHECK(diagnose(good.data(), good.size(), &fault) == status::success);
  CHECK(fault.what == nullptr);

  SUBCASE("a header field") {
    std::vector<std::byte> bad = good;
    store_le64(bytes_of(bad) + 104, h.payload_bytes + 2);
    REQUIRE(diagnose(bad.data(), bad.size(), &fault) == status::corrupt_stream);
    CHECK(fault.offset == 112);  // total size no longer adds up
    CHECK_FALSE(fault.in_chunk());
    CHECK(describe(fault) == "total size is not header + offset table + payload at stream byte 112");
  }
  SUBCASE("the checksum") {
    std::vector<std::byte> bad = good;
    bad[bad.size() - 3] ^= std::byte{1};
    REQUIRE(diagnose(bad.data(), bad.size(), &fault) == status::checksum_mismatch);
    CHECK(fault.offset == checksum_field_offset);
    try {
      (void)decompress<float>(exec::serial, bad.data(), bad.size());
      FAIL("a damaged stream decoded");
    } catch (const actzip::error& e) {
      CHECK(e.code() == status::checksum_mismatch);
      const std::string expected = "the stream's bytes do not match the checksum stored at stream byte 120";
      CHECK(std::string(e.what()).find(expected) != std::string::npos);
    }
  }
  SUBCASE("an offset table entry") {
    std::vector<std::byte> bad = good;
    store_le64(bytes_of(bad) + header_bytes + 8 * 3, 2);  // chunk 3 starts at byte 2 of the payload
    REQUIRE(diagnose(bad.data(), bad.size(), &fault, decode_options{false}) == status::corrupt_stream);
    CHECK(fault.chunk == 3);
    CHECK(fault.offset == header_bytes + 8 * 3);
  }
  SUBCASE("a chunk's control word, through the exception's message") {
    std::vector<std::byte> bad = good;
    const std::uint64_t chunk5 = load_le64(bytes_of(bad) + header_bytes + 8 * 5);
    const std::uint64_t at = payload_start + chunk5;
    store_le32(bytes_of(bad) + at, load_le32(bytes_of(bad) + at) | 0x00010000u);  // a reserved bit
    REQUIRE(diagnose(bad.data(), bad.size(), &fault, decode_options{false}) == status::corrupt_stream);
    CHECK(fault.chunk == 5);
    CHECK(fault.offset == at);
    try {
      (void)decompress<float>(exec::serial, bad.data(), bad.size(), decode_options{false});
      FAIL("a corrupt stream decoded");
    } catch (const actzip::error& e) {
      CHECK(e.code() == status::corrupt_stream);
      const std::string expected = "at stream byte " + std::to_string(at) + " (chunk 5)";
      CHECK(std::string(e.what()).find(expected) != std::string::npos);
    }
  }
  SUBCASE("inspect names the field") {
    std::vector<std::byte> bad = good;
    bad[8] = std::byte{7};  // rank
    try {
      (void)inspect(bad.data(), bad.size());
      FAIL("a bad header was accepted");
    } catch (const actzip::error& e) {
      CHECK(std::string(e.what()) == "actzip: corrupt or truncated stream: inspect: rank outside 1..3 at stream byte 8");
    }
  }
}

TEST_CASE("streams that claim more than the caller's buffer are refused before decoding") {
  const std::vector<std::byte> z = sample(1);
  const header h = inspect(z.data(), z.size());
  std::vector<float> out(static_cast<std::size_t>(h.element_count));
  CHECK(decompress(exec::serial, z.data(), z.size(), out.data(), out.size() - 1) == status::buffer_too_small);
  CHECK(decompress(exec::serial, z.data(), z.size() - 4, out.data(), out.size()) == status::corrupt_stream);
  stream_fault fault;
  CHECK(diagnose(z.data(), z.size() - 4, &fault) == status::corrupt_stream);
  CHECK(std::string(fault.what) == "truncated: the header claims more bytes than given");
}

TEST_CASE("size bounds of huge shapes are exact, never wrapped") {
  // The largest accepted tensors (2^60 - 1 elements) with the smallest chunks (16
  // elements for {N, 1, 1}, 64 for {N, 1}): the bound, computed in 128 bits, fits.
  const std::uint64_t limit = UINT64_MAX / 16;
  for (const extents& shape : {extents{limit}, extents{limit, 1}, extents{limit, 1, 1}, extents{3ull << 58, 1}}) {
    const std::uint64_t chunks = make_chunk_geometry(shape).count;
    __extension__ typedef unsigned __int128 u128;
    const u128 exact = 128 + detail::huffman_code_max_bytes + static_cast<u128>(chunks) * 15 + static_cast<u128>(shape.size()) * sizeof(double);
    CAPTURE(shape.size());
    REQUIRE(exact <= UINT64_MAX);
    CHECK(max_compressed_bytes<double>(shape) == static_cast<std::uint64_t>(exact));
  }
  // One element more is refused as a size overflow, before any memory is touched.
  const double dummy = 0;
  unsigned char out[256];
  std::uint64_t size = 0;
  CHECK(max_compressed_bytes<double>(extents{limit + 1}) == 0);
  CHECK(compress(exec::serial, &dummy, extents{limit + 1}, params{actzip::abs(1e-3)}, out, sizeof out, &size) ==
        status::size_overflow);
  CHECK(compress(exec::serial, &dummy, extents{3ull << 58, 1}, params{actzip::abs(1e-3)}, out, sizeof out, &size) ==
        status::buffer_too_small);
}
