// SPDX-License-Identifier: Apache-2.0
// The decoder treats its input as untrusted: every truncation and every single-byte
// corruption of small streams is refused (by the checksum, or by the structural
// checks when the checksum is skipped, in which case a flip inside bitplanes may
// decode to other values within the stream's structure), never a crash or an
// out-of-bounds access (this file also runs under ASan and UBSan).
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <memory>

using namespace actzip;

namespace {
using actzip_test::small_streams;

// Decodes `bytes` into an exactly sized heap buffer (so ASan sees any overrun).
template <class T>
status try_decode(const std::vector<std::byte>& bytes, std::uint64_t count, const decode_options& options = {}) {
  auto copy = std::make_unique<std::byte[]>(bytes.size() ? bytes.size() : 1);
  if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
  auto out = std::make_unique<T[]>(count ? count : 1);
  header h;
  const status si = inspect(copy.get(), bytes.size(), &h);
  const status sd = decompress(exec::serial, copy.get(), bytes.size(), out.get(), count, options);
  if (si != status::success) CHECK(sd != status::success);
  return sd;
}

template <class T>
void run_corruption() {
  std::uint64_t decoded_anyway = 0, refused = 0, checksum_refused = 0;
  for (const std::vector<std::byte>& good : small_streams<T>()) {
    const header h = inspect(good.data(), good.size());
    const std::uint64_t count = h.element_count;
    REQUIRE(try_decode<T>(good, count) == status::success);
    CHECK(try_decode<T>(good, count - 1) == status::buffer_too_small);
    for (std::size_t len = 0; len < good.size(); ++len) {
      std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
      REQUIRE(try_decode<T>(cut, count) != status::success);
    }
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (unsigned delta : {0x01u, 0x80u, 0xffu, 0x10u}) {
        std::vector<std::byte> bad = good;
        bad[i] ^= static_cast<std::byte>(delta);
        CAPTURE(i);
        CAPTURE(delta);
        // With the checksum every corruption is refused, most as checksum mismatches.
        const status verified = try_decode<T>(bad, count);
        REQUIRE(verified != status::success);
        if (verified == status::checksum_mismatch) ++checksum_refused;
        // Without it, the structural checks alone.
        const status s = try_decode<T>(bad, count, decode_options{false});
        if (s == status::success) ++decoded_anyway;
        else ++refused;
      }
    }
  }
  MESSAGE("corrupted streams: all refused with the checksum (" << checksum_refused
          << " by the checksum itself); without it " << refused << " refused by the structural checks, "
          << decoded_anyway << " decoded into a bounded result");
  CHECK(checksum_refused > 0);
  CHECK(refused > 0);
}
}  // namespace

TEST_CASE_TEMPLATE("truncated and corrupted streams never crash the decoder", T, ACTZIP_ELEMENT_TYPES) {
  run_corruption<T>();
}

TEST_CASE("garbage and hostile headers") {
  std::vector<std::byte> junk(4096);
  actzip_test::rng g(1);
  for (auto& b : junk) b = static_cast<std::byte>(g.next());
  CHECK(try_decode<float>(junk, 1024) == status::not_a_stream);
  junk[0] = std::byte{'A'};
  junk[1] = std::byte{'Z'};
  junk[2] = std::byte{'I'};
  junk[3] = std::byte{'P'};
  CHECK(try_decode<float>(junk, 1024) != status::success);
  // A header claiming 2^62 elements must be refused before anything is sized from it.
  std::vector<float> v(10, 1.0f);
  std::vector<std::byte> z = compress(exec::serial, v.data(), extents{10}, params{actzip::abs(1e-3)});
  auto* b = reinterpret_cast<unsigned char*>(z.data());
  store_le64(b + 16, 1ull << 62);
  store_le64(b + 88, 1ull << 62);
  CHECK(try_decode<float>(z, 10) != status::success);
}
