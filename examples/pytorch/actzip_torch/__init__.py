# SPDX-License-Identifier: Apache-2.0
"""actzip for PyTorch: error-bounded compression of tensors and of the activations
autograd saves for backward.

    import actzip_torch as az
    stream = az.compress(x, az.Params(az.rel_bound(1e-3)))    # uint8 tensor
    y = az.decompress(stream, x.dtype, x.shape)                 # |x - y| <= 1e-3 * (max - min)
    with az.compressed_activations(model, policy=az.AdaptivePolicy()) as ca:
        ...  # forward, backward, optimizer step, ca.end_step()

The C++ extension is built on first import (see _extension.py).
"""
from . import _extension
from .hooks import (DEFAULT_ROLES, EXACT, LINEAR_INPUT, MASK, NORM_INPUT, RELU_OUTPUT, VALUE_FREE, BoundViolation,
                    CompressionStats, compressed_activations, fan_in, pack_bits, site_key, unpack_bits)

_ext = _extension.load()

Error = _ext.Error
Bound = _ext.Bound
BoundMode = _ext.BoundMode
Params = _ext.Params
abs_bound = _ext.abs_bound
rel_bound = _ext.rel_bound
inspect = _ext.inspect
max_compressed_bytes = _ext.max_compressed_bytes
workspace_bytes = _ext.workspace_bytes
fold_shape = _ext.fold_shape
compress_async = _ext.compress_async

Policy = _ext.Policy
TensorRole = _ext.TensorRole
TensorInfo = _ext.TensorInfo
Decision = _ext.Decision
TensorResult = _ext.TensorResult
LayerFeedback = _ext.LayerFeedback
FixedPolicy = _ext.FixedPolicy
AdaptivePolicy = _ext.AdaptivePolicy
BudgetPolicy = _ext.BudgetPolicy

with_cuda = _ext.with_cuda
with_openmp = _ext.with_openmp


def compress(tensor, params):
    """Compresses a float32/float64/float16/bfloat16 tensor (CPU or CUDA) into a uint8
    stream tensor of its exact size. `params` is a Params or a Bound. For CUDA tensors
    this reads the size back (a synchronization); compress_async does not."""
    if isinstance(params, Bound):
        params = Params(params)
    return _ext.compress(tensor, params)


def decompress(stream, dtype, shape, verify_checksum=True):
    """Decompresses a stream into a new tensor of `dtype` and `shape` on the stream's device."""
    return _ext.decompress(stream, dtype, list(shape), verify_checksum)


__all__ = [
    "Error", "Bound", "BoundMode", "Params", "abs_bound", "rel_bound", "compress", "compress_async", "decompress",
    "inspect", "max_compressed_bytes", "workspace_bytes", "fold_shape", "Policy", "TensorRole", "TensorInfo",
    "Decision", "TensorResult", "LayerFeedback", "FixedPolicy", "AdaptivePolicy", "BudgetPolicy",
    "compressed_activations", "CompressionStats", "BoundViolation", "DEFAULT_ROLES", "LINEAR_INPUT", "MASK",
    "NORM_INPUT", "RELU_OUTPUT", "VALUE_FREE", "EXACT", "fan_in", "site_key", "pack_bits", "unpack_bits",
    "with_cuda", "with_openmp",
]
