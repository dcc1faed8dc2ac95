// SPDX-License-Identifier: Apache-2.0
//
// The entropy stage of the Huffman codec: the symbol alphabet (zero runs, small
// zig-zagged Lorenzo deltas, and bit-length classes for the rest), the canonical,
// length-limited code book built from a histogram with deterministic tie-breaks,
// its serialised form, and the bit-level writer and reader. Everything here is
// integer arithmetic in fixed-size arrays, so a GPU builds exactly the host's code
// book in one thread and writes exactly the host's bits. docs/FORMAT.md describes
// the bytes.
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/error.hpp>

#include <cstdint>

namespace actzip {

//! Longest code word of the Huffman code book, in bits.
inline constexpr unsigned huffman_max_code_length = 12;
//! Entries of the decoding table: one per value of the next huffman_max_code_length bits.
inline constexpr unsigned huffman_table_size = 1u << huffman_max_code_length;
//! Elements of one segment: a chunk's bit stream is cut into segments of this many
//! elements (the last one shorter), each decodable on its own, and zero runs never
//! cross a segment boundary.
inline constexpr std::uint32_t huffman_segment_elements = 1024;
//! Most segments in a chunk.
inline constexpr std::uint32_t huffman_max_segments = 4;
//! Symbols 0..10 stand for runs of zero deltas: symbol b covers run lengths
//! [2^b, 2^(b+1)), followed by b extra bits holding length - 2^b.
inline constexpr unsigned huffman_run_symbols = 11;
//! Zig-zagged deltas 1..huffman_direct_limit-1 have a symbol each: 10 + value.
inline constexpr std::uint32_t huffman_direct_limit = 1024;
//! Larger zig-zagged deltas (bit length k = 11..32) use the class symbol 1023 + k,
//! followed by the k - 1 bits below their leading one.
inline constexpr unsigned huffman_first_class_symbol = 1034;
//! Size of the alphabet.
inline constexpr unsigned huffman_symbol_count = 1056;
//! Most bits one symbol occupies in a bit stream (a code word and its extra bits).
inline constexpr unsigned huffman_max_symbol_bits = huffman_max_code_length + 31;

static_assert(huffman_run_symbols - 1 + huffman_direct_limit == huffman_first_class_symbol, "alphabet layout");
static_assert(huffman_first_class_symbol + 22 == huffman_symbol_count, "alphabet layout");
static_assert(huffman_segment_elements * huffman_max_symbol_bits < 65536, "segment sizes fit in 16 bits");

//! Number of segments of a chunk of n elements.
ACTZIP_HD std::uint32_t huffman_segment_count(std::uint32_t n) noexcept {
  return (n + huffman_segment_elements - 1) / huffman_segment_elements;
}

//! Zero runs a stream's encoder may write as single zeros: a maximal run shorter
//! than the code book's min_run is written as that many runs of one zero (symbol 0
//! each), a longer one as one run symbol. The decoder needs no flag for it (a run
//! symbol may follow another), so min_run is the encoder's choice alone; on data
//! whose zeros come in short runs between small values (smooth fields at loose
//! bounds) single zeros code smaller, because a run symbol is always followed by a
//! value, which an order-0 code cannot exploit. make_stream_code tries these.
inline constexpr unsigned huffman_min_run_choices = 5;
//! The k-th min_run make_stream_code tries (k < huffman_min_run_choices): 1 (every
//! run one symbol), 4, 8, 16, 32.
ACTZIP_HD std::uint32_t huffman_min_run_choice(unsigned k) noexcept { return k == 0 ? 1u : 4u << (k - 1); }
//! Maximal zero runs shorter than this are counted by length in a stream's
//! statistics (the largest min_run tried).
inline constexpr std::uint32_t huffman_short_run_limit = 32;
//! Slots of a stream's symbol statistics (huffman_statistics): the counts of the
//! huffman_symbol_count symbols, where the run symbols count only runs of at least
//! huffman_short_run_limit zeros, then the counts of maximal runs of L zeros for
//! L = 1 .. huffman_short_run_limit - 1 (slot huffman_symbol_count + L - 1).
inline constexpr unsigned huffman_statistics_slots = huffman_symbol_count + huffman_short_run_limit - 1;

namespace detail {

//! Walks the zig-zagged deltas z[0, n) of one segment: run(length) for each maximal
//! run of zeros, value(v) for each non-zero value, in order.
template <class Run, class Value>
ACTZIP_HD void for_each_run_or_value(const std::uint32_t* z, std::uint32_t n, Run&& run, Value&& value) {
  std::uint32_t i = 0;
  while (i < n) {
    if (z[i] != 0) {
      value(z[i++]);
      continue;
    }
    std::uint32_t j = i + 1;
    while (j < n && z[j] == 0) ++j;
    run(j - i);
    i = j;
  }
}

//! The symbol of a non-zero zig-zagged delta: direct below huffman_direct_limit,
//! else its bit-length class.
ACTZIP_HD unsigned value_symbol(std::uint32_t v) noexcept {
  return v < huffman_direct_limit ? huffman_run_symbols - 1 + v : huffman_first_class_symbol - 11 + bit_width(v);
}

}  // namespace detail

//! One symbol of a bit stream: its code word is followed by the low `extra_bits`
//! bits of `extra`.
struct huffman_token {
  unsigned symbol;
  std::uint32_t extra;
  unsigned extra_bits;
};

//! The run symbol of a maximal run of `length` (>= 1) zeros written as one symbol:
//! symbol b for lengths [2^b, 2^(b+1)), then b extra bits holding length - 2^b.
ACTZIP_HD huffman_token huffman_run_token(std::uint32_t length) noexcept {
  const unsigned b = bit_width(length) - 1;
  return huffman_token{b, length - (1u << b), b};
}

//! The symbol of the non-zero zig-zagged delta v: its own below
//! huffman_direct_limit, else its bit-length class followed by the bits below its
//! leading one.
ACTZIP_HD huffman_token huffman_value_token(std::uint32_t v) noexcept {
  const unsigned symbol = detail::value_symbol(v);
  const unsigned extra_bits = symbol < huffman_first_class_symbol ? 0u : bit_width(v) - 1;
  return huffman_token{symbol, extra_bits == 0 ? 0u : v - (1u << extra_bits), extra_bits};
}

//! Calls emit(symbol, extra, extra_bits) for the symbols of a maximal run of
//! `length` zeros: one run symbol (huffman_run_token), or, when shorter than
//! `min_run`, that many runs of one zero (symbol 0 each).
template <class Emit>
ACTZIP_HD void huffman_run_tokens(std::uint32_t length, std::uint32_t min_run, Emit&& emit) {
  if (length < min_run) {
    for (std::uint32_t k = 0; k < length; ++k) emit(0u, 0u, 0u);
  } else {
    const huffman_token t = huffman_run_token(length);
    emit(t.symbol, t.extra, t.extra_bits);
  }
}

//! Calls emit(symbol, extra, extra_bits) for the symbol of the non-zero zig-zagged
//! delta v (huffman_value_token).
template <class Emit>
ACTZIP_HD void huffman_value_token(std::uint32_t v, Emit&& emit) {
  const huffman_token t = huffman_value_token(v);
  emit(t.symbol, t.extra, t.extra_bits);
}

//! The statistics slot (see huffman_statistics_slots) of a maximal run of `length`
//! zeros: its length's below huffman_short_run_limit, else its run symbol's.
ACTZIP_HD unsigned huffman_run_slot(std::uint32_t length) noexcept {
  return length < huffman_short_run_limit ? huffman_symbol_count + length - 1 : bit_width(length) - 1;
}

//! Calls emit(symbol, extra, extra_bits) for each symbol of the zig-zagged deltas
//! z[0, n) of one segment: each maximal run of zeros as huffman_run_tokens, each
//! non-zero value as huffman_value_token.
template <class Emit>
ACTZIP_HD void huffman_tokens(const std::uint32_t* z, std::uint32_t n, std::uint32_t min_run, Emit&& emit) {
  detail::for_each_run_or_value(
      z, n, [&](std::uint32_t length) { huffman_run_tokens(length, min_run, emit); },
      [&](std::uint32_t v) { huffman_value_token(v, emit); });
}

//! Calls add(slot) once for each statistics slot (see huffman_statistics_slots)
//! the zig-zagged deltas z[0, n) of one segment add to: each maximal zero run
//! shorter than huffman_short_run_limit counts in its length's slot, every other
//! symbol as huffman_tokens emits it.
template <class Add>
ACTZIP_HD void huffman_statistics(const std::uint32_t* z, std::uint32_t n, Add&& add) {
  detail::for_each_run_or_value(
      z, n, [&](std::uint32_t length) { add(huffman_run_slot(length)); },
      [&](std::uint32_t v) { add(detail::value_symbol(v)); });
}

//! A canonical Huffman code book: code lengths, the code words (bit-reversed, as
//! they go into the LSB-first bit stream) and the decoding table.
struct huffman_code {
  std::uint32_t stored_lengths;  //!< lengths stored in the stream (last used symbol + 1; 0: no code)
  //! Encoding: zero runs shorter than this are written as single zeros (see
  //! huffman_min_run_choices); not stored, as decoding does not need it (1 after
  //! parse_huffman_code and make_huffman_code).
  std::uint32_t min_run;
  unsigned char length[huffman_symbol_count];  //!< code length of each symbol (0: not in the code)
  std::uint16_t word[huffman_symbol_count];    //!< code word, bit-reversed
  //! Decoding table indexed by the next 12 bits of the stream: symbol | length << 11
  //! for the code word those bits start with, 0 when they start none.
  std::uint16_t table[huffman_table_size];
};

//! Scratch memory of build_huffman_lengths (about 36 KiB).
struct huffman_build_scratch {
  std::uint16_t order[huffman_symbol_count];  //!< used symbols, by (count, symbol)
  std::uint16_t merge[huffman_symbol_count];  //!< merge-sort buffer
  std::uint64_t weight[2 * huffman_symbol_count];
  std::uint16_t parent[2 * huffman_symbol_count];
  std::uint16_t depth[2 * huffman_symbol_count];
  std::uint32_t length_count[128];
};

namespace detail {

//! Folds the leaves of a Huffman tree deeper than huffman_max_code_length back to
//! that depth with the procedure of JPEG (ITU T.81) Annex K.3, which keeps the Kraft
//! sum at one: length_count[d] is the number of leaves at depth d (d <= longest,
//! the deepest one).
ACTZIP_HD void limit_code_lengths(std::uint32_t* length_count, unsigned longest) noexcept {
  for (unsigned i = longest; i > huffman_max_code_length; --i) {
    while (length_count[i] > 0) {
      unsigned j = i - 2;
      while (length_count[j] == 0) --j;
      length_count[i] -= 2;
      length_count[i - 1] += 1;
      length_count[j + 1] += 2;
      length_count[j] -= 1;
    }
  }
}

}  // namespace detail

//! Code lengths (at most huffman_max_code_length) for the symbol counts
//! `counts[0, huffman_symbol_count)`, written to length[]. Deterministic: used
//! symbols are ordered by (count, symbol); the Huffman tree is built with two
//! queues, taking the leaf when a leaf and an inner node weigh the same; lengths
//! over the limit are folded back with the procedure of JPEG (ITU T.81) Annex K.3,
//! which keeps the Kraft sum at one; then the shortest lengths go to the most
//! frequent symbols. One used symbol gets length 1; none leaves every length 0.
//! Counts must sum to less than 2^64.
ACTZIP_HD void build_huffman_lengths(const std::uint64_t* counts, unsigned char* length,
                                     huffman_build_scratch& s) noexcept {
  std::uint32_t used = 0;
  for (unsigned k = 0; k < huffman_symbol_count; ++k) {
    length[k] = 0;
    if (counts[k] != 0) s.order[used++] = static_cast<std::uint16_t>(k);
  }
  if (used == 0) return;
  if (used == 1) {
    length[s.order[0]] = 1;
    return;
  }
  // Stable bottom-up merge sort by count (symbols are already ascending).
  std::uint16_t* from = s.order;
  std::uint16_t* to = s.merge;
  for (std::uint32_t width = 1; width < used; width *= 2) {
    for (std::uint32_t lo = 0; lo < used; lo += 2 * width) {
      const std::uint32_t mid = lo + width < used ? lo + width : used;
      const std::uint32_t hi = lo + 2 * width < used ? lo + 2 * width : used;
      std::uint32_t a = lo, b = mid, o = lo;
      while (a < mid && b < hi) to[o++] = counts[from[b]] < counts[from[a]] ? from[b++] : from[a++];
      while (a < mid) to[o++] = from[a++];
      while (b < hi) to[o++] = from[b++];
    }
    std::uint16_t* t = from;
    from = to;
    to = t;
  }
  if (from != s.order)
    for (std::uint32_t k = 0; k < used; ++k) s.order[k] = from[k];

  // Two-queue Huffman: leaves 0..used-1 in sorted order, inner nodes used.. in
  // order of creation (their weights never decrease).
  for (std::uint32_t k = 0; k < used; ++k) s.weight[k] = counts[s.order[k]];
  std::uint32_t next_leaf = 0, next_inner = used, inner_end = used;
  for (std::uint32_t made = 0; made + 1 < used; ++made) {
    std::uint32_t pick[2];
    for (int t = 0; t < 2; ++t) {
      const bool take_leaf =
          next_leaf < used && (next_inner == inner_end || s.weight[next_leaf] <= s.weight[next_inner]);
      pick[t] = take_leaf ? next_leaf++ : next_inner++;
    }
    s.weight[inner_end] = s.weight[pick[0]] + s.weight[pick[1]];
    s.parent[pick[0]] = s.parent[pick[1]] = static_cast<std::uint16_t>(inner_end);
    ++inner_end;
  }
  const std::uint32_t root = inner_end - 1;
  s.depth[root] = 0;
  for (std::uint32_t node = root; node-- > 0;) s.depth[node] = static_cast<std::uint16_t>(s.depth[s.parent[node]] + 1);

  // Depths are below 128: a leaf at depth d needs total weight >= Fibonacci(d + 2).
  for (unsigned k = 0; k < 128; ++k) s.length_count[k] = 0;
  unsigned longest = 0;
  for (std::uint32_t k = 0; k < used; ++k) {
    ++s.length_count[s.depth[k]];
    longest = s.depth[k] > longest ? s.depth[k] : longest;
  }
  detail::limit_code_lengths(s.length_count, longest);
  // Least frequent symbols first get the longest lengths.
  std::uint32_t k = 0;
  for (unsigned len = huffman_max_code_length; len >= 1; --len)
    for (std::uint32_t c = 0; c < s.length_count[len]; ++c) length[s.order[k++]] = static_cast<unsigned char>(len);
}

//! Checks code lengths and fills in the canonical code words and the decoding
//! table. The lengths must be at most 12 and form a complete code (Kraft sum one),
//! or be a single length of 1. Returns false otherwise (then `code` is unusable).
ACTZIP_HD bool finish_huffman_code(huffman_code& code) noexcept {
  std::uint32_t count[huffman_max_code_length + 1] = {};
  std::uint32_t kraft = 0, used = 0;
  for (unsigned k = 0; k < huffman_symbol_count; ++k) {
    const unsigned len = code.length[k];
    if (len > huffman_max_code_length) return false;
    if (len == 0) continue;
    ++count[len];
    ++used;
    kraft += 1u << (huffman_max_code_length - len);
    if (kraft > huffman_table_size) return false;
  }
  if (used == 0) return false;
  if (kraft != huffman_table_size && !(used == 1 && kraft == huffman_table_size / 2)) return false;
  std::uint32_t next[huffman_max_code_length + 1];
  std::uint32_t word = 0;
  count[0] = 0;
  for (unsigned len = 1; len <= huffman_max_code_length; ++len) {
    word = (word + count[len - 1]) << 1;
    next[len] = word;
  }
  for (unsigned i = 0; i < huffman_table_size; ++i) code.table[i] = 0;
  for (unsigned k = 0; k < huffman_symbol_count; ++k) {
    const unsigned len = code.length[k];
    code.word[k] = 0;
    if (len == 0) continue;
    const std::uint32_t w = next[len]++;
    std::uint32_t reversed = 0;
    for (unsigned b = 0; b < len; ++b) reversed |= ((w >> b) & 1u) << (len - 1 - b);
    code.word[k] = static_cast<std::uint16_t>(reversed);
    const std::uint16_t entry = static_cast<std::uint16_t>(k | (len << 11));
    for (std::uint32_t fill = 0; fill < (1u << (huffman_max_code_length - len)); ++fill)
      code.table[reversed | (fill << len)] = entry;
  }
  return true;
}

//! Builds the code book for `counts` (see build_huffman_lengths). A histogram with
//! no symbol gives the empty code book (stored_lengths 0), which no chunk can use.
ACTZIP_HD void make_huffman_code(const std::uint64_t* counts, huffman_code& code, huffman_build_scratch& s) noexcept {
  build_huffman_lengths(counts, code.length, s);
  code.min_run = 1;
  code.stored_lengths = 0;
  for (unsigned k = 0; k < huffman_symbol_count; ++k)
    if (code.length[k] != 0) code.stored_lengths = k + 1;
  if (code.stored_lengths != 0) {
    finish_huffman_code(code);
  } else {  // every field defined: the CUDA executor copies the whole code book out
    for (unsigned k = 0; k < huffman_symbol_count; ++k) code.word[k] = 0;
    for (unsigned i = 0; i < huffman_table_size; ++i) code.table[i] = 0;
  }
}

namespace detail {

//! The counts of the run symbols (run_counts[0, huffman_run_symbols)) of a stream
//! coded with `min_run`: those of the runs of at least huffman_short_run_limit zeros
//! (`long_runs`) plus the short runs (short_runs[L - 1]: maximal runs of L zeros),
//! each either single zeros or one run symbol.
ACTZIP_HD void min_run_counts(const std::uint64_t* short_runs, const std::uint64_t* long_runs, std::uint32_t min_run,
                              std::uint64_t* run_counts) noexcept {
  for (unsigned b = 0; b < huffman_run_symbols; ++b) run_counts[b] = long_runs[b];
  for (std::uint32_t length = 1; length < huffman_short_run_limit; ++length) {
    const std::uint64_t runs = short_runs[length - 1];
    if (length < min_run) run_counts[0] += runs * length;
    else run_counts[bit_width(length) - 1] += runs;
  }
}

//! Turns stream statistics (huffman_statistics_slots counts) into the symbol counts
//! of the stream coded with `min_run`, in place: the run symbols' counts (slots
//! 0..10) become those of runs of at least huffman_short_run_limit zeros (`long_runs`)
//! plus the short runs, each either single zeros or one run symbol.
ACTZIP_HD void apply_min_run(std::uint64_t* statistics, const std::uint64_t* long_runs, std::uint32_t min_run) noexcept {
  min_run_counts(statistics + huffman_symbol_count, long_runs, min_run, statistics);
}

//! The extra bits that follow symbol k's code word: a run symbol's length bits, a
//! class symbol's bits below the leading one, none for a direct value.
ACTZIP_HD unsigned huffman_extra_bits(unsigned k) noexcept {
  return k < huffman_run_symbols ? k : k >= huffman_first_class_symbol ? k - huffman_first_class_symbol + 10 : 0u;
}

//! Bits of every symbol of a stream with symbol counts `counts` and code lengths
//! `length`: code words and extra bits.
ACTZIP_HD std::uint64_t huffman_stream_bits(const std::uint64_t* counts, const unsigned char* length) noexcept {
  std::uint64_t bits = 0;
  for (unsigned k = 0; k < huffman_symbol_count; ++k) bits += counts[k] * (length[k] + huffman_extra_bits(k));
  return bits;
}

}  // namespace detail

//! Builds the code book of a stream from its statistics (huffman_statistics_slots
//! counts, summed over its chunks with huffman_statistics), choosing its min_run:
//! for each of huffman_min_run_choices, the counts that min_run gives and their
//! code lengths (build_huffman_lengths); the one whose symbols take the fewest bits
//! wins, the first on a tie. Deterministic and integer-only, so that every executor
//! chooses the same. Overwrites statistics[0, huffman_run_symbols) with the chosen
//! counts.
ACTZIP_HD void make_stream_code(std::uint64_t* statistics, huffman_code& code, huffman_build_scratch& s) noexcept {
  std::uint64_t long_runs[huffman_run_symbols];
  for (unsigned b = 0; b < huffman_run_symbols; ++b) long_runs[b] = statistics[b];
  std::uint32_t best = 1;
  std::uint64_t best_bits = 0;
  for (unsigned k = 0; k < huffman_min_run_choices; ++k) {
    const std::uint32_t min_run = huffman_min_run_choice(k);
    detail::apply_min_run(statistics, long_runs, min_run);
    build_huffman_lengths(statistics, code.length, s);
    const std::uint64_t bits = detail::huffman_stream_bits(statistics, code.length);
    if (k == 0 || bits < best_bits) {
      best = min_run;
      best_bits = bits;
    }
  }
  detail::apply_min_run(statistics, long_runs, best);
  make_huffman_code(statistics, code, s);
  code.min_run = best;
}

namespace detail {

//! Bytes of the serialised code book that stores `stored_lengths` lengths: a
//! little-endian 32-bit count, then one 4-bit length per symbol (low nibble first),
//! padded with zeros to a multiple of 4 bytes.
ACTZIP_HD std::uint32_t huffman_code_bytes(std::uint32_t stored_lengths) noexcept {
  return 4u + (((stored_lengths + 1) / 2 + 3) & ~3u);
}

//! Largest serialised code book.
inline constexpr std::uint32_t huffman_code_max_bytes = 4u + (((huffman_symbol_count + 1) / 2 + 3) & ~3u);

}  // namespace detail

//! Writes the serialised code book (detail::huffman_code_bytes(code.stored_lengths) bytes).
ACTZIP_HD void write_huffman_code(const huffman_code& code, unsigned char* out) noexcept {
  const std::uint32_t bytes = detail::huffman_code_bytes(code.stored_lengths);
  for (std::uint32_t i = 4; i < bytes; ++i) out[i] = 0;
  store_le32(out, code.stored_lengths);
  for (std::uint32_t k = 0; k < code.stored_lengths; ++k)
    out[4 + k / 2] = static_cast<unsigned char>(out[4 + k / 2] | (code.length[k] << (4 * (k % 2))));
}

//! Parses a serialised code book at the start of `size` bytes and builds `code`.
//! Checks the count (at most the alphabet, the last stored length non-zero), every
//! length (at most 12), the zero padding, and that the lengths form a code (see
//! finish_huffman_code). A count of 0 is the empty code book. On success `*bytes`
//! is its size.
ACTZIP_HD status parse_huffman_code(const unsigned char* in, std::uint64_t size, huffman_code& code,
                                    std::uint32_t* bytes, stream_fault* fault = nullptr) noexcept {
  using detail::refuse;
  constexpr status corrupt = status::corrupt_stream;
  if (size < 4) return refuse(fault, corrupt, "truncated inside the code book", 0);
  const std::uint32_t stored = load_le32(in);
  if (stored > huffman_symbol_count) return refuse(fault, corrupt, "code book longer than the alphabet", 0);
  const std::uint32_t total = detail::huffman_code_bytes(stored);
  if (size < total) return refuse(fault, corrupt, "truncated inside the code book", size);
  for (unsigned k = 0; k < huffman_symbol_count; ++k) code.length[k] = 0;
  for (std::uint32_t k = 0; k < stored; ++k) {
    const unsigned len = (in[4 + k / 2] >> (4 * (k % 2))) & 15u;
    if (len > huffman_max_code_length) return refuse(fault, corrupt, "a code length over 12", 4 + k / 2);
    code.length[k] = static_cast<unsigned char>(len);
  }
  const std::uint32_t used_bytes = 4 + (stored + 1) / 2;
  bool padding_clear = stored % 2 == 0 || (in[used_bytes - 1] >> 4) == 0;
  for (std::uint32_t i = used_bytes; i < total; ++i) padding_clear = padding_clear && in[i] == 0;
  if (!padding_clear)
    return refuse(fault, corrupt, "code book padding is not zero", used_bytes - (stored % 2));
  code.stored_lengths = stored;
  code.min_run = 1;
  *bytes = total;
  if (stored == 0) return status::success;
  if (code.length[stored - 1] == 0) return refuse(fault, corrupt, "the code book's last length is zero", 4 + (stored - 1) / 2);
  if (!finish_huffman_code(code)) return refuse(fault, corrupt, "the code lengths do not form a complete code", 4);
  return status::success;
}

//! Appends bits to a zero-initialised LSB-first bit stream (bit i of the stream is
//! bit i % 8 of byte i / 8).
struct bit_writer {
  unsigned char* out;        //!< first byte of the stream
  std::uint64_t buffer = 0;  //!< bits not yet stored
  unsigned pending = 0;      //!< number of them (< 8 between calls)
  std::uint32_t next = 0;    //!< next byte to store
  //! Appends the low `count` (<= 32) bits of `value`, which has no bits above them.
  ACTZIP_HD void put(std::uint32_t value, unsigned count) noexcept {
    buffer |= std::uint64_t(value) << pending;
    pending += count;
    while (pending >= 8) {
      out[next++] = static_cast<unsigned char>(buffer);
      buffer >>= 8;
      pending -= 8;
    }
  }
  //! Stores the last partial byte (its high bits zero).
  ACTZIP_HD void flush() noexcept {
    if (pending != 0) out[next++] = static_cast<unsigned char>(buffer);
    buffer = 0;
    pending = 0;
  }
};

//! The 57 or more stream bits from bit `position` of a `size`-byte LSB-first bit
//! stream (bits past its end read as zero).
ACTZIP_HD std::uint64_t peek_bits(const unsigned char* in, std::uint64_t size, std::uint64_t position) noexcept {
  const std::uint64_t byte = position >> 3;
  std::uint64_t v = 0;
  if (byte + 8 <= size) {
    v = load_le64(in + byte);
  } else {
    for (std::uint64_t k = 0; byte + k < size; ++k) v |= std::uint64_t(in[byte + k]) << (8 * k);
  }
  return v >> (position & 7);
}

//! One token read from a bit stream by decode_huffman_token: `bits` stream bits (its
//! code word and extra bits; 0 when the bits start no code word) standing for
//! `count` elements of zig-zagged delta `value` (a run of `count` zeros, or one value).
struct huffman_stream_token {
  unsigned bits;
  std::uint32_t count;
  std::uint32_t value;
};

//! The token at the start of `bits` (the 57 or more stream bits from its position)
//! under the decoding table `table` (huffman_code::table).
ACTZIP_HD huffman_stream_token decode_huffman_token(const std::uint16_t* table, std::uint64_t bits) noexcept {
  const std::uint32_t entry = table[bits & (huffman_table_size - 1)];
  const unsigned len = entry >> 11, symbol = entry & 2047u;
  if (len == 0) return {0, 0, 0};
  bits >>= len;
  if (symbol < huffman_run_symbols)
    return {len + symbol, (1u << symbol) + static_cast<std::uint32_t>(bits & ((1u << symbol) - 1u)), 0};
  if (symbol < huffman_first_class_symbol) return {len, 1, symbol - (huffman_run_symbols - 1)};
  const unsigned extra = symbol - huffman_first_class_symbol + 10;  // k - 1 for bit length k = 11..32
  return {len + extra, 1, (1u << extra) | static_cast<std::uint32_t>(bits & ((std::uint64_t(1) << extra) - 1u))};
}

//! Decodes the segment of `count` elements that occupies bits [begin, end) of a bit
//! stream into zig-zagged deltas out[0, count), with the decoding table `table`
//! (huffman_code::table) and peek(position), which gives the 57 or more stream bits
//! from `position` (bits past the stream's end as zero). Returns false when the bits
//! are not exactly `count` elements' worth of valid symbols (a bit pattern no code
//! word starts, a run past the segment's end, bits left over or missing). Position
//! is the integer type of the positions. Every token stands for at least one
//! element, so this is the same as asking that the tokens from `begin` that start
//! before `end` be valid, end exactly at `end` and stand for `count` elements in
//! all, which is what the CUDA decoder checks when a warp decodes a segment.
template <class Position, class Peek>
ACTZIP_HD bool decode_huffman_bits(const std::uint16_t* table, Peek&& peek, Position begin, Position end,
                                   std::uint32_t count, std::uint32_t* out) noexcept {
  Position position = begin;
  std::uint32_t i = 0;
  while (i < count) {
    if (position >= end) return false;
    const huffman_stream_token t = decode_huffman_token(table, peek(position));
    if (t.bits == 0 || t.count > count - i) return false;
    position += t.bits;
    for (std::uint32_t k = 0; k < t.count; ++k) out[i + k] = t.value;
    i += t.count;
  }
  return position == end;
}

//! Decodes the segment of `count` elements that occupies bits [begin, end) of the
//! `size`-byte bit stream `in` into zig-zagged deltas out[0, count)
//! (decode_huffman_bits with peek_bits).
ACTZIP_HD bool decode_huffman_segment(const huffman_code& code, const unsigned char* in, std::uint64_t size,
                                      std::uint64_t begin, std::uint64_t end, std::uint32_t count,
                                      std::uint32_t* out) noexcept {
  return decode_huffman_bits(
      code.table, [&](std::uint64_t position) { return peek_bits(in, size, position); }, begin, end, count, out);
}

}  // namespace actzip
