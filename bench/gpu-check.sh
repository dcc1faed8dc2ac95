#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# actzip's GPU check in one short call: runs the GPU kit made by bench/gpu-kit.sh on a
# machine with an NVIDIA GPU, building and installing nothing, and writes a report.
# Made for a GPU machine with a few minutes to spare and no package mirror; it needs
# only bash, coreutils (timeout), python3 and the NVIDIA driver, and uses nvidia-smi and
# compute-sanitizer where they are found. The kernels' registers, spills and shared
# memory need no GPU: bash bench/kernel-report.sh.
#
#   bash <kit>/gpu-check.sh [RESULTS_DIR]                       # from the kit folder
#   bash bench/gpu-check.sh [--kit KIT_DIR] [RESULTS_DIR]       # from the repository
#
# KIT_DIR: --kit, else $ACTZIP_GPU_KIT, else the folder of this script when it is a
# kit (BUILD-INFO and bin/ beside it), else build-gpu-kit/kit in the repository.
# RESULTS_DIR: the argument, else $ACTZIP_GPU_RESULTS_DIR, else bench/results (from
# the repository) or <kit>/results (from a kit). Written there:
#   gpu-<device>-<YYYY-MM-DD>.md           the report (device: nvidia-smi's name, else the
#                                          driver's, lowercased, spaces turned into dashes;
#                                          "no-gpu" when there is none)
#   gpu-<device>-<YYYY-MM-DD>.json         the benchmark's Google Benchmark JSON
#   gpu-<device>-<YYYY-MM-DD>.logs.tar.gz  every step's full output (only when RESULTS_DIR was
#                                          given; else the logs stay in a temporary folder)
#
# The steps, in this order, each under its own time limit (seconds; a step that fails
# or runs out of time is recorded and the next steps still run):
#   tests           100  bin/test_cuda_executor --test-case-exclude=*GiB* --duration=true (every
#                        GPU test but the multi-GiB ones; the 16 Mi-element case is kept)
#   tests-5gib       50  bin/test_cuda_executor --test-case=*GiB* --duration=true (the 5 GiB
#                        round trip, the one test case with GiB in its name)
#   device-compile   15  bin/test_device_compile
#   quickstart-cuda  15  bin/quickstart-cuda
#   memcheck         35  compute-sanitizer --tool memcheck --leak-check full   } on two test cases,
#   racecheck        35  compute-sanitizer --tool racecheck                    } float only: the batch
#   synccheck        25  compute-sanitizer --tool synccheck                    } test and the Huffman
#                                                                                corner cases
#   bench            55  bin/actzip-bench-gpu: f32 at 1 GiB, synthetic-smooth and synthetic-relu,
#                        rel 1e-2/1e-3/1e-4, bitplane and huffman, compress and decompress, and the
#                        device-to-device copy of 1 GiB they are compared with (3 repetitions of
#                        0.05 s each, no real data, no host check)
# 330 s (5.5 minutes) in the worst case, plus a few seconds to write the report: the
# whole check fits in 6 minutes. Each limit is a `timeout -k 5`: SIGTERM, SIGKILL 5 s later.
#
# Statuses: ok; FAILED; TIMED OUT; NO GPU (the program exited 77: "no CUDA device:
# skipped", or no usable one, with the CUDA error); not run (compute-sanitizer not found); unsupported (compute-sanitizer
# said "Device not supported" for this machine's GPU: it checked nothing, and the
# report says so).
# A doctest step that ran no test case, and a benchmark step that ran no benchmark,
# count as FAILED (a filter that matched nothing). The script exits 0 when every step
# that ran was ok or unsupported, 1 otherwise (a machine without a GPU included), and
# 2 on a usage error or a missing kit.
#
# Environment (all optional):
#   ACTZIP_GPU_KIT, ACTZIP_GPU_RESULTS_DIR    as above
#   ACTZIP_GPU_LOG_DIR                        step logs (default: a fresh temporary folder)
#   ACTZIP_CHECK_TIMEOUT_TESTS, _5GIB, _PROGRAM (each of device-compile and quickstart-cuda),
#   _MEMCHECK, _RACECHECK, _SYNCCHECK, _BENCH  the limits above, in seconds
#   ACTZIP_CHECK_SANITIZER_CASES              doctest --test-case filter of the sanitizer runs
#                                             ('*': every test case, for a machine with time)
#   ACTZIP_CHECK_BENCH_ARGS                   more actzip-bench-gpu arguments, split at spaces; they
#                                             come last and win over the defaults above, e.g.
#                                             '--benchmark_filter=. --actzip_max_bytes=4294967296'
#                                             with ACTZIP_CHECK_TIMEOUT_BENCH=900: every synthetic
#                                             benchmark of the program (every dtype, up to 4 GiB)
#   COMPUTE_SANITIZER                         compute-sanitizer to use (default: PATH, then
#                                             /usr/local/cuda/bin, /usr/local/cuda-*/bin)

# The step functions run through run_step, which shellcheck cannot follow.
# shellcheck disable=SC2317
set -uo pipefail

usage() {
  sed -n '/^#   bash /p' "${BASH_SOURCE[0]}" | sed 's/^#  //'
  exit 2
}

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kit="${ACTZIP_GPU_KIT:-}"
results=""
while (($#)); do
  case "$1" in
    --kit)
      [ $# -ge 2 ] || usage
      kit="$2"
      shift 2
      ;;
    --kit=*)
      kit="${1#--kit=}"
      shift
      ;;
    -h | --help) usage ;;
    -*) echo "gpu-check: unknown option $1" >&2 && usage ;;
    *)
      [ -z "$results" ] || usage
      results="$1"
      shift
      ;;
  esac
done

in_kit=0
if [ -z "$kit" ]; then
  if [ -f "$script_dir/BUILD-INFO" ] && [ -d "$script_dir/bin" ]; then
    kit="$script_dir"
    in_kit=1
  else
    kit="$script_dir/../build-gpu-kit/kit"
  fi
fi
if [ ! -f "$kit/BUILD-INFO" ] || [ ! -d "$kit/bin" ]; then
  echo "gpu-check: no GPU kit at $kit (BUILD-INFO and bin/ expected); bash bench/gpu-kit.sh makes one" >&2
  exit 2
fi
kit="$(cd "$kit" && pwd)"
if [ -z "$results" ]; then
  results="${ACTZIP_GPU_RESULTS_DIR:-}"
fi
results_given=1
if [ -z "$results" ]; then
  results_given=0
  if [ "$in_kit" = 1 ]; then results="$kit/results"; else results="$script_dir/results"; fi
fi
mkdir -p "$results" || exit 2
results="$(cd "$results" && pwd)"
if [ -n "${ACTZIP_GPU_LOG_DIR:-}" ]; then
  logs="$ACTZIP_GPU_LOG_DIR"
  mkdir -p "$logs" || exit 2
else
  logs="$(mktemp -d "${TMPDIR:-/tmp}/actzip-gpu-check.XXXXXX")" || exit 2
fi
logs="$(cd "$logs" && pwd)"
cd "$kit" || exit 2
# Execute bits can get lost on the way; restore them where the kit is writable.
for exe in bin/*; do
  [ -x "$exe" ] || chmod u+x "$exe" 2>/dev/null || true
done

t_tests="${ACTZIP_CHECK_TIMEOUT_TESTS:-100}"
t_5gib="${ACTZIP_CHECK_TIMEOUT_5GIB:-50}"
t_program="${ACTZIP_CHECK_TIMEOUT_PROGRAM:-15}"
t_memcheck="${ACTZIP_CHECK_TIMEOUT_MEMCHECK:-35}"
t_racecheck="${ACTZIP_CHECK_TIMEOUT_RACECHECK:-35}"
t_synccheck="${ACTZIP_CHECK_TIMEOUT_SYNCCHECK:-25}"
t_bench="${ACTZIP_CHECK_TIMEOUT_BENCH:-55}"
san_cases="${ACTZIP_CHECK_SANITIZER_CASES:-*compress_batch and decompress_batch*<float>,*Huffman corner cases*<float>}"
read -r -a bench_extra <<<"${ACTZIP_CHECK_BENCH_ARGS:-}"
script_start=$(date +%s)
date_tag="$(date +%F)"

steps_file="$logs/steps.tsv"
info_file="$logs/info.tsv"
: >"$steps_file"
: >"$info_file"
info() { printf '%s\t%s\n' "$1" "$2" >>"$info_file"; }

# ---- the machine ------------------------------------------------------------------------------

# nvidia-smi, unless it is missing or hangs (then it is not asked again).
smi_bin="$(command -v nvidia-smi 2>/dev/null || true)"
smi_state="${smi_bin:-not found}"
smi_name=""
if [ -n "$smi_bin" ]; then
  timeout -k 2 15 "$smi_bin" --query-gpu=name --format=csv,noheader >"$logs/nvidia-smi-name.txt" 2>&1
  smi_rc=$?
  if [ "$smi_rc" -eq 124 ] || [ "$smi_rc" -eq 137 ]; then
    smi_state="$smi_bin (did not answer within 15 s: not used)"
    smi_bin=""
  elif [ "$smi_rc" -eq 0 ]; then
    smi_name="$(head -n 1 "$logs/nvidia-smi-name.txt")"
  else
    smi_state="$smi_bin (exit $smi_rc: $(head -c 200 "$logs/nvidia-smi-name.txt" | tr '\n' ' '))"
  fi
fi
smi() { [ -n "$smi_bin" ] && timeout -k 2 15 "$smi_bin" "$@" 2>/dev/null; }
smi >"$logs/nvidia-smi.txt" 2>&1 || true

# The driver itself (libcuda through ctypes): present without nvidia-smi too.
probe="$logs/driver-probe.tsv"
timeout 30 python3 - >"$probe" 2>&1 <<'EOF'
import ctypes
lib = None
for name in ("libcuda.so.1", "libcuda.so"):
    try:
        lib = ctypes.CDLL(name)
        break
    except OSError:
        pass
if lib is None:
    print("libcuda\tnot found")
    raise SystemExit(0)
print("libcuda\tloaded")
rc = lib.cuInit(0)
version = ctypes.c_int(0)
if lib.cuDriverGetVersion(ctypes.byref(version)) == 0:
    print(f"driver CUDA\t{version.value // 1000}.{version.value % 1000 // 10}")
if rc != 0:
    print(f"cuInit\terror {rc}")
    raise SystemExit(0)
count = ctypes.c_int(0)
lib.cuDeviceGetCount(ctypes.byref(count))
print(f"devices\t{count.value}")
for i in range(count.value):
    dev = ctypes.c_int(0)
    if lib.cuDeviceGet(ctypes.byref(dev), i) != 0:
        continue
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGetName(name, 256, dev)
    major, minor, sms = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    lib.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)
    lib.cuDeviceGetAttribute(ctypes.byref(sms), 16, dev)
    mem = ctypes.c_size_t(0)
    lib.cuDeviceTotalMem_v2(ctypes.byref(mem), dev)
    print(f"device {i}\t{name.value.decode(errors='replace')}, compute capability {major.value}.{minor.value}, "
          f"{sms.value} SMs, {mem.value / 2**30:.1f} GiB")
EOF
probe_value() { sed -n "s/^$1\t//p" "$probe" | head -n 1; }
driver_devices="$(probe_value devices)"
driver_device0="$(probe_value 'device 0')"

gpu_name="$smi_name"
[ -z "$gpu_name" ] && gpu_name="${driver_device0%%,*}"
gpu_seen=0
if [ -n "$gpu_name" ] || [[ "${driver_devices:-0}" =~ ^[1-9] ]]; then gpu_seen=1; fi

sanitizer="${COMPUTE_SANITIZER:-}"
if [ -z "$sanitizer" ]; then
  sanitizer="$(command -v compute-sanitizer 2>/dev/null || true)"
fi
if [ -z "$sanitizer" ]; then
  for p in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer \
    /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    if [ -x "$p" ]; then
      sanitizer="$p"
      break
    fi
  done
fi

# ---- steps --------------------------------------------------------------------------------------

failed=()

# quote_args ARG...: the arguments as one shell command line, quoted only where needed.
quote_args() {
  local a out=""
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then
      out+=" $a"
    else
      local q=${a//\'/\'\\\'\'}
      out+=" '$q'"
    fi
  done
  printf '%s' "${out# }"
}

# run_step NAME KIND LIMIT COMMAND...: runs COMMAND under `timeout -k 5 LIMIT` with its
# output in $logs/NAME.log; KIND (doctest, sanitizer, program, bench) says how the
# result is read. Appends name, status, exit status, seconds, limit, log, command and
# a note to steps.tsv.
run_step() {
  local name="$1" kind="$2" limit="$3"
  shift 3
  local log="$logs/$name.log" cmd start rc secs status note=""
  cmd="$(quote_args "$@")"
  echo "==> $name (limit ${limit} s): $cmd"
  start=$(date +%s)
  timeout -k 5 "$limit" "$@" >"$log" 2>&1 </dev/null
  rc=$?
  secs=$(($(date +%s) - start))
  if [ "$rc" -eq 77 ]; then
    # 77: the programs' "no (usable) CUDA device: skipped", with their reason.
    status="NO GPU"
    note="$(grep -m 1 -i 'cuda device' "$log" | cut -c1-200)"
    note="${note:-exit 77: the program found no usable CUDA device}"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    status="TIMED OUT"
    note="stopped after ${limit} s"
  elif [ "$kind" = sanitizer ] && grep -q 'Device not supported' "$log"; then
    status="unsupported"
    note="compute-sanitizer: Device not supported on this machine"
  elif [ "$rc" -eq 0 ]; then
    status="ok"
    if [ "$kind" = doctest ] || [ "$kind" = sanitizer ]; then
      if ! grep -Eq '\[doctest\] test cases: *[1-9]' "$log"; then
        status="FAILED"
        note="no test case ran (the filter matched nothing?)"
      fi
    elif [ "$kind" = bench ]; then
      if ! grep -q '"name": "copy/' "$bench_json" 2>/dev/null || ! grep -q '"name": "compress/f32' "$bench_json" 2>/dev/null; then
        status="FAILED"
        note="the JSON holds no copy or no f32 compress benchmark (the filter matched nothing?)"
      fi
    fi
  else
    status="FAILED"
    [ "$rc" -eq 127 ] && note="command not found"
  fi
  case "$status" in
    ok | unsupported) ;;
    *) failed+=("$name") ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$secs" "$limit" "$log" "$cmd" "$note" >>"$steps_file"
  tail -n 3 "$log" | sed 's/^/    /'
  echo "    $name: $status (exit $rc, ${secs} s)${note:+; $note}"
}

# not_run NAME LIMIT COMMAND NOTE: a step that could not run (counted as failed unless
# the tool it needs is simply absent from this machine: that is said, not failed).
not_run() {
  printf '%s\t%s\t\t\t%s\t\t%s\t%s\n' "$1" "not run" "$2" "$3" "$4" >>"$steps_file"
  echo "==> $1: not run ($4)"
}

tests_bin=bin/test_cuda_executor

# a. the GPU tests
run_step tests doctest "$t_tests" "$tests_bin" '--test-case-exclude=*GiB*' --duration=true
run_step tests-5gib doctest "$t_5gib" "$tests_bin" '--test-case=*GiB*' --duration=true
run_step device-compile program "$t_program" bin/test_device_compile
run_step quickstart-cuda program "$t_program" bin/quickstart-cuda

# b. compute-sanitizer on a few quick test cases
for tool in memcheck racecheck synccheck; do
  case "$tool" in
    memcheck) limit="$t_memcheck" extra=(--leak-check full) ;;
    racecheck) limit="$t_racecheck" extra=() ;;
    synccheck) limit="$t_synccheck" extra=() ;;
  esac
  san_cmd=("${sanitizer:-compute-sanitizer}" --tool "$tool" ${extra[@]+"${extra[@]}"} --error-exitcode 1
    "$tests_bin" "--test-case=$san_cases")
  if [ -n "$sanitizer" ]; then
    run_step "$tool" sanitizer "$limit" "${san_cmd[@]}"
  else
    not_run "$tool" "$limit" "$(quote_args "${san_cmd[@]}")" \
      "compute-sanitizer not found (PATH, /usr/local/cuda/bin, /usr/local/cuda-*/bin)"
  fi
done

# c. the f32 headline benchmarks at 1 GiB and their copy reference
bench_json="$logs/bench.json"
rm -f "$bench_json"
bench_cmd=(bin/actzip-bench-gpu --actzip_max_bytes=1073741824 '--actzip_codecs=bitplane,huffman'
  --actzip_no_real_data --actzip_no_host_check --actzip_repetitions=3 --actzip_min_time=0.05
  '--benchmark_filter=^(copy/1073741824/|(compress|decompress)/f32/synthetic-[a-z]+/1GiB/)'
  ${bench_extra[@]+"${bench_extra[@]}"} "--benchmark_out=$bench_json" --benchmark_out_format=json)
run_step bench bench "$t_bench" "${bench_cmd[@]}"

# ---- the report ---------------------------------------------------------------------------------

# The device's name: nvidia-smi, the driver, else the benchmark's own context.
if [ -z "$gpu_name" ] && [ -f "$bench_json" ]; then
  gpu_name="$(sed -n 's/^ *"actzip_device": "\([^,"]*\).*/\1/p' "$bench_json" | head -n 1)"
fi
if [ -n "$gpu_name" ]; then
  device_tag="$(printf '%s' "$gpu_name" | tr '[:upper:]' '[:lower:]' | tr ' ' '-' | tr -cd 'a-z0-9._-')"
else
  device_tag="no-gpu"
fi
base="$results/gpu-$device_tag-$date_tag"
md="$base.md"
json="$base.json"
# The step logs go next to the report when the results folder was named (a scratch
# folder to take home); into bench/results or <kit>/results they stay in $logs.
if [ "$results_given" = 1 ]; then archive="$base.logs.tar.gz"; else archive="$logs.tar.gz"; fi

all_no_gpu=1
any_step=0
while IFS=$'\t' read -r _name status _rest; do
  case "$status" in
    "not run") ;;
    *)
      any_step=1
      [ "$status" = "NO GPU" ] || all_no_gpu=0
      ;;
  esac
done <"$steps_file"
[ "$any_step" = 1 ] || all_no_gpu=0

smi_value() { smi --query-gpu="$1" --format=csv,noheader | head -n 1; }
info device "${gpu_name:-no GPU found}"
if [ -n "$driver_device0" ]; then
  info "device (driver)" "$driver_device0"
elif [ "$(probe_value libcuda)" = "not found" ]; then
  info "device (driver)" "none: libcuda.so.1 (the NVIDIA driver) not found"
else
  info "device (driver)" "none: $(tr '\t\n' ': ' <"$probe" | cut -c1-200)"
fi
info "nvidia-smi" "$smi_state"
info driver "$(smi_value driver_version)"
cuda_driver="$(probe_value 'driver CUDA')"
cuda_smi="$(sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' "$logs/nvidia-smi.txt" | head -n 1)"
info "CUDA (driver)" "${cuda_driver:-${cuda_smi:-unknown}}${cuda_smi:+ (nvidia-smi: $cuda_smi)}"
info "GPU (nvidia-smi)" "$(smi_value memory.total,clocks.max.sm,clocks.max.memory,power.limit,compute_cap)"
info "compute-sanitizer" "${sanitizer:-not found (PATH, /usr/local/cuda/bin, /usr/local/cuda-*/bin): memcheck, racecheck and synccheck were not run}$([ -n "$sanitizer" ] && printf ' (%s)' "$("$sanitizer" --version 2>/dev/null | tail -n 1)")"
info host "$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1), $(nproc 2>/dev/null) cores, $(uname -sr)"
info glibc "$(getconf GNU_LIBC_VERSION 2>/dev/null | sed 's/^glibc //') on this machine; the kit needs $(sed -n 's/^needs glibc: //p' BUILD-INFO | head -n 1)"
info date "$date_tag"
info "finished at" "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
info kit "$kit"
info "kit commit" "$(sed -n 's/^commit: //p' BUILD-INFO | head -n 1)"
info "kit nvcc" "$(sed -n 's/^nvcc: //p' BUILD-INFO | head -n 1)"
info "kit architectures" "$(sed -n 's/^CUDA architectures: //p' BUILD-INFO | head -n 1)"
info script "gpu-check.sh, limits (s): tests $t_tests, tests-5gib $t_5gib, device-compile and quickstart-cuda $t_program each, memcheck $t_memcheck, racecheck $t_racecheck, synccheck $t_synccheck, bench $t_bench; $(($(date +%s) - script_start)) s in all"
info results "$(basename "$md")$([ -f "$bench_json" ] && printf ', %s' "$(basename "$json")"); step logs: $archive"
if [ "$all_no_gpu" = 1 ]; then
  first_reason="$(awk -F'\t' '$2 == "NO GPU" { print $8; exit }' "$steps_file")"
  if [ "$gpu_seen" = 1 ]; then
    info verdict "NO USABLE GPU: every program exited 77 although the driver reports ${gpu_name:-a GPU} (the first said: ${first_reason}). Is the driver (CUDA $(probe_value 'driver CUDA')) older than the kit's CUDA runtime ($(sed -n 's/^nvcc: release \([0-9.]*\).*/\1/p' BUILD-INFO | head -n 1))? Nothing was tested."
  else
    info verdict "NO GPU: no CUDA device on this machine; every program exited 77 (the first said: ${first_reason}). Nothing was tested."
  fi
fi

[ -f "$bench_json" ] && cp "$bench_json" "$json"
summarizer="$script_dir/summarize.py"                          # run from the repository
[ -f "$summarizer" ] || summarizer="$kit/tools/summarize.py"   # run from a kit

report_ok=1
if ! timeout 60 python3 - "$md" "$logs" "$kit/BUILD-INFO" "$json" "$summarizer" >"$logs/report.log" 2>&1 <<'EOF'; then
import os, re, subprocess, sys

md, logs, build_info, json_path, summarizer = sys.argv[1:6]


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def block(text):
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def tail(text, n=40):
    return "\n".join((text or "").rstrip("\n").splitlines()[-n:])


info = [line.split("\t", 1) for line in (read(os.path.join(logs, "info.tsv")) or "").splitlines() if "\t" in line]
steps = []
for line in (read(os.path.join(logs, "steps.tsv")) or "").splitlines():
    parts = line.split("\t")
    parts += [""] * (8 - len(parts))
    steps.append(dict(zip(["name", "status", "rc", "secs", "limit", "log", "cmd", "note"], parts)))
by_name = {s["name"]: s for s in steps}
values = dict(info)

out = []
device = values.get("device", "no GPU found")
out.append(f"# actzip GPU check: {device}, {values.get('date', '')}")
out.append("")
ran = [s for s in steps if s["status"] != "not run"]
bad = [s for s in ran if s["status"] not in ("ok", "unsupported")]
summary = f"**Result: {len(ran) - len(bad)} of {len(ran)} steps ok**"
if bad:
    summary += "; not ok: " + ", ".join(f"{s['name']} ({s['status']})" for s in bad)
skipped = [s["name"] for s in steps if s["status"] == "not run"]
if skipped:
    summary += "; not run: " + ", ".join(skipped)
out.append(f"- {summary}")
if "verdict" in values:
    out.append(f"- **{values['verdict']}**")
unsupported = [s["name"] for s in steps if s["status"] == "unsupported"]
if unsupported:
    out.append(f"- **compute-sanitizer refused this machine's GPU (Device not supported): {', '.join(unsupported)} "
               "checked nothing.**")
for k, v in info:
    if k != "verdict":
        out.append(f"- {k}: {v or 'n/a'}")
out.append("")

out.append("## Steps (in order, with the exact commands, run in the kit folder)")
out.append("")
out.append("| step | status | exit | seconds | limit (s) | command | note |")
out.append("| --- | --- | ---: | ---: | ---: | --- | --- |")
for s in steps:
    cmd = s["cmd"].replace("|", "\\|").replace("`", "'")
    status = s["status"] if s["status"] in ("ok", "not run", "unsupported") else f"**{s['status']}**"
    out.append(f"| {s['name']} | {status} | {s['rc'] or '–'} | {s['secs'] or '–'} | {s['limit']} | `{cmd}` | "
               f"{s['note'].replace('|', '/') or ''} |")
out.append("")

out.append("## Tests")
out.append("")
for name, title in (("tests", "test_cuda_executor without the GiB cases"), ("tests-5gib", "test_cuda_executor, the 5 GiB case"),
                    ("device-compile", "test_device_compile"), ("quickstart-cuda", "quickstart-cuda")):
    s = by_name.get(name)
    out.append(f"### {title}: {s['status'] if s else 'not run'}")
    out.append("")
    text = read(s["log"]) if s else None
    if text is None:
        out += ["No output.", ""]
        continue
    lines = text.splitlines()
    if name.startswith("tests"):
        # doctest's final lines, the failures and the slowest test cases.
        keep = [l for l in lines if re.match(r"\[doctest\] (test cases|assertions|Status)", l) or "CUDA device" in l]
        # doctest's blocks (between ===== lines) that hold a failure or a message: their
        # TEST CASE line and those lines (--duration=true gives every test case a block).
        problems = []
        for chunk in re.split(r"^=+$", text, flags=re.M):
            hits = [l for l in chunk.splitlines() if re.search(r"ERROR:|FATAL|WARNING:|MESSAGE:|^\s+(values|logged):|"
                                                                  r"skipped:", l)]
            if hits:
                problems += [l for l in chunk.splitlines() if l.startswith("TEST CASE:")] + hits
        durations = []
        for l in lines:
            m = re.match(r"^\s*([0-9.]+) s: (.*)$", l)
            if m:
                durations.append((float(m.group(1)), m.group(2)))
        durations.sort(reverse=True)
        out.append(block("\n".join(keep) if keep else tail(text, 15)))
        out.append("")
        if problems:
            out.append("Failures and messages (first 40 lines):")
            out.append("")
            out.append(block("\n".join(problems[:40])))
            out.append("")
        if durations:
            out.append("Slowest test cases: " + "; ".join(f"{d:.2f} s {n}" for d, n in durations[:6]))
            out.append("")
    else:
        out.append(block(tail(text, 15) or "(no output)"))
        out.append("")

out.append("## compute-sanitizer")
out.append("")
for name in ("memcheck", "racecheck", "synccheck"):
    s = by_name.get(name)
    out.append(f"### {name}: {s['status'] if s else 'not run'}")
    out.append("")
    if s is None:
        continue
    if s["status"] == "not run":
        out += [s["note"] + ".", ""]
        continue
    text = read(s["log"]) or ""
    keep = [l for l in text.splitlines()
            if re.search(r"SUMMARY|\[doctest\] (test cases|assertions|Status)|CUDA device|Device not supported|"
                         r"Target application returned|Error: |Program hit|Invalid __|Race reported|Barrier error|"
                         r"Saved host backtrace|[Ll]eak", l)]
    out.append(block("\n".join(keep[:30]) if keep else tail(text, 15) or "(no output)"))
    out.append("")

out.append("## Benchmarks: f32 at 1 GiB, bitplane and huffman, against a device-to-device copy")
out.append("")
bench = by_name.get("bench")
if bench:
    out.append(f"Status: {bench['status']}. The benchmark's JSON: `{os.path.basename(json_path)}`.")
    out.append("")
tables = None
if os.path.exists(json_path):
    try:
        r = subprocess.run([sys.executable, summarizer, "--json", json_path, "--log", bench["log"] if bench else ""],
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0 and r.stdout.strip():
            lines = r.stdout.splitlines()
            while lines and (lines[0].startswith("# ") or not lines[0].strip()):
                lines.pop(0)  # its own title
            tables = "\n".join("#" + l if l.startswith("#") else l for l in lines)
        else:
            out.append(f"(summarize.py failed: {tail(r.stderr, 5)})")
            out.append("")
    except (OSError, subprocess.SubprocessError) as e:
        out.append(f"(summarize.py could not run: {e})")
        out.append("")
    if tables is None:
        # A plain table from the JSON.
        import json
        try:
            doc = json.load(open(json_path, encoding="utf-8"))
            out.append("| benchmark | GB/s | ratio |")
            out.append("| --- | ---: | ---: |")
            rows = doc.get("benchmarks", [])
            medians = [b for b in rows if b.get("aggregate_name") == "median"]
            for b in medians or [b for b in rows if b.get("run_type", "iteration") == "iteration"]:
                out.append(f"| {b.get('name', '?')} | {b.get('GBps', float('nan')):.1f} | {b.get('ratio', float('nan')):.2f} |")
        except (OSError, ValueError) as e:
            out.append(f"The JSON could not be read: {e}")
        out.append("")
    else:
        out.append(tables)
        out.append("")
else:
    out += ["No benchmark JSON (the step did not get that far).", ""]

out.append("## The kit's BUILD-INFO")
out.append("")
out.append(block(read(build_info) or "(missing)"))
out.append("")

failed_steps = [s for s in steps if s["status"] not in ("ok", "not run", "NO GPU")]
if failed_steps:
    out.append("## Last lines of the steps that were not ok")
    out.append("")
    for s in failed_steps:
        out.append(f"### {s['name']} ({s['status']}, exit {s['rc']})")
        out.append("")
        out.append(block(tail(read(s["log"]) or "(no log)", 30)))
        out.append("")

with open(md, "w", encoding="utf-8") as f:
    f.write("\n".join(out).rstrip("\n") + "\n")
EOF
  report_ok=0
fi
if [ "$report_ok" = 0 ] || [ ! -s "$md" ]; then
  failed+=(report)
  {
    echo "# actzip GPU check, $date_tag (the report writer failed: plain step list)"
    echo
    sed 's/^/    /' "$info_file"
    echo
    sed 's/^/    /' "$steps_file"
    echo
    sed 's/^/    /' "$logs/report.log"
  } >"$md"
fi
tar -czf "$archive" -C "$logs" . 2>/dev/null || rm -f "$archive"

echo
echo "report:  $md"
[ -f "$json" ] && echo "json:    $json"
[ -f "$archive" ] && echo "logs:    $archive ($logs)"
grep -E '^- \*\*' "$md" | head -n 2
if ((${#failed[@]})); then
  echo "not ok: ${failed[*]}"
  exit 1
fi
echo "all steps ok"
exit 0
