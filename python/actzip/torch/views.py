# SPDX-License-Identifier: Apache-2.0
"""Views: where a saved tensor lies in its storage, and the groups of saves that one
stored region serves.

Autograd often saves several views of one storage (matmul on 4-D tensors saves a 3-D
view of its operand, a linear layer a 2-D view of its 3-D input, mm a transposed
operand), and every unpack must return a tensor of exactly the saved shape. Saves
are therefore grouped by storage: a group is the region [lo, hi) of one storage
(device, address, dtype, version) that its first save reaches. When that first view
is dense (its elements fill the region: contiguous tensors and their reshapes,
transposes, permutations and expansions), the group stores the whole region once,
in memory order, and every later view that lies inside the region (the same storage
and version) joins the group: its unpack rebuilds it with as_strided(shape, strides,
offset - lo) over the one reconstruction. A first view that leaves gaps (a stepped
slice) is compressed as its distinct elements and rebuilt contiguous; only saves of
exactly that view join it. Views whose elements may repeat (as_strided windows) are
kept raw. A group is matched only while the tensor that opened it is alive, so a
freed storage whose address is reused is never taken for it.
"""
import torch

_UNTYPED = hasattr(torch.Tensor, "untyped_storage")  # torch >= 2.0 (storage() is deprecated there)


def storage_ptr(t):
    """The address of t's storage (None for tensors without one: sparse, meta, ...)."""
    try:
        return (t.untyped_storage() if _UNTYPED else t.storage()).data_ptr()
    except (RuntimeError, NotImplementedError, TypeError):
        return None


class View:
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


class Group:
    """One stored storage region of the current step and the saves that use it."""

    __slots__ = ("leader", "members", "view", "anchor", "stored", "record", "nonzero", "value_range", "kinds", "keys",
                 "cap", "treatment")

    def __init__(self, leader, view, anchor):
        self.leader = leader
        self.members = []     # the site names of its saves
        self.view = view      # the View of the first save
        self.anchor = anchor  # weak reference to the first save's base: alive, so is its storage
        self.stored = None
        self.record = None
        self.nonzero = None   # float, or a device scalar on CUDA until read back
        self.value_range = None
        self.kinds = ()          # calibration: the kinds whose sensitivity limits its bound
        self.keys = ()           # calibration: the measured groups (kinds cut by depth) it belongs to
        self.cap = None          # calibration: the policy's Params for it (None: no known role)
        self.treatment = None    # calibration: (mask bits, preserve_sign)

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


def base_of(t):
    """The tensor owning t's storage and version counter (t itself unless t is a view)."""
    b = t._base
    return t if b is None else b


def add_span(spans, lo, hi):
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


