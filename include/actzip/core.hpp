// SPDX-License-Identifier: Apache-2.0
//
// The core layer: size queries, compress and decompress into caller-owned buffers,
// and inspect. It never allocates, never throws and returns a status. On the host
// executors (exec::serial, exec::omp) every call is synchronous: when it returns,
// the output is complete.
#pragma once

#include <actzip/core/dtype.hpp>
#include <actzip/core/extents.hpp>
#include <actzip/detail/host_pipeline.hpp>
#include <actzip/error.hpp>
#include <actzip/exec/omp.hpp>
#include <actzip/exec/serial.hpp>
#include <actzip/format/header.hpp>
#include <actzip/params.hpp>

#include <cstdint>
#include <string>

namespace actzip {

namespace exec {
#if ACTZIP_HAS_OPENMP
//! The executor the convenience layer uses on the host: omp when OpenMP is enabled.
using default_host_t = omp_t;
#else
//! The executor the convenience layer uses on the host: serial without OpenMP.
using default_host_t = serial_t;
#endif
}  // namespace exec

//! A true upper bound of the size of the stream compressing a tensor of `type` and
//! `shape` with any data and any parameters: a compress call with this much output
//! capacity never fails for lack of room. Cheap, and usable before any data exists.
//! Returns 0 for an invalid shape or one whose bound does not fit in 64 bits.
inline std::uint64_t max_compressed_bytes(dtype type, const extents& shape) noexcept {
  std::uint64_t count = 0;
  if (detail::check_shape(shape, &count) != status::success || dtype_size(type) == 0) return 0;
  return detail::stream_bytes_bound(count, dtype_size(type), make_chunk_geometry(shape).count);
}

//! max_compressed_bytes for element type T.
template <class T>
std::uint64_t max_compressed_bytes(const extents& shape) noexcept {
  static_assert(is_supported_element_v<T>, "actzip compresses float, double, actzip::half and actzip::bfloat16");
  return max_compressed_bytes(dtype_traits<T>::code, shape);
}

//! Bytes of workspace `compress` needs with executor `e` for a tensor of `shape`
//! (0 for exec::serial; 8 bytes per 4096-element chunk for exec::omp). Returns 0 for
//! an invalid shape. Decompression on the host needs no workspace.
template <class Exec>
std::uint64_t workspace_bytes(const Exec& e, const extents& shape) noexcept {
  std::uint64_t count = 0;
  if (detail::check_shape(shape, &count) != status::success) return 0;
  return detail::chunk_size_workspace(e, make_chunk_geometry(shape).count);
}

//! Compresses `input` (a tensor of `shape`, C order) with parameters `p` into
//! `output` (capacity `output_capacity` bytes; max_compressed_bytes always suffices)
//! and stores the stream's size in `*compressed_bytes`. `workspace` must hold
//! workspace_bytes(e, shape) bytes (may be null when that is 0). Synchronous.
//! Huffman streams are fastest with max_compressed_bytes of output: the whole buffer
//! is then scratch space, where each chunk prepared for the histogram is kept for the
//! encode pass; with less, every chunk is prepared twice. The stream is the same.
//! Errors: invalid_argument (null pointers, bad bound), size_overflow,
//! buffer_too_small (output or workspace), unsupported (codec).
template <class Exec, class T>
[[nodiscard]] status compress(const Exec& e, const T* input, const extents& shape, const params& p, void* output,
                              std::uint64_t output_capacity, std::uint64_t* compressed_bytes,
                              void* workspace = nullptr, std::uint64_t workspace_size = 0) noexcept {
  static_assert(is_supported_element_v<T>, "actzip compresses float, double, actzip::half and actzip::bfloat16");
  return detail::compress_host(e, input, shape, p, output, output_capacity, compressed_bytes, workspace,
                               workspace_size);
}

//! Decompresses the stream `stream` of `stream_size` bytes (a buffer at least as long
//! as the stream; trailing bytes are ignored) into `output`, which holds
//! `output_count` elements of T. Synchronous. The stream's checksum is verified
//! first unless `options.verify_checksum` is false. Errors: not_a_stream,
//! unsupported_version, corrupt_stream, checksum_mismatch, dtype_mismatch (T is not
//! the stream's type), buffer_too_small (output_count < element count). On error the
//! contents of `output` are unspecified; nothing outside output[0, element count) is
//! written. actzip::diagnose tells where a refused stream is wrong.
template <class Exec, class T>
[[nodiscard]] status decompress(const Exec& e, const void* stream, std::uint64_t stream_size, T* output,
                                std::uint64_t output_count, const decode_options& options = {}) noexcept {
  static_assert(is_supported_element_v<T>, "actzip compresses float, double, actzip::half and actzip::bfloat16");
  return detail::decompress_host(e, stream, stream_size, output, output_count, options);
}

//! Reads and validates the header of a stream of `stream_size` bytes into `*out`
//! (the checksum is not verified: see verify). Errors: not_a_stream,
//! unsupported_version, corrupt_stream, invalid_argument.
[[nodiscard]] inline status inspect(const void* stream, std::uint64_t stream_size, header* out) noexcept {
  return parse_header(stream, stream_size, out);
}

//! Validates the header and verifies the checksum of a stream with executor `e`
//! (one pass over the stream, no decoding). Streams of format version 1 carry no
//! checksum and pass when their header is valid. Errors: those of inspect, and
//! checksum_mismatch.
template <class Exec>
[[nodiscard]] status verify(const Exec& e, const void* stream, std::uint64_t stream_size) noexcept {
  header h;
  if (status s = parse_header(stream, stream_size, &h); s != status::success) return s;
  return detail::check_checksum(e, h, stream);
}

//! verify with the serial executor.
[[nodiscard]] inline status verify(const void* stream, std::uint64_t stream_size) noexcept {
  return verify(exec::serial, stream, stream_size);
}

//! Explains why a stream would be refused: validates it on this thread exactly as
//! decompress does (header, checksum unless `options` skips it, offset table, every
//! chunk) without decoding, and returns the first failure with, in *fault, what was
//! wrong, its byte offset in the stream and the chunk it is in. Returns success (and
//! leaves *fault untouched) for a stream that decodes. Element types and output
//! sizes are not checked: they are the caller's.
[[nodiscard]] inline status diagnose(const void* stream, std::uint64_t stream_size, stream_fault* fault,
                                     const decode_options& options = {}) noexcept {
  stream_fault local;
  stream_fault* f = fault != nullptr ? fault : &local;
  header h;
  if (status s = parse_header(stream, stream_size, &h, f); s != status::success) return s;
  if (options.verify_checksum)
    if (status s = detail::check_checksum(exec::serial, h, stream, f); s != status::success) return s;
  const auto* in = static_cast<const unsigned char*>(stream);
  const unsigned char* table = in + header_bytes;
  const std::uint64_t payload_start = header_bytes + chunk_offset_bytes * h.chunk_count;
  huffman_code code;
  code.stored_lengths = 0;
  std::uint32_t code_bytes = 0;
  if (h.codec != codec::bitplane)
    if (status s = parse_huffman_code(in + payload_start, h.payload_bytes, code, &code_bytes, f); s != status::success) {
      f->offset += payload_start;
      return s;
    }
  if (status s = detail::check_offset_table(h, table, f, code_bytes); s != status::success) return s;
  const chunk_geometry geometry = make_chunk_geometry(h.shape);
  std::uint32_t symbols[max_chunk_elements];
  for (std::uint64_t c = 0; c < h.chunk_count; ++c) {
    const std::uint64_t begin = load_le64(table + chunk_offset_bytes * c);
    const std::uint64_t end = c + 1 < h.chunk_count ? load_le64(table + chunk_offset_bytes * (c + 1)) : h.payload_bytes;
    chunk_view view;
    const std::uint32_t n = geometry.chunk_box(c).extent.count();
    status s = parse_stream_chunk(h.codec, in + payload_start + begin, end - begin, n, dtype_size(h.dtype), &view, f);
    if (s == status::success && view.type == chunk_view::kind::huffman && !decode_huffman_symbols(view, code, n, symbols))
      s = detail::refuse(f, status::corrupt_stream, "the Huffman bit stream does not decode to the chunk's elements",
                         view.layout.planes);
    if (s != status::success) {
      f->chunk = c;
      f->offset += payload_start + begin;
      return s;
    }
  }
  return status::success;
}

//! "<what> at stream byte <offset>[, in chunk <c>]" for a fault, or an empty string.
inline std::string describe(const stream_fault& fault) {
  if (fault.what == nullptr) return {};
  std::string text = std::string(fault.what) + " at stream byte " + std::to_string(fault.offset);
  if (fault.in_chunk()) text += " (chunk " + std::to_string(fault.chunk) + ")";
  return text;
}

}  // namespace actzip
