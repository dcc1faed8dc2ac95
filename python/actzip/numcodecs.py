# SPDX-License-Identifier: Apache-2.0
"""actzip as a numcodecs codec, for Zarr format 2 (``compressor=``) and anything else
that takes numcodecs codecs. For Zarr format 3 use ``actzip.zarr.ActZip``.

    import numcodecs, actzip
    from actzip.numcodecs import ActZip
    codec = ActZip(actzip.abs(1e-3), codec="huffman")
    z = codec.encode(x)                  # one self-describing actzip stream
    y = codec.decode(z)                  # x's shape and dtype, |x - y| <= 1e-3
    numcodecs.get_codec(codec.get_config()) == codec

The codec ID is ``"actzip"``; numcodecs finds the class through the entry point in
the ``numcodecs.codecs`` group, so a store written with it opens wherever actzip is
installed. Arrays of float16, float32, float64 (native byte order) and bfloat16
(``ml_dtypes``) are compressed; other dtypes raise TypeError. Arrays of rank 4 or
more fold to (prod(leading), H, W) as ``actzip.torch.fold_shape`` does; rank 0 to
(1,); a 3-D result with fewer than 16 planes (one time step of a field, say) is coded
as 2-D, (planes × H, W), whose 64 × 64 boxes code such chunks smaller. Decoding verifies the stream's checksum: a damaged chunk raises
``actzip.Error``, never returns values.
"""
from __future__ import annotations

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy

from . import Bound, Params, _actzip, compress, decompress

__all__ = ["ActZip"]

_CODECS = ("bitplane", "huffman", "automatic")
# Depth of the 3-D chunk boxes (16 x 16 x 16); shallower 3-D arrays are coded as 2-D.
_BOX_DEPTH = 16


def _folded(array: np.ndarray) -> np.ndarray:
    """A C-contiguous view (or copy) of rank 1 to 3 with the elements in the order the
    caller's buffer holds them: an F-ordered array is compressed as its transpose, so
    its bytes come back in F order too (Zarr v2 arrays with order="F")."""
    if array.ndim >= 2 and array.flags.f_contiguous and not array.flags.c_contiguous:
        array = array.T
    array = np.ascontiguousarray(array)
    if array.ndim == 0:
        return array.reshape(1)
    if array.ndim > 3:
        array = array.reshape(-1, array.shape[-2], array.shape[-1])
    if array.ndim == 3 and array.shape[0] < _BOX_DEPTH:
        # Shallower than the 3-D chunk boxes: coded as 2-D (the planes' rows one after
        # another), in 64 x 64 boxes instead of e0 x 16 x 16, as the HDF5 filter does.
        return array.reshape(-1, array.shape[-1])
    return array


def _check_dtype(dtype: np.dtype) -> None:
    if dtype.name == "bfloat16":
        return
    if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        raise TypeError(f"actzip compresses float16, bfloat16, float32 and float64 arrays, not {dtype}")
    if not dtype.isnative:
        raise TypeError(f"actzip compresses arrays in the machine's byte order, not {dtype.str}: store the array "
                        f"as {dtype.newbyteorder('=').str}")


class ActZip(Codec):
    """Error-bounded lossy compression with actzip.

    ``bound``: ``actzip.abs(v)`` (every element within v of the original) or
    ``actzip.rel(v)`` (within v times the chunk's range of finite values).
    ``codec``: ``"huffman"`` (smallest), ``"bitplane"`` (fastest) or ``"automatic"``.
    ``preserve_sign``: no non-zero value becomes zero or changes sign.
    """

    codec_id = "actzip"

    def __init__(self, bound: Bound, codec: str = "huffman", preserve_sign: bool = False):
        if not isinstance(bound, Bound):
            raise TypeError(f"bound must be actzip.abs(v) or actzip.rel(v), not {type(bound).__name__}")
        if codec not in _CODECS:
            raise ValueError(f"codec must be one of {_CODECS}, not {codec!r}")
        value = float(bound.value)
        if not np.isfinite(value) or value < 0 or (bound.mode == "rel" and value == 0):
            raise ValueError(f"the bound {value!r} is not a finite "
                             f"{'relative bound > 0' if bound.mode == 'rel' else 'absolute bound >= 0'}")
        self.bound = bound
        self.codec = codec
        self.preserve_sign = bool(preserve_sign)
        self._params = Params(bound, codec=codec, preserve_sign=self.preserve_sign)  # checks the bound

    def encode(self, buf):
        array = np.asarray(buf)
        _check_dtype(array.dtype)
        return compress(_folded(array), self._params)

    def decode(self, buf, out=None):
        data = ensure_contiguous_ndarray(buf)
        array = decompress(data)
        if out is not None:
            return ndarray_copy(array, out)
        return array

    def get_config(self):
        return {"id": self.codec_id, "bound_mode": self.bound.mode, "bound": float(self.bound.value),
                "codec": self.codec, "preserve_sign": self.preserve_sign}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("id", None)
        mode = config.pop("bound_mode", None)
        value = config.pop("bound", None)
        if mode not in ("abs", "rel") or not isinstance(value, (int, float)):
            raise ValueError(f"actzip codec configuration needs bound_mode 'abs' or 'rel' and a numeric bound, "
                             f"got bound_mode={mode!r}, bound={value!r}")
        bound = _actzip.abs(float(value)) if mode == "abs" else _actzip.rel(float(value))
        return cls(bound, **config)

    def __eq__(self, other):
        return isinstance(other, ActZip) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(tuple(sorted(self.get_config().items())))

    def __repr__(self):
        return f"ActZip({self.bound!r}, codec={self.codec!r}, preserve_sign={self.preserve_sign})"
