// SPDX-License-Identifier: Apache-2.0
//
// The compression kernels of the CUDA executor.
//
// range_kernel: the finite value range of each relative-bound tensor (grid-stride
// 16-byte vector loads when the tensor is 16-byte aligned, else four scalar loads
// in flight; warp reductions, one pair of 64-bit atomics per warp on order keys).
//
// histogram_kernel (Huffman and automatic tensors): blocks take chunks
// grid-stride, prepare them as compress_kernel does (quantization, the predictor,
// its codes), leave the chosen predictor in the chunk's offset-table entry of the
// output for compress_kernel, and count the Huffman statistics (huffman_statistics:
// symbols and short zero runs) of every chunk that is not stored as nothing, the
// whole block walking the codes (count_chunk_statistics_block), into a shared
// histogram that is added to the tensor's histogram in the workspace when the block
// moves on to another tensor (build_stream_code on the host).
// build_code_kernel (huffman.cuh) then makes the code book.
//
// compress_kernel: one 256-thread block per chunk, chunks handed out by a ticket
// counter. Element i of the chunk goes to thread i % 256, so warp w holds groups of
// 32 consecutive elements. The block quantizes with the shared strict check,
// forms Lorenzo deltas from shared memory (lorenzo_delta_at), takes each group's
// width with a warp OR-reduction, scans the groups' widths, non-zero flags and
// lossless counts; for Huffman and automatic tensors it takes the chunk's
// predictor that histogram_kernel chose, forms its codes and sizes each segment's
// bit stream (size_chunk_segments_block: every thread its 16 codes' tokens, scans
// across the segment). plan_chunk decides the chunk's kind and size exactly as choose_chunk
// does. The block learns its offset from the decoupled
// look-back (after the code book, for Huffman and automatic tensors) and writes
// the same bytes as write_chunk: the bitplanes come straight from __ballot_sync,
// the Huffman bit stream is put together in shared memory by every thread at once
// (write_chunk_stream_block) and copied out. The
// block of a tensor's last chunk writes the header and the stream's size.
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/core/dtype.hpp>
#include <actzip/core/ieee.hpp>
#include <actzip/exec/cuda/chunk_plan.hpp>
#include <actzip/exec/cuda/common.cuh>
#include <actzip/exec/cuda/huffman.cuh>
#include <actzip/exec/cuda/lookback.cuh>
#include <actzip/format/chunk.hpp>
#include <actzip/format/geometry.hpp>
#include <actzip/format/header.hpp>
#include <actzip/stages/bitplane.hpp>
#include <actzip/stages/huffman.hpp>
#include <actzip/stages/lorenzo.hpp>
#include <actzip/stages/quantize.hpp>

#include <cub/block/block_scan.cuh>

#include <cstdint>

namespace actzip {
namespace detail {
namespace gpu {

template <class T>
__global__ void __launch_bounds__(block_threads) range_kernel(const __grid_constant__ compress_launch<T> launch) {
  using C = typename dtype_traits<T>::compute_type;
  const compress_task<T>& task = launch.task[blockIdx.y];
  if (task.p.error_bound.mode != bound_mode::relative) return;
  const T* input = task.input;
  const std::uint64_t n = task.element_count;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * block_threads;
  unsigned long long max_key = 0, min_complement = 0;
  auto take = [&](T x) {
    const C v = dtype_traits<T>::to_compute(x);
    if (detail::ieee::eq(detail::ieee::sub(v, v), C(0))) {  // finite (IEEE operations: see core/ieee.hpp)
      const unsigned long long key = order_key(v);
      max_key = key > max_key ? key : max_key;
      min_complement = ~key > min_complement ? ~key : min_complement;
    }
  };
  const std::uint64_t thread = static_cast<std::uint64_t>(blockIdx.x) * block_threads + threadIdx.x;
  std::uint64_t i = thread;
  if (vector_aligned(input)) {
    // 16-byte loads, two in flight per thread, then the elements after the last
    // whole vector.
    constexpr unsigned V = vector_elements<T>;
    const std::uint64_t vectors = n / V;
    std::uint64_t v = thread;
    for (; v + stride < vectors; v += 2 * stride) {
      T a[V], b[V];
      load_vector(input + v * V, a);
      load_vector(input + (v + stride) * V, b);
#pragma unroll
      for (unsigned c = 0; c < V; ++c) take(a[c]);
#pragma unroll
      for (unsigned c = 0; c < V; ++c) take(b[c]);
    }
    for (; v < vectors; v += stride) {
      T a[V];
      load_vector(input + v * V, a);
#pragma unroll
      for (unsigned c = 0; c < V; ++c) take(a[c]);
    }
    i = vectors * V + thread;
  } else {
    for (; i + 3 * stride < n; i += 4 * stride) {  // four loads in flight
      const T a = input[i], b = input[i + stride], c = input[i + 2 * stride], d = input[i + 3 * stride];
      take(a);
      take(b);
      take(c);
      take(d);
    }
  }
  for (; i < n; i += stride) take(input[i]);
  for (unsigned offset = 16; offset > 0; offset /= 2) {
    const unsigned long long other_max = __shfl_xor_sync(full_mask, max_key, offset);
    const unsigned long long other_min = __shfl_xor_sync(full_mask, min_complement, offset);
    max_key = other_max > max_key ? other_max : max_key;
    min_complement = other_min > min_complement ? other_min : min_complement;
  }
  if (threadIdx.x % 32 == 0 && max_key != 0) {
    atomicMax(&task.range->max_key, max_key);
    atomicMax(&task.range->min_key_complement, min_complement);
  }
}

//! The header fields and quantizer of one tensor, computed identically by every
//! block from the task and its range slot (filled by range_kernel).
template <class T>
__device__ inline header task_header(const compress_task<T>& task,
                                     quantizer<typename dtype_traits<T>::compute_type>* qz) {
  using C = typename dtype_traits<T>::compute_type;
  header h = begin_header(dtype_traits<T>::code, task.shape, task.p, task.geometry, task.element_count);
  double absolute = task.p.error_bound.value;
  if (task.p.error_bound.mode == bound_mode::relative) {
    C lo = 0, hi = 0;
    const unsigned long long max_key = task.range->max_key;
    if (max_key != 0) {
      hi = from_order_key<C>(max_key);
      lo = from_order_key<C>(~task.range->min_key_complement);
    }
    // Widened without flushing subnormals, whatever nvcc's flags (core/ieee.hpp).
    set_value_range(&h, detail::ieee::to_double(lo), detail::ieee::to_double(hi));
    absolute = absolute_from_relative(task.p.error_bound.value, h.value_min, h.value_max);
  }
  *qz = make_quantizer<C>(absolute, task.p.preserve_sign);
  h.absolute_bound = detail::ieee::to_double(qz->bound);
  return h;
}

//! The zig-zagged Lorenzo delta of element i of a chunk (0 past its end) from the
//! quantization indices in shared memory: by shifts in a full chunk, by the clipped
//! box's position otherwise. Computed where it is needed rather than kept: 16 codes
//! a thread would hold 16 registers across the whole kernel.
struct lorenzo_coder {
  box_extents e;
  std::uint32_t n;
  bool full;
  unsigned shift2, shift1;

  __device__ __forceinline__ lorenzo_coder(const chunk_geometry& g, const chunk_geometry::box& box)
      : e(box.extent), n(box.extent.count()), full(is_full_chunk(g, box)) {
    const chunk_kind kind = chunk_kind_of(g);
    shift2 = kind == chunk_kind::cubic ? 4u : kind == chunk_kind::planar ? 6u : 12u;
    shift1 = kind == chunk_kind::cubic ? 4u : kind == chunk_kind::planar ? 6u : 0u;
  }

  __device__ __forceinline__ std::uint32_t operator()(const std::uint32_t* values, std::uint32_t i) const {
    if (full) return zigzag_encode(lorenzo_delta(values, i, position_in_pow2_box(i, shift2, shift1)));
    return i < n ? zigzag_encode(lorenzo_delta_at(values, e, i)) : 0u;
  }
};

//! The stages every codec shares (prepare_chunk on the host), run by the whole
//! block for chunk `box` of `task`: quantization with the shared strict check (bit
//! i of keep[g] set when element 32 g + i is stored losslessly), the quantization
//! indices in values[], then the bit width of the Lorenzo codes (lorenzo_coder) of
//! group g in width[g]. Ends with a barrier.
//!
//! Full chunks (all but the edge chunks of a tensor) take the fast path: addresses
//! stepped from one start per thread (full_chunk_walk), all of the thread's loads
//! in flight before the first quantization (16-byte vector loads when the tensor
//! is 16-byte aligned and its rows are a whole number of vectors), and the Lorenzo
//! neighbours found with shifts and masks (the chunk shapes are powers of two). Edge chunks take the
//! general path (box_element_index, lorenzo_delta_at over the clipped box). Both
//! write the same values.
template <class T, class C>
__device__ __forceinline__ void prepare_chunk_block(const compress_task<T>& task, const quantizer<C>& qz,
                                                    const chunk_geometry::box& box, std::uint32_t* values,
                                                    std::uint32_t* keep, std::uint32_t* width) {
  const unsigned tid = threadIdx.x, lane = tid % 32;
  const chunk_geometry& g = task.geometry;
  const bool full = is_full_chunk(g, box);
  const box_extents e = box.extent;
  const std::uint32_t n = e.count();
  constexpr unsigned V = vector_elements<T>;
  // 16- and 32-bit types only: with 64-bit ones this path holds a value more than
  // the 64 registers of the kernel (8 bytes spilled), and their scalar loads are 8
  // bytes wide already.
  if (sizeof(T) <= 4 && full && vector_chunks(task.input, g)) {
    // Every row of the chunk starts 16-byte aligned: thread tid loads the V
    // consecutive elements V * (k * block_threads + tid) + c (c < V) of the chunk
    // with one 16-byte load per k, all before the first quantization. The lossless
    // flags of a warp's V * 32 elements are V ballots' worth, gathered into the
    // V groups' words by OR-reductions over the 32 / V lanes of each group.
    constexpr unsigned lanes_per_group = 32 / V;
    const full_chunk_walk walk = full_chunk_walk_of(g, box, tid);
    const T* input = task.input + chunk_element_index(g, box, V * tid);
    const std::uint64_t step = V * walk.step;  // from vector k to vector k + 1
    T x[items_per_thread];
#pragma unroll
    for (unsigned k = 0; k < items_per_thread / V; ++k) load_vector(input + k * step, x + k * V);
#pragma unroll
    for (unsigned k = 0; k < items_per_thread / V; ++k) {
      const std::uint32_t first = V * (k * block_threads + tid);
      std::uint32_t kept = 0;
#pragma unroll
      for (unsigned c = 0; c < V; ++c) {
        bool lossless = false;
        values[first + c] = static_cast<std::uint32_t>(quantize_element(x[k * V + c], qz, &lossless));
        kept |= static_cast<std::uint32_t>(lossless) << c;
      }
      // Element first + c is bit (first + c) % 32 of group (first + c) / 32.
      kept <<= V * (lane % lanes_per_group);
#pragma unroll
      for (unsigned d = 1; d < lanes_per_group; d *= 2) kept |= __shfl_xor_sync(full_mask, kept, d);
      if (lane % lanes_per_group == 0) keep[first / 32] = kept;
    }
  } else if (full) {
    const full_chunk_walk walk = full_chunk_walk_of(g, box, tid);
    const T* input = task.input + walk.first;
    T x[items_per_thread];
#pragma unroll
    for (unsigned k = 0; k < items_per_thread; ++k) x[k] = input[k * walk.step];
#pragma unroll
    for (unsigned k = 0; k < items_per_thread; ++k) {
      const std::uint32_t i = k * block_threads + tid;
      bool lossless = false;
      values[i] = static_cast<std::uint32_t>(quantize_element(x[k], qz, &lossless));
      const unsigned kept = __ballot_sync(full_mask, lossless);
      if (lane == 0) keep[i / 32] = kept;
    }
  } else {
    // Quantize: element i = k * 256 + tid; the keep flags of a group come from one ballot.
    for (unsigned k = 0; k < items_per_thread; ++k) {
      const std::uint32_t i = k * block_threads + tid;
      std::uint32_t q = 0;
      bool lossless = false;
      if (i < n)
        q = static_cast<std::uint32_t>(quantize_element(task.input[box_element_index(g, box, i)], qz, &lossless));
      values[i] = q;
      const unsigned kept = __ballot_sync(full_mask, lossless);
      if (lane == 0 && i / 32 < max_groups) keep[i / 32] = kept;
    }
  }
  __syncthreads();

  // The group widths of the Lorenzo codes.
  const lorenzo_coder coder(g, box);
  for (unsigned k = 0; k < items_per_thread; ++k) {
    const std::uint32_t i = k * block_threads + tid;
    const unsigned w = bit_width(__reduce_or_sync(full_mask, coder(values, i)));
    if (lane == 0) width[i / 32] = w;
  }
  __syncthreads();
}

//! Shared memory of compress_kernel (static: every tensor needs it).
struct compress_shared {
  using group_scan = cub::BlockScan<unsigned long long, block_threads>;
  std::uint32_t values[max_chunk_elements];  //!< quantization indices of the chunk
  std::uint32_t keep[max_groups];            //!< per group: bit i set when element i is lossless
  std::uint32_t plane_offset[max_groups];    //!< per group: first plane word (exclusive scan of widths)
  std::uint32_t keep_rank[max_groups];       //!< per group: lossless values before it
  std::uint32_t group_rank[max_groups];      //!< per group: non-zero groups before it
  std::uint32_t width[max_groups];           //!< per group: bit width
  typename group_scan::TempStorage scan;
  unsigned long long ticket;
  unsigned long long offset;
  chunk_geometry::box box;  //!< the chunk's box, for the stores (rather than registers through the chunk)
};

//! Shared memory of compress_kernel that only Huffman and automatic tensors use:
//! dynamic, given by the launch only when its batch has such a tensor, so that a
//! bitplane launch leaves these 20 KiB per block to the L1 cache.
struct compress_huffman_shared {
  //! The zig-zagged deltas of the chunk's predictor (read 16 bytes at a time by the
  //! token walks).
  alignas(16) std::uint32_t coded[max_chunk_elements];
  std::uint32_t segment_bits[huffman_max_segments];  //!< per segment: bits of its bit stream
  token_shared tokens;                               //!< the block walks over the codes
  encoding_book book;                                //!< the tensor's code lengths and words
};

static_assert(sizeof(compress_shared) + sizeof(compress_huffman_shared) <= 48 * 1024,
              "a block's shared memory stays within the 48 KiB a launch gets without opting in");

//! The dynamic shared memory of compress_kernel (only for a task with a code book).
__device__ __forceinline__ compress_huffman_shared& huffman_shared() {
  return dynamic_shared<compress_huffman_shared>();
}

// Fields of the packed group scan: plane words, lossless count, non-zero groups.
// Each stays below 2^16 for a chunk of 4096 elements, so one 64-bit sum scans all three.
inline constexpr unsigned scan_lossless_shift = 16;
inline constexpr unsigned scan_nonzero_shift = 32;

//! Stores the losslessly kept element `i` of group `group` (lane `lane` of its warp)
//! at its rank in the positions and values sections of layout `l`, if it is one.
template <class T>
__device__ __forceinline__ void store_lossless(const compress_task<T>& task, const chunk_geometry::box& box,
                                               const compress_shared& sh, const encoded_chunk_layout& l,
                                               unsigned char* out, std::uint32_t group, unsigned lane,
                                               std::uint32_t i) {
  const std::uint32_t keep = sh.keep[group];
  if ((keep >> lane) & 1u) {
    const std::uint32_t rank = sh.keep_rank[group] + population_count(keep & ((1u << lane) - 1u));
    store_u16(out + l.indices + 2 * rank, i);
    store_element_aligned(out + l.values + sizeof(T) * rank, task.input[chunk_element_index(task.geometry, box, i)]);
  }
}

//! The zero padding after the lossless positions and values of layout `l` (thread 0).
template <class T>
__device__ __forceinline__ void store_lossless_padding(const encoded_chunk_layout& l, unsigned char* out,
                                                       std::uint32_t lossless) {
  if (lossless % 2 != 0) store_u16(out + l.indices + 2 * lossless, 0);
  if (sizeof(T) == 2 && lossless % 2 != 0) store_u16(out + l.values + 2 * lossless, 0);
}

template <class T>
__global__ void __launch_bounds__(block_threads, 4) compress_kernel(const __grid_constant__ compress_launch<T> launch) {
  using C = typename dtype_traits<T>::compute_type;
  __shared__ compress_shared sh;
  const unsigned tid = threadIdx.x, lane = tid % 32;

  for (;;) {
    if (tid == 0) sh.ticket = atomicAdd(launch.ticket_counter, 1ull);
    __syncthreads();
    const unsigned long long ticket = sh.ticket;
    if (ticket >= launch.total_tickets) return;
    const compress_task<T>& task = launch.task[task_of_ticket(launch, ticket)];
    const std::uint64_t chunk = ticket - task.first_ticket;
    const chunk_geometry& g = task.geometry;

    // The header is made again by the block that writes it (the last chunk's), rather
    // than kept in registers through the whole chunk.
    quantizer<C> qz;
    (void)task_header(task, &qz);
    // Cheap to recompute where used (from kernel parameters) rather than hold.
    auto payload_start = [&g] { return header_bytes + chunk_offset_bytes * g.count; };
    // Huffman and automatic tensors: the code book (built by build_code_kernel) opens
    // the payload, and the chunks follow it.
    const huffman_code* book = task.huffman != nullptr ? &task.huffman->code : nullptr;
    auto code_bytes = [book] { return book != nullptr ? huffman_code_bytes(book->stored_lengths) : 0u; };

    if (g.count == 0) {  // an empty tensor: the header (and the code book) is the whole stream
      if (tid == 0) {
        header h = task_header(task, &qz);
        h.payload_bytes = code_bytes();
        h.total_bytes = payload_start() + h.payload_bytes;
        write_header(h, task.output);
        *task.compressed_bytes = h.total_bytes;
      }
      __syncthreads();
      continue;
    }

    const chunk_geometry::box box = g.chunk_box(chunk);
    if (tid == 0) sh.box = box;  // read after the barriers below
    const box_extents e = box.extent;
    const std::uint32_t n = e.count();
    const std::uint32_t groups = chunk_group_count(n);

    prepare_chunk_block(task, qz, box, sh.values, sh.keep, sh.width);
    // Huffman and automatic tensors: the predictor of a Huffman chunk and its codes,
    // in shared memory for the token walks.
    predictor chosen = predictor::lorenzo_3d;
    if (book != nullptr) {
      // The predictor histogram_kernel chose for this chunk, left in the chunk's
      // offset-table entry (which this block overwrites below, after the barriers
      // that follow every thread's read).
      chosen = static_cast<predictor>(
          *reinterpret_cast<const std::uint32_t*>(task.output + header_bytes + chunk_offset_bytes * chunk));
      huffman_codes_block(sh.values, e, chosen, huffman_shared().coded);
      // The code lengths and words, for the token walks below (after their barrier).
      if (book->stored_lengths != 0) stage_encoding_book_block(*book, huffman_shared().book);
    }

    // One scan over the groups: plane words, lossless values and non-zero groups before each.
    unsigned long long packed = 0;
    if (tid < groups) {
      const unsigned width = sh.width[tid];
      packed = static_cast<unsigned long long>(width) |
               static_cast<unsigned long long>(population_count(sh.keep[tid])) << scan_lossless_shift |
               static_cast<unsigned long long>(width != 0) << scan_nonzero_shift;
    }
    unsigned long long before = 0, total = 0;
    compress_shared::group_scan(sh.scan).ExclusiveSum(packed, before, total);
    if (tid < groups) {
      sh.plane_offset[tid] = static_cast<std::uint32_t>(before & 0xffffu);
      sh.keep_rank[tid] = static_cast<std::uint32_t>((before >> scan_lossless_shift) & 0xffffu);
      sh.group_rank[tid] = static_cast<std::uint32_t>(before >> scan_nonzero_shift);
    }
    const std::uint32_t plane_words = static_cast<std::uint32_t>(total & 0xffffu);
    const std::uint32_t lossless = static_cast<std::uint32_t>((total >> scan_lossless_shift) & 0xffffu);
    const std::uint32_t nonzero = static_cast<std::uint32_t>(total >> scan_nonzero_shift);

    // The Huffman size of each segment (not needed for a chunk stored as nothing).
    const bool huffman_sized = book != nullptr && book->stored_lengths != 0 && (nonzero != 0 || lossless != 0);
    if (huffman_sized) {
      __syncthreads();  // the codes in huffman_shared().coded
      compress_huffman_shared& hs = huffman_shared();
      size_chunk_segments_block(hs.book, hs.coded, n, hs.tokens, hs.segment_bits);
    }
    // The chunk's kind and size, exactly as choose_chunk decides them. (A chunk is
    // stored as nothing when its indices are all zero and nothing is lossless: then
    // and only then every delta is zero, under any predictor, so the Lorenzo groups'
    // widths decide it for the Huffman codec too.)
    const chunk_plan plan =
        plan_chunk(task.p.codec, n, sizeof(T), nonzero, plane_words, lossless, huffman_sized,
                   huffman_sized ? huffman_shared().segment_bits : nullptr);
    const std::uint32_t size = plan.bytes;

    if (tid < 32) {
      const unsigned long long offset = code_bytes() + lookback_exclusive_prefix(task.states, chunk, size);
      if (tid == 0) {
        sh.offset = offset;
        unsigned char* table = task.output + header_bytes + chunk_offset_bytes * chunk;
        reinterpret_cast<std::uint32_t*>(table)[0] = static_cast<std::uint32_t>(offset);
        reinterpret_cast<std::uint32_t*>(table)[1] = static_cast<std::uint32_t>(offset >> 32);
        if (chunk + 1 == g.count) {  // the last chunk knows the payload's size
          quantizer<C> unused;
          header h = task_header(task, &unused);
          h.payload_bytes = offset + size;
          h.total_bytes = payload_start() + h.payload_bytes;
          write_header(h, task.output);
          *task.compressed_bytes = h.total_bytes;
        }
      }
    }
    __syncthreads();
    unsigned char* out = task.output + payload_start() + sh.offset;
    const chunk_geometry::box& obox = sh.box;

    if (plan.type == chunk_view::kind::raw) {
      if (tid == 0) *reinterpret_cast<std::uint32_t*>(out) = chunk_raw_flag;
      for (unsigned k = 0; k < items_per_thread; ++k) {
        const std::uint32_t i = k * block_threads + tid;
        if (i < n) store_element_aligned(out + 4 + sizeof(T) * i, task.input[chunk_element_index(g, obox, i)]);
      }
      if (sizeof(T) == 2 && tid == 0 && n % 2 != 0) store_u16(out + 4 + 2 * n, 0);
    } else if (plan.type == chunk_view::kind::encoded) {
      const encoded_chunk_layout l = make_encoded_layout(n, nonzero, plane_words, lossless, sizeof(T));
      if (tid == 0) *reinterpret_cast<std::uint32_t*>(out) = lossless;
      const std::uint32_t bitmap_words = chunk_bitmap_words(groups);
      if (tid < bitmap_words) {
        std::uint32_t word = 0;
        for (unsigned bit = 0; bit < 32 && 32 * tid + bit < groups; ++bit)
          word |= static_cast<std::uint32_t>(sh.width[32 * tid + bit] != 0) << bit;
        reinterpret_cast<std::uint32_t*>(out + l.bitmap)[tid] = word;
      }
      if (tid < groups && sh.width[tid] != 0) out[l.widths + sh.group_rank[tid]] = static_cast<unsigned char>(sh.width[tid]);
      if (tid >= nonzero && tid < pad4(nonzero)) out[l.widths + tid] = 0;
      // Bitplanes: lane b keeps the ballot of bit b of its warp's group.
      const lorenzo_coder coder(g, obox);
      for (unsigned k = 0; k < items_per_thread; ++k) {
        const std::uint32_t i = k * block_threads + tid;
        const std::uint32_t group = i / 32;  // the same for the whole warp
        if (group >= groups) continue;
        const unsigned width = sh.width[group];
        const std::uint32_t code = width != 0 ? coder(sh.values, i) : 0u;
        std::uint32_t mine = 0;
        for (unsigned b = 0; b < width; ++b) {
          const std::uint32_t plane = __ballot_sync(full_mask, (code >> b) & 1u);
          if (lane == b) mine = plane;
        }
        if (lane < width)
          reinterpret_cast<std::uint32_t*>(out + l.planes)[sh.plane_offset[group] + lane] = mine;
        // Losslessly stored values: positions and values at their rank.
        store_lossless(task, obox, sh, l, out, group, lane, i);
      }
      if (tid == 0) store_lossless_padding<T>(l, out, lossless);
    } else if (plan.type == chunk_view::kind::huffman) {
      const encoded_chunk_layout l = make_huffman_layout(n, plan.stream_bits, lossless, sizeof(T));
      const std::uint32_t segments = huffman_segment_count(n);
      if (tid == 0)
        *reinterpret_cast<std::uint32_t*>(out) =
            chunk_huffman_flag | static_cast<std::uint32_t>(chosen) << 16 | lossless;
      compress_huffman_shared& hs = huffman_shared();
      if (tid < segments) store_u16(out + l.widths + 2 * tid, hs.segment_bits[tid]);
      if (tid == 0 && segments % 2 != 0) store_u16(out + l.widths + 2 * segments, 0);
      // The bit stream: zeroed, then every thread stores the words of its tokens
      // (ORing the ones it shares with its neighbours); the zero bits after the
      // stream's end are the padding. It is put together in shared memory (in
      // sh.values, free once the codes are made) and copied out whole when it fits
      // there, which it always does for 16- and 32-bit elements (a Huffman chunk is
      // smaller than a raw one); a larger one is written in place.
      auto* words = reinterpret_cast<std::uint32_t*>(out + l.planes);
      const std::uint32_t stream_words = (l.indices - l.planes) / 4;
      const bool staged = stream_words <= max_chunk_elements;
      std::uint32_t* target = staged ? sh.values : words;
      for (std::uint32_t w = tid; w < stream_words; w += block_threads) target[w] = 0;
      __syncthreads();
      write_chunk_stream_block(hs.book, hs.coded, n, hs.tokens, hs.segment_bits, target);
      if (staged) {
        __syncthreads();
        for (std::uint32_t w = tid; w < stream_words; w += block_threads) words[w] = sh.values[w];
      }
      for (unsigned k = 0; k < items_per_thread; ++k) {
        const std::uint32_t i = k * block_threads + tid;
        const std::uint32_t group = i / 32;
        if (group < groups) store_lossless(task, obox, sh, l, out, group, lane, i);
      }
      if (tid == 0) store_lossless_padding<T>(l, out, lossless);
    }
    __syncthreads();  // shared memory is reused by the next ticket
  }
}

//! Shared memory of histogram_kernel.
struct histogram_shared {
  std::uint32_t values[max_chunk_elements];  //!< quantization indices
  alignas(16) std::uint32_t coded[max_chunk_elements];  //!< the zig-zagged deltas of the chunk's predictor
  std::uint32_t keep[max_groups];
  std::uint32_t width[max_groups];
  std::uint32_t cost[predictor_count];
  std::uint32_t counts[huffman_statistics_slots];  //!< the block's statistics for the current tensor
  token_shared tokens;
};

//! Chunks a block counts into its shared histogram before adding it to the tensor's
//! (at most 4096 symbols or runs a chunk: the shared counts stay below 2^28).
inline constexpr std::uint32_t histogram_flush_chunks = 1u << 16;

template <class T>
__global__ void __launch_bounds__(block_threads, 4) histogram_kernel(const __grid_constant__ compress_launch<T> launch) {
  using C = typename dtype_traits<T>::compute_type;
  __shared__ histogram_shared sh;
  const unsigned tid = threadIdx.x;
  for (std::uint32_t k = tid; k < huffman_statistics_slots; k += block_threads) sh.counts[k] = 0;
  std::uint32_t pending = 0;  // chunks counted since the last flush (the same in every thread)
  for (unsigned long long ticket = blockIdx.x; ticket < launch.total_tickets; ticket += gridDim.x) {
    const unsigned t = task_of_ticket(launch, ticket);
    const compress_task<T>& task = launch.task[t];
    const std::uint64_t chunk = ticket - task.first_ticket;
    if (task.huffman != nullptr && chunk < task.geometry.count) {
      quantizer<C> qz;
      (void)task_header(task, &qz);
      const chunk_geometry::box box = task.geometry.chunk_box(chunk);
      const std::uint32_t n = box.extent.count();
      prepare_chunk_block(task, qz, box, sh.values, sh.keep, sh.width);
      const predictor chosen = choose_predictor_block(sh.values, box.extent, sh.cost);
      // The compress kernel takes this choice from the chunk's offset-table entry of
      // the output (its own block overwrites it with the offset) instead of trying the
      // predictors again.
      if (tid == 0)
        *reinterpret_cast<std::uint32_t*>(task.output + header_bytes + chunk_offset_bytes * chunk) =
            static_cast<std::uint32_t>(chosen);
      huffman_codes_block(sh.values, box.extent, chosen, sh.coded);
      bool stored = false;  // the chunk is stored as something: a non-zero code or a lossless value
      for (unsigned k = 0; k < items_per_thread; ++k) stored = stored || sh.coded[k * block_threads + tid] != 0;
      if (tid < chunk_group_count(n)) stored = stored || sh.keep[tid] != 0;
      if (__syncthreads_or(stored) != 0)  // also the barrier after the codes' stores
        count_chunk_statistics_block(sh.coded, n, sh.tokens, sh.counts);
      ++pending;
    }
    __syncthreads();  // the counts are complete, and sh.values is free for the next chunk
    const unsigned long long next = ticket + gridDim.x;
    const bool moves_on = next >= launch.total_tickets || task_of_ticket(launch, next) != t;
    if (pending != 0 && (moves_on || pending == histogram_flush_chunks)) {
      for (std::uint32_t k = tid; k < huffman_statistics_slots; k += block_threads) {
        if (sh.counts[k] != 0) {
          atomicAdd(&task.huffman->histogram[k], static_cast<unsigned long long>(sh.counts[k]));
          sh.counts[k] = 0;
        }
      }
      pending = 0;
      // The next chunk's counts come after the barriers of its preparation.
    }
  }
}

}  // namespace gpu
}  // namespace detail
}  // namespace actzip
