#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Compares actzip's codecs with SZ3 and zfp on real data and writes
#   bench/results/compare-<machine>-<YYYY-MM-DD>.{json,md}  (bench/compare.py)
#   bench/results/rd-<machine>-<YYYY-MM-DD>.png             (bench/plot_rd.py)
# Steps: install the Debian packages it needs (zfp, python3-torch, python3-scipy,
# python3-matplotlib, python3-numpy, and the data sets via bench/install-data.sh);
# capture CNN activations (bench/capture_activations.py) and write the image and
# climate inputs (bench/prepare_compare_data.py) into <build>/data; build the actzip
# CLI (target actzip-cli) from the work tree in $ACTZIP_COMPARE_BUILD_DIR (default
# build-peers); run bench/compare.py and bench/plot_rd.py.
#
# SZ3 is not installed or built here: point SZ3_BIN at an `sz3` command-line tool
# (and optionally SZ3_NOTE at a line on its source and build, copied into the report).
# Without SZ3_BIN the SZ3 rows are skipped with a note.
#
# Environment: ACTZIP_COMPARE_CODECS (default bitplane,huffman,automatic; a codec the
# CLI refuses is reported and skipped), ACTZIP_COMPARE_REPEAT (CLI calls per row, best
# time kept; default 3), ACTZIP_COMPARE_REUSE_DATA=1 (keep the data of an earlier run
# instead of training and capturing again; the capture is deterministic on a given
# machine and thread count), ACTZIP_BENCH_MACHINE (machine tag), PYTHON (default
# /usr/bin/python3, which has the Debian python3-torch). Extra arguments go to compare.py.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${ACTZIP_COMPARE_BUILD_DIR:-$repo/build-peers}"
data="$build/data"
python="${PYTHON:-/usr/bin/python3}"
codecs="${ACTZIP_COMPARE_CODECS:-bitplane,huffman,automatic}"
repeat="${ACTZIP_COMPARE_REPEAT:-3}"
bounds="1e-2,1e-3,1e-4"
rd_bounds="1e-1,3e-2,3e-3,3e-4,3e-5,1e-5"
rd_data="act-stage1-relu,levitus-TEMP,fmnist-train"
start=$(date +%s)

# ---- packages -------------------------------------------------------------------
packages=(zfp python3-torch python3-scipy python3-matplotlib python3-numpy)
is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}
missing=()
for p in "${packages[@]}"; do
  is_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      as_root=(sudo)
    else
      echo "error: not root and sudo not available; cannot install: ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "installing: ${missing[*]}"
  ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
"$repo/bench/install-data.sh"

# ---- data -------------------------------------------------------------------------
if [ "${ACTZIP_COMPARE_REUSE_DATA:-0}" = 1 ] && [ -f "$data/manifest-activations.json" ] &&
  [ -f "$data/manifest-fields.json" ]; then
  echo "reusing the data in $data (ACTZIP_COMPARE_REUSE_DATA=1)"
else
  "$python" "$repo/bench/capture_activations.py" --out "$data"
  "$python" "$repo/bench/prepare_compare_data.py" --out "$data"
fi

# ---- the actzip CLI (built last, so the commit compare.py records is the one it was built from) ----
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DACTZIP_BUILD_TESTS=OFF -DACTZIP_BUILD_BENCHMARKS=OFF
fi
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")"
if [ "$build_type" != "Release" ]; then
  echo "warning: $build is configured with CMAKE_BUILD_TYPE='$build_type', not Release" >&2
fi
cmake --build "$build" --target actzip-cli -j 2
actzip="$build/examples/actzip"
if [ ! -x "$actzip" ]; then
  echo "error: $actzip was not built" >&2
  exit 1
fi

# ---- comparison and plot ----------------------------------------------------------
model="$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)"
if [ -n "${ACTZIP_BENCH_MACHINE:-}" ]; then
  machine="$ACTZIP_BENCH_MACHINE"
else
  short="$(printf '%s' "${model:-$(hostname)}" |
    sed -E 's/\((R|TM|tm|r)\)//g; s/ CPU / /; s/@.*//; s/[[:space:]]+Processor//; s/[0-9]+-Core//' |
    tr '[:upper:]' '[:lower:]' | sed -E 's/[^a-z0-9]+/-/g; s/^-+//; s/-+$//')"
  machine="${short:-host}-$(nproc)c"
fi
date_tag="$(date +%F)"
out="$repo/bench/results/compare-$machine-$date_tag"

sz3_args=()
if [ -n "${SZ3_BIN:-}" ]; then
  sz3_args=(--sz3 "$SZ3_BIN")
else
  echo "note: SZ3_BIN is not set: the SZ3 rows are skipped (build SZ3 yourself and set SZ3_BIN to its sz3 tool)"
fi

driver="bench/run-compare.sh${*:+ $*} (SZ3_BIN=${SZ3_BIN:-unset}, ACTZIP_COMPARE_CODECS=$codecs, ACTZIP_COMPARE_REPEAT=$repeat, ACTZIP_COMPARE_REUSE_DATA=${ACTZIP_COMPARE_REUSE_DATA:-0})"
set +e
"$python" "$repo/bench/compare.py" --actzip "$actzip" ${sz3_args[@]+"${sz3_args[@]}"} --data "$data" \
  --codecs "$codecs" --bounds "$bounds" --rd-bounds "$rd_bounds" --rd-data "$rd_data" --repeat "$repeat" \
  --work "$build/compare-work" --machine "$machine" --date "$date_tag" --out "$out" \
  --driver-command "$driver" "$@"
rc=$?
set -e
if [ -f "$out.json" ]; then
  "$python" "$repo/bench/plot_rd.py" --json "$out.json" --data "$rd_data" \
    --out "$repo/bench/results/rd-$machine-$date_tag.png"
fi
echo "run-compare: $(( $(date +%s) - start )) s in all, compare.py exit status $rc"
exit "$rc"
