// SPDX-License-Identifier: Apache-2.0
//
// Shared helpers of the libFuzzer targets: a check that aborts with a message (so
// libFuzzer records the input as a crash), the invariants every successfully parsed
// header must satisfy, and exactly sized heap copies (so AddressSanitizer sees any
// read or write past the end of a buffer).
#pragma once

#include <actzip/actzip.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

//! Aborts with a message when `cond` is false: the fuzzer records the input as a crash.
#define ACTZIP_FUZZ_REQUIRE(cond, what)                                                                      \
  do {                                                                                                       \
    if (!(cond)) {                                                                                           \
      std::fprintf(stderr, "actzip fuzz check failed: %s (%s) at %s:%d\n", what, #cond, __FILE__, __LINE__); \
      std::abort();                                                                                          \
    }                                                                                                        \
  } while (0)

namespace actzip_fuzz {

//! An exactly sized heap copy of `size` bytes (a zero-size allocation when size is 0).
inline std::unique_ptr<unsigned char[]> copy_bytes(const std::uint8_t* data, std::size_t size) {
  std::unique_ptr<unsigned char[]> out(new unsigned char[size]);
  if (size != 0) std::memcpy(out.get(), data, size);
  return out;
}

//! The 128 header bytes that write_header produces for `h`.
struct header_image {
  unsigned char bytes[actzip::header_bytes];
};
inline header_image serialize(const actzip::header& h) {
  header_image img{};
  actzip::detail::write_header(h, img.bytes);
  return img;
}

//! True for a finite double (NaN and infinities are not).
inline bool finite(double v) {
  return v - v == 0.0;
}

//! Every invariant a header accepted by actzip::inspect for a buffer of `size` bytes
//! must satisfy (docs/FORMAT.md, "Header"); aborts on a violation.
inline void check_header(const actzip::header& h, const void* stream, std::uint64_t size) {
  ACTZIP_FUZZ_REQUIRE(h.version >= 1 && h.version <= actzip::format_version, "version in range");
  ACTZIP_FUZZ_REQUIRE(actzip::dtype_size(h.dtype) != 0, "known dtype");
  ACTZIP_FUZZ_REQUIRE(h.codec == actzip::codec::bitplane || h.codec == actzip::codec::huffman ||
                          h.codec == actzip::codec::automatic,
                      "known codec");
  ACTZIP_FUZZ_REQUIRE(h.codec == actzip::codec::bitplane || h.version >= 3, "Huffman streams are version 3 or later");
  const unsigned rank = h.shape.rank();
  ACTZIP_FUZZ_REQUIRE(rank >= 1 && rank <= 3, "rank 1..3");
  ACTZIP_FUZZ_REQUIRE(
      h.requested_bound.mode == actzip::bound_mode::absolute || h.requested_bound.mode == actzip::bound_mode::relative,
      "known bound mode");

  // element_count is the product of the extents: 0 with a zero extent, otherwise
  // a product that fits 64 bits.
  bool any_zero = false;
  for (unsigned d = 0; d < rank; ++d) any_zero = any_zero || h.shape[d] == 0;
  std::uint64_t product = 1;
  if (any_zero) {
    product = 0;
  } else {
    for (unsigned d = 0; d < rank; ++d)
      ACTZIP_FUZZ_REQUIRE(!__builtin_mul_overflow(product, h.shape[d], &product), "element count fits 64 bits");
  }
  ACTZIP_FUZZ_REQUIRE(h.element_count == product, "element_count == product of extents");

  // Chunk geometry and sizes.
  const actzip::box_extents expected = actzip::chunk_shape_for_rank(rank);
  ACTZIP_FUZZ_REQUIRE(
      h.chunk_shape.e0 == expected.e0 && h.chunk_shape.e1 == expected.e1 && h.chunk_shape.e2 == expected.e2,
      "chunk shape is the rank's constant");
  // The grid, counted independently: ceil(extent / chunk extent) per dimension.
  const std::uint64_t dims3[3] = {rank == 3 ? h.shape[0] : 1, rank >= 2 ? h.shape[rank - 2] : 1, h.shape[rank - 1]};
  const std::uint32_t cs[3] = {expected.e0, expected.e1, expected.e2};
  std::uint64_t chunks = 1;
  if (any_zero) {
    chunks = 0;
  } else {
    for (int d = 0; d < 3; ++d) {
      const std::uint64_t along = dims3[d] / cs[d] + (dims3[d] % cs[d] != 0);
      ACTZIP_FUZZ_REQUIRE(!__builtin_mul_overflow(chunks, along, &chunks), "chunk count fits 64 bits");
    }
  }
  ACTZIP_FUZZ_REQUIRE(h.chunk_count == chunks, "chunk_count == chunks of the grid");
  ACTZIP_FUZZ_REQUIRE(h.chunk_count <= h.element_count, "no more chunks than elements");
  ACTZIP_FUZZ_REQUIRE(h.payload_bytes % 4 == 0, "payload is a multiple of 4 bytes");
  std::uint64_t total = 0;
  ACTZIP_FUZZ_REQUIRE(!__builtin_mul_overflow(h.chunk_count, std::uint64_t{actzip::chunk_offset_bytes}, &total) &&
                          !__builtin_add_overflow(total, std::uint64_t{actzip::header_bytes}, &total) &&
                          !__builtin_add_overflow(total, h.payload_bytes, &total),
                      "sizes add up without overflow");
  ACTZIP_FUZZ_REQUIRE(total == h.total_bytes, "total_bytes == 128 + 8 * chunk_count + payload_bytes");
  ACTZIP_FUZZ_REQUIRE(h.total_bytes <= size, "total_bytes <= buffer size");
  ACTZIP_FUZZ_REQUIRE(h.total_bytes >= actzip::header_bytes, "total_bytes covers the header");

  // Bounds and value range.
  ACTZIP_FUZZ_REQUIRE(finite(h.requested_bound.value) && h.requested_bound.value >= 0, "requested bound finite, >= 0");
  ACTZIP_FUZZ_REQUIRE(finite(h.absolute_bound) && h.absolute_bound >= 0, "absolute bound finite, >= 0");
  ACTZIP_FUZZ_REQUIRE(finite(h.value_min) && finite(h.value_max), "value range finite");
  if (!h.has_value_range) ACTZIP_FUZZ_REQUIRE(h.value_min == 0 && h.value_max == 0, "no range: zeros");

  // The header is exactly its bytes: writing it back gives the first 128 bytes.
  const header_image img = serialize(h);
  ACTZIP_FUZZ_REQUIRE(std::memcmp(img.bytes, stream, actzip::header_bytes) == 0,
                      "write_header(inspect(s)) == s[0,128)");
}

}  // namespace actzip_fuzz
