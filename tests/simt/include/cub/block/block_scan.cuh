// SPDX-License-Identifier: Apache-2.0
//
// Test-only stand-in for cub::BlockScan under the SIMT emulator: the entry points
// actzip's kernels use, with CUB's contract (every thread of the block calls it;
// TempStorage may be reused only after a barrier). Each thread publishes its
// partial in shared storage, thread 0 scans the partials, every thread reads its
// prefix: two barriers, so a scan called from divergent code is caught like any
// other barrier.
#pragma once

#include "../../../simt.hpp"

namespace cub {

template <class T, int BlockThreads>
class BlockScan {
 public:
  struct TempStorage {
    T partial[BlockThreads];
    T aggregate;
  };

  explicit BlockScan(TempStorage& storage) : storage_(storage) {}

  //! Exclusive prefix sum of one item per thread; the block's total in `block_aggregate`.
  void ExclusiveSum(T input, T& output, T& block_aggregate) {
    const unsigned tid = linear_thread();
    storage_.partial[tid] = input;
    __syncthreads();
    if (tid == 0) {
      T running{};
      for (int i = 0; i < BlockThreads; ++i) {
        const T item = storage_.partial[i];
        storage_.partial[i] = running;
        running = running + item;
      }
      storage_.aggregate = running;
    }
    __syncthreads();
    output = storage_.partial[tid];
    block_aggregate = storage_.aggregate;
  }

  //! Exclusive prefix sum of one item per thread.
  void ExclusiveSum(T input, T& output) {
    T aggregate;
    ExclusiveSum(input, output, aggregate);
  }

  //! Inclusive scan with `op` of Items items per thread in blocked arrangement (thread
  //! t holds items t * Items .. t * Items + Items - 1).
  template <int Items, class ScanOp>
  void InclusiveScan(T (&input)[Items], T (&output)[Items], ScanOp op) {
    const unsigned tid = linear_thread();
    T local[Items];
    local[0] = input[0];
    for (int j = 1; j < Items; ++j) local[j] = op(local[j - 1], input[j]);
    storage_.partial[tid] = local[Items - 1];
    __syncthreads();
    if (tid == 0) {  // exclusive prefixes of the threads' totals (thread 0 has none)
      T running = storage_.partial[0];
      for (int i = 1; i < BlockThreads; ++i) {
        const T item = storage_.partial[i];
        storage_.partial[i] = running;
        running = op(running, item);
      }
      storage_.aggregate = running;
    }
    __syncthreads();
    if (tid == 0) {
      for (int j = 0; j < Items; ++j) output[j] = local[j];
    } else {
      const T prefix = storage_.partial[tid];
      for (int j = 0; j < Items; ++j) output[j] = op(prefix, local[j]);
    }
  }

 private:
  static unsigned linear_thread() {
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  }
  TempStorage& storage_;
};

}  // namespace cub
