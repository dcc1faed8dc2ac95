#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs the Debian packages that the benchmark data loaders (bench/data.hpp)
# need: the Fashion-MNIST and Ferret climate data sets, plus the netCDF and
# zlib development files. Idempotent: packages already installed are left
# alone, and `apt-get update` runs only when something is missing.
# Prints one line per package: "<name>: already installed" or "<name>: installed".
set -euo pipefail

packages=(dataset-fashion-mnist ferret-datasets libnetcdf-dev zlib1g-dev)

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for p in "${packages[@]}"; do
  if is_installed "$p"; then
    echo "$p: already installed"
  else
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "error: not root and sudo not available; cannot install: ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

if ! ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1; then
  cat "$log" >&2
  echo "error: apt-get update failed" >&2
  exit 1
fi
if ! ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  echo "error: apt-get install failed for: ${missing[*]}" >&2
  exit 1
fi

for p in "${missing[@]}"; do
  if is_installed "$p"; then
    echo "$p: installed"
  else
    echo "error: $p still not installed" >&2
    exit 1
  fi
done
