// SPDX-License-Identifier: Apache-2.0
//
// GPU benchmarks of actzip's CUDA executor through the core layer
// (actzip::compress / actzip::decompress with exec::cuda.on(stream), caller-owned
// device buffers sized with max_compressed_bytes and workspace_bytes, so nothing is
// allocated while timing). Without a CUDA device the program prints
// "no CUDA device: skipped" and exits with status 77.
//
// Names:
//   copy/<bytes>                                     cudaMemcpyAsync device to device
//   <compress|decompress>/<f32|f64|f16|bf16>/<data>/<size>/<rel1e-N>/<codec>
// with <codec> bitplane, huffman or automatic (--actzip_codecs).
// Data: synthetic-smooth (a smooth 3-D field {n, 256, 256}) and synthetic-relu
// (ReLU-like activations {n, 64, 64}, about 55 % exact zeros), both generated on the
// device at 16 MiB, 256 MiB, 1 GiB and 4 GiB of input (a size is left out when the
// free device memory cannot hold input + max_compressed_bytes + output + workspace);
// and the real data sets of bench/data.hpp (Fashion-MNIST, the 60000 training
// images; the Ferret climate fields with their fill values turned into NaN),
// converted on the host to every element type and copied to the device.
//
// Timing: CUDA events around each iteration, reported as manual time. An iteration
// enqueues `calls_per_iteration` back-to-back calls (1 for inputs of 256 MiB and
// more, up to 64 for small inputs, so launch gaps are amortised the way a stream of
// asynchronous calls amortises them). Compress timing includes the range pass that
// a relative bound needs, and for huffman and automatic the symbol histogram and
// the code book (they all run inside compress). Bytes are input (uncompressed)
// bytes; the copy reference counts the bytes read (its size), like the others.
//
// Counters (quality measured on the device after the timed loop, on the stream the
// benchmark itself produced):
//   GBps                input bytes / second / 1e9 (from the event times)
//   pct_of_copy         GBps / GB/s of a device-to-device copy of the same size * 100;
//                       the copy figures are measured in main before any benchmark
//   ratio               input bytes / stream bytes
//   max_err_over_bound  max |x - x'| over finite x / the stream's effective absolute
//                       bound (header::absolute_bound, read with actzip::inspect)
//   psnr                dB, 20 log10(max - min) - 10 log10(MSE), finite x, range from
//                       the header's value range
//   violations          elements with |x - x'| > effective bound; a NaN must come back
//                       as NaN and an infinity as itself; must be 0
//   host_identical      (compress, inputs up to 200 MB, once per case) 1 when the
//                       stream is byte for byte the one exec::serial writes
//   input_bytes, calls_per_iteration, us_per_call, effective_bound
//   stage_us:<stage>    microseconds of one stage of a call, launched on its own: the
//                       call is captured into a CUDA graph and its kernels and memsets
//                       are launched again one by one in order, each between two
//                       events (time_stages; the mean of --actzip_stage_replays, default
//                       3, runs). Stages: memset, range_kernel, histogram_kernel,
//                       build_code_kernel (the code book), compress_kernel (with the
//                       look-back, which runs inside it), store_checksum_kernel;
//                       decode_setup_kernel, verify_checksum_kernel, decompress_kernel
// A violation, a stream that differs from the host's, a size that changes between
// calls or a failed call is printed as a FAILURE line on stderr and makes the
// program exit with status 1 after all benchmarks have run.
//
// Extra flags (before the Google Benchmark ones): --actzip_min_time=SECONDS (default
// 0.05, manual time per repetition), --actzip_repetitions=N (default 3),
// --actzip_max_bytes=BYTES (largest synthetic size; default 4 GiB),
// --actzip_codecs=LIST (comma-separated codecs; default bitplane,huffman),
// --actzip_no_real_data, --actzip_no_host_check, --actzip_stage_replays=N (0: no
// stage times).

#include <actzip/actzip.hpp>
#include <benchmark/benchmark.h>
#include <cub/block/block_radix_sort.cuh>
#include <cuda_runtime.h>
#include <math_constants.h>

#include "data.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using actzip::bfloat16;
using actzip::half;

constexpr std::uint64_t MiB = 1024ull * 1024ull;
constexpr std::uint64_t GiB = 1024ull * MiB;
constexpr unsigned gen_threads = 256;

// ---- failures and CUDA errors ---------------------------------------------------------

std::atomic<int> failures{0};

void report_failure(const std::string& name, const std::string& what) {
  std::fprintf(stderr, "actzip-bench-gpu: FAILURE in %s: %s\n", name.c_str(), what.c_str());
  ++failures;
}

//! A failed CUDA runtime call; caught by each benchmark, which then skips with the message.
struct cuda_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw cuda_failure(std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

void check_status(actzip::status s, const char* what) {
  if (s == actzip::status::success) return;
  std::string msg = std::string(what) + " failed: " + actzip::to_string(s);
  if (s == actzip::status::cuda_error) msg += std::string(" (") + cudaGetErrorName(actzip::last_cuda_error()) + ")";
  throw cuda_failure(msg);
}

// ---- the device, the stream, the events ------------------------------------------------

struct device_context {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  int sms = 1;
};
device_context ctx;

//! Elapsed seconds of the work enqueued by `enqueue` (called `calls` times between two
//! events on ctx.stream).
template <class F>
double time_calls(unsigned calls, F&& enqueue) {
  check(cudaEventRecord(ctx.start, ctx.stream), "cudaEventRecord");
  for (unsigned c = 0; c < calls; ++c) enqueue();
  check(cudaEventRecord(ctx.stop, ctx.stream), "cudaEventRecord");
  check(cudaEventSynchronize(ctx.stop), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, ctx.start, ctx.stop), "cudaEventElapsedTime");
  return static_cast<double>(ms) * 1e-3;
}

//! The kernel's name in a mangled device symbol (the last name of its nested name:
//! "compress_kernel" in _ZN6actzip6detail3gpu15compress_kernelIfEEv...), or the symbol.
std::string kernel_name(const char* symbol) {
  const std::string m = symbol != nullptr ? symbol : "";
  if (m.rfind("_ZN", 0) != 0) return m.empty() ? "kernel" : m;
  std::size_t at = 3;
  std::string last;
  while (at < m.size() && std::isdigit(static_cast<unsigned char>(m[at]))) {
    std::size_t length = 0;
    while (at < m.size() && std::isdigit(static_cast<unsigned char>(m[at]))) length = length * 10 + (m[at++] - '0');
    if (at + length > m.size()) break;
    last = m.substr(at, length);
    at += length;
  }
  return last.empty() ? m : last;
}

//! Per-stage times of one call: the call is captured into a CUDA graph on ctx.stream,
//! and its nodes (kernels and memsets) are launched again one by one, in the graph's
//! order, each between two events, `replays` times; returns microseconds per call for
//! each stage name (a kernel launched more than once, as by batches of more than 16
//! tensors, is summed). The stages run on the data the call left, in the call's
//! order, so each one does the work it does inside the call; what the events cannot
//! separate (the look-back inside the compress kernel) stays in its kernel. Empty
//! when the call holds a node of another kind.
template <class F>
std::vector<std::pair<std::string, double>> time_stages(F&& enqueue, int replays) {
  cudaGraph_t graph = nullptr;
  check(cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  enqueue();
  check(cudaStreamEndCapture(ctx.stream, &graph), "cudaStreamEndCapture");
  std::unique_ptr<CUgraph_st, cudaError_t (*)(cudaGraph_t)> owner(graph, cudaGraphDestroy);
  std::size_t count = 0, edges = 0;
  check(cudaGraphGetNodes(graph, nullptr, &count), "cudaGraphGetNodes");
  std::vector<cudaGraphNode_t> nodes(count);
  check(cudaGraphGetNodes(graph, nodes.data(), &count), "cudaGraphGetNodes");
  check(cudaGraphGetEdges(graph, nullptr, nullptr, nullptr, &edges), "cudaGraphGetEdges");
  std::vector<cudaGraphNode_t> from(edges), to(edges);
  if (edges != 0) check(cudaGraphGetEdges(graph, from.data(), to.data(), nullptr, &edges), "cudaGraphGetEdges");
  // A topological order (Kahn): a node after every node it depends on.
  std::map<cudaGraphNode_t, int> waiting;
  for (cudaGraphNode_t n : nodes) waiting[n] = 0;
  for (std::size_t k = 0; k < edges; ++k) ++waiting[to[k]];
  std::vector<cudaGraphNode_t> order;
  for (cudaGraphNode_t n : nodes)
    if (waiting[n] == 0) order.push_back(n);
  for (std::size_t k = 0; k < order.size(); ++k)
    for (std::size_t j = 0; j < edges; ++j)
      if (from[j] == order[k] && --waiting[to[j]] == 0) order.push_back(to[j]);
  if (order.size() != nodes.size()) return {};

  struct stage {
    std::string name;
    cudaKernelNodeParams kernel{};
    cudaMemsetParams memset{};
    bool is_kernel = false;
  };
  std::vector<stage> stages;
  for (cudaGraphNode_t n : order) {
    cudaGraphNodeType type{};
    check(cudaGraphNodeGetType(n, &type), "cudaGraphNodeGetType");
    stage st;
    if (type == cudaGraphNodeTypeKernel) {
      check(cudaGraphKernelNodeGetParams(n, &st.kernel), "cudaGraphKernelNodeGetParams");
      const char* symbol = nullptr;
      if (cudaFuncGetName(&symbol, st.kernel.func) != cudaSuccess) symbol = nullptr;
      st.name = kernel_name(symbol);
      st.is_kernel = true;
    } else if (type == cudaGraphNodeTypeMemset) {
      check(cudaGraphMemsetNodeGetParams(n, &st.memset), "cudaGraphMemsetNodeGetParams");
      if (st.memset.elementSize != 1 && st.memset.value != 0) return {};
      st.name = "memset";
    } else if (type == cudaGraphNodeTypeEmpty) {
      continue;
    } else {
      return {};
    }
    stages.push_back(st);
  }
  std::vector<cudaEvent_t> events(stages.size() + 1);
  for (cudaEvent_t& ev : events) check(cudaEventCreate(&ev), "cudaEventCreate");
  std::vector<double> total(stages.size(), 0.0);
  for (int r = 0; r < replays; ++r) {
    check(cudaEventRecord(events[0], ctx.stream), "cudaEventRecord");
    for (std::size_t k = 0; k < stages.size(); ++k) {
      const stage& st = stages[k];
      if (st.is_kernel) {
        check(cudaLaunchKernel(st.kernel.func, st.kernel.gridDim, st.kernel.blockDim, st.kernel.kernelParams,
                               st.kernel.sharedMemBytes, ctx.stream),
              "cudaLaunchKernel (stage)");
      } else {
        const cudaMemsetParams& m = st.memset;
        check(cudaMemset2DAsync(m.dst, m.pitch, static_cast<int>(m.value), m.width * m.elementSize, m.height,
                                ctx.stream),
              "cudaMemset2DAsync (stage)");
      }
      check(cudaEventRecord(events[k + 1], ctx.stream), "cudaEventRecord");
    }
    check(cudaEventSynchronize(events.back()), "cudaEventSynchronize");
    for (std::size_t k = 0; k < stages.size(); ++k) {
      float ms = 0;
      check(cudaEventElapsedTime(&ms, events[k], events[k + 1]), "cudaEventElapsedTime");
      total[k] += static_cast<double>(ms) * 1e3;
    }
  }
  for (cudaEvent_t ev : events) (void)cudaEventDestroy(ev);
  std::vector<std::pair<std::string, double>> result;
  for (std::size_t k = 0; k < stages.size(); ++k) {
    auto it = std::find_if(result.begin(), result.end(), [&](const auto& e) { return e.first == stages[k].name; });
    if (it == result.end()) result.emplace_back(stages[k].name, total[k] / replays);
    else it->second += total[k] / replays;
  }
  return result;
}

//! Calls per timed iteration: one for inputs of 256 MiB and more, up to 64 below.
unsigned calls_per_iteration(std::uint64_t bytes) {
  const std::uint64_t target = 256 * MiB;
  if (bytes == 0 || bytes >= target) return 1;
  return static_cast<unsigned>(std::min<std::uint64_t>(64, (target + bytes - 1) / bytes));
}

// ---- element conversions and host data sets ----------------------------------------------

using actzip_bench::from_float;
//! One real data set with its values converted to every element type on demand.
using host_set = actzip_bench::typed_data_set;

std::string shape_string(const actzip::extents& s) {
  std::string out;
  for (unsigned i = 0; i < s.rank(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

std::string size_tag(std::uint64_t bytes) {
  char buf[64];
  if (bytes % GiB == 0)
    std::snprintf(buf, sizeof buf, "%lluGiB", static_cast<unsigned long long>(bytes / GiB));
  else if (bytes % MiB == 0)
    std::snprintf(buf, sizeof buf, "%lluMiB", static_cast<unsigned long long>(bytes / MiB));
  else
    std::snprintf(buf, sizeof buf, "%.1fMB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// ---- device data generators ---------------------------------------------------------------

// The same splitmix64 / uniform / hash_noise as bench/data.hpp, for device code.
__device__ inline std::uint64_t dev_splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
__device__ inline double dev_uniform01(std::uint64_t& state) {
  return static_cast<double>(dev_splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}
__device__ inline double dev_hash_noise(std::uint64_t i, std::uint64_t salt) {
  std::uint64_t s = i * 0xd1b54a32d192ed03ull ^ salt;
  return 2.0 * dev_uniform01(s) - 1.0;
}

constexpr double two_pi = 6.283185307179586476925286766559;
constexpr std::uint64_t smooth_plane = 256;  //!< synthetic-smooth is {n, 256, 256}
constexpr std::uint64_t relu_side = 64;      //!< synthetic-relu is {n, 64, 64}

//! make_smooth_field of bench/data.hpp with every coordinate scaled by 1/256: the
//! first 256 slabs are its 256^3 field (up to the noise, which hashes the linear
//! index), and the field continues periodically along the first dimension.
template <class T>
__global__ void __launch_bounds__(gen_threads) smooth_kernel(T* out, std::uint64_t n) {
  using C = typename actzip::dtype_traits<T>::compute_type;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  const double s = 1.0 / 256.0;
  for (std::uint64_t idx = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n; idx += stride) {
    const std::uint64_t k = idx % smooth_plane;
    const std::uint64_t j = (idx / smooth_plane) % smooth_plane;
    const std::uint64_t i = idx / (smooth_plane * smooth_plane);
    const double x = static_cast<double>(i) * s, y = static_cast<double>(j) * s, z = static_cast<double>(k) * s;
    const double v = sin(two_pi * (1.0 * x + 0.5 * y)) + 0.5 * cos(two_pi * (2.0 * y - 1.5 * z) + 0.3) +
                     0.25 * sin(two_pi * (3.0 * x + 2.0 * z) + 1.1) +
                     0.05 * cos(two_pi * (5.0 * x + 4.0 * y + 3.0 * z) + 0.7) + 0.01 * dev_hash_noise(idx, 0x5eed5eedull);
    out[idx] = actzip::dtype_traits<T>::from_compute(static_cast<C>(static_cast<float>(v)));
  }
}

//! make_relu_activation of bench/data.hpp on 64 x 64 planes, one block per plane:
//! a random mix of four plane waves plus pixel noise, thresholded at the plane's
//! zero_frac quantile (exact, by a block radix sort), scaled by a per-plane gain,
//! then max(0, .). The per-plane parameters come from a hash of the plane index.
template <class T>
__global__ void __launch_bounds__(gen_threads) relu_kernel(T* out, std::uint64_t planes, std::uint32_t seed) {
  using C = typename actzip::dtype_traits<T>::compute_type;
  constexpr unsigned per_thread = relu_side * relu_side / gen_threads;  // 16
  using sorter = cub::BlockRadixSort<float, gen_threads, per_thread>;
  __shared__ typename sorter::TempStorage sort_storage;
  __shared__ double amp[4], fy[4], fx[4], ph[4];
  __shared__ double noise_amp, zero_frac, gain;
  __shared__ std::uint64_t salt;
  __shared__ float threshold;
  const unsigned tid = threadIdx.x;
  for (std::uint64_t c = blockIdx.x; c < planes; c += gridDim.x) {
    if (tid == 0) {
      std::uint64_t state = 0x243f6a8885a308d3ull ^ (static_cast<std::uint64_t>(seed) * 0x9e3779b97f4a7c15ull) ^
                            (c * 0xd1b54a32d192ed03ull);
      for (int m = 0; m < 4; ++m) {
        amp[m] = 0.25 + dev_uniform01(state);
        fy[m] = (dev_uniform01(state) * 2.0 - 1.0) * 3.0;
        fx[m] = (dev_uniform01(state) * 2.0 - 1.0) * 3.0;
        ph[m] = two_pi * dev_uniform01(state);
      }
      noise_amp = 0.1 + 0.2 * dev_uniform01(state);
      zero_frac = 0.40 + 0.30 * dev_uniform01(state);
      gain = exp(2.0 * dev_uniform01(state) - 1.0);
      salt = dev_splitmix64(state);
    }
    __syncthreads();
    float v[per_thread], keys[per_thread];
    for (unsigned j = 0; j < per_thread; ++j) {
      const unsigned e = tid * per_thread + j;
      const double yy = static_cast<double>(e / relu_side) / relu_side;
      const double xx = static_cast<double>(e % relu_side) / relu_side;
      double s = 0.0;
      for (int m = 0; m < 4; ++m) s += amp[m] * sin(two_pi * (fy[m] * yy + fx[m] * xx) + ph[m]);
      s += noise_amp * dev_hash_noise(e, salt);
      v[j] = static_cast<float>(s);
      keys[j] = v[j];
    }
    sorter(sort_storage).Sort(keys);  // blocked: thread t holds ranks [16 t, 16 t + 16)
    const unsigned plane = relu_side * relu_side;
    const unsigned q = min(plane - 1, static_cast<unsigned>(zero_frac * plane));
    if (q / per_thread == tid)
      for (unsigned j = 0; j < per_thread; ++j)  // constant indices keep keys[] in registers
        if (j == q % per_thread) threshold = keys[j];
    __syncthreads();
    const float thr = threshold, g = static_cast<float>(gain);
    T* dst = out + c * plane;
    for (unsigned j = 0; j < per_thread; ++j) {
      const float d = v[j] - thr;
      const float r = d > 0.0f ? g * d : 0.0f;
      dst[tid * per_thread + j] = actzip::dtype_traits<T>::from_compute(static_cast<C>(r));
    }
    __syncthreads();  // shared parameters and sort storage are reused by the next plane
  }
}

// ---- quality on the device ------------------------------------------------------------------

//! Accumulators of measure_kernel (zeroed before it runs).
struct quality_words {
  unsigned long long max_err_bits;  //!< bits of the largest |x - x'| (a non-negative double)
  unsigned long long violations;
  unsigned long long finite;
  double sse;
};

//! Device words of one case: the stream's size, the decoding status, the quality sums.
struct device_words {
  std::uint64_t size;
  actzip::status status;
  int pad;
  quality_words q;
};

template <class T>
__global__ void __launch_bounds__(gen_threads) measure_kernel(const T* x, const T* y, std::uint64_t n, double bound,
                                                            quality_words* q) {
  double max_err = 0, sse = 0;
  unsigned long long violations = 0, finite = 0;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double a = static_cast<double>(actzip::dtype_traits<T>::to_compute(x[i]));
    const double b = static_cast<double>(actzip::dtype_traits<T>::to_compute(y[i]));
    if (isnan(a)) {
      violations += isnan(b) ? 0 : 1;
      continue;
    }
    if (isinf(a)) {
      violations += b == a ? 0 : 1;
      continue;
    }
    ++finite;
    const double err = fabs(a - b);  // rounding is monotone: err <= bound whenever the exact one is
    if (!(err <= bound)) ++violations;
    if (isfinite(err)) {
      max_err = fmax(max_err, err);
      sse += err * err;
    } else {
      max_err = CUDART_INF;
    }
  }
  for (unsigned offset = 16; offset > 0; offset /= 2) {
    max_err = fmax(max_err, __shfl_xor_sync(0xffffffffu, max_err, offset));
    sse += __shfl_xor_sync(0xffffffffu, sse, offset);
    violations += __shfl_xor_sync(0xffffffffu, violations, offset);
    finite += __shfl_xor_sync(0xffffffffu, finite, offset);
  }
  if (threadIdx.x % 32 == 0) {
    atomicMax(&q->max_err_bits, static_cast<unsigned long long>(__double_as_longlong(max_err)));
    if (violations != 0) atomicAdd(&q->violations, violations);
    atomicAdd(&q->finite, finite);
    atomicAdd(&q->sse, sse);
  }
}

// ---- the inputs and their device buffers -------------------------------------------------------

enum class pattern { smooth, relu, host };

//! One input of one element type.
struct input_spec {
  std::string data;      //!< data set name
  pattern kind = pattern::smooth;
  actzip::extents shape;
  std::uint64_t count = 0;  //!< elements
  std::uint64_t bytes = 0;  //!< input bytes
  host_set* host = nullptr;  //!< the values, for pattern::host
  std::string tag() const { return size_tag(bytes); }
};

//! The device buffers of the current input (one at a time; replaced when the input changes).
struct resident_buffers {
  std::string key;
  void* in = nullptr;
  void* stream = nullptr;
  void* out = nullptr;
  void* workspace = nullptr;
  device_words* words = nullptr;
  std::uint64_t capacity = 0;
  std::uint64_t workspace_size = 0;

  void release() {
    for (void* p : {in, stream, out, workspace, static_cast<void*>(words)})
      if (p != nullptr) (void)cudaFree(p);
    in = stream = out = workspace = nullptr;
    words = nullptr;
    key.clear();
  }
};
resident_buffers slot;

template <class T>
std::uint64_t bytes_needed(const input_spec& s) {
  return 2 * s.bytes + actzip::max_compressed_bytes<T>(s.shape) + actzip::workspace_bytes(actzip::exec::cuda, s.shape) +
         sizeof(device_words);
}

//! Makes `s` the resident input: allocates its buffers and fills the input.
template <class T>
void prepare(const input_spec& s) {
  const std::string key = s.data + "/" + actzip::to_string(actzip::dtype_traits<T>::code) + "/" + s.tag();
  if (slot.key == key) return;
  check(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize");
  slot.release();
  slot.capacity = actzip::max_compressed_bytes<T>(s.shape);
  slot.workspace_size = actzip::workspace_bytes(actzip::exec::cuda, s.shape);
  if (slot.capacity == 0 || slot.workspace_size == 0) throw cuda_failure("max_compressed_bytes or workspace_bytes is 0");
  check(cudaMalloc(&slot.in, s.bytes), "cudaMalloc(input)");
  check(cudaMalloc(&slot.stream, slot.capacity), "cudaMalloc(stream)");
  check(cudaMalloc(&slot.out, s.bytes), "cudaMalloc(output)");
  check(cudaMalloc(&slot.workspace, slot.workspace_size), "cudaMalloc(workspace)");
  check(cudaMalloc(&slot.words, sizeof(device_words)), "cudaMalloc(words)");
  T* in = static_cast<T*>(slot.in);
  if (s.kind == pattern::smooth) {
    const unsigned blocks = static_cast<unsigned>(std::max(1, ctx.sms * 16));
    smooth_kernel<T><<<blocks, gen_threads, 0, ctx.stream>>>(in, s.count);
    check(cudaGetLastError(), "smooth_kernel launch");
  } else if (s.kind == pattern::relu) {
    const std::uint64_t planes = s.count / (relu_side * relu_side);
    const unsigned blocks = static_cast<unsigned>(std::min<std::uint64_t>(planes, static_cast<std::uint64_t>(ctx.sms) * 16));
    relu_kernel<T><<<blocks, gen_threads, 0, ctx.stream>>>(in, planes, 1u);
    check(cudaGetLastError(), "relu_kernel launch");
  } else {
    const std::vector<T>& v = s.host->values<T>();
    check(cudaMemcpyAsync(in, v.data(), s.bytes, cudaMemcpyHostToDevice, ctx.stream), "cudaMemcpyAsync(input)");
  }
  // Poison the output so that an element the decoder never writes shows up.
  check(cudaMemsetAsync(slot.out, 0xff, s.bytes, ctx.stream), "cudaMemsetAsync(output)");
  check(cudaStreamSynchronize(ctx.stream), "generating the input");
  slot.key = key;
}

// ---- the copy reference ------------------------------------------------------------------------

std::map<std::uint64_t, double> copy_gbps;  //!< input bytes -> GB/s of a device-to-device copy

struct device_pair {
  void* a = nullptr;
  void* b = nullptr;
  explicit device_pair(std::uint64_t bytes) {
    check(cudaMalloc(&a, bytes), "cudaMalloc(copy source)");
    if (cudaMalloc(&b, bytes) != cudaSuccess) {
      (void)cudaFree(a);
      a = nullptr;
      throw cuda_failure("cudaMalloc(copy destination) failed");
    }
  }
  device_pair(const device_pair&) = delete;
  device_pair& operator=(const device_pair&) = delete;
  ~device_pair() {
    (void)cudaFree(a);
    (void)cudaFree(b);
  }
};

//! GB/s (bytes read per second) of a device-to-device copy of `bytes`: the median of
//! 15 timed iterations after 3 untimed ones.
double measure_copy(std::uint64_t bytes) {
  device_pair buf(bytes);
  check(cudaMemsetAsync(buf.a, 0x3c, bytes, ctx.stream), "cudaMemsetAsync");
  const unsigned calls = calls_per_iteration(bytes);
  auto copy = [&] { check(cudaMemcpyAsync(buf.b, buf.a, bytes, cudaMemcpyDeviceToDevice, ctx.stream), "cudaMemcpyAsync"); };
  for (int i = 0; i < 3; ++i) time_calls(calls, copy);
  std::vector<double> rates;
  for (int i = 0; i < 15; ++i) rates.push_back(static_cast<double>(bytes) * calls / time_calls(calls, copy) / 1e9);
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

void run_copy(benchmark::State& state, std::uint64_t bytes) {
  const std::string name = "copy/" + std::to_string(bytes);
  const unsigned calls = calls_per_iteration(bytes);
  double total = 0;
  try {
    if (slot.in != nullptr) {
      check(cudaStreamSynchronize(ctx.stream), "cudaStreamSynchronize");
      slot.release();  // the copies need the memory
    }
    device_pair buf(bytes);
    check(cudaMemsetAsync(buf.a, 0x3c, bytes, ctx.stream), "cudaMemsetAsync");
    auto copy = [&] { check(cudaMemcpyAsync(buf.b, buf.a, bytes, cudaMemcpyDeviceToDevice, ctx.stream), "cudaMemcpyAsync"); };
    time_calls(calls, copy);  // warm-up
    for (auto _ : state) {
      const double seconds = time_calls(calls, copy);
      state.SetIterationTime(seconds);
      total += seconds;
    }
  } catch (const std::exception& ex) {
    state.SkipWithError(ex.what());
    report_failure(name, ex.what());
    (void)cudaGetLastError();
    return;
  }
  const double done = static_cast<double>(state.iterations()) * calls * static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<std::int64_t>(done));
  state.counters["GBps"] = total > 0 ? done / total / 1e9 : 0.0;
  state.counters["input_bytes"] = static_cast<double>(bytes);
  state.counters["calls_per_iteration"] = calls;
  const auto it = copy_gbps.find(bytes);
  if (it != copy_gbps.end()) state.counters["reference_GBps"] = it->second;
}

// ---- the codec benchmarks ---------------------------------------------------------------------

enum class direction { compress, decompress };

const char* bound_name(double rel) {
  if (rel == 1e-2) return "rel1e-2";
  if (rel == 1e-3) return "rel1e-3";
  if (rel == 1e-4) return "rel1e-4";
  return "rel?";
}

std::map<std::string, bool> host_checked;  //!< case -> its stream was byte-identical to exec::serial's
bool host_check_enabled = true;
int stage_replays = 3;  //!< replays of each call's stages (--actzip_stage_replays; 0: none)
std::set<std::string> stages_timed;  //!< case/direction keys whose stages were timed
constexpr std::uint64_t host_check_max_bytes = 200000000;  // Fashion-MNIST f32 (188 MB) and below

std::uint64_t read_size() {
  std::uint64_t size = 0;
  check(cudaMemcpyAsync(&size, &slot.words->size, sizeof size, cudaMemcpyDeviceToHost, ctx.stream), "reading the size");
  check(cudaStreamSynchronize(ctx.stream), "reading the size");
  return size;
}

actzip::status read_status() {
  actzip::status s = actzip::status::success;
  check(cudaMemcpyAsync(&s, &slot.words->status, sizeof s, cudaMemcpyDeviceToHost, ctx.stream), "reading the status");
  check(cudaStreamSynchronize(ctx.stream), "reading the status");
  return s;
}

//! Compares the device stream with the one exec::serial writes from the same input.
template <class T>
bool same_as_host(const input_spec& s, const actzip::params& p, std::uint64_t size, std::string* why) {
  std::vector<T> input(static_cast<std::size_t>(s.count));
  std::vector<unsigned char> gpu(static_cast<std::size_t>(size));
  check(cudaMemcpyAsync(input.data(), slot.in, s.bytes, cudaMemcpyDeviceToHost, ctx.stream), "copying the input back");
  check(cudaMemcpyAsync(gpu.data(), slot.stream, size, cudaMemcpyDeviceToHost, ctx.stream), "copying the stream back");
  check(cudaStreamSynchronize(ctx.stream), "copying back");
  std::vector<unsigned char> ref(static_cast<std::size_t>(actzip::max_compressed_bytes<T>(s.shape)));
  std::uint64_t ref_size = 0;
  const actzip::status st =
      actzip::compress(actzip::exec::serial, input.data(), s.shape, p, ref.data(), ref.size(), &ref_size);
  if (st != actzip::status::success) {
    *why = std::string("exec::serial compress failed: ") + actzip::to_string(st);
    return false;
  }
  if (ref_size != size) {
    *why = "stream size " + std::to_string(size) + " differs from exec::serial's " + std::to_string(ref_size);
    return false;
  }
  for (std::size_t i = 0; i < gpu.size(); ++i) {
    if (gpu[i] != ref[i]) {
      *why = "stream differs from exec::serial's at byte " + std::to_string(i) + " of " + std::to_string(size);
      return false;
    }
  }
  return true;
}

template <class T>
void run_codec(benchmark::State& state, const std::string& name, const input_spec& s, direction dir, double rel,
               actzip::codec codec) {
  actzip::params p{actzip::rel(rel)};
  p.codec = codec;
  const actzip::exec::cuda_t e = actzip::exec::cuda.on(ctx.stream);
  const unsigned calls = calls_per_iteration(s.bytes);
  double total = 0;
  std::uint64_t size = 0;
  actzip::header h;
  try {
    prepare<T>(s);
    const T* in = static_cast<const T*>(slot.in);
    T* out = static_cast<T*>(slot.out);
    auto compress = [&] {
      check_status(actzip::compress(e, in, s.shape, p, slot.stream, slot.capacity, &slot.words->size, slot.workspace,
                                    slot.workspace_size),
                   "compress");
    };
    auto decompress = [&] {
      // The compression workspace is free again in stream order; it holds the decode workspace.
      check_status(actzip::decompress(e, slot.stream, size, out, s.count, &slot.words->status, slot.workspace,
                                      slot.workspace_size),
                   "decompress");
    };

    // Untimed first calls: the stream, its header, a decoded copy (also the warm-up).
    compress();
    size = read_size();
    unsigned char head[actzip::header_bytes] = {};
    check(cudaMemcpyAsync(head, slot.stream, std::min<std::uint64_t>(size, actzip::header_bytes),
                          cudaMemcpyDeviceToHost, ctx.stream),
          "reading the header");
    check(cudaStreamSynchronize(ctx.stream), "reading the header");
    if (actzip::status st = actzip::inspect(head, size, &h); st != actzip::status::success)
      throw cuda_failure(std::string("inspect failed: ") + actzip::to_string(st));
    decompress();
    if (actzip::status st = read_status(); st != actzip::status::success)
      throw cuda_failure(std::string("decompress reported ") + actzip::to_string(st));

    for (auto _ : state) {
      const double seconds = dir == direction::compress ? time_calls(calls, compress) : time_calls(calls, decompress);
      state.SetIterationTime(seconds);
      total += seconds;
    }

    // Untimed checks on the last stream and a fresh reconstruction into a poisoned
    // buffer (all ones: NaN in every element type), so an element never written shows up.
    if (dir == direction::compress) {
      const std::uint64_t again = read_size();
      if (again != size)
        report_failure(name, "stream size changed between calls: " + std::to_string(size) + " then " +
                                 std::to_string(again));
    }
    // The stages of one call, each launched on its own (untimed by the loop above;
    // once per case and direction).
    const std::string stage_key = slot.key + "/" + bound_name(rel) + "/" + actzip::to_string(codec) +
                                  (dir == direction::compress ? "/compress" : "/decompress");
    if (stage_replays > 0 && stages_timed.insert(stage_key).second) {
      const auto stages = dir == direction::compress ? time_stages(compress, stage_replays)
                                                     : time_stages(decompress, stage_replays);
      if (stages.empty()) report_failure(name, "the call's graph holds a node the stage timing cannot replay");
      for (const auto& [stage_name, us] : stages) state.counters["stage_us:" + stage_name] = us;
    }
    check(cudaMemsetAsync(out, 0xff, s.bytes, ctx.stream), "cudaMemsetAsync(output)");
    decompress();
    if (actzip::status st = read_status(); st != actzip::status::success)
      throw cuda_failure(std::string("decompress reported ") + actzip::to_string(st));
    check(cudaMemsetAsync(&slot.words->q, 0, sizeof(quality_words), ctx.stream), "cudaMemsetAsync");
    const unsigned blocks = static_cast<unsigned>(std::max(1, ctx.sms * 8));
    measure_kernel<T><<<blocks, gen_threads, 0, ctx.stream>>>(in, out, s.count, h.absolute_bound, &slot.words->q);
    check(cudaGetLastError(), "measure_kernel launch");
    quality_words q{};
    check(cudaMemcpyAsync(&q, &slot.words->q, sizeof q, cudaMemcpyDeviceToHost, ctx.stream), "reading the quality");
    check(cudaStreamSynchronize(ctx.stream), "measuring the quality");

    double max_err = 0;
    std::memcpy(&max_err, &q.max_err_bits, sizeof max_err);
    const double bound = h.absolute_bound;
    const double range = h.has_value_range ? h.value_max - h.value_min : 0.0;
    const double mse = q.finite ? q.sse / static_cast<double>(q.finite) : 0.0;
    const double inf = std::numeric_limits<double>::infinity();
    state.counters["ratio"] = size ? static_cast<double>(s.bytes) / static_cast<double>(size) : 0.0;
    state.counters["max_err_over_bound"] = bound > 0 ? max_err / bound : (max_err == 0 ? 0.0 : inf);
    state.counters["psnr"] = mse > 0 && range > 0 ? 20.0 * std::log10(range) - 10.0 * std::log10(mse) : inf;
    state.counters["violations"] = static_cast<double>(q.violations);
    state.counters["effective_bound"] = bound;
    if (q.violations != 0)
      report_failure(name, std::to_string(q.violations) + " bound violations, max_err_over_bound " +
                               std::to_string(bound > 0 ? max_err / bound : inf));

    // Once per case (Google Benchmark runs this function several times); every run of
    // the compress benchmark reports the result.
    const std::string case_key = slot.key + "/" + bound_name(rel) + "/" + actzip::to_string(codec);
    if (dir == direction::compress && host_check_enabled && s.bytes <= host_check_max_bytes) {
      auto it = host_checked.find(case_key);
      if (it == host_checked.end()) {
        std::string why;
        it = host_checked.emplace(case_key, same_as_host<T>(s, p, size, &why)).first;
        if (!it->second) report_failure(name, why);
      }
      state.counters["host_identical"] = it->second ? 1.0 : 0.0;
    }
  } catch (const std::exception& ex) {
    state.SkipWithError(ex.what());
    report_failure(name, ex.what());
    (void)cudaGetLastError();
    (void)cudaStreamSynchronize(ctx.stream);
    slot.release();
    return;
  }
  const double done = static_cast<double>(state.iterations()) * calls * static_cast<double>(s.bytes);
  const double gbps = total > 0 ? done / total / 1e9 : 0.0;
  state.SetBytesProcessed(static_cast<std::int64_t>(done));
  state.counters["GBps"] = gbps;
  const auto it = copy_gbps.find(s.bytes);
  if (it != copy_gbps.end() && it->second > 0) state.counters["pct_of_copy"] = gbps / it->second * 100.0;
  state.counters["input_bytes"] = static_cast<double>(s.bytes);
  // The memory ceiling: the bytes a call must move at the least (compress reads the
  // input and writes the stream; decompress reads the stream and writes the output),
  // against the traffic of the device-to-device copy of the same size, which reads and
  // writes its bytes (2 x its GB/s).
  const double moved = static_cast<double>(s.bytes) + static_cast<double>(size);
  state.counters["moved_bytes"] = moved;
  if (it != copy_gbps.end() && it->second > 0 && total > 0) {
    const double moved_gbps = static_cast<double>(state.iterations()) * calls * moved / total / 1e9;
    state.counters["ceiling_GBps"] = 2.0 * it->second;
    state.counters["pct_of_ceiling"] = moved_gbps / (2.0 * it->second) * 100.0;
  }
  state.counters["calls_per_iteration"] = calls;
  state.counters["us_per_call"] = done > 0 ? total / (static_cast<double>(state.iterations()) * calls) * 1e6 : 0.0;
}

// ---- the plan ---------------------------------------------------------------------------------

//! One codec benchmark to register.
struct codec_case {
  std::string name;
  input_spec spec;
  actzip::dtype type;
  direction dir;
  double rel;
  actzip::codec codec;
};

struct run_settings {
  double min_time = 0.05;
  int repetitions = 3;
  std::vector<actzip::codec> codecs = {actzip::codec::bitplane, actzip::codec::huffman};
};
run_settings settings;

template <class T>
input_spec synthetic_spec(pattern kind, std::uint64_t bytes) {
  input_spec s;
  s.kind = kind;
  s.data = kind == pattern::smooth ? "synthetic-smooth" : "synthetic-relu";
  s.count = bytes / sizeof(T);
  const std::uint64_t plane = kind == pattern::smooth ? smooth_plane * smooth_plane : relu_side * relu_side;
  const std::uint64_t side = kind == pattern::smooth ? smooth_plane : relu_side;
  s.shape = actzip::extents{s.count / plane, side, side};
  s.bytes = s.count * sizeof(T);
  return s;
}

template <class T>
input_spec host_spec(host_set& h) {
  input_spec s;
  s.kind = pattern::host;
  s.data = h.name;
  s.shape = h.shape;
  s.count = h.f32.size();
  s.bytes = s.count * sizeof(T);
  s.host = &h;
  return s;
}

template <class T>
void add_cases(std::vector<codec_case>& cases, const input_spec& s) {
  for (actzip::codec codec : settings.codecs) {
    for (double rel : {1e-2, 1e-3, 1e-4}) {
      for (direction dir : {direction::compress, direction::decompress}) {
        codec_case c;
        c.name = std::string(dir == direction::compress ? "compress/" : "decompress/") +
                 actzip::to_string(actzip::dtype_traits<T>::code) + "/" + s.data + "/" + s.tag() + "/" +
                 bound_name(rel) + "/" + actzip::to_string(codec);
        c.spec = s;
        c.type = actzip::dtype_traits<T>::code;
        c.dir = dir;
        c.rel = rel;
        c.codec = codec;
        cases.push_back(std::move(c));
      }
    }
  }
}

template <class B>
B* configure(B* b) {
  return b->UseManualTime()->MinTime(settings.min_time)->Repetitions(settings.repetitions)->Unit(benchmark::kMicrosecond);
}

void register_case(const codec_case& c) {
  auto* b = benchmark::RegisterBenchmark(c.name.c_str(), [c](benchmark::State& state) {
    switch (c.type) {
      case actzip::dtype::float32:
        run_codec<float>(state, c.name, c.spec, c.dir, c.rel, c.codec);
        break;
      case actzip::dtype::float64:
        run_codec<double>(state, c.name, c.spec, c.dir, c.rel, c.codec);
        break;
      case actzip::dtype::float16:
        run_codec<half>(state, c.name, c.spec, c.dir, c.rel, c.codec);
        break;
      case actzip::dtype::bfloat16:
        run_codec<bfloat16>(state, c.name, c.spec, c.dir, c.rel, c.codec);
        break;
    }
  });
  configure(b);
}

std::uint64_t needed(const codec_case& c) {
  switch (c.type) {
    case actzip::dtype::float32: return bytes_needed<float>(c.spec);
    case actzip::dtype::float64: return bytes_needed<double>(c.spec);
    case actzip::dtype::float16: return bytes_needed<half>(c.spec);
    case actzip::dtype::bfloat16: return bytes_needed<bfloat16>(c.spec);
  }
  return 0;
}

// ---- command line ---------------------------------------------------------------------------------

//! Removes `--flag=value` (returns value) or `--flag` (returns "") from argv; nullptr if absent.
std::unique_ptr<std::string> take_flag(int* argc, char** argv, const std::string& flag) {
  std::unique_ptr<std::string> found;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = argv[i];
    if (arg == flag) {
      found = std::make_unique<std::string>();
    } else if (arg.compare(0, flag.size() + 1, flag + "=") == 0) {
      found = std::make_unique<std::string>(arg.substr(flag.size() + 1));
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  return found;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }

  std::uint64_t max_bytes = 4 * GiB;
  bool real_data = true;
  try {
    if (auto v = take_flag(&argc, argv, "--actzip_min_time")) settings.min_time = std::stod(*v);
    if (auto v = take_flag(&argc, argv, "--actzip_repetitions")) settings.repetitions = std::stoi(*v);
    if (auto v = take_flag(&argc, argv, "--actzip_max_bytes")) max_bytes = std::stoull(*v);
    if (take_flag(&argc, argv, "--actzip_no_real_data")) real_data = false;
    if (take_flag(&argc, argv, "--actzip_no_host_check")) host_check_enabled = false;
    if (auto v = take_flag(&argc, argv, "--actzip_stage_replays")) stage_replays = std::stoi(*v);
    if (auto v = take_flag(&argc, argv, "--actzip_codecs")) {
      settings.codecs.clear();
      std::size_t start = 0;
      while (start <= v->size()) {
        const std::size_t comma = std::min(v->find(',', start), v->size());
        const std::string word = v->substr(start, comma - start);
        if (word == "bitplane")
          settings.codecs.push_back(actzip::codec::bitplane);
        else if (word == "huffman")
          settings.codecs.push_back(actzip::codec::huffman);
        else if (word == "automatic")
          settings.codecs.push_back(actzip::codec::automatic);
        else
          throw std::invalid_argument("unknown codec " + word);
        start = comma + 1;
      }
    }
  } catch (const std::exception&) {
    std::fprintf(stderr, "actzip-bench-gpu: bad value for an --actzip_ flag\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  // The device and the stream every benchmark uses.
  int device = 0, driver = 0, runtime = 0;
  cudaDeviceProp prop{};
  std::size_t free_bytes = 0, total_bytes = 0;
  try {
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    check(cudaDeviceGetAttribute(&ctx.sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
    check(cudaDriverGetVersion(&driver), "cudaDriverGetVersion");
    check(cudaRuntimeGetVersion(&runtime), "cudaRuntimeGetVersion");
    check(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check(cudaEventCreate(&ctx.start), "cudaEventCreate");
    check(cudaEventCreate(&ctx.stop), "cudaEventCreate");
    check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "actzip-bench-gpu: %s\n", ex.what());
    return 1;
  }
  benchmark::AddCustomContext("actzip_device", std::string(prop.name) + ", compute capability " +
                                                   std::to_string(prop.major) + "." + std::to_string(prop.minor) + ", " +
                                                   std::to_string(ctx.sms) + " SMs, " +
                                                   fixed(static_cast<double>(total_bytes) / GiB, 1) + " GiB (" +
                                                   fixed(static_cast<double>(free_bytes) / GiB, 1) + " GiB free), L2 " +
                                                   std::to_string(prop.l2CacheSize / 1024 / 1024) + " MiB");
  benchmark::AddCustomContext("actzip_cuda", "driver " + std::to_string(driver / 1000) + "." +
                                                 std::to_string(driver % 1000 / 10) + ", runtime " +
                                                 std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10));

  // Real data on the host.
  std::vector<std::unique_ptr<host_set>> sets;
  std::string description;
  if (real_data) {
    auto add = [&](std::string name, actzip_bench::field&& f, const std::string& note) {
      auto h = std::make_unique<host_set>();
      h->name = std::move(name);
      h->shape = actzip::extents::from_array(static_cast<unsigned>(f.shape.size()), f.shape.data());
      h->f32 = std::move(f.values);
      description += (description.empty() ? "" : "; ") + h->name + " {" + shape_string(h->shape) + "}" + note;
      sets.push_back(std::move(h));
    };
    try {
      actzip_bench::load_real_data_sets("actzip-bench-gpu", 0, add);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "actzip-bench-gpu: loading data failed: %s\n", ex.what());
      return 1;
    }
  }
  description += std::string(description.empty() ? "" : "; ") +
                 "synthetic-smooth {n x 256 x 256} and synthetic-relu {n x 64 x 64}, generated on the device";

  // The plan: real data first (every type, as they are), then the synthetic fields.
  std::vector<codec_case> cases;
  for (auto& h : sets) {
    add_cases<float>(cases, host_spec<float>(*h));
    add_cases<double>(cases, host_spec<double>(*h));
    add_cases<actzip::half>(cases, host_spec<actzip::half>(*h));
    add_cases<actzip::bfloat16>(cases, host_spec<actzip::bfloat16>(*h));
  }
  const std::uint64_t sizes[] = {16 * MiB, 256 * MiB, 1 * GiB, 4 * GiB};
  for (pattern kind : {pattern::smooth, pattern::relu}) {
    for (std::uint64_t bytes : sizes) {
      if (bytes > max_bytes) continue;
      add_cases<float>(cases, synthetic_spec<float>(kind, bytes));
      add_cases<double>(cases, synthetic_spec<double>(kind, bytes));
      add_cases<actzip::half>(cases, synthetic_spec<actzip::half>(kind, bytes));
      add_cases<actzip::bfloat16>(cases, synthetic_spec<actzip::bfloat16>(kind, bytes));
    }
  }
  const std::uint64_t margin = 256 * MiB;
  const std::uint64_t usable = free_bytes > margin ? free_bytes - margin : 0;
  std::vector<codec_case> kept;
  std::set<std::string> skipped;
  for (auto& c : cases) {
    if (needed(c) <= usable)
      kept.push_back(std::move(c));
    else
      skipped.insert(c.spec.data + "/" + actzip::to_string(c.type) + "/" + c.spec.tag());
  }
  std::string codec_list;
  for (actzip::codec c : settings.codecs) codec_list += std::string(codec_list.empty() ? "" : " ") + actzip::to_string(c);
  std::string plan = "codecs " + codec_list +
                     "; dtypes f32 f64 f16 bf16; bounds rel 1e-2 1e-3 1e-4; synthetic sizes up to " +
                     size_tag(max_bytes) + "; min_time " + fixed(settings.min_time, 3) + " s (manual), " +
                     std::to_string(settings.repetitions) + " repetitions";
  if (!skipped.empty()) {
    plan += "; left out for lack of device memory:";
    for (const auto& s : skipped) plan += " " + s;
    for (const auto& s : skipped) std::fprintf(stderr, "actzip-bench-gpu: %s left out: too little free device memory\n", s.c_str());
  }
  benchmark::AddCustomContext("actzip_plan", plan);
  benchmark::AddCustomContext("actzip_data", description);

  // The copy reference of every input size, measured before any codec benchmark.
  std::set<std::uint64_t> copy_sizes;
  for (const auto& c : kept) copy_sizes.insert(c.spec.bytes);
  std::string copy_note;
  for (std::uint64_t bytes : copy_sizes) {
    if (2 * bytes > usable) continue;
    try {
      copy_gbps[bytes] = measure_copy(bytes);
      copy_note += (copy_note.empty() ? "" : ", ") + std::to_string(bytes) + ":" + fixed(copy_gbps[bytes], 1);
    } catch (const std::exception& ex) {
      report_failure("copy reference " + std::to_string(bytes), ex.what());
      (void)cudaGetLastError();
    }
  }
  benchmark::AddCustomContext("actzip_copy_GBps", copy_note);

  for (std::uint64_t bytes : copy_sizes) {
    if (copy_gbps.count(bytes) == 0) continue;
    configure(benchmark::RegisterBenchmark(("copy/" + std::to_string(bytes)).c_str(),
                                           [bytes](benchmark::State& state) { run_copy(state, bytes); }));
  }
  for (const auto& c : kept) register_case(c);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  (void)cudaStreamSynchronize(ctx.stream);
  slot.release();
  (void)cudaEventDestroy(ctx.start);
  (void)cudaEventDestroy(ctx.stop);
  (void)cudaStreamDestroy(ctx.stream);
  if (failures.load() != 0) {
    std::fprintf(stderr, "actzip-bench-gpu: %d failure(s), see the FAILURE lines above\n", failures.load());
    return 1;
  }
  return 0;
}
