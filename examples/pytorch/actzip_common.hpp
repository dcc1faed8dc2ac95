// SPDX-License-Identifier: Apache-2.0
//
// Shared by the host (actzip_torch.cpp) and CUDA (actzip_torch_cuda.cu) halves of
// the PyTorch extension: the mapping between torch and actzip element types, the
// folding of a tensor's shape into actzip's rank 1..3, the element-type dispatch and
// the turning of a status into an exception carrying actzip's message.
#pragma once

#include <torch/extension.h>

#include <actzip/core/dtype.hpp>
#include <actzip/core/extents.hpp>
#include <actzip/error.hpp>
#include <actzip/params.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace actzip_torch {

//! actzip's code for a torch element type; throws actzip::error(unsupported) for
//! anything but float32, float64, float16 and bfloat16.
inline actzip::dtype to_actzip(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return actzip::dtype::float32;
    case at::kDouble: return actzip::dtype::float64;
    case at::kHalf: return actzip::dtype::float16;
    case at::kBFloat16: return actzip::dtype::bfloat16;
    default: break;
  }
  actzip::detail::raise(actzip::status::unsupported,
                        std::string("element type ") + c10::toString(type) +
                            " (actzip compresses float32, float64, float16 and bfloat16)");
}

//! The torch element type of an actzip dtype.
inline at::ScalarType to_torch(actzip::dtype type) {
  switch (type) {
    case actzip::dtype::float32: return at::kFloat;
    case actzip::dtype::float64: return at::kDouble;
    case actzip::dtype::float16: return at::kHalf;
    case actzip::dtype::bfloat16: return at::kBFloat16;
  }
  actzip::detail::raise(actzip::status::corrupt_stream, "unknown element type in the stream");
}

//! The actzip shape of a C-order tensor of `sizes`: rank 0 becomes {1}, ranks 1..3
//! are kept, and a higher rank keeps its last two extents and folds the leading
//! ones into the first (an NCHW activation becomes {N*C, H, W}, so the Lorenzo
//! predictor runs over the image plane). Throws for a negative extent.
inline actzip::extents fold_shape(at::IntArrayRef sizes) {
  for (const std::int64_t s : sizes)
    if (s < 0) actzip::detail::raise(actzip::status::invalid_argument, "negative extent");
  const std::size_t rank = sizes.size();
  if (rank == 0) return actzip::extents::linear(1);
  if (rank <= 3) {
    std::uint64_t dims[3] = {0, 0, 0};
    for (std::size_t i = 0; i < rank; ++i) dims[i] = static_cast<std::uint64_t>(sizes[i]);
    return actzip::extents::from_array(static_cast<unsigned>(rank), dims);
  }
  std::uint64_t lead = 1;
  for (std::size_t i = 0; i + 2 < rank; ++i) lead *= static_cast<std::uint64_t>(sizes[i]);
  const std::uint64_t dims[3] = {lead, static_cast<std::uint64_t>(sizes[rank - 2]),
                                 static_cast<std::uint64_t>(sizes[rank - 1])};
  return actzip::extents::from_array(3, dims);
}

//! Throws actzip::error(s, context) unless s is success.
inline void check(actzip::status s, const char* context) { actzip::detail::throw_if_failed(s, context); }

//! Calls f(T{}) with T the actzip element type of a torch tensor type.
template <class F>
decltype(auto) dispatch(at::ScalarType type, F&& f) {
  switch (type) {
    case at::kFloat: return f(float{});
    case at::kDouble: return f(double{});
    case at::kHalf: return f(actzip::half{});
    case at::kBFloat16: return f(actzip::bfloat16{});
    default: break;
  }
  (void)to_actzip(type);  // throws
  return f(float{});
}

//! Checks that a tensor can be a compressed stream: one-dimensional uint8.
inline void check_stream_tensor(const at::Tensor& stream) {
  if (stream.scalar_type() != at::kByte || stream.dim() != 1)
    actzip::detail::raise(actzip::status::invalid_argument, "a stream is a one-dimensional uint8 tensor");
}

//! Checks that `sizes` has as many elements as the stream, whose header says `count`.
inline void check_element_count(at::IntArrayRef sizes, std::uint64_t count) {
  std::uint64_t n = 1;
  for (const std::int64_t s : sizes) {
    if (s < 0) actzip::detail::raise(actzip::status::invalid_argument, "negative extent");
    n *= static_cast<std::uint64_t>(s);
  }
  if (n != count)
    actzip::detail::raise(actzip::status::invalid_argument,
                          "the requested shape has " + std::to_string(n) + " elements, the stream " +
                              std::to_string(count));
}

}  // namespace actzip_torch
