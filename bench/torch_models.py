#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""compressed_activations with its defaults on model code nobody in this project wrote:
the activation ratio, the share of bytes kept raw, the weight-gradient cosine against
uncompressed, the calibration's cost and the CPU overhead of finding the roles.

For each family of python/tests/model_zoo.py (transformers GPT-2, Llama and BERT,
torchvision ViT and ResNet-18, nn.TransformerEncoder; tiny configurations, random
weights, synthetic batches) and mode (float32; GPT-2 and Llama under
torch.autocast to bfloat16; GPT-2 with gradient checkpointing, and under torch.compile
with AOTAutograd alone and with Inductor, in actzip.torch.compile's context), it trains
`--steps` SGD steps inside compressed_activations(model) with its defaults and compares
each compressed step's gradient with the uncompressed one of the same step
(model_zoo.measure). It also
times, on the same model and batch, forward + backward without hooks, a step that
learns the plan (every tensor kept raw, the dispatcher traced: what finding the
roles costs) and the same step with the tracing switched off.

Writes bench/results/torch-models-<machine>-<date>.{md,json} with machine, date and
commit. Usage: bench/torch_models.py [--steps 4] [--threads 2] [--families gpt2,...]
[--out bench/results] (needs PyTorch 2.x, transformers and torchvision: the PyPI
environment of tests/run.sh, or pip install -r tests/requirements-pypi.txt)
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))
sys.path.insert(0, str(REPO / "examples" / "pytorch"))
import model_zoo  # noqa: E402
from train_fashion_mnist import cpu_model, git_commit  # noqa: E402

import actzip.torch as az  # noqa: E402

CASES = [(n, "fp32") for n in model_zoo.FAMILIES] + [("gpt2", "autocast"), ("llama", "autocast"),
                                                    ("gpt2", "checkpointing"), ("gpt2", "compile:aot_eager"),
                                                    ("gpt2", "compile:inductor")]


def measure_compiled(name, backend, steps):
    """model_zoo.measure's figures for the model under torch.compile(backend=...) inside
    actzip.torch.compile.compressed_activations with its defaults (measured bounds),
    each step's gradient against the uncompressed compiled step."""
    import actzip.torch.compile as azc
    from torch._dynamo.utils import counters
    model, batch, loss_of = model_zoo.build(name)
    model.train()
    compiled = torch.compile(model, backend=backend)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    cosines, seconds, plain = [], 0.0, 0.0

    def gradient():
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten().double()
                          for p in model.parameters()])

    with azc.compressed_activations(compiled) as ca:
        for step in range(steps):
            rng = torch.get_rng_state()
            ca._saved_hooks.__exit__(None, None, None)  # the uncompressed compiled step
            opt.zero_grad(set_to_none=True)
            start = time.perf_counter()
            loss_of(compiled, batch).backward()
            plain += time.perf_counter() - start
            want = gradient()
            ca._saved_hooks.__enter__()
            torch.set_rng_state(rng)
            opt.zero_grad(set_to_none=True)
            start = time.perf_counter()
            loss_of(compiled, batch).backward()
            seconds += time.perf_counter() - start
            got = gradient()
            if step:
                cosines.append(float(got @ want / (got.norm() * want.norm())))
            opt.step()
            frames = counters["frames"]["total"]
            last = ca.end_step()
            assert counters["frames"]["total"] == frames, "the calibration recompiled"
    return {"ratio": last["ratio"], "raw_share": last["raw_share"], "raw_reasons": last["raw_reasons"],
            "cosine": min(cosines), "seconds": seconds / steps, "plain_seconds": plain / steps, "last": last,
            "context": ca}


def learning_overhead(name, rounds=5):
    """Median seconds of forward + backward: without hooks, in a learning step (raw,
    traced) and in a learning step without the tracer."""
    model, batch, loss_of = model_zoo.build(name)
    model.train()

    def plain():
        model.zero_grad(set_to_none=True)
        loss_of(model, batch).backward()

    def learning(trace):
        ca = az.compressed_activations(model, bounds="policy")
        if not trace:
            ca._start_tracer = lambda: None
        with ca:
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            loss_of(model, batch).backward()
            return time.perf_counter() - start

    plain()
    times = {"plain": [], "learning": [], "learning, no tracing": []}
    for _ in range(rounds):
        start = time.perf_counter()
        plain()
        times["plain"].append(time.perf_counter() - start)
        times["learning"].append(learning(True))
        times["learning, no tracing"].append(learning(False))
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--families", default="")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    families = set(args.families.split(",")) if args.families else None
    rows = []
    for name, mode in CASES:
        if (families and name not in families) or not model_zoo.available(name):
            continue
        if mode.startswith("compile:"):
            r = measure_compiled(name, mode.split(":")[1], args.steps)
        else:
            r = model_zoo.measure(name, mode, steps=args.steps)
        cal = r["context"].calibration
        overhead = learning_overhead(name) if mode == "fp32" else None
        row = {"family": name, "mode": mode, "ratio": r["ratio"], "raw_share": r["raw_share"],
               "raw_reasons": r["raw_reasons"], "cosine": r["cosine"], "raw_bytes": r["last"]["raw_bytes"],
               "stored_bytes": r["last"]["stored_bytes"], "step_seconds": r["seconds"],
               "plain_step_seconds": r["plain_seconds"], "calibration_passes": cal["passes"] if cal else None,
               "calibration_seconds": cal["seconds"] if cal else None,
               "calibration_groups": len(cal["kinds"]) if cal else None, "learning_step": overhead}
        rows.append(row)
        print(f"{name:9s} {mode:13s} ratio {row['ratio']:6.2f} raw {100 * row['raw_share']:4.1f} % cos "
              f"{row['cosine']:.5f} calibration {row['calibration_passes']} passes {row['calibration_seconds']:.1f} s"
              + (f" learning step {overhead['learning']:.3f} s vs {overhead['learning, no tracing']:.3f} s untraced,"
                 f" {overhead['plain']:.3f} s plain" if overhead else ""), flush=True)
    date = datetime.date.today().isoformat()
    machine = "intel-xeon-2c" if "Xeon" in cpu_model() else platform.node()
    meta = {"date": date, "commit": git_commit(), "cpu": cpu_model(), "threads": args.threads,
            "torch": torch.__version__, "python": platform.python_version(), "steps": args.steps}
    try:
        import transformers
        import torchvision
        meta["transformers"], meta["torchvision"] = transformers.__version__, torchvision.__version__
    except ImportError:
        pass
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"torch-models-{machine}-{date}"
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    lines = [f"# compressed_activations with its defaults on transformers, torchvision and torch.nn models "
             f"({machine}, {date})", "",
             f"- commit `{meta['commit']}`; {meta['cpu']}, {args.threads} torch threads; torch {meta['torch']}, "
             f"transformers {meta.get('transformers')}, torchvision {meta.get('torchvision')}, Python "
             f"{meta['python']}",
             f"- command: `bench/torch_models.py --steps {args.steps} --threads {args.threads}`",
             "- tiny configurations with random weights and synthetic batches (python/tests/model_zoo.py); "
             f"{args.steps} SGD steps, the first learns the plan and ends with the calibration; the figures are "
             "those of the last step; the cosine is the smallest over the compressed steps, each against the "
             "uncompressed gradient of the same step (same weights, batch and dropout masks)",
             "- raw share: the bytes kept as they were (parameters' autocast copies, LayerNorm statistics, "
             "tensors under 4096 elements) over the bytes autograd keeps without the hooks",
             "- learning step: forward + backward of the step that learns the plan (every tensor raw) with the "
             "dispatcher traced, against the same step untraced and against no hooks (median of 5)", "",
             "| family | mode | ratio | raw share | weight-gradient cosine | step (s) | uncompressed step (s) | "
             "calibration | learning step: traced / untraced / no hooks (s) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        learn = r["learning_step"]
        lines.append(
            f"| {r['family']} | {r['mode']} | {r['ratio']:.2f}x | {100 * r['raw_share']:.1f} % | {r['cosine']:.5f} | "
            f"{r['step_seconds']:.3f} | {r['plain_step_seconds']:.3f} | {r['calibration_groups']} groups, "
            f"{r['calibration_passes']} passes, {r['calibration_seconds']:.1f} s | "
            + (f"{learn['learning']:.3f} / {learn['learning, no tracing']:.3f} / {learn['plain']:.3f}" if learn
               else "-") + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md and .json")


if __name__ == "__main__":
    main()
