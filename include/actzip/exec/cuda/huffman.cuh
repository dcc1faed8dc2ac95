// SPDX-License-Identifier: Apache-2.0
//
// The Huffman side of the CUDA executor. A Huffman chunk picks its predictor as
// choose_predictor does (the block sums predictor_cost for every predictor worth
// trying on the chunk's box) and codes the zig-zagged deltas of that predictor. Its
// bit stream is cut into segments of huffman_segment_elements (at most four a
// chunk); one thread per segment counts, sizes, writes or decodes its symbols with
// the shared functions of stages/huffman.hpp, so the GPU follows every change of the
// alphabet or the code book. The segment threads are lane 0 of warps 0..3 of the
// block, so that they run side by side rather than one after another inside a warp.
//
// build_code_kernel: one block per Huffman or automatic tensor, after
// histogram_kernel (compress.cuh) has summed the statistics of every chunk: one
// thread builds the code book with make_stream_code in shared memory, the
// block copies it to the tensor's workspace slot for compress_kernel, and the
// serialised code book goes to the start of the payload.
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

#include <cstdint>

namespace actzip {
namespace detail {
namespace gpu {

//! The segment thread `tid` stands for (tid = 32 * segment), or huffman_max_segments
//! when `tid` handles no segment of a chunk of n elements.
__device__ inline std::uint32_t segment_of_thread(unsigned tid, std::uint32_t n) {
  const std::uint32_t segment = tid / 32;
  return tid % 32 == 0 && segment < huffman_segment_count(n) ? segment : huffman_max_segments;
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

//! Adds the statistics of segment `segment` of the zig-zag codes z[0, n) to the
//! shared counts (what count_chunk_symbols adds for that segment). One thread.
__device__ __noinline__ void count_segment_symbols(const std::uint32_t* z, std::uint32_t n, std::uint32_t segment,
                                                   std::uint32_t* counts) {
  huffman_statistics(z + segment * huffman_segment_elements, huffman_segment_length(n, segment),
                     [&](unsigned slot) { atomicAdd(counts + slot, 1u); });
}

//! Bits of segment `segment` of the zig-zag codes z[0, n) with `code`, or 0 when it
//! needs a symbol the code lacks (detail::huffman_segment_bits). One thread.
__device__ __noinline__ std::uint32_t size_segment(const huffman_code& code, const std::uint32_t* z, std::uint32_t n,
                                                   std::uint32_t segment) {
  return huffman_segment_bits(code, z + segment * huffman_segment_elements, huffman_segment_length(n, segment));
}

//! Stores the words of one segment into a chunk's bit stream in global memory:
//! words another segment may share are ORed (the stream was zeroed before), the
//! segment's own words are stored.
struct global_word_store {
  std::uint32_t* words;
  __device__ void operator()(std::uint32_t word, std::uint32_t bits, bool shared) const {
    if (shared)
      atomicOr(words + word, bits);
    else
      words[word] = bits;
  }
};

//! Writes segment `segment` of the zig-zag codes z[0, n) with `code` into the
//! chunk's zeroed bit stream `words` (4-byte aligned), after the bits of the
//! segments before it (segment_bits). One thread.
__device__ __noinline__ void write_segment(const huffman_code& code, const std::uint32_t* z, std::uint32_t n,
                                           std::uint32_t segment, const std::uint32_t* segment_bits,
                                           std::uint32_t* words) {
  std::uint64_t first_bit = 0;
  for (std::uint32_t k = 0; k < segment; ++k) first_bit += segment_bits[k];
  write_huffman_segment(code, z + segment * huffman_segment_elements, huffman_segment_length(n, segment), first_bit,
                        global_word_store{words});
}

//! Decodes segment `segment` of the validated Huffman chunk `view` of n elements
//! into z (the whole chunk's zig-zag codes), as decode_huffman_symbols does for that
//! segment. False when its bits are not valid for `code`. One thread.
__device__ __noinline__ bool decode_segment(const huffman_code& code, const chunk_view& view, std::uint32_t n,
                                            std::uint32_t segment, std::uint32_t* z) {
  if (code.stored_lengths == 0) return false;
  const unsigned char* stream = view.base + view.layout.planes;
  const std::uint64_t stream_bytes = view.layout.indices - view.layout.planes;
  std::uint64_t begin = 0;
  for (std::uint32_t k = 0; k < segment; ++k) begin += load_le16(view.base + view.layout.widths + 2 * k);
  const std::uint64_t end = begin + load_le16(view.base + view.layout.widths + 2 * segment);
  const std::uint32_t first = segment * huffman_segment_elements;
  return decode_huffman_segment(code, stream, stream_bytes, begin, end, huffman_segment_length(n, segment), z + first);
}

//! Shared memory of build_code_kernel (about 43 KiB).
struct build_code_shared {
  huffman_build_scratch scratch;
  huffman_code code;
};

template <class T>
__global__ void __launch_bounds__(block_threads) build_code_kernel(const __grid_constant__ compress_launch<T> launch) {
  __shared__ build_code_shared sh;
  const compress_task<T>& task = launch.task[blockIdx.x];
  if (task.huffman == nullptr) return;  // a bitplane tensor
  if (threadIdx.x == 0) {
    static_assert(sizeof(unsigned long long) == sizeof(std::uint64_t), "64-bit counts");
    make_stream_code(reinterpret_cast<std::uint64_t*>(task.huffman->histogram), sh.code, sh.scratch);
  }
  __syncthreads();
  copy_words_block(&task.huffman->code, &sh.code, sizeof(huffman_code));
  if (threadIdx.x == 0)
    write_huffman_code(sh.code, task.output + header_bytes + chunk_offset_bytes * task.geometry.count);
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
