// SPDX-License-Identifier: Apache-2.0
//
// Two pieces of the CUDA executor's block-per-chunk encoder written as plain
// ACTZIP_HD code, so that the host tests run them against stages/chunk.hpp
// (tests/cuda_chunk_plan.cpp): plan_chunk, the rule of choose_chunk (nothing, raw,
// bitplane or Huffman, and the chunk's size) taken from the counts a thread block
// gathers with scans instead of from a per-thread chunk_scratch; and
// write_huffman_segment, the bit writer of one Huffman segment, which starts at any
// bit of the chunk's bit stream and stores whole 32-bit words, so that the segments
// of a chunk are written at the same time by different threads. Only the first and
// the last word of a segment can hold bits of a neighbouring segment; those are
// flagged for the caller to OR into a zeroed buffer. Needs no CUDA compiler.
#pragma once

#include <actzip/config.hpp>
#include <actzip/format/chunk.hpp>
#include <actzip/params.hpp>
#include <actzip/stages/huffman.hpp>

#include <cstdint>

namespace actzip {
namespace detail {
namespace gpu {

//! How a chunk is stored, as choose_chunk decides it.
struct chunk_plan {
  chunk_view::kind type;      //!< empty, raw, encoded (bitplane) or huffman
  std::uint32_t bytes;        //!< size of the chunk
  std::uint32_t stream_bits;  //!< Huffman: length of the bit stream
};

//! choose_chunk's decision for a chunk of `n` elements of `value_size` bytes under
//! codec `mode`, from its counts: `nonzero` non-zero groups, `plane_words` bitplanes
//! in all, `lossless` values stored losslessly, and, when `huffman_sized` (the
//! codec is not bitplane and the stream's code book is not empty), the bits of each
//! of its huffman_segment_count(n) segments in `segment_bits` (0 for a segment
//! that needs a symbol the code book lacks, as detail::huffman_segment_bits says).
//! `segment_bits` is read only when `huffman_sized`.
ACTZIP_HD chunk_plan plan_chunk(codec mode, std::uint32_t n, unsigned value_size, std::uint32_t nonzero,
                                std::uint32_t plane_words, std::uint32_t lossless, bool huffman_sized,
                                const std::uint32_t* segment_bits) noexcept {
  chunk_plan c{chunk_view::kind::empty, 0u, 0u};
  if (nonzero == 0 && lossless == 0) return c;
  c.type = chunk_view::kind::raw;
  c.bytes = raw_chunk_bytes(n, value_size);
  if (mode != codec::huffman) {
    const std::uint32_t size = make_encoded_layout(n, nonzero, plane_words, lossless, value_size).total;
    if (size <= c.bytes) {
      c.type = chunk_view::kind::encoded;
      c.bytes = size;
    }
  }
  if (mode != codec::bitplane && huffman_sized) {
    std::uint64_t bits = 0;
    bool coded = true;
    for (std::uint32_t k = 0; k < huffman_segment_count(n); ++k) {
      coded = coded && segment_bits[k] != 0;
      bits += segment_bits[k];
    }
    const std::uint32_t size = make_huffman_layout(n, bits, lossless, value_size).total;
    if (coded && (size < c.bytes || (size == c.bytes && c.type == chunk_view::kind::raw))) {
      c.type = chunk_view::kind::huffman;
      c.bytes = size;
      c.stream_bits = static_cast<std::uint32_t>(bits);
    }
  }
  return c;
}

//! Elements of segment `segment` of a chunk of `n` elements.
ACTZIP_HD std::uint32_t huffman_segment_length(std::uint32_t n, std::uint32_t segment) noexcept {
  const std::uint32_t first = segment * huffman_segment_elements;
  return n - first < huffman_segment_elements ? n - first : huffman_segment_elements;
}

//! Appends bits to an LSB-first bit stream of 32-bit words (bit i of the stream is
//! bit i % 32 of word i / 32: on a little-endian machine the bytes of bit_writer)
//! from bit `first_bit` on, handing each finished word to store(word index, bits,
//! shared). `shared` is true for a word that may also hold bits of another writer:
//! the first word when first_bit is not a multiple of 32, and the last, partial
//! word (written by flush). The bits of a word that lie before first_bit are zero.
template <class Store>
struct segment_word_writer {
  Store store;           //!< receives the words
  std::uint64_t buffer;  //!< the stream's bits from bit 32 * word on
  unsigned pending;      //!< bits of buffer in use (< 32 between calls)
  std::uint32_t word;    //!< index of the word buffer starts with
  bool shared;           //!< that word holds bits of the writer before this one

  ACTZIP_HD segment_word_writer(Store s, std::uint64_t first_bit) noexcept
      : store(s),
        buffer(0),
        pending(static_cast<unsigned>(first_bit % 32)),
        word(static_cast<std::uint32_t>(first_bit / 32)),
        shared(first_bit % 32 != 0) {}

  //! Appends the low `count` (<= 32) bits of `value`, which has no bits above them.
  ACTZIP_HD void put(std::uint32_t value, unsigned count) noexcept {
    buffer |= std::uint64_t(value) << pending;
    pending += count;
    if (pending >= 32) {  // pending was below 32 and count is at most 32: one word at most
      store(word, static_cast<std::uint32_t>(buffer), shared);
      shared = false;
      ++word;
      buffer >>= 32;
      pending -= 32;
    }
  }

  //! Stores the last, partial word (its bits past the stream's end are zero).
  ACTZIP_HD void flush() noexcept {
    if (pending != 0) store(word, static_cast<std::uint32_t>(buffer), true);
    buffer = 0;
    pending = 0;
  }
};

//! Writes the symbols of one segment, the zig-zagged deltas z[0, count), with
//! `code` from bit `first_bit` of the chunk's bit stream: the bits write_chunk
//! writes for that segment, in the same order (code word, then extra bits).
template <class Store>
ACTZIP_HD void write_huffman_segment(const huffman_code& code, const std::uint32_t* z, std::uint32_t count,
                                     std::uint64_t first_bit, Store store) noexcept {
  segment_word_writer<Store> w(store, first_bit);
  huffman_tokens(z, count, code.min_run, [&](unsigned symbol, std::uint32_t extra, unsigned extra_bits) {
    w.put(code.word[symbol], code.length[symbol]);
    if (extra_bits != 0) w.put(extra, extra_bits);
  });
  w.flush();
}

}  // namespace gpu
}  // namespace detail
}  // namespace actzip
