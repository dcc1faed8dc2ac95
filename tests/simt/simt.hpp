// SPDX-License-Identifier: Apache-2.0
//
// simt: a test-only SIMT emulator that runs actzip's CUDA kernels, unchanged, on
// the CPU. Each thread of a block is a user-space fiber (boost.context), blocks run
// one after another in launch order (or, in the threaded mode, on several OS
// threads at once with random hand-offs), __shared__ storage belongs to the block
// being run, and so does the dynamic shared memory of its launch (refilled with a
// new pattern when a block starts), and barriers and warp collectives are
// rendezvous points. Wherever a
// GPU's behaviour is undefined the emulator stops the launch with a message that
// names the source lines: a barrier that not every thread of the block reaches,
// threads waiting at different barriers, a warp collective whose mask names lanes
// that never arrive or have exited, lanes of one mask meeting at different
// collectives, a shuffle that reads a lane outside its mask, a spin-wait on a word
// that nobody will publish, and every deadlock.
//
// A test translation unit is compiled by the host compiler with this header forced
// in first (-include simt.hpp) and tests/simt/include ahead of the include path,
// where cuda_runtime.h, <cuda/atomic> and the CUB block primitives have test-only
// stand-ins. ACTZIP_SIMT_EMULATION tells actzip's config.hpp to compile the CUDA
// executor and to launch kernels through simt::launch.
//
// Settings (environment, read once):
//   SIMT_SEED=N           0 (default): threads run in index order; N > 0: a seeded
//                         shuffle of thread order at every scheduling point, and
//                         random preemption at atomics
//   SIMT_BLOCK_WORKERS=N  0 (default): blocks run one at a time in launch order;
//                         N > 0: N OS threads run blocks concurrently, with random
//                         hand-offs, so that protocols between blocks interleave
//   SIMT_SMS, SIMT_BLOCKS_PER_SM   the device the occupancy queries describe (4, 2)
//   SIMT_STACK_KB         fiber stack size (default 128; 1024 under AddressSanitizer)
#pragma once

// Standard headers first: some of them spell attributes with names that are CUDA
// keywords here (__noinline__), so they must be parsed before the keywords exist.
#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#ifndef ACTZIP_SIMT_EMULATION
#define ACTZIP_SIMT_EMULATION 1
#endif

// ---- CUDA's vector types ---------------------------------------------------------------

struct uint3 {
  unsigned x, y, z;
};

//! CUDA's 16-byte vector type (16-byte aligned, as on a GPU, so a misaligned vector
//! access is as wrong here as there).
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace simt {

//! What the emulator throws from a launch that does something a GPU leaves undefined.
class violation : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

//! The emulator's settings (from the environment at first use; tests may change them
//! between launches).
struct options {
  std::uint64_t seed = 0;       //!< 0: index order; else a seeded shuffle of thread order
  unsigned block_workers = 0;   //!< 0: blocks one at a time; else OS threads running blocks at once
  unsigned sms = 4;             //!< multiprocessors the emulated device reports
  unsigned blocks_per_sm = 2;   //!< resident blocks per multiprocessor (occupancy answer)
  std::size_t stack_bytes = 0;  //!< fiber stack size
};
options& settings();

//! Counters over the life of the process.
struct counters {
  std::uint64_t launches = 0, blocks = 0, threads = 0, barriers = 0, collectives = 0, switches = 0;
  std::uint64_t spin_waits = 0;  //!< atomic loads that found nothing new and had to wait
};
counters statistics();
//! One line describing the settings and the counters, for test logs.
std::string summary();

namespace detail {

enum class op : unsigned char {
  syncthreads,
  syncthreads_or,
  syncthreads_and,
  syncthreads_count,
  syncwarp,
  ballot,
  all,
  any,
  shfl,
  shfl_up,
  shfl_down,
  shfl_xor,
  reduce_add,
  reduce_and,
  reduce_or,
  reduce_xor,
  reduce_min_signed,
  reduce_max_signed,
  reduce_min_unsigned,
  reduce_max_unsigned,
};

const uint3& thread_index();
const uint3& block_index();
const dim3& block_dim();
const dim3& grid_dim();

//! A barrier of the whole block; returns the _or/_and/_count result.
int barrier(op o, int predicate, const char* file, unsigned line);
//! A warp collective over the lanes of `mask`; value_bytes of `value` are used.
std::uint64_t warp_collective(op o, unsigned mask, std::uint64_t value, unsigned value_bytes, int lane_argument,
                              int width, const char* file, unsigned line);
//! Called after every atomic read-modify-write or atomic store: others may now see a
//! new value (wakes spin-waits), and in seeded mode the thread may be preempted.
void after_atomic_write(const char* file, unsigned line);
//! Called before every atomic load: a load of the same word with nothing published
//! since this thread's previous load of it is a spin-wait, which blocks the thread
//! until something is published (and is a violation when nothing ever will be).
void before_atomic_load(const volatile void* address, const char* file, unsigned line);
void thread_fence();

//! Runs (or, while `stream` is being captured, records) one launch of `body` on a
//! grid of `grid` blocks of `block` threads, each block with `shared_bytes` of
//! dynamic shared memory. Throws violation.
void launch_erased(const char* file, unsigned line, dim3 grid, dim3 block, std::size_t shared_bytes,
                   cudaStream_t stream, std::function<void()> body);

//! Runs every block of one launch now (launch_erased's last step). Throws violation.
void run_launch(const char* file, unsigned line, dim3 grid, dim3 block, std::size_t shared_bytes,
                const std::function<void()>& body);

//! The calling block's dynamic shared memory (16-byte aligned, filled with a
//! pattern that changes from block to block when the block starts). A kernel that
//! needs `bytes` of it when its launch gave fewer stops the launch.
void* dynamic_shared(std::size_t bytes);

//! The CUDA error that the last failed launch left (read and cleared by
//! cudaGetLastError), per host thread.
int& launch_error();

template <class T>
std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp collectives move up to 8 bytes");
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace detail

//! Launches `kernel` (a __global__ function) on `grid` x `block` threads: the
//! emulator's side of ACTZIP_LAUNCH and ACTZIP_LAUNCH_SHARED, with `shared_bytes`
//! of dynamic shared memory per block. The arguments are converted to the kernel's
//! parameter types once, then every thread calls the kernel with copies.
template <class... Params, class... Args>
void launch(const char* file, unsigned line, void (*kernel)(Params...), dim3 grid, dim3 block,
            std::size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "a launch passes one argument per kernel parameter");
  auto packed = std::make_shared<std::tuple<std::decay_t<Params>...>>(std::forward<Args>(args)...);
  detail::launch_erased(file, line, grid, block, shared_bytes, stream,
                        [kernel, packed] { std::apply(kernel, *packed); });
}

}  // namespace simt

// ---- CUDA keywords -----------------------------------------------------------------------

#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __grid_constant__
//! Per-block storage: blocks of one OS thread run one at a time.
#define __shared__ static thread_local
#define __constant__ static

#define threadIdx (::simt::detail::thread_index())
#define blockIdx (::simt::detail::block_index())
#define blockDim (::simt::detail::block_dim())
#define gridDim (::simt::detail::grid_dim())
#define warpSize 32

// ---- barriers and warp collectives -------------------------------------------------------

inline void __syncthreads(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  (void)simt::detail::barrier(simt::detail::op::syncthreads, 0, file, line);
}
inline int __syncthreads_or(int predicate, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::barrier(simt::detail::op::syncthreads_or, predicate, file, line);
}
inline int __syncthreads_and(int predicate, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::barrier(simt::detail::op::syncthreads_and, predicate, file, line);
}
inline int __syncthreads_count(int predicate, const char* file = __builtin_FILE(),
                               unsigned line = __builtin_LINE()) {
  return simt::detail::barrier(simt::detail::op::syncthreads_count, predicate, file, line);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       unsigned line = __builtin_LINE()) {
  (void)simt::detail::warp_collective(simt::detail::op::syncwarp, mask, 0, 0, 0, 32, file, line);
}
inline unsigned __ballot_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                              unsigned line = __builtin_LINE()) {
  return static_cast<unsigned>(
      simt::detail::warp_collective(simt::detail::op::ballot, mask, predicate != 0, 4, 0, 32, file, line));
}
inline int __all_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                      unsigned line = __builtin_LINE()) {
  return static_cast<int>(
      simt::detail::warp_collective(simt::detail::op::all, mask, predicate != 0, 4, 0, 32, file, line));
}
inline int __any_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                      unsigned line = __builtin_LINE()) {
  return static_cast<int>(
      simt::detail::warp_collective(simt::detail::op::any, mask, predicate != 0, 4, 0, 32, file, line));
}
template <class T>
T __shfl_sync(unsigned mask, T var, int source_lane, int width = 32, const char* file = __builtin_FILE(),
              unsigned line = __builtin_LINE()) {
  return simt::detail::from_bits<T>(simt::detail::warp_collective(
      simt::detail::op::shfl, mask, simt::detail::to_bits(var), sizeof(T), source_lane, width, file, line));
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                 unsigned line = __builtin_LINE()) {
  return simt::detail::from_bits<T>(simt::detail::warp_collective(simt::detail::op::shfl_up, mask,
                                                                  simt::detail::to_bits(var), sizeof(T),
                                                                  static_cast<int>(delta), width, file, line));
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                   unsigned line = __builtin_LINE()) {
  return simt::detail::from_bits<T>(simt::detail::warp_collective(simt::detail::op::shfl_down, mask,
                                                                  simt::detail::to_bits(var), sizeof(T),
                                                                  static_cast<int>(delta), width, file, line));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, const char* file = __builtin_FILE(),
                  unsigned line = __builtin_LINE()) {
  return simt::detail::from_bits<T>(simt::detail::warp_collective(
      simt::detail::op::shfl_xor, mask, simt::detail::to_bits(var), sizeof(T), lane_mask, width, file, line));
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  unsigned line = __builtin_LINE()) {
  return static_cast<unsigned>(
      simt::detail::warp_collective(simt::detail::op::reduce_add, mask, value, 4, 0, 32, file, line));
}
inline int __reduce_add_sync(unsigned mask, int value, const char* file = __builtin_FILE(),
                             unsigned line = __builtin_LINE()) {
  return static_cast<int>(__reduce_add_sync(mask, static_cast<unsigned>(value), file, line));
}
inline unsigned __reduce_and_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  unsigned line = __builtin_LINE()) {
  return static_cast<unsigned>(
      simt::detail::warp_collective(simt::detail::op::reduce_and, mask, value, 4, 0, 32, file, line));
}
inline unsigned __reduce_or_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                 unsigned line = __builtin_LINE()) {
  return static_cast<unsigned>(
      simt::detail::warp_collective(simt::detail::op::reduce_or, mask, value, 4, 0, 32, file, line));
}
inline unsigned __reduce_xor_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  unsigned line = __builtin_LINE()) {
  return static_cast<unsigned>(
      simt::detail::warp_collective(simt::detail::op::reduce_xor, mask, value, 4, 0, 32, file, line));
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  unsigned line = __builtin_LINE()) {
  return static_cast<unsigned>(
      simt::detail::warp_collective(simt::detail::op::reduce_min_unsigned, mask, value, 4, 0, 32, file, line));
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  unsigned line = __builtin_LINE()) {
  return static_cast<unsigned>(
      simt::detail::warp_collective(simt::detail::op::reduce_max_unsigned, mask, value, 4, 0, 32, file, line));
}
inline int __reduce_min_sync(unsigned mask, int value, const char* file = __builtin_FILE(),
                             unsigned line = __builtin_LINE()) {
  return static_cast<int>(simt::detail::warp_collective(simt::detail::op::reduce_min_signed, mask,
                                                        static_cast<std::uint32_t>(value), 4, 0, 32, file, line));
}
inline int __reduce_max_sync(unsigned mask, int value, const char* file = __builtin_FILE(),
                             unsigned line = __builtin_LINE()) {
  return static_cast<int>(simt::detail::warp_collective(simt::detail::op::reduce_max_signed, mask,
                                                        static_cast<std::uint32_t>(value), 4, 0, 32, file, line));
}

inline void __threadfence() { simt::detail::thread_fence(); }
inline void __threadfence_block() { simt::detail::thread_fence(); }

// ---- atomics (device-wide; sequentially consistent on the host) --------------------------

namespace simt {
namespace detail {
template <class T, class F>
T atomic_update(T* address, F f, const char* file, unsigned line) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "32- and 64-bit atomics");
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  U* word = reinterpret_cast<U*>(address);
  U expected = __atomic_load_n(word, __ATOMIC_SEQ_CST);
  for (;;) {
    const T old = from_bits<T>(expected);
    const U desired = static_cast<U>(to_bits(static_cast<T>(f(old))));
    if (__atomic_compare_exchange_n(word, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      after_atomic_write(file, line);
      return old;
    }
  }
}
}  // namespace detail
}  // namespace simt

template <class T>
T atomicAdd(T* address, T value, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::atomic_update(address, [value](T old) { return static_cast<T>(old + value); }, file, line);
}
template <class T>
T atomicSub(T* address, T value, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::atomic_update(address, [value](T old) { return static_cast<T>(old - value); }, file, line);
}
template <class T>
T atomicOr(T* address, T value, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::atomic_update(address, [value](T old) { return static_cast<T>(old | value); }, file, line);
}
template <class T>
T atomicAnd(T* address, T value, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::atomic_update(address, [value](T old) { return static_cast<T>(old & value); }, file, line);
}
template <class T>
T atomicXor(T* address, T value, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::atomic_update(address, [value](T old) { return static_cast<T>(old ^ value); }, file, line);
}
template <class T>
T atomicMax(T* address, T value, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::atomic_update(address, [value](T old) { return old < value ? value : old; }, file, line);
}
template <class T>
T atomicMin(T* address, T value, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::atomic_update(address, [value](T old) { return value < old ? value : old; }, file, line);
}
template <class T>
T atomicExch(T* address, T value, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::atomic_update(address, [value](T) { return value; }, file, line);
}
template <class T>
T atomicCAS(T* address, T compare, T value, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
  return simt::detail::atomic_update(
      address, [compare, value](T old) { return old == compare ? value : old; }, file, line);
}

// ---- other intrinsics ------------------------------------------------------------------------

inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline float __int_as_float(int x) { return simt::detail::from_bits<float>(static_cast<std::uint32_t>(x)); }
inline float __uint_as_float(unsigned x) { return simt::detail::from_bits<float>(x); }
inline int __float_as_int(float x) { return static_cast<int>(simt::detail::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return static_cast<unsigned>(simt::detail::to_bits(x)); }
inline double __longlong_as_double(long long x) {
  return simt::detail::from_bits<double>(static_cast<std::uint64_t>(x));
}
inline long long __double_as_longlong(double x) { return static_cast<long long>(simt::detail::to_bits(x)); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
