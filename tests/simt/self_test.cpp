// SPDX-License-Identifier: Apache-2.0
//
// The SIMT emulator itself: warp collectives and barriers compute what a GPU
// computes, the CUB stand-ins scan like CUB, seeded thread orders really differ,
// blocks on several OS threads finish a protocol that waits across blocks, dynamic
// shared memory is per block, starts as garbage and holds no more than its launch
// gave, and every kind of undefined behaviour the emulator promises to catch is
// caught, with the source line in the message.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <actzip/config.hpp>
#include <actzip/exec/cuda/common.cuh>
#include <actzip/exec/cuda/lookback.cuh>

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cuda/atomic>
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

constexpr unsigned full = 0xffffffffu;

//! Runs `launch` and returns the violation's message ("" when there was none).
template <class F>
std::string violation_of(F&& launch) {
  try {
    launch();
  } catch (const simt::violation& v) {
    return v.what();
  }
  return {};
}

//! Restores the emulator's settings at scope exit.
struct settings_scope {
  simt::options saved = simt::settings();
  ~settings_scope() { simt::settings() = saved; }
};

// ---- kernels that are correct ------------------------------------------------------------

__global__ void collectives(unsigned* out) {
  const unsigned tid = threadIdx.x, lane = tid % 32;
  unsigned* o = out + 16 * tid;
  o[0] = __ballot_sync(full, lane % 3 == 0);
  o[1] = __shfl_sync(full, tid * 10, 7);
  o[2] = __shfl_up_sync(full, tid, 3);
  o[3] = __shfl_down_sync(full, tid, 5, 16);
  o[4] = __shfl_xor_sync(full, tid, 9);
  o[5] = __reduce_add_sync(full, lane);
  o[6] = __reduce_or_sync(full, 1u << lane);
  o[7] = static_cast<unsigned>(__reduce_min_sync(full, static_cast<int>(lane) - 7));
  o[8] = __reduce_max_sync(full, lane * 3u);
  o[9] = static_cast<unsigned>(__syncthreads_or(tid == 200));
  o[10] = static_cast<unsigned>(__syncthreads_and(tid < 256));
  o[11] = static_cast<unsigned>(__syncthreads_count(tid % 4 == 0));
  // A mask of the lower half-warp only.
  o[12] = lane < 16 ? __ballot_sync(0x0000ffffu, lane % 2 == 0) : 0u;
  o[13] = static_cast<unsigned>(__any_sync(full, tid == 33));
  o[14] = static_cast<unsigned>(__all_sync(full, lane < 32));
  __syncwarp();
  o[15] = threadIdx.x + 1000 * blockIdx.x + 100000 * blockDim.x;
}

template <int Items>
__global__ void scans(unsigned* exclusive, unsigned* aggregate, unsigned* inclusive, unsigned long long* sum) {
  using scan = cub::BlockScan<unsigned, 256>;
  using reduce = cub::BlockReduce<unsigned long long, 256>;
  __shared__ typename scan::TempStorage scan_storage;
  __shared__ typename reduce::TempStorage reduce_storage;
  const unsigned tid = threadIdx.x;
  unsigned before = 0, total = 0;
  scan(scan_storage).ExclusiveSum(tid * 3 + 1, before, total);
  exclusive[tid] = before;
  if (tid == 0) *aggregate = total;
  __syncthreads();
  unsigned items[Items];
  for (int j = 0; j < Items; ++j) items[j] = tid * Items + static_cast<unsigned>(j);
  scan(scan_storage).InclusiveScan(items, items, [](unsigned a, unsigned b) { return a + b; });
  for (int j = 0; j < Items; ++j) inclusive[tid * Items + static_cast<unsigned>(j)] = items[j];
  const unsigned long long s = reduce(reduce_storage).Sum(tid);
  if (tid == 0) *sum = s;
}

__global__ void arrival_order(unsigned* counter, unsigned* position) {
  __syncthreads();
  position[threadIdx.x] = atomicAdd(counter, 1u);
}

//! Each block waits for the block before it (by ticket) to publish: finishes only
//! when blocks really run, in ticket order or side by side.
__global__ void ticket_chain(unsigned long long* ticket_counter, unsigned long long* flags, unsigned long long* order) {
  __shared__ unsigned long long ticket;
  if (threadIdx.x == 0) ticket = atomicAdd(ticket_counter, 1ull);
  __syncthreads();
  if (threadIdx.x == 0) {
    if (ticket > 0)
      while (cuda::atomic_ref<unsigned long long, cuda::thread_scope_device>(flags[ticket - 1]).load(
                 cuda::memory_order_relaxed) == 0) {
      }
    order[ticket] = blockIdx.x;
    cuda::atomic_ref<unsigned long long, cuda::thread_scope_device>(flags[ticket]).store(1, cuda::memory_order_relaxed);
  }
}

// ---- kernels that are wrong on purpose ---------------------------------------------------

__global__ void divergent_barrier(int*) {
  if (threadIdx.x < 100)
    __syncthreads();
  else
    __syncthreads();
}

__global__ void early_return_then_barrier(int*) {
  if (threadIdx.x == 5) return;
  __syncthreads();
}

__global__ void collective_with_exited_lane(int*) {
  if (threadIdx.x == 3) return;
  (void)__ballot_sync(full, 1);
}

__global__ void different_collectives(int*) {
  if (threadIdx.x % 32 < 16)
    (void)__ballot_sync(full, 1);
  else
    (void)__shfl_sync(full, 1, 0);
}

__global__ void mask_without_caller(int*) { (void)__ballot_sync(1u, 1); }

__global__ void shuffle_outside_mask(int* out) {
  if (threadIdx.x % 32 < 16) out[threadIdx.x] = __shfl_sync(0x0000ffffu, 5, 20);
}

__global__ void collective_against_barrier(int*) {
  if (threadIdx.x == 0)
    __syncthreads();
  else
    (void)__ballot_sync(full, 1);
}

__global__ void lookback_unpublished(unsigned long long* states) {
  (void)actzip::detail::gpu::lookback_exclusive_prefix(states, 5, 16);
}

//! A shared flag set in the same barrier interval in which other threads read it:
//! whether a thread sees it depends on the order threads run in.
__global__ void racy_flag(int* result) {
  __shared__ int bad;
  if (threadIdx.x == 0) bad = 0;
  __syncthreads();
  if (bad != 0) {  // read here ...
    __syncthreads();
    return;
  }
  if (threadIdx.x == 77) atomicOr(&bad, 1);  // ... and set in the same interval
  __syncthreads();
  *result = bad;
}

}  // namespace

TEST_CASE("warp collectives and barriers compute what a GPU computes") {
  std::vector<unsigned> out(16 * 256 * 2, 0);
  ACTZIP_LAUNCH(collectives, 2, 256, nullptr, out.data());
  REQUIRE(cudaGetLastError() == cudaSuccess);
  // The second block overwrites the first: the same values except the index word.
  for (unsigned tid = 0; tid < 256; ++tid) {
    CAPTURE(tid);
    const unsigned lane = tid % 32, base = tid - lane;
    const unsigned* o = out.data() + 16 * tid;
    unsigned ballot = 0;
    for (unsigned l = 0; l < 32; l += 3) ballot |= 1u << l;
    CHECK(o[0] == ballot);
    CHECK(o[1] == (base + 7) * 10);
    CHECK(o[2] == (lane >= 3 ? tid - 3 : tid));
    CHECK(o[3] == (lane % 16 + 5 < 16 ? tid + 5 : tid));
    CHECK(o[4] == (base + (lane ^ 9)));
    CHECK(o[5] == 496u);
    CHECK(o[6] == full);
    CHECK(static_cast<int>(o[7]) == -7);
    CHECK(o[8] == 93u);
    CHECK(o[9] == 1u);
    CHECK(o[10] == 1u);
    CHECK(o[11] == 64u);
    CHECK(o[12] == (lane < 16 ? 0x5555u : 0u));
    CHECK(o[13] == (base == 32 ? 1u : 0u));
    CHECK(o[14] == 1u);
    CHECK(o[15] == tid + 1000 + 100000 * 256);
  }
}

TEST_CASE("the CUB stand-ins scan and reduce like CUB") {
  std::vector<unsigned> exclusive(256), inclusive(256 * 4);
  unsigned aggregate = 0;
  unsigned long long sum = 0;
  ACTZIP_LAUNCH(scans<4>, 1, 256, nullptr, exclusive.data(), &aggregate, inclusive.data(), &sum);
  unsigned running = 0;
  for (unsigned t = 0; t < 256; ++t) {
    CHECK(exclusive[t] == running);
    running += t * 3 + 1;
  }
  CHECK(aggregate == running);
  unsigned long long total = 0;
  for (unsigned i = 0; i < 1024; ++i) {
    total += i;
    CHECK(inclusive[i] == static_cast<unsigned>(total));
  }
  CHECK(sum == 255ull * 256 / 2);
}

TEST_CASE("a seeded thread order differs from index order and from another seed") {
  settings_scope restore;
  auto order_with = [](std::uint64_t seed) {
    simt::settings().seed = seed;
    unsigned counter = 0;
    std::vector<unsigned> position(256);
    ACTZIP_LAUNCH(arrival_order, 1, 256, nullptr, &counter, position.data());
    return position;
  };
  const std::vector<unsigned> natural = order_with(0), one = order_with(1), two = order_with(2);
  for (unsigned t = 0; t < 256; ++t) CHECK(natural[t] == t);
  CHECK(one != natural);
  CHECK(two != natural);
  CHECK(one != two);
}

TEST_CASE("blocks waiting on each other finish, one at a time and on several OS threads") {
  settings_scope restore;
  for (const unsigned workers : {0u, 1u, 3u, 4u}) {
    CAPTURE(workers);
    simt::settings().block_workers = workers;
    simt::settings().seed = 9;
    constexpr unsigned blocks = 64;
    unsigned long long ticket = 0;
    std::vector<unsigned long long> flags(blocks, 0), order(blocks, ~0ull);
    ACTZIP_LAUNCH(ticket_chain, blocks, 64, nullptr, &ticket, flags.data(), order.data());
    CHECK(ticket == blocks);
    for (unsigned k = 0; k < blocks; ++k) CHECK(flags[k] == 1);
    std::vector<bool> seen(blocks, false);
    for (unsigned k = 0; k < blocks; ++k) {
      REQUIRE(order[k] < blocks);
      seen[order[k]] = true;
    }
    CHECK(std::count(seen.begin(), seen.end(), true) == blocks);
  }
}

TEST_CASE("what a GPU leaves undefined stops the launch, with the source line") {
  int scratch[256] = {};
  const std::string file = "self_test.cpp:";

  std::string v = violation_of([&] { ACTZIP_LAUNCH(divergent_barrier, 1, 256, nullptr, scratch); });
  CHECK_MESSAGE(v.find("wait at different barriers") != std::string::npos, v);
  CHECK_MESSAGE(v.find("100 at __syncthreads at " + file) != std::string::npos, v);
  CHECK_MESSAGE(v.find("156 at __syncthreads at " + file) != std::string::npos, v);

  v = violation_of([&] { ACTZIP_LAUNCH(early_return_then_barrier, 1, 256, nullptr, scratch); });
  CHECK_MESSAGE(v.find("returned from the kernel") != std::string::npos, v);
  CHECK_MESSAGE(v.find("thread 5") != std::string::npos, v);

  // Lane 3 returns before or after the others reach the ballot, by thread order.
  v = violation_of([&] { ACTZIP_LAUNCH(collective_with_exited_lane, 1, 64, nullptr, scratch); });
  CHECK_MESSAGE(v.find("__ballot_sync") != std::string::npos, v);
  CHECK_MESSAGE(v.find(file) != std::string::npos, v);
  CHECK_MESSAGE((v.find("names lane 3") != std::string::npos || v.find("thread 3 ") != std::string::npos), v);

  v = violation_of([&] { ACTZIP_LAUNCH(different_collectives, 1, 32, nullptr, scratch); });
  CHECK_MESSAGE(v.find("meet at different warp collectives") != std::string::npos, v);
  CHECK_MESSAGE(v.find("__shfl_sync at " + file) != std::string::npos, v);

  v = violation_of([&] { ACTZIP_LAUNCH(mask_without_caller, 1, 32, nullptr, scratch); });
  CHECK_MESSAGE(v.find("does not name the calling thread") != std::string::npos, v);

  v = violation_of([&] { ACTZIP_LAUNCH(shuffle_outside_mask, 1, 32, nullptr, scratch); });
  CHECK_MESSAGE(v.find("reads lane 20, which is not in the mask") != std::string::npos, v);

  v = violation_of([&] { ACTZIP_LAUNCH(collective_with_exited_lane, 1, 20, nullptr, scratch); });
  CHECK_MESSAGE(v.find("does not exist in a block of 20 threads") != std::string::npos, v);

  v = violation_of([&] { ACTZIP_LAUNCH(collective_against_barrier, 1, 32, nullptr, scratch); });
  CHECK_MESSAGE(v.find("deadlock") != std::string::npos, v);
  CHECK_MESSAGE(v.find("wait at the barrier __syncthreads at " + file) != std::string::npos, v);
  CHECK_MESSAGE(v.find("wait at the warp collective __ballot_sync") != std::string::npos, v);

  // The look-back waiting for a predecessor that never publishes its size.
  std::vector<unsigned long long> states(8, 0);
  states[0] = actzip::detail::gpu::lookback_inclusive | 8;
  v = violation_of([&] { ACTZIP_LAUNCH(lookback_unpublished, 1, 32, nullptr, states.data()); });
  CHECK_MESSAGE(v.find("spin at lookback.cuh:") != std::string::npos, v);
  CHECK_MESSAGE(v.find("nobody will publish") != std::string::npos, v);

  // A launch after a violation runs normally.
  std::vector<unsigned> out(16 * 256, 0);
  ACTZIP_LAUNCH(collectives, 1, 256, nullptr, out.data());
  CHECK(out[15] == 100000u * 256);
}

TEST_CASE("a flag read and set in one barrier interval is caught by some thread order") {
  settings_scope restore;
  int caught = 0;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    simt::settings().seed = seed;
    int result = 0;
    const std::string v = violation_of([&] { ACTZIP_LAUNCH(racy_flag, 1, 256, nullptr, &result); });
    if (!v.empty()) {
      CHECK_MESSAGE(v.find("wait at different barriers") != std::string::npos, v);
      ++caught;
    }
  }
  CHECK(caught > 0);
}

TEST_CASE("launch configuration errors are CUDA errors, not launches") {
  int scratch[1] = {};
  ACTZIP_LAUNCH(divergent_barrier, 0, 256, nullptr, scratch);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  ACTZIP_LAUNCH(divergent_barrier, 1, 2048, nullptr, scratch);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);
}

namespace {

struct block_words {
  unsigned w[64];
};

//! Blocks of 64 threads: the first word of the block's dynamic shared memory as it
//! found it goes to out[65 * block], then each thread writes its word and reads its
//! neighbour's into out[65 * block + 1 + thread].
__global__ void dynamic_words(unsigned* out) {
  block_words& d = actzip::detail::gpu::dynamic_shared<block_words>();
  const unsigned t = threadIdx.x, b = blockIdx.x;
  if (t == 0) out[65 * b] = d.w[0];
  __syncthreads();
  d.w[t] = 1000 * b + t;
  __syncthreads();
  out[65 * b + 1 + t] = d.w[(t + 1) % 64];
}

}  // namespace

TEST_CASE("dynamic shared memory: the launch's bytes per block, garbage at the start, and no more than given") {
  std::vector<unsigned> out(3 * 65, 0);
  ACTZIP_LAUNCH_SHARED(dynamic_words, 3, 64, sizeof(block_words), nullptr, out.data());
  REQUIRE(cudaGetLastError() == cudaSuccess);
  for (unsigned b = 0; b < 3; ++b)
    for (unsigned t = 0; t < 64; ++t) CHECK(out[65 * b + 1 + t] == 1000 * b + (t + 1) % 64);
  // What a block finds is neither zero nor what the block before it left.
  for (unsigned b = 0; b < 3; ++b) CHECK(out[65 * b] != 0u);
  CHECK(out[65] != 63u);
  CHECK(out[0] != out[65]);
  CHECK(out[65] != out[130]);

  const std::string v =
      violation_of([&] { ACTZIP_LAUNCH_SHARED(dynamic_words, 1, 64, sizeof(block_words) - 4, nullptr, out.data()); });
  CHECK_MESSAGE(v.find("uses 256 bytes of dynamic shared memory; its launch gave 252") != std::string::npos, v);
  const std::string none = violation_of([&] { ACTZIP_LAUNCH(dynamic_words, 1, 64, nullptr, out.data()); });
  CHECK_MESSAGE(none.find("its launch gave 0") != std::string::npos, none);

  // Beyond 48 KiB a launch needs an opt-in on a GPU: a configuration error here.
  ACTZIP_LAUNCH_SHARED(dynamic_words, 1, 64, 48 * 1024 + 16, nullptr, out.data());
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);
}
