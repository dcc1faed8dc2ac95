// SPDX-License-Identifier: Apache-2.0
//
// actzip on the GPU: the core layer and the convenience layer of the CUDA executor.
// Include it (or actzip/actzip.hpp, which includes it under nvcc) from a .cu file.
//
// Core layer: compress / decompress / compress_batch / decompress_batch take
// `exec::cuda.on(stream)` and device pointers, never allocate, never synchronize,
// never copy to the host, and are capturable in a CUDA graph. The compressed size
// and the decoding status are written to device memory. The streams are byte for
// byte those of the host executors.
//
// Convenience layer: device_buffer (owning, stream-ordered), and compress /
// decompress / inspect that allocate and synchronize, plus compress_async /
// decompress_async that allocate stream-ordered and never synchronize. Errors
// throw actzip::error; CUDA failures carry the CUDA error's name.
#pragma once

#include <actzip/config.hpp>

#if !ACTZIP_HAS_CUDA
#error "actzip/cuda.cuh needs a CUDA compiler: include it only from .cu translation units"
#endif

#include <actzip/convenience.hpp>
#include <actzip/core.hpp>
#include <actzip/detail/cuda_pipeline.cuh>
#include <actzip/exec/cuda.cuh>

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace actzip {

// ---- core layer -------------------------------------------------------------------

//! The CUDA error behind the last status::cuda_error an actzip call returned on
//! this thread (cudaSuccess if none).
inline cudaError_t last_cuda_error() noexcept { return detail::last_cuda_error_slot(); }

//! Bytes of device workspace `compress` needs on the CUDA executor for a tensor of
//! `shape` compressed with the parameters `p`: for the bitplane codec 40 bytes plus
//! 8 bytes per 4096-element chunk (0.05 % of a float tensor of 1 MiB or more); for
//! huffman and automatic 20064 bytes more (the symbol statistics and the code book:
//! at most 12.5 % of the input from about 158 KiB of input on). Returns 0 for an
//! invalid shape.
inline std::uint64_t workspace_bytes(const exec::cuda_t&, const extents& shape, const params& p) noexcept {
  std::uint64_t count = 0;
  if (detail::check_shape(shape, &count) != status::success) return 0;
  return sizeof(unsigned long long) + detail::gpu::task_workspace_bytes(make_chunk_geometry(shape).count, p.codec);
}

//! Bytes of device workspace `compress` needs on the CUDA executor for a tensor of
//! `shape` with any parameters (the Huffman codec's, the largest): 20104 bytes plus
//! 8 bytes per 4096-element chunk. It also holds the decoding workspace of one
//! stream (decode_workspace_bytes(e)). Returns 0 for an invalid shape.
inline std::uint64_t workspace_bytes(const exec::cuda_t& e, const extents& shape) noexcept {
  params any;
  any.codec = codec::huffman;
  return workspace_bytes(e, shape, any);
}

//! Bytes of device workspace compress_batch needs for `items` (0 if an item is invalid).
template <class T>
std::uint64_t workspace_bytes(const exec::cuda_t&, const compress_item<T>* items, std::size_t count) noexcept {
  return detail::gpu::batch_workspace_bytes(items, count);
}

//! Bytes of device workspace `decompress` (and decompress_batch) needs on the CUDA
//! executor for `streams` streams, with or without checksum verification: 11392
//! bytes a stream (the checksum, and the code book of a Huffman or automatic
//! stream with its decoding table).
inline std::uint64_t decode_workspace_bytes(const exec::cuda_t&, std::size_t streams = 1) noexcept {
  return detail::gpu::decode_slots_bytes(std::uint64_t(streams));
}

//! Compresses the device tensor `input` of `shape` into the device buffer `output`
//! (4-byte aligned, capacity at least max_compressed_bytes<T>(shape)) and writes the
//! stream's size to the device word `*compressed_bytes`. `workspace` is device
//! memory of workspace_bytes(e, shape, p) bytes (workspace_bytes(e, shape) is
//! always enough), 8-byte aligned. Asynchronous: returns
//! once the work is enqueued on e.stream; no allocation, no synchronization, no
//! host copy, so it can be captured in a CUDA graph. The stream is byte for byte
//! the one exec::serial writes. Errors (detected before anything is enqueued):
//! invalid_argument (also a misaligned input or output), size_overflow, unsupported, buffer_too_small (output capacity
//! below max_compressed_bytes, or workspace), cuda_error (a launch failed; see
//! last_cuda_error()).
template <class T>
[[nodiscard]] status compress(const exec::cuda_t& e, const T* input, const extents& shape, const params& p,
                              void* output, std::uint64_t output_capacity, std::uint64_t* compressed_bytes,
                              void* workspace, std::uint64_t workspace_size) noexcept {
  static_assert(is_supported_element_v<T>, "actzip compresses float, double, actzip::half and actzip::bfloat16");
  compress_item<T> item;
  item.input = input;
  item.shape = shape;
  item.p = p;
  item.output = output;
  item.output_capacity = output_capacity;
  item.compressed_bytes = compressed_bytes;
  return detail::gpu::compress_batch(e, &item, 1, workspace, workspace_size);
}

//! Compresses `count` device tensors of any shapes (one element type) in one
//! sequence of launches (per 16 tensors: value ranges, for Huffman and automatic
//! tensors symbol histograms and code books, chunks, checksums; after one memset of
//! the workspace), each into its own output;
//! `items` is host memory. Workspace: workspace_bytes(e, items, count). Same
//! guarantees and errors as compress.
template <class T>
[[nodiscard]] status compress_batch(const exec::cuda_t& e, const compress_item<T>* items, std::size_t count,
                                    void* workspace, std::uint64_t workspace_size) noexcept {
  static_assert(is_supported_element_v<T>, "actzip compresses float, double, actzip::half and actzip::bfloat16");
  return detail::gpu::compress_batch(e, items, count, workspace, workspace_size);
}

//! Decompresses the device stream `stream` (4-byte aligned, `stream_size` bytes)
//! into the device buffer `output` of `output_count` elements. Asynchronous, no
//! allocation, no synchronization, graph-capturable. The header is read on the
//! device, and the stream's checksum is verified on the device before any chunk is
//! decoded (unless `options.verify_checksum` is false). `workspace`:
//! decode_workspace_bytes(e) bytes of device memory, 8-byte aligned, with or
//! without verification (the checksum, and a Huffman or automatic stream's code
//! book, parsed on the device). The stream's status is written to the device word
//! `*device_status`: success, or not_a_stream, unsupported_version, corrupt_stream,
//! checksum_mismatch, dtype_mismatch, buffer_too_small, exactly as the host
//! executors decide it. A hostile stream never makes the kernels read or write out
//! of bounds. The return value reports what is known before launching:
//! invalid_argument (null or misaligned pointers), buffer_too_small (workspace),
//! cuda_error.
template <class T>
[[nodiscard]] status decompress(const exec::cuda_t& e, const void* stream, std::uint64_t stream_size, T* output,
                                std::uint64_t output_count, status* device_status, void* workspace,
                                std::uint64_t workspace_size, const decode_options& options = {}) noexcept {
  static_assert(is_supported_element_v<T>, "actzip compresses float, double, actzip::half and actzip::bfloat16");
  decompress_item<T> item;
  item.stream = stream;
  item.stream_size = stream_size;
  item.output = output;
  item.output_count = output_count;
  item.device_status = device_status;
  return detail::gpu::decompress_batch(e, &item, 1, workspace, workspace_size, options);
}

//! Decompresses `count` device streams in one sequence of launches (three kernels
//! per 16 streams: status reset and code books, checksums, chunks); `items` is host memory.
//! Workspace: decode_workspace_bytes(e, count). Same guarantees as decompress.
template <class T>
[[nodiscard]] status decompress_batch(const exec::cuda_t& e, const decompress_item<T>* items, std::size_t count,
                                      void* workspace, std::uint64_t workspace_size,
                                      const decode_options& options = {}) noexcept {
  static_assert(is_supported_element_v<T>, "actzip compresses float, double, actzip::half and actzip::bfloat16");
  return detail::gpu::decompress_batch(e, items, count, workspace, workspace_size, options);
}

// ---- convenience layer -------------------------------------------------------------

namespace detail {
//! Throws actzip::error for a failed status; CUDA failures name the CUDA error.
inline void throw_if_failed_cuda(status s, const char* context) {
  if (s == status::success) return;
  if (s == status::cuda_error) {
    const cudaError_t e = last_cuda_error();
    detail::raise(s, std::string(context) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
  }
  raise(s, context);
}

//! Throws actzip::error(cuda_error) naming `e` unless it is cudaSuccess.
inline void throw_if_cuda_failed(cudaError_t e, const char* context) {
  throw_if_failed_cuda(gpu::check_cuda(e), context);
}
}  // namespace detail

//! Owning device memory, allocated and freed in stream order (cudaMallocAsync /
//! cudaFreeAsync on the stream it was made for). Move-only.
class device_buffer {
 public:
  //! An empty buffer.
  device_buffer() noexcept = default;
  //! `bytes` bytes of device memory, usable in stream order on `stream`. Throws
  //! actzip::error (cuda_error) when the allocation fails.
  device_buffer(std::uint64_t bytes, cudaStream_t stream) : size_(bytes), stream_(stream) {
    if (bytes != 0)
      detail::throw_if_cuda_failed(cudaMallocAsync(&data_, static_cast<std::size_t>(bytes), stream),
                                   "device_buffer: cudaMallocAsync");
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  device_buffer(device_buffer&& other) noexcept { swap(other); }
  device_buffer& operator=(device_buffer&& other) noexcept {
    device_buffer(std::move(other)).swap(*this);
    return *this;
  }
  //! Frees the memory in stream order.
  ~device_buffer() {
    if (data_ != nullptr) (void)cudaFreeAsync(data_, stream_);
  }
  void swap(device_buffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(stream_, other.stream_);
  }
  //! The device pointer (null when empty).
  void* data() noexcept { return data_; }
  const void* data() const noexcept { return data_; }
  //! The memory as an array of T.
  template <class T>
  T* as() noexcept {
    return static_cast<T*>(data_);
  }
  template <class T>
  const T* as() const noexcept {
    return static_cast<const T*>(data_);
  }
  //! Size in bytes.
  std::uint64_t size() const noexcept { return size_; }
  //! The stream the memory is ordered on.
  cudaStream_t stream() const noexcept { return stream_; }

 private:
  void* data_ = nullptr;
  std::uint64_t size_ = 0;
  cudaStream_t stream_ = nullptr;
};

//! Compresses the device tensor `input` of `shape`; returns the stream in a device
//! buffer of exactly its size. Synchronous: waits for e.stream twice (to learn the
//! size, and once the stream is in place). Throws actzip::error.
template <class T>
device_buffer compress(const exec::cuda_t& e, const T* input, const extents& shape, const params& p) {
  const std::uint64_t capacity = max_compressed_bytes<T>(shape);
  if (capacity == 0) detail::raise(shape.valid() ? status::size_overflow : status::invalid_argument, "compress: shape");
  const std::uint64_t workspace = workspace_bytes(e, shape, p);  // a multiple of 8
  device_buffer scratch(capacity, e.stream);
  unsigned char* base = scratch.as<unsigned char>();
  device_buffer tail(workspace + sizeof(std::uint64_t), e.stream);  // the workspace, then the size word
  auto* size_word = reinterpret_cast<std::uint64_t*>(tail.as<unsigned char>() + workspace);
  detail::throw_if_failed_cuda(
      compress(e, input, shape, p, base, capacity, size_word, tail.data(), workspace), "compress");
  std::uint64_t size = 0;
  detail::throw_if_cuda_failed(cudaMemcpyAsync(&size, size_word, sizeof size, cudaMemcpyDeviceToHost, e.stream),
                               "compress: reading the size");
  detail::throw_if_cuda_failed(cudaStreamSynchronize(e.stream), "compress");
  device_buffer result(size, e.stream);
  detail::throw_if_cuda_failed(cudaMemcpyAsync(result.data(), base, size, cudaMemcpyDeviceToDevice, e.stream),
                               "compress: copying the stream");
  detail::throw_if_cuda_failed(cudaStreamSynchronize(e.stream), "compress");
  return result;
}

//! Reads and validates the header of the device stream `stream` (`stream_size`
//! bytes). Synchronous (copies the header to the host). Throws actzip::error.
inline header inspect(const exec::cuda_t& e, const void* stream, std::uint64_t stream_size) {
  if (stream == nullptr && stream_size != 0) detail::raise(status::invalid_argument, "inspect: null stream");
  unsigned char bytes[header_bytes] = {};
  const std::uint64_t copied = stream_size < header_bytes ? stream_size : header_bytes;
  if (copied != 0) {
    detail::throw_if_cuda_failed(cudaMemcpyAsync(bytes, stream, copied, cudaMemcpyDeviceToHost, e.stream),
                                 "inspect: reading the header");
    detail::throw_if_cuda_failed(cudaStreamSynchronize(e.stream), "inspect");
  }
  header h;
  // parse_header reads at most the first header_bytes bytes; `stream_size` lets it
  // check that the whole stream is present.
  stream_fault fault;
  if (status s = parse_header(bytes, stream_size, &h, &fault); s != status::success)
    detail::raise(s, std::string("inspect: ") + (fault.what ? describe(fault) : std::string(to_string(s))));
  return h;
}

//! Decompresses the device stream into the device buffer `output` of `output_count`
//! elements. Synchronous: waits for e.stream, then throws actzip::error if the
//! stream was not valid (corrupt_stream, dtype_mismatch, buffer_too_small, ...).
template <class T>
void decompress(const exec::cuda_t& e, const void* stream, std::uint64_t stream_size, T* output,
                std::uint64_t output_count, const decode_options& options = {}) {
  const std::uint64_t workspace = decode_workspace_bytes(e);  // a multiple of 8
  device_buffer scratch(workspace + sizeof(status), e.stream);  // the workspace, then the status word
  auto* status_word = reinterpret_cast<status*>(scratch.as<unsigned char>() + workspace);
  detail::throw_if_failed_cuda(decompress(e, stream, stream_size, output, output_count, status_word,
                                          scratch.data(), workspace, options),
                               "decompress");
  status result = status::success;
  detail::throw_if_cuda_failed(
      cudaMemcpyAsync(&result, status_word, sizeof result, cudaMemcpyDeviceToHost, e.stream),
      "decompress: reading the status");
  detail::throw_if_cuda_failed(cudaStreamSynchronize(e.stream), "decompress");
  if (result == status::corrupt_stream || result == status::checksum_mismatch || result == status::not_a_stream ||
      result == status::unsupported_version) {
    // Only on failure: the stream is copied to the host to say what is wrong and where.
    std::vector<unsigned char> host(static_cast<std::size_t>(stream_size));
    if (stream_size != 0) {
      detail::throw_if_cuda_failed(cudaMemcpyAsync(host.data(), stream, stream_size, cudaMemcpyDeviceToHost, e.stream),
                                   "decompress: reading the refused stream");
      detail::throw_if_cuda_failed(cudaStreamSynchronize(e.stream), "decompress");
    }
    detail::raise_for_stream(result, "decompress", host.data(), host.size(), options);
  }
  detail::throw_if_failed(result, "decompress");
}

//! Decompresses the device stream into a new device buffer of T (use `as<T>()`).
//! Synchronous; throws actzip::error.
template <class T>
device_buffer decompress(const exec::cuda_t& e, const void* stream, std::uint64_t stream_size,
                         const decode_options& options = {}) {
  const header h = inspect(e, stream, stream_size);
  if (h.dtype != dtype_traits<T>::code)
    detail::raise(status::dtype_mismatch, std::string("decompress: the stream holds ") + to_string(h.dtype));
  device_buffer out(h.element_count * sizeof(T), e.stream);
  decompress(e, stream, stream_size, out.as<T>(), h.element_count, options);
  return out;
}

//! Enqueues the compression of a device tensor into `output` (capacity at least
//! max_compressed_bytes<T>(shape)); the size lands in the device word `*compressed_bytes`.
//! The workspace is allocated and freed in stream order. Asynchronous: never waits.
//! Throws actzip::error for invalid arguments or a failed launch.
template <class T>
void compress_async(const exec::cuda_t& e, const T* input, const extents& shape, const params& p, void* output,
                    std::uint64_t output_capacity, std::uint64_t* compressed_bytes) {
  device_buffer workspace(workspace_bytes(e, shape, p), e.stream);
  detail::throw_if_failed_cuda(compress(e, input, shape, p, output, output_capacity, compressed_bytes,
                                        workspace.data(), workspace.size()),
                               "compress_async");
}

//! Enqueues the decompression of a device stream; its status lands in the device
//! word `*device_status` once e.stream reaches it. The decoding workspace is
//! allocated and freed in stream order. Asynchronous: never waits. Throws
//! actzip::error for invalid arguments or a failed launch.
template <class T>
void decompress_async(const exec::cuda_t& e, const void* stream, std::uint64_t stream_size, T* output,
                      std::uint64_t output_count, status* device_status, const decode_options& options = {}) {
  device_buffer workspace(decode_workspace_bytes(e), e.stream);
  detail::throw_if_failed_cuda(decompress(e, stream, stream_size, output, output_count, device_status,
                                          workspace.data(), workspace.size(), options),
                               "decompress_async");
}

}  // namespace actzip
