// SPDX-License-Identifier: Apache-2.0
//
// The PyTorch extension of actzip: compress / decompress of torch tensors over
// actzip's core layer, and Python bindings of the error-bound policies. Host
// tensors are compressed with exec::omp (exec::serial without OpenMP) using
// torch's intra-op thread count; CUDA tensors go to actzip_torch_cuda.cu, compiled
// in only when PyTorch has CUDA and nvcc exists (ACTZIP_TORCH_WITH_CUDA).
//
// Every buffer is a torch tensor (torch::empty), so device memory comes from
// PyTorch's caching allocator. Errors become actzip_torch.Error (a RuntimeError)
// with actzip's message.
#include "actzip_common.hpp"

#include <actzip/core.hpp>
#include <actzip/policy/policy.hpp>

#if __has_include(<actzip/policy.hpp>)
#include <actzip/policy.hpp>
#define ACTZIP_TORCH_HAS_POLICIES 1
#else
#define ACTZIP_TORCH_HAS_POLICIES 0
#endif

#include <ATen/Parallel.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace actzip_torch {

#if defined(ACTZIP_TORCH_WITH_CUDA)
// actzip_torch_cuda.cu
std::tuple<at::Tensor, at::Tensor> compress_cuda(const at::Tensor& input, const actzip::params& p);
at::Tensor decompress_cuda(const at::Tensor& stream, std::uint64_t stream_size, at::ScalarType type,
                           at::IntArrayRef sizes, bool verify_checksum);
std::uint64_t cuda_workspace_bytes(const actzip::extents& shape);
#endif

namespace {

//! The host executor, with torch's intra-op thread count.
#if ACTZIP_HAS_OPENMP
actzip::exec::omp_t host_executor() { return actzip::exec::omp_t{at::get_num_threads()}; }
#else
actzip::exec::serial_t host_executor() { return actzip::exec::serial; }
#endif

//! Compresses a host tensor; returns the stream, exactly as long as it is.
at::Tensor compress_host(const at::Tensor& input, const actzip::params& p) {
  const at::Tensor x = input.contiguous();
  const actzip::extents shape = fold_shape(x.sizes());
  const actzip::dtype type = to_actzip(x.scalar_type());
  const std::uint64_t capacity = actzip::max_compressed_bytes(type, shape);
  if (capacity == 0) actzip::detail::raise(actzip::status::invalid_argument, "compress: invalid shape");
  const auto e = host_executor();
  const std::uint64_t work = actzip::workspace_bytes(e, shape);
  const auto bytes = at::TensorOptions().dtype(at::kByte);
  // The stream is written into a scratch tensor of the worst-case size, reused by
  // this thread (no page faults on a fresh large allocation each call), and copied
  // into a tensor of its exact size: the copy is of compressed bytes only.
  thread_local at::Tensor scratch;
  if (!scratch.defined() || static_cast<std::uint64_t>(scratch.numel()) < capacity + work)
    scratch = at::empty({static_cast<std::int64_t>(capacity + work)}, bytes);
  unsigned char* out = scratch.data_ptr<unsigned char>();
  unsigned char* workspace = work != 0 ? out + capacity : nullptr;
  // The omp workspace holds 8-byte words: keep it aligned.
  if (work != 0 && reinterpret_cast<std::uintptr_t>(workspace) % 8 != 0) {
    const std::uint64_t pad = 8 - reinterpret_cast<std::uintptr_t>(workspace) % 8;
    if (static_cast<std::uint64_t>(scratch.numel()) < capacity + work + pad) {
      scratch = at::empty({static_cast<std::int64_t>(capacity + work + 8)}, bytes);
      out = scratch.data_ptr<unsigned char>();
    }
    workspace = out + capacity;
    workspace += (8 - reinterpret_cast<std::uintptr_t>(workspace) % 8) % 8;
  }
  std::uint64_t size = 0;
  dispatch(x.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    const T* data = reinterpret_cast<const T*>(x.data_ptr());
    check(actzip::compress(e, data, shape, p, out, capacity, &size, workspace, work), "compress");
    return 0;
  });
  at::Tensor stream = at::empty({static_cast<std::int64_t>(size)}, bytes);
  std::memcpy(stream.data_ptr<unsigned char>(), out, size);
  return stream;
}

//! Decompresses a host stream into a new tensor of `sizes`.
at::Tensor decompress_host(const at::Tensor& stream_tensor, at::ScalarType type, at::IntArrayRef sizes,
                           bool verify_checksum) {
  const at::Tensor stream = stream_tensor.contiguous();
  actzip::header h;
  check(actzip::inspect(stream.data_ptr(), static_cast<std::uint64_t>(stream.numel()), &h), "decompress");
  if (h.dtype != to_actzip(type))
    actzip::detail::raise(actzip::status::dtype_mismatch,
                          std::string("decompress: the stream holds ") + actzip::to_string(h.dtype) +
                              ", the caller asked for " + c10::toString(type));
  check_element_count(sizes, h.element_count);
  at::Tensor out = at::empty(sizes, at::TensorOptions().dtype(type));
  actzip::decode_options options;
  options.verify_checksum = verify_checksum;
  dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    check(actzip::decompress(host_executor(), stream.data_ptr(), static_cast<std::uint64_t>(stream.numel()),
                             reinterpret_cast<T*>(out.data_ptr()), h.element_count, options),
          "decompress");
    return 0;
  });
  return out;
}

}  // namespace

//! compress(x, params) -> uint8 stream. Host tensors: the exact-size stream,
//! synchronously. CUDA tensors: also the exact-size stream, which needs its size
//! on the host, so this form synchronizes with the current stream; compress_async
//! is the form that does not.
at::Tensor compress(const at::Tensor& input, const actzip::params& p) {
  if (input.is_cuda()) {
#if defined(ACTZIP_TORCH_WITH_CUDA)
    auto [buffer, size] = compress_cuda(input, p);
    return buffer.narrow(0, 0, size.item<std::int64_t>()).clone();
#else
    actzip::detail::raise(actzip::status::unsupported, "compress: this build of the extension has no CUDA");
#endif
  }
  if (!input.device().is_cpu())
    actzip::detail::raise(actzip::status::unsupported, "compress: only CPU and CUDA tensors");
  return compress_host(input, p);
}

//! compress_async(x, params) -> (buffer, size). CUDA: buffer is max_compressed_bytes
//! long, size a one-element int64 device tensor written by the kernels; nothing is
//! synchronized. Host: the exact stream and a one-element int64 host tensor.
std::tuple<at::Tensor, at::Tensor> compress_async(const at::Tensor& input, const actzip::params& p) {
  if (input.is_cuda()) {
#if defined(ACTZIP_TORCH_WITH_CUDA)
    return compress_cuda(input, p);
#else
    actzip::detail::raise(actzip::status::unsupported, "compress_async: this build of the extension has no CUDA");
#endif
  }
  at::Tensor stream = compress(input, p);
  return {stream, at::full({1}, stream.numel(), at::TensorOptions().dtype(at::kLong))};
}

//! decompress(stream, dtype, shape) -> tensor on the stream's device.
at::Tensor decompress(const at::Tensor& stream, py::object dtype, std::vector<std::int64_t> shape,
                      bool verify_checksum) {
  check_stream_tensor(stream);
  const at::ScalarType type = torch::python::detail::py_object_to_dtype(dtype);
  if (stream.is_cuda()) {
#if defined(ACTZIP_TORCH_WITH_CUDA)
    return decompress_cuda(stream, static_cast<std::uint64_t>(stream.numel()), type, shape, verify_checksum);
#else
    actzip::detail::raise(actzip::status::unsupported, "decompress: this build of the extension has no CUDA");
#endif
  }
  return decompress_host(stream, type, shape, verify_checksum);
}

//! The stream's header as a dict (host copy of the first bytes for CUDA streams).
//! `size`, when given (>= 0), is the stream's length, for a tensor holding only
//! its first bytes.
py::dict inspect(const at::Tensor& stream_tensor, std::int64_t size) {
  check_stream_tensor(stream_tensor);
  // parse_header reads the first header_bytes bytes only (after checking the
  // length), so a CUDA stream needs just those on the host.
  const std::int64_t head = std::min<std::int64_t>(stream_tensor.numel(), actzip::header_bytes);
  const at::Tensor bytes = stream_tensor.narrow(0, 0, head).to(at::kCPU).contiguous();
  unsigned char copy[actzip::header_bytes] = {};
  std::memcpy(copy, bytes.data_ptr<unsigned char>(), static_cast<std::size_t>(head));
  actzip::header h;
  check(actzip::inspect(copy, static_cast<std::uint64_t>(size >= 0 ? size : stream_tensor.numel()), &h), "inspect");
  py::dict d;
  d["version"] = h.version;
  d["dtype"] = std::string(actzip::to_string(h.dtype));
  std::vector<std::uint64_t> dims;
  for (unsigned i = 0; i < h.shape.rank(); ++i) dims.push_back(h.shape[i]);
  d["shape"] = dims;
  d["requested_bound"] = h.requested_bound.value;
  d["relative"] = h.requested_bound.mode == actzip::bound_mode::relative;
  d["absolute_bound"] = h.absolute_bound;
  d["preserve_sign"] = h.preserve_sign;
  if (h.has_value_range) {
    d["value_min"] = h.value_min;
    d["value_max"] = h.value_max;
  }
  d["element_count"] = h.element_count;
  d["raw_bytes"] = h.raw_bytes();
  d["total_bytes"] = h.total_bytes;
  d["ratio"] = h.ratio();
  return d;
}

std::uint64_t max_compressed_bytes_py(py::object dtype, std::vector<std::int64_t> shape) {
  const at::ScalarType type = torch::python::detail::py_object_to_dtype(dtype);
  return actzip::max_compressed_bytes(to_actzip(type), fold_shape(shape));
}

std::uint64_t workspace_bytes_py(const std::string& device, std::vector<std::int64_t> shape) {
  const actzip::extents e = fold_shape(shape);
  if (device == "cpu") return actzip::workspace_bytes(host_executor(), e);
  if (device == "cuda") {
#if defined(ACTZIP_TORCH_WITH_CUDA)
    return cuda_workspace_bytes(e);
#else
    actzip::detail::raise(actzip::status::unsupported, "workspace_bytes: this build of the extension has no CUDA");
#endif
  }
  actzip::detail::raise(actzip::status::invalid_argument, "workspace_bytes: device is \"cpu\" or \"cuda\"");
}

//! Lets Python classes implement actzip::policy::policy.
class py_policy : public actzip::policy::policy {
 public:
  using actzip::policy::policy::policy;
  actzip::policy::decision decide(const actzip::policy::tensor_info& info) override {
    PYBIND11_OVERRIDE_PURE(actzip::policy::decision, actzip::policy::policy, decide, info);
  }
  void record(const actzip::policy::tensor_result& result) override {
    PYBIND11_OVERRIDE(void, actzip::policy::policy, record, result);
  }
  void observe(const actzip::policy::layer_feedback& feedback) override {
    PYBIND11_OVERRIDE(void, actzip::policy::policy, observe, feedback);
  }
  void end_step() override { PYBIND11_OVERRIDE(void, actzip::policy::policy, end_step, ); }
};

}  // namespace actzip_torch

namespace {

std::string describe_bound(const actzip::bound& b) {
  return std::string(b.mode == actzip::bound_mode::relative ? "rel(" : "abs(") + std::to_string(b.value) + ")";
}

#if ACTZIP_TORCH_HAS_POLICIES
//! adaptive_options from keyword arguments (the defaults are the C++ defaults).
actzip::policy::adaptive_options make_adaptive_options(double beta, std::uint64_t update_interval,
                                                       std::uint64_t warmup_steps, const std::string& warmup,
                                                       double ema_decay, double cap_fraction, double floor_fraction,
                                                       double min_absolute_bound, const actzip::bound& fallback,
                                                       std::uint64_t min_elements) {
  actzip::policy::adaptive_options o;
  o.beta = beta;
  o.update_interval = update_interval;
  o.warmup_steps = warmup_steps;
  if (warmup == "exact") o.warmup = actzip::policy::warmup_mode::exact;
  else if (warmup == "fallback") o.warmup = actzip::policy::warmup_mode::fallback;
  else actzip::detail::raise(actzip::status::invalid_argument, "warmup is \"exact\" or \"fallback\", not \"" + warmup + "\"");
  o.ema_decay = ema_decay;
  o.cap_fraction = cap_fraction;
  o.floor_fraction = floor_fraction;
  o.min_absolute_bound = min_absolute_bound;
  o.fallback = fallback;
  o.min_elements = min_elements;
  return o;
}

//! The keyword arguments of the adaptive options, with the C++ defaults.
#define ACTZIP_TORCH_ADAPTIVE_KWARGS(defaults)                                                                  \
  py::arg("beta") = defaults.beta, py::arg("update_interval") = defaults.update_interval,                     \
  py::arg("warmup_steps") = defaults.warmup_steps, py::arg("warmup") = std::string("exact"),                  \
  py::arg("ema_decay") = defaults.ema_decay, py::arg("cap_fraction") = defaults.cap_fraction,                 \
  py::arg("floor_fraction") = defaults.floor_fraction, py::arg("min_absolute_bound") = defaults.min_absolute_bound, \
  py::arg("fallback") = defaults.fallback, py::arg("min_elements") = defaults.min_elements

void bind_policy_classes(py::module_& m) {
  namespace pol = actzip::policy;
  const pol::adaptive_options defaults{};

  py::class_<pol::fixed, pol::policy, std::shared_ptr<pol::fixed>>(
      m, "FixedPolicy", "One bound for every tensor (preserve_sign for masks, raw for exact and small tensors)")
      .def(py::init([](const actzip::bound& b, std::uint64_t min_elements) {
             pol::fixed_options o;
             o.min_elements = min_elements;
             return std::make_shared<pol::fixed>(b, o);
           }),
           py::arg("bound"), py::arg("min_elements") = pol::fixed_options{}.min_elements)
      .def_property_readonly("bound", &pol::fixed::error_bound)
      .def_property_readonly("min_elements", [](const pol::fixed& f) { return f.configuration().min_elements; })
      .def("__repr__", [](const pol::fixed& f) { return "FixedPolicy(" + describe_bound(f.error_bound()) + ")"; });

  py::class_<pol::adaptive_key_state>(m, "AdaptiveKeyState", "What the adaptive policy knows about one key")
      .def_readonly("observations", &pol::adaptive_key_state::observations)
      .def_readonly("weight_grad_norm", &pol::adaptive_key_state::weight_grad_norm)
      .def_readonly("output_grad_norm", &pol::adaptive_key_state::output_grad_norm)
      .def_readonly("nonzero_fraction", &pol::adaptive_key_state::nonzero_fraction)
      .def_readonly("fan_in", &pol::adaptive_key_state::fan_in)
      .def_readonly("bound", &pol::adaptive_key_state::bound);

  py::class_<pol::adaptive, pol::policy, std::shared_ptr<pol::adaptive>>(
      m, "AdaptivePolicy",
      "Gradient-aware bounds eb = beta*sqrt(3)*||dW|| / (sqrt(rho*fan_in)*||G||), capped at cap_fraction of the "
      "value range, recomputed every update_interval steps after warmup_steps")
      .def(py::init([](double beta, std::uint64_t update_interval, std::uint64_t warmup_steps,
                       const std::string& warmup, double ema_decay, double cap_fraction, double floor_fraction,
                       double min_absolute_bound, const actzip::bound& fallback, std::uint64_t min_elements) {
             return std::make_shared<pol::adaptive>(make_adaptive_options(beta, update_interval, warmup_steps, warmup,
                                                                          ema_decay, cap_fraction, floor_fraction,
                                                                          min_absolute_bound, fallback, min_elements));
           }),
           ACTZIP_TORCH_ADAPTIVE_KWARGS(defaults))
      .def_static("formula_bound", &pol::adaptive::formula_bound, py::arg("beta"), py::arg("weight_grad_norm"),
                  py::arg("output_grad_norm"), py::arg("nonzero_fraction"), py::arg("fan_in"))
      .def_property_readonly("step", &pol::adaptive::step)
      .def_property_readonly("warming_up", &pol::adaptive::warming_up)
      .def("state", &pol::adaptive::state, py::arg("key"))
      .def("current_bound", &pol::adaptive::current_bound, py::arg("key"))
      .def("keys", &pol::adaptive::keys)
      .def_property_readonly("beta", [](const pol::adaptive& a) { return a.configuration().beta; })
      .def("__repr__", [](const pol::adaptive& a) {
        const auto& o = a.configuration();
        return "AdaptivePolicy(beta=" + std::to_string(o.beta) + ", update_interval=" +
               std::to_string(o.update_interval) + ", warmup_steps=" + std::to_string(o.warmup_steps) +
               ", cap_fraction=" + std::to_string(o.cap_fraction) + ", fallback=" + describe_bound(o.fallback) + ")";
      });

  py::class_<pol::budget, pol::policy, std::shared_ptr<pol::budget>>(
      m, "BudgetPolicy",
      "Keeps each step's compressed bytes under bytes_per_step by scaling the adaptive bounds by one common factor")
      .def(py::init([](std::uint64_t bytes_per_step, double min_scale, double max_scale, double beta,
                       std::uint64_t update_interval, std::uint64_t warmup_steps, const std::string& warmup,
                       double ema_decay, double cap_fraction, double floor_fraction, double min_absolute_bound,
                       const actzip::bound& fallback, std::uint64_t min_elements) {
             pol::budget_options o;
             o.min_scale = min_scale;
             o.max_scale = max_scale;
             o.controller = make_adaptive_options(beta, update_interval, warmup_steps, warmup, ema_decay, cap_fraction,
                                                  floor_fraction, min_absolute_bound, fallback, min_elements);
             return std::make_shared<pol::budget>(bytes_per_step, o);
           }),
           py::arg("bytes_per_step"), py::arg("min_scale") = pol::budget_options{}.min_scale,
           py::arg("max_scale") = pol::budget_options{}.max_scale, ACTZIP_TORCH_ADAPTIVE_KWARGS(defaults))
      .def_property_readonly("scale", &pol::budget::scale)
      .def_property_readonly("budget_met", &pol::budget::budget_met)
      .def_property_readonly("predicted_bytes", &pol::budget::predicted_bytes)
      .def_property_readonly("last_step_bytes", &pol::budget::last_step_bytes)
      .def_property_readonly("bytes_per_step", &pol::budget::bytes_per_step)
      .def_property_readonly("step", [](const pol::budget& b) { return b.controller().step(); })
      .def_property_readonly("warming_up", [](const pol::budget& b) { return b.controller().warming_up(); })
      .def("__repr__", [](const pol::budget& b) {
        return "BudgetPolicy(bytes_per_step=" + std::to_string(b.bytes_per_step()) + ")";
      });
}
#undef ACTZIP_TORCH_ADAPTIVE_KWARGS
#endif

void bind_policies(py::module_& m) {
  namespace pol = actzip::policy;
  py::enum_<pol::tensor_role>(m, "TensorRole", "What a saved tensor is used for in the backward pass")
      .value("linear_input", pol::tensor_role::linear_input)
      .value("mask", pol::tensor_role::mask)
      .value("exact", pol::tensor_role::exact)
      .value("other", pol::tensor_role::other);

  py::class_<pol::tensor_info>(m, "TensorInfo", "What the adapter knows about a tensor when it is saved")
      .def(py::init<>())
      .def_readwrite("key", &pol::tensor_info::key)
      .def_property(
          "dtype", [](const pol::tensor_info& i) { return std::string(actzip::to_string(i.type)); },
          [](pol::tensor_info& i, py::object d) {
            i.type = actzip_torch::to_actzip(torch::python::detail::py_object_to_dtype(d));
          })
      .def_readwrite("count", &pol::tensor_info::count)
      .def_readwrite("role", &pol::tensor_info::role)
      .def_readwrite("value_range", &pol::tensor_info::value_range)
      .def_readwrite("fan_in", &pol::tensor_info::fan_in);

  py::class_<pol::decision>(m, "Decision", "A policy's answer for one tensor")
      .def(py::init<>())
      .def(py::init([](bool compress, const actzip::params& p) { return pol::decision{compress, p}; }),
           py::arg("compress"), py::arg("params") = actzip::params{})
      .def_readwrite("compress", &pol::decision::compress)
      .def_readwrite("params", &pol::decision::p)
      .def("__repr__", [](const pol::decision& d) {
        return d.compress ? "Decision(" + describe_bound(d.p.error_bound) +
                                (d.p.preserve_sign ? ", preserve_sign" : "") + ")"
                          : std::string("Decision(keep raw)");
      });

  py::class_<pol::tensor_result>(m, "TensorResult", "What the adapter learnt after compressing one tensor")
      .def(py::init<>())
      .def_readwrite("key", &pol::tensor_result::key)
      .def_readwrite("raw_bytes", &pol::tensor_result::raw_bytes)
      .def_readwrite("compressed_bytes", &pol::tensor_result::compressed_bytes)
      .def_readwrite("absolute_bound", &pol::tensor_result::absolute_bound);

  py::class_<pol::layer_feedback>(m, "LayerFeedback", "Backward-pass statistics of one conv/linear layer")
      .def(py::init<>())
      .def_readwrite("key", &pol::layer_feedback::key)
      .def_readwrite("weight_grad_norm", &pol::layer_feedback::weight_grad_norm)
      .def_readwrite("output_grad_norm", &pol::layer_feedback::output_grad_norm)
      .def_readwrite("nonzero_fraction", &pol::layer_feedback::nonzero_fraction)
      .def_readwrite("fan_in", &pol::layer_feedback::fan_in);

  py::class_<pol::policy, actzip_torch::py_policy, std::shared_ptr<pol::policy>>(
      m, "Policy", "Base class of the error-bound policies; Python subclasses implement decide")
      .def(py::init<>())
      .def("decide", &pol::policy::decide, py::arg("info"))
      .def("record", &pol::policy::record, py::arg("result"))
      .def("observe", &pol::policy::observe, py::arg("feedback"))
      .def("end_step", &pol::policy::end_step);

#if ACTZIP_TORCH_HAS_POLICIES
  bind_policy_classes(m);
#endif
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "actzip: error-bounded lossy compression of torch tensors";
  py::register_exception<actzip::error>(m, "Error", PyExc_RuntimeError);

  py::enum_<actzip::bound_mode>(m, "BoundMode")
      .value("absolute", actzip::bound_mode::absolute)
      .value("relative", actzip::bound_mode::relative);
  py::class_<actzip::bound>(m, "Bound", "An error bound: absolute, or relative to the value range")
      .def(py::init<>())
      .def(py::init([](actzip::bound_mode mode, double value) { return actzip::bound{mode, value}; }), py::arg("mode"),
           py::arg("value"))
      .def_readwrite("mode", &actzip::bound::mode)
      .def_readwrite("value", &actzip::bound::value)
      .def("__repr__", &describe_bound);
  m.def("abs_bound", &actzip::abs, py::arg("value"), "An absolute bound: |x - x'| <= value");
  m.def("rel_bound", &actzip::rel, py::arg("value"), "A relative bound: |x - x'| <= value * (max - min)");
  py::class_<actzip::params>(m, "Params", "Compression parameters: bound and preserve_sign")
      .def(py::init<>())
      .def(py::init([](const actzip::bound& b, bool preserve_sign) {
             actzip::params p;
             p.error_bound = b;
             p.preserve_sign = preserve_sign;
             return p;
           }),
           py::arg("bound"), py::arg("preserve_sign") = false)
      .def_readwrite("bound", &actzip::params::error_bound)
      .def_readwrite("preserve_sign", &actzip::params::preserve_sign)
      .def("__repr__", [](const actzip::params& p) {
        return "Params(" + describe_bound(p.error_bound) + (p.preserve_sign ? ", preserve_sign" : "") + ")";
      });

  m.def("compress", &actzip_torch::compress, py::arg("input"), py::arg("params"),
        "Compresses a float32/float64/float16/bfloat16 tensor into a uint8 stream of its exact size "
        "(CUDA tensors: synchronizes to read the size; see compress_async)");
  m.def("compress_async", &actzip_torch::compress_async, py::arg("input"), py::arg("params"),
        "CUDA: (buffer of max_compressed_bytes, int64 device tensor holding the stream size), no host "
        "synchronization. Host: (stream, size)");
  m.def("decompress", &actzip_torch::decompress, py::arg("stream"), py::arg("dtype"), py::arg("shape"),
        py::arg("verify_checksum") = true,
        "Decompresses a stream into a new tensor of dtype and shape on the stream's device");
  m.def("inspect", &actzip_torch::inspect, py::arg("stream"), py::arg("size") = -1,
        "The stream's header as a dict (size: the stream's length when `stream` holds only its first bytes)");
  m.def("max_compressed_bytes", &actzip_torch::max_compressed_bytes_py, py::arg("dtype"), py::arg("shape"),
        "Upper bound of the stream size for any tensor of dtype and shape");
  m.def("workspace_bytes", &actzip_torch::workspace_bytes_py, py::arg("device"), py::arg("shape"),
        "Workspace bytes compress uses on \"cpu\" or \"cuda\" for a tensor of shape");
  m.def("fold_shape", [](std::vector<std::int64_t> shape) {
    const actzip::extents e = actzip_torch::fold_shape(shape);
    std::vector<std::uint64_t> dims;
    for (unsigned i = 0; i < e.rank(); ++i) dims.push_back(e[i]);
    return dims;
  }, py::arg("shape"), "The rank 1..3 shape actzip compresses a tensor of `shape` as");
#if defined(ACTZIP_TORCH_WITH_CUDA)
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  m.attr("with_openmp") = bool(ACTZIP_HAS_OPENMP);
  m.attr("with_policies") = bool(ACTZIP_TORCH_HAS_POLICIES);
  bind_policies(m);
}
