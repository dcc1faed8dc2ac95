# SPDX-License-Identifier: Apache-2.0
"""actzip through the scientists' doors: the HDF5 filter from h5py, h5netcdf/xarray
and netCDF-4 (nccopy, ncdump, netCDF4-python), the numcodecs codec, Zarr format 2 and
3, and xarray's to_zarr. Every round trip checks the bound on every element.

Runs in a plain PyPI virtual environment with the actzip wheel installed
(tests/run-formats.sh): h5py, hdf5plugin, numcodecs, zarr>=3, xarray, h5netcdf,
netCDF4. The netCDF command-line checks need Debian's netcdf-bin and
ferret-datasets and HDF5_PLUGIN_PATH-able Debian libhdf5 (skipped without them).
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import actzip

h5py = pytest.importorskip("h5py")
import actzip.hdf5  # noqa: E402  registers the filter with h5py's HDF5

FERRET = Path("/usr/share/ferret-vis/data")
RNG = np.random.default_rng(7)


def smooth_field(shape, dtype=np.float32):
    """A smooth field with some noise, in [-30, 30]."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.float64)
    x = 20 * np.sin(0.002 * i) + 3 * np.cos(0.013 * (i % 97)) + RNG.normal(0, 0.5, n)
    return x.reshape(shape).astype(dtype)


def max_error(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


# ---- the HDF5 filter from h5py ----------------------------------------------------------

def test_filter_mapping_and_client_data():
    f = actzip.hdf5.Filter(actzip.abs(1e-3), codec="bitplane", preserve_sign=True)
    kwargs = dict(**f)
    assert kwargs["compression"] == actzip.hdf5.FILTER_ID == 386
    low, high = kwargs["compression_opts"][2:4]
    assert np.array([low, high], dtype="<u4").view("<f8")[0] == 1e-3
    assert kwargs["compression_opts"] == (1, 1, low, high, 1, 1)
    assert actzip.hdf5.client_data(actzip.rel(1e-2))[1] == 2
    with pytest.raises(ValueError, match="codec"):
        actzip.hdf5.Filter(actzip.abs(1e-3), codec="lz4")
    with pytest.raises(TypeError, match="actzip.abs"):
        actzip.hdf5.Filter(1e-3)
    assert actzip.hdf5.is_registered()
    assert os.path.isfile(actzip.hdf5.PLUGIN_FILE)


SHAPES = [  # (shape, chunks): chunks that do not divide the shape, rank 1 to 4
    ((10007,), (1000,)),
    ((123, 77), (50, 32)),
    ((21, 37, 45), (8, 16, 16)),
    ((3, 5, 19, 23), (2, 2, 8, 16)),
]
DTYPES = ["<f2", "<f4", "<f8", ">f2", ">f4", ">f8"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,chunks", SHAPES, ids=["rank1", "rank2", "rank3", "rank4"])
def test_h5py_round_trip(tmp_path, dtype, shape, chunks):
    x = smooth_field(shape).astype(dtype)
    bound = 0.25 if np.dtype(dtype).itemsize == 2 else 1e-3
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        for codec in ("bitplane", "huffman", "automatic"):
            f.create_dataset(codec, data=x, chunks=chunks, **actzip.hdf5.Filter(actzip.abs(bound), codec=codec))
    with h5py.File(path, "r") as f:
        for codec in ("bitplane", "huffman", "automatic"):
            d = f[codec]
            assert d._filters[str(actzip.hdf5.FILTER_ID)][:6] == actzip.hdf5.client_data(actzip.abs(bound), codec)
            y = d[...]
            assert y.dtype == np.dtype(dtype) and y.shape == x.shape
            assert max_error(x, y) <= bound, codec
            # partial reads cross chunk edges
            sl = tuple(slice(s // 3, s - 1) for s in shape)
            assert max_error(x[sl], d[sl]) <= bound


def test_h5py_relative_bound_and_fill_values(tmp_path):
    x = smooth_field((40, 90, 70))
    value_range = float(x.max()) - float(x.min())
    path = tmp_path / "fill.h5"
    land = np.zeros(x.shape, bool)
    land[:, 30:50, 10:40] = True
    with h5py.File(path, "w") as f:
        f.create_dataset("rel", data=x, chunks=(16, 32, 32), **actzip.hdf5.Filter(actzip.rel(1e-3)))
        for name, fill in (("big", -1e34), ("inside", -99.5), ("nan", np.nan)):
            d = f.create_dataset(name, shape=x.shape, dtype="f4", chunks=(16, 32, 32), fillvalue=fill,
                                 **actzip.hdf5.Filter(actzip.rel(1e-3)))
            d[:20] = np.where(land, np.float32(fill), x)[:20]  # half written: the rest stays the fill value
    with h5py.File(path, "r") as f:
        assert max_error(x, f["rel"][...]) <= 1e-3 * value_range
        for name, fill in (("big", -1e34), ("inside", -99.5), ("nan", np.nan)):
            y = f[name][...]
            expect_fill = np.zeros(x.shape, bool)
            expect_fill[20:] = True
            expect_fill[:20] |= land[:20]
            if np.isnan(fill):
                assert np.isnan(y[expect_fill]).all() and not np.isnan(y[~expect_fill]).any()
            else:
                assert (y[expect_fill] == np.float32(fill)).all(), name
            # relative to the range of the values other than the fill value
            assert max_error(x[~expect_fill], y[~expect_fill]) <= 1e-3 * value_range, name


@pytest.mark.parametrize("dtype", ["i1", "u2", "i4", "u8", ">i8", "?", "c8", "c16", "S4",
                                   [("a", "f4"), ("b", "f4")], "V8"])
def test_h5py_refuses_non_float_types(tmp_path, dtype):
    with h5py.File(tmp_path / "r.h5", "w") as f:
        with pytest.raises((ValueError, OSError, TypeError)) as info:
            f.create_dataset("x", shape=(100,), dtype=dtype, chunks=(10,), **actzip.hdf5.Filter(actzip.abs(1e-3)))
        assert "x" not in f
    text = str(info.value)
    assert "actzip" in text or "filter" in text.lower() or "can apply" in text.lower(), text


def test_h5py_refused_type_says_why(tmp_path):
    with h5py.File(tmp_path / "r.h5", "w") as f:
        with pytest.raises(Exception) as info:
            f.create_dataset("x", shape=(100,), dtype="i4", chunks=(10,), **actzip.hdf5.Filter(actzip.abs(1e-3)))
    _assert_actzip_refusal(str(info.value), "actzip filter compresses floating-point data only")


def test_h5py_damaged_chunk(tmp_path):
    x = smooth_field((64, 64))
    path = tmp_path / "damaged.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("x", data=x, chunks=(32, 64), **actzip.hdf5.Filter(actzip.abs(1e-3)))
        info = d.id.get_chunk_info(0)
        offset, size = info.byte_offset, info.size
    raw = bytearray(path.read_bytes())
    for position in (120, size // 2, size - 1):
        damaged = bytearray(raw)
        damaged[offset + position] ^= 0x04
        path.write_bytes(damaged)
        with h5py.File(path, "r") as f:
            with pytest.raises(OSError) as error:
                f["x"][...]
            _assert_actzip_refusal(str(error.value), "actzip: checksum mismatch")
            assert max_error(x[32:], f["x"][32:]) <= 1e-3  # the other chunk still reads
    path.write_bytes(raw)
    with h5py.File(path, "r") as f:
        assert max_error(x, f["x"][...]) <= 1e-3


@pytest.mark.parametrize("chunks,coded", [((1, 40, 70), (40, 70)), ((5, 40, 70), (200, 70)),
                                           ((16, 40, 70), (16, 40, 70)), ((1, 2, 40, 70), (80, 70))])
def test_h5py_shallow_chunks_are_coded_2d(tmp_path, chunks, coded):
    # A chunk shallower than 16 planes is one 2-D stream (planes x rows, columns).
    shape = (20, 40, 70) if len(chunks) == 3 else (3, 2, 40, 70)
    x = smooth_field(shape)
    path = tmp_path / "shallow.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("x", data=x, chunks=chunks, **actzip.hdf5.Filter(actzip.abs(1e-3), codec="huffman"))
        stream = d.id.read_direct_chunk((0,) * len(shape))[1]
        assert tuple(actzip.inspect(stream)["shape"]) == coded
    with h5py.File(path, "r") as f:
        assert max_error(x, f["x"][...]) <= 1e-3


def test_h5py_reads_chunks_of_any_fold_and_refuses_other_counts(tmp_path):
    # Earlier writers coded a shallow 3-D chunk as a 3-D stream: any stream with the
    # chunk's element count and type decodes, in C order; another count is refused.
    x = smooth_field((4, 40, 70))
    path = tmp_path / "fold.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("x", data=x, chunks=(2, 40, 70), **actzip.hdf5.Filter(actzip.abs(1e-3), codec="huffman"))
        d.id.write_direct_chunk((0, 0, 0), bytes(actzip.compress(x[:2], actzip.Params(actzip.abs(1e-3), codec="huffman"))))
        d.id.write_direct_chunk((2, 0, 0), bytes(actzip.compress(x[2:3], actzip.Params(actzip.abs(1e-3), codec="huffman"))))
    with h5py.File(path, "r") as f:
        assert max_error(x[:2], f["x"][:2]) <= 1e-3
        with pytest.raises(OSError) as error:
            f["x"][2:]
        _assert_actzip_refusal(str(error.value), "element count")


def _assert_actzip_refusal(text, expected):
    """actzip's message is in the error, or, with HDF5 2.0 (which drops what a filter
    pushes on its error stack), in actzip.hdf5.last_error()."""
    if h5py.version.hdf5_version_tuple >= (2, 0, 0):
        assert expected in actzip.hdf5.last_error(), (text, actzip.hdf5.last_error())
    else:
        assert expected in text, text


def _run(code, env_update):
    env = dict(os.environ)
    env.pop("HDF5_PLUGIN_PATH", None)
    env.update(env_update)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)


def test_h5py_filter_missing_at_read_time(tmp_path):
    x = smooth_field((100, 100))
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, chunks=(50, 50), **actzip.hdf5.Filter(actzip.abs(1e-3)))
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    r = _run(f"""
        import h5py
        with h5py.File({str(path)!r}, "r") as f:
            try:
                f["x"][...]
            except OSError as e:
                print("refused:", e)
            else:
                print("read without the filter")
        """, {"HDF5_PLUGIN_PATH": str(empty)})
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "plugin" in r.stdout.lower(), r.stdout


def test_h5py_through_hdf5_plugin_path(tmp_path):
    """Without importing actzip.hdf5: h5py's own HDF5 loads the plugin from
    HDF5_PLUGIN_PATH, and the plugin binds to it."""
    x = smooth_field((100, 100))
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, chunks=(50, 50), **actzip.hdf5.Filter(actzip.abs(1e-3)))
    r = _run(f"""
        import h5py, numpy as np
        with h5py.File({str(path)!r}, "r") as f:
            np.save({str(tmp_path / 'y.npy')!r}, f["x"][...])
        """, {"HDF5_PLUGIN_PATH": actzip.hdf5.PLUGIN_PATH})
    assert r.returncode == 0, r.stderr
    assert max_error(x, np.load(tmp_path / "y.npy")) <= 1e-3


def test_side_by_side_with_hdf5plugin(tmp_path):
    hdf5plugin = pytest.importorskip("hdf5plugin")
    x = smooth_field((32, 64, 64))
    path = tmp_path / "both.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("actzip", data=x, chunks=(16, 64, 64), **actzip.hdf5.Filter(actzip.abs(1e-2)))
        f.create_dataset("sz3", data=x, chunks=(16, 64, 64), **hdf5plugin.SZ3(absolute=1e-2))
        f.create_dataset("zfp", data=x, chunks=(16, 64, 64), **hdf5plugin.Zfp(accuracy=1e-2))
    with h5py.File(path, "r") as f:
        for name in ("actzip", "sz3", "zfp"):
            assert max_error(x, f[name][...]) <= 1e-2 * (1 + 1e-6), name


# ---- netCDF-4: h5netcdf/xarray, netCDF4-python, nccopy and ncdump --------------------------

def test_xarray_to_netcdf_h5netcdf(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    t = smooth_field((12, 90, 180))
    t[:, 40:50, 60:90] = np.nan  # missing values: xarray's _FillValue is NaN
    ds = xr.Dataset({"t": (("time", "lat", "lon"), t)},
                    coords={"lat": np.linspace(-89, 89, 90), "lon": np.linspace(0, 358, 180)})
    path = tmp_path / "x.nc"
    encoding = {"t": {**actzip.hdf5.Filter(actzip.abs(1e-2)), "chunksizes": (4, 45, 90)}}
    ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)
    back = xr.open_dataset(path, engine="h5netcdf")
    y = back["t"].values
    assert np.array_equal(np.isnan(t), np.isnan(y))
    assert max_error(t[~np.isnan(t)], y[~np.isnan(y)]) <= 1e-2
    back.close()
    with h5py.File(path, "r") as f:
        assert str(actzip.hdf5.FILTER_ID) in f["t"]._filters


def _client_data_text(bound, codec="huffman"):
    return ",".join(str(v) for v in actzip.hdf5.client_data(bound, codec))


def _netcdf_tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} (Debian netcdf-bin) is not installed")
    return path


def test_nccopy_ferret_winds_and_ncdump(tmp_path):
    nccopy = _netcdf_tool("nccopy")
    ncdump = _netcdf_tool("ncdump")
    netCDF4 = pytest.importorskip("netCDF4")
    source = FERRET / "monthly_navy_winds.cdf"
    if not source.is_file():
        pytest.skip("ferret-datasets is not installed")
    out = tmp_path / "winds.nc"
    env = dict(os.environ, HDF5_PLUGIN_PATH=actzip.hdf5.PLUGIN_PATH)
    spec = f"UWND,{actzip.hdf5.FILTER_ID},{_client_data_text(actzip.abs(1e-2))}"
    r = subprocess.run([nccopy, "-k", "nc4", "-c", "UWND:12,73,144", "-F", spec, str(source), str(out)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    header = subprocess.run([ncdump, "-hs", str(out)], capture_output=True, text=True, env=env)
    assert header.returncode == 0 and f"_Filter = \"{actzip.hdf5.FILTER_ID}," in header.stdout, header.stdout
    # the values through netCDF-C (ncdump) with the plugin, and the refusal without it
    data = subprocess.run([ncdump, "-v", "UWND", str(out)], capture_output=True, text=True, env=env)
    assert data.returncode == 0 and "UWND =" in data.stdout
    env_missing = dict(os.environ, HDF5_PLUGIN_PATH=str(tmp_path))
    missing = subprocess.run([ncdump, "-v", "UWND", str(out)], capture_output=True, text=True, env=env_missing)
    assert missing.returncode != 0 and "filter" in (missing.stderr + missing.stdout).lower()
    # every value against the original, with the fill value kept exactly
    with netCDF4.Dataset(source) as src:
        v = src["UWND"]
        v.set_auto_mask(False)
        original = v[...]
        fill = getattr(v, "_FillValue", getattr(v, "missing_value", None))
    with h5py.File(out, "r") as f:
        stored = f["UWND"][...]
        assert str(actzip.hdf5.FILTER_ID) in f["UWND"]._filters
    assert stored.shape == original.shape
    if fill is not None:
        is_fill = original == np.float32(fill)
        assert (stored[is_fill] == original[is_fill]).all()
    else:
        is_fill = np.zeros(original.shape, bool)
    assert max_error(original[~is_fill], stored[~is_fill]) <= 1e-2
    with h5py.File(out, "r") as f:
        assert f["UWND"].id.get_storage_size() < original.nbytes / 3


def test_netcdf4_python_reads_through_plugin_path(tmp_path):
    """netCDF4-python's wheel has an HDF5 library of its own: it loads the plugin from
    HDF5_PLUGIN_PATH, and the plugin binds to that library."""
    pytest.importorskip("netCDF4")
    x = smooth_field((30, 40))
    path = tmp_path / "a.nc"
    with h5py.File(path, "w") as f:  # a netCDF-4 file written by h5py (dimension scales)
        f.create_dataset("x", data=x, chunks=(10, 40), **actzip.hdf5.Filter(actzip.abs(1e-3)))
    r = _run(f"""
        import netCDF4, numpy as np
        with netCDF4.Dataset({str(path)!r}) as d:
            np.save({str(tmp_path / 'y.npy')!r}, d["x"][...].data)
        """, {"HDF5_PLUGIN_PATH": actzip.hdf5.PLUGIN_PATH})
    assert r.returncode == 0, r.stderr
    assert max_error(x, np.load(tmp_path / "y.npy")) <= 1e-3


# ---- numcodecs ------------------------------------------------------------------------------

numcodecs = pytest.importorskip("numcodecs")
from actzip.numcodecs import ActZip  # noqa: E402


def test_numcodecs_registry_and_config():
    codec = ActZip(actzip.rel(1e-3), codec="automatic", preserve_sign=True)
    config = codec.get_config()
    assert config == {"id": "actzip", "bound_mode": "rel", "bound": 1e-3, "codec": "automatic",
                      "preserve_sign": True}
    assert json.loads(json.dumps(config)) == config
    again = numcodecs.get_codec(config)  # through the numcodecs.codecs entry point
    assert isinstance(again, ActZip) and again == codec
    with pytest.raises(ValueError, match="bound_mode"):
        ActZip.from_config({"id": "actzip", "bound": 1e-3})
    for bad in (actzip.abs(-1.0), actzip.rel(0.0), actzip.abs(float("nan"))):
        with pytest.raises(ValueError, match="bound"):
            ActZip(bad)


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8"])
@pytest.mark.parametrize("shape", [(), (1000,), (37, 41), (9, 17, 33), (3, 4, 17, 19), (2, 3, 2, 9, 11)])
def test_numcodecs_round_trip(dtype, shape):
    x = smooth_field(shape if shape else (1,)).reshape(shape).astype(dtype)
    bound = 0.25 if dtype == "f2" else 1e-3
    for codec_name in ("bitplane", "huffman", "automatic"):
        codec = ActZip(actzip.abs(bound), codec=codec_name)
        z = codec.encode(x)
        y = codec.decode(z)
        assert y.dtype == x.dtype and y.size == x.size
        assert max_error(x.ravel(), y.ravel()) <= bound
        out = np.empty(x.shape, x.dtype)
        codec.decode(z, out=out)
        assert max_error(x, out) <= bound


def test_numcodecs_shallow_arrays_are_coded_2d():
    # Fewer than 16 planes: one 2-D stream, as the HDF5 filter codes such chunks.
    for shape, coded in (((9, 17, 33), (153, 33)), ((16, 17, 33), (16, 17, 33)), ((2, 3, 17, 33), (102, 33))):
        x = smooth_field(shape)
        z = ActZip(actzip.abs(1e-3), codec="huffman").encode(x)
        assert tuple(actzip.inspect(z)["shape"]) == coded
        assert max_error(x.ravel(), ActZip(actzip.abs(1e-3)).decode(z).ravel()) <= 1e-3


def test_numcodecs_fortran_order():
    x = np.asfortranarray(smooth_field((30, 40, 50)))
    codec = ActZip(actzip.abs(1e-3))
    y = codec.decode(codec.encode(x))
    # the bytes come back in the order of the input's buffer (what Zarr v2 reshapes)
    assert max_error(x.ravel(order="K"), y.ravel()) <= 1e-3


def test_numcodecs_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = smooth_field((64, 64)).astype(ml_dtypes.bfloat16)
    codec = ActZip(actzip.abs(0.25))
    y = codec.decode(codec.encode(x))
    assert y.dtype == x.dtype and max_error(x.astype(np.float32), y.astype(np.float32)) <= 0.25


@pytest.mark.parametrize("dtype", ["i4", "u1", "?", "c8", ">f4", "M8[s]"])
def test_numcodecs_refuses(dtype):
    with pytest.raises(TypeError, match="actzip compresses"):
        ActZip(actzip.abs(1e-3)).encode(np.zeros(10, dtype=dtype))


def test_numcodecs_damaged():
    x = smooth_field((64, 64))
    codec = ActZip(actzip.abs(1e-3))
    z = bytearray(codec.encode(x))
    for position in (3, 100, len(z) // 2, len(z) - 1):
        bad = bytearray(z)
        bad[position] ^= 0x01
        with pytest.raises(actzip.Error):
            codec.decode(bytes(bad))
    with pytest.raises(actzip.Error):
        codec.decode(bytes(z[: len(z) // 2]))


# ---- Zarr 2 and 3, and xarray's to_zarr ----------------------------------------------------

zarr = pytest.importorskip("zarr")


@pytest.mark.parametrize("order", ["C", "F"])
def test_zarr_format_2(tmp_path, order):
    x = smooth_field((50, 70, 30))
    store = str(tmp_path / "v2.zarr")
    a = zarr.create_array(store, shape=x.shape, chunks=(16, 32, 16), dtype="f4", zarr_format=2, order=order,
                          compressors=ActZip(actzip.abs(1e-3)), filters=None)
    a[...] = x
    meta = json.loads((tmp_path / "v2.zarr" / ".zarray").read_text())
    assert meta["compressor"]["id"] == "actzip"
    b = zarr.open_array(store, mode="r")  # the codec found from its ID
    assert max_error(x, b[...]) <= 1e-3
    assert max_error(x[5:40, 3:69, 7:8], b[5:40, 3:69, 7:8]) <= 1e-3


def _zarr3_array(path, x, chunks, bound=actzip.abs(1e-3)):
    from actzip.zarr import ActZip as ZarrActZip
    a = zarr.create_array(str(path), shape=x.shape, chunks=chunks, dtype=x.dtype, zarr_format=3,
                          serializer=ZarrActZip(bound), compressors=None, fill_value=0)
    a[...] = x
    return a


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8"])
@pytest.mark.parametrize("shape,chunks", [((1001,), (100,)), ((50, 70), (16, 32)), ((21, 37, 45), (8, 16, 16)),
                                          ((3, 5, 19, 23), (2, 2, 8, 16))], ids=["r1", "r2", "r3", "r4"])
def test_zarr_format_3(tmp_path, dtype, shape, chunks):
    x = smooth_field(shape).astype(dtype)
    bound = 0.25 if dtype == "f2" else 1e-3
    _zarr3_array(tmp_path / "v3.zarr", x, chunks, actzip.abs(bound))
    meta = json.loads((tmp_path / "v3.zarr" / "zarr.json").read_text())
    assert meta["codecs"][0]["name"] == "actzip"
    assert meta["codecs"][0]["configuration"]["bound"] == bound
    b = zarr.open_array(str(tmp_path / "v3.zarr"), mode="r")  # the codec found through its entry point
    assert max_error(x, b[...]) <= bound


def test_zarr_format_3_refuses_integers(tmp_path):
    from actzip.zarr import ActZip as ZarrActZip
    with pytest.raises(TypeError, match="actzip compresses"):
        zarr.create_array(str(tmp_path / "i.zarr"), shape=(100,), chunks=(10,), dtype="i4",
                          serializer=ZarrActZip(actzip.abs(1e-3)), compressors=None)


def test_zarr_format_3_damaged_chunk(tmp_path):
    x = smooth_field((64, 64))
    _zarr3_array(tmp_path / "d.zarr", x, (32, 64))
    chunk = tmp_path / "d.zarr" / "c" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x08
    chunk.write_bytes(bytes(data))
    b = zarr.open_array(str(tmp_path / "d.zarr"), mode="r")
    with pytest.raises(actzip.Error, match="checksum"):
        b[...]
    assert max_error(x[32:], b[32:]) <= 1e-3


def test_xarray_to_zarr(tmp_path):
    xr = pytest.importorskip("xarray")
    from actzip.zarr import ActZip as ZarrActZip
    t = smooth_field((12, 90, 180))
    ds = xr.Dataset({"t": (("time", "lat", "lon"), t)},
                    coords={"lat": np.linspace(-89, 89, 90), "lon": np.linspace(0, 358, 180)})
    v3 = tmp_path / "x3.zarr"
    ds.to_zarr(v3, zarr_format=3, consolidated=False,
               encoding={"t": {"serializer": ZarrActZip(actzip.abs(1e-2)), "compressors": None,
                               "chunks": (4, 45, 90)}})
    back = xr.open_zarr(v3, consolidated=False)
    assert max_error(t, back["t"].values) <= 1e-2
    v2 = tmp_path / "x2.zarr"
    ds.to_zarr(v2, zarr_format=2, consolidated=False,
               encoding={"t": {"compressors": ActZip(actzip.abs(1e-2)), "chunks": (4, 45, 90)}})
    back = xr.open_zarr(v2, consolidated=False)
    assert max_error(t, back["t"].values) <= 1e-2
