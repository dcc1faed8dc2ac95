# SPDX-License-Identifier: Apache-2.0
"""actzip for PyTorch: error-bounded compression of tensors and of the activations
autograd saves for backward.

    import actzip.torch as az
    stream = az.compress(x, az.Params(az.rel_bound(1e-3)))    # uint8 tensor
    y = az.decompress(stream, x.dtype, x.shape)                 # |x - y| <= 1e-3 * (max - min)
    with az.compressed_activations(model, policy=az.AdaptivePolicy()) as ca:
        ...  # forward, backward, optimizer step, ca.end_step()

Built on the actzip module (DLPack), so it needs no compilation against PyTorch and
works with any PyTorch that has saved-tensor hooks (1.10 and later). CPU tensors run
on the OpenMP executor; CUDA tensors (when actzip.has_cuda) on the current stream,
with every buffer from PyTorch's caching allocator.
"""
from actzip import (AdaptivePolicy, Bound, BudgetPolicy, Decision, Error, FixedPolicy, LayerFeedback, Params,
                    Policy, TensorInfo, TensorResult, TensorRole, has_cuda, has_openmp)
from actzip import abs as abs_bound
from actzip import rel as rel_bound

from .hooks import (CALIBRATION_BOUNDS, DEFAULT_ROLES, EXACT, LINEAR_INPUT, MASK, NONLINEAR, NORM_INPUT, OP_ROLES, RELU_OUTPUT,
                    SOFTMAX_OUTPUT, UNKNOWN, VALUE_FREE, BoundViolation, CompressionStats, compressed_activations, fan_in,
                    pack_bits, site_key, unpack_bits)
from .tensors import (compress, compress_async, decompress, fold_shape, inspect, max_compressed_bytes,
                      workspace_bytes)

#: The names of the former stand-alone adapter.
with_cuda = has_cuda
with_openmp = has_openmp

__all__ = [
    "Error", "Bound", "Params", "abs_bound", "rel_bound", "compress", "compress_async", "decompress", "inspect",
    "max_compressed_bytes", "workspace_bytes", "fold_shape", "Policy", "TensorRole", "TensorInfo", "Decision",
    "TensorResult", "LayerFeedback", "FixedPolicy", "AdaptivePolicy", "BudgetPolicy", "compressed_activations",
    "CompressionStats", "BoundViolation", "DEFAULT_ROLES", "OP_ROLES", "LINEAR_INPUT", "MASK", "NORM_INPUT",
    "RELU_OUTPUT", "VALUE_FREE", "SOFTMAX_OUTPUT", "NONLINEAR", "EXACT", "UNKNOWN", "CALIBRATION_BOUNDS", "fan_in", "site_key", "pack_bits", "unpack_bits", "has_cuda", "has_openmp",
]
