#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds the GPU kit: everything bench/gpu-check.sh runs, compiled on a machine
# WITHOUT a GPU and gathered in one folder, to be carried to a GPU machine that has
# a few minutes to spare and no package mirror (nothing is installed or built there).
#
#   bash bench/gpu-kit.sh            # -> build-gpu-kit/kit (about 5 to 30 minutes of nvcc)
#   (carry build-gpu-kit/kit to the GPU machine)
#   bash <kit>/gpu-check.sh <results dir>
#
# The kit folder holds:
#   bin/test_cuda_executor, bin/test_device_compile   the GPU tests (tests/cuda/)
#   bin/quickstart-cuda                               examples/cuda/quickstart.cu
#   bin/actzip-bench-gpu                              bench/gpu.cu (Google Benchmark)
#   gpu-check.sh                                      the run script (bench/gpu-check.sh)
#   tools/summarize.py                                the report's benchmark tables
#   BUILD-INFO                                        commit, date, nvcc, architectures, flags
#
# How the programs are built, so that a bare GPU machine runs them:
#   - Release, sm_90 SASS plus compute_90 PTX (CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual":
#     H100/H200 run the SASS, a newer GPU compiles the PTX when the program starts);
#   - the static CUDA runtime (libcudart_static; the driver's libcuda.so.1 is opened
#     with dlopen when the program starts), so the GPU machine's driver must support the
#     CUDA version of the nvcc used here (CUDA 13.0: an R580 driver or newer);
#   - libstdc++ and libgcc linked statically (-static-libstdc++ -static-libgcc);
#   - Google Benchmark linked statically: Debian ships only a shared libbenchmark, so a
#     static copy is built from source into build-gpu-kit/benchmark (the source of
#     Debian's own package, fetched with `apt-get source` through a temporary deb-src
#     list made from this machine's apt sources; or ACTZIP_BENCHMARK_SOURCE);
#   - zlib linked statically (libz.a of zlib1g-dev);
#   - netCDF replaced by a stub library that refuses every file: the real data sets are
#     not on the GPU machine, and the benchmark runs with --actzip_no_real_data there;
#   - OpenMP off (no CUDA program uses exec::omp; it would add libgomp.so);
#   - -lineinfo, so that compute-sanitizer reports source lines.
# The script then checks that `ldd` of every program lists only libc, libm, libpthread,
# libdl, librt, ld-linux and linux-vdso (it fails otherwise) and that the kit is under
# 64 MiB (it fails otherwise), and writes BUILD-INFO.
#
# Environment (all optional):
#   ACTZIP_GPU_KIT_DIR      work folder (default: build-gpu-kit in the repository); the
#                           CMake build goes to <dir>/build, the kit to <dir>/kit
#   ACTZIP_GPU_KIT_ARCH     CMAKE_CUDA_ARCHITECTURES (default "90-real;90-virtual")
#   ACTZIP_GPU_KIT_JOBS     parallel compile jobs (default 1: nvcc needs several GB a job)
#   ACTZIP_BENCHMARK_SOURCE a Google Benchmark source tree to build instead of fetching one
#   ACTZIP_BENCHMARK_ROOT   an install prefix of a STATIC Google Benchmark (lib*/libbenchmark.a
#                           and lib*/cmake/benchmark); nothing is fetched or built then
#   CUDACXX                 nvcc (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${ACTZIP_GPU_KIT_DIR:-$repo/build-gpu-kit}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
build="$work/build"
kit="$work/kit"
arch="${ACTZIP_GPU_KIT_ARCH:-90-real;90-virtual}"
jobs="${ACTZIP_GPU_KIT_JOBS:-1}"
kit_limit=$((64 * 1024 * 1024))
start_time=$(date +%s)

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'gpu-kit: error: %s\n' "$*" >&2
  exit 1
}

# ---- tools and packages ----------------------------------------------------------------------

nvcc="${CUDACXX:-}"
if [ -z "$nvcc" ]; then
  nvcc="$(command -v nvcc || true)"
  [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
fi
if [ -z "$nvcc" ] || [ ! -x "$nvcc" ]; then die "nvcc not found (PATH, /usr/local/cuda/bin); set CUDACXX"; fi
nvcc_version="$("$nvcc" --version | grep -o 'release .*' | head -n 1)"
cuda_version="$(printf '%s' "$nvcc_version" | sed -n 's/^release \([0-9.]*\).*/\1/p')"
say "nvcc: $nvcc ($nvcc_version)"

# What the build needs from Debian (netCDF for its header only: the library is stubbed).
bash "$repo/tests/install-packages.sh" cmake g++ make doctest-dev zlib1g-dev libnetcdf-dev

zlib_static="$(readlink -f "$(g++ -print-file-name=libz.a)")"
[ -f "$zlib_static" ] || die "libz.a not found (Debian: zlib1g-dev)"

# ---- Google Benchmark, static ----------------------------------------------------------------

# A deb-src list made from this machine's own `deb` entries for its release (so the
# mirror is the one apt already uses), for `apt-get source` only.
write_deb_src_list() { # write_deb_src_list DIR: writes DIR/*.sources and DIR/*.list
  local dir="$1" codename f
  codename="$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"' | head -n 1)"
  [ -n "$codename" ] || return 1
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v codename="$codename" '
      $1 == "deb" {
        line = $0; sub(/^deb[ \t]+/, "", line)
        opts = ""
        if (line ~ /^\[/) { opts = substr(line, 1, index(line, "]")); line = substr(line, index(line, "]") + 1) }
        n = split(line, w, /[ \t]+/); k = 0
        for (i = 1; i <= n; i++) if (w[i] != "") v[++k] = w[i]
        if (k >= 3 && v[2] == codename) {
          out = "deb-src " (opts == "" ? "" : opts " ") v[1] " " v[2]
          for (i = 3; i <= k; i++) out = out " " v[i]
          print out
        }
      }' "$f"
  done >"$dir/src.list"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v codename="$codename" '
      BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; comps = ""; signed = ""
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^#/) continue
          key = tolower(substr(line, 1, index(line, ":") - 1)); val = substr(line, index(line, ":") + 1)
          gsub(/^[ \t]+|[ \t]+$/, "", val)
          if (key == "types") types = val
          else if (key == "uris") uris = val
          else if (key == "suites") suites = val
          else if (key == "components") comps = val
          else if (key == "signed-by") signed = val
        }
        if ((" " types " ") !~ / deb / || (" " suites " ") !~ (" " codename " ") || uris == "") next
        printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", uris, codename, comps
        if (signed != "") printf "Signed-By: %s\n", signed
        printf "\n"
      }' "$f"
  done >"$dir/src.sources"
  [ -s "$dir/src.list" ] || [ -s "$dir/src.sources" ]
}

# fetch_benchmark_source DEST: Debian's source package of Google Benchmark (the version
# of the installed libbenchmark-dev when there is one), unpacked into DEST/src.
fetch_benchmark_source() {
  local dest="$1" apt_dir version spec
  command -v apt-get >/dev/null 2>&1 || return 1
  rm -rf "$dest"
  apt_dir="$dest/apt"
  mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dest/download"
  write_deb_src_list "$apt_dir/parts" || return 1
  local apt=(apt-get -q -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/parts"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
  [ "$(id -u)" -eq 0 ] && apt+=(-o APT::Sandbox::User=root)
  "${apt[@]}" update >"$dest/apt-update.log" 2>&1 || {
    cat "$dest/apt-update.log"
    return 1
  }
  version="$(dpkg-query -W -f '${source:Version}' libbenchmark-dev 2>/dev/null || true)"
  spec="benchmark${version:+=$version}"
  local log="$dest/apt-source.log"
  if ! (cd "$dest/download" && "${apt[@]}" source --download-only "$spec") >"$log" 2>&1; then
    # The installed version may have left the archive: take the current one.
    if [ -z "$version" ] || ! (cd "$dest/download" && "${apt[@]}" source --download-only benchmark) >>"$log" 2>&1; then
      cat "$log"
      return 1
    fi
  fi
  local dsc orig
  dsc="$(find "$dest/download" -maxdepth 1 -name '*.dsc' | head -n 1)"
  if [ -n "$dsc" ] && command -v dpkg-source >/dev/null 2>&1; then
    dpkg-source -x "$dsc" "$dest/src" >>"$log" 2>&1 || return 1  # applies Debian's patches
  else
    orig="$(find "$dest/download" -maxdepth 1 -name '*.orig.tar.*' | head -n 1)"
    [ -n "$orig" ] || return 1
    mkdir -p "$dest/src"
    tar -xf "$orig" -C "$dest/src" --strip-components=1 || return 1
  fi
  [ -f "$dest/src/CMakeLists.txt" ]
}

benchmark_note=""
if [ -n "${ACTZIP_BENCHMARK_ROOT:-}" ]; then
  bm_prefix="$ACTZIP_BENCHMARK_ROOT"
  benchmark_note="static Google Benchmark from ACTZIP_BENCHMARK_ROOT=$bm_prefix"
else
  bm_prefix="$work/benchmark"
  if [ ! -f "$bm_prefix/.complete" ]; then
    bm_src="${ACTZIP_BENCHMARK_SOURCE:-}"
    if [ -z "$bm_src" ]; then
      say "Google Benchmark: fetching Debian's source package (apt-get source, temporary deb-src list)"
      fetch_benchmark_source "$work/benchmark-source" ||
        die "could not fetch Google Benchmark's source; set ACTZIP_BENCHMARK_SOURCE to a source tree"
      bm_src="$work/benchmark-source/src"
    fi
    [ -f "$bm_src/CMakeLists.txt" ] || die "no CMakeLists.txt in $bm_src"
    bm_version="$(sed -n 's/^benchmark (\([^)]*\)).*/\1/p' "$bm_src/debian/changelog" 2>/dev/null | head -n 1)"
    say "Google Benchmark: building a static library from $bm_src${bm_version:+ (Debian $bm_version)}"
    rm -rf "$work/benchmark-build" "$bm_prefix"
    cmake -S "$bm_src" -B "$work/benchmark-build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
      -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBENCHMARK_ENABLE_TESTING=OFF -DBENCHMARK_ENABLE_GTEST_TESTS=OFF \
      -DBENCHMARK_ENABLE_WERROR=OFF -DBENCHMARK_ENABLE_LTO=OFF -DBENCHMARK_INSTALL_DOCS=OFF \
      -DBENCHMARK_ENABLE_INSTALL=ON -DGIT_VERSION="${bm_version%%-*}" \
      -DCMAKE_INSTALL_PREFIX="$bm_prefix" -DCMAKE_INSTALL_LIBDIR=lib >"$work/benchmark-configure.log" 2>&1 ||
      {
        tail -n 30 "$work/benchmark-configure.log"
        die "configuring Google Benchmark failed (log $work/benchmark-configure.log)"
      }
    if ! cmake --build "$work/benchmark-build" -j "$jobs" >"$work/benchmark-build.log" 2>&1 ||
      ! cmake --install "$work/benchmark-build" >>"$work/benchmark-build.log" 2>&1; then
      tail -n 30 "$work/benchmark-build.log"
      die "building Google Benchmark failed (log $work/benchmark-build.log)"
    fi
    printf '%s\n' "${bm_version:-unknown version} from $bm_src" >"$bm_prefix/.complete"
  fi
  benchmark_note="static Google Benchmark $(cat "$bm_prefix/.complete"), installed in $bm_prefix"
fi
bm_config="$(find "$bm_prefix" -name benchmarkConfig.cmake -path '*cmake/benchmark*' 2>/dev/null | head -n 1)"
[ -n "$bm_config" ] || die "no benchmarkConfig.cmake under $bm_prefix"
[ -n "$(find "$bm_prefix" -name libbenchmark.a 2>/dev/null | head -n 1)" ] || die "no libbenchmark.a under $bm_prefix"
say "Google Benchmark: $benchmark_note"

# ---- the netCDF stub -------------------------------------------------------------------------

# bench/data.hpp reads the real data sets with netCDF. They are not on the GPU
# machine, so the benchmark program links this stub instead of libnetcdf (which would
# bring HDF5, curl and more): every call fails with NC_ENOTBUILT.
stub_dir="$build/netcdf-stub"
mkdir -p "$stub_dir"
cat >"$stub_dir/netcdf_stub.c" <<'EOF'
/* Generated by bench/gpu-kit.sh: netCDF refuses every file in the GPU kit. */
#include <netcdf.h>
#include <stddef.h>
const char* nc_strerror(int status) {
  (void)status;
  return "netCDF is not in this build (the GPU kit's stub: run with --actzip_no_real_data)";
}
int nc_open(const char* path, int mode, int* ncid) { (void)path; (void)mode; (void)ncid; return NC_ENOTBUILT; }
int nc_close(int ncid) { (void)ncid; return NC_ENOTBUILT; }
int nc_inq_varid(int ncid, const char* name, int* varid) { (void)ncid; (void)name; (void)varid; return NC_ENOTBUILT; }
int nc_inq_var(int ncid, int varid, char* name, nc_type* type, int* ndims, int* dimids, int* natts) {
  (void)ncid; (void)varid; (void)name; (void)type; (void)ndims; (void)dimids; (void)natts;
  return NC_ENOTBUILT;
}
int nc_inq_vardimid(int ncid, int varid, int* dimids) { (void)ncid; (void)varid; (void)dimids; return NC_ENOTBUILT; }
int nc_inq_dimlen(int ncid, int dimid, size_t* len) { (void)ncid; (void)dimid; (void)len; return NC_ENOTBUILT; }
int nc_get_var_float(int ncid, int varid, float* values) { (void)ncid; (void)varid; (void)values; return NC_ENOTBUILT; }
int nc_inq_att(int ncid, int varid, const char* name, nc_type* type, size_t* len) {
  (void)ncid; (void)varid; (void)name; (void)type; (void)len;
  return NC_ENOTBUILT;
}
int nc_get_att_float(int ncid, int varid, const char* name, float* values) {
  (void)ncid; (void)varid; (void)name; (void)values;
  return NC_ENOTBUILT;
}
EOF
gcc -O2 -Wall -Wextra -Werror -fPIC -c "$stub_dir/netcdf_stub.c" -o "$stub_dir/netcdf_stub.o"
rm -f "$stub_dir/libnetcdf_stub.a"
ar rcs "$stub_dir/libnetcdf_stub.a" "$stub_dir/netcdf_stub.o"

# ---- configure and build ---------------------------------------------------------------------

link_flags="-static-libstdc++ -static-libgcc"
cfg=(cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_CUDA_COMPILER=$nvcc" "-DCMAKE_CUDA_ARCHITECTURES=$arch" -DCMAKE_CUDA_RUNTIME_LIBRARY=Static
  -DCMAKE_CUDA_FLAGS=-lineinfo "-DCMAKE_EXE_LINKER_FLAGS=$link_flags"
  -DACTZIP_BUILD_TESTS=ON -DACTZIP_BUILD_EXAMPLES=ON -DACTZIP_BUILD_BENCHMARKS=ON -DACTZIP_INSTALL=OFF
  -DACTZIP_SANITIZER_TESTS=OFF -DACTZIP_WITH_OPENMP=OFF -DACTZIP_WARNINGS_AS_ERRORS=OFF
  -DACTZIP_TORCH_PYTHON=/nonexistent
  "-Dbenchmark_DIR=$(dirname "$bm_config")" "-DZLIB_LIBRARY=$zlib_static"
  "-DACTZIP_NETCDF_LIBRARY=$stub_dir/libnetcdf_stub.a")
say "configure: ${cfg[*]}"
"${cfg[@]}" >"$work/configure.log" 2>&1 || {
  tail -n 40 "$work/configure.log"
  die "configuring failed (log $work/configure.log)"
}
grep -q "CUDA sources ON" "$work/configure.log" || die "CMake found no CUDA compiler (log $work/configure.log)"
grep -q "GPU benchmarks enabled" "$work/configure.log" ||
  die "the GPU benchmark is not configured (log $work/configure.log)"

targets=(test_cuda_executor test_device_compile actzip-quickstart-cuda actzip-bench-gpu)
build_start=$(date +%s)
say "build (-j $jobs): ${targets[*]} (log $work/build.log)"
if ! cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$work/build.log" 2>&1; then
  grep -E 'error|Error' "$work/build.log" | grep -v '^gmake' | head -n 40 || tail -n 30 "$work/build.log"
  die "the build failed (log $work/build.log); a file being edited elsewhere? try again later"
fi
build_secs=$(($(date +%s) - build_start))
say "built in ${build_secs} s"

# ---- the kit ---------------------------------------------------------------------------------

rm -rf "$kit"
mkdir -p "$kit/bin" "$kit/tools"
cp "$build/tests/test_cuda_executor" "$build/tests/test_device_compile" "$build/examples/quickstart-cuda" \
  "$build/bench/actzip-bench-gpu" "$kit/bin/"
cp "$repo/bench/gpu-check.sh" "$kit/gpu-check.sh"
cp "$repo/bench/summarize.py" "$kit/tools/"
chmod +x "$kit/gpu-check.sh" "$kit/bin/"*

# ldd: only the C library's own shared objects.
say "ldd of every program"
allowed='^(linux-vdso\.so\.[0-9]+|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|/lib(64|/x86_64-linux-gnu)?/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2)$'
bad=0
ldd_report=""
for exe in "$kit"/bin/*; do
  name="$(basename "$exe")"
  libs="$(ldd "$exe" | awk '{print $1}')"
  ldd_report+="$name: $(echo "$libs" | tr '\n' ' ')"$'\n'
  echo "  $name:"
  while IFS= read -r lib; do
    [ -n "$lib" ] || continue
    if [[ "$lib" =~ $allowed ]]; then
      echo "    $lib"
    else
      echo "    $lib   <-- NOT ALLOWED"
      bad=1
    fi
  done <<<"$libs"
done
[ "$bad" -eq 0 ] || die "a program needs a shared library that a bare machine may lack (see above)"

# The newest glibc symbol version the programs need.
glibc_needed="$(for exe in "$kit"/bin/*; do objdump -T "$exe"; done 2>/dev/null |
  grep -o 'GLIBC_[0-9.]*' | sort -t. -k1,1 -k2,2n -k3,3n -u | tail -n 1 || true)"

# ---- BUILD-INFO ------------------------------------------------------------------------------

commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
changed="$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
untracked="$(git -C "$repo" status --porcelain 2>/dev/null | grep -c '^??' || true)"
if [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]; then commit="$commit-dirty"; fi
{
  echo "actzip GPU kit (bench/gpu-kit.sh); run it with: bash gpu-check.sh <results dir>"
  echo "commit: $commit"
  [ -n "$changed" ] && echo "changed tracked files: $changed"
  [ "${untracked:-0}" -gt 0 ] && echo "untracked files in the work tree: $untracked"
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "nvcc: $nvcc_version ($nvcc)"
  echo "CUDA architectures: $arch (sm_90 SASS + compute_90 PTX by default)"
  echo "CUDA runtime: static; the GPU machine's driver must support CUDA $cuda_version or newer (CUDA 13: an R580 driver or newer)"
  echo "host compiler: $(g++ --version | head -n 1)"
  echo "CMake: $(cmake --version | head -n 1)"
  echo "link: $link_flags; $benchmark_note; zlib $zlib_static; netCDF stubbed (no real data sets)"
  echo "CMake options: ${cfg[*]:5}"
  echo "build: ${build_secs} s with -j $jobs on $(nproc) cores ($(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1))"
  echo "needs glibc: ${glibc_needed#GLIBC_} or newer"
  echo "programs (ldd):"
  printf '%s' "$ldd_report" | sed 's/^/  /'
} >"$kit/BUILD-INFO"

size_bytes="$(du -sb "$kit" | awk '{print $1}')"
echo "  kit size: $size_bytes bytes ($((size_bytes / 1024 / 1024)) MiB; limit 64 MiB)" | tee -a "$kit/BUILD-INFO"
echo
cat "$kit/BUILD-INFO"
echo
(cd "$kit" && find . -type f -printf '%10s  %p\n' | sort -k2)
[ "$size_bytes" -lt "$kit_limit" ] || die "the kit is $size_bytes bytes, over 64 MiB"
say "kit ready: $kit ($((size_bytes / 1024 / 1024)) MiB, $(($(date +%s) - start_time)) s in all)"
say "on the GPU machine: bash <kit>/gpu-check.sh <results dir>"
