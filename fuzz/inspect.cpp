// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target: actzip::inspect (core layer) on arbitrary bytes. Any status but
// success must be one of the documented header errors; a success must describe a
// consistent header (fuzz_support.hpp: check_header), agree with the convenience
// layer, and parse the same from a buffer cut to exactly total_bytes (and fail one
// byte shorter).
#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using actzip::status;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  actzip::header h;
  const status s = actzip::inspect(data, size, &h);
  ACTZIP_FUZZ_REQUIRE(s == status::success || s == status::not_a_stream || s == status::unsupported_version ||
                          s == status::corrupt_stream,
                      "inspect returns a documented status");
  ACTZIP_FUZZ_REQUIRE(actzip::inspect(data, size, nullptr) == status::invalid_argument, "null header refused");

  // The convenience layer throws exactly when the core layer fails, with its status.
  status thrown = status::success;
  try {
    (void)actzip::inspect(data, size);
  } catch (const actzip::error& e) {
    thrown = e.code();
  }
  ACTZIP_FUZZ_REQUIRE(thrown == s, "convenience inspect agrees with the core layer");
  if (s != status::success) return 0;

  actzip_fuzz::check_header(h, data, size);

  // Trailing bytes are ignored: the stream cut to total_bytes parses to the same header.
  const std::size_t total = static_cast<std::size_t>(h.total_bytes);
  auto exact = actzip_fuzz::copy_bytes(data, total);
  actzip::header again;
  ACTZIP_FUZZ_REQUIRE(actzip::inspect(exact.get(), total, &again) == status::success, "stream cut to total_bytes");
  const actzip_fuzz::header_image a = actzip_fuzz::serialize(h), b = actzip_fuzz::serialize(again);
  ACTZIP_FUZZ_REQUIRE(std::memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0, "same header from the cut stream");
  ACTZIP_FUZZ_REQUIRE(again.element_count == h.element_count && again.total_bytes == h.total_bytes,
                      "same sizes from the cut stream");

  // One byte short of total_bytes is a truncated stream.
  auto shorter = actzip_fuzz::copy_bytes(data, total - 1);
  ACTZIP_FUZZ_REQUIRE(actzip::inspect(shorter.get(), total - 1, &again) == status::corrupt_stream,
                      "stream one byte short of total_bytes refused");
  return 0;
}
