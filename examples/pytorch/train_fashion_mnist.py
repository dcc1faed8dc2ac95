#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Trains a ResNet on Fashion-MNIST without and with compressed activations.

The model (--model): ``resnet8``, the small CIFAR-style ResNet of fashion_mnist.py
(--blocks, --width), or ``resnet18``, torchvision's ResNet-18 with a one-channel
stem. Every run starts from the same seed, sees the same batches in the same order
and follows the same learning-rate schedule; the runs differ only in what happens to
the activations autograd saves: kept (``none``), or compressed by
actzip.torch.compressed_activations:

  default   compressed_activations(model): the package's defaults (bounds measured
            per kind of saved tensor, --tolerance; default:T the same with tolerance T)
  fixed     bounds="policy", FixedPolicy(rel_bound(--fixed-bound))
  adaptive  bounds="policy", AdaptivePolicy(beta=--beta, cap_fraction=--cap,
            fallback=rel_bound(--fallback))
  budget    bounds="policy", BudgetPolicy(raw bytes of one step / --budget-ratio,
            same controller options, cap_fraction=--budget-cap)

For each run it reports the test accuracy after every epoch, the activation bytes
saved per step (raw, what autograd would keep, and stored, what the hooks kept),
the step time, and on a GPU torch.cuda.max_memory_allocated. With --report it
writes bench/results/training-<machine>-<date>.{md,json,png}.

Usage: train_fashion_mnist.py [--model resnet8] [--epochs 5] [--train-count 60000]
                              [--policies none,default,fixed,adaptive,budget] [--report]
                              [--machine intel-xeon-2c] [--date YYYY-MM-DD]
"""
import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import actzip.torch as az  # pip install . (see docs/PYTHON.md)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fashion_mnist import ResNet, load  # noqa: E402

REPO = HERE.parent.parent


def build_model(args):
    """The network of --model, from the current seed."""
    if args.model == "resnet18":
        import torchvision
        model = torchvision.models.resnet18(num_classes=10)
        model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)  # grey images
        return model
    return ResNet(blocks=args.blocks, width=args.width)


def model_name(args):
    return "torchvision ResNet-18" if args.model == "resnet18" else f"ResNet-{2 + 6 * args.blocks}"


def context(name, model, args, raw_step_bytes):
    """The compressed_activations of run `name` (None for the uncompressed run) and its policy."""
    if name == "none":
        return None, None
    if name == "default" or name.startswith("default:"):
        return az.compressed_activations(model, tolerance=run_tolerance(name, args), verify=args.verify), None
    policy = make_policy(name, args, raw_step_bytes)
    return az.compressed_activations(model, policy=policy, bounds="policy", verify=args.verify), policy


def run_tolerance(name, args):
    """The gradient tolerance of a 'default' or 'default:T' run."""
    return float(name.split(":")[1]) if ":" in name else args.tolerance


def describe(name, args, policy):
    """How run `name` stores activations, for the report."""
    if name == "none":
        return "uncompressed"
    if name == "default":
        return f"defaults (tolerance {args.tolerance:g})"
    if name.startswith("default:"):
        return f"defaults, tolerance {run_tolerance(name, args):g}"
    return repr(policy)


def make_policy(name, args, raw_step_bytes):
    """The policy of run `name` (None for the uncompressed run and the defaults)."""
    if name in ("none", "default"):
        return None
    if name == "fixed":
        return az.FixedPolicy(az.rel_bound(args.fixed_bound), codec=args.codec)
    common = dict(beta=args.beta, warmup_steps=args.warmup, update_interval=args.update_interval,
                  fallback=az.rel_bound(args.fallback), codec=args.codec)
    if name == "adaptive":
        return az.AdaptivePolicy(cap_fraction=args.cap, **common)
    if name == "budget":
        return az.BudgetPolicy(int(raw_step_bytes / args.budget_ratio), cap_fraction=args.budget_cap, **common)
    raise ValueError(f"unknown policy {name!r}")


def batches(count, batch, epoch, seed):
    """The batch index tensors of one epoch: the same for every run."""
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    order = torch.randperm(count, generator=g)
    return [order[i:i + batch] for i in range(0, count - batch + 1, batch)]


def evaluate(model, x, y, device, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch].to(device))
            correct += (out.argmax(1).cpu() == y[i:i + batch]).sum().item()
    model.train()
    return 100.0 * correct / len(x)


def raw_bytes_per_step(args, device, x, y):
    """Bytes autograd saves in one training step of the model (measured on a copy)."""
    torch.manual_seed(args.seed)
    model = build_model(args).to(device)
    with az.compressed_activations(model, bounds="policy") as ca:
        F.cross_entropy(model(x[:args.batch].to(device)), y[:args.batch].to(device)).backward()
        summary = ca.end_step()  # the first step of a context keeps everything raw
    return summary["raw_bytes"]


def train(name, args, data, device, raw_step_bytes, log):
    """One run; returns its history dict."""
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(args.seed)
    model = build_model(args).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.wd)
    steps_per_epoch = len(x_train) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=0.15, anneal_strategy="cos")
    ctx, policy = context(name, model, args, raw_step_bytes)
    history = {"policy": name, "policy_repr": describe(name, args, policy),
               "epochs": [], "step_time_s": [], "loss": []}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if ctx is not None:
        ctx.__enter__()
    try:
        for epoch in range(args.epochs):
            t_epoch = time.perf_counter()
            losses = []
            for idx in batches(len(x_train), args.batch, epoch, args.seed):
                xb, yb = x_train[idx].to(device), y_train[idx].to(device)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if ctx is not None:
                    ctx.end_step()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                history["step_time_s"].append(time.perf_counter() - t0)
                losses.append(loss.item())
            # Evaluation runs outside the hooks' reach (no_grad saves nothing anyway).
            acc = evaluate(model, x_test, y_test, device)
            mean_loss = sum(losses) / len(losses)
            history["loss"].append(mean_loss)
            history["epochs"].append({"epoch": epoch + 1, "test_accuracy": acc, "train_loss": mean_loss,
                                      "seconds": time.perf_counter() - t_epoch})
            log(f"[{name}] epoch {epoch + 1}/{args.epochs}: loss {mean_loss:.4f}, test accuracy {acc:.2f} %, "
                f"{time.perf_counter() - t_epoch:.0f} s")
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    times = history["step_time_s"][5:]  # the first steps include warm-up of the allocator and the extension
    history["mean_step_time_s"] = sum(times) / len(times)
    history["final_test_accuracy"] = history["epochs"][-1]["test_accuracy"]
    if ctx is not None:
        st = ctx.stats
        compressed_steps = [s for s in st.steps if s["compressed"] > 0]
        history["steps"] = len(st.steps)
        history["compressed_steps"] = len(compressed_steps)
        history["raw_bytes_per_step"] = st.mean("raw_bytes")
        history["stored_bytes_per_step"] = st.mean("stored_bytes")
        cs = compressed_steps or st.steps
        history["stored_bytes_per_compressed_step"] = sum(s["stored_bytes"] for s in cs) / len(cs)
        history["ratio_compressed_steps"] = sum(s["raw_bytes"] for s in cs) / sum(s["stored_bytes"] for s in cs)
        history["stored_bytes_trace"] = [s["stored_bytes"] for s in st.steps]
        errors = [s["max_error_ratio"] for s in st.steps if s["max_error_ratio"] is not None]
        history["max_error_ratio"] = max(errors) if errors else None
        history["last_step_records"] = st.records
        history["calibration"] = ctx.calibration
        if isinstance(policy, az.BudgetPolicy):
            history["budget_bytes_per_step"] = policy.bytes_per_step
            history["budget_met"] = policy.budget_met
            history["budget_scale"] = policy.scale
    else:
        history["raw_bytes_per_step"] = raw_step_bytes
        history["stored_bytes_per_step"] = raw_step_bytes
        history["stored_bytes_per_compressed_step"] = raw_step_bytes
        history["ratio_compressed_steps"] = 1.0
    if device.type == "cuda":
        history["max_memory_allocated"] = torch.cuda.max_memory_allocated()
    return history, model, ctx


def interleaved_step_times(runs, args, data, device, rounds, log):
    """Median forward + backward (+ end_step) time of each run's trained model and
    context, measured in rounds that take one step of every run in turn on the same
    batch, so that a load change on a shared machine hits every run alike."""
    x_train, y_train = data[0], data[1]
    times = {name: [] for name, _, _ in runs}
    order = batches(len(x_train), args.batch, 10**6, args.seed)
    for r in range(rounds):
        xb, yb = x_train[order[r % len(order)]].to(device), y_train[order[r % len(order)]].to(device)
        for name, model, ctx in runs:
            if ctx is not None:
                ctx.__enter__()
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            loss = F.cross_entropy(model(xb), yb)
            model.zero_grad(set_to_none=True)
            loss.backward()
            if ctx is not None:
                ctx.end_step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
            if ctx is not None:
                ctx.__exit__(None, None, None)
    out = {}
    for name, t in times.items():
        t = sorted(t[3:])  # the first rounds warm up
        out[name] = t[len(t) // 2]
    log("interleaved median forward+backward ms: " + ", ".join(f"{k} {1000 * v:.0f}" for k, v in out.items()))
    return out


def git_commit():
    try:
        return subprocess.check_output(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=REPO,
                                       text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mib(b):
    return b / 2**20


def write_report(results, args, meta, out_dir):
    stem = out_dir / f"training-{args.machine}-{args.date}{args.tag}"
    with open(str(stem) + ".json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "runs": results}, f, indent=1)
    base = next((r for r in results if r["policy"] == "none"), None)
    lines = [
        f"# Training with compressed activations: {model_name(args)} on Fashion-MNIST ({args.machine}, "
        f"{args.date})",
        "",
        f"- command: `{meta['command']}`",
        f"- commit: `{meta['commit']}`, torch {meta['torch']}, Python {meta['python']}",
        f"- machine: {meta['cpu']}, {meta['threads']} torch threads, device `{meta['device']}`",
        f"- model: {model_name(args)} ({meta['parameters']} parameters); data: "
        f"{args.train_count} training images, the 10000 test images; {args.epochs} epochs of batch {args.batch}, "
        f"SGD (Nesterov momentum 0.9, weight decay {args.wd}), one-cycle schedule to lr {args.lr}; seed {args.seed}, "
        "the same batches in the same order for every run",
        f"- codec of the policies: {args.codec}",
        f"- wall time of the whole comparison: {meta['wall_s'] / 60:.1f} min",
        "",
        "Raw bytes: what autograd saves per step without the hooks (every distinct saved tensor but parameters "
        "and buffers). Stored bytes: what the hooks keep (streams, mask bits, raw tensors), averaged over the "
        "steps with compression (a run's first step, and the adaptive warm-up, are kept raw). Step time: mean "
        "wall time of forward + backward + optimizer step (and end_step) over the training run, steps 6 onward; "
        "the machine is shared, so these means carry the load of whatever else ran. Interleaved: median "
        "forward + backward (+ end_step) time of the trained models, measured after training in rounds that "
        "step every run in turn on the same batch, so load changes hit all runs alike; its overhead column is "
        "the one to read.",
        "",
        "| run | policy | final test acc. (%) | diff. vs none (points) | raw MiB/step | stored MiB/step | ratio | "
        "step time (ms) | interleaved fwd+bwd (ms) | interleaved overhead | max err/bound |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        diff = r["final_test_accuracy"] - base["final_test_accuracy"] if base else float("nan")
        inter = r.get("interleaved_median_fwd_bwd_s")
        over = inter / base["interleaved_median_fwd_bwd_s"] - 1 if base and inter else None
        err = r.get("max_error_ratio")
        lines.append(
            f"| {r['policy']} | {r['policy_repr']} | {r['final_test_accuracy']:.2f} | {diff:+.2f} | "
            f"{mib(r['raw_bytes_per_step']):.1f} | {mib(r['stored_bytes_per_compressed_step']):.2f} | "
            f"{r['ratio_compressed_steps']:.2f}x | {1000 * r['mean_step_time_s']:.0f} | "
            f"{'-' if inter is None else f'{1000 * inter:.0f}'} | {'-' if over is None else f'{100 * over:+.0f} %'} | "
            f"{'-' if err is None else f'{err:.4f}'} |")
    lines += ["", "Test accuracy (%) after each epoch:", "",
              "| epoch | " + " | ".join(r["policy"] for r in results) + " |",
              "| ---: | " + " | ".join("---:" for _ in results) + " |"]
    for e in range(args.epochs):
        lines.append(f"| {e + 1} | " + " | ".join(f"{r['epochs'][e]['test_accuracy']:.2f}" for r in results) + " |")
    if any("max_memory_allocated" in r for r in results):
        lines += ["", "torch.cuda.max_memory_allocated (MiB): " +
                  ", ".join(f"{r['policy']} {mib(r['max_memory_allocated']):.1f}" for r in results)]
    budget = next((r for r in results if r["policy"] == "budget"), None)
    if budget is not None:
        lines += ["", f"Budget run: {mib(budget['budget_bytes_per_step']):.2f} MiB per step "
                  f"(raw / {args.budget_ratio:g}); budget met at the end: {budget['budget_met']}, "
                  f"final scale {budget['budget_scale']:.3g}."]
    with open(str(stem) + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    plot(results, args, str(stem) + ".png")
    return stem


def bytes_panel(ax, results):
    """Bars of the raw and stored activation bytes per step of each run, with the ratio."""
    names = [r["policy"] for r in results]
    raw = [mib(r["raw_bytes_per_step"]) for r in results]
    stored = [mib(r["stored_bytes_per_compressed_step"]) for r in results]
    pos = range(len(names))
    ax.bar([p - 0.2 for p in pos], raw, width=0.4, label="raw saved")
    ax.bar([p + 0.2 for p in pos], stored, width=0.4, label="stored")
    for p, r in zip(pos, results):
        ax.text(p + 0.2, stored[p], f"{r['ratio_compressed_steps']:.1f}x", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(pos))
    ax.set_xticklabels(names)
    ax.set_ylabel("activation MiB per step")
    ax.set_ylim(0, 1.3 * max(raw))
    ax.legend(loc="upper center", ncol=2)


def plot(results, args, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for r in results:
        ax1.plot([e["epoch"] for e in r["epochs"]], [e["test_accuracy"] for e in r["epochs"]], marker="o",
                 label=r["policy"])
    ax1.set_xticks([e["epoch"] for e in results[0]["epochs"]])
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title(f"{model_name(args)}, Fashion-MNIST")
    ax1.grid(alpha=0.3)
    ax1.legend()
    bytes_panel(ax2, results)
    ax2.set_title(f"saved activations per step (batch {args.batch})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_policy_arguments(p, policies):
    """The options of make_policy (shared with train_transformer.py)."""
    p.add_argument("--policies", default=policies)
    p.add_argument("--fixed-bound", type=float, default=1e-2, help="relative bound of the fixed policy")
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--cap", type=float, default=5e-2, help="cap_fraction of the adaptive policy")
    p.add_argument("--fallback", type=float, default=1e-2, help="relative fallback bound (roles other)")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--update-interval", type=int, default=50)
    p.add_argument("--budget-ratio", type=float, default=10.0, help="budget = raw bytes per step / this")
    p.add_argument("--budget-cap", type=float, default=0.1, help="cap_fraction of the budget policy")
    p.add_argument("--codec", default="automatic", choices=["bitplane", "huffman", "automatic"],
                   help="the policies' codec (automatic: the adapter's default)")
    p.add_argument("--tolerance", type=float, default=0.04,
                   help="the defaults' gradient tolerance (compressed_activations' default)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train-count", type=int, default=60000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--model", default="resnet8", choices=["resnet8", "resnet18"])
    p.add_argument("--blocks", type=int, default=1, help="basic blocks per stage of resnet8 (1: ResNet-8)")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_policy_arguments(p, "none,default,budget")
    p.add_argument("--tag", default="", help="appended to the report's file name")
    p.add_argument("--timing-rounds", type=int, default=60,
                   help="rounds of interleaved forward+backward timing after training (0: none)")
    p.add_argument("--verify", action="store_true", help="decompress and check every saved tensor (slow)")
    p.add_argument("--report", action="store_true", help="write bench/results/training-<machine>-<date>.*")
    p.add_argument("--machine", default="intel-xeon-2c")
    p.add_argument("--date", default=datetime.date.today().isoformat())
    p.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t_start = time.time()
    commit = git_commit()  # the code the runs start with (HEAD may move while they run)

    def log(msg):
        print(f"[{time.time() - t_start:7.1f} s] {msg}", flush=True)

    x_train, y_train = load("train", args.train_count)
    x_test, y_test = load("test")
    data = (x_train, y_train, x_test, y_test)
    raw_step = raw_bytes_per_step(args, device, x_train, y_train)
    log(f"raw activation bytes per step: {mib(raw_step):.2f} MiB")
    results, trained = [], []
    for name in args.policies.split(","):
        history, model, ctx = train(name, args, data, device, raw_step, log)
        results.append(history)
        trained.append((name, model, ctx))
        r = results[-1]
        log(f"[{name}] final accuracy {r['final_test_accuracy']:.2f} %, stored "
            f"{mib(r['stored_bytes_per_compressed_step']):.2f} MiB/step ({r['ratio_compressed_steps']:.2f}x), "
            f"step {1000 * r['mean_step_time_s']:.0f} ms")
    if args.timing_rounds > 0:
        medians = interleaved_step_times(trained, args, data, device, args.timing_rounds, log)
        for r in results:
            r["interleaved_median_fwd_bwd_s"] = medians[r["policy"]]
    meta = {
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "commit": commit, "torch": torch.__version__, "python": platform.python_version(),
        "cpu": cpu_model(), "threads": torch.get_num_threads(), "device": str(device),
        "parameters": sum(q.numel() for q in build_model(args).parameters()),
        "wall_s": time.time() - t_start, "args": vars(args),
    }
    if args.report:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = write_report(results, args, meta, out)
        log(f"wrote {stem}.md, .json, .png")
    return results


if __name__ == "__main__":
    main()
