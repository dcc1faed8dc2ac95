#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""actzip, SZ3, zfp, gzip and zstd side by side through the same door: h5py.

For every field and absolute bound it writes one HDF5 file holding the field as one
chunked float32 dataset with a filter, reads it back, and reports:

  ratio        raw bytes / file bytes (the whole .h5 file: metadata and chunk index included)
  write MB/s   raw MB / wall time of creating the file, writing the dataset and closing it
  read MB/s    raw MB / wall time of opening the file and reading the whole dataset
  max error    max |x - x'| over every element, and its ratio to the bound (> 1: violated)

Filters (all serial, through h5py and HDF5's filter pipeline):
  actzip-huffman, actzip-bitplane   actzip.hdf5.Filter(actzip.abs(eb), codec=...)
  SZ3                               hdf5plugin.SZ3(absolute=eb)
  zfp                               hdf5plugin.Zfp(accuracy=eb)
  gzip                              compression="gzip" level 4 with shuffle (lossless, once per field)
  zstd                              hdf5plugin.Zstd(clevel=3) with shuffle (lossless, once per field)

eb = rel * (max - min) of the field, for each rel of --bounds: the same absolute
bound for every lossy filter. Chunks: (k, d1, d2) with k leading slices of about
1 MiB. Times are the best of --repeat runs.

Data: every manifest-*.json in --data (bench/prepare_compare_data.py: Fashion-MNIST
and the ferret climate fields, fill values replaced by one finite value;
bench/capture_activations.py: ResNet-8 activations), plus a synthetic 3-D field
(128^3: smooth waves plus noise) made here.

Writes <out>.json and <out>.md (machine, date, commit, versions) and prints the
summary. Needs h5py, hdf5plugin and actzip (the PyPI environment of tests/run-formats.sh).

Usage: formats.py --data DIR [--bounds 1e-2,1e-3,1e-4] [--repeat 2] --out bench/results/formats-<machine>-<date>
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

import actzip
import actzip.hdf5

REPO = Path(__file__).resolve().parent.parent
LOSSY = ("actzip-huffman", "actzip-bitplane", "SZ3", "zfp")
LOSSLESS = ("gzip", "zstd")


def filter_kwargs(name, eb):
    if name == "actzip-huffman":
        return dict(actzip.hdf5.Filter(actzip.abs(eb), codec="huffman"))
    if name == "actzip-bitplane":
        return dict(actzip.hdf5.Filter(actzip.abs(eb), codec="bitplane"))
    if name == "SZ3":
        return dict(hdf5plugin.SZ3(absolute=eb))
    if name == "zfp":
        return dict(hdf5plugin.Zfp(accuracy=eb))
    if name == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if name == "zstd":
        return {**dict(hdf5plugin.Zstd(clevel=3)), "shuffle": True}
    raise ValueError(name)


def chunks_of(shape, itemsize=4, target=1 << 20):
    row = int(np.prod(shape[1:])) * itemsize
    return (max(1, min(shape[0], target // max(row, 1))),) + tuple(shape[1:])


def measure(x, name, eb, path, repeat):
    kwargs = filter_kwargs(name, eb)
    chunks = chunks_of(x.shape)
    write_s, read_s = [], []
    for _ in range(repeat):
        if os.path.exists(path):
            os.remove(path)
        t0 = time.perf_counter()
        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=x, chunks=chunks, **kwargs)
        write_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with h5py.File(path, "r") as f:
            y = f["x"][...]
        read_s.append(time.perf_counter() - t0)
    size = os.path.getsize(path)
    err = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
    mb = x.nbytes / 1e6
    return {"filter": name, "bound": eb, "chunks": list(chunks), "file_bytes": size, "ratio": x.nbytes / size,
            "write_MBps": mb / min(write_s), "read_MBps": mb / min(read_s), "max_error": err,
            "error_over_bound": (err / eb) if eb else (0.0 if err == 0 else float("inf")),
            "zeros_kept": bool(np.all(y[x == 0] == 0))}


def synthetic_field():
    n = 128
    z, yy, xx = np.meshgrid(*(np.linspace(0, 1, n, dtype=np.float64),) * 3, indexing="ij")
    field = np.sin(6 * xx + 2 * z) * np.cos(5 * yy - 3 * z) + 0.3 * np.sin(17 * (xx + yy + z))
    field += np.random.default_rng(0).normal(0, 0.01, field.shape)
    return field.astype(np.float32)


def load_fields(data_dir):
    fields = []
    for manifest in sorted(Path(data_dir).glob("manifest-*.json")):
        info = json.loads(manifest.read_text())
        for entry in info.get("data", []):
            path = Path(data_dir) / entry["file"]
            x = np.fromfile(path, dtype="<f4").reshape(entry["shape"])
            fields.append((entry["name"], x))
    fields.append(("synthetic-3d", synthetic_field()))
    return fields


def git_commit():
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "include", "python/src",
                                "python/actzip/__init__.py", "python/actzip/hdf5.py",
                                "bench/formats.py"], capture_output=True, text=True).stdout.strip()
        return commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model():
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--bounds", default="1e-2,1e-3,1e-4")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--machine", default=None)
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rels = [float(b) for b in args.bounds.split(",")]
    fields = load_fields(args.data)
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "f.h5")
        for name, x in fields:
            finite = x[np.isfinite(x)]
            value_range = float(finite.max()) - float(finite.min())
            for lossless in LOSSLESS:
                rows.append({"field": name, "shape": list(x.shape), "rel": None, **measure(x, lossless, 0.0, path,
                                                                                              args.repeat)})
            for rel in rels:
                eb = rel * value_range
                for lossy in LOSSY:
                    row = {"field": name, "shape": list(x.shape), "rel": rel, **measure(x, lossy, eb, path,
                                                                                        args.repeat)}
                    rows.append(row)
                    print(f"{name:22s} rel {rel:.0e} {lossy:16s} ratio {row['ratio']:7.2f} write "
                          f"{row['write_MBps']:7.1f} read {row['read_MBps']:7.1f} MB/s err/bound "
                          f"{row['error_over_bound']:.3f}", flush=True)
    context = {
        "machine": args.machine or platform.node(), "cpu": cpu_model(), "cores": os.cpu_count(), "date": args.date,
        "commit": git_commit(), "python": sys.version.split()[0], "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version, "hdf5plugin": hdf5plugin.version, "numpy": np.__version__,
        "actzip": actzip.__version__, "seconds": round(time.perf_counter() - start, 1),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps({"context": context, "rows": rows}, indent=1) + "\n")
    Path(args.out + ".md").write_text(report(context, rows, rels))
    print(report(context, rows, rels).split("## All rows")[0])


def report(context, rows, rels):
    lines = [f"# actzip, SZ3, zfp, gzip and zstd through h5py — {context['date']}", "",
             f"- machine: {context['machine']} ({context['cpu']}, {context['cores']} cores); date {context['date']}; "
             f"commit {context['commit']}",
             f"- h5py {context['h5py']}, HDF5 {context['hdf5']}, hdf5plugin {context['hdf5plugin']} (SZ3, Zfp, Zstd "
             f"filters), numpy {context['numpy']}, actzip {context['actzip']}, Python {context['python']}",
             f"- command: `{context['command']}` ({context['seconds']} s)",
             "- every filter through h5py's create_dataset on the same float32 field, chunks of about 1 MiB "
             "(k leading slices), serial; eb = rel x (max - min) of the field, the same absolute bound for every "
             "lossy filter; gzip (level 4) and zstd (level 3) with shuffle are lossless; ratio = raw bytes / file "
             "bytes; MB/s over the raw bytes, file create/open and close included, best of the repeats",
             ""]
    fields = list(dict.fromkeys(r["field"] for r in rows))
    lines += ["## Ratio", "",
              "| field | shape | rel | actzip huffman | actzip bitplane | SZ3 | zfp | huffman / SZ3 | gzip | zstd |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for field in fields:
        lossless = {r["filter"]: r for r in rows if r["field"] == field and r["rel"] is None}
        for rel in rels:
            by = {r["filter"]: r for r in rows if r["field"] == field and r["rel"] == rel}
            shape = "x".join(str(s) for s in by["SZ3"]["shape"])
            lines.append(f"| {field} | {shape} | {rel:.0e} | {by['actzip-huffman']['ratio']:.2f} | "
                         f"{by['actzip-bitplane']['ratio']:.2f} | {by['SZ3']['ratio']:.2f} | {by['zfp']['ratio']:.2f} | "
                         f"{by['actzip-huffman']['ratio'] / by['SZ3']['ratio']:.2f} | {lossless['gzip']['ratio']:.2f} | "
                         f"{lossless['zstd']['ratio']:.2f} |")
    violations = [r for r in rows if r["error_over_bound"] > 1.0]
    lines += ["", "Bound violations (max error > eb): " +
              (", ".join(f"{r['filter']} on {r['field']} at rel {r['rel']:.0e} ({r['error_over_bound']:.4f} x eb)"
                         for r in violations) if violations else "none."), ""]
    lines += ["## All rows", "",
              "| field | rel | eb | filter | ratio | write MB/s | read MB/s | max error / eb | zeros kept |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rel = f"{r['rel']:.0e}" if r["rel"] is not None else "lossless"
        lines.append(f"| {r['field']} | {rel} | {r['bound']:.4g} | {r['filter']} | {r['ratio']:.2f} | "
                     f"{r['write_MBps']:.1f} | {r['read_MBps']:.1f} | {r['error_over_bound']:.4f} | "
                     f"{'yes' if r['zeros_kept'] else 'no'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
