// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target: compress then decompress a tensor the fuzzer chooses (format in
// roundtrip_input.hpp: element type, rank, shape, bound, preserve_sign and the raw
// element bits, so NaN, ±Inf, -0 and denormals occur), with every codec. Checks,
// aborting on any violation:
//   - compress succeeds exactly for a valid bound (else invalid_argument);
//   - the stream fits max_compressed_bytes; serial and omp give the same bytes, also
//     into an output buffer of exactly the stream's size; one byte less is refused;
//   - the header describes the input: dtype, shape, counts, preserve_sign, the
//     requested bound, the finite value range (relative mode) and the effective
//     bound eb, the largest compute-type value <= the requested absolute bound,
//     capped at a quarter of the compute type's largest finite value;
//   - decompress (serial and omp, same bits) gives |x - x'| <= eb on every finite
//     element, decided exactly (tests/test_support.hpp: actzip_test::check); NaN and
//     ±Inf come back bit-exactly; zeros come back as zero; with preserve_sign no
//     non-zero value becomes zero or changes sign;
//   - per chunk: never larger than raw; a raw chunk is bit-exact; in an encoded or
//     empty chunk a zero (either sign) comes back as +0.
#include "fuzz_support.hpp"
#include "roundtrip_input.hpp"
#include "test_support.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

using actzip::status;

namespace {

//! The documented effective bound: the largest C value <= requested, capped at a
//! quarter of C's largest finite value (requested may be +Inf).
template <class C>
double expected_bound(double requested) {
  const C cap = std::numeric_limits<C>::max() / C(4);
  if (!(requested <= static_cast<double>(cap))) return static_cast<double>(cap);
  C v = static_cast<C>(requested);
  if (static_cast<double>(v) > requested) v = std::nextafter(v, C(0));
  return static_cast<double>(v);
}

//! Compresses into a buffer of exactly `capacity` bytes; returns the status and the stream.
template <class Exec, class T>
status compress_into(const Exec& e, const std::vector<T>& input, const actzip::extents& shape, const actzip::params& p,
                     std::uint64_t capacity, std::vector<unsigned char>* stream) {
  std::unique_ptr<unsigned char[]> out(new unsigned char[static_cast<std::size_t>(capacity)]);
  const std::uint64_t scratch = actzip::workspace_bytes(e, shape);
  std::unique_ptr<unsigned char[]> workspace(new unsigned char[static_cast<std::size_t>(scratch)]);
  std::uint64_t size = 0;
  const status s = actzip::compress(e, input.data(), shape, p, out.get(), capacity, &size, workspace.get(), scratch);
  if (s == status::success) {
    ACTZIP_FUZZ_REQUIRE(size <= capacity, "stream size within the capacity");
    stream->assign(out.get(), out.get() + size);
  }
  return s;
}

//! Decompresses into an exactly sized buffer; aborts unless it succeeds.
template <class Exec, class T>
std::vector<T> decompress_exact(const Exec& e, const std::vector<unsigned char>& stream, std::uint64_t count) {
  auto bytes = actzip_fuzz::copy_bytes(stream.data(), stream.size());
  std::unique_ptr<T[]> out(new T[static_cast<std::size_t>(count)]);
  const status s = actzip::decompress(e, bytes.get(), stream.size(), out.get(), count);
  ACTZIP_FUZZ_REQUIRE(s == status::success, "decompress of a fresh stream succeeds");
  if (count != 0)
    ACTZIP_FUZZ_REQUIRE(
        actzip::decompress(e, bytes.get(), stream.size(), out.get(), count - 1) == status::buffer_too_small,
        "a buffer one element short is refused");
  return std::vector<T>(out.get(), out.get() + count);
}

//! Compresses with `e` (unless `reference_is_from_e`, into max_compressed_bytes) and
//! into exactly the reference's size: both give the reference bytes; one byte less
//! is refused.
template <class Exec, class T>
void check_executor_bytes(const Exec& e, const std::vector<T>& input, const actzip::extents& shape,
                          const actzip::params& p, const std::vector<unsigned char>& reference,
                          bool reference_is_from_e) {
  std::vector<unsigned char> z;
  if (!reference_is_from_e) {
    ACTZIP_FUZZ_REQUIRE(
        compress_into(e, input, shape, p, actzip::max_compressed_bytes<T>(shape), &z) == status::success,
        "compress with max_compressed_bytes succeeds");
    ACTZIP_FUZZ_REQUIRE(z == reference, "same stream bytes with every executor");
  }
  // Exactly the stream's size is enough, and gives the same bytes; one byte less is not.
  ACTZIP_FUZZ_REQUIRE(compress_into(e, input, shape, p, reference.size(), &z) == status::success,
                      "compress into exactly the stream's size succeeds");
  ACTZIP_FUZZ_REQUIRE(z == reference, "same stream bytes into an exactly sized buffer");
  ACTZIP_FUZZ_REQUIRE(compress_into(e, input, shape, p, reference.size() - 1, &z) == status::buffer_too_small,
                      "compress into one byte less than the stream is refused");
}

//! Per chunk (docs/FORMAT.md, "Chunk payload"): no chunk is larger than its raw form;
//! a raw chunk gives back its values bit for bit; in the other forms a zero (+0 or
//! -0) reconstructs to +0.
template <class T>
void check_chunks(const std::vector<unsigned char>& stream, const actzip::header& h, const std::vector<T>& input,
                  const std::vector<T>& back) {
  const actzip::chunk_geometry g = actzip::make_chunk_geometry(h.shape);
  const unsigned char* table = stream.data() + actzip::header_bytes;
  const unsigned char* payload = table + actzip::chunk_offset_bytes * h.chunk_count;
  for (std::uint64_t c = 0; c < g.count; ++c) {
    const std::uint64_t begin = actzip::load_le64(table + actzip::chunk_offset_bytes * c);
    const std::uint64_t end =
        c + 1 < g.count ? actzip::load_le64(table + actzip::chunk_offset_bytes * (c + 1)) : h.payload_bytes;
    const actzip::chunk_geometry::box b = g.chunk_box(c);
    const std::uint32_t n = b.extent.count();
    ACTZIP_FUZZ_REQUIRE(begin <= end && end - begin <= actzip::detail::raw_chunk_bytes(n, sizeof(T)),
                        "no chunk is larger than its raw form");
    const bool raw = end - begin >= 4 && actzip::load_le32(payload + begin) == actzip::detail::chunk_raw_flag;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint64_t k = actzip::box_element_index(g, b, i);
      if (raw) {
        ACTZIP_FUZZ_REQUIRE(actzip_test::bits_of(back[k]) == actzip_test::bits_of(input[k]),
                            "a raw chunk gives back its values bit for bit");
      } else if (actzip::dtype_traits<T>::to_compute(input[k]) == 0) {
        ACTZIP_FUZZ_REQUIRE(actzip_test::bits_of(back[k]) == 0, "a zero in a quantized chunk comes back as +0");
      }
    }
  }
}

template <class T>
void run(const actzip_fuzz::roundtrip_case& c, actzip::codec kind) {
  using C = typename actzip::dtype_traits<T>::compute_type;
  const actzip::extents shape = actzip::extents::from_array(c.rank, c.dims);
  const std::uint64_t count = c.count();
  std::vector<T> input(static_cast<std::size_t>(count));
  if (count != 0) {
    const std::vector<std::uint8_t> bytes = c.fill(static_cast<std::size_t>(count) * sizeof(T));
    std::memcpy(static_cast<void*>(input.data()), bytes.data(), bytes.size());
  }
  actzip::params p{c.relative ? actzip::rel(c.bound) : actzip::abs(c.bound)};
  p.preserve_sign = c.preserve_sign;
  p.codec = kind;
  const bool valid_bound = actzip_fuzz::finite(c.bound) && (c.relative ? c.bound > 0 : c.bound >= 0);

  const std::uint64_t capacity = actzip::max_compressed_bytes<T>(shape);
  ACTZIP_FUZZ_REQUIRE(capacity >= actzip::header_bytes, "max_compressed_bytes of a small shape");
  std::vector<unsigned char> stream;
  const status s = compress_into(actzip::exec::serial, input, shape, p, capacity, &stream);
  if (!valid_bound) {
    ACTZIP_FUZZ_REQUIRE(s == status::invalid_argument, "an invalid bound is refused");
    return;
  }
  ACTZIP_FUZZ_REQUIRE(s == status::success, "compress with a valid bound succeeds");
  ACTZIP_FUZZ_REQUIRE(stream.size() <= capacity, "stream size <= max_compressed_bytes");
  check_executor_bytes(actzip::exec::serial, input, shape, p, stream, true);
#if ACTZIP_HAS_OPENMP
  check_executor_bytes(actzip::exec::omp_t{c.threads}, input, shape, p, stream, false);
#endif

  // The header describes the input.
  actzip::header h;
  ACTZIP_FUZZ_REQUIRE(actzip::inspect(stream.data(), stream.size(), &h) == status::success, "inspect a fresh stream");
  actzip_fuzz::check_header(h, stream.data(), stream.size());
  ACTZIP_FUZZ_REQUIRE(h.total_bytes == stream.size(), "total_bytes is the stream's size");
  ACTZIP_FUZZ_REQUIRE(h.dtype == actzip::dtype_traits<T>::code, "header dtype");
  ACTZIP_FUZZ_REQUIRE(h.shape == shape && h.element_count == count, "header shape");
  ACTZIP_FUZZ_REQUIRE(h.preserve_sign == c.preserve_sign, "header preserve_sign");
  ACTZIP_FUZZ_REQUIRE(h.codec == kind, "header codec");
  ACTZIP_FUZZ_REQUIRE(h.requested_bound.mode == p.error_bound.mode &&
                          std::memcmp(&h.requested_bound.value, &c.bound, sizeof c.bound) == 0,
                      "header requested bound");
  double requested = c.bound;
  if (c.relative) {
    C lo = std::numeric_limits<C>::infinity(), hi = -std::numeric_limits<C>::infinity();
    for (const T& v : input) {
      const C x = actzip::dtype_traits<T>::to_compute(v);
      if (!std::isfinite(x)) continue;
      lo = std::fmin(lo, x);
      hi = std::fmax(hi, x);
    }
    if (lo > hi) lo = hi = C(0);
    ACTZIP_FUZZ_REQUIRE(h.has_value_range, "relative bound records the value range");
    ACTZIP_FUZZ_REQUIRE(h.value_min == static_cast<double>(lo) && h.value_max == static_cast<double>(hi),
                        "header value range is the finite range");
    ACTZIP_FUZZ_REQUIRE(
        !(h.value_min == 0 && std::signbit(h.value_min)) && !(h.value_max == 0 && std::signbit(h.value_max)),
        "the value range holds +0, never -0");
    requested = c.bound * (static_cast<double>(hi) - static_cast<double>(lo));
  } else {
    ACTZIP_FUZZ_REQUIRE(!h.has_value_range && h.value_min == 0 && h.value_max == 0, "absolute bound: no range");
  }
  const double eb = expected_bound<C>(requested);
  ACTZIP_FUZZ_REQUIRE(std::memcmp(&h.absolute_bound, &eb, sizeof eb) == 0,
                      "effective bound: largest compute-type value <= requested, capped");
  ACTZIP_FUZZ_REQUIRE(h.absolute_bound <= requested, "effective bound <= requested bound");

  // Decompress with every executor, and check every element exactly.
  const std::vector<T> back = decompress_exact<actzip::exec::serial_t, T>(actzip::exec::serial, stream, count);
#if ACTZIP_HAS_OPENMP
  const std::vector<T> back_omp =
      decompress_exact<actzip::exec::omp_t, T>(actzip::exec::omp_t{c.threads}, stream, count);
  ACTZIP_FUZZ_REQUIRE(count == 0 || std::memcmp(back.data(), back_omp.data(), back.size() * sizeof(T)) == 0,
                      "serial and omp decompress give the same bits");
#endif
  const actzip_test::check_result r = actzip_test::check(input, back, h.absolute_bound);
  if (r.violations != 0) std::fprintf(stderr, "first violation: %s\n", r.first.c_str());
  ACTZIP_FUZZ_REQUIRE(r.violations == 0, "|x - x'| <= eb on every element, non-finite values bit-exact");
  ACTZIP_FUZZ_REQUIRE(r.zero_changed == 0, "zeros come back as zero");
  if (c.preserve_sign) ACTZIP_FUZZ_REQUIRE(r.sign_changed == 0, "preserve_sign keeps every sign");
  check_chunks(stream, h, input, back);
}

}  // namespace

//! libFuzzer calls this once at start-up: OpenMP threads that spin between parallel
//! regions would steal the cores the serial executor runs on, so unless the user chose
//! otherwise they sleep.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("OMP_WAIT_POLICY", "passive", 0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const actzip_fuzz::roundtrip_case c = actzip_fuzz::parse_case(data, size);
  for (const actzip::codec kind : {actzip::codec::bitplane, actzip::codec::huffman, actzip::codec::automatic}) {
    switch (c.type_index) {
      case 0:
        run<float>(c, kind);
        break;
      case 1:
        run<double>(c, kind);
        break;
      case 2:
        run<actzip::half>(c, kind);
        break;
      default:
        run<actzip::bfloat16>(c, kind);
        break;
    }
  }
  return 0;
}
