# SPDX-License-Identifier: Apache-2.0
"""The operators of compressed activations in compiled graphs, and what this PyTorch
can do: ``actzip::compress`` and ``actzip::decompress`` (torch.library custom
operators with fake implementations; see the package's documentation)."""
from __future__ import annotations

import importlib

import torch

import actzip as _az

from .. import tensors as _tensors

FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


class _State:
    active = None  # the compressed_activations context that is active (at most one)


state = _State()


def hook_context_getter():
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
    if hook_context_getter() is None:
        return f"PyTorch {version}'s AOTAutograd does not describe the saved value to the hooks"
    dynamo = importlib.import_module("torch._dynamo")
    if not hasattr(dynamo.config, "capture_dynamic_output_shape_ops"):
        return f"PyTorch {version}'s Dynamo cannot capture operators with data-dependent output sizes"
    return None


_UNSUPPORTED = unsupported_reason()


def supported():
    """True when this PyTorch can run compressed_activations inside compiled graphs."""
    return _UNSUPPORTED is None


def refuse():
    if _UNSUPPORTED is not None:
        raise RuntimeError(f"actzip.torch.compile: {_UNSUPPORTED}; compressed activations inside compiled graphs "
                           "are not available (actzip.torch.compressed_activations works without torch.compile)")


def bound_of(mode, value):
    if mode == "rel":
        return _az.rel(value)
    if mode == "abs":
        return _az.abs(value)
    raise ValueError(f"actzip::compress: mode must be 'rel' or 'abs', not {mode!r}")


# ---- the operators -------------------------------------------------------------------

if _UNSUPPORTED is None:
    _COMPRESS_TAGS = (torch.Tag.cudagraph_unsafe,) if hasattr(torch.Tag, "cudagraph_unsafe") else ()

    @torch.library.custom_op("actzip::compress", mutates_args=(), tags=_COMPRESS_TAGS)
    def compress_op(x: torch.Tensor, bound: float, mode: str, codec: str, preserve_sign: bool,
                    site: str = "") -> torch.Tensor:
        """The uint8 stream of ``x`` at its exact size, in a fresh allocation on x's
        device. ``mode``: "rel" or "abs"; ``codec``: "bitplane", "huffman" or
        "automatic"; ``site``: a label for the statistics of the active context."""
        params = _az.Params(bound_of(mode, bound), codec=codec, preserve_sign=preserve_sign)
        context = state.active
        if site and context is not None:
            params = context.runtime_params(site, params)  # a calibration's, or the measured bound
        stream = _tensors.compress(x, params)
        if stream.untyped_storage().nbytes() != stream.numel():
            stream = stream.clone()  # never a view of a larger buffer
        if site and context is not None:
            context._streamed(site, x, stream)
        return stream

    @compress_op.register_fake
    def _compress_fake(x, bound, mode, codec, preserve_sign, site=""):
        if x.dtype not in FLOATS:
            _az._raise("unsupported", f"actzip::compress: element type {x.dtype}")
        bound_of(mode, bound)
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
        refuse()

    def decompress_op(stream, dtype, shape):
        """Refused: this PyTorch has no custom operators (see unsupported_reason())."""
        refuse()
