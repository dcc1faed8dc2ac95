# SPDX-License-Identifier: Apache-2.0
"""The traceable saved-tensor hooks: one pack/unpack GraphModule pair per
configuration, what each saved value of a compiled graph is (``describe``) and gets
(``decide``), and how it is packed into the graph's own operators (see the package's
documentation)."""
from __future__ import annotations

import re
import weakref

import torch

import actzip as _az

from .ops import FLOATS, hook_context_getter, state, supported

#: Operators through which a saved value still is (a view or a copy of) its input.
_CASTS = ("prims.convert_element_type.default", "aten._to_copy.default", "aten.clone.default",
          "aten.to.dtype", "aten.to.dtype_layout", "aten.lift_fresh_copy.default")


def _symbolic(values):
    return any(isinstance(v, torch.SymInt) for v in values)


def _contiguous_strides(shape):
    strides, step = [], 1
    for extent in reversed(shape):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


def _memory_order(x):
    """The permutation of x's dimensions that lists its elements in memory order when
    x is dense (no gaps, no overlap), None otherwise. Works on the sizes and strides
    alone, so that tracing it adds no operator."""
    shape, stride = tuple(x.shape), tuple(x.stride())
    if x.is_contiguous():
        return tuple(range(len(shape)))
    if _symbolic(shape + stride):
        return None  # ordering symbolic strides would specialize them
    order = sorted(range(len(shape)), key=lambda d: (-stride[d], -shape[d]))
    step = 1
    for d in reversed(order):
        if shape[d] != 1 and stride[d] != step:
            return None
        step *= shape[d]
    return tuple(order)


def _pack_tensor(x, params, site=""):
    """What the pack hook saves for a floating-point value: (stream, dtype, shape in
    memory order, layout), layout being None for contiguous strides, else x's (shape,
    strides). None: x has gaps or overlapping elements and stays as it is. (A symbolic
    extent appears once: AOTAutograd turns each into an output of the forward graph.)"""
    order = _memory_order(x)
    if order is None:
        return None
    dense = x if x.is_contiguous() else x.permute(order)
    bound = params.bound
    stream = torch.ops.actzip.compress(dense, float(bound.value), bound.mode, params.codec,
                                       bool(params.preserve_sign), site)
    shape, stride = tuple(x.shape), tuple(x.stride())
    layout = None if _symbolic(shape + stride) or stride == _contiguous_strides(shape) else (shape, stride)
    return stream, x.dtype, tuple(dense.shape), layout


_BITS = object()  # what decide() answers for a boolean mask


def _bit_weights(device):
    return torch.ones(8, dtype=torch.uint8, device=device) << torch.arange(8, dtype=torch.uint8, device=device)


def _pack_mask(x):
    """A boolean value (a dropout mask) as eight elements a byte, in the graph's own
    operators: ("bits", bytes, shape, strides)."""
    flat = x.reshape(-1).to(torch.uint8)
    pad = (-int(x.numel())) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    packed = (flat.view(-1, 8) * _bit_weights(x.device)).sum(1, dtype=torch.uint8)
    return "bits", packed, tuple(x.shape), tuple(x.stride())


def _unpack_tensor(packed):
    """The value _pack_tensor saved, with x's shape and strides (storage offset 0): its
    elements come back in memory order, so x's strides address them as they did."""
    if isinstance(packed, torch.Tensor):
        return packed
    if packed[0] == "bits":
        _, bits, shape, stride = packed
        count = 1
        for d in shape:
            count *= d
        y = (bits.unsqueeze(1).bitwise_and(_bit_weights(bits.device)) != 0).reshape(-1)[:count].reshape(shape)
        return y if stride == _contiguous_strides(shape) else torch.empty_strided(shape, stride, dtype=torch.bool,
                                                                                 device=y.device).copy_(y)
    stream, dtype, dense_shape, layout = packed
    y = torch.ops.actzip.decompress(stream, dtype, list(dense_shape))
    return y if layout is None else y.as_strided(*layout)


# ---- the hooks ----------------------------------------------------------------------

_HOOKS = {}  # configuration key -> _Hooks (kept for the process: Dynamo guards on the GraphModules' identity)


def _module_path(node):
    """(path as in named_modules(), class name) of the innermost module in a node's
    nn_module_stack, or (None, None)."""
    stack = node.meta.get("nn_module_stack") if node is not None else None
    if not stack:
        return None, None
    path, kind = list(stack.values())[-1]
    path = re.sub(r"^L\['[^']*'\]", "", str(path))
    path = re.sub(r"\._modules\['([^']*)'\]", r".\1", path)
    path = re.sub(r"\[(\d+)\]", r".\1", path)
    path = re.sub(r"\['([^']*)'\]", r".\1", path)
    path = path.strip(".")
    return path or "<model>", getattr(kind, "__name__", str(kind))


def _is_view(node):
    return getattr(node.target, "is_view", False) is True


def _is_copy(node):
    return str(node.target) in _CASTS


def _base(node, copies=False):
    """The node whose output a saved node is a view of (``copies``: a view, cast or
    copy of; a placeholder for anything derived so from a graph input)."""
    seen = 0
    while node is not None and node.op == "call_function" and seen < 64:
        seen += 1
        if str(node.target) == "<built-in function getitem>":
            parent = node.args[0]
            if isinstance(parent, torch.fx.Node) and _is_view(parent):
                node = parent.args[0] if parent.args and isinstance(parent.args[0], torch.fx.Node) else None
                continue
            return node
        if (_is_view(node) or (copies and _is_copy(node))) and node.args and isinstance(node.args[0], torch.fx.Node):
            node = node.args[0]
            continue
        return node
    return node


def _numel(node):
    value = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
    if isinstance(value, (tuple, list)):
        value = next((v for v in value if isinstance(v, torch.Tensor)), None)
    return value.numel() if isinstance(value, torch.Tensor) else None


def _same(a, b):
    if a is None or b is None:
        return False
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    from torch.fx.experimental.symbolic_shapes import statically_known_true
    return statically_known_true(a == b)


def _statistic(node):
    """Whether a saved node is a reduction's output or computed pointwise from one
    with the same element count (a per-row sum, maximum, mean, variance or reciprocal
    standard deviation: what a backward divides or normalizes by)."""
    numel = _numel(node)
    frontier, seen = [node], set()
    for _ in range(6):
        following = []
        for n in frontier:
            if not isinstance(n, torch.fx.Node) or n.op != "call_function" or n in seen:
                continue
            seen.add(n)
            tags = getattr(n.target, "tags", ())
            if torch.Tag.reduction in tags:
                if _same(_numel(n), numel):
                    return True
                continue
            if str(n.target) == "<built-in function getitem>":
                parent = n.args[0]
                outputs = parent.meta.get("val") if isinstance(parent, torch.fx.Node) else None
                if isinstance(outputs, (tuple, list)) and outputs and isinstance(outputs[0], torch.Tensor) and \
                        n is node and not _is_view(parent) and not _same(outputs[0].numel(), numel):
                    return True  # a smaller output of a fused normalization (its mean or rstd)
                following.append(parent)
            elif torch.Tag.pointwise in tags or _is_view(n) or _is_copy(n):
                following.extend(a for a in n.args if isinstance(a, torch.fx.Node))
        frontier = following
    return False


def _nbytes(value):
    """Bytes of a (fake) tensor's elements, None when symbolic (int() would specialize it)."""
    numel = value.numel()
    return numel * value.element_size() if isinstance(numel, int) else None


class _Hooks:
    """The hooks of one configuration: the GraphModule pair, and what was decided for
    the saved values of every graph compiled with them."""

    def __init__(self, key, params, min_numel, bound_of, cache_hash):
        self.key = key
        self.params = params
        self.min_numel = min_numel
        self.bound_of = bound_of
        self.saves = []      # one dict per saved value, in tracing order
        self.sites = {}      # site -> that dict
        self.graphs = weakref.WeakKeyDictionary()  # forward fx.Graph -> serial
        self.kept = {}       # serial -> kept saves of that graph
        self.anchor = {}     # serial -> site whose stream stands for a run of the graph
        self.bases = {}      # (serial, base node name) -> saves of that base so far
        self.pack_gm = _hook_module(_pack_saved, key, cache_hash)
        self.unpack_gm = _hook_module(_unpack_saved, key, cache_hash)

    def _serial(self, graph):
        serial = self.graphs.get(graph)
        if serial is None:
            serial = self.graphs[graph] = _next_serial()
        return serial

    def describe(self, x, context):
        node, forward, backward = context["_node"], context["_fw_graph"], context["_bw_graph"]
        serial = self._serial(forward)
        base = _base(node)
        made_by = base if base is not None and base.op == "call_function" else node
        module, module_type = _module_path(made_by)
        if module is None:
            module, module_type = _module_path(node)
        users = ()
        for b in backward.find_nodes(op="placeholder"):
            if b.name == node.name:
                users = tuple(str(u.target) for u in b.users)
                break
        return {
            "name": node.name, "dtype": x.dtype, "shape": tuple(x.shape), "stride": tuple(x.stride()),
            "numel": x.numel(), "device": x.device, "module": module, "module_type": module_type,
            "producer": str(made_by.target) if made_by.op == "call_function" else None,
            "op": str(node.target) if node.op == "call_function" else node.op, "users": users,
            "statistic": _statistic(node), "graph": serial,
            "_base": base, "_origin": _base(node, copies=True),
        }

    def decide(self, x, description):
        """(params or None, reason kept)."""
        origin = description["_origin"]
        if origin is None or origin.op == "placeholder":
            return None, "input"
        if x.dtype == torch.bool and not isinstance(x.numel(), torch.SymInt) and x.numel() >= self.min_numel:
            return _BITS, None  # a mask: eight elements a byte, exactly
        if x.dtype not in FLOATS:
            return None, "dtype"
        if x.device.type not in ("cpu", "cuda"):
            return None, "device"
        if x.is_cuda and not _az.has_cuda:
            return None, "device"
        numel = x.numel()
        if isinstance(numel, torch.SymInt):
            from torch.fx.experimental.symbolic_shapes import guard_or_false
            small = guard_or_false(numel < self.min_numel)
        else:
            small = numel < self.min_numel
        if small:
            return None, "small"
        if description["statistic"] and self.bound_of is None:
            return None, "statistic"
        if _memory_order(x) is None:
            return None, "layout"
        if self.bound_of is not None:
            public = {k: v for k, v in description.items() if not k.startswith("_")}
            params = self.bound_of(public)
            if params is None:
                return None, "policy"
            if isinstance(params, _az.Bound):
                params = _az.Params(params)
            if not isinstance(params, _az.Params):
                raise TypeError(f"actzip.torch.compile: bound_of must return an actzip.Params, a bound or None, "
                                f"not {type(params).__name__}")
            return params, None
        return self.params, None

    def pack(self, x, context):
        description = self.describe(x, context)
        serial, name = description["graph"], description["name"]
        site = f"{self.key}/{serial}/{name}"
        entry = self.sites.get(site)
        fresh = entry is None
        if fresh:
            params, reason = self.decide(x, description)
            base = description.pop("_base")
            description.pop("_origin")
            base_key = (serial, base.name if base is not None else name)
            group = self.bases.setdefault(base_key, [])
            base_value = base.meta.get("val") if base is not None else None
            base_bytes = _nbytes(base_value) if isinstance(base_value, torch.Tensor) else None
            # The bytes of the buffer this value keeps alive, counted for the first value of
            # the buffer only (views of one buffer count it once); none for a view of a graph
            # input (a parameter's buffer is not an activation).
            own = 0 if base is None or base.op == "placeholder" else \
                base_bytes if base_bytes is not None else _nbytes(x)
            bits = params is _BITS
            entry = dict(description, site=site, params=None if bits else params, reason=reason,
                         form="bits" if bits else "stream" if params is not None else "raw",
                         raw_bytes=own if not group else 0)
            # What a kept value holds: the buffer, unless another kept value of it holds it;
            # a mask its bits.
            entry["kept_bytes"] = (int(x.numel()) + 7) // 8 if bits else \
                0 if params is not None or any(e["params"] is None and e["form"] == "raw" for e in group) else own
            group.append(entry)
            if state.active is not None:
                state.active._graphs.add(serial)
            self.sites[site] = entry
            self.saves.append(entry)
            if params is None or bits:
                self.kept.setdefault(serial, []).append(entry)
            else:
                self.anchor.setdefault(serial, site)
        if entry["form"] == "bits":
            return _pack_mask(x)
        if entry["params"] is None:
            return x
        packed = _pack_tensor(x, entry["params"], site)
        return x if packed is None else packed


_serial_counter = [0]


def _next_serial():
    _serial_counter[0] += 1
    return _serial_counter[0]


def _hook_module(function, key, cache_hash):
    """A GraphModule calling ``function(x, key)``: a wrapped call, which AOTAutograd runs
    again for each saved value (so that Python decides per value), with the cache hash
    of the configuration."""
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    call = graph.call_function(function, (x, key))
    call.meta["is_wrapped"] = True
    call.meta["user_cache_hash"] = cache_hash
    graph.output(call)
    return torch.fx.GraphModule(torch.nn.Module(), graph)


def _real(x):
    """A tensor with data (not a fake or functional tensor being traced)."""
    from torch._subclasses.fake_tensor import FakeTensor
    from torch._subclasses.functional_tensor import FunctionalTensor
    return isinstance(x, torch.Tensor) and not isinstance(x, (FakeTensor, FunctionalTensor))


def _pack_saved(x, key):
    context = hook_context_getter()()
    if context is None:
        if _real(x) and state.active is not None:
            state.active._eager_save(x)
        return x
    return _HOOKS[key].pack(x, context)


def _unpack_saved(packed, key):
    return _unpack_tensor(packed)


if supported():
    # Called by autograd on real tensors when a value is saved outside a compiled
    # graph; Dynamo must not try to compile these frames.
    _pack_saved = torch.compiler.disable(_pack_saved)
    _unpack_saved = torch.compiler.disable(_unpack_saved)


def _configuration(params, min_numel, bound_of):
    """(key, cache hash) of a configuration: every setting the hooks read."""
    bound = params.bound
    settings = f"{bound.mode}:{float(bound.value)!r}:{params.codec}:{int(bool(params.preserve_sign))}:{min_numel}"
    if bound_of is None:
        return f"actzip-{settings}", f"actzip.torch.compile/1/{settings}"
    # The callable's own cache_hash (as torch.utils.checkpoint's context_fn has) makes
    # the configuration the same across processes; otherwise it is this object.
    own = getattr(bound_of, "cache_hash", None)
    name = getattr(bound_of, "__qualname__", type(bound_of).__qualname__)
    key = f"actzip-{settings}-{name}-{id(bound_of):x}"
    return key, (f"actzip.torch.compile/1/{settings}/{own}" if own is not None else f"actzip.torch.compile/1/{key}")


def hooks_of(params, min_numel, bound_of):
    """The hooks of a configuration (one pair per configuration for the process)."""
    key, cache_hash = _configuration(params, min_numel, bound_of)
    hooks = _HOOKS.get(key)
    if hooks is None or hooks.bound_of is not bound_of:
        hooks = _HOOKS[key] = _Hooks(key, params, min_numel, bound_of, cache_hash)
    return hooks
