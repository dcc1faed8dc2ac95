// SPDX-License-Identifier: Apache-2.0
//
// Compiles the shared per-chunk stages (ACTZIP_HD functions) as device code for
// every element type and links a program that runs them on a GPU with one thread
// per chunk, comparing with the host encoder. Without a GPU it exits 77 (skipped).
#include <actzip/actzip.hpp>
#include <actzip/stages/chunk.hpp>

#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace {

template <class T>
__global__ void encode_sizes(const T* data, actzip::chunk_geometry g, actzip::quantizer<typename actzip::dtype_traits<T>::compute_type> q,
                             actzip::chunk_scratch<T>* scratch, std::uint32_t* sizes) {
  const std::uint64_t chunk = blockIdx.x * 1ull * blockDim.x + threadIdx.x;
  if (chunk >= g.count) return;
  sizes[chunk] = actzip::encode_chunk(data, g, chunk, q, scratch[chunk], nullptr);
}

template <class T>
__global__ void decode_one(const unsigned char* bytes, std::uint64_t size, actzip::chunk_geometry g,
                           actzip::quantizer<typename actzip::dtype_traits<T>::compute_type> q,
                           actzip::chunk_scratch<T>* scratch, T* out, int* failed) {
  actzip::chunk_view view;
  const std::uint32_t n = g.chunk_box(0).extent.count();
  if (actzip::parse_chunk(bytes, size, n, sizeof(T), &view) != actzip::status::success) {
    *failed = 1;
    return;
  }
  actzip::decode_chunk(view, g, 0, q, *scratch, out);
}

#define CHECK_CUDA(call)                                                                    \
  do {                                                                                      \
    const cudaError_t err_ = (call);                                                        \
    if (err_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorName(err_)); \
      return 1;                                                                             \
    }                                                                                       \
  } while (0)

template <class T>
int check_type() {
  using C = typename actzip::dtype_traits<T>::compute_type;
  const actzip::extents shape{20, 30, 40};
  std::vector<T> host(shape.size());
  for (std::size_t i = 0; i < host.size(); ++i)
    host[i] = actzip::dtype_traits<T>::from_compute(static_cast<C>(0.001 * static_cast<double>(i % 977)));
  const actzip::chunk_geometry g = actzip::make_chunk_geometry(shape);
  const auto q = actzip::make_quantizer<C>(1e-3, false);
  std::vector<std::uint32_t> expected(g.count);
  {
    auto s = new actzip::chunk_scratch<T>;
    for (std::uint64_t c = 0; c < g.count; ++c) expected[c] = actzip::encode_chunk(host.data(), g, c, q, *s, nullptr);
    delete s;
  }
  T* data = nullptr;
  actzip::chunk_scratch<T>* scratch = nullptr;
  std::uint32_t* sizes = nullptr;
  CHECK_CUDA(cudaMalloc(&data, host.size() * sizeof(T)));
  CHECK_CUDA(cudaMalloc(&scratch, g.count * sizeof(actzip::chunk_scratch<T>)));
  CHECK_CUDA(cudaMalloc(&sizes, g.count * sizeof(std::uint32_t)));
  CHECK_CUDA(cudaMemcpy(data, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  encode_sizes<T><<<static_cast<unsigned>((g.count + 63) / 64), 64>>>(data, g, q, scratch, sizes);
  CHECK_CUDA(cudaGetLastError());
  std::vector<std::uint32_t> got(g.count);
  CHECK_CUDA(cudaMemcpy(got.data(), sizes, g.count * sizeof(std::uint32_t), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaFree(data));
  CHECK_CUDA(cudaFree(scratch));
  CHECK_CUDA(cudaFree(sizes));
  if (got != expected) {
    std::fprintf(stderr, "device chunk sizes differ from the host ones (%s)\n", actzip::to_string(actzip::dtype_traits<T>::code));
    return 1;
  }
  std::printf("device chunk sizes match the host (%s, %llu chunks)\n", actzip::to_string(actzip::dtype_traits<T>::code),
              static_cast<unsigned long long>(g.count));
  (void)&decode_one<T>;
  return 0;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  int failures = 0;
  failures += check_type<float>();
  failures += check_type<double>();
  failures += check_type<actzip::half>();
  failures += check_type<actzip::bfloat16>();
  return failures == 0 ? 0 : 1;
}
