// SPDX-License-Identifier: Apache-2.0
//
// The definitions of the C interface declared in <actzip/actzip.h>. Include this
// header in exactly ONE C++ translation unit of a program (src/actzip_c.cpp does
// nothing else); compiled by nvcc (src/actzip_c.cu) it also implements the
// actzip_cuda_* functions, otherwise they return ACTZIP_UNSUPPORTED. A second
// inclusion in another translation unit gives duplicate-symbol link errors. Every
// function validates its arguments, maps them onto the core layer (which never
// allocates and never throws), and catches anything thrown at the boundary.
#pragma once

#ifndef __cplusplus
#error "actzip/c/implementation.hpp is C++: compile it in a .cpp (or, for CUDA, a .cu) translation unit"
#endif

#include <actzip/actzip.h>
#include <actzip/config.hpp>
#include <actzip/core.hpp>
#include <actzip/version.hpp>
#if ACTZIP_HAS_CUDA
#include <actzip/cuda.cuh>
#endif

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace actzip {
namespace c_interface {

// The C enums carry the values of the C++ ones.
static_assert(ACTZIP_SUCCESS == static_cast<int>(status::success), "status values");
static_assert(ACTZIP_INVALID_ARGUMENT == static_cast<int>(status::invalid_argument), "status values");
static_assert(ACTZIP_UNSUPPORTED == static_cast<int>(status::unsupported), "status values");
static_assert(ACTZIP_BUFFER_TOO_SMALL == static_cast<int>(status::buffer_too_small), "status values");
static_assert(ACTZIP_SIZE_OVERFLOW == static_cast<int>(status::size_overflow), "status values");
static_assert(ACTZIP_DTYPE_MISMATCH == static_cast<int>(status::dtype_mismatch), "status values");
static_assert(ACTZIP_NOT_A_STREAM == static_cast<int>(status::not_a_stream), "status values");
static_assert(ACTZIP_UNSUPPORTED_VERSION == static_cast<int>(status::unsupported_version), "status values");
static_assert(ACTZIP_CORRUPT_STREAM == static_cast<int>(status::corrupt_stream), "status values");
static_assert(ACTZIP_CUDA_ERROR == static_cast<int>(status::cuda_error), "status values");
static_assert(ACTZIP_CHECKSUM_MISMATCH == static_cast<int>(status::checksum_mismatch), "status values");
static_assert(sizeof(status) == sizeof(std::int32_t), "the CUDA status word is an int32_t");
static_assert(ACTZIP_FLOAT32 == static_cast<int>(dtype::float32) &&
                  ACTZIP_FLOAT64 == static_cast<int>(dtype::float64) &&
                  ACTZIP_FLOAT16 == static_cast<int>(dtype::float16) &&
                  ACTZIP_BFLOAT16 == static_cast<int>(dtype::bfloat16),
              "dtype values");
static_assert(ACTZIP_BOUND_ABSOLUTE == static_cast<int>(bound_mode::absolute) &&
                  ACTZIP_BOUND_RELATIVE == static_cast<int>(bound_mode::relative),
              "bound mode values");
static_assert(ACTZIP_CODEC_BITPLANE == static_cast<int>(codec::bitplane), "codec values");
static_assert(ACTZIP_CODEC_HUFFMAN == static_cast<int>(codec::huffman), "codec values");
static_assert(ACTZIP_CODEC_AUTOMATIC == static_cast<int>(codec::automatic), "codec values");
static_assert(sizeof(half) == 2 && sizeof(bfloat16) == 2, "16-bit elements are passed as their bits");
// The documented layouts: fixed sizes and no hidden padding, the same in every language.
static_assert(sizeof(actzip_params) == 24 && offsetof(actzip_params, bound) == 8 &&
                  offsetof(actzip_params, reserved) == 20,
              "actzip_params layout");
static_assert(sizeof(actzip_header) == 144 && offsetof(actzip_header, dims) == 16 &&
                  offsetof(actzip_header, requested_bound) == 48 && offsetof(actzip_header, value_min) == 72 &&
                  offsetof(actzip_header, chunk_shape) == 88 && offsetof(actzip_header, element_count) == 104 &&
                  offsetof(actzip_header, checksum) == 136,
              "actzip_header layout");
static_assert(sizeof(actzip_version_info) == 32, "actzip_version_info layout");

inline actzip_status to_c(status s) noexcept {
  return static_cast<actzip_status>(static_cast<int>(s));
}

//! Runs `body` (returning actzip_status); anything thrown becomes a status. The core
//! layer is noexcept and nothing here allocates, so no exception is expected; the
//! catch keeps a C caller safe whatever happens.
template <class Body>
actzip_status guarded(Body&& body) noexcept {
#if ACTZIP_HAS_EXCEPTIONS
  try {
    return body();
  } catch (...) {
    return ACTZIP_UNSUPPORTED;
  }
#else
  return body();
#endif
}

//! A shape from C arguments: rank 1..3, non-null dims, no negative extent.
inline status to_extents(std::int32_t ndim, const std::int64_t* dims, extents* out) noexcept {
  if (dims == nullptr || ndim < 1 || ndim > 3) return status::invalid_argument;
  std::uint64_t values[3] = {1, 1, 1};
  for (std::int32_t i = 0; i < ndim; ++i) {
    if (dims[i] < 0) return status::invalid_argument;
    values[i] = static_cast<std::uint64_t>(dims[i]);
  }
  *out = extents::from_array(static_cast<unsigned>(ndim), values);
  return status::success;
}

//! A shape and its element count, with every size check of the core layer.
inline status to_checked_extents(std::int32_t ndim, const std::int64_t* dims, extents* out,
                                 std::uint64_t* count) noexcept {
  if (status s = to_extents(ndim, dims, out); s != status::success) return s;
  return detail::check_shape(*out, count);
}

inline bool known_dtype(std::int32_t code) noexcept {
  return code >= 1 && code <= 4;
}

//! Parameters from the C struct (every field validated).
inline status to_params(const actzip_params* in, params* out) noexcept {
  if (in == nullptr) return status::invalid_argument;
  if (in->bound_mode != ACTZIP_BOUND_ABSOLUTE && in->bound_mode != ACTZIP_BOUND_RELATIVE)
    return status::invalid_argument;
  if (in->preserve_sign != 0 && in->preserve_sign != 1) return status::invalid_argument;
  if (in->reserved != 0) return status::invalid_argument;
  if (in->codec != ACTZIP_CODEC_BITPLANE && in->codec != ACTZIP_CODEC_HUFFMAN && in->codec != ACTZIP_CODEC_AUTOMATIC)
    return status::unsupported;
  out->error_bound = bound{static_cast<bound_mode>(in->bound_mode), in->bound};
  out->codec = static_cast<codec>(in->codec);
  out->preserve_sign = in->preserve_sign == 1;
  return status::success;
}

//! Calls f(T*) with the element type named by `code` (invalid_argument if none).
template <class F>
status with_element_type(std::int32_t code, F&& f) {
  switch (code) {
    case ACTZIP_FLOAT32:
      return f(static_cast<float*>(nullptr));
    case ACTZIP_FLOAT64:
      return f(static_cast<double*>(nullptr));
    case ACTZIP_FLOAT16:
      return f(static_cast<half*>(nullptr));
    case ACTZIP_BFLOAT16:
      return f(static_cast<bfloat16*>(nullptr));
    default:
      return status::invalid_argument;
  }
}

//! Calls f(executor) with the host executor named by `code`.
template <class F>
status with_executor(std::int32_t code, F&& f) {
  switch (code) {
    case ACTZIP_EXEC_DEFAULT:
      return f(exec::default_host_t{});
    case ACTZIP_EXEC_SERIAL:
      return f(exec::serial);
#if ACTZIP_HAS_OPENMP
    case ACTZIP_EXEC_OPENMP:
      return f(exec::omp);
#else
    case ACTZIP_EXEC_OPENMP:
      return status::unsupported;
#endif
    default:
      return status::invalid_argument;
  }
}

inline status to_decode_options(std::uint32_t flags, decode_options* out) noexcept {
  if ((flags & ~static_cast<std::uint32_t>(ACTZIP_DECODE_SKIP_CHECKSUM)) != 0) return status::invalid_argument;
  out->verify_checksum = (flags & ACTZIP_DECODE_SKIP_CHECKSUM) == 0;
  return status::success;
}

//! What every compress entry point shares: the pointer, shape and parameter checks
//! and conversions, then `run(type_tag, shape, p)` for the element type `dtype`.
template <class Run>
actzip::status checked_compress(const void* input, std::int32_t dtype, std::int32_t ndim, const std::int64_t* dims,
                                const actzip_params* params, const void* output, const std::uint64_t* compressed_bytes,
                                Run run) {
  if (output == nullptr || compressed_bytes == nullptr) return actzip::status::invalid_argument;
  actzip::extents shape;
  std::uint64_t count = 0;
  if (actzip::status s = to_checked_extents(ndim, dims, &shape, &count); s != actzip::status::success) return s;
  actzip::params p;
  if (actzip::status s = to_params(params, &p); s != actzip::status::success) return s;
  if (input == nullptr && count != 0) return actzip::status::invalid_argument;
  return with_element_type(dtype, [&](auto* type) { return run(type, shape, p); });
}

}  // namespace c_interface
}  // namespace actzip

extern "C" {

ACTZIP_C_API const char* actzip_status_string(int32_t status) {
  if (status < 0 || status > ACTZIP_CHECKSUM_MISMATCH) return "unknown status";
  return actzip::to_string(static_cast<actzip::status>(status));
}

ACTZIP_C_API actzip_status actzip_version(actzip_version_info* info) {
  if (info == nullptr) return ACTZIP_INVALID_ARGUMENT;
  info->major = ACTZIP_VERSION_MAJOR;
  info->minor = ACTZIP_VERSION_MINOR;
  info->patch = ACTZIP_VERSION_PATCH;
  info->format_version = actzip::format_version;
  info->oldest_format_version = actzip::oldest_format_version;
  info->has_openmp = ACTZIP_HAS_OPENMP;
  info->has_cuda = ACTZIP_HAS_CUDA;
  info->reserved = 0;
  return ACTZIP_SUCCESS;
}

ACTZIP_C_API const char* actzip_version_string(void) {
  return ACTZIP_VERSION_STRING;
}

ACTZIP_C_API uint32_t actzip_dtype_size(int32_t dtype) {
  return actzip::c_interface::known_dtype(dtype) ? actzip::dtype_size(static_cast<actzip::dtype>(dtype)) : 0u;
}

ACTZIP_C_API actzip_status actzip_dtype_from_dlpack(uint8_t code, uint8_t bits, uint16_t lanes, int32_t* dtype) {
  if (dtype == nullptr) return ACTZIP_INVALID_ARGUMENT;
  if (lanes != 1) return ACTZIP_UNSUPPORTED;
  if (code == ACTZIP_DLPACK_FLOAT && bits == 32)
    *dtype = ACTZIP_FLOAT32;
  else if (code == ACTZIP_DLPACK_FLOAT && bits == 64)
    *dtype = ACTZIP_FLOAT64;
  else if (code == ACTZIP_DLPACK_FLOAT && bits == 16)
    *dtype = ACTZIP_FLOAT16;
  else if (code == ACTZIP_DLPACK_BFLOAT && bits == 16)
    *dtype = ACTZIP_BFLOAT16;
  else
    return ACTZIP_UNSUPPORTED;
  return ACTZIP_SUCCESS;
}

ACTZIP_C_API actzip_status actzip_dtype_to_dlpack(int32_t dtype, uint8_t* code, uint8_t* bits) {
  if (code == nullptr || bits == nullptr || !actzip::c_interface::known_dtype(dtype)) return ACTZIP_INVALID_ARGUMENT;
  *code = static_cast<uint8_t>(dtype == ACTZIP_BFLOAT16 ? ACTZIP_DLPACK_BFLOAT : ACTZIP_DLPACK_FLOAT);
  *bits = static_cast<uint8_t>(8 * actzip_dtype_size(dtype));
  return ACTZIP_SUCCESS;
}

ACTZIP_C_API actzip_status actzip_is_compact(int32_t ndim, const int64_t* dims, const int64_t* strides) {
  actzip::extents shape;
  if (actzip::c_interface::to_extents(ndim, dims, &shape) != actzip::status::success) return ACTZIP_INVALID_ARGUMENT;
  if (strides == nullptr) return ACTZIP_SUCCESS;
  // Compact strides: 1 for the last dimension, the product of the later extents
  // before it. An extent of 1 may carry any stride (it is never stepped along), and
  // a tensor with an extent of 0 has no elements, so any strides describe it.
  for (int32_t i = 0; i < ndim; ++i)
    if (dims[i] == 0) return ACTZIP_SUCCESS;
  uint64_t expected = 1;
  for (int32_t i = ndim - 1; i >= 0; --i) {
    if (dims[i] != 1 && (strides[i] < 0 || static_cast<uint64_t>(strides[i]) != expected)) return ACTZIP_UNSUPPORTED;
    const uint64_t extent = static_cast<uint64_t>(dims[i]);
    if (expected > UINT64_MAX / extent) return ACTZIP_UNSUPPORTED;  // no real layout this large
    expected *= extent;
  }
  return ACTZIP_SUCCESS;
}

ACTZIP_C_API actzip_params actzip_params_default(void) {
  const actzip::params defaults{};
  actzip_params p;
  p.bound_mode = static_cast<int32_t>(defaults.error_bound.mode);
  p.codec = static_cast<int32_t>(defaults.codec);
  p.bound = defaults.error_bound.value;
  p.preserve_sign = defaults.preserve_sign ? 1 : 0;
  p.reserved = 0;
  return p;
}

ACTZIP_C_API actzip_params actzip_params_absolute(double bound) {
  actzip_params p = actzip_params_default();
  p.bound_mode = ACTZIP_BOUND_ABSOLUTE;
  p.bound = bound;
  return p;
}

ACTZIP_C_API actzip_params actzip_params_relative(double bound) {
  actzip_params p = actzip_params_default();
  p.bound_mode = ACTZIP_BOUND_RELATIVE;
  p.bound = bound;
  return p;
}

ACTZIP_C_API actzip_status actzip_max_compressed_bytes(int32_t dtype, int32_t ndim, const int64_t* dims,
                                                       uint64_t* bytes) {
  using namespace actzip;
  return c_interface::guarded([&] {
    if (bytes == nullptr || !c_interface::known_dtype(dtype)) return ACTZIP_INVALID_ARGUMENT;
    extents shape;
    std::uint64_t count = 0;
    if (status s = c_interface::to_checked_extents(ndim, dims, &shape, &count); s != status::success)
      return c_interface::to_c(s);
    // 0 means the bound does not fit in 64 bits (the shape itself was checked above).
    const std::uint64_t bound = max_compressed_bytes(static_cast<actzip::dtype>(dtype), shape);
    if (bound == 0) return ACTZIP_SIZE_OVERFLOW;
    *bytes = bound;
    return ACTZIP_SUCCESS;
  });
}

ACTZIP_C_API actzip_status actzip_workspace_bytes(int32_t executor, int32_t ndim, const int64_t* dims,
                                                  uint64_t* bytes) {
  using namespace actzip;
  return c_interface::guarded([&] {
    if (bytes == nullptr) return ACTZIP_INVALID_ARGUMENT;
    extents shape;
    std::uint64_t count = 0;
    if (status s = c_interface::to_checked_extents(ndim, dims, &shape, &count); s != status::success)
      return c_interface::to_c(s);
    return c_interface::to_c(c_interface::with_executor(executor, [&](const auto& e) {
      *bytes = workspace_bytes(e, shape);
      return status::success;
    }));
  });
}

ACTZIP_C_API actzip_status actzip_compress(int32_t executor, const void* input, int32_t dtype, int32_t ndim,
                                           const int64_t* dims, const actzip_params* params, void* output,
                                           uint64_t output_capacity, uint64_t* compressed_bytes, void* workspace,
                                           uint64_t workspace_size) {
  using namespace actzip;
  return c_interface::guarded([&] {
    const auto run = [&](auto* type, const extents& shape, const actzip::params& p) {
      using T = std::remove_pointer_t<decltype(type)>;
      return c_interface::with_executor(executor, [&](const auto& e) {
        return compress(e, static_cast<const T*>(input), shape, p, output, output_capacity, compressed_bytes, workspace,
                        workspace_size);
      });
    };
    return c_interface::to_c(
        c_interface::checked_compress(input, dtype, ndim, dims, params, output, compressed_bytes, run));
  });
}

ACTZIP_C_API actzip_status actzip_decompress(int32_t executor, const void* stream, uint64_t stream_size, int32_t dtype,
                                             void* output, uint64_t output_count, uint32_t flags) {
  using namespace actzip;
  return c_interface::guarded([&] {
    if (stream == nullptr || (output == nullptr && output_count != 0)) return ACTZIP_INVALID_ARGUMENT;
    decode_options options;
    if (status s = c_interface::to_decode_options(flags, &options); s != status::success) return c_interface::to_c(s);
    return c_interface::to_c(c_interface::with_executor(executor, [&](const auto& e) {
      return c_interface::with_element_type(dtype, [&](auto* type) {
        using T = std::remove_pointer_t<decltype(type)>;
        return decompress(e, stream, stream_size, static_cast<T*>(output), output_count, options);
      });
    }));
  });
}

ACTZIP_C_API actzip_status actzip_inspect(const void* stream, uint64_t stream_size, actzip_header* header) {
  using namespace actzip;
  return c_interface::guarded([&] {
    if (stream == nullptr || header == nullptr) return ACTZIP_INVALID_ARGUMENT;
    actzip::header h;
    if (status s = inspect(stream, stream_size, &h); s != status::success) return c_interface::to_c(s);
    for (unsigned d = 0; d < 3; ++d)
      if (h.shape[d] > static_cast<std::uint64_t>(INT64_MAX)) return ACTZIP_SIZE_OVERFLOW;
    actzip_header out;
    out.format_version = h.version;
    out.dtype = static_cast<int32_t>(h.dtype);
    out.codec = static_cast<int32_t>(h.codec);
    out.ndim = static_cast<int32_t>(h.shape.rank());
    for (unsigned d = 0; d < 3; ++d) out.dims[d] = static_cast<int64_t>(h.shape[d]);
    out.bound_mode = static_cast<int32_t>(h.requested_bound.mode);
    out.preserve_sign = h.preserve_sign ? 1 : 0;
    out.requested_bound = h.requested_bound.value;
    out.absolute_bound = h.absolute_bound;
    out.has_value_range = h.has_value_range ? 1 : 0;
    out.has_checksum = h.has_checksum() ? 1 : 0;
    out.value_min = h.value_min;
    out.value_max = h.value_max;
    out.chunk_shape[0] = h.chunk_shape.e0;
    out.chunk_shape[1] = h.chunk_shape.e1;
    out.chunk_shape[2] = h.chunk_shape.e2;
    out.reserved = 0;
    out.element_count = h.element_count;
    out.chunk_count = h.chunk_count;
    out.payload_bytes = h.payload_bytes;
    out.total_bytes = h.total_bytes;
    out.checksum = h.checksum;
    *header = out;
    return ACTZIP_SUCCESS;
  });
}

ACTZIP_C_API actzip_status actzip_verify(int32_t executor, const void* stream, uint64_t stream_size) {
  using namespace actzip;
  return c_interface::guarded([&] {
    if (stream == nullptr) return ACTZIP_INVALID_ARGUMENT;
    return c_interface::to_c(
        c_interface::with_executor(executor, [&](const auto& e) { return verify(e, stream, stream_size); }));
  });
}

ACTZIP_C_API actzip_status actzip_diagnose(const void* stream, uint64_t stream_size, uint32_t flags,
                                           actzip_fault* fault) {
  using namespace actzip;
  return c_interface::guarded([&] {
    if (fault != nullptr) {
      fault->what = nullptr;
      fault->offset = 0;
      fault->chunk = UINT64_MAX;
    }
    if (stream == nullptr) return ACTZIP_INVALID_ARGUMENT;
    decode_options options;
    if (status s = c_interface::to_decode_options(flags, &options); s != status::success) return c_interface::to_c(s);
    stream_fault where;
    const status s = diagnose(stream, stream_size, &where, options);
    if (s != status::success && fault != nullptr) {
      fault->what = where.what;
      fault->offset = where.offset;
      fault->chunk = where.chunk;
    }
    return c_interface::to_c(s);
  });
}

// ---- CUDA ---------------------------------------------------------------------------

#if ACTZIP_HAS_CUDA

ACTZIP_C_API actzip_status actzip_cuda_workspace_bytes(int32_t ndim, const int64_t* dims, uint64_t* bytes) {
  using namespace actzip;
  return c_interface::guarded([&] {
    if (bytes == nullptr) return ACTZIP_INVALID_ARGUMENT;
    extents shape;
    std::uint64_t count = 0;
    if (status s = c_interface::to_checked_extents(ndim, dims, &shape, &count); s != status::success)
      return c_interface::to_c(s);
    *bytes = workspace_bytes(exec::cuda, shape);
    return ACTZIP_SUCCESS;
  });
}

ACTZIP_C_API actzip_status actzip_cuda_decode_workspace_bytes(uint64_t* bytes) {
  if (bytes == nullptr) return ACTZIP_INVALID_ARGUMENT;
  *bytes = actzip::decode_workspace_bytes(actzip::exec::cuda, 1);
  return ACTZIP_SUCCESS;
}

ACTZIP_C_API actzip_status actzip_cuda_compress(void* cuda_stream, const void* input, int32_t dtype, int32_t ndim,
                                                const int64_t* dims, const actzip_params* params, void* output,
                                                uint64_t output_capacity, uint64_t* compressed_bytes, void* workspace,
                                                uint64_t workspace_size) {
  using namespace actzip;
  return c_interface::guarded([&] {
    const exec::cuda_t e = exec::cuda.on(static_cast<cudaStream_t>(cuda_stream));
    const auto run = [&](auto* type, const extents& shape, const actzip::params& p) {
      using T = std::remove_pointer_t<decltype(type)>;
      return compress(e, static_cast<const T*>(input), shape, p, output, output_capacity, compressed_bytes, workspace,
                      workspace_size);
    };
    return c_interface::to_c(
        c_interface::checked_compress(input, dtype, ndim, dims, params, output, compressed_bytes, run));
  });
}

ACTZIP_C_API actzip_status actzip_cuda_decompress(void* cuda_stream, const void* stream, uint64_t stream_size,
                                                  int32_t dtype, void* output, uint64_t output_count,
                                                  int32_t* device_status, void* workspace, uint64_t workspace_size,
                                                  uint32_t flags) {
  using namespace actzip;
  return c_interface::guarded([&] {
    if (stream == nullptr || device_status == nullptr || (output == nullptr && output_count != 0))
      return ACTZIP_INVALID_ARGUMENT;
    decode_options options;
    if (status s = c_interface::to_decode_options(flags, &options); s != status::success) return c_interface::to_c(s);
    const exec::cuda_t e = exec::cuda.on(static_cast<cudaStream_t>(cuda_stream));
    // An int32_t word in device memory holds an actzip::status (same size, same values).
    auto* status_word = reinterpret_cast<status*>(device_status);
    return c_interface::to_c(c_interface::with_element_type(dtype, [&](auto* type) {
      using T = std::remove_pointer_t<decltype(type)>;
      return decompress(e, stream, stream_size, static_cast<T*>(output), output_count, status_word, workspace,
                        workspace_size, options);
    }));
  });
}

ACTZIP_C_API int32_t actzip_cuda_last_error(void) {
  return static_cast<int32_t>(actzip::last_cuda_error());
}

#else  // a host compiler: the CUDA functions exist and say so

ACTZIP_C_API actzip_status actzip_cuda_workspace_bytes(int32_t, const int64_t*, uint64_t*) {
  return ACTZIP_UNSUPPORTED;
}

ACTZIP_C_API actzip_status actzip_cuda_decode_workspace_bytes(uint64_t*) {
  return ACTZIP_UNSUPPORTED;
}

ACTZIP_C_API actzip_status actzip_cuda_compress(void*, const void*, int32_t, int32_t, const int64_t*,
                                                const actzip_params*, void*, uint64_t, uint64_t*, void*, uint64_t) {
  return ACTZIP_UNSUPPORTED;
}

ACTZIP_C_API actzip_status actzip_cuda_decompress(void*, const void*, uint64_t, int32_t, void*, uint64_t, int32_t*,
                                                  void*, uint64_t, uint32_t) {
  return ACTZIP_UNSUPPORTED;
}

ACTZIP_C_API int32_t actzip_cuda_last_error(void) {
  return 0;
}

#endif  // ACTZIP_HAS_CUDA

}  // extern "C"
