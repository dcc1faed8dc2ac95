# SPDX-License-Identifier: Apache-2.0
"""Compressed activations inside torch.compile'd graphs.

    import actzip.torch.compile as azc
    compiled = torch.compile(model)
    with azc.compressed_activations(compiled) as ca:
        for batch in batches:
            loss_of(compiled, batch).backward()
            optimizer.step(); optimizer.zero_grad()
            ca.end_step()                       # ca.stats.last(): raw and stored bytes

Plain saved-tensor hooks never see the tensors a compiled graph saves (the compiled
autograd function keeps them itself), so compression inside a compiled graph must be
part of the graph. PyTorch 2.x inlines saved-tensor hooks given as
``torch.fx.GraphModule``s: AOTAutograd traces the pack hook once per value the
forward graph saves for backward and appends it to the forward graph (its epilogue),
and traces the unpack hook into the start of the backward graph. This module
provides those hooks, over two custom operators with fake implementations:

- ``actzip::compress(Tensor x, float bound, str mode, str codec, bool
  preserve_sign, str site="") -> Tensor``: the uint8 stream of ``x`` at its exact
  size, a fresh allocation (never a view of a larger buffer); the fake implementation
  gives it a data-dependent length (``new_dynamic_size``, an unbacked ``u0``).
  ``site`` only labels the statistics.
- ``actzip::decompress(Tensor stream, ScalarType dtype, SymInt[] shape) -> Tensor``:
  a new contiguous tensor.

Both are ordinary operators in eager code too (``torch.ops.actzip.compress(...)``,
or ``compress_op`` / ``decompress_op`` here); the real implementations are
``actzip.torch.tensors.compress`` and ``decompress``.

What each saved value gets (decided while the graph is compiled, once per value):

- graph inputs (parameters, buffers, the model's inputs) and anything derived from
  one by views, casts or copies stay as they are (AOTAutograd's default filtering
  already keeps parameters away from the hooks; this holds under every filtering
  mode, where they would arrive as functional tensors, not nn.Parameters);
- integer and boolean values stay as they are, as do values of fewer than
  ``min_numel`` elements, values that are not dense in memory (gaps, overlap), CUDA
  values when this actzip has no CUDA, and dense values with permuted strides whose
  sizes are symbolic (ordering them would specialize the graph);
- without ``bound_of``, statistics stay as they are too: a reduction's output, or a
  value computed pointwise from one with as many elements (softmax's row maxima and
  sums, a norm's mean and reciprocal deviation). The backward divides or normalizes
  by them, which turns a relative bound on them into large errors (GPT-2's softmax
  sums under Inductor give NaN gradients at rel 1e-2), and they are smaller than
  what they normalize by the reduced extent. The description says ``statistic``;
- every other float32/float64/float16/bfloat16 value is compressed with the
  ``actzip.Params`` that ``bound_of`` returns for it (``None``: kept), or with
  ``params`` when no ``bound_of`` is given. A dense value with permuted strides (a
  transpose) is compressed in its memory order and comes back with the same strides
  (storage offset 0), which the compiled backward asserts.

``bound_of(description)`` is called at compile time with a dict describing one saved
value: ``name`` (its node in the forward graph), ``dtype``, ``shape``, ``stride``,
``numel``, ``device``, ``module`` (the module path as in ``named_modules()`` of the
innermost module that made it, ``"<model>"`` for the root, ``None`` when the graph
does not say), ``module_type`` (that module's class name), ``producer`` (the aten
operator that made it, through views: e.g. ``"aten.addmm.default"``), ``op`` (the
operator of the saved node itself, a view or the producer), ``users`` (the operators
of the backward graph that read it, e.g. ``("aten.mm.default",)``), ``statistic``
(see above) and ``graph`` (the serial of the compiled forward graph in this
process). Shapes and strides may hold ``SymInt``s (dynamic shapes). The bound it
returns is part of the compiled graph: a different answer needs a new compilation
(a new configuration, or ``torch._dynamo.reset()``).

Statistics. The real compress operator reports the size of each stream it makes to
the active context, so ``stats`` (an ``actzip.torch.CompressionStats``) holds per
step the bytes measured on the streams of that run, together with the values of the
same graph that were kept (their sizes are known when the graph is compiled; kept
values of symbolic size are not counted). Views of one buffer count its bytes once in
``raw_bytes``. A graph in which every value is kept reports nothing at run time.
``saves`` lists what was decided for every saved value of the graphs compiled or run
in the context.

What the context changes while it is active, and why:

- ``torch._dynamo.config.capture_dynamic_output_shape_ops = True``: without it the
  fake compress raises ``DynamicOutputShapeException`` inside AOTAutograd, and Dynamo
  runs the whole frame eagerly instead (a graph break, no error). Dynamo also
  captures the model's own data-dependent operators (``nonzero``) under it.
- ``torch._functorch.config.enable_autograd_cache = False``: a graph loaded from
  AOTAutograd's cache is not traced again, so its saved values would be neither
  described, nor offered to ``bound_of``, nor counted. Inductor's own cache still
  serves the compiled kernels. (The wrapped hook nodes carry ``user_cache_hash`` meta
  covering every setting all the same, so the cache stays sound where it is on.)
- saved-tensor hooks: the pack and unpack ``GraphModule``s of the configuration.
  They are one pair per configuration for the life of the process, since Dynamo
  guards on their identity: a graph compiled in one context runs in the next
  context of the same configuration without recompiling, and outside any context a
  graph compiles again without them.

Refusals, never a silent no-op. Entering the context raises ``RuntimeError`` on a
PyTorch without ``torch.library.custom_op`` or without inlined graph hooks (it names
the version; Debian's 1.13 is one), for a model that is not compiled, and inside
another such context. The pack hook running on a real tensor means the value was
saved outside a compiled graph: a loss computed outside the compiled model, a graph
break's eager code, a backend that does not use AOTAutograd (``backend="eager"``),
or Dynamo running a frame eagerly after its backend failed. Such values are kept and
counted in the step's ``eager_bytes``. If Dynamo counted a backend failure since the
context began, that save raises ``RuntimeError`` with Dynamo's explanation; the first
floating-point one of ``min_numel`` elements or more warns; and a step that
compressed nothing while saving such values outside compiled graphs ends with
``RuntimeError`` (``end_step`` or the context's exit). Graph breaks are the model's:
``transformers``' causal language models, for one, warn once in their loss (a graph
break) unless ``model.loss_type`` is set.

CUDA (not run here: the machine these figures come from has no GPU). The
exact-size stream needs its length on the host, so on CUDA the real compress
operator reads one size back per saved value (``tensors.compress``: the stream is
made at ``max_compressed_bytes`` capacity on the current stream, its size is copied
to the host, and the exact bytes are copied into a fresh allocation): one
synchronization per compressed value inside the compiled forward, and the capacity
buffer is transient memory. A CUDA graph replay would run neither that read nor the
statistics, so the operator is tagged ``cudagraph_unsafe``, which tells Inductor not
to capture it in a CUDA graph (whether "reduce-overhead" then skips CUDA graphs for
such a graph or partitions around the operator was not observed here).

The design that would remove the per-value synchronization is a per-step device
arena: each compress call appends its stream at an offset handed out by a
device-side counter (an atomic add of the stream's size); the saved value is
(arena, offset, length) as device tensors of static shape, so the graph needs no
host value and CUDA graphs can capture it; the arena's capacity for a step is the
previous step's measured total plus a margin; the total and an overflow flag are
read once per step, and an overflowed step is redone with a larger arena. Cost: one
synchronization per step instead of one per value, an arena sized for the largest
step (memory reserved whether used or not, against the exact streams here), a
redone step on overflow, and a core entry point that writes at a device-side offset,
which the core library does not have. The CPU path has none of these costs: the
size is known when compression returns.

Measured (2-core Xeon VM, PyTorch 2.15 CPU, one thread, rel 1e-2, automatic codec,
models of tests/test_torch_compile.py and tests/model_zoo.py): GPT-2 tiny under
Inductor, 27 values compressed, statistics ratio 5.8, the compiled function's saved
buffers 21.4 MB -> 5.9 MB (parameters, inputs and dropout masks included), gradient
cosine against the uncompressed compiled step 0.994, step 87 -> 282 ms; under
aot_eager ratio 6.5, 23.5 MB -> 4.5 MB, cosine 0.992. The token-mixing MLP under
Inductor: ratio 6.8, 3.0 MB -> 0.75 MB, cosine 0.9998, 30 -> 36 ms. An 8-layer
MLP (Linear 1024 + GELU, batch 2048) under Inductor: the process's resident memory
rose by 143 MB at the forward's peak and 134 MB at its end without compression, by
32 and 24 MB with it (large blocks mapped and unmapped by malloc, so resident memory
follows live tensors): Inductor compresses each value as soon as it is final, so
the forward's peak falls too; step 1.0 -> 2.4 s.
"""
from __future__ import annotations

import importlib
import re
import warnings
import weakref

import torch

import actzip as _az

from . import tensors as _tensors
from .stats import CompressionStats

__all__ = ["compressed_activations", "compress_op", "decompress_op", "supported", "unsupported_reason"]

_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
#: Operators through which a saved value still is (a view or a copy of) its input.
_CASTS = ("prims.convert_element_type.default", "aten._to_copy.default", "aten.clone.default",
          "aten.to.dtype", "aten.to.dtype_layout", "aten.lift_fresh_copy.default")


def _hook_context_getter():
    """AOTAutograd's description of the saved value being traced (2.6 and later keep it
    in graph_compile; None where this PyTorch has none)."""
    try:
        from torch._functorch._aot_autograd import graph_compile
    except ImportError:
        return None
    return getattr(graph_compile, "_get_saved_tensor_hook_context", None)


def unsupported_reason():
    """Why this PyTorch cannot run compressed activations inside compiled graphs, or None."""
    version = torch.__version__
    if not hasattr(torch, "library") or not hasattr(torch.library, "custom_op"):
        return f"PyTorch {version} has no torch.library.custom_op"
    if not hasattr(torch.library, "get_ctx"):
        return f"PyTorch {version} has no torch.library.get_ctx for data-dependent output sizes"
    try:
        from torch._functorch._aot_autograd import utils as aot_utils
    except ImportError:
        return f"PyTorch {version} has no AOTAutograd"
    if not hasattr(aot_utils, "saved_tensors_hooks_are_inlineable"):
        return f"PyTorch {version}'s AOTAutograd does not inline saved-tensor hooks given as GraphModules"
    if _hook_context_getter() is None:
        return f"PyTorch {version}'s AOTAutograd does not describe the saved value to the hooks"
    dynamo = importlib.import_module("torch._dynamo")
    if not hasattr(dynamo.config, "capture_dynamic_output_shape_ops"):
        return f"PyTorch {version}'s Dynamo cannot capture operators with data-dependent output sizes"
    return None


_UNSUPPORTED = unsupported_reason()


def supported():
    """True when this PyTorch can run compressed_activations inside compiled graphs."""
    return _UNSUPPORTED is None


def _refuse():
    if _UNSUPPORTED is not None:
        raise RuntimeError(f"actzip.torch.compile: {_UNSUPPORTED}; compressed activations inside compiled graphs "
                           "are not available (actzip.torch.compressed_activations works without torch.compile)")


def _bound_of(mode, value):
    if mode == "rel":
        return _az.rel(value)
    if mode == "abs":
        return _az.abs(value)
    raise ValueError(f"actzip::compress: mode must be 'rel' or 'abs', not {mode!r}")


# ---- the operators -------------------------------------------------------------------

_active = None  # the compressed_activations context that is active (at most one)

if _UNSUPPORTED is None:
    _COMPRESS_TAGS = (torch.Tag.cudagraph_unsafe,) if hasattr(torch.Tag, "cudagraph_unsafe") else ()

    @torch.library.custom_op("actzip::compress", mutates_args=(), tags=_COMPRESS_TAGS)
    def compress_op(x: torch.Tensor, bound: float, mode: str, codec: str, preserve_sign: bool,
                    site: str = "") -> torch.Tensor:
        """The uint8 stream of ``x`` at its exact size, in a fresh allocation on x's
        device. ``mode``: "rel" or "abs"; ``codec``: "bitplane", "huffman" or
        "automatic"; ``site``: a label for the statistics of the active context."""
        params = _az.Params(_bound_of(mode, bound), codec=codec, preserve_sign=preserve_sign)
        stream = _tensors.compress(x, params)
        if stream.untyped_storage().nbytes() != stream.numel():
            stream = stream.clone()  # never a view of a larger buffer
        context = _active
        if site and context is not None:
            context._streamed(site, x, stream)
        return stream

    @compress_op.register_fake
    def _compress_fake(x, bound, mode, codec, preserve_sign, site=""):
        if x.dtype not in _FLOATS:
            _az._raise("unsupported", f"actzip::compress: element type {x.dtype}")
        _bound_of(mode, bound)
        extents = [int(d) if not isinstance(d, torch.SymInt) else None for d in x.shape]
        capacity = None if None in extents else _az.max_compressed_bytes(_tensors.fold_shape(extents), x.dtype)
        size = torch.library.get_ctx().new_dynamic_size(min=0, max=capacity)
        return x.new_empty((size,), dtype=torch.uint8)

    @torch.library.custom_op("actzip::decompress", mutates_args=())
    def decompress_op(stream: torch.Tensor, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
        """A new contiguous tensor of ``dtype`` and ``shape`` from a uint8 stream."""
        return _tensors.decompress(stream, dtype, list(shape))

    @decompress_op.register_fake
    def _decompress_fake(stream, dtype, shape):
        if stream.dtype != torch.uint8 or stream.dim() != 1:
            _az._raise("invalid_argument", "actzip::decompress: a stream is a one-dimensional uint8 tensor")
        return stream.new_empty(list(shape), dtype=dtype)
else:
    def compress_op(x, bound, mode, codec, preserve_sign, site=""):
        """Refused: this PyTorch has no custom operators (see unsupported_reason())."""
        _refuse()

    def decompress_op(stream, dtype, shape):
        """Refused: this PyTorch has no custom operators (see unsupported_reason())."""
        _refuse()


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


def _unpack_tensor(packed):
    """The value _pack_tensor saved, with x's shape and strides (storage offset 0): its
    elements come back in memory order, so x's strides address them as they did."""
    if isinstance(packed, torch.Tensor):
        return packed
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
        if x.dtype not in _FLOATS:
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
            entry = dict(description, site=site, params=params, reason=reason,
                         form="stream" if params is not None else "raw", raw_bytes=own if not group else 0)
            # What a kept value holds: the buffer, unless another kept value of it holds it.
            entry["kept_bytes"] = 0 if params is not None or any(e["params"] is None for e in group) else own
            group.append(entry)
            if _active is not None:
                _active._graphs.add(serial)
            self.sites[site] = entry
            self.saves.append(entry)
            if params is None:
                self.kept.setdefault(serial, []).append(entry)
            else:
                self.anchor.setdefault(serial, site)
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
    context = _hook_context_getter()()
    if context is None:
        if _real(x) and _active is not None:
            _active._eager_save(x)
        return x
    return _HOOKS[key].pack(x, context)


def _unpack_saved(packed, key):
    return _unpack_tensor(packed)


if _UNSUPPORTED is None:
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


def _hooks(params, min_numel, bound_of):
    key, cache_hash = _configuration(params, min_numel, bound_of)
    hooks = _HOOKS.get(key)
    if hooks is None or hooks.bound_of is not bound_of:
        hooks = _HOOKS[key] = _Hooks(key, params, min_numel, bound_of, cache_hash)
    return hooks


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


class compressed_activations:
    """Context manager: graphs compiled while it is active compress the values their
    forward saves for backward (see the module's documentation).

    Args:
      model: the compiled model (``torch.compile(model)`` or ``model.compile()``), or
        None; an uncompiled module is refused (its saves would reach no compiled
        graph: use actzip.torch.compressed_activations).
      bound_of: optional callable (description dict of one saved value ->
        actzip.Params, a bound, or None to keep the value). An attribute
        ``cache_hash`` on it names its behaviour across processes.
      params: the actzip.Params (or bound) of every compressed value when bound_of is
        None. Default: Params(rel(1e-2), codec="automatic").
      min_numel: values with fewer elements stay as they are (default 4096).
      stats: a CompressionStats to fill (default: a new one, as ``self.stats``).

    ``end_step()`` closes a step's statistics (and the context's exit the last one).
    """

    def __init__(self, model=None, *, bound_of=None, params=None, min_numel=4096, stats=None):
        if bound_of is not None and not callable(bound_of):
            raise TypeError("actzip.torch.compile.compressed_activations: bound_of must be callable")
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
        self.bound_of = bound_of
        self.params = params
        self.min_numel = int(min_numel)
        self.stats = stats if stats is not None else CompressionStats()
        self.eager_saves = 0      # saves that reached the hooks outside compiled graphs, all steps
        self._graphs = set()      # serials of the graphs compiled or run in this context
        self._hooks = None
        self._patches = []
        self._saved_hooks = None
        self._step = 0
        self._begin_step()

    # ---- life cycle ---------------------------------------------------------------

    def __enter__(self):
        global _active
        _refuse()
        if _active is not None:
            raise RuntimeError("actzip.torch.compile.compressed_activations: another one is active (they do not nest)")
        if self.model is not None and isinstance(self.model, torch.nn.Module) and not _compiled(self.model):
            raise RuntimeError("actzip.torch.compile.compressed_activations: the model is not compiled "
                               "(torch.compile(model) or model.compile()); for eager models use "
                               "actzip.torch.compressed_activations")
        self._hooks = _hooks(self.params, self.min_numel, self.bound_of)
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
        _active = self
        return self

    def __exit__(self, kind, value, traceback):
        global _active
        _active = None
        self._saved_hooks.__exit__(kind, value, traceback)
        self._saved_hooks = None
        for patch in reversed(self._patches):
            patch.__exit__(kind, value, traceback)
        self._patches = []
        if self._records or self._eager_bytes:
            if kind is None:
                self.end_step()
            else:
                self._begin_step()
        return False

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

    def end_step(self):
        """Closes the step's statistics; returns its summary (None when nothing was
        saved). The summary adds ``eager_bytes`` and ``eager_saves``: values saved
        outside compiled graphs and kept. Raises RuntimeError when every save of the
        step was made outside compiled graphs."""
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
        return summary

    def _streamed(self, site, x, stream):
        """The real compress operator made a stream for a saved value (at run time)."""
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
                    self._records.append(_record(kept, kept["raw_bytes"], kept["kept_bytes"] or 0, False, None))

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
        if x.dtype not in _FLOATS or x.numel() < self.min_numel:
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

