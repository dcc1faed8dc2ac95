// SPDX-License-Identifier: Apache-2.0
//
// The stream checksum on the CUDA executor (format/checksum.hpp defines it). One
// kernel serves both directions: blockIdx.y picks the stream, blocks sum the
// position-keyed hashes of its 32-bit words grid-stride, a block reduction and
// one 64-bit atomicAdd per block gather the sum in the stream's checksum slot,
// and the block that finishes last (a counter in the same slot) acts on it:
// after compression it stores the checksum in the header; before decompression
// it records whether the stored one matches. The sum is order-independent, so the
// result is the one the host writes, whatever the grid.
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/exec/cuda/common.cuh>
#include <actzip/format/checksum.hpp>
#include <actzip/format/header.hpp>

#include <cub/block/block_reduce.cuh>

#include <cstdint>

namespace actzip {
namespace detail {
namespace gpu {

//! Words summed per thread per iteration (independent loads in flight).
inline constexpr unsigned checksum_unroll = 4;

//! Sum of checksum_term over this block's share of the words [0, words) of `stream`
//! (4-byte aligned), returned to thread 0.
__device__ inline unsigned long long checksum_block_sum(const unsigned char* stream, std::uint64_t words) {
  using reduce = cub::BlockReduce<unsigned long long, block_threads>;
  __shared__ typename reduce::TempStorage temp;
  const auto* w = reinterpret_cast<const std::uint32_t*>(stream);
  const std::uint64_t tile = std::uint64_t(block_threads) * checksum_unroll;
  const std::uint64_t stride = tile * gridDim.x;
  unsigned long long sum = 0;
  for (std::uint64_t base = tile * blockIdx.x + threadIdx.x; base < words; base += stride) {
    std::uint32_t v[checksum_unroll];
#pragma unroll
    for (unsigned k = 0; k < checksum_unroll; ++k) {
      const std::uint64_t i = base + std::uint64_t(k) * block_threads;
      v[k] = i < words ? w[i] : 0u;
    }
#pragma unroll
    for (unsigned k = 0; k < checksum_unroll; ++k) {
      const std::uint64_t i = base + std::uint64_t(k) * block_threads;
      if (i < words) sum += checksum_term(i, v[k]);
    }
  }
  return reduce(temp).Sum(sum);
}

//! Thread 0 of each block: adds the block's sum to the slot; true (with the full
//! sum in *total) for the block that finishes last.
__device__ inline bool checksum_gather(checksum_slot* slot, unsigned long long block_sum, unsigned long long* total) {
  atomicAdd(&slot->sum, block_sum);
  __threadfence();
  const unsigned done = atomicAdd(&slot->done, 1u);
  if (done + 1 != gridDim.x) return false;
  __threadfence();
  *total = atomicAdd(&slot->sum, 0ull);
  return true;
}

//! After compress_kernel: the checksum of each finished stream, stored in its header.
template <class T>
__global__ void __launch_bounds__(block_threads) store_checksum_kernel(const __grid_constant__ compress_launch<T> launch) {
  const compress_task<T>& task = launch.task[blockIdx.y];
  const std::uint64_t words = *task.compressed_bytes / 4;
  const unsigned long long block_sum = checksum_block_sum(task.output, words);
  unsigned long long total = 0;
  if (threadIdx.x == 0 && checksum_gather(task.checksum, block_sum, &total)) {
    auto* field = reinterpret_cast<std::uint32_t*>(task.output + checksum_field_offset);
    field[0] = static_cast<std::uint32_t>(total);
    field[1] = static_cast<std::uint32_t>(total >> 32);
  }
}

//! Words a stream's checksum covers as its header claims them, or 0 when the
//! header is too damaged to say (decompress_kernel then reports why) or carries no
//! checksum (format version 1).
__device__ inline std::uint64_t claimed_checksum_words(const unsigned char* stream, std::uint64_t size) {
  if (size < header_bytes) return 0;
  const auto* w = reinterpret_cast<const std::uint32_t*>(stream);
  if (w[0] != stream_magic_word || (w[1] & 0xffffu) < 2) return 0;
  const std::uint64_t total = static_cast<std::uint64_t>(w[28]) | static_cast<std::uint64_t>(w[29]) << 32;
  if (total < header_bytes || total > size || total % 4 != 0) return 0;
  return total / 4;
}

//! Before decompress_kernel: the checksum of each stream compared with the stored
//! one; the verdict (checksum_verdict) lands in the stream's slot.
template <class T>
__global__ void __launch_bounds__(block_threads) verify_checksum_kernel(const __grid_constant__ decompress_launch<T> launch) {
  const decompress_task<T>& task = launch.task[blockIdx.y];
  if (task.checksum == nullptr) return;  // this launch does not verify
  const std::uint64_t words = claimed_checksum_words(task.stream, task.stream_size);
  const unsigned long long block_sum = checksum_block_sum(task.stream, words);
  unsigned long long total = 0;
  if (threadIdx.x == 0 && checksum_gather(task.checksum, block_sum, &total) && words != 0) {
    const auto* field = reinterpret_cast<const std::uint32_t*>(task.stream + checksum_field_offset);
    const unsigned long long stored = static_cast<unsigned long long>(field[0]) |
                                      static_cast<unsigned long long>(field[1]) << 32;
    task.checksum->verdict = total == stored ? checksum_verdict_match : checksum_verdict_mismatch;
  }
}

}  // namespace gpu
}  // namespace detail
}  // namespace actzip
