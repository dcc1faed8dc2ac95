# SPDX-License-Identifier: Apache-2.0
"""Storage: what the pack hook keeps for a group of saves, and how the unpack hook
gets the values back.

A group is kept in one of four forms:

- ``raw``: the saved tensor itself (parameters, exact roles, small tensors, steps
  that are learning the plan);
- ``stream``: an actzip stream (floating point, lossy within the bound), with, for
  ReLU outputs, the mask x > 0 as one bit per element beside it; for BatchNorm
  inputs, the stream holds the values normalised per channel (see ``normalise``);
- ``bits``: a boolean tensor, eight elements a byte (lossless);
- ``narrow``: an integer tensor in the narrowest integer type that holds its values
  after subtracting an offset (lossless: max-pool indices in 16 bits, token ids of a
  vocabulary under 65536 in 16 bits).
"""
import re

import torch

#: Byte-sized and wider integer types a tensor may be narrowed to, narrowest first,
#: with the span of values each holds.
_NARROW = ((torch.uint8, 0, 255), (torch.int16, -32768, 32767), (torch.int32, -(1 << 31), (1 << 31) - 1))
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


def normalise(x):
    """(z, (mean, std)): a BatchNorm input x (N, C, ...) as z = (x - mean_c) / std_c per
    channel c, the normalisation its backward recomputes (x_hat). BatchNorm's backward
    reads x only through x_hat, so a bound on z bounds the error where it matters,
    with the same weight in every channel: an error e in x becomes e / std_c in
    x_hat, and one bound for the whole tensor would be as loose in a channel of small
    spread as in a wide one. The reconstruction z' * std_c + mean_c is within
    bound * std_c (plus rounding) of x; a channel without spread has std 1."""
    dims = [d for d in range(x.dim()) if d != 1]
    var, mean = torch.var_mean(x.float(), dim=dims, keepdim=True, unbiased=False)
    std = var.sqrt()
    std = torch.where(std > 0, std, torch.ones_like(std))
    return ((x.float() - mean) / std).to(x.dtype), (mean, std)


def narrow_integers(x, lo, hi):
    """(values, offset): `x - offset` in the narrowest of uint8, int16, int32 that holds
    the values in [lo, hi], or (None, 0) when none is narrower than x's own type."""
    span = hi - lo
    for dtype, first, last in _NARROW:
        if span <= last - first:
            if torch.iinfo(dtype).bits >= torch.iinfo(x.dtype).bits:
                return None, 0
            offset = lo - first
            return (x - offset).to(dtype), offset
    return None, 0


class Stored:
    """What a group keeps (see the module comment for the forms)."""

    __slots__ = ("form", "raw", "stream", "bits", "size", "dtype", "shape", "offset", "lo", "uses", "cache", "group",
                 "future", "side", "ready", "order", "prefetch", "affine", "__weakref__")

    def __init__(self, group, form="raw"):
        self.form = form
        self.group = group
        self.raw = None      # raw: the tensor itself
        self.stream = None   # stream: the uint8 stream (CUDA: max-size buffer until trimmed); bits, narrow: the data
        self.bits = None     # stream of a ReLU output: the mask x > 0, pack_bits
        self.size = None     # CUDA, until trimmed: int64 device tensor with the stream size
        self.dtype = None    # the dtype of the values stored
        self.shape = None    # the shape they were stored with
        self.offset = 0      # narrow: added back on restore
        self.affine = None   # stream of normalised values: (mean, std) per channel, x = z * std + mean
        self.lo = 0          # dense: the storage offset of the stored region's first element
        self.uses = 0        # unpacks still expected (one per save)
        self.cache = None    # the reconstruction, kept until the last expected unpack
        self.future = None   # overlap on the CPU: the worker's compression, until collected
        self.side = None     # overlap on CUDA: the side stream the stream buffer lives on
        self.ready = None    # overlap on CUDA: event after the side stream's last write
        self.order = None    # overlap: (weak references to this step's streams in save order, index)
        self.prefetch = None  # overlap: the reconstruction started ahead of its unpack

    def nbytes(self):
        """Bytes kept (raw: the tensor's own; stream: the stream and the mask bits)."""
        if self.form == "raw":
            return 0
        extra = self.bits.numel() if self.bits is not None else 0
        return self.stream.numel() * self.stream.element_size() + extra

    def restore_lossless(self):
        """The values of a bits or narrow group, in the saved dtype and stored shape."""
        if self.form == "bits":
            count = 1
            for d in self.shape:
                count *= d
            return unpack_bits(self.stream, count).view(self.shape)
        y = self.stream.to(self.dtype)
        return y + self.offset if self.offset else y


class Saved:
    """What the pack hook returns for one save: the tensor itself (kept raw, or a
    parameter or buffer), or the group's storage and the view to rebuild from it; and
    the version the tensor had, checked when it is unpacked. ``site`` names the save;
    tracing.py fills ``kind``; a calibration keeps the tensor as saved in ``exact``."""

    __slots__ = ("tensor", "ref", "version", "stored", "geometry", "site", "kind", "exact", "__weakref__")

    def __init__(self, version, tensor=None, ref=None, stored=None, geometry=None, site=None):
        self.tensor = tensor      # kept raw: the saved tensor itself
        self.ref = ref            # stored: weak reference to the tensor's base (its version counter)
        self.version = version
        self.stored = stored
        self.geometry = geometry  # stored: (shape, strides, storage offset) of the view
        self.site = site
        self.kind = None
        self.exact = None         # calibration: the tensor as saved


class BoundViolation(AssertionError):
    """A reconstruction broke its error bound or its sign (verify=True)."""


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


def modified_error(t, version, shape=None):
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
