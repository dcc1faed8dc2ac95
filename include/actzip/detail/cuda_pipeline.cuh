// SPDX-License-Identifier: Apache-2.0
//
// The host side of the CUDA executor: argument validation, the workspace layout,
// launch sizing and the launches themselves. No allocation, no synchronization,
// no copy: every call only enqueues work on the executor's stream. Users reach it
// through actzip/cuda.cuh.
#pragma once

#include <actzip/core.hpp>
#include <actzip/exec/cuda.cuh>
#include <actzip/exec/cuda/checksum.cuh>
#include <actzip/exec/cuda/common.cuh>
#include <actzip/exec/cuda/compress.cuh>
#include <actzip/exec/cuda/decompress.cuh>
#include <actzip/exec/cuda/huffman.cuh>

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace actzip {

//! One tensor of a batched compression on the CUDA executor (all pointers device pointers).
template <class T>
struct compress_item {
  const T* input = nullptr;              //!< the tensor, C order, in device memory
  extents shape;                          //!< its shape
  params p;                               //!< bound, codec and options for this tensor
  void* output = nullptr;                 //!< the stream (device memory, 4-byte aligned)
  std::uint64_t output_capacity = 0;      //!< bytes at output; at least max_compressed_bytes<T>(shape)
  std::uint64_t* compressed_bytes = nullptr;  //!< device word receiving the stream's size
};

//! One stream of a batched decompression on the CUDA executor (all pointers device pointers).
template <class T>
struct decompress_item {
  const void* stream = nullptr;       //!< the stream (device memory, 4-byte aligned)
  std::uint64_t stream_size = 0;      //!< its size in bytes (or more: trailing bytes are ignored)
  T* output = nullptr;                //!< room for output_count elements
  std::uint64_t output_count = 0;     //!< capacity of output, in elements
  status* device_status = nullptr;    //!< device word receiving this stream's status
};

namespace detail {

//! The CUDA error behind the last status::cuda_error returned on this thread.
inline cudaError_t& last_cuda_error_slot() noexcept {
  thread_local cudaError_t error = cudaSuccess;
  return error;
}

namespace gpu {

//! status::cuda_error (remembering the error) unless e is cudaSuccess.
inline status check_cuda(cudaError_t e) noexcept {
  if (e == cudaSuccess) return status::success;
  last_cuda_error_slot() = e;
  return status::cuda_error;
}

//! Workspace of one tensor's look-back state: its range slot, its checksum slot and
//! one look-back word per chunk (at least one).
inline std::uint64_t lookback_workspace_bytes(std::uint64_t chunks) noexcept {
  return sizeof(range_slot) + sizeof(checksum_slot) + sizeof(unsigned long long) * (chunks == 0 ? 1 : chunks);
}

//! Workspace of one tensor compressed with codec `c`: the look-back state, and for
//! Huffman and automatic tensors the histogram and the code book.
inline std::uint64_t task_workspace_bytes(std::uint64_t chunks, codec c) noexcept {
  return lookback_workspace_bytes(chunks) + (c != codec::bitplane ? sizeof(huffman_compress_slot) : 0);
}

//! Decoding workspace of `streams` streams.
inline std::uint64_t decode_slots_bytes(std::uint64_t streams) noexcept {
  return sizeof(stream_decode_slot) * streams;
}
// The compression workspace of any tensor (workspace_bytes(exec, shape)) also holds
// the decoding workspace of one stream, so a caller may reuse it for decompression.
static_assert(sizeof(huffman_compress_slot) >= sizeof(stream_decode_slot),
              "compression workspace >= decoding workspace");

//! Grid width per stream of the checksum kernel: enough blocks for `words` words,
//! at most the resident blocks shared among `streams` streams.
inline unsigned checksum_grid_x(std::uint64_t words, unsigned resident, unsigned streams) noexcept {
  const std::uint64_t tile = std::uint64_t(block_threads) * checksum_unroll;
  const std::uint64_t wanted = (words + tile - 1) / tile;
  const std::uint64_t share = (resident + streams - 1) / streams;
  const std::uint64_t x = wanted < share ? wanted : share;
  return static_cast<unsigned>(x > 0 ? x : 1);
}

//! Launch groups of a batch of `count` tensors.
inline std::uint64_t launch_groups(std::size_t count) noexcept { return (count + tasks_per_launch - 1) / tasks_per_launch; }

//! Validates one compression item; adds its workspace to *workspace.
template <class T>
status check_item(const compress_item<T>& item, std::uint64_t* workspace) noexcept {
  std::uint64_t count = 0;
  if (status s = check_shape(item.shape, &count); s != status::success) return s;
  if (status s = check_params(item.p); s != status::success) return s;
  if (item.input == nullptr && count != 0) return status::invalid_argument;
  if (reinterpret_cast<std::uintptr_t>(item.input) % alignof(T) != 0) return status::invalid_argument;
  if (item.output == nullptr || item.compressed_bytes == nullptr) return status::invalid_argument;
  if (reinterpret_cast<std::uintptr_t>(item.output) % 4 != 0) return status::invalid_argument;
  const std::uint64_t most = max_compressed_bytes<T>(item.shape);
  if (most == 0) return status::size_overflow;
  if (item.output_capacity < most) return status::buffer_too_small;
  *workspace += task_workspace_bytes(make_chunk_geometry(item.shape).count, item.p.codec);
  return status::success;
}

//! Workspace of a batch, or 0 when an item is invalid.
template <class T>
std::uint64_t batch_workspace_bytes(const compress_item<T>* items, std::size_t count) noexcept {
  if (count == 0 || items == nullptr) return 0;
  std::uint64_t bytes = sizeof(unsigned long long) * launch_groups(count);
  for (std::size_t i = 0; i < count; ++i)
    if (check_item(items[i], &bytes) != status::success) return 0;
  return bytes;
}

//! Resident blocks of `kernel` on the current device (at least 1) with
//! `dynamic_bytes` of dynamic shared memory per block, or a CUDA error. `Tag` names
//! the kernel and its dynamic shared memory: the answer is kept per host thread,
//! tag and device, so later calls on the same device cost one cudaGetDevice.
template <class Tag, class Kernel>
status resident_blocks(Kernel kernel, unsigned* blocks, std::size_t dynamic_bytes = 0) noexcept {
  thread_local int cached_device = -1;
  thread_local unsigned cached_blocks = 0;
  int device = 0, sms = 0, per_sm = 0;
  if (status s = check_cuda(cudaGetDevice(&device)); s != status::success) return s;
  if (device == cached_device) {
    *blocks = cached_blocks;
    return status::success;
  }
  if (status s = check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
      s != status::success)
    return s;
  if (status s = check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, block_threads, dynamic_bytes));
      s != status::success)
    return s;
  const long long total = static_cast<long long>(sms) * (per_sm > 0 ? per_sm : 1);
  cached_blocks = static_cast<unsigned>(total > 0 ? total : 1);
  cached_device = device;
  *blocks = cached_blocks;
  return status::success;
}

template <class T>
struct range_kernel_tag {};
template <class T, bool Huffman>
struct compress_kernel_tag {};
template <class T>
struct histogram_kernel_tag {};
template <class T>
struct decompress_kernel_tag {};
template <class T>
struct store_checksum_kernel_tag {};
template <class T>
struct verify_checksum_kernel_tag {};

template <class T>
status compress_batch(const exec::cuda_t& e, const compress_item<T>* items, std::size_t count, void* workspace,
                      std::uint64_t workspace_size) noexcept {
  static_assert(sizeof(compress_launch<T>) <= 4096, "kernel parameters stay below 4 KiB");
  if (count == 0) return status::success;
  if (items == nullptr) return status::invalid_argument;
  std::uint64_t needed = sizeof(unsigned long long) * launch_groups(count);
  for (std::size_t i = 0; i < count; ++i)
    if (status s = check_item(items[i], &needed); s != status::success) return s;
  if (workspace == nullptr || workspace_size < needed) return status::buffer_too_small;
  if (reinterpret_cast<std::uintptr_t>(workspace) % 8 != 0) return status::invalid_argument;

  bool any_huffman = false;
  for (std::size_t i = 0; i < count; ++i) any_huffman = any_huffman || items[i].p.codec != codec::bitplane;
  // compress_kernel's Huffman buffers are dynamic shared memory, given to the
  // launches of a batch only when the batch has a Huffman or automatic tensor.
  const std::size_t huffman_shared_bytes = sizeof(compress_huffman_shared);
  unsigned compress_blocks = 0, range_blocks = 0, checksum_blocks = 0, histogram_blocks = 0;
  status occupancy =
      any_huffman
          ? resident_blocks<compress_kernel_tag<T, true>>(compress_kernel<T>, &compress_blocks, huffman_shared_bytes)
          : resident_blocks<compress_kernel_tag<T, false>>(compress_kernel<T>, &compress_blocks);
  if (occupancy == status::success) occupancy = resident_blocks<range_kernel_tag<T>>(range_kernel<T>, &range_blocks);
  if (occupancy == status::success)
    occupancy = resident_blocks<store_checksum_kernel_tag<T>>(store_checksum_kernel<T>, &checksum_blocks);
  if (occupancy == status::success && any_huffman)
    occupancy = resident_blocks<histogram_kernel_tag<T>>(histogram_kernel<T>, &histogram_blocks);
  if (occupancy != status::success) return occupancy;
  if (status s = check_cuda(cudaMemsetAsync(workspace, 0, needed, e.stream)); s != status::success) return s;

  auto* counters = static_cast<unsigned long long*>(workspace);
  unsigned char* region = static_cast<unsigned char*>(workspace) + sizeof(unsigned long long) * launch_groups(count);
  for (std::size_t first = 0, group = 0; first < count; first += tasks_per_launch, ++group) {
    compress_launch<T> launch{};
    launch.count = static_cast<unsigned>(count - first < tasks_per_launch ? count - first : tasks_per_launch);
    launch.ticket_counter = counters + group;
    std::uint64_t tickets = 0, largest_relative = 0, largest_stream = 0;
    bool huffman = false;
    for (unsigned j = 0; j < launch.count; ++j) {
      const compress_item<T>& item = items[first + j];
      compress_task<T>& task = launch.task[j];
      task.input = item.input;
      task.output = static_cast<unsigned char*>(item.output);
      task.compressed_bytes = item.compressed_bytes;
      task.geometry = make_chunk_geometry(item.shape);
      task.shape = item.shape;
      task.p = item.p;
      item.shape.element_count(&task.element_count);
      task.range = reinterpret_cast<range_slot*>(region);
      task.checksum = reinterpret_cast<checksum_slot*>(region + sizeof(range_slot));
      task.states = reinterpret_cast<unsigned long long*>(region + sizeof(range_slot) + sizeof(checksum_slot));
      task.huffman =
          item.p.codec != codec::bitplane
              ? reinterpret_cast<huffman_compress_slot*>(region + lookback_workspace_bytes(task.geometry.count))
              : nullptr;
      huffman = huffman || task.huffman != nullptr;
      const std::uint64_t most = max_compressed_bytes<T>(item.shape);
      largest_stream = most > largest_stream ? most : largest_stream;
      task.first_ticket = tickets;
      tickets += task.geometry.count == 0 ? 1 : task.geometry.count;
      region += task_workspace_bytes(task.geometry.count, item.p.codec);
      if (item.p.error_bound.mode == bound_mode::relative && task.element_count > largest_relative)
        largest_relative = task.element_count;
    }
    launch.total_tickets = tickets;
    if (largest_relative != 0) {
      const std::uint64_t wanted = (largest_relative + 4ull * block_threads - 1) / (4ull * block_threads);
      const std::uint64_t per_task = (range_blocks + launch.count - 1) / launch.count;
      const unsigned grid_x = static_cast<unsigned>(wanted < per_task ? wanted : (per_task > 0 ? per_task : 1));
      ACTZIP_LAUNCH(range_kernel<T>, dim3(grid_x, launch.count), block_threads, e.stream, launch);
      if (status s = check_cuda(cudaGetLastError()); s != status::success) return s;
    }
    if (huffman) {  // the symbol histograms, then one code book per Huffman or automatic tensor
      const unsigned histogram_grid = static_cast<unsigned>(tickets < histogram_blocks ? tickets : histogram_blocks);
      ACTZIP_LAUNCH(histogram_kernel<T>, histogram_grid, block_threads, e.stream, launch);
      if (status s = check_cuda(cudaGetLastError()); s != status::success) return s;
      ACTZIP_LAUNCH(build_code_kernel<T>, launch.count, block_threads, e.stream, launch);
      if (status s = check_cuda(cudaGetLastError()); s != status::success) return s;
    }
    const unsigned grid = static_cast<unsigned>(tickets < compress_blocks ? tickets : compress_blocks);
    ACTZIP_LAUNCH_SHARED(compress_kernel<T>, grid, block_threads, huffman ? huffman_shared_bytes : 0, e.stream,
                         launch);
    if (status s = check_cuda(cudaGetLastError()); s != status::success) return s;
    // The sizes are known only on the device: the grid covers the largest possible stream.
    const unsigned checksum_x = checksum_grid_x(largest_stream / 4, checksum_blocks, launch.count);
    ACTZIP_LAUNCH(store_checksum_kernel<T>, dim3(checksum_x, launch.count), block_threads, e.stream, launch);
    if (status s = check_cuda(cudaGetLastError()); s != status::success) return s;
  }
  return status::success;
}

template <class T>
status decompress_batch(const exec::cuda_t& e, const decompress_item<T>* items, std::size_t count, void* workspace,
                        std::uint64_t workspace_size, const decode_options& options) noexcept {
  static_assert(sizeof(decompress_launch<T>) <= 4096, "kernel parameters stay below 4 KiB");
  if (count == 0) return status::success;
  if (items == nullptr) return status::invalid_argument;
  // The checksum slots and the code books: needed whether or not checksums are
  // verified, since the codec of a stream is known only on the device.
  if (workspace == nullptr || workspace_size < decode_slots_bytes(count)) return status::buffer_too_small;
  if (reinterpret_cast<std::uintptr_t>(workspace) % 8 != 0) return status::invalid_argument;
  for (std::size_t i = 0; i < count; ++i) {
    const decompress_item<T>& item = items[i];
    if (item.stream == nullptr || item.device_status == nullptr) return status::invalid_argument;
    if (item.output == nullptr && item.output_count != 0) return status::invalid_argument;
    if (reinterpret_cast<std::uintptr_t>(item.stream) % 4 != 0) return status::invalid_argument;
    if (reinterpret_cast<std::uintptr_t>(item.output) % alignof(T) != 0) return status::invalid_argument;
  }
  unsigned resident = 0, checksum_blocks = 0;
  if (status s = resident_blocks<decompress_kernel_tag<T>>(decompress_kernel<T>, &resident); s != status::success)
    return s;
  if (options.verify_checksum)
    if (status s = resident_blocks<verify_checksum_kernel_tag<T>>(verify_checksum_kernel<T>, &checksum_blocks);
        s != status::success)
      return s;
  auto* slots = static_cast<stream_decode_slot*>(workspace);
  for (std::size_t first = 0; first < count; first += tasks_per_launch) {
    decompress_launch<T> launch{};
    launch.count = static_cast<unsigned>(count - first < tasks_per_launch ? count - first : tasks_per_launch);
    std::uint64_t most_chunks = 1;  // a valid stream has at most (size - header) / 8 chunks
    std::uint64_t largest_stream = 0;
    for (unsigned j = 0; j < launch.count; ++j) {
      const decompress_item<T>& item = items[first + j];
      stream_decode_slot& slot = slots[first + j];
      launch.task[j] = decompress_task<T>{static_cast<const unsigned char*>(item.stream),
                                          item.stream_size,
                                          item.output,
                                          item.output_count,
                                          item.device_status,
                                          options.verify_checksum ? &slot.checksum : nullptr,
                                          &slot.code};
      largest_stream = item.stream_size > largest_stream ? item.stream_size : largest_stream;
      const std::uint64_t chunks =
          item.stream_size > header_bytes ? (item.stream_size - header_bytes) / chunk_offset_bytes : 0;
      most_chunks = chunks > most_chunks ? chunks : most_chunks;
    }
    ACTZIP_LAUNCH(decode_setup_kernel<T>, launch.count, block_threads, e.stream, launch);
    if (status s = check_cuda(cudaGetLastError()); s != status::success) return s;
    if (options.verify_checksum) {
      const unsigned checksum_x = checksum_grid_x(largest_stream / 4, checksum_blocks, launch.count);
      ACTZIP_LAUNCH(verify_checksum_kernel<T>, dim3(checksum_x, launch.count), block_threads, e.stream, launch);
      if (status s = check_cuda(cudaGetLastError()); s != status::success) return s;
    }
    const unsigned grid = static_cast<unsigned>(most_chunks < resident ? most_chunks : resident);
    ACTZIP_LAUNCH(decompress_kernel<T>, grid, block_threads, e.stream, launch);
    if (status s = check_cuda(cudaGetLastError()); s != status::success) return s;
  }
  return status::success;
}

}  // namespace gpu
}  // namespace detail
}  // namespace actzip
