#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""CPU training-step time with compressed activations, with and without overlap.

For a ResNet (examples/pytorch/fashion_mnist.py, 28 x 28 inputs) and a small
pre-norm transformer (causal attention written out, GELU MLP), it times forward +
backward + SGD step in three configurations: uncompressed, compressed_activations
(fixed rel 1e-2) compressing on the calling thread, and the same with
overlap=True (a worker thread compresses while the forward pass goes on), and with
--codecs the synchronous configuration with Huffman or automatic streams. The
configurations run interleaved, round after round, on the same weights and batch;
the report gives the median step time of each and the stored/raw bytes.

Usage: bench/overlap_cpu.py [--rounds 12] [--threads 2] [--codecs huffman,automatic] [--out bench/results]
(needs the actzip package: pip install .)
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import actzip
import actzip.torch as az

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "pytorch"))
from fashion_mnist import ResNet  # noqa: E402
from man_pages import Transformer  # noqa: E402


def cases():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    yield "ResNet-8 (width 16), batch 64", ResNet(blocks=1, width=16), x, y, F.cross_entropy
    idx = torch.randint(0, 256, (16, 64), generator=g)
    target = torch.randint(0, 256, (16, 64), generator=g)
    yield ("transformer (4 layers, width 128, 4 heads, context 64), batch 16", Transformer(), idx, target,
           lambda out, t: F.cross_entropy(out.flatten(0, 1), t.flatten()))


def step(model, opt, x, y, loss_fn):
    opt.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    opt.step()


def measure(name, model, x, y, loss_fn, rounds, codecs):
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: every step sees the same weights
    configs = {"uncompressed": None, "compressed": ("bitplane", False), "compressed + overlap": ("bitplane", True)}
    for codec in codecs:
        configs[f"compressed, {codec}"] = (codec, False)
    contexts = {}
    for label, config in configs.items():
        if config is not None:
            codec, overlap = config
            contexts[label] = az.compressed_activations(
                model, policy=az.FixedPolicy(az.rel_bound(1e-2), codec=codec), overlap=overlap)
    times = {label: [] for label in configs}
    stats = {}
    for r in range(rounds + 2):  # two warm-up rounds (the adapter's first step keeps tensors raw)
        for label in configs:
            ctx = contexts.get(label)
            if ctx is not None:
                ctx.__enter__()
            t0 = time.perf_counter()
            step(model, opt, x, y, loss_fn)
            if ctx is not None:
                summary = ctx.end_step()
                ctx.__exit__(None, None, None)
                stats[label] = summary
            dt = time.perf_counter() - t0
            if r >= 2:
                times[label].append(dt)
    return {label: (statistics.median(ts), stats.get(label)) for label, ts in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=None, help="write overlap-cpu-<date>.md into this directory")
    ap.add_argument("--codecs", default="", help="also time these codecs (comma-separated: huffman,automatic)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lines = []
    for name, model, x, y, loss_fn in cases():
        res = measure(name, model, x, y, loss_fn, args.rounds, [c for c in args.codecs.split(",") if c])
        base = res["uncompressed"][0]
        lines.append(f"\n### {name}\n")
        lines.append("| configuration | median step (ms) | vs uncompressed | stored / raw activation bytes |")
        lines.append("| --- | ---: | ---: | ---: |")
        for label, (t, summary) in res.items():
            stored = "-" if summary is None else f"{summary['stored_bytes'] / 2**20:.2f} / {summary['raw_bytes'] / 2**20:.2f} MiB ({summary['ratio']:.2f}x)"
            lines.append(f"| {label} | {t * 1e3:.1f} | {t / base:.2f}x | {stored} |")
        print("\n".join(lines[-(len(res) + 3):]), flush=True)
    try:
        commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    date = datetime.date.today().isoformat()
    head = [f"# CPU step time with compressed activations, with and without overlap ({date})", "",
            f"- machine: {cpu}, {os.cpu_count()} cores, torch threads {args.threads}; {platform.platform()}",
            f"- PyTorch {torch.__version__}, actzip {actzip.__version__} at commit {commit}",
            f"- command: `python bench/overlap_cpu.py --rounds {args.rounds} --threads {args.threads}"
            + (f" --codecs {args.codecs}" if args.codecs else "") + (f" --out {args.out}`" if args.out else "`"),
            "- forward + backward + SGD step (lr 0, same batch), configurations interleaved; median of "
            f"{args.rounds} rounds after 2 warm-up rounds; policy FixedPolicy(rel 1e-2), bitplane unless named; overlap: one worker "
            "thread compresses (actzip releases the GIL) while the forward pass continues on torch's threads"]
    text = "\n".join(head + lines) + "\n"
    if args.out:
        path = Path(args.out) / f"overlap-cpu-{date}.md"
        path.write_text(text)
        print(f"written: {path}")


if __name__ == "__main__":
    main()
