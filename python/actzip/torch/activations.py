# SPDX-License-Identifier: Apache-2.0
"""compressed_activations: compresses every tensor autograd saves for backward.

Built on torch.autograd.graph.saved_tensors_hooks. Every tensor autograd saves
while the context is active goes through a pack hook that keeps it, compresses it
with actzip, or stores it losslessly in fewer bytes; the unpack hook gives the
backward pass the reconstruction.

What is kept exact: parameters and buffers, and any tensor derived from one by
views and casts (autocast's bf16/fp16 weight copies, transposed weights, .to()
copies: the saved tensor's grad_fn chain of view and cast nodes ends at a
parameter's AccumulateGrad, or, for weights that do not require grad, the dispatcher
saw the cast); the tensors passed to the model (the caller holds them: storing them
would free nothing); saves of a kind whose role needs exact values (normalisation
statistics). Integer and boolean tensors are stored losslessly (bits, narrow
integers: storage.py). Every other floating-point tensor is compressed, whatever op
saved it: at the bound the measured sensitivity of its kind allows (sensitivity.py),
never looser than the policy's bound for its role when a policy is given (roles.py,
docs/POLICIES.md). ReLU outputs keep an exact mask, BatchNorm inputs are stored
normalised per channel.

Sites and the plan. Forward hooks on every module keep a stack of the modules
running, so each save gets a site name (innermost module, its call number and the
save's number there) that is the same every step. The first time a site is seen
its tensor is kept raw, and the step learns: which autograd node saved it (its kind
and role, tracing.py, with a dispatch mode that is active only in such steps) and
which sites save views of the same storage (views.py: one region is stored once for
all of them). From the next step on, the first site of a known group compresses with
the decision for the whole group, and the later sites reuse that stream after
checking that their view lies in the group's region of the same, still living,
storage. In practice the first training step is stored raw and every later one is
compressed; the first calibration follows it. Saves made while the backward pass
runs (a checkpointed region's recomputation, used at once) pass through.

Steps. A step ends when ``end_step()`` is called (after optimizer.step()), or when
the model's next forward starts, or when the context exits. At the end of a step the
adapter hands the policy the layer statistics gathered in the backward pass
(``observe``: ||dW||_F from a hook on each conv/linear weight, ||G||_F from a hook on
the layer's output, rho from the saved input), calls the policy's ``end_step``, and
calibrates when it is due.

Overlap (``overlap=True``). CPU: a worker thread compresses. CUDA: a side stream per
device compresses after waiting for the current stream; the saved tensor is
record_stream-ed onto it, its buffers are allocated while it is current, and an
event after its last write orders each stream's decompression. In the backward, the
stream saved just before the one unpacked is reconstructed ahead on the worker or
the side stream.

CUDA. Tensors on a CUDA device are compressed on the current stream without a host
synchronization: the stream buffer is max_compressed_bytes long until the sizes of
all pending streams are read back with one device-to-host copy (at the end of the
model's forward, when the pending buffers exceed ``shrink_bytes``, and at the end of
a step) and the buffers are trimmed. The value range and non-zero fraction of a
tensor are read back at the same time. Narrowing an integer tensor reads its range
(one synchronization; integer saves are few and small).
"""
import concurrent.futures
import hashlib
import math
import weakref

import torch

import actzip as _az

from .groups import GroupStore
from .overlap import Pipeline
from .roles import (DEFAULT_ROLES, EXACT, LINEAR_INPUT, MASK, MODULE_ROLES, NORM_INPUT, RELU_OUTPUT, VALUE_FREE,
                    contracted_length, fan_in, kind_role, parameter_derived)
from .sensitivity import Calibrated, Capture
from .stats import CompressionStats
from .storage import Saved, modified_error
from .tracing import SaveTracer, kind_without_node
from .views import Group, View, base_of, storage_ptr

_MODULE_ROLE = {"norm": NORM_INPUT, MASK: MASK, RELU_OUTPUT: RELU_OUTPUT, VALUE_FREE: VALUE_FREE, EXACT: EXACT}


def site_key(site):
    """The 64-bit policy key of a site name (stable across processes)."""
    return int.from_bytes(hashlib.blake2b(site.encode(), digest_size=8).digest(), "little")


def _to_float(value):
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


def _in_backward():
    task = getattr(torch._C, "_current_graph_task_id", None)
    return task is not None and task() >= 0


class Site:
    """What the adapter knows of one site: the module running, its kind (autograd node
    and saved name), role, fan_in, and whether it is a parameter in disguise."""

    __slots__ = ("name", "module", "module_type", "is_input", "kind", "guess", "role", "fan_in", "parameter", "dtype",
                 "producer")

    def __init__(self, name, module, module_type, is_input, dtype):
        self.name = name
        self.module = module          # module path ("<outside>" for saves outside the model's forward)
        self.module_type = module_type
        self.is_input = is_input      # the tensor is an input of that module
        self.kind = None              # "<node>.<saved name>", set by tracing
        self.guess = None             # the kind when no node claims the save (tracing.kind_without_node)
        self.role = None
        self.fan_in = 0
        self.parameter = False
        self.dtype = dtype
        self.producer = None          # (module path, aten operator) that made the tensor (tracing)


class _Frame:
    __slots__ = ("module", "name", "inputs", "saves", "call")

    def __init__(self, module, name, inputs, call):
        self.module = module
        self.name = name
        self.inputs = inputs
        self.saves = 0
        self.call = call


class compressed_activations(GroupStore, Pipeline, Calibrated):
    """Context manager compressing the activations saved while it is active.

    Args:
      model: the nn.Module whose forward runs inside the context (its modules get the
        hooks; its parameters and buffers, and the tensors passed to it, are never
        compressed). A model compiled with torch.compile is refused with a message
        pointing to actzip.torch.compile.
      bounds: "measured" (default): every floating-point save gets the bound its
        measured group allows (sensitivity.py): calibrate() measures them after the
        first step and every ``calibrate_every`` steps, and the policy, when given,
        caps the kinds it has a role for. "policy": the policy's bound for the kinds
        with a role (roles.py), the others kept raw; nothing is measured.
      policy: an actzip policy (FixedPolicy, AdaptivePolicy, BudgetPolicy or a Policy
        subclass; each takes codec="bitplane", "huffman" or "automatic"). Default:
        none with measured bounds (codec automatic), FixedPolicy(rel_bound(1e-2),
        codec="automatic") with bounds="policy".
      tolerance: the relative change of the parameter gradient that compression may
        cause on the probe, all saves together (default 0.04: a gradient cosine of
        0.999 or more against uncompressed).
      probe: a callable returning a loss (or the model's output) for calibrate();
        default: a replay of the training step before each calibration.
      calibrate_every: steps between calibrations (default 250).
      min_numel: tensors with fewer elements are kept raw (default 4096).
      stats: a CompressionStats to fill (default: a new one, as ``self.stats``).
      verify: decompress every stream right away and check the bound and the signs;
        raises BoundViolation on a violation (slow; for tests). Raised inside
        autograd's save, it reaches the caller as a RuntimeError whose message starts
        with "BoundViolation".
      roles: {module type: role} entries giving every floating-point save made inside
        a module of that type a role: "linear", "norm", "mask", "relu_output",
        "value_free" or "exact".
      norm_bound: a Bound no normalisation input is compressed more loosely than.
      mask_bits: store ReLU masks as bits beside a stream without preserve_sign
        (default) rather than with preserve_sign.
      shrink_bytes: CUDA only: trim pending stream buffers once they exceed this many
        bytes (default 256 MiB).
      overlap: compression off the critical path: CPU tensors on a worker thread,
        CUDA tensors on a side stream ordered by events. The same streams and gradients.
    """

    def __init__(self, model, policy=None, min_numel=4096, stats=None, verify=False, roles=None, norm_bound=None,
                 mask_bits=True, shrink_bytes=256 << 20, overlap=False, bounds="measured", probe=None,
                 calibrate_every=250, tolerance=0.04):
        self.model = model
        if bounds not in ("measured", "policy"):
            raise ValueError(f"compressed_activations: bounds must be 'measured' or 'policy', not {bounds!r}")
        if probe is not None and not callable(probe):
            raise TypeError("compressed_activations: probe must be a callable returning a loss")
        if calibrate_every < 1 or not tolerance > 0:
            raise ValueError("compressed_activations: calibrate_every must be >= 1 and tolerance > 0")
        self.bounds = bounds
        self.probe = probe
        self.calibrate_every = int(calibrate_every)
        self.tolerance = float(tolerance)
        self.calibration = None     # what the last calibrate() measured
        self.kind_bounds = {}       # kind, and kind cut by depth -> measured relative bound (None: kept raw)
        self._measured_groups = {}  # leader site -> {kind: its measured group}
        self._unmeasurable = set()  # unknown sites no calibration's probe reached
        self._calibrated_at = None
        self._calibrating = None    # the Calibration running now
        self._capture = None        # the step kept for the default probe
        self._capture_next = bounds == "measured" and probe is None  # keep the next step for it
        self._root_call = None      # (args, kwargs) of the model's running forward, while capturing
        self.overlap = bool(overlap)
        self._worker = None
        self._side = {}       # CUDA device index -> side stream (overlap)
        self.prefetched = 0   # overlap: reconstructions the backward found started ahead
        if policy is None and bounds == "policy":
            policy = _az.FixedPolicy(_az.rel(1e-2), codec="automatic")
        self.policy = policy  # None: every bound is the measured one
        if policy is not None and not isinstance(policy, _az.Policy):
            raise TypeError("compressed_activations: policy must be an actzip policy (actzip.FixedPolicy, "
                            "AdaptivePolicy, BudgetPolicy or a Policy subclass)")
        if min_numel < 0:
            raise ValueError("compressed_activations: min_numel must be >= 0")
        self.min_numel = int(min_numel)
        self.stats = stats if stats is not None else CompressionStats()
        self.verify = bool(verify)
        self.roles = {}
        for kind, role in (roles or {}).items():
            if role not in MODULE_ROLES:
                raise ValueError(f"compressed_activations: unknown role {role!r} for {kind}")
            self.roles[kind] = role
        self.norm_bound = norm_bound
        self.mask_bits = bool(mask_bits)
        self.shrink_bytes = int(shrink_bytes)
        # The fixed policy ignores the value range: skip the pass that measures it.
        self._needs_range = policy is not None and not isinstance(policy, _az.FixedPolicy)
        self.sites = {}       # site name -> Site
        self._plan = {}       # leader site -> [member site names]
        self._member_of = {}  # site -> leader site
        self._keys = {}       # site -> policy key
        self._ranges = {}     # site -> value range seen last (CUDA decisions)
        self._step = 0
        self._active = False
        self._handles = []
        self._saved_hooks = None
        self._tracer = None
        self._learn = True     # the next step traces (its sites are new)
        self._tracing = None   # (kind, node) while the tracer reads a node's saved tensors
        self._packs = 0        # calls of the pack hook (the tracer reads only nodes the hooks saved for)
        self._begin_step()

    # ---- life cycle -------------------------------------------------------------------

    def __enter__(self):
        if self._active:
            raise RuntimeError("compressed_activations: the context is already active")
        _refuse_compiled(self.model)
        self._install()
        self._saved_hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._saved_hooks.__enter__()
        if self.overlap:
            self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="actzip")
        self._active = True
        return self

    def __exit__(self, *exc):
        self._stop_tracer()
        self._saved_hooks.__exit__(*exc)
        self._saved_hooks = None
        self._active = False
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._groups:
            self._end_step()
        if self._worker is not None:
            self._shrink()
            self._worker.shutdown(wait=True)
            self._worker = None
        return False

    def _install(self):
        self._skip = set()
        self._parameters = set()
        self._weights = {}
        for p in list(self.model.parameters()) + list(self.model.buffers()):
            ptr = storage_ptr(p)
            self._skip.add(ptr)
            self._parameters.add(id(p))
            self._weights[ptr] = weakref.ref(p)
        self._names = {}
        self._modules = {}
        for name, module in self.model.named_modules():
            self._names[module] = name or "<model>"
            self._modules[name or "<model>"] = module
            self._handles.append(module.register_forward_pre_hook(self._pre_hook))
            self._handles.append(module.register_forward_hook(self._post_hook))
            if module is self.model:
                try:  # PyTorch >= 2.0: the keyword arguments too (transformers models take them)
                    self._handles.append(module.register_forward_pre_hook(self._root_arguments, with_kwargs=True))
                except TypeError:
                    pass
            if self._linear(module) and isinstance(getattr(module, "weight", None), torch.Tensor) \
                    and module.weight.requires_grad:
                self._handles.append(module.weight.register_hook(self._weight_grad_hook(name or "<model>")))

    def _begin_step(self):
        self._groups = {}       # leader site -> Group (this step)
        self._raw_regions = {}  # (storage, dtype, version) -> [Group kept raw] (alive: matchable by address)
        self._seen_bytes = {}   # storage -> [owner, byte ranges counted in raw_bytes this step]
        self._kept_bytes = {}   # storage -> [owner, byte ranges kept raw this step]
        self._calls = {}        # module name -> calls this step
        self._stack = []
        self._outside = 0
        self._pending = []      # CUDA streams not trimmed yet, CPU worker jobs
        self._pending_bytes = 0
        self._layers = {}       # module name -> feedback being gathered
        self._inputs = {}       # storage address -> weak reference to a tensor argument of the model
        self._order = []        # weak references to the streams stored this step, in save order
        self._new_sites = False
        self._unmeasured = False  # a group waited for a kind's measurement
        if self._calibrating is None:
            self.stats._reset()

    def _start_tracer(self):
        if self._tracer is None:
            self._tracer = SaveTracer(self._probe_saved, self._weights, lambda: self._packs,
                                      (self._pack, self._unpack), self._running)
            self._tracer.__enter__()

    def _stop_tracer(self):
        tracer, self._tracer = self._tracer, None
        if tracer is not None:
            tracer.finish()
            tracer.__exit__(None, None, None)

    def end_step(self):
        """Finishes the step: feeds the layer statistics and end_step to the policy,
        records the step's statistics, updates the plan and calibrates when due. Call
        after optimizer.step(); returns the step's summary dict (None if nothing was
        saved)."""
        return self._end_step()

    def _end_step(self):
        if self._calibrating is not None:
            return None
        self._stop_tracer()
        if not self._groups:
            self._begin_step()
            return None
        self._shrink()
        for name, layer in self._layers.items():
            if "key" not in layer or "w2" not in layer or "g2" not in layer:
                continue
            fb = _az.LayerFeedback()
            fb.key = layer["key"]
            fb.weight_grad_norm = math.sqrt(sum(_to_float(v) for v in layer["w2"]))
            fb.output_grad_norm = math.sqrt(sum(_to_float(v) for v in layer["g2"]))
            fb.nonzero_fraction = min(1.0, max(0.0, _to_float(layer.get("rho", 1.0))))
            fb.fan_in = layer["fan_in"]
            if self.policy is not None:
                self.policy.observe(fb)
        if self.policy is not None:
            self.policy.end_step()
        for leader, g in self._groups.items():
            members = self._plan.setdefault(leader, [])
            for m in g.members:
                if m not in members:
                    members.append(m)
            for m in members:
                self._member_of[m] = leader
        for site in self.sites.values():
            if site.role is None:
                self._settle(site)
        summary = self.stats._finish(self._step)
        self._step += 1
        self._learn = self._new_sites
        capture, self._capture = self._capture, None
        unmeasured = self._unmeasured
        self._begin_step()
        if self.bounds == "measured":
            if self._calibrated_at is None or unmeasured or self._step - self._calibrated_at >= self.calibrate_every:
                if self.probe is None and capture is None:
                    self._capture_next = True   # keep the next step for the replay
                elif self._active:
                    self.calibrate(capture=capture)
            if self.probe is None and self._calibrated_at is not None and \
                    self._step + 1 - self._calibrated_at >= self.calibrate_every:
                self._capture_next = True       # the replay of the calibration due after the next step
        return summary

    def _settle(self, site):
        """The role of a site once its kind is known (tracing) or known to stay unknown."""
        if site.kind is None:
            site.kind = site.guess or "unresolved"
        if site.parameter:
            site.role = EXACT
            return
        override = self.roles.get(site.module_type) if site.module_type is not None else None
        if override is not None and site.dtype.is_floating_point:
            if override == "linear":
                site.role = LINEAR_INPUT if site.is_input else kind_role(site.kind, site.dtype)
            elif override == "norm":
                site.role = NORM_INPUT if site.is_input else EXACT
            else:
                site.role = _MODULE_ROLE[override]
            return
        site.role = kind_role(site.kind, site.dtype)

    # ---- module hooks -----------------------------------------------------------------

    def _linear(self, module):
        for cls in type(module).__mro__:
            if cls in self.roles:
                return self.roles[cls] == "linear"
            if cls in DEFAULT_ROLES:
                return DEFAULT_ROLES[cls] == "linear"
        return False

    def _module_type(self, module):
        for cls in type(module).__mro__:
            if cls in self.roles:
                return cls
        return None

    def _pre_hook(self, module, args):
        if module is self.model:
            if self._calibrating is None:
                if self._groups and not self._stack:
                    self._end_step()   # a new forward: the previous step is over
                if self._learn:
                    self._start_tracer()
            # Site names count calls from the start of the forward (a forward under
            # no_grad, e.g. an evaluation, saves nothing and leaves no trace).
            self._stack = []
            self._calls = {}
            self._outside = 0
            self._note_inputs(args)
        name = self._names.get(module, "?")
        call = self._calls.get(name, 0)
        self._calls[name] = call + 1
        ident = set()
        for x in args:
            if isinstance(x, torch.Tensor):
                ident.add((x.data_ptr(), x.numel()))
        self._stack.append(_Frame(module, name, ident, call))

    def _root_arguments(self, module, args, kwargs):
        self._note_inputs(kwargs.values())
        if self._capture_next and self._calibrating is None:
            self._root_call = (args, kwargs)

    def _note_inputs(self, values):
        """The model's tensor arguments: the caller holds them, so storing them compressed
        would free nothing; they pass through like parameters (and are not counted)."""
        for v in values:
            if isinstance(v, torch.Tensor):
                ptr = storage_ptr(v)
                if ptr is not None:
                    self._inputs[ptr] = weakref.ref(v)

    def _post_hook(self, module, args, output):
        if self._stack and self._stack[-1].module is module:
            self._stack.pop()
        if self._linear(module) and torch.is_grad_enabled() and isinstance(output, torch.Tensor) \
                and output.requires_grad and self._calibrating is None:
            name = self._names.get(module, "?")
            layer = self._layers.setdefault(name, {"fan_in": fan_in(module)})

            def hook(grad, layer=layer):
                layer.setdefault("g2", []).append(grad.detach().float().pow(2).sum())
            output.register_hook(hook)
        if module is self.model:
            if self._capture_next and self._calibrating is None and torch.is_grad_enabled():
                self._capture_next = False
                call, self._root_call = self._root_call, None
                self._capture = Capture(*(call or (args, {})), self.model)
                self._capture.watch(output)
            self._shrink()

    def _weight_grad_hook(self, name):
        def hook(grad):
            layer = self._layers.get(name)
            if layer is not None and self._calibrating is None:
                layer.setdefault("w2", []).append(grad.detach().float().pow(2).sum())
        return hook

    # ---- tracing ------------------------------------------------------------------------

    def _probe_saved(self, node, attribute, name):
        """The tracer's read of one saved tensor of `node` (see tracing.py)."""
        kind = f"{name}.{attribute[7:] if attribute.startswith('_saved_') else attribute}"
        self._tracing = (kind, node)
        try:
            getattr(node, attribute)
        finally:
            self._tracing = None

    def _traced(self, saved):
        kind, node = self._tracing
        t = saved.tensor
        if saved.kind is None:
            saved.kind = kind
            site = self.sites.get(saved.site) if saved.site is not None else None
            if site is not None and site.kind in (None, "unresolved"):
                site.kind, site.role = kind, None  # settled at the end of the step
                if t is not None and t.is_floating_point() and kind_role(kind, t.dtype) == LINEAR_INPUT:
                    site.fan_in = contracted_length(kind, t, node)
        return t if t is not None else torch.empty(0)

    # ---- pack / unpack ----------------------------------------------------------------

    def _running(self):
        """The path of the innermost module running ("<outside>" outside the model)."""
        return self._stack[-1].name if self._stack else "<outside>"

    def _site_name(self, t):
        """The site of the save being made now: (name, module path, module type, whether
        t is an input of that module)."""
        if not self._stack:
            self._outside += 1
            return f"<outside>/{self._outside - 1}", "<outside>", None, False
        frame = self._stack[-1]
        name = f"{frame.name}#{frame.call}/{frame.saves}"
        frame.saves += 1
        is_input = (t.data_ptr(), t.numel()) in frame.inputs
        return name, frame.name, self._module_type(frame.module), is_input

    def _key(self, site):
        key = self._keys.get(site)
        if key is None:
            key = self._keys[site] = site_key(site)
        return key

    def _pack(self, t):
        self._packs += 1
        ptr = storage_ptr(t)
        if ptr is None:
            return t  # no storage (sparse, meta, ...)
        if ptr in self._skip:
            return Saved(t._version, tensor=t)  # a parameter or buffer (or a view of one): alive anyway
        held = self._inputs.get(ptr)
        if held is not None and held() is not None:
            return Saved(t._version, tensor=t)  # the model's input: the caller holds it
        if self._calibrating is None and _in_backward():
            return Saved(t._version, tensor=t)  # a recomputation's save, unpacked right away
        name, module, module_type, is_input = self._site_name(t)
        site = self.sites.get(name)
        if site is None:
            site = self.sites[name] = Site(name, module, module_type, is_input, t.dtype)
            if self._tracer is None:
                site.kind = "unresolved"  # met outside a learning step: learnt in the next one
                self._new_sites = True
            else:
                site.guess = kind_without_node()
                site.parameter = self._tracer.is_weight(t)
                site.producer = self._tracer.producer(t)
        if not site.parameter and t.is_floating_point() and parameter_derived(t, self._parameters):
            site.parameter = True
            site.role = EXACT if site.role is not None else None
        view = View(t, (t.device, ptr))
        # A later save of a region this step already stored.
        leader = self._member_of.get(name)
        group = self._groups.get(leader) if leader is not None and leader != name else None
        if group is not None and not group.holds(view):
            group = None  # not the tensor the plan expects: store it on its own
        if group is None:
            group = next((g for g in self._raw_regions.get(view.key, ()) if g.holds(view)), None)
        if group is not None:
            self._join(group, site, t)
            return self._saved(group, t, view, name)
        # The first save of a region.
        group = Group(name, view, weakref.ref(base_of(t)))
        self._groups[name] = group
        self._join(group, site, t)
        members = self._plan.get(name) if leader == name else None
        group.stored = self._store(group, t, view, members)
        if group.stored.form == "raw":
            self._raw_regions.setdefault(view.key, []).append(group)
        return self._saved(group, t, view, name)

    def _saved(self, group, t, view, site):
        stored = group.stored
        if stored.form == "raw":
            saved = Saved(t._version, tensor=t, stored=stored, geometry=view.geometry, site=site)
        else:
            stored.uses += 1
            saved = Saved(t._version, ref=weakref.ref(base_of(t)), stored=stored, geometry=view.geometry, site=site)
        if self._calibrating is not None:
            saved.exact = t
        return saved

    def _join(self, group, site, t):
        group.members.append(site.name)
        if group.record is not None:
            group.record["saves"] = len(group.members)
        if site.role == LINEAR_INPUT and self._linear_module(site.module):
            layer = self._layers.setdefault(site.module, {"fan_in": site.fan_in})
            layer.setdefault("key", self._key(site.name))
            if group.nonzero is None and t.is_floating_point():
                nz = torch.count_nonzero(t)
                group.nonzero = (nz.float() / max(1, t.numel())) if t.is_cuda else nz.item() / max(1, t.numel())
            layer["rho"] = group.nonzero

    def _linear_module(self, name):
        module = self._modules.get(name)
        return module is not None and self._linear(module)

    def _unpack(self, saved):
        if not isinstance(saved, Saved):
            return saved  # a tensor without storage
        if self._tracing is not None:
            return self._traced(saved)
        if self._tracer is not None and self._tracer.active and self._calibrating is None:
            # The backward pass has begun: every save of the step is made. (The mode
            # leaves the dispatcher's stack at the end of the step: inside the backward
            # pass the stack is the engine's copy.)
            self._tracer.finish()
        if self._calibrating is not None and saved.exact is not None:
            return self._calibrating.unpack(saved)
        t = saved.tensor
        if t is not None:
            if t._version != saved.version:
                raise modified_error(t, saved.version)
            return t
        stored = saved.stored
        shape, stride, offset = saved.geometry
        base = saved.ref()  # None: no tensor sharing its version counter is left to modify it
        if base is not None and base._version != saved.version:
            raise modified_error(base, saved.version, shape)
        if stored.form == "raw":
            return torch.as_strided(stored.raw, shape, stride, offset)  # kept after all (incompressible)
        y = stored.cache
        if y is None:
            y = self.reconstruct(stored)
            if self.overlap:
                self._start_prefetch(stored)
        stored.uses -= 1
        stored.cache = y if stored.uses > 0 else None
        return self.rebuild(y, saved)


def _refuse_compiled(model):
    """Saved-tensor hooks around a torch.compile'd model are not called for the saves
    inside its graphs: refuse rather than compress nothing."""
    compiled = type(model).__name__ == "OptimizedModule" or getattr(model, "_compiled_call_impl", None) is not None
    if compiled:
        raise RuntimeError(
            "actzip.torch.compressed_activations: the model is compiled with torch.compile, whose graphs save their "
            "tensors without calling these hooks; use actzip.torch.compile.compressed_activations(model) (traceable "
            f"hooks inside the compiled graph; PyTorch {torch.__version__})")
