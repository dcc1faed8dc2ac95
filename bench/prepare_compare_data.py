#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the image and climate inputs of the compressor comparison (bench/compare.py).

  fmnist-train        the first --images Fashion-MNIST training images, pixel / 255,
                      {N, 28, 28}  (Debian dataset-fashion-mnist)
  levitus-TEMP        levitus_climatology.cdf TEMP  {20, 180, 360}   (Debian ferret-datasets)
  navy-winds-UWND     monthly_navy_winds.cdf UWND   {132, 73, 144}
  coads-SST           coads_climatology.cdf SST     {12, 90, 180}

Every file is raw little-endian float32 in C order (<out>/<name>.f32).
<out>/manifest-fields.json lists names, files, shapes, value ranges and SHA-256 sums.

Fill values. The climate fields mark land and missing samples with a fill value
(the variable's _FillValue / missing_value attributes: -1e10, -99.9, -1e34). SZ3 and
zfp have no notion of NaN or of a mask, so every sample equal to _FillValue or
missing_value, every non-finite sample and every sample with |v| >= 1e30 is replaced
by one neutral value, and every compressor reads that same file. The default
replacement (--fill mean) is the mean of the valid samples rounded to float32: it
lies inside the valid range, so the value range (and with it every relative bound)
is that of the valid data. --fill zero uses 0.0 instead. The manifest records the
number of replaced samples and the value used.

Reads netCDF-3 with scipy.io.netcdf_file (scipy from pip or Debian python3-scipy) and
the gzip IDX file with the standard library.

Usage: prepare_compare_data.py [--out build-peers/data] [--images 10000] [--fill mean|zero]
"""
import argparse
import gzip
import hashlib
import json
import struct
from pathlib import Path

import numpy as np
from scipy.io import netcdf_file

REPO = Path(__file__).resolve().parent.parent
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FERRET_DIR = Path("/usr/share/ferret-vis/data")

#: (name, netCDF file in FERRET_DIR, variable)
CLIMATE_FIELDS = [
    ("levitus-TEMP", "levitus_climatology.cdf", "TEMP"),
    ("navy-winds-UWND", "monthly_navy_winds.cdf", "UWND"),
    ("coads-SST", "coads_climatology.cdf", "SST"),
]


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fashion_mnist(count):
    """The first `count` training images as float32 {n, 28, 28} in [0, 1]."""
    path = FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz"
    if not path.is_file():
        raise SystemExit(f"prepare_compare_data: {path} is missing (run bench/install-data.sh)")
    with gzip.open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 0x803:
            raise SystemExit(f"prepare_compare_data: {path}: IDX magic {magic:#x}, expected 0x803")
        n = min(n, count)
        body = f.read(n * rows * cols)
    if len(body) != n * rows * cols:
        raise SystemExit(f"prepare_compare_data: {path}: truncated ({len(body)} bytes of image data)")
    pixels = np.frombuffer(body, dtype=np.uint8).reshape(n, rows, cols)
    return (pixels.astype(np.float32) / np.float32(255.0)).astype(np.float32), path


def climate_field(file_name, variable, fill_mode):
    """(values as float32 with fills replaced, info dict) of one netCDF-3 variable."""
    path = FERRET_DIR / file_name
    if not path.is_file():
        raise SystemExit(f"prepare_compare_data: {path} is missing (run bench/install-data.sh)")
    nc = netcdf_file(str(path), "r", mmap=False)
    try:
        if variable not in nc.variables:
            raise SystemExit(f"prepare_compare_data: {path}: no variable {variable!r}")
        var = nc.variables[variable]
        values = np.array(var[:], dtype=np.float32)
        markers = []
        for att in ("_FillValue", "missing_value"):
            if hasattr(var, att):
                markers.append(float(np.float32(np.asarray(getattr(var, att)).ravel()[0])))
    finally:
        nc.close()
    if values.ndim > 3:  # fold leading dimensions, as bench/data.hpp does
        values = values.reshape((-1,) + values.shape[-2:])
    invalid = ~np.isfinite(values) | (np.abs(values) >= np.float32(1e30))
    for m in markers:
        invalid |= values == np.float32(m)
    valid = values[~invalid]
    if valid.size == 0:
        raise SystemExit(f"prepare_compare_data: {path}: {variable} has no valid sample")
    replacement = np.float32(valid.astype(np.float64).mean()) if fill_mode == "mean" else np.float32(0.0)
    out = values.copy()
    out[invalid] = replacement
    info = {
        "source": f"{path} variable {variable}",
        "fill_markers": sorted(set(markers)),
        "replaced": int(np.count_nonzero(invalid)),
        "replaced_fraction": float(np.count_nonzero(invalid) / values.size),
        "replacement": float(replacement),
        "replacement_rule": ("mean of the valid samples, rounded to float32" if fill_mode == "mean"
                             else "value 0.0"),
        "valid_min": float(valid.min()), "valid_max": float(valid.max()),
    }
    return out, info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "build-peers" / "data"), help="output directory")
    ap.add_argument("--images", type=int, default=10000, help="Fashion-MNIST images (default 10000)")
    ap.add_argument("--fill", choices=("mean", "zero"), default="mean",
                    help="value that replaces the climate fill values (default: mean of the valid samples)")
    args = ap.parse_args()
    if args.images < 1:
        ap.error("--images must be >= 1")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []

    def write(name, array, kind, description, extra=None):
        path = out / f"{name}.f32"
        array.astype("<f4", copy=False).tofile(path)
        entry = {"name": name, "file": path.name, "dtype": "f32", "shape": list(array.shape), "kind": kind,
                 "description": description, "min": float(array.min()), "max": float(array.max()),
                 "zero_fraction": float(np.count_nonzero(array == 0) / array.size), "sha256": sha256_of(path)}
        entry.update(extra or {})
        entries.append(entry)
        shape = "{" + ", ".join(str(d) for d in array.shape) + "}"
        note = f", {extra['replaced']} fill samples -> {extra['replacement']:.6g}" if extra and "replaced" in extra else ""
        print(f"prepare_compare_data: {path}: {shape}, range [{array.min():.6g}, {array.max():.6g}]{note}",
              flush=True)

    images, source = fashion_mnist(args.images)
    write("fmnist-train", images, "image",
          f"first {images.shape[0]} Fashion-MNIST training images, pixel / 255", {"source": str(source)})
    for name, file_name, variable in CLIMATE_FIELDS:
        values, info = climate_field(file_name, variable, args.fill)
        write(name, values, "climate", f"{file_name} {variable}, fill values replaced", info)

    manifest = {"generator": "bench/prepare_compare_data.py", "fill": args.fill, "data": entries}
    (out / "manifest-fields.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"prepare_compare_data: wrote {out / 'manifest-fields.json'}")


if __name__ == "__main__":
    main()
