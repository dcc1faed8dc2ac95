/* SPDX-License-Identifier: Apache-2.0
 *
 * The C interface of actzip: error-bounded lossy compression of float32, float64,
 * float16 and bfloat16 tensors of rank 1 to 3, for C programs and for any foreign
 * function interface (Python ctypes/cffi, JAX FFI, CuPy, Julia, Rust).
 *
 * C99 and C++ (the declarations are extern "C"); fixed-width types only; no
 * allocation in any function; every function checks its pointers and returns a
 * status (none aborts, none throws). Enumerated values travel as int32_t in
 * parameters and structs, so their size is the same in every language; the enums
 * below only name them.
 *
 * The one-translation-unit rule. This header only declares. The definitions are
 * in <actzip/c/implementation.hpp>, which a program compiles in exactly ONE
 * translation unit: src/actzip_c.cpp (host executors), or src/actzip_c.cu compiled
 * by nvcc (host executors plus the actzip_cuda_* functions). With CMake, link the
 * static library actzip::c (from the source tree) or call
 * actzip_add_c_library(<name> [CUDA]) after find_package(actzip). Compiled by a
 * host compiler, the actzip_cuda_* functions return ACTZIP_UNSUPPORTED.
 *
 * DLPack. An element type is a DLPack (type code, bits, lanes) triple converted
 * with actzip_dtype_from_dlpack (float: kDLFloat = 2 with 16, 32 or 64 bits;
 * bfloat16: kDLBfloat = 4 with 16 bits; lanes 1). A shape is DLPack's
 * `int64_t* shape` with `ndim` 1..3, in C order (the first extent is the slowest,
 * the last is contiguous). The data must be compact and row-major: DLPack strides
 * NULL, or equal to the compact strides (actzip_is_compact checks them). The
 * pointer to pass is `(char*)tensor->data + tensor->byte_offset`. Tensors with
 * kDLCPU data go to actzip_compress / actzip_decompress, kDLCUDA data to
 * actzip_cuda_compress / actzip_cuda_decompress. docs/C_API.md has an example.
 *
 * Threading. Every function is reentrant: calls from several threads at once are
 * safe as long as they do not write the same buffers. No function keeps state
 * between calls, except actzip_cuda_last_error, which is per thread.
 */
#ifndef ACTZIP_ACTZIP_H
#define ACTZIP_ACTZIP_H

#include <stddef.h>
#include <stdint.h>

/* Marks every function of this interface. Empty by default; define it before
 * including this header (in every translation unit, the implementation's too) to
 * export the functions from a shared library, e.g.
 * -DACTZIP_C_API='__attribute__((visibility("default")))' or __declspec(dllexport). */
#ifndef ACTZIP_C_API
#define ACTZIP_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status -------------------------------------------------------------------- */

/** Result of every call. The values are those of actzip::status in
 *  <actzip/error.hpp>, so a status travels unchanged between the C and C++ layers
 *  (and from the device words the CUDA functions write). */
typedef enum actzip_status {
  ACTZIP_SUCCESS = 0,             /**< the call did what it was asked */
  ACTZIP_INVALID_ARGUMENT = 1,    /**< a null pointer, a bad bound, a rank outside 1..3, a negative extent, ... */
  ACTZIP_UNSUPPORTED = 2,         /**< a feature this build or this call does not provide */
  ACTZIP_BUFFER_TOO_SMALL = 3,    /**< the output or workspace capacity is smaller than needed */
  ACTZIP_SIZE_OVERFLOW = 4,       /**< a size computation would overflow 64 bits */
  ACTZIP_DTYPE_MISMATCH = 5,      /**< the stream holds another element type than requested */
  ACTZIP_NOT_A_STREAM = 6,        /**< the bytes do not start with the actzip magic */
  ACTZIP_UNSUPPORTED_VERSION = 7, /**< the stream was written by a newer format version */
  ACTZIP_CORRUPT_STREAM = 8,      /**< the stream is truncated or inconsistent */
  ACTZIP_CUDA_ERROR = 9,          /**< a CUDA call or kernel launch failed (see actzip_cuda_last_error) */
  ACTZIP_CHECKSUM_MISMATCH = 10   /**< the stream's checksum does not match its bytes: it was damaged */
} actzip_status;

/** A short English description of a status value (a static string, never NULL;
 *  "unknown status" for a value that is not an actzip_status). */
ACTZIP_C_API const char* actzip_status_string(int32_t status);

/* ---- versions and build ---------------------------------------------------------- */

/** Versions of the library and of the stream format, and what the implementation
 *  translation unit was built with. */
typedef struct actzip_version_info {
  uint32_t major;                 /**< library version, major */
  uint32_t minor;                 /**< library version, minor */
  uint32_t patch;                 /**< library version, patch */
  uint32_t format_version;        /**< stream format version written (and the newest read) */
  uint32_t oldest_format_version; /**< oldest stream format version still read */
  uint32_t has_openmp;            /**< 1 when ACTZIP_EXEC_OPENMP is available */
  uint32_t has_cuda;              /**< 1 when the actzip_cuda_* functions are implemented (nvcc build) */
  uint32_t reserved;              /**< 0 */
} actzip_version_info;

/** Fills *info. Errors: ACTZIP_INVALID_ARGUMENT (info is NULL). */
ACTZIP_C_API actzip_status actzip_version(actzip_version_info* info);

/** The library version as a string, e.g. "0.1.0" (static, never NULL). */
ACTZIP_C_API const char* actzip_version_string(void);

/* ---- element types ------------------------------------------------------------------ */

/** Element type codes: the values of actzip::dtype, as written in streams. float16
 *  and bfloat16 elements are passed as their raw 16-bit patterns (uint16_t). */
typedef enum actzip_dtype {
  ACTZIP_FLOAT32 = 1, /**< IEEE binary32 (float) */
  ACTZIP_FLOAT64 = 2, /**< IEEE binary64 (double) */
  ACTZIP_FLOAT16 = 3, /**< IEEE binary16, as uint16_t bits */
  ACTZIP_BFLOAT16 = 4 /**< bfloat16 (the upper half of a binary32), as uint16_t bits */
} actzip_dtype;

/** The DLPack type codes actzip accepts (DLDataTypeCode). */
enum {
  ACTZIP_DLPACK_FLOAT = 2, /**< kDLFloat: bits 16, 32 or 64 */
  ACTZIP_DLPACK_BFLOAT = 4 /**< kDLBfloat: bits 16 */
};

/** Size in bytes of one element of `dtype` (an actzip_dtype value); 0 for an
 *  unknown code. */
ACTZIP_C_API uint32_t actzip_dtype_size(int32_t dtype);

/** The actzip_dtype of a DLPack DLDataType {code, bits, lanes} in *dtype.
 *  Errors: ACTZIP_INVALID_ARGUMENT (dtype is NULL), ACTZIP_UNSUPPORTED (any other
 *  type, or lanes != 1). */
ACTZIP_C_API actzip_status actzip_dtype_from_dlpack(uint8_t code, uint8_t bits, uint16_t lanes, int32_t* dtype);

/** The DLPack {code, bits} of an actzip_dtype (lanes is always 1). Errors:
 *  ACTZIP_INVALID_ARGUMENT (a NULL pointer or an unknown dtype). */
ACTZIP_C_API actzip_status actzip_dtype_to_dlpack(int32_t dtype, uint8_t* code, uint8_t* bits);

/** Checks that DLPack strides (in elements, as DLTensor::strides) describe the
 *  compact row-major layout of a tensor of `ndim` extents `dims`. NULL strides are
 *  compact (DLPack's convention). The stride of an extent-1 dimension is ignored.
 *  Returns ACTZIP_SUCCESS for a compact layout, ACTZIP_UNSUPPORTED for any other,
 *  ACTZIP_INVALID_ARGUMENT for a bad shape (dims NULL, ndim outside 1..3, a
 *  negative extent). */
ACTZIP_C_API actzip_status actzip_is_compact(int32_t ndim, const int64_t* dims, const int64_t* strides);

/* ---- parameters ------------------------------------------------------------------------ */

/** How actzip_params::bound is interpreted (values of actzip::bound_mode). */
typedef enum actzip_bound_mode {
  ACTZIP_BOUND_ABSOLUTE = 1, /**< |x - x'| <= bound, bound >= 0 */
  ACTZIP_BOUND_RELATIVE = 2  /**< |x - x'| <= bound * (max - min) over the finite values, bound > 0 */
} actzip_bound_mode;

/** The encoder after quantization and Lorenzo prediction (values of actzip::codec).
 *  Later versions may add codecs; a build refuses a codec it does not know with
 *  ACTZIP_UNSUPPORTED. */
typedef enum actzip_codec {
  ACTZIP_CODEC_BITPLANE = 1, /**< fast: per group of 32, zig-zag, bit width, bitplanes, zero-group elision */
  ACTZIP_CODEC_HUFFMAN = 2,  /**< ratio: canonical Huffman code book per stream, zero runs */
  ACTZIP_CODEC_AUTOMATIC = 3 /**< per chunk the smaller of bitplane and Huffman */
} actzip_codec;

/** Parameters of one compression (24 bytes, no hidden padding). Start from
 *  actzip_params_default(), actzip_params_absolute() or actzip_params_relative(). */
typedef struct actzip_params {
  int32_t bound_mode;    /**< an actzip_bound_mode */
  int32_t codec;         /**< an actzip_codec */
  double bound;          /**< the bound value (see bound_mode); finite */
  int32_t preserve_sign; /**< 1: no non-zero value reconstructs to zero or to the other sign; 0: off */
  int32_t reserved;      /**< must be 0 */
} actzip_params;

/** The defaults of actzip::params: absolute bound 0 (every value reconstructs
 *  exactly), bitplane codec, preserve_sign off. */
ACTZIP_C_API actzip_params actzip_params_default(void);
/** Defaults with an absolute bound: |x - x'| <= bound. */
ACTZIP_C_API actzip_params actzip_params_absolute(double bound);
/** Defaults with a bound relative to the tensor's finite value range. */
ACTZIP_C_API actzip_params actzip_params_relative(double bound);

/* ---- host executors ---------------------------------------------------------------------- */

/** Host executor of a call. Every executor writes the same bytes. */
typedef enum actzip_executor {
  ACTZIP_EXEC_DEFAULT = 0, /**< OpenMP when the implementation was built with it, else serial */
  ACTZIP_EXEC_SERIAL = 1,  /**< the calling thread only */
  ACTZIP_EXEC_OPENMP = 2   /**< an OpenMP team (OMP_NUM_THREADS); ACTZIP_UNSUPPORTED without OpenMP */
} actzip_executor;

/** Flags of the decompress functions. */
enum {
  /** Do not verify the stream's checksum before decoding (saves one pass over the
   *  stream; structural damage is still caught). actzip::decode_options{false}. */
  ACTZIP_DECODE_SKIP_CHECKSUM = 1
};

/** A true upper bound, in *bytes, of the stream compressing a tensor of `dtype` and
 *  shape (`ndim`, `dims`) with any data and any parameters: an output buffer this
 *  large never makes a compression fail for lack of room. Cheap; usable before any
 *  data exists. Errors: ACTZIP_INVALID_ARGUMENT (NULL pointer, unknown dtype, ndim
 *  outside 1..3, negative extent), ACTZIP_SIZE_OVERFLOW. */
ACTZIP_C_API actzip_status actzip_max_compressed_bytes(int32_t dtype, int32_t ndim, const int64_t* dims,
                                                       uint64_t* bytes);

/** Bytes of workspace actzip_compress needs on host executor `executor` for a
 *  tensor of this shape, in *bytes: 0 for serial, 8 bytes per chunk for OpenMP.
 *  Decompression needs none. Errors: ACTZIP_INVALID_ARGUMENT (NULL pointer, bad
 *  shape or executor), ACTZIP_SIZE_OVERFLOW, ACTZIP_UNSUPPORTED (OpenMP asked for,
 *  not built). */
ACTZIP_C_API actzip_status actzip_workspace_bytes(int32_t executor, int32_t ndim, const int64_t* dims, uint64_t* bytes);

/** Compresses the host tensor `input` (`dtype`, shape `ndim`/`dims`, compact C
 *  order) with `*params` into `output` (`output_capacity` bytes; the value of
 *  actzip_max_compressed_bytes always suffices, less often does) and stores the
 *  stream's size in *compressed_bytes. `workspace` holds `workspace_size` bytes, at
 *  least actzip_workspace_bytes(executor, ...) (it may be NULL when that is 0).
 *  Synchronous: when it returns, the stream is complete. `input` may be NULL for an
 *  empty tensor. Errors: ACTZIP_INVALID_ARGUMENT (NULL pointers, unknown dtype or
 *  executor, bad shape, bad bound, preserve_sign not 0/1, reserved not 0),
 *  ACTZIP_UNSUPPORTED (codec, or OpenMP not built), ACTZIP_SIZE_OVERFLOW,
 *  ACTZIP_BUFFER_TOO_SMALL (output or workspace). */
ACTZIP_C_API actzip_status actzip_compress(int32_t executor, const void* input, int32_t dtype, int32_t ndim,
                                           const int64_t* dims, const actzip_params* params, void* output,
                                           uint64_t output_capacity, uint64_t* compressed_bytes, void* workspace,
                                           uint64_t workspace_size);

/** Decompresses the stream `stream` (`stream_size` bytes; trailing bytes are
 *  ignored) into the host buffer `output` of `output_count` elements of `dtype`,
 *  the type the caller expects. `flags`: 0 or ACTZIP_DECODE_SKIP_CHECKSUM.
 *  Synchronous. The stream is untrusted input: a damaged one is refused, and
 *  nothing outside output[0, element count) is ever written (on error the contents
 *  of output are unspecified). `output` may be NULL when `output_count` is 0.
 *  Errors: ACTZIP_INVALID_ARGUMENT (NULL pointers, unknown dtype, executor or flag),
 *  ACTZIP_UNSUPPORTED (OpenMP not built), ACTZIP_NOT_A_STREAM,
 *  ACTZIP_UNSUPPORTED_VERSION, ACTZIP_CORRUPT_STREAM, ACTZIP_CHECKSUM_MISMATCH,
 *  ACTZIP_DTYPE_MISMATCH (the stream holds another type), ACTZIP_BUFFER_TOO_SMALL
 *  (output_count below the stream's element count). */
ACTZIP_C_API actzip_status actzip_decompress(int32_t executor, const void* stream, uint64_t stream_size, int32_t dtype,
                                             void* output, uint64_t output_count, uint32_t flags);

/* ---- inspecting streams --------------------------------------------------------------------- */

/** Everything a stream says about itself (mirrors actzip::header): 144 bytes, no
 *  hidden padding. */
typedef struct actzip_header {
  uint32_t format_version; /**< stream format version */
  int32_t dtype;           /**< an actzip_dtype */
  int32_t codec;           /**< an actzip_codec */
  int32_t ndim;            /**< rank, 1..3 */
  int64_t dims[3];         /**< extents, C order; dims[ndim..2] are 1 */
  int32_t bound_mode;      /**< the actzip_bound_mode the caller gave */
  int32_t preserve_sign;   /**< 1 when compressed with preserve_sign */
  double requested_bound;  /**< the bound value the caller gave */
  double absolute_bound;   /**< the absolute bound actually enforced (<= requested) */
  int32_t has_value_range; /**< 1 when value_min/value_max hold the finite range (relative bounds) */
  int32_t has_checksum;    /**< 1 when the stream carries a checksum (format version 2 and later) */
  double value_min;        /**< smallest finite value (when has_value_range) */
  double value_max;        /**< largest finite value (when has_value_range) */
  uint32_t chunk_shape[3]; /**< chunk geometry, padded to 3-D */
  uint32_t reserved;       /**< 0 */
  uint64_t element_count;  /**< number of elements */
  uint64_t chunk_count;    /**< number of chunks */
  uint64_t payload_bytes;  /**< bytes of chunk data after the offset table */
  uint64_t total_bytes;    /**< size of the whole stream */
  uint64_t checksum;       /**< the stored checksum (0 before format version 2) */
} actzip_header;

/** Reads and validates the header of a host stream of `stream_size` bytes into
 *  *header (the checksum is not verified: see actzip_verify). Errors:
 *  ACTZIP_INVALID_ARGUMENT (NULL pointer), ACTZIP_NOT_A_STREAM,
 *  ACTZIP_UNSUPPORTED_VERSION, ACTZIP_CORRUPT_STREAM (also a stream shorter than
 *  the size it claims), ACTZIP_SIZE_OVERFLOW (an extent above INT64_MAX, which the
 *  int64_t dims cannot hold). */
ACTZIP_C_API actzip_status actzip_inspect(const void* stream, uint64_t stream_size, actzip_header* header);

/** Validates the header and verifies the checksum of a host stream (one pass, no
 *  decoding). Errors: those of actzip_inspect, ACTZIP_CHECKSUM_MISMATCH,
 *  ACTZIP_INVALID_ARGUMENT (unknown executor), ACTZIP_UNSUPPORTED (OpenMP). */
ACTZIP_C_API actzip_status actzip_verify(int32_t executor, const void* stream, uint64_t stream_size);

/** Where and why a stream is refused (see actzip_diagnose). */
typedef struct actzip_fault {
  const char* what; /**< what is wrong: a static English phrase, or NULL */
  uint64_t offset;  /**< byte offset in the stream of the offending field */
  uint64_t chunk;   /**< index of the offending chunk, or UINT64_MAX when none */
} actzip_fault;

/** Validates a host stream exactly as actzip_decompress does (header, checksum
 *  unless `flags` has ACTZIP_DECODE_SKIP_CHECKSUM, offset table, every chunk)
 *  without decoding, on the calling thread. Returns the first failure and fills
 *  *fault (when not NULL) with what is wrong and where; on success *fault is
 *  {NULL, 0, UINT64_MAX}. Element types and output sizes are not checked. */
ACTZIP_C_API actzip_status actzip_diagnose(const void* stream, uint64_t stream_size, uint32_t flags,
                                           actzip_fault* fault);

/* ---- CUDA ----------------------------------------------------------------------------------- */
/* Implemented when the implementation translation unit is compiled by nvcc
 * (src/actzip_c.cu); otherwise every actzip_cuda_* function returns
 * ACTZIP_UNSUPPORTED (actzip_cuda_last_error returns 0). All data pointers are
 * device pointers. Compress and decompress only enqueue work on `cuda_stream` (a
 * cudaStream_t; NULL is the legacy default stream): they never allocate, never
 * synchronize, never copy to the host, and can be captured in a CUDA graph. The
 * streams are byte for byte those of the host executors. */

/** Bytes of device workspace actzip_cuda_compress needs for a tensor of this shape,
 *  with any codec. Errors: as actzip_workspace_bytes. */
ACTZIP_C_API actzip_status actzip_cuda_workspace_bytes(int32_t ndim, const int64_t* dims, uint64_t* bytes);

/** Bytes of device workspace actzip_cuda_decompress needs for one stream (its
 *  checksum and the code book of a Huffman or automatic stream; also with
 *  ACTZIP_DECODE_SKIP_CHECKSUM). */
ACTZIP_C_API actzip_status actzip_cuda_decode_workspace_bytes(uint64_t* bytes);

/** Enqueues the compression of the device tensor `input` into the device buffer
 *  `output` (4-byte aligned; output_capacity at least actzip_max_compressed_bytes:
 *  the GPU cannot learn the size before writing) and writes the stream's size to
 *  the device word *compressed_bytes. `workspace`: device memory of
 *  actzip_cuda_workspace_bytes bytes, 8-byte aligned. The return value reports what
 *  is known before launching: ACTZIP_INVALID_ARGUMENT (also misaligned pointers),
 *  ACTZIP_UNSUPPORTED, ACTZIP_SIZE_OVERFLOW, ACTZIP_BUFFER_TOO_SMALL,
 *  ACTZIP_CUDA_ERROR (see actzip_cuda_last_error). */
ACTZIP_C_API actzip_status actzip_cuda_compress(void* cuda_stream, const void* input, int32_t dtype, int32_t ndim,
                                                const int64_t* dims, const actzip_params* params, void* output,
                                                uint64_t output_capacity, uint64_t* compressed_bytes, void* workspace,
                                                uint64_t workspace_size);

/** Enqueues the decompression of the device stream `stream` (4-byte aligned) into
 *  the device buffer `output` of `output_count` elements of `dtype`. The stream's
 *  own status (an actzip_status value: success, or NOT_A_STREAM,
 *  UNSUPPORTED_VERSION, CORRUPT_STREAM, CHECKSUM_MISMATCH, DTYPE_MISMATCH,
 *  BUFFER_TOO_SMALL, decided exactly as on the host) is written to the device word
 *  *device_status. `workspace`: actzip_cuda_decode_workspace_bytes bytes of device
 *  memory, 8-byte aligned (also with ACTZIP_DECODE_SKIP_CHECKSUM). The
 *  return value reports what is known before launching: ACTZIP_INVALID_ARGUMENT,
 *  ACTZIP_BUFFER_TOO_SMALL (workspace), ACTZIP_CUDA_ERROR. */
ACTZIP_C_API actzip_status actzip_cuda_decompress(void* cuda_stream, const void* stream, uint64_t stream_size,
                                                  int32_t dtype, void* output, uint64_t output_count,
                                                  int32_t* device_status, void* workspace, uint64_t workspace_size,
                                                  uint32_t flags);

/** The cudaError_t value behind the last ACTZIP_CUDA_ERROR a call returned on this
 *  thread (0, cudaSuccess, if none; always 0 in a host-only build). */
ACTZIP_C_API int32_t actzip_cuda_last_error(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ACTZIP_ACTZIP_H */
