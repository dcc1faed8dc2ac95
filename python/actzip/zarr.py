# SPDX-License-Identifier: Apache-2.0
"""actzip as a Zarr format 3 codec: an array-to-bytes codec (it takes the place of
the ``bytes`` codec, as ``zarr.codecs.numcodecs.ZFPY`` does), named ``"actzip"`` in
the array metadata and found by Zarr through the entry point in the
``zarr.codecs`` group.

    import zarr, actzip
    from actzip.zarr import ActZip
    z = zarr.create_array("out.zarr", shape=x.shape, chunks=(16, 64, 64), dtype=x.dtype,
                          serializer=ActZip(actzip.abs(1e-3)), compressors=None)
    z[:] = x

Each chunk becomes one actzip stream (checksum included); decoding verifies it and
raises ``actzip.Error`` for a damaged chunk. Bytes-to-bytes compressors after it
gain nothing and are best left out (``compressors=None``). Zarr's float16, float32
and float64 data types are compressed; other data types are refused when the array
is created. The metadata: ``{"name": "actzip", "configuration": {"bound_mode":
"abs"|"rel", "bound": v, "codec": "huffman"|"bitplane"|"automatic",
"preserve_sign": false}}``.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.common import parse_named_configuration

from . import Bound
from .numcodecs import ActZip as _NumcodecsActZip
from .numcodecs import _check_dtype

__all__ = ["ActZip"]


@dataclass(frozen=True)
class ActZip(ArrayBytesCodec):
    """Error-bounded lossy compression with actzip, as a Zarr 3 array-to-bytes codec.
    Arguments as ``actzip.numcodecs.ActZip``."""

    is_fixed_size = False
    bound_mode: str
    bound: float
    codec: str
    preserve_sign: bool

    def __init__(self, bound: Bound, codec: str = "huffman", preserve_sign: bool = False):
        inner = _NumcodecsActZip(bound, codec=codec, preserve_sign=preserve_sign)  # checks every argument
        object.__setattr__(self, "bound_mode", bound.mode)
        object.__setattr__(self, "bound", float(bound.value))
        object.__setattr__(self, "codec", codec)
        object.__setattr__(self, "preserve_sign", bool(preserve_sign))
        object.__setattr__(self, "_inner", inner)

    @classmethod
    def from_dict(cls, data):
        _, configuration = parse_named_configuration(data, "actzip")
        config = _NumcodecsActZip.from_config(configuration or {})
        return cls(config.bound, codec=config.codec, preserve_sign=config.preserve_sign)

    def to_dict(self):
        config = self._inner.get_config()
        config.pop("id")
        return {"name": "actzip", "configuration": config}

    def validate(self, *, shape, dtype, chunk_grid):
        _check_dtype(np.dtype(dtype.to_native_dtype()))

    def _encode_sync(self, chunk_array, chunk_spec):
        array = np.ascontiguousarray(chunk_array.as_numpy_array())  # C order: decoding reshapes in C order
        return chunk_spec.prototype.buffer.from_bytes(self._inner.encode(array))

    def _decode_sync(self, chunk_bytes, chunk_spec):
        array = self._inner.decode(chunk_bytes.as_numpy_array())
        array = array.reshape(chunk_spec.shape)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(array)

    async def _encode_single(self, chunk_array, chunk_spec):
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes, chunk_spec):
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    def compute_encoded_size(self, input_byte_length, chunk_spec):
        raise NotImplementedError("actzip streams are of variable size")
