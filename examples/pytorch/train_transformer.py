#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Trains a small causal transformer on the manual pages (bytes) without and with
compressed activations.

The model (--model): ``man``, man_pages.Transformer (4 pre-norm blocks of width 256,
4 heads, attention written out on 4-D tensors, GELU MLP), or ``gpt2``, transformers'
GPT2LMHeadModel with the same depth, width, heads and context and its own defaults
(dropout 0.1, GELU written as gelu_new, fused attention); a byte vocabulary. Every run
starts from the same seed, sees the same windows in the same order and follows the
same learning-rate schedule (AdamW, linear warm-up, cosine decay); the runs differ
only in what happens to the activations autograd saves: kept (``none``), or
compressed by actzip.torch.compressed_activations with its defaults (``default``) or
the adaptive or budget policy (the same options as train_fashion_mnist.py).

It reports the validation loss (mean next-byte cross entropy on a fixed set of
windows from pages the training never sees) during and after training, the
activation bytes saved per step (raw and stored), and the step time: the training
mean, and after training an interleaved median of forward + backward for every
run, with and without overlap (a worker thread compressing during the forward).
With --report it writes bench/results/training-<machine>-<date>-transformer.{md,json,png}.

Usage: train_transformer.py [--model man] [--steps 400] [--policies none,default,budget] [--report]
"""
import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

import actzip.torch as az  # pip install . (see docs/PYTHON.md)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import man_pages  # noqa: E402
from train_fashion_mnist import (add_policy_arguments, bytes_panel, context, cpu_model, describe,  # noqa: E402
                                 git_commit, mib)

REPO = HERE.parent.parent


class LogitsOf(torch.nn.Module):
    """A transformers causal language model that returns its logits (the loss is
    computed outside, as for man_pages.Transformer)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids).logits


def model_of(args):
    if args.model == "gpt2":
        import transformers
        config = transformers.GPT2Config(vocab_size=256, n_positions=args.context, n_embd=args.dim,
                                         n_layer=args.layers, n_head=args.heads, bos_token_id=0, eos_token_id=0)
        return LogitsOf(transformers.GPT2LMHeadModel(config))
    return man_pages.Transformer(dim=args.dim, heads=args.heads, layers=args.layers, context=args.context)


def model_description(args, parameters):
    if args.model == "gpt2":
        return (f"transformers GPT2LMHeadModel: {args.layers} blocks, width {args.dim}, {args.heads} heads, context "
                f"{args.context}, byte vocabulary, the library's defaults otherwise ({parameters} parameters)")
    return (f"{args.layers} pre-norm blocks, width {args.dim}, {args.heads} heads, GELU MLP (4x), context "
            f"{args.context}, byte vocabulary ({parameters} parameters)")


def lr_at(step, args):
    if step < args.warmup_lr:
        return args.lr * (step + 1) / args.warmup_lr
    progress = (step - args.warmup_lr) / max(1, args.steps - args.warmup_lr)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + torch.cos(torch.tensor(progress * 3.141592653589793)).item()))


@torch.no_grad()
def val_loss(model, val_batches, device):
    model.eval()
    total = sum(man_pages.lm_loss(model(x.to(device)), y.to(device)).item() for x, y in val_batches)
    model.train()
    return total / len(val_batches)


def raw_bytes_per_step(args, device, batch):
    torch.manual_seed(args.seed)
    model = model_of(args).to(device)
    with az.compressed_activations(model, bounds="policy") as ca:
        man_pages.lm_loss(model(batch[0].to(device)), batch[1].to(device)).backward()
        summary = ca.end_step()  # the first step of a context keeps everything raw
    return summary["raw_bytes"]


def train(name, args, train_batches, val_batches, device, raw_step, log):
    torch.manual_seed(args.seed)
    model = model_of(args).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=args.wd)
    ctx, policy = context(name, model, args, raw_step)
    history = {"policy": name, "policy_repr": describe(name, args, policy),
               "evals": [], "step_time_s": [], "loss": []}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if ctx is not None:
        ctx.__enter__()
    t_run = time.perf_counter()
    try:
        for step, (xb, yb) in enumerate(train_batches):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, args)
            xb, yb = xb.to(device), yb.to(device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            loss = man_pages.lm_loss(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if ctx is not None:
                ctx.end_step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            history["step_time_s"].append(time.perf_counter() - t0)
            history["loss"].append(loss.item())
            if (step + 1) % args.eval_every == 0 or step + 1 == len(train_batches):
                v = val_loss(model, val_batches, device)
                history["evals"].append({"step": step + 1, "val_loss": v,
                                         "train_loss": sum(history["loss"][-args.eval_every:]) /
                                         len(history["loss"][-args.eval_every:])})
                log(f"[{name}] step {step + 1}/{len(train_batches)}: train loss "
                    f"{history['evals'][-1]['train_loss']:.4f}, val loss {v:.4f}, {time.perf_counter() - t_run:.0f} s")
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    times = history["step_time_s"][5:]
    history["mean_step_time_s"] = sum(times) / len(times)
    history["final_val_loss"] = history["evals"][-1]["val_loss"]
    if ctx is not None:
        st = ctx.stats
        cs = [s for s in st.steps if s["compressed"] > 0] or st.steps
        history["raw_bytes_per_step"] = st.mean("raw_bytes")
        history["stored_bytes_per_compressed_step"] = sum(s["stored_bytes"] for s in cs) / len(cs)
        history["ratio_compressed_steps"] = sum(s["raw_bytes"] for s in cs) / sum(s["stored_bytes"] for s in cs)
        history["compressed_steps"] = len([s for s in st.steps if s["compressed"] > 0])
        history["last_step_records"] = st.records
        kept = [r for r in st.records if not r["compressed"]]
        history["raw_kept_bytes_last_step"] = sum(r["stored_bytes"] for r in kept)
        history["calibration"] = ctx.calibration
        if isinstance(policy, az.BudgetPolicy):
            history["budget_bytes_per_step"] = policy.bytes_per_step
            history["budget_met"] = policy.budget_met
            history["budget_scale"] = policy.scale
    else:
        history["raw_bytes_per_step"] = raw_step
        history["stored_bytes_per_compressed_step"] = raw_step
        history["ratio_compressed_steps"] = 1.0
    if device.type == "cuda":
        history["max_memory_allocated"] = torch.cuda.max_memory_allocated()
    return history, model, ctx


def interleaved(runs, batch, device, rounds, log):
    """Median forward + backward (+ end_step) of each trained run, in rounds that step
    every configuration in turn on the same batch; the compressed runs once more with
    overlap=True."""
    configs = []
    for name, model, ctx in runs:
        configs.append((name, model, ctx, False))
        if ctx is not None:
            configs.append((name + "+overlap", model, ctx, True))
    times = {c[0]: [] for c in configs}
    xb, yb = batch[0].to(device), batch[1].to(device)
    for _ in range(rounds):
        for label, model, ctx, overlap in configs:
            if ctx is not None:
                ctx.overlap = overlap
                ctx.__enter__()
            t0 = time.perf_counter()
            loss = man_pages.lm_loss(model(xb), yb)
            model.zero_grad(set_to_none=True)
            loss.backward()
            if ctx is not None:
                ctx.end_step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[label].append(time.perf_counter() - t0)
            if ctx is not None:
                ctx.__exit__(None, None, None)
    out = {k: sorted(v[2:])[len(v[2:]) // 2] for k, v in times.items()}
    log("interleaved median forward+backward ms: " + ", ".join(f"{k} {1000 * v:.0f}" for k, v in out.items()))
    return out


def write_report(results, timing, args, meta, out_dir):
    stem = out_dir / f"training-{args.machine}-{args.date}-{'gpt2' if args.model == 'gpt2' else 'transformer'}"
    with open(str(stem) + ".json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "runs": results, "interleaved_s": timing}, f, indent=1)
    base = next((r for r in results if r["policy"] == "none"), None)
    lines = [
        f"# Training with compressed activations: a causal transformer on the manual pages ({args.machine}, "
        f"{args.date})",
        "",
        f"- command: `{meta['command']}`",
        f"- commit: `{meta['commit']}`, torch {meta['torch']}, Python {meta['python']}",
        f"- machine: {meta['cpu']}, {meta['threads']} torch threads, device `{meta['device']}`",
        f"- model: {model_description(args, meta['parameters'])}",
        f"- data: the troff source of the manual pages under /usr/share/man ({meta['train_bytes']} training bytes, "
        f"{meta['val_bytes']} validation bytes from other pages); {args.steps} steps of {args.batch} random windows, "
        f"the same windows in the same order for every run; validation: {args.val_windows} fixed windows",
        f"- AdamW (lr {args.lr}, betas 0.9/0.95, weight decay {args.wd}), {args.warmup_lr} warm-up steps, cosine "
        "decay to lr/10, gradient norm clipped to 1",
        f"- codec of the policies: {args.codec}; wall time of the whole comparison: {meta['wall_s'] / 60:.1f} min",
        "",
        "Raw bytes: what autograd saves per step without the hooks. Stored: what the hooks keep, averaged over "
        "the steps with compression (a run's first step, and the adaptive warm-up, are kept raw). Interleaved: "
        "median forward + backward (+ end_step) of the trained models in rounds that step every configuration "
        "in turn on the same batch.",
        "",
        "| run | policy | final val. loss | diff. vs none | raw MiB/step | stored MiB/step | ratio | "
        "step time (ms) | interleaved fwd+bwd (ms) | with overlap (ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        diff = r["final_val_loss"] / base["final_val_loss"] - 1 if base else float("nan")
        inter = timing.get(r["policy"])
        over = timing.get(r["policy"] + "+overlap")
        lines.append(
            f"| {r['policy']} | {r['policy_repr']} | {r['final_val_loss']:.4f} | {100 * diff:+.2f} % | "
            f"{mib(r['raw_bytes_per_step']):.1f} | {mib(r['stored_bytes_per_compressed_step']):.2f} | "
            f"{r['ratio_compressed_steps']:.2f}x | {1000 * r['mean_step_time_s']:.0f} | "
            f"{'-' if inter is None else f'{1000 * inter:.0f}'} | {'-' if over is None else f'{1000 * over:.0f}'} |")
    lines += ["", "Validation loss during training:", "",
              "| step | " + " | ".join(r["policy"] for r in results) + " |",
              "| ---: | " + " | ".join("---:" for _ in results) + " |"]
    for i, e in enumerate(results[0]["evals"]):
        lines.append(f"| {e['step']} | " + " | ".join(f"{r['evals'][i]['val_loss']:.4f}" for r in results) + " |")
    for r in results:
        if "budget_bytes_per_step" in r:
            lines += ["", f"Budget run: {mib(r['budget_bytes_per_step']):.2f} MiB per step "
                      f"(raw / {args.budget_ratio:g}); budget met at the end: {r['budget_met']}, "
                      f"final scale {r['budget_scale']:.3g}."]
    with open(str(stem) + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    plot(results, str(stem) + ".png")
    return stem


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for r in results:
        ax1.plot([e["step"] for e in r["evals"]], [e["val_loss"] for e in r["evals"]], marker=".",
                 label=f"{r['policy']} ({r['ratio_compressed_steps']:.1f}x)")
    ax1.set_xlabel("step")
    ax1.set_ylabel("validation loss (nats per byte)")
    ax1.set_title("causal transformer, manual pages")
    ax1.grid(alpha=0.3)
    ax1.legend()
    bytes_panel(ax2, results)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--warmup-lr", type=int, default=50, help="steps of linear learning-rate warm-up")
    p.add_argument("--corpus-bytes", type=int, default=8 << 20)
    p.add_argument("--val-windows", type=int, default=64)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--model", default="man", choices=["man", "gpt2"])
    p.add_argument("--verify", action="store_true", help="decompress and check every saved tensor (slow)")
    add_policy_arguments(p, "none,default,budget")
    p.add_argument("--timing-rounds", type=int, default=12)
    p.add_argument("--report", action="store_true")
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

    train_bytes, val_bytes = man_pages.load(args.corpus_bytes)
    g = torch.Generator().manual_seed(args.seed)
    train_batches = [man_pages.windows(train_bytes, args.context, args.batch, g) for _ in range(args.steps)]
    gv = torch.Generator().manual_seed(12345)
    val = [man_pages.windows(val_bytes, args.context, args.batch, gv)
           for _ in range(max(1, args.val_windows // args.batch))]
    log(f"corpus: {len(train_bytes)} training bytes, {len(val_bytes)} validation bytes")
    raw_step = raw_bytes_per_step(args, device, train_batches[0])
    log(f"raw activation bytes per step: {mib(raw_step):.2f} MiB")
    results, trained = [], []
    for name in args.policies.split(","):
        history, model, ctx = train(name, args, train_batches, val, device, raw_step, log)
        results.append(history)
        trained.append((name, model, ctx))
        log(f"[{name}] final val loss {history['final_val_loss']:.4f}, stored "
            f"{mib(history['stored_bytes_per_compressed_step']):.2f} MiB/step "
            f"({history['ratio_compressed_steps']:.2f}x), step {1000 * history['mean_step_time_s']:.0f} ms")
    timing = interleaved(trained, train_batches[0], device, args.timing_rounds, log) if args.timing_rounds else {}
    meta = {
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "commit": commit, "torch": torch.__version__, "python": platform.python_version(),
        "cpu": cpu_model(), "threads": torch.get_num_threads(), "device": str(device),
        "parameters": sum(q.numel() for q in model_of(args).parameters()),
        "train_bytes": len(train_bytes), "val_bytes": len(val_bytes),
        "wall_s": time.time() - t_start, "args": vars(args),
    }
    if args.report:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = write_report(results, timing, args, meta, out)
        log(f"wrote {stem}.md, .json, .png")
    return results


if __name__ == "__main__":
    main()
