# SPDX-License-Identifier: Apache-2.0
"""The CUDA path of the actzip module: compress_into and decompress on CUDA arrays, with
buffers the caller allocates, on the stream the caller names, size and status in
device memory.

Runs on whichever CUDA the imported package has:
- a real GPU: PyTorch CUDA tensors (torch.cuda.is_available());
- the emulated build (actzip._actzip.emulated_cuda; tests/CMakeLists.txt builds it):
  the CUDA kernels run on the SIMT emulator and "device" arrays are DLPack arrays
  over host memory that report CUDA device 0;
otherwise the device tests are skipped and only the refusals are checked.
Every stream made on the device must be byte for byte the host executor's.
"""
import numpy as np
import pytest

import actzip

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None
try:
    import ml_dtypes
except ImportError:  # pragma: no cover
    ml_dtypes = None

EMULATED = bool(getattr(actzip._actzip, "emulated_cuda", False))
REAL = actzip.has_cuda and not EMULATED and torch is not None and torch.cuda.is_available()


class FakeCudaArray:
    """Says it lives on CUDA device 0 and nothing else."""

    def __dlpack_device__(self):
        return (2, 0)


class Emulated:
    """Device arrays of the emulated build: DLPack arrays over numpy memory that say
    they are on CUDA device 0 (the emulator's device memory is host memory)."""

    name = "emulated"
    stream = 0

    def __init__(self):
        self.hosts = {}  # id(device array) -> (device array, the numpy array under it)

    def put(self, host, bfloat16=False):
        host = np.array(host, copy=True) if host.flags.c_contiguous else host
        device_array = actzip._actzip._emulated_device_array(host, bfloat16)
        self.hosts[id(device_array)] = (device_array, host)
        return device_array

    def empty(self, shape, dtype, bfloat16=False):
        return self.put(np.zeros(shape, dtype=np.uint16 if bfloat16 else dtype), bfloat16)

    def host(self, device_array):
        return self.hosts[id(device_array)][1]

    def sync(self):
        pass


class Torch:
    """Device arrays of a real GPU: PyTorch CUDA tensors."""

    name = "cuda"

    def __init__(self):
        self.stream = torch.cuda.current_stream()

    def put(self, host, bfloat16=False):
        t = torch.from_numpy(np.ascontiguousarray(host.view(np.int16) if bfloat16 else host)).cuda()
        return t.view(torch.bfloat16) if bfloat16 else t

    def empty(self, shape, dtype, bfloat16=False):
        return torch.empty(shape, dtype=torch.bfloat16 if bfloat16 else getattr(torch, np.dtype(dtype).name),
                           device="cuda")

    def host(self, device_array):
        self.sync()
        t = device_array.cpu()
        return t.view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else t.numpy()

    def sync(self):
        torch.cuda.synchronize()


@pytest.fixture
def dev():
    if EMULATED:
        return Emulated()
    if REAL:
        return Torch()
    pytest.skip("no CUDA: this build of actzip has no CUDA functions, or no GPU is present "
                "(the emulated build runs these tests on the CPU)")


def sample(shape, dtype, seed=3):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(size=shape), axis=-1) * 0.1
    x.flat[::97] = 0.0
    return x.astype(dtype)


DTYPES = ["float32", "float64", "float16", "bfloat16"]


def host_sample(shape, name):
    """(array for the host API, raw bits for the device, is bfloat16)."""
    if name == "bfloat16":
        if ml_dtypes is None:
            pytest.skip("bfloat16 from numpy needs ml_dtypes")
        x = sample(shape, np.float32).astype(ml_dtypes.bfloat16)
        return x, x.view(np.uint16), True
    x = sample(shape, name)
    return x, x, False


def compress_on(dev, bits, shape, bf16, params):
    x_dev = dev.put(bits, bf16)
    capacity = actzip.max_compressed_bytes(shape, "bfloat16" if bf16 else bits.dtype)
    out = dev.empty((capacity,), np.uint8)
    size = dev.empty((1,), np.int64)
    work = dev.empty((max(actzip.workspace_bytes(shape, device="cuda"), 1),), np.uint8)
    assert actzip.compress_into(x_dev, params, out, size=size, workspace=work, stream=dev.stream) is None
    n = int(dev.host(size)[0])
    return out, n


def decompress_on(dev, stream_dev, shape, dtype, bf16, verify_checksum=True):
    out = dev.empty(shape, dtype, bf16)
    status = dev.empty((1,), np.int32)
    work = dev.empty((actzip.decode_workspace_bytes(device="cuda"),), np.uint8)
    r = actzip.decompress(stream_dev, out=out, status=status, workspace=work, stream=dev.stream,
                          verify_checksum=verify_checksum)
    assert r is out
    return out, int(dev.host(status)[0])


@pytest.mark.parametrize("name", DTYPES)
@pytest.mark.parametrize("shape,codec", [((10000,), "bitplane"), ((130, 70), "huffman"), ((20, 17, 33), "automatic")])
def test_device_streams_are_the_host_streams(dev, name, shape, codec):
    x, bits, bf16 = host_sample(shape, name)
    params = actzip.Params(actzip.rel(1e-3), codec=codec)
    want = actzip.compress(x, params)
    out, n = compress_on(dev, bits, shape, bf16, params)
    assert n == len(want)
    got = dev.host(out)[:n].tobytes()
    assert got == want
    head = dev.host(out)[:actzip.HEADER_BYTES].copy()
    assert actzip.inspect(head, size=n)["shape"] == shape
    y, status = decompress_on(dev, out, shape, bits.dtype, bf16)
    assert status == 0
    actzip.check_status(status)
    expected = actzip.decompress(want)  # the host decoder
    if bf16:
        expected = expected.view(np.uint16)
    assert np.array_equal(dev.host(y), expected, equal_nan=True)


def test_damaged_streams_report_their_status_on_the_device(dev):
    shape = (64, 100)
    x = sample(shape, np.float32)
    z = bytearray(actzip.compress(x, actzip.rel(1e-3)))
    z[len(z) // 2] ^= 0x5A
    stream_dev = dev.put(np.frombuffer(bytes(z), dtype=np.uint8).copy())
    _, status = decompress_on(dev, stream_dev, shape, np.float32, False)
    assert status != 0
    with pytest.raises(actzip.Error) as e:
        actzip.check_status(status, "decompress")
    assert e.value.status in ("checksum_mismatch", "corrupt_stream")
    good = dev.put(np.frombuffer(bytes(actzip.compress(x, actzip.rel(1e-3))), dtype=np.uint8).copy())
    _, status = decompress_on(dev, good, shape, np.float64, False)  # wrong dtype
    with pytest.raises(actzip.Error) as e:
        actzip.check_status(status)
    assert e.value.status == "dtype_mismatch"
    _, status = decompress_on(dev, good, (10,), np.float32, False)  # too few elements
    with pytest.raises(actzip.Error) as e:
        actzip.check_status(status)
    assert e.value.status == "buffer_too_small"


def test_empty_tensors(dev):
    x = np.zeros((0,), dtype=np.float32)
    want = actzip.compress(x, actzip.abs(0.1))
    out, n = compress_on(dev, x, (0,), False, actzip.Params(actzip.abs(0.1)))
    assert dev.host(out)[:n].tobytes() == want


def test_device_arguments_are_checked_before_launching(dev):
    shape = (5000,)
    x = dev.put(sample(shape, np.float32))
    cap = actzip.max_compressed_bytes(shape, "float32")
    work = dev.empty((max(actzip.workspace_bytes(shape, device="cuda"), 1),), np.uint8)
    size = dev.empty((1,), np.int64)
    out = dev.empty((cap,), np.uint8)
    p = actzip.rel(1e-3)
    with pytest.raises(ValueError, match="stream="):
        actzip.compress_into(x, p, out, size=size, workspace=work)
    with pytest.raises(ValueError, match="size="):
        actzip.compress_into(x, p, out, workspace=work, stream=dev.stream)
    with pytest.raises(actzip.Error, match="max_compressed_bytes") as e:
        actzip.compress_into(x, p, dev.empty((cap - 1,), np.uint8), size=size, workspace=work, stream=dev.stream)
    assert e.value.status == "buffer_too_small"
    with pytest.raises(TypeError, match="int64"):
        actzip.compress_into(x, p, out, size=dev.empty((1,), np.int32), workspace=work, stream=dev.stream)
    with pytest.raises(TypeError, match="uint8"):
        actzip.compress_into(x, p, dev.empty((cap,), np.float32), size=size, workspace=work, stream=dev.stream)
    with pytest.raises(ValueError, match="CUDA device memory"):
        actzip.compress_into(x, p, np.empty(cap, np.uint8), size=size, workspace=work, stream=dev.stream)
    with pytest.raises(ValueError, match="C-contiguous"):
        strided = dev.put(sample((100, 80), np.float32)[:, ::2]) if EMULATED else \
            torch.zeros(100, 80, device="cuda")[:, ::2]
        actzip.compress_into(strided, p, out, size=size, workspace=work, stream=dev.stream)
    with pytest.raises(TypeError, match="stream must be"):
        actzip.compress_into(x, p, out, size=size, workspace=work, stream="default")
    with pytest.raises(ValueError, match="compress_into"):
        actzip.compress(x, p)
    with pytest.raises(ValueError, match="CUDA stream needs out="):
        actzip.decompress(out)
    with pytest.raises(ValueError, match="host memory"):
        actzip.inspect(out)
    with pytest.raises(ValueError, match="host memory"):
        actzip.verify(out)


class CudaStreamProtocol:
    def __init__(self, handle):
        self.handle = handle

    def __cuda_stream__(self):
        return (0, self.handle)


def test_stream_objects(dev):
    shape = (3000,)
    x = sample(shape, np.float32)
    want = actzip.compress(x, actzip.abs(1e-3))
    handle = dev.stream if isinstance(dev.stream, int) else dev.stream.cuda_stream
    for stream in (handle, CudaStreamProtocol(handle)) + (() if EMULATED else (dev.stream,)):
        x_dev = dev.put(x)
        out = dev.empty((actzip.max_compressed_bytes(shape, "float32"),), np.uint8)
        size = dev.empty((1,), np.uint64)
        work = dev.empty((max(actzip.workspace_bytes(shape, device="cuda"), 1),), np.uint8)
        actzip.compress_into(x_dev, actzip.abs(1e-3), out, size=size, workspace=work, stream=stream)
        n = int(dev.host(size)[0])
        assert dev.host(out)[:n].tobytes() == want


def test_cuda_arrays_without_cuda_are_refused():
    fake = FakeCudaArray()
    if actzip.has_cuda:
        with pytest.raises(ValueError, match="compress_into"):
            actzip.compress(fake, actzip.abs(1))
        return
    with pytest.raises(ValueError, match="CPU-only"):
        actzip.compress(fake, actzip.abs(1))
    with pytest.raises(ValueError, match="CPU-only"):
        actzip.compress_into(fake, actzip.abs(1), np.empty(10, np.uint8))
    with pytest.raises(ValueError, match="CPU-only"):
        actzip.decompress(fake, out=np.empty(10, np.float32))
    with pytest.raises(ValueError, match="CPU-only"):
        actzip.workspace_bytes((10,), device="cuda")


def test_workspace_sizes():
    assert actzip.workspace_bytes((1000, 1000)) == 0
    assert actzip.decode_workspace_bytes() == 0
    if actzip.has_openmp:
        assert actzip.workspace_bytes((1000, 1000), threads=4) > 0
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        actzip.workspace_bytes((10,), device="tpu")
    if actzip.has_cuda:
        assert actzip.workspace_bytes((1000, 1000), device="cuda") > 0
        assert actzip.decode_workspace_bytes(device="cuda") > 0
