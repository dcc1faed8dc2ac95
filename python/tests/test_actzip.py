# SPDX-License-Identifier: Apache-2.0
"""Tests of the actzip Python package (CPU): round trips with the bound checked on every
element, refused and damaged streams, in-place decoding, threads, device refusal."""
import numpy as np
import pytest

import actzip

try:
    import torch
except ImportError:  # the torch tests are skipped
    torch = None
try:
    import ml_dtypes
except ImportError:
    ml_dtypes = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
needs_ml_dtypes = pytest.mark.skipif(ml_dtypes is None, reason="ml_dtypes is not installed (NumPy bfloat16)")

CODECS = ["bitplane", "huffman", "automatic"]
# 1-D to 3-D; chunks are 4096 elements (1-D), 64x64 (2-D), 16x16x16 (3-D): most shapes do not divide them.
SHAPES = [(0,), (1,), (4096,), (5000,), (0, 7), (1, 1), (65, 130), (3, 0, 4), (5, 17, 33), (17, 16, 18)]
NUMPY_DTYPES = ["float32", "float64", "float16"] + (["bfloat16"] if ml_dtypes is not None else [])


def numpy_dtype(name):
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def sample(shape, dtype, seed=0, specials=True):
    """Smooth data with noise, zeros, and (when non-empty) NaN, +Inf, -Inf."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    t = np.linspace(0, 20, n)
    x = np.sin(t) * 3 + rng.normal(0, 0.05, n)
    x[::11] = 0.0
    if specials and n >= 4:
        x[1], x[n // 2], x[-1] = np.nan, np.inf, -np.inf
    return x.astype(numpy_dtype(dtype)).reshape(shape)


def check_bound(x, y, stream):
    """|x - y| <= the stream's absolute bound on every finite element; NaN and Inf kept exactly."""
    h = actzip.inspect(stream)
    assert y.shape == x.shape and h["shape"] == x.shape
    a = np.asarray(x, dtype=np.float64).ravel()  # exact widening of every supported type
    b = np.asarray(y, dtype=np.float64).ravel()
    finite = np.isfinite(a)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.array_equal(a[np.isinf(a)], b[np.isinf(a)])
    err = np.abs(a[finite] - b[finite])
    assert err.size == 0 or err.max() <= h["absolute_bound"], (err.max(), h["absolute_bound"])
    assert np.all(b[a == 0] == 0)  # zeros reconstruct to exactly zero
    return h


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_roundtrip_numpy(dtype, shape, codec):
    x = sample(shape, dtype)
    for bound in (actzip.abs(1e-2), actzip.rel(1e-3)):
        z = actzip.compress(x, actzip.Params(bound, codec=codec))
        assert isinstance(z, bytes)
        y = actzip.decompress(z)
        assert y.dtype == x.dtype and y.shape == x.shape
        h = check_bound(x, y, z)
        assert h["dtype"] == dtype and h["codec"] == codec and h["element_count"] == x.size
        assert h["total_bytes"] == len(z) <= actzip.max_compressed_bytes(shape, dtype)
        assert h["bound_mode"] == bound.mode and h["bound_value"] == bound.value


TORCH_DTYPES = ["float32", "float64", "float16", "bfloat16"]


@needs_torch
@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("shape", [(0,), (4097,), (63, 65), (3, 0, 2), (9, 20, 17)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", TORCH_DTYPES)
def test_roundtrip_torch(dtype, shape, codec):
    tdtype = getattr(torch, dtype)
    x = torch.from_numpy(sample(shape, "float32")).to(tdtype)
    z = actzip.compress(x, actzip.Params(actzip.rel(1e-3), codec=codec))
    h = actzip.inspect(z)
    assert h["dtype"] == dtype and h["shape"] == tuple(shape)
    out = torch.empty(shape, dtype=tdtype)
    y = actzip.decompress(z, out=out)
    assert y is out
    check_bound(x.float().numpy() if dtype == "bfloat16" else x.numpy(),
                y.float().numpy() if dtype == "bfloat16" else y.numpy(), z)
    if dtype != "bfloat16" or ml_dtypes is not None:
        # To numpy: the same values (bfloat16 as ml_dtypes.bfloat16).
        back = actzip.decompress(z)
        assert back.dtype.name == dtype
        assert np.array_equal(back.astype(np.float32), y.float().numpy(), equal_nan=True)


@needs_torch
def test_torch_requires_grad_and_bf16_numpy_agree():
    x = torch.randn(100, 30, requires_grad=True)
    z = actzip.compress(x, actzip.abs(1e-3))
    check_bound(x.detach().numpy(), actzip.decompress(z), z)
    if ml_dtypes is not None:
        b = torch.randn(70, 70).to(torch.bfloat16)
        nb = b.view(torch.int16).numpy().view(np.uint16).view(ml_dtypes.bfloat16)  # the same bits in numpy
        assert actzip.compress(b, actzip.rel(1e-2)) == actzip.compress(nb, actzip.rel(1e-2))


def test_bfloat16_without_out_needs_ml_dtypes(monkeypatch):
    if torch is None and ml_dtypes is None:
        pytest.skip("no way to make a bfloat16 array")
    if torch is not None:
        x = torch.randn(10).to(torch.bfloat16)
    else:
        x = np.arange(10, dtype=ml_dtypes.bfloat16)
    z = actzip.compress(x, actzip.abs(0.1))
    monkeypatch.setattr(actzip, "_bfloat16_numpy_dtype", lambda: None)
    with pytest.raises(ImportError, match="ml_dtypes"):
        actzip.decompress(z)


def test_preserve_sign_and_params():
    x = sample((40, 50), "float32", specials=False)
    p = actzip.Params(actzip.rel(1e-1), codec="huffman", preserve_sign=True)
    assert repr(p) == "actzip.Params(actzip.rel(0.1), codec='huffman', preserve_sign=True)"
    assert p.bound == actzip.rel(0.1) and p.codec == "huffman" and p.preserve_sign
    z = actzip.compress(x, p)
    y = actzip.decompress(z)
    check_bound(x, y, z)
    assert actzip.inspect(z)["preserve_sign"]
    assert np.array_equal(np.sign(x), np.sign(y))
    with pytest.raises(ValueError, match="codec"):
        actzip.Params(actzip.abs(1), codec="zstd")
    with pytest.raises(TypeError, match="actzip.abs"):
        actzip.compress(x, 0.1)


def test_non_contiguous_inputs_are_copied_in_c_order():
    x = sample((64, 90), "float64")
    for view in (x[:, ::3], x.T, x[::-2, 5:40], sample((8, 9, 10), "float32").transpose(2, 0, 1)):
        assert not view.flags.c_contiguous
        z = actzip.compress(view, actzip.abs(1e-3))
        assert z == actzip.compress(np.ascontiguousarray(view), actzip.abs(1e-3))
        check_bound(view, actzip.decompress(z), z)
    ro = np.ones(100, np.float32)
    ro.setflags(write=False)  # read-only inputs are fine
    assert actzip.decompress(actzip.compress(ro, actzip.abs(0))).tolist() == [1.0] * 100


def test_decompress_into_out_writes_in_place():
    x = sample((300, 70), "float32")
    z = actzip.compress(x, actzip.abs(1e-4))
    out = np.full((300, 70), 7.0, np.float32)
    address = out.ctypes.data
    y = actzip.decompress(z, out=out)
    assert y is out and out.ctypes.data == address
    check_bound(x, out, z)
    big = np.full(300 * 70 + 5, 7.0, np.float32)  # larger is fine: the first element_count are written
    actzip.decompress(z, out=big)
    assert np.array_equal(big[:-5], out.ravel(), equal_nan=True) and np.all(big[-5:] == 7.0)
    for stream in (bytearray(z), memoryview(z), np.frombuffer(z, np.uint8)):
        assert np.array_equal(actzip.decompress(stream), out, equal_nan=True)
    if torch is not None:
        t = torch.empty(300, 70)
        ptr = t.data_ptr()
        assert actzip.decompress(z, out=t) is t and t.data_ptr() == ptr
        assert np.array_equal(t.numpy(), out, equal_nan=True)


def test_threads_give_identical_streams():
    x = sample((200, 300), "float32")
    for codec in CODECS:
        p = actzip.Params(actzip.rel(1e-3), codec=codec)
        serial = actzip.compress(x, p)
        if not actzip.has_openmp:
            with pytest.raises(actzip.Error, match="OpenMP") as e:
                actzip.compress(x, p, threads=2)
            assert e.value.status == "unsupported"
            continue
        for threads in (1, 2, 4):
            assert actzip.compress(x, p, threads=threads) == serial
        assert np.array_equal(actzip.decompress(serial, threads=2), actzip.decompress(serial), equal_nan=True)
        assert actzip.verify(serial, threads=2)
    with pytest.raises(ValueError, match="threads"):
        actzip.compress(x, actzip.abs(1), threads=0)


def stream():
    return actzip.compress(sample((100, 100), "float32"), actzip.Params(actzip.abs(1e-3), codec="huffman"))


def test_truncated_streams_are_refused_with_the_library_message():
    z = stream()
    assert actzip.verify(z) and actzip.diagnose(z) == ""
    for cut in (0, 3, 100, 128, 140, len(z) // 2, len(z) - 1):
        with pytest.raises(actzip.Error) as e:
            actzip.decompress(z[:cut])
        assert e.value.status in ("not_a_stream", "corrupt_stream"), (cut, e.value.status)
        assert str(e.value).startswith("actzip: ") and "decompress" in str(e.value)
        assert not actzip.verify(z[:cut])
        assert actzip.diagnose(z[:cut]).startswith(e.value.status)
    with pytest.raises(actzip.Error, match="truncated") as e:
        actzip.decompress(z[:-1])
    assert isinstance(e.value, RuntimeError) and e.value.code == 8


def test_flipped_bytes_are_refused():
    z = stream()
    for position in (200, len(z) // 2, len(z) - 1):
        damaged = bytearray(z)
        damaged[position] ^= 0x10
        with pytest.raises(actzip.Error, match="checksum") as e:
            actzip.decompress(damaged)
        assert e.value.status == "checksum_mismatch"
        assert not actzip.verify(damaged)
        assert actzip.diagnose(damaged).startswith("checksum_mismatch")
    damaged = bytearray(z)
    damaged[0] ^= 1
    with pytest.raises(actzip.Error, match="not an actzip stream") as e:
        actzip.inspect(damaged)
    assert e.value.status == "not_a_stream"
    with pytest.raises(TypeError, match="bytes-like"):
        actzip.decompress("not bytes")


def test_wrong_out_is_refused():
    z = stream()
    with pytest.raises(actzip.Error, match="the stream holds float32, out is float64") as e:
        actzip.decompress(z, out=np.empty((100, 100), np.float64))
    assert e.value.status == "dtype_mismatch"
    with pytest.raises(actzip.Error, match="out holds 9999 elements") as e:
        actzip.decompress(z, out=np.empty(9999, np.float32))
    assert e.value.status == "buffer_too_small"
    with pytest.raises(ValueError, match="C-contiguous"):
        actzip.decompress(z, out=np.empty((100, 200), np.float32)[:, ::2])
    ro = np.empty((100, 100), np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        actzip.decompress(z, out=ro)


def test_bad_arguments():
    x = np.ones((2, 2, 2, 2), np.float32)
    with pytest.raises(actzip.Error, match="1-D, 2-D and 3-D") as e:
        actzip.compress(x, actzip.abs(1))
    assert e.value.status == "invalid_argument"
    with pytest.raises(actzip.Error) as e:
        actzip.compress(np.ones(3, np.float32), actzip.abs(-1))
    assert e.value.status == "invalid_argument"
    with pytest.raises(TypeError, match="int64"):
        actzip.compress(np.arange(10), actzip.abs(1))


def test_arrays_without_memory_are_refused():
    if torch is None:
        pytest.skip("torch is not installed")
    with pytest.raises(ValueError, match="device 'meta'.*no memory"):
        actzip.compress(torch.empty(10, device="meta"), actzip.abs(1))
    z = stream()
    with pytest.raises(ValueError, match="device 'meta'"):
        actzip.decompress(z, out=torch.empty(100, 100, device="meta"))


def test_inspect_and_sizes():
    x = sample((70, 80), "float16")
    z = actzip.compress(x, actzip.rel(1e-2))
    h = actzip.inspect(z)
    assert h["version"] == actzip.format_version and h["itemsize"] == 2
    assert h["raw_bytes"] == x.nbytes and h["ratio"] == pytest.approx(x.nbytes / len(z))
    lo, hi = h["value_range"]
    finite = x[np.isfinite(x)].astype(np.float64)
    assert lo == finite.min() and hi == finite.max()
    assert h["absolute_bound"] <= 1e-2 * (hi - lo)
    n = actzip.max_compressed_bytes((70, 80), np.float16)
    assert n >= len(z) and n == actzip.max_compressed_bytes([70, 80], "f16")
    if torch is not None:
        assert actzip.max_compressed_bytes(5000, torch.bfloat16) == actzip.max_compressed_bytes((5000,), "bfloat16")
    assert actzip.__version__.count(".") == 2


def test_jax_arrays():
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.linspace(0, 1, 64 * 80, dtype=jnp.float32).reshape(64, 80) ** 2
    z = actzip.compress(x, actzip.rel(1e-3))  # read through DLPack
    assert z == actzip.compress(np.asarray(x), actzip.rel(1e-3))
    y = jnp.asarray(actzip.decompress(z))
    assert float(jnp.abs(y - x).max()) <= actzip.inspect(z)["absolute_bound"]
    xb = x.astype(jnp.bfloat16)
    zb = actzip.compress(xb, actzip.rel(1e-2))
    assert actzip.inspect(zb)["dtype"] == "bfloat16"
