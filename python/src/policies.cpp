// SPDX-License-Identifier: Apache-2.0
//
// actzip._actzip: the error-bound policies (<actzip/policy.hpp>) for Python. The
// training layers (actzip.torch) ask a policy for each saved tensor's parameters
// (decide), report what compressing it gave (record) and the backward pass's layer
// statistics (observe), and end each step (end_step). Python subclasses of Policy
// implement decide (and optionally the others) themselves.
#include <actzip/policy.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <nanobind/trampoline.h>

#include <cstdint>
#include <string>

namespace nb = nanobind;
using namespace nb::literals;

namespace actzip_python {

actzip::dtype dtype_from_name(const std::string& name);  // actzip_module.cpp
const char* dtype_name(actzip::dtype t);                  // actzip_module.cpp
actzip::codec codec_from_name(const std::string& name);   // actzip_module.cpp

namespace {

namespace pol = actzip::policy;

//! Lets Python classes implement actzip::policy::policy.
class py_policy : public pol::policy {
 public:
#if NB_VERSION_MAJOR >= 3
  NB_TRAMPOLINE(pol::policy);
#else
  NB_TRAMPOLINE(pol::policy, 4);
#endif
  pol::decision decide(const pol::tensor_info& info) override { NB_OVERRIDE_PURE(decide, info); }
  void record(const pol::tensor_result& result) override { NB_OVERRIDE(record, result); }
  void observe(const pol::layer_feedback& feedback) override { NB_OVERRIDE(observe, feedback); }
  void end_step() override { NB_OVERRIDE(end_step); }
};

std::string describe(const actzip::bound& b) {
  return std::string(b.mode == actzip::bound_mode::relative ? "rel(" : "abs(") +
         nb::repr(nb::float_(b.value)).c_str() + ")";
}

//! An element type given as a name ("float32", "bf16") or as an object whose str()
//! names one (numpy dtypes, "torch.float16").
actzip::dtype dtype_from_object(nb::handle value) {
  std::string text = nb::str(value).c_str();
  if (text.rfind("torch.", 0) == 0) text = text.substr(6);
  return dtype_from_name(text);
}

pol::adaptive_options make_adaptive_options(double beta, std::uint64_t update_interval, std::uint64_t warmup_steps,
                                            const std::string& warmup, double ema_decay, double cap_fraction,
                                            double floor_fraction, double min_absolute_bound,
                                            const actzip::bound& fallback, std::uint64_t min_elements,
                                            const std::string& codec) {
  pol::adaptive_options o;
  o.beta = beta;
  o.update_interval = update_interval;
  o.warmup_steps = warmup_steps;
  if (warmup == "exact")
    o.warmup = pol::warmup_mode::exact;
  else if (warmup == "fallback")
    o.warmup = pol::warmup_mode::fallback;
  else
    throw nb::value_error(("warmup is 'exact' or 'fallback', not '" + warmup + "'").c_str());
  o.ema_decay = ema_decay;
  o.cap_fraction = cap_fraction;
  o.floor_fraction = floor_fraction;
  o.min_absolute_bound = min_absolute_bound;
  o.fallback = fallback;
  o.min_elements = min_elements;
  o.codec = codec_from_name(codec);
  return o;
}

}  // namespace

void bind_policies(nb::module_& m) {
  nb::enum_<pol::tensor_role>(m, "TensorRole", "What a saved tensor is used for in the backward pass")
      .value("linear_input", pol::tensor_role::linear_input)
      .value("mask", pol::tensor_role::mask)
      .value("exact", pol::tensor_role::exact)
      .value("other", pol::tensor_role::other);

  nb::class_<pol::tensor_info>(m, "TensorInfo", "What a training layer knows about a tensor when it is saved")
      .def(nb::init<>())
      .def_rw("key", &pol::tensor_info::key)
      .def_prop_rw(
          "dtype", [](const pol::tensor_info& i) { return std::string(dtype_name(i.type)); },
          [](pol::tensor_info& i, nb::handle d) { i.type = dtype_from_object(d); },
          "The element type: set from a name ('float32') or a numpy or torch dtype; read as a name")
      .def_rw("count", &pol::tensor_info::count)
      .def_rw("role", &pol::tensor_info::role)
      .def_rw("value_range", &pol::tensor_info::value_range)
      .def_rw("fan_in", &pol::tensor_info::fan_in);

  nb::class_<pol::decision>(m, "Decision", "A policy's answer for one tensor")
      .def(nb::init<>())
      .def(
          "__init__", [](pol::decision* d, bool compress, const actzip::params& p) { new (d) pol::decision{compress, p}; },
          "compress"_a, "params"_a = actzip::params{})
      .def_rw("compress", &pol::decision::compress)
      .def_rw("params", &pol::decision::p)
      .def("__repr__", [](const pol::decision& d) {
        return d.compress ? "Decision(" + describe(d.p.error_bound) + ", codec='" + actzip::to_string(d.p.codec) +
                                "'" + (d.p.preserve_sign ? ", preserve_sign" : "") + ")"
                          : std::string("Decision(keep raw)");
      });

  nb::class_<pol::tensor_result>(m, "TensorResult", "What compressing one tensor gave")
      .def(nb::init<>())
      .def_rw("key", &pol::tensor_result::key)
      .def_rw("raw_bytes", &pol::tensor_result::raw_bytes)
      .def_rw("compressed_bytes", &pol::tensor_result::compressed_bytes)
      .def_rw("absolute_bound", &pol::tensor_result::absolute_bound);

  nb::class_<pol::layer_feedback>(m, "LayerFeedback", "Backward-pass statistics of one conv/linear layer")
      .def(nb::init<>())
      .def_rw("key", &pol::layer_feedback::key)
      .def_rw("weight_grad_norm", &pol::layer_feedback::weight_grad_norm)
      .def_rw("output_grad_norm", &pol::layer_feedback::output_grad_norm)
      .def_rw("nonzero_fraction", &pol::layer_feedback::nonzero_fraction)
      .def_rw("fan_in", &pol::layer_feedback::fan_in);

  nb::class_<pol::policy, py_policy>(m, "Policy",
                                     "Base class of the error-bound policies; Python subclasses implement decide")
      .def(nb::init<>())
      .def("decide", &pol::policy::decide, "info"_a)
      .def("record", &pol::policy::record, "result"_a)
      .def("observe", &pol::policy::observe, "feedback"_a)
      .def("end_step", &pol::policy::end_step);

  nb::class_<pol::fixed, pol::policy>(
      m, "FixedPolicy", "One bound for every tensor (preserve_sign for masks, raw for exact and small tensors)")
      .def(
          "__init__",
          [](pol::fixed* f, const actzip::bound& b, std::uint64_t min_elements, const std::string& codec) {
            pol::fixed_options o;
            o.min_elements = min_elements;
            o.codec = codec_from_name(codec);
            new (f) pol::fixed(b, o);
          },
          "bound"_a, "min_elements"_a = pol::fixed_options{}.min_elements, "codec"_a = "bitplane")
      .def_prop_ro("bound", &pol::fixed::error_bound)
      .def_prop_ro("min_elements", [](const pol::fixed& f) { return f.configuration().min_elements; })
      .def_prop_ro("codec", [](const pol::fixed& f) { return std::string(actzip::to_string(f.configuration().codec)); })
      .def("__repr__", [](const pol::fixed& f) { return "FixedPolicy(" + describe(f.error_bound()) + ")"; });

  nb::class_<pol::adaptive_key_state>(m, "AdaptiveKeyState", "What the adaptive policy knows about one key")
      .def_ro("observations", &pol::adaptive_key_state::observations)
      .def_ro("weight_grad_norm", &pol::adaptive_key_state::weight_grad_norm)
      .def_ro("output_grad_norm", &pol::adaptive_key_state::output_grad_norm)
      .def_ro("nonzero_fraction", &pol::adaptive_key_state::nonzero_fraction)
      .def_ro("fan_in", &pol::adaptive_key_state::fan_in)
      .def_ro("bound", &pol::adaptive_key_state::bound);

  const pol::adaptive_options d{};
  nb::class_<pol::adaptive, pol::policy>(
      m, "AdaptivePolicy",
      "Gradient-aware bounds eb = beta*sqrt(3)*||dW|| / (sqrt(rho*fan_in)*||G||), capped at cap_fraction of the "
      "value range, recomputed every update_interval steps after warmup_steps")
      .def(
          "__init__",
          [](pol::adaptive* a, double beta, std::uint64_t update_interval, std::uint64_t warmup_steps,
             const std::string& warmup, double ema_decay, double cap_fraction, double floor_fraction,
             double min_absolute_bound, const actzip::bound& fallback, std::uint64_t min_elements,
             const std::string& codec) {
            new (a) pol::adaptive(make_adaptive_options(beta, update_interval, warmup_steps, warmup, ema_decay,
                                                        cap_fraction, floor_fraction, min_absolute_bound, fallback,
                                                        min_elements, codec));
          },
          "beta"_a = d.beta, "update_interval"_a = d.update_interval, "warmup_steps"_a = d.warmup_steps,
          "warmup"_a = "exact", "ema_decay"_a = d.ema_decay, "cap_fraction"_a = d.cap_fraction,
          "floor_fraction"_a = d.floor_fraction, "min_absolute_bound"_a = d.min_absolute_bound,
          "fallback"_a = d.fallback, "min_elements"_a = d.min_elements, "codec"_a = "bitplane")
      .def_static("formula_bound", &pol::adaptive::formula_bound, "beta"_a, "weight_grad_norm"_a,
                  "output_grad_norm"_a, "nonzero_fraction"_a, "fan_in"_a)
      .def_prop_ro("step", &pol::adaptive::step)
      .def_prop_ro("warming_up", &pol::adaptive::warming_up)
      .def("state", &pol::adaptive::state, "key"_a)
      .def("current_bound", &pol::adaptive::current_bound, "key"_a)
      .def("keys", &pol::adaptive::keys)
      .def_prop_ro("beta", [](const pol::adaptive& a) { return a.configuration().beta; })
      .def_prop_ro("codec",
                   [](const pol::adaptive& a) { return std::string(actzip::to_string(a.configuration().codec)); })
      .def("__repr__", [](const pol::adaptive& a) {
        const auto& o = a.configuration();
        return "AdaptivePolicy(beta=" + std::to_string(o.beta) + ", update_interval=" +
               std::to_string(o.update_interval) + ", warmup_steps=" + std::to_string(o.warmup_steps) +
               ", cap_fraction=" + std::to_string(o.cap_fraction) + ", fallback=" + describe(o.fallback) + ")";
      });

  nb::class_<pol::budget, pol::policy>(
      m, "BudgetPolicy",
      "Keeps each step's compressed bytes under bytes_per_step by scaling the adaptive bounds by one common factor")
      .def(
          "__init__",
          [](pol::budget* b, std::uint64_t bytes_per_step, double min_scale, double max_scale, double beta,
             std::uint64_t update_interval, std::uint64_t warmup_steps, const std::string& warmup, double ema_decay,
             double cap_fraction, double floor_fraction, double min_absolute_bound, const actzip::bound& fallback,
             std::uint64_t min_elements, const std::string& codec) {
            pol::budget_options o;
            o.min_scale = min_scale;
            o.max_scale = max_scale;
            o.controller = make_adaptive_options(beta, update_interval, warmup_steps, warmup, ema_decay, cap_fraction,
                                                 floor_fraction, min_absolute_bound, fallback, min_elements, codec);
            new (b) pol::budget(bytes_per_step, o);
          },
          "bytes_per_step"_a, "min_scale"_a = pol::budget_options{}.min_scale,
          "max_scale"_a = pol::budget_options{}.max_scale, "beta"_a = d.beta, "update_interval"_a = d.update_interval,
          "warmup_steps"_a = d.warmup_steps, "warmup"_a = "exact", "ema_decay"_a = d.ema_decay,
          "cap_fraction"_a = d.cap_fraction, "floor_fraction"_a = d.floor_fraction,
          "min_absolute_bound"_a = d.min_absolute_bound, "fallback"_a = d.fallback, "min_elements"_a = d.min_elements,
          "codec"_a = "bitplane")
      .def_prop_ro("scale", &pol::budget::scale)
      .def_prop_ro("budget_met", &pol::budget::budget_met)
      .def_prop_ro("predicted_bytes", &pol::budget::predicted_bytes)
      .def_prop_ro("last_step_bytes", &pol::budget::last_step_bytes)
      .def_prop_ro("bytes_per_step", &pol::budget::bytes_per_step)
      .def_prop_ro("step", [](const pol::budget& b) { return b.controller().step(); })
      .def_prop_ro("warming_up", [](const pol::budget& b) { return b.controller().warming_up(); })
      .def("__repr__", [](const pol::budget& b) {
        return "BudgetPolicy(bytes_per_step=" + std::to_string(b.bytes_per_step()) + ")";
      });
}

}  // namespace actzip_python
