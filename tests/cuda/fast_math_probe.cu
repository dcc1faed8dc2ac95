// SPDX-License-Identifier: Apache-2.0
//
// Kernels that run every floating-point operation of the quantizer path in device
// code, for float, double, half and bfloat16: make_quantizer, quantize_index,
// quantize_element, quantize_run, reconstruct, reconstruct_run, within_bound,
// absolute_from_relative, the element-type conversions and the order keys of the
// range pass. Never run: fast_math_ptx.cmake compiles this file to PTX with and
// without --use_fast_math and checks that the two are identical and free of
// flush-to-zero, approximate and fused instructions (test_fast_math_ptx).
#include <actzip/core/bits.hpp>
#include <actzip/core/dtype.hpp>
#include <actzip/core/ieee.hpp>
#include <actzip/stages/quantize.hpp>

#include <cstdint>

namespace actzip_probe {

using namespace actzip;

//! Outputs of one probe thread (written so that nothing is optimised away).
template <class T, class C>
struct probe_out {
  quantizer<C> qz;
  double absolute;
  std::int32_t index;
  std::int32_t element_index;
  bool lossless;
  bool within;
  T back;
  C compute;
  std::uint64_t key;
  C from_key;
};

template <class T>
__global__ void quantizer_probe(const T* in, double bound, double relative, bool preserve_sign,
                                probe_out<T, typename dtype_traits<T>::compute_type>* out) {
  using C = typename dtype_traits<T>::compute_type;
  const unsigned i = threadIdx.x;
  probe_out<T, C> o;
  const C lo = dtype_traits<T>::to_compute(in[0]), hi = dtype_traits<T>::to_compute(in[1]);
  o.absolute = absolute_from_relative(relative, detail::ieee::to_double(lo), detail::ieee::to_double(hi));
  o.qz = make_quantizer<C>(i == 0 ? o.absolute : bound, preserve_sign);
  const T x = in[i];
  o.compute = dtype_traits<T>::to_compute(x);
  o.index = quantize_index(o.compute, o.qz);
  o.element_index = quantize_element(x, o.qz, &o.lossless);
  o.back = reconstruct<T>(o.index, o.qz);
  o.within = within_bound(x, o.back, o.qz);
  o.key = order_key(o.compute);
  o.from_key = from_order_key<C>(o.key);
  out[i] = o;
}

//! The run functions the per-chunk stages call (chunk.hpp), over 64 elements.
template <class T>
__global__ void run_probe(const T* in, double bound, bool preserve_sign, std::uint32_t* q, unsigned char* keep,
                          T* back) {
  using C = typename dtype_traits<T>::compute_type;
  const quantizer<C> qz = make_quantizer<C>(bound, preserve_sign);
  const unsigned offset = threadIdx.x * 64;
  quantize_run(in + offset, 64, qz, q + offset, keep + offset);
  reconstruct_run(q + offset, 64, qz, back + offset);
}

//! Each wrapper of core/ieee.hpp on its own, for float and double.
template <class C>
__global__ void ieee_probe(const C* a, const C* b, C* r, unsigned* flags, double* wide, float* narrow,
                           std::int32_t* ints) {
  namespace ieee = detail::ieee;
  const unsigned i = threadIdx.x;
  r[8 * i + 0] = ieee::add(a[i], b[i]);
  r[8 * i + 1] = ieee::sub(a[i], b[i]);
  r[8 * i + 2] = ieee::mul(a[i], b[i]);
  r[8 * i + 3] = ieee::div(a[i], b[i]);
  r[8 * i + 4] = ieee::neg(a[i]);
  r[8 * i + 5] = ieee::round_to_integer(a[i]);
  r[8 * i + 6] = ieee::from_int<C>(ints[i]);
  r[8 * i + 7] = detail::round_to_nearest_even(b[i]);
  ints[i] = ieee::to_int(b[i]);
  flags[i] = unsigned(ieee::lt(a[i], b[i])) | unsigned(ieee::gt(a[i], b[i])) << 1 |
             unsigned(ieee::le(a[i], b[i])) << 2 | unsigned(ieee::eq(a[i], b[i])) << 3 |
             unsigned(ieee::ne(a[i], b[i])) << 4;
  wide[i] = ieee::to_double(a[i]);
  narrow[i] = ieee::to_float(ieee::to_double(b[i]));
}

template __global__ void quantizer_probe<float>(const float*, double, double, bool, probe_out<float, float>*);
template __global__ void quantizer_probe<double>(const double*, double, double, bool, probe_out<double, double>*);
template __global__ void quantizer_probe<half>(const half*, double, double, bool, probe_out<half, float>*);
template __global__ void quantizer_probe<bfloat16>(const bfloat16*, double, double, bool, probe_out<bfloat16, float>*);
template __global__ void run_probe<float>(const float*, double, bool, std::uint32_t*, unsigned char*, float*);
template __global__ void run_probe<double>(const double*, double, bool, std::uint32_t*, unsigned char*, double*);
template __global__ void run_probe<half>(const half*, double, bool, std::uint32_t*, unsigned char*, half*);
template __global__ void run_probe<bfloat16>(const bfloat16*, double, bool, std::uint32_t*, unsigned char*, bfloat16*);
template __global__ void ieee_probe<float>(const float*, const float*, float*, unsigned*, double*, float*,
                                           std::int32_t*);
template __global__ void ieee_probe<double>(const double*, const double*, double*, unsigned*, double*, float*,
                                            std::int32_t*);

}  // namespace actzip_probe
