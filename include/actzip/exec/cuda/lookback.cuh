// SPDX-License-Identifier: Apache-2.0
//
// Chunk offsets in one pass: a decoupled look-back scan over chunk sizes. Every
// chunk owns a 64-bit state word in the workspace (zero before the kernel): the top
// two bits say what the low 62 hold (nothing yet, the chunk's own size, or the
// inclusive prefix up to and including it). A block publishes its chunk's size as
// soon as it is known, then a warp walks back over its predecessors 32 at a time,
// adding sizes until it meets an inclusive prefix. Chunks are handed out by a
// ticket counter, so every predecessor a block waits for is held by a block that
// is already running: the wait always ends.
#pragma once

#include <actzip/config.hpp>

#include <cuda/atomic>

#include <cstdint>

namespace actzip {
namespace detail {
namespace gpu {

inline constexpr unsigned long long lookback_flag_shift = 62;
inline constexpr unsigned long long lookback_aggregate = 1ull << lookback_flag_shift;
inline constexpr unsigned long long lookback_inclusive = 2ull << lookback_flag_shift;
inline constexpr unsigned long long lookback_value_mask = lookback_aggregate - 1;

__device__ inline void lookback_publish(unsigned long long* state, unsigned long long word) {
  ::cuda::atomic_ref<unsigned long long, ::cuda::thread_scope_device>(*state).store(word,
                                                                                   ::cuda::memory_order_relaxed);
}

__device__ inline unsigned long long lookback_read(unsigned long long* state) {
  return ::cuda::atomic_ref<unsigned long long, ::cuda::thread_scope_device>(*state).load(
      ::cuda::memory_order_relaxed);
}

//! Called by all 32 lanes of one warp: publishes chunk `chunk`'s `size` and returns
//! the sum of the sizes of chunks [0, chunk) (to every lane); publishes the
//! inclusive prefix on the way out. Value and flag share one word, so relaxed
//! atomics suffice.
__device__ inline unsigned long long lookback_exclusive_prefix(unsigned long long* states, std::uint64_t chunk,
                                                               unsigned long long size) {
  const unsigned lane = threadIdx.x % 32;
  if (chunk == 0) {
    if (lane == 0) lookback_publish(states, lookback_inclusive | size);
    return 0;
  }
  if (lane == 0) lookback_publish(states + chunk, lookback_aggregate | size);
  unsigned long long exclusive = 0;
  long long window = static_cast<long long>(chunk) - 1;  // the predecessor lane 0 reads
  for (;;) {
    const long long index = window - static_cast<long long>(lane);
    unsigned long long word = lookback_inclusive;  // before chunk 0: an inclusive prefix of 0
    if (index >= 0) {
      do {
        word = lookback_read(states + index);
      } while ((word >> lookback_flag_shift) == 0);
    }
    const unsigned inclusive_lanes = __ballot_sync(0xffffffffu, (word >> lookback_flag_shift) == 2);
    // Lanes up to the first one holding an inclusive prefix contribute.
    const unsigned last = inclusive_lanes != 0 ? static_cast<unsigned>(__ffs(inclusive_lanes)) - 1 : 31u;
    unsigned long long part = lane <= last ? (word & lookback_value_mask) : 0ull;
    for (unsigned offset = 16; offset > 0; offset /= 2) part += __shfl_xor_sync(0xffffffffu, part, offset);
    exclusive += part;
    if (inclusive_lanes != 0) break;
    window -= 32;
  }
  if (lane == 0) lookback_publish(states + chunk, lookback_inclusive | (exclusive + size));
  return exclusive;
}

}  // namespace gpu
}  // namespace detail
}  // namespace actzip
