#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# End-to-end test of the `actzip` command-line tool: compress, info and decompress
# raw files of every element type, check the bound on every value, and check that
# bad input is refused with the documented exit codes.
#   tests/cli.sh PATH/TO/actzip
set -euo pipefail
tool=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
expect() {  # expect CODE command...
  local want=$1
  shift
  set +e
  "$@" >"$work/out" 2>&1
  local got=$?
  set -e
  if [ "$got" -ne "$want" ]; then
    echo "FAIL (exit $got, expected $want): $*"
    cat "$work/out"
    failures=$((failures + 1))
  fi
}

python3 - "$work" <<'PY'
import math, struct, sys
work = sys.argv[1]
values = [math.sin(0.01 * i) * 10 if i % 5 else 0.0 for i in range(3 * 40 * 50)]
for code, fmt in (("f32", "<f"), ("f64", "<d"), ("f16", "<e")):
    with open(f"{work}/in.{code}", "wb") as f:
        f.write(b"".join(struct.pack(fmt, v) for v in values))
with open(f"{work}/in.bf16", "wb") as f:  # bfloat16: upper half of a float, rounded to nearest even
    for v in values:
        b = struct.unpack("<I", struct.pack("<f", v))[0]
        f.write(struct.pack("<H", ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF))
PY

codecs=(bitplane huffman automatic)
for t in f32 f64 f16 bf16; do
  for dims in 6000 120,50 3,40,50; do
    codec=${codecs[$(( (${#t} + ${#dims}) % 3 ))]}
    expect 0 "$tool" compress -i "$work/in.$t" -o "$work/z" -t $t -d $dims --abs 0.01 --codec $codec -q
    expect 0 "$tool" info -i "$work/z"
    grep -q "dtype: *$t" "$work/out" || { echo "FAIL: info does not show dtype $t"; failures=$((failures + 1)); }
    grep -q "codec: *$codec" "$work/out" || { echo "FAIL: info does not show codec $codec"; failures=$((failures + 1)); }
    expect 0 "$tool" decompress -i "$work/z" -o "$work/back" -q
    python3 - "$work/in.$t" "$work/back" $t 0.01 <<'PY' || failures=$((failures + 1))
import struct, sys
a, b, t, eb = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(), sys.argv[3], float(sys.argv[4])
def decode(raw):
    if t == "bf16":
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for (h,) in struct.iter_unpack("<H", raw)]
    return [v for (v,) in struct.iter_unpack({"f32": "<f", "f64": "<d", "f16": "<e"}[t], raw)]
x, y = decode(a), decode(b)
bad = sum(1 for p, q in zip(x, y) if abs(p - q) > eb or (p == 0 and q != 0))
if len(x) != len(y) or bad:
    print(f"FAIL: {t}: {bad} values outside the bound, sizes {len(x)} {len(y)}")
    sys.exit(1)
PY
  done
done

# Bad input: usage errors exit 2, runtime failures exit 1.
expect 2 "$tool" compress -i "$work/in.f32" -o "$work/z" -t f32 -d 5999 --abs 0.01
expect 2 "$tool" compress -i "$work/in.f32" -o "$work/z" -t f99 -d 6000 --abs 0.01
expect 2 "$tool" compress -i "$work/in.f32" -o "$work/z" -t f32 -d 6000
expect 2 "$tool" frobnicate
head -c 100 "$work/z" >"$work/cut"
expect 1 "$tool" decompress -i "$work/cut" -o "$work/back"
head -c 1000 /dev/urandom >"$work/junk"
expect 1 "$tool" info -i "$work/junk"
# A flipped byte in the last chunk: info reports the checksum mismatch, decompress
# refuses the stream with the same status.
expect 0 "$tool" info -i "$work/z"
grep -q "checksum: *0x[0-9a-f]* (verified)" "$work/out" || { echo "FAIL: info does not verify the checksum"; failures=$((failures + 1)); }
python3 - "$work/z" "$work/damaged" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[-1] ^= 0x04
open(sys.argv[2], "wb").write(data)
PY
expect 1 "$tool" info -i "$work/damaged"
grep -q "MISMATCH" "$work/out" || { echo "FAIL: info misses the damage"; failures=$((failures + 1)); }
expect 1 "$tool" decompress -i "$work/damaged" -o "$work/back"
grep -q "checksum mismatch" "$work/out" || { echo "FAIL: decompress does not name the checksum"; failures=$((failures + 1)); }
expect 1 "$tool" decompress -i "$work/missing" -o "$work/back"

if [ "$failures" -ne 0 ]; then
  echo "cli: $failures failed"
  exit 1
fi
echo "cli: all checks passed"
