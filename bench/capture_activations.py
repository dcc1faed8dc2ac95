#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Captures real CNN activations for the compressor comparison (bench/compare.py).

Trains the ResNet-8 of examples/pytorch/fashion_mnist.py (width 16, one basic block per
stage) on Fashion-MNIST for a short deterministic run on the CPU (fixed seed, fixed batch
order), then runs one batch of test images through it in training mode (batch-norm with
batch statistics, as in a training step) and writes what the forward pass produced at a
few layers:

  act-stem-relu      post-ReLU output of the stem           {N*16, 28, 28}
  act-stage1-relu    post-ReLU output of the stage-1 block  {N*32, 14, 14}
  act-stage2-relu    post-ReLU output of the stage-2 block  {N*64,  7,  7}
  preact-stage1-conv output of the stage-1 block's first convolution (before
                     batch-norm and ReLU)                   {N*32, 14, 14}

Each tensor is written as raw little-endian float32 in C order with NCHW folded to
{N*C, H, W} (<out>/<name>.f32); <out>/manifest-activations.json lists the names, files,
shapes, value ranges, zero fractions and SHA-256 sums, plus the training settings and the
test accuracy of the trained model.

Runs with the Debian python3-torch (/usr/bin/python3). Needs the Debian
dataset-fashion-mnist package (bench/install-data.sh).

Usage: capture_activations.py [--out build-peers/data] [--steps 900] [--batch 128]
                              [--capture-batch 256] [--seed 0] [--threads 2]
"""
import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples" / "pytorch"))

from fashion_mnist import ResNet, load  # noqa: E402


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def train(model, x, y, args, log):
    """Plain SGD with Nesterov momentum for args.steps steps of args.batch images, in an
    order fixed by args.seed. Returns (seconds, mean loss of the last 50 steps)."""
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(x), generator=g)
    model.train()
    losses = []
    t0 = time.perf_counter()
    for step in range(args.steps):
        idx = order[(step * args.batch) % len(x):][:args.batch]
        if len(idx) < args.batch:  # wrap around the permutation
            idx = torch.cat([idx, order[:args.batch - len(idx)]])
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 100 == 0 or step + 1 == args.steps:
            log(f"step {step + 1}/{args.steps}: loss {sum(losses[-50:]) / len(losses[-50:]):.4f}, "
                f"{time.perf_counter() - t0:.0f} s")
    tail = losses[-50:]
    return time.perf_counter() - t0, sum(tail) / len(tail)


def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return 100.0 * correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "build-peers" / "data"), help="output directory")
    ap.add_argument("--steps", type=int, default=900, help="training steps (default 900)")
    ap.add_argument("--batch", type=int, default=128, help="training batch size (default 128)")
    ap.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    ap.add_argument("--capture-batch", type=int, default=256,
                    help="test images whose activations are written (default 256)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = ap.parse_args()
    if args.steps < 1 or args.batch < 1 or not 1 <= args.capture_batch <= 10000 or args.threads < 1:
        ap.error("--steps, --batch, --threads must be >= 1 and --capture-batch in [1, 10000]")

    def log(msg):
        print(f"capture_activations: {msg}", flush=True)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)

    x_train, y_train = load("train")
    x_test, y_test = load("test")
    model = ResNet(blocks=1, width=16)
    log(f"training ResNet-8 (width 16) for {args.steps} steps of {args.batch} images on {args.threads} CPU threads")
    seconds, final_loss = train(model, x_train, y_train, args, log)
    test_acc = accuracy(model, x_test, y_test)
    log(f"trained in {seconds:.0f} s, test accuracy {test_acc:.2f} %")

    # name -> (module, kind, description)
    sites = {
        "act-stem-relu": (model.stem[2], "activation", "post-ReLU output of the stem (stem[2])"),
        "act-stage1-relu": (model.stages[1].relu2, "activation",
                            "post-ReLU output of the stage-1 block (stages[1].relu2, after the residual add)"),
        "act-stage2-relu": (model.stages[2].relu2, "activation",
                            "post-ReLU output of the stage-2 block (stages[2].relu2, after the residual add)"),
        "preact-stage1-conv": (model.stages[1].conv1, "preactivation",
                               "output of the stage-1 block's first convolution (stages[1].conv1), "
                               "before batch-norm and ReLU"),
    }
    captured = {}
    hooks = [module.register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out.detach()))
             for name, (module, _, _) in sites.items()]
    model.train()  # batch statistics, as in the forward pass of a training step
    with torch.no_grad():
        model(x_test[:args.capture_batch])
    for h in hooks:
        h.remove()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, (_, kind, description) in sites.items():
        t = captured[name]
        n, c, h, w = t.shape
        a = t.numpy().astype("<f4", copy=False).reshape(n * c, h, w)
        path = out / f"{name}.f32"
        a.tofile(path)
        entries.append({
            "name": name, "file": path.name, "dtype": "f32", "shape": [n * c, h, w], "nchw": [n, c, h, w],
            "kind": kind, "description": description,
            "min": float(a.min()), "max": float(a.max()),
            "zero_fraction": float(np.count_nonzero(a == 0) / a.size),
            "sha256": sha256_of(path),
        })
        log(f"{path}: {{{n * c}, {h}, {w}}} (NCHW {n}x{c}x{h}x{w}), range [{a.min():.4g}, {a.max():.4g}], "
            f"{100.0 * entries[-1]['zero_fraction']:.1f} % zeros")

    manifest = {
        "generator": "bench/capture_activations.py",
        "source": "Fashion-MNIST (Debian dataset-fashion-mnist); activations of the first "
                  f"{args.capture_batch} test images, model in training mode",
        "model": "ResNet-8 of examples/pytorch/fashion_mnist.py (blocks=1, width=16)",
        "training": {"steps": args.steps, "batch": args.batch, "lr": args.lr, "optimizer": "SGD nesterov 0.9, wd 5e-4",
                     "seed": args.seed, "threads": args.threads, "seconds": seconds,
                     "mean_loss_last_50_steps": final_loss, "test_accuracy_percent": test_acc},
        "torch_version": torch.__version__,
        "data": entries,
    }
    (out / "manifest-activations.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"wrote {out / 'manifest-activations.json'}")


if __name__ == "__main__":
    main()
