/* SPDX-License-Identifier: Apache-2.0
 *
 * The actzip HDF5 filter from C (H5Pset_filter), with Debian's libhdf5, loaded as a
 * plugin from HDF5_PLUGIN_PATH: round trips of every float type HDF5 holds (float16,
 * bfloat16, float32, float64, big-endian) at rank 1 to 4 with chunks that do not
 * divide the dataset, absolute and relative bounds with every element checked, fill
 * values kept exactly, integer types and bad client data refused when the dataset is
 * created, and a damaged chunk refused with an HDF5 error carrying actzip's message.
 *
 *   HDF5_PLUGIN_PATH=<dir of libh5actzip.so> ./h5filter <scratch dir>
 *
 * Prints one line per check and "N passed, N failed"; exits 1 on any failure.
 */
#include <actzip/hdf5_filter.h>
#include <hdf5.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0, failed = 0;
static char scratch[1024];

static void check(int ok, const char* what) {
  printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (ok) ++passed; else ++failed;
}

/* ---- HDF5's error stack as text ----------------------------------------------------- */
static char error_text[8192];
static herr_t collect(unsigned n, const H5E_error2_t* e, void* data) {
  (void)n;
  (void)data;
  size_t used = strlen(error_text);
  if (e->desc != NULL && used + strlen(e->desc) + 3 < sizeof error_text) {
    strcat(error_text, e->desc);
    strcat(error_text, " | ");
  }
  return 0;
}
static void capture_errors(void) {
  error_text[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, NULL);
  H5Eclear2(H5E_DEFAULT);
}

/* ---- element types ----------------------------------------------------------------- */
enum kind { F32, F64, F16, BF16, F32BE };
static const char* kind_name[] = {"float32", "float64", "float16", "bfloat16", "float32 big-endian"};

static hid_t file_type(enum kind k) {
  hid_t t;
  switch (k) {
    case F32: return H5Tcopy(H5T_IEEE_F32LE);
    case F64: return H5Tcopy(H5T_IEEE_F64LE);
    case F32BE: return H5Tcopy(H5T_IEEE_F32BE);
    case F16:
      t = H5Tcopy(H5T_IEEE_F32LE);
      H5Tset_fields(t, 15, 10, 5, 0, 10);
      H5Tset_size(t, 2);
      H5Tset_ebias(t, 15);
      return t;
    case BF16:
      t = H5Tcopy(H5T_IEEE_F32LE);
      H5Tset_fields(t, 15, 7, 8, 0, 7);
      H5Tset_size(t, 2);
      H5Tset_ebias(t, 127);
      return t;
  }
  return -1;
}

/* The tolerance a 16-bit type adds: HDF5 converts the double values to the file type
 * (rounding), the filter keeps the bound on those; compare with what HDF5 stored. */
static double smooth(size_t i, size_t n) {
  return 20.0 * sin(0.002 * (double)i) + 3.0 * cos(0.013 * (double)(i % 97)) + (double)(i % 7) / n;
}

/* Writes `n` doubles of shape dims/chunk as type k with the filter and client data
 * `cd`, reads them back as doubles, and returns the largest error against what HDF5
 * reads from the same data without the filter (the file type's own rounding). */
static double round_trip(enum kind k, int rank, const hsize_t* dims, const hsize_t* chunk, const unsigned* cd,
                         const double* fill, double* data, size_t n, int partial) {
  char path[1100];
  snprintf(path, sizeof path, "%s/c-roundtrip.h5", scratch);
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t space = H5Screate_simple(rank, dims, NULL);
  hid_t type = file_type(k);
  double worst = -1.0;
  for (int filtered = 0; filtered < 2; ++filtered) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    if (fill != NULL) H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, fill);
    if (filtered) H5Pset_filter(dcpl, ACTZIP_H5Z_FILTER_ID, H5Z_FLAG_MANDATORY, ACTZIP_H5Z_USER_VALUES, cd);
    hid_t dset = H5Dcreate2(file, filtered ? "filtered" : "plain", type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    if (dset < 0) {
      capture_errors();
      printf("  H5Dcreate2 failed: %s\n", error_text);
      break;
    }
    herr_t w;
    if (partial) { /* only the first half of the first dimension: the rest stays the fill value */
      hsize_t start[32] = {0}, count[32];
      for (int i = 0; i < rank; ++i) count[i] = dims[i];
      count[0] = dims[0] / 2;
      hid_t mem = H5Screate_simple(rank, count, NULL);
      H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
      w = H5Dwrite(dset, H5T_NATIVE_DOUBLE, mem, space, H5P_DEFAULT, data);
      H5Sselect_all(space);
      H5Sclose(mem);
    } else {
      w = H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    }
    H5Dclose(dset);
    if (w < 0) {
      capture_errors();
      printf("  H5Dwrite failed: %s\n", error_text);
      break;
    }
    if (filtered) worst = 0.0;
  }
  H5Tclose(type);
  H5Sclose(space);
  H5Fclose(file);
  if (worst < 0) return -1.0;

  file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  double* plain = malloc(n * sizeof(double));
  double* back = malloc(n * sizeof(double));
  hid_t a = H5Dopen2(file, "plain", H5P_DEFAULT), b = H5Dopen2(file, "filtered", H5P_DEFAULT);
  herr_t r1 = H5Dread(a, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, plain);
  herr_t r2 = H5Dread(b, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, back);
  if (r1 < 0 || r2 < 0) {
    capture_errors();
    printf("  H5Dread failed: %s\n", error_text);
    worst = -1.0;
  } else {
    for (size_t i = 0; i < n; ++i) {
      if (fill != NULL && plain[i] == *fill) { /* fill values come back exactly */
        if (back[i] != *fill) worst = INFINITY;
        continue;
      }
      const double e = fabs(plain[i] - back[i]);
      if (!(e <= worst)) worst = e; /* NaN counts as the worst */
    }
  }
  H5Dclose(a);
  H5Dclose(b);
  H5Fclose(file);
  free(plain);
  free(back);
  return worst;
}

static double* field(size_t n) {
  double* d = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; ++i) d[i] = smooth(i, n);
  return d;
}

static void test_round_trips(void) {
  const hsize_t dims1[] = {10007}, chunk1[] = {1000};
  const hsize_t dims2[] = {123, 77}, chunk2[] = {50, 32};
  const hsize_t dims3[] = {21, 37, 45}, chunk3[] = {8, 16, 16};
  const hsize_t dims4[] = {3, 5, 19, 23}, chunk4[] = {2, 2, 8, 16};
  const hsize_t* dims[] = {dims1, dims2, dims3, dims4};
  const hsize_t* chunks[] = {chunk1, chunk2, chunk3, chunk4};
  const double bounds[] = {1e-2, 1e-3};
  for (int k = F32; k <= F32BE; ++k)
    for (int rank = 1; rank <= 4; ++rank)
      for (int codec = ACTZIP_H5Z_CODEC_BITPLANE; codec <= ACTZIP_H5Z_CODEC_AUTOMATIC; ++codec) {
        size_t n = 1;
        for (int i = 0; i < rank; ++i) n *= (size_t)dims[rank - 1][i];
        double* data = field(n);
        /* 16-bit types have 3 or 2 significant decimal digits: bounds their spacing allows */
        const double bound = (k == F16 || k == BF16) ? 0.25 : bounds[codec % 2];
        unsigned cd[ACTZIP_H5Z_USER_VALUES];
        actzip_h5z_client_data(ACTZIP_H5Z_BOUND_ABSOLUTE, bound, codec, 0, cd);
        const double e = round_trip((enum kind)k, rank, dims[rank - 1], chunks[rank - 1], cd, NULL, data, n, 0);
        char what[200];
        snprintf(what, sizeof what, "%s rank %d codec %d abs %g: max error %g", kind_name[k], rank, codec, bound, e);
        check(e >= 0 && e <= bound, what);
        free(data);
      }
}

static void test_relative_and_fill(void) {
  const hsize_t dims[] = {40, 90, 70}, chunk[] = {16, 32, 32};
  const size_t n = 40 * 90 * 70;
  double* data = field(n);
  unsigned cd[ACTZIP_H5Z_USER_VALUES];
  /* relative: 1e-3 of each chunk's range, which is at most the whole range */
  double low = data[0], high = data[0];
  for (size_t i = 0; i < n; ++i) { /* the range of the float32 values the filter sees */
    const double v = (double)(float)data[i];
    low = v < low ? v : low;
    high = v > high ? v : high;
  }
  actzip_h5z_client_data(ACTZIP_H5Z_BOUND_RELATIVE, 1e-3, ACTZIP_H5Z_CODEC_HUFFMAN, 0, cd);
  double e = round_trip(F32, 3, dims, chunk, cd, NULL, data, n, 0);
  char what[200];
  snprintf(what, sizeof what, "float32 relative 1e-3: max error %g <= 1e-3 * range %g", e, 1e-3 * (high - low));
  check(e >= 0 && e <= 1e-3 * (high - low), what);

  /* fill values: land as -1e34 (beyond the quantizer) and as -99.5 (inside it), in a
   * dataset written only half: unwritten chunks, partly written chunks and fill
   * values inside written data all read back the fill value exactly */
  const double fills[] = {-1e34, -99.5};
  for (int f = 0; f < 2; ++f) {
    for (size_t i = 0; i < n; ++i) data[i] = (i % 11 == 3 || (i / 4000) % 3 == 1) ? fills[f] : smooth(i, n);
    for (int mode = ACTZIP_H5Z_BOUND_ABSOLUTE; mode <= ACTZIP_H5Z_BOUND_RELATIVE; ++mode) {
      actzip_h5z_client_data(mode, mode == ACTZIP_H5Z_BOUND_ABSOLUTE ? 1e-2 : 1e-3, ACTZIP_H5Z_CODEC_HUFFMAN, 0, cd);
      e = round_trip(F32, 3, dims, chunk, cd, &fills[f], data, n, 1);
      /* relative: the range of the values other than the fill value */
      const double allowed = mode == ACTZIP_H5Z_BOUND_ABSOLUTE ? 1e-2 : 1e-3 * (high - low);
      snprintf(what, sizeof what, "fill value %g, %s bound, half written: fills exact, max error %g <= %g", fills[f],
               mode == ACTZIP_H5Z_BOUND_ABSOLUTE ? "absolute" : "relative", e, allowed);
      check(e >= 0 && e <= allowed, what);
    }
  }
  free(data);
}

/* Creating a dataset with the filter; returns its id or -1 with the error text kept. */
static hid_t create(hid_t file, const char* name, hid_t type, const unsigned* cd, size_t ncd) {
  const hsize_t dims[] = {100}, chunk[] = {10};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, chunk);
  H5Pset_filter(dcpl, ACTZIP_H5Z_FILTER_ID, H5Z_FLAG_MANDATORY, ncd, cd);
  hid_t dset;
  H5E_BEGIN_TRY { dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT); }
  H5E_END_TRY;
  if (dset < 0) capture_errors();
  H5Pclose(dcpl);
  H5Sclose(space);
  return dset;
}

static void test_refusals(void) {
  char path[1100];
  snprintf(path, sizeof path, "%s/c-refusals.h5", scratch);
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  unsigned cd[ACTZIP_H5Z_USER_VALUES];
  actzip_h5z_client_data(ACTZIP_H5Z_BOUND_ABSOLUTE, 1e-3, ACTZIP_H5Z_CODEC_HUFFMAN, 0, cd);
  const hid_t refused_types[] = {H5T_STD_I32LE, H5T_STD_U8LE, H5T_STD_I64BE, H5T_NATIVE_LDOUBLE};
  const char* names[] = {"int32", "uint8", "int64 big-endian", "long double"};
  for (int i = 0; i < 4; ++i) {
    hid_t d = create(file, names[i], refused_types[i], cd, ACTZIP_H5Z_USER_VALUES);
    char what[300];
    snprintf(what, sizeof what, "%s refused when the dataset is created, with actzip's reason", names[i]);
    check(d < 0 && strstr(error_text, "actzip filter compresses") != NULL, what);
    if (d >= 0) H5Dclose(d);
  }
  unsigned bad[ACTZIP_H5Z_USER_VALUES];
  actzip_h5z_client_data(ACTZIP_H5Z_BOUND_ABSOLUTE, -1.0, ACTZIP_H5Z_CODEC_HUFFMAN, 0, bad);
  hid_t d = create(file, "negative", H5T_IEEE_F32LE, bad, ACTZIP_H5Z_USER_VALUES);
  check(d < 0 && strstr(error_text, "is not a finite absolute bound") != NULL, "a negative bound is refused");
  actzip_h5z_client_data(ACTZIP_H5Z_BOUND_ABSOLUTE, 1e-3, 9, 0, bad);
  d = create(file, "codec", H5T_IEEE_F32LE, bad, ACTZIP_H5Z_USER_VALUES);
  check(d < 0 && strstr(error_text, "codec 9") != NULL, "an unknown codec is refused");
  d = create(file, "short", H5T_IEEE_F32LE, cd, 3);
  check(d < 0 && strstr(error_text, "client-data values") != NULL, "too few client-data values are refused");
  H5Fclose(file);
}

/* Damages one byte of the first chunk of a filtered dataset; the read must fail with
 * actzip's message, and the other chunks still read. */
static void test_damage(void) {
  char path[1100];
  snprintf(path, sizeof path, "%s/c-damage.h5", scratch);
  const hsize_t dims[] = {64, 64}, chunk[] = {32, 64};
  float data[64 * 64];
  for (int i = 0; i < 64 * 64; ++i) data[i] = (float)smooth((size_t)i, 4096);
  unsigned cd[ACTZIP_H5Z_USER_VALUES];
  actzip_h5z_client_data(ACTZIP_H5Z_BOUND_ABSOLUTE, 1e-3, ACTZIP_H5Z_CODEC_HUFFMAN, 0, cd);
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t space = H5Screate_simple(2, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk);
  H5Pset_filter(dcpl, ACTZIP_H5Z_FILTER_ID, H5Z_FLAG_MANDATORY, ACTZIP_H5Z_USER_VALUES, cd);
  hid_t dset = H5Dcreate2(file, "x", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  const hsize_t origin[] = {0, 0};
  haddr_t address = 0;
  hsize_t size = 0;
  H5Dget_chunk_info_by_coord(dset, origin, NULL, &address, &size);
  H5Pclose(dcpl);
  H5Dclose(dset);
  H5Sclose(space);
  H5Fclose(file);
  check(address != 0 && size > 200, "the first chunk's address and size");

  const long offsets[] = {150, (long)size / 2, (long)size - 1};
  for (int t = 0; t < 3; ++t) {
    FILE* f = fopen(path, "r+b");
    fseek(f, (long)address + offsets[t], SEEK_SET);
    int c = fgetc(f);
    fseek(f, (long)address + offsets[t], SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
    float back[64 * 64];
    for (int i = 0; i < 64 * 64; ++i) back[i] = -7.0f;
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    dset = H5Dopen2(file, "x", H5P_DEFAULT);
    herr_t r;
    H5E_BEGIN_TRY { r = H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back); }
    H5E_END_TRY;
    capture_errors();
    char what[400];
    snprintf(what, sizeof what, "a byte flipped at chunk byte %ld: read refused with actzip's message (%.120s)",
             offsets[t], error_text);
    check(r < 0 && strstr(error_text, "chunk refused: actzip: ") != NULL, what);
    /* the undamaged chunk still reads, within the bound */
    const hsize_t start[] = {32, 0}, count[] = {32, 64};
    hid_t fspace = H5Dget_space(dset);
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mspace = H5Screate_simple(2, count, NULL);
    r = H5Dread(dset, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, back);
    double e = 0;
    for (int i = 0; i < 32 * 64; ++i) e = fmax(e, fabs((double)back[i] - (double)data[32 * 64 + i]));
    check(r >= 0 && e <= 1e-3, "the other chunk still reads within the bound");
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(dset);
    H5Fclose(file);
    /* repair the byte for the next damage */
    f = fopen(path, "r+b");
    fseek(f, (long)address + offsets[t], SEEK_SET);
    fputc(c, f);
    fclose(f);
  }
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: HDF5_PLUGIN_PATH=<plugin dir> %s <scratch dir>\n", argv[0]);
    return 2;
  }
  snprintf(scratch, sizeof scratch, "%s", argv[1]);
  check(H5Zfilter_avail(ACTZIP_H5Z_FILTER_ID) > 0, "the filter loads from HDF5_PLUGIN_PATH");
  test_round_trips();
  test_relative_and_fill();
  test_refusals();
  test_damage();
  printf("h5filter: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
