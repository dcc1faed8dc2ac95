// SPDX-License-Identifier: Apache-2.0
//
// The decompression kernels of the CUDA executor. The header is parsed on the
// device (by every block, from the same 128 bytes), so no host round trip is
// needed; the code book of a Huffman or automatic stream was parsed before by
// decode_setup_kernel (huffman.cuh). Blocks then take chunks grid-stride. A chunk
// is validated with the shared parser steps (format/chunk.hpp) before any byte it
// describes is read: for a bitplane chunk the prologue by one thread, the width
// bytes one group per thread, the layout, then the positions one per thread; a
// Huffman chunk's prologue by one thread with parse_huffman_prologue, then its
// positions one per thread while its segments decode. Any failure records an
// error status in device memory and leaves the chunk; nothing is read or written
// out of bounds. Decoding: warps rebuild groups from their planes with shuffles,
// or a warp per segment decodes a Huffman segment (decode_segment_warp: 32 spans
// walked at once and resynchronised, the decoding table in shared memory, the bits
// through aligned words); the block's
// next chunk's offsets are prefetched into L2 while it decodes;
// then a segmented block scan and two column passes undo the Lorenzo deltas (for a
// Huffman chunk its predictor's: predictor_inverse), and the shared reconstruct()
// writes the values; lossless values are written last.
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/core/dtype.hpp>
#include <actzip/exec/cuda/common.cuh>
#include <actzip/exec/cuda/huffman.cuh>
#include <actzip/format/chunk.hpp>
#include <actzip/format/geometry.hpp>
#include <actzip/format/header.hpp>
#include <actzip/stages/lorenzo.hpp>
#include <actzip/stages/quantize.hpp>

#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace actzip {
namespace detail {
namespace gpu {

//! A value of a segmented prefix sum and whether it starts a segment.
struct segment_sum {
  std::uint32_t value;
  std::uint32_t head;
};

//! The associative operator of a segmented inclusive sum (wrap-around arithmetic).
struct segment_sum_op {
  __device__ segment_sum operator()(const segment_sum& a, const segment_sum& b) const {
    return b.head != 0 ? b : segment_sum{a.value + b.value, a.head};
  }
};

//! The largest compressed chunk decompress_kernel copies into shared memory before
//! decoding it (a larger one, a raw chunk of 16- or 32-bit elements or a chunk of
//! 64-bit ones, is read where it lies).
inline constexpr std::uint32_t chunk_stage_bytes = 16384;

//! Shared memory of decompress_kernel.
struct decompress_shared {
  using width_scan = cub::BlockScan<std::uint32_t, block_threads>;
  using row_scan = cub::BlockScan<segment_sum, block_threads>;
  alignas(16) std::uint32_t values[max_chunk_elements];  //!< 16-byte aligned: the row scan's vector accesses
  //! The chunk being decoded, copied in by the block: from byte `begin % 16` on, so
  //! that its 16-byte-aligned words are aligned here too.
  alignas(16) unsigned char stage[chunk_stage_bytes + 16];
  std::uint32_t width[max_groups];
  std::uint32_t plane_offset[max_groups];
  std::uint32_t bitmap[max_groups / 32];
  std::uint32_t row_carry[block_threads];  //!< the row scan: each thread's running sum at its end
  //! Huffman and automatic streams: the decoding table of the stream's code book,
  //! copied from the workspace once per stream (no global load per symbol).
  std::uint16_t code_table[huffman_table_size];
  chunk_geometry::box box;                 //!< the chunk being decoded (read where used, not held in registers)
  union {
    typename width_scan::TempStorage widths;
    typename row_scan::TempStorage rows;
  } scan;
  // The stream being decoded.
  chunk_geometry geometry;
  double absolute_bound;
  int preserve_sign;
  int header_status;
  int codec;                 //!< the stream's codec
  std::uint32_t code_bytes;  //!< size of its code book (0 for bitplane streams): the first chunk offset
  unsigned long long payload_bytes;
  // The chunk being decoded.
  int bad;
  int kind;
  int predictor_code;  //!< Huffman chunks: the predictor
  std::uint32_t lossless;
  std::uint32_t nonzero;
  encoded_chunk_layout layout;
  unsigned long long begin;
  unsigned long long size;
};

__device__ inline unsigned long long load_u64_words(const unsigned char* at) {
  const unsigned long long lo = reinterpret_cast<const std::uint32_t*>(at)[0];
  const unsigned long long hi = reinterpret_cast<const std::uint32_t*>(at)[1];
  return lo | hi << 32;
}

//! Parses and checks a stream's header into the shared fields (one thread; kept out
//! of line so that its registers do not count against the decoding loop).
__device__ __noinline__ status read_stream_header(decompress_shared& sh, const unsigned char* stream,
                                                  std::uint64_t stream_size, std::uint64_t output_count, dtype type,
                                                  const checksum_slot* checksum, const stream_code_slot* code) {
  header h;
  status s = parse_header(stream, stream_size, &h);
  if (s == status::success && h.dtype != type) s = status::dtype_mismatch;
  if (s == status::success && h.element_count > output_count) s = status::buffer_too_small;
  // Verified like the host does: after the header, before any chunk.
  if (s == status::success && checksum != nullptr && h.has_checksum() &&
      checksum->verdict != checksum_verdict_match)
    s = status::checksum_mismatch;
  // Then the code book (decode_setup_kernel parsed it from the same header).
  if (s == status::success && h.codec != codec::bitplane && code->state != code_state_valid) s = status::corrupt_stream;
  if (s == status::success) {
    sh.geometry = make_chunk_geometry(h.shape);
    sh.absolute_bound = h.absolute_bound;
    sh.preserve_sign = h.preserve_sign ? 1 : 0;
    sh.payload_bytes = h.payload_bytes;
    sh.codec = static_cast<int>(h.codec);
    sh.code_bytes = h.codec != codec::bitplane ? code->bytes : 0u;
  }
  sh.header_status = static_cast<int>(s);
  return s;
}

//! Checks chunk `chunk`'s offsets (the first one is the end of the code book, as
//! check_offset_table has it) into sh.begin, sh.size and sh.bad. One thread.
__device__ __forceinline__ void read_chunk_extent(decompress_shared& sh, const unsigned char* table,
                                                  std::uint64_t chunk, std::uint64_t chunk_count) {
  const unsigned long long payload_bytes = sh.payload_bytes;
  const unsigned long long begin = load_u64_words(table + chunk_offset_bytes * chunk);
  const unsigned long long end =
      chunk + 1 < chunk_count ? load_u64_words(table + chunk_offset_bytes * (chunk + 1)) : payload_bytes;
  const bool ok = begin <= end && end <= payload_bytes && begin % 4 == 0 && (chunk != 0 || begin == sh.code_bytes);
  sh.bad = ok ? 0 : 1;
  sh.begin = begin;
  sh.size = ok ? end - begin : 0;
}

//! The chunk sh.begin of `payload` (sh.size bytes, checked by read_chunk_extent):
//! copied into sh.stage by the block when it fits, else where it lies. Called by
//! the whole block; ends with a barrier (after which the shared fields the threads
//! read before it may change).
__device__ __forceinline__ const unsigned char* stage_chunk_block(decompress_shared& sh,
                                                                  const unsigned char* payload) {
  const unsigned char* from = payload + sh.begin;
  const bool staged = sh.size <= chunk_stage_bytes;
  unsigned char* to = sh.stage + reinterpret_cast<std::uintptr_t>(from) % 16;
  if (staged) copy_to_shared_block(to, from, static_cast<std::uint32_t>(sh.size));
  __syncthreads();
  return staged ? to : from;
}

//! Checks the prologue of the chunk at `base` (sh.size bytes) into the shared
//! fields: for a Huffman chunk of a Huffman or automatic stream the whole chunk
//! (parse_huffman_chunk), else the bitplane prologue, refusing a bitplane chunk in a
//! Huffman stream (parse_stream_chunk). One thread, out of line like
//! read_stream_header.
__device__ __noinline__ void read_chunk_prologue(decompress_shared& sh, const unsigned char* base, std::uint32_t n,
                                                 unsigned value_size) {
  const unsigned long long size = sh.size;
  const auto stream_codec = static_cast<codec>(sh.codec);
  chunk_view view;
  std::uint32_t nonzero = 0;
  bool ok;
  if (stream_codec != codec::bitplane && is_huffman_chunk(base, size)) {
    ok = parse_huffman_prologue(base, size, n, value_size, &view) == status::success;
  } else {
    ok = parse_chunk_prologue(base, size, n, value_size, &view, &nonzero) == status::success;
    if (ok && stream_codec == codec::huffman && view.type == chunk_view::kind::encoded) ok = false;
  }
  sh.bad = ok ? 0 : 1;
  sh.kind = static_cast<int>(view.type);
  sh.predictor_code = static_cast<int>(view.huffman_predictor);
  sh.lossless = view.lossless_count;
  sh.nonzero = nonzero;
  sh.layout = view.layout;
  if (ok && view.type == chunk_view::kind::encoded)
    for (std::uint32_t w = 0; w < chunk_bitmap_words(view.group_count); ++w)
      sh.bitmap[w] = reinterpret_cast<const std::uint32_t*>(base + view.layout.bitmap)[w];
}

//! Stores value_of(i) at every element i of chunk `box` in `out`. Full chunks step
//! their addresses from one start per thread (full_chunk_walk): with 16-byte vector
//! stores of the V = vector_elements<T> elements V * (k * block_threads + tid) + c
//! when the output allows them (vector_chunks), else element k * block_threads +
//! tid for every k; edge chunks use box_element_index.
template <class T, class F>
__device__ __forceinline__ void store_chunk_block(T* out, const chunk_geometry& g, const chunk_geometry::box& box,
                                                  F value_of) {
  const unsigned tid = threadIdx.x;
  constexpr unsigned V = vector_elements<T>;
  if (is_full_chunk(g, box) && vector_chunks(out, g)) {
    const full_chunk_walk walk = full_chunk_walk_of(g, box, tid);
    T* o = out + chunk_element_index(g, box, V * tid);
    const std::uint64_t step = V * walk.step;
#pragma unroll
    for (unsigned k = 0; k < items_per_thread / V; ++k) {
      T x[V];
#pragma unroll
      for (unsigned c = 0; c < V; ++c) x[c] = value_of(V * (k * block_threads + tid) + c);
      store_vector(o + k * step, x);
    }
    return;
  }
  if (is_full_chunk(g, box)) {
    const full_chunk_walk walk = full_chunk_walk_of(g, box, tid);
    T* o = out + walk.first;
#pragma unroll
    for (unsigned k = 0; k < items_per_thread; ++k) o[k * walk.step] = value_of(k * block_threads + tid);
    return;
  }
  const std::uint32_t n = box.extent.count();
  for (unsigned k = 0; k < items_per_thread; ++k) {
    const std::uint32_t i = k * block_threads + tid;
    if (i < n) out[box_element_index(g, box, i)] = value_of(i);
  }
}

//! Records corrupt_stream for the stream after a barrier (every thread has read
//! sh.bad before the next chunk rewrites it). Called by the whole block.
template <class T>
__device__ inline void refuse_chunk_block(const decompress_task<T>& task) {
  __syncthreads();
  if (threadIdx.x == 0) record_status(task.device_status, status::corrupt_stream);
}

//! The end of decoding a chunk whose zig-zag-decoded deltas are in sh.values[0, n):
//! the inverse of predictor `m` (predictor_inverse; lorenzo_3d for bitplane
//! chunks), reconstruction, then the `lossless` values of the positions and values
//! sections of layout `l` of the chunk at `base`. Called by the whole block; ends
//! with a barrier.
template <class T>
__device__ void finish_chunk_block(decompress_shared& sh, const decompress_task<T>& task, const chunk_geometry& g,
                                   const chunk_geometry::box& box,
                                   const quantizer<typename dtype_traits<T>::compute_type>& qz,
                                   const unsigned char* base, const encoded_chunk_layout& l, std::uint32_t lossless,
                                   predictor m) {
  const unsigned tid = threadIdx.x;
  const box_extents e = box.extent;
  const std::uint32_t n = e.count();
  T* out = task.output;
  // Full chunks have power-of-two extents: row and column positions by shifts.
  const bool full = is_full_chunk(g, box);
  const unsigned shift2 = log2_of_power(e.e2), shift1 = log2_of_power(e.e1);

  // The other predictors chain the first elements of the rows (rows) or of the
  // planes (lorenzo_2d) first, as predictor_inverse does: the rows' heads (at most
  // 256, one a thread) by a block scan, the planes' (at most 16) by a warp scan.
  if (m == predictor::rows) {
    const std::uint32_t rows = e.e0 * e.e1;  // at most 16 x 16 (3-D chunks): one a thread
    const std::uint32_t head = tid < rows ? sh.values[tid * e.e2] : 0u;
    std::uint32_t before = 0;
    decompress_shared::width_scan(sh.scan.widths).ExclusiveSum(head, before);
    __syncthreads();  // every head read before any is written
    if (tid < rows) sh.values[tid * e.e2] = before + head;
    __syncthreads();
  } else if (m == predictor::lorenzo_2d) {
    // The planes' heads (at most 16): an inclusive scan in warp 0.
    if (tid < 32) {
      const std::uint32_t plane = e.e1 * e.e2;
      std::uint32_t head = tid < e.e0 ? sh.values[tid * plane] : 0u;
#pragma unroll
      for (unsigned d = 1; d < 32; d *= 2) {
        const std::uint32_t other = __shfl_up_sync(full_mask, head, d);
        if (tid >= d) head += other;
      }
      if (tid < e.e0) sh.values[tid * plane] = head;
    }
    __syncthreads();
  }

  // Then prefix sums along rows (a segmented scan over the chunk, 16 consecutive
  // elements a thread), along columns (lorenzo_3d, lorenzo_2d) and along slabs
  // (lorenzo_3d).
  {
    // Each thread takes 16 consecutive elements, moved with four 16-byte shared
    // accesses in the conflict-free order of load_shared_16 / store_shared_16 (16
    // word accesses 64 bytes apart would be a 16-way conflict; values[] has room for
    // them past the end of an edge chunk):
    // sums along its rows in registers, then one segmented block scan of the threads'
    // totals. A thread's elements before its first row start continue the row of the
    // thread before it, whose running sum at its end comes through shared memory.
    // (In a full chunk rows start only at thread boundaries: 16 divides every row.)
    static_assert(items_per_thread == 16, "four quads a thread");
    std::uint32_t v[items_per_thread];
    load_shared_16(sh.values + tid * items_per_thread, v);
    unsigned first_head = items_per_thread;  // the first of the thread's elements that starts a row
#pragma unroll
    for (unsigned j = 0; j < items_per_thread; ++j) {
      const std::uint32_t i = tid * items_per_thread + j;
      const bool head = full ? (i & (e.e2 - 1)) == 0 : (i >= n || i % e.e2 == 0);
      if (head && first_head == items_per_thread) first_head = j;
      if (j != 0 && !head) v[j] += v[j - 1];
    }
    segment_sum total[1] = {segment_sum{v[items_per_thread - 1], first_head < items_per_thread ? 1u : 0u}};
    decompress_shared::row_scan(sh.scan.rows).InclusiveScan(total, total, segment_sum_op{});
    sh.row_carry[tid] = total[0].value;
    __syncthreads();
    const std::uint32_t carry = tid == 0 ? 0u : sh.row_carry[tid - 1];
#pragma unroll
    for (unsigned j = 0; j < items_per_thread; ++j)
      if (j < first_head) v[j] += carry;
    store_shared_16(sh.values + tid * items_per_thread, v);
  }
  __syncthreads();
  if (m != predictor::rows && e.e1 > 1 && full && e.e0 == 1 && e.e1 == 64 && e.e2 == 64) {
    // A full 2-D chunk has only 64 columns: four threads share each, a quarter of its
    // 64 rows a thread, then every quarter adds the totals of the quarters above it.
    const std::uint32_t column = tid & 63u, quarter = tid >> 6, first = quarter * 16 * 64 + column;
    std::uint32_t sum = sh.values[first];
    for (std::uint32_t r = 1; r < 16; ++r) {
      sum += sh.values[first + r * 64];
      sh.values[first + r * 64] = sum;
    }
    __syncthreads();
    std::uint32_t above = 0;
    for (std::uint32_t q = 0; q < quarter; ++q) above += sh.values[(q * 16 + 15) * 64 + column];
    __syncthreads();  // every total read before any is changed
    if (above != 0)
      for (std::uint32_t r = 0; r < 16; ++r) sh.values[first + r * 64] += above;
    __syncthreads();
  } else if (m != predictor::rows && e.e1 > 1) {
    for (std::uint32_t line = tid; line < e.e0 * e.e2; line += block_threads) {
      const std::uint32_t first = full ? ((line >> shift2) << (shift1 + shift2)) + (line & (e.e2 - 1))
                                       : (line / e.e2) * e.e1 * e.e2 + line % e.e2;
      std::uint32_t sum = sh.values[first];
      for (std::uint32_t i1 = 1; i1 < e.e1; ++i1) {
        sum += sh.values[first + i1 * e.e2];
        sh.values[first + i1 * e.e2] = sum;
      }
    }
    __syncthreads();
  }
  if (m == predictor::lorenzo_3d && e.e0 > 1) {
    const std::uint32_t plane = e.e1 * e.e2;
    for (std::uint32_t line = tid; line < plane; line += block_threads) {
      std::uint32_t sum = sh.values[line];
      for (std::uint32_t i0 = 1; i0 < e.e0; ++i0) {
        sum += sh.values[line + i0 * plane];
        sh.values[line + i0 * plane] = sum;
      }
    }
    __syncthreads();
  }

  store_chunk_block(out, g, box,
                    [&](std::uint32_t i) { return reconstruct<T>(static_cast<std::int32_t>(sh.values[i]), qz); });
  __syncthreads();  // the lossless values overwrite what other threads wrote above
  for (std::uint32_t k = tid; k < lossless; k += block_threads) {
    const std::uint32_t position = load_u16(base + l.indices + 2 * k);
    out[chunk_element_index(g, box, position)] = load_element_aligned<T>(base + l.values + sizeof(T) * k);
  }
  __syncthreads();
}

//! Decodes chunk `chunk` of the stream described by sh.geometry into task.output,
//! or records corrupt_stream. Called by the whole block; ends with a barrier.
template <class T>
__device__ void decode_chunk_block(decompress_shared& sh, const decompress_task<T>& task, const chunk_geometry& g,
                                   const quantizer<typename dtype_traits<T>::compute_type>& qz,
                                   const unsigned char* table, const unsigned char* payload, std::uint64_t chunk) {
  const unsigned tid = threadIdx.x, lane = tid % 32;
  if (tid == 0) {
    sh.box = g.chunk_box(chunk);
    read_chunk_extent(sh, table, chunk, g.count);
    // The offsets of this block's next chunk, on their way while this one decodes.
    const std::uint64_t next = chunk + gridDim.x;
    if (next < g.count) prefetch_l2(table + chunk_offset_bytes * next);
  }
  __syncthreads();
  if (sh.bad != 0) return refuse_chunk_block(task);
  // The whole chunk is brought in by the block at once (every thread's copies in
  // flight together), so that its prologue and sections are then read from shared
  // memory rather than through one dependent global load after another.
  const unsigned char* base = stage_chunk_block(sh, payload);
  if (tid == 0) read_chunk_prologue(sh, base, sh.box.extent.count(), sizeof(T));
  __syncthreads();
  const chunk_geometry::box& box = sh.box;
  const box_extents e = box.extent;
  const std::uint32_t n = e.count();
  const std::uint32_t groups = chunk_group_count(n);
  T* out = task.output;
  if (sh.bad != 0) return refuse_chunk_block(task);
  const auto kind = static_cast<chunk_view::kind>(sh.kind);

  if (kind == chunk_view::kind::empty) {
    const T zero = reconstruct<T>(0, qz);
    store_chunk_block(out, g, box, [&](std::uint32_t) { return zero; });
    __syncthreads();
    return;
  }
  if (kind == chunk_view::kind::raw) {
    store_chunk_block(out, g, box, [&](std::uint32_t i) { return load_element_aligned<T>(base + 4 + sizeof(T) * i); });
    __syncthreads();
    return;
  }
  if (kind == chunk_view::kind::huffman) {  // validated whole by read_chunk_prologue
    chunk_view view;
    view.base = base;
    view.type = kind;
    view.group_count = groups;
    view.lossless_count = sh.lossless;
    view.layout = sh.layout;
    const std::uint32_t segment = segment_of_warp(tid, n);
    // Every thread learns of a bad segment, position or padding from the barrier
    // itself: a shared flag set in this interval could be read before it is set by
    // some threads and after by others, which would send them to different barriers.
    // The lossless positions are checked one a thread (the rest of
    // parse_huffman_chunk, after the prologue read_chunk_prologue checked).
    bool bad = segment < huffman_max_segments && !decode_segment_warp(sh.code_table, view, n, segment, sh.values);
    for (std::uint32_t k = tid; k < view.lossless_count; k += block_threads)
      bad = bad || !valid_lossless_position(view, k, n);
    if (tid == 0 && !valid_chunk_tail_padding(view, sizeof(T))) bad = true;
    if (__syncthreads_or(bad) != 0) return refuse_chunk_block(task);
    for (unsigned k = 0; k < items_per_thread; ++k) {
      const std::uint32_t i = k * block_threads + tid;
      if (i < n) sh.values[i] = zigzag_decode(sh.values[i]);
    }
    __syncthreads();
    return finish_chunk_block(sh, task, g, box, qz, base, view.layout, view.lossless_count,
                              static_cast<predictor>(sh.predictor_code));
  }

  // Width bytes: group g's byte sits at its rank among the non-zero groups. (Damage
  // found in this interval reaches every thread through __syncthreads_or, never
  // through sh.bad, which the threads read above.)
  std::uint32_t width = 0;
  bool width_bad = false;
  if (tid < groups) {
    const std::uint32_t word = sh.bitmap[tid / 32], bit = tid % 32;
    if ((word >> bit) & 1u) {
      std::uint32_t rank = population_count(word & ((1u << bit) - 1u));
      for (std::uint32_t w = 0; w < tid / 32; ++w) rank += population_count(sh.bitmap[w]);
      width = base[sh.layout.widths + rank];
      width_bad = !valid_group_width(width);
    }
  }
  if (tid < max_groups) sh.width[tid] = width;
  std::uint32_t before = 0, plane_words = 0;
  decompress_shared::width_scan(sh.scan.widths).ExclusiveSum(width, before, plane_words);
  if (tid < max_groups) sh.plane_offset[tid] = before;
  if (__syncthreads_or(width_bad) != 0) return refuse_chunk_block(task);
  if (tid == 0) {
    chunk_view view;
    view.base = base;
    view.type = chunk_view::kind::encoded;
    view.lossless_count = sh.lossless;
    view.layout = sh.layout;
    if (finish_chunk_layout(&view, n, sh.nonzero, plane_words, sizeof(T), sh.size) == status::success)
      sh.layout = view.layout;
    else
      sh.bad = 1;
  }
  __syncthreads();
  if (sh.bad != 0) return refuse_chunk_block(task);

  // Every section now lies inside the chunk. Check the positions and the padding
  // while the planes are decoded.
  chunk_view view;
  view.base = base;
  view.type = chunk_view::kind::encoded;
  view.group_count = groups;
  view.lossless_count = sh.lossless;
  view.layout = sh.layout;
  const std::uint32_t lossless = view.lossless_count;
  bool section_bad = false;
  for (std::uint32_t k = tid; k < lossless; k += block_threads)
    section_bad = section_bad || !valid_lossless_position(view, k, n);
  if (tid == 0 && !valid_chunk_tail_padding(view, sizeof(T))) section_bad = true;

  const std::uint32_t* planes = reinterpret_cast<const std::uint32_t*>(base + view.layout.planes);
  for (unsigned k = 0; k < items_per_thread; ++k) {
    const std::uint32_t i = k * block_threads + tid;
    const std::uint32_t group = i / 32;  // the same for the whole warp
    if (group >= groups) continue;
    const unsigned w = sh.width[group];
    const std::uint32_t mine = lane < w ? planes[sh.plane_offset[group] + lane] : 0u;
    std::uint32_t code = 0;
    for (unsigned b = 0; b < w; ++b) code |= ((__shfl_sync(full_mask, mine, b) >> lane) & 1u) << b;
    sh.values[i] = zigzag_decode(code);
  }
  if (__syncthreads_or(section_bad) != 0) return refuse_chunk_block(task);
  finish_chunk_block(sh, task, g, box, qz, base, view.layout, lossless, predictor::lorenzo_3d);
}

template <class T>
__global__ void __launch_bounds__(block_threads, 4) decompress_kernel(const __grid_constant__ decompress_launch<T> launch) {
  using C = typename dtype_traits<T>::compute_type;
  __shared__ decompress_shared sh;
  const unsigned tid = threadIdx.x;
  for (unsigned t = 0; t < launch.count; ++t) {
    const decompress_task<T>& task = launch.task[t];
    if (tid == 0) {
      const status s = read_stream_header(sh, task.stream, task.stream_size, task.output_count, dtype_traits<T>::code,
                                          task.checksum, task.code);
      if (s != status::success && blockIdx.x == 0) record_status(task.device_status, s);
    }
    __syncthreads();
    if (sh.header_status == static_cast<int>(status::success)) {
      const chunk_geometry& g = sh.geometry;  // read from shared memory where used, not held in registers
      const quantizer<C> qz = make_quantizer<C>(sh.absolute_bound, sh.preserve_sign != 0);
      const unsigned char* table = task.stream + header_bytes;
      const unsigned char* payload = table + chunk_offset_bytes * g.count;
      // The code book's decoding table (the code book parsed: read_stream_header
      // checked), visible to the decoding threads after the first barrier of
      // decode_chunk_block. The empty code book has no table: all zeros then, so that
      // every segment fails on its first symbol, as decode_huffman_symbols refuses it.
      if (static_cast<codec>(sh.codec) != codec::bitplane) {
        const bool empty = task.code->code.stored_lengths == 0;
        const auto* from = reinterpret_cast<const std::uint32_t*>(task.code->code.table);
        auto* to = reinterpret_cast<std::uint32_t*>(sh.code_table);
        for (unsigned k = tid; k < huffman_table_size / 2; k += block_threads) to[k] = empty ? 0u : from[k];
      }
      for (std::uint64_t chunk = blockIdx.x; chunk < g.count; chunk += gridDim.x)
        decode_chunk_block<T>(sh, task, g, qz, table, payload, chunk);
    }
    __syncthreads();  // the next stream's header overwrites the shared fields
  }
}

}  // namespace gpu
}  // namespace detail
}  // namespace actzip
