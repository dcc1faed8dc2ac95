// SPDX-License-Identifier: Apache-2.0
//
// actzip's HDF5 filter plugin (libh5actzip.so): every chunk of a dataset becomes one
// self-describing actzip stream, checksum included. HDF5 loads it from a directory in
// HDF5_PLUGIN_PATH and calls H5PLget_plugin_info; Python's actzip.hdf5 binds it to
// h5py's HDF5 library with actzip_h5z_bind and registers the class with h5py.
//
// The plugin links no libhdf5: it takes HDF5's functions from the library that loads
// it (the caller of H5PLget_plugin_info, found with dladdr), or from the library
// actzip_h5z_bind names, so one file serves Debian's libhdf5 (h5dump, ncdump, C
// programs) and the copy inside h5py's wheel. The HDF5 declarations it needs are
// in hdf5_abi.hpp. The client data's layout is in <actzip/hdf5_filter.h>.
//
// The filter runs on the serial executor (HDF5 calls filters from one thread). A
// stream that fails to decode (damaged, truncated, of another type or shape) fails
// the read with an HDF5 error carrying actzip's message; nothing is returned.
#include "hdf5_abi.hpp"

#include <actzip/core.hpp>
#include <actzip/hdf5_filter.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#define ACTZIP_H5Z_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using namespace actzip::hdf5;

// ---- the HDF5 functions, taken from the HDF5 library that uses the plugin ----------

struct hdf5_api {
  void* library = nullptr;  //!< dlopen handle of the HDF5 library the functions come from
  std::string library_path;
  H5Epush2_t H5Epush2 = nullptr;
  H5Pget_chunk_t H5Pget_chunk = nullptr;
  H5Pget_filter_by_id2_t H5Pget_filter_by_id2 = nullptr;
  H5Pmodify_filter_t H5Pmodify_filter = nullptr;
  H5Pfill_value_defined_t H5Pfill_value_defined = nullptr;
  H5Pget_fill_value_t H5Pget_fill_value = nullptr;
  H5Tget_class_t H5Tget_class = nullptr;
  H5Tget_size_t H5Tget_size = nullptr;
  H5Tget_order_t H5Tget_order = nullptr;
  H5Tget_precision_t H5Tget_precision = nullptr;
  H5Tget_offset_t H5Tget_offset = nullptr;
  H5Tget_fields_t H5Tget_fields = nullptr;
  H5Tget_ebias_t H5Tget_ebias = nullptr;
  H5Tget_norm_t H5Tget_norm = nullptr;
  H5allocate_memory_t H5allocate_memory = nullptr;
  H5free_memory_t H5free_memory = nullptr;
  // Error class and message IDs: HDF5's global variables H5E_ERR_CLS_g, ...
  const hid_t* error_class = nullptr;
  const hid_t* major_pipeline = nullptr;
  const hid_t* minor_cannot_filter = nullptr;
  const hid_t* minor_bad_type = nullptr;
  const hid_t* minor_bad_value = nullptr;
  const hid_t* minor_cannot_init = nullptr;
};

hdf5_api api;
std::mutex api_mutex;
std::string bind_error;  // why the last binding failed

template <class F>
bool take(void* handle, const char* name, F* out, std::string* missing) {
  void* symbol = dlsym(handle, name);
  if (symbol == nullptr) {
    if (!missing->empty()) *missing += ", ";
    *missing += name;
    return false;
  }
  *out = reinterpret_cast<F>(symbol);
  return true;
}

//! The table of HDF5 functions found from `handle` (a library or RTLD_DEFAULT), or
//! false with the names that are missing.
bool resolve(void* handle, hdf5_api* out, std::string* missing) {
  hdf5_api a;
  bool ok = take(handle, "H5Epush2", &a.H5Epush2, missing);
  ok &= take(handle, "H5Pget_chunk", &a.H5Pget_chunk, missing);
  ok &= take(handle, "H5Pget_filter_by_id2", &a.H5Pget_filter_by_id2, missing);
  ok &= take(handle, "H5Pmodify_filter", &a.H5Pmodify_filter, missing);
  ok &= take(handle, "H5Pfill_value_defined", &a.H5Pfill_value_defined, missing);
  ok &= take(handle, "H5Pget_fill_value", &a.H5Pget_fill_value, missing);
  ok &= take(handle, "H5Tget_class", &a.H5Tget_class, missing);
  ok &= take(handle, "H5Tget_size", &a.H5Tget_size, missing);
  ok &= take(handle, "H5Tget_order", &a.H5Tget_order, missing);
  ok &= take(handle, "H5Tget_precision", &a.H5Tget_precision, missing);
  ok &= take(handle, "H5Tget_offset", &a.H5Tget_offset, missing);
  ok &= take(handle, "H5Tget_fields", &a.H5Tget_fields, missing);
  ok &= take(handle, "H5Tget_ebias", &a.H5Tget_ebias, missing);
  ok &= take(handle, "H5Tget_norm", &a.H5Tget_norm, missing);
  ok &= take(handle, "H5allocate_memory", &a.H5allocate_memory, missing);
  ok &= take(handle, "H5free_memory", &a.H5free_memory, missing);
  ok &= take(handle, "H5E_ERR_CLS_g", &a.error_class, missing);
  ok &= take(handle, "H5E_PLINE_g", &a.major_pipeline, missing);
  ok &= take(handle, "H5E_CANTFILTER_g", &a.minor_cannot_filter, missing);
  ok &= take(handle, "H5E_BADTYPE_g", &a.minor_bad_type, missing);
  ok &= take(handle, "H5E_BADVALUE_g", &a.minor_bad_value, missing);
  ok &= take(handle, "H5E_CANTINIT_g", &a.minor_cannot_init, missing);
  if (ok) *out = a;
  return ok;
}

//! The file of the library that defines `address`, or "".
std::string library_of(const void* address) {
  Dl_info info;
  if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fname == nullptr) return {};
  return info.dli_fname;
}

//! Binds the plugin to the HDF5 library reached from `handle` (the symbols may come
//! from one of its dependencies, e.g. a Python extension module linked with
//! libhdf5). Called with api_mutex held. A plugin bound to one HDF5 library refuses
//! another: one process may hold two, and a filter must not mix their IDs.
bool bind_handle(void* handle, const std::string& what) {
  hdf5_api found;
  std::string missing;
  if (!resolve(handle, &found, &missing)) {
    bind_error = what + " does not provide HDF5's " + missing;
    return false;
  }
  const std::string path = library_of(reinterpret_cast<const void*>(found.H5Epush2));
  if (api.library != nullptr) {
    if (path == api.library_path) return true;
    bind_error = "the actzip HDF5 filter is already bound to the HDF5 library " + api.library_path +
                 " and cannot serve a second one (" + path + ") in the same process";
    return false;
  }
  void* library = path.empty() ? nullptr : dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (library == nullptr) {
    bind_error = "cannot open the HDF5 library " + (path.empty() ? what : path);
    return false;
  }
  found.library = library;  // keeps it loaded while the plugin is
  found.library_path = path;
  api = found;
  return true;
}

//! Binds to the HDF5 library that called H5PLget_plugin_info (HDF5's plugin loader),
//! or, for a caller that is not HDF5 (ctypes), keeps an earlier binding or takes the
//! HDF5 symbols visible to the whole process.
bool bind_to_caller(const void* caller) {
  std::lock_guard<std::mutex> lock(api_mutex);
  const std::string path = library_of(caller);
  if (!path.empty()) {
    if (void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {
      const bool is_hdf5 = dlsym(handle, "H5Epush2") != nullptr && dlsym(handle, "H5Zregister") != nullptr;
      bool ok = false;
      if (is_hdf5) ok = bind_handle(handle, path);
      dlclose(handle);
      if (is_hdf5) return ok;
    }
  }
  if (api.library != nullptr) return true;
  return bind_handle(RTLD_DEFAULT, "the process");
}

// ---- errors --------------------------------------------------------------------------

//! The message of the last refusal on this thread (actzip_h5z_last_error).
thread_local std::string last_error;

//! Pushes an error on HDF5's error stack: what the filter refused, and why. HDF5 2.0
//! runs filter callbacks on a stack of their own and drops what they push, so the
//! message is also kept for actzip_h5z_last_error.
void push_error(const hid_t* minor, const char* function, const std::string& message) {
  last_error = message;
  if (api.H5Epush2 == nullptr) return;
  api.H5Epush2(ERROR_STACK_DEFAULT, __FILE__, function, __LINE__, *api.error_class, *api.major_pipeline, *minor, "%s",
               message.c_str());
}

std::string status_message(actzip::status s, const void* stream, std::size_t size) {
  std::string text = std::string("actzip: ") + actzip::to_string(s);
  actzip::stream_fault fault;
  if (stream != nullptr && actzip::diagnose(stream, size, &fault) != actzip::status::success &&
      fault.what != nullptr)
    text += ": " + actzip::describe(fault);
  return text;
}

// ---- element types -------------------------------------------------------------------

const char* class_name(int type_class) {
  switch (type_class) {
    case 0: return "an integer type";
    case 2: return "a time type";
    case 3: return "a string type";
    case 4: return "a bitfield type";
    case 5: return "an opaque type";
    case 6: return "a compound type";
    case 7: return "a reference type";
    case 8: return "an enumeration type";
    case 9: return "a variable-length type";
    case 10: return "an array type";
    case 11: return "a complex type";
    default: return "a type of unknown class";
  }
}

//! The actzip dtype (1..4) of an HDF5 datatype and whether it is big-endian, or 0 with
//! the reason in *why.
unsigned classify_type(hid_t type, bool* big_endian, std::string* why) {
  const int type_class = api.H5Tget_class(type);
  if (type_class != H5T_FLOAT) {
    *why = std::string("the actzip filter compresses floating-point data only (float16, bfloat16, float32, "
                       "float64); this dataset's element type is ") +
           class_name(type_class);
    return 0;
  }
  const std::size_t size = api.H5Tget_size(type);
  const int order = api.H5Tget_order(type);
  std::size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  const bool fields = api.H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0;
  const std::size_t ebias = api.H5Tget_ebias(type);
  const bool plain = fields && api.H5Tget_precision(type) == 8 * size && api.H5Tget_offset(type) == 0 &&
                     api.H5Tget_norm(type) == H5T_NORM_IMPLIED && mpos == 0 && spos == 8 * size - 1 &&
                     epos == msize && epos + esize == spos;
  unsigned code = 0;
  if (plain && size == 4 && esize == 8 && msize == 23 && ebias == 127) code = 1;
  if (plain && size == 8 && esize == 11 && msize == 52 && ebias == 1023) code = 2;
  if (plain && size == 2 && esize == 5 && msize == 10 && ebias == 15) code = 3;
  if (plain && size == 2 && esize == 8 && msize == 7 && ebias == 127) code = 4;
  if (code == 0) {
    *why = "the actzip filter compresses IEEE binary16, binary32, binary64 and bfloat16 values; this dataset's "
           "floating-point type (" + std::to_string(size) + " bytes, " + std::to_string(esize) + " exponent and " +
           std::to_string(msize) + " mantissa bits) is none of them";
    return 0;
  }
  if (order != H5T_ORDER_LE && order != H5T_ORDER_BE) {
    *why = "the actzip filter needs little- or big-endian elements; this dataset's byte order is neither";
    return 0;
  }
  *big_endian = order == H5T_ORDER_BE;
  return code;
}

std::size_t dtype_bytes(unsigned code) { return code == 2 ? 8 : code == 1 ? 4 : 2; }

void swap_bytes(unsigned char* data, std::size_t count, std::size_t width) {
  for (std::size_t i = 0; i < count; ++i) {
    unsigned char* e = data + i * width;
    for (std::size_t a = 0, b = width - 1; a < b; ++a, --b) {
      const unsigned char t = e[a];
      e[a] = e[b];
      e[b] = t;
    }
  }
}

// ---- client data -----------------------------------------------------------------------

double bound_of(const unsigned* cd) {
  const std::uint64_t bits = std::uint64_t(cd[ACTZIP_H5Z_CD_BOUND_LOW]) |
                             (std::uint64_t(cd[ACTZIP_H5Z_CD_BOUND_HIGH]) << 32);
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

//! Checks the values a writer gave; "" when they are valid.
std::string check_user_values(std::size_t count, const unsigned* cd) {
  if (count < ACTZIP_H5Z_USER_VALUES)
    return "the actzip filter needs " + std::to_string(ACTZIP_H5Z_USER_VALUES) +
           " client-data values (layout version, bound mode, bound low/high 32 bits, codec, preserve_sign); got " +
           std::to_string(count);
  if (cd[ACTZIP_H5Z_CD_LAYOUT] != ACTZIP_H5Z_CD_VERSION)
    return "actzip filter client data: layout version " + std::to_string(cd[ACTZIP_H5Z_CD_LAYOUT]) +
           " is not the supported version " + std::to_string(ACTZIP_H5Z_CD_VERSION);
  const unsigned mode = cd[ACTZIP_H5Z_CD_BOUND_MODE];
  const double bound = bound_of(cd);
  if (mode != ACTZIP_H5Z_BOUND_ABSOLUTE && mode != ACTZIP_H5Z_BOUND_RELATIVE)
    return "actzip filter client data: bound mode " + std::to_string(mode) + " is neither 1 (absolute) nor 2 (relative)";
  if (!std::isfinite(bound) || bound < 0 || (mode == ACTZIP_H5Z_BOUND_RELATIVE && bound <= 0)) {
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", bound);
    return std::string("actzip filter client data: the bound ") + text +
           (mode == ACTZIP_H5Z_BOUND_RELATIVE ? " is not a finite relative bound > 0"
                                              : " is not a finite absolute bound >= 0");
  }
  const unsigned codec = cd[ACTZIP_H5Z_CD_CODEC];
  if (codec < ACTZIP_H5Z_CODEC_BITPLANE || codec > ACTZIP_H5Z_CODEC_AUTOMATIC)
    return "actzip filter client data: codec " + std::to_string(codec) +
           " is not 1 (bitplane), 2 (huffman) or 3 (automatic)";
  if (cd[ACTZIP_H5Z_CD_PRESERVE_SIGN] > 1)
    return "actzip filter client data: preserve_sign " + std::to_string(cd[ACTZIP_H5Z_CD_PRESERVE_SIGN]) +
           " is not 0 or 1";
  return {};
}

//! Everything a chunk's compression needs, from the full client data.
struct filter_config {
  unsigned dtype = 0;  // 1 float32, 2 float64, 3 float16, 4 bfloat16
  std::size_t width = 0;
  bool big_endian = false;
  bool has_fill = false;
  std::uint64_t fill_bits = 0;
  actzip::params params;
  actzip::extents shape;  // the chunk, folded to rank <= 3
  std::uint64_t count = 0;
};

std::string parse_config(std::size_t count, const unsigned* cd, filter_config* out) {
  if (std::string why = check_user_values(count, cd); !why.empty()) return why;
  if (count < ACTZIP_H5Z_CD_CHUNK + 1)
    return "actzip filter client data: " + std::to_string(count) +
           " values, without the element type and chunk shape the filter records when a dataset is created";
  filter_config c;
  c.dtype = cd[ACTZIP_H5Z_CD_DTYPE];
  if (c.dtype < 1 || c.dtype > 4)
    return "actzip filter client data: element type " + std::to_string(c.dtype) + " is not 1..4";
  c.width = dtype_bytes(c.dtype);
  const unsigned flags = cd[ACTZIP_H5Z_CD_FLAGS];
  if ((flags & ~(ACTZIP_H5Z_FLAG_BIG_ENDIAN | ACTZIP_H5Z_FLAG_FILL_VALUE)) != 0)
    return "actzip filter client data: unknown flags " + std::to_string(flags);
  c.big_endian = (flags & ACTZIP_H5Z_FLAG_BIG_ENDIAN) != 0;
  c.has_fill = (flags & ACTZIP_H5Z_FLAG_FILL_VALUE) != 0;
  c.fill_bits = std::uint64_t(cd[ACTZIP_H5Z_CD_FILL_LOW]) | (std::uint64_t(cd[ACTZIP_H5Z_CD_FILL_HIGH]) << 32);
  const unsigned rank = cd[ACTZIP_H5Z_CD_RANK];
  if (rank < 1 || rank > unsigned(MAX_RANK) || count != ACTZIP_H5Z_CD_CHUNK + rank)
    return "actzip filter client data: chunk rank " + std::to_string(rank) + " does not match the " +
           std::to_string(count) + " values";
  // Rank 4 and more fold as actzip.torch.fold_shape does: (prod(leading), H, W).
  std::uint64_t dims[3] = {1, 1, 1};
  const unsigned folded = rank < 3 ? rank : 3;
  for (unsigned i = 0; i < rank; ++i) {
    const std::uint64_t d = cd[ACTZIP_H5Z_CD_CHUNK + i];
    const unsigned slot = rank <= 3 ? i : (i + 3 < rank ? 0 : i + 3 - rank);
    if (d != 0 && dims[slot] > (std::uint64_t(1) << 32) / d)
      return "actzip filter client data: the chunk shape is larger than HDF5's 4 GiB chunks";
    dims[slot] *= d;
  }
  // A 3-D chunk shallower than the 3-D chunk boxes (16 deep) is coded as 2-D: its
  // planes' rows one after another, in boxes of 64 x 64 instead of e0 x 16 x 16
  // (one plane per chunk, the usual time-step chunking of netCDF files, would
  // otherwise code boxes of 256 elements). See storage_shape in docs/FORMATS.md.
  if (folded == 3 && dims[0] < actzip::chunk_shape_for_rank(3).e0) {
    const std::uint64_t planar[3] = {dims[0] * dims[1], dims[2], 1};
    c.shape = actzip::extents::from_array(2, planar);
  } else {
    c.shape = actzip::extents::from_array(folded, dims);
  }
  std::uint64_t n = 0;
  // HDF5 chunks hold less than 4 GiB: a larger claim (a damaged file) is refused here,
  // before anything is allocated from it.
  if (!c.shape.element_count(&n) || n * c.width >= (std::uint64_t(1) << 32))
    return "actzip filter client data: the chunk shape is larger than HDF5's 4 GiB chunks";
  c.count = n;
  const unsigned mode = cd[ACTZIP_H5Z_CD_BOUND_MODE];
  const double bound = bound_of(cd);
  c.params.error_bound = mode == ACTZIP_H5Z_BOUND_RELATIVE ? actzip::rel(bound) : actzip::abs(bound);
  c.params.codec = static_cast<actzip::codec>(cd[ACTZIP_H5Z_CD_CODEC]);
  c.params.preserve_sign = cd[ACTZIP_H5Z_CD_PRESERVE_SIGN] == 1;
  *out = c;
  return {};
}

// ---- the chunk filters ---------------------------------------------------------------

template <class T>
std::uint64_t bits_of(const T& value) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof value);
  return bits;
}

double as_double(float v) { return v; }
double as_double(double v) { return v; }
double as_double(actzip::half v) { return actzip::to_float(v); }
double as_double(actzip::bfloat16 v) { return actzip::to_float(v); }

//! True when an element of the chunk has the fill value's bits.
template <class T>
bool contains_fill(const T* data, std::uint64_t count, std::uint64_t fill_bits) {
  for (std::uint64_t i = 0; i < count; ++i)
    if (bits_of(data[i]) == fill_bits) return true;
  return false;
}

//! The parameters for one chunk. A relative bound is relative to the range of the
//! chunk's finite values other than the fill value (a fill value such as -1e34 or
//! netCDF's 9.97e36 would otherwise widen the range, and the bound, by 30 orders).
template <class T>
actzip::params chunk_params(const filter_config& c, const T* data) {
  actzip::params p = c.params;
  if (!c.has_fill || p.error_bound.mode != actzip::bound_mode::relative) return p;
  double low = INFINITY, high = -INFINITY;
  for (std::uint64_t i = 0; i < c.count; ++i) {
    if (bits_of(data[i]) == c.fill_bits) continue;
    const double v = as_double(data[i]);
    if (!std::isfinite(v)) continue;
    low = v < low ? v : low;
    high = v > high ? v : high;
  }
  const double range = high >= low ? high - low : 0.0;
  p.error_bound = actzip::abs(p.error_bound.value * range);
  return p;
}

//! True when the fill value reconstructs exactly under `absolute_bound` whatever the
//! quantizer does: zero, or so large that the quantizer stores it losslessly.
bool fill_surely_exact(const filter_config& c, double absolute_bound) {
  if (c.fill_bits == 0) return true;
  double fill = 0;
  switch (c.dtype) {
    case 1: fill = as_double(actzip::bit_cast<float>(static_cast<std::uint32_t>(c.fill_bits))); break;
    case 2: fill = actzip::bit_cast<double>(c.fill_bits); break;
    case 3: fill = as_double(actzip::half{static_cast<std::uint16_t>(c.fill_bits)}); break;
    default: fill = as_double(actzip::bfloat16{static_cast<std::uint16_t>(c.fill_bits)}); break;
  }
  return std::isfinite(fill) && std::fabs(fill) > 4.0 * double(actzip::quantization_radius) * absolute_bound;
}

struct hdf5_buffer {  // memory from HDF5's allocator, freed unless released
  void* data = nullptr;
  explicit hdf5_buffer(std::size_t size) : data(api.H5allocate_memory(size, false)) {}
  ~hdf5_buffer() {
    if (data != nullptr) api.H5free_memory(data);
  }
  void* release() {
    void* d = data;
    data = nullptr;
    return d;
  }
};

template <class T>
std::size_t encode_chunk(const filter_config& c, std::size_t nbytes, std::size_t* buf_size, void** buf) {
  if (nbytes != c.count * c.width) {
    push_error(api.minor_cannot_filter, "actzip_h5z_encode",
               "actzip filter: the chunk holds " + std::to_string(nbytes) + " bytes, its shape and type " +
                   std::to_string(c.count * c.width));
    return 0;
  }
  const T* input = static_cast<const T*>(*buf);
  std::vector<T> swapped;
  if (c.big_endian) {
    swapped.resize(c.count);
    std::memcpy(swapped.data(), *buf, nbytes);
    swap_bytes(reinterpret_cast<unsigned char*>(swapped.data()), c.count, c.width);
    input = swapped.data();
  }
  const std::uint64_t capacity = actzip::max_compressed_bytes<T>(c.shape);
  hdf5_buffer out(capacity);
  if (out.data == nullptr) {
    push_error(api.minor_cannot_filter, "actzip_h5z_encode", "actzip filter: out of memory");
    return 0;
  }
  actzip::params p = chunk_params(c, input);
  std::uint64_t size = 0;
  actzip::status s = actzip::compress(actzip::exec::serial, input, c.shape, p, out.data, capacity, &size);
  if (s == actzip::status::success && c.has_fill && contains_fill(input, c.count, c.fill_bits)) {
    actzip::header h;
    if (actzip::inspect(out.data, size, &h) == actzip::status::success && !fill_surely_exact(c, h.absolute_bound)) {
      // The fill value must come back exactly (readers mask it by equality). Decode
      // and look; where it does not, the chunk is stored with bound 0 (exact).
      std::vector<T> check(c.count);
      bool exact = actzip::decompress(actzip::exec::serial, out.data, size, check.data(), c.count) ==
                   actzip::status::success;
      for (std::uint64_t i = 0; exact && i < c.count; ++i)
        if (bits_of(input[i]) == c.fill_bits && bits_of(check[i]) != c.fill_bits) exact = false;
      if (!exact) {
        p.error_bound = actzip::abs(0.0);
        s = actzip::compress(actzip::exec::serial, input, c.shape, p, out.data, capacity, &size);
      }
    }
  }
  if (s != actzip::status::success) {
    push_error(api.minor_cannot_filter, "actzip_h5z_encode", "actzip filter: " + status_message(s, nullptr, 0));
    return 0;
  }
  api.H5free_memory(*buf);
  *buf = out.release();
  *buf_size = capacity;
  return static_cast<std::size_t>(size);
}

template <class T>
std::size_t decode_chunk(const filter_config& c, std::size_t nbytes, std::size_t* buf_size, void** buf) {
  actzip::header h;
  actzip::status s = actzip::inspect(*buf, nbytes, &h);
  if (s != actzip::status::success) {
    push_error(api.minor_cannot_filter, "actzip_h5z_decode",
               "actzip filter: chunk refused: " + status_message(s, *buf, nbytes));
    return 0;
  }
  // The element count, not the shape: a stream's shape is how its chunk was folded
  // (older writers coded shallow 3-D chunks as 3-D), and any C-order fold of the
  // chunk decodes to the same bytes.
  std::uint64_t stream_count = 0;
  if (static_cast<unsigned>(h.dtype) != c.dtype || !h.shape.element_count(&stream_count) || stream_count != c.count) {
    push_error(api.minor_cannot_filter, "actzip_h5z_decode",
               "actzip filter: chunk refused: the stream holds another element type or element count than the "
               "dataset's chunks");
    return 0;
  }
  const std::size_t raw = c.count * c.width;
  hdf5_buffer out(raw == 0 ? 1 : raw);
  if (out.data == nullptr) {
    push_error(api.minor_cannot_filter, "actzip_h5z_decode", "actzip filter: out of memory");
    return 0;
  }
  s = actzip::decompress(actzip::exec::serial, *buf, nbytes, static_cast<T*>(out.data), c.count);
  if (s != actzip::status::success) {
    push_error(api.minor_cannot_filter, "actzip_h5z_decode",
               "actzip filter: chunk refused: " + status_message(s, *buf, nbytes));
    return 0;
  }
  if (c.big_endian) swap_bytes(static_cast<unsigned char*>(out.data), c.count, c.width);
  api.H5free_memory(*buf);
  *buf = out.release();
  *buf_size = raw;
  return raw;
}

std::size_t actzip_filter(unsigned flags, std::size_t cd_nelmts, const unsigned cd_values[], std::size_t nbytes,
                          std::size_t* buf_size, void** buf) noexcept {
  try {
    filter_config c;
    if (std::string why = parse_config(cd_nelmts, cd_values, &c); !why.empty()) {
      push_error(api.minor_bad_value, "actzip_h5z_filter", why);
      return 0;
    }
    const bool decode = (flags & FLAG_REVERSE) != 0;
    switch (c.dtype) {
      case 1: return decode ? decode_chunk<float>(c, nbytes, buf_size, buf) : encode_chunk<float>(c, nbytes, buf_size, buf);
      case 2: return decode ? decode_chunk<double>(c, nbytes, buf_size, buf) : encode_chunk<double>(c, nbytes, buf_size, buf);
      case 3: return decode ? decode_chunk<actzip::half>(c, nbytes, buf_size, buf)
                            : encode_chunk<actzip::half>(c, nbytes, buf_size, buf);
      default: return decode ? decode_chunk<actzip::bfloat16>(c, nbytes, buf_size, buf)
                             : encode_chunk<actzip::bfloat16>(c, nbytes, buf_size, buf);
    }
  } catch (const std::bad_alloc&) {
    push_error(api.minor_cannot_filter, "actzip_h5z_filter", "actzip filter: out of memory");
  } catch (...) {
    push_error(api.minor_cannot_filter, "actzip_h5z_filter", "actzip filter: unexpected error");
  }
  return 0;
}

// ---- dataset creation ------------------------------------------------------------------

htri_t actzip_can_apply(hid_t /*dcpl*/, hid_t type, hid_t /*space*/) noexcept {
  try {
    bool big_endian = false;
    std::string why;
    if (classify_type(type, &big_endian, &why) == 0) {
      push_error(api.minor_bad_type, "actzip_h5z_can_apply", why);
      return -1;  // an error, not "not applicable": optional filters would skip silently
    }
    return 1;
  } catch (...) {
    return -1;
  }
}

herr_t actzip_set_local(hid_t dcpl, hid_t type, hid_t /*space*/) noexcept {
  try {
    unsigned flags = 0;
    std::size_t count = ACTZIP_H5Z_MAX_VALUES;
    unsigned cd[ACTZIP_H5Z_MAX_VALUES] = {};
    if (api.H5Pget_filter_by_id2(dcpl, ACTZIP_H5Z_FILTER_ID, &flags, &count, cd, 0, nullptr, nullptr) < 0) {
      push_error(api.minor_cannot_init, "actzip_h5z_set_local", "actzip filter: cannot read its client data");
      return -1;
    }
    if (std::string why = check_user_values(count, cd); !why.empty()) {
      push_error(api.minor_bad_value, "actzip_h5z_set_local", why);
      return -1;
    }
    bool big_endian = false;
    std::string why;
    const unsigned dtype = classify_type(type, &big_endian, &why);
    if (dtype == 0) {
      push_error(api.minor_bad_type, "actzip_h5z_set_local", why);
      return -1;
    }
    hsize_t chunk[MAX_RANK];
    const int rank = api.H5Pget_chunk(dcpl, MAX_RANK, chunk);
    if (rank < 1 || rank > MAX_RANK) {
      push_error(api.minor_cannot_init, "actzip_h5z_set_local", "actzip filter: the dataset is not chunked");
      return -1;
    }
    unsigned storage = big_endian ? ACTZIP_H5Z_FLAG_BIG_ENDIAN : 0u;
    std::uint64_t fill_bits = 0;
    int fill_status = 0;
    if (api.H5Pfill_value_defined(dcpl, &fill_status) >= 0 && fill_status == H5D_FILL_VALUE_USER_DEFINED) {
      unsigned char fill[8] = {};
      if (api.H5Pget_fill_value(dcpl, type, fill) < 0) {
        push_error(api.minor_cannot_init, "actzip_h5z_set_local", "actzip filter: cannot read the fill value");
        return -1;
      }
      const std::size_t width = dtype_bytes(dtype);
      if (big_endian) swap_bytes(fill, 1, width);
      std::memcpy(&fill_bits, fill, width);  // little-endian host: the low bytes
      storage |= ACTZIP_H5Z_FLAG_FILL_VALUE;
    }
    cd[ACTZIP_H5Z_CD_DTYPE] = dtype;
    cd[ACTZIP_H5Z_CD_FLAGS] = storage;
    cd[ACTZIP_H5Z_CD_FILL_LOW] = static_cast<unsigned>(fill_bits & 0xffffffffu);
    cd[ACTZIP_H5Z_CD_FILL_HIGH] = static_cast<unsigned>(fill_bits >> 32);
    cd[ACTZIP_H5Z_CD_RANK] = static_cast<unsigned>(rank);
    for (int i = 0; i < rank; ++i) cd[ACTZIP_H5Z_CD_CHUNK + i] = static_cast<unsigned>(chunk[i]);
    if (api.H5Pmodify_filter(dcpl, ACTZIP_H5Z_FILTER_ID, flags, ACTZIP_H5Z_CD_CHUNK + std::size_t(rank), cd) < 0) {
      push_error(api.minor_cannot_init, "actzip_h5z_set_local", "actzip filter: cannot record its client data");
      return -1;
    }
    return 0;
  } catch (...) {
    return -1;
  }
}

const H5Z_class2_t actzip_filter_class = {
    CLASS_T_VERS,
    ACTZIP_H5Z_FILTER_ID,
    1,
    1,
    "actzip: error-bounded lossy compression of floating-point data",
    actzip_can_apply,
    actzip_set_local,
    actzip_filter,
};

static_assert(sizeof(void*) == 8 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the actzip HDF5 filter is written for 64-bit little-endian hosts");

}  // namespace

//! HDF5's plugin interface: this library holds a filter.
ACTZIP_H5Z_EXPORT int H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }

//! HDF5's plugin interface: the filter class (an H5Z_class2_t), bound to the HDF5
//! library that asks. Returns null when no HDF5 library can be bound.
ACTZIP_H5Z_EXPORT const void* H5PLget_plugin_info(void) {
  const void* caller = __builtin_extract_return_addr(__builtin_return_address(0));
  return bind_to_caller(caller) ? &actzip_filter_class : nullptr;
}

//! Binds the plugin to the HDF5 library that `library_path` is or links (for h5py:
//! the file of one of its extension modules). Returns 0, or -1 with the reason in
//! actzip_h5z_bind_error().
ACTZIP_H5Z_EXPORT int actzip_h5z_bind(const char* library_path) {
  std::lock_guard<std::mutex> lock(api_mutex);
  if (library_path == nullptr) {
    bind_error = "no library path given";
    return -1;
  }
  void* handle = dlopen(library_path, RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) {
    bind_error = std::string(library_path) + " is not loaded in this process";
    return -1;
  }
  const bool ok = bind_handle(handle, library_path);
  dlclose(handle);
  return ok ? 0 : -1;
}

//! Why the last binding failed (a string owned by the plugin; "" when none did).
ACTZIP_H5Z_EXPORT const char* actzip_h5z_bind_error(void) { return bind_error.c_str(); }

//! The HDF5 library the plugin is bound to ("" before any binding).
ACTZIP_H5Z_EXPORT const char* actzip_h5z_bound_library(void) { return api.library_path.c_str(); }

//! The message of the last refusal (a damaged chunk, a refused type or client data) on
//! the calling thread, "" if none: HDF5 2.0 drops the errors a filter pushes, so
//! h5py's OSError then says only "filter returned failure during read".
ACTZIP_H5Z_EXPORT const char* actzip_h5z_last_error(void) { return last_error.c_str(); }
