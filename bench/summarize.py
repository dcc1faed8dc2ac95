#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns the Google Benchmark JSON of actzip-bench-host into a markdown report.

Usage: summarize.py --json RESULTS.json --out REPORT.md [--command CMD]
                    [--compiler TEXT] [--exit-status N] [--log CONSOLE.txt]

Benchmark names are <compress|decompress>/<executor>/<codec>/<dtype>/<data>/<bound>
(Google Benchmark appends /min_time:.../real_time, which is ignored); names
without the codec part, from runs before the codec dimension existed, are read
as the bitplane codec. Standard library only.
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

TARGET_GBPS = 1.0  # DESIGN: host bitplane codec >= 1 GB/s per core both ways
DTYPE_ORDER = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3}
EXEC_ORDER = {"serial": 0, "omp": 1}
CODEC_ORDER = {"bitplane": 0, "huffman": 1, "automatic": 2}


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


def bound_key(bound):
    m = re.match(r"rel([0-9.e+-]+)$", bound)
    return -float(m.group(1)) if m else 0.0


def fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return f"{value:.{digits}f}"


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
    rates = sorted(_rates(runs))
    if not rates:
        return None
    mid = len(rates) // 2
    return rates[mid] if len(rates) % 2 else 0.5 * (rates[mid - 1] + rates[mid])


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
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
    return doc, rows, errors, data_order


def counter(groups, name):
    """Values of counter `name` over every run of the given benchmarks (lists of repetitions)."""
    return [e[name] for runs in groups for e in runs or [] if not e.get("error_occurred") and name in e]


def ratio_of(rows, key):
    entries = rows.get(key, {})
    values = counter([entries.get("compress"), entries.get("decompress")], "ratio")
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="")
    ap.add_argument("--compiler", default="")
    ap.add_argument("--exit-status", type=int, default=None)
    ap.add_argument("--log", default=None, help="console output of the run; FAILURE lines are copied")
    ap.add_argument("--cpu-accounting", default=None,
                    help="'<cpu line before>|<cpu line after>|<CLK_TCK>|<wall s>|<user s>|<sys s>' of the run")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()

    doc, rows, errors, data_order = load(args.json)
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
            r = " / ".join(fmt((counter([rows[k].get("compress"), rows[k].get("decompress")], "ratio") or [None])[0], 2)
                           for k in ks)
            out.append(f"| {data} | {c} | {d} | {r} |")
        out.append("")

    # ---- the codecs side by side ----------------------------------------------------
    out.extend(side_by_side(rows, keys, codecs, data_order))

    # ---- problems ---------------------------------------------------------------------
    total_violations = 0
    for k in keys:
        v = counter([rows[k].get("compress"), rows[k].get("decompress")], "violations")
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
        ratio = counter(entries, "ratio")
        err = counter(entries, "max_err_over_bound")
        psnr = counter(entries, "psnr")
        viol = counter(entries, "violations")
        out.append(f"| {data} | {dtype} | {codec} | {bound} | {executor} | {rate_cell(entries[0])} | {rate_cell(entries[1])} | "
                   f"{fmt(ratio[0] if ratio else None, 2)} | {fmt(max(err) if err else None, 6)} | "
                   f"{fmt(psnr[0] if psnr else None, 1)} | {int(max(viol)) if viol else 'n/a'} |")
    out.append("")

    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
