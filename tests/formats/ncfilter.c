/* SPDX-License-Identifier: Apache-2.0
 *
 * The actzip HDF5 filter through netCDF-C's nc_def_var_filter (Debian's libnetcdf),
 * loaded from HDF5_PLUGIN_PATH: a float and a double variable with netCDF's default
 * fill value in unwritten records, chunks that do not divide the variable, every
 * value checked against the bound, the filter's parameters read back with
 * nc_inq_var_filter_info, and an integer variable refused.
 *
 *   HDF5_PLUGIN_PATH=<dir of libh5actzip.so> ./ncfilter <scratch dir>
 */
#include <actzip/hdf5_filter.h>
#include <netcdf.h>
#include <netcdf_filter.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int passed = 0, failed = 0;
static void check(int ok, const char* what) {
  printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (ok) ++passed; else ++failed;
}

enum { T = 10, Y = 73, X = 144, WRITTEN = 7 };

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: HDF5_PLUGIN_PATH=<plugin dir> %s <scratch dir>\n", argv[0]);
    return 2;
  }
  char path[1100];
  snprintf(path, sizeof path, "%s/nc-filter.nc", argv[1]);
  static float u[T * Y * X];
  static double w[T * Y * X];
  for (int i = 0; i < T * Y * X; ++i) {
    u[i] = (float)(12.0 * sin(0.001 * i) + 2.0 * cos(0.05 * (i % X)));
    w[i] = 280.0 + 15.0 * sin(0.0007 * i);
  }
  unsigned cd[ACTZIP_H5Z_USER_VALUES], cd_rel[ACTZIP_H5Z_USER_VALUES];
  actzip_h5z_client_data(ACTZIP_H5Z_BOUND_ABSOLUTE, 1e-2, ACTZIP_H5Z_CODEC_HUFFMAN, 0, cd);
  actzip_h5z_client_data(ACTZIP_H5Z_BOUND_RELATIVE, 1e-4, ACTZIP_H5Z_CODEC_AUTOMATIC, 0, cd_rel);

  int nc, dims[3], vu, vw, vi;
  int s = nc_create(path, NC_NETCDF4 | NC_CLOBBER, &nc);
  nc_def_dim(nc, "time", NC_UNLIMITED, &dims[0]);
  nc_def_dim(nc, "lat", Y, &dims[1]);
  nc_def_dim(nc, "lon", X, &dims[2]);
  const size_t chunk[] = {4, 40, 64};
  s |= nc_def_var(nc, "u", NC_FLOAT, 3, dims, &vu);
  s |= nc_def_var_chunking(nc, vu, NC_CHUNKED, chunk);
  s |= nc_def_var_filter(nc, vu, ACTZIP_H5Z_FILTER_ID, ACTZIP_H5Z_USER_VALUES, cd);
  s |= nc_def_var(nc, "w", NC_DOUBLE, 3, dims, &vw);
  s |= nc_def_var_chunking(nc, vw, NC_CHUNKED, chunk);
  s |= nc_def_var_filter(nc, vw, ACTZIP_H5Z_FILTER_ID, ACTZIP_H5Z_USER_VALUES, cd_rel);
  check(s == NC_NOERR, "nc_def_var_filter on a float and a double variable");
  const size_t start[] = {0, 0, 0}, count[] = {WRITTEN, Y, X};  /* records 7..9 stay the fill value */
  s = nc_put_vara_float(nc, vu, start, count, u);
  s |= nc_put_vara_double(nc, vw, start, count, w);
  const size_t last[] = {T - 1, 0, 0}, one[] = {1, 1, 1};
  const float u_last = 1.5f;
  const double w_last = 290.0;
  s |= nc_put_vara_float(nc, vu, last, one, &u_last);
  s |= nc_put_vara_double(nc, vw, last, one, &w_last);
  s |= nc_close(nc);
  check(s == NC_NOERR, "writing and closing");

  static float ub[T * Y * X];
  static double wb[T * Y * X];
  s = nc_open(path, NC_NOWRITE, &nc);
  s |= nc_inq_varid(nc, "u", &vu);
  s |= nc_inq_varid(nc, "w", &vw);
  size_t nfilters = 0, nparams = 0;
  unsigned ids[4], params[ACTZIP_H5Z_MAX_VALUES];
  s |= nc_inq_var_filter_ids(nc, vu, &nfilters, ids);
  s |= nc_inq_var_filter_info(nc, vu, ACTZIP_H5Z_FILTER_ID, &nparams, params);
  check(s == NC_NOERR && nfilters == 1 && ids[0] == ACTZIP_H5Z_FILTER_ID && nparams == ACTZIP_H5Z_CD_CHUNK + 3 &&
            params[ACTZIP_H5Z_CD_DTYPE] == 1 && params[ACTZIP_H5Z_CD_CHUNK + 1] == 40 &&
            (params[ACTZIP_H5Z_CD_FLAGS] & ACTZIP_H5Z_FLAG_FILL_VALUE),
        "nc_inq_var_filter_info: the client data with the type, chunk and fill value recorded");
  s |= nc_get_var_float(nc, vu, ub);
  s |= nc_get_var_double(nc, vw, wb);
  s |= nc_close(nc);
  check(s == NC_NOERR, "reading both variables back");
  double eu = 0, ew = 0;
  int fills_exact = 1;
  for (int i = 0; i < T * Y * X; ++i) {
    const int record = i / (Y * X);
    if (record < WRITTEN) {
      eu = fmax(eu, fabs((double)ub[i] - (double)u[i]));
      ew = fmax(ew, fabs(wb[i] - w[i]));
    } else if (i == (T - 1) * Y * X) {
      eu = fmax(eu, fabs((double)ub[i] - (double)u_last));
      ew = fmax(ew, fabs(wb[i] - w_last));
    } else {
      fills_exact &= ub[i] == NC_FILL_FLOAT && wb[i] == NC_FILL_DOUBLE;
    }
  }
  char what[200];
  snprintf(what, sizeof what, "float within 1e-2 (max error %g)", eu);
  check(eu <= 1e-2, what);
  /* relative 1e-4 of a chunk's range of non-fill values: at most 1e-4 * 30 */
  snprintf(what, sizeof what, "double within 1e-4 of each chunk's range (max error %g <= %g)", ew, 1e-4 * 30.0);
  check(ew <= 1e-4 * 30.0, what);
  check(fills_exact, "unwritten values read back as netCDF's fill values, exactly");

  /* an integer variable: refused when netCDF creates the HDF5 dataset */
  snprintf(path, sizeof path, "%s/nc-int.nc", argv[1]);
  s = nc_create(path, NC_NETCDF4 | NC_CLOBBER, &nc);
  nc_def_dim(nc, "n", 100, &dims[0]);
  s |= nc_def_var(nc, "i", NC_INT, 1, dims, &vi);
  const size_t ichunk[] = {10};
  s |= nc_def_var_chunking(nc, vi, NC_CHUNKED, ichunk);
  int sf = nc_def_var_filter(nc, vi, ACTZIP_H5Z_FILTER_ID, ACTZIP_H5Z_USER_VALUES, cd);
  int se = sf == NC_NOERR ? nc_enddef(nc) : sf;
  int sc = nc_close(nc);
  snprintf(what, sizeof what, "an int variable is refused (%s)", nc_strerror(se));
  check(s == NC_NOERR && (se != NC_NOERR || sc != NC_NOERR), what);

  printf("ncfilter: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
