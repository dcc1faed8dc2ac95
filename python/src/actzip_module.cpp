// SPDX-License-Identifier: Apache-2.0
//
// actzip._actzip: the Python extension over actzip's core layer. Arrays arrive through
// nanobind's nb::ndarray (DLPack or the buffer protocol), host streams as any object
// with the buffer protocol (bytes, bytearray, memoryview, numpy uint8) or a uint8
// DLPack array. Host arrays go to exec::serial / exec::omp; CUDA arrays go to the C
// interface's actzip_cuda_* functions (src/actzip_c.cu, compiled by nvcc into the
// module when ACTZIP_PY_CUDA is 1), with buffers the caller allocated and on the
// stream the caller names. The GIL is released around every compress / decompress /
// verify / diagnose call, after every Python object has been read. The public API is
// python/actzip/__init__.py.
#include <actzip/actzip.hpp>

#ifndef ACTZIP_PY_CUDA
#define ACTZIP_PY_CUDA 0  // 1: the module links the CUDA functions of the C interface
#endif
#ifndef ACTZIP_PY_EMULATED
#define ACTZIP_PY_EMULATED 0  // 1: those functions run on the SIMT emulator (a test build)
#endif
#if ACTZIP_PY_CUDA
#include <actzip/actzip.h>
#endif

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>
#include <string>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

PyObject* error_type = nullptr;  // actzip.Error

const char* status_name(actzip::status s) {
  switch (s) {
    case actzip::status::success: return "success";
    case actzip::status::invalid_argument: return "invalid_argument";
    case actzip::status::unsupported: return "unsupported";
    case actzip::status::buffer_too_small: return "buffer_too_small";
    case actzip::status::size_overflow: return "size_overflow";
    case actzip::status::dtype_mismatch: return "dtype_mismatch";
    case actzip::status::not_a_stream: return "not_a_stream";
    case actzip::status::unsupported_version: return "unsupported_version";
    case actzip::status::corrupt_stream: return "corrupt_stream";
    case actzip::status::cuda_error: return "cuda_error";
    case actzip::status::checksum_mismatch: return "checksum_mismatch";
  }
  return "unknown";
}

// Raises actzip.Error(message) with .status (name) and .code (int) set.
void set_python_error(const actzip::error& e) {
  PyObject* instance = PyObject_CallFunction(error_type, "s", e.what());
  if (instance == nullptr) return;  // a Python error is already set
  PyObject* name = PyUnicode_FromString(status_name(e.code()));
  PyObject* code = PyLong_FromLong(static_cast<long>(e.code()));
  if (name != nullptr) PyObject_SetAttrString(instance, "status", name);
  if (code != nullptr) PyObject_SetAttrString(instance, "code", code);
  Py_XDECREF(name);
  Py_XDECREF(code);
  PyErr_SetObject(error_type, instance);
  Py_DECREF(instance);
}

}  // namespace

namespace actzip_python {

const char* dtype_name(actzip::dtype t) {
  switch (t) {
    case actzip::dtype::float32: return "float32";
    case actzip::dtype::float64: return "float64";
    case actzip::dtype::float16: return "float16";
    case actzip::dtype::bfloat16: return "bfloat16";
  }
  return "unknown";
}

actzip::dtype dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "f32") return actzip::dtype::float32;
  if (name == "float64" || name == "f64") return actzip::dtype::float64;
  if (name == "float16" || name == "f16") return actzip::dtype::float16;
  if (name == "bfloat16" || name == "bf16") return actzip::dtype::bfloat16;
  throw nb::value_error(("actzip compresses float32, float64, float16 and bfloat16, not '" + name + "'").c_str());
}

actzip::codec codec_from_name(const std::string& name) {
  if (name == "bitplane") return actzip::codec::bitplane;
  if (name == "huffman") return actzip::codec::huffman;
  if (name == "automatic") return actzip::codec::automatic;
  throw nb::value_error(("codec must be 'bitplane', 'huffman' or 'automatic', not '" + name + "'").c_str());
}

void bind_policies(nb::module_& m);  // policies.cpp

}  // namespace actzip_python

namespace {

using actzip_python::codec_from_name;
using actzip_python::dtype_from_name;
using actzip_python::dtype_name;

std::string dlpack_name(nb::dlpack::dtype d) {
  std::string kind;
  switch (static_cast<nb::dlpack::dtype_code>(d.code)) {
    case nb::dlpack::dtype_code::Int: kind = "int"; break;
    case nb::dlpack::dtype_code::UInt: kind = "uint"; break;
    case nb::dlpack::dtype_code::Float: kind = "float"; break;
    case nb::dlpack::dtype_code::Bfloat: kind = "bfloat"; break;
    case nb::dlpack::dtype_code::Complex: kind = "complex"; break;
    case nb::dlpack::dtype_code::Bool: kind = "bool"; break;
    default: kind = "dtype code " + std::to_string(d.code) + " of "; break;
  }
  return kind + std::to_string(d.bits);
}

// The actzip element type of an array; `bf16_bits`: a uint16 array holding bfloat16
// bits (numpy arrays of ml_dtypes.bfloat16, viewed as uint16 by the Python layer).
template <class Array>
actzip::dtype array_dtype(const Array& a, bool bf16_bits) {
  const nb::dlpack::dtype d = a.dtype();
  if (d.lanes == 1) {
    const auto code = static_cast<nb::dlpack::dtype_code>(d.code);
    if (bf16_bits && code == nb::dlpack::dtype_code::UInt && d.bits == 16) return actzip::dtype::bfloat16;
    if (!bf16_bits && code == nb::dlpack::dtype_code::Float) {
      if (d.bits == 32) return actzip::dtype::float32;
      if (d.bits == 64) return actzip::dtype::float64;
      if (d.bits == 16) return actzip::dtype::float16;
    }
    if (!bf16_bits && code == nb::dlpack::dtype_code::Bfloat && d.bits == 16) return actzip::dtype::bfloat16;
  }
  throw nb::type_error(("actzip compresses float32, float64, float16 and bfloat16 arrays, not " + dlpack_name(d)).c_str());
}

const char* device_name(int type) {
  switch (type) {
    case nb::device::cpu::value: return "cpu";
    case nb::device::cuda::value: return "cuda";
    case nb::device::cuda_host::value: return "cuda_host";
    case nb::device::cuda_managed::value: return "cuda_managed";
    case nb::device::rocm::value: return "rocm";
    case nb::device::metal::value: return "metal";
    case nb::device::oneapi::value: return "oneapi";
    default: return "a non-CPU device";
  }
}

// True for memory the host can address (DLPack CPU and CUDA pinned host memory).
bool host_accessible(int type) { return type == nb::device::cpu::value || type == nb::device::cuda_host::value; }

// True for CUDA device memory (DLPack CUDA and CUDA managed memory).
bool cuda_memory(int type) { return type == nb::device::cuda::value || type == nb::device::cuda_managed::value; }

template <class Array>
std::string where(const Array& a) {
  return std::string("device '") + device_name(a.device_type()) + "' (DLPack device " +
         std::to_string(a.device_type()) + ":" + std::to_string(a.device_id()) + ")";
}

template <class Array>
void require_cpu(const Array& a, const std::string& what) {
  if (host_accessible(a.device_type())) return;
  if (cuda_memory(a.device_type()) && ACTZIP_PY_CUDA)
    throw nb::value_error((what + " is on " + where(a) +
                           ", and the other arrays of the call are in host memory: pass all of them on one device")
                              .c_str());
  throw nb::value_error((what + " is on " + where(a) +
                         (ACTZIP_PY_CUDA ? "; actzip runs on the host and on CUDA devices only"
                                         : "; this actzip Python package is CPU-only (actzip.has_cuda is False): "
                                           "copy the array to the host first"))
                            .c_str());
}

// Shape of an array as actzip extents; ranks outside 1..3 are refused.
template <class Array>
actzip::extents array_shape(const Array& a, const char* call) {
  if (a.ndim() < 1 || a.ndim() > 3)
    throw actzip::error(actzip::status::invalid_argument,
                        std::string(call) + ": the array has " + std::to_string(a.ndim()) +
                            " dimensions; actzip compresses 1-D, 2-D and 3-D tensors (reshape first)");
  std::uint64_t dims[3] = {1, 1, 1};
  for (size_t i = 0; i < a.ndim(); ++i) dims[i] = static_cast<std::uint64_t>(a.shape(i));
  return actzip::extents::from_array(static_cast<unsigned>(a.ndim()), dims);
}

// True when the array's elements are in C order without gaps (extents of 1 and empty
// arrays ignore their strides).
template <class Array>
bool is_c_contiguous(const Array& a) {
  if (a.size() == 0) return true;
  std::int64_t expected = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expected) return false;
    expected *= static_cast<std::int64_t>(a.shape(i));
  }
  return true;
}

// Copies a strided array of rank 1..3 into `out` in C order (elements of `size` bytes).
template <class Array>
void gather(const Array& a, unsigned size, unsigned char* out) {
  const auto* base = static_cast<const unsigned char*>(a.data());
  std::int64_t n[3] = {1, 1, 1}, s[3] = {0, 0, 0};
  const size_t off = 3 - a.ndim();
  for (size_t i = 0; i < a.ndim(); ++i) {
    n[off + i] = static_cast<std::int64_t>(a.shape(i));
    s[off + i] = a.stride(i) * static_cast<std::int64_t>(size);
  }
  for (std::int64_t i = 0; i < n[0]; ++i)
    for (std::int64_t j = 0; j < n[1]; ++j)
      for (std::int64_t k = 0; k < n[2]; ++k) {
        std::memcpy(out, base + i * s[0] + j * s[1] + k * s[2], size);
        out += size;
      }
}

// Runs f(executor) with exec::serial for threads <= 1, else exec::omp with `threads`.
template <class F>
auto with_executor(int threads, F&& f) {
  if (threads <= 1) return f(actzip::exec::serial);
#if ACTZIP_HAS_OPENMP
  return f(actzip::exec::omp_t{threads});
#else
  throw actzip::error(actzip::status::unsupported,
                      "threads > 1 needs the OpenMP executor, and this build of actzip has no OpenMP");
#endif
}

// Runs f(T{}) with T the element type of `t` (a null pointer of that type).
template <class F>
actzip::status with_element(actzip::dtype t, F&& f) {
  switch (t) {
    case actzip::dtype::float32: return f(static_cast<float*>(nullptr));
    case actzip::dtype::float64: return f(static_cast<double*>(nullptr));
    case actzip::dtype::float16: return f(static_cast<actzip::half*>(nullptr));
    case actzip::dtype::bfloat16: return f(static_cast<actzip::bfloat16*>(nullptr));
  }
  return actzip::status::invalid_argument;
}

int check_threads(std::optional<int> threads) {
  if (!threads) return 1;
  if (*threads < 1) throw nb::value_error("threads must be None or a positive integer");
  return *threads;
}

// The shape, element type and layout of a host input array.
struct host_input {
  actzip::dtype type;
  actzip::extents shape;
  unsigned size;
  bool contiguous;
};

host_input read_host_input(const nb::ndarray<nb::ro>& input, bool bf16_bits, const char* call) {
  require_cpu(input, (std::string(call) + ": the input array").c_str());
  host_input in{array_dtype(input, bf16_bits), array_shape(input, call), 0, is_c_contiguous(input)};
  in.size = actzip::dtype_size(in.type);
  return in;
}

// Compresses a host array into dst[0, capacity). Call without the GIL.
actzip::status compress_host(const nb::ndarray<nb::ro>& input, const host_input& in, const actzip::params& p,
                             int threads, unsigned char* dst, std::uint64_t capacity, std::uint64_t* written) {
  std::vector<unsigned char> copy;  // only for non-contiguous inputs
  const void* src = input.data();
  if (!in.contiguous) {
    copy.resize(static_cast<size_t>(in.shape.size() * in.size));
    gather(input, in.size, copy.data());
    src = copy.data();
  }
  return with_executor(threads, [&](const auto& e) {
    std::vector<unsigned char> workspace(static_cast<size_t>(actzip::workspace_bytes(e, in.shape)));
    return with_element(in.type, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      return actzip::compress(e, static_cast<const T*>(src), in.shape, p, dst, capacity, written, workspace.data(),
                              workspace.size());
    });
  });
}

// The byte count of a one-dimensional, contiguous array of 8-bit integers (a stream
// buffer or a workspace).
template <class Array>
std::uint64_t byte_capacity(const Array& a, const std::string& what) {
  const nb::dlpack::dtype d = a.dtype();
  const auto code = static_cast<nb::dlpack::dtype_code>(d.code);
  if (d.lanes != 1 || d.bits != 8 || (code != nb::dlpack::dtype_code::UInt && code != nb::dlpack::dtype_code::Int))
    throw nb::type_error((what + " must be an array of uint8, not " + dlpack_name(d)).c_str());
  if (a.ndim() != 1 || (a.size() > 1 && a.stride(0) != 1))
    throw nb::value_error((what + " must be a contiguous one-dimensional array").c_str());
  return static_cast<std::uint64_t>(a.size());
}

nb::bytes compress(nb::ndarray<nb::ro> input, const actzip::params& p, std::optional<int> threads_arg,
                   bool bf16_bits) {
  const int threads = check_threads(threads_arg);
  const host_input in = read_host_input(input, bf16_bits, "compress");
  const std::uint64_t capacity = actzip::max_compressed_bytes(in.type, in.shape);
  if (capacity == 0) throw actzip::error(actzip::status::size_overflow, "compress: shape");

  PyObject* out = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(capacity));
  if (out == nullptr) throw nb::python_error();
  nb::object holder = nb::steal(out);
  auto* dst = reinterpret_cast<unsigned char*>(PyBytes_AS_STRING(out));
  std::uint64_t written = 0;
  actzip::status s;
  {
    nb::gil_scoped_release release;
    s = compress_host(input, in, p, threads, dst, capacity, &written);
  }
  if (s != actzip::status::success) throw actzip::error(s, "compress");
  if (_PyBytes_Resize(&out, static_cast<Py_ssize_t>(written)) != 0) {
    holder.release();  // _PyBytes_Resize freed it
    throw nb::python_error();
  }
  holder.release();
  return nb::steal<nb::bytes>(out);
}

// compress_into for a host input: writes the stream into `out` (host bytes) and
// returns its size.
std::uint64_t compress_into_host(nb::ndarray<nb::ro> input, const actzip::params& p, nb::ndarray<> out,
                                 std::optional<int> threads_arg, bool bf16_bits) {
  const int threads = check_threads(threads_arg);
  const host_input in = read_host_input(input, bf16_bits, "compress_into");
  require_cpu(out, "compress_into: out");
  const std::uint64_t capacity = byte_capacity(out, "compress_into: out");
  auto* dst = static_cast<unsigned char*>(out.data());
  std::uint64_t written = 0;
  actzip::status s;
  {
    nb::gil_scoped_release release;
    s = compress_host(input, in, p, threads, dst, capacity, &written);
  }
  if (s == actzip::status::buffer_too_small)
    throw actzip::error(s, "compress_into: out holds " + std::to_string(capacity) +
                               " bytes, too few for this stream (actzip.max_compressed_bytes(shape, dtype) always "
                               "suffices: " + std::to_string(actzip::max_compressed_bytes(in.type, in.shape)) + ")");
  if (s != actzip::status::success) throw actzip::error(s, "compress_into");
  return written;
}

// A stream given to decompress, verify, diagnose or inspect, read in host memory: any
// object with the buffer protocol (bytes, bytearray, memoryview, numpy uint8), or a
// DLPack array of bytes in host memory (a torch uint8 CPU tensor).
struct host_stream {
  Py_buffer view{};
  bool has_view = false;
  nb::ndarray<nb::ro> array;
  const void* pointer = nullptr;
  std::uint64_t bytes = 0;

  host_stream(nb::handle obj, const char* call) {
    if (PyObject_CheckBuffer(obj.ptr()) && PyObject_GetBuffer(obj.ptr(), &view, PyBUF_C_CONTIGUOUS) == 0) {
      has_view = true;
      pointer = view.buf;
      bytes = static_cast<std::uint64_t>(view.len);
      return;
    }
    PyErr_Clear();
    if (!nb::try_cast(obj, array))
      throw nb::type_error((std::string(call) +
                            ": an actzip stream is a contiguous bytes-like object (bytes, bytearray, memoryview, "
                            "numpy uint8 array) or a uint8 DLPack array, not " +
                            nb::type_name(obj.type()).c_str())
                               .c_str());
    if (!host_accessible(array.device_type()))
      throw nb::value_error((std::string(call) + ": the stream is on " + where(array) +
                             "; this call reads streams in host memory (CUDA streams decode with "
                             "actzip.decompress(..., status=, workspace=, stream=); inspect reads a host copy of the "
                             "first actzip.HEADER_BYTES bytes with size=)")
                                .c_str());
    bytes = byte_capacity(array, std::string(call) + ": the stream");
    pointer = array.data();
  }
  ~host_stream() {
    if (has_view) PyBuffer_Release(&view);
  }
  host_stream(const host_stream&) = delete;
  host_stream& operator=(const host_stream&) = delete;
  const void* data() const { return pointer; }
  std::uint64_t size() const { return bytes; }
};

// Throws actzip::error for a refused stream, naming what is wrong and where.
[[noreturn]] void raise_for_stream(actzip::status s, const char* call, const host_stream& in,
                                   const actzip::decode_options& options) {
  std::string context = call;
  if (s == actzip::status::not_a_stream || s == actzip::status::unsupported_version ||
      s == actzip::status::corrupt_stream || s == actzip::status::checksum_mismatch) {
    actzip::stream_fault fault;
    if (actzip::diagnose(in.data(), in.size(), &fault, options) == s && fault.what != nullptr)
      context += ": " + actzip::describe(fault);
  }
  throw actzip::error(s, context);
}

actzip::header read_header(const host_stream& in, const char* call) {
  actzip::header h;
  if (actzip::status s = actzip::inspect(in.data(), in.size(), &h); s != actzip::status::success)
    raise_for_stream(s, call, in, actzip::decode_options{false});
  return h;
}

void decompress_into(nb::handle data, nb::ndarray<> out, std::optional<int> threads_arg, bool verify_checksum,
                     bool bf16_bits) {
  const int threads = check_threads(threads_arg);
  host_stream in(data, "decompress");
  const actzip::header h = read_header(in, "decompress");
  require_cpu(out, "decompress: out");
  const actzip::dtype type = array_dtype(out, bf16_bits);
  if (type != h.dtype)
    throw actzip::error(actzip::status::dtype_mismatch, std::string("decompress: the stream holds ") +
                                                            dtype_name(h.dtype) + ", out is " + dtype_name(type));
  if (!is_c_contiguous(out))
    throw nb::value_error("decompress: out must be C-contiguous (actzip writes it in place, in C order)");
  if (out.size() < h.element_count)
    throw actzip::error(actzip::status::buffer_too_small,
                        "decompress: out holds " + std::to_string(out.size()) + " elements, the stream " +
                            std::to_string(h.element_count));
  const actzip::decode_options options{verify_checksum};
  void* dst = out.data();
  const std::uint64_t count = out.size();
  actzip::status s;
  {
    nb::gil_scoped_release release;
    s = with_executor(threads, [&](const auto& e) {
      return with_element(type, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        return actzip::decompress(e, in.data(), in.size(), static_cast<T*>(dst), count, options);
      });
    });
  }
  if (s != actzip::status::success) raise_for_stream(s, "decompress", in, options);
}

#if ACTZIP_PY_CUDA
// ---- CUDA arrays: the C interface's actzip_cuda_* functions ------------------------
// The caller allocates every buffer and names the stream; nothing here allocates,
// synchronizes or copies to the host.

template <class Array>
void require_cuda(const Array& a, const std::string& what, int device_id) {
  if (!cuda_memory(a.device_type()))
    throw nb::value_error((what + " is on " + where(a) +
                           "; with a CUDA input every array of the call must be in CUDA device memory")
                              .c_str());
  if (a.device_id() != device_id)
    throw nb::value_error((what + " is on CUDA device " + std::to_string(a.device_id()) + ", the input on device " +
                           std::to_string(device_id) + ": pass all arrays of a call on one device")
                              .c_str());
}

// Checks a one-element device word of `bits` bits (an integer) and returns its address.
template <class Array>
void* device_word(const Array& a, unsigned bits, const std::string& what, const char* role) {
  const nb::dlpack::dtype d = a.dtype();
  const auto code = static_cast<nb::dlpack::dtype_code>(d.code);
  if (a.size() != 1 || d.lanes != 1 || d.bits != bits ||
      (code != nb::dlpack::dtype_code::Int && code != nb::dlpack::dtype_code::UInt))
    throw nb::type_error((what + " must be a one-element int" + std::to_string(bits) + " or uint" +
                          std::to_string(bits) + " device array (it receives " + role + "), not " +
                          std::to_string(a.size()) + " elements of " + dlpack_name(d))
                             .c_str());
  return a.data();
}

[[noreturn]] void raise_c(actzip_status s, const std::string& call) {
  std::string context = call;
  if (s == ACTZIP_CUDA_ERROR) context += " (cudaError_t " + std::to_string(actzip_cuda_last_error()) + ")";
  throw actzip::error(static_cast<actzip::status>(s), context);
}

actzip_params to_c(const actzip::params& p) {
  actzip_params c = actzip_params_default();
  c.bound_mode = static_cast<std::int32_t>(p.error_bound.mode);
  c.codec = static_cast<std::int32_t>(p.codec);
  c.bound = p.error_bound.value;
  c.preserve_sign = p.preserve_sign ? 1 : 0;
  return c;
}

std::uint64_t cuda_workspace_bytes(unsigned rank, const std::int64_t* dims) {
  std::uint64_t bytes = 0;
  if (actzip_status s = actzip_cuda_workspace_bytes(static_cast<std::int32_t>(rank), dims, &bytes); s != ACTZIP_SUCCESS)
    raise_c(s, "workspace_bytes");
  return bytes;
}

std::uint64_t cuda_decode_workspace_bytes() {
  std::uint64_t bytes = 0;
  if (actzip_status s = actzip_cuda_decode_workspace_bytes(&bytes); s != ACTZIP_SUCCESS)
    raise_c(s, "decode_workspace_bytes");
  return bytes;
}

void compress_cuda(nb::ndarray<nb::ro> input, const actzip::params& p, nb::ndarray<> out, nb::ndarray<> size,
                   nb::ndarray<> workspace, std::uintptr_t stream, bool bf16_bits) {
  const char* call = "compress_into";
  const actzip::dtype type = array_dtype(input, bf16_bits);
  const actzip::extents shape = array_shape(input, call);
  const int device = input.device_id();
  require_cuda(out, "compress_into: out", device);
  require_cuda(size, "compress_into: size", device);
  require_cuda(workspace, "compress_into: workspace", device);
  if (!is_c_contiguous(input))
    throw nb::value_error("compress_into: a CUDA input must be C-contiguous: actzip reads device arrays in place "
                          "(make a contiguous copy first, e.g. x.contiguous())");
  const std::uint64_t capacity = byte_capacity(out, "compress_into: out");
  const std::uint64_t work = byte_capacity(workspace, "compress_into: workspace");
  void* size_word = device_word(size, 64, "compress_into: size", "the stream's size");
  std::int64_t dims[3] = {0, 0, 0};
  for (unsigned i = 0; i < shape.rank(); ++i) dims[i] = static_cast<std::int64_t>(shape[i]);
  const std::uint64_t needed = actzip::max_compressed_bytes(type, shape);
  if (capacity < needed)
    throw actzip::error(actzip::status::buffer_too_small,
                        "compress_into: out holds " + std::to_string(capacity) + " bytes; on CUDA it must hold " +
                            "actzip.max_compressed_bytes(shape, dtype) = " + std::to_string(needed) +
                            " (the GPU learns the size only while writing)");
  const std::uint64_t work_needed = cuda_workspace_bytes(shape.rank(), dims);
  if (work < work_needed)
    throw actzip::error(actzip::status::buffer_too_small,
                        "compress_into: workspace holds " + std::to_string(work) + " bytes, this shape needs " +
                            std::to_string(work_needed) + " (actzip.workspace_bytes(shape, device='cuda'))");
  const actzip_params c = to_c(p);
  actzip_status s;
  {
    nb::gil_scoped_release release;
    s = actzip_cuda_compress(reinterpret_cast<void*>(stream), input.data(), static_cast<std::int32_t>(type),
                             static_cast<std::int32_t>(shape.rank()), dims, &c, out.data(), capacity,
                             static_cast<std::uint64_t*>(size_word), workspace.data(), work);
  }
  if (s != ACTZIP_SUCCESS) raise_c(s, call);
}

void decompress_cuda(nb::ndarray<nb::ro> data, nb::ndarray<> out, nb::ndarray<> status, nb::ndarray<> workspace,
                     std::uintptr_t stream, bool verify_checksum, bool bf16_bits) {
  const char* call = "decompress";
  const int device = data.device_id();
  const std::uint64_t stream_size = byte_capacity(data, "decompress: the stream");
  require_cuda(out, "decompress: out", device);
  require_cuda(status, "decompress: status", device);
  require_cuda(workspace, "decompress: workspace", device);
  const actzip::dtype type = array_dtype(out, bf16_bits);
  if (!is_c_contiguous(out))
    throw nb::value_error("decompress: out must be C-contiguous (actzip writes it in place, in C order)");
  void* status_word = device_word(status, 32, "decompress: status", "the stream's status");
  const std::uint64_t work = byte_capacity(workspace, "decompress: workspace");
  const std::uint64_t work_needed = cuda_decode_workspace_bytes();
  if (work < work_needed)
    throw actzip::error(actzip::status::buffer_too_small,
                        "decompress: workspace holds " + std::to_string(work) + " bytes, decoding on CUDA needs " +
                            std::to_string(work_needed) + " (actzip.decode_workspace_bytes(device='cuda'))");
  actzip_status s;
  {
    nb::gil_scoped_release release;
    s = actzip_cuda_decompress(reinterpret_cast<void*>(stream), data.data(), stream_size,
                               static_cast<std::int32_t>(type), out.data(), static_cast<std::uint64_t>(out.size()),
                               static_cast<std::int32_t*>(status_word), workspace.data(), work,
                               verify_checksum ? 0u : static_cast<std::uint32_t>(ACTZIP_DECODE_SKIP_CHECKSUM));
  }
  if (s != ACTZIP_SUCCESS) raise_c(s, call);
}
#endif  // ACTZIP_PY_CUDA

// Bytes of workspace compress uses for `dims` on "cpu" (threads) or "cuda".
std::uint64_t workspace_bytes(const std::vector<std::int64_t>& dims, const std::string& device,
                              std::optional<int> threads_arg) {
  if (dims.empty() || dims.size() > 3)
    throw actzip::error(actzip::status::invalid_argument, "workspace_bytes: actzip compresses 1-D to 3-D shapes");
  std::uint64_t d[3] = {0, 0, 0};
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) throw actzip::error(actzip::status::invalid_argument, "workspace_bytes: negative extent");
    d[i] = static_cast<std::uint64_t>(dims[i]);
  }
  if (device == "cpu") {
    const actzip::extents shape = actzip::extents::from_array(static_cast<unsigned>(dims.size()), d);
    return with_executor(check_threads(threads_arg), [&](const auto& e) {
      return static_cast<std::uint64_t>(actzip::workspace_bytes(e, shape));
    });
  }
  if (device == "cuda") {
#if ACTZIP_PY_CUDA
    return cuda_workspace_bytes(static_cast<unsigned>(dims.size()), dims.data());
#else
    throw nb::value_error("workspace_bytes: this actzip Python package is CPU-only (actzip.has_cuda is False)");
#endif
  }
  throw nb::value_error(("workspace_bytes: device is 'cpu' or 'cuda', not '" + device + "'").c_str());
}

std::uint64_t decode_workspace_bytes(const std::string& device) {
  if (device == "cpu") return 0;
  if (device == "cuda") {
#if ACTZIP_PY_CUDA
    return cuda_decode_workspace_bytes();
#else
    throw nb::value_error("decode_workspace_bytes: this actzip Python package is CPU-only (actzip.has_cuda is False)");
#endif
  }
  throw nb::value_error(("decode_workspace_bytes: device is 'cpu' or 'cuda', not '" + device + "'").c_str());
}

// Raises actzip.Error for the status named `name` (status_name) with `context`.
void raise_status(const std::string& name, const std::string& context) {
  for (int code = 1; code <= static_cast<int>(actzip::status::checksum_mismatch); ++code) {
    const auto s = static_cast<actzip::status>(code);
    if (name == status_name(s)) throw actzip::error(s, context);
  }
  throw nb::value_error(("unknown actzip status '" + name + "'").c_str());
}

// Raises actzip.Error for a status word read back from a device (0 is success).
void check_status(std::int64_t code, const std::string& call) {
  if (code == 0) return;
  if (code < 0 || code > static_cast<std::int64_t>(actzip::status::checksum_mismatch))
    throw actzip::error(actzip::status::invalid_argument, call + ": " + std::to_string(code) +
                                                              " is not an actzip status");
  throw actzip::error(static_cast<actzip::status>(code), call);
}

nb::dict inspect(nb::handle data, const std::string& call, std::optional<std::uint64_t> size) {
  host_stream in(data, call.c_str());
  actzip::header h;
  if (size) {
    // Only the first header bytes are read; `size` is the whole stream's length.
    if (in.size() < std::min<std::uint64_t>(*size, actzip::header_bytes))
      throw nb::value_error((call + ": the buffer holds " + std::to_string(in.size()) + " bytes; with size= it must " +
                             "hold the stream's first min(size, actzip.HEADER_BYTES) bytes")
                                .c_str());
    if (actzip::status s = actzip::inspect(in.data(), *size, &h); s != actzip::status::success)
      throw actzip::error(s, call);
  } else {
    h = read_header(in, call.c_str());
  }
  nb::dict d;
  d["version"] = h.version;
  d["dtype"] = dtype_name(h.dtype);
  d["itemsize"] = actzip::dtype_size(h.dtype);
  nb::list shape;
  for (unsigned i = 0; i < h.shape.rank(); ++i) shape.append(h.shape[i]);
  d["shape"] = nb::tuple(shape);
  d["codec"] = actzip::to_string(h.codec);
  d["bound_mode"] = h.requested_bound.mode == actzip::bound_mode::absolute ? "abs" : "rel";
  d["bound_value"] = h.requested_bound.value;
  d["absolute_bound"] = h.absolute_bound;
  d["preserve_sign"] = h.preserve_sign;
  d["value_range"] = h.has_value_range ? nb::object(nb::make_tuple(h.value_min, h.value_max)) : nb::none();
  d["chunk_shape"] = nb::make_tuple(h.chunk_shape.e0, h.chunk_shape.e1, h.chunk_shape.e2);
  d["element_count"] = h.element_count;
  d["chunk_count"] = h.chunk_count;
  d["payload_bytes"] = h.payload_bytes;
  d["total_bytes"] = h.total_bytes;
  d["raw_bytes"] = h.raw_bytes();
  d["ratio"] = h.ratio();
  d["has_checksum"] = h.has_checksum();
  d["checksum"] = h.checksum;
  return d;
}

#if ACTZIP_PY_EMULATED
// The emulated build only: the same memory as a DLPack array that says it is on
// CUDA device 0 (the emulator's device memory is host memory).
// `bfloat16`: obj holds bfloat16 bits as uint16, and the result says bfloat16.
nb::ndarray<nb::array_api> emulated_device_array(nb::object obj, bool bfloat16) {
  nb::ndarray<> a = nb::cast<nb::ndarray<>>(obj);
  nb::dlpack::dtype type = a.dtype();
  if (bfloat16) type = nb::dlpack::dtype{static_cast<std::uint8_t>(nb::dlpack::dtype_code::Bfloat), 16, 1};
  std::vector<size_t> shape(a.ndim());
  std::vector<std::int64_t> strides(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) {
    shape[i] = a.shape(i);
    strides[i] = a.stride(i);
  }
  return nb::ndarray<nb::array_api>(a.data(), a.ndim(), shape.data(), obj, strides.data(), type,
                                    nb::device::cuda::value, 0);
}
#endif

bool verify(nb::handle data, std::optional<int> threads_arg) {
  const int threads = check_threads(threads_arg);
  host_stream in(data, "verify");
  nb::gil_scoped_release release;
  return with_executor(threads, [&](const auto& e) { return actzip::verify(e, in.data(), in.size()); }) ==
         actzip::status::success;
}

std::string diagnose(nb::handle data, bool verify_checksum) {
  host_stream in(data, "diagnose");
  actzip::stream_fault fault;
  actzip::status s;
  {
    nb::gil_scoped_release release;
    s = actzip::diagnose(in.data(), in.size(), &fault, actzip::decode_options{verify_checksum});
  }
  if (s == actzip::status::success) return {};
  std::string text = std::string(status_name(s)) + ": " + actzip::to_string(s);
  if (fault.what != nullptr) text += ": " + actzip::describe(fault);
  return text;
}

std::uint64_t max_compressed_bytes(const std::vector<std::int64_t>& dims, const std::string& type) {
  const actzip::dtype t = dtype_from_name(type);
  if (dims.empty() || dims.size() > 3)
    throw actzip::error(actzip::status::invalid_argument, "max_compressed_bytes: actzip compresses 1-D to 3-D shapes");
  std::uint64_t d[3];
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) throw actzip::error(actzip::status::invalid_argument, "max_compressed_bytes: negative extent");
    d[i] = static_cast<std::uint64_t>(dims[i]);
  }
  const std::uint64_t n = actzip::max_compressed_bytes(t, actzip::extents::from_array(static_cast<unsigned>(dims.size()), d));
  if (n == 0) throw actzip::error(actzip::status::size_overflow, "max_compressed_bytes: shape");
  return n;
}

std::string bound_repr(const actzip::bound& b) {
  return std::string("actzip.") + (b.mode == actzip::bound_mode::absolute ? "abs(" : "rel(") +
         nb::repr(nb::float_(b.value)).c_str() + ")";
}

}  // namespace

NB_MODULE(_actzip, m) {
  m.doc() = "actzip's core layer for host and CUDA arrays (see the actzip package)";
  // Policies live as long as the training code holds them; PyTorch's hooks and test
  // frameworks often still do at interpreter exit, which is not a leak to report.
  nb::set_leak_warnings(false);

  error_type = PyErr_NewExceptionWithDoc(
      "actzip.Error",
      "An actzip status other than success. `status` is its name (e.g. 'corrupt_stream'), `code` its "
      "number; str() is the library's message, naming what is wrong and where.",
      PyExc_RuntimeError, nullptr);
  m.attr("Error") = nb::handle(error_type);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const actzip::error& e) {
      set_python_error(e);
    }
  });

  nb::class_<actzip::bound>(m, "Bound", "An error bound: made by actzip.abs(v) or actzip.rel(v).")
      .def_prop_ro("mode", [](const actzip::bound& b) { return b.mode == actzip::bound_mode::absolute ? "abs" : "rel"; })
      .def_prop_ro("value", [](const actzip::bound& b) { return b.value; })
      .def("__repr__", &bound_repr)
      .def("__eq__", [](const actzip::bound& a, const actzip::bound& b) { return a.mode == b.mode && a.value == b.value; });
  m.def("abs", [](double v) { return actzip::abs(v); }, "value"_a,
        "An absolute error bound: every reconstructed x' satisfies |x - x'| <= value.");
  m.def("rel", [](double v) { return actzip::rel(v); }, "value"_a,
        "A bound relative to the value range: |x - x'| <= value * (max - min) over the finite values.");

  nb::class_<actzip::params>(m, "Params", "Parameters of one compression.")
      .def(
          "__init__",
          [](actzip::params* p, const actzip::bound& b, const std::string& codec, bool preserve_sign) {
            new (p) actzip::params{b, codec_from_name(codec), preserve_sign};
          },
          "bound"_a, "codec"_a = "bitplane", "preserve_sign"_a = false)
      .def_prop_rw(
          "bound", [](const actzip::params& p) { return p.error_bound; },
          [](actzip::params& p, const actzip::bound& b) { p.error_bound = b; })
      .def_prop_rw(
          "codec", [](const actzip::params& p) { return std::string(actzip::to_string(p.codec)); },
          [](actzip::params& p, const std::string& c) { p.codec = codec_from_name(c); })
      .def_rw("preserve_sign", &actzip::params::preserve_sign)
      .def("__repr__", [](const actzip::params& p) {
        return "actzip.Params(" + bound_repr(p.error_bound) + ", codec='" + actzip::to_string(p.codec) +
               "', preserve_sign=" + (p.preserve_sign ? "True" : "False") + ")";
      });

  m.def("_compress", &compress, "array"_a, "params"_a, "threads"_a.none(), "bf16_bits"_a);
  m.def("_decompress_into", &decompress_into, "data"_a, "out"_a, "threads"_a.none(), "verify_checksum"_a,
        "bf16_bits"_a);
  m.def("_compress_into", &compress_into_host, "array"_a, "params"_a, "out"_a, "threads"_a.none(), "bf16_bits"_a);
  m.def("_inspect", &inspect, "data"_a, "call"_a, "size"_a.none());
  m.def("_workspace_bytes", &workspace_bytes, "shape"_a, "device"_a, "threads"_a.none());
  m.def("_decode_workspace_bytes", &decode_workspace_bytes, "device"_a);
  m.def("_raise", &raise_status, "status"_a, "context"_a);
  m.def("check_status", &check_status, "code"_a, "call"_a = "decompress",
        "Raises actzip.Error for an actzip status code other than 0 (success), as read back from the status word "
        "of a CUDA decompress.");
#if ACTZIP_PY_CUDA
  m.def("_compress_cuda", &compress_cuda, "array"_a, "params"_a, "out"_a, "size"_a, "workspace"_a, "stream"_a,
        "bf16_bits"_a);
  m.def("_decompress_cuda", &decompress_cuda, "data"_a, "out"_a, "status"_a, "workspace"_a, "stream"_a,
        "verify_checksum"_a, "bf16_bits"_a);
#endif
#if ACTZIP_PY_EMULATED
  m.def("_emulated_device_array", &emulated_device_array, "array"_a, "bfloat16"_a = false);
#endif
  m.def(
      "_address", [](nb::ndarray<nb::ro> a) { return reinterpret_cast<std::uintptr_t>(a.data()); }, "array"_a,
      "The address of the first element of the array as this module sees it (tests: DLPack imports do not copy).");
  m.attr("HEADER_BYTES") = actzip::header_bytes;
  actzip_python::bind_policies(m);
  m.def("verify", &verify, "data"_a, "threads"_a = nb::none(),
        "True when the stream's header is valid and its checksum matches (no decoding).");
  m.def("diagnose", &diagnose, "data"_a, "verify_checksum"_a = true,
        "'' for a stream that decodes, else '<status>: <message>: <what> at stream byte <n> (chunk <c>)'.");
  m.def("_max_compressed_bytes", &max_compressed_bytes, "shape"_a, "dtype"_a);
  m.attr("has_openmp") = bool(ACTZIP_HAS_OPENMP);
  m.attr("has_cuda") = bool(ACTZIP_PY_CUDA);
  m.attr("emulated_cuda") = bool(ACTZIP_PY_EMULATED);
  m.attr("library_version") = ACTZIP_VERSION_STRING;
  m.attr("format_version") = actzip::format_version;
}
