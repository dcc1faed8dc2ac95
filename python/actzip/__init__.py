# SPDX-License-Identifier: Apache-2.0
"""actzip: error-bounded lossy compression of float tensors.

    import numpy as np, actzip
    x = np.random.rand(256, 1000).astype(np.float32)
    z = actzip.compress(x, actzip.rel(1e-3))          # bytes
    y = actzip.decompress(z)                          # numpy array, x's shape and dtype
    info = actzip.inspect(z)                          # header as a dict

Any DLPack array is accepted (numpy, PyTorch, CuPy, JAX): float32, float64, float16,
bfloat16. Host arrays run on the serial or OpenMP executor. CUDA arrays (when
``has_cuda``) go through ``compress_into`` and ``decompress`` with buffers the caller
allocates and on the stream the caller names; nothing is allocated or synchronized.
``actzip.torch`` is the PyTorch layer (compressed activations). See docs/PYTHON.md.
"""
from __future__ import annotations

import numpy as _np

from . import _actzip
from ._actzip import _raise  # _raise(status name, context): actzip.Error with the library's message
from ._actzip import (HEADER_BYTES, AdaptivePolicy, Bound, BudgetPolicy, Decision, Error, FixedPolicy,
                      LayerFeedback, Params, Policy, TensorInfo, TensorResult, TensorRole, abs, check_status,
                      diagnose, format_version, has_openmp, rel, verify)

__all__ = [
    "Bound", "Error", "Params", "abs", "rel", "compress", "compress_into", "decompress", "inspect", "verify",
    "diagnose", "check_status", "max_compressed_bytes", "workspace_bytes", "decode_workspace_bytes", "has_cuda",
    "has_openmp", "format_version", "HEADER_BYTES", "__version__", "Policy", "FixedPolicy", "AdaptivePolicy",
    "BudgetPolicy", "TensorRole", "TensorInfo", "Decision", "TensorResult", "LayerFeedback",
]

__version__: str = _actzip.library_version
#: True when this build has the CUDA functions (nvcc was found when it was built).
#: Without them CUDA arrays are refused with ValueError.
has_cuda: bool = _actzip.has_cuda

_NUMPY_DTYPES = {"float32": _np.float32, "float64": _np.float64, "float16": _np.float16}
_DLPACK_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged


def _bfloat16_numpy_dtype():
    try:
        import ml_dtypes  # optional: NumPy has no bfloat16 of its own
    except ImportError:
        return None
    return _np.dtype(ml_dtypes.bfloat16)


def _dlpack_device(array):
    """The DLPack (device type, id) of an array; (1, 0) (CPU) for objects without one."""
    probe = getattr(array, "__dlpack_device__", None)
    if probe is None:
        return (1, 0)
    try:
        kind, index = probe()
    except Exception:  # e.g. torch's meta tensors
        device = getattr(array, "device", None)
        raise ValueError(f"an array on device '{device}' cannot be passed to actzip "
                         "(it has no memory on the host or on a CUDA device)") from None
    return (int(kind), int(index))


def _on_cuda(array) -> bool:
    return _dlpack_device(array)[0] in _DLPACK_CUDA


def _refuse_cuda(array, what: str) -> None:
    if not has_cuda and _on_cuda(array):
        raise ValueError(f"{what} is a CUDA array ({type(array).__module__}.{type(array).__name__}); this actzip "
                         "Python package is CPU-only (actzip.has_cuda is False: it was built without nvcc)")


def _prepare(array, what: str):
    """Returns (array for the extension, True when it holds bfloat16 bits as uint16)."""
    _dlpack_device(array)  # refuses arrays without memory
    _refuse_cuda(array, what)
    if getattr(array, "requires_grad", False):
        array = array.detach()  # torch refuses DLPack export of tensors that require grad
    if isinstance(array, _np.ndarray) and array.dtype.name == "bfloat16":
        return array.view(_np.uint16), True  # ml_dtypes.bfloat16: DLPack/the buffer protocol cannot carry it
    return array, False


def _stream_handle(stream, call: str) -> int:
    """A cudaStream_t as an int from an int, a CUDA stream protocol object
    (``__cuda_stream__``), a torch.cuda.Stream (``cuda_stream``) or a CuPy stream (``ptr``)."""
    if stream is None:
        raise ValueError(f"{call}: CUDA arrays need stream=: the stream the work is ordered on, e.g. "
                         "torch.cuda.current_stream(), cupy.cuda.get_current_stream(), or an int cudaStream_t "
                         "(0: the legacy default stream)")
    if isinstance(stream, bool):
        raise TypeError(f"{call}: stream must be a CUDA stream or an int cudaStream_t, not bool")
    if isinstance(stream, int):
        return stream
    protocol = getattr(stream, "__cuda_stream__", None)
    if protocol is not None:
        value = protocol() if callable(protocol) else protocol
        return int(value[1])
    for name in ("cuda_stream", "ptr"):
        value = getattr(stream, name, None)
        if isinstance(value, int):
            return value
    raise TypeError(f"{call}: stream must be a CUDA stream (torch.cuda.Stream, a CuPy stream, an object with "
                    f"__cuda_stream__) or an int cudaStream_t, not {type(stream).__name__}")


def _params(bound) -> Params:
    if isinstance(bound, Bound):
        return Params(bound)
    if isinstance(bound, Params):
        return bound
    raise TypeError("bound must be actzip.abs(v), actzip.rel(v) or actzip.Params(...), "
                    f"not {type(bound).__name__}")


def inspect(data, size: int | None = None) -> dict:
    """The stream's header as a dict: version, dtype, itemsize, shape, codec, bound_mode
    ("abs"/"rel"), bound_value, absolute_bound (the bound enforced on every element),
    preserve_sign, value_range ((min, max) of the finite values for rel bounds, else
    None), chunk_shape, element_count, chunk_count, payload_bytes, total_bytes,
    raw_bytes, ratio, has_checksum, checksum. Validates the header, not the checksum
    (see verify). Raises actzip.Error for anything that is not a valid header.

    ``data`` is in host memory. With ``size``, ``data`` may hold just the stream's first
    ``min(size, HEADER_BYTES)`` bytes and ``size`` is the stream's length: the way to
    read the header of a CUDA stream from a small host copy."""
    return _actzip._inspect(data, "inspect", size)


def compress(array, bound, threads: int | None = None) -> bytes:
    """Compresses a 1-D to 3-D host array and returns the stream.

    ``bound`` is an ``actzip.abs(v)`` / ``actzip.rel(v)`` bound or an ``actzip.Params``.
    ``threads``: None or 1 runs the serial executor, N > 1 the OpenMP executor on N
    threads (byte-identical streams). C-contiguous inputs are read in place; other
    layouts are first copied into C order. Raises actzip.Error for a bad bound or shape.
    CUDA arrays: use compress_into (the caller allocates the buffers).
    """
    params = _params(bound)
    if has_cuda and _on_cuda(array):
        raise ValueError("compress returns bytes in host memory: for a CUDA array use actzip.compress_into(array, "
                         "bound, out, size=, workspace=, stream=) with device buffers you allocate")
    arr, bf16_bits = _prepare(array, "compress: the input array")
    return _actzip._compress(arr, params, threads, bf16_bits)


def compress_into(array, bound, out, *, size=None, workspace=None, stream=None, threads: int | None = None):
    """Compresses ``array`` into ``out``, a contiguous 1-D uint8 array the caller allocated.

    Host arrays: ``out`` is in host memory; the stream's size is returned (an int).
    ``workspace`` and ``stream`` are not used; ``threads`` as in compress.

    CUDA arrays (``has_cuda``): ``array`` C-contiguous on one device, and on that device
    ``out`` of at least ``max_compressed_bytes(shape, dtype)`` bytes, ``size`` a
    one-element int64/uint64 array that receives the stream's size, and ``workspace``
    a uint8 array of at least ``workspace_bytes(shape, device="cuda")`` bytes. The work
    is enqueued on ``stream`` (required) and None is returned at once: the size is
    known on the device only, and ``out`` holds the stream when the stream reaches
    that point. The device must be the current CUDA device. Raises actzip.Error or
    ValueError/TypeError for what can be checked before launching.
    """
    params = _params(bound)
    if _on_cuda(array):
        _refuse_cuda(array, "compress_into: the input array")
        arr, bf16_bits = _prepare(array, "compress_into: the input array")
        if size is None or workspace is None:
            raise ValueError("compress_into: CUDA arrays need size= (a one-element int64 device array) and "
                             "workspace= (actzip.workspace_bytes(shape, device='cuda') device bytes)")
        _actzip._compress_cuda(arr, params, out, size, workspace, _stream_handle(stream, "compress_into"), bf16_bits)
        return None
    arr, bf16_bits = _prepare(array, "compress_into: the input array")
    return _actzip._compress_into(arr, params, out, threads, bf16_bits)


def decompress(data, out=None, threads: int | None = None, verify_checksum: bool = True, *, status=None,
               workspace=None, stream=None):
    """Decompresses a stream.

    Host streams (any bytes-like object or uint8 host array): without ``out``, returns
    a new numpy array of the stream's shape and dtype (bfloat16 streams need
    ml_dtypes; otherwise pass ``out``). With ``out``: any writable, C-contiguous host
    array (numpy, torch) of the stream's dtype holding at least its element count;
    the stream is decoded into it in place (its first element_count elements, C
    order) and ``out`` is returned. Raises actzip.Error for a damaged or truncated
    stream, a dtype mismatch or a too small ``out``.

    CUDA streams (a uint8 device array at least as long as the stream): ``out`` a
    C-contiguous device array of the stream's dtype and element count, ``status`` a
    one-element int32 device array that receives the stream's status (0: success;
    see check_status), ``workspace`` a uint8 device array of at least
    ``decode_workspace_bytes(device="cuda")`` bytes; the work is enqueued on
    ``stream`` (required) and ``out`` is returned at once. A damaged stream, a wrong
    dtype or a wrong element count are found on the device and reported in
    ``status`` only.
    """
    if _on_cuda(data):
        _refuse_cuda(data, "decompress: the stream")
        if out is None or status is None or workspace is None:
            raise ValueError("decompress: a CUDA stream needs out= (a device array of the stream's dtype and shape), "
                             "status= (a one-element int32 device array) and workspace= "
                             "(actzip.decode_workspace_bytes(device='cuda') device bytes)")
        arr, bf16_bits = _prepare(out, "decompress: out")
        _actzip._decompress_cuda(data, arr, status, workspace, _stream_handle(stream, "decompress"), verify_checksum,
                                 bf16_bits)
        return out
    if out is None:
        header = _actzip._inspect(data, "decompress", None)
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


def _shape(shape):
    return [int(d) for d in ((shape,) if isinstance(shape, int) else shape)]


def max_compressed_bytes(shape, dtype) -> int:
    """An upper bound of the stream size for any data of this shape (1-D to 3-D) and dtype
    ("float32", "float64", "float16", "bfloat16", a numpy or torch dtype)."""
    return _actzip._max_compressed_bytes(_shape(shape), _dtype_name(dtype))


def workspace_bytes(shape, device: str = "cpu", threads: int | None = None) -> int:
    """Bytes of workspace compression of a tensor of ``shape`` uses: on "cpu" (with
    ``threads``; compress and compress_into allocate it themselves), or on "cuda" (the
    ``workspace`` array compress_into needs)."""
    return _actzip._workspace_bytes(_shape(shape), device, threads)


def decode_workspace_bytes(device: str = "cpu") -> int:
    """Bytes of workspace decompress needs: 0 on "cpu"; on "cuda" the size of the
    ``workspace`` array (any stream)."""
    return _actzip._decode_workspace_bytes(device)
