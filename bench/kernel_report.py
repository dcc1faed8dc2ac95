#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns ptxas -v output and the PTX of bench/kernel_report.cu into the Markdown
report of bench/kernel-report.sh: per kernel and element type, registers, spills,
stack, static shared memory, blocks per SM at 256 threads, and the integer
divisions and remainders in its PTX. A kernel that gets dynamic shared memory for
some tensors only (Huffman and automatic) has it in the PTX as the value of
actzip_report_dynamic_smem_<kernel>; its blocks per SM are given with and without."""
import argparse
import re
import subprocess

THREADS = 256
# Per-SM limits of compute capabilities 8.0 and 9.0 (CUDA occupancy rules).
LIMITS = {
    "80": dict(threads=2048, blocks=32, registers=65536, smem=167936, smem_block_reserved=1024),
    "90": dict(threads=2048, blocks=32, registers=65536, smem=233472, smem_block_reserved=1024),
}
ELEMENT = {"float": "f32", "double": "f64", "actzip::half": "f16", "actzip::bfloat16": "bf16"}


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return dict(zip(names, out.splitlines()))


def short_name(full):
    """'void actzip::exec::cuda_detail::compress_kernel<float>(...)' -> ('compress_kernel', 'f32')."""
    m = re.search(r"(\w+)<([^<>]*(?:<[^<>]*>)?[^<>]*)>\(", full)
    if not m:
        return full, "-"
    kernel, arg = m.group(1), m.group(2).strip()
    return kernel, ELEMENT.get(arg, arg)


def parse_ptxas(text):
    """Per entry: registers and shared memory from its "Used" line, stack and spills
    from the "Function properties" block of the entry itself. ptxas also lists the
    properties of the non-inlined device functions an entry calls after the entry's
    own; those belong to the function, not to the entry (their "functions" dict)."""
    kernels, functions, current, props = {}, {}, None, None
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            current = kernels.setdefault(m.group(1), {})
            props = None
            continue
        m = re.search(r"Function properties for (\w+)", line)
        if m:
            props = kernels[m.group(1)] if m.group(1) in kernels else functions.setdefault(m.group(1), {})
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and props is not None:
            props.update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
            continue
        if current is None:
            continue
        m = re.search(r"Used (\d+) registers", line)
        if m:
            current["registers"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            current["smem"] = int(s.group(1)) if s else 0
    return kernels, functions


def parse_ptx(text):
    """Integer div/rem instructions per .entry (the lines from one entry's header to the
    next entry or function; device functions are inlined at -O3, any .func left is
    counted under its own name), each attributed to the source line of the nearest
    preceding .loc directive (compiled with -lineinfo)."""
    files, counts, name, where = {}, {}, None, None
    for line in text.splitlines():
        m = re.match(r'\s*\.file\s+(\d+)\s+"([^"]+)"', line)
        if m:
            files[m.group(1)] = m.group(2)
            continue
        m = re.match(r"\s*(?:\.visible\s+|\.weak\s+|\.extern\s+)*\.(entry|func)\s+(?:\([^)]*\)\s*)?(\w+)", line)
        if m:
            name = m.group(2) if not line.rstrip().endswith(";") else None
            if name is not None:
                counts.setdefault(name, {"div32": 0, "div64": 0, "lines": {}})
            continue
        m = re.match(r"\s*\.loc\s+(\d+)\s+(\d+)", line)
        if m:
            where = (m.group(1), int(m.group(2)))
            continue
        if name is None:
            continue
        m = re.match(r"\s*(?:@!?%p\d+\s+)?(div|rem)\.(?:s|u)(32|64)\b", line)
        if m:
            counts[name]["div" + m.group(2)] += 1
            if where is not None:
                counts[name]["lines"][where] = counts[name]["lines"].get(where, 0) + 1
    # The .file directives may follow the code: name the files at the end.
    for c in counts.values():
        c["lines"] = {(files.get(f, "?"), line): n for (f, line), n in c["lines"].items()}
    return counts


def parse_dynamic_smem(text):
    """Kernel name -> the bytes of dynamic shared memory it gets for some tensors."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"actzip_report_dynamic_smem_(\w+)\s*=\s*(\d+)", text)}


def blocks_per_sm(k, arch, dynamic=0):
    lim = LIMITS[arch]
    warps = THREADS // 32
    regs_per_warp = ((k["registers"] * 32 + 255) // 256) * 256
    by_regs = lim["registers"] // (regs_per_warp * warps) if k["registers"] else lim["blocks"]
    smem = (k["smem"] + dynamic + 127) // 128 * 128 + lim["smem_block_reserved"]
    by_smem = lim["smem"] // smem
    return min(lim["blocks"], lim["threads"] // THREADS, by_regs, by_smem), by_regs, by_smem


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ptxas", required=True)
    ap.add_argument("--ptx", required=True)
    ap.add_argument("--full-ptx", required=True, help="PTX compiled with -DACTZIP_KERNEL_REPORT_FULL_CHUNKS")
    ap.add_argument("--arch", default="90")
    ap.add_argument("--nvcc", default="")
    ap.add_argument("--commit", default="")
    ap.add_argument("--date", default="")
    a = ap.parse_args()
    kernels, functions = parse_ptxas(open(a.ptxas).read())
    ptx = open(a.ptx).read()
    divs = parse_ptx(ptx)
    dynamic = parse_dynamic_smem(ptx)
    full_divs = parse_ptx(open(a.full_ptx).read())
    names = demangle(sorted(set(kernels) | set(divs) | set(functions)))
    rows = []
    for mangled, k in kernels.items():
        kernel, element = short_name(names[mangled])
        d = divs.get(mangled, {"div32": 0, "div64": 0, "lines": {}})
        f = full_divs.get(mangled, {"div32": 0, "div64": 0, "lines": {}})
        d["full"] = f"{f['div32']} / {f['div64']}"
        occupancy = "%d (%d, %d)" % blocks_per_sm(k, a.arch)
        extra = dynamic.get(kernel, 0)
        if extra:
            occupancy += "; Huffman: %d (%d, %d)" % blocks_per_sm(k, a.arch, extra)
        rows.append((kernel, element, k, d, occupancy, extra))
    order = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3}
    rows.sort(key=lambda r: (r[0], order.get(r[1], 9)))
    print(f"# CUDA kernels, static report (sm_{a.arch}, {THREADS} threads per block)\n")
    print(f"- date: {a.date}; commit: {a.commit}; compiler: {a.nvcc}")
    print("- command: `bash bench/kernel-report.sh bench/results` (no GPU needed: ptxas -v and the PTX of "
          "bench/kernel_report.cu, which instantiates every kernel through actzip::compress / decompress)")
    print("- blocks/SM: the CUDA occupancy rules for this architecture from the registers (allocated per warp in "
          "units of 256) and the shared memory (plus 1 KiB reserved per block); the thread limit allows "
          f"{LIMITS[a.arch]['threads'] // THREADS}. A kernel with dynamic shared memory gets it for Huffman and "
          "automatic tensors only: its blocks/SM are given without it, then with it")
    print("- spills and stack: ptxas's figures for the kernel's own code; the device functions it calls that are "
          "not inlined have their own (second table)")
    print("- div/rem: integer `div`/`rem` instructions in the kernel's PTX, 32- and 64-bit (the inlined device "
          "functions included; the non-inlined ones are counted in the second table). *Full-chunk path*: the same, "
          "32 / 64-bit, in the kernels compiled with ACTZIP_KERNEL_REPORT_FULL_CHUNKS (every chunk taken as full, "
          "so the code only edge chunks run drops out); the last table gives their source lines\n")
    print("| kernel | type | registers | spill st/ld (B) | stack (B) | static smem (B) | dynamic smem, Huffman (B) "
          "| blocks/SM (regs, smem) | div/rem 32 | div/rem 64 | full-chunk path 32 / 64 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kernel, element, k, d, occupancy, extra in rows:
        print(f"| {kernel} | {element} | {k.get('registers', 0)} | {k.get('spill_stores', 0)}/"
              f"{k.get('spill_loads', 0)} | {k.get('stack', 0)} | {k.get('smem', 0)} | {extra} | {occupancy} "
              f"| {d['div32']} | {d['div64']} | {d['full']} |")
    print("\n## Device functions called without inlining\n")
    print("| function | stack (B) | spill st/ld (B) | div/rem 32 | div/rem 64 | full-chunk path 32 / 64 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for mangled, f in sorted(functions.items(), key=lambda kv: names.get(kv[0], kv[0])):
        d = divs.get(mangled, {"div32": 0, "div64": 0})
        full = full_divs.get(mangled, {"div32": 0, "div64": 0})
        short = re.sub(r"\(.*$", "", re.sub(r"^[\w:<>, ]*?actzip::detail::gpu::", "", names.get(mangled, mangled)))
        print(f"| {short} | {f.get('stack', 0)} | {f.get('spill_stores', 0)}/{f.get('spill_loads', 0)} | "
              f"{d['div32']} | {d['div64']} | {full['div32']} / {full['div64']} |")
    # Where the full-chunk path's divisions come from (float32 kernels; the others are alike).
    sources = {}
    for mangled in list(kernels) + list(functions):
        kernel, element = short_name(names[mangled])
        if mangled in functions:
            kernel, element = re.sub(r"\(.*$", "", names[mangled]).split("::")[-1], "f32"
        if element != "f32":
            continue
        for (src, line), c in full_divs.get(mangled, {"lines": {}})["lines"].items():
            short = re.sub(r"^.*?/include/", "include/", src)
            sources.setdefault((short, line), {})[kernel] = c
    print("\n## Divisions left in the full-chunk path, by source line (float32 kernels and the functions they "
          "call)\n")
    print("| source line | kernels (instructions) |")
    print("| --- | --- |")
    for (src, line), per in sorted(sources.items()):
        where = f"{src}:{line}" if line else f"{src} (no line: code the compiler generated)"
        print(f"| {where} | " + ", ".join(f"{k} {c}" for k, c in sorted(per.items())) + " |")


if __name__ == "__main__":
    main()
