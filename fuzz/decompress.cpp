// SPDX-License-Identifier: Apache-2.0
//
// Fuzz target: the core-layer decompress on arbitrary bytes, for each of the four
// element types, with exec::serial and (when OpenMP is enabled) exec::omp. Output
// buffers are exactly sized heap blocks, so AddressSanitizer catches any write
// outside output[0, element count). The executors must agree on the status and, on
// success, on every output bit (the two buffers start with different fill patterns,
// so an element left unwritten shows up as a mismatch). Streams whose header claims
// more than max_decoded elements are only checked to refuse a small buffer.
#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

using actzip::status;

namespace {

//! Largest element count the target actually decodes.
constexpr std::uint64_t max_decoded = std::uint64_t{1} << 22;

#if ACTZIP_HAS_OPENMP
const actzip::exec::omp_t omp_exec{3};
#endif

//! An exactly sized output block of `count` elements, every byte set to `fill`.
template <class T>
std::unique_ptr<T[]> output_block(std::uint64_t count, unsigned char fill) {
  std::unique_ptr<T[]> out(new T[static_cast<std::size_t>(count)]);
  if (count != 0) std::memset(static_cast<void*>(out.get()), fill, static_cast<std::size_t>(count) * sizeof(T));
  return out;
}

//! Decodes with every host executor into `count` elements; returns the serial status
//! after checking that the executors agree.
template <class T>
status decode_all(const void* stream, std::uint64_t size, std::uint64_t count, std::unique_ptr<T[]>* serial_out,
                  const actzip::decode_options& options = {}) {
  std::unique_ptr<T[]> a = output_block<T>(count, 0xa5);
  const status ss = actzip::decompress(actzip::exec::serial, stream, size, a.get(), count, options);
#if ACTZIP_HAS_OPENMP
  std::unique_ptr<T[]> b = output_block<T>(count, 0x5a);
  const status so = actzip::decompress(omp_exec, stream, size, b.get(), count, options);
  ACTZIP_FUZZ_REQUIRE(ss == so, "serial and omp decompress return the same status");
  if (ss == status::success && count != 0)
    ACTZIP_FUZZ_REQUIRE(std::memcmp(a.get(), b.get(), static_cast<std::size_t>(count) * sizeof(T)) == 0,
                        "serial and omp decompress give the same bits");
#endif
  if (serial_out) *serial_out = std::move(a);
  return ss;
}

template <class T>
void decode_as(const std::uint8_t* data, std::size_t size, status inspected, const actzip::header& h) {
  if (inspected != status::success) {
    // A header inspect refuses is refused by decompress, with the same status.
    const status s = decode_all<T>(data, size, 1, nullptr);
    ACTZIP_FUZZ_REQUIRE(s == inspected, "decompress refuses what inspect refuses, with its status");
    return;
  }
  if (h.dtype != actzip::dtype_traits<T>::code) {
    const status s = decode_all<T>(data, size, h.element_count < 1 ? h.element_count : 1, nullptr);
    ACTZIP_FUZZ_REQUIRE(s == status::dtype_mismatch, "another element type is a dtype_mismatch");
    return;
  }
  const std::uint64_t count = h.element_count;
  if (count > max_decoded) {
    // Too large to decode here: a smaller buffer must be refused before anything is written.
    const status s = decode_all<T>(data, size, 16, nullptr);
    ACTZIP_FUZZ_REQUIRE(s == status::buffer_too_small, "a buffer below the element count is refused");
    return;
  }
  if (count != 0) {
    const status s = decode_all<T>(data, size, count - 1, nullptr);
    ACTZIP_FUZZ_REQUIRE(s == status::buffer_too_small, "a buffer one element short is refused");
  }
  // Without the checksum (mutated streams rarely carry a matching one), the
  // structural checks alone: decodes or is corrupt.
  const actzip::decode_options unverified{false};
  std::unique_ptr<T[]> out;
  const status s = decode_all<T>(data, size, count, &out, unverified);
  ACTZIP_FUZZ_REQUIRE(s == status::success || s == status::corrupt_stream,
                      "a stream with a valid header decodes or is corrupt");
  // With it: a mismatch is reported before any chunk is looked at; otherwise the
  // same status as without.
  const status checked = decode_all<T>(data, size, count, nullptr);
  const status verified = actzip::verify(data, size);
  ACTZIP_FUZZ_REQUIRE(verified == status::success || verified == status::checksum_mismatch,
                      "verify accepts a valid header and judges only the checksum");
  ACTZIP_FUZZ_REQUIRE(checked == (verified == status::checksum_mismatch ? status::checksum_mismatch : s),
                      "decompress checks the checksum first, then the structure");
  if (s != status::success || h.total_bytes == size) return;

  // Trailing bytes are ignored: the stream cut to total_bytes decodes to the same bits.
  const std::size_t total = static_cast<std::size_t>(h.total_bytes);
  auto exact = actzip_fuzz::copy_bytes(data, total);
  std::unique_ptr<T[]> again;
  ACTZIP_FUZZ_REQUIRE(decode_all<T>(exact.get(), total, count, &again, unverified) == status::success,
                      "the stream cut to total_bytes decodes");
  if (count != 0)
    ACTZIP_FUZZ_REQUIRE(std::memcmp(out.get(), again.get(), static_cast<std::size_t>(count) * sizeof(T)) == 0,
                        "trailing bytes change nothing");
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
  actzip::header h;
  const status inspected = actzip::inspect(data, size, &h);
  if (inspected == status::success) actzip_fuzz::check_header(h, data, size);
  decode_as<float>(data, size, inspected, h);
  decode_as<double>(data, size, inspected, h);
  decode_as<actzip::half>(data, size, inspected, h);
  decode_as<actzip::bfloat16>(data, size, inspected, h);
  return 0;
}
