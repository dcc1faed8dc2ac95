// SPDX-License-Identifier: Apache-2.0
//
// What the CUDA kernels share: the block shape (one 256-thread block per
// 4096-element chunk, 16 elements a thread, one warp per group of 32), the
// per-launch task tables passed by value as kernel parameters, and aligned element
// loads and stores. Every section of a stream starts 4-byte aligned when the
// stream does, so device code reads and writes whole words (GPUs are
// little-endian, which is the stream's byte order). Also the workspace slots of the
// Huffman code book (one per Huffman or automatic tensor, one per decoded stream).
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/core/dtype.hpp>
#include <actzip/core/extents.hpp>
#include <actzip/error.hpp>
#include <actzip/format/geometry.hpp>
#include <actzip/params.hpp>
#include <actzip/stages/bitplane.hpp>
#include <actzip/stages/huffman.hpp>

#include <cstdint>
#include <type_traits>

namespace actzip {
namespace detail {
namespace gpu {

inline constexpr unsigned block_threads = 256;
inline constexpr unsigned warps_per_block = block_threads / 32;
inline constexpr unsigned items_per_thread = max_chunk_elements / block_threads;
inline constexpr unsigned max_groups = max_chunk_elements / group_size;
inline constexpr unsigned full_mask = 0xffffffffu;
//! Tensors per launch of a batch (their descriptors travel as kernel parameters,
//! which must stay under 4 KiB).
inline constexpr unsigned tasks_per_launch = 16;

static_assert(max_chunk_elements == block_threads * items_per_thread, "one block covers one chunk");
static_assert(max_groups <= 256, "a group's rank among non-zero groups fits in a byte");

//! Full chunks: the chunk shapes are format constants (1-D {1,1,4096}, 2-D {1,64,64},
//! 3-D {16,16,16}), and element k * block_threads + tid of a full chunk lies at
//! first + k * step in the tensor (256 consecutive elements are one run of a 1-D
//! chunk, four rows of a 2-D chunk, one plane of a 3-D chunk). Computed once per
//! chunk and thread, it replaces box_element_index's divisions and remainders
//! (which edge chunks, clipped to the tensor, still use).
struct full_chunk_walk {
  std::uint64_t first;  //!< the tensor index of element tid
  std::uint64_t step;   //!< the distance from element i to element i + block_threads
};

//! Which format chunk shape a geometry uses (the Lorenzo box of its full chunks).
enum class chunk_kind : unsigned { linear = 1, planar = 2, cubic = 3 };

__device__ __forceinline__ chunk_kind chunk_kind_of(const chunk_geometry& g) {
  return g.chunk.e0 == 16 ? chunk_kind::cubic : g.chunk.e1 == 64 ? chunk_kind::planar : chunk_kind::linear;
}

//! True when `b` is a whole chunk of `g` (not clipped by the tensor's edge).
__device__ __forceinline__ bool is_full_chunk(const chunk_geometry& g, const chunk_geometry::box& b) {
#if defined(ACTZIP_KERNEL_REPORT_FULL_CHUNKS)
  // bench/kernel-report.sh only: compile the kernels as if every chunk were full, so
  // that the code edge chunks need drops out and what is left is the full-chunk path.
  (void)g, (void)b;
  return true;
#endif
  return b.extent.e0 == g.chunk.e0 && b.extent.e1 == g.chunk.e1 && b.extent.e2 == g.chunk.e2;
}

//! The walk of thread `tid` over full chunk `b` of `g`; shifts and masks only.
__device__ __forceinline__ full_chunk_walk full_chunk_walk_of(const chunk_geometry& g, const chunk_geometry::box& b,
                                                              unsigned tid) {
  const std::uint64_t d2 = g.dims[2];
  const std::uint64_t origin = (b.origin[0] * g.dims[1] + b.origin[1]) * d2 + b.origin[2];
  switch (chunk_kind_of(g)) {
    case chunk_kind::cubic:  // 16 x 16 x 16: plane k, row tid / 16, column tid % 16
      return {origin + (tid >> 4) * d2 + (tid & 15u), g.dims[1] * d2};
    case chunk_kind::planar:  // 64 x 64: rows 4k + tid / 64, column tid % 64
      return {origin + (tid >> 6) * d2 + (tid & 63u), 4 * d2};
    case chunk_kind::linear:
    default:
      return {origin + tid, block_threads};
  }
}

//! The position of element `i` in a box of extents e2 = 2^shift2 and e1 = 2^shift1
//! (every full chunk, and edge chunks of such extents): position_in_box with shifts
//! and masks instead of divisions.
__device__ __forceinline__ box_position position_in_pow2_box(std::uint32_t i, unsigned shift2, unsigned shift1) {
  const std::uint32_t row = i >> shift2;
  return box_position{i & ((1u << shift2) - 1u), row & ((1u << shift1) - 1u), row >> shift1, 1u << shift2,
                      1u << (shift1 + shift2)};
}

//! True when x is a power of two (x > 0).
__device__ __forceinline__ bool is_power_of_two(std::uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

//! log2(x) for a power of two x (the position of its lowest set bit; 0 for x = 0).
__device__ __forceinline__ unsigned log2_of_power(std::uint32_t x) {
  return x == 0 ? 0u : static_cast<unsigned>(__ffs(static_cast<int>(x)) - 1);
}

//! The tensor index of element i (C order) of chunk `b`: shifts and masks for a full
//! chunk (any element, e.g. a losslessly stored one), box_element_index otherwise.
__device__ __forceinline__ std::uint64_t chunk_element_index(const chunk_geometry& g, const chunk_geometry::box& b,
                                                              std::uint32_t i) {
  if (!is_full_chunk(g, b)) return box_element_index(g, b, i);
  const std::uint64_t d2 = g.dims[2];
  const std::uint64_t origin = (b.origin[0] * g.dims[1] + b.origin[1]) * d2 + b.origin[2];
  switch (chunk_kind_of(g)) {
    case chunk_kind::cubic: return origin + (i >> 8) * (g.dims[1] * d2) + ((i >> 4) & 15u) * d2 + (i & 15u);
    case chunk_kind::planar: return origin + (i >> 6) * d2 + (i & 63u);
    case chunk_kind::linear:
    default: return origin + i;
  }
}

//! Asks for the memory line holding `p` to be brought into the L2 cache: a hint
//! that loads nothing into registers (nothing on the emulator).
__device__ __forceinline__ void prefetch_l2(const void* p) {
#if defined(__CUDA_ARCH__)
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#else
  (void)p;
#endif
}

//! An asynchronous copy of `Bytes` (4 or 16) bytes from global into shared memory
//! (cp.async, sm_80 and later: the copies of a thread are in flight together, and
//! bypass its registers), both addresses aligned to the size; copy_async_wait()
//! waits for the calling thread's. Earlier GPUs, and the emulator, copy
//! synchronously.
template <unsigned Bytes>
__device__ __forceinline__ void copy_async(void* to_shared, const void* from) {
  static_assert(Bytes == 4 || Bytes == 16, "cp.async copies 4, 8 or 16 bytes; 4 and 16 are used");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned to = static_cast<unsigned>(__cvta_generic_to_shared(to_shared));
  if constexpr (Bytes == 16)  // .cg (L2 only) exists for 16-byte copies alone
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(to), "l"(from) : "memory");
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(to), "l"(from) : "memory");
#else
  using unit = std::conditional_t<Bytes == 16, uint4, std::uint32_t>;
  *static_cast<unit*>(to_shared) = *static_cast<const unit*>(from);
#endif
}
__device__ __forceinline__ void copy_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

//! Copies the `bytes` bytes at `from` (global memory, 4-byte aligned) to `to`
//! (shared memory, with to % 16 == from % 16) with asynchronous copies: 4-byte ones
//! up to the first 16-byte boundary and after the last, 16-byte ones between, and
//! plain byte copies for a last partial word. Called by the whole block; every
//! thread sees the copy after copy_async_wait (called here) and the next barrier.
__device__ __forceinline__ void copy_to_shared_block(unsigned char* to, const unsigned char* from,
                                                     std::uint32_t bytes) {
  const unsigned tid = threadIdx.x;
  const std::uint32_t to_boundary = (16u - static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(from) % 16)) % 16;
  const std::uint32_t head = (bytes < to_boundary ? bytes : to_boundary) & ~3u;
  const std::uint32_t body = (bytes - head) & ~15u;
  const std::uint32_t words = head + body + ((bytes - head - body) & ~3u);  // bytes in whole words
  if (tid < head / 4) copy_async<4>(to + 4 * tid, from + 4 * tid);
  for (std::uint32_t k = tid; k < body / 16; k += block_threads)
    copy_async<16>(to + head + 16 * k, from + head + 16 * k);
  if (tid < (words - head - body) / 4) copy_async<4>(to + head + body + 4 * tid, from + head + body + 4 * tid);
  if (tid < bytes - words) to[words + tid] = from[words + tid];
  copy_async_wait();
}

//! Elements of T in one 16-byte vector load.
template <class T>
inline constexpr unsigned vector_elements = 16 / sizeof(T);

//! True when `p` may be read by 16-byte vector loads.
__device__ __forceinline__ bool vector_aligned(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

//! Loads the vector_elements<T> elements at `at` (16-byte aligned) with one 16-byte
//! load, into x[0, vector_elements<T>).
template <class T>
__device__ __forceinline__ void load_vector(const T* at, T* x) {
  using bits = typename dtype_traits<T>::bits_type;
  const uint4 q = *reinterpret_cast<const uint4*>(at);
  const std::uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
  for (unsigned c = 0; c < vector_elements<T>; ++c) {
    if constexpr (sizeof(T) == 2)
      x[c] = bit_cast<T>(static_cast<bits>(w[c / 2] >> (16 * (c % 2))));
    else if constexpr (sizeof(T) == 4)
      x[c] = bit_cast<T>(static_cast<bits>(w[c]));
    else
      x[c] = bit_cast<T>(static_cast<bits>(std::uint64_t(w[2 * c]) | std::uint64_t(w[2 * c + 1]) << 32));
  }
}

//! Stores x[0, vector_elements<T>) at `at` (16-byte aligned) with one 16-byte store.
template <class T>
__device__ __forceinline__ void store_vector(T* at, const T* x) {
  std::uint32_t w[4] = {0, 0, 0, 0};
#pragma unroll
  for (unsigned c = 0; c < vector_elements<T>; ++c) {
    const auto b = bit_cast<typename dtype_traits<T>::bits_type>(x[c]);
    if constexpr (sizeof(T) == 2) {
      w[c / 2] |= static_cast<std::uint32_t>(b) << (16 * (c % 2));
    } else if constexpr (sizeof(T) == 4) {
      w[c] = static_cast<std::uint32_t>(b);
    } else {
      w[2 * c] = static_cast<std::uint32_t>(b);
      w[2 * c + 1] = static_cast<std::uint32_t>(b >> 32);
    }
  }
  *reinterpret_cast<uint4*>(at) = make_uint4(w[0], w[1], w[2], w[3]);
}

//! The block's dynamic shared memory as an `S` (a launch through
//! ACTZIP_LAUNCH_SHARED gives at least sizeof(S) bytes): shared memory a kernel
//! needs for some tensors only, so that the others leave it to the L1 cache.
template <class S>
__device__ __forceinline__ S& dynamic_shared() {
  static_assert(alignof(S) <= 16, "dynamic shared memory is 16-byte aligned");
#if defined(ACTZIP_SIMT_EMULATION) && !defined(__CUDACC__)
  return *static_cast<S*>(::simt::detail::dynamic_shared(sizeof(S)));
#else
  extern __shared__ uint4 actzip_dynamic_shared[];
  return *reinterpret_cast<S*>(actzip_dynamic_shared);
#endif
}

//! Shared-memory accesses of 16 consecutive words a thread, as four 16-byte
//! accesses. A warp's 16-byte accesses are served a quarter warp (8 threads, 128
//! bytes) at a time; if every thread took its quads in order, the 64-byte stride
//! would put threads t, t + 2, t + 4 and t + 6 on the same four banks, a 4-way
//! conflict. So thread t starts at quad (t / 2) % 4 and goes round (the eight
//! threads then cover all 32 banks), and the quads are moved into place by two
//! rounds of selects: rotations by 1 and by 2, taken or not.
namespace quad_order {

//! The quad thread `threadIdx.x` accesses in its k-th step is (k + turn()) % 4.
__device__ __forceinline__ unsigned turn() { return (threadIdx.x >> 1) & 3u; }

//! q[j] = q[(j + by) % 4] for every j (a rotation left by `by`, taken or not).
__device__ __forceinline__ void rotate(uint4 (&q)[4], unsigned by, bool take) {
  uint4 r[4];
#pragma unroll
  for (unsigned j = 0; j < 4; ++j) {
    const uint4 a = q[j], b = q[(j + by) % 4];
    r[j] = make_uint4(take ? b.x : a.x, take ? b.y : a.y, take ? b.z : a.z, take ? b.w : a.w);
  }
#pragma unroll
  for (unsigned j = 0; j < 4; ++j) q[j] = r[j];
}

}  // namespace quad_order

//! Loads the 16 words at[0, 16) (shared memory, 16-byte aligned) into w, in the
//! conflict-free order of quad_order.
__device__ __forceinline__ void load_shared_16(const std::uint32_t* at, std::uint32_t (&w)[16]) {
  const unsigned t = quad_order::turn();
  const uint4* from = reinterpret_cast<const uint4*>(at);
  uint4 q[4];
#pragma unroll
  for (unsigned k = 0; k < 4; ++k) q[k] = from[(k + t) % 4];  // q[k] holds quad (k + t) % 4
  // Quad j sits in q[(j - t) % 4]: rotate right by t, i.e. left by 3 then by 2.
  quad_order::rotate(q, 3, (t & 1u) != 0);
  quad_order::rotate(q, 2, (t & 2u) != 0);
#pragma unroll
  for (unsigned j = 0; j < 4; ++j) w[4 * j] = q[j].x, w[4 * j + 1] = q[j].y, w[4 * j + 2] = q[j].z, w[4 * j + 3] = q[j].w;
}

//! Stores w into the 16 words at[0, 16) (shared memory, 16-byte aligned), in the
//! conflict-free order of quad_order.
__device__ __forceinline__ void store_shared_16(std::uint32_t* at, const std::uint32_t (&w)[16]) {
  const unsigned t = quad_order::turn();
  uint4 q[4];
#pragma unroll
  for (unsigned j = 0; j < 4; ++j) q[j] = make_uint4(w[4 * j], w[4 * j + 1], w[4 * j + 2], w[4 * j + 3]);
  // Step k stores quad (k + t) % 4: rotate left by t.
  quad_order::rotate(q, 1, (t & 1u) != 0);
  quad_order::rotate(q, 2, (t & 2u) != 0);
  uint4* to = reinterpret_cast<uint4*>(at);
#pragma unroll
  for (unsigned k = 0; k < 4; ++k) to[(k + t) % 4] = q[k];
}

//! True when the full chunks of `g` in the tensor at `base` can be read and written
//! with 16-byte vectors: the tensor starts 16-byte aligned and, unless it is 1-D,
//! its rows are a whole number of vectors (so every row of a chunk starts aligned).
template <class T>
__device__ __forceinline__ bool vector_chunks(const T* base, const chunk_geometry& g) {
  return vector_aligned(base) && (chunk_kind_of(g) == chunk_kind::linear || g.dims[2] % vector_elements<T> == 0);
}

//! True when box `e` has power-of-two extents e1 and e2 (every full chunk), so that
//! the predictors can find neighbours with shifts (position_in_pow2_box).
__device__ __forceinline__ bool power_of_two_box(const box_extents& e) {
#if defined(ACTZIP_KERNEL_REPORT_FULL_CHUNKS)
  (void)e;
  return true;  // bench/kernel-report.sh: every chunk taken as full (see is_full_chunk)
#else
  return is_power_of_two(e.e2) && is_power_of_two(e.e1);
#endif
}

//! Finite value range of one tensor as order keys (see order_key): the largest key,
//! and the bitwise complement of the smallest, both maximised with atomics. Zero
//! means no finite value was seen.
struct range_slot {
  unsigned long long max_key;
  unsigned long long min_key_complement;
};

//! Where the checksum kernel gathers one stream's checksum (zero before the launch).
struct checksum_slot {
  unsigned long long sum;  //!< sum of the blocks' partial sums
  unsigned done;           //!< blocks finished
  unsigned verdict;        //!< decompression: checksum_verdict_*
};
inline constexpr unsigned checksum_verdict_unknown = 0;   //!< not computed (no checksum, or an invalid header)
inline constexpr unsigned checksum_verdict_match = 1;     //!< the stored checksum matches
inline constexpr unsigned checksum_verdict_mismatch = 2;  //!< the stored checksum does not match

//! Workspace of one Huffman or automatic tensor during compression: the symbol
//! statistics of the stream (huffman_statistics_slots counts, zero before
//! histogram_kernel, which adds every chunk's), and the code book build_code_kernel
//! makes from them for compress_kernel.
struct huffman_compress_slot {
  unsigned long long histogram[huffman_statistics_slots];
  huffman_code code;
};

inline constexpr std::uint32_t code_state_none = 0;     //!< no code book (a bitplane stream, or a bad header)
inline constexpr std::uint32_t code_state_valid = 1;    //!< the code book parsed
inline constexpr std::uint32_t code_state_corrupt = 2;  //!< parse_huffman_code refused the code book

//! The code book of one stream being decoded, parsed by decode_setup_kernel.
struct stream_code_slot {
  std::uint32_t state;  //!< code_state_*
  std::uint32_t bytes;  //!< size of the serialised code book (code_state_valid)
  huffman_code code;    //!< the code book with its decoding table (code_state_valid)
};

//! Decoding workspace of one stream.
struct stream_decode_slot {
  checksum_slot checksum;
  stream_code_slot code;
};

static_assert(sizeof(huffman_compress_slot) % 8 == 0 && sizeof(stream_decode_slot) % 8 == 0,
              "workspace slots keep 8-byte alignment");

//! One tensor of a compression launch.
template <class T>
struct compress_task {
  const T* input;
  unsigned char* output;
  std::uint64_t* compressed_bytes;  //!< device word receiving the stream's size
  range_slot* range;                //!< workspace: the value range
  unsigned long long* states;       //!< workspace: one look-back word per chunk
  checksum_slot* checksum;          //!< workspace: the stream's checksum
  huffman_compress_slot* huffman;   //!< workspace: histogram and code book (null for bitplane)
  chunk_geometry geometry;
  extents shape;
  params p;
  std::uint64_t element_count;
  std::uint64_t first_ticket;  //!< the tensor's tickets are [first_ticket, first_ticket + max(chunks, 1))
};

//! Up to tasks_per_launch tensors compressed by one launch of each kernel.
template <class T>
struct compress_launch {
  compress_task<T> task[tasks_per_launch];
  unsigned count;
  std::uint64_t total_tickets;
  unsigned long long* ticket_counter;  //!< workspace word, zero before the launch
};

//! One stream of a decompression launch.
template <class T>
struct decompress_task {
  const unsigned char* stream;
  std::uint64_t stream_size;
  T* output;
  std::uint64_t output_count;
  status* device_status;
  checksum_slot* checksum;  //!< workspace slot; null when the checksum is not verified
  stream_code_slot* code;   //!< workspace slot: the stream's code book
};

//! Up to tasks_per_launch streams decompressed by one launch.
template <class T>
struct decompress_launch {
  decompress_task<T> task[tasks_per_launch];
  unsigned count;
};

//! Stores one element at a 2-byte (half, bfloat16) or 4-byte (float, double) aligned address.
template <class T>
__device__ inline void store_element_aligned(unsigned char* at, T value) {
  using bits = typename dtype_traits<T>::bits_type;
  const bits b = bit_cast<bits>(value);
  if constexpr (sizeof(T) == 2) {
    *reinterpret_cast<std::uint16_t*>(at) = b;
  } else if constexpr (sizeof(T) == 4) {
    *reinterpret_cast<std::uint32_t*>(at) = b;
  } else {
    reinterpret_cast<std::uint32_t*>(at)[0] = static_cast<std::uint32_t>(b);
    reinterpret_cast<std::uint32_t*>(at)[1] = static_cast<std::uint32_t>(b >> 32);
  }
}

//! Loads one element from an address aligned as for store_element_aligned.
template <class T>
__device__ inline T load_element_aligned(const unsigned char* at) {
  using bits = typename dtype_traits<T>::bits_type;
  if constexpr (sizeof(T) == 2) {
    return bit_cast<T>(static_cast<bits>(*reinterpret_cast<const std::uint16_t*>(at)));
  } else if constexpr (sizeof(T) == 4) {
    return bit_cast<T>(static_cast<bits>(*reinterpret_cast<const std::uint32_t*>(at)));
  } else {
    const std::uint64_t lo = reinterpret_cast<const std::uint32_t*>(at)[0];
    const std::uint64_t hi = reinterpret_cast<const std::uint32_t*>(at)[1];
    return bit_cast<T>(static_cast<bits>(lo | hi << 32));
  }
}

//! Stores a 16-bit value at a 2-byte aligned address.
__device__ inline void store_u16(unsigned char* at, std::uint32_t value) {
  *reinterpret_cast<std::uint16_t*>(at) = static_cast<std::uint16_t>(value);
}

//! Loads a 16-bit value from a 2-byte aligned address.
__device__ inline std::uint32_t load_u16(const unsigned char* at) {
  return *reinterpret_cast<const std::uint16_t*>(at);
}

//! Copies `bytes` (a multiple of 4) from `from` to `to`, 4-byte aligned, with the
//! whole block.
__device__ inline void copy_words_block(void* to, const void* from, std::uint32_t bytes) {
  auto* out = static_cast<std::uint32_t*>(to);
  const auto* in = static_cast<const std::uint32_t*>(from);
  for (std::uint32_t w = threadIdx.x; w < bytes / 4; w += blockDim.x) out[w] = in[w];
}

//! The task of a launch that ticket `ticket` belongs to.
template <class Launch>
__device__ inline unsigned task_of_ticket(const Launch& launch, unsigned long long ticket) {
  unsigned t = 0;
  while (t + 1 < launch.count && launch.task[t + 1].first_ticket <= ticket) ++t;
  return t;
}

//! Sets *word to `s` unless an error is already recorded there.
__device__ inline void record_status(status* word, status s) {
  atomicCAS(reinterpret_cast<int*>(word), static_cast<int>(status::success), static_cast<int>(s));
}

}  // namespace gpu
}  // namespace detail
}  // namespace actzip
