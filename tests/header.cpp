// SPDX-License-Identifier: Apache-2.0
// Tests of format/header.hpp: the header round trips and every inconsistent or
// out-of-range field is refused.
#include "test_support.hpp"

#include <doctest/doctest.h>

using namespace actzip;

namespace {
std::vector<std::byte> sample_stream() {
  const extents shape{5, 40, 70};
  std::vector<float> v = actzip_test::smooth_field<float>(shape, 1);
  return compress(exec::serial, v.data(), shape, params{actzip::rel(1e-3)});
}
}  // namespace

TEST_CASE("inspect reports what compress wrote") {
  const std::vector<std::byte> z = sample_stream();
  const header h = inspect(z.data(), z.size());
  CHECK(h.version == format_version);
  CHECK(h.dtype == dtype::float32);
  CHECK(h.codec == codec::bitplane);
  CHECK(h.shape == extents{5, 40, 70});
  CHECK(h.requested_bound.mode == bound_mode::relative);
  CHECK(h.requested_bound.value == 1e-3);
  CHECK(h.has_value_range);
  CHECK(h.value_min < h.value_max);
  CHECK(h.absolute_bound <= 1e-3 * (h.value_max - h.value_min));
  CHECK(h.absolute_bound > 0.99e-3 * (h.value_max - h.value_min));
  CHECK(h.element_count == 5 * 40 * 70);
  CHECK(h.chunk_count == 1 * 3 * 5);
  CHECK(h.total_bytes == z.size());
  CHECK(h.total_bytes == header_bytes + 8 * h.chunk_count + h.payload_bytes);
  CHECK(h.raw_bytes() == 5 * 40 * 70 * 4);
  CHECK(h.ratio() > 1.0);
}

TEST_CASE("the header's fields sit where docs/FORMAT.md says") {
  const std::vector<std::byte> z = sample_stream();
  const auto* b = reinterpret_cast<const unsigned char*>(z.data());
  CHECK(std::memcmp(b, "AZIP", 4) == 0);
  CHECK(load_le16(b + 4) == format_version);
  CHECK(b[6] == 1);   // float32
  CHECK(b[7] == 1);   // bitplane
  CHECK(b[8] == 3);   // rank
  CHECK(b[9] == 2);   // relative
  CHECK(b[10] == 2);  // value range present
  CHECK(load_le32(b + 12) == 128);
  CHECK(load_le64(b + 16) == 5);
  CHECK(load_le64(b + 24) == 40);
  CHECK(load_le64(b + 32) == 70);
  CHECK(bit_cast<double>(load_le64(b + 40)) == 1e-3);
  CHECK(load_le32(b + 72) == 16);
  CHECK(load_le64(b + 88) == 14000);
  CHECK(load_le64(b + 96) == 15);
  CHECK(load_le64(b + 112) == z.size());
  CHECK(load_le64(b + 128) == 0);  // first chunk offset
}

TEST_CASE("parse_header refuses bad magic, versions and truncations") {
  std::vector<std::byte> z = sample_stream();
  header h;
  CHECK(parse_header(z.data(), 3, &h) == status::not_a_stream);
  CHECK(parse_header(z.data(), 127, &h) == status::corrupt_stream);
  CHECK(parse_header(z.data(), z.size() - 1, &h) == status::corrupt_stream);
  CHECK(parse_header(nullptr, z.size(), &h) == status::invalid_argument);
  auto* b = reinterpret_cast<unsigned char*>(z.data());
  std::vector<std::byte> copy = z;
  b[0] = 'X';
  CHECK(parse_header(z.data(), z.size(), &h) == status::not_a_stream);
  z = copy;
  store_le16(b + 4, format_version + 1);
  CHECK(parse_header(z.data(), z.size(), &h) == status::unsupported_version);
  store_le16(b + 4, 0);
  CHECK(parse_header(z.data(), z.size(), &h) == status::corrupt_stream);
}

TEST_CASE("every field outside its range or inconsistent with the others is refused") {
  const std::vector<std::byte> good = sample_stream();
  struct edit {
    const char* what;
    void (*apply)(unsigned char*);
  };
  const edit edits[] = {
      {"dtype 0", [](unsigned char* b) { b[6] = 0; }},
      {"dtype 5", [](unsigned char* b) { b[6] = 5; }},
      {"codec 9", [](unsigned char* b) { b[7] = 9; }},
      {"rank 0", [](unsigned char* b) { b[8] = 0; }},
      {"rank 4", [](unsigned char* b) { b[8] = 4; }},
      {"rank 2 with a third extent", [](unsigned char* b) { b[8] = 2; }},
      {"mode 3", [](unsigned char* b) { b[9] = 3; }},
      {"unknown flag", [](unsigned char* b) { b[10] |= 4; }},
      {"reserved byte", [](unsigned char* b) { b[11] = 1; }},
      {"header size", [](unsigned char* b) { store_le32(b + 12, 256); }},
      {"extent", [](unsigned char* b) { store_le64(b + 16, 6); }},
      {"huge extents", [](unsigned char* b) { store_le64(b + 16, 1ull << 40); store_le64(b + 24, 1ull << 40); }},
      {"negative bound", [](unsigned char* b) { store_le64(b + 48, bit_cast<std::uint64_t>(-1.0)); }},
      {"NaN bound", [](unsigned char* b) { store_le64(b + 40, bit_cast<std::uint64_t>(std::nan(""))); }},
      {"infinite range", [](unsigned char* b) { store_le64(b + 64, bit_cast<std::uint64_t>(double(INFINITY))); }},
      {"chunk shape", [](unsigned char* b) { store_le32(b + 76, 8); }},
      {"reserved word", [](unsigned char* b) { store_le32(b + 84, 1); }},
      {"element count", [](unsigned char* b) { store_le64(b + 88, 13999); }},
      {"chunk count", [](unsigned char* b) { store_le64(b + 96, 16); }},
      {"chunk count overflow", [](unsigned char* b) { store_le64(b + 96, ~0ull); }},
      {"payload size", [](unsigned char* b) { store_le64(b + 104, load_le64(b + 104) + 4); }},
      {"payload overflow", [](unsigned char* b) { store_le64(b + 104, ~0ull - 8); }},
      {"total size", [](unsigned char* b) { store_le64(b + 112, load_le64(b + 112) - 4); }},
      {"checksum bytes in a version-1 stream", [](unsigned char* b) { store_le16(b + 4, 1); }},
  };
  for (const edit& e : edits) {
    CAPTURE(e.what);
    std::vector<std::byte> z = good;
    e.apply(reinterpret_cast<unsigned char*>(z.data()));
    header h;
    CHECK(parse_header(z.data(), z.size(), &h) == status::corrupt_stream);
  }
}
