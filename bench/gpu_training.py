#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""GPU training check: peak memory and step time with compressed activations.

For a ResNet-18 (ImageNet shape, 224 x 224 inputs) and a small causal transformer
(examples/pytorch/man_pages.py: 6 blocks of width 512, context 256, random bytes),
on one CUDA device, each configuration trains a few steps (SGD / AdamW) on a fixed
synthetic batch:

  none                 autograd as is
  compressed           compressed_activations(model) (FixedPolicy(rel 1e-2), automatic codec)
  compressed+overlap   the same with overlap=True (side stream, decompression ahead)
  bitplane             FixedPolicy(rel 1e-2, codec="bitplane")
  bitplane+overlap     the same with overlap=True

and reports torch.cuda.max_memory_allocated over the measured steps (and its excess
over the memory held before the step: parameters, gradients, optimizer state), the
median step time (forward, backward, optimizer step, end_step; synchronized), the
activation bytes saved per step (raw and stored), and two checks: the first
compressed step's gradients against the uncompressed ones (relative difference), and
overlap against no overlap (bit for bit).

Usage: python3 bench/gpu_training.py [--out DIR] [--steps 8] [--warmup 3] [--models resnet18,transformer]
Needs the actzip package built with CUDA (bench/gpu-training.sh builds it).
"""
import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import actzip
import actzip.torch as az

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "pytorch"))
from man_pages import Transformer, lm_loss  # noqa: E402
from train_fashion_mnist import git_commit  # noqa: E402


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.relu(self.b2(self.c2(self.relu(self.b1(self.c1(x))))) + self.short(x))


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [Basic(cin, cout, stride), Basic(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))


def case(name, batch, device):
    g = torch.Generator().manual_seed(0)
    if name == "resnet18":
        x = torch.randn(batch or 64, 3, 224, 224, generator=g).to(device)
        y = torch.randint(0, 1000, (x.shape[0],), generator=g).to(device)
        return (lambda: ResNet18()), x, y, F.cross_entropy, "sgd"
    if name == "transformer":
        idx = torch.randint(0, 256, (batch or 32, 257), generator=g).to(device)
        return (lambda: Transformer(dim=512, heads=8, layers=6, context=256)), idx[:, :-1], idx[:, 1:], lm_loss, \
            "adamw"
    raise ValueError(name)


CONFIGS = {
    "none": None,
    "compressed": dict(policy=None, overlap=False),
    "compressed+overlap": dict(policy=None, overlap=True),
    "bitplane": dict(policy="bitplane", overlap=False),
    "bitplane+overlap": dict(policy="bitplane", overlap=True),
}


def make_context(model, config):
    if config is None:
        return None
    policy = az.FixedPolicy(az.rel_bound(1e-2), codec="bitplane") if config["policy"] == "bitplane" else None
    return az.compressed_activations(model, policy=policy, overlap=config["overlap"])


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _memory(device, what):
    """torch.cuda.memory_allocated / max_memory_allocated; 0 in the CPU smoke run."""
    if device.type != "cuda":
        return 0
    return torch.cuda.memory_allocated() if what == "now" else torch.cuda.max_memory_allocated()


def run(model_name, config_name, args, device):
    make, x, y, loss_fn, opt_name = case(model_name, args.batch, device)
    torch.manual_seed(0)
    model = make().to(device)
    opt = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if opt_name == "sgd"
           else torch.optim.AdamW(model.parameters(), lr=1e-4))
    ctx = make_context(model, CONFIGS[config_name])
    times, first_grads = [], None
    if ctx is not None:
        ctx.__enter__()
    try:
        for step in range(args.warmup + args.steps):
            if step == args.warmup:
                _sync(device)
                held = _memory(device, "now")
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
            _sync(device)
            t0 = time.perf_counter()
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if step == 1:  # the first step a context compresses (its first one learns the plan)
                first_grads = torch.cat([p.grad.detach().flatten().double() for p in model.parameters()])
            opt.step()
            if ctx is not None:
                ctx.end_step()
            _sync(device)
            times.append(time.perf_counter() - t0)
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    peak = _memory(device, "peak")
    out = {"model": model_name, "config": config_name, "batch": int(x.shape[0]),
           "median_step_s": statistics.median(times[args.warmup:]), "peak_bytes": peak,
           "peak_over_held_bytes": peak - held, "first_grads": first_grads}
    if ctx is not None:
        last = ctx.stats.last()
        out.update(raw_bytes=last["raw_bytes"], stored_bytes=last["stored_bytes"],
                   prefetched=ctx.prefetched)
    del model, opt, ctx
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def device_name():
    return torch.cuda.get_device_name().replace("NVIDIA ", "").lower().replace(" ", "-")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=0, help="batch size (0: 64 for ResNet-18, 32 for the transformer)")
    p.add_argument("--models", default="resnet18,transformer")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--cpu-smoke", action="store_true",
                   help="run the script's logic on the CPU with small batches (no figures worth keeping)")
    args = p.parse_args()
    if args.cpu_smoke:
        return report(args, torch.device("cpu"), "cpu-smoke", "cpu")
    if not torch.cuda.is_available():
        print("gpu_training: no CUDA device: skipped")
        return 77
    if not actzip.has_cuda:
        print("gpu_training: this actzip was built without CUDA")
        return 1
    return report(args, torch.device("cuda"), device_name(), torch.cuda.get_device_name())


def report(args, device, name, long_name):
    results = []
    for m in args.models.split(","):
        base = None
        for c in args.configs.split(","):
            r = run(m, c, args, device)
            if c == "none":
                base = r
            if base is not None and r["first_grads"] is not None and base["first_grads"] is not None:
                g0 = base["first_grads"]
                r["grad_rel_diff"] = float((r["first_grads"] - g0).norm() / g0.norm())
            twin = next((q for q in results if q["model"] == m and q["config"] + "+overlap" == c), None)
            if twin is not None:
                r["overlap_bitwise_equal"] = bool(torch.equal(r["first_grads"], twin["first_grads"]))
            results.append(r)
            print(f"{m:12s} {c:20s} step {1000 * r['median_step_s']:8.2f} ms  peak {r['peak_bytes'] / 2**20:9.1f} MiB"
                  f"  over held {r['peak_over_held_bytes'] / 2**20:9.1f} MiB", flush=True)
    for r in results:
        r.pop("first_grads", None)
    date = datetime.date.today().isoformat()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"training-gpu-{name}-{date}"
    meta = {"device": long_name, "torch": torch.__version__, "cuda": torch.version.cuda,
            "actzip": actzip.__version__, "commit": git_commit(), "python": platform.python_version(),
            "command": " ".join(["bench/gpu_training.py"] + sys.argv[1:]), "date": date}
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    lines = [f"# Training step on {meta['device']}: peak memory and step time with compressed activations ({date})",
             "", f"- command: `{meta['command']}`", f"- commit `{meta['commit']}`, actzip {meta['actzip']}, "
             f"torch {meta['torch']} (CUDA {meta['cuda']}), Python {meta['python']}",
             f"- {args.warmup} warm-up steps, then {args.steps} measured; median step time (forward, backward, "
             "optimizer step, end_step; synchronized); peak: torch.cuda.max_memory_allocated over the measured "
             "steps, and its excess over the memory held before them (parameters, gradients, optimizer state)",
             "- gradient check: relative L2 difference of the first compressed step's gradients from the "
             "uncompressed run's (rel 1e-2 bound); overlap: its gradients bit for bit equal to the same policy "
             "without overlap", "",
             "| model | configuration | batch | step (ms) | vs none | peak (MiB) | peak over held (MiB) | "
             "activations raw / stored (MiB) | gradient rel. diff. | overlap equal |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for r in results:
        base = next((q for q in results if q["model"] == r["model"] and q["config"] == "none"), None)
        ratio = f"{r['median_step_s'] / base['median_step_s']:.2f}x" if base else "-"
        act = (f"{r['raw_bytes'] / 2**20:.1f} / {r['stored_bytes'] / 2**20:.1f} "
               f"({r['raw_bytes'] / max(1, r['stored_bytes']):.1f}x)") if "raw_bytes" in r else "-"
        diff = f"{r['grad_rel_diff']:.2e}" if "grad_rel_diff" in r else "-"
        lines.append(f"| {r['model']} | {r['config']} | {r['batch']} | {1000 * r['median_step_s']:.2f} | {ratio} | "
                     f"{r['peak_bytes'] / 2**20:.1f} | {r['peak_over_held_bytes'] / 2**20:.1f} | {act} | {diff} | "
                     f"{r.get('overlap_bitwise_equal', '-')} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md, .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
