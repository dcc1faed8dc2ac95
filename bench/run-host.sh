#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs actzip's host benchmarks and writes a report:
#   bench/results/host-<machine>-<YYYY-MM-DD>.md   (markdown, from bench/summarize.py)
#   bench/results/host-<machine>-<YYYY-MM-DD>.json (Google Benchmark JSON)
# <machine> is a short form of the CPU model and the core count (override with
# ACTZIP_BENCH_MACHINE). Steps: install the data sets and netCDF/zlib headers
# (bench/install-data.sh), configure a Release build in $ACTZIP_BENCH_BUILD_DIR
# (default /tmp/benchbuild) if there is none, build actzip-bench-host, run it.
# Extra arguments go to the benchmark program (e.g. --benchmark_filter=/f32/ or
# --actzip_all). Exits with the benchmark program's status (1 on a bound violation
# or a serial/omp mismatch) after writing the report.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${ACTZIP_BENCH_BUILD_DIR:-/tmp/benchbuild}"
results="$repo/bench/results"

"$repo/bench/install-data.sh"

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DACTZIP_BUILD_TESTS=OFF \
    -DACTZIP_BUILD_EXAMPLES=OFF -DACTZIP_BUILD_BENCHMARKS=ON
fi
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")"
if [ "$build_type" != "Release" ]; then
  echo "warning: $build is configured with CMAKE_BUILD_TYPE='$build_type', not Release" >&2
fi
cmake --build "$build" --target actzip-bench-host -j "$(nproc)"
bin="$build/bench/actzip-bench-host"
if [ ! -x "$bin" ]; then
  echo "error: $bin was not built (see the configure output: benchmarks skipped?)" >&2
  exit 1
fi

model="$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)"
if [ -n "${ACTZIP_BENCH_MACHINE:-}" ]; then
  machine="$ACTZIP_BENCH_MACHINE"
else
  short="$(printf '%s' "${model:-$(hostname)}" |
    sed -E 's/\((R|TM|tm|r)\)//g; s/ CPU / /; s/@.*//; s/[[:space:]]+Processor//; s/[0-9]+-Core//' |
    tr 'A-Z' 'a-z' | sed -E 's/[^a-z0-9]+/-/g; s/^-+//; s/-+$//')"
  machine="${short:-host}-$(nproc)c"
fi
date_tag="$(date +%F)"
mkdir -p "$results"
base="$results/host-$machine-$date_tag"
log="$build/host-$machine-$date_tag.console.txt"

cmd=("$bin" "--benchmark_out=$base.json" "--benchmark_out_format=json" "$@")
echo "running: ${cmd[*]}"
# CPU accounting, to tell in the report how much other processes competed.
stat_before="$(head -n 1 /proc/stat)"
timefile="$(mktemp)"
trap 'rm -f "$timefile"' EXIT
start=$(date +%s)
set +e
TIMEFORMAT='%R %U %S'
{ time { "${cmd[@]}" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}; }; } 2>"$timefile"
set -e
end=$(date +%s)
stat_after="$(head -n 1 /proc/stat)"
read -r wall_s user_s sys_s <"$timefile"
echo "benchmark run took $((end - start)) s, exit status $rc"

compiler_path="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")"
compiler="$("${compiler_path:-c++}" --version | head -n 1), CMAKE_BUILD_TYPE=$build_type"
flags="$(sed -n 's/^CXX_FLAGS = //p' "$build/bench/CMakeFiles/actzip-bench-host.dir/flags.make" 2>/dev/null || true)"
[ -n "$flags" ] && compiler="$compiler, flags: $flags"
rel_cmd="bench/run-host.sh${*:+ $*} (ran: ${cmd[*]}; wall time $((end - start)) s)"

python3 "$repo/bench/summarize.py" --json "$base.json" --out "$base.md" --command "$rel_cmd" \
  --compiler "$compiler" --exit-status "$rc" --log "$log" --repo "$repo" \
  --cpu-accounting "$stat_before|$stat_after|$(getconf CLK_TCK)|$wall_s|$user_s|$sys_s"
exit "$rc"
