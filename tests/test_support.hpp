// SPDX-License-Identifier: Apache-2.0
//
// Shared helpers of the host tests: a deterministic random generator, input
// generators, an independent exact error-bound checker, and type lists.
#pragma once

#include <actzip/actzip.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace actzip_test {

//! Every codec, in the order the tests run them.
inline constexpr actzip::codec all_codecs[] = {actzip::codec::bitplane, actzip::codec::huffman,
                                               actzip::codec::automatic};

//! splitmix64: deterministic on every platform.
struct rng {
  std::uint64_t state;
  explicit rng(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  //! Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  //! Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
};

template <class T>
double to_double(T v) {
  return static_cast<double>(actzip::dtype_traits<T>::to_compute(v));
}
template <class T>
T from_double(double v) {
  using C = typename actzip::dtype_traits<T>::compute_type;
  return actzip::dtype_traits<T>::from_compute(static_cast<C>(v));
}
template <class T>
auto bits_of(T v) {
  return actzip::bit_cast<typename actzip::dtype_traits<T>::bits_type>(v);
}

//! A value of type T with random bits (any class: normal, denormal, zero, Inf, NaN).
template <class T>
T bit_cast_random(rng& g) {
  using B = typename actzip::dtype_traits<T>::bits_type;
  return actzip::bit_cast<T>(static_cast<B>(g.next()));
}

//! |a - b| > bound, decided exactly (TwoSum), for finite doubles a, b.
inline bool exceeds(double a, double b, double bound) {
  const double s = b - a;
  if (!std::isfinite(s)) return true;
  const double bb = s - b;
  const double err = (b - (s - bb)) + (-a - bb);  // b + (-a) == s + err exactly
  const double m = std::fabs(s);
  if (m != bound) return m > bound;
  return s > 0 ? err > 0 : err < 0;
}

//! What the checker found.
struct check_result {
  std::uint64_t violations = 0;       //!< elements outside the bound (or non-finite not kept exactly)
  std::uint64_t zero_changed = 0;     //!< zeros that did not come back as exactly zero
  std::uint64_t sign_changed = 0;     //!< non-zero values that became zero or changed sign
  double max_error = 0;               //!< largest |x - x'| over finite elements
  std::string first;                  //!< description of the first violation
};

//! Checks a reconstruction element by element against `bound` (absolute).
template <class T>
check_result check(const std::vector<T>& original, const std::vector<T>& back, double bound) {
  check_result r;
  if (original.size() != back.size()) {
    r.violations = 1;
    r.first = "size mismatch";
    return r;
  }
  for (std::size_t i = 0; i < original.size(); ++i) {
    const double a = to_double(original[i]), b = to_double(back[i]);
    bool bad;
    if (!std::isfinite(a)) {
      bad = bits_of(original[i]) != bits_of(back[i]);  // NaN payloads and infinities kept exactly
    } else {
      bad = !std::isfinite(b) || exceeds(a, b, bound);
      if (std::isfinite(b)) r.max_error = std::fmax(r.max_error, std::fabs(a - b));
    }
    if (a == 0 && b != 0) ++r.zero_changed;
    if (a != 0 && std::isfinite(a) && (b == 0 || (a < 0) != (b < 0))) ++r.sign_changed;
    if (bad) {
      if (r.violations == 0)
        r.first = "element " + std::to_string(i) + ": " + std::to_string(a) + " -> " + std::to_string(b) +
                  " (bound " + std::to_string(bound) + ")";
      ++r.violations;
    }
  }
  return r;
}

//! FNV-1a 64 of a byte buffer (golden checksums).
inline std::uint64_t fnv1a(const std::vector<std::byte>& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::byte b : bytes) h = (h ^ static_cast<std::uint64_t>(b)) * 0x100000001b3ull;
  return h;
}

//! A smooth field over `shape` with a little noise, in type T.
template <class T>
std::vector<T> smooth_field(const actzip::extents& shape, std::uint64_t seed, double amplitude = 10.0) {
  rng g(seed);
  std::vector<T> v(shape.size());
  const std::uint64_t d1 = shape.rank() >= 2 ? shape[shape.rank() - 2] : 1, d2 = shape[shape.rank() - 1];
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double x = static_cast<double>(i % d2), y = static_cast<double>((i / d2) % d1),
                 z = static_cast<double>(i / (d2 * d1));
    v[i] = from_double<T>(amplitude * (std::sin(0.05 * x + 0.3) * std::cos(0.07 * y) + 0.5 * std::sin(0.03 * z)) +
                          0.01 * amplitude * (g.uniform() - 0.5));
  }
  return v;
}

//! A ReLU-like field: about half exact zeros, positive values elsewhere.
template <class T>
std::vector<T> relu_field(std::size_t n, std::uint64_t seed) {
  rng g(seed);
  std::vector<T> v(n);
  double walk = 0;
  for (std::size_t i = 0; i < n; ++i) {
    walk = 0.9 * walk + g.uniform(-1, 1);
    v[i] = from_double<T>(walk > 0 ? walk : 0.0);
  }
  return v;
}

//! Compresses with executor e, decompresses, returns the reconstruction and header.
template <class T, class Exec>
std::vector<T> round_trip(const Exec& e, const std::vector<T>& input, const actzip::extents& shape,
                          const actzip::params& p, actzip::header* h = nullptr, std::vector<std::byte>* stream = nullptr) {
  std::vector<std::byte> z = actzip::compress(e, input.data(), shape, p);
  if (h) *h = actzip::inspect(z.data(), z.size());
  std::vector<T> back = actzip::decompress<T>(e, z.data(), z.size());
  if (stream) *stream = std::move(z);
  return back;
}

//! Small valid streams of every chunk kind (encoded with lossless values,
//! sign-preserving 3-D, raw, empty chunks), compressed with exec::serial: the
//! inputs of the corruption tests on the host and on the device.
template <class T>
std::vector<std::vector<std::byte>> small_streams() {
  using actzip::extents;
  using actzip::params;
  std::vector<std::vector<std::byte>> out;
  rng g(77);
  {
    std::vector<T> v = smooth_field<T>(extents{300}, 1);
    v[10] = from_double<T>(std::nan(""));
    v[11] = bit_cast_random<T>(g);
    out.push_back(actzip::compress(actzip::exec::serial, v.data(), extents{300}, params{actzip::rel(1e-3)}));
  }
  {
    std::vector<T> v = smooth_field<T>(extents{5, 20, 9}, 2);
    params p{actzip::abs(1e-2)};
    p.preserve_sign = true;
    out.push_back(actzip::compress(actzip::exec::serial, v.data(), extents{5, 20, 9}, p));
  }
  {
    std::vector<T> v(70);
    for (auto& x : v) x = bit_cast_random<T>(g);  // a raw chunk
    out.push_back(actzip::compress(actzip::exec::serial, v.data(), extents{70, 1}, params{actzip::abs(1e-20)}));
  }
  {
    std::vector<T> v(4200, from_double<T>(0.0));  // empty chunks
    v[4100] = from_double<T>(1.0);
    out.push_back(actzip::compress(actzip::exec::serial, v.data(), extents{4200}, params{actzip::abs(1e-3)}));
    params p{actzip::abs(1e-3)};
    p.codec = actzip::codec::huffman;  // a code book of one symbol pair, empty chunks
    out.push_back(actzip::compress(actzip::exec::serial, v.data(), extents{4200}, p));
  }
  {
    std::vector<T> v = smooth_field<T>(extents{300}, 1);
    v[10] = from_double<T>(std::nan(""));
    v[11] = bit_cast_random<T>(g);
    params p{actzip::rel(1e-3)};
    p.codec = actzip::codec::huffman;
    out.push_back(actzip::compress(actzip::exec::serial, v.data(), extents{300}, p));
  }
  {
    std::vector<T> v = smooth_field<T>(extents{5, 20, 9}, 2);
    for (std::size_t i = 0; i < v.size(); i += 3) v[i] = from_double<T>(0.0);
    params p{actzip::abs(1e-2)};
    p.preserve_sign = true;
    p.codec = actzip::codec::automatic;
    out.push_back(actzip::compress(actzip::exec::serial, v.data(), extents{5, 20, 9}, p));
  }
  return out;
}

}  // namespace actzip_test

#define ACTZIP_ELEMENT_TYPES float, double, actzip::half, actzip::bfloat16
