// SPDX-License-Identifier: Apache-2.0
//
// actzip on the GPU: compresses a ReLU-like activation that lives in device memory
// and decompresses it again, first with the core layer (caller-owned buffers, one
// stream, nothing allocated or synchronized inside the calls), then with the
// convenience layer (device_buffer, exceptions). Prints the ratio and the largest
// error relative to the bound. Exits 77 when the machine has no CUDA device.
#include <actzip/actzip.hpp>

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorName(e));
    std::exit(1);
  }
}

// A ReLU activation of shape {n*c, h, w}: smooth waves, negative half clipped to 0.
__global__ void make_activation(float* x, std::uint64_t count, std::uint32_t w) {
  for (std::uint64_t i = blockIdx.x * std::uint64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::uint64_t(gridDim.x) * blockDim.x) {
    const float v = sinf(0.05f * float(i % w)) + cosf(0.003f * float(i / w));
    x[i] = v > 0.0f ? v : 0.0f;
  }
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  const actzip::extents shape{64 * 64, 56, 56};  // an NCHW activation as a 3-D field
  const std::uint64_t count = shape.size();
  cudaStream_t stream;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");
  float* input = nullptr;
  check(cudaMalloc(&input, count * sizeof(float)), "cudaMalloc");
  make_activation<<<1024, 256, 0, stream>>>(input, count, 56);
  check(cudaGetLastError(), "make_activation");

  // Core layer: sizes first (usable before any data exists), then buffers the
  // caller owns; compress and decompress only enqueue work on `stream`.
  const auto exec = actzip::exec::cuda.on(stream);
  const actzip::params p{actzip::rel(1e-3)};
  const std::uint64_t capacity = actzip::max_compressed_bytes<float>(shape);
  const std::uint64_t workspace_size = actzip::workspace_bytes(exec, shape);
  void *stream_bytes = nullptr, *workspace = nullptr;
  std::uint64_t* size_word = nullptr;
  actzip::status* status_word = nullptr;
  float* output = nullptr;
  check(cudaMalloc(&stream_bytes, capacity), "cudaMalloc");
  check(cudaMalloc(&workspace, workspace_size), "cudaMalloc");
  check(cudaMalloc(&size_word, sizeof *size_word), "cudaMalloc");
  check(cudaMalloc(&status_word, sizeof *status_word), "cudaMalloc");
  check(cudaMalloc(&output, count * sizeof(float)), "cudaMalloc");

  actzip::status s = actzip::compress(exec, input, shape, p, stream_bytes, capacity, size_word, workspace, workspace_size);
  if (s != actzip::status::success) return std::fprintf(stderr, "compress: %s\n", actzip::to_string(s)), 1;
  std::uint64_t size = 0;  // the size is in device memory; read it once the stream gets there
  check(cudaMemcpyAsync(&size, size_word, sizeof size, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  // Decompression verifies the stream's checksum on the device, in a workspace of
  // decode_workspace_bytes(exec) bytes: the compression workspace is free again in
  // stream order and larger than that.
  s = actzip::decompress(exec, stream_bytes, size, output, count, status_word, workspace, workspace_size);
  if (s != actzip::status::success) return std::fprintf(stderr, "decompress: %s\n", actzip::to_string(s)), 1;
  actzip::status decoded = actzip::status::success;
  check(cudaMemcpyAsync(&decoded, status_word, sizeof decoded, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  if (decoded != actzip::status::success) return std::fprintf(stderr, "decoding: %s\n", actzip::to_string(decoded)), 1;

  // Check the bound on the host.
  const actzip::header h = actzip::inspect(exec, stream_bytes, size);
  std::vector<float> a(count), b(count);
  check(cudaMemcpy(a.data(), input, count * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  check(cudaMemcpy(b.data(), output, count * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  double worst = 0;
  std::uint64_t zeros_kept = 0, zeros = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    worst = std::fmax(worst, std::fabs(double(a[i]) - double(b[i])));
    zeros += a[i] == 0.0f;
    zeros_kept += a[i] == 0.0f && b[i] == 0.0f;
  }
  std::printf("core layer:        %llu bytes -> %llu bytes (ratio %.2f), max error / bound %.3f, zeros kept %llu/%llu\n",
              static_cast<unsigned long long>(count * sizeof(float)), static_cast<unsigned long long>(size), h.ratio(),
              worst / h.absolute_bound, static_cast<unsigned long long>(zeros_kept), static_cast<unsigned long long>(zeros));

  // Convenience layer: owning device buffers, synchronous, throws actzip::error.
  try {
    actzip::device_buffer z = actzip::compress(exec, input, shape, p);
    actzip::device_buffer back = actzip::decompress<float>(exec, z.data(), z.size());
    std::printf("convenience layer: stream of %llu bytes, %llu values decoded\n",
                static_cast<unsigned long long>(z.size()), static_cast<unsigned long long>(back.size() / sizeof(float)));
  } catch (const actzip::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  cudaFree(input);
  cudaFree(stream_bytes);
  cudaFree(workspace);
  cudaFree(size_word);
  cudaFree(status_word);
  cudaFree(output);
  cudaStreamDestroy(stream);
  return 0;
}
