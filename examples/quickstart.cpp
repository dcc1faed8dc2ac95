// SPDX-License-Identifier: Apache-2.0
//
// quickstart: the README's demo of actzip.
//
//   quickstart                                              two synthetic tensors
//   quickstart FILE DTYPE DIM0 [DIM1 [DIM2]] [REL_BOUND]    a raw little-endian file
//
// With no argument it builds, deterministically, a ReLU-sparse NCHW activation (about
// half of it exact zeros) and a smooth 3-D field, compresses each with relative
// bounds 1e-2, 1e-3 and 1e-4, checks every reconstructed element against the bound
// (in double), and prints one row per run: ratio, max |error| / bound, violations,
// whether zeros stayed exactly zero, and compress / decompress throughput (best of
// 3, wall clock). Given a file it does the same for that file (DTYPE: f32, f64, f16,
// bf16; REL_BOUND, e.g. 1e-3, defaults to all three bounds). It exits with 1 if any
// element breaks its bound or a zero does not come back as zero, and with 2 for bad
// arguments.
#include <actzip/actzip.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <new>
#include <string>
#include <vector>

namespace {

constexpr int exit_failure = 1;  // a bound violation, or an actzip::error
constexpr int exit_usage = 2;    // bad arguments, unreadable file, size mismatch

// ---- a small deterministic PRNG (splitmix64): same numbers on every platform ----
class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  //! Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  //! Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

 private:
  std::uint64_t state_;
};

constexpr double two_pi = 6.283185307179586;

//! An activation-like NCHW field: per channel, a few random plane waves plus a bias,
//! scaled by a random gain, through ReLU. About half the values are exact zeros.
std::vector<float> make_activation(std::uint64_t n, std::uint64_t c, std::uint64_t h, std::uint64_t w) {
  std::vector<float> act(static_cast<std::size_t>(n * c * h * w));
  splitmix64 rng(20240601);
  constexpr int waves = 4;
  for (std::uint64_t map = 0; map < n * c; ++map) {
    double amplitude[waves], fy[waves], fx[waves], phase[waves];
    for (int k = 0; k < waves; ++k) {
      amplitude[k] = rng.uniform(0.5, 1.5);
      fy[k] = rng.uniform(-0.4, 0.4);  // radians per pixel: smooth
      fx[k] = rng.uniform(-0.4, 0.4);
      phase[k] = rng.uniform(0.0, two_pi);
    }
    const double bias = rng.uniform(-0.3, 0.3);
    const double gain = rng.uniform(0.1, 2.0);
    float* out = act.data() + map * h * w;
    for (std::uint64_t y = 0; y < h; ++y) {
      for (std::uint64_t x = 0; x < w; ++x) {
        double v = bias;
        for (int k = 0; k < waves; ++k)
          v += amplitude[k] * std::cos(fy[k] * static_cast<double>(y) + fx[k] * static_cast<double>(x) + phase[k]);
        out[y * w + x] = static_cast<float>(std::max(0.0, gain * v));
      }
    }
  }
  return act;
}

//! A smooth 3-D field of sines, `side` points along each axis.
std::vector<float> make_smooth_field(std::uint64_t side) {
  std::vector<float> field(static_cast<std::size_t>(side * side * side));
  const double k = two_pi / static_cast<double>(side);
  std::size_t i = 0;
  for (std::uint64_t z = 0; z < side; ++z) {
    for (std::uint64_t y = 0; y < side; ++y) {
      for (std::uint64_t x = 0; x < side; ++x, ++i) {
        const double fz = k * static_cast<double>(z), fy = k * static_cast<double>(y), fx = k * static_cast<double>(x);
        const double v = std::sin(2 * fx + 0.3) * std::cos(3 * fy) + 0.5 * std::sin(5 * fz + fx) +
                         0.25 * std::sin(7 * (fx + fy + fz));
        field[i] = static_cast<float>(v);
      }
    }
  }
  return field;
}

// ---- measurement --------------------------------------------------------------

template <class T>
double to_double(T v) {
  return static_cast<double>(actzip::dtype_traits<T>::to_compute(v));
}

//! One table row.
struct row {
  std::string name;
  std::string shape;
  double bound = 0;              // the relative bound asked for
  double ratio = 0;              // raw bytes / stream bytes
  double error_over_bound = 0;   // max |x - x'| / absolute bound (finite x)
  std::uint64_t violations = 0;  // elements outside the bound (or non-finite values changed)
  std::uint64_t zeros = 0;       // elements equal to zero
  std::uint64_t zeros_kept = 0;  // of those, how many came back exactly zero
  double compress_mbs = 0;       // MB/s of raw data, best of 3
  double decompress_mbs = 0;
  bool header_ok = true;         // the header describes the tensor and promises the bound asked for
};

std::string shape_string(const actzip::extents& shape) {
  std::string s;
  for (unsigned d = 0; d < shape.rank(); ++d) {
    if (d) s += 'x';
    s += std::to_string(shape[d]);
  }
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double megabytes_per_second(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0.0;
}

//! Compresses `data` (shape `shape`) with relative bound `rel_bound` three times and
//! decompresses it three times, then checks every element.
template <class T>
row measure(const std::string& name, const std::vector<T>& data, const actzip::extents& shape, double rel_bound) {
  const actzip::params p{actzip::rel(rel_bound)};
  const std::uint64_t raw_bytes = static_cast<std::uint64_t>(data.size()) * sizeof(T);
  constexpr int repeats = 3;

  std::vector<std::byte> z;
  double best = HUGE_VAL;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    z = actzip::compress(data.data(), shape, p);
    best = std::min(best, seconds_since(start));
  }
  row out;
  out.compress_mbs = megabytes_per_second(raw_bytes, best);

  std::vector<T> back;
  best = HUGE_VAL;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    back = actzip::decompress<T>(z.data(), z.size());
    best = std::min(best, seconds_since(start));
  }
  out.decompress_mbs = megabytes_per_second(raw_bytes, best);

  const actzip::header hdr = actzip::inspect(z.data(), z.size());
  out.name = name;
  out.shape = shape_string(hdr.shape);
  out.bound = rel_bound;
  out.ratio = z.empty() ? 0.0 : static_cast<double>(raw_bytes) / static_cast<double>(z.size());

  // The bound, computed here independently of the library: rel * (max - min) over
  // the finite values, in double.
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (const T& v : data) {
    const double x = to_double(v);
    if (std::isfinite(x)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  const double absolute = lo <= hi ? rel_bound * (hi - lo) : 0.0;
  out.header_ok = hdr.absolute_bound <= absolute && hdr.element_count == data.size() &&
                  hdr.dtype == actzip::dtype_traits<T>::code && hdr.shape == shape;

  double max_error = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const double x = to_double(data[i]), y = to_double(back[i]);
    if (std::isfinite(x)) {
      const double e = std::fabs(x - y);  // exact for f32/f16/bf16 data, correctly rounded for f64
      max_error = std::max(max_error, e);
      if (!(e <= absolute)) ++out.violations;
    } else if (!(std::isnan(x) ? std::isnan(y) : x == y)) {
      ++out.violations;  // NaN and Inf must come back as themselves
    }
    if (x == 0) {
      ++out.zeros;
      out.zeros_kept += y == 0;
    }
  }
  out.error_over_bound = absolute > 0 ? max_error / absolute : (max_error > 0 ? HUGE_VAL : 0.0);
  return out;
}

void print_table_head() {
  std::printf("%-10s %-12s %7s %8s %10s %6s %19s %11s %11s\n", "tensor", "shape", "bound", "ratio", "maxerr/eb",
              "viol", "zeros kept", "comp MB/s", "decomp MB/s");
}

//! One row; max error / bound is truncated (not rounded) to 6 decimals, so a value
//! below 1 never prints as 1.000000.
void print_row(const row& r) {
  char zeros[48];
  std::snprintf(zeros, sizeof zeros, "%s %llu/%llu", r.zeros == 0 ? "none" : r.zeros_kept == r.zeros ? "yes" : "NO",
                static_cast<unsigned long long>(r.zeros_kept), static_cast<unsigned long long>(r.zeros));
  std::printf("%-10s %-12s %7g %8.2f %10.6f %6llu %19s %11.1f %11.1f\n", r.name.c_str(), r.shape.c_str(), r.bound,
              r.ratio, std::floor(r.error_over_bound * 1e6) / 1e6, static_cast<unsigned long long>(r.violations), zeros, r.compress_mbs,
              r.decompress_mbs);
  std::fflush(stdout);
}

bool row_ok(const row& r) {
  if (!r.header_ok) std::fprintf(stderr, "quickstart: %s: the header does not match the tensor or the bound\n", r.name.c_str());
  return r.violations == 0 && r.zeros_kept == r.zeros && r.error_over_bound <= 1.0 && r.header_ok;
}

std::string executor_name() {
#if ACTZIP_HAS_OPENMP
  return "omp, " + std::to_string(omp_get_max_threads()) + " threads";
#else
  return "serial";
#endif
}

// ---- the README demo ----------------------------------------------------------

//! The five lines of the README, on the activation tensor.
void readme_demo(const std::vector<float>& act, std::uint64_t n, std::uint64_t c, std::uint64_t h, std::uint64_t w) {
  actzip::extents shape{n * c, h, w};                        // C order
  actzip::params p{actzip::rel(1e-3)};                       // bitplane codec by default
  std::vector<std::byte> z = actzip::compress(act.data(), shape, p);
  actzip::header hdr = actzip::inspect(z.data(), z.size());  // dtype, extents, bound, sizes
  std::vector<float> back = actzip::decompress<float>(z.data(), z.size());

  double max_error = 0;
  for (std::size_t i = 0; i < act.size(); ++i)
    max_error = std::max(max_error, std::fabs(static_cast<double>(act[i]) - static_cast<double>(back[i])));
  std::printf("README demo: %s %s, relative bound %g -> absolute bound %.6g over [%g, %g]\n",
              actzip::to_string(hdr.dtype), shape_string(hdr.shape).c_str(), hdr.requested_bound.value,
              hdr.absolute_bound, hdr.value_min, hdr.value_max);
  std::printf("             %llu -> %llu bytes (ratio %.2f), %llu chunks, max |error| %.6g\n\n",
              static_cast<unsigned long long>(hdr.raw_bytes()), static_cast<unsigned long long>(hdr.total_bytes),
              hdr.ratio(), static_cast<unsigned long long>(hdr.chunk_count), max_error);
}

int run_synthetic() {
  const std::uint64_t n = 32, c = 64, h = 32, w = 32, side = 128;
  const std::vector<float> act = make_activation(n, c, h, w);
  const std::vector<float> field = make_smooth_field(side);
  std::printf("actzip %s quickstart (executor: %s)\n\n", ACTZIP_VERSION_STRING, executor_name().c_str());
  readme_demo(act, n, c, h, w);

  bool ok = true;
  print_table_head();
  for (double bound : {1e-2, 1e-3, 1e-4}) {
    const row r = measure("relu-nchw", act, actzip::extents{n * c, h, w}, bound);
    print_row(r);
    ok = ok && row_ok(r);
  }
  for (double bound : {1e-2, 1e-3, 1e-4}) {
    const row r = measure("smooth-3d", field, actzip::extents{side, side, side}, bound);
    print_row(r);
    ok = ok && row_ok(r);
  }
  std::printf("\n%s\n", ok ? "every element within its bound; every zero exactly zero"
                            : "FAILED: some element broke its bound");
  return ok ? 0 : exit_failure;
}

// ---- a raw file ---------------------------------------------------------------

void print_usage(std::FILE* to) {
  std::fprintf(to,
               "usage: quickstart                                            (synthetic tensors)\n"
               "       quickstart FILE DTYPE DIM0 [DIM1 [DIM2]] [REL_BOUND]  (raw little-endian file)\n"
               "       DTYPE: f32, f64, f16 or bf16; REL_BOUND: e.g. 1e-3 (default: 1e-2, 1e-3 and 1e-4)\n");
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "quickstart: %s\n", message.c_str());
  print_usage(stderr);
  return exit_usage;
}

bool all_digits(const char* s) {
  if (*s == '\0') return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

//! Reverses the bytes of every element when the host is big-endian (raw files are little-endian).
void from_little_endian(void* data, std::size_t count, std::size_t size) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  auto* p = static_cast<unsigned char*>(data);
  for (std::size_t i = 0; i < count; ++i, p += size) std::reverse(p, p + size);
#else
  (void)data, (void)count, (void)size;
#endif
}

template <class T>
int run_file(const std::string& path, const actzip::extents& shape, const std::vector<double>& bounds) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return usage_error("cannot open '" + path + "': " + std::strerror(errno));
  const std::streamoff file_size = in.tellg();
  const std::uint64_t count = shape.size();  // the caller checked for overflow
  const std::uint64_t needed = count * sizeof(T);
  if (file_size < 0 || static_cast<std::uint64_t>(file_size) != needed)
    return usage_error("'" + path + "' has " + std::to_string(file_size) + " bytes, but shape " +
                       shape_string(shape) + " of " + actzip::to_string(actzip::dtype_traits<T>::code) + " needs " +
                       std::to_string(needed));
  std::vector<T> data(static_cast<std::size_t>(count));
  in.seekg(0);
  if (needed != 0 && !in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(needed)))
    return usage_error("cannot read '" + path + "'");
  from_little_endian(data.data(), data.size(), sizeof(T));

  std::printf("actzip %s quickstart (executor: %s)\n\n", ACTZIP_VERSION_STRING, executor_name().c_str());
  std::string name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  bool ok = true;
  print_table_head();
  for (double bound : bounds) {
    const row r = measure(name, data, shape, bound);
    print_row(r);
    ok = ok && row_ok(r);
  }
  std::printf("\n%s\n", ok ? "every element within its bound; every zero exactly zero"
                            : "FAILED: some element broke its bound");
  return ok ? 0 : exit_failure;
}

int run_file_arguments(int argc, char** argv) {
  if (argc < 4) return usage_error("expected FILE DTYPE DIM0 [DIM1 [DIM2]] [REL_BOUND]");
  const std::string path = argv[1], type = argv[2];
  std::uint64_t dims[actzip::extents::max_rank];
  unsigned rank = 0;
  std::vector<double> bounds = {1e-2, 1e-3, 1e-4};
  int i = 3;
  for (; i < argc && all_digits(argv[i]); ++i) {
    if (rank == actzip::extents::max_rank) return usage_error("at most 3 dimensions");
    errno = 0;
    char* end = nullptr;
    const unsigned long long d = std::strtoull(argv[i], &end, 10);
    if (errno == ERANGE) return usage_error(std::string("dimension too large: ") + argv[i]);
    dims[rank++] = d;
  }
  if (rank == 0) return usage_error(std::string("DIM0 must be a non-negative integer, not '") + argv[3] + "'");
  if (i < argc) {
    errno = 0;
    char* end = nullptr;
    const double b = std::strtod(argv[i], &end);
    if (end == argv[i] || *end != '\0' || errno == ERANGE || !std::isfinite(b) || !(b > 0))
      return usage_error(std::string("REL_BOUND must be a positive number such as 1e-3, not '") + argv[i] + "'");
    bounds = {b};
    ++i;
  }
  if (i < argc) return usage_error(std::string("unexpected argument '") + argv[i] + "'");

  const actzip::extents shape = actzip::extents::from_array(rank, dims);
  std::uint64_t count = 0;
  if (!shape.element_count(&count) || count > UINT64_MAX / 8) return usage_error("shape too large");
  if (type == "f32") return run_file<float>(path, shape, bounds);
  if (type == "f64") return run_file<double>(path, shape, bounds);
  if (type == "f16") return run_file<actzip::half>(path, shape, bounds);
  if (type == "bf16") return run_file<actzip::bfloat16>(path, shape, bounds);
  return usage_error("DTYPE must be f32, f64, f16 or bf16, not '" + type + "'");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
      std::printf("quickstart: compresses tensors with actzip and checks the error bound of every element\n");
      print_usage(stdout);
      return 0;
    }
    return argc <= 1 ? run_synthetic() : run_file_arguments(argc, argv);
  } catch (const actzip::error& e) {
    std::fprintf(stderr, "quickstart: %s\n", e.what());
    return exit_failure;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "quickstart: out of memory\n");
    return exit_failure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quickstart: %s\n", e.what());
    return exit_failure;
  }
}
