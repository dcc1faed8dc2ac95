#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""actzip, SZ3 and zfp side by side in one Python process, one thread each.

From the repository root, on an otherwise idle machine:

    # once: an environment with the three libraries (scipy only for the data)
    python3 -m venv /tmp/venv-compare && . /tmp/venv-compare/bin/activate
    CMAKE_BUILD_PARALLEL_LEVEL=2 pip install pysz zfpy numpy scipy .
    # once: the data, raw float32 files and their manifests in build-peers/data
    bash bench/install-data.sh                        # Debian data set packages
    python bench/prepare_compare_data.py              # Fashion-MNIST, ferret climate fields
    /usr/bin/python3 bench/capture_activations.py     # CNN activations (Debian python3-torch;
                                                      # about 10 minutes of training on 2 cores)
    # the comparison -> bench/results/compare-<machine>-<date>.{json,md}
    python bench/compare.py

Options: --data DIR, --only NAME,..., --bounds 1e-2,1e-3,1e-4, --compressors LIST,
--repeat 5, --machine TAG, --out PATH_PREFIX.

Compressors, every one called through its Python package on a float32 numpy array:
  actzip-<codec>  actzip.compress(x, actzip.Params(actzip.rel(E), codec=<codec>), threads=1)
                  (the serial executor) and actzip.decompress(stream, threads=1); codecs
                  huffman and bitplane by default (--compressors adds actzip-automatic)
  SZ3             pysz.sz.compress with errorBoundMode REL, relErrorBound E, openmp off:
                  the value-range relative bound, the same definition as actzip.rel(E)
  zfp             zfpy.compress_numpy(x, tolerance=E * (max - min)), fixed-accuracy mode,
                  with max and min over the finite values; serial
For each field x relative bound E x compressor it reports the ratio (input bytes / stream
bytes), compress and decompress MB/s (input bytes / 1e6 / seconds of the library call
alone, best of --repeat calls), max |x - x'| / (E * (max - min)) over the finite values
(> 1 is a bound miss), PSNR, whether every exact zero came back as zero, and whether
NaN/Inf came back as themselves. The prepared fields hold no NaN or Inf:
prepare_compare_data.py replaces the climate fields' fill values by one finite value for
every compressor alike, so that column reads '-' unless a manifest brings such a field.

Writes <out>.json and <out>.md (machine, date, commit, library versions, the per-field
rows and, per compressor, the geometric means of ratio and speeds) and prints the
markdown. Exits 1 when an actzip row misses its bound or a call fails.
"""
import argparse
import datetime
import importlib.metadata
import json
import math
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import actzip
import pysz
import zfpy

REPO = Path(__file__).resolve().parent.parent
DEFAULT_COMPRESSORS = "actzip-huffman,actzip-bitplane,SZ3,zfp"


# ---- the compressors: name -> (compress(x, rel, abs_bound) -> stream, size(stream), decompress(stream, x)) ----

def actzip_codec(codec):
    def compress(x, rel, _abs_bound):
        return actzip.compress(x, actzip.Params(actzip.rel(rel), codec=codec), threads=1)
    return compress, len, lambda z, _x: actzip.decompress(z, threads=1)


def sz3_compress(x, rel, _abs_bound):
    conf = pysz.szConfig()
    conf.errorBoundMode = pysz.szErrorBoundMode.REL
    conf.relErrorBound = rel
    conf.openmp = False
    return pysz.sz.compress(x, conf)[0]


COMPRESSORS = {
    "SZ3": (sz3_compress, lambda z: z.nbytes, lambda z, x: pysz.sz.decompress(z, np.float32, x.shape)[0]),
    "zfp": (lambda x, _rel, abs_bound: zfpy.compress_numpy(x, tolerance=abs_bound), len,
            lambda z, _x: zfpy.decompress_numpy(z)),
}


def compressor(name):
    if name.startswith("actzip-"):
        return actzip_codec(name[len("actzip-"):])
    if name not in COMPRESSORS:
        raise SystemExit(f"compare: unknown compressor {name!r} (actzip-<codec>, SZ3, zfp)")
    return COMPRESSORS[name]


# ---- the machine and the run ----

def run_text(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine_info():
    """(CPU model, logical cores) from lscpu."""
    fields = dict(line.split(":", 1) for line in run_text(["lscpu"]).splitlines() if ":" in line)
    model = fields.get("Model name", "").strip() or platform.processor() or "unknown CPU"
    cores = fields.get("CPU(s)", "").strip() or "?"
    return model, cores


def machine_tag(model, cores):
    """'Intel(R) Xeon(R) CPU @ 2.80GHz', 2 -> 'intel-xeon-2c'."""
    short = re.sub(r"\((R|TM)\)|@.*|\bCPU\b|\bProcessor\b|\d+-Core", " ", model, flags=re.I).lower()
    short = re.sub(r"[^a-z0-9]+", "-", short).strip("-") or "host"
    return f"{short}-{cores}c"


def git_commit():
    commit = run_text(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]) or "unknown"
    if run_text(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"]):
        commit += " (work tree has uncommitted changes)"
    return commit


def versions():
    out = {"python": platform.python_version(), "actzip": actzip.__version__}
    for package in ("pysz", "zfpy", "numpy"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "unknown"
    return out


# ---- data and measurement ----

def load_fields(data_dir, only):
    manifests = sorted(Path(data_dir).glob("manifest-*.json"))
    if not manifests:
        raise SystemExit(f"compare: no manifest-*.json in {data_dir} (run bench/prepare_compare_data.py and "
                         "bench/capture_activations.py first, or pass --data)")
    fields = []
    for m in manifests:
        for e in json.loads(m.read_text())["data"]:
            if not only or e["name"] in only:
                x = np.fromfile(Path(data_dir) / e["file"], dtype="<f4").reshape(e["shape"])
                fields.append((e, x))
    missing = set(only) - {e["name"] for e, _ in fields}
    if missing:
        raise SystemExit(f"compare: --only: no such data in {data_dir}: {', '.join(sorted(missing))}")
    return fields


def best_time(call, repeat):
    """(best seconds, last result) of `repeat` calls."""
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - t0)
    return best, result


def measure(name, x, rel, value_range, repeat):
    compress, size, decompress = compressor(name)
    abs_bound = rel * value_range
    row = {"compressor": name, "rel_bound": rel, "abs_bound": abs_bound}
    try:
        t_c, z = best_time(lambda: compress(x, rel, abs_bound), repeat)
        t_d, y = best_time(lambda: decompress(z, x), repeat)
        y = np.asarray(y).reshape(x.shape)
    except Exception as e:  # a peer that refuses a field is reported, not fatal
        return dict(row, status="failed", message=f"{type(e).__name__}: {e}")
    finite = np.isfinite(x)
    err = np.abs(x[finite].astype(np.float64) - y[finite].astype(np.float64))
    max_err = float(err.max()) if err.size else 0.0
    mse = float(np.mean(err * err)) if err.size else 0.0
    zeros = x == 0
    return dict(row, status="ok", bytes=int(size(z)), ratio=x.nbytes / size(z),
                compress_s=t_c, decompress_s=t_d, compress_MBps=x.nbytes / 1e6 / t_c,
                decompress_MBps=x.nbytes / 1e6 / t_d, max_abs_error=max_err,
                max_error_over_bound=max_err / abs_bound if abs_bound > 0 else None,
                psnr_db=20 * math.log10(value_range) - 10 * math.log10(mse) if mse > 0 and value_range > 0 else None,
                zeros_kept=bool(np.all(y[zeros] == 0)) if zeros.any() else None,
                nonfinite_kept=(bool(np.array_equal(x[~finite], y[~finite], equal_nan=True))
                                if not finite.all() else None))


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def summarize(rows, names, bounds):
    """Per compressor and bound (and 'all'), the geometric means over the fields."""
    out = []
    for name in names:
        for rel in [*bounds, "all"]:
            rs = [r for r in rows if r["compressor"] == name and r["status"] == "ok"
                  and (rel == "all" or r["rel_bound"] == rel)]
            errs = [r["max_error_over_bound"] for r in rs if r["max_error_over_bound"] is not None]
            out.append({"compressor": name, "rel_bound": rel, "rows": len(rs),
                        "ratio": geomean(r["ratio"] for r in rs),
                        "compress_MBps": geomean(r["compress_MBps"] for r in rs),
                        "decompress_MBps": geomean(r["decompress_MBps"] for r in rs),
                        "max_error_over_bound": max(errs) if errs else None})
    return out


# ---- markdown ----

def fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def bound_text(rel):
    """1e-2 -> '1e-2', 3e-05 -> '3e-5'."""
    mantissa, exponent = f"{rel:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def yes_no(v):
    return "–" if v is None else ("yes" if v else "**no**")


def markdown(doc):
    ctx = doc["context"]
    v = ctx["versions"]
    out = [f"# actzip, SZ3 and zfp in one process: {ctx['machine']}, {ctx['date']}", "",
           f"- Machine: {ctx['cpu']}, {ctx['cores']} logical cores; commit {ctx['commit']}",
           f"- Versions: actzip {v['actzip']}, pysz {v['pysz']} (SZ3), zfpy {v['zfpy']} (zfp), numpy {v['numpy']}, "
           f"Python {v['python']}",
           f"- Command: `{ctx['command']}`",
           f"- One thread each; MB/s = input bytes / 1e6 / seconds of the library call alone (no file I/O, no "
           f"process start; actzip.decompress verifies the stream's checksum, its default), best of {ctx['repeat']}; ratio = input bytes / stream bytes; err/bound = max |x - x'| "
           "over the finite values / (rel * (max - min)), > 1 is a bound miss, marked (!). SZ3 in its value-range relative "
           "mode (the same bound as actzip.rel); zfp in fixed-accuracy mode with the same absolute bound as its "
           "tolerance (zfp often stays well below it: see its err/bound and PSNR).",
           "- NaN/Inf kept: '–' for a field without NaN or Inf. The prepared fields have none (the climate "
           "fields' fill values are replaced by one finite value before any compressor sees them); a field that "
           "has them goes to every compressor as it is.", "",
           "## Geometric means over the fields", "",
           "| compressor | bound | cases | ratio | compress MB/s | decompress MB/s | max err/bound |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for s in doc["summary"]:
        bound = s["rel_bound"] if s["rel_bound"] == "all" else bound_text(s["rel_bound"])
        out.append(f"| {s['compressor']} | {bound} | {s['rows']} | {fmt(s['ratio'])} | {fmt(s['compress_MBps'], 1)} "
                   f"| {fmt(s['decompress_MBps'], 1)} | {fmt(s['max_error_over_bound'], 4)} |")
    if doc.get("huffman_over_sz3"):
        q = doc["huffman_over_sz3"]
        out += ["", f"actzip-huffman / SZ3, geometric means over every field and bound: ratio {fmt(q['ratio'])}x, "
                    f"compress speed {fmt(q['compress_MBps'])}x, decompress speed {fmt(q['decompress_MBps'])}x."]
    out += ["", "## Every field", "",
            "| data | shape | bound | compressor | ratio | compress MB/s | decompress MB/s | max err/bound | PSNR dB "
            "| zeros kept | NaN/Inf kept |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in doc["rows"]:
        head = f"| {r['data']} | {'x'.join(map(str, r['shape']))} | {bound_text(r['rel_bound'])} | {r['compressor']} |"
        if r["status"] != "ok":
            out.append(f"{head} failed: {r['message'][:80]} | | | | | | |")
            continue
        miss = " (!)" if (r["max_error_over_bound"] or 0) > 1 else ""
        out.append(f"{head} {fmt(r['ratio'])} | {fmt(r['compress_MBps'], 1)} | {fmt(r['decompress_MBps'], 1)} | "
                   f"{fmt(r['max_error_over_bound'], 4)}{miss} | {fmt(r['psnr_db'], 1)} | {yes_no(r['zeros_kept'])} | "
                   f"{yes_no(r['nonfinite_kept'])} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO / "build-peers" / "data"), help="directory with manifest-*.json")
    ap.add_argument("--only", default="", help="comma-separated data names (default: every field)")
    ap.add_argument("--bounds", default="1e-2,1e-3,1e-4", help="relative bounds (default 1e-2,1e-3,1e-4)")
    ap.add_argument("--compressors", default=DEFAULT_COMPRESSORS, help=f"default {DEFAULT_COMPRESSORS}")
    ap.add_argument("--repeat", type=int, default=5, help="calls per measurement, the best kept (default 5)")
    ap.add_argument("--machine", default=None, help="machine tag (default: lscpu's model name and core count)")
    ap.add_argument("--out", default=None, help="output path without extension "
                                                "(default bench/results/compare-<machine>-<date>)")
    args = ap.parse_args()
    bounds = [float(b) for b in args.bounds.split(",") if b.strip()]
    names = [n.strip() for n in args.compressors.split(",") if n.strip()]
    if args.repeat < 1 or not bounds or not all(0 < b < 1 for b in bounds):
        ap.error("--repeat must be >= 1 and --bounds relative bounds in (0, 1)")
    for n in names:
        compressor(n)
    cpu, cores = machine_info()
    machine = args.machine or machine_tag(cpu, cores)
    date = datetime.date.today().isoformat()
    out = Path(args.out) if args.out else REPO / "bench" / "results" / f"compare-{machine}-{date}"

    rows, data = [], []
    for entry, x in load_fields(args.data, {n for n in args.only.split(",") if n.strip()}):
        finite = x[np.isfinite(x)]
        value_range = float(finite.max()) - float(finite.min()) if finite.size else 0.0
        data.append({k: entry[k] for k in ("name", "shape", "kind", "description") if k in entry}
                    | {"value_range": value_range, "nonfinite": int(x.size - finite.size)})
        for rel in bounds:
            for name in names:
                r = {"data": entry["name"], "shape": list(x.shape)} | measure(name, x, rel, value_range, args.repeat)
                rows.append(r)
                print(f"{r['data']:<20} {bound_text(rel):<5} {name:<16} " + (
                    f"ratio {r['ratio']:7.2f}  c {r['compress_MBps']:7.1f} MB/s  d {r['decompress_MBps']:7.1f} MB/s  "
                    f"err/bound {fmt(r['max_error_over_bound'], 4)}" if r["status"] == "ok"
                    else f"FAILED: {r['message']}"), file=sys.stderr, flush=True)

    summary = summarize(rows, names, bounds)
    overall = {s["compressor"]: s for s in summary if s["rel_bound"] == "all"}
    context = {"machine": machine, "cpu": cpu, "cores": cores, "date": date, "commit": git_commit(),
               "versions": versions(), "repeat": args.repeat, "bounds": bounds, "data_dir": args.data,
               "command": " ".join(["python", "bench/compare.py", *sys.argv[1:]])}
    doc = {"context": context, "data": data, "rows": rows, "summary": summary}
    h, s = overall.get("actzip-huffman"), overall.get("SZ3")
    if h and s and all(h[k] and s[k] for k in ("ratio", "compress_MBps", "decompress_MBps")):
        doc["huffman_over_sz3"] = {k: h[k] / s[k] for k in ("ratio", "compress_MBps", "decompress_MBps")}
    text = markdown(doc)
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = Path(f"{out}.json"), Path(f"{out}.md")
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    md_path.write_text(text)
    print(text)
    print(f"compare: wrote {json_path} and {md_path}", file=sys.stderr)
    failed = [r for r in rows if r["status"] != "ok"]
    missed = [r for r in rows if r["compressor"].startswith("actzip-") and (r.get("max_error_over_bound") or 0) > 1]
    return 1 if missed or failed else 0


if __name__ == "__main__":
    sys.exit(main())
