// SPDX-License-Identifier: Apache-2.0
//
// Writes the seed corpus of the fuzz targets (fuzz/corpus/ in the repository):
// small valid streams of every element type and rank for inspect and decompress
// (empty, raw, encoded and all-zero chunks, NaN, ±Inf, -0, denormals, both bound
// modes, preserve_sign), and valid roundtrip inputs (roundtrip_input.hpp). The
// output is deterministic.
//   actzip-fuzz-make-corpus <dir>     # writes <dir>/inspect, <dir>/decompress, <dir>/roundtrip
#include "roundtrip_input.hpp"
#include "test_support.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace actzip;

namespace {

void write_file(const fs::path& path, const void* data, std::size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.string().c_str());
    std::exit(1);
  }
}

template <class T>
const char* type_name() {
  return to_string(dtype_traits<T>::code);
}

template <class T>
unsigned type_index() {
  switch (dtype_traits<T>::code) {
    case dtype::float32:
      return 0;
    case dtype::float64:
      return 1;
    case dtype::float16:
      return 2;
    case dtype::bfloat16:
      return 3;
  }
  return 0;
}

//! Puts NaN, ±Inf, -0, the smallest denormal and a random bit pattern near the start.
template <class T>
void add_specials(std::vector<T>& v, actzip_test::rng& g) {
  using B = typename dtype_traits<T>::bits_type;
  const std::size_t n = v.size();
  if (n < 8) return;
  v[1] = actzip_test::from_double<T>(std::numeric_limits<double>::quiet_NaN());
  v[2] = actzip_test::from_double<T>(std::numeric_limits<double>::infinity());
  v[3] = actzip_test::from_double<T>(-std::numeric_limits<double>::infinity());
  v[4] = actzip_test::from_double<T>(-0.0);
  v[5] = bit_cast<T>(static_cast<B>(1));  // smallest positive denormal
  v[6] = actzip_test::bit_cast_random<T>(g);
  v[n - 1] = bit_cast<T>(static_cast<B>(static_cast<B>(~B{0}) >> 1));  // a NaN with a full payload
}

template <class T>
std::vector<std::uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<std::uint8_t> out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

//! Streams for the inspect and decompress corpora.
template <class T>
void write_streams(const fs::path& dir_inspect, const fs::path& dir_decompress) {
  actzip_test::rng g(1000 + type_index<T>());
  auto emit = [&](const std::string& name, const std::vector<T>& v, const extents& shape, bound b, bool sign) {
    for (const codec kind : {codec::bitplane, codec::huffman, codec::automatic}) {
      params p{b};
      p.preserve_sign = sign;
      p.codec = kind;
      const std::vector<std::byte> z = compress(exec::serial, v.data(), shape, p);
      const std::string file = std::string(type_name<T>()) + "-" + name +
                               (kind == codec::huffman ? "-huffman" : kind == codec::automatic ? "-automatic" : "");
      write_file(dir_decompress / file, z.data(), z.size());
      write_file(dir_inspect / file, z.data(), z.size());
    }
  };
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{300}, 1);
    add_specials(v, g);
    emit("r1-300-rel", v, extents{300}, actzip::rel(1e-3), false);
  }
  {
    std::vector<T> v(4200, actzip_test::from_double<T>(0.0));  // an empty chunk, then an encoded one
    v[4100] = actzip_test::from_double<T>(1.0);
    v[4101] = actzip_test::from_double<T>(-0.5);
    emit("r1-4200-zeros", v, extents{4200}, actzip::abs(1e-3), false);
  }
  {
    std::vector<T> v(70);
    for (auto& x : v) x = actzip_test::bit_cast_random<T>(g);  // a raw chunk
    emit("r1-70-raw", v, extents{70}, actzip::abs(1e-20), false);
  }
  emit("r1-0-empty", std::vector<T>{}, extents{0}, actzip::abs(1e-3), false);
  {
    std::vector<T> v = actzip_test::relu_field<T>(600, 2);
    emit("r2-20x30-sign", v, extents{20, 30}, actzip::abs(1e-2), true);
  }
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{65, 3}, 3);  // two chunks
    add_specials(v, g);
    emit("r2-65x3-rel", v, extents{65, 3}, actzip::rel(1e-2), false);
  }
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{1, 1}, 4);
    emit("r2-1x1-zero-bound", v, extents{1, 1}, actzip::abs(0.0), false);
  }
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{5, 20, 9}, 5, 1.0);
    for (std::size_t i = 0; i < v.size(); i += 5) v[i] = actzip_test::from_double<T>(0.0);
    emit("r3-5x20x9-sign", v, extents{5, 20, 9}, actzip::abs(1e-2), true);
  }
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{17, 17, 2}, 6);  // four chunks
    add_specials(v, g);
    emit("r3-17x17x2-rel", v, extents{17, 17, 2}, actzip::rel(1e-3), false);
  }
  emit("r3-3x0x4-empty", std::vector<T>{}, extents{3, 0, 4}, actzip::rel(1e-2), false);
}

//! Inputs for the roundtrip corpus.
template <class T>
void write_roundtrip_inputs(const fs::path& dir) {
  actzip_test::rng g(2000 + type_index<T>());
  const unsigned ti = type_index<T>();
  auto emit = [&](const std::string& name, unsigned rank, std::vector<std::uint64_t> dims, bool relative, bool sign,
                  int threads, double b, bool raw_bound, const std::vector<std::uint8_t>& elements) {
    dims.resize(3, 1);
    const std::vector<std::uint8_t> in =
        actzip_fuzz::encode_case(ti, rank, dims.data(), relative, sign, threads, b, raw_bound, elements);
    write_file(dir / (std::string(type_name<T>()) + "-" + name), in.data(), in.size());
  };
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{200}, 11);
    add_specials(v, g);
    emit("r1-200-rel", 1, {200}, true, false, 2, 1e-3, false, bytes_of(v));
  }
  {
    std::vector<T> v = actzip_test::relu_field<T>(12 * 17, 12);
    emit("r2-12x17-sign", 2, {12, 17}, false, true, 3, 1e-2, false, bytes_of(v));
  }
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{5, 6, 7}, 13);
    add_specials(v, g);
    emit("r3-5x6x7-rel", 3, {5, 6, 7}, true, false, 4, 1e-2, false, bytes_of(v));
  }
  {
    std::vector<T> v(70);
    for (auto& x : v) x = actzip_test::bit_cast_random<T>(g);
    emit("r1-70-random-raw-bound", 1, {70}, false, false, 1, 1e-20, true, bytes_of(v));
  }
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{4}, 14);  // repeated over 5000 elements
    emit("r1-5000-cyclic-lossless", 1, {5000}, false, false, 2, 0.0, false, bytes_of(v));
  }
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{16}, 15);
    emit("r2-65x70-cyclic-rel", 2, {65, 70}, true, false, 3, 1e-4, false, bytes_of(v));
  }
  {
    std::vector<T> v = actzip_test::relu_field<T>(10, 16);
    emit("r3-17x17x17-cyclic-sign", 3, {17, 17, 17}, false, true, 4, 0.5, false, bytes_of(v));
  }
  {
    std::vector<T> v = actzip_test::smooth_field<T>(extents{8}, 17);
    emit("r1-8-invalid-bound", 1, {8}, false, false, 1, -1.0, true, bytes_of(v));
  }
  emit("r2-0x9-empty", 2, {0, 9}, true, true, 2, 1e-2, false, {});
}

template <class T>
void write_all(const fs::path& root) {
  write_streams<T>(root / "inspect", root / "decompress");
  write_roundtrip_inputs<T>(root / "roundtrip");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  for (const char* target : {"inspect", "decompress", "roundtrip"}) fs::create_directories(root / target);
  write_all<float>(root);
  write_all<double>(root);
  write_all<half>(root);
  write_all<bfloat16>(root);
  return 0;
}
