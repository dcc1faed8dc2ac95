#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Everything actzip's GPU side needs, in one call, on a machine with an NVIDIA GPU:
#   install    missing Debian packages (as tests/run.sh) and the data sets (bench/install-data.sh)
#   configure  a Release build with CUDA for this GPU's architecture (nvidia-smi compute_cap)
#   build      the ctest tests labelled gpu and actzip-bench-gpu (ptxas resource report on)
#   test       ctest -L gpu --output-on-failure
#   memcheck   compute-sanitizer --tool memcheck on tests/test_cuda_executor
#   racecheck  compute-sanitizer --tool racecheck on tests/test_cuda_executor
#   resources  cuobjdump --dump-resource-usage on actzip-bench-gpu and test_cuda_executor
#   bench      actzip-bench-gpu, Google Benchmark JSON
# then writes bench/results/gpu-<device>-<YYYY-MM-DD>.md (bench/summarize-gpu.py) with
# the device, driver, CUDA version, date, git commit, the exact commands, the test
# results, the sanitizer summaries, the kernels' resource usage and the benchmark
# tables, and the JSON next to it (<device>: nvidia-smi's name, lowercased, spaces
# turned into dashes). A failing step is recorded in the report and the next steps
# still run; the script exits 1 when any step failed, 0 otherwise.
#
#   bash bench/gpu.sh [extra actzip-bench-gpu arguments]
#
# This needs time (a full build, minutes of nvcc) and a package mirror. For a GPU
# machine with a few minutes to spare and no package mirror, build the GPU kit
# elsewhere (bash bench/gpu-kit.sh), carry its folder over and run
# bash <kit>/gpu-check.sh <results dir> there: tests, sanitizers and the headline
# benchmarks in under 6 minutes.
#
# Environment (all optional):
#   ACTZIP_GPU_STEPS          comma-separated steps to run (default: all of the above)
#   ACTZIP_GPU_BUILD_DIR      build directory (default: build-gpu in the repository)
#   ACTZIP_GPU_RESULTS_DIR    where the .md and .json go (default: bench/results)
#   ACTZIP_GPU_LOG_DIR        step logs (default: <build>/gpu-logs)
#   ACTZIP_GPU_ARCH           CMAKE_CUDA_ARCHITECTURES (default: nvidia-smi's compute_cap, e.g.
#                             90 on an H100; 'native' when nvidia-smi does not answer)
#   ACTZIP_GPU_QUICK=1        a shorter run (aimed at 10 minutes on an H100): one repetition of
#                             0.02 s per benchmark, 150 s per sanitizer run, 420 s for the benchmark
#   ACTZIP_SANITIZER_ARGS     doctest arguments for both sanitizer runs, split at spaces
#                             (doctest's '?' matches a space in a pattern); default
#                             --test-case-exclude=*GiB* : test cases with GiB in their name
#                             (multi-GiB tensors) are left out, as every access is checked
#                             and such cases take minutes under the sanitizers
#   ACTZIP_SANITIZER_TIMEOUT  seconds per sanitizer run (default 300; 150 with QUICK)
#   ACTZIP_TEST_TIMEOUT       ctest's per-test timeout in seconds (default 600)
#   ACTZIP_BENCH_TIMEOUT      seconds for the benchmark program (default 900; 420 with QUICK)
#   ACTZIP_BENCH_ARGS         extra actzip-bench-gpu arguments, split at spaces, e.g.
#                             "--actzip_max_bytes=1073741824 --benchmark_filter=f32"
#   ACTZIP_DEB_DIR            a directory of .deb files installed with dpkg -i first (for a
#                             machine without a package mirror)

# The step functions below run through run_step, which shellcheck cannot follow.
# shellcheck disable=SC2317
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${ACTZIP_GPU_BUILD_DIR:-$repo/build-gpu}"
results="${ACTZIP_GPU_RESULTS_DIR:-$repo/bench/results}"
logs="${ACTZIP_GPU_LOG_DIR:-$build/gpu-logs}"
all_steps="install,configure,build,test,memcheck,racecheck,resources,bench"
steps_wanted="${ACTZIP_GPU_STEPS:-$all_steps}"
quick="${ACTZIP_GPU_QUICK:-0}"
if [ "$quick" = 1 ]; then
  san_timeout="${ACTZIP_SANITIZER_TIMEOUT:-150}"
  bench_timeout="${ACTZIP_BENCH_TIMEOUT:-420}"
  bench_defaults=(--actzip_repetitions=1 --actzip_min_time=0.02)
else
  san_timeout="${ACTZIP_SANITIZER_TIMEOUT:-300}"
  bench_timeout="${ACTZIP_BENCH_TIMEOUT:-900}"
  bench_defaults=()
fi
san_filter="${ACTZIP_SANITIZER_ARGS-"--test-case-exclude=*GiB*"}"
read -r -a san_args <<<"$san_filter"
test_timeout="${ACTZIP_TEST_TIMEOUT:-600}"
read -r -a bench_extra <<<"${ACTZIP_BENCH_ARGS:-}"
bench_args=(${bench_defaults[@]+"${bench_defaults[@]}"} ${bench_extra[@]+"${bench_extra[@]}"} "$@")
jobs="$(nproc 2>/dev/null || echo 4)"
script_start=$(date +%s)

mkdir -p "$logs" "$results" || exit 1
steps_file="$logs/steps.tsv"
: >"$steps_file"
failed=()

# The CUDA toolkit installs nvcc, compute-sanitizer and cuobjdump outside PATH; let
# CMake find nvcc there, and look for the tools there after PATH.
if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
if [ -d /usr/local/cuda/bin ]; then
  export PATH="$PATH:/usr/local/cuda/bin"
fi

wanted() { [[ ",$steps_wanted," == *",$1,"* ]]; }

# first_tool NAME PATH...: NAME from PATH, else the first executable PATH.
first_tool() {
  local name="$1" p
  shift
  if command -v "$name" 2>/dev/null; then return 0; fi
  for p in "$@"; do
    if [ -x "$p" ]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# run_step NAME LOG COMMAND...: runs COMMAND with its output in LOG, records the exit
# status, the seconds and the command (or $step_display when set) in steps.tsv, and
# prints the last lines. Returns COMMAND's status.
step_display=""
run_step() {
  local name="$1" log="$2"
  shift 2
  local cmd
  if [ -n "$step_display" ]; then
    cmd="$step_display"
  else
    cmd="$(printf '%q ' "$@")"
  fi
  cmd="${cmd% }"
  step_display=""
  echo "==> $name: $cmd"
  local start rc secs
  start=$(date +%s)
  "$@" >"$log" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$secs" "$log" "${cmd//$'\t'/ }" >>"$steps_file"
  tail -n 4 "$log" | sed 's/^/    /'
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    echo "    $name FAILED (exit $rc, ${secs} s, log $log)"
  else
    echo "    $name ok (${secs} s)"
  fi
  return "$rc"
}

# not_run NAME WHY: records a step that did not run.
not_run() {
  printf '%s\t-\t\t\t%s\n' "$1" "$2" >>"$steps_file"
  echo "==> $1: not run ($2)"
}

# ---- install ------------------------------------------------------------------------------

have_header() {
  local d
  for d in /usr/include /usr/local/include; do [ -f "$d/$1" ] && return 0; done
  return 1
}

have_package() {
  dpkg -s "$1" >/dev/null 2>&1 && return 0
  case "$1" in
    cmake | g++ | make | python3) command -v "$1" >/dev/null 2>&1 ;;
    doctest-dev) have_header doctest/doctest.h ;;
    libbenchmark-dev) have_header benchmark/benchmark.h ;;
    zlib1g-dev) have_header zlib.h ;;
    libnetcdf-dev) have_header netcdf.h ;;
    *) return 1 ;;
  esac
}

install_packages() {
  local rc=0 as_root=() p
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then as_root=(sudo); fi
  if [ -n "${ACTZIP_DEB_DIR:-}" ]; then
    echo "installing the .deb files of $ACTZIP_DEB_DIR"
    ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive dpkg -i "$ACTZIP_DEB_DIR"/*.deb || rc=1
  fi
  local packages=(cmake g++ make python3 doctest-dev libbenchmark-dev zlib1g-dev libnetcdf-dev)
  local missing=()
  for p in "${packages[@]}"; do
    if have_package "$p"; then echo "$p: present"; else missing+=("$p"); fi
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    if ! command -v apt-get >/dev/null 2>&1; then
      echo "error: apt-get not available; missing: ${missing[*]}"
      rc=1
    elif ! ${as_root[@]+"${as_root[@]}"} apt-get update -qq ||
      ! ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; then
      echo "error: installing ${missing[*]} failed"
      rc=1
    fi
  fi
  "$repo/bench/install-data.sh" || rc=1
  return "$rc"
}

if wanted install; then
  step_display="install missing of: cmake g++ make python3 doctest-dev libbenchmark-dev zlib1g-dev libnetcdf-dev (apt-get install -y${ACTZIP_DEB_DIR:+, after dpkg -i $ACTZIP_DEB_DIR/*.deb}); bench/install-data.sh"
  run_step install "$logs/install.log" install_packages
else
  not_run install "not selected (ACTZIP_GPU_STEPS)"
fi

# ---- the device -----------------------------------------------------------------------------

smi() { nvidia-smi "$@" 2>/dev/null; }
gpu_name="$(smi --query-gpu=name --format=csv,noheader | head -n 1)"
gpu_cc="$(smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d ' .')"
if [ -n "${ACTZIP_GPU_ARCH:-}" ]; then
  arch="$ACTZIP_GPU_ARCH"
elif [[ "$gpu_cc" =~ ^[0-9]+$ ]]; then
  arch="$gpu_cc"
else
  arch=native
fi
device_tag="$(printf '%s' "${gpu_name:-unknown gpu}" | tr '[:upper:]' '[:lower:]' | tr ' ' '-' | tr -cd 'a-z0-9._-')"
date_tag="$(date +%F)"
base="$results/gpu-$device_tag-$date_tag"
json="$base.json"
md="$base.md"

# ---- configure and build ----------------------------------------------------------------------

configure() {
  "$@" || return
  if ! grep -q "CUDA sources ON" "$logs/configure.log"; then
    echo "error: CMake found no CUDA compiler (CUDA sources OFF); set CUDACXX"
    return 1
  fi
}

cfg=(cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=$arch"
  -DACTZIP_BUILD_TESTS=ON -DACTZIP_BUILD_EXAMPLES=OFF -DACTZIP_BUILD_BENCHMARKS=ON
  -DACTZIP_WARNINGS_AS_ERRORS=ON -DACTZIP_SANITIZER_TESTS=OFF -DACTZIP_BENCH_CUDA_RESOURCE_USAGE=ON)
if [ -n "${CUDACXX:-}" ]; then cfg+=("-DCMAKE_CUDA_COMPILER=$CUDACXX"); fi
if wanted configure; then
  step_display="$(printf '%q ' "${cfg[@]}")"
  if ! run_step configure "$logs/configure.log" configure "${cfg[@]}"; then
    # Without the tests (doctest missing, a broken test file) the benchmark may still build.
    step_display="$(printf '%q ' "${cfg[@]}" -DACTZIP_BUILD_TESTS=OFF)"
    run_step configure-without-tests "$logs/configure-without-tests.log" "${cfg[@]}" -DACTZIP_BUILD_TESTS=OFF
  fi
else
  not_run configure "not selected (ACTZIP_GPU_STEPS)"
fi

find_exe() { # find_exe NAME: the built executable NAME under $build, if any
  find "$build" -type f -name "$1" -perm -u+x 2>/dev/null | head -n 1
}

gpu_tests=()
if [ -f "$build/CTestTestfile.cmake" ]; then
  while IFS= read -r t; do gpu_tests+=("$t"); done < <(ctest --test-dir "$build" -N -L gpu 2>/dev/null |
    sed -n 's/^ *Test *#[0-9]*: *//p')
fi

build_targets() {
  local targets=("$@") keep_going=(-k) t rc=0
  if grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$build/CMakeCache.txt" 2>/dev/null; then keep_going=(-k 0); fi
  # Fresh executables and a fresh gpu.cu object, so that the ptxas report lands in this log.
  for t in "${targets[@]}"; do
    local old
    old="$(find_exe "$t")"
    [ -n "$old" ] && rm -f "$old"
  done
  find "$build" -path '*actzip-bench-gpu.dir*' -name '*.o' -delete 2>/dev/null
  cmake --build "$build" -j "$jobs" --target "${targets[@]}" -- "${keep_going[@]}" || rc=1
  for t in "${targets[@]}"; do
    if [ -z "$(find_exe "$t")" ]; then
      echo "error: target $t was not built"
      rc=1
    fi
  done
  return "$rc"
}

if wanted build; then
  targets=(${gpu_tests[@]+"${gpu_tests[@]}"} actzip-bench-gpu)
  if ! grep -q "GPU benchmarks enabled" "$logs"/configure*.log 2>/dev/null; then
    echo "note: configuring did not report 'GPU benchmarks enabled' (Google Benchmark, netCDF or zlib missing?)"
  fi
  step_display="cmake --build $(printf '%q' "$build") -j $jobs --target ${targets[*]} -- -k"
  run_step build "$logs/build.log" build_targets "${targets[@]}"
else
  not_run build "not selected (ACTZIP_GPU_STEPS)"
fi

# ---- tests and sanitizers --------------------------------------------------------------------------

# ctest, failing also when a GPU test skipped itself (exit 77: no usable device), since
# on the machine this script is for a skipped GPU test is an untested one.
run_ctest() {
  "$@"
  local rc=$? skipped
  skipped="$(grep -c '(Skipped)' "$logs/ctest.log")"
  if [ "$rc" -eq 0 ] && [ "$skipped" -gt 0 ]; then
    echo "error: $skipped GPU test(s) skipped themselves: no usable CUDA device?"
    rc=1
  fi
  return "$rc"
}

if wanted test; then
  test_cmd=(ctest --test-dir "$build" -L gpu --output-on-failure --timeout "$test_timeout")
  step_display="$(printf '%q ' "${test_cmd[@]}")"
  run_step test "$logs/ctest.log" run_ctest "${test_cmd[@]}"
else
  not_run test "not selected (ACTZIP_GPU_STEPS)"
fi

sanitizer="$(first_tool compute-sanitizer /usr/local/cuda/bin/compute-sanitizer \
  /usr/local/cuda/compute-sanitizer/compute-sanitizer)"
executor_test="$build/tests/test_cuda_executor"

sanitize() { # sanitize COMMAND...: refuses clearly when a piece is missing
  if [ -z "$sanitizer" ]; then
    echo "error: compute-sanitizer not found (PATH, /usr/local/cuda/bin)"
    return 1
  fi
  if [ ! -x "$executor_test" ]; then
    echo "error: $executor_test was not built"
    return 1
  fi
  "$@"
}

for tool in memcheck racecheck; do
  if wanted "$tool"; then
    extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    san_cmd=(timeout "$san_timeout" "${sanitizer:-compute-sanitizer}" --tool "$tool" ${extra[@]+"${extra[@]}"}
      --error-exitcode 1 "$executor_test" ${san_args[@]+"${san_args[@]}"})
    step_display="$(printf '%q ' "${san_cmd[@]}")"
    run_step "$tool" "$logs/$tool.log" sanitize "${san_cmd[@]}"
  else
    not_run "$tool" "not selected (ACTZIP_GPU_STEPS)"
  fi
done

# ---- resource usage ------------------------------------------------------------------------------

cuobjdump_bin="$(first_tool cuobjdump /usr/local/cuda/bin/cuobjdump)"
cuobjdump_args=()
for target in actzip-bench-gpu test_cuda_executor; do
  dump="$logs/cuobjdump-$target.txt"
  if wanted resources; then
    exe="$(find_exe "$target")"
    run_step "resources-$target" "$dump" "${cuobjdump_bin:-cuobjdump}" --dump-resource-usage "${exe:-$build/$target}"
    cuobjdump_args+=(--cuobjdump "$target=$dump")
  else
    not_run "resources-$target" "not selected (ACTZIP_GPU_STEPS)"
  fi
done

# ---- the benchmark ------------------------------------------------------------------------------------

bench_exe="$build/bench/actzip-bench-gpu"
if wanted bench; then
  rm -f "$json"
  run_step bench "$logs/bench.log" timeout "$bench_timeout" "$bench_exe" "--benchmark_out=$json" \
    --benchmark_out_format=json ${bench_args[@]+"${bench_args[@]}"}
else
  not_run bench "not selected (ACTZIP_GPU_STEPS)"
fi

# ---- the report ------------------------------------------------------------------------------------------

info="$logs/info.tsv"
{
  printf 'device\t%s\n' "${gpu_name:-unknown (nvidia-smi gave no name)}"
  printf 'driver\t%s\n' "$(smi --query-gpu=driver_version --format=csv,noheader | head -n 1)"
  printf 'CUDA (driver)\t%s\n' "$(smi | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -n 1)"
  printf 'CUDA toolkit (nvcc)\t%s\n' "$("${CUDACXX:-nvcc}" --version 2>/dev/null | grep -o 'release .*' | head -n 1)"
  printf 'GPU\t%s\n' "$(smi --query-gpu=memory.total,clocks.max.sm,clocks.max.memory,power.limit,compute_cap \
    --format=csv,noheader | head -n 1) (memory, max SM clock, max memory clock, power limit, compute capability)"
  printf 'CMAKE_CUDA_ARCHITECTURES\t%s\n' "$arch"
  printf 'host compiler\t%s\n' "$(c++ --version 2>/dev/null | head -n 1)"
  printf 'CMake\t%s\n' "$(cmake --version 2>/dev/null | head -n 1)"
  printf 'compute-sanitizer\t%s\n' "$("${sanitizer:-compute-sanitizer}" --version 2>/dev/null | tail -n 1)"
  printf 'host\t%s, %s cores\n' "$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)" "$jobs"
  printf 'date\t%s\n' "$date_tag"
  commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null)"
  if [ -n "$commit" ] && [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]; then
    commit="$commit (work tree has uncommitted changes)"
  fi
  printf 'git commit\t%s\n' "${commit:-unknown (no git repository)}"
  args_text=""
  if (($#)); then args_text="$(printf ' %q' "$@")"; fi
  printf 'script\t%s\n' "bench/gpu.sh$args_text (ACTZIP_GPU_STEPS=$steps_wanted, ACTZIP_GPU_QUICK=$quick, sanitizer timeout ${san_timeout} s, bench timeout ${bench_timeout} s; total $(($(date +%s) - script_start)) s)"
  printf 'build directory\t%s (step logs in %s)\n' "$build" "$logs"
  printf 'results\t%s, %s\n' "$(basename "$md")" "$(basename "$json")"
} >"$info"

summarize=(python3 "$repo/bench/summarize-gpu.py" --json "$json" --out "$md" --info "$info" --steps "$steps_file"
  --ctest-log "$logs/ctest.log" --sanitizer "memcheck=$logs/memcheck.log" --sanitizer "racecheck=$logs/racecheck.log"
  "--sanitizer-filter=${san_args[*]-}" ${cuobjdump_args[@]+"${cuobjdump_args[@]}"} --ptxas-log "$logs/build.log"
  --bench-log "$logs/bench.log" --repo "$repo")
if ! "${summarize[@]}"; then
  failed+=(report)
  {
    echo "# actzip on the GPU, $date_tag (bench/summarize-gpu.py failed: plain step list)"
    echo
    sed 's/^/    /' "$info"
    echo
    sed 's/^/    /' "$steps_file"
  } >"$md"
fi

echo
echo "report: $md"
[ -f "$json" ] && echo "json:   $json"
echo "logs:   $logs"
grep -E '^(Compress|No f32 )' "$md" 2>/dev/null | head -n 2
if ((${#failed[@]})); then
  echo "FAILED steps: ${failed[*]}"
  exit 1
fi
echo "all steps succeeded"
exit 0
