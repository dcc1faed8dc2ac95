// SPDX-License-Identifier: Apache-2.0
//
// The Huffman side of the CUDA executor. A Huffman chunk picks its predictor as
// choose_predictor does (the block sums predictor_cost for every predictor worth
// trying on the chunk's box) and codes the zig-zagged deltas of that predictor. Its
// bit stream is cut into segments of huffman_segment_elements (at most four a
// chunk). Encoding is the whole block's: each thread walks 16 consecutive codes and
// emits the tokens that start there (the shared token functions of
// stages/huffman.hpp, so the GPU follows every change of the alphabet or the code
// book); warp scans place each thread's bits, and every thread writes its own. A
// warp decodes each segment (decode_segment_warp: warps 0..3, 32 spans of the
// segment's bits walked at once and resynchronised).
//
// build_code_kernel: one block per Huffman or automatic tensor, after
// histogram_kernel (compress.cuh) has summed the statistics of every chunk: the
// block builds the code book make_stream_code would (see the comment above the
// kernel) in shared memory, copies it to the tensor's workspace slot for
// compress_kernel, and writes the serialised code book to the start of the payload.
//
// decode_setup_kernel: one block per stream, before decoding: resets the stream's
// status word and checksum slot, and parses its code book (Huffman and automatic
// streams) with parse_huffman_code into the stream's workspace slot, recording
// whether it was valid; decompress_kernel reads the verdict after the header and
// the checksum, as the host decoder does.
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/error.hpp>
#include <actzip/exec/cuda/chunk_plan.hpp>
#include <actzip/exec/cuda/common.cuh>
#include <actzip/format/header.hpp>
#include <actzip/stages/chunk.hpp>
#include <actzip/stages/huffman.hpp>
#include <actzip/stages/lorenzo.hpp>

#include <cstddef>
#include <cstdint>

namespace actzip {
namespace detail {
namespace gpu {

//! The segment warp tid / 32 decodes, or huffman_max_segments when that warp has
//! no segment of a chunk of n elements.
__device__ inline std::uint32_t segment_of_warp(unsigned tid, std::uint32_t n) {
  const std::uint32_t segment = tid / 32;
  return segment < huffman_segment_count(n) ? segment : huffman_max_segments;
}

//! choose_predictor for the chunk of box `e` whose quantization indices are in
//! `indices` (shared memory), run by the whole block: predictor_cost of each
//! predictor worth trying, summed by warps into `cost` (predictor_count shared
//! words), the cheapest one (the first on a tie) returned to every thread.
__device__ __forceinline__ predictor choose_predictor_block(const std::uint32_t* indices, box_extents e,
                                                            std::uint32_t* cost) {
  const unsigned tid = threadIdx.x;
  const unsigned tries = predictors_for(e);
  if (tries == 1) return predictor::lorenzo_3d;  // the only one worth trying (the same in every thread)
  const std::uint32_t n = e.count();
  // Full chunks (and edge chunks of power-of-two extents): neighbours by shifts.
  const bool pow2 = power_of_two_box(e);
  const unsigned shift2 = log2_of_power(e.e2), shift1 = log2_of_power(e.e1);
  if (tid < predictor_count) cost[tid] = 0;
  __syncthreads();
  for (unsigned k = 0; k < tries; ++k) {
    const predictor m = predictor_choice(e, k);
    std::uint32_t mine = 0;
#pragma unroll
    for (unsigned j = 0; j < items_per_thread; ++j) {
      const std::uint32_t i = j * block_threads + tid;
      if (i < n)
        mine += bit_width(zigzag_encode(pow2 ? predictor_delta(indices, i, position_in_pow2_box(i, shift2, shift1), m)
                                             : predictor_delta_at(indices, e, i, m)));
    }
    const std::uint32_t warp_cost = __reduce_add_sync(full_mask, mine);
    if (tid % 32 == 0) atomicAdd(cost + k, warp_cost);
  }
  __syncthreads();
  predictor best = predictor::lorenzo_3d;
  std::uint32_t best_cost = 0;
  for (unsigned k = 0; k < tries; ++k) {
    const std::uint32_t c = cost[k];
    if (k == 0 || c < best_cost) {
      best = predictor_choice(e, k);
      best_cost = c;
    }
  }
  return best;
}

//! The Huffman codes of the chunk of box `e` under predictor `m` (the zig-zagged
//! deltas prepare_huffman_chunk leaves in s.coded): element i's in coded[i], 0 past
//! the chunk's end. Each thread its elements j * block_threads + tid. Reads
//! `indices` only, so no barrier is needed before.
__device__ __forceinline__ void huffman_codes_block(const std::uint32_t* indices, box_extents e, predictor m,
                                                    std::uint32_t* coded) {
  const unsigned tid = threadIdx.x;
  const std::uint32_t n = e.count();
  const bool pow2 = power_of_two_box(e);
  const unsigned shift2 = log2_of_power(e.e2), shift1 = log2_of_power(e.e1);
#pragma unroll
  for (unsigned j = 0; j < items_per_thread; ++j) {
    const std::uint32_t i = j * block_threads + tid;
    if (i >= n)
      coded[i] = 0u;
    else
      coded[i] = zigzag_encode(pow2 ? predictor_delta(indices, i, position_in_pow2_box(i, shift2, shift1), m)
                                    : predictor_delta_at(indices, e, i, m));
  }
}

// The Huffman codes of a chunk are walked by the whole block: thread t owns the
// token_elements consecutive codes from token_elements * t (so token_threads
// threads share a segment, and a segment is whole warps). A thread emits the tokens
// that start in its range: each non-zero code's, and each maximal zero run's at the
// run's first zero, with the run's length taken from the first non-zero code after
// it (in its own range, or the first of the following threads of its segment: a
// suffix minimum over warps). The tokens and their order are those of
// huffman_tokens and huffman_statistics on the segment, so the bits are the host's.

//! Codes a thread walks, and threads a segment.
inline constexpr unsigned token_elements = max_chunk_elements / block_threads;
inline constexpr unsigned token_threads = huffman_segment_elements / token_elements;
inline constexpr unsigned token_warps = token_threads / 32;
static_assert(token_threads % 32 == 0 && huffman_max_segments * token_threads == block_threads,
              "a segment is whole warps, and a block covers a chunk's segments");
//! No element: larger than any element index of a chunk.
inline constexpr std::uint32_t no_element = 0xffffffffu;

//! Shared memory of the block walks over a chunk's Huffman codes.
struct token_shared {
  std::uint32_t warp_first[warps_per_block];  //!< per warp: its first non-zero code (no_element: none)
  std::uint32_t warp_bits[warps_per_block];   //!< per warp: bits of its tokens
  std::uint32_t warp_missing[warps_per_block];  //!< per warp: a token needs a symbol the code lacks
  std::uint32_t thread_bits[block_threads];   //!< per thread: bits before its tokens in its segment
};

//! The codes thread `threadIdx.x` owns in a chunk, and what it needs of the others'.
struct token_span {
  std::uint32_t first;        //!< its first code
  std::uint32_t end;          //!< the end of its codes (clipped to its segment; first when it has none)
  std::uint32_t nonzero;      //!< bit j: code first + j is non-zero
  std::uint32_t next;         //!< the first non-zero code after its codes in the segment, or the segment's end
  bool continues_run;         //!< its first code is zero and continues a run of the thread before
};

//! Loads the token_elements codes from z + first (16-byte aligned shared memory)
//! into c, without bank conflicts (load_shared_16).
__device__ __forceinline__ void load_token_codes(const std::uint32_t* z, std::uint32_t first,
                                                 std::uint32_t (&c)[token_elements]) {
  static_assert(token_elements == 16, "four quads a thread");
  load_shared_16(z + first, c);
}

//! The span of the calling thread over the codes z[0, n) of a chunk (z 16-byte
//! aligned, max_chunk_elements codes). Called by the whole block: has a barrier.
__device__ __forceinline__ token_span make_token_span(const std::uint32_t* z, std::uint32_t n, token_shared& sh) {
  const unsigned tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const std::uint32_t segment_begin = tid / token_threads * huffman_segment_elements;
  const std::uint32_t segment_end =
      n < segment_begin + huffman_segment_elements ? n : segment_begin + huffman_segment_elements;
  token_span s;
  s.first = tid * token_elements;
  s.end = s.first >= segment_end ? s.first : segment_end - s.first < token_elements ? segment_end : s.first + token_elements;
  std::uint32_t c[token_elements];
  load_token_codes(z, s.first, c);
  s.nonzero = 0;
#pragma unroll
  for (unsigned j = 0; j < token_elements; ++j) s.nonzero |= static_cast<std::uint32_t>(c[j] != 0) << j;
  s.nonzero &= (1u << (s.end - s.first)) - 1u;
  s.continues_run = s.first < s.end && s.first > segment_begin && (s.nonzero & 1u) == 0 && z[s.first - 1] == 0;
  // The first non-zero code of the later lanes of the warp (a suffix minimum), then
  // of the later warps of the segment.
  const std::uint32_t mine = s.nonzero != 0 ? s.first + static_cast<std::uint32_t>(__ffs(static_cast<int>(s.nonzero)) - 1) : no_element;
  std::uint32_t suffix = mine;
#pragma unroll
  for (unsigned d = 1; d < 32; d *= 2) {
    const std::uint32_t other = __shfl_down_sync(full_mask, suffix, d);
    if (lane + d < 32) suffix = other < suffix ? other : suffix;
  }
  std::uint32_t after = __shfl_down_sync(full_mask, suffix, 1);
  if (lane == 31) after = no_element;
  if (lane == 0) sh.warp_first[warp] = suffix;
  __syncthreads();
  for (unsigned w = warp + 1; w % token_warps != 0; ++w) after = sh.warp_first[w] < after ? sh.warp_first[w] : after;
  s.next = after != no_element ? after : segment_end;
  return s;
}

//! Walks the calling thread's codes of span `s`: run(first, length) for each
//! maximal zero run that starts there, value(v) for each non-zero code, in order.
template <class Run, class Value>
__device__ __forceinline__ void for_each_token_start(const std::uint32_t* z, const token_span& s, Run&& run,
                                                     Value&& value) {
  std::uint32_t c[token_elements];
  load_token_codes(z, s.first, c);
  bool in_run = s.continues_run;
#pragma unroll
  for (unsigned j = 0; j < token_elements; ++j) {
    if (s.first + j >= s.end) break;
    if (c[j] != 0) {
      value(c[j]);
      in_run = false;
    } else if (!in_run) {
      const std::uint32_t later = s.nonzero >> j;  // bit 0 is code j's, which is zero
      const std::uint32_t next = later != 0 ? s.first + j + static_cast<std::uint32_t>(__ffs(static_cast<int>(later)) - 1) : s.next;
      run(next - (s.first + j));
      in_run = true;
    }
  }
}

//! Adds the Huffman statistics of the chunk's codes z[0, n) to the shared counts:
//! what huffman_statistics adds for each of its segments. Called by the whole block.
__device__ __forceinline__ void count_chunk_statistics_block(const std::uint32_t* z, std::uint32_t n,
                                                             token_shared& sh, std::uint32_t* counts) {
  const token_span s = make_token_span(z, n, sh);
  for_each_token_start(
      z, s, [&](std::uint32_t length) { atomicAdd(counts + huffman_run_slot(length), 1u); },
      [&](std::uint32_t v) { atomicAdd(counts + detail::value_symbol(v), 1u); });
}

//! The encoding half of a code book (lengths, words, min_run), staged in shared
//! memory by the compress kernel for its token walks.
struct encoding_book {
  alignas(4) unsigned char length[huffman_symbol_count];
  std::uint16_t word[huffman_symbol_count];
  std::uint32_t min_run;
};

//! Copies the encoding half of `from` (global memory) into `to` (shared memory), in
//! 4-byte words. Called by the whole block; the copy is complete after its next
//! barrier.
__device__ __forceinline__ void stage_encoding_book_block(const huffman_code& from, encoding_book& to) {
  static_assert(huffman_symbol_count % 4 == 0 && offsetof(huffman_code, length) % 4 == 0 &&
                    offsetof(huffman_code, word) % 4 == 0,
                "the lengths and words copy as 4-byte words");
  const auto* length = reinterpret_cast<const std::uint32_t*>(from.length);
  const auto* word = reinterpret_cast<const std::uint32_t*>(from.word);
  for (unsigned k = threadIdx.x; k < huffman_symbol_count / 4; k += block_threads)
    reinterpret_cast<std::uint32_t*>(to.length)[k] = length[k];
  for (unsigned k = threadIdx.x; k < huffman_symbol_count / 2; k += block_threads)
    reinterpret_cast<std::uint32_t*>(to.word)[k] = word[k];
  if (threadIdx.x == 0) to.min_run = from.min_run;
}

//! Sizes the segments of the chunk's codes z[0, n) with `code`: segment_bits[k]
//! gets the bits of segment k (0 when it needs a symbol the code lacks, as
//! detail::huffman_segment_bits says, and for every k of huffman_max_segments
//! past the chunk's last segment), sh.thread_bits[t] those of the tokens before
//! thread t's in its segment. Called by the whole block; ends with a barrier.
__device__ __forceinline__ void size_chunk_segments_block(const encoding_book& code, const std::uint32_t* z,
                                                          std::uint32_t n, token_shared& sh,
                                                          std::uint32_t* segment_bits) {
  const unsigned tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const token_span s = make_token_span(z, n, sh);
  std::uint32_t bits = 0;
  bool missing = false;
  auto add = [&](unsigned symbol, std::uint32_t, unsigned extra_bits) {
    missing = missing || code.length[symbol] == 0;
    bits += code.length[symbol] + extra_bits;
  };
  for_each_token_start(
      z, s, [&](std::uint32_t length) { huffman_run_tokens(length, code.min_run, add); },
      [&](std::uint32_t v) { huffman_value_token(v, add); });
  // Bits before each thread's in its warp (an inclusive scan), then in its segment.
  std::uint32_t inclusive = bits;
#pragma unroll
  for (unsigned d = 1; d < 32; d *= 2) {
    const std::uint32_t other = __shfl_up_sync(full_mask, inclusive, d);
    if (lane >= d) inclusive += other;
  }
  const unsigned warp_missing = __ballot_sync(full_mask, missing);
  if (lane == 31) sh.warp_bits[warp] = inclusive;
  if (lane == 0) sh.warp_missing[warp] = warp_missing;
  __syncthreads();
  std::uint32_t before = inclusive - bits;
  for (unsigned w = warp - warp % token_warps; w < warp; ++w) before += sh.warp_bits[w];
  sh.thread_bits[tid] = before;
  // Every segment of the block, so that segment_bits is defined past the chunk's
  // last segment too (0: those threads have no codes), where the threads of
  // write_chunk_stream_block add it up.
  if (tid % token_threads == 0) {
    std::uint32_t total = 0;
    bool coded = true;
    for (unsigned w = warp; w < warp + token_warps; ++w) {
      total += sh.warp_bits[w];
      coded = coded && sh.warp_missing[w] == 0;
    }
    segment_bits[tid / token_threads] = coded ? total : 0u;
  }
  __syncthreads();
}

//! Stores the words of a chunk's bit stream: a word written by one thread alone is
//! stored, one that another thread's bits may share is ORed (the stream was zeroed
//! before). Shared or global memory.
struct word_store {
  std::uint32_t* words;
  __device__ void operator()(std::uint32_t word, std::uint32_t bits, bool shared) const {
    if (shared)
      atomicOr(words + word, bits);
    else
      words[word] = bits;
  }
};

//! Writes the bit stream of the chunk's codes z[0, n) with `code` into the zeroed
//! words `words` (the bits write_chunk writes), after size_chunk_segments_block left
//! the segments' bits in segment_bits and each thread's in sh.thread_bits (and no
//! barrier that lets sh.thread_bits change has passed since). Called by the whole
//! block.
__device__ __forceinline__ void write_chunk_stream_block(const encoding_book& code, const std::uint32_t* z,
                                                         std::uint32_t n, token_shared& sh,
                                                         const std::uint32_t* segment_bits, std::uint32_t* words) {
  const unsigned tid = threadIdx.x;
  std::uint32_t first_bit = sh.thread_bits[tid];
  for (unsigned k = 0; k < tid / token_threads; ++k) first_bit += segment_bits[k];
  const token_span s = make_token_span(z, n, sh);
  segment_word_writer<word_store> w(word_store{words}, first_bit);
  auto put = [&](unsigned symbol, std::uint32_t extra, unsigned extra_bits) {
    w.put(code.word[symbol], code.length[symbol]);
    if (extra_bits != 0) w.put(extra, extra_bits);
  };
  for_each_token_start(
      z, s, [&](std::uint32_t length) { huffman_run_tokens(length, code.min_run, put); },
      [&](std::uint32_t v) { huffman_value_token(v, put); });
  w.flush();
}

//! The 32 bits of the 64-bit value hi:lo from bit `shift` (< 32) on.
__device__ __forceinline__ std::uint32_t funnel_right(std::uint32_t lo, std::uint32_t hi, unsigned shift) {
#if defined(__CUDA_ARCH__)
  return __funnelshift_r(lo, hi, shift);
#else
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(hi) << 32 | lo) >> shift);
#endif
}

//! Reads a chunk's LSB-first bit stream through aligned 32-bit loads: a window of
//! three words, moved forward as the position advances, gives the 64 bits from any
//! position with two funnel shifts (peek_bits' bits: those past the stream's words
//! read as zero).
struct word_bit_reader {
  const std::uint32_t* words;  //!< the stream (4-byte aligned)
  std::uint32_t count;         //!< its words
  std::uint32_t at;            //!< the index of w0
  std::uint32_t w0, w1, w2;

  __device__ __forceinline__ std::uint32_t load(std::uint32_t k) const { return k < count ? words[k] : 0u; }

  __device__ __forceinline__ word_bit_reader(const std::uint32_t* w, std::uint32_t c, std::uint32_t position)
      : words(w), count(c), at(position / 32), w0(load(at)), w1(load(at + 1)), w2(load(at + 2)) {}

  //! The 64 stream bits from `position` (not before the last position peeked).
  __device__ __forceinline__ std::uint64_t peek(std::uint32_t position) {
    while (position / 32 > at) {
      w0 = w1;
      w1 = w2;
      ++at;
      w2 = load(at + 2);
    }
    const unsigned shift = position % 32;
    return static_cast<std::uint64_t>(funnel_right(w1, w2, shift)) << 32 | funnel_right(w0, w1, shift);
  }
};

//! A position no stream has: where a walk that met a bit pattern starting no code
//! word ends. The lanes after it start there and walk nothing, so it reaches the
//! last lane and the segment is refused.
inline constexpr std::uint32_t huffman_no_position = 0xffffffffu;

//! What one lane's walk over its share of a segment found: the position after the
//! last token that starts before its limit (so the first token start at or past
//! it; huffman_no_position after an invalid pattern), and the elements those tokens
//! stand for.
struct segment_walk {
  std::uint32_t exit;
  std::uint32_t elements;
};

//! Walks the tokens of a bit stream (`word_count` aligned words) from `start` while
//! they start before `limit`, under the decoding table `table`; with Write, stores
//! their elements from out[0] on (decode_huffman_token, as the host decodes).
template <bool Write>
__device__ __forceinline__ segment_walk walk_segment_tokens(const std::uint16_t* table, const std::uint32_t* words,
                                                            std::uint32_t word_count, std::uint32_t start,
                                                            std::uint32_t limit, std::uint32_t* out) {
  segment_walk w{start, 0};
  if (start >= limit) return w;
  word_bit_reader reader(words, word_count, start);
  std::uint32_t position = start;
  while (position < limit) {
    const huffman_stream_token t = decode_huffman_token(table, reader.peek(position));
    if (t.bits == 0) {
      w.exit = huffman_no_position;
      return w;
    }
    position += t.bits;
    if (Write)
      for (std::uint32_t k = 0; k < t.count; ++k) out[w.elements + k] = t.value;
    w.elements += t.count;
  }
  w.exit = position;
  return w;
}

//! Decodes segment `segment` of the validated Huffman chunk `view` of n elements
//! into z (the whole chunk's zig-zag codes) with the decoding table `table` (in
//! shared memory) of a code book that is not empty, by the whole warp; every lane
//! gets the same answer, false when the bits are not valid for the code (exactly
//! when the host's decode_huffman_bits refuses them).
//!
//! The segment's bits are cut into 32 spans of equal length, one a lane. A Huffman
//! stream has no marks between tokens, so only lane 0 knows where its first token
//! starts; every other lane first guesses the start of its span, walks the tokens
//! that start inside it (decode_huffman_token) and hands the position after the
//! last one to the next lane as that lane's start. A lane whose start changed walks
//! again, until no start changes: after round r lanes 0..r hold true starts, so
//! that takes at most 32 rounds, and usually two or three, because a walk begun in
//! the middle of a token soon falls back onto token starts. Then the lanes' element
//! counts are scanned into offsets, the segment is checked as a whole (the last
//! token ending at the segment's end, which an invalid pattern never does, and
//! `count` elements), and each lane walks its span once more, writing.
__device__ __noinline__ bool decode_segment_warp(const std::uint16_t* table, const chunk_view& view,
                                                 std::uint32_t n, std::uint32_t segment, std::uint32_t* z) {
  constexpr unsigned full = 0xffffffffu;
  const unsigned lane = threadIdx.x % 32;
  const auto* stream = reinterpret_cast<const std::uint32_t*>(view.base + view.layout.planes);
  const std::uint32_t stream_words = (view.layout.indices - view.layout.planes) / 4;
  std::uint32_t begin = 0;
  for (std::uint32_t k = 0; k < segment; ++k) begin += load_le16(view.base + view.layout.widths + 2 * k);
  const std::uint32_t bits = load_le16(view.base + view.layout.widths + 2 * segment);
  const std::uint32_t end = begin + bits;
  const std::uint32_t count = huffman_segment_length(n, segment);
  const std::uint32_t span = (bits + 31) / 32;
  const std::uint32_t first = begin + (lane * span < bits ? lane * span : bits);
  const std::uint32_t limit = lane == 31 || (lane + 1) * span >= bits ? end : begin + (lane + 1) * span;

  std::uint32_t start = first;
  segment_walk w = walk_segment_tokens<false>(table, stream, stream_words, start, limit, nullptr);
  for (;;) {
    const std::uint32_t handed = __shfl_up_sync(full, w.exit, 1);
    const bool moved = lane != 0 && handed != start;
    if (__any_sync(full, moved) == 0) break;
    if (moved) {
      start = handed;
      w = walk_segment_tokens<false>(table, stream, stream_words, start, limit, nullptr);
    }
  }

  std::uint32_t before = w.elements;  // inclusive scan of the lanes' elements
  for (unsigned d = 1; d < 32; d *= 2) {
    const std::uint32_t v = __shfl_up_sync(full, before, d);
    if (lane >= d) before += v;
  }
  const std::uint32_t total = __shfl_sync(full, before, 31);
  const std::uint32_t last_exit = __shfl_sync(full, w.exit, 31);
  before -= w.elements;
  const bool bad = last_exit != end || total != count;
  if (!bad) walk_segment_tokens<true>(table, stream, stream_words, start, limit, z + segment * huffman_segment_elements + before);
  return !bad;
}

// build_code_kernel: the code book make_stream_code builds, by a block. The code
// lengths depend only on the order of the used symbols by (count, symbol) and on
// how many leaves the Huffman tree has at each depth (build_huffman_lengths hands
// the lengths out in that order from the longest), so the block computes those:
//  1. the used symbols that are not run symbols (their counts are the same for
//     every min_run choice) are ranked in parallel, each thread comparing its
//     symbols' counts with all the others';
//  2. for each min_run choice, one thread makes the run symbols' counts
//     (min_run_counts) and sorts the used ones (at most 11);
//  3. for each choice, one thread (lane 0 of its own warp, three choices at a time)
//     builds the tree with the two queues of build_huffman_lengths over the merged
//     order, keeping only the inner nodes (weights, then parent links turned into
//     depths in place), from which the leaves at each depth follow, and folds the
//     lengths to 12 (limit_code_lengths);
//  4. every thread finds the length of its symbols from their place in the merged
//     order, and the choice's stream bits are summed; the first smallest wins;
//  5. the canonical code words come from ballots over the lengths (one warp), the
//     decoding table from the canonical ranges (every thread its 16 entries).

//! Choices of min_run whose trees are built at the same time (shared memory).
inline constexpr unsigned tree_builders = 3;
//! Depths a Huffman tree of 64-bit counts can reach, and more.
inline constexpr unsigned tree_depths = 128;

//! Shared memory of build_code_kernel (about 40 KiB).
struct build_code_shared {
  std::uint64_t statistics[huffman_statistics_slots];  //!< the tensor's histogram
  std::uint64_t run_count[huffman_min_run_choices][huffman_run_symbols];  //!< per choice: the run symbols' counts
  std::uint64_t bits[huffman_min_run_choices];         //!< per choice: the stream's bits
  std::uint16_t sorted[huffman_symbol_count];          //!< used symbols >= 11, by (count, symbol)
  std::uint16_t run_sorted[huffman_min_run_choices][huffman_run_symbols];  //!< per choice: used run symbols, sorted
  std::uint32_t run_used[huffman_min_run_choices];
  std::uint32_t length_count[huffman_min_run_choices][tree_depths];  //!< per choice: leaves per depth, then per length
  std::uint32_t first_code[huffman_max_code_length + 1];  //!< canonical: the first code word of each length
  std::uint32_t first_rank[huffman_max_code_length + 1];  //!< canonical: symbols of shorter lengths
  std::uint32_t nonrun_used;
  std::uint32_t best;  //!< the chosen min_run choice
  union {
    std::uint64_t inner[tree_builders][huffman_symbol_count];  //!< the trees' inner nodes
    struct {
      huffman_code code;
      std::uint16_t canonical[huffman_symbol_count];  //!< used symbols by (length, symbol)
    } out;
  } u;
};

//! The count of symbol `s` under min_run choice `k`.
__device__ __forceinline__ std::uint64_t choice_count(const build_code_shared& sh, unsigned k, unsigned s) {
  return s < huffman_run_symbols ? sh.run_count[k][s] : sh.statistics[s];
}

//! (count a, symbol a) < (count b, symbol b): the order of build_huffman_lengths.
__device__ __forceinline__ bool key_less(std::uint64_t ca, unsigned a, std::uint64_t cb, unsigned b) {
  return ca < cb || (ca == cb && a < b);
}

//! Leaves per depth of the Huffman tree build_huffman_lengths builds for choice k
//! (at least two used symbols), in sh.length_count[k], folded to at most 12 (the
//! lengths per length). One thread; `inner` holds the tree's inner nodes.
__device__ __noinline__ void build_choice_lengths(build_code_shared& sh, unsigned k, std::uint64_t* inner) {
  const std::uint32_t nonrun = sh.nonrun_used, runs = sh.run_used[k], used = nonrun + runs;
  std::uint32_t* depth_count = sh.length_count[k];
  // The leaves in order: sh.sorted merged with the choice's run symbols.
  std::uint32_t a = 0, b = 0;
  auto leaf_weight = [&]() -> std::uint64_t {
    if (b < runs) {
      const unsigned r = sh.run_sorted[k][b];
      const std::uint64_t cr = sh.run_count[k][r];
      if (a >= nonrun) return cr;
      const unsigned n = sh.sorted[a];
      const std::uint64_t cn = sh.statistics[n];
      return key_less(cr, r, cn, n) ? cr : cn;
    }
    return sh.statistics[sh.sorted[a]];
  };
  auto take_leaf = [&]() {
    if (b < runs) {
      const unsigned r = sh.run_sorted[k][b];
      if (a >= nonrun || key_less(sh.run_count[k][r], r, sh.statistics[sh.sorted[a]], sh.sorted[a])) {
        ++b;
        return;
      }
    }
    ++a;
  };
  // Two queues (build_huffman_lengths): the leaf when a leaf and an inner node weigh
  // the same. inner[j] is inner node j's weight while it waits, then its parent.
  std::uint32_t root = 0;  // the next inner node to take
  for (std::uint32_t next = 0; next + 1 < used; ++next) {
    std::uint64_t weight = 0;
    for (int t = 0; t < 2; ++t) {
      const bool leaf_left = a + b < used, inner_waiting = root < next;
      const std::uint64_t leaf = leaf_left ? leaf_weight() : 0u;
      if (leaf_left && (!inner_waiting || leaf <= inner[root])) {
        weight += leaf;
        take_leaf();
      } else {
        weight += inner[root];
        inner[root++] = next;
      }
    }
    inner[next] = weight;
  }
  // Depths of the inner nodes (a parent comes after its children), counted; then the
  // leaves at depth d are the children of the inner nodes at depth d - 1 that are
  // not inner nodes.
  for (unsigned d = 0; d < tree_depths; ++d) depth_count[d] = 0;
  const std::uint32_t top = used - 2;
  inner[top] = 0;
  depth_count[0] = 1;
  for (std::uint32_t j = top; j-- > 0;) {
    inner[j] = inner[inner[j]] + 1;
    ++depth_count[inner[j]];
  }
  unsigned longest = 0;
  for (unsigned d = tree_depths - 1; d > 0; --d) {
    depth_count[d] = 2 * depth_count[d - 1] - depth_count[d];
    if (longest == 0 && depth_count[d] != 0) longest = d;
  }
  depth_count[0] = 0;
  limit_code_lengths(depth_count, longest);
}

//! The code length choice k gives symbol s (used under it) at place `place` of the
//! merged order: the lengths go out from the longest, in order.
__device__ __forceinline__ unsigned length_at(const build_code_shared& sh, unsigned k, std::uint32_t place) {
  std::uint32_t end = 0;
  for (unsigned len = huffman_max_code_length; len >= 1; --len) {
    end += sh.length_count[k][len];
    if (place < end) return len;
  }
  return 0;
}

//! Calls f(symbol, length) for every used symbol of choice k that this thread
//! handles (sh.sorted and the run symbols, strided over the block).
template <class F>
__device__ __forceinline__ void for_each_choice_length(const build_code_shared& sh, unsigned k, F&& f) {
  const unsigned tid = threadIdx.x;
  const std::uint32_t nonrun = sh.nonrun_used, runs = sh.run_used[k];
  for (std::uint32_t r = tid; r < nonrun; r += block_threads) {
    const unsigned s = sh.sorted[r];
    const std::uint64_t c = sh.statistics[s];
    std::uint32_t place = r;
    for (std::uint32_t q = 0; q < runs; ++q) {
      const unsigned run = sh.run_sorted[k][q];
      place += key_less(sh.run_count[k][run], run, c, s) ? 1u : 0u;
    }
    f(s, length_at(sh, k, place));
  }
  if (tid < runs) {
    const unsigned s = sh.run_sorted[k][tid];
    const std::uint64_t c = sh.run_count[k][s];
    // The non-run symbols before it: a binary search of sh.sorted.
    std::uint32_t lo = 0, hi = nonrun;
    while (lo < hi) {
      const std::uint32_t mid = (lo + hi) / 2;
      const unsigned m = sh.sorted[mid];
      if (key_less(sh.statistics[m], m, c, s)) lo = mid + 1;
      else hi = mid;
    }
    f(s, length_at(sh, k, lo + tid));
  }
}

template <class T>
__global__ void __launch_bounds__(block_threads) build_code_kernel(const __grid_constant__ compress_launch<T> launch) {
  __shared__ build_code_shared sh;
  const compress_task<T>& task = launch.task[blockIdx.x];
  if (task.huffman == nullptr) return;  // a bitplane tensor
  const unsigned tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  for (unsigned k = tid; k < huffman_statistics_slots; k += block_threads) sh.statistics[k] = task.huffman->histogram[k];
  if (tid == 0) sh.nonrun_used = 0;
  __syncthreads();

  // 1. The used non-run symbols ranked by (count, symbol): each thread its (at most
  // five) symbols against every other.
  constexpr unsigned per_thread = (huffman_symbol_count - huffman_run_symbols + block_threads - 1) / block_threads;
  std::uint32_t rank[per_thread];
  std::uint64_t mine[per_thread];
#pragma unroll
  for (unsigned j = 0; j < per_thread; ++j) {
    const unsigned s = huffman_run_symbols + j * block_threads + tid;
    mine[j] = s < huffman_symbol_count ? sh.statistics[s] : 0u;
    rank[j] = 0;
  }
  for (unsigned t = huffman_run_symbols; t < huffman_symbol_count; ++t) {
    const std::uint64_t c = sh.statistics[t];
    if (c == 0) continue;
#pragma unroll
    for (unsigned j = 0; j < per_thread; ++j) {
      const unsigned s = huffman_run_symbols + j * block_threads + tid;
      rank[j] += key_less(c, t, mine[j], s) ? 1u : 0u;
    }
  }
  std::uint32_t used = 0;
#pragma unroll
  for (unsigned j = 0; j < per_thread; ++j) {
    const unsigned s = huffman_run_symbols + j * block_threads + tid;
    if (s < huffman_symbol_count && mine[j] != 0) {
      sh.sorted[rank[j]] = static_cast<std::uint16_t>(s);
      ++used;
    }
  }
  if (used != 0) atomicAdd(&sh.nonrun_used, used);

  // 2. Per min_run choice, the run symbols' counts, the used ones sorted.
  if (tid < huffman_min_run_choices) {
    const unsigned k = tid;
    std::uint64_t long_runs[huffman_run_symbols];
    for (unsigned b = 0; b < huffman_run_symbols; ++b) long_runs[b] = sh.statistics[b];
    std::uint64_t* counts = sh.run_count[k];
    min_run_counts(sh.statistics + huffman_symbol_count, long_runs, huffman_min_run_choice(k), counts);
    std::uint32_t runs = 0;
    for (unsigned b = 0; b < huffman_run_symbols; ++b) {
      if (counts[b] == 0) continue;
      std::uint32_t at = runs++;  // insertion by (count, symbol)
      for (; at > 0 && key_less(counts[b], b, counts[sh.run_sorted[k][at - 1]], sh.run_sorted[k][at - 1]); --at)
        sh.run_sorted[k][at] = sh.run_sorted[k][at - 1];
      sh.run_sorted[k][at] = static_cast<std::uint16_t>(b);
    }
    sh.run_used[k] = runs;
    sh.bits[k] = 0;
  }
  __syncthreads();

  // 3. The lengths per length of each choice, three trees at a time.
  for (unsigned first = 0; first < huffman_min_run_choices; first += tree_builders) {
    const unsigned k = first + warp;
    if (lane == 0 && warp < tree_builders && k < huffman_min_run_choices) {
      const std::uint32_t leaves = sh.nonrun_used + sh.run_used[k];
      if (leaves >= 2) {
        build_choice_lengths(sh, k, sh.u.inner[warp]);
      } else {  // no symbol, or one of length 1 (build_huffman_lengths)
        for (unsigned d = 0; d < tree_depths; ++d) sh.length_count[k][d] = 0;
        sh.length_count[k][1] = leaves;
      }
    }
    __syncthreads();
  }

  // 4. The stream's bits under each choice; the first smallest wins.
  for (unsigned k = 0; k < huffman_min_run_choices; ++k) {
    std::uint64_t bits = 0;
    for_each_choice_length(sh, k, [&](unsigned s, unsigned len) {
      bits += choice_count(sh, k, s) * (len + huffman_extra_bits(s));
    });
    for (unsigned d = 16; d > 0; d /= 2) bits += __shfl_xor_sync(full_mask, bits, d);
    if (lane == 0 && bits != 0) atomicAdd(reinterpret_cast<unsigned long long*>(&sh.bits[k]), static_cast<unsigned long long>(bits));
  }
  __syncthreads();
  if (tid == 0) {
    unsigned best = 0;
    for (unsigned k = 1; k < huffman_min_run_choices; ++k)
      if (sh.bits[k] < sh.bits[best]) best = k;
    sh.best = best;
  }
  __syncthreads();

  // 5. The code book of the chosen lengths (make_huffman_code, finish_huffman_code).
  const unsigned best = sh.best;
  huffman_code& code = sh.u.out.code;
  for (unsigned s = tid; s < huffman_symbol_count; s += block_threads) code.length[s] = 0;
  __syncthreads();
  for_each_choice_length(sh, best, [&](unsigned s, unsigned len) { code.length[s] = static_cast<unsigned char>(len); });
  if (tid == 0) {
    std::uint32_t word = 0, rank_before = 0;
    for (unsigned len = 1; len <= huffman_max_code_length; ++len) {
      word = (word + (len > 1 ? sh.length_count[best][len - 1] : 0u)) << 1;
      sh.first_code[len] = word;
      sh.first_rank[len] = rank_before;
      rank_before += sh.length_count[best][len];
    }
    code.min_run = huffman_min_run_choice(best);
  }
  __syncthreads();
  // Canonical words: a symbol's word is its length's first word plus the used
  // symbols of that length before it (one warp, 32 symbols a step).
  if (warp == 0) {
    std::uint32_t before[huffman_max_code_length + 1] = {};
    std::uint32_t last_used = 0;
    for (unsigned base = 0; base < huffman_symbol_count; base += 32) {
      const unsigned s = base + lane;
      const unsigned len = s < huffman_symbol_count ? code.length[s] : 0u;
      std::uint32_t place = 0;
#pragma unroll
      for (unsigned l = 1; l <= huffman_max_code_length; ++l) {
        const unsigned same = __ballot_sync(full_mask, len == l);
        if (len == l) place = before[l] + population_count(same & ((1u << lane) - 1u));
        before[l] += population_count(same);
      }
      if (s < huffman_symbol_count) {
        if (len != 0) {
          const std::uint32_t w = sh.first_code[len] + place;
          code.word[s] = static_cast<std::uint16_t>(__brev(w) >> (32 - len));
          sh.u.out.canonical[sh.first_rank[len] + place] = static_cast<std::uint16_t>(s);
        } else {
          code.word[s] = 0;
        }
      }
      const unsigned any = __ballot_sync(full_mask, len != 0);
      if (any != 0) last_used = base + 32 - static_cast<unsigned>(count_leading_zeros(any));
    }
    if (lane == 0) code.stored_lengths = last_used;
  }
  __syncthreads();
  // The decoding table: entry e is the symbol whose code word its low bits start
  // with, found from the canonical ranges (0 where none does).
  for (unsigned e = tid; e < huffman_table_size; e += block_threads) {
    const std::uint32_t r = __brev(e) >> (32 - huffman_max_code_length);  // the stream's bits, first bit highest
    std::uint16_t entry = 0;
    for (unsigned len = 1; len <= huffman_max_code_length; ++len) {
      const std::uint32_t v = r >> (huffman_max_code_length - len);
      if (v - sh.first_code[len] < sh.length_count[best][len]) {
        entry = static_cast<std::uint16_t>(sh.u.out.canonical[sh.first_rank[len] + v - sh.first_code[len]] | len << 11);
        break;
      }
    }
    code.table[e] = entry;
  }
  __syncthreads();
  copy_words_block(&task.huffman->code, &code, sizeof(huffman_code));
  if (tid == 0) write_huffman_code(code, task.output + header_bytes + chunk_offset_bytes * task.geometry.count);
}

//! Parses the code book of a stream (one thread): code_state_none for a bitplane
//! stream or a header that does not parse (decompress_kernel reports that), else
//! whether parse_huffman_code accepted it, and its size in *bytes.
__device__ __noinline__ std::uint32_t read_code_book(const unsigned char* stream, std::uint64_t stream_size,
                                                     huffman_code& code, std::uint32_t* bytes) {
  header h;
  if (parse_header(stream, stream_size, &h) != status::success || h.codec == codec::bitplane) return code_state_none;
  const unsigned char* payload = stream + header_bytes + chunk_offset_bytes * h.chunk_count;
  return parse_huffman_code(payload, h.payload_bytes, code, bytes) == status::success ? code_state_valid
                                                                                      : code_state_corrupt;
}

//! Shared memory of decode_setup_kernel.
struct decode_setup_shared {
  huffman_code code;
  std::uint32_t state;
  std::uint32_t bytes;
};

template <class T>
__global__ void __launch_bounds__(block_threads)
    decode_setup_kernel(const __grid_constant__ decompress_launch<T> launch) {
  __shared__ decode_setup_shared sh;
  const decompress_task<T>& task = launch.task[blockIdx.x];
  if (threadIdx.x == 0) {
    *task.device_status = status::success;
    if (task.checksum != nullptr) *task.checksum = checksum_slot{0, 0, checksum_verdict_unknown};
    std::uint32_t bytes = 0;
    sh.state = read_code_book(task.stream, task.stream_size, sh.code, &bytes);
    sh.bytes = bytes;
  }
  __syncthreads();
  if (sh.state == code_state_valid) copy_words_block(&task.code->code, &sh.code, sizeof(huffman_code));
  if (threadIdx.x == 0) {
    task.code->state = sh.state;
    task.code->bytes = sh.bytes;
  }
}

}  // namespace gpu
}  // namespace detail
}  // namespace actzip
