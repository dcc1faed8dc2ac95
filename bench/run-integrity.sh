#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds and runs the checksum benchmark (bench/integrity.cpp) and writes
# bench/results/integrity-<machine>-<date>.{json,md}.
#   bash bench/run-integrity.sh                 # machine name from the CPU model
#   MACHINE=my-box bash bench/run-integrity.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
build=${BUILD_DIR:-build-bench}
bash tests/install-packages.sh cmake g++ make python3 libbenchmark-dev zlib1g-dev libnetcdf-dev
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DACTZIP_BUILD_TESTS=OFF -DACTZIP_BUILD_EXAMPLES=OFF \
  -DACTZIP_BUILD_BENCHMARKS=ON -DACTZIP_WITH_CUDA=OFF >/dev/null
cmake --build "$build" --target actzip-bench-integrity -j"$(nproc)"
machine=${MACHINE:-$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1 | tr 'A-Z' 'a-z' |
  sed -E 's/\((r|tm)\)//g; s/ cpu.*//; s/[^a-z0-9]+/-/g; s/-+$//')-$(nproc)c}
base="bench/results/integrity-$machine-$(date +%Y-%m-%d)"
mkdir -p bench/results
"$build/bench/actzip-bench-integrity" --benchmark_out="$base.json" --benchmark_out_format=json
python3 - "$base.json" "$base.md" "$(git -C "$repo" rev-parse --short HEAD)" <<'PY'
import json, sys
src, dst, commit = sys.argv[1:4]
doc = json.load(open(src))
best = {}
for b in doc["benchmarks"]:
    if b.get("run_type") != "iteration" or "error_occurred" in b:
        continue
    rate = b["bytes_per_second"] / 1e9
    key = b["run_name"].split("/min_time")[0]
    if key not in best or rate > best[key]["rate"]:
        best[key] = {"rate": rate, "ratio": b.get("ratio", 0), "stream": b.get("stream_GBps", 0)}
ctx = doc["context"]
out = [f"# The cost of the stream checksum on the host", "",
       f"- Date: {ctx['date']}; commit {commit}; host {ctx['host_name']}, {ctx['num_cpus']} CPUs at {ctx['mhz_per_cpu']} MHz",
       f"- Command: `bash bench/run-integrity.sh` (`actzip-bench-integrity`, Google Benchmark, best of 3 repetitions)",
       "- Data: a smooth 256 x 256 x 256 float field (64 MiB) with a little noise, relative bounds 1e-2 and 1e-4.",
       "- GB/s are uncompressed bytes per second (1e9 B/s); `stream GB/s` is the checksum pass over the stream's own bytes.", "",
       "| executor | bound | ratio | verify GB/s (stream GB/s) | decompress, verified GB/s | decompress, unverified GB/s | cost of verifying |",
       "|---|---|---|---|---|---|---|"]
for ex in ("serial", "omp"):
    for bound in ("rel1e-2", "rel1e-4"):
        k = f"{ex}/f32/smooth-64MiB/{bound}"
        v, dv, du = best.get("verify/" + k), best.get("decompress-verified/" + k), best.get("decompress-unverified/" + k)
        if not (v and dv and du):
            continue
        cost = (du["rate"] / dv["rate"] - 1) * 100
        out.append(f"| {ex} | {bound} | {dv['ratio']:.1f} | {v['rate']:.1f} ({v['stream']:.2f}) | {dv['rate']:.2f} | {du['rate']:.2f} | {cost:+.1f} % time |")
open(dst, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
echo "wrote $base.md and $base.json"
