# SPDX-License-Identifier: Apache-2.0
"""Tracing: which autograd node saved each tensor, seen at the dispatcher.

While a step learns its plan (sites it has not seen before), a
``TorchDispatchMode`` watches every aten op, including the ones inside composite
functions (``F.multi_head_attention_forward``, ``F.cross_entropy``, fused attention),
since the dispatcher sees them after decomposition. Autograd saves an op's inputs
just before the op reaches the mode and its outputs just after it returns; once the
op has returned, its outputs carry its node (``grad_fn``). So when the next op
arrives, the mode reads the previous op's node: it asks the node for each of its
saved tensors by name (``_saved_self``, ``_saved_result``, ``saved_tensors`` of a
custom Function), and each read calls the adapter's unpack hook with the object its
pack hook returned, which is how that save learns its kind
(``"<node>.<name>"``). The reads happen inside the mode, so they dispatch nothing
it sees; they decompress nothing (the hook answers with the tensor kept raw, or an
empty one).

The mode also follows parameters through views and casts (``VIEW_OR_CAST_OPS``):
a weight that does not require grad has no grad_fn chain to tell that its autocast
copy is a parameter, but the ``_to_copy`` that made the copy passes here.

Cost: one Python call per aten op, only in steps that learn (the first, and a step
after one that met new sites); bench/results/torch-models-*.md has the measured
overhead. Saves made without a node (checkpointing's inputs under PyTorch 2.x) keep
the kind ``checkpoint.inputs`` or ``unresolved``.
"""
import sys
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .roles import VIEW_OR_CAST_OPS, node_name
from .views import storage_ptr

_attributes = {}


def saved_names(node):
    """The names under which a node type exposes its saved tensors."""
    kind = type(node)
    names = _attributes.get(kind)
    if names is None:
        names = [a for a in dir(kind) if a.startswith("_saved_")]
        if not names and hasattr(kind, "saved_tensors"):  # on the type: reading it unpacks
            names = ["saved_tensors"]
        _attributes[kind] = names
    return names


def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []


def kind_without_node():
    """The kind of a save made outside any node: torch.utils.checkpoint's inputs (its
    frame calls the saved-tensor hooks itself under PyTorch 2.x), else unresolved."""
    frame = sys._getframe(2)
    for _ in range(6):
        if frame is None:
            break
        if frame.f_globals.get("__name__") == "torch.utils.checkpoint":
            return "checkpoint.inputs"
        frame = frame.f_back
    return "unresolved"


_SCALAR_TYPES = {bool: torch.bool, int: torch.int64, float: torch.float64}


def _call(func, args, kwargs):
    """func(*args, **kwargs), with PyTorch 1.13's wrapped numbers (Python scalars autograd
    keeps in tensors) given back as tensors: that version hands a mode such a tensor,
    and an op's result on it, as a Python number."""
    schema = getattr(func, "_schema", None)
    if schema is not None and any(type(a) in _SCALAR_TYPES for a in args):
        args = tuple(torch.scalar_tensor(a, dtype=_SCALAR_TYPES[type(a)])
                     if type(a) in _SCALAR_TYPES and i < len(schema.arguments)
                     and str(schema.arguments[i].type) == "Tensor" else a for i, a in enumerate(args))
    out = func(*args, **kwargs)
    if type(out) in _SCALAR_TYPES and schema is not None and len(schema.returns) == 1 \
            and str(schema.returns[0].type) == "Tensor":
        out = torch.scalar_tensor(out, dtype=_SCALAR_TYPES[type(out)])
    return out


class SaveTracer(TorchDispatchMode):
    """Resolves the kind of each save of a learning step (see the module comment).

    ``probe(node, name)`` is the adapter's: it reads ``getattr(node, name)`` with its
    unpack hook in tracing mode. ``packs()`` counts the calls of the adapter's pack
    hook, ``hooks`` is its (pack, unpack) pair. ``weights`` maps storage addresses of
    parameters, buffers and their views and casts to a weak reference of a tensor
    owning them.

    A node is read only if the adapter's hooks saved for it: they were the innermost
    saved-tensor hooks when its op ran (PyTorch 2.x tells), and the pack hook ran
    between the previous op's return and the next op. Reading the saved tensors of a
    node whose saves went to other hooks (a checkpointed region's) would run those
    hooks' unpack, a recomputation."""

    def __init__(self, probe, weights, packs, hooks, where=None):
        super().__init__()
        self._probe = probe
        self._where = where
        self.made = {}  # storage address -> (weak reference to an op's output, module path running the op)
        self._packs = packs
        self._pack = hooks[0]
        self.weights = weights
        self._last = []
        self._last_since = 0
        self._since = packs()
        self.active = True

    def finish(self):
        """Resolves the last op and passes every later op through untouched."""
        if self.active:
            self.resolve()
            self.active = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self.active:
            return _call(func, args, kwargs)
        self.resolve()
        since = self._since
        out = _call(func, args, kwargs)
        outputs = _tensors(out)
        name = getattr(getattr(func, "overloadpacket", None), "__name__", "")
        if name in VIEW_OR_CAST_OPS and args and isinstance(args[0], torch.Tensor) and self.is_weight(args[0]):
            for o in outputs:
                ptr = storage_ptr(o)
                if ptr is not None:
                    self.weights[ptr] = weakref.ref(o)
        if self._where is not None:
            module = self._where()
            for o in outputs:
                ptr = storage_ptr(o)
                if ptr is not None and (ptr not in self.made or name not in VIEW_OR_CAST_OPS):
                    self.made[ptr] = (weakref.ref(o), module, name)
        self._last = outputs if self._ours() else []
        self._last_since = since
        self._since = self._packs()
        return out

    def _ours(self):
        top = getattr(torch._C._autograd, "_top_saved_tensors_default_hooks", None)
        if top is None:
            return True  # PyTorch 1.13: the count of packs decides alone
        try:
            hooks = top(False)
        except TypeError:
            hooks = top()
        return hooks is not None and hooks[0] == self._pack

    def producer(self, t):
        """(module path running, aten operator) when t's storage was made last (views
        and casts do not count), or None."""
        entry = self.made.get(storage_ptr(t))
        return entry[1:] if entry is not None and entry[0]() is not None else None

    def is_weight(self, t):
        ptr = storage_ptr(t)
        ref = self.weights.get(ptr) if ptr is not None else None
        return ref is not None and ref() is not None

    def resolve(self):
        """Reads the saved tensors of the last op's node (see the module comment)."""
        outputs, self._last = self._last, []
        if not outputs or self._packs() == self._last_since:
            return  # no save of this op went through the adapter's hooks
        seen = []
        for o in outputs:
            node = o.grad_fn if o.requires_grad else None
            if node is None or any(node is n for n in seen):
                continue
            seen.append(node)
            name = node_name(node)
            for attribute in saved_names(node):
                try:
                    self._probe(node, attribute, name)
                except Exception:  # noqa: BLE001 (freed already, or a name without a tensor)
                    pass
