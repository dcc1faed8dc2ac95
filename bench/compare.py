#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compares actzip's codecs with SZ3 and zfp through their command-line tools.

For every data file x relative bound x compressor it compresses the raw float32 file,
decompresses it again, and measures on the reconstruction:

  ratio          raw bytes / compressed file bytes (bits/value = 32 / ratio)
  max err/bound  max |x - x'| / (rel * (max - min)), range over the finite values of
                 the original; > 1 means the bound was not kept
  PSNR           20 log10(max - min) - 10 log10(MSE), in dB
  zeros kept     every exact zero of the original is exactly zero after reconstruction
  ReLU mask      (x > 0) == (x' > 0) for every value
  times          wall time of the compress and of the decompress command: the whole
                 CLI call, process start and file I/O included (not the library's
                 throughput, which bench/run-host.sh measures with Google Benchmark)

Compressors:
  actzip-<codec>       `actzip compress --rel E --codec <codec>` and `actzip decompress`,
                       for every codec of --codecs; a codec the CLI refuses (exit status 2,
                       "unknown codec") is reported as refused and skipped
  actzip-<codec>+sign  the same with --preserve-sign, on the activation and
                       pre-activation files (codecs of --sign-codecs)
  SZ3                  `sz3 -f -M REL E` (value-range relative bound, the same definition
                       as actzip's --rel), from --sz3 or $SZ3_BIN; skipped with a note
                       when neither is given
  zfp                  `zfp -f -h -a TOL` (fixed-accuracy mode, absolute tolerance
                       TOL = rel * (max - min) of the finite values), from --zfp or PATH

Every CLI runs on one thread: actzip with --serial (--actzip-exec omp lifts that), SZ3 and
zfp in their default serial mode.

Data: every manifest-*.json in --data (written by bench/prepare_compare_data.py and
bench/capture_activations.py) lists raw little-endian float32 files and their C-order
shapes. --bounds applies to every file; --rd-bounds adds bounds for the files named in
--rd-data (rate-distortion curves, bench/plot_rd.py).

Writes <out>.json (all rows and the run's context) and <out>.md (summary table first,
then the full table), and prints the summary table. Needs numpy; runs with
/usr/bin/python3.

Usage: compare.py --actzip PATH [--sz3 PATH] [--zfp PATH] [--data DIR]
                  [--codecs bitplane,huffman,automatic] [--sign-codecs LIST]
                  [--bounds 1e-2,1e-3,1e-4] [--rd-bounds LIST --rd-data NAMES]
                  [--out bench/results/compare-<machine>-<date>] [--repeat N]
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CODECS = "bitplane,huffman,automatic"
SUMMARY_BOUNDS = (1e-2, 1e-3, 1e-4)
SIGN_KINDS = ("activation", "preactivation")


# ---- utilities ----------------------------------------------------------------------

def split_list(text):
    """'a,b c' -> ['a', 'b', 'c']."""
    return [item for item in re.split(r"[,\s]+", text.strip()) if item]


def parse_bounds(text, option):
    out = []
    for item in split_list(text):
        try:
            v = float(item)
        except ValueError:
            raise SystemExit(f"compare: {option}: {item!r} is not a number")
        if not (math.isfinite(v) and 0 < v < 1):
            raise SystemExit(f"compare: {option}: {item!r} is not a relative bound in (0, 1)")
        out.append(v)
    return out


def bound_text(rel):
    """1e-2 -> '1e-2', 3e-05 -> '3e-5'."""
    mantissa, exponent = f"{rel:.6e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def run_command(argv):
    """(return code, stdout + stderr text, wall seconds) of one CLI call."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout, time.perf_counter() - t0


def first_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


def last_lines(text, n=3):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-n:]) or "(no output)"


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def is_virtual_machine():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return any(line.startswith("flags") and " hypervisor" in line for line in f)
    except OSError:
        return False


def os_name():
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def gpu_text():
    if shutil.which("nvidia-smi"):
        rc, out, _ = run_command(["nvidia-smi", "-L"])
        if rc == 0 and out.strip():
            return out.strip().splitlines()[0] + " (not used: every compressor runs on the CPU)"
    return "no GPU"


def git_commit():
    try:
        rc, out, _ = run_command(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
        if rc == 0 and out.strip():
            _, status, _ = run_command(["git", "-C", str(REPO), "status", "--porcelain"])
            return out.strip() + (" (work tree has uncommitted changes)" if status.strip() else "")
    except OSError:
        pass
    return "unknown"


def cmake_cache_near(binary):
    """CMakeCache.txt entries of the build tree that holds `binary`, if any."""
    for parent in Path(binary).resolve().parents:
        cache = parent / "CMakeCache.txt"
        if cache.is_file():
            entries = {}
            for line in cache.read_text(errors="replace").splitlines():
                m = re.match(r"^([A-Za-z0-9_]+):[A-Z]+=(.*)$", line)
                if m:
                    entries[m.group(1)] = m.group(2)
            entries["_build_dir"] = str(parent)
            return entries
    return {}


def compiler_text(cache):
    cxx = cache.get("CMAKE_CXX_COMPILER")
    if not cxx:
        return None
    rc, out, _ = run_command([cxx, "--version"])
    return first_line(out) if rc == 0 else cxx


def dpkg_version(package):
    if not shutil.which("dpkg-query"):
        return None
    rc, out, _ = run_command(["dpkg-query", "-W", "-f=${Version}", package])
    return out.strip() if rc == 0 and out.strip() else None


# ---- data ---------------------------------------------------------------------------

def load_manifests(data_dir):
    data_dir = Path(data_dir)
    manifests = sorted(data_dir.glob("manifest-*.json"))
    if not manifests:
        raise SystemExit(f"compare: no manifest-*.json in {data_dir} (run bench/prepare_compare_data.py and "
                         "bench/capture_activations.py first)")
    entries, sources = [], {}
    for m in manifests:
        doc = json.loads(m.read_text())
        sources[m.name] = {k: v for k, v in doc.items() if k != "data"}
        for e in doc.get("data", []):
            if e.get("dtype") != "f32":
                raise SystemExit(f"compare: {m}: {e.get('name')}: only f32 files are supported")
            shape = [int(d) for d in e["shape"]]
            if not 1 <= len(shape) <= 3 or any(d < 1 for d in shape):
                raise SystemExit(f"compare: {m}: {e.get('name')}: bad shape {shape}")
            path = data_dir / e["file"]
            expected = 4 * math.prod(shape)
            if not path.is_file() or path.stat().st_size != expected:
                raise SystemExit(f"compare: {path}: missing or not {expected} bytes (shape {shape})")
            entries.append(dict(e, path=str(path), shape=shape, manifest=m.name))
    return entries, sources


# ---- metrics ------------------------------------------------------------------------

def measure(original, reconstructed, abs_bound, value_range):
    """Error and structure metrics of one reconstruction (float32 arrays, same shape)."""
    x = original.astype(np.float64)
    y = reconstructed.astype(np.float64)
    finite = np.isfinite(x)
    err = np.abs(x - y)
    err_finite = err[finite]
    nonfinite_kept = bool(np.array_equal(original[~finite], reconstructed[~finite], equal_nan=True))
    max_err = float(err_finite.max()) if err_finite.size else 0.0
    mse = float(np.mean(err_finite * err_finite)) if err_finite.size else 0.0
    psnr = None
    if mse > 0 and value_range > 0:
        psnr = 20 * math.log10(value_range) - 10 * math.log10(mse)
    zeros = original == 0
    mask_orig = original > 0
    mask_recon = reconstructed > 0
    return {
        "max_abs_error": max_err,
        "max_error_over_bound": (max_err / abs_bound) if abs_bound > 0 else None,
        "violations": int(np.count_nonzero(err_finite > abs_bound)),
        "bound_kept": bool(max_err <= abs_bound),
        "mse": mse,
        "psnr_db": psnr,
        "lossless": mse == 0,
        "nonfinite_kept": nonfinite_kept,
        "zeros": int(np.count_nonzero(zeros)),
        "zeros_lost": int(np.count_nonzero(reconstructed[zeros] != 0)),
        "relu_mask_mismatches": int(np.count_nonzero(mask_orig != mask_recon)),
    }


# ---- compressors --------------------------------------------------------------------

class Compressor:
    """One row family: how to compress and decompress a file at a relative bound."""

    def __init__(self, name, family, commands, codec=None, preserve_sign=False, kinds=None):
        self.name = name
        self.family = family
        self.commands = commands  # (entry, rel, abs_bound, raw, stream, out) -> (compress argv, decompress argv)
        self.codec = codec
        self.preserve_sign = preserve_sign
        self.kinds = kinds  # None: every data file
        self.refused = None  # the CLI's message when it refuses this compressor

    def applies_to(self, entry):
        return self.kinds is None or entry.get("kind") in self.kinds


def dims_fastest_first(shape):
    return [str(d) for d in reversed(shape)]


def actzip_compressor(actzip, codec, preserve_sign, exec_mode):
    def commands(entry, rel, abs_bound, raw, stream, out):
        c = [actzip, "compress", "-i", raw, "-o", stream, "-t", "f32", "-d", ",".join(str(d) for d in entry["shape"]),
             "--rel", repr(rel), "--codec", codec, "-q"]
        d = [actzip, "decompress", "-i", stream, "-o", out, "-q"]
        if preserve_sign:
            c.insert(-1, "--preserve-sign")
        if exec_mode == "serial":
            c.insert(-1, "--serial")
            d.insert(-1, "--serial")
        return c, d

    name = f"actzip-{codec}" + ("+sign" if preserve_sign else "")
    return Compressor(name, "actzip", commands, codec=codec, preserve_sign=preserve_sign,
                      kinds=SIGN_KINDS if preserve_sign else None)


def sz3_compressor(sz3):
    def commands(entry, rel, abs_bound, raw, stream, out):
        rank = len(entry["shape"])
        c = [sz3, "-f", "-i", raw, "-z", stream, f"-{rank}", *dims_fastest_first(entry["shape"]), "-M", "REL", repr(rel)]
        d = [sz3, "-f", "-z", stream, "-o", out]
        return c, d

    return Compressor("SZ3", "sz3", commands)


def zfp_compressor(zfp):
    def commands(entry, rel, abs_bound, raw, stream, out):
        rank = len(entry["shape"])
        c = [zfp, "-q", "-h", "-f", f"-{rank}", *dims_fastest_first(entry["shape"]), "-a", repr(abs_bound),
             "-i", raw, "-z", stream]
        d = [zfp, "-q", "-h", "-z", stream, "-o", out]
        return c, d

    return Compressor("zfp", "zfp", commands)


def probe_actzip(actzip, compressors, work):
    """Marks the actzip compressors whose codec (or option) the CLI refuses: a tiny
    compress call per compressor, checked for exit status 2 (usage error)."""
    probe = work / "probe.f32"
    np.linspace(-1, 1, 64, dtype=np.float32).astype("<f4").tofile(probe)
    entry = {"shape": [64]}
    for comp in compressors:
        if comp.family != "actzip":
            continue
        c, _ = comp.commands(entry, 1e-3, 0.0, str(probe), str(work / "probe.az"), str(work / "probe.out"))
        rc, out, _ = run_command(c)
        if rc == 2:
            comp.refused = last_lines(out, 2)
            print(f"compare: NOTE: the actzip CLI refuses {comp.name}: {comp.refused} -- its rows are skipped",
                  flush=True)
        elif rc != 0:
            raise SystemExit(f"compare: {shlex.join(c)} failed with exit status {rc}: {last_lines(out)}")
    for p in ("probe.f32", "probe.az", "probe.out"):
        (work / p).unlink(missing_ok=True)


def run_row(comp, entry, rel, original, value_range, work, repeat):
    raw = entry["path"]
    abs_bound = rel * value_range
    row = {"data": entry["name"], "kind": entry.get("kind"), "shape": entry["shape"], "rel_bound": rel,
           "abs_bound": abs_bound, "compressor": comp.name, "family": comp.family, "codec": comp.codec,
           "preserve_sign": comp.preserve_sign}
    if comp.refused is not None:
        row.update(status="refused", message=comp.refused)
        return row
    stream = work / f"{entry['name']}.{comp.name}.stream"
    out = work / f"{entry['name']}.{comp.name}.out"
    c, d = comp.commands(entry, rel, abs_bound, raw, str(stream), str(out))
    row["compress_command"] = shlex.join(c)
    row["decompress_command"] = shlex.join(d)
    try:
        compress_times, decompress_times = [], []
        for _ in range(repeat):
            for p in (stream, out):
                p.unlink(missing_ok=True)
            rc, text, seconds = run_command(c)
            if rc != 0 or not stream.is_file():
                row.update(status="failed", message=f"compress exit status {rc}: {last_lines(text)}")
                return row
            compress_times.append(seconds)
            rc, text, seconds = run_command(d)
            if rc != 0 or not out.is_file():
                row.update(status="failed", message=f"decompress exit status {rc}: {last_lines(text)}")
                return row
            decompress_times.append(seconds)
        compressed_bytes = stream.stat().st_size
        if out.stat().st_size != original.nbytes:
            row.update(status="failed", message=f"the reconstruction has {out.stat().st_size} bytes, "
                                                f"expected {original.nbytes}")
            return row
        reconstructed = np.fromfile(out, dtype="<f4").reshape(original.shape)
    finally:
        for p in (stream, out):
            p.unlink(missing_ok=True)
    raw_bytes = original.nbytes
    row.update(status="ok", raw_bytes=raw_bytes, compressed_bytes=compressed_bytes,
               ratio=raw_bytes / compressed_bytes, bits_per_value=8.0 * compressed_bytes / original.size,
               compress_wall_s=min(compress_times), decompress_wall_s=min(decompress_times),
               compress_wall_mb_s=raw_bytes / 1e6 / min(compress_times),
               decompress_wall_mb_s=raw_bytes / 1e6 / min(decompress_times), repeat=repeat)
    row.update(measure(original, reconstructed, abs_bound, value_range))
    return row


# ---- report -------------------------------------------------------------------------

def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.{digits}f}"


def ratio_cell(row):
    if row is None:
        return "-"
    if row["status"] == "refused":
        return "refused"
    if row["status"] != "ok":
        return "failed"
    flag = "" if row["bound_kept"] else " (!)"
    return f"{row['ratio']:.2f}{flag}"


def summary_table(rows, entries, compressors, codecs, bounds):
    index = {(r["data"], r["rel_bound"], r["compressor"]): r for r in rows}
    main = [c for c in compressors if not c.preserve_sign]
    has_sz3 = any(c.family == "sz3" for c in compressors)
    header = ["data", "bound"] + [c.name for c in main]
    if has_sz3:
        header += [f"{codec}/SZ3" for codec in codecs]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---", "---"] + ["---:"] * (len(header) - 2)) + " |"]
    for e in entries:
        for rel in bounds:
            if not any((e["name"], rel, c.name) in index for c in main):
                continue
            cells = [e["name"], bound_text(rel)] + [ratio_cell(index.get((e["name"], rel, c.name))) for c in main]
            if has_sz3:
                sz = index.get((e["name"], rel, "SZ3"))
                for codec in codecs:
                    az = index.get((e["name"], rel, f"actzip-{codec}"))
                    if az is None or az["status"] == "refused":
                        cells.append("refused" if az is not None else "-")
                    elif az["status"] != "ok" or sz is None or sz["status"] != "ok":
                        cells.append("-")
                    else:
                        cells.append(f"{az['ratio'] / sz['ratio']:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def full_table(rows, bounds):
    header = ["data", "bound", "compressor", "ratio", "bits/value", "max err/bound", "PSNR dB", "zeros kept",
              "ReLU mask same", "compress s", "decompress s", "compress MB/s", "decompress MB/s"]
    lines = ["| " + " | ".join(header) + " |",
             "| --- | --- | --- | " + " | ".join(["---:"] * (len(header) - 3)) + " |"]
    for r in rows:
        if r["status"] == "refused" or r["rel_bound"] not in bounds:
            continue
        if r["status"] != "ok":
            lines.append(f"| {r['data']} | {bound_text(r['rel_bound'])} | {r['compressor']} | failed: "
                         f"{r['message']} |" + " |" * (len(header) - 4))
            continue
        zeros = "yes" if r["zeros_lost"] == 0 else f"no ({r['zeros_lost']} of {r['zeros']})"
        if r["zeros"] == 0:
            zeros = "(none)"
        mask = "yes" if r["relu_mask_mismatches"] == 0 else f"no ({r['relu_mask_mismatches']})"
        if r["kind"] not in SIGN_KINDS:
            mask = "n/a"
        psnr = "lossless" if r["lossless"] else fmt(r["psnr_db"], 1)
        bound = fmt(r["max_error_over_bound"], 5) + ("" if r["bound_kept"] else f" (!) {r['violations']} values")
        lines.append(f"| {r['data']} | {bound_text(r['rel_bound'])} | {r['compressor']} | {r['ratio']:.2f} | "
                     f"{r['bits_per_value']:.3f} | {bound} | {psnr} | {zeros} | {mask} | "
                     f"{r['compress_wall_s']:.3f} | {r['decompress_wall_s']:.3f} | "
                     f"{r['compress_wall_mb_s']:.0f} | {r['decompress_wall_mb_s']:.0f} |")
    return lines


def write_markdown(path, doc, entries, compressors, codecs, summary_bounds):
    rows = doc["rows"]
    ctx = doc["context"]
    out = [f"# actzip, SZ3 and zfp on real data, {ctx['date']}", ""]
    out.append(f"- Machine: {ctx['machine_description']}")
    out.append(f"- CPU: {ctx['cpu']}, {ctx['cores']} logical cores; OS: {ctx['os']}; GPU: {ctx['gpu']}")
    out.append(f"- Load average at start: {ctx['load_average_start']}")
    out.append(f"- Date: {ctx['timestamp']}; git commit: {ctx['git_commit']}")
    out.append(f"- actzip CLI: `{ctx['actzip']['path']}`, {ctx['actzip']['version']}; "
               f"build type {ctx['actzip'].get('build_type') or 'unknown'}; compiler {ctx['actzip'].get('compiler')}; "
               f"run with {'--serial (one thread)' if ctx['actzip_exec'] == 'serial' else 'all OpenMP threads'}")
    sz3 = ctx.get("sz3")
    if sz3:
        out.append(f"- SZ3: `{sz3['path']}`, {sz3['version']}; build type {sz3.get('build_type') or 'unknown'}, "
                   f"compiler {sz3.get('compiler')}; default serial mode"
                   + (f"; {sz3['note']}" if sz3.get("note") else ""))
    else:
        out.append(f"- SZ3: **not run** ({ctx['sz3_skipped']})")
    zfp = ctx.get("zfp")
    if zfp:
        out.append(f"- zfp: `{zfp['path']}`, {zfp['version']}"
                   + (f" (Debian package zfp {zfp['debian_package']}, installed with apt-get by "
                      "bench/run-compare.sh)" if zfp.get("debian_package") else "")
                   + "; default serial mode")
    else:
        out.append(f"- zfp: **not run** ({ctx['zfp_skipped']})")
    out.append(f"- Command: `{ctx['command']}`")
    if ctx.get("driver_command"):
        out.append(f"- Run by: `{ctx['driver_command']}`")
    out.append(f"- Wall time of the comparison: {ctx['wall_seconds']:.0f} s")
    for c in compressors:
        if c.refused is not None:
            out.append(f"- **{c.name} not measured**: the actzip CLI refuses it: `{c.refused}`")
    out.append("")
    out.append("## Summary: compression ratios")
    out.append("")
    out.append("Raw bytes / compressed file bytes at relative bounds " +
               ", ".join(bound_text(b) for b in summary_bounds) +
               " (absolute bound rel * (max - min)). `<codec>/SZ3` is the actzip codec's ratio over SZ3's. "
               "(!) marks a row whose maximum error exceeds the bound.")
    out.append("")
    out += summary_table(rows, entries, compressors, codecs, summary_bounds)
    out.append("")

    ok = [r for r in rows if r["status"] == "ok"]
    out.append("## Correctness")
    out.append("")
    out.append("Counts of rows. zeros kept: rows whose input has exact zeros; ReLU mask same: rows of the "
               "activation and pre-activation files.")
    out.append("")
    out.append("| compressor | rows | bound kept | max of max err/bound | zeros kept | ReLU mask same |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for c in compressors:
        rs = [r for r in ok if r["compressor"] == c.name]
        if not rs:
            continue
        with_zeros = [r for r in rs if r["zeros"] > 0]
        activations = [r for r in rs if r["kind"] in SIGN_KINDS]
        out.append(f"| {c.name} | {len(rs)} | {sum(r['bound_kept'] for r in rs)} of {len(rs)} | "
                   f"{max(r['max_error_over_bound'] for r in rs):.5f} | "
                   f"{sum(r['zeros_lost'] == 0 for r in with_zeros)} of {len(with_zeros)} | "
                   f"{sum(r['relu_mask_mismatches'] == 0 for r in activations)} of {len(activations)} |")
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        out.append("")
        out.append(f"{len(failed)} rows failed (see the full table).")
    out.append("")
    out.append("## Data")
    out.append("")
    for e in entries:
        extra = ""
        if "replaced" in e:
            extra = (f"; fill markers {e['fill_markers']}: {e['replaced']} samples "
                     f"({100 * e['replaced_fraction']:.1f} %) replaced by {e['replacement']:.6g}, "
                     f"the {e['replacement_rule']}")
        zero = f", {100 * e['zero_fraction']:.1f} % zeros" if e.get("zero_fraction") else ""
        out.append(f"- {e['name']} {{{', '.join(str(d) for d in e['shape'])}}} ({e.get('kind')}): "
                   f"{e.get('description', '')}; range [{e['min']:.6g}, {e['max']:.6g}]{zero}{extra}")
    for name, src in doc["sources"].items():
        if "training" in src:
            t = src["training"]
            out.append(f"- Activations ({name}): {src.get('model')}, trained {t['steps']} steps of {t['batch']} "
                       f"images ({t['optimizer']}, lr {t['lr']}, seed {t['seed']}, {t['threads']} CPU threads, "
                       f"{t['seconds']:.0f} s), test accuracy {t['test_accuracy_percent']:.2f} %; "
                       f"{src.get('source')}; torch {src.get('torch_version')}")
    out.append("")
    out.append("## Method")
    out.append("")
    out.append("- ratio: input file bytes / compressed file bytes (each tool's own self-describing file: the actzip "
               "stream, the SZ3 stream, the zfp stream with its header `-h`).")
    out.append("- max err/bound: max |x - x'| over the finite values / (rel * (max - min)); > 1 is a bound miss.")
    out.append("- PSNR: 20 log10(max - min) - 10 log10(MSE) over the finite values, in dB.")
    out.append("- zeros kept: every exact 0 of the input is exactly 0 in the reconstruction; ReLU mask same: "
               "(x > 0) == (x' > 0) for every value, reported for the activation and pre-activation files "
               "(n/a elsewhere; the counts are in the JSON).")
    out.append(f"- compress/decompress s: **CLI wall time including process start and file I/O**, best of "
               f"{doc['context']['repeat']} call(s); MB/s = input bytes / 1e6 / that time. actzip's library "
               "throughput is measured separately by Google Benchmark (bench/run-host.sh).")
    zfp_rows = [r for r in ok if r["family"] == "zfp"]
    if zfp_rows:
        low = min(r["max_error_over_bound"] for r in zfp_rows)
        high = max(r["max_error_over_bound"] for r in zfp_rows)
        out.append(f"- zfp's tolerance: `-a TOL` makes zfp code the transform's bit planes down to 2^e, the largest "
                   f"power of two <= TOL, so the tolerance it works to lies in (TOL/2, TOL]; its maximum error on "
                   f"these data was {low:.2f} to {high:.2f} x TOL. At the same bound zfp therefore stores more "
                   "bits and reaches a higher PSNR than a compressor that uses the whole bound: compare it at "
                   "equal PSNR (rate-distortion plot), not at equal bound.")
    out.append("- SZ3 runs in its value-range relative mode (`-M REL E`), the same definition of the bound as "
               "actzip's `--rel E`; its max err/bound above is measured against the same absolute bound.")
    out.append("- Command templates (C-order shape D0,D1,D2; SZ3 and zfp take the fastest dimension first):")
    for c in compressors:
        if c.refused is not None:
            continue
        example = next((r for r in rows if r["compressor"] == c.name and r.get("compress_command")), None)
        if example:
            out.append(f"  - {c.name}: `{example['compress_command']}` then `{example['decompress_command']}` "
                       f"({example['data']}, rel {bound_text(example['rel_bound'])})")
    if ctx.get("peer_notes"):
        out.append("")
        out.append("## Peers: versions and builds")
        out.append("")
        for note in ctx["peer_notes"]:
            out.append(f"- {note}")
    out.append("")
    out.append("## All results")
    out.append("")
    extra = sorted({r["rel_bound"] for r in rows} - set(ctx["bounds"]), reverse=True)
    out.append("(!) marks a bound miss. Times are CLI wall times (process start and file I/O included)."
               + (f" Bounds {', '.join(bound_text(b) for b in ctx['bounds'])}; the rows at the extra "
                  f"rate-distortion bounds ({', '.join(bound_text(b) for b in extra)}, data "
                  f"{', '.join(ctx['rd_data'])}) are in the JSON and in the plot." if extra else ""))
    out.append("")
    out += full_table(rows, set(ctx["bounds"]))
    out.append("")
    Path(path).write_text("\n".join(out))


# ---- main ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--actzip", default=str(REPO / "build-peers" / "examples" / "actzip"),
                    help="the actzip CLI (default build-peers/examples/actzip)")
    ap.add_argument("--sz3", default=os.environ.get("SZ3_BIN"),
                    help="the SZ3 CLI `sz3` (default $SZ3_BIN; without it SZ3 is skipped)")
    ap.add_argument("--zfp", default=os.environ.get("ZFP_BIN") or shutil.which("zfp"),
                    help="the zfp CLI (default $ZFP_BIN or zfp in PATH; without it zfp is skipped)")
    ap.add_argument("--data", default=str(REPO / "build-peers" / "data"), help="directory with manifest-*.json")
    ap.add_argument("--only", default="", help="comma-separated data names to run (default: all)")
    ap.add_argument("--codecs", default=DEFAULT_CODECS, help=f"actzip codecs (default {DEFAULT_CODECS})")
    ap.add_argument("--sign-codecs", default=None,
                    help="codecs also run with --preserve-sign on activation files (default: --codecs; '' for none)")
    ap.add_argument("--bounds", default="1e-2,1e-3,1e-4", help="relative bounds for every file")
    ap.add_argument("--rd-bounds", default="", help="extra relative bounds for the --rd-data files")
    ap.add_argument("--rd-data", default="", help="comma-separated data names that get --rd-bounds")
    ap.add_argument("--actzip-exec", choices=("serial", "omp"), default="serial",
                    help="actzip CLI executor (default serial: one thread, like the SZ3 and zfp CLIs)")
    ap.add_argument("--repeat", type=int, default=1, help="CLI calls per row; the best time is kept (default 1)")
    ap.add_argument("--work", default=str(REPO / "build-peers" / "compare-work"), help="scratch directory")
    ap.add_argument("--machine", default="intel-xeon-2c", help="machine tag of the output names")
    ap.add_argument("--machine-description", default=None,
                    help="one line about the machine (default: derived from /proc/cpuinfo and /etc/os-release)")
    ap.add_argument("--date", default=datetime.date.today().isoformat(), help="date tag (default today)")
    ap.add_argument("--out", default=None,
                    help="output path without extension (default bench/results/compare-<machine>-<date>)")
    ap.add_argument("--peer-note", action="append", default=[],
                    help="a line about a peer's version or build for the report (repeatable)")
    ap.add_argument("--sz3-note", default=os.environ.get("SZ3_NOTE", ""),
                    help="SZ3 source and build (commit, commands) for the report (default $SZ3_NOTE)")
    ap.add_argument("--driver-command", default="", help="the command that ran this script, for the report")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    t_start = time.perf_counter()
    load_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    codecs = split_list(args.codecs)
    sign_codecs = codecs if args.sign_codecs is None else split_list(args.sign_codecs)
    bounds = parse_bounds(args.bounds, "--bounds")
    rd_bounds = parse_bounds(args.rd_bounds, "--rd-bounds") if args.rd_bounds.strip() else []
    rd_data = set(split_list(args.rd_data))
    if not codecs:
        ap.error("--codecs is empty")

    actzip = shutil.which(args.actzip) or args.actzip
    if not (Path(actzip).is_file() and os.access(actzip, os.X_OK)):
        raise SystemExit(f"compare: the actzip CLI {args.actzip!r} is not an executable file "
                         "(build it: cmake --build build-peers --target actzip-cli)")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out_base = Path(args.out) if args.out else REPO / "bench" / "results" / f"compare-{args.machine}-{args.date}"
    out_base.parent.mkdir(parents=True, exist_ok=True)

    entries, sources = load_manifests(args.data)
    if args.only.strip():
        wanted = split_list(args.only)
        unknown = set(wanted) - {e["name"] for e in entries}
        if unknown:
            raise SystemExit(f"compare: --only: unknown data {sorted(unknown)}")
        entries = [e for e in entries if e["name"] in wanted]
    unknown = rd_data - {e["name"] for e in entries}
    if unknown:
        raise SystemExit(f"compare: --rd-data: unknown data {sorted(unknown)}")

    actzip_cache = cmake_cache_near(actzip)
    rc, version_text, _ = run_command([actzip, "--version"])
    context = {
        "date": args.date, "timestamp": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": args.machine, "cpu": cpu_model(), "cores": os.cpu_count(), "os": os_name(), "gpu": gpu_text(),
        "load_average_start": load_start, "git_commit": git_commit(),
        "command": shlex.join([Path(sys.executable).as_posix(), *sys.argv]),
        "driver_command": args.driver_command, "actzip_exec": args.actzip_exec, "repeat": args.repeat,
        "actzip": {"path": actzip, "version": first_line(version_text) if rc == 0 else f"--version failed ({rc})",
                   "build_type": actzip_cache.get("CMAKE_BUILD_TYPE"), "compiler": compiler_text(actzip_cache)},
        "codecs": codecs, "sign_codecs": sign_codecs, "bounds": bounds, "rd_bounds": rd_bounds,
        "rd_data": sorted(rd_data), "peer_notes": list(args.peer_note),
    }
    if args.machine_description:
        context["machine_description"] = args.machine_description
    else:
        vm = " (virtual machine)" if is_virtual_machine() else ""
        context["machine_description"] = (f"{cpu_model()}, {os.cpu_count()} logical cores{vm}, {os_name()}, "
                                          f"{context['actzip']['compiler'] or 'unknown compiler'}, {gpu_text()}")

    compressors = [actzip_compressor(actzip, c, False, args.actzip_exec) for c in codecs]
    if args.sz3:
        sz3 = shutil.which(args.sz3) or args.sz3
        if not (Path(sz3).is_file() and os.access(sz3, os.X_OK)):
            raise SystemExit(f"compare: the SZ3 CLI {args.sz3!r} is not an executable file")
        cache = cmake_cache_near(sz3)
        _, v, _ = run_command([sz3, "-v"])
        context["sz3"] = {"path": sz3, "version": first_line(v), "build_type": cache.get("CMAKE_BUILD_TYPE"),
                          "compiler": compiler_text(cache), "source_dir": cache.get("CMAKE_HOME_DIRECTORY"),
                          "note": args.sz3_note}
        compressors.append(sz3_compressor(sz3))
    else:
        context["sz3_skipped"] = "no SZ3 CLI given: set SZ3_BIN or pass --sz3 PATH"
        print(f"compare: NOTE: SZ3 is skipped: {context['sz3_skipped']}", flush=True)
    if args.zfp:
        zfp = shutil.which(args.zfp) or args.zfp
        if not (Path(zfp).is_file() and os.access(zfp, os.X_OK)):
            raise SystemExit(f"compare: the zfp CLI {args.zfp!r} is not an executable file")
        _, v, _ = run_command([zfp])
        context["zfp"] = {"path": zfp, "version": first_line(v), "debian_package": dpkg_version("zfp")}
        compressors.append(zfp_compressor(zfp))
    else:
        context["zfp_skipped"] = "no zfp CLI found: install the Debian package zfp or pass --zfp PATH"
        print(f"compare: NOTE: zfp is skipped: {context['zfp_skipped']}", flush=True)
    compressors += [actzip_compressor(actzip, c, True, args.actzip_exec) for c in sign_codecs]
    probe_actzip(actzip, compressors, work)

    rows = []
    for e in entries:
        original = np.fromfile(e["path"], dtype="<f4").reshape(e["shape"])
        finite = original[np.isfinite(original)]
        value_range = float(finite.max()) - float(finite.min()) if finite.size else 0.0
        row_bounds = sorted(set(bounds) | (set(rd_bounds) if e["name"] in rd_data else set()), reverse=True)
        for rel in row_bounds:
            for comp in compressors:
                if not comp.applies_to(e):
                    continue
                row = run_row(comp, e, rel, original, value_range, work, args.repeat)
                rows.append(row)
                if row["status"] == "ok":
                    flag = "" if row["bound_kept"] else "  BOUND MISSED"
                    print(f"{e['name']:<20} {bound_text(rel):>6} {comp.name:<24} ratio {row['ratio']:8.2f}  "
                          f"err/bound {row['max_error_over_bound']:.4f}  PSNR {fmt(row['psnr_db'], 1):>6}  "
                          f"c {row['compress_wall_s']:.3f} s  d {row['decompress_wall_s']:.3f} s{flag}", flush=True)
                elif row["status"] == "failed":
                    print(f"{e['name']:<20} {bound_text(rel):>6} {comp.name:<24} FAILED: {row['message']}", flush=True)

    context["wall_seconds"] = time.perf_counter() - t_start
    doc = {"context": context, "sources": sources,
           "data": [{k: v for k, v in e.items() if k != "path"} for e in entries], "rows": rows}
    json_path = out_base.with_suffix(".json")
    md_path = out_base.with_suffix(".md")
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    summary_bounds = [b for b in SUMMARY_BOUNDS if b in bounds] or bounds
    write_markdown(md_path, doc, entries, compressors, codecs, summary_bounds)
    print()
    print("\n".join(summary_table(rows, entries, compressors, codecs, summary_bounds)))
    print()
    failed = sum(r["status"] == "failed" for r in rows)
    missed = sum(1 for r in rows if r["status"] == "ok" and not r["bound_kept"])
    refused = [c.name for c in compressors if c.refused is not None]
    print(f"compare: {len(rows)} rows, {failed} failed, {missed} bound misses"
          + (f"; refused by the actzip CLI: {', '.join(refused)}" if refused else "")
          + f"; {context['wall_seconds']:.0f} s")
    print(f"compare: wrote {json_path} and {md_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
