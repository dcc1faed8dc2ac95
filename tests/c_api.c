/* SPDX-License-Identifier: Apache-2.0
 *
 * The C interface (<actzip/actzip.h>) from a C11 program: round trips of float32,
 * float64, float16 and bfloat16 tensors of rank 1 to 3 whose extents do not divide
 * the chunk shape (every element checked against the bound, NaN and Inf kept),
 * byte-identical streams on every executor, the fields actzip_inspect reports,
 * every error path, the status strings, the DLPack helpers, and the CUDA functions
 * (ACTZIP_UNSUPPORTED in a host-only build; with the nvcc-compiled implementation,
 * the checks made before any launch). Prints "N passed, M failed"; exits 1 on any
 * failure. */
#include <actzip/actzip.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0;
static int failed = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      ++passed;                                                                \
    } else {                                                                   \
      ++failed;                                                                \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_STATUS(call, expected)                                                                              \
  do {                                                                                                            \
    const actzip_status check_status_ = (call);                                                                   \
    if (check_status_ == (expected)) {                                                                            \
      ++passed;                                                                                                   \
    } else {                                                                                                      \
      ++failed;                                                                                                   \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n", __FILE__, __LINE__, #call, (int)check_status_, \
              actzip_status_string(check_status_), #expected);                                                    \
    }                                                                                                             \
  } while (0)

/* ---- deterministic data ---------------------------------------------------------- */

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t next_random(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double uniform(void) {
  return (double)(next_random() >> 11) * (1.0 / 9007199254740992.0);
}

/* A smooth field with ReLU-like zeros, noise and a few special values (NaN, +-Inf,
 * -0.0, one large spike) at fixed positions. */
static double sample(uint64_t i, uint64_t n) {
  const double t = (double)i / (double)(n ? n : 1);
  double v = sin(40.0 * t) * 3.0 + 0.05 * (uniform() - 0.5);
  if (i % 7 == 3) v = 0.0;
  if (i == 5) v = NAN;
  if (i == 11) v = INFINITY;
  if (i == 13) v = -INFINITY;
  if (i == 17) v = -0.0;
  if (i == 19) v = 10.0;
  return v;
}

/* ---- 16-bit formats in C --------------------------------------------------------------- */

static uint32_t float_bits(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  return x;
}

static float bits_float(uint32_t x) {
  float f;
  memcpy(&f, &x, sizeof f);
  return f;
}

/* binary32 -> binary16 bits, round to nearest even (any input; overflow -> Inf). */
static uint16_t float_to_half(float f) {
  const uint32_t x = float_bits(f);
  const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  const uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
  if (magnitude >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* Inf, or rounds to it */
  if (magnitude < 0x38800000u) {                                   /* below 2^-14: subnormal or 0 */
    const float scaled = fabsf(f) * 16777216.0f;                   /* units of 2^-24, exact */
    return (uint16_t)(sign | (uint16_t)lrintf(scaled));            /* lrintf: nearest even */
  }
  uint32_t h = ((magnitude >> 23) - 112u) << 10 | ((magnitude >> 13) & 0x3ffu);
  const uint32_t rest = magnitude & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return (uint16_t)(sign | h);
}

static double half_to_double(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  const double sign = (h & 0x8000u) ? -1.0 : 1.0;
  if (exponent == 0) return sign * ldexp((double)mantissa, -24);
  if (exponent == 31) return mantissa ? NAN : sign * INFINITY;
  return sign * ldexp((double)(1024 + mantissa), exponent - 25);
}

/* binary32 -> bfloat16 bits, round to nearest even. */
static uint16_t float_to_bfloat16(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
  return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

static double bfloat16_to_double(uint16_t b) {
  return (double)bits_float((uint32_t)b << 16);
}

/* ---- tensors of any type ----------------------------------------------------------------- */

static void fill(int32_t dtype, void* data, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    const double v = sample(i, n);
    switch (dtype) {
      case ACTZIP_FLOAT32:
        ((float*)data)[i] = (float)v;
        break;
      case ACTZIP_FLOAT64:
        ((double*)data)[i] = v;
        break;
      case ACTZIP_FLOAT16:
        ((uint16_t*)data)[i] = float_to_half((float)v);
        break;
      case ACTZIP_BFLOAT16:
        ((uint16_t*)data)[i] = float_to_bfloat16((float)v);
        break;
      default:
        break;
    }
  }
}

static double element(int32_t dtype, const void* data, uint64_t i) {
  switch (dtype) {
    case ACTZIP_FLOAT32:
      return (double)((const float*)data)[i];
    case ACTZIP_FLOAT64:
      return ((const double*)data)[i];
    case ACTZIP_FLOAT16:
      return half_to_double(((const uint16_t*)data)[i]);
    case ACTZIP_BFLOAT16:
      return bfloat16_to_double(((const uint16_t*)data)[i]);
    default:
      return NAN;
  }
}

/* Finite min and max of a tensor (0, 0 if none). */
static void finite_range(int32_t dtype, const void* data, uint64_t n, double* lo, double* hi) {
  int any = 0;
  *lo = *hi = 0.0;
  for (uint64_t i = 0; i < n; ++i) {
    const double v = element(dtype, data, i);
    if (!isfinite(v)) continue;
    if (!any || v < *lo) *lo = v;
    if (!any || v > *hi) *hi = v;
    any = 1;
  }
}

static uint64_t ceil_div(uint64_t a, uint64_t b) {
  return a / b + (a % b != 0);
}

/* ---- round trips ---------------------------------------------------------------------- */

static const char* dtype_name(int32_t dtype) {
  switch (dtype) {
    case ACTZIP_FLOAT32:
      return "float32";
    case ACTZIP_FLOAT64:
      return "float64";
    case ACTZIP_FLOAT16:
      return "float16";
    case ACTZIP_BFLOAT16:
      return "bfloat16";
    default:
      return "?";
  }
}

/* Compresses a generated tensor with every executor, checks that the streams are
 * identical, the header fields, and every decoded element against the bound. */
static void round_trip(int32_t dtype, int32_t ndim, const int64_t* dims, actzip_params params) {
  const uint32_t size = actzip_dtype_size(dtype);
  uint64_t n = 1;
  for (int32_t d = 0; d < ndim; ++d) n *= (uint64_t)dims[d];
  void* input = malloc(n * size + 1);
  void* output = malloc(n * size + 1);
  uint64_t capacity = 0;
  CHECK_STATUS(actzip_max_compressed_bytes(dtype, ndim, dims, &capacity), ACTZIP_SUCCESS);
  CHECK(capacity >= 128 + n * size);
  unsigned char* stream = (unsigned char*)malloc(capacity);
  unsigned char* other = (unsigned char*)malloc(capacity);
  if (!input || !output || !stream || !other) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  fill(dtype, input, n);

  uint64_t written = 0;
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, input, dtype, ndim, dims, &params, stream, capacity, &written, NULL, 0),
      ACTZIP_SUCCESS);
  CHECK(written > 128 && written <= capacity);

  /* The other executors write the same bytes. */
  const int32_t executors[2] = {ACTZIP_EXEC_DEFAULT, ACTZIP_EXEC_OPENMP};
  actzip_version_info info;
  CHECK_STATUS(actzip_version(&info), ACTZIP_SUCCESS);
  for (int k = 0; k < 2; ++k) {
    if (executors[k] == ACTZIP_EXEC_OPENMP && !info.has_openmp) {
      uint64_t unused = 0;
      CHECK_STATUS(actzip_workspace_bytes(ACTZIP_EXEC_OPENMP, ndim, dims, &unused), ACTZIP_UNSUPPORTED);
      continue;
    }
    uint64_t workspace_size = 0;
    CHECK_STATUS(actzip_workspace_bytes(executors[k], ndim, dims, &workspace_size), ACTZIP_SUCCESS);
    void* workspace = workspace_size ? malloc(workspace_size) : NULL;
    uint64_t other_size = 0;
    memset(other, 0xAB, capacity);
    CHECK_STATUS(actzip_compress(executors[k], input, dtype, ndim, dims, &params, other, capacity, &other_size,
                                 workspace, workspace_size),
                 ACTZIP_SUCCESS);
    CHECK(other_size == written && memcmp(stream, other, written) == 0);
    if (workspace_size != 0) { /* one byte short of the workspace */
      CHECK_STATUS(actzip_compress(executors[k], input, dtype, ndim, dims, &params, other, capacity, &other_size,
                                   workspace, workspace_size - 1),
                   ACTZIP_BUFFER_TOO_SMALL);
    }
    free(workspace);
  }

  /* An output exactly the stream's size is enough; one byte less is not. */
  uint64_t exact = 0;
  CHECK_STATUS(actzip_compress(ACTZIP_EXEC_SERIAL, input, dtype, ndim, dims, &params, other, written, &exact, NULL, 0),
               ACTZIP_SUCCESS);
  CHECK(exact == written);
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, input, dtype, ndim, dims, &params, other, written - 1, &exact, NULL, 0),
      ACTZIP_BUFFER_TOO_SMALL);

  /* The header. */
  actzip_header h;
  memset(&h, 0xFF, sizeof h);
  CHECK_STATUS(actzip_inspect(stream, written, &h), ACTZIP_SUCCESS);
  CHECK(h.format_version == info.format_version);
  CHECK(h.dtype == dtype);
  CHECK(h.codec == params.codec);
  CHECK(h.ndim == ndim);
  for (int32_t d = 0; d < 3; ++d) CHECK(h.dims[d] == (d < ndim ? dims[d] : 1));
  CHECK(h.bound_mode == params.bound_mode);
  CHECK(h.requested_bound == params.bound);
  CHECK(h.preserve_sign == params.preserve_sign);
  CHECK(h.has_checksum == 1);
  CHECK(h.reserved == 0);
  CHECK(h.element_count == n);
  CHECK(h.total_bytes == written);
  const uint32_t chunk_1d[3] = {1, 1, 4096}, chunk_2d[3] = {1, 64, 64}, chunk_3d[3] = {16, 16, 16};
  const uint32_t* chunk = ndim == 1 ? chunk_1d : ndim == 2 ? chunk_2d : chunk_3d;
  uint64_t chunks = 1; /* the grid over the extents padded to 3-D with leading 1s */
  for (int32_t d = 0; d < 3; ++d) {
    const uint64_t extent = d < 3 - ndim ? 1 : (uint64_t)dims[d - (3 - ndim)];
    CHECK(h.chunk_shape[d] == chunk[d]);
    chunks *= ceil_div(extent, chunk[d]);
  }
  CHECK(h.chunk_count == chunks);
  CHECK(h.payload_bytes == written - 128 - 8 * chunks);
  double lo = 0, hi = 0;
  finite_range(dtype, input, n, &lo, &hi);
  if (params.bound_mode == ACTZIP_BOUND_RELATIVE) {
    CHECK(h.has_value_range == 1);
    CHECK(h.value_min == lo && h.value_max == hi);
    CHECK(h.absolute_bound > 0 && h.absolute_bound <= params.bound * (hi - lo));
  } else {
    CHECK(h.has_value_range == 0 && h.value_min == 0 && h.value_max == 0);
    CHECK(h.absolute_bound <= params.bound);
  }

  /* Decoding: every element within the bound, specials and zeros exact. */
  const uint32_t flags[2] = {0, ACTZIP_DECODE_SKIP_CHECKSUM};
  for (int k = 0; k < 2; ++k) {
    memset(output, 0x5A, n * size + 1);
    CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_DEFAULT, stream, written, dtype, output, n, flags[k]), ACTZIP_SUCCESS);
    CHECK(((unsigned char*)output)[n * size] == 0x5A); /* nothing written past the tensor */
    uint64_t violations = 0;
    double worst = 0;
    for (uint64_t i = 0; i < n; ++i) {
      const double x = element(dtype, input, i), y = element(dtype, output, i);
      int ok;
      if (isnan(x))
        ok = isnan(y);
      else if (isinf(x))
        ok = (x == y);
      else if (x == 0)
        ok = (y == 0);
      else
        ok = isfinite(y) && fabs(x - y) <= h.absolute_bound;
      if (ok && params.preserve_sign && x != 0 && !isnan(x)) ok = (x > 0) == (y > 0) && y != 0;
      if (!ok) ++violations;
      if (isfinite(x) && isfinite(y) && fabs(x - y) > worst) worst = fabs(x - y);
    }
    CHECK(violations == 0);
    CHECK(worst <= h.absolute_bound);
    if (violations != 0)
      fprintf(stderr, "  %s rank %d: %llu elements break the bound %g\n", dtype_name(dtype), (int)ndim,
              (unsigned long long)violations, h.absolute_bound);
  }
  /* Serial decoding gives the same bytes. */
  memset(other, 0, n * size);
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, written, dtype, other, n, 0), ACTZIP_SUCCESS);
  CHECK(memcmp(other, output, n * size) == 0);

  free(other);
  free(stream);
  free(output);
  free(input);
}

static void test_round_trips(void) {
  const int64_t shape_1d[1] = {10007};      /* chunk 4096 */
  const int64_t shape_2d[2] = {70, 130};    /* chunk 64 x 64 */
  const int64_t shape_3d[3] = {17, 20, 33}; /* chunk 16 x 16 x 16 */
  const int64_t* shapes[3] = {shape_1d, shape_2d, shape_3d};
  const int32_t dtypes[4] = {ACTZIP_FLOAT32, ACTZIP_FLOAT64, ACTZIP_FLOAT16, ACTZIP_BFLOAT16};
  for (int t = 0; t < 4; ++t) {
    for (int32_t r = 1; r <= 3; ++r) {
      round_trip(dtypes[t], r, shapes[r - 1], actzip_params_absolute(1e-3));
      round_trip(dtypes[t], r, shapes[r - 1], actzip_params_relative(1e-2));
      actzip_params sign = actzip_params_relative(0.05);
      sign.preserve_sign = 1;
      round_trip(dtypes[t], r, shapes[r - 1], sign);
      actzip_params huffman = actzip_params_relative(1e-3);
      huffman.codec = ACTZIP_CODEC_HUFFMAN;
      round_trip(dtypes[t], r, shapes[r - 1], huffman);
      actzip_params automatic = actzip_params_absolute(1e-2);
      automatic.codec = ACTZIP_CODEC_AUTOMATIC;
      round_trip(dtypes[t], r, shapes[r - 1], automatic);
    }
  }
  /* The default parameters: absolute bound 0, every value back exactly. */
  const actzip_params defaults = actzip_params_default();
  CHECK(defaults.bound_mode == ACTZIP_BOUND_ABSOLUTE && defaults.bound == 0.0 &&
        defaults.codec == ACTZIP_CODEC_BITPLANE && defaults.preserve_sign == 0 && defaults.reserved == 0);
  round_trip(ACTZIP_FLOAT32, 2, shape_2d, defaults);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void test_errors(void) {
  enum { n = 5000 };
  static float data[n];
  static float back[n];
  static unsigned char stream[n * 4 + 4096];
  for (int i = 0; i < n; ++i) data[i] = (float)sin(0.01 * i);
  const int64_t dims[1] = {n};
  const actzip_params p = actzip_params_absolute(1e-4);
  uint64_t size = 0, bytes = 0;
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &p, stream, sizeof stream, &size, NULL, 0),
      ACTZIP_SUCCESS);

  /* Null pointers. */
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, NULL, ACTZIP_FLOAT32, 1, dims, &p, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &p, NULL, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &p, stream, sizeof stream, NULL, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, NULL, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, NULL, &p, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, NULL, size, ACTZIP_FLOAT32, back, n, 0), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, size, ACTZIP_FLOAT32, NULL, n, 0),
               ACTZIP_INVALID_ARGUMENT);
  actzip_header h;
  CHECK_STATUS(actzip_inspect(NULL, size, &h), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_inspect(stream, size, NULL), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT32, 1, dims, NULL), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT32, 1, NULL, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_workspace_bytes(ACTZIP_EXEC_SERIAL, 1, dims, NULL), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_workspace_bytes(ACTZIP_EXEC_SERIAL, 1, NULL, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_version(NULL), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_verify(ACTZIP_EXEC_SERIAL, NULL, size), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_diagnose(NULL, size, 0, NULL), ACTZIP_INVALID_ARGUMENT);

  /* Ranks 0 and 4, negative extents, unknown dtype / executor. */
  const int64_t dims4[4] = {2, 2, 2, 2};
  const int64_t negative[2] = {10, -3};
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT32, 0, dims, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT32, 4, dims4, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT32, -1, dims, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT32, 2, negative, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_workspace_bytes(ACTZIP_EXEC_SERIAL, 0, dims, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_workspace_bytes(ACTZIP_EXEC_SERIAL, 4, dims4, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_workspace_bytes(ACTZIP_EXEC_SERIAL, 2, negative, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_workspace_bytes(7, 1, dims, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 0, dims, &p, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 4, dims4, &p, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 2, negative, &p, stream, sizeof stream, &bytes,
                               NULL, 0),
               ACTZIP_INVALID_ARGUMENT);
  const int32_t bad_dtypes[3] = {0, 5, -1};
  for (int k = 0; k < 3; ++k) {
    CHECK(actzip_dtype_size(bad_dtypes[k]) == 0);
    CHECK_STATUS(actzip_max_compressed_bytes(bad_dtypes[k], 1, dims, &bytes), ACTZIP_INVALID_ARGUMENT);
    CHECK_STATUS(
        actzip_compress(ACTZIP_EXEC_SERIAL, data, bad_dtypes[k], 1, dims, &p, stream, sizeof stream, &bytes, NULL, 0),
        ACTZIP_INVALID_ARGUMENT);
    CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, size, bad_dtypes[k], back, n, 0),
                 ACTZIP_INVALID_ARGUMENT);
  }
  CHECK_STATUS(actzip_compress(3, data, ACTZIP_FLOAT32, 1, dims, &p, stream, sizeof stream, &bytes, NULL, 0),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_decompress(-1, stream, size, ACTZIP_FLOAT32, back, n, 0), ACTZIP_INVALID_ARGUMENT);

  /* Sizes that overflow 64 bits. */
  const int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT64, 2, huge, &bytes), ACTZIP_SIZE_OVERFLOW);
  /* The largest accepted shape with the smallest chunks (64 elements each for {N, 1}):
     128 + the largest code book (532) + 15 per chunk + 8 per element, which fits in 64 bits. */
  const int64_t largest_2d[2] = {(int64_t)(UINT64_MAX / 16), 1};
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT64, 2, largest_2d, &bytes), ACTZIP_SUCCESS);
  CHECK(bytes == 128 + 532 + ((UINT64_MAX / 16 + 63) / 64) * 15 + (UINT64_MAX / 16) * 8);
  const int64_t too_many[2] = {(int64_t)(UINT64_MAX / 16 + 1), 1};
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT64, 2, too_many, &bytes), ACTZIP_SIZE_OVERFLOW);
  CHECK_STATUS(actzip_workspace_bytes(ACTZIP_EXEC_SERIAL, 2, huge, &bytes), ACTZIP_SIZE_OVERFLOW);

  /* Bad parameters. */
  actzip_params bad = p;
  bad.bound = -1.0;
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &bad, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  bad.bound = NAN;
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &bad, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  bad = actzip_params_relative(0.0);
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &bad, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  bad = p;
  bad.bound_mode = 3;
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &bad, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  bad = p;
  bad.preserve_sign = 2;
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &bad, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  bad = p;
  bad.reserved = 1;
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &bad, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_INVALID_ARGUMENT);
  bad = p;
  bad.codec = 4; /* no such codec */
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &bad, stream, sizeof stream, &bytes, NULL, 0),
      ACTZIP_UNSUPPORTED);

  /* Capacities. */
  CHECK_STATUS(actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &p, stream, 100, &bytes, NULL, 0),
               ACTZIP_BUFFER_TOO_SMALL);
  CHECK_STATUS(
      actzip_compress(ACTZIP_EXEC_SERIAL, data, ACTZIP_FLOAT32, 1, dims, &p, stream, size - 1, &bytes, NULL, 0),
      ACTZIP_BUFFER_TOO_SMALL);
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, size, ACTZIP_FLOAT32, back, n - 1, 0),
               ACTZIP_BUFFER_TOO_SMALL);
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, size, ACTZIP_FLOAT32, NULL, 0, 0),
               ACTZIP_BUFFER_TOO_SMALL);

  /* The wrong element type. */
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, size, ACTZIP_FLOAT64, back, n, 0), ACTZIP_DTYPE_MISMATCH);
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, size, ACTZIP_BFLOAT16, back, 2 * n, 0),
               ACTZIP_DTYPE_MISMATCH);

  /* Not a stream, truncated, damaged. */
  unsigned char garbage[256];
  for (int i = 0; i < 256; ++i) garbage[i] = (unsigned char)(i * 37 + 11);
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, garbage, sizeof garbage, ACTZIP_FLOAT32, back, n, 0),
               ACTZIP_NOT_A_STREAM);
  CHECK_STATUS(actzip_inspect(garbage, sizeof garbage, &h), ACTZIP_NOT_A_STREAM);
  CHECK_STATUS(actzip_inspect(stream, 3, &h), ACTZIP_NOT_A_STREAM);
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, size - 1, ACTZIP_FLOAT32, back, n, 0),
               ACTZIP_CORRUPT_STREAM);
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, 64, ACTZIP_FLOAT32, back, n, 0), ACTZIP_CORRUPT_STREAM);
  CHECK_STATUS(actzip_inspect(stream, size - 1, &h), ACTZIP_CORRUPT_STREAM);
  actzip_fault fault;
  CHECK_STATUS(actzip_diagnose(stream, size - 1, 0, &fault), ACTZIP_CORRUPT_STREAM);
  CHECK(fault.what != NULL && fault.offset == 112 && fault.chunk == UINT64_MAX);
  CHECK_STATUS(actzip_diagnose(stream, size, 0, &fault), ACTZIP_SUCCESS);
  CHECK(fault.what == NULL && fault.chunk == UINT64_MAX);
  CHECK_STATUS(actzip_verify(ACTZIP_EXEC_SERIAL, stream, size), ACTZIP_SUCCESS);
  CHECK_STATUS(actzip_verify(ACTZIP_EXEC_DEFAULT, stream, size), ACTZIP_SUCCESS);

  /* A damaged checksum field: refused, unless the check is skipped (the data is intact). */
  unsigned char* damaged = (unsigned char*)malloc(size);
  memcpy(damaged, stream, size);
  damaged[120] ^= 0x01;
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_DEFAULT, damaged, size, ACTZIP_FLOAT32, back, n, 0),
               ACTZIP_CHECKSUM_MISMATCH);
  CHECK_STATUS(actzip_verify(ACTZIP_EXEC_SERIAL, damaged, size), ACTZIP_CHECKSUM_MISMATCH);
  CHECK_STATUS(actzip_diagnose(damaged, size, 0, &fault), ACTZIP_CHECKSUM_MISMATCH);
  CHECK(fault.what != NULL && fault.offset == 120);
  CHECK_STATUS(actzip_diagnose(damaged, size, ACTZIP_DECODE_SKIP_CHECKSUM, &fault), ACTZIP_SUCCESS);
  memset(back, 0, sizeof back);
  CHECK_STATUS(
      actzip_decompress(ACTZIP_EXEC_DEFAULT, damaged, size, ACTZIP_FLOAT32, back, n, ACTZIP_DECODE_SKIP_CHECKSUM),
      ACTZIP_SUCCESS);
  int within = 1;
  for (int i = 0; i < n; ++i) within &= fabs((double)data[i] - (double)back[i]) <= 1e-4;
  CHECK(within);
  /* A damaged payload word: the checksum catches it. */
  memcpy(damaged, stream, size);
  damaged[size - 8] ^= 0x10;
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, damaged, size, ACTZIP_FLOAT32, back, n, 0),
               ACTZIP_CHECKSUM_MISMATCH);
  /* A damaged version field. */
  memcpy(damaged, stream, size);
  damaged[4] = 0x7F;
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, damaged, size, ACTZIP_FLOAT32, back, n, 0),
               ACTZIP_UNSUPPORTED_VERSION);
  free(damaged);
  /* Unknown flag bits. */
  CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_SERIAL, stream, size, ACTZIP_FLOAT32, back, n, 2u),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_diagnose(stream, size, 0x80000000u, NULL), ACTZIP_INVALID_ARGUMENT);

  /* Empty tensors: no data needed, a valid stream, nothing decoded. */
  const int64_t empty_1d[1] = {0};
  const int64_t empty_3d[3] = {3, 0, 4};
  const int64_t* empties[2] = {empty_1d, empty_3d};
  const int32_t ranks[2] = {1, 3};
  for (int k = 0; k < 2; ++k) {
    uint64_t capacity = 0, written = 0;
    CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT16, ranks[k], empties[k], &capacity), ACTZIP_SUCCESS);
    CHECK(capacity == 128 + 532); /* the header and the largest code book */
    CHECK_STATUS(actzip_compress(ACTZIP_EXEC_DEFAULT, NULL, ACTZIP_FLOAT16, ranks[k], empties[k], &p, stream, capacity,
                                 &written, NULL, 0),
                 ACTZIP_SUCCESS);
    CHECK(written == 128);
    CHECK_STATUS(actzip_inspect(stream, written, &h), ACTZIP_SUCCESS);
    CHECK(h.element_count == 0 && h.chunk_count == 0 && h.ndim == ranks[k] && h.dims[0] == empties[k][0]);
    CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_DEFAULT, stream, written, ACTZIP_FLOAT16, NULL, 0, 0), ACTZIP_SUCCESS);
    CHECK_STATUS(actzip_decompress(ACTZIP_EXEC_DEFAULT, stream, written, ACTZIP_FLOAT32, NULL, 0, 0),
                 ACTZIP_DTYPE_MISMATCH);
  }
}

/* ---- everything else --------------------------------------------------------------------- */

static void test_status_strings(void) {
  const char* expected[11] = {"success",
                              "invalid argument",
                              "unsupported",
                              "buffer too small",
                              "size overflow",
                              "element type does not match the stream",
                              "not an actzip stream",
                              "unsupported stream format version",
                              "corrupt or truncated stream",
                              "CUDA error",
                              "checksum mismatch (the stream is damaged)"};
  for (int32_t s = ACTZIP_SUCCESS; s <= ACTZIP_CHECKSUM_MISMATCH; ++s) {
    const char* text = actzip_status_string(s);
    CHECK(text != NULL && strcmp(text, expected[s]) == 0);
  }
  CHECK(strcmp(actzip_status_string(-1), "unknown status") == 0);
  CHECK(strcmp(actzip_status_string(11), "unknown status") == 0);
  CHECK(strcmp(actzip_status_string(INT32_MAX), "unknown status") == 0);
}

static void test_version(void) {
  actzip_version_info info;
  memset(&info, 0xFF, sizeof info);
  CHECK_STATUS(actzip_version(&info), ACTZIP_SUCCESS);
  char text[64];
  snprintf(text, sizeof text, "%u.%u.%u", (unsigned)info.major, (unsigned)info.minor, (unsigned)info.patch);
  CHECK(strcmp(text, actzip_version_string()) == 0);
  CHECK(info.format_version >= 2 && info.oldest_format_version >= 1 &&
        info.oldest_format_version <= info.format_version);
  CHECK(info.has_openmp <= 1 && info.has_cuda <= 1 && info.reserved == 0);
  CHECK(sizeof(actzip_params) == 24 && sizeof(actzip_header) == 144 && sizeof(actzip_version_info) == 32);
}

static void test_dlpack(void) {
  int32_t dtype = -1;
  uint8_t code = 0, bits = 0;
  CHECK_STATUS(actzip_dtype_from_dlpack(2, 32, 1, &dtype), ACTZIP_SUCCESS);
  CHECK(dtype == ACTZIP_FLOAT32);
  CHECK_STATUS(actzip_dtype_from_dlpack(2, 64, 1, &dtype), ACTZIP_SUCCESS);
  CHECK(dtype == ACTZIP_FLOAT64);
  CHECK_STATUS(actzip_dtype_from_dlpack(2, 16, 1, &dtype), ACTZIP_SUCCESS);
  CHECK(dtype == ACTZIP_FLOAT16);
  CHECK_STATUS(actzip_dtype_from_dlpack(4, 16, 1, &dtype), ACTZIP_SUCCESS);
  CHECK(dtype == ACTZIP_BFLOAT16);
  CHECK_STATUS(actzip_dtype_from_dlpack(2, 8, 1, &dtype), ACTZIP_UNSUPPORTED);  /* fp8 */
  CHECK_STATUS(actzip_dtype_from_dlpack(0, 32, 1, &dtype), ACTZIP_UNSUPPORTED); /* int32 */
  CHECK_STATUS(actzip_dtype_from_dlpack(5, 64, 1, &dtype), ACTZIP_UNSUPPORTED); /* complex64 */
  CHECK_STATUS(actzip_dtype_from_dlpack(2, 32, 4, &dtype), ACTZIP_UNSUPPORTED); /* float32x4 */
  CHECK_STATUS(actzip_dtype_from_dlpack(2, 32, 1, NULL), ACTZIP_INVALID_ARGUMENT);
  for (int32_t t = ACTZIP_FLOAT32; t <= ACTZIP_BFLOAT16; ++t) {
    CHECK_STATUS(actzip_dtype_to_dlpack(t, &code, &bits), ACTZIP_SUCCESS);
    CHECK(bits == 8 * actzip_dtype_size(t));
    CHECK_STATUS(actzip_dtype_from_dlpack(code, bits, 1, &dtype), ACTZIP_SUCCESS);
    CHECK(dtype == t);
  }
  CHECK_STATUS(actzip_dtype_to_dlpack(9, &code, &bits), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_dtype_to_dlpack(ACTZIP_FLOAT32, NULL, &bits), ACTZIP_INVALID_ARGUMENT);

  const int64_t dims[3] = {4, 70, 130};
  const int64_t compact[3] = {70 * 130, 130, 1};
  const int64_t column_major[3] = {1, 4, 4 * 70};
  const int64_t padded[3] = {70 * 256, 256, 1};
  const int64_t unit_dims[3] = {4, 1, 130};
  const int64_t unit_strides[3] = {130, 12345, 1};
  const int64_t empty_dims[2] = {0, 5};
  const int64_t odd[2] = {7, 3};
  CHECK_STATUS(actzip_is_compact(3, dims, NULL), ACTZIP_SUCCESS);
  CHECK_STATUS(actzip_is_compact(3, dims, compact), ACTZIP_SUCCESS);
  CHECK_STATUS(actzip_is_compact(3, dims, column_major), ACTZIP_UNSUPPORTED);
  CHECK_STATUS(actzip_is_compact(3, dims, padded), ACTZIP_UNSUPPORTED);
  CHECK_STATUS(actzip_is_compact(3, unit_dims, unit_strides), ACTZIP_SUCCESS);
  CHECK_STATUS(actzip_is_compact(2, empty_dims, odd), ACTZIP_SUCCESS);
  CHECK_STATUS(actzip_is_compact(0, dims, NULL), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_is_compact(2, NULL, NULL), ACTZIP_INVALID_ARGUMENT);
}

/* Without nvcc every CUDA function says ACTZIP_UNSUPPORTED. With the CUDA variant
 * (src/actzip_c.cu) the checks made before anything is enqueued: they need no GPU. */
static void test_cuda_functions(void) {
  const int64_t dims[1] = {1000};
  const int64_t bad_dims[1] = {-1};
  actzip_params p = actzip_params_absolute(1e-3);
  uint64_t bytes = 0, size_word = 0, capacity = 0;
  int32_t status_word = 0;
  static float x[1000];
  static uint64_t buffer[1024]; /* 8-byte aligned */
  actzip_version_info info;
  CHECK_STATUS(actzip_version(&info), ACTZIP_SUCCESS);
  if (!info.has_cuda) {
    CHECK_STATUS(actzip_cuda_workspace_bytes(1, dims, &bytes), ACTZIP_UNSUPPORTED);
    CHECK_STATUS(actzip_cuda_decode_workspace_bytes(&bytes), ACTZIP_UNSUPPORTED);
    CHECK_STATUS(actzip_cuda_compress(NULL, x, ACTZIP_FLOAT32, 1, dims, &p, buffer, sizeof buffer, &size_word, NULL, 0),
                 ACTZIP_UNSUPPORTED);
    CHECK_STATUS(actzip_cuda_decompress(NULL, buffer, sizeof buffer, ACTZIP_FLOAT32, x, 4, &status_word, NULL, 0, 0),
                 ACTZIP_UNSUPPORTED);
    CHECK(actzip_cuda_last_error() == 0);
    return;
  }
  CHECK_STATUS(actzip_cuda_workspace_bytes(1, dims, &bytes), ACTZIP_SUCCESS);
  CHECK(bytes > 0 && bytes % 8 == 0);
  CHECK_STATUS(actzip_cuda_workspace_bytes(1, dims, NULL), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_workspace_bytes(0, dims, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_workspace_bytes(1, bad_dims, &bytes), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_decode_workspace_bytes(&bytes), ACTZIP_SUCCESS);
  CHECK(bytes > 0 && bytes % 8 == 0);
  CHECK_STATUS(actzip_cuda_decode_workspace_bytes(NULL), ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_max_compressed_bytes(ACTZIP_FLOAT32, 1, dims, &capacity), ACTZIP_SUCCESS);
  CHECK(capacity <= sizeof buffer);
  /* Refused before anything is enqueued. */
  CHECK_STATUS(actzip_cuda_compress(NULL, x, ACTZIP_FLOAT32, 1, dims, &p, NULL, capacity, &size_word, buffer, 64),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_compress(NULL, x, ACTZIP_FLOAT32, 1, dims, &p, buffer, capacity, NULL, buffer, 64),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_compress(NULL, x, ACTZIP_FLOAT32, 1, dims, NULL, buffer, capacity, &size_word, buffer, 64),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_compress(NULL, x, 9, 1, dims, &p, buffer, capacity, &size_word, buffer, 64),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_compress(NULL, x, ACTZIP_FLOAT32, 4, dims, &p, buffer, capacity, &size_word, buffer, 64),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(
      actzip_cuda_compress(NULL, x, ACTZIP_FLOAT32, 1, dims, &p, (char*)buffer + 2, capacity, &size_word, buffer, 64),
      ACTZIP_INVALID_ARGUMENT); /* output not 4-byte aligned */
  CHECK_STATUS(actzip_cuda_compress(NULL, x, ACTZIP_FLOAT32, 1, dims, &p, buffer, capacity - 1, &size_word, buffer, 64),
               ACTZIP_BUFFER_TOO_SMALL); /* the GPU needs the full bound */
  p.codec = 4; /* no such codec */
  CHECK_STATUS(actzip_cuda_compress(NULL, x, ACTZIP_FLOAT32, 1, dims, &p, buffer, capacity, &size_word, buffer, 64),
               ACTZIP_UNSUPPORTED);
  CHECK_STATUS(actzip_cuda_decompress(NULL, NULL, 256, ACTZIP_FLOAT32, x, 4, &status_word, buffer, 64, 0),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_decompress(NULL, buffer, 256, ACTZIP_FLOAT32, x, 4, NULL, buffer, 64, 0),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_decompress(NULL, buffer, 256, ACTZIP_FLOAT32, x, 4, &status_word, buffer, 64, 4u),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_decompress(NULL, buffer, 256, 0, x, 4, &status_word, buffer, 64, 0),
               ACTZIP_INVALID_ARGUMENT);
  CHECK_STATUS(actzip_cuda_decompress(NULL, buffer, 256, ACTZIP_FLOAT32, x, 4, &status_word, NULL, 0, 0),
               ACTZIP_BUFFER_TOO_SMALL); /* no workspace to verify the checksum in */
}

int main(void) {
  actzip_version_info info;
  if (actzip_version(&info) == ACTZIP_SUCCESS)
    printf("actzip %s, stream format %u, OpenMP %u, CUDA %u\n", actzip_version_string(), (unsigned)info.format_version,
           (unsigned)info.has_openmp, (unsigned)info.has_cuda);
  test_status_strings();
  test_version();
  test_dlpack();
  test_round_trips();
  test_errors();
  test_cuda_functions();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
