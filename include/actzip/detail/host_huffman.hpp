// SPDX-License-Identifier: Apache-2.0
//
// The host executors' fast path for Huffman streams. The histogram pass prepares
// every chunk (quantization and the predictor trials) and counts its symbols; the
// encode pass needs the same symbols again. Instead of preparing each chunk twice,
// the histogram pass keeps each chunk's prepared symbols in the output buffer, in a
// slot that no chunk written before it can reach, and the encode pass reads them
// back and writes the chunk in one walk over its symbols with a table-driven bit
// writer. The bytes are those of choose_chunk and write_chunk (stages/chunk.hpp),
// which every other executor runs: the Huffman layout exactly when it is no larger
// than the raw one, and every symbol has a code word.
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/format/chunk.hpp>
#include <actzip/format/geometry.hpp>
#include <actzip/stages/chunk.hpp>
#include <actzip/stages/huffman.hpp>

#include <cstdint>
#include <cstring>

namespace actzip {
namespace detail {

//! A kept chunk's slot starts with a control word: kept_flag when the slot holds
//! the chunk (else the encode pass prepares it again), kept_nonempty when the chunk
//! is stored as something, the predictor in bits 16-17 and the lossless count in
//! bits 0-15. Then, for a kept non-empty chunk of n elements with L lossless values:
//! n 16-bit symbols (zig-zagged deltas), L 16-bit positions and L values.
inline constexpr std::uint32_t kept_flag = 0x80000000u;
inline constexpr std::uint32_t kept_nonempty = 0x40000000u;

//! Bytes of the slot that keeps a non-empty chunk of n elements of `value_size`
//! bytes with `lossless` values stored losslessly.
inline std::uint64_t kept_chunk_bytes(std::uint32_t n, std::uint32_t lossless, unsigned value_size) noexcept {
  return 4 + 2ull * n + std::uint64_t(lossless) * (2 + value_size);
}

//! Keeps a prepared Huffman chunk (s.coded[0, n), s.lossless_*, predictor m) in
//! `slot`, which holds raw_chunk_bytes(n, sizeof(T)) bytes. A chunk that does not
//! fit (a symbol of 2^16 or more, or lossless values that overflow the slot) is
//! marked as not kept.
template <class T>
void keep_prepared_chunk(const chunk_scratch<T>& s, std::uint32_t n, std::uint32_t lossless, predictor m,
                         bool nonempty, unsigned char* slot) noexcept {
  std::uint32_t control = (static_cast<std::uint32_t>(m) << 16) | lossless;
  if (!nonempty) {
    control |= kept_flag;
    std::memcpy(slot, &control, 4);
    return;
  }
  control |= kept_nonempty;
  if (kept_chunk_bytes(n, lossless, sizeof(T)) > raw_chunk_bytes(n, sizeof(T))) {
    std::memcpy(slot, &control, 4);
    return;
  }
  unsigned char* p = slot + 4;
  std::uint32_t high = 0, i = 0;
#if ACTZIP_HAS_SSE2
  // Shifting left then arithmetically right by 16 keeps the low 16 bits as a signed
  // value, which the signed saturating pack then stores unchanged.
  for (; i + 8 <= n; i += 8) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.coded + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.coded + i + 4));
    const __m128i over = _mm_or_si128(_mm_srli_epi32(a, 16), _mm_srli_epi32(b, 16));
    high |= static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi32(over, _mm_setzero_si128())) ^ 0xffff);
    const __m128i packed = _mm_packs_epi32(_mm_srai_epi32(_mm_slli_epi32(a, 16), 16),
                                           _mm_srai_epi32(_mm_slli_epi32(b, 16), 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 2 * i), packed);
  }
#endif
  for (; i < n; ++i) {
    high |= s.coded[i] >> 16;
    const std::uint16_t v = static_cast<std::uint16_t>(s.coded[i]);
    std::memcpy(p + 2 * i, &v, 2);
  }
  if (high == 0) {
    control |= kept_flag;
    p += 2 * n;
    std::memcpy(p, s.lossless_position, 2 * std::size_t(lossless));
    std::memcpy(p + 2 * std::size_t(lossless), s.lossless_value, sizeof(T) * std::size_t(lossless));
  }
  std::memcpy(slot, &control, 4);
}

//! A kept chunk's control word, read back.
struct kept_chunk {
  bool kept;
  bool nonempty;
  predictor m;
  std::uint32_t lossless;
};

//! Reads the control word of a slot and, for a kept non-empty chunk, its symbols
//! into s.coded[0, n) and its lossless values into s.lossless_*.
template <class T>
kept_chunk restore_prepared_chunk(const unsigned char* slot, std::uint32_t n, chunk_scratch<T>& s) noexcept {
  std::uint32_t control;
  std::memcpy(&control, slot, 4);
  const kept_chunk k{(control & kept_flag) != 0, (control & kept_nonempty) != 0,
                     static_cast<predictor>((control >> 16) & 3u), control & 0xffffu};
  if (!k.kept || !k.nonempty) return k;
  const unsigned char* p = slot + 4;
  std::uint32_t i = 0;
#if ACTZIP_HAS_SSE2
  for (; i + 8 <= n; i += 8) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(s.coded + i), _mm_unpacklo_epi16(v, _mm_setzero_si128()));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(s.coded + i + 4), _mm_unpackhi_epi16(v, _mm_setzero_si128()));
  }
#endif
  for (; i < n; ++i) {
    std::uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    s.coded[i] = v;
  }
  p += 2 * n;
  std::memcpy(s.lossless_position, p, 2 * std::size_t(k.lossless));
  std::memcpy(s.lossless_value, p + 2 * std::size_t(k.lossless), sizeof(T) * std::size_t(k.lossless));
  return k;
}

//! Index of the lowest set bit of a non-zero 64-bit word.
inline unsigned lowest_bit(std::uint64_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return static_cast<unsigned>(__builtin_ctzll(x));
#else
  unsigned k = 0;
  while (!(x & 1u)) x >>= 1, ++k;
  return k;
#endif
}

//! The walk by gaps: the statistics and the encoder visit each non-zero z[q] of a
//! segment in order, found from this mask 64 elements at a time, together with its
//! gap (the zeros right before it, since the previous non-zero value or the
//! segment's start), then the zeros after the last one. Maximal zero runs are then
//! exactly the non-zero gaps, so a run and the value after it are handled together,
//! without a branch on which comes next. Each caller writes the walk out, so that
//! its own state stays in registers.
//! Bit k set for each non-zero z[k], k < span (<= 64).
inline std::uint64_t nonzero_mask(const std::uint32_t* z, std::uint32_t span) noexcept {
  std::uint64_t mask = 0;
  std::uint32_t k = 0;
#if ACTZIP_HAS_SSE2
  const __m128i zero = _mm_setzero_si128();
  for (; k + 16 <= span; k += 16) {
    const __m128i* at = reinterpret_cast<const __m128i*>(z + k);
    const __m128i a = _mm_packs_epi32(_mm_cmpeq_epi32(_mm_loadu_si128(at), zero),
                                      _mm_cmpeq_epi32(_mm_loadu_si128(at + 1), zero));
    const __m128i b = _mm_packs_epi32(_mm_cmpeq_epi32(_mm_loadu_si128(at + 2), zero),
                                      _mm_cmpeq_epi32(_mm_loadu_si128(at + 3), zero));
    const std::uint32_t zeros = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_packs_epi16(a, b)));
    mask |= std::uint64_t(~zeros & 0xffffu) << k;
  }
#endif
  for (; k < span; ++k) mask |= std::uint64_t(z[k] != 0) << k;
  return mask;
}

//! huffman_run_tokens for host callers: nvcc refuses host lambdas passed to that
//! __host__ __device__ template, so the host encoder and its run table call this.
template <class Emit>
inline void host_run_tokens(std::uint32_t length, std::uint32_t min_run, Emit&& emit) {
  if (length < min_run) {
    for (std::uint32_t k = 0; k < length; ++k) emit(0u, 0u, 0u);
  } else {
    const huffman_token t = huffman_run_token(length);
    emit(t.symbol, t.extra, t.extra_bits);
  }
}

//! The statistics slot (huffman_statistics_slots) of a maximal run of `gap` zeros,
//! and huffman_statistics_slots (a slot past the statistics) for no run.
inline unsigned gap_slot(std::uint32_t gap) noexcept {
  return gap == 0 ? huffman_statistics_slots : huffman_run_slot(gap);
}

//! huffman_statistics of a segment z[0, count), added to counts[0,
//! huffman_statistics_slots], which has one slot more (counted into, and ignored).
inline void count_segment_statistics(const std::uint32_t* z, std::uint32_t count, std::uint32_t* counts) noexcept {
  // The walk by gaps (nonzero_mask). z and counts may alias as far as the
  // compiler knows, so the loop reads each symbol once, before counting.
  std::uint32_t start = 0;
  for (std::uint32_t base = 0; base < count; base += 64) {
    std::uint64_t mask = nonzero_mask(z + base, count - base < 64 ? count - base : 64);
    while (mask != 0) {
      const std::uint32_t q = base + lowest_bit(mask);
      mask &= mask - 1;
      const std::uint32_t v = z[q];
      const unsigned run_slot = gap_slot(q - start), value_slot = value_symbol(v);
      ++counts[run_slot];
      ++counts[value_slot];
      start = q + 1;
    }
  }
  ++counts[gap_slot(count - start)];
}

//! How a stream's encoder writes a maximal run of `gap` zeros (make_run_table): its
//! bits in the low 32 and their count in bits 32-39 (0 for no run); run_slow when
//! the run takes more than 32 bits (single zeros, below the code book's min_run)
//! and run_uncoded when a symbol it needs has no code word.
inline constexpr std::uint64_t run_slow = std::uint64_t(1) << 40, run_uncoded = std::uint64_t(1) << 41;

//! The run table of code book `code` for runs of 0 .. huffman_segment_elements zeros.
inline void make_run_table(const huffman_code& code, std::uint64_t* table) noexcept {
  table[0] = 0;
  for (std::uint32_t gap = 1; gap <= huffman_segment_elements; ++gap) {
    std::uint64_t bits = 0;
    unsigned count = 0;
    bool coded = true;
    auto add = [&](unsigned symbol, std::uint32_t extra, unsigned extra_bits) {
      coded = coded && code.length[symbol] != 0;
      if (count + code.length[symbol] + extra_bits <= 64)
        bits |= std::uint64_t(code.word[symbol] | extra << code.length[symbol]) << count;
      count += code.length[symbol] + extra_bits;
    };
    host_run_tokens(gap, code.min_run, add);
    table[gap] = !coded ? run_uncoded : count > 32 ? run_slow : bits | std::uint64_t(count) << 32;
  }
}

//! The encoding table of a code book: code word | length << 16 for each symbol (a
//! length of 0 for symbols outside the code).
inline void make_encoding_table(const huffman_code& code, std::uint32_t* table) noexcept {
  for (unsigned k = 0; k < huffman_symbol_count; ++k)
    table[k] = code.length[k] == 0 ? 0u : code.word[k] | static_cast<std::uint32_t>(code.length[k]) << 16;
}

//! Writes a prepared Huffman chunk (s.coded, s.lossless_*, predictor m) with the
//! code book `code` (encoding table `table`, make_encoding_table; run table `runs`,
//! make_run_table) to `out`, as
//! choose_chunk and write_chunk would for a chunk that is not all zero: Huffman
//! when that layout is no larger than the raw one and every symbol has a code word,
//! else raw. `out` must have raw_chunk_bytes of the chunk. Returns the size.
template <class T>
std::uint32_t write_huffman_chunk_fast(const T* data, const chunk_geometry& g, std::uint64_t chunk,
                                       std::uint32_t lossless, const chunk_scratch<T>& s, predictor m,
                                       const huffman_code& code, const std::uint32_t* table,
                                       const std::uint64_t* runs, unsigned char* out) noexcept {
  const std::uint32_t n = g.chunk_box(chunk).extent.count();
  const std::uint32_t raw = raw_chunk_bytes(n, sizeof(T));
  const std::uint32_t segments = huffman_segment_count(n);
  const std::uint32_t planes = 4 + static_cast<std::uint32_t>(pad4(2u * segments));
  const std::uint32_t lossless_bytes =
      static_cast<std::uint32_t>(pad4(2u * lossless) + pad4(std::uint64_t(sizeof(T)) * lossless));
  // raw, planes and lossless_bytes are multiples of 4, so a stream of b bytes fits
  // (pad4(b) <= room) exactly when b <= room.
  if (code.stored_lengths != 0 && planes + lossless_bytes <= raw) {
    // An LSB-first bit writer whose state stays in locals: each put stores the
    // buffer's low 32 bits at byte `next` of the stream (into `spill` when fewer
    // than 4 writable bytes are left there, the stream's room being raw - planes -
    // lossless_bytes and the bytes writable raw - planes) and moves on by 4 bytes
    // when they were full, without a branch.
    unsigned char* const stream = out + planes;
    const std::uint32_t room = raw - planes - lossless_bytes, writable = raw - planes;
    unsigned char spill[4];
    std::uint64_t buffer = 0;
    unsigned pending = 0;
    std::uint32_t next = 0;
    bool coded = true;
    auto put = [&](std::uint32_t value, unsigned count) {
      buffer |= std::uint64_t(value) << pending;
      pending += count;
      unsigned char* at = writable >= 4 && next <= writable - 4 ? stream + next : spill;
      store_le32(at, static_cast<std::uint32_t>(buffer));
      const unsigned full = pending >> 5;
      next += 4 * full;
      buffer >>= 32 * full;
      pending -= 32 * full;
    };
    auto put_symbol = [&](unsigned symbol, std::uint32_t extra, unsigned extra_bits) {
      const std::uint32_t t = table[symbol];
      coded = coded && t != 0;
      put(t & 0xffffu, t >> 16);
      if (extra_bits != 0) put(extra, extra_bits);
    };
    // A maximal run of `gap` zeros (none for 0), from the stream's run table.
    auto run = [&](std::uint32_t gap) {
      const std::uint64_t r = runs[gap];
      if (ACTZIP_LIKELY(r < run_slow)) {
        put(static_cast<std::uint32_t>(r), static_cast<unsigned>(r >> 32));
      } else {
        coded = coded && r != run_uncoded;
        host_run_tokens(gap, code.min_run, put_symbol);
      }
    };
    std::uint32_t segment_bits[huffman_max_segments] = {};
    std::uint64_t before = 0;
    for (std::uint32_t k = 0; k < segments && coded; ++k) {
      const std::uint32_t first = k * huffman_segment_elements;
      const std::uint32_t count = n - first < huffman_segment_elements ? n - first : huffman_segment_elements;
      const std::uint32_t* z = s.coded + first;
      // Each non-zero symbol with the zero run before it (the walk by gaps,
      // written out so that the writer's state stays in registers).
      std::uint32_t start = 0;
      for (std::uint32_t base = 0; base < count; base += 64) {
        std::uint64_t mask = nonzero_mask(z + base, count - base < 64 ? count - base : 64);
        while (mask != 0) {
          const std::uint32_t q = base + lowest_bit(mask);
          mask &= mask - 1;
          run(q - start);
          start = q + 1;
          const std::uint32_t v = z[q];
          if (ACTZIP_LIKELY(v < huffman_direct_limit)) {
            const std::uint32_t t = table[huffman_run_symbols - 1 + v];
            coded = coded && t != 0;
            put(t & 0xffffu, t >> 16);
          } else {
            const huffman_token t = huffman_value_token(v);
            put_symbol(t.symbol, t.extra, t.extra_bits);
          }
        }
      }
      run(count - start);
      const std::uint64_t bits = 8ull * next + pending;
      segment_bits[k] = static_cast<std::uint32_t>(bits - before);
      before = bits;
    }
    // The last partial bytes, if the stream fits.
    const std::uint32_t tail = (pending + 7) / 8;
    if (coded && std::uint64_t(next) + tail <= room) {
      for (std::uint32_t k = 0; k < tail; ++k, buffer >>= 8) stream[next + k] = static_cast<unsigned char>(buffer);
      const std::uint64_t bits = 8ull * next + pending;
      next += tail;
      const encoded_chunk_layout l = make_huffman_layout(n, bits, lossless, sizeof(T));
      store_le32(out, chunk_huffman_flag | static_cast<std::uint32_t>(m) << 16 | lossless);
      for (std::uint32_t k = 0; k < segments; ++k)
        store_le16(out + l.widths + 2 * k, static_cast<std::uint16_t>(segment_bits[k]));
      for (std::uint32_t i = l.widths + 2 * segments; i < l.planes; ++i) out[i] = 0;
      for (std::uint32_t i = l.planes + next; i < l.indices; ++i) out[i] = 0;
      write_lossless_sections(s, lossless, out + l.indices, out + l.values, out + l.total);
      return l.total;
    }
  }
  chunk_choice c{};
  c.type = chunk_view::kind::raw;
  c.bytes = raw;
  return write_chunk(data, g, chunk, lossless, s, c, &code, out);
}


//! The host decoder's table (make_decoding_table) has one 32-bit entry per value of
//! the next huffman_max_code_length stream bits, describing the token those bits
//! start: its code length (bits 0-3; 0 when no code word starts there), its extra
//! bits (4-8), a run flag (9), a class flag (10) and a base (11-21). The token's
//! extra bits x then stand for: a run of base + x zeros; a direct value, base; a
//! class value, 2^extra | x. 16 KiB, so that it stays in the L1 cache.
inline constexpr unsigned decode_run_flag = 1u << 9, decode_class_flag = 1u << 10;

//! The host decoder's table for `code` (huffman_table_size entries).
inline void make_decoding_table(const huffman_code& code, std::uint32_t* table) noexcept {
  for (unsigned i = 0; i < huffman_table_size; ++i) {
    const std::uint32_t entry = code.table[i];
    const unsigned len = entry >> 11, symbol = entry & 2047u;
    std::uint32_t e = 0;
    if (len != 0) {
      if (symbol < huffman_run_symbols)  // a run of 2^b + x zeros
        e = len | symbol << 4 | decode_run_flag | (1u << symbol) << 11;
      else if (symbol < huffman_first_class_symbol)  // one direct value
        e = len | (symbol - (huffman_run_symbols - 1)) << 11;
      else  // one value of bit length k: its leading one, then the k - 1 bits x
        e = len | (symbol - huffman_first_class_symbol + 10) << 4 | decode_class_flag;
    }
    table[i] = e;
  }
}

//! decode_huffman_segment with the host decoder's table: the same elements, and
//! false for exactly the same bit streams. `out` must have room for 8 elements past
//! `count` (tokens are stored 8 elements at a time; the elements past a token are
//! overwritten by the next one or lie past the segment).
inline bool decode_huffman_segment_fast(const std::uint32_t* table, const unsigned char* in, std::uint64_t size,
                                        std::uint64_t begin, std::uint64_t end, std::uint32_t count,
                                        std::uint32_t* out) noexcept {
  std::uint64_t position = begin;  // the next token's first bit
  std::uint32_t i = 0;
  // Decodes the token at the start of `bits` (at least huffman_max_symbol_bits valid
  // bits): stores its elements, returns its bit count, or 0 when it is not valid.
  auto token = [&](std::uint64_t bits) -> unsigned {
    const std::uint32_t e = table[bits & (huffman_table_size - 1)];
    const unsigned len = e & 15u, extra = (e >> 4) & 31u;
    const std::uint32_t x = static_cast<std::uint32_t>(bits >> len) & ((1u << extra) - 1u);
    const std::uint32_t run = 0u - ((e >> 9) & 1u), base = e >> 11;
    const std::uint32_t n = ((base + x) & run) | (1u & ~run);
    const std::uint32_t v = (base | x | ((e >> 10) & 1u) << extra) & ~run;
    if (ACTZIP_UNLIKELY(len == 0 || n > count - i)) return 0;
#if ACTZIP_HAS_SSE2
    const __m128i v4 = _mm_set1_epi32(static_cast<int>(v));
    for (std::uint32_t k = 0; k < n; k += 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i + k), v4);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i + k + 4), v4);
    }
#else
    for (std::uint32_t k = 0; k < n; ++k) out[i + k] = v;
#endif
    i += n;
    return len + extra;
  };
  // While 8 bytes can be read at `next`: a 64-bit buffer holding the `held` stream
  // bits from `position` in its low bits (zeros above them), with held + position
  // at the byte boundary `next`. Each token tops it up without a branch: the bytes
  // from `next` go in above the bits held, and `next` moves past the whole bytes
  // that fitted (held + 8 * ((63 - held) / 8) == held | 56 for held < 64).
  if (size >= 8 && (position >> 3) + 8 <= size) {
    const unsigned char* next = in + (position >> 3);
    const unsigned char* const last = in + (size - 8);
    std::uint64_t bits = load_le64(next) >> (position & 7);
    unsigned held = 56 - static_cast<unsigned>(position & 7);
    next += 7;
    while (i < count && next <= last) {
      if (ACTZIP_UNLIKELY(position >= end)) return false;
      bits |= load_le64(next) << held;
      next += (63 - held) >> 3;
      held |= 56;
      const unsigned used = token(bits);
      if (ACTZIP_UNLIKELY(used == 0)) return false;
      bits >>= used;
      held -= used;
      position += used;
    }
  }
  // The last bytes: one 57-bit read per token (bits past the stream read as zero).
  while (i < count) {
    if (ACTZIP_UNLIKELY(position >= end)) return false;
    const unsigned used = token(peek_bits(in, size, position));
    if (ACTZIP_UNLIKELY(used == 0)) return false;
    position += used;
  }
  return position == end;
}

//! decode_huffman_symbols with the host decoder's table (decode_huffman_segment_fast).
inline bool decode_huffman_symbols_fast(const chunk_view& view, const std::uint32_t* table, std::uint32_t n,
                                        std::uint32_t* values) noexcept {
  const unsigned char* stream = view.base + view.layout.planes;
  const std::uint64_t stream_bytes = view.layout.indices - view.layout.planes;
  std::uint64_t begin = 0;
  for (std::uint32_t k = 0; k < huffman_segment_count(n); ++k) {
    const std::uint32_t first = k * huffman_segment_elements;
    const std::uint32_t count = n - first < huffman_segment_elements ? n - first : huffman_segment_elements;
    const std::uint64_t end = begin + load_le16(view.base + view.layout.widths + 2 * k);
    if (!decode_huffman_segment_fast(table, stream, stream_bytes, begin, end, count, values + first)) return false;
    begin = end;
  }
  return true;
}

}  // namespace detail
}  // namespace actzip
