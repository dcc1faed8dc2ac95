#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns the Google Benchmark JSON of actzip-bench-gpu (and, from bench/gpu.sh, the
logs of the other steps) into a markdown report.

Usage:
  summarize-gpu.py --json RESULTS.json [--out REPORT.md]       # benchmark tables only
  summarize-gpu.py --json RESULTS.json --out REPORT.md --info INFO.tsv --steps STEPS.tsv \\
      [--ctest-log LOG] [--sanitizer NAME=LOG ...] [--cuobjdump BINARY=DUMP ...] \\
      [--ptxas-log LOG] [--bench-log LOG]                      # the full report (bench/gpu.sh)

INFO.tsv holds "key<TAB>value" lines (device, driver, ...), printed in order.
STEPS.tsv holds "name<TAB>exit status<TAB>seconds<TAB>log file<TAB>command" lines;
an exit status of "-" means the step did not run.

Benchmark names are copy/<bytes> and
<compress|decompress>/<dtype>/<data>/<size>/<bound>[/<codec>] (codec bitplane,
huffman or automatic; names without one are bitplane; Google Benchmark appends
/min_time:.../repeats:.../manual_time, which is ignored). GB/s figures are the
median over the repetitions of the GBps counter (input bytes / event time / 1e9).
Standard library only.
"""

import argparse
import datetime
import json
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import git_commit  # noqa: E402  (bench/summarize.py)

TARGET_COMPRESS_GBPS = 1000.0    # fp32, inputs of 1 GiB and more, bitplane codec
TARGET_DECOMPRESS_GBPS = 1500.0
TARGET_HUFFMAN_GBPS = 200.0      # fp32, inputs of 1 GiB and more, huffman codec, both ways
TARGET_CODE_BOOK_US = 50.0       # build_code_kernel, one tensor
HEADLINE_MIN_BYTES = 1 << 30
DTYPE_ORDER = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3}
CODEC_ORDER = {"bitplane": 0, "huffman": 1, "automatic": 2}
LOG_TAIL_LINES = 40


# ---- formatting ---------------------------------------------------------------------

def fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return f"{value:.{digits}f}"


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


def tail(text, lines=LOG_TAIL_LINES):
    return "\n".join(text.rstrip("\n").splitlines()[-lines:]) if text else ""


def code_block(text):
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


# ---- the benchmark JSON -----------------------------------------------------------------

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


# ---- the other steps ------------------------------------------------------------------------

def read_tsv(path, fields):
    rows = []
    text = read_text(path)
    if text is None:
        return rows
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("\t", fields - 1)
        parts += [""] * (fields - len(parts))
        rows.append(parts)
    return rows


def step_status(rc):
    if rc == "-":
        return "not run"
    if rc == "0":
        return "ok"
    if rc in ("124", "137"):
        return f"**TIMED OUT** (exit {rc})"
    return f"**FAILED** (exit {rc})"


def ctest_section(text):
    out = ["## Tests: `ctest -L gpu`", ""]
    if text is None:
        out += ["Not run (see the steps).", ""]
        return out
    keep = [line for line in text.splitlines()
            if re.search(r"tests passed|tests failed|Test +#\d+:|\*\*\*|Not Run|Failed|Passed|Skipped|"
                         r"No tests were found|Total Test time", line)]
    out.append(code_block("\n".join(keep) if keep else tail(text)))
    out.append("")
    return out


def sanitizer_section(entries, filter_note):
    out = ["## compute-sanitizer", ""]
    if filter_note:
        out.append(f"- Test selection passed to the test program: `{filter_note}`")
        out.append("")
    if not entries:
        out += ["Not run (see the steps).", ""]
        return out
    for name, path in entries:
        text = read_text(path)
        out.append(f"### {name}")
        out.append("")
        if text is None:
            out += ["No log (the step did not run).", ""]
            continue
        keep = [line for line in text.splitlines()
                if re.search(r"SUMMARY|\[doctest\] (test cases|assertions|Status)|no CUDA device|"
                             r"Target application returned|Error: |Program hit|Invalid __|Race reported|"
                             r"Saved host backtrace", line)]
        # Keep the report short: the summary lines and the first few hazards.
        short = keep[:30] if keep else tail(text).splitlines()
        out.append(code_block("\n".join(short)))
        out.append("")
    return out


def parse_cuobjdump(text):
    """Rows (arch, mangled name, fields dict) of `cuobjdump --dump-resource-usage`."""
    rows = []
    arch = "?"
    name = None
    for line in text.splitlines():
        m = re.match(r"\s*arch\s*=\s*(\S+)", line)
        if m:
            arch = m.group(1)
            continue
        m = re.match(r"\s*Function\s+(\S+?):?\s*$", line)
        if m:
            name = m.group(1)
            continue
        if name and "REG:" in line:
            fields = dict(re.findall(r"([A-Z_]+(?:\[\d+\])?):(\d+)", line))
            rows.append((arch, name, fields))
            name = None
    return rows


def parse_ptxas(text):
    """Rows (arch, mangled name, regs, stack, spill stores, spill loads, smem) from ptxas -v output."""
    rows = []
    current = None
    arch = "?"
    props = {}
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '([^']+)' for '([^']+)'", line)
        if m:
            current, arch = m.group(1), m.group(2)
            props = {}
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and current:
            props = {"stack": m.group(1), "spill_st": m.group(2), "spill_ld": m.group(3)}
            continue
        m = re.search(r"Used (\d+) registers(.*)", line)
        if m and current:
            smem = re.search(r"(\d+) bytes smem", m.group(2))
            rows.append((arch, current, m.group(1), props.get("stack", "?"), props.get("spill_st", "?"),
                         props.get("spill_ld", "?"), smem.group(1) if smem else "0"))
            current = None
    return rows


def demangle(names):
    names = list(names)
    if not names:
        return {}
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True)
        demangled = out.stdout.splitlines()
        if len(demangled) == len(names):
            return dict(zip(names, demangled))
    except (OSError, subprocess.CalledProcessError):
        pass
    return {n: n for n in names}


def short_kernel(signature):
    """'void actzip::detail::gpu::compress_kernel<float>(...)' -> 'compress_kernel<float>'."""
    s = re.sub(r"^void\s+", "", signature)
    depth = 0
    for i, ch in enumerate(s):  # cut the parameter list: the first '(' outside template brackets
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            s = s[:i]
            break
    s = s.replace("actzip::detail::gpu::", "").replace("actzip::", "")
    return s


def resources_section(cuobjdumps, ptxas_log):
    out = ["## Kernel resource usage", ""]
    out.append("actzip's kernels only (namespace actzip), names demangled with c++filt. REG: registers per "
               "thread; STACK and LOCAL: bytes of per-thread local memory (stack frame, spills, local arrays); "
               "SHARED: static shared memory per block in bytes.")
    out.append("")
    any_rows = False
    for binary, path in cuobjdumps:
        text = read_text(path)
        out.append(f"### `cuobjdump --dump-resource-usage` on {binary}")
        out.append("")
        if text is None:
            out += ["No output (the step did not run, or cuobjdump failed).", ""]
            continue
        rows = [r for r in parse_cuobjdump(text) if r[1].startswith("_ZN6actzip")]
        if not rows:
            out += ["No actzip kernel found in the dump.", ""]
            continue
        any_rows = True
        names = demangle(sorted({r[1] for r in rows}))
        out.append("| arch | kernel | REG | STACK | LOCAL | SHARED |")
        out.append("| --- | --- | ---: | ---: | ---: | ---: |")
        for arch, name, f in sorted(rows, key=lambda r: (r[0], short_kernel(names[r[1]]))):
            out.append(f"| {arch} | `{short_kernel(names[name])}` | {f.get('REG', '?')} | {f.get('STACK', '?')} | "
                       f"{f.get('LOCAL', '?')} | {f.get('SHARED', '?')} |")
        out.append("")
    text = read_text(ptxas_log)
    out.append("### ptxas report while compiling bench/gpu.cu (`--resource-usage`)")
    out.append("")
    if text is None:
        out += ["No build log.", ""]
    else:
        rows = [r for r in parse_ptxas(text) if r[1].startswith("_ZN6actzip")]
        if not rows:
            out += ["No ptxas report for actzip kernels in the build log (was the object rebuilt with "
                    "ACTZIP_BENCH_CUDA_RESOURCE_USAGE=ON?).", ""]
        else:
            any_rows = True
            names = demangle(sorted({r[1] for r in rows}))
            out.append("| arch | kernel | registers | stack frame | spill stores | spill loads | smem |")
            out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
            for arch, name, regs, stack, st, ld, smem in sorted(rows, key=lambda r: (r[0], short_kernel(names[r[1]]))):
                out.append(f"| {arch} | `{short_kernel(names[name])}` | {regs} | {stack} | {st} | {ld} | {smem} |")
            out.append("")
    if not any_rows:
        out += ["No resource usage was recorded.", ""]
    return out


# ---- main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="Google Benchmark JSON of actzip-bench-gpu")
    ap.add_argument("--out", help="markdown file to write (default: standard output)")
    ap.add_argument("--info", help="key<TAB>value lines about the machine and the run")
    ap.add_argument("--steps", help="name<TAB>rc<TAB>seconds<TAB>log<TAB>command lines")
    ap.add_argument("--ctest-log")
    ap.add_argument("--sanitizer", action="append", default=[], metavar="NAME=LOG")
    ap.add_argument("--sanitizer-filter", default="")
    ap.add_argument("--cuobjdump", action="append", default=[], metavar="BINARY=DUMP")
    ap.add_argument("--ptxas-log")
    ap.add_argument("--bench-log", help="console output of the benchmark; FAILURE lines are copied")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()

    full = bool(args.info or args.steps)
    out = []
    info = read_tsv(args.info, 2)
    date = next((v for k, v in info if k == "date"), None) or datetime.date.today().isoformat()
    steps = read_tsv(args.steps, 5)

    res = None
    json_problem = None
    partial = False
    if args.json and os.path.exists(args.json):
        try:
            doc, partial = load_json(args.json)
            res = Results(doc)
        except (OSError, ValueError) as e:
            json_problem = f"could not read {args.json}: {e}"
    elif args.json:
        json_problem = f"{args.json} does not exist"

    if full:
        out.append(f"# actzip on the GPU: tests, sanitizers, resources and benchmarks, {date}")
        out.append("")
        for k, v in info:
            out.append(f"- {k}: {v}")
        if not any(k == "git commit" for k, _ in info):
            out.append(f"- git commit: {git_commit(args.repo)}")
        ran = [s for s in steps if s[1] != "-"]
        failed = [s for s in ran if s[1] != "0"]
        out.append(f"- Result: {len(ran) - len(failed)} of {len(ran)} steps succeeded"
                   + (f"; **failed: {', '.join(s[0] for s in failed)}**" if failed else ""))
        out.append("")
        out.append("## Steps (in order, with the exact commands)")
        out.append("")
        out.append("| step | status | seconds | command |")
        out.append("| --- | --- | ---: | --- |")
        for name, rc, secs, _log, cmd in steps:
            cmd_cell = cmd.replace("|", "\\|").replace("`", "'")
            out.append(f"| {name} | {step_status(rc)} | {secs or '–'} | `{cmd_cell}` |")
        out.append("")
        out += ctest_section(read_text(args.ctest_log))
        sans = [tuple(s.split("=", 1)) for s in args.sanitizer if "=" in s]
        out += sanitizer_section(sans, args.sanitizer_filter)
        dumps = [tuple(s.split("=", 1)) for s in args.cuobjdump if "=" in s]
        out += resources_section(dumps, args.ptxas_log)
    else:
        out.append(f"# actzip GPU benchmarks, {date}")
        out.append("")

    if res is not None:
        if partial:
            out += ["**The benchmark JSON was cut short (the program did not finish): the tables below hold the "
                    "benchmarks that completed.**", ""]
        out += benchmark_section(res)
    else:
        out += ["## Benchmarks", "", f"No benchmark results: {json_problem or 'no JSON given'}.", ""]

    bench_log = read_text(args.bench_log)
    if bench_log:
        failures = [line for line in bench_log.splitlines() if "FAILURE" in line or "left out" in line
                    or "not found" in line]
        if failures:
            out.append("### Messages from the benchmark program")
            out.append("")
            out.append(code_block("\n".join(failures[:50])))
            out.append("")

    if full:
        failed = [s for s in steps if s[1] not in ("0", "-")]
        if failed:
            out.append("## Logs of the failed steps (last lines)")
            out.append("")
            for name, rc, _secs, log, _cmd in failed:
                out.append(f"### {name} (exit {rc}, log {log})")
                out.append("")
                out.append(code_block(tail(read_text(log) or "(no log)")))
                out.append("")

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
