// SPDX-License-Identifier: Apache-2.0
//
// The translation unit bench/kernel-report.sh compiles (never run): it instantiates
// every kernel of the CUDA executor for the four element types through the core
// layer's entry points, so ptxas reports each kernel's registers, spills and shared
// memory, and the PTX can be searched for divisions. The dynamic shared memory a
// kernel gets for some tensors only is published as a variable named
// actzip_report_dynamic_smem_<kernel>, whose value the PTX shows.
#include <actzip/cuda.cuh>

//! compress_kernel's dynamic shared memory for Huffman and automatic tensors.
extern "C" __device__ unsigned actzip_report_dynamic_smem_compress_kernel =
    sizeof(actzip::detail::gpu::compress_huffman_shared);

namespace {

template <class T>
[[maybe_unused]] actzip::status instantiate(const actzip::exec::cuda_t& e, const T* in, T* out, void* stream,
                                            std::uint64_t* size, actzip::status* status, void* work) {
  const actzip::extents shape{64, 64, 64};
  const actzip::status s = actzip::compress(e, in, shape, actzip::params{actzip::rel(1e-3)}, stream, 1u << 20, size,
                                            work, 1u << 20);
  if (s != actzip::status::success) return s;
  return actzip::decompress(e, stream, 1u << 20, out, shape.size(), status, work, 1u << 20);
}

}  // namespace

actzip::status kernel_report_instantiations(const actzip::exec::cuda_t& e, void* in, void* out, void* stream,
                                            std::uint64_t* size, actzip::status* status, void* work) {
  const actzip::status s[4] = {
      instantiate(e, static_cast<const float*>(in), static_cast<float*>(out), stream, size, status, work),
      instantiate(e, static_cast<const double*>(in), static_cast<double*>(out), stream, size, status, work),
      instantiate(e, static_cast<const actzip::half*>(in), static_cast<actzip::half*>(out), stream, size, status, work),
      instantiate(e, static_cast<const actzip::bfloat16*>(in), static_cast<actzip::bfloat16*>(out), stream, size,
                  status, work)};
  for (const actzip::status one : s)
    if (one != actzip::status::success) return one;
  return actzip::status::success;
}
