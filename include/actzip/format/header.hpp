// SPDX-License-Identifier: Apache-2.0
//
// The stream header: the fixed 128-byte block at the start of every stream that
// makes it self-describing (magic, format version, dtype, extents, bound, codec,
// chunk geometry, sizes), followed by the chunk offset table. This file is the only
// writer and parser of those bytes; docs/FORMAT.md describes them. Parsing treats
// its input as untrusted and validates every field before anything is sized from it.
#pragma once

#include <actzip/core/bits.hpp>
#include <actzip/core/dtype.hpp>
#include <actzip/core/extents.hpp>
#include <actzip/core/ieee.hpp>
#include <actzip/error.hpp>
#include <actzip/format/checksum.hpp>
#include <actzip/format/geometry.hpp>
#include <actzip/params.hpp>
#include <actzip/version.hpp>

#include <cstdint>

namespace actzip {

//! Size of the fixed part of the header, in bytes.
inline constexpr std::uint32_t header_bytes = 128;
//! Size of one chunk offset table entry, in bytes.
inline constexpr std::uint32_t chunk_offset_bytes = 8;

//! Everything a stream says about itself (the result of actzip::inspect).
struct header {
  unsigned version = format_version;  //!< stream format version
  actzip::dtype dtype = dtype::float32;  //!< element type
  actzip::codec codec = codec::bitplane;  //!< encoder
  actzip::extents shape;            //!< tensor shape, C order
  actzip::bound requested_bound;    //!< the bound as the caller gave it
  double absolute_bound = 0;        //!< the absolute bound actually enforced (<= requested)
  bool preserve_sign = false;       //!< compressed with params::preserve_sign
  bool has_value_range = false;     //!< value_min/value_max hold the finite range (relative bounds)
  double value_min = 0;             //!< smallest finite value (when has_value_range)
  double value_max = 0;             //!< largest finite value (when has_value_range)
  box_extents chunk_shape{1, 1, 1}; //!< chunk geometry, padded to 3-D
  std::uint64_t element_count = 0;  //!< number of elements
  std::uint64_t chunk_count = 0;    //!< number of chunks
  std::uint64_t payload_bytes = 0;  //!< bytes of chunk data after the offset table
  std::uint64_t total_bytes = 0;    //!< size of the whole stream
  std::uint64_t checksum = 0;       //!< the stored checksum (format version 2 and later; 0 before)
  //! True when the stream carries a checksum (format version 2 and later).
  ACTZIP_HD bool has_checksum() const noexcept { return version >= 2; }
  //! Uncompressed size of the tensor in bytes.
  std::uint64_t raw_bytes() const noexcept { return element_count * dtype_size(dtype); }
  //! Compression ratio raw_bytes / total_bytes (0 for an empty stream).
  double ratio() const noexcept { return total_bytes ? double(raw_bytes()) / double(total_bytes) : 0.0; }
};

namespace detail {

//! The magic bytes 'A' 'Z' 'I' 'P' as a little-endian word (a scalar, so device code can use it).
inline constexpr std::uint32_t stream_magic_word = 0x50495A41u;
//! Magic byte i (0..3).
ACTZIP_HD unsigned char stream_magic_byte(unsigned i) noexcept {
  return static_cast<unsigned char>(stream_magic_word >> (8 * i));
}
inline constexpr unsigned flag_preserve_sign = 1u;
inline constexpr unsigned flag_value_range = 2u;

//! The header of a stream of `type` and `shape` (with `count` elements, cut by
//! geometry `g`) compressed with `p`: everything but the value range, the effective
//! bound and the sizes, which the compressor fills in. Every executor builds its
//! header here.
ACTZIP_HD header begin_header(actzip::dtype type, const extents& shape, const params& p, const chunk_geometry& g,
                              std::uint64_t count) noexcept {
  header h;
  h.dtype = type;
  h.codec = p.codec;
  h.shape = shape;
  h.requested_bound = p.error_bound;
  h.preserve_sign = p.preserve_sign;
  h.chunk_shape = g.chunk;
  h.element_count = count;
  h.chunk_count = g.count;
  return h;
}

//! Records the finite value range [lo, hi] of a relative-bound stream (-0 becomes +0).
ACTZIP_HD void set_value_range(header* h, double lo, double hi) noexcept {
  h->has_value_range = true;
  h->value_min = ieee::add(lo, 0.0);  // + 0.0 turns -0.0 into +0.0 (an IEEE add: core/ieee.hpp)
  h->value_max = ieee::add(hi, 0.0);
}

//! Offset of the payload (after the fixed header and the offset table), or false on overflow.
ACTZIP_HD bool payload_offset(std::uint64_t chunk_count, std::uint64_t* offset) noexcept {
  if (chunk_count > (UINT64_MAX - header_bytes) / chunk_offset_bytes) return false;
  *offset = header_bytes + chunk_count * chunk_offset_bytes;
  return true;
}

//! Writes the fixed 128-byte header (h must be consistent; the offset table and the
//! payload follow it and are written by the codec).
ACTZIP_HD void write_header(const header& h, unsigned char* out) noexcept {
  for (unsigned i = 0; i < header_bytes; ++i) out[i] = 0;
  for (unsigned i = 0; i < 4; ++i) out[i] = stream_magic_byte(i);
  store_le16(out + 4, static_cast<std::uint16_t>(h.version));
  out[6] = static_cast<unsigned char>(h.dtype);
  out[7] = static_cast<unsigned char>(h.codec);
  out[8] = static_cast<unsigned char>(h.shape.rank());
  out[9] = static_cast<unsigned char>(h.requested_bound.mode);
  out[10] = static_cast<unsigned char>((h.preserve_sign ? flag_preserve_sign : 0u) |
                                       (h.has_value_range ? flag_value_range : 0u));
  store_le32(out + 12, header_bytes);
  for (unsigned d = 0; d < 3; ++d) store_le64(out + 16 + 8 * d, h.shape[d]);
  store_le64(out + 40, bit_cast<std::uint64_t>(h.requested_bound.value));
  store_le64(out + 48, bit_cast<std::uint64_t>(h.absolute_bound));
  store_le64(out + 56, bit_cast<std::uint64_t>(h.value_min));
  store_le64(out + 64, bit_cast<std::uint64_t>(h.value_max));
  store_le32(out + 72, h.chunk_shape.e0);
  store_le32(out + 76, h.chunk_shape.e1);
  store_le32(out + 80, h.chunk_shape.e2);
  store_le64(out + 88, h.element_count);
  store_le64(out + 96, h.chunk_count);
  store_le64(out + 104, h.payload_bytes);
  store_le64(out + 112, h.total_bytes);
  if (h.version >= 2) store_le64(out + checksum_field_offset, h.checksum);
}

ACTZIP_HD bool is_finite(double v) noexcept { return ieee::eq(ieee::sub(v, v), 0.0); }

}  // namespace detail

//! Parses and validates the fixed header of a stream of `size` bytes. Checks the
//! magic, version, every enumerated field, that reserved bytes are zero, that the
//! extents, element count, chunk geometry and chunk count agree, that the sizes add
//! up without overflow and that the stream is not longer than `size`. The offset
//! table is validated by the decoder, the checksum by verify_checksum. When `fault`
//! is not null, a refusal records which field was wrong and its byte offset.
ACTZIP_HD status parse_header(const void* stream, std::uint64_t size, header* out,
                              stream_fault* fault = nullptr) noexcept {
  using detail::refuse;
  constexpr status corrupt = status::corrupt_stream;
  if (out == nullptr) return refuse(fault, status::invalid_argument, "no header to fill in (null pointer)", 0);
  if (size < 4) return refuse(fault, status::not_a_stream, "shorter than the 4-byte magic", size);
  if (stream == nullptr) return refuse(fault, status::invalid_argument, "null stream pointer", 0);
  const auto* in = static_cast<const unsigned char*>(stream);
  for (unsigned i = 0; i < 4; ++i)
    if (in[i] != detail::stream_magic_byte(i))
      return refuse(fault, status::not_a_stream, "the magic bytes are not 'AZIP'", i);
  if (size < 6) return refuse(fault, corrupt, "truncated inside the header", size);
  const unsigned version = load_le16(in + 4);
  if (version == 0) return refuse(fault, corrupt, "format version 0", 4);
  if (version > format_version)
    return refuse(fault, status::unsupported_version, "written by a newer format version", 4);
  if (size < header_bytes) return refuse(fault, corrupt, "truncated inside the header", size);

  header h;
  h.version = version;
  const unsigned type_code = in[6], codec_code = in[7], rank = in[8], mode_code = in[9], flags = in[10];
  if (type_code < 1 || type_code > 4) return refuse(fault, corrupt, "unknown element type code", 6);
  if (codec_code < 1 || codec_code > 3) return refuse(fault, corrupt, "unknown codec code", 7);
  if (codec_code != static_cast<unsigned>(codec::bitplane) && version < 3)
    return refuse(fault, corrupt, "a Huffman or automatic stream before format version 3", 7);
  if (rank < 1 || rank > 3) return refuse(fault, corrupt, "rank outside 1..3", 8);
  if (mode_code < 1 || mode_code > 2) return refuse(fault, corrupt, "unknown bound mode", 9);
  if ((flags & ~(detail::flag_preserve_sign | detail::flag_value_range)) != 0)
    return refuse(fault, corrupt, "unknown flag bits", 10);
  if (in[11] != 0) return refuse(fault, corrupt, "reserved byte is not zero", 11);
  if (load_le32(in + 84) != 0) return refuse(fault, corrupt, "reserved bytes are not zero", 84);
  if (version < 2 && load_le64(in + checksum_field_offset) != 0)
    return refuse(fault, corrupt, "reserved bytes are not zero", checksum_field_offset);
  if (load_le32(in + 12) != header_bytes) return refuse(fault, corrupt, "header size is not 128", 12);
  h.dtype = static_cast<actzip::dtype>(type_code);
  h.codec = static_cast<actzip::codec>(codec_code);
  h.requested_bound.mode = static_cast<bound_mode>(mode_code);
  h.preserve_sign = (flags & detail::flag_preserve_sign) != 0;
  h.has_value_range = (flags & detail::flag_value_range) != 0;
  h.checksum = version >= 2 ? load_le64(in + checksum_field_offset) : 0;

  std::uint64_t dims[3];
  for (unsigned d = 0; d < 3; ++d) dims[d] = load_le64(in + 16 + 8 * d);
  for (unsigned d = rank; d < 3; ++d)
    if (dims[d] != 1) return refuse(fault, corrupt, "an extent beyond the rank is not 1", 16 + 8 * d);
  h.shape = extents::from_array(rank, dims);
  std::uint64_t count = 0;
  if (!h.shape.element_count(&count)) return refuse(fault, corrupt, "the extents' product overflows 64 bits", 16);

  h.requested_bound.value = bit_cast<double>(load_le64(in + 40));
  h.absolute_bound = bit_cast<double>(load_le64(in + 48));
  h.value_min = bit_cast<double>(load_le64(in + 56));
  h.value_max = bit_cast<double>(load_le64(in + 64));
  if (!detail::is_finite(h.requested_bound.value) || !(h.requested_bound.value >= 0))
    return refuse(fault, corrupt, "requested bound is negative or not finite", 40);
  if (!detail::is_finite(h.absolute_bound) || !(h.absolute_bound >= 0))
    return refuse(fault, corrupt, "absolute bound is negative or not finite", 48);
  if (!detail::is_finite(h.value_min)) return refuse(fault, corrupt, "value_min is not finite", 56);
  if (!detail::is_finite(h.value_max)) return refuse(fault, corrupt, "value_max is not finite", 64);
  if (!h.has_value_range && (h.value_min != 0 || h.value_max != 0))
    return refuse(fault, corrupt, "a value range without its flag", 56);

  const box_extents expected_chunk = chunk_shape_for_rank(rank);
  h.chunk_shape = box_extents{load_le32(in + 72), load_le32(in + 76), load_le32(in + 80)};
  if (h.chunk_shape.e0 != expected_chunk.e0 || h.chunk_shape.e1 != expected_chunk.e1 ||
      h.chunk_shape.e2 != expected_chunk.e2)
    return refuse(fault, corrupt, "chunk shape is not the one of this rank", 72);

  h.element_count = load_le64(in + 88);
  h.chunk_count = load_le64(in + 96);
  h.payload_bytes = load_le64(in + 104);
  h.total_bytes = load_le64(in + 112);
  if (h.element_count != count) return refuse(fault, corrupt, "element count does not match the extents", 88);
  if (h.chunk_count != make_chunk_geometry(h.shape).count)
    return refuse(fault, corrupt, "chunk count does not match the extents", 96);
  std::uint64_t payload_start = 0;
  if (!detail::payload_offset(h.chunk_count, &payload_start))
    return refuse(fault, corrupt, "the offset table's size overflows 64 bits", 96);
  if (h.payload_bytes > UINT64_MAX - payload_start)
    return refuse(fault, corrupt, "the stream size overflows 64 bits", 104);
  if (h.total_bytes != payload_start + h.payload_bytes)
    return refuse(fault, corrupt, "total size is not header + offset table + payload", 112);
  if (h.payload_bytes % 4 != 0) return refuse(fault, corrupt, "payload size is not a multiple of 4", 104);
  if (h.total_bytes > size) return refuse(fault, corrupt, "truncated: the header claims more bytes than given", 112);
  *out = h;
  return status::success;
}

}  // namespace actzip
