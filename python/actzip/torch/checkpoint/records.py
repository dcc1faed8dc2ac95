# SPDX-License-Identifier: Apache-2.0
"""One tensor as one record: stored exactly, or as an actzip stream of its values
(after a transform, see roles.py), or of their difference from the base checkpoint's
reconstruction.

A lossy record holds an element-wise quantity ``t`` (the *domain*: the values
themselves, ``log(1 + sqrt(v) / floor)`` or ``m / (sqrt(v') + floor)``), an absolute bound
``eb`` on it, and the reference ``r`` it is a difference from (zero for a full record,
the base record's reconstructed domain for a delta). Its payload is

    actzip stream of d = t - r  |  fixup positions (int64)  |  fixup values (domain dtype)

and its reconstruction is ``t' = r + d'``, then the fixups. Saving computes ``t'``
exactly as loading does and compares it with ``t`` element by element (the difference
in float64): every element that is not within ``eb`` (rounding in ``r + d'``, a NaN or
an infinity that the difference lost) is a fixup, stored as it is. So
``|t' - t| <= eb`` holds for every element of every record, and a chain of deltas never
accumulates error: each delta is taken from the reconstruction the loader computes.
"""
from __future__ import annotations

import math
import zlib

import torch

import actzip as _az

from .container import CheckpointError
from .roles import LOSSY_DTYPES

_NAMES = ("float32", "float64", "float16", "bfloat16", "complex64", "complex128", "complex32", "int8", "int16",
          "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "float8_e4m3fn", "float8_e5m2",
          "float8_e4m3fnuz", "float8_e5m2fnuz")
DTYPES = {n: getattr(torch, n) for n in _NAMES if isinstance(getattr(torch, n, None), torch.dtype)}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
NUMPY_KINDS = "biufc"          # numpy arrays stored: bool, integers, floats, complex
ZLIB_MAX_BYTES = 64 << 20      # exact records up to this size are tried with zlib
MAX_FIXUP_SHARE = 1 / 16       # more fixups than this: the record is stored exactly instead
_SLICE = 1 << 18               # elements per slice of the element-wise work (bounds its temporaries)
CODECS = ("bitplane", "huffman", "automatic")


def dtype_name(dtype):
    try:
        return DTYPE_NAMES[dtype]
    except KeyError:
        raise TypeError(f"checkpoint.save: tensors of type {dtype} are not supported") from None


def raw_bytes(t):
    """The tensor's elements in C order as a uint8 tensor (CPU)."""
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8) if t.numel() else torch.empty(0, dtype=torch.uint8)


def encode_exact(t):
    """(parts, meta) of a record holding the tensor's bytes, zlib-compressed when that
    saves at least a tenth."""
    raw = raw_bytes(t)
    if 0 < raw.numel() <= ZLIB_MAX_BYTES:
        packed = zlib.compress(raw.numpy().tobytes(), 6)
        if len(packed) <= 0.9 * raw.numel():
            return [packed], {"kind": "exact", "encoding": "zlib"}
    return [raw.numpy()], {"kind": "exact", "encoding": "raw"}


def decode_exact(meta, payload, dtype, shape):
    encoding = meta.get("encoding")
    if encoding == "zlib":
        try:
            payload = zlib.decompress(bytes(payload))
        except zlib.error as error:
            raise CheckpointError(f"damaged record: {error}") from None
    elif encoding != "raw":
        raise CheckpointError(f"unknown record encoding {encoding!r}")
    count = math.prod(shape)
    itemsize = torch.empty(0, dtype=dtype).element_size()
    if len(payload) != count * itemsize:
        raise CheckpointError(f"damaged record: {len(payload)} bytes for {count} elements of {dtype}")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(payload), dtype=torch.uint8).view(dtype).reshape(shape)


def domain_dtype(dtype, transform):
    """The dtype of a record's domain: the tensor's own for the identity, float32 (float64
    for float64 tensors) for the moments' transforms."""
    if transform == "identity":
        return dtype
    return torch.float64 if dtype == torch.float64 else torch.float32


def _stream_dtype(domain):
    return torch.float64 if domain == torch.float64 else torch.float32


def _sliced(n, dtype, fn):
    """A new flat tensor of ``n`` elements of ``dtype``, filled slice by slice with
    ``fn(start, stop)`` (the float64 temporaries stay small)."""
    out = torch.empty(n, dtype=dtype)
    for start in range(0, n, _SLICE):
        out[start:start + _SLICE] = fn(start, min(start + _SLICE, n))
    return out


def forward(x, transform, floor, scale):
    """The domain of tensor ``x`` (flattened) under ``transform``; ``scale`` is the
    reconstructed domain of the moment's exp_avg_sq (for exp_avg)."""
    x = x.detach().reshape(-1)
    if transform == "identity":
        return x
    dt = domain_dtype(x.dtype, transform)
    if transform == "log1p_sqrt":
        return _sliced(x.numel(), dt, lambda a, b: torch.log1p(torch.sqrt(x[a:b].double()) / floor))
    if transform == "scaled":
        return _sliced(x.numel(), dt, lambda a, b: x[a:b].double() * torch.exp(-scale[a:b].double()) / floor)
    raise CheckpointError(f"unknown transform {transform!r}")


def inverse(domain, transform, floor, scale, dtype):
    """The tensor (flat, ``dtype``) of a reconstructed domain."""
    if transform == "identity":
        return domain.to(dtype)
    if transform == "log1p_sqrt":
        def part(a, b):
            root = torch.clamp(torch.expm1(domain[a:b].double()) * floor, min=0.0)
            return root * root
        return _sliced(domain.numel(), dtype, part)
    if transform == "scaled":
        return _sliced(domain.numel(), dtype,
                       lambda a, b: domain[a:b].double() * torch.exp(scale[a:b].double()) * floor)
    raise CheckpointError(f"unknown transform {transform!r}")


def holds(x, back, transform, bound, floor, scale):
    """Whether the value-domain guarantee of a transformed record holds for every
    element of ``x`` (flat) and its reconstruction ``back``: the denominator within
    exp(+-bound) (log1p_sqrt), |x' - x| <= bound (sqrt(v') + floor) (scaled), up to the
    rounding of the inverse. It does for valid moments; a NaN that the transform
    mixes in, or an overflow, sends the tensor to the plain bound instead."""
    slack = 1 + 1e-4
    for a in range(0, x.numel(), _SLICE):
        b = min(a + _SLICE, x.numel())
        xs, ys = x[a:b].double(), back[a:b].double()
        same = (xs == ys) | (torch.isnan(xs) & torch.isnan(ys))
        if transform == "log1p_sqrt":
            ok = torch.log((torch.sqrt(ys) + floor) / (torch.sqrt(xs) + floor)).abs() <= bound * slack + 1e-6
        else:
            ok = (ys - xs).abs() <= bound * slack * floor * torch.exp(scale[a:b].double()) + 1e-30
        if not bool((same | ok).all()):
            return False
    return True


def _finite_min_max(t):
    """(min, max) over the finite elements ((inf, -inf) when there are none)."""
    if t.numel() == 0:
        return math.inf, -math.inf
    lo, hi = float(t.min()), float(t.max())
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi  # no NaN (min and max would be NaN) and no infinity
    lo, hi = math.inf, -math.inf
    for start in range(0, t.numel(), _SLICE):
        part = t[start:start + _SLICE]
        part = part[torch.isfinite(part)]
        if part.numel():
            lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
    return lo, hi


def finite_range(t):
    """max - min over the finite elements (0 when there are none)."""
    lo, hi = _finite_min_max(t)
    return hi - lo if hi >= lo else 0.0


def _abs_max(t):
    """max |x| over the finite elements (0 when there are none)."""
    lo, hi = _finite_min_max(t)
    return max(abs(lo), abs(hi)) if hi >= lo else 0.0


def _misses(rec, t, eb):
    """Positions (int64) where ``rec`` is not within ``eb`` of ``t`` (NaN matches NaN).
    A fast pass in the working precision clears the elements far inside the bound; the
    others are decided exactly, on their difference in float64."""
    found = []
    wide = torch.float64 if t.dtype == torch.float64 else torch.float32
    for start in range(0, t.numel(), _SLICE):
        a, b = rec[start:start + _SLICE], t[start:start + _SLICE]
        suspect = ~((a.to(wide) - b.to(wide)).abs() <= eb * (1 - 1e-5))
        index = torch.nonzero(suspect).reshape(-1)
        if index.numel():
            a, b = a[index], b[index]
            diff = (a.double() - b.double()).abs()
            ok = (diff <= eb) | (a == b) | (torch.isnan(a) & torch.isnan(b))
            bad = index[~ok]
            if bad.numel():
                found.append(bad + start)
    return torch.cat(found) if found else torch.empty(0, dtype=torch.int64)


def _threads():
    return torch.get_num_threads() if _az.has_openmp else None


def _reconstruct(stream, reference, count, domain, threads):
    sdt = _stream_dtype(domain)
    d = torch.empty(count, dtype=sdt)
    if count:
        _az.decompress(stream, out=d, threads=threads)
    if reference is not None:
        d = reference.to(sdt) + d
    return d.to(domain)


def encode_lossy(t, eb, reference, codec, threads=None):
    """Compresses domain ``t`` (flat float tensor) at absolute bound ``eb`` as a difference
    from ``reference`` (or in full when None). Returns (parts, fields, reconstruction)
    or None when the record would not be smaller than the tensor's bytes."""
    threads = _threads() if threads is None else threads
    domain = t.dtype
    sdt = _stream_dtype(domain)
    count = t.numel()
    if reference is not None and (reference.numel() != count or reference.dtype != domain):
        raise ValueError("encode_lossy: the reference does not match the tensor")
    d = t.to(sdt) if reference is None else t.to(sdt) - reference.to(sdt)
    # A margin for the rounding of r + d' (and of the 16-bit cast), so that fixups stay rare.
    peak = max(_abs_max(t), _abs_max(reference) if reference is not None else 0.0)
    ulp = torch.finfo(domain).eps * peak
    stream_eb = eb - 4 * ulp if eb - 4 * ulp >= 0.5 * eb else 0.5 * eb
    if torch.finfo(domain).bits == 16:
        stream_eb = 0.5 * eb  # bf16 / fp16: the cast back rounds by up to half a unit
    stream = _az.compress(d.reshape(-1) if count else d.new_zeros(1), _az.Params(_az.abs(stream_eb), codec=codec),
                          threads=threads)
    del d
    rec = _reconstruct(stream, reference, count, domain, threads) if count else t.clone()
    bad = _misses(rec, t, eb)
    if bad.numel() > MAX_FIXUP_SHARE * max(count, 1):
        return None
    values = t[bad].contiguous() if bad.numel() else t.new_empty(0)
    if bad.numel():
        rec[bad] = values
    size = len(stream) + 8 * bad.numel() + values.numel() * values.element_size()
    if size >= count * t.element_size():
        return None
    fields = {"kind": "lossy", "domain": DTYPE_NAMES[domain], "absolute_bound": float(eb).hex(),
              "stream_bytes": len(stream), "fixups": int(bad.numel())}
    return [stream, bad.numpy(), raw_bytes(values).numpy()], fields, rec


def decode_lossy(meta, payload, reference, count, threads=None):
    """The reconstructed domain (flat) of a lossy record."""
    threads = _threads() if threads is None else threads
    domain = DTYPES.get(meta.get("domain"))
    n_stream, n_fix = meta.get("stream_bytes"), meta.get("fixups")
    if domain not in LOSSY_DTYPES or not _count(n_stream) or not _count(n_fix):
        raise CheckpointError("damaged manifest: a lossy record without its domain, stream size or fixups")
    itemsize = torch.empty(0, dtype=domain).element_size()
    if n_stream + n_fix * (8 + itemsize) != len(payload) or n_fix > count:
        raise CheckpointError("damaged manifest: a lossy record's sizes do not add up")
    if reference is not None and (reference.numel() != count or reference.dtype != domain):
        raise CheckpointError("the base record does not match the delta stored against it")
    view = memoryview(payload)
    stream = view[:n_stream]
    if count:
        header = _az.inspect(stream)
        if header["element_count"] != count or header["dtype"] != DTYPE_NAMES[_stream_dtype(domain)]:
            raise CheckpointError("damaged record: its stream does not hold the tensor the manifest describes")
        rec = _reconstruct(stream, reference, count, domain, threads)
    else:
        rec = torch.empty(0, dtype=domain)
    if n_fix:
        positions = torch.frombuffer(bytearray(view[n_stream:n_stream + 8 * n_fix]), dtype=torch.int64)
        if bool((positions < 0).any()) or bool((positions >= count).any()):
            raise CheckpointError("damaged record: a fixup outside the tensor")
        values = torch.frombuffer(bytearray(view[n_stream + 8 * n_fix:]), dtype=torch.uint8).view(domain)
        rec[positions] = values
    return rec


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
