#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A static report of the CUDA executor's kernels that needs no GPU: for each kernel
# and element type, the registers, spills, stack and static shared memory ptxas gives
# it, the dynamic shared memory it gets for Huffman and automatic tensors, the
# blocks per SM that allows at 256 threads, and the integer divisions and
# remainders in its PTX (each one a long instruction sequence on the GPU), in all and
# in the full-chunk path alone, with the source line of each.
#   bash bench/kernel-report.sh                 # prints the report (Markdown)
#   bash bench/kernel-report.sh bench/results   # also writes bench/results/kernels-sm90-<date>-<commit>.md
# Environment: CUDACXX (nvcc; default: PATH, then /usr/local/cuda/bin/nvcc),
# ARCH (default 90).
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir=${1:-}
nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
arch=${ARCH:-90}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=c++17 -O3 -DNDEBUG -Iinclude -arch=sm_"$arch" -Xcompiler=-ffp-contract=off,-fno-trapping-math)
"$nvcc" "${flags[@]}" -cubin -Xptxas -v bench/kernel_report.cu -o "$work/kernels.cubin" 2> "$work/ptxas.txt"
"$nvcc" "${flags[@]}" -lineinfo -ptx bench/kernel_report.cu -o "$work/kernels.ptx"
# The same kernels compiled as if every chunk were full: the code edge chunks need
# drops out, and the divisions left are those of the full-chunk path.
"$nvcc" "${flags[@]}" -lineinfo -DACTZIP_KERNEL_REPORT_FULL_CHUNKS -ptx bench/kernel_report.cu -o "$work/full.ptx"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- include bench/kernel_report.cu 2>/dev/null)" ]; then commit="$commit+changes"; fi
report=$(python3 bench/kernel_report.py --ptxas "$work/ptxas.txt" --ptx "$work/kernels.ptx" --full-ptx "$work/full.ptx" --arch "$arch" \
  --nvcc "$("$nvcc" --version | tail -n 2 | head -n 1)" --commit "$commit" --date "$(date -u +%Y-%m-%d)")
echo "$report"
if [ -n "$out_dir" ]; then
  mkdir -p "$out_dir"
  file="$out_dir/kernels-sm$arch-$(date -u +%Y-%m-%d)-${commit%+changes}.md"
  echo "$report" > "$file"
  echo "written: $file" >&2
fi
