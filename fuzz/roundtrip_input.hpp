// SPDX-License-Identifier: Apache-2.0
//
// The input format of the roundtrip fuzz target, shared with the seed-corpus
// generator: a few bytes choose the element type, rank, shape, bound and
// preserve_sign; the rest are the raw bits of the elements (so NaN, ±Inf, -0 and
// denormals occur as often as the fuzzer likes).
//
//   byte 0      bits 0-1 dtype (0 float, 1 double, 2 half, 3 bfloat16)
//               bit 2 preserve_sign, bit 3 relative bound (else absolute)
//               bits 4-5 rank - 1 (3 reads as rank 3), bits 6-7 OpenMP threads - 1
//   2 x rank    extents, u16 little-endian each, slowest first; while their product
//               exceeds max_elements the largest (the first of equals) is halved
//   1 byte e    the bound: 0 -> 0.0; 255 -> the next 8 bytes are the raw f64 bits
//               (any value: NaN, negative, denormal, huge); otherwise
//   1 byte m    (1 + m / 256) * 2^(e - 150), i.e. 2^-149 .. 2^105
//   rest        the elements' bytes, little-endian, in C order; when fewer bytes
//               than the tensor needs remain, they are repeated cyclically (all
//               zeros when none remain)
//
// Bytes missing at the end of the fixed part read as 0.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace actzip_fuzz {

//! Largest tensor the roundtrip target compresses (keeps every execution fast).
//! 16 Ki elements still gives every chunk layout (several chunks per dimension, clipped
//! edge chunks, more chunks than OpenMP hands out at once with thin 3-D shapes).
inline constexpr std::uint64_t max_elements = 16 * 1024;

//! A decoded roundtrip input.
struct roundtrip_case {
  unsigned type_index = 0;  //!< 0 float, 1 double, 2 half, 3 bfloat16
  bool preserve_sign = false;
  bool relative = false;
  unsigned rank = 1;
  std::uint64_t dims[3] = {0, 1, 1};
  int threads = 1;                              //!< OpenMP thread count (1..4)
  double bound = 0;                             //!< the bound value as given to params (may be invalid)
  const std::uint8_t* element_bytes = nullptr;  //!< the bytes after the fixed part
  std::size_t element_byte_count = 0;

  //! Number of elements of the shape.
  std::uint64_t count() const {
    std::uint64_t n = 1;
    for (unsigned d = 0; d < rank; ++d) n *= dims[d];
    return n;
  }
  //! The `size` bytes of the elements, repeating the available bytes cyclically.
  std::vector<std::uint8_t> fill(std::size_t size) const {
    std::vector<std::uint8_t> out(size, 0);
    if (element_byte_count == 0 || size == 0) return out;
    std::size_t done = element_byte_count < size ? element_byte_count : size;
    std::memcpy(out.data(), element_bytes, done);
    while (done < size) {  // doubling copies of the prefix: the same bytes as out[i] = bytes[i % count]
      const std::size_t step = done < size - done ? done : size - done;
      std::memcpy(out.data() + done, out.data(), step);
      done += step;
    }
    return out;
  }
};

//! Reads the fixed part of a roundtrip input.
inline roundtrip_case parse_case(const std::uint8_t* data, std::size_t size) {
  std::size_t pos = 0;
  auto next = [&]() -> std::uint8_t { return pos < size ? data[pos++] : (pos++, std::uint8_t{0}); };
  roundtrip_case c;
  const unsigned b0 = next();
  c.type_index = b0 & 3u;
  c.preserve_sign = (b0 & 4u) != 0;
  c.relative = (b0 & 8u) != 0;
  c.rank = ((b0 >> 4) & 3u) == 3u ? 3u : ((b0 >> 4) & 3u) + 1u;
  c.threads = static_cast<int>((b0 >> 6) & 3u) + 1;
  for (unsigned d = 0; d < c.rank; ++d) {
    const unsigned lo = next(), hi = next();
    c.dims[d] = lo | (hi << 8);
  }
  for (unsigned d = c.rank; d < 3; ++d) c.dims[d] = 1;
  while (c.count() > max_elements) {
    unsigned largest = 0;
    for (unsigned d = 1; d < c.rank; ++d)
      if (c.dims[d] > c.dims[largest]) largest = d;
    c.dims[largest] /= 2;
  }
  const unsigned e = next();
  if (e == 255) {
    std::uint64_t bits = 0;
    for (unsigned i = 0; i < 8; ++i) bits |= static_cast<std::uint64_t>(next()) << (8 * i);
    std::memcpy(&c.bound, &bits, sizeof bits);
  } else {
    const unsigned m = next();
    c.bound = e == 0 ? 0.0 : std::ldexp(1.0 + m / 256.0, static_cast<int>(e) - 150);
  }
  if (pos < size) {
    c.element_bytes = data + pos;
    c.element_byte_count = size - pos;
  }
  return c;
}

//! Writes a roundtrip input (the inverse of parse_case, for the corpus generator).
//! `bound` is written raw when `raw_bound` is set, else as the nearest e/m pair.
inline std::vector<std::uint8_t> encode_case(unsigned type_index, unsigned rank, const std::uint64_t* dims,
                                             bool relative, bool preserve_sign, int threads, double bound,
                                             bool raw_bound, const std::vector<std::uint8_t>& element_bytes) {
  std::vector<std::uint8_t> out;
  const unsigned rank_bits = rank - 1u;
  out.push_back(static_cast<std::uint8_t>((type_index & 3u) | (preserve_sign ? 4u : 0u) | (relative ? 8u : 0u) |
                                          (rank_bits << 4) | ((static_cast<unsigned>(threads - 1) & 3u) << 6)));
  for (unsigned d = 0; d < rank; ++d) {
    out.push_back(static_cast<std::uint8_t>(dims[d] & 0xffu));
    out.push_back(static_cast<std::uint8_t>((dims[d] >> 8) & 0xffu));
  }
  if (raw_bound) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &bound, sizeof bits);
    out.push_back(255);
    for (unsigned i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
  } else if (bound == 0) {
    out.push_back(0);
    out.push_back(0);
  } else {
    int exponent = 0;
    const double fraction = std::frexp(bound, &exponent);  // bound = fraction * 2^exponent, fraction in [0.5, 1)
    double m = std::round((2 * fraction - 1) * 256);
    if (m > 255) m = 255;
    int e = exponent - 1 + 150;
    if (e < 1) e = 1;
    if (e > 254) e = 254;
    out.push_back(static_cast<std::uint8_t>(e));
    out.push_back(static_cast<std::uint8_t>(m));
  }
  out.insert(out.end(), element_bytes.begin(), element_bytes.end());
  return out;
}

}  // namespace actzip_fuzz
