# SPDX-License-Identifier: Apache-2.0
"""actzip's HDF5 filter for h5py (and h5netcdf, xarray's engine="h5netcdf").

    import h5py, actzip, actzip.hdf5
    with h5py.File("out.h5", "w") as f:
        f.create_dataset("t", data=x, chunks=(16, 64, 64),
                         **actzip.hdf5.Filter(actzip.abs(1e-3), codec="huffman"))

Importing this module registers the filter plugin the package carries
(``PLUGIN_PATH``/libh5actzip.so) with the HDF5 library h5py uses, as hdf5plugin does
for its filters. Other HDF5 programs (h5dump, ncdump, nccopy, C programs) load the
same file when ``HDF5_PLUGIN_PATH`` names ``PLUGIN_PATH``.

Every chunk becomes one actzip stream with its checksum. Element types float16,
float32 and float64 (either byte order) are compressed; any other type is refused
when the dataset is created. A damaged chunk makes the read fail with an OSError;
``last_error()`` gives actzip's message (HDF5 2.0, in h5py's wheels, drops the
messages filters put on its error stack). The filter ID ``FILTER_ID`` is provisional (HDF5's range
for unregistered filters, 256-511) until actzip's ID is registered with The HDF
Group. docs/FORMATS.md has the client-data layout.

``python -m actzip.hdf5`` prints the plugin directory, or with a bound the filter
specification for ``nccopy -F`` and ``h5repack -f``.
"""
from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Mapping

from . import Bound, _actzip

__all__ = ["FILTER_ID", "PLUGIN_PATH", "PLUGIN_FILE", "Filter", "client_data", "register", "is_registered",
           "last_error"]

#: The filter's HDF5 ID. Provisional: HDF5 keeps 256-511 for filters not registered
#: with The HDF Group; the ID changes once actzip's is registered.
FILTER_ID: int = 386
#: The directory holding the plugin: the value for HDF5_PLUGIN_PATH.
PLUGIN_PATH: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins")
#: The plugin library itself.
PLUGIN_FILE: str = os.path.join(PLUGIN_PATH, "libh5actzip.so")

_CODECS = {"bitplane": 1, "huffman": 2, "automatic": 3}
_MODES = {"abs": 1, "rel": 2}
_CLIENT_DATA_VERSION = 1


def client_data(bound: Bound, codec: str = "huffman", preserve_sign: bool = False) -> tuple:
    """The filter's six client-data values (``cd_values``) for a bound
    (``actzip.abs(v)`` or ``actzip.rel(v)``; a relative bound is relative to each
    chunk's range of finite values other than the fill value), a codec
    (``"bitplane"``, ``"huffman"``, ``"automatic"``) and preserve_sign:
    (layout version 1, bound mode 1/2, the bound's binary64 bits low and high 32,
    codec 1/2/3, preserve_sign 0/1)."""
    if not isinstance(bound, Bound):
        raise TypeError(f"bound must be actzip.abs(v) or actzip.rel(v), not {type(bound).__name__}")
    if codec not in _CODECS:
        raise ValueError(f"codec must be one of {sorted(_CODECS)}, not {codec!r}")
    value = float(bound.value)
    mode = _MODES[bound.mode]
    if not (value == value and abs(value) != float("inf")) or value < 0 or (mode == 2 and value == 0):
        raise ValueError(f"the bound {value!r} is not a finite {'relative bound > 0' if mode == 2 else 'bound >= 0'}")
    low, high = struct.unpack("<II", struct.pack("<d", value))
    return (_CLIENT_DATA_VERSION, mode, low, high, _CODECS[codec], 1 if preserve_sign else 0)


class Filter(Mapping):
    """The keyword arguments that make h5py's ``create_dataset`` compress with
    actzip: ``create_dataset(name, data=x, chunks=..., **Filter(actzip.abs(1e-3)))``
    (``compression=FILTER_ID``, ``compression_opts=client_data(...)``), like
    hdf5plugin's filters. ``filter_id`` and ``filter_options`` hold the same values
    (h5py's ``FilterRefBase`` protocol)."""

    filter_name = "actzip"

    def __init__(self, bound: Bound, codec: str = "huffman", preserve_sign: bool = False):
        self.filter_id = FILTER_ID
        self.filter_options = client_data(bound, codec, preserve_sign)
        self.bound, self.codec, self.preserve_sign = bound, codec, bool(preserve_sign)

    @property
    def _kwargs(self):
        return {"compression": self.filter_id, "compression_opts": self.filter_options}

    def __getitem__(self, key):
        return self._kwargs[key]

    def __iter__(self):
        return iter(self._kwargs)

    def __len__(self):
        return len(self._kwargs)

    def __hash__(self):
        return hash((self.filter_id, self.filter_options))

    def __eq__(self, other):
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __repr__(self):
        return f"actzip.hdf5.Filter({self.bound!r}, codec={self.codec!r}, preserve_sign={self.preserve_sign})"


_plugin = None  # the ctypes handle, kept for the life of the process


def last_error() -> str:
    """actzip's message for the last chunk, type or client data the filter refused on
    this thread ("" if none). HDF5 up to 1.14 puts it on the error stack of the call
    that failed; HDF5 2.0 (h5py's wheels from 3.15) drops what a filter pushes there,
    so h5py's OSError says only "filter returned failure during read": this tells why."""
    lib = _plugin if _plugin is not None else _load()
    return lib.actzip_h5z_last_error().decode(errors="replace")


def _load():
    if not os.path.isfile(PLUGIN_FILE):
        raise ImportError(f"actzip.hdf5: the filter plugin {PLUGIN_FILE} is missing (this actzip package was built "
                          "without ACTZIP_BUILD_HDF5_FILTER)")
    lib = ctypes.CDLL(PLUGIN_FILE)
    lib.actzip_h5z_bind.argtypes = [ctypes.c_char_p]
    lib.actzip_h5z_bind.restype = ctypes.c_int
    lib.actzip_h5z_bind_error.restype = ctypes.c_char_p
    lib.actzip_h5z_last_error.restype = ctypes.c_char_p
    lib.H5PLget_plugin_info.restype = ctypes.c_void_p
    return lib


def is_registered() -> bool:
    """True when h5py's HDF5 library has the actzip filter."""
    import h5py
    return h5py.h5z.filter_avail(FILTER_ID) > 0


def register(force: bool = False) -> None:
    """Registers the plugin with h5py's HDF5 library (done on import). Binds the plugin
    to that library first. Raises ImportError when the plugin is missing or cannot be
    bound (its message says why); ``force`` registers again even if registered."""
    global _plugin
    import h5py
    if is_registered() and not force:
        return
    lib = _load()
    if lib.actzip_h5z_bind(os.fsencode(h5py.h5z.__file__)) != 0:
        raise ImportError("actzip.hdf5: cannot bind the filter plugin to h5py's HDF5 library: "
                          + lib.actzip_h5z_bind_error().decode(errors="replace"))
    info = lib.H5PLget_plugin_info()
    if not info:
        raise ImportError("actzip.hdf5: the filter plugin gave no filter class: "
                          + lib.actzip_h5z_bind_error().decode(errors="replace"))
    h5py.h5z.register_filter(info)
    _plugin = lib


def _main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m actzip.hdf5", description=(
        "Prints the directory of actzip's HDF5 filter plugin (for HDF5_PLUGIN_PATH), or, with a bound, "
        "the filter specification for nccopy -F and h5repack -f."))
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--abs", type=float, help="absolute bound")
    group.add_argument("--rel", type=float, help="bound relative to each chunk's value range")
    parser.add_argument("--codec", default="huffman", choices=sorted(_CODECS))
    parser.add_argument("--preserve-sign", action="store_true")
    parser.add_argument("--variable", default="*", help="the variable for nccopy -F (default: every one)")
    args = parser.parse_args(argv)
    if args.abs is None and args.rel is None:
        print(PLUGIN_PATH)
        return 0
    bound = _actzip.abs(args.abs) if args.abs is not None else _actzip.rel(args.rel)
    values = ",".join(str(v) for v in client_data(bound, args.codec, args.preserve_sign))
    print(f"nccopy -F '{args.variable},{FILTER_ID},{values}'")
    print(f"h5repack -f UD={FILTER_ID},0,6,{values}")
    return 0


try:
    import h5py as _h5py  # noqa: F401
except ImportError:  # the filter needs h5py; client_data and Filter do not
    _h5py = None
if _h5py is not None and __name__ != "__main__":
    register()

if __name__ == "__main__":
    raise SystemExit(_main())
