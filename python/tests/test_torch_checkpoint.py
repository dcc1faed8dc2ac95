# SPDX-License-Identifier: Apache-2.0
"""actzip.torch.checkpoint: round trips of nested states with every dtype, model and
AdamW state within their bounds, chains of deltas that stay within one bound, damaged
files and wrong bases refused, and a writer killed in the middle of a save."""
import collections
import hashlib
import json
import math
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import actzip  # noqa: E402
from actzip.torch import checkpoint as ckpt  # noqa: E402

FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
EXACT_DTYPES = [d for d in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool,
                            torch.complex64, torch.complex128, getattr(torch, "uint16", None),
                            getattr(torch, "uint32", None), getattr(torch, "float8_e4m3fn", None)) if d is not None]


def _rand(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_complex:
        return torch.randn(shape, generator=g, dtype=dtype)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    info = torch.iinfo(dtype)
    lo, hi = max(info.min, -1000), min(info.max, 1000)
    return torch.randint(lo, hi, shape, generator=g, dtype=torch.int64).to(dtype)


def _bits_equal(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))


def _within(x, y, bound):
    """|y - x| <= bound * (max - min) for every element (NaN matches NaN)."""
    x, y = x.double().reshape(-1), y.double().reshape(-1)
    finite = x[torch.isfinite(x)]
    eb = bound * float(finite.max() - finite.min())
    ok = ((y - x).abs() <= eb) | (x == y) | (torch.isnan(x) & torch.isnan(y))
    return bool(ok.all())


def test_nested_state_round_trip(tmp_path):
    shared = _rand((64, 80), torch.float32, 1)
    meta = collections.OrderedDict(a=torch.zeros(3))
    meta._metadata = {"": {"version": 2}, "layer": {"version": 1}}
    state = {
        "floats": {str(d): _rand((70, 90), d, i) for i, d in enumerate(FLOATS)},
        "small": {str(d): _rand((5, 7), d, 9) for d in FLOATS},
        "exact": [_rand((33, 17), d, 3) for d in EXACT_DTYPES],
        "shapes": (torch.tensor(3.5), torch.zeros(0, 4), torch.ones(2, 0, 3, dtype=torch.int64),
                   _rand((3, 4, 5, 6, 7), torch.float32, 4).transpose(1, 3)),
        "tied": [shared, shared.view(64, 80), shared.detach()],
        "param": torch.nn.Parameter(_rand((10, 10), torch.float32)),
        "python": [None, True, False, 0, -(2 ** 100), 1.5, float("inf"), float("-inf"), float("nan"), -0.0, "text",
                   b"\x00\xffbytes", (1, (2, 3)), {1: "int key", (2, "t"): "tuple key", 2.5: None, None: 0}],
        "torch": [torch.float16, torch.Size([2, 3]), torch.device("cpu")],
        "numpy": [np.arange(12, dtype=np.int32).reshape(3, 4), np.float64(2.25), np.array([True, False]),
                  np.random.default_rng(0).random((4, 4)).astype(np.float32)],
        "ordered": meta,
        "rng": torch.get_rng_state(),
    }
    path = tmp_path / "state.azc"
    info = ckpt.save(state, path, bound=1e-3, min_numel=1000)
    assert info["bytes"] == path.stat().st_size and info["depth"] == 0
    back = ckpt.load(path)
    assert set(back) == set(state)
    for d in FLOATS:
        x, y = state["floats"][str(d)], back["floats"][str(d)]
        assert y.dtype == d and y.shape == x.shape
        assert _within(x, y, 1e-3) and not torch.equal(x, y)  # lossy, within the bound
        assert _bits_equal(state["small"][str(d)], back["small"][str(d)])  # under min_numel: exact
    for x, y in zip(state["exact"], back["exact"]):
        assert _bits_equal(x, y)
    for x, y in zip(state["shapes"], back["shapes"]):
        assert y.shape == x.shape and y.dtype == x.dtype and y.is_contiguous()
    assert _within(state["shapes"][3], back["shapes"][3], 1e-3)  # 5-D, non-contiguous
    t0, t1, t2 = back["tied"]
    assert t0 is t1 is t2 and _within(shared, t0, 1e-3)
    assert isinstance(back["param"], torch.nn.Parameter) and back["param"].requires_grad
    p = back["python"]
    assert p[:6] == state["python"][:6] and type(p[4]) is int and p[6] == math.inf and p[7] == -math.inf
    assert math.isnan(p[8]) and math.copysign(1, p[9]) == -1 and p[10:12] == ["text", b"\x00\xffbytes"]
    assert p[12] == (1, (2, 3)) and isinstance(p[12], tuple) and p[13] == state["python"][13]
    assert back["torch"] == state["torch"]
    n = back["numpy"]
    assert np.array_equal(n[0], state["numpy"][0]) and n[0].dtype == np.int32
    assert isinstance(n[1], np.float64) and n[1] == 2.25 and n[2].dtype == bool
    assert np.array_equal(n[3], state["numpy"][3])
    assert type(back["ordered"]) is collections.OrderedDict and back["ordered"]._metadata == meta._metadata
    assert torch.equal(back["rng"], state["rng"])
    # bound=None: every floating tensor exactly.
    ckpt.save(state, path, bound=None, min_numel=1000)
    back = ckpt.load(path)
    for d in FLOATS:
        assert _bits_equal(state["floats"][str(d)], back["floats"][str(d)])


def test_non_finite_values_and_constant_tensors(tmp_path):
    x = torch.randn(100, 100)
    x[0, :5] = torch.tensor([float("nan"), float("inf"), float("-inf"), 1e30, -1e30])
    state = {"x": x, "const": torch.full((80, 80), 0.25), "zeros": torch.zeros(9000, dtype=torch.float16)}
    ckpt.save(state, tmp_path / "a.azc", bound=1e-2)
    back = ckpt.load(tmp_path / "a.azc")
    assert _within(x, back["x"], 1e-2)
    assert torch.isnan(back["x"][0, 0]) and back["x"][0, 1] == math.inf and back["x"][0, 2] == -math.inf
    assert torch.equal(back["const"], state["const"]) and torch.equal(back["zeros"], state["zeros"])


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(96, 128)
        self.norm = torch.nn.BatchNorm1d(128)
        self.b = torch.nn.Linear(128, 64)
        self.emb = torch.nn.Embedding(200, 32)  # rows never used keep zero moments

    def forward(self, x, ids):
        return self.b(torch.relu(self.norm(self.a(x)))).sum(1) + self.emb(ids).sum(1)


def _train(model, opt, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(32, 96, generator=g)
        ids = torch.randint(0, 50, (32, 3), generator=g)
        loss = (model(x, ids) - 1).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _adam_checks(saved, loaded, exp_avg_bound, exp_avg_sq_bound):
    """The documented guarantees of the moments, element by element."""
    groups = saved["param_groups"]
    checked = zeros = 0
    for key, st in saved["state"].items():
        m, v = st["exp_avg"], st["exp_avg_sq"]
        mb, vb = loaded["state"][key]["exp_avg"], loaded["state"][key]["exp_avg_sq"]
        assert _bits_equal(st["step"], loaded["state"][key]["step"]) if torch.is_tensor(st["step"]) else \
            st["step"] == loaded["state"][key]["step"]
        if m.numel() < ckpt.DEFAULT_MIN_NUMEL:
            assert torch.equal(m, mb) and torch.equal(v, vb)
            continue
        group = next(g for g in groups if key in g["params"])
        floor = group["eps"] * math.sqrt(1 - group["betas"][1] ** float(st["step"]))
        ratio = (vb.double().sqrt() + floor) / (v.double().sqrt() + floor)
        assert float(ratio.log().abs().max()) <= exp_avg_sq_bound * (1 + 1e-4)
        err = (mb.double() - m.double()).abs() / (vb.double().sqrt() + floor)
        assert float(err.max()) <= exp_avg_bound * (1 + 1e-4)
        # The embedding's unused rows: zero moments come back as zero.
        assert bool((vb[v == 0] == 0).all()) and bool((mb[m == 0] == 0).all())
        zeros += int((v == 0).sum())
        checked += 1
    assert checked >= 3 and zeros > 0


def test_model_and_adamw_state(tmp_path):
    torch.manual_seed(0)
    model = _Net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    _train(model, opt, 5, 0)
    state = {"model": model.state_dict(), "optim": opt.state_dict(), "step": 5}
    info = ckpt.save(state, tmp_path / "c.azc")
    assert {"value", "exp_avg", "exp_avg_sq", "exact"} <= set(info["roles"])
    back = ckpt.load(tmp_path / "c.azc")
    _adam_checks(state["optim"], back["optim"], ckpt.DEFAULT_EXP_AVG_BOUND, ckpt.DEFAULT_EXP_AVG_SQ_BOUND)
    assert back["optim"]["param_groups"] == state["optim"]["param_groups"]
    for k, x in state["model"].items():
        if x.is_floating_point() and x.numel() >= ckpt.DEFAULT_MIN_NUMEL:
            assert _within(x, back["model"][k], ckpt.DEFAULT_BOUND)
        else:
            assert _bits_equal(x, back["model"][k])  # BatchNorm statistics, biases, num_batches_tracked
    model2 = _Net()
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-3, weight_decay=0.1)
    model2.load_state_dict(back["model"])
    opt2.load_state_dict(back["optim"])
    _train(model2, opt2, 2, 1)  # training resumes
    # moments="plain": the moments at a bound relative to their range, which the small
    # entries of v do not survive (the reason for the transforms).
    ckpt.save(state, tmp_path / "plain.azc", moments="plain")
    plain = ckpt.load(tmp_path / "plain.azc")["optim"]
    worst = 0.0
    for key, st in state["optim"]["state"].items():
        v, vb = st["exp_avg_sq"], plain["state"][key]["exp_avg_sq"]
        if v.numel() >= ckpt.DEFAULT_MIN_NUMEL:
            worst = max(worst, float(((vb.double().sqrt() + 1e-8) / (v.double().sqrt() + 1e-8)).log().abs().max()))
    assert worst > 1.0


def test_delta_chain_stays_within_one_bound(tmp_path):
    torch.manual_seed(0)
    model = _Net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    paths, states = [], []
    for i in range(6):
        _train(model, opt, 3, i)
        state = {"model": model.state_dict(), "optim": opt.state_dict()}
        states.append({"model": {k: v.clone() for k, v in state["model"].items()},
                       "optim": {"state": {k: {n: t.clone() for n, t in s.items()}
                                           for k, s in state["optim"]["state"].items()},
                                 "param_groups": state["optim"]["param_groups"]}})
        path = tmp_path / f"step{i}.azc"
        info = ckpt.save(state, path, base=paths[-1] if paths else None, bound=1e-3)
        assert info["depth"] == i
        paths.append(path)
    full, last = ckpt.inspect(paths[0]), ckpt.inspect(paths[-1])
    assert last["base"]["path"] == "step4.azc" and last["depth"] == 5
    deltas = [r for r in last["records"] if "reference" in r]
    assert deltas and all(r["transform"] != "scaled" for r in deltas)
    big = [r for r in full["records"] if r["role"] == "value" and r["kind"] == "lossy"]
    assert sum(r["length"] for r in deltas if r["role"] == "value") < sum(r["length"] for r in big)
    for path, saved in zip(paths, states):
        back = ckpt.load(path)
        for k, x in saved["model"].items():
            if x.is_floating_point() and x.numel() >= ckpt.DEFAULT_MIN_NUMEL:
                assert _within(x, back["model"][k], 1e-3), (path.name, k)
        _adam_checks(saved["optim"], back["optim"], ckpt.DEFAULT_EXP_AVG_BOUND, ckpt.DEFAULT_EXP_AVG_SQ_BOUND)
    assert ckpt.verify(paths[-1]) == [str(p) for p in reversed(paths)]


def _small_checkpoint(path):
    g = torch.Generator().manual_seed(5)
    state = {"w": torch.randn(64, 70, generator=g), "b": torch.arange(10), "s": "x", "f": 0.5}
    ckpt.save(state, path, bound=1e-2)
    return state


def test_every_damaged_byte_and_truncation_is_refused(tmp_path):
    path = tmp_path / "a.azc"
    _small_checkpoint(path)
    good = path.read_bytes()
    assert len(good) < 30000
    damaged = tmp_path / "d.azc"
    # Every byte of the header, the trailer and the manifest's end, and a stride over the rest.
    positions = sorted(set(range(0, 64)) | set(range(len(good) - 200, len(good))) | set(range(64, len(good), 13)))
    for pos in positions:
        data = bytearray(good)
        data[pos] ^= 0x5A
        damaged.write_bytes(bytes(data))
        with pytest.raises(ckpt.CheckpointError):
            ckpt.load(damaged)
    for cut in list(range(0, 200, 7)) + list(range(len(good) - 130, len(good))):
        damaged.write_bytes(good[:cut])
        with pytest.raises(ckpt.CheckpointError):
            ckpt.load(damaged)
    damaged.write_bytes(good + b"\x00")
    with pytest.raises(ckpt.CheckpointError, match="truncated or damaged|trailer"):
        ckpt.load(damaged)
    torch.save({"w": torch.zeros(3)}, damaged)
    with pytest.raises(ckpt.CheckpointError, match="not an actzip checkpoint"):
        ckpt.load(damaged)
    with pytest.raises(FileNotFoundError):
        ckpt.load(tmp_path / "missing.azc")


def test_wrong_missing_and_damaged_bases_are_refused(tmp_path):
    base, delta = tmp_path / "base.azc", tmp_path / "delta.azc"
    state = _small_checkpoint(base)
    state["w"] = state["w"] + 1e-3
    ckpt.save(state, delta, base=base, bound=1e-2)
    assert "reference" in next(r for r in ckpt.inspect(delta)["records"] if r["name"] == "w")
    good_base = base.read_bytes()
    ckpt.load(delta)
    _small_checkpoint(base)  # another checkpoint (same values, new id) at the base's path
    with pytest.raises(ckpt.BaseCheckpointError, match="not the base it was saved against"):
        ckpt.load(delta)
    base.unlink()
    with pytest.raises(ckpt.BaseCheckpointError, match="missing"):
        ckpt.load(delta)
    data = bytearray(good_base)
    data[100] ^= 1
    base.write_bytes(bytes(data))
    with pytest.raises(ckpt.BaseCheckpointError, match="cannot be read"):
        ckpt.load(delta)
    base.write_bytes(good_base)
    assert torch.equal(ckpt.load(delta)["b"], state["b"])
    with pytest.raises(ValueError, match="base"):
        ckpt.save(state, base, base=delta)  # would overwrite the base of its own base
    with pytest.raises(ValueError, match="base"):
        ckpt.save(state, delta, base=delta)
    # A chain moved as a whole keeps working: bases are found by relative path.
    moved = tmp_path / "moved"
    moved.mkdir()
    os.replace(base, moved / "base.azc")
    os.replace(delta, moved / "delta.azc")
    assert torch.equal(ckpt.load(moved / "delta.azc")["b"], state["b"])


def test_refusals(tmp_path):
    path = tmp_path / "x.azc"
    with pytest.raises(TypeError, match=r"state\['a'\]\[0\].*pickled"):
        ckpt.save({"a": [object()]}, path)
    with pytest.raises(TypeError, match="layout"):
        ckpt.save({"s": torch.eye(3).to_sparse()}, path)
    with pytest.raises(ValueError, match="bound"):
        ckpt.save({}, path, bound=-1)
    with pytest.raises(ValueError, match="codec"):
        ckpt.save({}, path, codec="zip")
    assert not path.exists() and not list(tmp_path.iterdir())


def test_map_location(tmp_path):
    path = tmp_path / "m.azc"
    ckpt.save({"w": torch.randn(70, 70)}, path)
    assert ckpt.load(path, map_location="cpu")["w"].device.type == "cpu"
    assert ckpt.load(path, map_location={"cpu": "cpu"})["w"].device.type == "cpu"
    seen = []
    ckpt.load(path, map_location=lambda t, device: seen.append(device) or t)
    assert seen == ["cpu"]


def test_container_layout_matches_the_documentation(tmp_path):
    """docs/CHECKPOINT.md: header, records, manifest, trailer; each lossy record an actzip stream."""
    path = tmp_path / "a.azc"
    _small_checkpoint(path)
    data = path.read_bytes()
    magic, version, header_size, ident, reserved = struct.unpack("<8sII16s32s", data[:64])
    assert magic == b"\x89AZCKPT\n" and version == 1 and header_size == 64 and not any(reserved)
    offset, length, digest, reserved, end = struct.unpack("<QQ32s8s8s", data[-64:])
    assert end == b"AZCKEND\n" and offset + length + 64 == len(data)
    body = data[offset:offset + length]
    assert hashlib.sha256(body).digest() == digest
    manifest = json.loads(body)
    assert manifest["format"] == "actzip.checkpoint" and manifest["id"] == ident.hex()
    lossy = [r for r in manifest["records"] if r["kind"] == "lossy"]
    assert len(lossy) == 1
    for r in manifest["records"]:
        record = data[r["offset"]:r["offset"] + r["length"]]
        assert hashlib.sha256(record).hexdigest() == r["sha256"]
    r = lossy[0]
    stream = data[r["offset"]:r["offset"] + r["stream_bytes"]]
    assert actzip.verify(stream)
    header = actzip.inspect(stream)
    assert header["element_count"] == 64 * 70 and header["bound_mode"] == "abs"
    assert header["absolute_bound"] <= float.fromhex(r["absolute_bound"])


_KILLED_WRITER = r"""
import sys, time, torch
from actzip.torch import checkpoint as ckpt
from actzip.torch.checkpoint import container
path, flag = sys.argv[1], sys.argv[2]
add = container.Writer.add
def slow_add(self, parts):
    entry = add(self, parts)
    if entry["offset"] > 64:
        open(flag, "w").close()   # the temporary file holds records: the parent kills us now
        time.sleep(60)
    return entry
container.Writer.add = slow_add
state = {f"t{i}": torch.full((100, 100), float(i)) + torch.randn(100, 100) for i in range(8)}
ckpt.save(state, path)
"""


def test_a_writer_killed_mid_save_leaves_the_old_checkpoint(tmp_path):
    path, flag = tmp_path / "c.azc", tmp_path / "flag"
    old = {"w": torch.randn(80, 80), "step": 1}
    ckpt.save(old, path)
    before = path.read_bytes()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path), str(flag)], env=env)
    try:
        deadline = time.time() + 120
        while not flag.exists():
            assert child.poll() is None, "the writer ended before it was killed"
            assert time.time() < deadline
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    back = ckpt.load(path)
    assert back["step"] == 1 and _within(old["w"], back["w"], ckpt.DEFAULT_BOUND)
    partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert len(partial) == 1 and partial[0].name.startswith(".c.azc.")
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load(partial[0])


def test_an_error_mid_save_leaves_the_old_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "c.azc"
    ckpt.save({"w": torch.randn(80, 80)}, path)
    before = path.read_bytes()
    from actzip.torch.checkpoint import container
    add = container.Writer.add
    calls = []

    def failing_add(self, parts):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return add(self, parts)

    monkeypatch.setattr(container.Writer, "add", failing_add)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save({"a": torch.randn(80, 80), "b": torch.randn(80, 80)}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["c.azc"]


_PEAK = r"""
import resource, sys, torch
from actzip.torch import checkpoint as ckpt
torch.set_num_threads(1)
state = {f"t{i}": torch.randn(1 << 20) for i in range(32)}   # 32 tensors of 4 MiB: 128 MiB
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ckpt.save(state, sys.argv[1], codec="bitplane")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) // 1024)
"""


def test_saving_streams_instead_of_copying_the_state(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _PEAK, str(tmp_path / "big.azc")], env=env, check=True,
                         capture_output=True, text=True)
    growth_mib = int(out.stdout.strip())
    assert growth_mib < 64, f"the peak memory grew by {growth_mib} MiB while saving a 128 MiB state"


def test_torch_distributed_checkpoint_storage_writer_and_reader(tmp_path):
    dcp = pytest.importorskip("torch.distributed.checkpoint")
    state_dict_api = pytest.importorskip("torch.distributed.checkpoint.state_dict")
    torch.manual_seed(0)
    model = _Net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    saved = []
    for i, name in enumerate(("a", "b")):
        _train(model, opt, 3, i)
        msd, osd = state_dict_api.get_state_dict(model, opt)
        state = {"model": msd, "optim": osd, "extra": {"step": 3 * (i + 1)}}
        writer = ckpt.StorageWriter(tmp_path / name, base=tmp_path / "a" if name == "b" else None,
                                    betas=(0.9, 0.999))
        with pytest.warns(UserWarning, match="single process"):
            dcp.save(state, storage_writer=writer)
        saved.append((copy_state(model.state_dict()), copy_state(opt.state_dict())))
    assert sorted(os.listdir(tmp_path / "b")) == [".metadata.json", "__0.azc"]
    records = ckpt.inspect(tmp_path / "b" / "__0.azc")["records"]
    assert any("reference" in r and r["role"] == "value" for r in records)
    assert {r["transform"] for r in records if r["kind"] == "lossy"} == {"identity", "log1p_sqrt", "scaled"}
    model2 = _Net()
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-3)
    _train(model2, opt2, 1, 9)
    msd, osd = state_dict_api.get_state_dict(model2, opt2)
    target = {"model": msd, "optim": osd, "extra": {"step": 0}}
    with pytest.warns(UserWarning, match="single process"):
        dcp.load(target, storage_reader=ckpt.StorageReader(tmp_path / "b"))
    state_dict_api.set_state_dict(model2, opt2, model_state_dict=target["model"], optim_state_dict=target["optim"])
    assert target["extra"]["step"] == 6
    model_saved, opt_saved = saved[1]
    for k, x in model_saved.items():
        if x.is_floating_point() and x.numel() >= ckpt.DEFAULT_MIN_NUMEL:
            assert _within(x, model2.state_dict()[k], ckpt.DEFAULT_BOUND)
        else:
            assert torch.equal(x, model2.state_dict()[k])
    _adam_checks(opt_saved, opt2.state_dict(), ckpt.DEFAULT_EXP_AVG_BOUND, ckpt.DEFAULT_EXP_AVG_SQ_BOUND)


def copy_state(d):
    return {k: (copy_state(v) if isinstance(v, dict) else v.clone() if torch.is_tensor(v) else v)
            for k, v in d.items()}
