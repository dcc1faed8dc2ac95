#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns the Google Benchmark JSON of actzip's benchmark programs into a markdown report:
actzip-bench-host (bench/run-host.sh) and actzip-bench-gpu (bench/gpu-check.sh). The
JSON says which: the GPU program names the device in its context and times a
copy/<bytes> reference; --kind host|gpu overrides that.

Usage:
  summarize.py --json RESULTS.json [--out REPORT.md] [--log CONSOLE.txt] [--kind auto|host|gpu]
               [--command CMD] [--compiler TEXT] [--exit-status N] [--cpu-accounting SPEC]

Without --out the report goes to standard output. --log is the program's console
output: its FAILURE lines are copied (for the GPU program also its 'left out' and
'not found' lines). --command, --compiler, --exit-status and --cpu-accounting describe
a host run (bench/run-host.sh passes them).

Host benchmark names are <compress|decompress>/<executor>/<codec>/<dtype>/<data>/<bound>
(Google Benchmark appends /min_time:.../real_time, which is ignored); names without the
codec part, from runs before the codec dimension existed, are read as the bitplane
codec. Host GB/s figures are the best repetition.

GPU benchmark names are copy/<bytes> and
<compress|decompress>/<dtype>/<data>/<size>/<bound>[/<codec>] (codec bitplane, huffman
or automatic; names without one are bitplane; Google Benchmark appends
/min_time:.../repeats:.../manual_time, which is ignored). GPU GB/s figures are the
median over the repetitions of the GBps counter (input bytes / event time / 1e9).

A JSON cut short (the program was killed) is read up to its last complete benchmark.
Standard library only.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys

DTYPE_ORDER = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3}
CODEC_ORDER = {"bitplane": 0, "huffman": 1, "automatic": 2}
EXEC_ORDER = {"serial": 0, "omp": 1}
TARGET_GBPS = 1.0  # DESIGN: host bitplane codec >= 1 GB/s per core both ways
TARGET_COMPRESS_GBPS = 1000.0    # GPU: fp32, inputs of 1 GiB and more, bitplane codec
TARGET_DECOMPRESS_GBPS = 1500.0
TARGET_HUFFMAN_GBPS = 200.0      # GPU: fp32, inputs of 1 GiB and more, huffman codec, both ways
TARGET_CODE_BOOK_US = 50.0       # GPU: build_code_kernel, one tensor
HEADLINE_MIN_BYTES = 1 << 30


# ---- shared -------------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit(repo):
    try:
        out = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain"],
                                   capture_output=True, text=True, check=False)
            return out.stdout.strip() + (" (work tree has uncommitted changes)" if dirty.stdout.strip() else "")
    except OSError:
        pass
    return "uncommitted"



def fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return f"{value:.{digits}f}"



def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def bound_key(bound):
    m = re.match(r"rel([0-9.e+-]+)$", bound)
    return -float(m.group(1)) if m else 0.0



def read_text(path):
    if not path or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()



def code_block(text):
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"



def load_json(path):
    """The JSON document and whether it had to be salvaged: Google Benchmark writes the
    file as it goes, so a run that was killed leaves it without its end; the benchmarks
    that completed are kept."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text), False
    except ValueError:
        end = text.rfind("\n    }")
        if end < 0 or '"benchmarks"' not in text:
            raise
        return json.loads(text[:end + len("\n    }")] + "\n  ]\n}\n"), True



# ---- host: actzip-bench-host ---------------------------------------------------------------

def cpu_contention(spec):
    """Describes how much CPU time other processes took during the run."""
    if not spec:
        return None, 0.0
    try:
        before, after, tck, wall, user, sys_ = spec.split("|")
        a = [int(x) for x in before.split()[1:]]
        b = [int(x) for x in after.split()[1:]]
        d = [y - x for x, y in zip(a, b)]
        tck = float(tck)
        total = sum(d[:8]) / tck            # user nice system idle iowait irq softirq steal
        busy = (sum(d[:8]) - d[3] - d[4]) / tck
        steal = d[7] / tck if len(d) > 7 else 0.0
        own = float(user) + float(sys_)
        others = max(0.0, busy - own)
    except (ValueError, IndexError):
        return None, 0.0
    if total <= 0:
        return None, 0.0
    return (f"CPU time during the run: {float(wall):.0f} s wall, {total:.0f} CPU-s available; the benchmark "
            f"used {own:.0f} CPU-s, other processes {others:.0f} CPU-s ({100 * others / total:.0f}% of the "
            f"machine), hypervisor steal {steal:.0f} s."), others / total


def _rates(runs):
    return [r["bytes_per_second"] / 1e9 for r in runs or []
            if not r.get("error_occurred") and r.get("bytes_per_second") is not None]


def gbps(runs):
    """Best (highest) throughput over the repetitions of one benchmark, GB/s."""
    rates = _rates(runs)
    return max(rates) if rates else None


def disturbed(runs):
    """True when even the best repetition spent >10% of its wall time off the CPU
    (real time / main-thread CPU time > 1.1): the thread was descheduled."""
    good = [r for r in runs or [] if not r.get("error_occurred") and r.get("bytes_per_second")]
    if not good:
        return False
    best = max(good, key=lambda r: r["bytes_per_second"])
    return best.get("cpu_time", 0) > 0 and best["real_time"] / best["cpu_time"] > 1.1


def rate_cell(runs, digits=3):
    return fmt(gbps(runs), digits) + (" †" if disturbed(runs) else "")


def median_gbps(runs):
    return median(_rates(runs))


def host_rows(doc):
    """(rows, errors, data order) of a host JSON: rows keyed (data, dtype, codec, bound, executor)."""
    rows = {}
    errors = []
    data_order = []
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        parts = b["name"].split("/")
        if len(parts) >= 3 and parts[2] not in CODEC_ORDER and parts[2] in DTYPE_ORDER:
            parts.insert(2, "bitplane")  # a name from before the codec dimension
        if len(parts) < 6:
            continue
        direction, executor, codec, dtype, data, bound = parts[:6]
        if data not in data_order:
            data_order.append(data)
        key = (data, dtype, codec, bound, executor)
        rows.setdefault(key, {}).setdefault(direction, []).append(b)
        if b.get("error_occurred"):
            errors.append(f"{b['name']}: {b.get('error_message', 'error')}")
    return rows, errors, data_order


def values_of(groups, name):
    """Values of counter `name` over every run of the given benchmarks (lists of repetitions)."""
    return [e[name] for runs in groups for e in runs or [] if not e.get("error_occurred") and name in e]


def ratio_of(rows, key):
    entries = rows.get(key, {})
    values = values_of([entries.get("compress"), entries.get("decompress")], "ratio")
    return values[0] if values else None


def side_by_side(rows, keys, codecs, data_order):
    """Markdown lines: per data set and bound, f32 with the serial executor, the ratio and
    the compress / decompress throughput of every codec in the run."""
    out = ["## Codecs side by side: f32, serial executor (one core)", ""]
    cases = []
    for k in keys:
        case = (k[0], k[3])
        if k[1] == "f32" and k[4] == "serial" and case not in cases:
            cases.append(case)
    if not cases:
        out += ["No serial f32 results in this run.", ""]
        return out
    names = " / ".join(codecs)

    def key(data, codec, bound):
        return (data, "f32", codec, bound, "serial")

    # How the ratios compare, over the cases where every codec ran.
    notes = []
    complete = [c for c in cases if all(key(c[0], codec, c[1]) in rows for codec in codecs)]
    if "bitplane" in codecs and "huffman" in codecs and complete:
        pairs = [(ratio_of(rows, key(d, "huffman", b)), ratio_of(rows, key(d, "bitplane", b))) for d, b in complete]
        pairs = [(h, p) for h, p in pairs if h is not None and p is not None]
        wins = sum(1 for h, p in pairs if h >= p)
        gains = [h / p for h, p in pairs if p > 0]
        if gains:
            notes.append(f"huffman's ratio >= bitplane's in {wins} of {len(pairs)} cases (huffman / bitplane: "
                         f"{min(gains):.2f}x to {max(gains):.2f}x)")
    if "automatic" in codecs and "bitplane" in codecs and "huffman" in codecs and complete:
        quotients = []
        for d, b in complete:
            a = ratio_of(rows, key(d, "automatic", b))
            best = max((r for r in (ratio_of(rows, key(d, c, b)) for c in ("bitplane", "huffman")) if r is not None),
                       default=None)
            if a is not None and best:
                quotients.append(a / best)
        if quotients:
            notes.append(f"automatic / the better of bitplane and huffman: {min(quotients):.3f}x to "
                         f"{max(quotients):.3f}x")
    out.append(f"Each cell lists {names}, best repetition († as in the full table below)"
               + (f"; {'; '.join(notes)}." if notes else "."))
    out.append("")
    out.append(f"| data | bound | ratio ({names}) | compress GB/s ({names}) | decompress GB/s ({names}) |")
    out.append("| --- | --- | ---: | ---: | ---: |")
    cases.sort(key=lambda c: (data_order.index(c[0]), bound_key(c[1])))
    for data, bound in cases:
        ratio = " / ".join(fmt(ratio_of(rows, key(data, c, bound)), 2) for c in codecs)
        comp = " / ".join(rate_cell(rows.get(key(data, c, bound), {}).get("compress"), 2) for c in codecs)
        decomp = " / ".join(rate_cell(rows.get(key(data, c, bound), {}).get("decompress"), 2) for c in codecs)
        out.append(f"| {data} | {bound} | {ratio} | {comp} | {decomp} |")
    out.append("")
    return out


def host_report(args, doc):
    """The markdown report of a host run."""
    rows, errors, data_order = host_rows(doc)
    ctx = doc.get("context", {})
    keys = sorted(rows, key=lambda k: (data_order.index(k[0]), DTYPE_ORDER.get(k[1], 9), CODEC_ORDER.get(k[2], 9),
                                       bound_key(k[3]), EXEC_ORDER.get(k[4], 9)))
    codecs = sorted({k[2] for k in keys}, key=lambda c: (CODEC_ORDER.get(c, 9), c))

    failures = []
    if args.log and os.path.exists(args.log):
        with open(args.log, encoding="utf-8", errors="replace") as f:
            failures = [line.rstrip() for line in f if "FAILURE" in line]

    date = ctx.get("date", "")[:10] or datetime.date.today().isoformat()
    out = []
    out.append(f"# actzip host benchmarks, {date}")
    out.append("")
    out.append(f"- Machine: {cpu_model()}, {os.cpu_count()} logical cores"
               f" (Google Benchmark: {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz;"
               f" load average at start {', '.join(fmt(x, 2) for x in ctx.get('load_avg', [])) or 'n/a'})")
    caches = ", ".join(f"L{c['level']} {c['type']} {c['size'] // 1024} KiB"
                       for c in ctx.get("caches", []))
    if caches:
        out.append(f"- Caches: {caches}")
    load_avg = ctx.get("load_avg", [])
    if load_avg and load_avg[0] > 0.5:
        out.append(f"- **Note: the machine was not idle when the run started (1-minute load average "
                   f"{load_avg[0]:.2f}); other processes compete for the cores, so timings, above all the omp "
                   f"ones, are pessimistic and noisy.**")
    out.append(f"- Date: {ctx.get('date', date)}")
    out.append(f"- Git commit: {git_commit(args.repo)}")
    if args.compiler:
        out.append(f"- Compiler: {args.compiler}")
    out.append(f"- Google Benchmark library build type: {ctx.get('library_build_type', '?')}")
    out.append(f"- OpenMP threads (omp executor): {ctx.get('actzip_omp_threads', '?')}")
    if args.command:
        out.append(f"- Command: `{args.command}`")
    out.append(f"- Data: {ctx.get('actzip_data', '?')}")
    out.append(f"- Plan: {ctx.get('actzip_plan', '?')}")
    out.append("- Throughput is uncompressed bytes / wall-clock time, GB/s = 1e9 bytes/s, best of the repetitions "
               "of each benchmark (all repetitions and their mean/median are in the JSON); serial is one core, "
               "omp uses every core. Ratio, max err/bound (|x - x'| / (rel * (max - min)), finite values), "
               "PSNR (finite values, range = finite max - min) and violations are measured on each "
               "benchmark's own stream, outside the timed loop.")
    contention, others_fraction = cpu_contention(args.cpu_accounting)
    if contention:
        out.append(f"- {contention}")
    if others_fraction > 0.05:
        out.append("- **Note: other processes took a noticeable share of the CPUs during the run, so the "
                   "timings are pessimistic and noisy; the omp executor, which needs every core at once, "
                   "suffers most (a descheduled thread stalls the whole team).**")
    if args.exit_status is not None:
        out.append(f"- Benchmark program exit status: {args.exit_status}"
                   + (" (0: no violation, no serial/omp mismatch)" if args.exit_status == 0 else " (FAILURES, see below)"))
    out.append("")

    # ---- the design target -------------------------------------------------------
    out.append("## DESIGN target: host bitplane codec >= 1 GB/s per core both ways")
    out.append("")
    serial_f32 = [k for k in keys if k[1] == "f32" and k[2] == "bitplane" and k[4] == "serial"]
    if not serial_f32:
        out.append("No serial f32 bitplane results in this run: the target was not measured.")
        out.append("")
    else:
        comp = [(k, gbps(rows[k].get("compress"))) for k in serial_f32]
        decomp = [(k, gbps(rows[k].get("decompress"))) for k in serial_f32]
        comp_vals = [v for _, v in comp if v is not None]
        decomp_vals = [v for _, v in decomp if v is not None]
        comp_ok = sum(1 for v in comp_vals if v >= TARGET_GBPS)
        decomp_ok = sum(1 for v in decomp_vals if v >= TARGET_GBPS)
        met = comp_vals and decomp_vals and comp_ok == len(serial_f32) and decomp_ok == len(serial_f32)
        verdict = "MET" if met else "NOT MET"
        out.append(f"Serial f32, bitplane codec (one core): **{verdict}**. Compress {fmt(min(comp_vals) if comp_vals else None, 2)}"
                   f"-{fmt(max(comp_vals) if comp_vals else None, 2)} GB/s ({comp_ok} of {len(serial_f32)} "
                   f"data set/bound cases >= {TARGET_GBPS:g} GB/s); decompress "
                   f"{fmt(min(decomp_vals) if decomp_vals else None, 2)}-{fmt(max(decomp_vals) if decomp_vals else None, 2)}"
                   f" GB/s ({decomp_ok} of {len(serial_f32)} cases >= {TARGET_GBPS:g} GB/s).")
        out.append("")
        out.append("Per data set, best repetition (median in parentheses), bounds rel 1e-2 / 1e-3 / 1e-4 "
                   "(† as in the full table below):")
        out.append("")
        out.append("| data | compress GB/s | decompress GB/s | ratio |")
        out.append("| --- | --- | --- | --- |")
        for data in data_order:
            ks = [k for k in serial_f32 if k[0] == data]
            if not ks:
                continue
            c = " / ".join(f"{rate_cell(rows[k].get('compress'), 2)} ({fmt(median_gbps(rows[k].get('compress')), 2)})"
                           for k in ks)
            d = " / ".join(f"{rate_cell(rows[k].get('decompress'), 2)} ({fmt(median_gbps(rows[k].get('decompress')), 2)})"
                           for k in ks)
            r = " / ".join(fmt((values_of([rows[k].get("compress"), rows[k].get("decompress")], "ratio") or [None])[0], 2)
                           for k in ks)
            out.append(f"| {data} | {c} | {d} | {r} |")
        out.append("")

    # ---- the codecs side by side ----------------------------------------------------
    out.extend(side_by_side(rows, keys, codecs, data_order))

    # ---- problems ---------------------------------------------------------------------
    total_violations = 0
    for k in keys:
        v = values_of([rows[k].get("compress"), rows[k].get("decompress")], "violations")
        total_violations += int(max(v)) if v else 0
    out.append("## Correctness")
    out.append("")
    out.append(f"- Bound violations over all rows: {total_violations}")
    out.append(f"- Benchmarks that reported an error: {len(errors)}")
    for e in errors:
        out.append(f"  - {e}")
    out.append(f"- FAILURE lines from the program (violations, serial/omp stream or output mismatch): {len(failures)}")
    for line in failures:
        out.append(f"  - `{line}`")
    out.append("")

    # ---- full table ---------------------------------------------------------------------
    out.append("## All results")
    out.append("")
    out.append("† marks a figure whose best repetition still spent more than 10% of its wall time descheduled "
               "(real time > 1.1 x the main thread's CPU time): disturbed by other processes, a lower bound.")
    out.append("")
    out.append("| data | dtype | codec | bound | executor | compress GB/s | decompress GB/s | ratio | max err/bound "
               "| PSNR (dB) | violations |")
    out.append("| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in keys:
        data, dtype, codec, bound, executor = k
        entries = [rows[k].get("compress"), rows[k].get("decompress")]
        ratio = values_of(entries, "ratio")
        err = values_of(entries, "max_err_over_bound")
        psnr = values_of(entries, "psnr")
        viol = values_of(entries, "violations")
        out.append(f"| {data} | {dtype} | {codec} | {bound} | {executor} | {rate_cell(entries[0])} | {rate_cell(entries[1])} | "
                   f"{fmt(ratio[0] if ratio else None, 2)} | {fmt(max(err) if err else None, 6)} | "
                   f"{fmt(psnr[0] if psnr else None, 1)} | {int(max(viol)) if viol else 'n/a'} |")
    out.append("")
    return out


# ---- GPU: actzip-bench-gpu -----------------------------------------------------------------

def human_bytes(n):
    if n is None:
        return "n/a"
    n = int(n)
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.1f} kB"


def parse_tag(tag):
    """'16MiB' -> 16777216; a tag that is not exact (e.g. '188.2MB') stays a string."""
    m = re.fullmatch(r"(\d+)(GiB|MiB)", tag)
    if not m:
        return tag
    return int(m.group(1)) << (30 if m.group(2) == "GiB" else 20)



class Results:
    """Benchmark runs grouped by case, over the repetitions."""

    def __init__(self, doc):
        self.doc = doc
        self.context = doc.get("context", {})
        self.copy = {}       # bytes -> [runs]
        self.codec = {}      # (data, bytes, dtype, bound, codec) -> {"compress": [runs], "decompress": [runs]}
        self.size_tags = {}  # (data, bytes) -> the size as written in the name
        self.data_order = []
        self.errors = []
        tag_bytes = {}  # (data, size tag) -> input bytes, from runs that carry the counter
        for b in doc.get("benchmarks", []):
            parts = b.get("run_name", b.get("name", "")).split("/")
            if len(parts) >= 5 and b.get("input_bytes") is not None:
                tag_bytes[(parts[2], parts[3])] = int(b["input_bytes"])
        for b in doc.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration":
                continue
            name = b.get("run_name", b.get("name", ""))
            parts = name.split("/")
            if b.get("error_occurred"):
                message = f"{name.split('/min_time:')[0]}: {b.get('error_message', 'error')}"
                if message not in self.errors:
                    self.errors.append(message)
            if parts[0] == "copy" and len(parts) >= 2 and parts[1].isdigit():
                self.copy.setdefault(int(parts[1]), []).append(b)
                continue
            if parts[0] not in ("compress", "decompress") or len(parts) < 5:
                continue
            direction, dtype, data, size, bound = parts[:5]
            codec = parts[5] if len(parts) > 5 and parts[5] in CODEC_ORDER else "bitplane"
            nbytes = b.get("input_bytes")
            nbytes = int(nbytes) if nbytes is not None else tag_bytes.get((data, size), parse_tag(size))
            if data not in self.data_order:
                self.data_order.append(data)
            self.size_tags[(data, nbytes)] = size
            self.codec.setdefault((data, nbytes, dtype, bound, codec), {}).setdefault(direction, []).append(b)

    def keys(self):
        def order(k):
            data, nbytes, dtype, bound, codec = k
            return (self.data_order.index(data), nbytes if isinstance(nbytes, int) else 0,
                    CODEC_ORDER.get(codec, 9), DTYPE_ORDER.get(dtype, 9), bound_key(bound))
        return sorted(self.codec, key=order)


def good(runs):
    return [r for r in runs or [] if not r.get("error_occurred")]


def rate(runs):
    """Median GB/s over the repetitions (GBps counter, else bytes_per_second)."""
    values = []
    for r in good(runs):
        if r.get("GBps") is not None:
            values.append(r["GBps"])
        elif r.get("bytes_per_second") is not None:
            values.append(r["bytes_per_second"] / 1e9)
    return median(values)


def counter(runs, name, pick=median):
    values = [r[name] for r in good(runs) if name in r and r[name] is not None]
    return pick(values) if values else None


def counter_any(groups, name, pick):
    values = [r[name] for runs in groups for r in good(runs) if name in r and r[name] is not None]
    return pick(values) if values else None


def identical_cell(groups):
    values = [r["host_identical"] for runs in groups for r in good(runs) if "host_identical" in r]
    if not values:
        return "–"
    return "yes" if all(v == 1 for v in values) else "**NO**"


def benchmark_section(res):
    out = []
    ctx = res.context
    out.append("## Benchmarks")
    out.append("")
    for key, label in (("actzip_device", "Device (as the program saw it)"), ("actzip_cuda", "CUDA"),
                       ("actzip_plan", "Plan"), ("actzip_data", "Data"),
                       ("actzip_copy_GBps", "Copy reference, bytes:GB/s, measured before the codec benchmarks")):
        if ctx.get(key):
            out.append(f"- {label}: {ctx[key]}")
    if ctx.get("date"):
        out.append(f"- Benchmark start: {ctx['date']}; Google Benchmark library build type "
                   f"{ctx.get('library_build_type', '?')}")
    out.append("- GB/s = input (uncompressed) bytes / second / 1e9 from CUDA event times, median over the "
               "repetitions; '% of copy' compares with a device-to-device cudaMemcpyAsync of the same number "
               "of bytes, counted as bytes read (its size) per second. '% of ceiling': the bytes a call must move "
               "at the least (input and stream: read and written once) per second, against the memory traffic of "
               "that copy (it reads and writes its size: 2 x its GB/s); moved MiB are those bytes. Compress includes the value-range pass "
               "of the relative bound, and for huffman and automatic the symbol histogram and the code book. Inputs under 256 MiB are timed as back-to-back calls "
               "(calls_per_iteration in the JSON), and 16 MiB inputs and the real data sets fit in the L2 cache "
               "of an H100 (50 MB) together with their output, as does the copy of the same size.")
    out.append("- max err/bound is max |x - x'| over finite values divided by the stream's effective absolute "
               "bound (header absolute_bound); PSNR uses the finite value range from the header; violations "
               "count |x - x'| > bound and NaN/Inf not returned as themselves; '= serial' says whether the "
               "stream was byte-identical to exec::serial's (checked for inputs up to 200 MB).")
    out.append("")

    # ---- headlines -------------------------------------------------------------------
    headlines = [("bitplane", TARGET_COMPRESS_GBPS, TARGET_DECOMPRESS_GBPS),
                 ("huffman", TARGET_HUFFMAN_GBPS, TARGET_HUFFMAN_GBPS)]
    for codec, target_c, target_d in headlines:
        big = [k for k in res.keys() if k[2] == "f32" and k[4] == codec and isinstance(k[1], int)
               and k[1] >= HEADLINE_MIN_BYTES]
        if codec != "bitplane" and not any(k[4] == codec for k in res.keys()):
            continue  # the codec was not benchmarked
        out.append(f"### Headline: {codec} codec, f32, inputs >= 1 GiB (targets: compress >= {target_c:g} GB/s, "
                   f"decompress >= {target_d:g} GB/s)")
        out.append("")
        if not big:
            out.append(f"No f32 {codec} result with an input of 1 GiB or more in this run: the targets were not "
                       "measured.")
            out.append("")
            continue
        comp = [rate(res.codec[k].get("compress")) for k in big]
        decomp = [rate(res.codec[k].get("decompress")) for k in big]
        cv = [v for v in comp if v is not None]
        dv = [v for v in decomp if v is not None]
        c_ok = sum(1 for v in cv if v >= target_c)
        d_ok = sum(1 for v in dv if v >= target_d)

        def verdict(ok, values):
            return "MET" if values and ok == len(big) else "NOT MET"

        out.append(f"Compress: **{verdict(c_ok, cv)}**, {fmt(min(cv) if cv else None, 0)}–"
                   f"{fmt(max(cv) if cv else None, 0)} GB/s ({c_ok} of {len(big)} data/size/bound cases >= "
                   f"{target_c:g}). Decompress: **{verdict(d_ok, dv)}**, "
                   f"{fmt(min(dv) if dv else None, 0)}–{fmt(max(dv) if dv else None, 0)} GB/s ({d_ok} of "
                   f"{len(big)} cases >= {target_d:g}).")
        out.append("")
        out.append("| data | size | bound | compress GB/s | decompress GB/s | compress % of copy | "
                   "decompress % of copy | moved MiB | ceiling GB/s | compress % of ceiling | "
                   "decompress % of ceiling | ratio |")
        out.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for k in big:
            data, nbytes, dtype, bound, _ = k
            c, d = res.codec[k].get("compress"), res.codec[k].get("decompress")
            moved = counter_any([c, d], "moved_bytes", lambda v: v[0])
            out.append(f"| {data} | {human_bytes(nbytes)} | {bound} | {fmt(rate(c), 0)} | {fmt(rate(d), 0)} | "
                       f"{fmt(counter(c, 'pct_of_copy'), 1)} | {fmt(counter(d, 'pct_of_copy'), 1)} | "
                       f"{fmt(moved / 2**20 if moved is not None else None, 0)} | "
                       f"{fmt(counter_any([c, d], 'ceiling_GBps', lambda v: v[0]), 0)} | "
                       f"{fmt(counter(c, 'pct_of_ceiling'), 1)} | {fmt(counter(d, 'pct_of_ceiling'), 1)} | "
                       f"{fmt(counter_any([c, d], 'ratio', lambda v: v[0]), 2)} |")
        out.append("")
    # ---- stages ---------------------------------------------------------------------------
    stage_keys = [k for k in res.keys() if k[2] == "f32"
                  and any(name.startswith("stage_us:") for runs in res.codec[k].values() for r in good(runs)
                          for name in r)]
    if stage_keys:
        out.append("### Stages of one call, f32 (microseconds)")
        out.append("")
        out.append("Each call is captured into a CUDA graph and its kernels and memsets are launched again one by "
                   "one, in order, each between two events (the mean of the replays, median over the "
                   "repetitions). The look-back runs inside compress_kernel. 'code book' is build_code_kernel; "
                   "the target for it is at most " + f"{TARGET_CODE_BOOK_US:g}" + " us per tensor.")
        out.append("")
        stage_columns = [("memset", "memset"), ("range_kernel", "range"), ("histogram_kernel", "histogram"),
                         ("build_code_kernel", "code book"), ("compress_kernel", "compress"),
                         ("store_checksum_kernel", "checksum"), ("decode_setup_kernel", "decode setup"),
                         ("verify_checksum_kernel", "verify"), ("decompress_kernel", "decompress")]
        out.append("| data | size | bound | codec | direction | " + " | ".join(c[1] for c in stage_columns)
                   + " | sum | whole call |")
        out.append("| --- | --- | --- | --- | --- | " + " | ".join("---:" for _ in stage_columns) + " | ---: | ---: |")
        for k in stage_keys:
            data, nbytes, dtype, bound, codec = k
            for direction in ("compress", "decompress"):
                runs = res.codec[k].get(direction)
                cells = [counter(runs, "stage_us:" + name) for name, _ in stage_columns]
                if all(c is None for c in cells):
                    continue
                total = sum(c for c in cells if c is not None)
                out.append(f"| {data} | {human_bytes(nbytes)} | {bound} | {codec} | {direction} | "
                           + " | ".join(fmt(c, 1) if c is not None else "–" for c in cells)
                           + f" | {fmt(total, 1)} | {fmt(counter(runs, 'us_per_call'), 1)} |")
        out.append("")

    real = [d for d in res.data_order if not d.startswith("synthetic")]
    if real:
        out.append(f"The real data sets ({', '.join(real)}) are all below the 1 GiB size of the targets; they are "
                   "measured as they are, and launch overhead and the L2 cache weigh on their figures.")
        out.append("")

    # ---- the copy reference ------------------------------------------------------------
    out.append("### Copy reference (cudaMemcpyAsync device to device)")
    out.append("")
    if not res.copy:
        out.append("No copy benchmark in this run.")
    else:
        out.append("| size | GB/s (benchmark) | GB/s (reference used for % of copy) |")
        out.append("| --- | ---: | ---: |")
        for nbytes in sorted(res.copy):
            runs = res.copy[nbytes]
            out.append(f"| {human_bytes(nbytes)} ({nbytes} B) | {fmt(rate(runs), 1)} | "
                       f"{fmt(counter(runs, 'reference_GBps'), 1)} |")
    out.append("")

    # ---- correctness ---------------------------------------------------------------------
    total_violations = 0
    worst = None
    mismatches = []
    for k, groups in res.codec.items():
        v = counter_any(groups.values(), "violations", max)
        total_violations += int(v) if v else 0
        e = counter_any(groups.values(), "max_err_over_bound", max)
        if e is not None and (worst is None or e > worst):
            worst = e
        if identical_cell(groups.values()) == "**NO**":
            mismatches.append("/".join(str(x) for x in k))
    out.append("### Correctness")
    out.append("")
    out.append(f"- Bound violations over all cases: {total_violations}")
    out.append(f"- Largest max err/bound: {fmt(worst, 6)}")
    out.append(f"- Streams not byte-identical to exec::serial's: {len(mismatches)}"
               + (" (" + ", ".join(mismatches) + ")" if mismatches else ""))
    out.append(f"- Benchmarks that reported an error: {len(res.errors)}")
    for e in res.errors:
        out.append(f"  - {e}")
    out.append("")

    # ---- one table per data set ------------------------------------------------------------
    out.append("### All results")
    out.append("")
    for data in res.data_order:
        keys = [k for k in res.keys() if k[0] == data]
        if not keys:
            continue
        out.append(f"#### {data}")
        out.append("")
        out.append("| size | codec | dtype | bound | compress GB/s | decompress GB/s | compress % of copy | "
                   "decompress % of copy | ratio | max err/bound | PSNR (dB) | violations | = serial |")
        out.append("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for k in keys:
            _, nbytes, dtype, bound, codec = k
            c, d = res.codec[k].get("compress"), res.codec[k].get("decompress")
            groups = [c, d]
            viol = counter_any(groups, "violations", max)
            size = human_bytes(nbytes) if isinstance(nbytes, int) else str(nbytes)
            out.append(f"| {size} | {codec} | {dtype} | {bound} | {fmt(rate(c), 1)} | {fmt(rate(d), 1)} | "
                       f"{fmt(counter(c, 'pct_of_copy'), 1)} | {fmt(counter(d, 'pct_of_copy'), 1)} | "
                       f"{fmt(counter_any(groups, 'ratio', lambda v: v[0]), 2)} | "
                       f"{fmt(counter_any(groups, 'max_err_over_bound', max), 6)} | "
                       f"{fmt(counter_any(groups, 'psnr', lambda v: v[0]), 1)} | "
                       f"{int(viol) if viol is not None else 'n/a'} | {identical_cell(groups)} |")
        out.append("")
    return out


def gpu_report(args, doc):
    """The markdown report of a GPU run."""
    out = [f"# actzip GPU benchmarks, {datetime.date.today().isoformat()}", ""]
    out += benchmark_section(Results(doc))
    log = read_text(args.log)
    if log:
        messages = [line for line in log.splitlines() if "FAILURE" in line or "left out" in line
                    or "not found" in line]
        if messages:
            out += ["### Messages from the benchmark program", "", code_block("\n".join(messages[:50])), ""]
    return out


def is_gpu(doc):
    """True for actzip-bench-gpu's JSON: its context names the device, and it times a copy."""
    ctx = doc.get("context", {})
    return ("actzip_device" in ctx or "actzip_cuda" in ctx
            or any(b.get("name", "").startswith("copy/") for b in doc.get("benchmarks", [])))


# ---- main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True, help="Google Benchmark JSON of actzip-bench-host or actzip-bench-gpu")
    ap.add_argument("--out", help="markdown file to write (default: standard output)")
    ap.add_argument("--kind", choices=("auto", "host", "gpu"), default="auto",
                    help="which program wrote the JSON (default: told by the JSON)")
    ap.add_argument("--log", default=None, help="console output of the run; FAILURE lines are copied")
    ap.add_argument("--command", default="", help="host: the command of the run")
    ap.add_argument("--compiler", default="", help="host: the compiler and its flags")
    ap.add_argument("--exit-status", type=int, default=None, help="host: the benchmark program's exit status")
    ap.add_argument("--cpu-accounting", default=None,
                    help="host: '<cpu line before>|<cpu line after>|<CLK_TCK>|<wall s>|<user s>|<sys s>' of the run")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()

    doc, partial = load_json(args.json)
    gpu = is_gpu(doc) if args.kind == "auto" else args.kind == "gpu"
    out = gpu_report(args, doc) if gpu else host_report(args, doc)
    if partial:
        out.insert(2, "**The benchmark JSON was cut short (the program did not finish): the tables below hold the "
                      "benchmarks that completed.**")
        out.insert(3, "")
    text = "\n".join(out).rstrip("\n") + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
