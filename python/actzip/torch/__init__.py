# SPDX-License-Identifier: Apache-2.0
"""actzip for PyTorch: error-bounded compression of tensors and of the activations
autograd saves for backward.

    import actzip.torch as az
    stream = az.compress(x, az.Params(az.rel_bound(1e-3)))    # uint8 tensor
    y = az.decompress(stream, x.dtype, x.shape)                 # |x - y| <= 1e-3 * (max - min)
    with az.compressed_activations(model) as ca:
        ...  # forward, backward, optimizer step, ca.end_step()

Built on the actzip module (DLPack), so it needs no compilation against PyTorch and
works with any PyTorch that has saved-tensor hooks (1.13 and later). CPU tensors run
on the OpenMP executor; CUDA tensors (when actzip.has_cuda) on the current stream,
with every buffer from PyTorch's caching allocator.

The modules, by job: ``tensors`` (compress and decompress one tensor), ``roles``
(what the backward does with a saved tensor), ``tracing`` (which autograd node saved
it), ``views`` (storage regions shared by several saves), ``storage`` (what is kept
for them), ``sensitivity`` (measured bounds for kinds without a formula), ``stats``
(what was stored), ``activations`` (the context manager over all of them) and
``compile`` (the same inside torch.compile'd graphs).
"""
from actzip import (AdaptivePolicy, Bound, BudgetPolicy, Decision, Error, FixedPolicy, LayerFeedback, Params,
                    Policy, TensorInfo, TensorResult, TensorRole, has_cuda, has_openmp)
from actzip import abs as abs_bound
from actzip import rel as rel_bound

from . import checkpoint  # noqa: F401  (actzip.torch.checkpoint: error-bounded training checkpoints)
from .activations import compressed_activations, site_key
from .roles import (DEFAULT_ROLES, EXACT, INDEX, LINEAR_INPUT, MASK, NODE_ROLES, NONLINEAR, NORM_INPUT, RELU_OUTPUT,
                    ROLES, SOFTMAX_OUTPUT, UNKNOWN, VALUE_FREE, fan_in)
from .sensitivity import MAX_BOUND, MIN_BOUND, PROBE_BOUND
from .stats import CompressionStats
from .storage import BoundViolation, pack_bits, unpack_bits
from .tensors import (compress, compress_async, decompress, fold_shape, inspect, max_compressed_bytes,
                      workspace_bytes)

#: The names of the former stand-alone adapter.
with_cuda = has_cuda
with_openmp = has_openmp

__all__ = [
    "Error", "Bound", "Params", "abs_bound", "rel_bound", "compress", "compress_async", "decompress", "inspect",
    "max_compressed_bytes", "workspace_bytes", "fold_shape", "Policy", "TensorRole", "TensorInfo", "Decision",
    "TensorResult", "LayerFeedback", "FixedPolicy", "AdaptivePolicy", "BudgetPolicy", "compressed_activations",
    "CompressionStats", "BoundViolation", "DEFAULT_ROLES", "NODE_ROLES", "ROLES", "LINEAR_INPUT", "MASK",
    "NORM_INPUT", "RELU_OUTPUT", "VALUE_FREE", "SOFTMAX_OUTPUT", "NONLINEAR", "EXACT", "INDEX", "UNKNOWN",
    "PROBE_BOUND", "MAX_BOUND", "MIN_BOUND", "fan_in", "site_key", "pack_bits", "unpack_bits", "has_cuda",
    "has_openmp",
]
