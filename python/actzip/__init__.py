# SPDX-License-Identifier: Apache-2.0
"""actzip: error-bounded lossy compression of float tensors (CPU).

    import numpy as np, actzip
    x = np.random.rand(256, 1000).astype(np.float32)
    z = actzip.compress(x, actzip.rel(1e-3))          # bytes
    y = actzip.decompress(z)                          # numpy array, x's shape and dtype
    info = actzip.inspect(z)                          # header as a dict

Any DLPack-capable CPU array is accepted (numpy arrays, torch CPU tensors): float32,
float64, float16, bfloat16. This package is CPU-only: ``has_cuda`` is False and
device arrays are refused. See docs/PYTHON.md.
"""
from __future__ import annotations

import numpy as _np

from . import _actzip
from ._actzip import Bound, Error, Params, abs, diagnose, format_version, has_openmp, rel, verify

__all__ = [
    "Bound", "Error", "Params", "abs", "rel", "compress", "decompress", "inspect", "verify", "diagnose",
    "max_compressed_bytes", "has_cuda", "has_openmp", "format_version", "__version__",
]

__version__: str = _actzip.library_version
#: This package has no CUDA executor: device arrays are refused with ValueError.
has_cuda: bool = False

_NUMPY_DTYPES = {"float32": _np.float32, "float64": _np.float64, "float16": _np.float16}


def _bfloat16_numpy_dtype():
    try:
        import ml_dtypes  # optional: NumPy has no bfloat16 of its own
    except ImportError:
        return None
    return _np.dtype(ml_dtypes.bfloat16)


def _refuse_device(array, what: str) -> None:
    """Refuses non-CPU arrays before DLPack is asked (a clearer error than a failed import)."""
    device = getattr(array, "device", None)
    kind = getattr(device, "type", None)  # torch.device
    if isinstance(kind, str) and kind != "cpu":
        raise ValueError(f"{what} is on device '{device}'; this actzip Python package is CPU-only "
                         "(actzip.has_cuda is False): copy it to the host first (e.g. tensor.cpu())")
    if hasattr(array, "__cuda_array_interface__"):
        raise ValueError(f"{what} is a CUDA device array ({type(array).__module__}.{type(array).__name__}); "
                         "this actzip Python package is CPU-only (actzip.has_cuda is False)")


def _prepare(array, what: str):
    """Returns (array for the extension, True when it holds bfloat16 bits as uint16)."""
    _refuse_device(array, what)
    if getattr(array, "requires_grad", False):
        array = array.detach()  # torch refuses DLPack export of tensors that require grad
    if isinstance(array, _np.ndarray) and array.dtype.name == "bfloat16":
        return array.view(_np.uint16), True  # ml_dtypes.bfloat16: DLPack/the buffer protocol cannot carry it
    return array, False


def inspect(data) -> dict:
    """The stream's header as a dict: version, dtype, itemsize, shape, codec, bound_mode
    ("abs"/"rel"), bound_value, absolute_bound (the bound enforced on every element),
    preserve_sign, value_range ((min, max) of the finite values for rel bounds, else
    None), chunk_shape, element_count, chunk_count, payload_bytes, total_bytes,
    raw_bytes, ratio, has_checksum, checksum. Validates the header, not the checksum
    (see verify). Raises actzip.Error for anything that is not a valid header."""
    return _actzip._inspect(data, "inspect")


def compress(array, bound, threads: int | None = None) -> bytes:
    """Compresses a 1-D to 3-D CPU array and returns the stream.

    ``bound`` is an ``actzip.abs(v)`` / ``actzip.rel(v)`` bound or an ``actzip.Params``.
    ``threads``: None or 1 runs the serial executor, N > 1 the OpenMP executor on N
    threads (byte-identical streams). C-contiguous inputs are read in place; other
    layouts are first copied into C order. Raises actzip.Error for a bad bound or shape.
    """
    if isinstance(bound, Bound):
        params = Params(bound)
    elif isinstance(bound, Params):
        params = bound
    else:
        raise TypeError("bound must be actzip.abs(v), actzip.rel(v) or actzip.Params(...), "
                        f"not {type(bound).__name__}")
    arr, bf16_bits = _prepare(array, "compress: the input array")
    return _actzip._compress(arr, params, threads, bf16_bits)


def decompress(data, out=None, threads: int | None = None, verify_checksum: bool = True):
    """Decompresses a stream (any bytes-like object).

    Without ``out``: returns a new numpy array of the stream's shape and dtype
    (bfloat16 streams need ml_dtypes; otherwise pass ``out``). With ``out``: any
    writable, C-contiguous CPU array (numpy, torch) of the stream's dtype holding at
    least its element count; the stream is decoded into it in place (its first
    element_count elements, C order) and ``out`` is returned. Raises actzip.Error
    for a damaged or truncated stream, a dtype mismatch or a too small ``out``.
    """
    if out is None:
        header = _actzip._inspect(data, "decompress")
        name = header["dtype"]
        if name == "bfloat16":
            dt = _bfloat16_numpy_dtype()
            if dt is None:
                raise ImportError("the stream holds bfloat16 and NumPy has no bfloat16 type: install ml_dtypes "
                                  "(pip install ml_dtypes), or pass out=, e.g. "
                                  "out=torch.empty(shape, dtype=torch.bfloat16)")
        else:
            dt = _NUMPY_DTYPES[name]
        out = _np.empty(header["shape"], dtype=dt)
    flags = getattr(out, "flags", None)
    if flags is not None and not getattr(flags, "writeable", True):
        raise ValueError("decompress: out is read-only")
    arr, bf16_bits = _prepare(out, "decompress: out")
    _actzip._decompress_into(data, arr, threads, verify_checksum, bf16_bits)
    return out


def _dtype_name(dtype) -> str:
    if isinstance(dtype, str):
        return dtype[len("torch."):] if dtype.startswith("torch.") else dtype
    text = str(dtype)
    if text.startswith("torch."):  # torch.float32, ...
        return text[len("torch."):]
    return _np.dtype(dtype).name  # numpy types and dtypes, ml_dtypes.bfloat16


def max_compressed_bytes(shape, dtype) -> int:
    """An upper bound of the stream size for any data of this shape (1-D to 3-D) and dtype
    ("float32", "float64", "float16", "bfloat16", a numpy or torch dtype)."""
    if isinstance(shape, int):
        shape = (shape,)
    return _actzip._max_compressed_bytes([int(d) for d in shape], _dtype_name(dtype))
