// SPDX-License-Identifier: Apache-2.0
//
// The convenience layer: owns its memory, returns std::vector, throws actzip::error.
// Every call is synchronous. It is the quickstart surface:
//   auto z = actzip::compress(data, actzip::extents{n * c, h, w}, actzip::params{actzip::rel(1e-3)});
//   actzip::header hdr = actzip::inspect(z.data(), z.size());
//   std::vector<float> back = actzip::decompress<float>(z.data(), z.size());
#pragma once

#include <actzip/core.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace actzip {

//! Compresses a tensor of `shape` (C order) with executor `e`; returns the stream.
//! Throws actzip::error on invalid arguments. Synchronous.
template <class Exec, class T>
std::vector<std::byte> compress(const Exec& e, const T* data, const extents& shape, const params& p) {
  const std::uint64_t capacity = max_compressed_bytes<T>(shape);
  if (capacity == 0) detail::raise(shape.valid() ? status::size_overflow : status::invalid_argument, "compress: shape");
  std::vector<std::byte> out(static_cast<std::size_t>(capacity));
  std::vector<std::byte> workspace(static_cast<std::size_t>(workspace_bytes(e, shape)));
  std::uint64_t size = 0;
  detail::throw_if_failed(
      compress(e, data, shape, p, out.data(), out.size(), &size, workspace.data(), workspace.size()), "compress");
  out.resize(static_cast<std::size_t>(size));
  out.shrink_to_fit();
  return out;
}

//! Compresses with the default host executor (omp when OpenMP is enabled, else serial).
template <class T>
std::vector<std::byte> compress(const T* data, const extents& shape, const params& p) {
  return compress(exec::default_host_t{}, data, shape, p);
}

namespace detail {
//! Throws (or aborts) for a stream refused with status `s` by `call`, the message
//! naming what is wrong and where (from actzip::diagnose).
[[noreturn]] inline void raise_for_stream(status s, const char* call, const void* stream, std::size_t size,
                                          const decode_options& options) {
  std::string context = call;
  if (s == status::not_a_stream || s == status::unsupported_version || s == status::corrupt_stream ||
      s == status::checksum_mismatch) {
    stream_fault fault;
    if (diagnose(stream, static_cast<std::uint64_t>(size), &fault, options) == s && fault.what != nullptr)
      context += ": " + describe(fault);
  }
  raise(s, context);
}
}  // namespace detail

//! Reads and validates a stream's header (not its checksum: see verify). Throws
//! actzip::error for anything that is not a valid actzip header; the message says
//! which field is wrong and where.
inline header inspect(const void* stream, std::size_t size) {
  header h;
  if (status s = inspect(stream, static_cast<std::uint64_t>(size), &h); s != status::success)
    detail::raise_for_stream(s, "inspect", stream, size, decode_options{false});
  return h;
}

//! Decompresses a stream of element type T with executor `e` into `out` (resized to
//! the element count). Throws actzip::error on a corrupt stream (the message says
//! what is wrong and at which byte and chunk), a checksum mismatch or a type mismatch.
template <class T, class Exec>
void decompress(const Exec& e, const void* stream, std::size_t size, std::vector<T>& out,
                const decode_options& options = {}) {
  const header h = inspect(stream, size);
  if (h.dtype != dtype_traits<T>::code)
    detail::raise(status::dtype_mismatch, std::string("decompress: the stream holds ") + to_string(h.dtype));
  out.resize(static_cast<std::size_t>(h.element_count));
  if (status s = decompress(e, stream, size, out.data(), out.size(), options); s != status::success)
    detail::raise_for_stream(s, "decompress", stream, size, options);
}

//! Decompresses a stream of element type T with executor `e`.
template <class T, class Exec>
std::vector<T> decompress(const Exec& e, const void* stream, std::size_t size, const decode_options& options = {}) {
  std::vector<T> out;
  decompress<T>(e, stream, size, out, options);
  return out;
}

//! Decompresses a stream of element type T with the default host executor.
template <class T>
std::vector<T> decompress(const void* stream, std::size_t size, const decode_options& options = {}) {
  return decompress<T>(exec::default_host_t{}, stream, size, options);
}

}  // namespace actzip
