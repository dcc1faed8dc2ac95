# SPDX-License-Identifier: Apache-2.0
"""compressed_activations under DistributedDataParallel: two processes, gloo, CPU.

Each rank trains the same small CNN on its own batch, three steps on fixed weights
(no optimizer update, so every step sees the same weights): plainly, inside
compressed_activations with a fixed bound, and inside it with the defaults (step 0
keeps every saved tensor raw while the adapter learns the plan; with the defaults its
end calibrates by replaying the step on the module inside DDP; steps 1 and 2
compress). DDP all-reduces the gradients in every run. Checked on every rank: the
fixed-bound run's gradients equal the uncompressed DDP run's within the bound's
effect (|got - want| <= (K * bound + 1e-5) * max(1, max |want|), K = 32 as in
test_torch_views.py), the default run's within the gradient tolerance (cosine
>= 0.99), the two ranks hold identical gradients (the all-reduce ran on the
reconstructed activations' gradients), and the activations really were stored
compressed.
"""
import os
import socket
import sys

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import actzip.torch as az  # noqa: E402

BOUND = 1e-4
K = 32.0
WORLD = 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, 10)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.pool1, self.pool2 = nn.MaxPool2d(2), nn.MaxPool2d(2)

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn(self.conv1(x))))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(x.flatten(1))


def run(rank, mode):
    torch.manual_seed(0)
    model = Net()
    ddp = nn.parallel.DistributedDataParallel(model)
    g = torch.Generator().manual_seed(100 + rank)  # every rank its own batch
    x = torch.randn(16, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    grads, ratio = [], None
    ctx = None
    if mode == "fixed":
        ctx = az.compressed_activations(ddp, policy=az.FixedPolicy(az.abs_bound(BOUND), min_elements=0),
                                        bounds="policy")
    elif mode == "measured":
        ctx = az.compressed_activations(ddp)
    if ctx is not None:
        ctx.__enter__()
    try:
        for _ in range(3):
            ddp.zero_grad(set_to_none=True)
            F.cross_entropy(ddp(x), y).backward()
            grads = [p.grad.detach().clone() for p in model.parameters()]
            if ctx is not None:
                ctx.end_step()
                ratio = ctx.stats.last()["ratio"]
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    return grads, ratio


def worker(rank, port, out_dir):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        plain, _ = run(rank, "plain")
        packed, ratio = run(rank, "fixed")
        measured, measured_ratio = run(rank, "measured")
        torch.save({"plain": plain, "packed": packed, "ratio": ratio, "measured": measured,
                    "measured_ratio": measured_ratio}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo")
def test_ddp_two_processes_match_uncompressed(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    for r, res in enumerate(results):
        assert res["ratio"] is not None and res["ratio"] > 1.5, f"rank {r}: ratio {res['ratio']}"
        for got, want in zip(res["packed"], res["plain"]):
            scale = max(1.0, float(want.abs().max()))
            err = float((got.double() - want.double()).abs().max()) / scale
            assert err <= K * BOUND + 1e-5, f"rank {r}: gradient error {err:.3g}"
        assert res["measured_ratio"] is not None and res["measured_ratio"] > 2.0, res["measured_ratio"]
        got = torch.cat([g.flatten().double() for g in res["measured"]])
        want = torch.cat([g.flatten().double() for g in res["plain"]])
        cos = float(got @ want / (got.norm() * want.norm()))
        assert cos >= 0.99, f"rank {r}: gradient cosine {cos:.5f} with the default bounds"
    for key in ("packed", "measured"):
        for a, b in zip(results[0][key], results[1][key]):
            assert torch.equal(a, b), f"the ranks' all-reduced gradients differ ({key})"
    for a, b in zip(results[0]["plain"], results[1]["plain"]):
        assert torch.equal(a, b)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
