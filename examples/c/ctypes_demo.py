#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# actzip from Python through ctypes and the C interface (<actzip/actzip.h>), with no
# package beyond the standard library. Needs a shared library built from the one
# implementation translation unit, e.g.
#
#   g++ -std=c++17 -O2 -fopenmp -shared -fPIC -ffp-contract=off -Iinclude \
#       src/actzip_c.cpp -o libactzip_c.so
#
# (or the CMake target actzip-c-shared: build/examples/libactzip_c.so).
#
#   python3 examples/c/ctypes_demo.py [PATH/TO/libactzip_c.so]
#
# Compresses a 3-D float32 field with a relative bound, inspects the stream,
# decompresses it, checks every element against the bound, shows how a refusal
# reads, and exits 1 if anything is wrong. With numpy, pass `array.ctypes.data`
# (a C-contiguous array) where this script passes a ctypes array.
import ctypes
import math
import sys

SUCCESS, DTYPE_MISMATCH, CHECKSUM_MISMATCH = 0, 5, 10
FLOAT32, FLOAT64 = 1, 2
EXEC_DEFAULT = 0
BOUND_RELATIVE = 2


class Params(ctypes.Structure):  # actzip_params
    _fields_ = [("bound_mode", ctypes.c_int32), ("codec", ctypes.c_int32), ("bound", ctypes.c_double),
                ("preserve_sign", ctypes.c_int32), ("reserved", ctypes.c_int32)]


class Header(ctypes.Structure):  # actzip_header
    _fields_ = [("format_version", ctypes.c_uint32), ("dtype", ctypes.c_int32), ("codec", ctypes.c_int32),
                ("ndim", ctypes.c_int32), ("dims", ctypes.c_int64 * 3), ("bound_mode", ctypes.c_int32),
                ("preserve_sign", ctypes.c_int32), ("requested_bound", ctypes.c_double),
                ("absolute_bound", ctypes.c_double), ("has_value_range", ctypes.c_int32),
                ("has_checksum", ctypes.c_int32), ("value_min", ctypes.c_double), ("value_max", ctypes.c_double),
                ("chunk_shape", ctypes.c_uint32 * 3), ("reserved", ctypes.c_uint32),
                ("element_count", ctypes.c_uint64), ("chunk_count", ctypes.c_uint64),
                ("payload_bytes", ctypes.c_uint64), ("total_bytes", ctypes.c_uint64), ("checksum", ctypes.c_uint64)]


class VersionInfo(ctypes.Structure):  # actzip_version_info
    _fields_ = [(name, ctypes.c_uint32) for name in
                ("major", "minor", "patch", "format_version", "oldest_format_version", "has_openmp", "has_cuda",
                 "reserved")]


def load(path):
    lib = ctypes.CDLL(path)
    i32, u32, u64, vp = ctypes.c_int32, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_void_p
    dims_p, u64_p = ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_uint64)
    signatures = {
        "actzip_status_string": (ctypes.c_char_p, [i32]),
        "actzip_version": (i32, [ctypes.POINTER(VersionInfo)]),
        "actzip_version_string": (ctypes.c_char_p, []),
        "actzip_params_relative": (Params, [ctypes.c_double]),
        "actzip_max_compressed_bytes": (i32, [i32, i32, dims_p, u64_p]),
        "actzip_workspace_bytes": (i32, [i32, i32, dims_p, u64_p]),
        "actzip_compress": (i32, [i32, vp, i32, i32, dims_p, ctypes.POINTER(Params), vp, u64, u64_p, vp, u64]),
        "actzip_decompress": (i32, [i32, vp, u64, i32, vp, u64, u32]),
        "actzip_inspect": (i32, [vp, u64, ctypes.POINTER(Header)]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def main():
    lib = load(sys.argv[1] if len(sys.argv) > 1 else "libactzip_c.so")
    problems = []

    def check(status, what):
        if status != SUCCESS:
            problems.append(f"{what}: {lib.actzip_status_string(status).decode()}")
        return status == SUCCESS

    for struct, size in ((Params, 24), (Header, 144), (VersionInfo, 32)):
        if ctypes.sizeof(struct) != size:
            problems.append(f"{struct.__name__} is {ctypes.sizeof(struct)} bytes, the header says {size}")
    info = VersionInfo()
    check(lib.actzip_version(ctypes.byref(info)), "actzip_version")

    shape = (20, 30, 40)  # C order, like numpy's shape
    count = shape[0] * shape[1] * shape[2]
    dims = (ctypes.c_int64 * 3)(*shape)
    field = (ctypes.c_float * count)(*(math.sin(0.05 * i) * math.cos(0.003 * i) for i in range(count)))

    capacity, workspace_size = ctypes.c_uint64(), ctypes.c_uint64()
    check(lib.actzip_max_compressed_bytes(FLOAT32, 3, dims, ctypes.byref(capacity)), "actzip_max_compressed_bytes")
    check(lib.actzip_workspace_bytes(EXEC_DEFAULT, 3, dims, ctypes.byref(workspace_size)), "actzip_workspace_bytes")
    stream = ctypes.create_string_buffer(capacity.value)
    workspace = ctypes.create_string_buffer(max(workspace_size.value, 1))
    params = lib.actzip_params_relative(1e-3)
    stream_size = ctypes.c_uint64()
    check(lib.actzip_compress(EXEC_DEFAULT, field, FLOAT32, 3, dims, ctypes.byref(params), stream, capacity,
                              ctypes.byref(stream_size), workspace, workspace_size), "actzip_compress")

    header = Header()
    check(lib.actzip_inspect(stream, stream_size, ctypes.byref(header)), "actzip_inspect")
    if tuple(header.dims[:header.ndim]) != shape or header.element_count != count or header.dtype != FLOAT32:
        problems.append("the header does not describe the tensor")

    restored = (ctypes.c_float * count)()
    check(lib.actzip_decompress(EXEC_DEFAULT, stream, stream_size, FLOAT32, restored, count, 0), "actzip_decompress")
    worst = max(abs(a - b) for a, b in zip(field, restored))
    if worst > header.absolute_bound:
        problems.append(f"max error {worst} exceeds the bound {header.absolute_bound}")

    # Refusals come back as statuses, never as crashes.
    wrong_type = lib.actzip_decompress(EXEC_DEFAULT, stream, stream_size, FLOAT64, restored, count, 0)
    if wrong_type != DTYPE_MISMATCH:
        problems.append(f"decoding as float64 gave status {wrong_type}")
    damaged = ctypes.create_string_buffer(stream.raw[:stream_size.value], stream_size.value)
    damaged[stream_size.value - 5] = bytes([damaged.raw[stream_size.value - 5] ^ 0x40])
    refused = lib.actzip_decompress(EXEC_DEFAULT, damaged, stream_size, FLOAT32, restored, count, 0)
    if refused != CHECKSUM_MISMATCH:
        problems.append(f"a damaged stream gave status {refused}")

    print(f"actzip {lib.actzip_version_string().decode()} (stream format {info.format_version}, "
          f"OpenMP {info.has_openmp}) via ctypes: {count * 4} -> {stream_size.value} bytes "
          f"(ratio {count * 4 / stream_size.value:.1f}), absolute bound {header.absolute_bound:.3g}, "
          f"max error {worst:.3g}; float64 request: {lib.actzip_status_string(wrong_type).decode()}; "
          f"damaged stream: {lib.actzip_status_string(refused).decode()}")
    for problem in problems:
        print("FAIL:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
