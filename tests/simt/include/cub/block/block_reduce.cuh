// SPDX-License-Identifier: Apache-2.0
//
// Test-only stand-in for cub::BlockReduce under the SIMT emulator: Sum, with CUB's
// contract (every thread calls it; the result is valid in thread 0 only).
#pragma once

#include "../../../simt.hpp"

namespace cub {

template <class T, int BlockThreads>
class BlockReduce {
 public:
  struct TempStorage {
    T partial[BlockThreads];
  };

  explicit BlockReduce(TempStorage& storage) : storage_(storage) {}

  //! The sum over the block, returned to thread 0 (other threads get their own input).
  T Sum(T input) {
    const unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    storage_.partial[tid] = input;
    __syncthreads();
    if (tid != 0) return input;
    T sum{};
    for (int i = 0; i < BlockThreads; ++i) sum = sum + storage_.partial[i];
    return sum;
  }

 private:
  TempStorage& storage_;
};

}  // namespace cub
