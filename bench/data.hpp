// SPDX-License-Identifier: Apache-2.0
//
// Real-data and synthetic-data loaders for the actzip benchmarks. Real data
// comes from Debian packages (see bench/install-data.sh): Fashion-MNIST images
// and labels (gzip-compressed IDX files, read with zlib) and the Ferret
// climate data sets (netCDF-3 files, read with the netCDF C library). The
// synthetic generators make deterministic smooth fields and ReLU-like
// activation tensors. Everything is returned as row-major float arrays with a
// C-order shape of 1 to 3 dimensions. Header-only, independent of actzip; a
// program that includes this file links with `-lnetcdf -lz`.
#pragma once

#include <actzip/actzip.hpp>

#include <netcdf.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

namespace actzip_bench {

//! One named array of floats: the unit every loader and generator returns.
struct field {
  //! Where it came from, e.g. "fashion-mnist/train-images", "levitus_climatology/TEMP".
  std::string name;
  //! Extents in C order (slowest first), 1 to 3 dimensions.
  std::vector<std::uint64_t> shape;
  //! The values, row-major; size is the product of shape.
  std::vector<float> values;
  //! The variable's _FillValue (or, lacking it, missing_value) attribute, if any.
  std::optional<float> fill_value;
};

//! Directory holding the Debian `dataset-fashion-mnist` files.
inline constexpr const char* fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";
//! Directory holding the Debian `ferret-datasets` netCDF files.
inline constexpr const char* ferret_data_dir = "/usr/share/ferret-vis/data";

namespace detail {

inline bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("actzip_bench: " + path + ": " + what);
}

// RAII wrapper over a zlib gzFile.
class gz_reader {
 public:
  explicit gz_reader(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    if (f_ == nullptr) fail(path_, "cannot open with gzopen");
  }
  gz_reader(const gz_reader&) = delete;
  gz_reader& operator=(const gz_reader&) = delete;
  ~gz_reader() { gzclose(f_); }

  // Reads exactly n bytes or throws.
  void read(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    while (n > 0) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n, std::size_t{1} << 24));
      const int got = gzread(f_, out, chunk);
      if (got < 0) {
        int errnum = 0;
        const char* msg = gzerror(f_, &errnum);
        fail(path_, std::string("gzread failed: ") + (msg ? msg : "unknown error"));
      }
      if (got == 0) fail(path_, "unexpected end of file (truncated data)");
      out += got;
      n -= static_cast<std::size_t>(got);
    }
  }

  std::uint32_t read_be32() {
    unsigned char b[4];
    read(b, 4);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
           std::uint32_t{b[3]};
  }

 private:
  std::string path_;
  gzFile f_;
};

inline std::string fashion_mnist_split(const std::string& which) {
  if (which == "train") return "train";
  if (which == "t10k" || which == "test") return "t10k";
  throw std::invalid_argument("actzip_bench: unknown Fashion-MNIST split '" + which +
                              "' (expected \"train\", \"t10k\" or \"test\")");
}

// Reads an IDX header (big-endian magic, then one big-endian u32 per dim) and
// checks it against the expected ubyte magic and rank.
inline std::vector<std::uint32_t> read_idx_header(gz_reader& in, const std::string& path,
                                                  std::uint32_t expected_magic) {
  const std::uint32_t magic = in.read_be32();
  if (magic != expected_magic) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "bad IDX magic 0x%08x, expected 0x%08x",
                  static_cast<unsigned>(magic), static_cast<unsigned>(expected_magic));
    fail(path, buf);
  }
  std::vector<std::uint32_t> dims(expected_magic & 0xffu);
  for (auto& d : dims) d = in.read_be32();
  return dims;
}

// Closes a netCDF id on scope exit.
struct nc_closer {
  int ncid;
  ~nc_closer() { nc_close(ncid); }
};

inline void nc_check(int status, const std::string& path, const std::string& what) {
  if (status != NC_NOERR) fail(path, what + ": " + nc_strerror(status));
}

// Reads a numeric scalar attribute as float, if present and usable.
inline std::optional<float> nc_float_att(int ncid, int varid, const char* att) {
  nc_type type{};
  std::size_t len = 0;
  if (nc_inq_att(ncid, varid, att, &type, &len) != NC_NOERR) return std::nullopt;
  if (len == 0 || type == NC_CHAR || type == NC_STRING) return std::nullopt;
  std::vector<float> v(len);
  if (nc_get_att_float(ncid, varid, att, v.data()) != NC_NOERR) return std::nullopt;
  return v[0];
}

// splitmix64: small, fast, fully specified PRNG (std distributions are not
// portable across standard libraries, so they are not used).
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform double in [0, 1).
inline double uniform01(std::uint64_t& state) {
  return static_cast<double>(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

// Stateless hash of an index to a double in [-1, 1).
inline double hash_noise(std::uint64_t i, std::uint64_t salt) {
  std::uint64_t s = i * 0xd1b54a32d192ed03ull ^ salt;
  return 2.0 * uniform01(s) - 1.0;
}

inline std::size_t checked_size(const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) {
    if (d != 0 && n > std::numeric_limits<std::uint64_t>::max() / d)
      throw std::length_error("actzip_bench: field too large");
    n *= d;
  }
  if (n > std::numeric_limits<std::size_t>::max() / sizeof(float))
    throw std::length_error("actzip_bench: field too large");
  return static_cast<std::size_t>(n);
}

constexpr double two_pi = 6.283185307179586476925286766559;

}  // namespace detail

//! Loads up to `count` Fashion-MNIST images of split `which` ("train" or
//! "t10k"; "test" is accepted for "t10k") from
//! /usr/share/datasets/fashion-mnist/<which>-images-idx3-ubyte.gz as floats in
//! [0, 1] (pixel / 255), shape {n, 28, 28} with n = min(count, images in file).
//! Returns std::nullopt if the file is missing; throws std::runtime_error on a
//! bad magic or truncated file.
inline std::optional<field> load_fashion_mnist(const std::string& which = "train",
                                               std::size_t count = 60000) {
  const std::string split = detail::fashion_mnist_split(which);
  const std::string path =
      std::string(fashion_mnist_dir) + "/" + split + "-images-idx3-ubyte.gz";
  if (!detail::file_exists(path)) return std::nullopt;

  detail::gz_reader in(path);
  const auto dims = detail::read_idx_header(in, path, 0x00000803u);
  const std::size_t n = std::min<std::size_t>(count, dims[0]);
  field f;
  f.name = "fashion-mnist/" + split + "-images";
  f.shape = {n, dims[1], dims[2]};
  const std::size_t total = detail::checked_size(f.shape);
  std::vector<unsigned char> bytes(total);
  in.read(bytes.data(), total);
  f.values.resize(total);
  for (std::size_t i = 0; i < total; ++i) f.values[i] = static_cast<float>(bytes[i]) / 255.0f;
  return f;
}

//! Loads up to `count` Fashion-MNIST labels (class ids 0..9) of split `which`
//! from /usr/share/datasets/fashion-mnist/<which>-labels-idx1-ubyte.gz, in the
//! same order as load_fashion_mnist's images. Returns std::nullopt if the file
//! is missing; throws std::runtime_error on a bad magic or truncated file.
inline std::optional<std::vector<std::uint8_t>> load_fashion_mnist_labels(
    const std::string& which = "train", std::size_t count = 60000) {
  const std::string split = detail::fashion_mnist_split(which);
  const std::string path =
      std::string(fashion_mnist_dir) + "/" + split + "-labels-idx1-ubyte.gz";
  if (!detail::file_exists(path)) return std::nullopt;

  detail::gz_reader in(path);
  const auto dims = detail::read_idx_header(in, path, 0x00000801u);
  std::vector<std::uint8_t> labels(std::min<std::size_t>(count, dims[0]));
  in.read(labels.data(), labels.size());
  return labels;
}

//! Reads numeric variable `variable` of the netCDF file at `path` as float
//! (nc_get_var_float). The shape is the variable's dimensions; more than 3 are
//! folded into the first (e.g. {time, depth, lat, lon} -> {time*depth, lat, lon}),
//! and a scalar becomes {1}. The name is "<file stem>/<variable>". fill_value is
//! taken from _FillValue, else missing_value. Returns std::nullopt if the file is
//! missing; throws std::runtime_error on any netCDF error (including an unknown
//! variable or a non-numeric one).
inline std::optional<field> load_netcdf(const std::string& path, const std::string& variable) {
  if (!detail::file_exists(path)) return std::nullopt;

  int ncid = -1;
  detail::nc_check(nc_open(path.c_str(), NC_NOWRITE, &ncid), path, "nc_open failed");
  detail::nc_closer closer{ncid};

  int varid = -1;
  detail::nc_check(nc_inq_varid(ncid, variable.c_str(), &varid), path,
                   "variable '" + variable + "' not found");
  nc_type type{};
  int ndims = 0;
  detail::nc_check(nc_inq_var(ncid, varid, nullptr, &type, &ndims, nullptr, nullptr), path,
                   "nc_inq_var('" + variable + "') failed");
  if (type == NC_CHAR || type == NC_STRING || type > NC_STRING)
    detail::fail(path, "variable '" + variable + "' is not numeric");
  std::vector<int> dimids(static_cast<std::size_t>(ndims));
  detail::nc_check(nc_inq_vardimid(ncid, varid, dimids.data()), path,
                   "nc_inq_vardimid('" + variable + "') failed");

  std::vector<std::uint64_t> dims;
  for (int id : dimids) {
    std::size_t len = 0;
    detail::nc_check(nc_inq_dimlen(ncid, id, &len), path, "nc_inq_dimlen failed");
    dims.push_back(len);
  }

  field f;
  const std::string stem = std::filesystem::path(path).stem().string();
  f.name = stem + "/" + variable;
  if (dims.empty()) {
    f.shape = {1};
  } else if (dims.size() > 3) {
    std::uint64_t lead = 1;
    for (std::size_t i = 0; i + 2 < dims.size(); ++i) lead *= dims[i];
    f.shape = {lead, dims[dims.size() - 2], dims[dims.size() - 1]};
  } else {
    f.shape = dims;
  }
  f.values.resize(detail::checked_size(f.shape));
  if (!f.values.empty())
    detail::nc_check(nc_get_var_float(ncid, varid, f.values.data()), path,
                     "nc_get_var_float('" + variable + "') failed");

  f.fill_value = detail::nc_float_att(ncid, varid, "_FillValue");
  if (!f.fill_value) f.fill_value = detail::nc_float_att(ncid, varid, "missing_value");
  return f;
}

//! If `f` has a fill value, replaces every value equal to it, and every value
//! with |v| >= 1e30, by a quiet NaN; returns how many values were replaced.
//! Without a fill value nothing changes and 0 is returned. fill_value itself is
//! left as it was.
inline std::size_t fill_to_nan(field& f) {
  if (!f.fill_value) return 0;
  const float fill = *f.fill_value;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::size_t replaced = 0;
  for (float& v : f.values) {
    if (v == fill || std::fabs(v) >= 1e30f) {
      v = nan;
      ++replaced;
    }
  }
  return replaced;
}

//! The standard real climate set used by the benchmarks, from
//! /usr/share/ferret-vis/data: monthly_navy_winds UWND and VWND {132, 73, 144}
//! (fill -99.9), levitus_climatology TEMP {20, 180, 360} (fill -1e10 over land),
//! coads_climatology SST and AIRT {12, 90, 180} (fill -1e34). Values are raw:
//! fills are kept (call fill_to_nan to turn them into NaN). A missing file is
//! skipped; other errors throw std::runtime_error.
inline std::vector<field> load_climate_fields() {
  struct entry {
    const char* file;
    const char* var;
  };
  static constexpr entry entries[] = {
      {"monthly_navy_winds.cdf", "UWND"}, {"monthly_navy_winds.cdf", "VWND"},
      {"levitus_climatology.cdf", "TEMP"}, {"coads_climatology.cdf", "SST"},
      {"coads_climatology.cdf", "AIRT"},
  };
  std::vector<field> out;
  for (const auto& e : entries) {
    auto f = load_netcdf(std::string(ferret_data_dir) + "/" + e.file, e.var);
    if (f) out.push_back(std::move(*f));
  }
  return out;
}

//! A smooth deterministic 3-D field of shape {d0, d1, d2}: a sum of a few
//! low-frequency sines and cosines (values roughly in [-1.8, 1.8]) plus a
//! pseudo-random noise of amplitude 0.01. Name "synthetic/smooth". No fill value.
inline field make_smooth_field(std::uint64_t d0, std::uint64_t d1, std::uint64_t d2) {
  field f;
  f.name = "synthetic/smooth";
  f.shape = {d0, d1, d2};
  f.values.resize(detail::checked_size(f.shape));
  const double s0 = 1.0 / static_cast<double>(std::max<std::uint64_t>(d0, 1));
  const double s1 = 1.0 / static_cast<double>(std::max<std::uint64_t>(d1, 1));
  const double s2 = 1.0 / static_cast<double>(std::max<std::uint64_t>(d2, 1));
  const double tp = detail::two_pi;
  std::size_t idx = 0;
  for (std::uint64_t i = 0; i < d0; ++i) {
    const double x = static_cast<double>(i) * s0;
    for (std::uint64_t j = 0; j < d1; ++j) {
      const double y = static_cast<double>(j) * s1;
      for (std::uint64_t k = 0; k < d2; ++k, ++idx) {
        const double z = static_cast<double>(k) * s2;
        const double v = std::sin(tp * (1.0 * x + 0.5 * y)) +
                         0.5 * std::cos(tp * (2.0 * y - 1.5 * z) + 0.3) +
                         0.25 * std::sin(tp * (3.0 * x + 2.0 * z) + 1.1) +
                         0.05 * std::cos(tp * (5.0 * x + 4.0 * y + 3.0 * z) + 0.7) +
                         0.01 * detail::hash_noise(idx, 0x5eed5eedull);
        f.values[idx] = static_cast<float>(v);
      }
    }
  }
  return f;
}

//! A ReLU-activation-like deterministic 3-D field of shape {nc, h, w} (nc =
//! batch * channels): each h x w plane is a random mix of a few low-frequency
//! plane waves plus some pixel noise, shifted so that a per-plane fraction in
//! [0.40, 0.70] (about 55% overall) falls at or below zero, scaled by a per-plane
//! gain in [e^-1, e^1], then passed through max(0, .). Exact zeros are exact 0.0f.
//! Same seed, same field. Name "synthetic/relu-activation". No fill value.
inline field make_relu_activation(std::uint64_t nc, std::uint64_t h, std::uint64_t w,
                                  std::uint32_t seed = 1) {
  field f;
  f.name = "synthetic/relu-activation";
  f.shape = {nc, h, w};
  f.values.resize(detail::checked_size(f.shape));
  const std::size_t plane = static_cast<std::size_t>(h * w);
  if (plane == 0) return f;

  constexpr int modes = 4;
  const double tp = detail::two_pi;
  std::uint64_t state = 0x243f6a8885a308d3ull ^ (std::uint64_t{seed} * 0x9e3779b97f4a7c15ull);
  std::vector<float> sorted(plane);
  for (std::uint64_t c = 0; c < nc; ++c) {
    double amp[modes], fy[modes], fx[modes], ph[modes];
    for (int m = 0; m < modes; ++m) {
      amp[m] = 0.25 + detail::uniform01(state);
      fy[m] = (detail::uniform01(state) * 2.0 - 1.0) * 3.0;
      fx[m] = (detail::uniform01(state) * 2.0 - 1.0) * 3.0;
      ph[m] = tp * detail::uniform01(state);
    }
    const double noise_amp = 0.1 + 0.2 * detail::uniform01(state);
    const double zero_frac = 0.40 + 0.30 * detail::uniform01(state);
    const double gain = std::exp(2.0 * detail::uniform01(state) - 1.0);
    float* out = f.values.data() + c * plane;
    const std::uint64_t salt = detail::splitmix64(state);
    for (std::uint64_t y = 0; y < h; ++y) {
      const double yy = static_cast<double>(y) / static_cast<double>(h);
      for (std::uint64_t x = 0; x < w; ++x) {
        const double xx = static_cast<double>(x) / static_cast<double>(w);
        double v = 0.0;
        for (int m = 0; m < modes; ++m) v += amp[m] * std::sin(tp * (fy[m] * yy + fx[m] * xx) + ph[m]);
        v += noise_amp * detail::hash_noise(y * w + x, salt);
        out[y * w + x] = static_cast<float>(v);
      }
    }
    // Threshold at the zero_frac quantile of this plane, so that fraction is 0.
    std::copy(out, out + plane, sorted.begin());
    const std::size_t q = std::min(plane - 1, static_cast<std::size_t>(zero_frac * static_cast<double>(plane)));
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(q), sorted.end());
    const float thr = sorted[q];
    for (std::size_t i = 0; i < plane; ++i) {
      const float v = out[i] - thr;
      out[i] = v > 0.0f ? static_cast<float>(gain) * v : 0.0f;
    }
  }
  return f;
}

//! Loads the real data sets every benchmark uses and passes each to
//! add(name, field, note): Fashion-MNIST (the first `images` training images, all
//! when 0) and the ferret climate fields with their fill values turned into NaN
//! (named like `levitus_climatology.TEMP.fill2nan`). A missing data set is
//! reported on stderr with `program` and skipped.
template <class Add>
void load_real_data_sets(const char* program, std::size_t images, Add&& add) {
  if (auto f = load_fashion_mnist("train", images != 0 ? images : 60000))
    add(std::string("fashion-mnist"), std::move(*f),
        images != 0 ? " (first " + std::to_string(images) + " train images, pixel/255)"
                    : std::string(" (all train images, pixel/255)"));
  else
    std::fprintf(stderr, "%s: Fashion-MNIST not found (run bench/install-data.sh)\n", program);
  std::vector<field> climate = load_climate_fields();
  if (climate.empty()) std::fprintf(stderr, "%s: no Ferret climate data found (run bench/install-data.sh)\n", program);
  for (auto& f : climate) {
    const std::size_t nans = fill_to_nan(f);
    std::string name = f.name;
    std::replace(name.begin(), name.end(), '/', '.');
    add(name + ".fill2nan", std::move(f), " (" + std::to_string(nans) + " fill values -> NaN)");
  }
}

//! v converted to element type T (correctly rounded for half and bfloat16).
template <class T>
T from_float(float v) {
  using C = typename actzip::dtype_traits<T>::compute_type;
  return actzip::dtype_traits<T>::from_compute(static_cast<C>(v));
}

//! One data set as float, with its values converted to every element type on demand.
struct typed_data_set {
  std::string name;
  actzip::extents shape;
  std::vector<float> f32;
  std::vector<double> f64;
  std::vector<actzip::half> f16;
  std::vector<actzip::bfloat16> bf16;

  //! The values in element type T (converted from f32 on first use).
  template <class T>
  const std::vector<T>& values() {
    std::vector<T>& v = storage<T>();
    if (v.size() != f32.size()) {
      v.resize(f32.size());
      for (std::size_t i = 0; i < f32.size(); ++i) v[i] = from_float<T>(f32[i]);
    }
    return v;
  }

 private:
  template <class T>
  std::vector<T>& storage() {
    if constexpr (std::is_same<T, float>::value) {
      return f32;
    } else if constexpr (std::is_same<T, double>::value) {
      return f64;
    } else if constexpr (std::is_same<T, actzip::half>::value) {
      return f16;
    } else {
      return bf16;
    }
  }
};

}  // namespace actzip_bench
