#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Error-bounded training checkpoints (actzip.torch.checkpoint) on real training runs:
the size of each checkpoint against torch.save and torch.save + zstd, save and load
times, and training resumed from the lossy checkpoint at the midpoint.

Models (--model): ``gpt2``, transformers' GPT2LMHeadModel (4 blocks of width 256) on
the manual pages (examples/pytorch/train_transformer.py's model and data), and
``resnet18``, torchvision's ResNet-18 on Fashion-MNIST
(examples/pytorch/train_fashion_mnist.py's model and data); both with AdamW.

1. The reference run trains --steps steps without interruption. Every --every steps it
   takes the state {model, optimizer, step, RNG state} and writes it with torch.save
   (size, save and load time), compresses that file with zstd (lossless), and writes one
   actzip checkpoint per configuration (--configs: bounds and moments' treatment): every
   --full-every-th one full, the others deltas against the previous one. Each actzip
   checkpoint is loaded back at once: load time, and the largest error of any element
   against its bound (the chain never accumulates error).
2. Control: the run resumed from the torch.save checkpoint at the midpoint must end
   exactly as the reference run (it checks that resuming restores everything).
3. For each configuration, the run resumed from its actzip checkpoint at the midpoint,
   to the end: final validation loss and accuracy against the reference run.

Writes bench/results/checkpoint-<machine>-<date>-<model>.json and (re)writes
checkpoint-<machine>-<date>.{md,json} from every model's JSON of that machine and date.
One torch thread (--threads): the machine is shared.

Usage: bench/checkpoint_training.py --model gpt2 [--steps 400 --every 50 --full-every 4]
       [--configs naive,tight,default] [--out bench/results]
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "pytorch"))

from actzip.torch import checkpoint as ckpt  # noqa: E402
from train_fashion_mnist import cpu_model, git_commit, mib  # noqa: E402

#: Named configurations: keyword arguments of checkpoint.save.
CONFIGS = {
    "naive": {"bound": 1e-3, "moments": "plain"},
    "tight": {"bound": 1e-3, "exp_avg_bound": 0.05, "exp_avg_sq_bound": 0.05},
    "default": {},
    "loose": {"bound": 1e-2, "exp_avg_bound": 0.2, "exp_avg_sq_bound": 0.2},
}


def parse_configs(text):
    """'name,name:key=value;...' -> {name: save kwargs}. Known names are CONFIGS; a new
    name takes 'key=value' pairs separated by ';' (numbers, None, strings)."""
    out = {}
    for item in text.split(","):
        name, _, spec = item.partition(":")
        if not spec:
            out[name] = dict(CONFIGS[name])
            continue
        kwargs = {}
        for pair in spec.split(";"):
            key, _, value = pair.partition("=")
            if value == "None":
                kwargs[key] = None
            else:
                try:
                    kwargs[key] = float(value) if key != "min_numel" else int(value)
                except ValueError:
                    kwargs[key] = value
        out[name] = kwargs
    return out


def settings_of(kwargs):
    full = {"bound": ckpt.DEFAULT_BOUND, "exp_avg_bound": ckpt.DEFAULT_EXP_AVG_BOUND,
            "exp_avg_sq_bound": ckpt.DEFAULT_EXP_AVG_SQ_BOUND, "codec": ckpt.DEFAULT_CODEC,
            "min_numel": ckpt.DEFAULT_MIN_NUMEL, "moments": "adam"}
    full.update(kwargs)
    return full


# --------------------------------------------------------------------------- tasks

class GPT2Task:
    name = "gpt2"

    def __init__(self, args):
        import man_pages
        from train_transformer import lr_at, model_of
        self.man_pages, self.lr_at, self.model_of = man_pages, lr_at, model_of
        self.args = argparse.Namespace(model="gpt2", context=128, dim=256, layers=4, heads=4, lr=1e-3, warmup_lr=50,
                                       steps=args.steps, seed=args.seed)
        train, val = man_pages.load(8 << 20)
        g = torch.Generator().manual_seed(args.seed)
        self.batches = [man_pages.windows(train, 128, 8, g) for _ in range(args.steps)]
        gv = torch.Generator().manual_seed(12345)
        self.val = [man_pages.windows(val, 128, 8, gv) for _ in range(args.val_batches)]
        self.description = (f"transformers GPT2LMHeadModel, 4 blocks of width 256, 4 heads, context 128, byte "
                            f"vocabulary; the manual pages ({len(train)} training bytes); batches of 8 windows; "
                            "AdamW (lr 1e-3, betas 0.9/0.95, weight decay 0.1), 50 warm-up steps, cosine decay to "
                            f"lr/10, gradient norm clipped to 1; validation: {8 * args.val_batches} fixed windows "
                            "of pages the training never sees (loss: mean next-byte cross entropy, accuracy: "
                            "next-byte accuracy)")

    def build(self):
        return self.model_of(self.args)

    def optimizer(self, model):
        return torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)

    def step(self, model, opt, step):
        for group in opt.param_groups:
            group["lr"] = self.lr_at(step, self.args)
        x, y = self.batches[step]
        loss = self.man_pages.lm_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    @torch.no_grad()
    def evaluate(self, model):
        model.eval()
        loss = correct = count = 0
        for x, y in self.val:
            logits = model(x)
            loss += self.man_pages.lm_loss(logits, y).item()
            correct += (logits.argmax(-1) == y).sum().item()
            count += y.numel()
        model.train()
        return {"val_loss": loss / len(self.val), "accuracy": 100.0 * correct / count}


class ResNetTask:
    name = "resnet18"

    def __init__(self, args):
        from fashion_mnist import load
        from train_fashion_mnist import batches, build_model
        self.batches_of, self.build_model = batches, build_model
        self.x, self.y = load("train")
        self.xt, self.yt = load("test")
        self.batch = 128
        self.per_epoch = len(self.x) // self.batch
        self.steps = args.steps
        self.seed = args.seed
        self._epoch, self._order = None, None
        self.lr, self.warmup = 2e-3, 50
        self.description = ("torchvision ResNet-18 (one-channel stem), Fashion-MNIST (60000 training images, "
                            f"batches of {self.batch}, {args.steps / self.per_epoch:.2f} epochs); AdamW (lr "
                            f"{self.lr}, betas 0.9/0.999, weight decay 0.05), {self.warmup} warm-up steps, cosine "
                            "decay to 0; validation: the 10000 test images (loss: mean cross entropy)")

    def build(self):
        return self.build_model(argparse.Namespace(model="resnet18"))

    def optimizer(self, model):
        return torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=0.05)

    def _lr(self, step):
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.lr * 0.5 * (1 + math.cos(math.pi * progress))

    def step(self, model, opt, step):
        epoch, index = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, self.batches_of(len(self.x), self.batch, epoch, self.seed)
        idx = self._order[index]
        for group in opt.param_groups:
            group["lr"] = self._lr(step)
        loss = F.cross_entropy(model(self.x[idx]), self.y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    @torch.no_grad()
    def evaluate(self, model):
        model.eval()
        loss = correct = 0
        for i in range(0, len(self.xt), 500):
            out = model(self.xt[i:i + 500])
            loss += F.cross_entropy(out, self.yt[i:i + 500], reduction="sum").item()
            correct += (out.argmax(1) == self.yt[i:i + 500]).sum().item()
        model.train()
        return {"val_loss": loss / len(self.xt), "accuracy": 100.0 * correct / len(self.xt)}


# ----------------------------------------------------------------------- measuring

def state_of(model, opt, step):
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
            "rng": {"torch": torch.get_rng_state()}}


def restore(task, state):
    torch.manual_seed(0)
    model = task.build()
    opt = task.optimizer(model)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"])
    return model, opt, state["step"]


def train(task, model, opt, start, stop, log, label):
    t0 = time.perf_counter()
    for s in range(start, stop):
        loss = task.step(model, opt, s)
        if (s + 1) % 100 == 0:
            log(f"[{label}] step {s + 1}: loss {loss:.4f}, {time.perf_counter() - t0:.0f} s")


def max_error_ratio(saved, loaded, settings):
    """The largest |x' - x| / bound over the floating tensors of a checkpoint, per role,
    with the bounds of checkpoint.save (relative to the range for values; the moments'
    bounds in their domains)."""
    worst = {}
    model_b, opt_b = loaded["model"], loaded["optimizer"]
    for k, x in saved["model"].items():
        if x.is_floating_point() and x.numel() >= settings["min_numel"] and settings["bound"]:
            r = float(x.max() - x.min())
            if r > 0:
                worst["value"] = max(worst.get("value", 0), float((model_b[k] - x).abs().max()) /
                                     (settings["bound"] * r))
    if settings["moments"] != "adam":
        return worst
    groups = saved["optimizer"]["param_groups"]
    for key, st in saved["optimizer"]["state"].items():
        m, v = st.get("exp_avg"), st.get("exp_avg_sq")
        if m is None or m.numel() < settings["min_numel"]:
            continue
        group = next(g for g in groups if key in g["params"])
        floor = group["eps"] * math.sqrt(1 - group["betas"][1] ** float(st["step"]))
        mb, vb = opt_b["state"][key]["exp_avg"], opt_b["state"][key]["exp_avg_sq"]
        d = (vb.double().sqrt() + floor) / (v.double().sqrt() + floor)
        if settings["exp_avg_sq_bound"]:
            worst["exp_avg_sq"] = max(worst.get("exp_avg_sq", 0),
                                      float(d.log().abs().max()) / settings["exp_avg_sq_bound"])
        if settings["exp_avg_bound"]:
            e = (mb.double() - m.double()).abs() / (vb.double().sqrt() + floor)
            worst["exp_avg"] = max(worst.get("exp_avg", 0), float(e.max()) / settings["exp_avg_bound"])
    return worst


def zero_moments(state):
    """The share of AdamW's moment entries that are exactly zero (parameters whose
    gradient is always zero: lossless compressors find these, and deltas of them are
    zero too)."""
    total = zeros = 0
    for st in state["optimizer"]["state"].values():
        for name in ("exp_avg", "exp_avg_sq"):
            total += st[name].numel()
            zeros += int((st[name] == 0).sum())
    return {"zero_moment_share": zeros / total}


def torch_save_measure(state, path, zstd):
    t0 = time.perf_counter()
    torch.save(state, path)
    save_s = time.perf_counter() - t0
    size = os.path.getsize(path)
    t0 = time.perf_counter()
    torch.load(path)
    load_s = time.perf_counter() - t0
    data = Path(path).read_bytes()
    t0 = time.perf_counter()
    packed = zstd.ZstdCompressor(level=3).compress(data)
    zstd_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    zstd.ZstdDecompressor().decompress(packed)
    unzstd_s = time.perf_counter() - t0
    return {"bytes": size, "save_s": save_s, "load_s": load_s, "zstd_bytes": len(packed), "zstd_s": zstd_s,
            "unzstd_s": unzstd_s}


def run(task, args, configs, log):
    import zstandard as zstd
    work = Path(args.work) / task.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    mid = args.steps // 2
    if mid % args.every:
        raise SystemExit(f"--steps / 2 ({mid}) must be a multiple of --every ({args.every})")
    torch.manual_seed(0)
    model = task.build()
    opt = task.optimizer(model)
    result = {"checkpoints": [], "configs": {n: settings_of(k) for n, k in configs.items()}}
    previous = {n: None for n in configs}
    index = 0
    t_run = time.perf_counter()
    for s in range(args.steps):
        task.step(model, opt, s)
        if (s + 1) % 100 == 0:
            log(f"[reference] step {s + 1}, {time.perf_counter() - t_run:.0f} s")
        if (s + 1) % args.every:
            continue
        state = state_of(model, opt, s + 1)
        entry = {"step": s + 1, "full": index % args.full_every == 0}
        entry["torch_save"] = torch_save_measure(state, work / "torch.pt", zstd)
        if s + 1 == mid:
            shutil.copy(work / "torch.pt", work / "torch-mid.pt")
        entry["configs"] = {}
        for name, kwargs in configs.items():
            path = work / name / f"step-{s + 1:06d}.azc"
            path.parent.mkdir(exist_ok=True)
            base = None if entry["full"] else previous[name]
            info = ckpt.save(state, path, base=base, **kwargs)
            t0 = time.perf_counter()
            loaded = ckpt.load(path)
            load_s = time.perf_counter() - t0
            entry["configs"][name] = {"bytes": info["bytes"], "save_s": info["seconds"], "load_s": load_s,
                                      "depth": info["depth"], "roles": info["roles"],
                                      "max_error_ratio": max_error_ratio(state, loaded, settings_of(kwargs))}
            previous[name] = path
        ts = entry["torch_save"]
        log(f"[checkpoint {s + 1}] torch.save {ts['bytes'] / 2**20:.1f} MiB, +zstd {ts['zstd_bytes'] / 2**20:.1f} "
            "MiB; " + ", ".join(f"{n} {c['bytes'] / 2**20:.2f} MiB ({ts['bytes'] / c['bytes']:.1f}x, save "
                                f"{c['save_s']:.1f} s, load {c['load_s']:.1f} s)" for n, c in entry["configs"].items()))
        result["checkpoints"].append(entry)
        index += 1
        if s + 1 == mid:
            result["midpoint"] = {"step": mid, **task.evaluate(model), **zero_moments(state)}
    result["reference"] = task.evaluate(model)
    result["reference_train_s"] = time.perf_counter() - t_run
    log(f"[reference] final {result['reference']}")
    # The control: resuming from the exact checkpoint must reproduce the reference run.
    m, o, start = restore(task, torch.load(work / "torch-mid.pt"))
    train(task, m, o, start, args.steps, log, "resume torch.save")
    result["resume_exact"] = task.evaluate(m)
    result["resume_exact"]["identical_parameters"] = all(
        torch.equal(a, b) for a, b in zip(m.state_dict().values(), model.state_dict().values()))
    log(f"[resume torch.save] {result['resume_exact']}")
    result["noise_floor"] = noise_floor(task, args, work, log)
    result["resumes"] = {}
    for name in configs:
        path = work / name / f"step-{mid:06d}.azc"
        m, o, start = restore(task, ckpt.load(path))
        train(task, m, o, start, args.steps, log, f"resume {name}")
        result["resumes"][name] = task.evaluate(m)
        log(f"[resume {name}] {result['resumes'][name]}")
    return result


def noise_floor(task, args, work, log):
    """Runs resumed from the exact midpoint state with every floating tensor of the model
    moved by one or two units in the last place (x * (1 +- 2^-22), random signs): how
    far the final metrics move when the resumed state differs by nothing more than
    rounding. Training is chaotic, so this is the scale against which the lossy
    resumes' differences are to be read."""
    out = []
    for seed in range(1, args.noise_floor + 1):
        state = torch.load(work / "torch-mid.pt")
        g = torch.Generator().manual_seed(seed)
        for k, x in state["model"].items():
            if x.is_floating_point():
                sign = torch.randint(0, 2, x.shape, generator=g).to(x.dtype) * 2 - 1
                state["model"][k] = x * (1 + sign * 2.0 ** -22)
        m, o, start = restore(task, state)
        train(task, m, o, start, args.steps, log, f"noise floor {seed}")
        out.append({"seed": seed, **task.evaluate(m)})
        log(f"[noise floor {seed}] {out[-1]}")
    return out


# ------------------------------------------------------------------------ reports

def modified_files():
    """Tracked files that differ from the commit (what '-dirty' stands for)."""
    try:
        out = subprocess.check_output(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, text=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line[3:] for line in out.splitlines() if line.strip()]


def describe(settings):
    if settings["moments"] == "plain":
        return (f"every floating tensor ({settings['min_numel']}+ elements) at {settings['bound']:g} of its range, "
                "moments included")
    return (f"parameters at {settings['bound']:g} of each tensor's range; exp_avg within {settings['exp_avg_bound']:g} "
            f"of sqrt(v')+eps; exp_avg_sq: sqrt(v)+eps within a factor exp(+-{settings['exp_avg_sq_bound']:g}); "
            f"{settings['codec']} codec; tensors under {settings['min_numel']} elements exact")


def model_section(r):
    res = r["result"]
    cps = res["checkpoints"]
    names = list(res["configs"])
    torch_total = sum(c["torch_save"]["bytes"] for c in cps)
    zstd_total = sum(c["torch_save"]["zstd_bytes"] for c in cps)
    lines = [f"## {r['model']}", "", f"- {r['description']}",
             f"- {r['args']['steps']} steps; a checkpoint every {r['args']['every']} steps ({len(cps)} in all); "
             f"one in {r['args']['full_every']} is full (the first of each chain), the others are deltas against "
             f"the previous checkpoint; resumed from step {r['args']['steps'] // 2}",
             f"- reference run: {res['reference_train_s'] / 60:.1f} min of training (checkpoints included)", "",
             "Configurations (keyword arguments of `checkpoint.save`):", ""]
    for n in names:
        lines.append(f"- `{n}`: {describe(res['configs'][n])}")
    lines += ["", "### Size per checkpoint", "",
              "| step | kind | torch.save (MiB) | + zstd -3 (MiB) | " +
              " | ".join(f"{n} (MiB) | {n} ratio" for n in names) + " |",
              "| ---: | --- | ---: | ---: | " + " | ".join("---: | ---:" for _ in names) + " |"]
    for c in cps:
        ts = c["torch_save"]
        kinds = {c["configs"][n]["depth"] for n in names}
        kind = "full" if kinds == {0} else f"delta (depth {max(kinds)})"
        lines.append(f"| {c['step']} | {kind} | {mib(ts['bytes']):.2f} | {mib(ts['zstd_bytes']):.2f} | " + " | ".join(
            f"{mib(c['configs'][n]['bytes']):.2f} | {ts['bytes'] / c['configs'][n]['bytes']:.1f}x" for n in names)
            + " |")
    lines.append(f"| **all** | | {mib(torch_total):.1f} | {mib(zstd_total):.1f} "
                 f"({torch_total / zstd_total:.2f}x) | " + " | ".join(
                     f"**{mib(sum(c['configs'][n]['bytes'] for c in cps)):.2f}** | "
                     f"**{torch_total / sum(c['configs'][n]['bytes'] for c in cps):.1f}x**" for n in names) + " |")
    lines += ["", "Ratio = torch.save bytes / checkpoint bytes; **all**: the sum over the run (full and delta "
              "checkpoints together). Against torch.save + zstd over the run: " + ", ".join(
                  f"`{n}` {zstd_total / sum(c['configs'][n]['bytes'] for c in cps):.1f}x" for n in names) + "."]
    share = res.get("midpoint", {}).get("zero_moment_share")
    if share is not None:
        lines += ["", f"At the midpoint {100 * share:.0f} % of AdamW's moment entries are exactly zero (parameters "
                  "that never receive a gradient)" + (": on 28x28 images ResNet-18's last stage sees 2x2 and 1x1 "
                  "feature maps, so most taps of its 3x3 convolutions only ever meet zero padding. Zeros are what "
                  "zstd finds, and they "
                  "make those tensors' deltas (weight decay only) and moments cheap here; GPT-2's ratios are the "
                  "ones to expect of a model whose every weight learns." if r["model"] == "resnet18" and share > 0.2
                  else ".")]
    lines += ["", "### Where the bytes go (sum over the run)", "",
              "| configuration | role | tensors' bytes (MiB) | stored (MiB) | ratio |",
              "| --- | --- | ---: | ---: | ---: |"]
    for n in names:
        roles = {}
        for c in cps:
            for role, e in c["configs"][n]["roles"].items():
                acc = roles.setdefault(role, [0, 0])
                acc[0] += e["tensor_bytes"]
                acc[1] += e["stored_bytes"]
        for role, (raw, stored) in sorted(roles.items()):
            lines.append(f"| {n} | {role} | {mib(raw):.1f} | {mib(stored):.2f} | {raw / stored:.1f}x |")
    lines += ["", "(`value`: parameters and buffers; `exp_avg`, `exp_avg_sq`: AdamW's moments; `exact`: tensors "
              "stored exactly: under the size threshold, integers, step counts, the RNG state. The manifest and the "
              "container's header and trailer are the rest of each file.)", "", "### Time per checkpoint (mean)", "",
              "| format | save (s) | load (s) |", "| --- | ---: | ---: |"]
    n_c = len(cps)
    lines.append(f"| torch.save / torch.load | {sum(c['torch_save']['save_s'] for c in cps) / n_c:.2f} | "
                 f"{sum(c['torch_save']['load_s'] for c in cps) / n_c:.2f} |")
    lines.append(f"| zstd -3 of the torch.save bytes (on top of torch.save) | "
                 f"{sum(c['torch_save']['zstd_s'] for c in cps) / n_c:.2f} | "
                 f"{sum(c['torch_save']['unzstd_s'] for c in cps) / n_c:.2f} |")
    for n in names:
        lines.append(f"| actzip `{n}` | {sum(c['configs'][n]['save_s'] for c in cps) / n_c:.2f} | "
                     f"{sum(c['configs'][n]['load_s'] for c in cps) / n_c:.2f} |")
    lines += ["", "Save: `checkpoint.save` from the live state to a file (a delta also reads and decodes its base's "
              "chain); load: `checkpoint.load` of the whole chain. One torch thread, actzip's serial executor, on a "
              "shared 2-core machine.", "", "### Largest error against the bound, over every checkpoint", "",
              "| configuration | value | exp_avg | exp_avg_sq |", "| --- | ---: | ---: | ---: |"]
    for n in names:
        worst = {}
        for c in cps:
            for k, v in c["configs"][n]["max_error_ratio"].items():
                worst[k] = max(worst.get(k, 0), v)
        lines.append(f"| {n} | " + " | ".join(f"{worst[k]:.6f}" if k in worst else "-"
                                               for k in ("value", "exp_avg", "exp_avg_sq")) + " |")
    lines += ["", "|x' - x| / bound of the restored state against the state saved, for every element of every "
              "checkpoint, deltas included (at most 1: errors do not accumulate along a chain).", "",
              "### Resumed training", ""]
    ref = res["reference"]
    lines += ["| run | final accuracy (%) | diff. (points) | final val. loss | diff. |",
              "| --- | ---: | ---: | ---: | ---: |",
              f"| reference (uninterrupted, exact) | {ref['accuracy']:.2f} | | {ref['val_loss']:.4f} | |"]
    ex = res["resume_exact"]
    lines.append(f"| resumed from torch.save (control; parameters bit-identical to the reference: "
                 f"{ex['identical_parameters']}) | {ex['accuracy']:.2f} | {ex['accuracy'] - ref['accuracy']:+.2f} | "
                 f"{ex['val_loss']:.4f} | {100 * (ex['val_loss'] / ref['val_loss'] - 1):+.2f} % |")
    for e in res.get("noise_floor", []):
        lines.append(f"| resumed from torch.save with every model tensor moved by 1-2 ulp (seed {e['seed']}): the "
                     f"noise floor | {e['accuracy']:.2f} | {e['accuracy'] - ref['accuracy']:+.2f} | "
                     f"{e['val_loss']:.4f} | {100 * (e['val_loss'] / ref['val_loss'] - 1):+.2f} % |")
    for n in names:
        e = res["resumes"][n]
        da, dl = e["accuracy"] - ref["accuracy"], 100 * (e["val_loss"] / ref["val_loss"] - 1)
        ok = abs(da) <= 0.1 and abs(dl) <= 0.5
        lines.append(f"| resumed from actzip `{n}` | {e['accuracy']:.2f} | {da:+.2f} | {e['val_loss']:.4f} | "
                     f"{dl:+.2f} % {'' if ok else '(outside 0.1 points / 0.5 %)'} |")
    if "midpoint" in res:
        mid = res["midpoint"]
        lines += ["", f"At the midpoint (step {mid['step']}): accuracy {mid['accuracy']:.2f} %, validation loss "
                  f"{mid['val_loss']:.4f}."]
    return lines


def write_reports(out, machine, date):
    parts = sorted(out.glob(f"checkpoint-{machine}-{date}-*.json"))
    runs = [json.loads(p.read_text()) for p in parts]
    if not runs:
        return None
    stem = out / f"checkpoint-{machine}-{date}"
    with open(str(stem) + ".json", "w", encoding="utf-8") as f:
        json.dump({"runs": runs}, f, indent=1)
    meta = runs[0]
    lines = [f"# Error-bounded training checkpoints ({machine}, {date})", "",
             f"- machine: {meta['cpu']}, {meta['threads']} torch thread(s), shared with other work",
             f"- torch {meta['torch']}, Python {meta['python']}; commit(s): "
             + ", ".join(sorted({f"`{r['commit']}` ({r['model']})" for r in runs})),
             "- commands: " + "; ".join(f"`{r['command']}`" + (f" (commit `{r['commit']}`), then `"
                                                               f"{r['noise_floor_command']}` (commit "
                                                               f"`{r['noise_floor_commit']}`: the noise-floor "
                                                               "resumes)" if "noise_floor_command" in r else "")
                                    for r in runs),
             "- `bench/checkpoint_training.py` (this report is written by it)"]
    for r in runs:
        for key, what in (("modified_files", "run"), ("noise_floor_modified_files", "noise-floor resumes")):
            if r.get(key):
                lines.append(f"- {r['model']}, {what}: tracked files that differed from the commit ('-dirty'): "
                             + ", ".join(f"`{f}`" for f in r[key]))
    lines.append("")
    for r in runs:
        lines += model_section(r) + [""]
    with open(str(stem) + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return stem


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["gpt2", "resnet18"], required=True)
    p.add_argument("--steps", type=int, default=None, help="gpt2: 400, resnet18: 936 (two epochs)")
    p.add_argument("--every", type=int, default=None, help="steps between checkpoints (gpt2: 50, resnet18: 78)")
    p.add_argument("--full-every", type=int, default=4, help="every n-th checkpoint is full")
    p.add_argument("--configs", default="naive,tight,default")
    p.add_argument("--val-batches", type=int, default=32, help="gpt2: validation batches of 8 windows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise-floor", type=int, default=2, help="resumes from the exact state moved by 1-2 ulp")
    p.add_argument("--only-noise-floor", action="store_true",
                   help="add the noise-floor resumes to this model's existing JSON in --out (the reference run's "
                        "midpoint state must still be in --work)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default="/tmp/actzip-checkpoint-bench")
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    p.add_argument("--machine", default="intel-xeon-2c")
    p.add_argument("--date", default=datetime.date.today().isoformat())
    args = p.parse_args(argv)
    defaults = {"gpt2": (400, 50), "resnet18": (936, 78)}[args.model]
    args.steps = args.steps or defaults[0]
    args.every = args.every or defaults[1]
    torch.set_num_threads(args.threads)
    configs = parse_configs(args.configs)
    t0 = time.time()
    commit = git_commit()
    modified = modified_files()

    def log(msg):
        print(f"[{time.time() - t0:7.1f} s] {msg}", flush=True)

    task = GPT2Task(args) if args.model == "gpt2" else ResNetTask(args)
    out = Path(args.out)
    path = out / f"checkpoint-{args.machine}-{args.date}-{args.model}.json"
    if args.only_noise_floor:
        record = json.loads(path.read_text())
        record["result"]["noise_floor"] = noise_floor(task, args, Path(args.work) / task.name, log)
        record["result"]["midpoint"].update(zero_moments(torch.load(Path(args.work) / task.name / "torch-mid.pt")))
        record["noise_floor_command"] = " ".join(["checkpoint_training.py"] + (argv if argv is not None else
                                                                               sys.argv[1:]))
        record["noise_floor_commit"] = commit
        record["noise_floor_modified_files"] = modified
        path.write_text(json.dumps(record, indent=1))
        stem = write_reports(out, args.machine, args.date)
        log(f"wrote {path} and {stem}.md")
        return
    result = run(task, args, configs, log)
    record = {"model": args.model, "description": task.description, "commit": commit, "modified_files": modified,
              "torch": torch.__version__,
              "python": platform.python_version(), "cpu": cpu_model(), "threads": torch.get_num_threads(),
              "command": " ".join(["checkpoint_training.py"] + (argv if argv is not None else sys.argv[1:])),
              "args": vars(args), "wall_s": time.time() - t0, "result": result}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    stem = write_reports(out, args.machine, args.date)
    log(f"wrote {path} and {stem}.md")


if __name__ == "__main__":
    main()
