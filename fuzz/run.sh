#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds the libFuzzer targets with clang (ASan + UBSan) in ./build-fuzz and runs
# each for FUZZ_SECONDS seconds on a fresh copy of the committed seed corpus
# (fuzz/corpus/<target>, left untouched). Crash reproducers are kept in
# build-fuzz/artifacts/<target>/, logs in build-fuzz/logs/. Exits non-zero when any
# target crashed.
#   bash fuzz/run.sh                               # every target, 30 s each
#   FUZZ_SECONDS=60 FUZZ_TARGETS="roundtrip" bash fuzz/run.sh
#   build-fuzz/fuzz/actzip-fuzz-roundtrip build-fuzz/artifacts/roundtrip/crash-...   # replay one
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build-fuzz
seconds=${FUZZ_SECONDS:-30}
read -r -a targets <<<"${FUZZ_TARGETS:-inspect decompress roundtrip}"

packages=(cmake g++ make python3 doctest-dev libbenchmark-dev zlib1g-dev libnetcdf-dev
  clang libclang-rt-14-dev libomp-14-dev)
bash tests/install-packages.sh "${packages[@]}"

CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DACTZIP_BUILD_FUZZERS=ON -DACTZIP_WITH_CUDA=OFF \
  -DACTZIP_BUILD_TESTS=OFF -DACTZIP_BUILD_EXAMPLES=OFF -DACTZIP_BUILD_BENCHMARKS=OFF
cmake --build "$build_dir" -j"$(nproc)" --target actzip-fuzz-make-corpus \
  $(printf ' actzip-fuzz-%s' "${targets[@]}")

summaries=()
failed=0
for t in "${targets[@]}"; do
  binary="$build_dir/fuzz/actzip-fuzz-$t"
  corpus="$build_dir/corpus/$t"
  artifacts="$build_dir/artifacts/$t"
  log="$build_dir/logs/$t.log"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  cp -R "fuzz/corpus/$t/." "$corpus/"
  touch "$artifacts/.start"
  echo "== $t: ${seconds}s on a copy of fuzz/corpus/$t ($(ls "$corpus" | wc -l) seeds), log $log"
  rc=0
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || rc=$?
  # The last status line ("#N DONE cov: C ft: F corp: K/S ... exec/s: E ...") and the final stats.
  status_line=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status_line")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$status_line")
  crashes=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) -newer "$artifacts/.start" | wc -l)
  if [ "$rc" -ne 0 ] && [ "${crashes:-0}" -eq 0 ]; then crashes=1; fi
  [ "$rc" -ne 0 ] && failed=1
  line="$t: executions ${execs:-?}, exec/s ${rate:-?}, cov: ${cov:-?}, corpus ${corp:-?}, crashes ${crashes}, exit $rc"
  echo "$line"
  summaries+=("$line")
done

echo "== summary (${seconds}s per target; reproducers in $build_dir/artifacts/<target>/)"
printf '%s\n' "${summaries[@]}"
exit "$failed"
