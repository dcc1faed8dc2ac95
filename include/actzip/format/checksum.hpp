// SPDX-License-Identifier: Apache-2.0
//
// The stream checksum (format version 2): a 64-bit sum, modulo 2^64, of one
// position-keyed hash per 32-bit little-endian word of the stream. The two words
// that hold the checksum itself (header bytes 120..127) are left out.
//
//   checksum = sum over words i != 30, 31 of  mix(word_i XOR (i * K))
//
// mix is a bijective 64-bit finaliser (xor-shift, odd multiply, twice), so for a
// fixed position the term is a bijection of the word: any damage confined to one
// word always changes the sum. Damage to several words escapes only if the changed
// terms cancel modulo 2^64. The terms are keyed by position, so swapped or moved
// words are seen too. Truncation is caught before this by the header's size field.
//
// Addition is associative and commutative, so any split of the stream into pieces,
// summed in any order, gives the same checksum: the host executors sum chunks of
// words on several threads and the CUDA executor sums with block reductions and
// atomics, and all write the same bytes.
#pragma once

#include <actzip/core/bits.hpp>

#include <cstdint>

namespace actzip {

//! Offset of the 8-byte checksum in the header (format version 2 and later).
inline constexpr std::uint32_t checksum_field_offset = 120;

namespace detail {

//! Index of the first of the two 32-bit words holding the checksum.
inline constexpr std::uint64_t checksum_first_word = checksum_field_offset / 4;
//! Multiplier keying a word by its position (2^64 divided by the golden ratio, odd).
inline constexpr std::uint64_t checksum_position_key = 0x9E3779B97F4A7C15ull;
//! Odd multiplier of the finaliser.
inline constexpr std::uint64_t checksum_mix_multiplier = 0xD6E8FEB86659FD93ull;

//! The hash of 32-bit word `word` at word position `index`. Zero for the two
//! checksum words, so sums may run over them.
ACTZIP_HD std::uint64_t checksum_term(std::uint64_t index, std::uint32_t word) noexcept {
  if (index - checksum_first_word < 2) return 0;
  std::uint64_t x = (index * checksum_position_key) ^ word;
  x ^= x >> 32;
  x *= checksum_mix_multiplier;
  x ^= x >> 32;
  x *= checksum_mix_multiplier;
  x ^= x >> 32;
  return x;
}

//! Sum of checksum_term over the 32-bit words [first, last) of `stream`.
ACTZIP_HD std::uint64_t checksum_words(const unsigned char* stream, std::uint64_t first, std::uint64_t last) noexcept {
  // Four independent sums keep several multiplies in flight.
  std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::uint64_t i = first;
  for (; i + 4 <= last; i += 4) {
    s0 += checksum_term(i, load_le32(stream + 4 * i));
    s1 += checksum_term(i + 1, load_le32(stream + 4 * (i + 1)));
    s2 += checksum_term(i + 2, load_le32(stream + 4 * (i + 2)));
    s3 += checksum_term(i + 3, load_le32(stream + 4 * (i + 3)));
  }
  for (; i < last; ++i) s0 += checksum_term(i, load_le32(stream + 4 * i));
  return s0 + s1 + s2 + s3;
}

}  // namespace detail
}  // namespace actzip
