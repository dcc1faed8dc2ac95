// SPDX-License-Identifier: Apache-2.0
//
// The CUDA executor against the host: every stream the GPU writes (core layer,
// batches, CUDA graphs, several streams at once, the convenience layer), with each
// codec (bitplane, huffman, automatic), must equal the one exec::serial writes byte
// for byte, and every device decode must equal the host decode bit for bit and keep
// the error bound on every element. Also covers device-side decoding of truncated
// and corrupted streams (same status as the host decoder), synchronous argument
// errors, workspace sizes, the Huffman corner cases (all-zero and empty tensors, a
// one-symbol code book, chunks of every kind in one automatic stream), the warp
// decoder of Huffman segments under every one-bit damage, the look-back's walk over
// several windows of predecessors, the bank-conflict-free order of the 16-word
// shared-memory accesses, the copy that stages a chunk in shared memory, and a
// 5 GiB round trip per codec checked on the device.
//
// One test body, two back ends: compiled by nvcc it runs on a GPU (and exits 77,
// skipped, with the CUDA error printed, when there is none); included by
// executor_emulated.cpp it runs on the CPU under the SIMT emulator of tests/simt,
// with smaller tensors (ACTZIP_TEST_ON_EMULATOR) and without the multi-GiB case.
#define DOCTEST_CONFIG_IMPLEMENT
#include "../test_support.hpp"

#include <doctest/doctest.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace actzip;

#if defined(ACTZIP_SIMT_EMULATION)
#define ACTZIP_TEST_ON_EMULATOR 1
#else
#define ACTZIP_TEST_ON_EMULATOR 0
#endif
//! True when the kernels run on the SIMT emulator (about a million elements a second).
constexpr bool on_emulator = ACTZIP_TEST_ON_EMULATOR != 0;

//! Fails the current test with the CUDA error's name unless `call` returns cudaSuccess.
#define CHECK_CUDA(call)                                                                                   \
  do {                                                                                                     \
    const cudaError_t check_cuda_error_ = (call);                                                          \
    if (check_cuda_error_ != cudaSuccess)                                                                  \
      FAIL(#call << ": " << cudaGetErrorName(check_cuda_error_) << " (" << cudaGetErrorString(check_cuda_error_) \
                 << ")");                                                                                  \
  } while (0)

namespace {

// ---- device memory, streams and copies ---------------------------------------------

//! Owning device array of `count` elements of T (cudaMalloc / cudaFree). Move-only.
template <class T>
class dev_array {
 public:
  dev_array() = default;
  explicit dev_array(std::size_t count) : count_(count) {
    if (count != 0) CHECK_CUDA(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)));
  }
  dev_array(const dev_array&) = delete;
  dev_array& operator=(const dev_array&) = delete;
  dev_array(dev_array&& other) noexcept { swap(other); }
  dev_array& operator=(dev_array&& other) noexcept {
    dev_array(std::move(other)).swap(*this);
    return *this;
  }
  ~dev_array() {
    if (data_ != nullptr) (void)cudaFree(data_);
  }
  void swap(dev_array& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
  }
  T* get() const noexcept { return data_; }
  std::size_t size() const noexcept { return count_; }
  std::size_t bytes() const noexcept { return count_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  std::size_t count_ = 0;
};

//! A non-blocking CUDA stream, destroyed at scope exit.
class cuda_stream {
 public:
  cuda_stream() { CHECK_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  cuda_stream(const cuda_stream&) = delete;
  cuda_stream& operator=(const cuda_stream&) = delete;
  ~cuda_stream() {
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  }
  operator cudaStream_t() const noexcept { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

//! Byte patterns written before the device writes: bytes a kernel fails to write
//! (padding, elements) then differ from the host's.
constexpr int stream_fill = 0xA5;
constexpr int output_fill = 0x5A;
//! Elements after an output that a decoder must never touch.
constexpr std::size_t guard_elements = 64;

template <class T>
dev_array<T> upload(const std::vector<T>& host, cudaStream_t s) {
  dev_array<T> d(host.size());
  if (!host.empty()) CHECK_CUDA(cudaMemcpyAsync(d.get(), host.data(), d.bytes(), cudaMemcpyHostToDevice, s));
  return d;
}

//! Copies `count` elements from the device after the work queued on `s`.
template <class T>
std::vector<T> download(const T* d, std::size_t count, cudaStream_t s) {
  std::vector<T> host(count);
  if (count != 0) CHECK_CUDA(cudaMemcpyAsync(host.data(), d, count * sizeof(T), cudaMemcpyDeviceToHost, s));
  CHECK_CUDA(cudaStreamSynchronize(s));
  return host;
}

std::vector<std::byte> download_bytes(const void* d, std::size_t bytes, cudaStream_t s) {
  return download(static_cast<const std::byte*>(d), bytes, s);
}

template <class T>
std::uint64_t read_word(const T* d, cudaStream_t s) {
  return static_cast<std::uint64_t>(download(d, 1, s)[0]);
}

status read_status(const status* d, cudaStream_t s) { return download(d, 1, s)[0]; }

// ---- comparisons ------------------------------------------------------------------

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

//! Where two streams first differ: the byte, and whether it is in the header, the
//! offset table or a chunk's payload (empty if they are equal).
std::string describe_difference(const std::vector<std::byte>& device, const std::vector<std::byte>& host) {
  if (device == host) return {};
  std::string text = "device stream " + std::to_string(device.size()) + " bytes, host stream " +
                     std::to_string(host.size()) + " bytes";
  const std::size_t common = std::min(device.size(), host.size());
  std::size_t i = 0;
  while (i < common && device[i] == host[i]) ++i;
  text += "; first difference at byte " + std::to_string(i);
  if (i < header_bytes) {
    text += " (header)";
  } else if (host.size() >= header_bytes) {
    header h;
    if (parse_header(host.data(), host.size(), &h) == status::success) {
      const std::uint64_t payload = header_bytes + chunk_offset_bytes * h.chunk_count;
      if (i < payload)
        text += " (offset of chunk " + std::to_string((i - header_bytes) / chunk_offset_bytes) + ")";
      else
        text += " (payload byte " + std::to_string(i - payload) + ")";
    }
  }
  if (i < common)
    text += ": device " + std::to_string(static_cast<unsigned>(device[i])) + ", host " +
            std::to_string(static_cast<unsigned>(host[i]));
  return text;
}

//! The first element whose bits differ, for messages.
template <class T>
std::string describe_difference(const std::vector<T>& device, const std::vector<T>& host) {
  if (device.size() != host.size())
    return "sizes " + std::to_string(device.size()) + " and " + std::to_string(host.size());
  for (std::size_t i = 0; i < device.size(); ++i)
    if (actzip_test::bits_of(device[i]) != actzip_test::bits_of(host[i]))
      return "element " + std::to_string(i) + ": device " + std::to_string(actzip_test::to_double(device[i])) +
             ", host " + std::to_string(actzip_test::to_double(host[i]));
  return {};
}

//! The status an actzip call threw (success if it threw nothing).
template <class F>
status thrown_status(F&& f) {
  try {
    f();
  } catch (const actzip::error& e) {
    return e.code();
  }
  return status::success;
}

template <class T>
const char* type_name() {
  return to_string(dtype_traits<T>::code);
}

// ---- inputs ------------------------------------------------------------------------

template <class T>
T max_value() {
  if constexpr (std::is_same<T, actzip::half>::value) return actzip::half{0x7bff};
  else if constexpr (std::is_same<T, actzip::bfloat16>::value) return actzip::bfloat16{0x7f7f};
  else return std::numeric_limits<T>::max();
}

template <class T>
T min_subnormal() {
  if constexpr (std::is_same<T, actzip::half>::value || std::is_same<T, actzip::bfloat16>::value) return T{0x0001};
  else return std::numeric_limits<T>::denorm_min();
}

enum class input_kind { smooth, noise, random_bits, relu, adversarial, constant, zeros, rows_apart, slabs_apart };
constexpr input_kind all_inputs[] = {input_kind::smooth, input_kind::noise,       input_kind::random_bits,
                                     input_kind::relu,   input_kind::adversarial, input_kind::constant,
                                     input_kind::zeros,  input_kind::rows_apart,  input_kind::slabs_apart};

const char* name_of(input_kind k) {
  switch (k) {
    case input_kind::smooth: return "smooth";
    case input_kind::noise: return "uniform noise";
    case input_kind::random_bits: return "random bit patterns";
    case input_kind::relu: return "relu-like";
    case input_kind::adversarial: return "adversarial";
    case input_kind::constant: return "constant";
    case input_kind::zeros: return "zeros";
    case input_kind::rows_apart:
      return "rows apart";
    case input_kind::slabs_apart:
      return "slabs apart";
  }
  return "?";
}

//! One adversarial value: NaN, infinities, signed zeros, denormals, huge values,
//! values beyond the quantization radius for bound `eb`, values beside multiples of
//! 2eb, or ordinary values.
template <class T>
T adversarial_value(actzip_test::rng& g, double eb) {
  using actzip_test::from_double;
  const double sign = g.next() % 2 ? 1.0 : -1.0;
  switch (g.next() % 12) {
    case 0: return from_double<T>(sign * std::nan(""));
    case 1: return actzip_test::bit_cast_random<T>(g);
    case 2: return from_double<T>(sign * INFINITY);
    case 3: return from_double<T>(-0.0);
    case 4: return from_double<T>(0.0);
    case 5: return from_double<T>(sign * actzip_test::to_double(min_subnormal<T>()) * static_cast<double>(1 + g.next() % 5));
    case 6: return from_double<T>(sign * actzip_test::to_double(max_value<T>()) / static_cast<double>(1 + g.next() % 3));
    case 7: return from_double<T>(sign * eb * std::ldexp(g.uniform(1, 2), 28 + static_cast<int>(g.next() % 12)));
    case 8: {
      const double k = static_cast<double>(static_cast<std::int64_t>(g.next() % 2001) - 1000);
      T x = from_double<T>((2 * k + static_cast<double>(g.next() % 2)) * eb);
      const auto bits = actzip_test::bits_of(x);
      return bit_cast<T>(static_cast<decltype(bits)>(bits + (g.next() % 2 ? 1 : -1)));
    }
    default: return from_double<T>(g.uniform(-1, 1));
  }
}

template <class T>
std::vector<T> make_input(input_kind kind, const extents& shape, double eb_hint, std::uint64_t seed) {
  const std::size_t n = static_cast<std::size_t>(shape.size());
  actzip_test::rng g(seed);
  std::vector<T> v(n);
  switch (kind) {
    case input_kind::smooth:
      if (n != 0) v = actzip_test::smooth_field<T>(shape, seed);
      break;
    case input_kind::noise:
      for (auto& x : v) x = actzip_test::from_double<T>(g.uniform(-100, 100));
      break;
    case input_kind::random_bits:
      for (auto& x : v) x = actzip_test::bit_cast_random<T>(g);
      break;
    case input_kind::relu:
      v = actzip_test::relu_field<T>(n, seed);
      break;
    case input_kind::adversarial:
      for (auto& x : v) x = adversarial_value<T>(g, eb_hint);
      break;
    case input_kind::constant:
      for (auto& x : v) x = actzip_test::from_double<T>(-3.14159);
      break;
    case input_kind::zeros:
      for (auto& x : v) x = actzip_test::from_double<T>(0.0);
      break;
    case input_kind::rows_apart:
    case input_kind::slabs_apart: {
      // Smooth along the last dimension, with unrelated offsets from one row (or one
      // slab of the first dimension) to the next: the Huffman chunks' rows and
      // lorenzo_2d predictors beat lorenzo_3d there.
      if (n == 0) break;
      const std::uint64_t d2 = shape[shape.rank() - 1];
      const std::uint64_t slab = shape.rank() == 3 ? shape[1] * shape[2] : d2;
      const std::uint64_t stride = kind == input_kind::rows_apart ? d2 : slab;
      const double scale = 200 * eb_hint;
      double offset = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (i % stride == 0) offset = g.uniform(-1, 1) * 100 * scale;
        v[i] =
            actzip_test::from_double<T>(offset + scale * (std::sin(0.05 * static_cast<double>(i % d2)) +
                                                          0.3 * std::cos(0.02 * static_cast<double>((i / d2) % 97))));
      }
      break;
    }
  }
  return v;
}

//! A bound hint for generators: the absolute bound, or a typical one for relative bounds.
double eb_hint(const params& p) {
  return p.error_bound.mode == bound_mode::absolute && p.error_bound.value > 0 ? p.error_bound.value : 1e-3;
}

params make_params(bound b, bool preserve_sign, codec c = codec::bitplane) {
  params p{b};
  p.preserve_sign = preserve_sign;
  p.codec = c;
  return p;
}

using actzip_test::all_codecs;

const char* codec_name(codec c) {
  switch (c) {
    case codec::bitplane:
      return "bitplane";
    case codec::huffman:
      return "huffman";
    case codec::automatic:
      return "automatic";
  }
  return "?";
}

// ---- host reference and device round trips ------------------------------------------

template <class T>
struct host_reference {
  std::vector<std::byte> stream;
  header h;
  std::vector<T> back;
};

template <class T>
host_reference<T> host_round_trip(const std::vector<T>& input, const extents& shape, const params& p) {
  host_reference<T> r;
  r.stream = actzip::compress(exec::serial, input.empty() ? static_cast<const T*>(nullptr) : input.data(), shape, p);
  r.h = actzip::inspect(r.stream.data(), r.stream.size());
  r.back = actzip::decompress<T>(exec::serial, r.stream.data(), r.stream.size());
  return r;
}

//! Compresses the device tensor with the core layer into a fresh, pattern-filled
//! buffer of max_compressed_bytes (kept in *d_stream); returns the stream's bytes.
template <class T>
std::vector<std::byte> device_compress(cudaStream_t s, const T* d_in, const extents& shape, const params& p,
                                       dev_array<unsigned char>* d_stream) {
  const std::uint64_t capacity = max_compressed_bytes<T>(shape);
  REQUIRE(capacity >= header_bytes);
  *d_stream = dev_array<unsigned char>(capacity);
  CHECK_CUDA(cudaMemsetAsync(d_stream->get(), stream_fill, capacity, s));
  dev_array<std::uint64_t> d_size(1);
  CHECK_CUDA(cudaMemsetAsync(d_size.get(), 0xff, sizeof(std::uint64_t), s));
  const std::uint64_t workspace = workspace_bytes(exec::cuda, shape, p);  // exactly what this codec needs
  REQUIRE(workspace > 0);
  dev_array<unsigned char> d_workspace(workspace);
  CHECK_CUDA(cudaMemsetAsync(d_workspace.get(), 0xC3, workspace, s));  // compress clears what it needs
  const status launched = actzip::compress(exec::cuda.on(s), d_in, shape, p, d_stream->get(), capacity, d_size.get(),
                                           d_workspace.get(), workspace);
  REQUIRE(launched == status::success);
  const std::uint64_t size = read_word(d_size.get(), s);
  REQUIRE(size <= capacity);
  return download_bytes(d_stream->get(), static_cast<std::size_t>(size), s);
}

//! Decodes a device stream with the core layer into a pattern-filled buffer of
//! `count` elements plus a guard that must stay untouched; returns the device status.
template <class T>
status device_decompress(cudaStream_t s, const void* d_stream, std::uint64_t stream_size, std::uint64_t count,
                         std::vector<T>* back) {
  dev_array<T> d_out(static_cast<std::size_t>(count) + guard_elements);
  CHECK_CUDA(cudaMemsetAsync(d_out.get(), output_fill, d_out.bytes(), s));
  dev_array<status> d_status(1);
  dev_array<unsigned char> d_decode_ws(decode_workspace_bytes(exec::cuda, 1));
  CHECK_CUDA(cudaMemsetAsync(d_decode_ws.get(), 0xC3, d_decode_ws.bytes(), s));  // decompress sets what it reads
  CHECK_CUDA(cudaMemsetAsync(d_status.get(), 0x7f, sizeof(status), s));  // not a status: must be overwritten
  const status launched = actzip::decompress(exec::cuda.on(s), d_stream, stream_size, d_out.get(), count, d_status.get(), d_decode_ws.get(), d_decode_ws.bytes());
  REQUIRE(launched == status::success);
  const status result = read_status(d_status.get(), s);
  std::vector<T> all = download(d_out.get(), d_out.size(), s);
  std::vector<unsigned char> expected_guard(guard_elements * sizeof(T), static_cast<unsigned char>(output_fill));
  REQUIRE_MESSAGE(std::memcmp(all.data() + count, expected_guard.data(), expected_guard.size()) == 0,
                  "the decoder wrote past the output's element count");
  all.resize(static_cast<std::size_t>(count));
  *back = std::move(all);
  return result;
}

//! Checks a reconstruction against the input: exact bound on every element, zeros
//! kept, signs kept under preserve_sign.
template <class T>
void check_reconstruction(const std::vector<T>& input, const std::vector<T>& back, const header& h, const params& p) {
  const actzip_test::check_result r = actzip_test::check(input, back, h.absolute_bound);
  REQUIRE_MESSAGE(r.violations == 0, r.first);
  REQUIRE(r.zero_changed == 0);
  if (p.preserve_sign) REQUIRE(r.sign_changed == 0);
  if (p.error_bound.mode == bound_mode::absolute) REQUIRE(h.absolute_bound <= p.error_bound.value);
  if (p.error_bound.mode == bound_mode::absolute && p.error_bound.value == 0) {
    // Lossless: every value comes back bit for bit, except -0.0, which becomes +0.0.
    for (std::size_t i = 0; i < input.size(); ++i) {
      const bool zero = actzip_test::to_double(input[i]) == 0 && actzip_test::bits_of(back[i]) == 0;
      REQUIRE_MESSAGE((zero || actzip_test::bits_of(input[i]) == actzip_test::bits_of(back[i])),
                      "element " << i << " not restored exactly under abs(0)");
    }
  }
}

//! The whole comparison of one tensor: device stream == host stream, device decode
//! == host decode, bound kept.
//! What the suite compared with the host, for the closing summary.
struct suite_size {
  std::uint64_t streams = 0;   //!< device streams compared byte for byte with the host's
  std::uint64_t elements = 0;  //!< their elements
  std::uint64_t variants = 0;  //!< damaged streams decoded on the device and on the host
};
suite_size& compared() {
  static suite_size size;
  return size;
}

template <class T>
void check_against_host(cudaStream_t s, const std::vector<T>& input, const extents& shape, const params& p) {
  compared().streams += 1;
  compared().elements += input.size();
  const host_reference<T> ref = host_round_trip(input, shape, p);
  const dev_array<T> d_in = upload(input, s);
  dev_array<unsigned char> d_stream;
  const std::vector<std::byte> z = device_compress(s, d_in.get(), shape, p, &d_stream);
  REQUIRE_MESSAGE(z == ref.stream, describe_difference(z, ref.stream));
  std::vector<T> back;
  REQUIRE(device_decompress(s, d_stream.get(), z.size(), input.size(), &back) == status::success);
  REQUIRE_MESSAGE(same_bits(back, ref.back), describe_difference(back, ref.back));
  check_reconstruction(input, back, ref.h, p);
}

const bound matrix_bounds[] = {actzip::abs(1e-1), actzip::abs(1e-3), actzip::abs(1e-6), actzip::abs(0.0),
                               actzip::rel(1e-1), actzip::rel(1e-3), actzip::rel(1e-6)};

//! The bounds of the byte-identity matrix: all of matrix_bounds on a GPU; on the
//! emulator a loose, a lossless, a typical relative and a tight relative one.
std::vector<bound> identity_matrix_bounds() {
  if (on_emulator) return {actzip::abs(1e-1), actzip::abs(0.0), actzip::rel(1e-3), actzip::rel(1e-6)};
  return std::vector<bound>(std::begin(matrix_bounds), std::end(matrix_bounds));
}

//! `shape` on a GPU; on the emulator its first extent divided by `divisor` (at least 1).
extents scaled(const extents& shape, std::uint64_t divisor) {
  if (!on_emulator) return shape;
  const std::uint64_t first = shape[0] / divisor;
  if (shape.rank() == 1) return extents{first > 0 ? first : 1};
  if (shape.rank() == 2) return extents{first > 0 ? first : 1, shape[1]};
  return extents{first > 0 ? first : 1, shape[1], shape[2]};
}

}  // namespace

// ---- 1. byte-identical streams ------------------------------------------------------

TEST_CASE_TEMPLATE("device streams equal the host's byte for byte and decode bit for bit", T, ACTZIP_ELEMENT_TYPES) {
  // Shapes that divide the chunk shape and shapes that do not, tiny and empty ones.
  const extents shapes[] = {extents{0},      extents{0, 7},     extents{3, 0, 5},   extents{1},
                            extents{1, 1},   extents{1, 1, 1},  extents{3, 5, 7},   extents{31},
                            extents{4096},   extents{4097},     extents{10007},     extents{64, 64},
                            extents{65, 63}, extents{130, 70},  extents{16, 16, 16}, extents{17, 16, 15},
                            extents{20, 33, 18}};
  cuda_stream s;
  std::uint64_t cases = 0, seed = 1;
  for (const extents& shape : shapes) {
    for (const bound b : identity_matrix_bounds()) {
      for (const bool sign : {false, true}) {
        for (const input_kind kind : all_inputs) {
          // Bitplane with and without preserve_sign; huffman and automatic with one of
          // the two, alternating with the input kind and the rank.
          const bool coded_sign = (static_cast<unsigned>(kind) + shape.rank()) % 2 == 0;
          for (const codec c : all_codecs) {
            if (c != codec::bitplane && sign != coded_sign) continue;
            const params p = make_params(b, sign, c);
            const std::vector<T> input = make_input<T>(kind, shape, eb_hint(p), seed++);
            CAPTURE(type_name<T>());
            CAPTURE(codec_name(c));
            CAPTURE(shape.rank());
            CAPTURE(shape[0]);
            CAPTURE(shape[1]);
            CAPTURE(shape[2]);
            CAPTURE(b.value);
            CAPTURE(static_cast<int>(b.mode));
            CAPTURE(sign);
            CAPTURE(name_of(kind));
            check_against_host(s, input, shape, p);
            ++cases;
          }
        }
      }
    }
  }
  MESSAGE(std::string(type_name<T>()) << ": " << cases << " tensors identical to the host");
}

TEST_CASE_TEMPLATE("larger tensors: many chunks, look-back across warps of predecessors", T, ACTZIP_ELEMENT_TYPES) {
  cuda_stream s;
  // On the emulator: 35, 25 and 60 chunks, still more than one warp of predecessors.
  const extents shapes[] = {on_emulator ? extents{140003} : extents{1000003},
                            on_emulator ? extents{300, 301} : extents{1000, 1001},
                            on_emulator ? extents{40, 50, 70} : extents{97, 130, 129}};
  const std::vector<bound> bounds = on_emulator ? std::vector<bound>{actzip::rel(1e-3)}
                                                : std::vector<bound>{actzip::rel(1e-3), actzip::abs(1e-2), actzip::rel(1e-6)};
  std::uint64_t seed = 100;
  for (const extents& shape : shapes) {
    for (const bound b : bounds) {
      for (const input_kind kind : {input_kind::smooth, input_kind::relu, input_kind::adversarial}) {
        for (const codec c : all_codecs) {
          const params p = make_params(b, kind == input_kind::relu, c);
          std::vector<T> input = make_input<T>(kind, shape, eb_hint(p), seed++);
          CAPTURE(type_name<T>());
          CAPTURE(codec_name(c));
          CAPTURE(shape.rank());
          CAPTURE(b.value);
          CAPTURE(name_of(kind));
          check_against_host(s, input, shape, p);
        }
      }
    }
  }
}

TEST_CASE_TEMPLATE("views that do not start 16-byte aligned, and rows that are not whole vectors, give the host's results",
                   T, ACTZIP_ELEMENT_TYPES) {
  // The kernels read full chunks and the range with 16-byte loads, and write full
  // chunks with 16-byte stores, only when the tensor starts 16-byte aligned and its
  // rows are whole vectors; a view one to three elements into an allocation, and
  // rows of odd length, take the scalar accesses. Both must give the host's streams
  // and values.
  cuda_stream s;
  const extents shapes[] = {extents{12289}, extents{128, 64}, extents{64, 66}, extents{32, 16, 16}, extents{16, 16, 18}};
  std::uint64_t seed = 700;
  for (const extents& shape : shapes) {
    for (const std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
      for (const codec c : all_codecs) {
        const params p = make_params(actzip::rel(1e-3), false, c);
        const std::vector<T> input = make_input<T>(input_kind::adversarial, shape, eb_hint(p), seed++);
        std::vector<T> padded(offset, input.empty() ? T() : input[0]);
        padded.insert(padded.end(), input.begin(), input.end());
        const dev_array<T> d_all = upload(padded, s);
        const T* view = d_all.get() + offset;
        CAPTURE(type_name<T>());
        CAPTURE(codec_name(c));
        CAPTURE(shape.rank());
        CAPTURE(offset);
        CHECK((reinterpret_cast<std::uintptr_t>(view) % 16 == 0) == (offset * sizeof(T) % 16 == 0));
        const host_reference<T> ref = host_round_trip(input, shape, p);
        dev_array<unsigned char> d_stream;
        const std::vector<std::byte> z = device_compress(s, view, shape, p, &d_stream);
        REQUIRE_MESSAGE(z == ref.stream, describe_difference(z, ref.stream));
        compared().streams += 1;
        compared().elements += input.size();
        // Decoded into a view at the same offset (stores by 16-byte vectors only when aligned).
        dev_array<T> d_back(padded.size());
        CHECK_CUDA(cudaMemsetAsync(d_back.get(), output_fill, d_back.bytes(), s));
        dev_array<status> d_status(1);
        dev_array<unsigned char> d_decode_ws(decode_workspace_bytes(exec::cuda, 1));
        REQUIRE(actzip::decompress(exec::cuda.on(s), d_stream.get(), z.size(), d_back.get() + offset, input.size(),
                                   d_status.get(), d_decode_ws.get(), d_decode_ws.bytes()) == status::success);
        REQUIRE(read_status(d_status.get(), s) == status::success);
        std::vector<T> back = download(d_back.get(), d_back.size(), s);
        std::vector<unsigned char> before(offset * sizeof(T), static_cast<unsigned char>(output_fill));
        if (offset != 0) CHECK(std::memcmp(back.data(), before.data(), before.size()) == 0);  // nothing before the view
        back.erase(back.begin(), back.begin() + static_cast<std::ptrdiff_t>(offset));
        REQUIRE_MESSAGE(same_bits(back, ref.back), describe_difference(back, ref.back));
      }
    }
  }
}

TEST_CASE("a large 1-D float tensor: 16 Mi elements (4096 chunks), 1 Mi on the emulator") {
  cuda_stream s;
  const extents shape{std::uint64_t{1} << (on_emulator ? 20 : 24)};
  std::vector<float> input = actzip_test::smooth_field<float>(shape, 5);
  for (std::size_t i = 0; i < input.size(); i += 4099) input[i] = 0.0f;
  for (const codec c : all_codecs) {
    CAPTURE(codec_name(c));
    check_against_host(s, input, shape, make_params(actzip::rel(1e-4), false, c));
  }
}

// ---- 1b. Huffman corner cases ------------------------------------------------------

namespace {

//! What a (host) stream holds: its chunks by kind, and its code book.
struct stream_kinds {
  std::uint64_t empty = 0, raw = 0, bitplane = 0, huffman = 0;
  std::uint32_t code_symbols = 0;                      //!< symbols with a code word
  std::uint32_t code_bytes = 0;                        //!< size of the serialised code book
  std::uint64_t predictor_used[predictor_count] = {};  //!< Huffman chunks by predictor
};

stream_kinds kinds_of(const std::vector<std::byte>& z) {
  stream_kinds k;
  header h;
  REQUIRE(actzip::inspect(z.data(), z.size(), &h) == status::success);
  const auto* in = reinterpret_cast<const unsigned char*>(z.data());
  const unsigned char* table = in + header_bytes;
  const unsigned char* payload = table + chunk_offset_bytes * h.chunk_count;
  if (h.codec != codec::bitplane) {
    std::vector<huffman_code> code(1);
    REQUIRE(parse_huffman_code(payload, h.payload_bytes, code[0], &k.code_bytes) == status::success);
    for (unsigned symbol = 0; symbol < huffman_symbol_count; ++symbol) k.code_symbols += code[0].length[symbol] != 0;
  }
  const chunk_geometry g = make_chunk_geometry(h.shape);
  for (std::uint64_t c = 0; c < h.chunk_count; ++c) {
    const std::uint64_t begin = load_le64(table + chunk_offset_bytes * c);
    const std::uint64_t end = c + 1 < h.chunk_count ? load_le64(table + chunk_offset_bytes * (c + 1)) : h.payload_bytes;
    chunk_view view;
    REQUIRE(parse_stream_chunk(h.codec, payload + begin, end - begin, g.chunk_box(c).extent.count(),
                               dtype_size(h.dtype), &view) == status::success);
    switch (view.type) {
      case chunk_view::kind::empty:
        ++k.empty;
        break;
      case chunk_view::kind::raw:
        ++k.raw;
        break;
      case chunk_view::kind::encoded:
        ++k.bitplane;
        break;
      case chunk_view::kind::huffman:
        ++k.huffman;
        ++k.predictor_used[static_cast<unsigned>(view.huffman_predictor)];
        break;
    }
  }
  return k;
}

}  // namespace

TEST_CASE_TEMPLATE("Huffman corner cases: zeros, empty tensors, one symbol, every chunk kind", T,
                   ACTZIP_ELEMENT_TYPES) {
  cuda_stream s;
  CAPTURE(type_name<T>());
  SUBCASE("all-zero tensors: an empty code book and no chunk bytes") {
    for (const extents& shape : {extents{10000}, extents{130, 70}, extents{20, 33, 18}}) {
      const std::vector<T> zeros(static_cast<std::size_t>(shape.size()), actzip_test::from_double<T>(0.0));
      for (const codec c : {codec::huffman, codec::automatic}) {
        for (const bound b : {actzip::abs(1e-3), actzip::rel(1e-3), actzip::abs(0.0)}) {
          CAPTURE(codec_name(c));
          CAPTURE(shape.rank());
          const params p = make_params(b, false, c);
          const stream_kinds k = kinds_of(actzip::compress(exec::serial, zeros.data(), shape, p));
          CHECK(k.code_symbols == 0);
          CHECK(k.code_bytes == 4);
          CHECK(k.empty == make_chunk_geometry(shape).count);
          check_against_host(s, zeros, shape, p);
        }
      }
    }
  }
  SUBCASE("empty tensors: the code book is the whole payload") {
    for (const extents& shape : {extents{0}, extents{0, 7}, extents{3, 0, 5}}) {
      for (const codec c : {codec::huffman, codec::automatic}) {
        CAPTURE(codec_name(c));
        CAPTURE(shape.rank());
        const params p = make_params(actzip::rel(1e-3), true, c);
        const stream_kinds k = kinds_of(actzip::compress(exec::serial, static_cast<const T*>(nullptr), shape, p));
        CHECK(k.code_bytes == 4);
        check_against_host(s, std::vector<T>(), shape, p);
      }
    }
  }
  SUBCASE("a one-symbol code book: a ramp of constant deltas") {
    // q_i = 3 (i + 1) with a bound of 0.5: every delta is 3, one symbol (zig-zag 6)
    // with a 1-bit code word; exact in every element type (integers up to 240).
    std::vector<T> ramp(80);
    for (std::size_t i = 0; i < ramp.size(); ++i)
      ramp[i] = actzip_test::from_double<T>(3.0 * static_cast<double>(i + 1));
    for (const codec c : {codec::huffman, codec::automatic}) {
      CAPTURE(codec_name(c));
      const params p = make_params(actzip::abs(0.5), false, c);
      const stream_kinds k = kinds_of(actzip::compress(exec::serial, ramp.data(), extents{80}, p));
      REQUIRE(k.code_symbols == 1);
      CHECK(k.huffman == 1);
      check_against_host(s, ramp, extents{80}, p);
    }
  }
  SUBCASE("Huffman chunks with every predictor") {
    const extents shapes[] = {extents{130, 200}, extents{40, 35, 50}};
    std::uint64_t used[predictor_count] = {};
    std::uint64_t seed = 500;
    for (const extents& shape : shapes) {
      for (const input_kind kind : {input_kind::smooth, input_kind::rows_apart, input_kind::slabs_apart}) {
        for (const codec c : {codec::huffman, codec::automatic}) {
          CAPTURE(codec_name(c));
          CAPTURE(name_of(kind));
          CAPTURE(shape.rank());
          const params p = make_params(actzip::abs(1e-3), false, c);
          const std::vector<T> input = make_input<T>(kind, shape, eb_hint(p), seed++);
          const stream_kinds k = kinds_of(actzip::compress(exec::serial, input.data(), shape, p));
          for (unsigned m = 0; m < predictor_count; ++m) used[m] += k.predictor_used[m];
          check_against_host(s, input, shape, p);
        }
      }
    }
    MESSAGE(std::string(type_name<T>()) << ": Huffman chunks by predictor: lorenzo_3d " << used[0] << ", lorenzo_2d " << used[1]
                           << ", rows " << used[2]);
    for (unsigned m = 0; m < predictor_count; ++m) CHECK(used[m] > 0);
  }
  SUBCASE("automatic: Huffman, bitplane, raw and empty chunks in one stream") {
    // 64 x 448: four smooth chunks, one of integer noise, one of NaN, one of zeros.
    const extents shape{64, 448};
    std::vector<T> v = actzip_test::smooth_field<T>(shape, 3, 100.0);
    actzip_test::rng g(4);
    for (std::size_t row = 0; row < 64; ++row) {
      for (std::size_t col = 256; col < 448; ++col) {
        T& x = v[row * 448 + col];
        if (col < 320)
          x = actzip_test::from_double<T>(std::round(g.uniform(-1000, 1000)));
        else if (col < 384)
          x = actzip_test::from_double<T>(std::nan(""));
        else
          x = actzip_test::from_double<T>(0.0);
      }
    }
    const params p = make_params(actzip::abs(0.5), false, codec::automatic);
    const stream_kinds k = kinds_of(actzip::compress(exec::serial, v.data(), shape, p));
    CHECK(k.huffman > 0);
    CHECK(k.bitplane > 0);
    CHECK(k.raw > 0);
    CHECK(k.empty > 0);
    check_against_host(s, v, shape, p);
    // The same tensor in a Huffman stream: its bitplane chunks become Huffman or raw.
    const params ph = make_params(actzip::abs(0.5), false, codec::huffman);
    const stream_kinds kh = kinds_of(actzip::compress(exec::serial, v.data(), shape, ph));
    CHECK(kh.bitplane == 0);
    check_against_host(s, v, shape, ph);
  }
}

// ---- 2. batches ---------------------------------------------------------------------

TEST_CASE_TEMPLATE("compress_batch and decompress_batch match the host tensor by tensor", T, ACTZIP_ELEMENT_TYPES) {
  cuda_stream s;
  const extents shapes[] = {extents{5000},      extents{64, 64},   extents{0},        extents{17, 16, 15},
                            extents{1},         extents{300, 70},  extents{33, 2, 90}, extents{4096},
                            extents{1, 1, 1},   extents{20011},    extents{3, 0},     extents{40, 40, 40}};
  constexpr std::size_t count = 40;  // three launch groups
  std::vector<std::vector<T>> inputs(count);
  std::vector<extents> shape_of(count);
  std::vector<params> params_of(count);
  std::vector<host_reference<T>> refs(count);
  std::vector<dev_array<T>> d_in(count);
  std::vector<dev_array<unsigned char>> d_out(count);
  dev_array<std::uint64_t> d_sizes(count);
  std::vector<compress_item<T>> items(count);
  for (std::size_t i = 0; i < count; ++i) {
    shape_of[i] = shapes[(i * 7) % (sizeof shapes / sizeof shapes[0])];
    // Codecs mixed inside every launch group (16 tensors a launch).
    params_of[i] = make_params(matrix_bounds[i % (sizeof matrix_bounds / sizeof matrix_bounds[0])], i % 3 == 1,
                               all_codecs[(i / 5) % 3]);
    const input_kind kind = all_inputs[(i / 2) % (sizeof all_inputs / sizeof all_inputs[0])];
    inputs[i] = make_input<T>(kind, shape_of[i], eb_hint(params_of[i]), 1000 + i);
    refs[i] = host_round_trip(inputs[i], shape_of[i], params_of[i]);
    d_in[i] = upload(inputs[i], s);
    const std::uint64_t capacity = max_compressed_bytes<T>(shape_of[i]);
    d_out[i] = dev_array<unsigned char>(capacity);
    items[i].input = d_in[i].get();
    items[i].shape = shape_of[i];
    items[i].p = params_of[i];
    items[i].output = d_out[i].get();
    items[i].output_capacity = capacity;
    items[i].compressed_bytes = d_sizes.get() + i;
  }
  const std::uint64_t workspace = workspace_bytes(exec::cuda, items.data(), items.size());
  REQUIRE(workspace > 0);
  dev_array<unsigned char> d_workspace(workspace);
  CHECK(compress_batch(exec::cuda.on(s), items.data(), items.size(), d_workspace.get(), workspace - 1) ==
        status::buffer_too_small);
  CHECK(compress_batch(exec::cuda.on(s), items.data(), 0, d_workspace.get(), workspace) == status::success);

  // Twice with the same (dirty) workspace: compress_batch must reset it itself.
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    for (std::size_t i = 0; i < count; ++i)
      CHECK_CUDA(cudaMemsetAsync(d_out[i].get(), stream_fill, d_out[i].bytes(), s));
    CHECK_CUDA(cudaMemsetAsync(d_sizes.get(), 0xff, d_sizes.bytes(), s));
    REQUIRE(compress_batch(exec::cuda.on(s), items.data(), items.size(), d_workspace.get(), workspace) ==
            status::success);
    const std::vector<std::uint64_t> sizes = download(d_sizes.get(), count, s);
    for (std::size_t i = 0; i < count; ++i) {
      CAPTURE(i);
      REQUIRE(sizes[i] <= items[i].output_capacity);
      const std::vector<std::byte> z = download_bytes(d_out[i].get(), static_cast<std::size_t>(sizes[i]), s);
      REQUIRE_MESSAGE(z == refs[i].stream, describe_difference(z, refs[i].stream));
      compared().streams += 1;
      compared().elements += inputs[i].size();
    }
  }

  // Decode all of them in one batch, then again with one output too small and one
  // item pointing at bytes that are not a stream: only those two fail.
  std::vector<dev_array<T>> d_back(count);
  dev_array<status> d_status(count);
  dev_array<unsigned char> d_decode_ws(decode_workspace_bytes(exec::cuda, count));
  std::vector<decompress_item<T>> back_items(count);
  for (std::size_t i = 0; i < count; ++i) {
    d_back[i] = dev_array<T>(inputs[i].size() + guard_elements);
    back_items[i] = decompress_item<T>{d_out[i].get(), refs[i].stream.size(), d_back[i].get(), inputs[i].size(),
                                       d_status.get() + i};
  }
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    std::vector<decompress_item<T>> batch = back_items;
    std::size_t too_small = count, garbage = count;
    if (round == 1) {
      too_small = 5;
      while (inputs[too_small].empty()) ++too_small;
      batch[too_small].output_count -= 1;
      garbage = too_small + 11;
      batch[garbage].stream = d_sizes.get();  // the size words: not a stream
      batch[garbage].stream_size = d_sizes.bytes();
    }
    for (std::size_t i = 0; i < count; ++i)
      CHECK_CUDA(cudaMemsetAsync(d_back[i].get(), output_fill, d_back[i].bytes(), s));
    CHECK_CUDA(cudaMemsetAsync(d_status.get(), 0x7f, d_status.bytes(), s));
    REQUIRE(decompress_batch(exec::cuda.on(s), batch.data(), batch.size(), d_decode_ws.get(), d_decode_ws.bytes()) == status::success);
    const std::vector<status> statuses = download(d_status.get(), count, s);
    for (std::size_t i = 0; i < count; ++i) {
      CAPTURE(i);
      if (i == too_small) {
        CHECK(statuses[i] == status::buffer_too_small);
        continue;
      }
      if (i == garbage) {
        CHECK(statuses[i] == status::not_a_stream);
        continue;
      }
      REQUIRE(statuses[i] == status::success);
      std::vector<T> back = download(d_back[i].get(), d_back[i].size(), s);
      std::vector<unsigned char> guard(guard_elements * sizeof(T), static_cast<unsigned char>(output_fill));
      REQUIRE(std::memcmp(back.data() + inputs[i].size(), guard.data(), guard.size()) == 0);
      back.resize(inputs[i].size());
      REQUIRE_MESSAGE(same_bits(back, refs[i].back), describe_difference(back, refs[i].back));
      check_reconstruction(inputs[i], back, refs[i].h, params_of[i]);
    }
  }
}

// ---- 3. CUDA graphs ------------------------------------------------------------------

namespace {

//! Captures compress + decompress with codec `c` in a graph and replays it with new inputs.
void graph_replays(codec c) {
  CAPTURE(codec_name(c));
  cuda_stream s;
  const extents shape{37, 70, 90};
  const std::size_t count = static_cast<std::size_t>(shape.size());
  const params p = make_params(actzip::rel(1e-3), false, c);
  const std::uint64_t capacity = max_compressed_bytes<float>(shape);
  const std::uint64_t workspace = workspace_bytes(exec::cuda, shape, p);
  dev_array<float> d_in(count), d_back(count);
  dev_array<unsigned char> d_stream(capacity), d_workspace(workspace);
  dev_array<std::uint64_t> d_size(1);
  dev_array<status> d_status(1);
  dev_array<unsigned char> d_decode_ws(decode_workspace_bytes(exec::cuda, 1));
  CHECK_CUDA(cudaStreamSynchronize(s));

  cudaGraph_t graph = nullptr;
  CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  const status compressed = actzip::compress(exec::cuda.on(s), d_in.get(), shape, p, d_stream.get(), capacity,
                                             d_size.get(), d_workspace.get(), workspace);
  // The size is known only on the device: decode the whole buffer (trailing bytes are ignored).
  const status decompressed =
      actzip::decompress(exec::cuda.on(s), d_stream.get(), capacity, d_back.get(), count, d_status.get(), d_decode_ws.get(), d_decode_ws.bytes());
  const cudaError_t ended = cudaStreamEndCapture(s, &graph);
  REQUIRE(compressed == status::success);
  REQUIRE(decompressed == status::success);
  CHECK_CUDA(ended);
  cudaGraphExec_t instance = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&instance, graph, 0);
  (void)cudaGraphDestroy(graph);
  CHECK_CUDA(instantiated);

  std::vector<float> first = actzip_test::smooth_field<float>(shape, 11);
  std::vector<float> second = actzip_test::relu_field<float>(count, 12);
  second[7] = std::nanf("");
  second[100] = -INFINITY;
  const std::vector<float>* inputs[] = {&first, &second, &first};
  bool all_ok = true;
  for (int replay = 0; replay < 3; ++replay) {
    CAPTURE(replay);
    const std::vector<float>& input = *inputs[replay];
    const host_reference<float> ref = host_round_trip(input, shape, p);
    CHECK_CUDA(cudaMemcpyAsync(d_in.get(), input.data(), d_in.bytes(), cudaMemcpyHostToDevice, s));
    CHECK_CUDA(cudaMemsetAsync(d_stream.get(), stream_fill, capacity, s));
    CHECK_CUDA(cudaMemsetAsync(d_back.get(), output_fill, d_back.bytes(), s));
    CHECK_CUDA(cudaMemsetAsync(d_status.get(), 0x7f, sizeof(status), s));
    CHECK_CUDA(cudaGraphLaunch(instance, s));
    const std::uint64_t size = read_word(d_size.get(), s);
    const std::vector<std::byte> z = download_bytes(d_stream.get(), static_cast<std::size_t>(std::min(size, capacity)), s);
    CHECK_MESSAGE(z == ref.stream, describe_difference(z, ref.stream));
    CHECK(read_status(d_status.get(), s) == status::success);
    const std::vector<float> back = download(d_back.get(), count, s);
    CHECK_MESSAGE(same_bits(back, ref.back), describe_difference(back, ref.back));
    all_ok = all_ok && z == ref.stream && same_bits(back, ref.back);
  }
  (void)cudaGraphExecDestroy(instance);
  CHECK(all_ok);
}

}  // namespace

TEST_CASE("compress and decompress captured in a CUDA graph replay with new inputs") {
  for (const codec c : all_codecs) graph_replays(c);
}

// ---- 4. 5 GiB -------------------------------------------------------------------------
// On a GPU only: the emulator runs about a million elements a second.
#if !ACTZIP_TEST_ON_EMULATOR

namespace {

//! A cheap smooth field with ReLU-like zeros and a few NaN and infinities.
__global__ void synthetic_field(float* out, std::uint64_t n, std::uint64_t d1, std::uint64_t d2) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const std::uint64_t i2 = i % d2, i1 = (i / d2) % d1, i0 = i / (d1 * d2);
    const std::uint32_t hash = static_cast<std::uint32_t>((i * 0x9E3779B97F4A7C15ull) >> 40);  // 24 bits
    float v = __sinf(0.02f * static_cast<float>(i2)) * __cosf(0.015f * static_cast<float>(i1)) +
              1e-3f * static_cast<float>(i0 % 1000) + 1e-4f * static_cast<float>(hash) * 0x1p-24f;
    if (v < -0.25f) v = 0.0f;
    if (i % 1000003 == 11) v = __int_as_float(0x7fc00000);
    if (i % 999983 == 5) v = (i & 1) ? __int_as_float(0x7f800000) : __int_as_float(static_cast<int>(0xff800000u));
    out[i] = v;
  }
}

//! |a - b| > bound, decided exactly (TwoSum), as actzip_test::exceeds on the host.
__device__ bool exceeds_on_device(double a, double b, double bound) {
  const double s = b - a;
  if (!isfinite(s)) return true;
  const double bb = s - b;
  const double err = (b - (s - bb)) + (-a - bb);
  const double m = fabs(s);
  if (m != bound) return m > bound;
  return s > 0 ? err > 0 : err < 0;
}

//! counts[0]: elements outside the bound (or non-finite values not kept bit for
//! bit); counts[1]: zeros that did not come back as +0.
__global__ void count_violations(const float* original, const float* back, std::uint64_t n, double bound,
                                 unsigned long long* counts) {
  unsigned long long bad = 0, zeros = 0;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float a = original[i], b = back[i];
    if (!isfinite(a))
      bad += __float_as_uint(a) != __float_as_uint(b);
    else
      bad += !isfinite(b) || exceeds_on_device(a, b, bound);
    zeros += a == 0.0f && __float_as_uint(b) != 0u;
  }
  for (unsigned offset = 16; offset > 0; offset /= 2) {
    bad += __shfl_down_sync(0xffffffffu, bad, offset);
    zeros += __shfl_down_sync(0xffffffffu, zeros, offset);
  }
  if (threadIdx.x % 32 == 0) {
    atomicAdd(counts, bad);
    atomicAdd(counts + 1, zeros);
  }
}

unsigned grid_for_device() {
  int device = 0, sms = 0;
  CHECK_CUDA(cudaGetDevice(&device));
  CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return static_cast<unsigned>(sms) * 8u;
}

}  // namespace

TEST_CASE("a 5 GiB float tensor round trip with each codec, checked on the device") {
  const extents shape{1283, 1021, 1025};  // 5.0 GiB; no extent divides the chunk shape
  const std::uint64_t count = shape.size();
  const std::uint64_t bytes = count * sizeof(float);
  const std::uint64_t capacity = max_compressed_bytes<float>(shape);
  const std::uint64_t workspace = workspace_bytes(exec::cuda, shape);
  std::size_t free_bytes = 0, total_bytes = 0;
  CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
  const std::uint64_t needed = 2 * bytes + capacity + workspace + (std::uint64_t{512} << 20);
  if (free_bytes < needed) {
    MESSAGE("skipped: the 5 GiB case needs " << (needed >> 20) << " MiB of device memory, " << (free_bytes >> 20)
                                             << " MiB are free");
    return;
  }
  cuda_stream s;
  dev_array<float> d_in(count), d_back(count);
  dev_array<unsigned char> d_stream(capacity), d_workspace(workspace);
  dev_array<std::uint64_t> d_size(1);
  dev_array<status> d_status(1);
  dev_array<unsigned char> d_decode_ws(decode_workspace_bytes(exec::cuda, 1));
  dev_array<unsigned long long> d_counts(2);
  const unsigned grid = grid_for_device();
  ACTZIP_LAUNCH(synthetic_field, grid, 256, s, d_in.get(), count, shape[1], shape[2]);
  CHECK_CUDA(cudaGetLastError());

  cudaEvent_t marks[3];
  for (cudaEvent_t& e : marks) CHECK_CUDA(cudaEventCreate(&e));
  for (const codec c : all_codecs) {
    CAPTURE(codec_name(c));
    CHECK_CUDA(cudaMemsetAsync(d_back.get(), 0xff, d_back.bytes(), s));  // NaN: unwritten elements are violations
    CHECK_CUDA(cudaMemsetAsync(d_counts.get(), 0, d_counts.bytes(), s));
    const params p = make_params(actzip::rel(1e-3), false, c);
    CHECK_CUDA(cudaEventRecord(marks[0], s));
    REQUIRE(actzip::compress(exec::cuda.on(s), d_in.get(), shape, p, d_stream.get(), capacity, d_size.get(),
                             d_workspace.get(), workspace) == status::success);
    CHECK_CUDA(cudaEventRecord(marks[1], s));
    const std::uint64_t size = read_word(d_size.get(), s);
    REQUIRE(size >= header_bytes);
    REQUIRE(size <= capacity);
    REQUIRE(actzip::decompress(exec::cuda.on(s), d_stream.get(), size, d_back.get(), count, d_status.get(),
                               d_decode_ws.get(), d_decode_ws.bytes()) == status::success);
    CHECK_CUDA(cudaEventRecord(marks[2], s));
    CHECK(read_status(d_status.get(), s) == status::success);
    float compress_ms = 0, decompress_ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&compress_ms, marks[0], marks[1]));
    CHECK_CUDA(cudaEventElapsedTime(&decompress_ms, marks[1], marks[2]));

    // The header: copied to the host and parsed there, and through the convenience inspect.
    const std::vector<std::byte> head = download_bytes(d_stream.get(), header_bytes, s);
    header h;
    REQUIRE(actzip::inspect(head.data(), size, &h) == status::success);
    CHECK(h.element_count == count);
    CHECK(h.shape == shape);
    CHECK(h.dtype == dtype::float32);
    CHECK(h.codec == c);
    CHECK(h.total_bytes == size);
    CHECK(h.chunk_count == make_chunk_geometry(shape).count);
    CHECK(h.has_value_range);
    CHECK(h.absolute_bound > 0);
    const header h2 = actzip::inspect(exec::cuda.on(s), d_stream.get(), size);
    CHECK(h2.element_count == count);
    CHECK(h2.absolute_bound == h.absolute_bound);

    ACTZIP_LAUNCH(count_violations, grid, 256, s, d_in.get(), d_back.get(), count, h.absolute_bound, d_counts.get());
    CHECK_CUDA(cudaGetLastError());
    const std::vector<unsigned long long> counts = download(d_counts.get(), 2, s);
    CHECK(counts[0] == 0);
    CHECK(counts[1] == 0);
    MESSAGE("5 GiB float rel 1e-3, " << codec_name(c) << ": ratio " << h.ratio() << ", compress " << compress_ms
                                     << " ms (" << static_cast<double>(bytes) / (compress_ms * 1e6)
                                     << " GB/s), decompress " << decompress_ms << " ms ("
                                     << static_cast<double>(bytes) / (decompress_ms * 1e6) << " GB/s), violations "
                                     << counts[0]);
  }
  for (cudaEvent_t e : marks) (void)cudaEventDestroy(e);
}
#endif  // !ACTZIP_TEST_ON_EMULATOR

// ---- 5. corrupted streams on the device ---------------------------------------------

namespace {

using actzip_test::small_streams;  // encoded, sign-preserving, raw and empty chunks; every codec

//! small_streams, and two more with Huffman chunks of several segments: a Huffman
//! stream of two chunks (four segments, then one) and an automatic one whose chunks
//! are Huffman, bitplane and raw.
template <class T>
std::vector<std::vector<std::byte>> corruption_inputs() {
  std::vector<std::vector<std::byte>> out = small_streams<T>();
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{4500}, 7, 1.0);
    v[100] = actzip_test::from_double<T>(std::nan(""));
    v[4200] = actzip_test::from_double<T>(1e30);
    out.push_back(
        actzip::compress(exec::serial, v.data(), extents{4500}, make_params(actzip::abs(1e-3), false, codec::huffman)));
  }
  {  // three chunks of 20 x 64, 20 x 64 and 20 x 12: smooth, noise, random bits
    const extents shape{20, 140};
    std::vector<T> v = actzip_test::smooth_field<T>(shape, 8, 1.0);
    actzip_test::rng g(9);
    for (std::size_t row = 0; row < 20; ++row)
      for (std::size_t col = 64; col < 140; ++col)
        v[row * 140 + col] =
            col < 128 ? actzip_test::from_double<T>(g.uniform(-1, 1)) : actzip_test::bit_cast_random<T>(g);
    out.push_back(
        actzip::compress(exec::serial, v.data(), shape, make_params(actzip::abs(1e-2), false, codec::automatic)));
  }
  return out;
}

//! One altered copy of a stream.
struct variant {
  std::vector<std::byte> bytes;
  std::size_t position;  //!< truncation length, or the corrupted byte
  unsigned mask;         //!< 0 for a truncation, else the xor mask
};

//! Decodes every variant on the device (decompress_batch, up to 1024 at a time, each
//! into `count` elements plus a guard) and on the host, both with `options`;
//! statuses must agree, and outputs too where both succeed. Returns how many
//! variants were refused.
template <class T>
std::uint64_t compare_variants(cudaStream_t s, const std::vector<variant>& variants, std::uint64_t count,
                               const decode_options& options) {
  constexpr std::size_t per_call = 1024;
  const std::size_t slot_elements = static_cast<std::size_t>(count) + guard_elements;
  std::uint64_t refused = 0;
  std::vector<T> host_out(static_cast<std::size_t>(count) + 1);
  for (std::size_t first = 0; first < variants.size(); first += per_call) {
    const std::size_t n = std::min(per_call, variants.size() - first);
    // Pack the variants 16-byte aligned, each in its own slot (at least 16 bytes, so
    // a truncation to 0 bytes still has a valid pointer).
    std::vector<std::size_t> offset(n);
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      offset[i] = total;
      total += (std::max<std::size_t>(variants[first + i].bytes.size(), 1) + 15) / 16 * 16;
    }
    std::vector<std::byte> packed(total, std::byte{0xEE});
    for (std::size_t i = 0; i < n; ++i)
      if (!variants[first + i].bytes.empty())
        std::memcpy(packed.data() + offset[i], variants[first + i].bytes.data(), variants[first + i].bytes.size());
    const dev_array<std::byte> d_packed = upload(packed, s);
    dev_array<T> d_out(n * slot_elements);
    dev_array<status> d_status(n);
    dev_array<unsigned char> d_decode_ws(decode_workspace_bytes(exec::cuda, n));
    CHECK_CUDA(cudaMemsetAsync(d_out.get(), output_fill, d_out.bytes(), s));
    CHECK_CUDA(cudaMemsetAsync(d_status.get(), 0x7f, d_status.bytes(), s));
    std::vector<decompress_item<T>> items(n);
    for (std::size_t i = 0; i < n; ++i)
      items[i] = decompress_item<T>{d_packed.get() + offset[i], variants[first + i].bytes.size(),
                                    d_out.get() + i * slot_elements, count, d_status.get() + i};
    REQUIRE(decompress_batch(exec::cuda.on(s), items.data(), items.size(), d_decode_ws.get(), d_decode_ws.bytes(),
                             options) == status::success);
    const std::vector<status> statuses = download(d_status.get(), n, s);
    const std::vector<T> outputs = download(d_out.get(), d_out.size(), s);
    const std::vector<unsigned char> guard(guard_elements * sizeof(T), static_cast<unsigned char>(output_fill));
    for (std::size_t i = 0; i < n; ++i) {
      const variant& v = variants[first + i];
      CAPTURE(v.position);
      CAPTURE(v.mask);
      CAPTURE(v.bytes.size());
      const status host =
          actzip::decompress(exec::serial, v.bytes.data(), v.bytes.size(), host_out.data(), count, options);
      REQUIRE(statuses[i] == host);
      compared().variants += 1;
      const T* device_out = outputs.data() + i * slot_elements;
      REQUIRE_MESSAGE(std::memcmp(device_out + count, guard.data(), guard.size()) == 0,
                      "the decoder wrote past the output's element count");
      if (host == status::success)
        REQUIRE(std::memcmp(device_out, host_out.data(), static_cast<std::size_t>(count) * sizeof(T)) == 0);
      else
        ++refused;
    }
  }
  return refused;
}

}  // namespace

TEST_CASE_TEMPLATE("the device decoder refuses what the host decoder refuses", T, ACTZIP_ELEMENT_TYPES) {
  cuda_stream s;
  std::uint64_t refused = 0, total = 0;
  for (const std::vector<std::byte>& good : corruption_inputs<T>()) {
    const header h = actzip::inspect(good.data(), good.size());
    const std::uint64_t count = h.element_count;
    std::vector<variant> variants;
    variants.push_back(variant{good, good.size(), 0});
    for (std::size_t len = 0; len < good.size(); ++len)
      variants.push_back(variant{std::vector<std::byte>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len)), len, 0});
    // Every byte flipped with four masks on a GPU; on the emulator with one of them,
    // taken in turn.
    const unsigned masks[] = {0xffu, 0x01u, 0x80u, 0x10u};
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (unsigned m = 0; m < 4; ++m) {
        if (on_emulator && m != i % 4) continue;
        std::vector<std::byte> bad = good;
        bad[i] ^= static_cast<std::byte>(masks[m]);
        variants.push_back(variant{std::move(bad), i, masks[m]});
      }
    }
    CAPTURE(type_name<T>());
    CAPTURE(good.size());
    // Without the checksum (the structural checks alone) and with it (most damage is
    // then a checksum mismatch; on the emulator every third variant).
    refused += compare_variants<T>(s, variants, count, decode_options{false});
    total += variants.size();
    if (on_emulator) {
      std::vector<variant> some;
      for (std::size_t k = 0; k < variants.size(); k += 3) some.push_back(variants[k]);
      variants = std::move(some);
    }
    refused += compare_variants<T>(s, variants, count, decode_options{});
    total += variants.size();

    // Whole-stream errors through the single-stream entry point.
    const dev_array<std::byte> d_good = upload(good, s);
    std::vector<T> back;
    CHECK(device_decompress(s, d_good.get(), good.size(), count, &back) == status::success);
    if (count > 0) {
      CHECK(device_decompress(s, d_good.get(), good.size(), count - 1, &back) == status::buffer_too_small);
    }
    using other = std::conditional_t<std::is_same<T, float>::value, double, float>;
    std::vector<other> other_back;
    CHECK(device_decompress(s, d_good.get(), good.size(), count, &other_back) == status::dtype_mismatch);
  }
  MESSAGE(std::string(type_name<T>()) << ": " << total << " variants, " << refused << " refused by both decoders");
  CHECK(refused > 0);
}

TEST_CASE_TEMPLATE("a warp decodes each Huffman segment in 32 spans: tokens longer than a span, wide values, damage",
                   T, ACTZIP_ELEMENT_TYPES) {
  // decode_segment_warp cuts a segment's bits into 32 spans, guesses where each
  // span's first token starts and resynchronises. These streams stress the guesses:
  // segments of a few bits (so spans of one or two bits, every token longer than a
  // span), values whose tokens carry up to 31 extra bits (walks begun inside them
  // read garbage for long), and zero runs of every length between them.
  cuda_stream s;
  CAPTURE(type_name<T>());
  const extents shape{4096};
  const auto n = static_cast<std::size_t>(shape.size());
  const double wide = std::is_same<T, float>::value || std::is_same<T, double>::value ? 1e6 : 3e4;
  actzip_test::rng g(31);
  std::vector<std::vector<T>> inputs;
  {  // one spike a segment: run, value, value, run (under 64 bits a segment)
    std::vector<T> v(n, actzip_test::from_double<T>(0.0));
    for (std::size_t k = 0; k < 4; ++k) v[517 + 1024 * k] = actzip_test::from_double<T>(3.0);
    inputs.push_back(std::move(v));
  }
  {  // a smooth ramp with a wide jump every 8 elements
    std::vector<T> v(n);
    for (std::size_t i = 0; i < n; ++i)
      v[i] = actzip_test::from_double<T>(i % 8 == 0 ? g.uniform(-wide, wide) : 0.25 * static_cast<double>(i % 64));
    inputs.push_back(std::move(v));
  }
  {  // zero runs of 1 to 300 elements between wide values
    std::vector<T> v(n, actzip_test::from_double<T>(0.0));
    for (std::size_t i = 0; i < n; i += 1 + static_cast<std::size_t>(g.uniform(0, 300)))
      v[i] = actzip_test::from_double<T>(g.uniform(-wide, wide));
    inputs.push_back(std::move(v));
  }
  const params p = make_params(actzip::abs(0.5), false, codec::huffman);
  std::uint64_t refused = 0, variants_total = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    CAPTURE(k);
    const std::vector<std::byte> z = actzip::compress(exec::serial, inputs[k].data(), shape, p);
    REQUIRE(kinds_of(z).huffman == 1);  // the one chunk is a Huffman chunk of four segments
    check_against_host(s, inputs[k], shape, p);
    // Single-bit damage after the header and offset table (the code book, the
    // chunk's prologue, segment sizes and bits): every bit of the first stream, and
    // of the others every bit on a GPU, every 11th on the emulator; statuses and
    // outputs must equal the host's.
    const std::size_t from = header_bytes + chunk_offset_bytes;
    const std::size_t step = k == 0 || !on_emulator ? 1 : 11;
    std::vector<variant> variants;
    for (std::size_t bit = 8 * from; bit < 8 * z.size(); bit += step) {
      std::vector<std::byte> bad = z;
      bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
      variants.push_back(variant{std::move(bad), bit / 8, 1u << (bit % 8)});
    }
    refused += compare_variants<T>(s, variants, n, decode_options{false});
    variants_total += variants.size();
  }
  MESSAGE(std::string(type_name<T>()) << ": " << variants_total << " one-bit variants, " << refused
                                      << " refused by both decoders");
  CHECK(refused > 0);
  CHECK(refused < variants_total);  // some damage still decodes (to other values), alike
}

TEST_CASE("garbage bytes are not a stream on the device") {
  cuda_stream s;
  std::vector<std::byte> junk(4096);
  actzip_test::rng g(1);
  for (auto& b : junk) b = static_cast<std::byte>(g.next());
  junk[0] = std::byte{'X'};
  const dev_array<std::byte> d_junk = upload(junk, s);
  std::vector<float> back;
  CHECK(device_decompress(s, d_junk.get(), junk.size(), 1024, &back) == status::not_a_stream);
  // The magic followed by garbage: whatever the host says.
  junk[0] = std::byte{'A'};
  junk[1] = std::byte{'Z'};
  junk[2] = std::byte{'I'};
  junk[3] = std::byte{'P'};
  const dev_array<std::byte> d_magic = upload(junk, s);
  std::vector<float> host_out(1024);
  const status host = actzip::decompress(exec::serial, junk.data(), junk.size(), host_out.data(), host_out.size());
  CHECK(host != status::success);
  CHECK(device_decompress(s, d_magic.get(), junk.size(), 1024, &back) == host);
}

// ---- 6. argument errors ---------------------------------------------------------------

TEST_CASE("argument errors are returned synchronously and nothing is enqueued") {
  cuda_stream s;
  const auto e = exec::cuda.on(s);
  const extents shape{50, 70};
  const std::uint64_t count = shape.size();
  const params p{actzip::abs(1e-3)};
  const std::vector<float> input = actzip_test::smooth_field<float>(shape, 3);
  const dev_array<float> d_in = upload(input, s);
  const std::uint64_t capacity = max_compressed_bytes<float>(shape);
  const std::uint64_t workspace = workspace_bytes(exec::cuda, shape, p);   // exactly the bitplane codec's
  const std::uint64_t any_workspace = workspace_bytes(exec::cuda, shape);  // any codec's
  REQUIRE(any_workspace > workspace);
  dev_array<unsigned char> d_out(capacity + 8);
  dev_array<unsigned long long> d_workspace(any_workspace / 8 + 2);
  dev_array<std::uint64_t> d_size(1);
  const std::uint64_t sentinel = 0x1111111111111111ull;
  CHECK_CUDA(cudaMemsetAsync(d_size.get(), 0x11, sizeof(std::uint64_t), s));
  CHECK_CUDA(cudaStreamSynchronize(s));
  unsigned char* out = d_out.get();
  void* ws = d_workspace.get();

  SUBCASE("compress") {
    CHECK(compress(e, static_cast<const float*>(nullptr), shape, p, out, capacity, d_size.get(), ws, workspace) ==
          status::invalid_argument);
    CHECK(compress(e, d_in.get(), shape, p, nullptr, capacity, d_size.get(), ws, workspace) ==
          status::invalid_argument);
    CHECK(compress(e, d_in.get(), shape, p, out, capacity, nullptr, ws, workspace) == status::invalid_argument);
    CHECK(compress(e, d_in.get(), shape, p, out + 1, capacity, d_size.get(), ws, workspace) ==
          status::invalid_argument);
    CHECK(compress(e, d_in.get(), shape, p, out, capacity - 1, d_size.get(), ws, workspace) ==
          status::buffer_too_small);
    CHECK(compress(e, d_in.get(), shape, p, out, capacity, d_size.get(), ws, workspace - 1) ==
          status::buffer_too_small);
    CHECK(compress(e, d_in.get(), shape, p, out, capacity, d_size.get(), ws, 0) == status::buffer_too_small);
    CHECK(compress(e, d_in.get(), shape, p, out, capacity, d_size.get(), nullptr, workspace) != status::success);
    CHECK(compress(e, d_in.get(), shape, p, out, capacity, d_size.get(), static_cast<unsigned char*>(ws) + 4,
                   workspace) == status::invalid_argument);
    CHECK(compress(e, d_in.get(), extents{1, 2, 3, 4}, p, out, capacity, d_size.get(), ws, workspace) ==
          status::invalid_argument);
    CHECK(compress(e, d_in.get(), shape, params{actzip::abs(-1.0)}, out, capacity, d_size.get(), ws, workspace) ==
          status::invalid_argument);
    CHECK(compress(e, d_in.get(), shape, params{actzip::rel(0.0)}, out, capacity, d_size.get(), ws, workspace) ==
          status::invalid_argument);
    CHECK(compress(e, d_in.get(), shape, params{actzip::abs(std::nan(""))}, out, capacity, d_size.get(), ws,
                   workspace) == status::invalid_argument);
    params bad_codec = p;
    bad_codec.codec = static_cast<codec>(7);
    CHECK(compress(e, d_in.get(), shape, bad_codec, out, capacity, d_size.get(), ws, workspace) == status::unsupported);
    CHECK(compress_batch(e, static_cast<const compress_item<float>*>(nullptr), 3, ws, workspace) ==
          status::invalid_argument);
    // Huffman and automatic need the histogram and the code book: more than bitplane.
    for (const codec c : {codec::huffman, codec::automatic}) {
      const params coded = make_params(p.error_bound, false, c);
      const std::uint64_t coded_workspace = workspace_bytes(exec::cuda, shape, coded);
      CHECK(coded_workspace > workspace);
      CHECK(coded_workspace <= any_workspace);
      CHECK(compress(e, d_in.get(), shape, coded, out, capacity, d_size.get(), ws, workspace) ==
            status::buffer_too_small);
      CHECK(compress(e, d_in.get(), shape, coded, out, capacity, d_size.get(), ws, coded_workspace - 1) ==
            status::buffer_too_small);
      compress_item<float> items[2];
      for (compress_item<float>& item : items) {
        item.input = d_in.get();
        item.shape = shape;
        item.output = out;
        item.output_capacity = capacity;
        item.compressed_bytes = d_size.get();
      }
      items[0].p = p;
      items[1].p = coded;
      CHECK(workspace_bytes(exec::cuda, items, 2) == workspace + coded_workspace - sizeof(unsigned long long));
    }
    // None of these enqueued anything: the size word still holds its sentinel.
    CHECK(read_word(d_size.get(), s) == sentinel);
    CHECK(cudaGetLastError() == cudaSuccess);
    // And the same arguments with everything right do work.
    REQUIRE(compress(e, d_in.get(), shape, p, out, capacity, d_size.get(), ws, workspace) == status::success);
    CHECK(read_word(d_size.get(), s) != sentinel);
    for (const codec c : {codec::huffman, codec::automatic}) {
      const params coded = make_params(p.error_bound, false, c);
      CHECK_CUDA(cudaMemsetAsync(d_size.get(), 0x11, sizeof(std::uint64_t), s));
      REQUIRE(compress(e, d_in.get(), shape, coded, out, capacity, d_size.get(), ws,
                       workspace_bytes(exec::cuda, shape, coded)) == status::success);
      CHECK(read_word(d_size.get(), s) != sentinel);
    }
  }

  SUBCASE("decompress") {
    const std::vector<std::byte> z = actzip::compress(exec::serial, input.data(), shape, p);
    const dev_array<std::byte> d_z = upload(z, s);
    dev_array<float> d_back(count + 1);
    dev_array<status> d_status(1);
    dev_array<unsigned char> d_decode_ws(decode_workspace_bytes(exec::cuda, 1));
    CHECK_CUDA(cudaMemsetAsync(d_status.get(), 0x7f, sizeof(status), s));
    CHECK_CUDA(cudaStreamSynchronize(s));
    const status untouched = read_status(d_status.get(), s);
    float* misaligned = reinterpret_cast<float*>(reinterpret_cast<unsigned char*>(d_back.get()) + 1);
    CHECK(decompress(e, nullptr, z.size(), d_back.get(), count, d_status.get(), d_decode_ws.get(), d_decode_ws.bytes()) == status::invalid_argument);
    CHECK(decompress(e, d_z.get(), z.size(), d_back.get(), count, nullptr, d_decode_ws.get(), d_decode_ws.bytes()) == status::invalid_argument);
    CHECK(decompress(e, d_z.get(), z.size(), static_cast<float*>(nullptr), count, d_status.get(), d_decode_ws.get(), d_decode_ws.bytes()) ==
          status::invalid_argument);
    CHECK(decompress(e, d_z.get() + 1, z.size() - 1, d_back.get(), count, d_status.get(), d_decode_ws.get(), d_decode_ws.bytes()) ==
          status::invalid_argument);
    CHECK(decompress(e, d_z.get(), z.size(), misaligned, count, d_status.get(), d_decode_ws.get(), d_decode_ws.bytes()) == status::invalid_argument);
    CHECK(decompress_batch(e, static_cast<const decompress_item<float>*>(nullptr), 2, d_decode_ws.get(), d_decode_ws.bytes()) == status::invalid_argument);
    CHECK(decompress_batch(e, static_cast<const decompress_item<float>*>(nullptr), 0, d_decode_ws.get(), d_decode_ws.bytes()) == status::success);
    // The decoding workspace (checksum and code book) is needed with and without verification.
    for (const bool verify : {true, false}) {
      const decode_options options{verify};
      CHECK(decompress(e, d_z.get(), z.size(), d_back.get(), count, d_status.get(), nullptr, d_decode_ws.bytes(),
                       options) == status::buffer_too_small);
      CHECK(decompress(e, d_z.get(), z.size(), d_back.get(), count, d_status.get(), d_decode_ws.get(),
                       d_decode_ws.bytes() - 1, options) == status::buffer_too_small);
      CHECK(decompress(e, d_z.get(), z.size(), d_back.get(), count, d_status.get(), d_decode_ws.get(), 0, options) ==
            status::buffer_too_small);
    }
    CHECK(decode_workspace_bytes(exec::cuda, 3) == 3 * decode_workspace_bytes(exec::cuda, 1));
    CHECK(static_cast<int>(untouched) == 0x7f7f7f7f);
    CHECK(read_status(d_status.get(), s) == untouched);  // nothing was enqueued
    CHECK(cudaGetLastError() == cudaSuccess);
    std::vector<float> back;
    CHECK(device_decompress(s, d_z.get(), z.size(), count, &back) == status::success);
  }

  SUBCASE("empty tensors need no input or output pointers") {
    const extents empty{0, 9};
    const std::uint64_t empty_capacity = max_compressed_bytes<float>(empty);
    for (const codec c : all_codecs) {
      CAPTURE(codec_name(c));
      const params pc = make_params(p.error_bound, false, c);
      const std::uint64_t empty_workspace = workspace_bytes(exec::cuda, empty, pc);
      REQUIRE(compress(e, static_cast<const float*>(nullptr), empty, pc, out, empty_capacity, d_size.get(), ws,
                       empty_workspace) == status::success);
      const std::uint64_t size = read_word(d_size.get(), s);
      const std::vector<std::byte> z = download_bytes(out, static_cast<std::size_t>(size), s);
      CHECK(z == actzip::compress(exec::serial, static_cast<const float*>(nullptr), empty, pc));
      dev_array<status> d_status(1);
      dev_array<unsigned char> d_decode_ws(decode_workspace_bytes(exec::cuda, 1));
      REQUIRE(decompress(e, out, size, static_cast<float*>(nullptr), 0, d_status.get(), d_decode_ws.get(),
                         d_decode_ws.bytes()) == status::success);
      CHECK(read_status(d_status.get(), s) == status::success);
    }
  }
}

TEST_CASE("workspace sizes") {
  const extents big{std::uint64_t{1} << 24};  // 16 Mi floats: 64 MiB
  const std::uint64_t input_bytes = big.size() * sizeof(float);
  const std::uint64_t w = workspace_bytes(exec::cuda, big);
  MESSAGE("workspace for 16 Mi floats: " << w << " bytes");
  CHECK(w > 0);
  CHECK(w * 100 <= input_bytes);
  CHECK(workspace_bytes(exec::cuda, extents{256, 256, 256}) * 100 <= input_bytes);
  CHECK(workspace_bytes(exec::cuda, extents{4096, 4096}) * 100 <= input_bytes);
  CHECK(workspace_bytes(exec::cuda, extents{0}) > 0);  // an empty tensor still has a size word
  CHECK(workspace_bytes(exec::cuda, extents{1, 2, 3, 4}) == 0);

  // Per codec, as cuda.cuh and docs/CUDA.md state them: bitplane 40 bytes plus 8 a
  // chunk; huffman and automatic 20064 bytes more; decoding 11392 bytes a stream.
  const params bitplane = make_params(actzip::abs(1e-3), false, codec::bitplane);
  const params huffman = make_params(actzip::abs(1e-3), false, codec::huffman);
  const params automatic = make_params(actzip::abs(1e-3), false, codec::automatic);
  const extents small{10};
  CHECK(workspace_bytes(exec::cuda, small, bitplane) == 48);
  CHECK(workspace_bytes(exec::cuda, small, huffman) == 48 + 20064);
  CHECK(workspace_bytes(exec::cuda, small, automatic) == 48 + 20064);
  CHECK(workspace_bytes(exec::cuda, small) == workspace_bytes(exec::cuda, small, huffman));
  CHECK(workspace_bytes(exec::cuda, big, bitplane) == 40 + 8 * 4096);
  CHECK(workspace_bytes(exec::cuda, extents{1, 2, 3, 4}, huffman) == 0);
  CHECK(decode_workspace_bytes(exec::cuda) == 11392);
  CHECK(decode_workspace_bytes(exec::cuda, 5) == 5 * 11392);
  // The compression workspace of any tensor holds the decoding workspace of one stream.
  CHECK(workspace_bytes(exec::cuda, extents{0}) >= decode_workspace_bytes(exec::cuda));
  // Targets: bitplane <= 1 % of the input from 1 MiB of floats on, Huffman <= 12.5 %
  // from 40368 floats (158 KiB) on.
  for (const std::uint64_t n : {std::uint64_t{1} << 18, std::uint64_t{1} << 22, std::uint64_t{1} << 24}) {
    CHECK(workspace_bytes(exec::cuda, extents{n}, bitplane) * 100 <= n * sizeof(float));
    CHECK(workspace_bytes(exec::cuda, extents{n}, huffman) * 8 <= n * sizeof(float));
  }
  CHECK(workspace_bytes(exec::cuda, extents{40368}, huffman) * 8 <= 40368 * sizeof(float));
  CHECK(workspace_bytes(exec::cuda, extents{40367}, huffman) * 8 > 40367 * sizeof(float));
  CHECK(workspace_bytes(exec::cuda, extents{210, 200}, automatic) * 8 <= 210 * 200 * sizeof(float));
  CHECK(workspace_bytes(exec::cuda, extents{35, 35, 35}, automatic) * 8 <= 35 * 35 * 35 * sizeof(float));
}

// ---- 7. convenience layer -------------------------------------------------------------

namespace {

//! The convenience layer with codec `c`: streams, decodes and errors as on the host.
void convenience_layer(codec c) {
  CAPTURE(codec_name(c));
  cuda_stream s;
  const auto e = exec::cuda.on(s);
  const extents shape{33, 64, 65};
  const std::uint64_t count = shape.size();
  const params p = make_params(actzip::rel(1e-3), false, c);
  std::vector<float> input = actzip_test::smooth_field<float>(shape, 21);
  input[5] = std::nanf("");
  const host_reference<float> ref = host_round_trip(input, shape, p);
  const dev_array<float> d_in = upload(input, s);

  const device_buffer z = actzip::compress(e, d_in.get(), shape, p);
  REQUIRE(z.size() == ref.stream.size());
  CHECK(z.stream() == static_cast<cudaStream_t>(s));
  const std::vector<std::byte> z_host = download_bytes(z.data(), static_cast<std::size_t>(z.size()), s);
  REQUIRE_MESSAGE(z_host == ref.stream, describe_difference(z_host, ref.stream));

  const header h = actzip::inspect(e, z.data(), z.size());
  CHECK(h.element_count == ref.h.element_count);
  CHECK(h.shape == shape);
  CHECK(h.total_bytes == ref.h.total_bytes);
  CHECK(h.absolute_bound == ref.h.absolute_bound);
  CHECK(h.value_min == ref.h.value_min);
  CHECK(h.value_max == ref.h.value_max);

  const device_buffer back = actzip::decompress<float>(e, z.data(), z.size());
  REQUIRE(back.size() == count * sizeof(float));
  const std::vector<float> back_host = download(back.as<float>(), static_cast<std::size_t>(count), s);
  CHECK_MESSAGE(same_bits(back_host, ref.back), describe_difference(back_host, ref.back));
  check_reconstruction(input, back_host, ref.h, p);

  {  // the synchronous decompress into a caller buffer (the CUDA overload, not the host core one)
    dev_array<float> d_back(count);
    static_assert(std::is_void<decltype(actzip::decompress(e, z.data(), z.size(), d_back.get(), count))>::value,
                  "the five-argument decompress with exec::cuda is the throwing convenience call");
    actzip::decompress(e, z.data(), z.size(), d_back.get(), count);
    const std::vector<float> into = download(d_back.get(), static_cast<std::size_t>(count), s);
    CHECK(same_bits(into, ref.back));
  }

  {  // asynchronous: nothing waits until the end
    const std::uint64_t capacity = max_compressed_bytes<float>(shape);
    dev_array<unsigned char> d_stream(capacity);
    dev_array<std::uint64_t> d_size(1);
    dev_array<float> d_back(count);
    dev_array<status> d_status(1);
    CHECK_CUDA(cudaMemsetAsync(d_stream.get(), stream_fill, capacity, s));
    CHECK_CUDA(cudaMemsetAsync(d_status.get(), 0x7f, sizeof(status), s));
    compress_async(e, d_in.get(), shape, p, d_stream.get(), capacity, d_size.get());
    decompress_async(e, d_stream.get(), capacity, d_back.get(), count, d_status.get());
    const std::uint64_t size = read_word(d_size.get(), s);
    const std::vector<std::byte> streamed = download_bytes(d_stream.get(), static_cast<std::size_t>(size), s);
    CHECK_MESSAGE(streamed == ref.stream, describe_difference(streamed, ref.stream));
    CHECK(read_status(d_status.get(), s) == status::success);
    CHECK(same_bits(download(d_back.get(), static_cast<std::size_t>(count), s), ref.back));
    CHECK(thrown_status([&] { compress_async(e, d_in.get(), shape, p, d_stream.get(), capacity - 1, d_size.get()); }) ==
          status::buffer_too_small);
    CHECK(thrown_status([&] { decompress_async(e, d_stream.get(), capacity, d_back.get(), count, nullptr); }) ==
          status::invalid_argument);
  }

  {  // errors thrown as actzip::error
    // A payload byte (from the middle of the payload on) whose corruption the host
    // decoder reports as corrupt_stream, with the checksum sealed again over the
    // damaged bytes (the header and the checksum stay valid, so the error comes from
    // the device decode).
    std::vector<std::byte> bad;
    std::vector<float> scratch(static_cast<std::size_t>(count));
    const std::size_t payload = header_bytes + chunk_offset_bytes * ref.h.chunk_count;
    for (std::size_t i = payload + (ref.stream.size() - payload) / 2; i < ref.stream.size() && bad.empty(); ++i) {
      std::vector<std::byte> candidate = ref.stream;
      candidate[i] ^= std::byte{0xff};
      store_le64(reinterpret_cast<unsigned char*>(candidate.data()) + checksum_field_offset,
                 detail::stream_checksum(exec::serial, candidate.data(), ref.h.total_bytes));
      header ch;
      if (actzip::inspect(candidate.data(), candidate.size(), &ch) == status::success &&
          actzip::decompress(exec::serial, candidate.data(), candidate.size(), scratch.data(), count) ==
              status::corrupt_stream)
        bad = std::move(candidate);
    }
    REQUIRE_FALSE(bad.empty());
    const dev_array<std::byte> d_bad = upload(bad, s);
    dev_array<float> d_back(count);
    CHECK(thrown_status([&] { actzip::decompress(e, d_bad.get(), bad.size(), d_back.get(), count); }) ==
          status::corrupt_stream);
    CHECK(thrown_status([&] { (void)actzip::decompress<float>(e, d_bad.get(), bad.size()); }) ==
          status::corrupt_stream);
    CHECK(thrown_status([&] { (void)actzip::decompress<double>(e, z.data(), z.size()); }) == status::dtype_mismatch);
    CHECK(thrown_status([&] { actzip::decompress(e, z.data(), z.size(), d_back.get(), count - 1); }) ==
          status::buffer_too_small);
    CHECK(thrown_status([&] { (void)actzip::inspect(e, d_in.get(), 4096); }) == status::not_a_stream);
    CHECK(thrown_status([&] { (void)actzip::compress(e, d_in.get(), extents{1, 2, 3, 4}, p); }) ==
          status::invalid_argument);
  }

  {  // a CUDA failure that is not sticky: an allocation far beyond the device
    std::string what;
    status code = status::success;
    try {
      device_buffer huge(std::uint64_t{1} << 50, s);
    } catch (const actzip::error& err) {
      code = err.code();
      what = err.what();
    }
    CHECK(code == status::cuda_error);
    CHECK(last_cuda_error() != cudaSuccess);
    CHECK_MESSAGE(what.find("cudaError") != std::string::npos, what);
    (void)cudaGetLastError();  // clear the (non-sticky) error
    // The convenience compress allocates max_compressed_bytes: 4 TiB here.
    CHECK(thrown_status([&] { (void)actzip::compress(e, d_in.get(), extents{std::uint64_t{1} << 40}, p); }) ==
          status::cuda_error);
    (void)cudaGetLastError();
    // The device still works.
    const device_buffer again = actzip::compress(e, d_in.get(), shape, p);
    CHECK(download_bytes(again.data(), static_cast<std::size_t>(again.size()), s) == ref.stream);
  }

  {  // device_buffer is movable and frees in stream order
    device_buffer a(256, s);
    void* where = a.data();
    device_buffer b(std::move(a));
    CHECK(b.data() == where);
    CHECK(a.data() == nullptr);
    CHECK(b.size() == 256);
    b = device_buffer();
    CHECK(b.data() == nullptr);
    CHECK_CUDA(cudaStreamSynchronize(s));
  }
}

}  // namespace

TEST_CASE("the convenience layer on the device") {
  for (const codec c : all_codecs) convenience_layer(c);
}

// ---- 8. several streams at once ------------------------------------------------------

namespace {

//! One tensor's round trip enqueued on a stream and verified after it finishes.
template <class T>
struct pending_round_trip {
  extents shape;
  params p;
  std::vector<T> input;
  host_reference<T> ref;
  std::uint64_t capacity = 0;
  dev_array<T> d_in, d_back;
  dev_array<unsigned char> d_stream, d_workspace;
  dev_array<std::uint64_t> d_size;
  dev_array<status> d_status;
  dev_array<unsigned char> d_decode_ws;

  pending_round_trip(const extents& s_, const params& p_, input_kind kind, std::uint64_t seed) : shape(s_), p(p_) {
    input = make_input<T>(kind, shape, eb_hint(p), seed);
    ref = host_round_trip(input, shape, p);
    capacity = max_compressed_bytes<T>(shape);
    d_in = dev_array<T>(input.size());
    d_back = dev_array<T>(input.size());
    d_stream = dev_array<unsigned char>(capacity);
    d_workspace = dev_array<unsigned char>(workspace_bytes(exec::cuda, shape, p));
    d_size = dev_array<std::uint64_t>(1);
    d_status = dev_array<status>(1);
    d_decode_ws = dev_array<unsigned char>(decode_workspace_bytes(exec::cuda, 1));
  }

  //! Upload, compress, decompress: all queued on `s`, nothing waits.
  void enqueue(cudaStream_t s) {
    CHECK_CUDA(cudaMemcpyAsync(d_in.get(), input.data(), d_in.bytes(), cudaMemcpyHostToDevice, s));
    CHECK_CUDA(cudaMemsetAsync(d_stream.get(), stream_fill, capacity, s));
    REQUIRE(actzip::compress(exec::cuda.on(s), d_in.get(), shape, p, d_stream.get(), capacity, d_size.get(),
                             d_workspace.get(), d_workspace.size()) == status::success);
    REQUIRE(actzip::decompress(exec::cuda.on(s), d_stream.get(), capacity, d_back.get(), input.size(),
                               d_status.get(), d_decode_ws.get(), d_decode_ws.bytes()) == status::success);
  }

  void verify(cudaStream_t s) {
    compared().streams += 1;
    compared().elements += input.size();
    CAPTURE(type_name<T>());
    const std::uint64_t size = read_word(d_size.get(), s);
    REQUIRE(size <= capacity);
    const std::vector<std::byte> z = download_bytes(d_stream.get(), static_cast<std::size_t>(size), s);
    CHECK_MESSAGE(z == ref.stream, describe_difference(z, ref.stream));
    CHECK(read_status(d_status.get(), s) == status::success);
    const std::vector<T> back = download(d_back.get(), input.size(), s);
    CHECK_MESSAGE(same_bits(back, ref.back), describe_difference(back, ref.back));
  }
};

}  // namespace

TEST_CASE("four streams compressing at once give the host's streams, with every codec") {
  cuda_stream streams[4];
  // On the emulator each first extent is divided by 16.
  pending_round_trip<float> a(scaled(extents{1u << 22}, 16), params{actzip::rel(1e-3)}, input_kind::smooth, 31);
  pending_round_trip<double> b(scaled(extents{1000, 2001}, 16), make_params(actzip::abs(1e-4), true), input_kind::relu,
                               32);
  pending_round_trip<actzip::half> c(scaled(extents{100, 150, 170}, 16), params{actzip::rel(1e-2)},
                                     input_kind::adversarial, 33);
  pending_round_trip<actzip::bfloat16> d(scaled(extents{3000, 1111}, 16), params{actzip::abs(1e-2)}, input_kind::noise,
                                         34);
  pending_round_trip<float> a2(scaled(extents{77, 300, 180}, 16), make_params(actzip::rel(1e-5), true),
                               input_kind::adversarial, 35);
  pending_round_trip<float> on_default(scaled(extents{123457}, 16), params{actzip::abs(1e-3)}, input_kind::smooth, 36);
  pending_round_trip<float> h1(scaled(extents{1u << 21}, 16), make_params(actzip::rel(1e-3), false, codec::huffman),
                               input_kind::smooth, 37);
  pending_round_trip<double> h2(scaled(extents{700, 999}, 16), make_params(actzip::abs(1e-4), true, codec::automatic),
                                input_kind::relu, 38);
  pending_round_trip<actzip::half> h3(scaled(extents{90, 150, 170}, 16),
                                      make_params(actzip::rel(1e-2), false, codec::huffman), input_kind::adversarial, 39);
  pending_round_trip<actzip::bfloat16> h4(scaled(extents{2000, 1111}, 16),
                                          make_params(actzip::abs(1e-2), false, codec::automatic), input_kind::noise, 40);
  CHECK_CUDA(cudaDeviceSynchronize());
  a.enqueue(streams[0]);
  b.enqueue(streams[1]);
  c.enqueue(streams[2]);
  d.enqueue(streams[3]);
  a2.enqueue(streams[0]);
  h1.enqueue(streams[1]);
  h2.enqueue(streams[2]);
  h3.enqueue(streams[3]);
  h4.enqueue(streams[0]);
  on_default.enqueue(nullptr);  // exec::cuda.on(nullptr): the default stream
  a.verify(streams[0]);
  b.verify(streams[1]);
  c.verify(streams[2]);
  d.verify(streams[3]);
  a2.verify(streams[0]);
  h1.verify(streams[1]);
  h2.verify(streams[2]);
  h3.verify(streams[3]);
  h4.verify(streams[0]);
  on_default.verify(nullptr);
}

// ---- 9. the look-back's walk and the code book's shared memory -------------------------

namespace {

//! One warp runs the look-back for chunk `chunk` over preset predecessor states;
//! every lane writes the exclusive prefix it got to prefixes[lane].
__global__ void lookback_walk(unsigned long long* states, std::uint64_t chunk, unsigned long long size,
                              unsigned long long* prefixes) {
  prefixes[threadIdx.x] = detail::gpu::lookback_exclusive_prefix(states, chunk, size);
}

}  // namespace

TEST_CASE("the look-back walks back over several windows of predecessors") {
  // With blocks in ticket order every predecessor has published its inclusive
  // prefix, so the walk never leaves its first window; here the states are preset:
  // chunk 0 inclusive, the others only their own sizes (aggregates), and optionally
  // one inclusive prefix further back.
  using detail::gpu::lookback_aggregate;
  using detail::gpu::lookback_inclusive;
  cuda_stream s;
  actzip_test::rng g(77);
  for (const std::uint64_t chunk : {std::uint64_t{1}, std::uint64_t{31}, std::uint64_t{32}, std::uint64_t{33},
                                    std::uint64_t{64}, std::uint64_t{65}, std::uint64_t{100}, std::uint64_t{300}}) {
    for (const std::uint64_t inclusive_at : {std::uint64_t{0}, chunk / 3, chunk > 40 ? chunk - 40 : 0}) {
      CAPTURE(chunk);
      CAPTURE(inclusive_at);
      std::vector<unsigned long long> states(chunk + 1, 0);
      std::vector<unsigned long long> sizes(chunk);
      unsigned long long total = 0;
      for (std::uint64_t c = 0; c < chunk; ++c) {
        sizes[c] = 4 * (g.next() % 20000);
        total += sizes[c];
        states[c] = lookback_aggregate | sizes[c];
        if (c == inclusive_at) states[c] = lookback_inclusive | total;
      }
      states[0] = lookback_inclusive | sizes[0];
      if (inclusive_at != 0) {  // the prefix stored at inclusive_at covers chunks 0..inclusive_at
        unsigned long long upto = 0;
        for (std::uint64_t c = 0; c <= inclusive_at; ++c) upto += sizes[c];
        states[inclusive_at] = lookback_inclusive | upto;
      }
      const unsigned long long own = 1234;
      dev_array<unsigned long long> d_states = upload(states, s);
      dev_array<unsigned long long> d_prefixes(32);
      ACTZIP_LAUNCH(lookback_walk, 1, 32, s, d_states.get(), chunk, own, d_prefixes.get());
      CHECK_CUDA(cudaGetLastError());
      const std::vector<unsigned long long> prefixes = download(d_prefixes.get(), 32, s);
      const std::vector<unsigned long long> after = download(d_states.get(), states.size(), s);
      for (unsigned lane = 0; lane < 32; ++lane) REQUIRE(prefixes[lane] == total);
      CHECK(after[chunk] == (lookback_inclusive | (total + own)));
    }
  }
}

namespace {

//! Each of 256 threads stores 16 words with store_shared_16 at 16 * tid, then loads
//! the 16 words of thread (tid + 37) % 256 with load_shared_16; the shared array as
//! stored goes to layout[], what each thread loaded to loaded[], and each thread's
//! quad_order::turn() to turns[].
__global__ void quad_order_roundtrip(std::uint32_t* layout, std::uint32_t* loaded, unsigned* turns) {
  alignas(16) __shared__ std::uint32_t words[256 * 16];
  const unsigned tid = threadIdx.x;
  std::uint32_t w[16];
  for (unsigned j = 0; j < 16; ++j) w[j] = (tid * 16 + j) * 2654435761u;
  detail::gpu::store_shared_16(words + 16 * tid, w);
  __syncthreads();
  for (unsigned j = 0; j < 16; ++j) layout[16 * tid + j] = words[16 * tid + j];
  std::uint32_t r[16];
  detail::gpu::load_shared_16(words + 16 * ((tid + 37) % 256), r);
  for (unsigned j = 0; j < 16; ++j) loaded[16 * tid + j] = r[j];
  turns[tid] = detail::gpu::quad_order::turn();
}

}  // namespace

TEST_CASE("16 words a thread go through shared memory in place, in an order free of bank conflicts") {
  cuda_stream s;
  dev_array<std::uint32_t> d_layout(256 * 16), d_loaded(256 * 16);
  dev_array<unsigned> d_turns(256);
  ACTZIP_LAUNCH(quad_order_roundtrip, 1, 256, s, d_layout.get(), d_loaded.get(), d_turns.get());
  CHECK_CUDA(cudaGetLastError());
  const std::vector<std::uint32_t> layout = download(d_layout.get(), 256 * 16, s);
  const std::vector<std::uint32_t> loaded = download(d_loaded.get(), 256 * 16, s);
  const std::vector<unsigned> turns = download(d_turns.get(), 256, s);
  for (unsigned i = 0; i < 256 * 16; ++i) REQUIRE(layout[i] == i * 2654435761u);
  for (unsigned t = 0; t < 256; ++t)
    for (unsigned j = 0; j < 16; ++j) REQUIRE(loaded[16 * t + j] == (16 * ((t + 37) % 256) + j) * 2654435761u);
  // A warp's 16-byte accesses are served eight threads at a time: in every step k,
  // the quads those eight threads touch (64 bytes apart) must fall on eight
  // different groups of four banks.
  for (unsigned quarter = 0; quarter < 256 / 8; ++quarter)
    for (unsigned k = 0; k < 4; ++k) {
      unsigned groups = 0;
      for (unsigned t = 8 * quarter; t < 8 * quarter + 8; ++t) {
        const unsigned word = 16 * t + 4 * ((k + turns[t]) % 4);
        groups |= 1u << (word % 32 / 4);
      }
      CHECK(groups == 0xffu);
    }
}

namespace {

//! The block copies bytes [from, from + size) of `in` into shared memory with
//! copy_to_shared_block (at the same offset modulo 16, as the decoder stages a
//! chunk) and writes back what arrived, and the byte after it, to out[0, size + 1).
__global__ void staged_copy(const unsigned char* in, std::uint32_t from, std::uint32_t size, unsigned char* out) {
  alignas(16) __shared__ unsigned char stage[4096 + 32];
  const unsigned tid = threadIdx.x;
  unsigned char* to = stage + reinterpret_cast<std::uintptr_t>(in + from) % 16;
  for (unsigned k = tid; k < sizeof(stage); k += 256) stage[k] = 0xee;
  __syncthreads();
  detail::gpu::copy_to_shared_block(to, in + from, size);
  __syncthreads();
  for (std::uint32_t k = tid; k <= size; k += 256) out[k] = to[k];
}

}  // namespace

TEST_CASE("a chunk is copied into shared memory whole, from any 4-byte aligned start, of any size") {
  cuda_stream s;
  std::vector<unsigned char> bytes(4096 + 64);
  for (std::size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<unsigned char>(k * 7 + 3);
  dev_array<unsigned char> d_in = upload(bytes, s);
  dev_array<unsigned char> d_out(4096 + 1);
  for (const std::uint32_t from : {0u, 4u, 8u, 12u, 20u}) {
    for (const std::uint32_t size : {0u, 1u, 3u, 4u, 5u, 11u, 12u, 15u, 16u, 17u, 28u, 31u, 32u, 35u, 64u, 1000u, 4093u,
                                     4096u - from % 16}) {
      CAPTURE(from);
      CAPTURE(size);
      ACTZIP_LAUNCH(staged_copy, 1, 256, s, d_in.get(), from, size, d_out.get());
      CHECK_CUDA(cudaGetLastError());
      const std::vector<unsigned char> out = download(d_out.get(), size + 1, s);
      for (std::uint32_t k = 0; k < size; ++k) REQUIRE(out[k] == bytes[from + k]);
      CHECK(out[size] == 0xee);  // nothing past the end
    }
  }
}

TEST_CASE_TEMPLATE("an empty code book leaves no stale shared memory in the workspace", T, ACTZIP_ELEMENT_TYPES) {
  // The code book is built in shared memory and copied whole to the workspace. A GPU
  // does not clear shared memory between launches, so an empty code book (an
  // all-zero tensor) must still define every byte it copies out: compress a tensor
  // with a full code book first, then the zeros, and read the workspace.
  cuda_stream s;
  const extents shape{5000};
  const params p = make_params(actzip::abs(1e-3), false, codec::huffman);
  const std::vector<T> noise = make_input<T>(input_kind::noise, shape, 1e-3, 91);
  const std::vector<T> zeros(static_cast<std::size_t>(shape.size()), actzip_test::from_double<T>(0.0));
  const std::uint64_t capacity = max_compressed_bytes<T>(shape);
  const std::uint64_t workspace = workspace_bytes(exec::cuda, shape, p);
  dev_array<unsigned char> d_stream(capacity), d_workspace(workspace);
  dev_array<std::uint64_t> d_size(1);
  for (const std::vector<T>* input : {&noise, &zeros}) {
    const dev_array<T> d_in = upload(*input, s);
    CHECK_CUDA(cudaMemsetAsync(d_workspace.get(), 0xC3, workspace, s));
    REQUIRE(actzip::compress(exec::cuda.on(s), d_in.get(), shape, p, d_stream.get(), capacity, d_size.get(),
                             d_workspace.get(), workspace) == status::success);
    const std::vector<std::byte> z = download_bytes(d_stream.get(), static_cast<std::size_t>(read_word(d_size.get(), s)), s);
    REQUIRE(z == actzip::compress(exec::serial, input->data(), shape, p));
  }
  // The workspace: the launch's ticket counter, the tensor's look-back state, then
  // its histogram and code book.
  const std::uint64_t chunks = make_chunk_geometry(shape).count;
  const std::size_t at = sizeof(unsigned long long) + detail::gpu::lookback_workspace_bytes(chunks);
  REQUIRE(at + sizeof(detail::gpu::huffman_compress_slot) <= workspace);
  const std::vector<std::byte> bytes = download_bytes(d_workspace.get(), static_cast<std::size_t>(workspace), s);
  std::vector<detail::gpu::huffman_compress_slot> slot(1);
  std::memcpy(slot.data(), bytes.data() + at, sizeof(detail::gpu::huffman_compress_slot));
  const huffman_code& code = slot[0].code;
  CHECK(code.stored_lengths == 0);
  std::size_t stale = 0;
  for (unsigned k = 0; k < huffman_symbol_count; ++k) stale += code.length[k] != 0 || code.word[k] != 0;
  for (unsigned i = 0; i < huffman_table_size; ++i) stale += code.table[i] != 0;
  CHECK_MESSAGE(stale == 0, stale << " code book entries left from an earlier launch");
}

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    // Skipped, but never silently: a driver older than the toolkit lands here too.
    if (e != cudaSuccess)
      std::printf("no usable CUDA device (cudaGetDeviceCount: %s, %s): skipped\n", cudaGetErrorName(e),
                  cudaGetErrorString(e));
    else
      std::printf("no CUDA device: skipped\n");
    return 77;
  }
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  const int result = context.run();
  std::printf("compared with the host: %llu device streams (%llu elements), %llu damaged streams\n",
              static_cast<unsigned long long>(compared().streams), static_cast<unsigned long long>(compared().elements),
              static_cast<unsigned long long>(compared().variants));
#if ACTZIP_TEST_ON_EMULATOR
  std::printf("%s\n", simt::summary().c_str());
#endif
  return result;
}
