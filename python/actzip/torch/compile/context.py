# SPDX-License-Identifier: Apache-2.0
"""The context manager of compressed activations in compiled graphs: the hooks of its
configuration, the statistics of the streams made at run time, the refusal of saves
made outside compiled graphs, and the measured bounds (see the package's
documentation)."""
from __future__ import annotations

import importlib
import time
import warnings

import torch

import actzip as _az

from .. import tensors as _tensors
from ..sensitivity import DEPTHS, PROBE_BOUND, Capture, _relative, fit_bounds, loss_spec
from ..stats import CompressionStats
from .hooks import hooks_of
from .ops import FLOATS, refuse, state


def _compiled(model):
    dynamo = getattr(torch, "_dynamo", None)
    optimized = getattr(getattr(dynamo, "eval_frame", None), "OptimizedModule", None)
    return (optimized is not None and isinstance(model, optimized)) or \
        getattr(model, "_compiled_call_impl", None) is not None


def _backend_failures():
    """Dynamo's count of graphs whose backend failed (then run eagerly), and the last
    explanation it gave."""
    from torch._dynamo.utils import counters
    failed = counters["aot_autograd"].get("not_ok", 0)
    explanation = None
    for text, count in counters["unimplemented"].items():
        if "Backend compiler" in text and count:
            failed += count
            explanation = text
    return failed, explanation


# The backward operators that read a saved value, by family: the measured groups of a
# compiled graph's values are families of readers, cut by depth as the eager adapter
# cuts its kinds.
_FAMILIES = {"addmm": "mm", "mm": "mm", "mkldnnlinear": "mm", "bmm": "bmm", "baddbmm": "bmm",
             "softmax": "softmax", "safesoftmax": "softmax", "softmaxbackwarddata": "softmax",
             "logsoftmax": "logsoftmax", "logsoftmaxbackwarddata": "logsoftmax",
             "nativelayernorm": "layernorm", "nativelayernormbackward": "layernorm",
             "nativebatchnorm": "batchnorm", "nativebatchnormbackward": "batchnorm", "convolution": "convolution",
             "convolutionbackward": "convolution", "relu": "relu", "thresholdbackward": "relu",
             "nllloss": "nllloss", "nlllossbackward": "nllloss", "nllloss2d": "nllloss", "embedding": "embedding",
             "embeddingdensebackward": "embedding"}
# Pointwise backward formulas become pointwise operators in a compiled graph.
_POINTWISE = {"mul", "div", "pow", "exp", "tanh", "sigmoid", "gelu", "silu", "mish", "elu", "softplus", "hardswish",
              "where", "neg", "add", "sub", "rsqrt", "sqrt", "log", "erf", "sin", "cos", "mean", "sum",
              "tanhbackward", "sigmoidbackward", "gelubackward", "silubackward", "mul.tensor"}


def _family(name):
    """The family of an eager node name (``MmBackward``) or an operator (``aten.mm.default``)."""
    name = name.split(".")[1] if name.startswith("aten.") else name
    name = name.lower().replace("_", "")
    if name.endswith("backward") and name[:-len("backward")] in _FAMILIES:
        name = name[:-len("backward")]
    family = _FAMILIES.get(name)
    if family is not None:
        return family
    if name.startswith("scaleddotproduct"):
        return "attention"
    base = name[:-len("backward")] if name.endswith("backward") else name
    return "pointwise" if base in _POINTWISE or name in _POINTWISE else name


class compressed_activations:
    """Context manager: graphs compiled while it is active compress the values their
    forward saves for backward (see the package's documentation).

    Args:
      model: the compiled model (``torch.compile(model)`` or ``model.compile()``), or
        None; an uncompiled module is refused (its saves would reach no compiled
        graph: use actzip.torch.compressed_activations).
      bounds: "measured" (default): the first step's graphs compress with ``params``;
        at its end, and every ``calibrate_every`` steps, a calibration measures the
        bound of every group of saved values by running the probe through the compiled
        graphs again with other bounds given to their compress operators at run time
        (no recompilation), and the bounds it finds replace ``params``. "fixed": the
        bounds compiled into the graphs (``params`` or ``bound_of``) stay.
      probe: for measured bounds, a callable returning the loss (or the outputs) of a
        representative batch through the compiled model; default: the replay of a
        training step (the model's arguments and its outputs' gradients, kept from the
        step before each calibration: needs the module ``torch.compile(model)``
        returns, whose hooks run outside the graphs; ``model.compile()`` needs a probe).
      tolerance: the relative change of the parameter gradient the measured bounds may
        cause on the probe, all values together (default 0.04, as without compile).
      calibrate_every: steps between calibrations (default 250).
      bound_of: optional callable (description dict of one saved value ->
        actzip.Params, a bound, or None to keep the value), consulted when a graph is
        compiled; an attribute ``cache_hash`` on it names its behaviour across
        processes. With measured bounds it decides which values are compressed (None
        keeps one) and their bounds until the first calibration.
      params: the actzip.Params (or bound) of every compressed value when bound_of is
        None, until the first calibration. Default: Params(rel(1e-2), codec="automatic").
      min_numel: values with fewer elements stay as they are (default 4096).
      stats: a CompressionStats to fill (default: a new one, as ``self.stats``).

    ``end_step()`` closes a step's statistics (and the context's exit the last one) and
    calibrates when it is due; ``calibration`` holds the last measurement.
    """

    def __init__(self, model=None, *, bounds="measured", probe=None, tolerance=0.04, calibrate_every=250,
                 bound_of=None, params=None, min_numel=4096, stats=None):
        if bound_of is not None and not callable(bound_of):
            raise TypeError("actzip.torch.compile.compressed_activations: bound_of must be callable")
        if probe is not None and not callable(probe):
            raise TypeError("actzip.torch.compile.compressed_activations: probe must be callable")
        if bounds not in ("measured", "fixed"):
            raise ValueError(f"actzip.torch.compile.compressed_activations: bounds must be 'measured' or 'fixed', "
                             f"not {bounds!r}")
        if not tolerance > 0 or calibrate_every < 1:
            raise ValueError("actzip.torch.compile.compressed_activations: tolerance must be > 0 and "
                             "calibrate_every >= 1")
        if params is None:
            params = _az.Params(_az.rel(1e-2), codec="automatic")
        elif isinstance(params, _az.Bound):
            params = _az.Params(params)
        elif not isinstance(params, _az.Params):
            raise TypeError("actzip.torch.compile.compressed_activations: params must be an actzip.Params or a "
                            f"bound, not {type(params).__name__}")
        if min_numel < 0:
            raise ValueError("actzip.torch.compile.compressed_activations: min_numel must be >= 0")
        self.model = model
        self.bounds = bounds
        self.probe = probe
        self.tolerance = float(tolerance)
        self.calibrate_every = int(calibrate_every)
        self.bound_of = bound_of
        self.params = params
        self.min_numel = int(min_numel)
        self.stats = stats if stats is not None else CompressionStats()
        self.calibration = None   # what the last calibration measured
        self.site_bounds = {}     # site -> measured relative bound (None: exact), given at run time
        self.eager_saves = 0      # saves that reached the hooks outside compiled graphs, all steps
        self._graphs = set()      # serials of the graphs compiled or run in this context
        self._hooks = None
        self._patches = []
        self._handles = []
        self._saved_hooks = None
        self._pass = None         # during a calibration: site -> bound of the running pass (missing: exact)
        self._calibrated_at = None
        self._capture = None
        self._capture_next = False
        self._call = None
        self._step = 0
        self._begin_step()

    # ---- life cycle ---------------------------------------------------------------

    def __enter__(self):
        refuse()
        if state.active is not None:
            raise RuntimeError("actzip.torch.compile.compressed_activations: another one is active (they do not nest)")
        if self.model is not None and isinstance(self.model, torch.nn.Module) and not _compiled(self.model):
            raise RuntimeError("actzip.torch.compile.compressed_activations: the model is not compiled "
                               "(torch.compile(model) or model.compile()); for eager models use "
                               "actzip.torch.compressed_activations")
        if self.bounds == "measured" and self.probe is None:
            if not _optimized(self.model):
                raise ValueError("actzip.torch.compile.compressed_activations: measured bounds without a probe "
                                 "replay a training step through the module torch.compile(model) returns; give "
                                 "probe= (or bounds='fixed')")
            self._capture_next = True
            self._handles = [self.model.register_forward_pre_hook(self._arguments, with_kwargs=True),
                             self.model.register_forward_hook(self._outputs)]
        self._hooks = hooks_of(self.params, self.min_numel, self.bound_of)
        self._parameters = set()
        if isinstance(self.model, torch.nn.Module):
            for p in list(self.model.parameters()) + list(self.model.buffers()):
                self._parameters.add(p.untyped_storage().data_ptr())
        dynamo = importlib.import_module("torch._dynamo")
        functorch_config = importlib.import_module("torch._functorch.config")
        self._patches = [dynamo.config.patch(capture_dynamic_output_shape_ops=True),
                         functorch_config.patch(enable_autograd_cache=False)]
        for patch in self._patches:
            patch.__enter__()
        self._saved_hooks = torch.autograd.graph.saved_tensors_hooks(self._hooks.pack_gm, self._hooks.unpack_gm)
        self._saved_hooks.__enter__()
        self._failures = _backend_failures()[0]
        self._warned = False
        state.active = self
        return self

    def __exit__(self, kind, value, traceback):
        try:
            if (self._records or self._eager_bytes) and kind is None:
                self.end_step(calibrate=False)
        finally:
            state.active = None
            self._saved_hooks.__exit__(kind, value, traceback)
            self._saved_hooks = None
            for patch in reversed(self._patches):
                patch.__exit__(kind, value, traceback)
            self._patches = []
            for handle in self._handles:
                handle.remove()
            self._handles = []
            self._begin_step()
        return False

    # ---- the bounds given at run time -----------------------------------------------

    def runtime_params(self, site, params):
        """The Params a compress operator uses at run time for a value: the running
        calibration pass's, the measured bound, or those compiled into the graph. (The
        graph does not depend on a bound: the stream's size is data-dependent anyway.)"""
        if self._pass is not None:
            bound = self._pass.get(site)
        elif site in self.site_bounds:
            bound = self.site_bounds[site]
        else:
            return params
        bound = _az.abs(0.0) if bound is None else _az.rel(bound)
        return _az.Params(bound, codec=params.codec, preserve_sign=params.preserve_sign)

    def _arguments(self, module, args, kwargs):
        if self._capture_next and self._pass is None and torch.is_grad_enabled():
            self._call = (args, kwargs)

    def _outputs(self, module, args, output):
        if self._capture_next and self._pass is None and self._call is not None:
            self._capture_next = False
            self._capture = Capture(*self._call, self.model)
            self._capture.watch(output)
            self._call = None

    def groups(self):
        """{measured group: [saves]}: the compressed values of the context's graphs by
        the family of their backward readers, each family cut along the graph's order
        into at most DEPTHS runs (``"<family>@<i>/<n>"``)."""
        by_family = {}
        for entry in self.saves:
            if entry["form"] != "stream":
                continue
            families = [f for f in (_family(u) for u in entry["users"]) if f not in _PASSING] or ["pointwise"]
            by_family.setdefault(families[0], []).append(entry)
        groups = {}
        for family, entries in by_family.items():
            n = min(DEPTHS, len(entries))
            for i, entry in enumerate(entries):
                key = family if n == 1 else f"{family}@{i * n // len(entries) + 1}/{n}"
                groups.setdefault(key, []).append(entry)
        return groups

    def calibrate(self, probe=None):
        """Measures the bound of every group of compressed values (``groups()``) on the
        probe, as the eager adapter measures its kinds (actzip.torch.sensitivity): one
        forward and backward pass of the compiled model with every value exact (bound
        0), one per group with that group at relative 1e-2, then the check of the sum.
        Returns ``calibration``: per group its sensitivity, saves, bytes and bound; the
        checks; the passes and their seconds. The passes leave ``.grad``, the buffers,
        the random number generators and the step's statistics alone."""
        if state.active is not self:
            raise RuntimeError("actzip.torch.compile.compressed_activations.calibrate: call it inside the context")
        if probe is None:
            probe = self.probe
        if probe is None:
            if self._capture is None:
                raise ValueError("actzip.torch.compile.compressed_activations.calibrate: no probe and no step "
                                 "captured to replay")
            run = self._capture.probe(self.model)
        else:
            def run():
                return loss_spec(probe())
        groups = self.groups()
        if not groups:
            return None
        start = time.perf_counter()
        module = self.model if isinstance(self.model, torch.nn.Module) else None
        parameters = [p for p in module.parameters() if p.requires_grad] if module is not None else []
        if not parameters:
            raise ValueError("actzip.torch.compile.compressed_activations.calibrate: needs the model (its "
                             "parameters' gradient is what the bounds protect)")
        buffers = [b.detach().clone() for b in module.buffers()]
        devices = sorted({p.device.index for p in parameters if p.is_cuda})
        passes = [0]

        def gradient(bounds):
            self._pass = bounds
            try:
                with torch.random.fork_rng(devices=devices), torch.enable_grad():
                    outputs, grads = run()
                    got = torch.autograd.grad(outputs, parameters, grad_outputs=grads, allow_unused=True)
            finally:
                self._pass = None
                for b, saved in zip(module.buffers(), buffers):
                    b.data.copy_(saved)
            passes[0] += 1
            return torch.cat([(g if g is not None else torch.zeros_like(p)).detach().double().flatten()
                              for g, p in zip(got, parameters)])

        records, eager = self._records, (self._eager_bytes, self._eager_count, self._eager_large)
        try:
            exact = gradient({})
            measured = {}
            for key, entries in sorted(groups.items()):
                change = _relative(gradient({e["site"]: PROBE_BOUND for e in entries}), exact)
                measured[key] = {"sensitivity": change / PROBE_BOUND, "saves": len(entries),
                                 "bytes": sum(_int(e["numel"]) * e["dtype"].itemsize for e in entries)}

            def check(bounds):
                return _relative(gradient({e["site"]: bounds[k] for k, es in groups.items() for e in es}), exact)

            bounds, checks, final = fit_bounds(measured, self.tolerance, check)
        finally:
            self._records = records  # the passes' streams are not the step's
            self._eager_bytes, self._eager_count, self._eager_large = eager
        for key, entries in groups.items():
            measured[key]["bound"] = bounds[key]
            for e in entries:
                self.site_bounds[e["site"]] = bounds[key]
        self._calibrated_at = self._step
        self.calibration = {"step": self._step, "tolerance": self.tolerance, "checks": checks, "final_measured": final,
                            "kinds": measured, "passes": passes[0], "seconds": time.perf_counter() - start}
        return self.calibration

    @property
    def saves(self):
        """What was decided for each value saved by the graphs compiled, or run, in this
        context: the description given to bound_of, ``site``, ``form`` ("stream" or
        "raw"), ``reason`` (why it was kept: input, dtype, device, small, statistic,
        layout, policy), ``params``, ``raw_bytes`` (the buffer it keeps alive
        uncompressed, 0 for a later view of a buffer counted already)."""
        if self._hooks is None:
            return []
        return [s for s in self._hooks.saves if s["graph"] in self._graphs]

    # ---- statistics ---------------------------------------------------------------

    def _begin_step(self):
        self._records = []
        self._eager_bytes = 0
        self._eager_count = 0
        self._eager_large = 0   # of them, floating-point values of min_numel elements or more

    def end_step(self, calibrate=True):
        """Closes the step's statistics and, with measured bounds, calibrates when it
        is due (after the first step, then every ``calibrate_every``); returns the
        step's summary (None when nothing was saved). The summary adds ``eager_bytes``
        and ``eager_saves``: values saved outside compiled graphs and kept. Raises
        RuntimeError when every save of the step was made outside compiled graphs."""
        records, eager_bytes, eager_count = self._records, self._eager_bytes, self._eager_count
        eager_large = self._eager_large
        self._begin_step()
        if not records and not eager_count:
            return None
        if eager_large and not any(r["compressed"] for r in records):
            raise RuntimeError(
                f"actzip.torch.compile.compressed_activations: nothing was compressed in this step, and {eager_large} "
                "floating-point values large enough to compress were saved outside compiled graphs and kept as "
                "they are (the model ran eagerly: not compiled, a backend without AOTAutograd, or Dynamo fell "
                "back to eager)")
        for r in records:
            self.stats._add(r)
        summary = self.stats._finish(self._step)
        summary["eager_bytes"] = eager_bytes
        summary["eager_saves"] = eager_count
        self._step += 1
        if self.bounds == "measured" and calibrate:
            due = self._calibrated_at is None or self._step - self._calibrated_at >= self.calibrate_every
            if due and (self.probe is not None or self._capture is not None):
                self.calibrate()
                self._capture = None
            elif due:
                self._capture_next = True
            if self.probe is None and self._calibrated_at is not None and \
                    self._step + 1 - self._calibrated_at >= self.calibrate_every:
                self._capture_next = True
        return summary

    def _streamed(self, site, x, stream):
        """The real compress operator made a stream for a saved value (at run time)."""
        if self._pass is not None:
            return  # a calibration pass
        hooks = self._hooks
        entry = hooks.sites.get(site) if hooks is not None else None
        if entry is None:
            return
        raw = entry["raw_bytes"]
        if raw is None:  # a symbolic size: the run's own
            raw = int(x.numel()) * x.element_size()
        self._graphs.add(entry["graph"])
        # The absolute bound from the header (not read back from a device: one more synchronization).
        bound = float(_tensors.inspect(stream)["absolute_bound"]) if stream.device.type == "cpu" else None
        self._records.append(_record(entry, raw, int(stream.numel()), True, bound))
        if hooks.anchor.get(entry["graph"]) == site:
            for kept in hooks.kept.get(entry["graph"], ()):
                if kept["raw_bytes"] is not None:
                    self._records.append(_record(kept, kept["raw_bytes"], kept["kept_bytes"] or 0,
                                                 kept["form"] == "bits", None))

    def _eager_save(self, x):
        """A save the hooks saw outside a compiled graph: kept; refused when Dynamo ran a
        graph eagerly because its backend failed."""
        failures, explanation = _backend_failures()
        if failures > self._failures:
            dynamo = importlib.import_module("torch._dynamo")
            hint = "" if dynamo.config.capture_dynamic_output_shape_ops else \
                " (torch._dynamo.config.capture_dynamic_output_shape_ops was set to False inside the context)"
            raise RuntimeError(
                "actzip.torch.compile.compressed_activations: a graph compiled inside the context failed in its "
                f"backend and Dynamo runs it eagerly, so its saved values are not compressed{hint}. Dynamo: "
                + (explanation or "see counters['aot_autograd']['not_ok']")[:2000])
        if isinstance(x, torch.nn.Parameter) or x.untyped_storage().data_ptr() in self._parameters:
            return
        self._eager_count += 1
        self.eager_saves += 1
        self._eager_bytes += x.untyped_storage().nbytes()
        if x.dtype not in FLOATS or x.numel() < self.min_numel:
            return  # a value the hooks would have kept (a loss's small outputs)
        self._eager_large += 1
        if not self._warned:
            self._warned = True
            warnings.warn("actzip.torch.compile.compressed_activations: a value was saved for backward outside a "
                          f"compiled graph ({tuple(x.shape)} {x.dtype}) and is kept as it is (a graph break's eager "
                          "code, a backend without AOTAutograd, or Dynamo running a frame eagerly); see the step's "
                          "eager_bytes", RuntimeWarning, stacklevel=2)


def _record(entry, raw_bytes, stored_bytes, compressed, bound):
    """A record in the form CompressionStats sums."""
    return {"site": entry["site"], "module": entry["module"], "kinds": [entry["producer"] or entry["op"]],
            "roles": [], "form": entry["form"], "reason": entry["reason"], "shape": entry["shape"],
            "dtype": entry["dtype"], "layout": "dense", "saves": 1, "raw_bytes": raw_bytes,
            "stored_bytes": stored_bytes, "compressed": compressed, "bound": bound,
            "params": entry["params"], "error_ratio": None}


# Readers that pass a value on (a view, a detach) say nothing about its family.
_PASSING = {"view", "detach", "t", "clone", "unsafeview", "expand", "permute", "transpose", "reshape",
            "getitem", "<built-in function getitem>"}


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _optimized(model):
    dynamo = getattr(torch, "_dynamo", None)
    optimized = getattr(getattr(dynamo, "eval_frame", None), "OptimizedModule", None)
    return optimized is not None and isinstance(model, optimized)
