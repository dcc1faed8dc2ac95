// SPDX-License-Identifier: Apache-2.0
//
// The host driver of the bitplane pipeline, generic over the host executors
// (serial, omp): argument validation, the value-range pass, the quantizer, the
// chunk loop, the offset table and the header. Users call it through the core
// layer in actzip/core.hpp.
#pragma once

#include <actzip/core/dtype.hpp>
#include <actzip/detail/host_huffman.hpp>
#include <actzip/core/extents.hpp>
#include <actzip/error.hpp>
#include <actzip/exec/omp.hpp>
#include <actzip/exec/serial.hpp>
#include <actzip/format/chunk.hpp>
#include <actzip/format/header.hpp>
#include <actzip/params.hpp>
#include <actzip/stages/chunk.hpp>
#include <actzip/stages/quantize.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace actzip {
namespace detail {

//! The checksum of the first `total_bytes` bytes of `stream` (a multiple of 4, at
//! least the header), computed with executor `e`.
template <class Exec>
std::uint64_t stream_checksum(const Exec& e, const void* stream, std::uint64_t total_bytes) {
  const auto* in = static_cast<const unsigned char*>(stream);
  return exec::sum_parts(e, total_bytes / 4,
                         [in](std::uint64_t first, std::uint64_t last) { return detail::checksum_words(in, first, last); });
}

//! Checks a shape: valid rank, and an element count small enough that every size
//! derived from it (at most 8 bytes an element plus chunk overhead) fits in 64 bits.
inline status check_shape(const extents& shape, std::uint64_t* count) noexcept {
  if (!shape.valid()) return status::invalid_argument;
  if (!shape.element_count(count)) return status::size_overflow;
  if (*count > UINT64_MAX / 16) return status::size_overflow;  // leaves room for every size below
  return status::success;
}

//! Checks a bound and codec.
inline status check_params(const params& p) noexcept {
  const double v = p.error_bound.value;
  if (!is_finite(v)) return status::invalid_argument;
  if (p.error_bound.mode == bound_mode::absolute) {
    if (!(v >= 0)) return status::invalid_argument;
  } else if (p.error_bound.mode == bound_mode::relative) {
    if (!(v > 0)) return status::invalid_argument;
  } else {
    return status::invalid_argument;
  }
  if (p.codec != codec::bitplane && p.codec != codec::huffman && p.codec != codec::automatic)
    return status::unsupported;
  return status::success;
}

//! Upper bound of a stream's size for `count` elements of `value_size` bytes in
//! `chunks` chunks, with any codec: the largest code book (Huffman and automatic
//! streams) plus every chunk at most raw (control word + padded values). Returns 0
//! when the bound does not fit in 64 bits.
inline std::uint64_t stream_bytes_bound(std::uint64_t count, unsigned value_size, std::uint64_t chunks) noexcept {
  constexpr std::uint64_t per_chunk = chunk_offset_bytes + 4 + 3;
  constexpr std::uint64_t fixed = header_bytes + huffman_code_max_bytes;
  if (chunks > (UINT64_MAX - fixed) / per_chunk) return 0;
  const std::uint64_t overhead = fixed + chunks * per_chunk;
  if (value_size != 0 && count > (UINT64_MAX - overhead) / value_size) return 0;
  return overhead + count * value_size;
}

template <class Exec>
inline std::uint64_t chunk_size_workspace(const Exec&, std::uint64_t) noexcept {
  return 0;
}

#if ACTZIP_HAS_OPENMP
inline std::uint64_t chunk_size_workspace(const exec::omp_t&, std::uint64_t chunks) noexcept {
  return chunks * sizeof(std::uint64_t);
}
#endif

//! Where the histogram pass keeps no chunk (build_stream_code's default).
struct keep_nowhere {
  unsigned char* operator()(std::uint64_t) const noexcept { return nullptr; }
};

//! The Huffman code book of a stream: the symbol statistics of every chunk that is
//! not stored as nothing (each chunk counted on its own, then added; the sums do
//! not depend on the order), then make_stream_code. keep_at(c) is where chunk c's
//! prepared symbols are kept for the encode pass (keep_prepared_chunk), or null.
template <class Exec, class T, class C, class KeepAt = keep_nowhere>
void build_stream_code(const Exec& executor, const T* input, const chunk_geometry& geometry, const quantizer<C>& qz,
                       huffman_code& code, KeepAt&& keep_at = KeepAt{}) {
  std::atomic<std::uint64_t> totals[huffman_statistics_slots];
  for (auto& t : totals) t.store(0, std::memory_order_relaxed);
  exec::for_each_chunk<chunk_scratch<T>>(executor, geometry.count, [&](std::uint64_t c, chunk_scratch<T>& s) {
    // Prepare the chunk, then count its statistics (huffman_statistics) gap by gap,
    // with one slot more for 'no run', unless it is stored as nothing.
    const std::uint32_t n = geometry.chunk_box(c).extent.count();
    predictor m = predictor::lorenzo_3d;
    const std::uint32_t lossless = prepare_huffman_chunk(input, geometry, c, qz, s, &m, false);
    bool nonempty = lossless != 0;
    for (std::uint32_t i = 0; i < n && !nonempty; ++i) nonempty = s.coded[i] != 0;
    if (unsigned char* slot = keep_at(c)) keep_prepared_chunk(s, n, lossless, m, nonempty, slot);
    if (!nonempty) return;
    std::uint32_t counts[huffman_statistics_slots + 1] = {};
    for (std::uint32_t k = 0; k < huffman_segment_count(n); ++k) {
      const std::uint32_t first = k * huffman_segment_elements;
      count_segment_statistics(s.coded + first, n - first < huffman_segment_elements ? n - first : huffman_segment_elements,
                               counts);
    }
    for (unsigned k = 0; k < huffman_statistics_slots; ++k)
      if (counts[k] != 0) totals[k].fetch_add(counts[k], std::memory_order_relaxed);
  });
  std::uint64_t counts[huffman_statistics_slots];
  for (unsigned k = 0; k < huffman_statistics_slots; ++k) counts[k] = totals[k].load(std::memory_order_relaxed);
  huffman_build_scratch scratch;
  make_stream_code(counts, code, scratch);
}

//! Encodes chunk c of a Huffman stream whose histogram pass kept it in `slot`
//! (restore_prepared_chunk; a chunk not kept is prepared again) to `out`, which has
//! room for the chunk's raw size and may overlap the slot. Returns its size.
template <class T, class C>
std::uint32_t encode_kept_chunk(const T* input, const chunk_geometry& geometry, std::uint64_t c,
                                const quantizer<C>& qz, chunk_scratch<T>& s, const unsigned char* slot,
                                const huffman_code& code, const std::uint32_t* table, const std::uint64_t* runs,
                                unsigned char* out) noexcept {
  const kept_chunk k = restore_prepared_chunk(slot, geometry.chunk_box(c).extent.count(), s);
  if (!k.kept) return encode_chunk(input, geometry, c, qz, s, out, codec::huffman, &code);
  if (!k.nonempty) return 0;
  return write_huffman_chunk_fast(input, geometry, c, k.lossless, s, k.m, code, table, runs, out);
}

//! The in-order compaction after a parallel pass that wrote chunk c (slots[c]
//! bytes) at `from` plus its worst-case slot (the raw sizes of the chunks before
//! it): each chunk moves to `to` plus the sizes of the chunks before it, which is
//! never past where it was (to <= from), and its offset goes to the offset table.
//! *payload_bytes ends as the sum of the sizes.
inline void compact_chunks(const chunk_geometry& geometry, unsigned value_size, const std::uint64_t* slots,
                           const unsigned char* from, unsigned char* to, unsigned char* table,
                           std::uint64_t code_bytes, std::uint64_t* payload_bytes) noexcept {
  std::uint64_t slot = 0, at = 0;
  for (std::uint64_t c = 0; c < geometry.count; ++c) {
    const std::uint64_t size = slots[c];
    store_le64(table + chunk_offset_bytes * c, code_bytes + at);
    if (to + at != from + slot && size != 0) std::memmove(to + at, from + slot, size);
    at += size;
    slot += raw_chunk_bytes(geometry.chunk_box(c).extent.count(), value_size);
  }
  *payload_bytes = at;
}

template <class Exec, class T>
status compress_host(const Exec& executor, const T* input, const extents& shape, const params& p, void* output,
                     std::uint64_t output_capacity, std::uint64_t* compressed_bytes, void* workspace,
                     std::uint64_t workspace_size) noexcept {
  using C = typename dtype_traits<T>::compute_type;
  if (compressed_bytes == nullptr || output == nullptr) return status::invalid_argument;
  std::uint64_t count = 0;
  if (status s = check_shape(shape, &count); s != status::success) return s;
  if (status s = check_params(p); s != status::success) return s;
  if (input == nullptr && count != 0) return status::invalid_argument;

  const chunk_geometry geometry = make_chunk_geometry(shape);
  std::uint64_t payload_start = 0;
  if (!payload_offset(geometry.count, &payload_start)) return status::size_overflow;
  if (stream_bytes_bound(count, sizeof(T), geometry.count) == 0) return status::size_overflow;
  if (output_capacity < payload_start) return status::buffer_too_small;
  const std::uint64_t needed_workspace = chunk_size_workspace(executor, geometry.count);
  if (workspace_size < needed_workspace || (needed_workspace != 0 && workspace == nullptr))
    return status::buffer_too_small;

  header h = begin_header(dtype_traits<T>::code, shape, p, geometry, count);
  double absolute = p.error_bound.value;
  if (p.error_bound.mode == bound_mode::relative) {
    C lo = 0, hi = 0;
    exec::finite_min_max(executor, input, count, [](T v) { return dtype_traits<T>::to_compute(v); }, &lo, &hi);
    set_value_range(&h, static_cast<double>(lo), static_cast<double>(hi));
    absolute = absolute_from_relative(p.error_bound.value, h.value_min, h.value_max);
  }
  const quantizer<C> qz = make_quantizer<C>(absolute, p.preserve_sign);
  h.absolute_bound = static_cast<double>(qz.bound);

  auto* out = static_cast<unsigned char*>(output);
  unsigned char* table = out + header_bytes;
  std::uint64_t payload_capacity = output_capacity - payload_start;

  // Where each chunk would start if every chunk before it were raw (its largest
  // size): the slots of the one-pass parallel path, and of the kept chunks.
  auto* slots = static_cast<std::uint64_t*>(workspace);
  std::uint64_t worst = 0;
  for (std::uint64_t c = 0; c < geometry.count; ++c) {
    if (needed_workspace != 0) slots[c] = worst;
    worst += raw_chunk_bytes(geometry.chunk_box(c).extent.count(), sizeof(T));
  }

  // Huffman and automatic streams: a histogram pass over every chunk, the code book
  // built from it, and the code book at the start of the payload. Huffman streams
  // whose output has room for every chunk raw behind the largest code book keep
  // each chunk's prepared symbols there, in its slot, for the encode pass
  // (detail/host_huffman.hpp); chunks are then never prepared twice.
  const bool coded = p.codec != codec::bitplane;
  const bool keep = p.codec == codec::huffman && payload_capacity >= huffman_code_max_bytes &&
                    payload_capacity - huffman_code_max_bytes >= worst;
  unsigned char* const keep_base = out + payload_start + huffman_code_max_bytes;
  huffman_code code_storage;
  const huffman_code* code = nullptr;
  std::uint64_t code_bytes = 0;
  if (coded) {
    if (!keep) {
      build_stream_code(executor, input, geometry, qz, code_storage);
    } else if (needed_workspace == 0) {  // the serial executor visits chunks in order
      std::uint64_t next_slot = 0;
      build_stream_code(executor, input, geometry, qz, code_storage, [&](std::uint64_t c) {
        unsigned char* slot = keep_base + next_slot;
        next_slot += raw_chunk_bytes(geometry.chunk_box(c).extent.count(), sizeof(T));
        return slot;
      });
    } else {
      build_stream_code(executor, input, geometry, qz, code_storage,
                        [&](std::uint64_t c) { return keep_base + slots[c]; });
    }
    code = &code_storage;
    code_bytes = huffman_code_bytes(code_storage.stored_lengths);
    if (payload_capacity < code_bytes) return status::buffer_too_small;
    write_huffman_code(code_storage, out + payload_start);
    payload_capacity -= code_bytes;
  }
  const codec mode = p.codec;
  unsigned char* payload = out + payload_start + code_bytes;  // where the chunks go
  std::uint64_t payload_bytes = 0;                             // bytes of chunks so far

  if (keep) {
    // Each chunk is read back from its slot, then written behind the previous one
    // (never past the next slot) or, in parallel, over its own slot and compacted.
    std::uint32_t encoding[huffman_symbol_count];
    make_encoding_table(code_storage, encoding);
    std::uint64_t runs[huffman_segment_elements + 1];
    make_run_table(code_storage, runs);
    if (needed_workspace == 0) {
      std::uint64_t slot = 0;
      exec::for_each_chunk<chunk_scratch<T>>(executor, geometry.count, [&](std::uint64_t c, chunk_scratch<T>& s) {
        store_le64(table + chunk_offset_bytes * c, code_bytes + payload_bytes);
        payload_bytes += encode_kept_chunk(input, geometry, c, qz, s, keep_base + slot, code_storage, encoding,
                                           runs, payload + payload_bytes);
        slot += raw_chunk_bytes(geometry.chunk_box(c).extent.count(), sizeof(T));
      });
    } else {
      exec::for_each_chunk<chunk_scratch<T>>(executor, geometry.count, [&](std::uint64_t c, chunk_scratch<T>& s) {
        unsigned char* at = keep_base + slots[c];
        slots[c] = encode_kept_chunk(input, geometry, c, qz, s, at, code_storage, encoding, runs, at);
      });
      compact_chunks(geometry, sizeof(T), slots, keep_base, payload, table, code_bytes, &payload_bytes);
    }
  } else if (needed_workspace == 0) {
    // One pass: each chunk is written behind the previous one.
    bool fits = true;
    exec::for_each_chunk<chunk_scratch<T>>(executor, geometry.count, [&](std::uint64_t c, chunk_scratch<T>& s) {
      if (!fits) return;
      store_le64(table + chunk_offset_bytes * c, code_bytes + payload_bytes);
      const std::uint32_t n = geometry.chunk_box(c).extent.count();
      const std::uint64_t room = payload_capacity - payload_bytes;
      std::uint32_t size;
      if (room >= raw_chunk_bytes(n, sizeof(T))) {
        size = encode_chunk(input, geometry, c, qz, s, payload + payload_bytes, mode, code);
      } else {
        size = encode_chunk(input, geometry, c, qz, s, nullptr, mode, code);
        if (size > room) {
          fits = false;
          return;
        }
        encode_chunk(input, geometry, c, qz, s, payload + payload_bytes, mode, code);
      }
      payload_bytes += size;
    });
    if (!fits) return status::buffer_too_small;
  } else if (worst <= payload_capacity) {
    // One parallel pass: every chunk at its worst-case slot, then an in-order
    // compaction.
    exec::for_each_chunk<chunk_scratch<T>>(executor, geometry.count, [&](std::uint64_t c, chunk_scratch<T>& s) {
      slots[c] = encode_chunk(input, geometry, c, qz, s, payload + slots[c], mode, code);
    });
    compact_chunks(geometry, sizeof(T), slots, payload, payload, table, code_bytes, &payload_bytes);
  } else {
    // An output buffer below the worst case: chunk sizes, an exclusive scan, then
    // every chunk encoded again at its offset.
    exec::for_each_chunk<chunk_scratch<T>>(executor, geometry.count, [&](std::uint64_t c, chunk_scratch<T>& s) {
      slots[c] = encode_chunk(input, geometry, c, qz, s, nullptr, mode, code);
    });
    for (std::uint64_t c = 0; c < geometry.count; ++c) {
      const std::uint64_t size = slots[c];
      slots[c] = payload_bytes;
      payload_bytes += size;
    }
    if (payload_bytes > payload_capacity) return status::buffer_too_small;
    exec::for_each_chunk<chunk_scratch<T>>(executor, geometry.count, [&](std::uint64_t c, chunk_scratch<T>& s) {
      store_le64(table + chunk_offset_bytes * c, code_bytes + slots[c]);
      encode_chunk(input, geometry, c, qz, s, payload + slots[c], mode, code);
    });
  }
  payload_bytes += code_bytes;

  h.payload_bytes = payload_bytes;
  h.total_bytes = payload_start + payload_bytes;
  write_header(h, out);
  h.checksum = stream_checksum(executor, out, h.total_bytes);
  store_le64(out + checksum_field_offset, h.checksum);
  *compressed_bytes = h.total_bytes;
  return status::success;
}

//! Validates the chunk offset table of a parsed stream (offsets start at `first`,
//! the size of the code book that opens the payload of Huffman and automatic
//! streams, never decrease, stay inside the payload and are multiples of 4).
inline status check_offset_table(const header& h, const unsigned char* table, stream_fault* fault = nullptr,
                                 std::uint64_t first = 0) noexcept {
  std::uint64_t previous = first;
  for (std::uint64_t c = 0; c < h.chunk_count; ++c) {
    const std::uint64_t offset = load_le64(table + chunk_offset_bytes * c);
    const char* what = nullptr;
    if (c == 0 && offset != first) what = "the first chunk offset is not the end of the code book";
    else if (offset < previous) what = "a chunk offset is below the previous one";
    else if (offset > h.payload_bytes) what = "a chunk offset points past the payload";
    else if (offset % 4 != 0) what = "a chunk offset is not a multiple of 4";
    if (what != nullptr) {
      if (fault != nullptr) fault->chunk = c;
      return refuse(fault, status::corrupt_stream, what, header_bytes + chunk_offset_bytes * c);
    }
    previous = offset;
  }
  return status::success;
}

//! Checks the stream's checksum (streams of format version 2 and later).
template <class Exec>
status check_checksum(const Exec& e, const header& h, const void* stream, stream_fault* fault = nullptr) noexcept {
  if (!h.has_checksum() || stream_checksum(e, stream, h.total_bytes) == h.checksum) return status::success;
  return refuse(fault, status::checksum_mismatch, "the stream's bytes do not match the checksum stored",
                checksum_field_offset);
}

template <class Exec, class T>
status decompress_host(const Exec& executor, const void* stream, std::uint64_t stream_size, T* output,
                       std::uint64_t output_count, const decode_options& options) noexcept {
  using C = typename dtype_traits<T>::compute_type;
  header h;
  if (status s = parse_header(stream, stream_size, &h); s != status::success) return s;
  if (h.dtype != dtype_traits<T>::code) return status::dtype_mismatch;
  if (output_count < h.element_count) return status::buffer_too_small;
  if (output == nullptr && h.element_count != 0) return status::invalid_argument;
  if (options.verify_checksum)
    if (status s = check_checksum(executor, h, stream); s != status::success) return s;
  const auto* in = static_cast<const unsigned char*>(stream);
  const unsigned char* table = in + header_bytes;
  const unsigned char* payload = table + chunk_offset_bytes * h.chunk_count;
  huffman_code code;
  code.stored_lengths = 0;
  std::uint32_t code_bytes = 0;
  if (h.codec != codec::bitplane)
    if (status s = parse_huffman_code(payload, h.payload_bytes, code, &code_bytes); s != status::success) return s;
  if (status s = check_offset_table(h, table, nullptr, code_bytes); s != status::success) return s;
  // Huffman chunks' symbols are decoded with the host decoder's table.
  std::uint32_t decoding[huffman_table_size];
  if (code.stored_lengths != 0) make_decoding_table(code, decoding);

  const chunk_geometry geometry = make_chunk_geometry(h.shape);
  const quantizer<C> qz = make_quantizer<C>(h.absolute_bound, h.preserve_sign);
  std::atomic<bool> corrupt{false};
  exec::for_each_chunk<chunk_scratch<T>>(executor, geometry.count, [&](std::uint64_t c, chunk_scratch<T>& s) {
    if (corrupt.load(std::memory_order_relaxed)) return;
    const std::uint64_t begin = load_le64(table + chunk_offset_bytes * c);
    const std::uint64_t end = c + 1 < geometry.count ? load_le64(table + chunk_offset_bytes * (c + 1)) : h.payload_bytes;
    chunk_view view;
    const std::uint32_t n = geometry.chunk_box(c).extent.count();
    if (parse_stream_chunk(h.codec, payload + begin, end - begin, n, sizeof(T), &view) != status::success) {
      corrupt.store(true, std::memory_order_relaxed);
      return;
    }
    const bool fast = view.type == chunk_view::kind::huffman && code.stored_lengths != 0;
    if ((fast && !decode_huffman_symbols_fast(view, decoding, n, s.values)) ||
        !decode_chunk(view, geometry, c, qz, s, output, &code, fast)) {
      corrupt.store(true, std::memory_order_relaxed);
      return;
    }
  });
  return corrupt.load() ? status::corrupt_stream : status::success;
}

}  // namespace detail
}  // namespace actzip
