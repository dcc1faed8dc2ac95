// SPDX-License-Identifier: Apache-2.0
//
// The CUDA half of the PyTorch extension: compress and decompress of CUDA tensors
// over actzip's CUDA core layer. Every buffer (stream, workspace, size word, status
// word) is a torch::empty on the tensor's device, so it comes from PyTorch's
// caching allocator; the work runs on at::cuda::getCurrentCUDAStream(); nothing
// here calls cudaMalloc, empties the cache or synchronizes with the host.
//
// The price of never synchronizing: the compressed size is known only on the
// device when compress_cuda returns, so the stream buffer is as long as
// max_compressed_bytes (a little more than the raw tensor). The Python side keeps
// the size as a device scalar and trims the buffers to their sizes later, for many
// tensors at once with a single device-to-host copy (actzip_torch.shrink), so a
// training step pays one synchronization rather than one per tensor.
#include "actzip_common.hpp"

#include <actzip/cuda.cuh>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <cstdint>
#include <string>
#include <tuple>

namespace actzip_torch {

namespace {

//! Throws actzip::error for a failed status, naming the CUDA error when there is one.
void check_cuda(actzip::status s, const char* context) { actzip::detail::throw_if_failed_cuda(s, context); }

//! Bytes to give an allocation so an 8-byte-aligned region of `bytes` fits after `skip`.
constexpr std::uint64_t round8(std::uint64_t bytes) { return (bytes + 7) / 8 * 8; }

}  // namespace

std::uint64_t cuda_workspace_bytes(const actzip::extents& shape) {
  return actzip::workspace_bytes(actzip::exec::cuda, shape);
}

//! Compresses a CUDA tensor on the current stream. Returns the stream buffer
//! (max_compressed_bytes long) and a one-element int64 tensor on the same device
//! that receives the stream's size. Asynchronous.
std::tuple<at::Tensor, at::Tensor> compress_cuda(const at::Tensor& input, const actzip::params& p) {
  const c10::cuda::CUDAGuard guard(input.device());
  at::Tensor x = input.contiguous();
  // actzip's kernels load the input in aligned vectors: a view with a storage
  // offset may be misaligned, so it is copied (into the caching allocator).
  if (reinterpret_cast<std::uintptr_t>(x.data_ptr()) % 16 != 0) x = x.clone();
  const actzip::extents shape = fold_shape(x.sizes());
  const std::uint64_t capacity = actzip::max_compressed_bytes(to_actzip(x.scalar_type()), shape);
  if (capacity == 0) actzip::detail::raise(actzip::status::invalid_argument, "compress: invalid shape");
  const std::uint64_t work = actzip::workspace_bytes(actzip::exec::cuda, shape);
  const auto bytes = at::TensorOptions().dtype(at::kByte).device(x.device());
  // One allocation for the stream and one for the workspace and the size word (the
  // caching allocator returns 512-byte aligned blocks).
  at::Tensor stream = at::empty({static_cast<std::int64_t>(capacity)}, bytes);
  at::Tensor scratch = at::empty({static_cast<std::int64_t>(round8(work) + 8)}, bytes);
  auto* size_word = reinterpret_cast<std::uint64_t*>(scratch.data_ptr<unsigned char>() + round8(work));
  const auto e = actzip::exec::cuda.on(at::cuda::getCurrentCUDAStream(x.device().index()).stream());
  dispatch(x.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    check_cuda(actzip::compress(e, reinterpret_cast<const T*>(x.data_ptr()), shape, p, stream.data_ptr(), capacity,
                                size_word, scratch.data_ptr(), work),
               "compress");
    return 0;
  });
  // The size word as an int64 tensor sharing the scratch storage (sizes stay far
  // below 2^63). Keeping it alive keeps the scratch alive; the workspace part is
  // only reused by the allocator once every view is gone.
  at::Tensor size = scratch.narrow(0, static_cast<std::int64_t>(round8(work)), 8).view(at::kLong);
  // Every buffer here (a copy of the input included) was allocated on the current
  // stream and is used only there, so the caching allocator reuses it in stream order.
  return {stream, size};
}

//! Decompresses a CUDA stream of `stream_size` bytes into a new tensor of `sizes`
//! on the current stream. The stream's status is checked on the device (an
//! asynchronous assertion), so nothing is synchronized.
at::Tensor decompress_cuda(const at::Tensor& stream_tensor, std::uint64_t stream_size, at::ScalarType type,
                           at::IntArrayRef sizes, bool verify_checksum) {
  const c10::cuda::CUDAGuard guard(stream_tensor.device());
  at::Tensor stream = stream_tensor.contiguous();
  if (reinterpret_cast<std::uintptr_t>(stream.data_ptr()) % 4 != 0) stream = stream.clone();
  std::uint64_t count = 1;
  for (const std::int64_t s : sizes) {
    if (s < 0) actzip::detail::raise(actzip::status::invalid_argument, "negative extent");
    count *= static_cast<std::uint64_t>(s);
  }
  (void)to_actzip(type);  // throws for an unsupported type
  at::Tensor out = at::empty(sizes, at::TensorOptions().dtype(type).device(stream.device()));
  const std::uint64_t work = actzip::decode_workspace_bytes(actzip::exec::cuda);
  const auto bytes = at::TensorOptions().dtype(at::kByte).device(stream.device());
  at::Tensor scratch = at::empty({static_cast<std::int64_t>(round8(work) + 8)}, bytes);
  auto* status_word = reinterpret_cast<actzip::status*>(scratch.data_ptr<unsigned char>() + round8(work));
  actzip::decode_options options;
  options.verify_checksum = verify_checksum;
  const auto e = actzip::exec::cuda.on(at::cuda::getCurrentCUDAStream(stream.device().index()).stream());
  dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    check_cuda(actzip::decompress(e, stream.data_ptr(), stream_size, reinterpret_cast<T*>(out.data_ptr()), count,
                                  status_word, scratch.data_ptr(), work, options),
               "decompress");
    return 0;
  });
  // A stream of the wrong type or size, or a damaged one, trips a device-side
  // assertion (reported at the next synchronization) instead of a host round trip.
  static_assert(sizeof(actzip::status) == 4, "the status word is read as int32");
  const at::Tensor status = scratch.narrow(0, static_cast<std::int64_t>(round8(work)), 4).view(at::kInt);
  at::_assert_async(status.eq(0).all());
  return out;
}

}  // namespace actzip_torch
