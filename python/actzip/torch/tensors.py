# SPDX-License-Identifier: Apache-2.0
"""Compression of torch tensors over actzip's core module (no PyTorch C++ ABI).

Host tensors run on the OpenMP executor with torch's intra-op thread count. CUDA
tensors run on ``torch.cuda.current_stream()`` of their device, and every buffer (the
stream, the workspace, the size and status words) is a ``torch.empty`` on that
device, so memory comes from PyTorch's caching allocator and is reused in the order
of that stream. Nothing here synchronizes with the host except ``compress`` of a
CUDA tensor, which reads the size back; ``compress_async`` is the form that does not.
"""
from __future__ import annotations

import threading

import torch

import actzip as _az

_SUPPORTED = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_local = threading.local()


def fold_shape(shape):
    """The rank 1..3 shape actzip compresses a tensor of ``shape`` as: rank 0 becomes
    (1,), ranks 1..3 are kept, a higher rank keeps its last two extents and folds the
    leading ones into the first (an NCHW activation becomes (N*C, H, W), so the
    Lorenzo predictor runs over the image plane)."""
    shape = [int(d) for d in shape]
    if any(d < 0 for d in shape):
        _az._raise("invalid_argument", "fold_shape: negative extent")
    if not shape:
        return [1]
    if len(shape) <= 3:
        return shape
    lead = 1
    for d in shape[:-2]:
        lead *= d
    return [lead, shape[-2], shape[-1]]


def _params(params) -> _az.Params:
    if isinstance(params, _az.Bound):
        return _az.Params(params)
    if isinstance(params, _az.Params):
        return params
    raise TypeError(f"params must be an actzip.Params or a bound (actzip.abs / actzip.rel), not {type(params).__name__}")


def _check_dtype(t, call):
    if t.dtype not in _SUPPORTED:
        _az._raise("unsupported", f"{call}: element type {t.dtype} (actzip compresses float32, float64, float16 and "
                   "bfloat16)")


def _host_threads():
    return torch.get_num_threads() if _az.has_openmp else None


def _round8(n):
    return (n + 7) // 8 * 8


def _scratch(nbytes):
    """A per-thread host buffer reused across calls (no page faults on a fresh large
    allocation each call)."""
    buf = getattr(_local, "buffer", None)
    if buf is None or buf.numel() < nbytes:
        buf = torch.empty(max(nbytes, 1), dtype=torch.uint8)
        _local.buffer = buf
    return buf[:nbytes]


def compress(tensor, params, threads=None):
    """Compresses a float32/float64/float16/bfloat16 tensor (CPU or CUDA) into a uint8
    stream tensor of its exact size on the tensor's device. ``params``: an
    actzip.Params or a bound. For CUDA tensors this reads the size back (a
    synchronization); compress_async does not. ``threads``: host tensors, the OpenMP
    threads (default torch.get_num_threads())."""
    params = _params(params)
    x = tensor.detach()
    _check_dtype(x, "compress")
    if x.is_cuda:
        buffer, size = compress_async(x, params)
        return buffer[:int(size.item())].clone()
    if x.device.type != "cpu":
        _az._raise("unsupported", f"compress: only CPU and CUDA tensors, not {x.device}")
    shape = fold_shape(x.shape)
    x = x.contiguous().view(shape)
    capacity = _az.max_compressed_bytes(shape, x.dtype)
    out = _scratch(capacity)
    n = _az.compress_into(x, params, out, threads=_host_threads() if threads is None else threads)
    return out[:n].clone()  # a copy of the compressed bytes only


def compress_async(tensor, params):
    """CUDA: (buffer of max_compressed_bytes, one-element int64 device tensor receiving
    the stream's size), enqueued on the current stream, no host synchronization.
    Host: (the exact stream, a one-element int64 tensor holding its size)."""
    params = _params(params)
    x = tensor.detach()
    _check_dtype(x, "compress_async")
    if not x.is_cuda:
        stream = compress(x, params)
        return stream, torch.full((1,), stream.numel(), dtype=torch.int64)
    if not _az.has_cuda:
        _az._raise("unsupported", "compress_async: this actzip package was built without CUDA (actzip.has_cuda is "
                   "False)")
    with torch.cuda.device(x.device):
        x = x.contiguous()
        if x.data_ptr() % 16 != 0:
            x = x.clone()  # a view with a storage offset may be misaligned for the vector loads
        shape = fold_shape(x.shape)
        x = x.view(shape)
        capacity = _az.max_compressed_bytes(shape, x.dtype)
        work = _az.workspace_bytes(shape, device="cuda")
        stream = torch.empty(capacity, dtype=torch.uint8, device=x.device)
        # The workspace and the size word in one allocation; the size tensor is a view
        # of it, so the workspace is reused only once the size is no longer needed.
        scratch = torch.empty(_round8(work) + 8, dtype=torch.uint8, device=x.device)
        size = scratch[_round8(work):].view(torch.int64)
        _az.compress_into(x, params, stream, size=size, workspace=scratch[:work], stream=torch.cuda.current_stream())
    return stream, size


def decompress(stream, dtype, shape, verify_checksum=True, threads=None):
    """Decompresses a uint8 stream tensor into a new tensor of ``dtype`` and ``shape`` on
    the stream's device. CUDA: on the current stream; a damaged stream, or one of
    another dtype or element count, trips an asynchronous device assertion (reported
    at the next synchronization) instead of a host round trip. ``threads``: host
    streams, the OpenMP threads (default torch.get_num_threads())."""
    if stream.dtype != torch.uint8 or stream.dim() != 1:
        _az._raise("invalid_argument", "decompress: a stream is a one-dimensional uint8 tensor")
    shape = [int(d) for d in shape]
    count = 1
    for d in shape:
        if d < 0:
            _az._raise("invalid_argument", "decompress: negative extent")
        count *= d
    stream = stream.contiguous()
    if stream.is_cuda:
        if dtype not in _SUPPORTED:
            _az._raise("unsupported", f"decompress: element type {dtype} (actzip decompresses float32, float64, "
                           "float16 and bfloat16)")
        with torch.cuda.device(stream.device):
            if stream.data_ptr() % 4 != 0:
                stream = stream.clone()
            out = torch.empty(shape, dtype=dtype, device=stream.device)
            work = _az.decode_workspace_bytes(device="cuda")
            scratch = torch.empty(_round8(work) + 8, dtype=torch.uint8, device=stream.device)
            status = scratch[_round8(work):_round8(work) + 4].view(torch.int32)
            _az.decompress(stream, out=out, status=status, workspace=scratch[:work],
                           stream=torch.cuda.current_stream(), verify_checksum=verify_checksum)
            torch._assert_async(status[0] == 0)
        return out
    header = _az.inspect(stream)
    if header["element_count"] != count:
        _az._raise("invalid_argument", f"decompress: the requested shape has {count} elements, the stream "
                   f"{header['element_count']}")
    out = torch.empty(shape, dtype=dtype)
    _az.decompress(stream, out=out, threads=_host_threads() if threads is None else threads,
                   verify_checksum=verify_checksum)
    return out


def inspect(stream, size=-1):
    """The header of a uint8 stream tensor as a dict (see actzip.inspect); a CUDA
    stream's first bytes are copied to the host. ``size`` (>= 0): the stream's length,
    for a tensor that holds only its first bytes."""
    if stream.dtype != torch.uint8 or stream.dim() != 1:
        _az._raise("invalid_argument", "inspect: a stream is a one-dimensional uint8 tensor")
    head = stream[:_az.HEADER_BYTES].cpu().contiguous()
    return _az.inspect(head, size=stream.numel() if size < 0 else int(size))


def max_compressed_bytes(dtype, shape):
    """Upper bound of the stream size for any tensor of ``dtype`` and ``shape``."""
    return _az.max_compressed_bytes(fold_shape(shape), dtype)


def workspace_bytes(device, shape):
    """Workspace bytes compress uses on "cpu" or "cuda" for a tensor of ``shape``."""
    threads = _host_threads() if device == "cpu" else None
    return _az.workspace_bytes(fold_shape(shape), device=device, threads=threads)
