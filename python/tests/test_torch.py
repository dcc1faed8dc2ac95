# SPDX-License-Identifier: Apache-2.0
"""actzip.torch over the core module: DLPack without copies, the two layers writing the
same streams, and an import that compiles nothing."""
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import actzip  # noqa: E402
import actzip.torch as az  # noqa: E402

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dlpack_imports_do_not_copy(dtype):
    t = torch.randn(50, 60).to(dtype)
    assert actzip._actzip._address(t) == t.data_ptr()
    view = t[5:, ::2]  # a strided view: imported as it is (the gather into C order is explicit)
    assert actzip._actzip._address(view) == view.data_ptr()
    out = torch.empty(50, 60, dtype=dtype)
    z = actzip.compress(t, actzip.rel(1e-3))
    assert actzip.decompress(z, out=out) is out
    assert actzip._actzip._address(out) == out.data_ptr()


def test_numpy_imports_do_not_copy():
    x = np.random.default_rng(0).normal(size=(30, 40)).astype(np.float32)
    assert actzip._actzip._address(x) == x.__array_interface__["data"][0]
    z = np.frombuffer(actzip.compress(x, actzip.abs(1e-3)), dtype=np.uint8)
    out = np.empty_like(x)
    actzip.decompress(z, out=out)
    assert np.abs(out - x).max() <= 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (7,), (3, 50, 70), (2, 3, 20, 30), (2, 2, 2, 16, 16)])
def test_the_torch_layer_writes_the_core_streams(dtype, shape):
    torch.manual_seed(1)
    x = torch.randn(shape).to(dtype)
    params = actzip.Params(actzip.rel(1e-2), codec="automatic")
    s = az.compress(x, params)
    assert s.dtype == torch.uint8 and s.dim() == 1
    folded = x.contiguous().view(az.fold_shape(x.shape))
    assert bytes(s.numpy()) == actzip.compress(folded, params)
    y = az.decompress(s, dtype, x.shape)
    assert y.shape == x.shape and y.dtype == dtype
    h = az.inspect(s)
    assert float((x.double() - y.double()).abs().max()) <= h["absolute_bound"]
    stream, size = az.compress_async(x, params)
    assert torch.equal(stream, s) and int(size) == s.numel()


def test_refusals_carry_the_library_messages():
    with pytest.raises(actzip.Error, match="unsupported.*int64") as e:
        az.compress(torch.zeros(10, dtype=torch.int64), az.abs_bound(1))
    assert e.value.status == "unsupported"
    s = az.compress(torch.randn(64, 64), az.abs_bound(1e-3))
    with pytest.raises(actzip.Error, match="requested shape has 100 elements, the stream 4096") as e:
        az.decompress(s, torch.float32, (10, 10))
    damaged = s.clone()
    damaged[200] ^= 0x21
    with pytest.raises(actzip.Error) as e:
        az.decompress(damaged, torch.float32, (64, 64))
    assert e.value.status in ("checksum_mismatch", "corrupt_stream")
    assert "stream byte" in str(e.value)


def test_import_compiles_nothing():
    code = ("import sys, actzip.torch; "
            "assert 'torch.utils.cpp_extension' not in sys.modules, 'cpp_extension imported'; print('ok')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


@pytest.mark.skipif(not (actzip.has_cuda and torch.cuda.is_available()), reason="needs a GPU and the CUDA build")
def test_cuda_tensors_on_the_current_stream():
    x = torch.randn(4, 16, 40, 40, device="cuda")
    params = actzip.Params(actzip.rel(1e-3))
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        stream, size = az.compress_async(x, params)
        y = az.decompress(stream, x.dtype, x.shape)
    torch.cuda.synchronize()
    n = int(size.item())
    assert bytes(stream[:n].cpu().numpy()) == actzip.compress(x.cpu().view(az.fold_shape(x.shape)), params)
    assert float((x - y).abs().max()) <= az.inspect(stream[:n])["absolute_bound"]
    assert torch.equal(az.compress(x, params).cpu(), stream[:n].cpu())
