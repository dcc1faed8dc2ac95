// SPDX-License-Identifier: Apache-2.0
// Streams are byte-identical on every executor and every thread count, and golden
// checksums pin the format: a change to any stream byte must be a conscious one.
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <cstdio>

using namespace actzip;

namespace {
template <class T>
std::vector<T> mixed_input(const extents& shape, std::uint64_t seed) {
  std::vector<T> v = actzip_test::smooth_field<T>(shape, seed);
  actzip_test::rng g(seed);
  for (std::size_t i = 0; i < v.size(); i += 97) v[i] = actzip_test::bit_cast_random<T>(g);
  for (std::size_t i = 3; i < v.size(); i += 5) v[i] = actzip_test::from_double<T>(0.0);
  return v;
}

// Like mixed_input, from + - * / only (no libm), so golden streams do not depend on
// the platform's math library.
template <class T>
std::vector<T> golden_input(const extents& shape, std::uint64_t seed) {
  std::vector<T> v(shape.size());
  actzip_test::rng g(seed);
  const std::uint64_t row = shape[shape.rank() - 1];
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double x = static_cast<double>(i % row) / static_cast<double>(row) - 0.5;
    const double y = static_cast<double>((i / row) % 97) / 97.0 - 0.5;
    double value = 3.0 * x * x * x - x + 2.0 * y * y + 0.25 * x * y + 1e-3 * g.uniform();
    if (i % 5 == 3) value = 0.0;
    v[i] = actzip_test::from_double<T>(value);
    if (i % 97 == 0) v[i] = actzip_test::bit_cast_random<T>(g);
  }
  return v;
}
// finite_min_max by the plain definition: the extremes of the finite values, or false.
template <class T>
bool reference_min_max(const std::vector<T>& v, double* lo, double* hi) {
  bool any = false;
  for (const T x : v) {
    const double d = actzip_test::to_double(x);
    if (!std::isfinite(d)) continue;
    *lo = any ? std::min(*lo, d) : d;
    *hi = any ? std::max(*hi, d) : d;
    any = true;
  }
  return any;
}

template <class Exec, class T>
void check_min_max(const Exec& e, const std::vector<T>& v) {
  using C = typename dtype_traits<T>::compute_type;
  C lo = 1, hi = -1;
  double want_lo = 0, want_hi = 0;
  const bool found = exec::finite_min_max(e, v.data(), v.size(), [](T x) { return dtype_traits<T>::to_compute(x); },
                                          &lo, &hi);
  const bool any = reference_min_max(v, &want_lo, &want_hi);
  REQUIRE(found == any);
  if (!any) {
    CHECK((lo == 0 && hi == 0));
    return;
  }
  CHECK(static_cast<double>(lo) == want_lo);  // -0 == +0: callers treat them alike
  CHECK(static_cast<double>(hi) == want_hi);
}
}  // namespace

TEST_CASE_TEMPLATE("the value-range pass finds the finite extremes at every length and position", T,
                   ACTZIP_ELEMENT_TYPES) {
  // Lengths around the SIMD blocks (4 and 16 lanes) and the OpenMP pieces (64 Ki),
  // with the extremes, NaN and infinities at every kind of position.
  actzip_test::rng g(11);
  const T nan = actzip_test::from_double<T>(std::nan("")), inf = actzip_test::from_double<T>(INFINITY);
  for (const std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(3), std::size_t(4), std::size_t(15),
                              std::size_t(16), std::size_t(17), std::size_t(33), std::size_t(65536),
                              std::size_t(65537), std::size_t(200003)}) {
    CAPTURE(n);
    std::vector<T> v(n);
    for (auto& x : v) x = actzip_test::from_double<T>(static_cast<double>(g.next() % 2001) / 100.0 - 10.0);
    for (int round = 0; round < 6; ++round) {
      if (n != 0) {
        v[g.next() % n] = actzip_test::from_double<T>(round % 2 == 0 ? 40.0 - round : -40.0 + round);
        v[g.next() % n] = round % 3 == 0 ? nan : round % 3 == 1 ? inf : actzip_test::from_double<T>(-INFINITY);
      }
      check_min_max(exec::serial, v);
#if ACTZIP_HAS_OPENMP
      for (int threads : {1, 2, 3}) check_min_max(exec::omp_t{threads}, v);
#endif
    }
    for (auto& x : v) x = nan;  // no finite value
    check_min_max(exec::serial, v);
#if ACTZIP_HAS_OPENMP
    check_min_max(exec::omp_t{2}, v);
#endif
  }
}

#if ACTZIP_HAS_OPENMP
TEST_CASE_TEMPLATE("serial and OpenMP streams are byte-identical for any thread count", T, ACTZIP_ELEMENT_TYPES) {
  for (const extents& shape : {extents{100003}, extents{300, 257}, extents{40, 33, 50}}) {
    const std::vector<T> input = mixed_input<T>(shape, 42);
    for (const bound b : {actzip::abs(1e-2), actzip::rel(1e-3), actzip::rel(1e-5)}) {
      for (bool sign : {false, true})
        for (const codec kind : actzip_test::all_codecs) {
          params p{b};
          p.preserve_sign = sign;
          p.codec = kind;
          const std::vector<std::byte> reference = compress(exec::serial, input.data(), shape, p);
          for (int threads : {1, 2, 3, 7}) {
            CAPTURE(threads);
            CAPTURE(static_cast<int>(kind));
            const std::vector<std::byte> z = compress(exec::omp_t{threads}, input.data(), shape, p);
            REQUIRE(z == reference);
            const std::vector<T> a = decompress<T>(exec::serial, z.data(), z.size());
            const std::vector<T> c = decompress<T>(exec::omp_t{threads}, z.data(), z.size());
            REQUIRE(std::memcmp(a.data(), c.data(), a.size() * sizeof(T)) == 0);
          }
        }
    }
  }
}

TEST_CASE("the OpenMP executor gives the same stream into a worst-case and an exactly sized buffer") {
  for (const codec c : actzip_test::all_codecs) {
    CAPTURE(static_cast<int>(c));
    const extents shape{70, 90, 33};
    const std::vector<float> input = mixed_input<float>(shape, 9);
    params p{actzip::rel(1e-3)};
    p.codec = c;
    const std::vector<std::byte> reference = compress(exec::serial, input.data(), shape, p);
    std::vector<std::byte> workspace(workspace_bytes(exec::omp, shape));
    std::vector<std::byte> exact(reference.size());  // below the worst case: the two-pass path
    std::uint64_t size = 0;
    REQUIRE(compress(exec::omp, input.data(), shape, p, exact.data(), exact.size(), &size, workspace.data(),
                     workspace.size()) == status::success);
    CHECK(size == reference.size());
    CHECK(exact == reference);
    std::vector<std::byte> roomy(max_compressed_bytes<float>(shape));  // the one-pass path with compaction
    REQUIRE(compress(exec::omp, input.data(), shape, p, roomy.data(), roomy.size(), &size, workspace.data(),
                     workspace.size()) == status::success);
    roomy.resize(size);
    CHECK(roomy == reference);
  }
}
#endif

// Golden checksums (FNV-1a 64 of the whole stream). The CUDA executor must produce
// the same bytes; update these only with a format version change. For the bitplane
// streams, `version_2` and `version_1` are the hashes of the same stream rewritten
// as format version 2 (version field 2, checksum recomputed) and version 1 (version
// field 1, checksum bytes zero): they have not changed since those versions, which
// proves that versions 2 and 3 changed nothing else in a bitplane stream. Huffman
// and automatic streams are new in version 3 (both hashes 0).
TEST_CASE("golden stream checksums") {
  struct golden {
    const char* name;
    std::uint64_t expected;
    std::uint64_t version_2;
    std::uint64_t version_1;
    std::vector<std::byte> (*make)();
  };
  const golden cases[] = {
      {"f32 3-D rel 1e-3", 0xced20e3cba945a41ull, 0xe2db958cb25cc4f3ull, 0x4dd91ac5e4fb0d21ull,
       [] {
         const extents s{40, 33, 50};
         auto v = golden_input<float>(s, 1);
         return compress(exec::serial, v.data(), s, params{actzip::rel(1e-3)});
       }},
      {"f64 2-D abs 1e-6 preserve_sign", 0xa5dc30f7301fb6e1ull, 0xd45f189a91f58410ull, 0xfd1b1c3e0acc9f0bull,
       [] {
         const extents s{300, 257};
         auto v = golden_input<double>(s, 2);
         params p{actzip::abs(1e-6)};
         p.preserve_sign = true;
         return compress(exec::serial, v.data(), s, p);
       }},
      {"f16 1-D rel 1e-2", 0x0e345c6efb83c1b1ull, 0xfd1b0467924bb8a4ull, 0x5268b8c4d0144102ull,
       [] {
         const extents s{100003};
         auto v = golden_input<half>(s, 3);
         return compress(exec::serial, v.data(), s, params{actzip::rel(1e-2)});
       }},
      {"bf16 3-D abs 1e-2", 0xff238a09c236f7afull, 0x45b0cd6bf0d9560bull, 0x76c735bbc6bbf94full,
       [] {
         const extents s{17, 64, 65};
         auto v = golden_input<bfloat16>(s, 4);
         return compress(exec::serial, v.data(), s, params{actzip::abs(1e-2)});
       }},
      {"f32 empty", 0x24d3c888ec6f4cdfull, 0x1c85bf735a7ebcf1ull, 0x7c6cca67950d8355ull,
       [] {
         const extents s{0, 5};
         return compress(exec::serial, static_cast<const float*>(nullptr), s, params{actzip::rel(1e-3)});
       }},
      {"huffman f32 3-D rel 1e-3", 0xb467215690558c0dull, 0, 0,
       [] {
         const extents s{40, 33, 50};
         auto v = golden_input<float>(s, 1);
         params p{actzip::rel(1e-3)};
         p.codec = codec::huffman;
         return compress(exec::serial, v.data(), s, p);
       }},
      {"huffman f64 2-D abs 1e-6 preserve_sign", 0x2eeafc6900d66b82ull, 0, 0,
       [] {
         const extents s{300, 257};
         auto v = golden_input<double>(s, 2);
         params p{actzip::abs(1e-6)};
         p.preserve_sign = true;
         p.codec = codec::huffman;
         return compress(exec::serial, v.data(), s, p);
       }},
      {"huffman f16 1-D rel 1e-2", 0x1538887701ac6837ull, 0, 0,
       [] {
         const extents s{100003};
         auto v = golden_input<half>(s, 3);
         params p{actzip::rel(1e-2)};
         p.codec = codec::huffman;
         return compress(exec::serial, v.data(), s, p);
       }},
      {"automatic bf16 3-D abs 1e-2", 0x3e271ac337f190f0ull, 0, 0,
       [] {
         const extents s{17, 64, 65};
         auto v = golden_input<bfloat16>(s, 4);
         params p{actzip::abs(1e-2)};
         p.codec = codec::automatic;
         return compress(exec::serial, v.data(), s, p);
       }},
      {"huffman f32 empty", 0x2060539be294be74ull, 0, 0,
       [] {
         const extents s{0, 5};
         params p{actzip::rel(1e-3)};
         p.codec = codec::huffman;
         return compress(exec::serial, static_cast<const float*>(nullptr), s, p);
       }},
  };
  for (const golden& c : cases) {
    CAPTURE(c.name);
    const std::vector<std::byte> z = c.make();
    const std::uint64_t sum = actzip_test::fnv1a(z);
    if (c.version_2 != 0) {
      std::vector<std::byte> older = z;
      auto* b = reinterpret_cast<unsigned char*>(older.data());
      store_le16(b + 4, 2);
      store_le64(b + checksum_field_offset, detail::stream_checksum(exec::serial, b, older.size()));
      CHECK(actzip_test::fnv1a(older) == c.version_2);
      store_le16(b + 4, 1);
      store_le64(b + checksum_field_offset, 0);
      CHECK(actzip_test::fnv1a(older) == c.version_1);
    }
    char text[32];
    std::snprintf(text, sizeof text, "0x%016llxull", static_cast<unsigned long long>(sum));
    const std::string line = std::string(c.name) + ": " + text;
    MESSAGE(line);
    CHECK(sum == c.expected);
  }
}
