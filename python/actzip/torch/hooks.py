# SPDX-License-Identifier: Apache-2.0
"""compressed_activations: compresses the activations autograd saves for backward.

Built on torch.autograd.graph.saved_tensors_hooks. Every tensor autograd saves
while the context is active goes through a pack hook that keeps it, compresses it
with actzip, or (parameters, buffers) passes it through; the unpack hook gives the
backward pass the reconstruction.

Roles. What a saved tensor may be compressed to depends on what the backward
formula does with it, and the saved tensor does not say. Forward hooks on every
module keep a stack of the modules running, so each save is attributed to the
innermost module (its *site*: module name, call and position). The module's type
gives the role of the saved tensor (see DEFAULT_ROLES):

- Conv / Linear input: ``linear_input`` (an error perturbs the weight gradient
  only); fan_in = C_in/groups * prod(kernel) or in_features.
- ReLU: ``relu_output`` (the backward reads only whether the value is > 0, and
  the values are >= 0): compressed without preserve_sign, with the mask x > 0
  stored beside the stream as one bit per element; the unpack hook raises the
  reconstructions of masked values that fell to <= 0 to the smallest normal
  number, which keeps them within the bound (such an x is at most the bound) and
  makes the mask exact. One bit per element costs less than preserve_sign, which
  stores every value within the bound of zero losslessly, once the bound is
  more than about 1 % of the range (``mask_bits=False`` uses preserve_sign).
- LeakyReLU: ``mask`` (the backward reads only the sign): compressed with
  preserve_sign, so the mask is exact.
- BatchNorm / GroupNorm / LayerNorm / InstanceNorm input: ``norm_input``. The
  backward recomputes x_hat = (x - mean) * invstd from it, and x_hat enters the
  input gradient through x_hat * mean(g * x_hat): an error e in x is an error
  e * invstd in x_hat, which reaches the input gradient scaled by the
  correlation between g and x_hat. It is given to the policy as role ``other``
  (its default bound) and, when ``norm_bound`` is set, never looser than
  ``norm_bound``.
- Pooling inputs: ``value_free`` (the backward reads the shape and the saved
  indices, never the values): any bound.
- Dropout: ``exact`` (its mask).
- Anything else: ``unknown``. Kept raw by default; with ``unknown="calibrated"``
  compressed at a relative bound that calibrate() measures to be safe (below).

Functional ops (``op_roles=True``, the default) take precedence: a
``torch.overrides.TorchFunctionMode`` records which op of OP_ROLES is running when a
tensor is saved, whatever module calls it. Matrix products (matmul, @, bmm, mm,
einsum, F.linear, the operands of scaled_dot_product_attention) save operands:
``linear_input`` with fan_in the contracted length. Softmax saves its output:
``softmax_output``. GELU, SiLU and the other smooth activations save their input
(tanh and sigmoid their output): ``nonlinear``. F.layer_norm / group_norm /
batch_norm inputs: ``norm_input``. Both ``softmax_output`` and ``nonlinear`` reach
the policy as role ``other``; docs/POLICIES.md derives their bounds. Dropout masks
are boolean and stay exact; a float tensor an op outside the table saves is
``unknown`` (unless its module's type has a role).

Unknown tensors (``unknown="calibrated"``). Nothing says what the backward does
with them, so their bound is measured: calibrate(probe) runs the probe (a callable
returning a loss, e.g. the loss of a fixed batch) under the hooks several times and
takes the parameter gradients with torch.autograd.grad: once with the unknown
tensors exact, then with them compressed at relative bounds of CALIBRATION_BOUNDS
(a bisection, loosest first). The loosest bound whose gradient differs from the
exact one by at most ``tolerance`` of its norm is used for every unknown tensor
until the next calibration (every ``calibrate_every`` steps, from end_step());
when none passes they stay raw. Known tensors are compressed as in training in
all of these passes, so the change measured is the unknown tensors' own. The
passes restore the model's buffers (BatchNorm statistics) and the random number
generators and leave .grad alone. Cost: 1 + about log2(len(CALIBRATION_BOUNDS)) = 5
forward + backward passes of the probe per calibration.

One tensor is often saved by several modules (a ReLU output is the ReLU's mask
and the next convolution's input). It is stored once, with the conjunction of
the roles: kept raw if any role is exact; preserve_sign if any role is a mask; the
bound of the most sensitive role (linear_input, then norm_input, then mask).

Views. Autograd often saves several views of one storage (matmul on 4-D tensors
saves a 3-D view of its operand, a linear layer a 2-D view of its 3-D input, mm
a transposed operand), and every unpack must return a tensor of exactly the
saved shape. Saves are therefore grouped by storage: a group is the region
[lo, hi) of one storage (device, address, dtype, version) that its first save
reaches. When that first view is dense (its elements fill the region: contiguous
tensors and their reshapes, transposes, permutations and expansions), the group
stores the whole region once, in memory order, and every later view that lies
inside the region (the same storage and version) joins the group: its unpack
rebuilds it with as_strided(shape, strides, offset - lo) over the one
reconstruction, so it has the saved shape, strides and stride-0 dimensions. A
first view that leaves gaps (a stepped slice) is compressed as its distinct
elements and rebuilt contiguous; only saves of exactly that view join it. Views
whose elements may repeat (as_strided windows) are kept raw. A view reaching
outside the region of the group before it is stored on its own. A view kept raw
is the saved tensor itself. With saved-tensor hooks set autograd no longer checks
the version of saved tensors, so the unpack hook does, with PyTorch's error
message: a tensor kept raw, and a compressed one whose storage still exists,
raise as without the hooks when modified in place after the save (a compressed
tensor freed since can no longer have its version read; its stream holds the
values the forward used).

Plan. The modules that save one tensor are known only when the last of them has
run, while the bound must be chosen when the first one saves it. The adapter
therefore learns the grouping: a site seen for the first time keeps its tensor
raw (so it stays alive and can be matched exactly by address with later saves
of the same storage), and at the end of the step the groups are recorded. From
the next step on, the first site of a known group compresses with the decision
for the whole group, and the later sites of the group reuse that stream after
checking that their view lies in the group's region of the same storage
(address, dtype, version), and that the storage is still the one the group saw
(a weak reference to its first save's base is alive, so the address was not
reused). In practice the first training step is stored raw and every later one
is compressed.

Steps. A step ends when ``end_step()`` is called (after optimizer.step()), or
automatically when the model's next forward starts, or when the context exits.
At the end of a step the adapter hands the policy the layer statistics gathered
in the backward pass (``observe``): ||dW||_F from a hook on each conv/linear
weight, ||G||_F from a hook on the layer's output, rho (non-zero fraction) from
the saved input, then calls the policy's ``end_step``.

Overlap (``overlap=True``). CPU: a worker thread compresses. CUDA: a side stream per
device compresses after waiting for the current stream; the saved tensor is
record_stream-ed onto it, its buffers are allocated while it is current, and an
event after its last write orders each stream's decompression. In the backward, the
stream saved just before the one unpacked is reconstructed ahead on the worker or
the side stream.

CUDA. Tensors on a CUDA device are compressed on the current stream without a
host synchronization: the stream buffer is max_compressed_bytes long until the
sizes of all pending streams are read back with one device-to-host copy (at the
end of the model's forward, when the pending buffers exceed ``shrink_bytes``, and
at the end of a step) and the buffers are trimmed. The value range and non-zero
fraction of a tensor are read back at the same time, so on CUDA a decision uses
the value range seen at the same site in the previous step.
"""

import concurrent.futures
import contextlib
import hashlib
import math
import re
import time
import weakref

import torch
from torch import nn

import actzip as _az

from . import tensors as _tensors

#: Roles the adapter distinguishes (``norm_input`` and ``value_free`` reach the
#: policy as TensorRole.other).
LINEAR_INPUT = "linear_input"
MASK = "mask"
RELU_OUTPUT = "relu_output"
NORM_INPUT = "norm_input"
VALUE_FREE = "value_free"
SOFTMAX_OUTPUT = "softmax_output"
NONLINEAR = "nonlinear"
EXACT = "exact"
#: Saved by a module type outside the role table and no op of OP_ROLES: kept raw, or
#: with ``unknown="calibrated"`` compressed at the bound calibrate() measured.
UNKNOWN = "unknown"

_SUPPORTED = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
_UNTYPED = hasattr(torch.Tensor, "untyped_storage")  # torch >= 2.0 (storage() is deprecated there)

#: Role of the tensors saved by a module, by module type. ``linear`` and ``norm``
#: apply to the module's input; a tensor such a module saves that is not its
#: input is kept exact.
DEFAULT_ROLES = {
    nn.Conv1d: "linear", nn.Conv2d: "linear", nn.Conv3d: "linear", nn.Linear: "linear",
    nn.ReLU: RELU_OUTPUT, nn.LeakyReLU: MASK,
    nn.BatchNorm1d: "norm", nn.BatchNorm2d: "norm", nn.BatchNorm3d: "norm", nn.SyncBatchNorm: "norm",
    nn.GroupNorm: "norm", nn.LayerNorm: "norm",
    nn.InstanceNorm1d: "norm", nn.InstanceNorm2d: "norm", nn.InstanceNorm3d: "norm",
    nn.MaxPool1d: VALUE_FREE, nn.MaxPool2d: VALUE_FREE, nn.MaxPool3d: VALUE_FREE,
    nn.AvgPool1d: VALUE_FREE, nn.AvgPool2d: VALUE_FREE, nn.AvgPool3d: VALUE_FREE,
    nn.AdaptiveAvgPool1d: VALUE_FREE, nn.AdaptiveAvgPool2d: VALUE_FREE, nn.AdaptiveAvgPool3d: VALUE_FREE,
    nn.AdaptiveMaxPool1d: VALUE_FREE, nn.AdaptiveMaxPool2d: VALUE_FREE, nn.AdaptiveMaxPool3d: VALUE_FREE,
}
DEFAULT_ROLES.update({getattr(nn, n): EXACT for n in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                                                      "FeatureAlphaDropout") if hasattr(nn, n)})

# The role the policy is told for each adapter role.
_POLICY_ROLE = {LINEAR_INPUT: "linear_input", MASK: "mask", RELU_OUTPUT: "mask", NORM_INPUT: "other",
                VALUE_FREE: "other", SOFTMAX_OUTPUT: "other", NONLINEAR: "other", UNKNOWN: "other"}
# Which member of a group sets the bound: the most sensitive role first.
_PRIORITY = {LINEAR_INPUT: 0, UNKNOWN: 1, SOFTMAX_OUTPUT: 1, NONLINEAR: 1, NORM_INPUT: 1, MASK: 2,
             RELU_OUTPUT: 2, VALUE_FREE: 3}
#: The relative bounds calibrate() tries for unknown tensors, loosest first.
CALIBRATION_BOUNDS = (1e-1, 5e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4)


def _contraction(args, kwargs):
    """fan_in of a matrix product's saved operand: the length of the summed dimension."""
    a = args[0] if args else None
    return int(a.shape[-1]) if isinstance(a, torch.Tensor) and a.dim() >= 1 else 0


def _op_roles():
    """{function: (role of a saved input, role of a saved output, fan_in(args, kwargs))}
    for the functional ops whose backward formulas docs/POLICIES.md derives bounds for.
    Functions are looked up as torch hands them to __torch_function__ (the public
    function, or the Tensor method)."""
    F = torch.nn.functional
    T = torch.Tensor
    table = {}

    def add(names, owner, entry):
        for n in names:
            f = getattr(owner, n, None)
            if f is not None:
                table[f] = entry

    none = lambda args, kwargs: 0  # noqa: E731
    # Matrix products: a saved operand multiplies the gradient of the other operand.
    # They save nothing but operands (matmul on 4-D tensors saves reshaped copies of
    # them, which are not the arguments themselves).
    product = (LINEAR_INPUT, LINEAR_INPUT, _contraction)
    add(["matmul", "bmm", "mm", "einsum", "baddbmm", "addmm", "addbmm", "tensordot"], torch, product)
    add(["matmul", "__matmul__", "__rmatmul__", "bmm", "mm", "baddbmm", "addmm"], T, product)
    add(["linear", "bilinear"], F, product)
    add(["scaled_dot_product_attention"], F, (LINEAR_INPUT, EXACT, none))
    # Softmax: its output y enters y * (g - sum(g * y)).
    add(["softmax", "log_softmax"], torch, (EXACT, SOFTMAX_OUTPUT, none))
    add(["softmax", "log_softmax"], T, (EXACT, SOFTMAX_OUTPUT, none))
    add(["softmax", "log_softmax"], F, (EXACT, SOFTMAX_OUTPUT, none))
    # Smooth activations: an error in the saved input or output is scaled by f'' (or f').
    add(["gelu", "silu", "mish", "elu", "softplus", "tanh", "sigmoid", "hardswish"], F, (NONLINEAR, NONLINEAR, none))
    add(["tanh", "sigmoid"], torch, (NONLINEAR, NONLINEAR, none))
    add(["tanh", "sigmoid"], T, (NONLINEAR, NONLINEAR, none))
    # Dropout: the mask (boolean, or a float tensor of 0 and 1/(1-p) on some paths) stays exact.
    add(["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"], F,
        (EXACT, EXACT, none))
    add(["dropout"], torch, (EXACT, EXACT, none))
    # Normalisation: the input behaves like a BatchNorm input.
    add(["layer_norm", "group_norm", "batch_norm", "instance_norm", "rms_norm"], F, (NORM_INPUT, EXACT, none))
    return table


#: The op roles (see _op_roles); module roles apply where no op of this table saves.
OP_ROLES = _op_roles()


def _compress_on_worker(x, params):
    """The overlap worker's job: one thread of actzip (the forward pass keeps the
    others)."""
    return _tensors.compress(x, params, threads=1)


class _OpFrame:
    __slots__ = ("entry", "inputs", "args", "kwargs")

    def __init__(self, entry, args, kwargs):
        self.entry = entry
        self.args, self.kwargs = args, kwargs
        self.inputs = set()
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, torch.Tensor):
                self.inputs.add(a.data_ptr())
            elif isinstance(a, (list, tuple)):
                self.inputs.update(x.data_ptr() for x in a if isinstance(x, torch.Tensor))


class _OpRoles(torch.overrides.TorchFunctionMode):
    """Tells the pack hook which functional op is saving: a stack of the known ops
    (OP_ROLES) running now. Torch calls __torch_function__ with this mode disabled
    for the nested call, so ops called inside an op are not seen."""

    def __init__(self, stack):
        super().__init__()
        self.stack = stack

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        entry = OP_ROLES.get(func)
        if entry is None:
            return func(*args, **kwargs)
        self.stack.append(_OpFrame(entry, args, kwargs))
        try:
            return func(*args, **kwargs)
        finally:
            self.stack.pop()
_BIT_WEIGHTS = {}


def _bit_weights(device):
    w = _BIT_WEIGHTS.get(device)
    if w is None:
        w = _BIT_WEIGHTS[device] = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8, device=device)
    return w


def pack_bits(mask):
    """A bool tensor as uint8, eight elements a byte (element i in bit i % 8 of byte i // 8)."""
    flat = mask.reshape(-1)
    pad = (-flat.numel()) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    return (flat.view(-1, 8).to(torch.uint8) * _bit_weights(flat.device)).sum(1, dtype=torch.uint8)


def unpack_bits(packed, count):
    """The first `count` elements of a pack_bits result, as a flat bool tensor."""
    return (packed.unsqueeze(1).bitwise_and(_bit_weights(packed.device)) != 0).reshape(-1)[:count]


class BoundViolation(AssertionError):
    """A reconstruction broke its error bound or its sign (verify=True)."""


def site_key(site):
    """The 64-bit policy key of a site name (stable across processes)."""
    return int.from_bytes(hashlib.blake2b(site.encode(), digest_size=8).digest(), "little")


def fan_in(module):
    """C_in/groups * prod(kernel) for a convolution, in_features for a linear layer, else 0."""
    if isinstance(module, nn.Linear):
        return int(module.in_features)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return int(module.in_channels // module.groups * math.prod(module.kernel_size))
    return 0


class CompressionStats:
    """What the adapter stored, per step.

    ``steps`` holds one dict per finished step: ``step``, ``tensors`` (stored groups:
    saved tensors after deduplication, views of one storage region counting once),
    ``compressed`` (how many were compressed), ``raw_bytes`` (what autograd would
    keep without the hooks: the storage bytes the saved tensors but parameters and
    buffers reach, each byte once per step), ``stored_bytes`` (what the hooks kept:
    streams, plus the storage bytes of the tensors kept raw, each once),
    ``compressed_raw_bytes`` (raw_bytes of the compressed ones), ``ratio`` (raw_bytes
    / stored_bytes) and, with verify, ``max_error_ratio`` (largest |x - x'| / bound
    over the step). ``records`` holds one dict per group of the last finished step
    (all steps with keep_records=True): its site, roles, shape of the first view,
    ``layout`` (dense, gapped, overlap), ``saves`` (views rebuilt from it), bytes and
    bound. Bytes are counted exactly for dense views (the union of their spans per
    storage). A gapped or overlapping view stored on its own counts its distinct
    elements, exact unless it shares storage bytes with another group's view; then
    raw_bytes counts fewer bytes than the exact figure and stored_bytes more, so
    the ratio is never overstated.
    """

    def __init__(self, keep_records=False):
        self.keep_records = keep_records
        self.steps = []
        self.records = []
        self._reset()

    def _reset(self):
        self._current = []

    def _add(self, record):
        self._current.append(record)

    def _finish(self, step):
        recs = self._current
        raw = sum(r["raw_bytes"] for r in recs)
        stored = sum(r["stored_bytes"] for r in recs)
        comp = [r for r in recs if r["compressed"]]
        errors = [r["error_ratio"] for r in comp if r.get("error_ratio") is not None]
        summary = {
            "step": step,
            "tensors": len(recs),
            "compressed": len(comp),
            "raw_bytes": raw,
            "stored_bytes": stored,
            "compressed_raw_bytes": sum(r["raw_bytes"] for r in comp),
            "ratio": raw / stored if stored else 1.0,
            "max_error_ratio": max(errors) if errors else None,
        }
        self.steps.append(summary)
        if self.keep_records:
            for r in recs:
                r["step"] = step
            self.records.extend(recs)
        else:
            self.records = recs
        self._reset()
        return summary

    def last(self):
        """The summary of the last finished step (None before the first)."""
        return self.steps[-1] if self.steps else None

    def mean(self, key, skip=0):
        """Mean of one summary field over the finished steps after the first `skip`."""
        values = [s[key] for s in self.steps[skip:] if s[key] is not None]
        return sum(values) / len(values) if values else None


class _View:
    """Where a saved tensor lies in its storage.

    ``key`` (device, storage address, dtype, version) names the storage and its
    contents; ``geometry`` (shape, strides, storage offset) the view; [lo, hi) is the
    span of storage elements the view reaches. ``layout``: ``dense`` when the view's
    elements fill the span exactly (contiguous tensors, their reshapes, transposes
    and permutations, with or without expanded dimensions of stride 0), ``gapped``
    when they do not overlap but leave gaps (slices with a step, narrowed inner
    dimensions), ``overlap`` when elements may repeat (as_strided windows) or the
    view is empty. ``count``: distinct elements reached (at most hi - lo)."""

    __slots__ = ("storage", "key", "geometry", "lo", "hi", "layout", "count", "itemsize", "dims")

    def __init__(self, t, storage):
        shape, stride, offset = tuple(t.shape), tuple(t.stride()), t.storage_offset()
        self.storage = storage
        self.key = (storage, t.dtype, t._version)
        self.geometry = (shape, stride, offset)
        self.itemsize = t.element_size()
        # The dimensions that move in memory, innermost first.
        dims = sorted((s, n) for n, s in zip(shape, stride) if n > 1 and s != 0)
        count, reach, dense, disjoint = 1, 0, True, True
        for s, n in dims:
            dense = dense and s == count         # each stride the product of the inner sizes
            disjoint = disjoint and s > reach    # each step beyond all inner offsets: no repeats
            reach += s * (n - 1)
            count *= n
        self.dims = dims
        self.lo = offset
        if t.numel() == 0:
            self.hi, self.layout, self.count = offset, "overlap", 0
            return
        self.hi = offset + reach + 1
        self.layout = "dense" if dense else "gapped" if disjoint else "overlap"
        self.count = min(count, self.hi - self.lo)


class _Stored:
    """What a group keeps: the raw tensor or a compressed stream."""

    __slots__ = ("raw", "stream", "bits", "size", "dtype", "shape", "lo", "uses", "cache", "group", "future",
                 "side", "ready", "order", "prefetch", "__weakref__")

    def __init__(self):
        self.future = None   # overlap on the CPU: the worker's compression, until collected
        self.side = None     # overlap on CUDA: the side stream the stream buffer lives on
        self.ready = None    # overlap on CUDA: event after the side stream's last write
        self.order = None    # (weak references to this step's streams in save order, index)
        self.prefetch = None  # overlap: the reconstruction started ahead of its unpack
        self.raw = None      # the tensor itself when kept raw
        self.stream = None   # the uint8 stream (CUDA: max-size buffer until trimmed)
        self.bits = None     # relu_output: the mask x > 0, pack_bits
        self.size = None     # CUDA, until trimmed: int64 device tensor with the stream size
        self.dtype = None
        self.shape = None    # the shape the stream was compressed with
        self.lo = 0          # dense: the storage offset of the stream's first element
        self.uses = 0        # unpacks still expected (one per save)
        self.cache = None    # the reconstruction, kept until the last expected unpack
        self.group = None


class _Saved:
    """What the pack hook returns for one save: the tensor itself (kept raw, or a
    parameter or buffer), or the group's stream and the view to rebuild from it; and
    the version the tensor had, checked when it is unpacked."""

    __slots__ = ("tensor", "ref", "version", "stored", "geometry")

    def __init__(self, version, tensor=None, ref=None, stored=None, geometry=None):
        self.tensor = tensor      # kept raw: the saved tensor itself
        self.ref = ref            # compressed: weak reference to the tensor's base (its version counter)
        self.version = version
        self.stored = stored
        self.geometry = geometry  # compressed: (shape, strides, storage offset) of the view


class _Group:
    """One stored storage region of the current step and the saves that use it."""

    __slots__ = ("leader", "members", "view", "anchor", "stored", "record", "nonzero", "value_range")

    def __init__(self, leader, view, anchor):
        self.leader = leader
        self.members = []     # (site, role, fan_in, module name)
        self.view = view      # the _View of the first save
        self.anchor = anchor  # weak reference to the first save's base: alive, so is its storage
        self.stored = None
        self.record = None
        self.nonzero = None   # float, or a device scalar on CUDA until read back
        self.value_range = None

    def holds(self, v):
        """Whether view `v` can be rebuilt from this group: same storage, dtype and
        version, that storage still alive (its address not reused), and v inside the
        dense region, or exactly the first view when that one is not dense."""
        g = self.view
        if v.key != g.key or self.anchor() is None:
            return False
        if g.layout == "dense":
            return g.lo <= v.lo and v.hi <= g.hi
        return v.geometry == g.geometry


class _Frame:
    __slots__ = ("module", "name", "inputs", "saves", "call")

    def __init__(self, module, name, inputs, call):
        self.module = module
        self.name = name
        self.inputs = inputs
        self.saves = 0
        self.call = call


def _base(t):
    """The tensor owning t's storage and version counter (t itself unless t is a view)."""
    b = t._base
    return t if b is None else b


def _add_span(spans, lo, hi):
    """Adds [lo, hi) to `spans` (sorted disjoint ranges); returns how much of it was already there."""
    covered = sum(max(0, min(b, hi) - max(a, lo)) for a, b in spans)
    merged = []
    for a, b in spans:
        if b < lo or a > hi:
            merged.append((a, b))
        else:
            lo, hi = min(a, lo), max(b, hi)
    merged.append((lo, hi))
    merged.sort()
    spans[:] = merged
    return covered


def _probe_version_error():
    """PyTorch's own message for a saved tensor modified in place, from a one-element
    graph: its wording (the node's name, the hint) differs between versions."""
    x = torch.zeros(1, requires_grad=True)
    with torch.enable_grad():
        y = x.exp()
        y.add_(1)
        try:
            y.backward()
        except RuntimeError as e:
            return str(e)
    return ""


_VERSION_ERROR = _probe_version_error()
# PyTorch 2.x names the node without "Backward0" (Exp), earlier versions with it.
_SHORT_NODE_NAMES = ", which is output 0 of Exp," in _VERSION_ERROR
_HINT = _VERSION_ERROR[_VERSION_ERROR.index("Hint:"):] if "Hint:" in _VERSION_ERROR else (
    "Hint: enable anomaly detection to find the operation that failed to compute its gradient, with "
    "torch.autograd.set_detect_anomaly(True).")


def _modified(t, version, shape=None):
    """PyTorch's own error for a saved tensor modified in place (autograd checks the
    version only when no saved-tensor hooks are set, so the unpack hook does)."""
    fn = t.grad_fn
    name = fn.name() if fn is not None else ""
    if _SHORT_NODE_NAMES:
        name = re.sub(r"Backward\d*$", "", name)
    which = f", which is output {t.output_nr} of {name}," if fn is not None else ""
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[{t.type()} {list(t.shape if shape is None else shape)}]{which} is at version {t._version}; "
        f"expected version {version} instead. " + _HINT)


def _to_float(value):
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


class compressed_activations:
    """Context manager compressing the activations saved while it is active.

    Args:
      model: the nn.Module whose forward runs inside the context (its modules get
        the hooks; its parameters and buffers are never compressed).
      policy: an actzip policy (FixedPolicy, AdaptivePolicy, BudgetPolicy or a
        Policy subclass; each takes codec="bitplane", "huffman" or "automatic").
        Default: FixedPolicy(rel_bound(1e-2), codec="automatic").
      min_numel: tensors with fewer elements are kept raw (default 4096).
      stats: a CompressionStats to fill (default: a new one, as ``self.stats``).
      verify: decompress every stream right away and check the bound and the
        signs; raises BoundViolation on a violation (slow; for tests). Raised
        inside autograd's save, it reaches the caller as a RuntimeError whose
        message starts with "BoundViolation".
      roles: {module type: role} entries overriding DEFAULT_ROLES; a role is
        "linear", "norm", "mask", "value_free" or "exact".
      norm_bound: a Bound no normalisation input is compressed more loosely than
        (None: the policy's bound for role other).
      mask_bits: store ReLU masks as bits beside a stream without preserve_sign
        (default) rather than with preserve_sign.
      shrink_bytes: CUDA only: trim pending stream buffers once they exceed this
        many bytes (default 256 MiB).
      op_roles: give tensors saved by the functional ops of OP_ROLES their op's role
        (default True); False: module roles only.
      overlap: compression off the critical path: CPU tensors on a worker thread,
        CUDA tensors on a side stream ordered by events, while the forward pass goes
        on; collected at the end of the forward (or when shrink_bytes are pending,
        or the backward needs one). In the backward, the stream saved before the one
        being unpacked is reconstructed ahead (worker or side stream). The same
        streams and gradients.
      unknown: what happens to tensors of role ``unknown`` (no role for their module
        type or op): "raw" (default) keeps them, "calibrated" compresses them at the
        relative bound calibrate() measured (raw until the first calibration).
      probe: a callable returning a loss (e.g. of a fixed batch) for calibrate();
        with unknown="calibrated", end_step() calibrates with it after the first
        step and then every ``calibrate_every`` steps.
      tolerance: the largest change of the parameter gradient, relative to its
        norm, that the unknown tensors' compression may cause on the probe
        (default 1e-2).
    """

    def __init__(self, model, policy=None, min_numel=4096, stats=None, verify=False, roles=None, norm_bound=None,
                 mask_bits=True, shrink_bytes=256 << 20, op_roles=True, overlap=False, unknown="raw", probe=None,
                 calibrate_every=500, tolerance=1e-2):
        self.model = model
        if unknown not in ("raw", "calibrated"):
            raise ValueError(f"compressed_activations: unknown must be 'raw' or 'calibrated', not {unknown!r}")
        if probe is not None and not callable(probe):
            raise TypeError("compressed_activations: probe must be a callable returning a loss")
        if calibrate_every < 1 or not tolerance >= 0:
            raise ValueError("compressed_activations: calibrate_every must be >= 1 and tolerance >= 0")
        self.unknown = unknown
        self.probe = probe
        self.calibrate_every = int(calibrate_every)
        self.tolerance = float(tolerance)
        self.unknown_bound = None  # the relative bound of unknown tensors (None: kept raw)
        self.calibration = None    # what the last calibrate() measured
        self._calibrated_at = None
        self._probing = False
        self._probe_bound = None
        self.overlap = bool(overlap)
        self._worker = None
        self._side = {}       # CUDA device index -> side stream (overlap)
        self.prefetched = 0   # overlap: reconstructions the backward found started ahead
        self.op_roles = bool(op_roles)
        self._ops = []        # the known functional ops running now (op_roles)
        self._op_mode = None
        # The default: the smallest streams (bench/results/overlap-cpu-*.md measured automatic
        # streams 1.27-1.40x smaller than bitplane at the same bound).
        self.policy = policy if policy is not None else _az.FixedPolicy(_az.rel(1e-2), codec="automatic")
        if not isinstance(self.policy, _az.Policy):
            raise TypeError("compressed_activations: policy must be an actzip policy (actzip.FixedPolicy, "
                            "AdaptivePolicy, BudgetPolicy or a Policy subclass)")
        if min_numel < 0:
            raise ValueError("compressed_activations: min_numel must be >= 0")
        self.min_numel = int(min_numel)
        self.stats = stats if stats is not None else CompressionStats()
        self.verify = bool(verify)
        self.roles = dict(DEFAULT_ROLES)
        for kind, role in (roles or {}).items():
            if role not in ("linear", "norm", MASK, RELU_OUTPUT, VALUE_FREE, EXACT):
                raise ValueError(f"compressed_activations: unknown role {role!r} for {kind}")
            self.roles[kind] = role
        self.norm_bound = norm_bound
        self.mask_bits = bool(mask_bits)
        self.shrink_bytes = int(shrink_bytes)
        # The fixed policy ignores the value range: skip the pass that measures it.
        self._needs_range = not isinstance(self.policy, _az.FixedPolicy)
        self._plan = {}       # leader site -> [(site, role, fan_in, module name)]
        self._member_of = {}  # site -> leader site
        self._keys = {}       # site -> policy key
        self._ranges = {}     # site -> value range seen last (CUDA decisions)
        self._step = 0
        self._active = False
        self._handles = []
        self._saved_hooks = None
        self._begin_step()

    # ---- life cycle -------------------------------------------------------------------

    def __enter__(self):
        if self._active:
            raise RuntimeError("compressed_activations: the context is already active")
        self._install()
        self._saved_hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._saved_hooks.__enter__()
        if self.op_roles:
            self._ops = []
            self._op_mode = _OpRoles(self._ops)
            self._op_mode.__enter__()
        if self.overlap:
            self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="actzip")
        self._active = True
        return self

    def __exit__(self, *exc):
        if self._op_mode is not None:
            self._op_mode.__exit__(*exc)
            self._op_mode = None
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
        for p in list(self.model.parameters()) + list(self.model.buffers()):
            self._skip.add(self._storage_ptr(p))
        self._names = {}
        for name, module in self.model.named_modules():
            self._names[module] = name or "<model>"
            self._handles.append(module.register_forward_pre_hook(self._pre_hook))
            self._handles.append(module.register_forward_hook(self._post_hook))
            kind = self._kind(module)
            if kind == "linear" and isinstance(getattr(module, "weight", None), torch.Tensor) \
                    and module.weight.requires_grad:
                self._handles.append(module.weight.register_hook(self._weight_grad_hook(name or "<model>")))

    def _begin_step(self):
        self._groups = {}      # leader site -> _Group (this step)
        self._raw_regions = {}  # (storage, dtype, version) -> [_Group kept raw] (alive: matchable by address)
        self._seen_bytes = {}   # storage -> [owner, byte ranges counted in raw_bytes this step]
        self._kept_bytes = {}   # storage -> [owner, byte ranges kept raw this step]
        self._calls = {}       # module name -> calls this step
        self._stack = []
        self._outside = 0
        self._pending = []     # CUDA streams not trimmed yet
        self._pending_bytes = 0
        self._layers = {}      # module name -> feedback being gathered
        self._order = []       # weak references to the streams stored this step, in save order
        if not self._probing:
            self.stats._reset()

    def end_step(self):
        """Finishes the step: feeds the layer statistics and end_step to the policy,
        records the step's statistics and updates the plan. Call after
        optimizer.step(); returns the step's summary dict (None if nothing was saved).
        With unknown="calibrated" and a probe, calibrates when one is due."""
        summary = self._end_step()
        if self.unknown == "calibrated" and self.probe is not None and self._active and self._plan and \
                (self._calibrated_at is None or self._step - self._calibrated_at >= self.calibrate_every):
            self.calibrate()
        return summary

    def _end_step(self):
        if self._probing:
            return None
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
            self.policy.observe(fb)
        self.policy.end_step()
        for leader, g in self._groups.items():
            members = self._plan.setdefault(leader, [])
            for m in g.members:
                if m not in members:
                    members.append(m)
            for m in members:
                self._member_of[m[0]] = leader
        summary = self.stats._finish(self._step)
        self._step += 1
        self._begin_step()
        return summary

    # ---- calibration of unknown tensors -----------------------------------------------

    _STEP_STATE = ("_groups", "_raw_regions", "_seen_bytes", "_kept_bytes", "_calls", "_stack", "_outside",
                   "_pending", "_pending_bytes", "_layers", "_order")

    def calibrate(self, probe=None, bounds=CALIBRATION_BOUNDS):
        """Measures the relative bound of the unknown tensors (see the module's notes)
        and sets ``unknown_bound``; returns ``calibration``, a dict: the bound chosen
        (None: none passed, they stay raw), the tolerance, the relative gradient change
        measured at each bound tried, the unknown saves the probe made, the passes run
        and their seconds. Runs inside the context, after a first step."""
        probe = probe if probe is not None else self.probe
        if probe is None:
            raise ValueError("compressed_activations.calibrate: no probe (pass one, or probe= to the context)")
        if not self._active:
            raise RuntimeError("compressed_activations.calibrate: call it inside the context")
        if not self._plan:
            raise RuntimeError("compressed_activations.calibrate: needs one finished step first (the first step "
                               "of a context learns which saves belong together)")
        bounds = sorted({float(b) for b in bounds}, reverse=True)
        if not bounds or bounds[-1] <= 0:
            raise ValueError("compressed_activations.calibrate: bounds must be positive")
        params = [q for q in self.model.parameters() if q.requires_grad]
        start = time.perf_counter()
        state = {name: getattr(self, name) for name in self._STEP_STATE}
        buffers = [b.detach().clone() for b in self.model.buffers()]
        devices = sorted({q.device.index for q in params if q.is_cuda})
        unknown_saves = []

        def gradient(bound):
            """The probe's parameter gradient with unknown tensors at `bound` (None: exact)."""
            self._probe_bound = bound
            self._begin_step()
            with torch.random.fork_rng(devices=devices):
                loss = probe()
                grads = torch.autograd.grad(loss, params, allow_unused=True)
            self._shrink()
            unknown_saves.append(sum(1 for g in self._groups.values() for m in g.members if m[1] == UNKNOWN))
            for b, saved in zip(self.model.buffers(), buffers):
                b.data.copy_(saved)
            return torch.cat([(g if g is not None else torch.zeros_like(q)).detach().double().flatten()
                              for g, q in zip(grads, params)])

        changes = {}
        chosen = None
        self._probing = True
        try:
            exact = gradient(None)
            scale = float(exact.norm())
            if unknown_saves[0] == 0:
                chosen = bounds[0]  # nothing unknown: any bound
            else:
                # Bisection over the bounds, loosest first: the loosest that passes.
                lo, hi = 0, len(bounds) - 1
                while lo <= hi:
                    mid = (lo + hi) // 2
                    diff = float((gradient(bounds[mid]) - exact).norm())
                    change = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
                    changes[bounds[mid]] = change
                    if change <= self.tolerance:
                        chosen, hi = bounds[mid], mid - 1
                    else:
                        lo = mid + 1
        finally:
            self._probing = False
            self._probe_bound = None
            for name, value in state.items():
                setattr(self, name, value)
        self.unknown_bound = chosen
        self._calibrated_at = self._step
        self.calibration = {"step": self._step, "bound": chosen, "tolerance": self.tolerance,
                            "changes": dict(sorted(changes.items(), reverse=True)),
                            "unknown_saves": unknown_saves[0], "passes": 1 + len(changes),
                            "seconds": time.perf_counter() - start}
        return self.calibration

    # ---- module hooks -----------------------------------------------------------------

    def _kind(self, module):
        for cls in type(module).__mro__:
            if cls in self.roles:
                return self.roles[cls]
        return UNKNOWN

    def _pre_hook(self, module, inputs):
        if module is self.model:
            if self._groups and not self._stack:
                self._end_step()   # a new forward: the previous step is over
            # Site names count calls from the start of the forward (a forward under
            # no_grad, e.g. an evaluation, saves nothing and leaves no trace).
            self._stack = []
            self._calls = {}
            self._outside = 0
        name = self._names.get(module, "?")
        call = self._calls.get(name, 0)
        self._calls[name] = call + 1
        ident = set()
        for x in inputs:
            if isinstance(x, torch.Tensor):
                ident.add((x.data_ptr(), x.numel()))
        self._stack.append(_Frame(module, name, ident, call))

    def _post_hook(self, module, inputs, output):
        if self._stack and self._stack[-1].module is module:
            self._stack.pop()
        if self._kind(module) == "linear" and torch.is_grad_enabled() and isinstance(output, torch.Tensor) \
                and output.requires_grad:
            name = self._names.get(module, "?")
            layer = self._layers.setdefault(name, {"fan_in": fan_in(module)})

            def hook(grad, layer=layer):
                layer.setdefault("g2", []).append(grad.detach().float().pow(2).sum())
            output.register_hook(hook)
        if module is self.model:
            self._shrink()

    def _weight_grad_hook(self, name):
        def hook(grad):
            layer = self._layers.get(name)
            if layer is not None:
                layer.setdefault("w2", []).append(grad.detach().float().pow(2).sum())
        return hook

    # ---- pack / unpack ----------------------------------------------------------------

    @staticmethod
    def _storage_ptr(t):
        try:
            return (t.untyped_storage() if _UNTYPED else t.storage()).data_ptr()
        except (RuntimeError, NotImplementedError):
            return None  # no storage (sparse, meta, ...)

    def _site(self, t):
        """The site name, adapter role and fan_in of the tensor being saved now: the
        role of the known functional op saving it (OP_ROLES) if one is running, else
        that of the innermost module."""
        op = self._ops[-1] if self._ops else None
        if not self._stack:
            self._outside += 1
            site = f"<outside>/{self._outside - 1}"
            if op is None:
                return site, UNKNOWN, 0, None
            return self._op_site(site, op, t, None)
        frame = self._stack[-1]
        site = f"{frame.name}#{frame.call}/{frame.saves}"
        frame.saves += 1
        if op is not None:
            return self._op_site(site, op, t, frame.name)
        kind = self._kind(frame.module)
        is_input = (t.data_ptr(), t.numel()) in frame.inputs
        if kind == "linear":
            return (site, LINEAR_INPUT, fan_in(frame.module), frame.name) if is_input else (site, EXACT, 0, None)
        if kind == "norm":
            return (site, NORM_INPUT, 0, frame.name) if is_input else (site, EXACT, 0, None)
        if kind == RELU_OUTPUT and is_input and not getattr(frame.module, "inplace", False):
            return site, MASK, 0, frame.name  # a ReLU that saves its input (not nn.ReLU's own way)
        return site, kind, 0, frame.name

    def _op_site(self, site, op, t, name):
        input_role, output_role, fan = op.entry
        is_input = t.data_ptr() in op.inputs
        role = input_role if is_input else output_role
        if role == EXACT:
            return site, EXACT, 0, None
        return site, role, fan(op.args, op.kwargs) if role == LINEAR_INPUT else 0, name

    def _key(self, site):
        key = self._keys.get(site)
        if key is None:
            key = self._keys[site] = site_key(site)
        return key

    def _pack(self, t):
        ptr = self._storage_ptr(t)
        if ptr is None:
            return t  # no storage (sparse, meta, ...)
        if ptr in self._skip:
            return _Saved(t._version, tensor=t)  # a parameter or buffer (or a view of one): alive anyway
        member = self._site(t)
        site = member[0]
        view = _View(t, (t.device, ptr))
        # A later save of a region this step already stored.
        leader = self._member_of.get(site)
        group = self._groups.get(leader) if leader is not None and leader != site else None
        if group is not None and not group.holds(view):
            group = None  # not the tensor the plan expects: store it on its own
        if group is None:
            group = next((g for g in self._raw_regions.get(view.key, ()) if g.holds(view)), None)
        if group is not None:
            self._join(group, member, t)
            return self._saved(group, t, view)
        # The first save of a region.
        group = _Group(site, view, weakref.ref(_base(t)))
        self._groups[site] = group
        self._join(group, member, t)
        members = self._plan.get(site) if leader == site else None
        group.stored = self._store(group, t, view, members)
        if group.stored.raw is not None:
            self._raw_regions.setdefault(view.key, []).append(group)
        return self._saved(group, t, view)

    @staticmethod
    def _saved(group, t, view):
        stored = group.stored
        if stored.raw is not None:
            return _Saved(t._version, tensor=t)
        stored.uses += 1
        return _Saved(t._version, ref=weakref.ref(_base(t)), stored=stored, geometry=view.geometry)

    def _join(self, group, member, t):
        group.members.append(member)
        if group.record is not None:
            group.record["saves"] = len(group.members)
        site, role, fan, name = member
        if role == LINEAR_INPUT:
            layer = self._layers.setdefault(name, {"fan_in": fan})
            layer.setdefault("key", self._key(site))
            if group.nonzero is None and t.is_floating_point():
                nz = torch.count_nonzero(t)
                group.nonzero = (nz.float() / max(1, t.numel())) if t.is_cuda else nz.item() / max(1, t.numel())
            layer["rho"] = group.nonzero

    @staticmethod
    def _new_bytes(spans, group, upper=False):
        """Bytes of the group's first view not counted yet in `spans` (storage -> [weak
        reference to a tensor owning it, byte ranges counted]), which then include the
        view's span. A dense view counts the part of its span not counted yet (exact).
        A gapped or overlapping one counts its distinct elements, less all of its span
        counted before unless `upper`: a lower bound of the exact figure (raw_bytes),
        or with `upper` an upper bound (bytes kept raw); both exact when nothing of its
        span was counted before. Ranges counted for a storage that has been freed since
        (its address may be reused) are forgotten."""
        view = group.view
        entry = spans.get(view.storage)
        if entry is None or entry[0]() is None:
            entry = spans[view.storage] = [group.anchor, []]
        size = view.itemsize
        covered = _add_span(entry[1], view.lo * size, view.hi * size)
        if view.layout == "dense":
            return (view.hi - view.lo) * size - covered
        return view.count * size if upper else max(0, view.count * size - covered)

    def _record(self, group, shape, dtype, raw_bytes, compressed, stored_bytes, bound=0.0, params=None,
                error_ratio=None, mask_bits=False):
        if self._probing:
            return
        group.record = {
            "site": group.leader,
            "roles": sorted({m[1] for m in group.members}),
            "shape": list(shape),
            "dtype": str(dtype).replace("torch.", ""),
            "layout": group.view.layout,
            "saves": len(group.members),
            "raw_bytes": raw_bytes,
            "stored_bytes": stored_bytes,
            "compressed": compressed,
            "absolute_bound": bound,
            "params": repr(params) if params is not None else None,
            "mask_bits": mask_bits,
            "error_ratio": error_ratio,
        }
        self.stats._add(group.record)

    def _keep_raw(self, group, t, view):
        stored = _Stored()
        stored.raw = t
        stored.group = group
        raw = self._new_bytes(self._seen_bytes, group)
        self._record(group, t.shape, t.dtype, raw, False, self._new_bytes(self._kept_bytes, group, upper=True))
        return stored

    def _store(self, group, t, view, members):
        if members is None or t.dtype not in _SUPPORTED or view.count < self.min_numel or view.layout == "overlap" \
                or t.device.type not in ("cpu", "cuda"):
            return self._keep_raw(group, t, view)
        roles = [m[1] for m in members]
        if EXACT in roles:
            return self._keep_raw(group, t, view)
        unknown_bound = None
        if UNKNOWN in roles:
            unknown_bound = self._probe_bound if self._probing else self.unknown_bound
            if self.unknown != "calibrated" or unknown_bound is None:
                return self._keep_raw(group, t, view)
        # What is compressed: a dense view's whole region in memory order (any view
        # inside it is rebuilt from it with as_strided), a gapped view's distinct
        # elements (rebuilt contiguous, expanded again where the view has stride 0).
        x = t.detach()
        if view.layout == "dense" and not x.is_contiguous():
            inner_first = view.dims or [(1, 1)]
            x = x.as_strided([n for s, n in reversed(inner_first)], [s for s, n in reversed(inner_first)], view.lo)
        elif view.layout == "gapped":
            shape, stride, offset = view.geometry
            x = x.as_strided([n if s != 0 else 1 for n, s in zip(shape, stride)], stride, offset).contiguous()
        raw_bytes = x.numel() * x.element_size()
        primary = min(members, key=lambda m: _PRIORITY[m[1]])
        bits = self.mask_bits and RELU_OUTPUT in roles and MASK not in roles
        preserve = (MASK in roles or RELU_OUTPUT in roles) and not bits
        info = _az.TensorInfo()
        info.key = self._key(primary[0])
        info.dtype = x.dtype
        info.count = x.numel()
        role = _POLICY_ROLE[primary[1]]
        if preserve and role == "linear_input":
            role = "mask"  # the formula bound of the layer, with exact signs
        info.role = getattr(_az.TensorRole, role)
        info.fan_in = primary[2]
        if self._needs_range or self.norm_bound is not None:
            if x.is_cuda:
                lo, hi = torch.aminmax(x)
                group.value_range = (hi.float() - lo.float())
                info.value_range = self._ranges.get(group.leader, -1.0)
            else:
                lo, hi = torch.aminmax(x)
                r = float(hi) - float(lo)
                info.value_range = r if math.isfinite(r) else -1.0
                group.value_range = info.value_range
        if primary[1] == UNKNOWN:
            # The calibrated bound, whatever the policy would decide for role other.
            params = _az.Params(_az.rel(unknown_bound), codec=getattr(self.policy, "codec", "automatic"))
        else:
            decision = self.policy.decide(info)
            if not decision.compress:
                self._policy_record(info.key, raw_bytes, raw_bytes, 0.0)
                return self._keep_raw(group, t, view)
            params = decision.params
            if unknown_bound is not None:
                params.bound = self._tighter(params.bound, _az.rel(unknown_bound), info.value_range)
        params.preserve_sign = preserve or (params.preserve_sign and not bits)
        if primary[1] == NORM_INPUT and self.norm_bound is not None:
            params.bound = self._tighter(params.bound, self.norm_bound, info.value_range)
        stored = _Stored()
        stored.dtype = x.dtype
        stored.shape = tuple(x.shape)
        stored.lo = view.lo
        stored.group = group
        seen = self._new_bytes(self._seen_bytes, group)
        if bits:
            stored.bits = pack_bits(x > 0)
        if self.overlap:
            stored.order = (self._order, len(self._order))
            self._order.append(weakref.ref(stored))
        if x.is_cuda:
            if self.overlap:
                # The side stream compresses once the current stream has made x, while the
                # current stream goes on with the forward pass. x's memory is not handed to
                # another tensor before the side stream has read it (record_stream); the
                # stream buffers are the side stream's.
                side = stored.side = self._side_stream(x.device)
                side.wait_stream(torch.cuda.current_stream(x.device))
                with torch.cuda.stream(side):
                    stored.stream, stored.size = _tensors.compress_async(x, params)
                x.record_stream(side)
                stored.ready = side.record_event()
            else:
                stored.stream, stored.size = _tensors.compress_async(x, params)
        elif self._worker is not None:
            # Overlap on the CPU: the worker compresses while the forward pass goes on
            # (actzip releases the GIL); x stays alive until it is done.
            stored.future = self._worker.submit(_compress_on_worker, x, params)
        if x.is_cuda or stored.future is not None:
            # Collected by _shrink (at the end of the forward, or once shrink_bytes are
            # pending); the tensor itself is kept only for verify.
            self._pending.append((stored, info.key, x if self.verify else None, params, raw_bytes, seen))
            self._pending_bytes += stored.stream.numel() if x.is_cuda else raw_bytes
            if self._pending_bytes > self.shrink_bytes:
                self._shrink()
            return stored
        stored.stream = _tensors.compress(x, params)
        header = _tensors.inspect(stored.stream)
        error_ratio = self._check(x, stored, header, params) if self.verify else None
        size = stored.stream.numel() + (stored.bits.numel() if stored.bits is not None else 0)
        self._record(group, t.shape, t.dtype, seen, True, size, header["absolute_bound"], params, error_ratio,
                     stored.bits is not None)
        self._policy_record(info.key, raw_bytes, size, header["absolute_bound"])
        return stored

    def _tighter(self, a, b, value_range):
        """The tighter of two bounds (absolute when they differ in mode and the range is known)."""
        if a.mode == b.mode:
            return a if a.value <= b.value else b
        if value_range is None or value_range < 0:
            return a if a.mode == "rel" else b  # relative is safe without a range
        def absolute(x):
            return x.value * value_range if x.mode == "rel" else x.value
        return _az.abs(min(absolute(a), absolute(b)))

    def _policy_record(self, key, raw_bytes, stored_bytes, bound):
        if not self._probing:
            self.policy.record(self._result(key, raw_bytes, stored_bytes, bound))

    def _result(self, key, raw_bytes, stored_bytes, bound):
        r = _az.TensorResult()
        r.key = key
        r.raw_bytes = raw_bytes
        r.compressed_bytes = stored_bytes
        r.absolute_bound = bound
        return r

    def _side_stream(self, device):
        index = device.index if device.index is not None else torch.cuda.current_device()
        side = self._side.get(index)
        if side is None:
            side = self._side[index] = torch.cuda.Stream(device=index)
        return side

    def _decode(self, stored):
        """The stream's values as a new tensor (no mask). CUDA with overlap: on the
        current stream, after the side stream's writes to the stream buffer."""
        if stored.side is not None:
            current = torch.cuda.current_stream(stored.stream.device)
            current.wait_event(stored.ready)
            stored.stream.record_stream(current)  # a side-stream buffer read here
        return _tensors.decompress(stored.stream, stored.dtype, list(stored.shape))

    def _start_prefetch(self, stored):
        """Overlap, in the backward pass: starts reconstructing the stream saved just
        before `stored` (autograd unpacks roughly in the reverse order of the saves) on
        the worker (CPU) or the side stream (CUDA), unless it is started or cached."""
        if stored.order is None:
            return
        order, index = stored.order
        ahead = order[index - 1]() if index > 0 else None
        if ahead is None or ahead.prefetch is not None or ahead.cache is not None or ahead.uses <= 0 \
                or ahead.future is not None or ahead.size is not None:
            return  # nothing there, already under way, or a stream not collected yet
        if ahead.side is not None:
            side = ahead.side
            side.wait_stream(torch.cuda.current_stream(ahead.stream.device))
            ahead.stream.record_stream(side)
            with torch.cuda.stream(side):
                y = _tensors.decompress(ahead.stream, ahead.dtype, list(ahead.shape))
            ahead.prefetch = (y, side.record_event())
        elif self._worker is not None:
            ahead.prefetch = self._worker.submit(_tensors.decompress, ahead.stream, ahead.dtype, list(ahead.shape),
                                                 threads=1)

    def _reconstruct(self, stored):
        if stored.future is not None:
            self._shrink()  # the backward pass needs a stream the worker may still be making
        prefetch, stored.prefetch = stored.prefetch, None
        if prefetch is None:
            y = self._decode(stored)
        elif isinstance(prefetch, tuple):  # CUDA: made on the side stream
            y, made = prefetch
            current = torch.cuda.current_stream(y.device)
            current.wait_event(made)
            y.record_stream(current)
            self.prefetched += 1
        else:
            y = prefetch.result()
            self.prefetched += 1
        if stored.bits is not None:
            # Masked values that came back <= 0 were at most the bound: the smallest
            # normal number is as close, and keeps the mask exact.
            positive = unpack_bits(stored.bits, y.numel()).view(y.shape)
            y = torch.where(positive, y.clamp_min(torch.finfo(y.dtype).tiny), y)
        return y

    def _check(self, x, stored, header, params):
        """Decompresses a fresh stream and checks the bound, the zeros, the non-finite
        values and, with preserve_sign or mask bits, the signs. Returns max |x - x'| / bound."""
        y = self._reconstruct(stored)
        bound = header["absolute_bound"]
        where = f"{stored.group.leader} ({params})"
        xd, yd = x.detach().double(), y.double()
        finite = torch.isfinite(xd)
        if not torch.equal(torch.isnan(xd), torch.isnan(yd)) or not torch.equal(xd[~finite & ~torch.isnan(xd)],
                                                                                yd[~finite & ~torch.isnan(xd)]):
            raise BoundViolation(f"actzip.torch: non-finite values not reproduced at {where}")
        err = (xd[finite] - yd[finite]).abs()
        max_err = float(err.max()) if err.numel() else 0.0
        if max_err > bound:
            raise BoundViolation(f"actzip.torch: |x - x'| = {max_err:.6g} > bound {bound:.6g} at {where}")
        if bool((yd[xd == 0] != 0).any()):
            raise BoundViolation(f"actzip.torch: zeros not reproduced at {where}")
        if (params.preserve_sign or stored.bits is not None) and not (torch.equal(xd > 0, yd > 0) and
                                                                      torch.equal(xd < 0, yd < 0)):
            raise BoundViolation(f"actzip.torch: signs not preserved at {where}")
        return max_err / bound if bound > 0 else 0.0

    def _shrink(self):
        """Collects the pending streams. CUDA: reads their sizes in one copy and trims
        the buffers. CPU with overlap: waits for the worker's streams."""
        if not self._pending:
            return
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        background = [p for p in pending if p[0].future is not None]
        pending = [p for p in pending if p[0].future is None]
        for stored, key, x, params, raw_bytes, seen in background:
            stored.stream = stored.future.result()
            stored.future = None
            header = _tensors.inspect(stored.stream)
            error_ratio = self._check(x, stored, header, params) if self.verify else None
            size = stored.stream.numel() + (stored.bits.numel() if stored.bits is not None else 0)
            self._record(stored.group, stored.group.view.geometry[0], stored.dtype, seen, True, size,
                         header["absolute_bound"], params, error_ratio, stored.bits is not None)
            self._policy_record(key, raw_bytes, size, header["absolute_bound"])
        if not pending:
            return
        # Overlap: the streams were made on a side stream, which collects them too (the
        # current stream goes on); streams of several devices' side streams are
        # collected on the current stream once it has waited for them.
        sides = {id(p[0].side): p[0].side for p in pending if p[0].side is not None}
        place = contextlib.nullcontext()
        if len(sides) == 1 and all(p[0].side is not None for p in pending):
            place = torch.cuda.stream(next(iter(sides.values())))
        else:
            for side in sides.values():
                torch.cuda.current_stream(side.device).wait_stream(side)
        with place:
            self._collect(pending)

    def _collect(self, pending):
        sizes = torch.cat([p[0].size.view(1) for p in pending]).cpu().tolist()  # waits for the kernels
        # The headers (for the statistics) in one more copy.
        heads = torch.stack([p[0].stream[:_az.HEADER_BYTES] for p in pending]).cpu()
        for (stored, key, x, params, raw_bytes, seen), size, head in zip(pending, sizes, heads):
            stored.stream = stored.stream[:size].clone()
            stored.size = None
            if stored.side is not None:
                stored.ready = torch.cuda.current_stream(stored.stream.device).record_event()
            group = stored.group
            header = _tensors.inspect(head, size)
            if isinstance(group.value_range, torch.Tensor):
                group.value_range = float(group.value_range)
                self._ranges[group.leader] = group.value_range
            error_ratio = self._check(x, stored, header, params) if self.verify else None
            size += stored.bits.numel() if stored.bits is not None else 0
            self._record(group, group.view.geometry[0], stored.dtype, seen, True, size, header["absolute_bound"],
                         params, error_ratio, stored.bits is not None)
            self._policy_record(key, raw_bytes, size, header["absolute_bound"])

    def _unpack(self, saved):
        if not isinstance(saved, _Saved):
            return saved  # a tensor without storage
        t = saved.tensor
        if t is not None:
            if t._version != saved.version:
                raise _modified(t, saved.version)
            return t
        stored = saved.stored
        shape, stride, offset = saved.geometry
        base = saved.ref()  # None: no tensor sharing its version counter is left to modify it
        if base is not None and base._version != saved.version:
            raise _modified(base, saved.version, shape)
        y = stored.cache
        if y is None:
            y = self._reconstruct(stored)
            if self.overlap:
                self._start_prefetch(stored)
        stored.uses -= 1
        stored.cache = y if stored.uses > 0 else None
        if stored.group.view.layout == "dense":
            return y.as_strided(shape, stride, offset - stored.lo)
        return y.expand(shape)
