// SPDX-License-Identifier: Apache-2.0
//
// actzip._actzip: the Python extension over actzip's core layer (CPU executors only).
// Arrays arrive through nanobind's nb::ndarray (DLPack or the buffer protocol), streams
// as any object with the buffer protocol (bytes, bytearray, memoryview, numpy uint8).
// The GIL is released around every compress / decompress / verify / diagnose call,
// after every Python object has been read. The public API is python/actzip/__init__.py.
#include <actzip/actzip.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

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

// A read-only view of a bytes-like object, held for the duration of a call.
struct stream_buffer {
  Py_buffer view{};
  explicit stream_buffer(nb::handle obj) {
    if (PyObject_GetBuffer(obj.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) {
      PyErr_Clear();
      throw nb::type_error(("an actzip stream must be a contiguous bytes-like object (bytes, bytearray, "
                            "memoryview, numpy uint8 array), not " +
                            std::string(nb::type_name(obj.type()).c_str()))
                               .c_str());
    }
  }
  ~stream_buffer() { PyBuffer_Release(&view); }
  stream_buffer(const stream_buffer&) = delete;
  stream_buffer& operator=(const stream_buffer&) = delete;
  const void* data() const { return view.buf; }
  std::uint64_t size() const { return static_cast<std::uint64_t>(view.len); }
};

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

template <class Array>
void require_cpu(const Array& a, const char* what) {
  if (a.device_type() != nb::device::cpu::value)
    throw nb::value_error((std::string(what) + " is on device '" + device_name(a.device_type()) + "' (DLPack device " +
                           std::to_string(a.device_type()) + ":" + std::to_string(a.device_id()) +
                           "); this actzip Python package is CPU-only (actzip.has_cuda is False): "
                           "copy the array to the host first")
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
actzip::status with_executor(int threads, F&& f) {
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

// Throws actzip::error for a refused stream, naming what is wrong and where.
[[noreturn]] void raise_for_stream(actzip::status s, const char* call, const stream_buffer& in,
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

actzip::header read_header(const stream_buffer& in, const char* call) {
  actzip::header h;
  if (actzip::status s = actzip::inspect(in.data(), in.size(), &h); s != actzip::status::success)
    raise_for_stream(s, call, in, actzip::decode_options{false});
  return h;
}

nb::bytes compress(nb::ndarray<nb::ro> input, const actzip::params& p, std::optional<int> threads_arg,
                   bool bf16_bits) {
  const int threads = check_threads(threads_arg);
  require_cpu(input, "compress: the input array");
  const actzip::dtype type = array_dtype(input, bf16_bits);
  const actzip::extents shape = array_shape(input, "compress");
  const std::uint64_t capacity = actzip::max_compressed_bytes(type, shape);
  if (capacity == 0) throw actzip::error(actzip::status::size_overflow, "compress: shape");
  const unsigned size = actzip::dtype_size(type);
  const bool contiguous = is_c_contiguous(input);

  PyObject* out = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(capacity));
  if (out == nullptr) throw nb::python_error();
  nb::object holder = nb::steal(out);
  auto* dst = reinterpret_cast<unsigned char*>(PyBytes_AS_STRING(out));
  std::uint64_t written = 0;
  actzip::status s;
  {
    nb::gil_scoped_release release;
    std::vector<unsigned char> copy;  // only for non-contiguous inputs
    const void* src = input.data();
    if (!contiguous) {
      copy.resize(static_cast<size_t>(shape.size() * size));
      gather(input, size, copy.data());
      src = copy.data();
    }
    s = with_executor(threads, [&](const auto& e) {
      std::vector<unsigned char> workspace(static_cast<size_t>(actzip::workspace_bytes(e, shape)));
      return with_element(type, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        return actzip::compress(e, static_cast<const T*>(src), shape, p, dst, capacity, &written, workspace.data(),
                                workspace.size());
      });
    });
  }
  if (s != actzip::status::success) throw actzip::error(s, "compress");
  if (_PyBytes_Resize(&out, static_cast<Py_ssize_t>(written)) != 0) {
    holder.release();  // _PyBytes_Resize freed it
    throw nb::python_error();
  }
  holder.release();
  return nb::steal<nb::bytes>(out);
}

void decompress_into(nb::handle data, nb::ndarray<> out, std::optional<int> threads_arg, bool verify_checksum,
                     bool bf16_bits) {
  const int threads = check_threads(threads_arg);
  stream_buffer in(data);
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

nb::dict inspect(nb::handle data, const std::string& call) {
  stream_buffer in(data);
  const actzip::header h = read_header(in, call.c_str());
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

bool verify(nb::handle data, std::optional<int> threads_arg) {
  const int threads = check_threads(threads_arg);
  stream_buffer in(data);
  nb::gil_scoped_release release;
  return with_executor(threads, [&](const auto& e) { return actzip::verify(e, in.data(), in.size()); }) ==
         actzip::status::success;
}

std::string diagnose(nb::handle data, bool verify_checksum) {
  stream_buffer in(data);
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

actzip::codec codec_from_name(const std::string& name) {
  if (name == "bitplane") return actzip::codec::bitplane;
  if (name == "huffman") return actzip::codec::huffman;
  if (name == "automatic") return actzip::codec::automatic;
  throw nb::value_error(("codec must be 'bitplane', 'huffman' or 'automatic', not '" + name + "'").c_str());
}

std::string bound_repr(const actzip::bound& b) {
  return std::string("actzip.") + (b.mode == actzip::bound_mode::absolute ? "abs(" : "rel(") +
         nb::repr(nb::float_(b.value)).c_str() + ")";
}

}  // namespace

NB_MODULE(_actzip, m) {
  m.doc() = "actzip's core layer for CPU arrays (see the actzip package)";

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
      .def_prop_ro("bound", [](const actzip::params& p) { return p.error_bound; })
      .def_prop_ro("codec", [](const actzip::params& p) { return actzip::to_string(p.codec); })
      .def_prop_ro("preserve_sign", [](const actzip::params& p) { return p.preserve_sign; })
      .def("__repr__", [](const actzip::params& p) {
        return "actzip.Params(" + bound_repr(p.error_bound) + ", codec='" + actzip::to_string(p.codec) +
               "', preserve_sign=" + (p.preserve_sign ? "True" : "False") + ")";
      });

  m.def("_compress", &compress, "array"_a, "params"_a, "threads"_a.none(), "bf16_bits"_a);
  m.def("_decompress_into", &decompress_into, "data"_a, "out"_a, "threads"_a.none(), "verify_checksum"_a,
        "bf16_bits"_a);
  m.def("_inspect", &inspect, "data"_a, "call"_a);
  m.def("verify", &verify, "data"_a, "threads"_a = nb::none(),
        "True when the stream's header is valid and its checksum matches (no decoding).");
  m.def("diagnose", &diagnose, "data"_a, "verify_checksum"_a = true,
        "'' for a stream that decodes, else '<status>: <message>: <what> at stream byte <n> (chunk <c>)'.");
  m.def("_max_compressed_bytes", &max_compressed_bytes, "shape"_a, "dtype"_a);
  m.attr("has_openmp") = bool(ACTZIP_HAS_OPENMP);
  m.attr("has_cuda") = false;
  m.attr("library_version") = ACTZIP_VERSION_STRING;
  m.attr("format_version") = actzip::format_version;
}
