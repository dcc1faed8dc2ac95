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
  ``site`` names the value: the statistics and the bounds given at run time.
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
- boolean values (dropout masks) are packed eight to a byte in the graph's own
  operators; integer values stay as they are, as do values of fewer than
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

Measured bounds (``bounds="measured"``, the default). A bound compiled into a graph
cannot change without compiling again, but the compress operator's real
implementation runs in Python at run time: it asks the active context for the
value's bound (``runtime_params``), and the graph, whose stream sizes are
data-dependent anyway, does not depend on it. So the first step compresses with
``params`` (or ``bound_of``), and at its end (then every ``calibrate_every`` steps) the
context measures bounds as the eager adapter does (actzip.torch.sensitivity), on the
compiled graphs themselves: the probe (default: the replay of a training step through
the compiled model) runs forward and backward once with every value exact (bound 0),
once per measured group with that group at relative 1e-2, then with every group at
its allocated bound (the check of the sum, rescaled at most three times). A measured
group is a family of backward readers (matrix products, softmax, layer norm, the
pointwise formulas...) cut by depth along the graph. On the probe the relative change
of the parameter gradient is then at most about ``tolerance``. The passes reuse the
compiled graphs (no recompilation) and leave ``.grad``, the buffers, the random
number generators and the step's statistics alone.

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

With measured bounds (the default) on transformers' GPT-2 of python/tests/model_zoo.py
(bench/results/torch-models-*.md): ratio 11.7 under aot_eager and 10.4 under Inductor,
gradient cosine 0.9993 and 0.9995, against 14.2 in eager mode. The eager ratio counts
the dropout masks, which eager mode stores as bits and the compiled graphs recompute
or keep in their own form; without them eager mode gives about 12.7, within 10 % of
aot_eager. Inductor's graph saves another set of values (12 measured groups against
aot_eager's 19), and its ratio is about 18 % under that eager figure.
"""
from .context import compressed_activations
from .ops import compress_op, decompress_op, supported, unsupported_reason

__all__ = ["compressed_activations", "compress_op", "decompress_op", "supported", "unsupported_reason"]
