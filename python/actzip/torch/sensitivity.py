# SPDX-License-Identifier: Apache-2.0
"""Sensitivity: a measured bound for every kind of saved tensor.

Every floating-point save has a kind (the autograd node and saved name, roles.py):
``MmBackward.self``, ``NativeBatchNormBackward.input``, a ``MulBackward`` operand, the
logits ``log_softmax`` keeps for the loss, the output and log-sum-exp of fused
attention, checkpointing's inputs. A formula (docs/POLICIES.md) covers some kinds and
none covers the others; for all of them the bound comes from a measurement of how
much their compression error moves the parameter gradient (GACT's lesson), per
*measured group*: the saves of one kind at one depth of the model (a kind's sites,
in forward order, cut into at most ``DEPTHS`` runs of consecutive sites, so the
shallow layers of a CNN, with the largest activations, and the deep ones get their
own bounds). A policy, when one is given, still caps the bound of the kinds it has a
role for.

The estimator. Compression adds to each saved value an error of at most the bound,
close to uniform and independent between values. To first order the change of the
parameter gradient is linear in those errors, and the errors of different groups
are independent, so with relative bound ``e_k`` for group k

    E ||dg||^2  ~=  sum_k (c_k * e_k)^2 * ||g||^2,

where ``c_k`` is group k's sensitivity: the relative gradient change per unit of
relative bound. One calibration measures every ``c_k`` from a single forward pass of
a probe batch and several backward passes over the same graph (``retain_graph``),
each of which sees other reconstructions through the unpack hook:

1. ``exact``: every saved tensor as it was: ``g``;
2. one pass per measured group k, its tensors compressed at ``PROBE_BOUND``
   (relative 1e-2) and stored as training stores them (mask bits, signs, the
   normalisation of BatchNorm inputs): ``c_k = ||g_k - g|| / (||g|| * PROBE_BOUND)``.

The allocation. The bounds that minimise the stored bits (sum over groups of
``bytes_k * log(1/e_k)``) under ``sum_k (c_k e_k)^2 = tolerance^2`` are

    e_k = tolerance * sqrt(bytes_k / sum_j bytes_j) / c_k,

clipped to ``MAX_BOUND``; a group whose bound falls under ``MIN_BOUND`` stays raw.

3. ``all``: one more pass with every group at its bound (and a policy's cap) checks
   the sum. A change above ``ACCEPT * tolerance`` (the first-order model was
   optimistic) scales every bound by ``tolerance / change``; one under half the
   tolerance while some bound is below its cap (caps left budget unused) scales them
   up (at most 2x); either is measured again, at most ``CHECKS`` times.

So on the probe batch the relative change of the parameter gradient, all saves
together, is at most about the tolerance: with the default 0.04, a gradient cosine
of 0.999 or more against uncompressed. Cost: one forward and ``2 + groups`` backward
passes of the probe (plus the rescalings), every ``calibrate_every`` steps;
``ca.calibration`` reports the passes and seconds. The probe is the user's (a
callable returning a loss) or, by default, a replay of a training step: the model's
arguments and, when the model returns no scalar loss, the gradient its outputs
received, both kept from the step before the calibration (the same autocast state
and training mode). The passes leave the training state alone: buffers restored,
random number generators forked, ``.grad`` untouched, nothing told to the policy or
counted in the statistics.
"""
import contextlib
import math
import time

import torch

from .roles import UNKNOWN

#: The relative bound each unknown kind is compressed at when its sensitivity is measured.
PROBE_BOUND = 1e-2
#: The loosest relative bound the measurement may give a kind.
MAX_BOUND = 1e-1
#: Below this relative bound a kind is kept raw.
MIN_BOUND = 1e-5
#: The measured groups a kind is cut into along the depth of the model (forward order).
DEPTHS = 4
#: The check of the sum accepts a change up to this multiple of the tolerance.
ACCEPT = 1.1
CHECKS = 3  # rescalings of the bounds that are measured again


def _flatten(value, out):
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _flatten(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _flatten(v, out)
    return out


def loss_spec(result, grads=None):
    """(outputs, grad_outputs) to differentiate: a probe's result. A scalar tensor (or
    the scalar tensors among the outputs, e.g. a transformers model's ``loss``) with
    gradient 1; otherwise every output tensor that received a gradient in `grads`
    (the captured gradients, in flattening order)."""
    tensors = [t for t in _flatten(result, []) if t.requires_grad]
    scalars = [t for t in tensors if t.dim() == 0]
    if scalars:
        return scalars, [torch.ones_like(t) for t in scalars]
    if grads is None:
        raise ValueError("actzip.torch: the probe returned no scalar loss and no output gradients were captured")
    flat = [t for t in _flatten(result, []) if isinstance(t, torch.Tensor)]
    pairs = [(t, g) for t, g in zip(flat, grads) if g is not None and t.requires_grad]
    if not pairs:
        raise ValueError("actzip.torch: none of the model's outputs received a gradient in the captured step")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _autocast_state():
    """[(device type, dtype)] of the autocast contexts enabled now."""
    state = []
    for device in ("cpu", "cuda"):
        try:
            if hasattr(torch, "get_autocast_dtype"):  # PyTorch >= 2.4
                enabled, dtype = torch.is_autocast_enabled(device), torch.get_autocast_dtype(device)
            elif device == "cpu":
                enabled, dtype = torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
            else:
                enabled, dtype = torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()
        except (AttributeError, RuntimeError, TypeError):
            continue
        if enabled:
            state.append((device, dtype))
    return state


class Capture:
    """A training step kept for replay as the default probe: the model's arguments,
    its training mode and autocast state, and the gradients its outputs received."""

    def __init__(self, args, kwargs, model):
        self.args = args
        self.kwargs = kwargs
        self.autocast = _autocast_state()
        self.training = [(m, m.training) for m in model.modules()]
        self.grads = None
        self._outputs = 0

    def watch(self, output):
        """Hooks on the model's output tensors that keep the gradients they receive."""
        flat = _flatten(output, [])
        self.grads = [None] * len(flat)
        if any(t.requires_grad and t.dim() == 0 for t in flat):
            return  # a loss among the outputs: the replay differentiates it
        for i, t in enumerate(flat):
            if t.requires_grad:
                def keep(grad, i=i):
                    self.grads[i] = grad.detach().clone()
                t.register_hook(keep)

    @contextlib.contextmanager
    def replaying(self):
        """The autocast state and training modes of the captured step."""
        modes = [(m, m.training) for m, _ in self.training]
        with contextlib.ExitStack() as stack:
            for device, dtype in self.autocast:
                stack.enter_context(torch.autocast(device, dtype=dtype))
            for m, training in self.training:
                m.training = training
            try:
                yield
            finally:
                for m, training in modes:
                    m.training = training

    def probe(self, model):
        """The probe replaying the step on `model`: returns (outputs, grad_outputs)."""
        def run():
            with self.replaying():
                result = model(*self.args, **self.kwargs)
            return loss_spec(result, self.grads)
        return run


def _relative(a, b):
    """||a - b|| / ||b|| (0 when both vanish)."""
    den = float(b.norm())
    num = float((a - b).norm())
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


def fit_bounds(groups, tolerance, check):
    """The bounds of the measured groups (see the module comment): ``groups`` maps a
    group to its ``sensitivity`` and ``bytes``; ``check(bounds)`` measures the relative
    gradient change with every group at its bound (None: exact). Returns (bounds,
    the changes measured, whether the last one measured the final bounds)."""
    total = sum(g["bytes"] for g in groups.values()) or 1
    bounds = {}
    for key, g in groups.items():
        c = g["sensitivity"]
        bound = MAX_BOUND if c <= 0 else min(MAX_BOUND, tolerance * math.sqrt(g["bytes"] / total) / c)
        bounds[key] = bound if bound >= MIN_BOUND else None
    # The check of the sum: rescale while it misses (the first-order model was
    # optimistic) or leaves half the budget unused (no group at its cap yet), and
    # measure again. The last change measured the final bounds, unless the last
    # rescaling was a tightening that was not measured any more.
    checks, measured = [], True
    for attempt in range(CHECKS + 1):
        if not any(b is not None for b in bounds.values()):
            break
        change = check(dict(bounds))
        checks.append(change)
        scale = None
        if change > ACCEPT * tolerance:
            scale = tolerance / change
        elif change < 0.5 * tolerance and attempt < CHECKS and any(
                b is not None and b < MAX_BOUND and groups[k]["sensitivity"] > 0 for k, b in bounds.items()):
            scale = min(2.0, tolerance / max(change, 1e-12))
        if scale is None:
            break
        for key, b in bounds.items():
            if b is not None and groups[key]["sensitivity"] > 0:
                b = min(MAX_BOUND, b * scale)
                bounds[key] = b if b >= MIN_BOUND else None
        measured = attempt < CHECKS
    return bounds, checks, measured


class Calibration:
    """One calibration (see the module comment). The adapter's pack hook stores every
    save of the probe's forward pass in calibration form (known kinds as in training,
    unknown kinds raw, every tensor's exact value kept beside), and its unpack hook
    asks ``unpack`` for the value the current pass wants."""

    def __init__(self, adapter, tolerance):
        self.adapter = adapter
        self.tolerance = float(tolerance)
        self.mode = "exact"
        self.kind = None
        self.bounds = {}      # measured group -> relative bound (None: raw)
        self.groups = {}      # kind -> [group], in the order of the forward pass
        self.keys = {}        # measured group -> [group]
        self.leaders = {}     # leader site -> {kind: measured group}
        self._cache = {}

    def split(self, depths=DEPTHS):
        """Cuts each kind's groups, in forward order, into at most `depths` measured
        groups of consecutive sites (``"<kind>@<i>/<n>"``), so that shallow and deep
        layers of one kind get their own bounds."""
        for kind, groups in self.groups.items():
            n = min(depths, len(groups))
            for i, group in enumerate(groups):
                key = kind if n == 1 else f"{kind}@{i * n // len(groups) + 1}/{n}"
                self.keys.setdefault(key, []).append(group)
                group.keys = group.keys + (key,)
                self.leaders.setdefault(group.leader, {})[kind] = key

    # ---- the unpack side ----------------------------------------------------------------

    def unpack(self, saved):
        stored = saved.stored
        if self.mode == "exact" or stored is None:
            return saved.exact
        group = stored.group
        if stored.form == "raw":
            bound = self._bound_of(group)
            if bound is None:
                return saved.exact
            capped = self.mode == "all"
            y = self._reconstruction(group, lambda: self.adapter.probe_reconstruction(group, bound, capped))
        else:
            y = self._reconstruction(group, lambda: self.adapter.reconstruct(stored))
        return self.adapter.rebuild(y, saved)

    def _bound_of(self, group):
        kinds = group.keys
        if not kinds:
            return None
        if self.mode == "kind":
            return PROBE_BOUND if self.kind in kinds else None
        if self.mode == "all":
            bounds = [self.bounds.get(k) for k in kinds]
            return None if any(b is None for b in bounds) else min(bounds)
        return None

    def _reconstruction(self, group, make):
        entry = self._cache.get(id(group))
        if entry is None:
            entry = self._cache[id(group)] = [make(), len(group.members)]
        y = entry[0]
        entry[1] -= 1
        if entry[1] <= 0:
            del self._cache[id(group)]
        return y

    # ---- the passes ---------------------------------------------------------------------

    def run(self, spec, parameters):
        """Runs the passes over the probe's graph (``spec`` = (outputs, grad_outputs))
        and returns the measurement; sets ``bounds``."""
        start = time.perf_counter()
        outputs, grads = spec
        passes = [0]

        def gradient(mode, kind=None):
            self.mode, self.kind = mode, kind
            self._cache = {}
            got = torch.autograd.grad(outputs, parameters, grad_outputs=grads, retain_graph=True, allow_unused=True)
            passes[0] += 1
            self._cache = {}
            return torch.cat([(g if g is not None else torch.zeros_like(p)).detach().double().flatten()
                              for g, p in zip(got, parameters)])

        exact = gradient("exact")
        kinds = {}
        for kind in sorted(self.keys):
            change = _relative(gradient("kind", kind), exact)
            kinds[kind] = {"sensitivity": change / PROBE_BOUND,
                           "bytes": sum(g.view.count * g.view.itemsize for g in self.keys[kind]),
                           "saves": sum(len(g.members) for g in self.keys[kind])}

        def check(bounds):
            self.bounds = bounds
            return _relative(gradient("all"), exact)

        self.bounds, checks, measured = fit_bounds(kinds, self.tolerance, check)
        for kind, k in kinds.items():
            k["bound"] = self.bounds[kind]
        self.mode = "exact"
        return {"tolerance": self.tolerance, "checks": checks, "final_measured": measured, "kinds": kinds,
                "passes": passes[0], "seconds": time.perf_counter() - start}


class Calibrated:
    """The calibration of compressed_activations (activations.py mixes it in): runs a
    probe under the adapter's hooks in calibration form, then a Calibration over its
    graph, and keeps the bounds (``kind_bounds``, per measured group and per kind)."""

    _STEP_STATE = ("_groups", "_raw_regions", "_seen_bytes", "_kept_bytes", "_calls", "_stack", "_outside",
                   "_pending", "_pending_bytes", "_layers", "_order", "_new_sites", "_unmeasured", "_inputs")

    def calibrate(self, probe=None, capture=None):
        """Measures the sensitivity of every measured group and sets their bounds (see
        the module comment); returns ``calibration``: ``tolerance``; ``kinds``: per
        measured group its sensitivity, bytes, saves and bound; ``checks``: the changes
        the checks of the sum measured (the last one at the final bounds when
        ``final_measured``); ``passes`` and ``seconds``; ``step``. Runs inside the
        context, after a first step. ``probe``: a callable returning a loss (or the
        model's outputs); default: the context's probe, else the replay of a captured
        step (``capture``)."""
        if not self._active:
            raise RuntimeError("compressed_activations.calibrate: call it inside the context")
        if not self._plan:
            raise RuntimeError("compressed_activations.calibrate: needs one finished step first (the first step "
                               "of a context learns which saves belong together)")
        probe = probe if probe is not None else self.probe
        if probe is None:
            if capture is None:
                raise ValueError("compressed_activations.calibrate: no probe (pass one, probe= to the context, or "
                                 "let end_step() replay a training step)")
            probe = capture.probe(self._probe_target())
            wrap = probe
        else:
            def wrap():
                return loss_spec(probe())
        parameters = [q for q in self.model.parameters() if q.requires_grad]
        state = {name: getattr(self, name) for name in self._STEP_STATE}
        tracer, self._tracer = self._tracer, None
        buffers = [b.detach().clone() for b in self.model.buffers()]
        devices = sorted({q.device.index for q in parameters if q.is_cuda})
        calibration = Calibration(self, self.tolerance)
        self._calibrating = calibration
        try:
            self._begin_step()
            with torch.random.fork_rng(devices=devices), torch.enable_grad():
                spec = wrap()
            self._shrink()
            calibration.split()
            for b, saved in zip(self.model.buffers(), buffers):
                b.data.copy_(saved)
            result = calibration.run(spec, parameters)
            del spec
        finally:
            self._calibrating = None
            for name, value in state.items():
                setattr(self, name, value)
            self._tracer = tracer
        # Per measured group; per kind, the tightest of its groups (for a group the
        # probe did not meet).
        for key, bound in calibration.bounds.items():
            self.kind_bounds[key] = bound
        for kind in calibration.groups:
            found = [calibration.bounds[k] for k in calibration.bounds if k == kind or k.startswith(kind + "@")]
            self.kind_bounds[kind] = None if any(b is None for b in found) else min(found)
        self._measured_groups = calibration.leaders
        # Unknown sites the probe did not reach (saves outside the model's forward when
        # the probe replays the model): kept raw from now on, not measured again.
        for name, site in self.sites.items():
            if site.role == UNKNOWN and site.kind not in self.kind_bounds:
                self._unmeasurable.add(name)
        self._calibrated_at = self._step
        result["step"] = self._step
        self.calibration = result
        return result

    def _probe_target(self):
        inner = getattr(self.model, "module", None)
        if isinstance(inner, torch.nn.Module) and type(self.model).__name__ in ("DistributedDataParallel",
                                                                                "DataParallel"):
            return inner
        return self.model
