#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Rate-distortion plot of the compressor comparison (bench/compare.py's JSON).

One panel per data set: PSNR (dB) over bits per value (32 / ratio) for every
compressor, one point per relative bound the JSON holds for that data set (run
compare.py with --rd-bounds and --rd-data for dense curves), joined in bound order.
--preserve-sign rows are dashed. A point whose maximum error exceeds its bound is drawn as a cross. Refused and
failed rows are left out (the panel's legend lists only what was measured).

Usage: plot_rd.py --json bench/results/compare-<machine>-<date>.json
                  [--data act-stage1-relu,levitus-TEMP,fmnist-train] [--out PNG]

Needs matplotlib; runs with /usr/bin/python3 (Debian python3-matplotlib).
"""
import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DEFAULT_DATA = "act-stage1-relu,levitus-TEMP,fmnist-train"
STYLE = {  # compressor (without +sign) -> (colour, marker)
    "actzip-bitplane": ("tab:blue", "o"),
    "actzip-huffman": ("tab:orange", "s"),
    "actzip-automatic": ("tab:green", "."),
    "SZ3": ("tab:red", "^"),
    "zfp": ("tab:purple", "v"),
}
EXTRA_COLOURS = ["tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True, help="compare.py output")
    ap.add_argument("--data", default=DEFAULT_DATA, help=f"comma-separated data sets, one panel each "
                                                         f"(default {DEFAULT_DATA})")
    ap.add_argument("--out", default=None, help="PNG path (default: the JSON path with compare- -> rd-, .png)")
    args = ap.parse_args()

    doc = json.loads(Path(args.json).read_text())
    names = [n for n in re.split(r"[,\s]+", args.data.strip()) if n]
    have = {r["data"] for r in doc["rows"]}
    missing = [n for n in names if n not in have]
    if missing:
        raise SystemExit(f"plot_rd: {args.json} has no rows for {missing} (data sets: {sorted(have)})")
    if args.out:
        out = Path(args.out)
    else:
        p = Path(args.json)
        out = p.with_name(p.name.replace("compare-", "rd-", 1)).with_suffix(".png")

    ctx = doc["context"]
    shapes = {d["name"]: d["shape"] for d in doc.get("data", [])}
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.4), squeeze=False)
    extra = {}
    for ax, name in zip(axes[0], names):
        rows = [r for r in doc["rows"] if r["data"] == name and r["status"] == "ok" and r.get("psnr_db") is not None]
        compressors = []
        for r in rows:
            if r["compressor"] not in compressors:
                compressors.append(r["compressor"])
        bounds = sorted({r["rel_bound"] for r in rows})
        for comp in compressors:
            base = comp.replace("+sign", "")
            if base not in STYLE and base not in extra:
                extra[base] = (EXTRA_COLOURS[len(extra) % len(EXTRA_COLOURS)], "P")
            colour, marker = STYLE.get(base) or extra[base]
            # In bound order (loosest first): a curve that turns back in rate shows it.
            pts = [(r["bits_per_value"], r["psnr_db"], r["bound_kept"])
                   for r in sorted(rows, key=lambda r: -r["rel_bound"]) if r["compressor"] == comp]
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            # huffman drawn wide and hollow, automatic thin on top: where automatic picks huffman in every
            # chunk the two curves coincide and both stay visible.
            wide = base == "actzip-huffman"
            ax.plot(xs, ys, linestyle="--" if comp.endswith("+sign") else "-", color=colour, marker=marker,
                    markersize=7 if wide else 5, linewidth=2.6 if wide else 1.2, label=comp,
                    markerfacecolor="none" if wide or comp.endswith("+sign") else colour,
                    alpha=0.6 if wide else 1.0)
            missed = [(p[0], p[1]) for p in pts if not p[2]]
            if missed:
                ax.plot([m[0] for m in missed], [m[1] for m in missed], "kx", markersize=9, linestyle="none")
        shape = "x".join(str(d) for d in shapes.get(name, []))
        ax.set_title(f"{name} {{{shape}}}\n{len(bounds)} bounds, rel {min(bounds):.0e} to {max(bounds):.0e}",
                     fontsize=10)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bits per value (32 / ratio)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"Rate-distortion: actzip, SZ3, zfp on real data ({ctx.get('machine')}, {ctx.get('date')}, "
                 f"commit {ctx.get('git_commit', '').split(' ')[0]})", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"plot_rd: wrote {out}")


if __name__ == "__main__":
    main()
