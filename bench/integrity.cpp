// SPDX-License-Identifier: Apache-2.0
//
// What the stream checksum costs on the host: the checksum pass alone (verify) per
// executor, and decompression with and without verification, on streams of smooth
// float fields at two bounds (a stream that compresses well and one that does not).
// Throughput is uncompressed bytes per second, like the other host benchmarks, and
// `stream_GBps` is stream bytes per second for the checksum pass.
//   actzip-bench-integrity [--benchmark_out=FILE --benchmark_out_format=json]
#include <actzip/actzip.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace {

//! A smooth 3-D float field of `n0 x 256 x 256` values with a little noise.
std::vector<float> field(std::uint64_t n0) {
  const std::uint64_t n1 = 256, n2 = 256;
  std::vector<float> v(static_cast<std::size_t>(n0 * n1 * n2));
  std::uint64_t state = 12345;
  for (std::uint64_t i = 0; i < n0; ++i)
    for (std::uint64_t j = 0; j < n1; ++j)
      for (std::uint64_t k = 0; k < n2; ++k) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const double noise = static_cast<double>(state >> 11) * 0x1.0p-53 - 0.5;
        const double x = static_cast<double>(i), y = static_cast<double>(j), z = static_cast<double>(k);
        v[static_cast<std::size_t>((i * n1 + j) * n2 + k)] =
            static_cast<float>(std::sin(0.05 * x) * std::cos(0.031 * y) + 0.5 * std::sin(0.017 * z + 0.2 * x) +
                               1e-3 * noise);
      }
  return v;
}

struct fixture {
  actzip::extents shape{256, 256, 256};  // 64 MiB of float
  std::vector<float> data = field(256);
};

fixture& shared() {
  static fixture f;
  return f;
}

template <class Exec>
void bm_verify(benchmark::State& state, Exec e, double rel) {
  fixture& f = shared();
  const std::vector<std::byte> z = actzip::compress(e, f.data.data(), f.shape, actzip::params{actzip::rel(rel)});
  for (auto _ : state) {
    const actzip::status s = actzip::verify(e, z.data(), z.size());
    if (s != actzip::status::success) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(f.data.size() * sizeof(float)));
  state.counters["stream_GBps"] = benchmark::Counter(static_cast<double>(z.size()) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ratio"] = static_cast<double>(f.data.size() * sizeof(float)) / static_cast<double>(z.size());
}

template <class Exec>
void bm_decompress(benchmark::State& state, Exec e, double rel, bool verify) {
  fixture& f = shared();
  const std::vector<std::byte> z = actzip::compress(e, f.data.data(), f.shape, actzip::params{actzip::rel(rel)});
  std::vector<float> out(f.data.size());
  const actzip::decode_options options{verify};
  for (auto _ : state) {
    const actzip::status s = actzip::decompress(e, z.data(), z.size(), out.data(), out.size(), options);
    if (s != actzip::status::success) state.SkipWithError("decompress failed");
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(f.data.size() * sizeof(float)));
  state.counters["ratio"] = static_cast<double>(f.data.size() * sizeof(float)) / static_cast<double>(z.size());
}

template <class Exec>
void register_executor(const char* name, Exec e) {
  for (double rel : {1e-2, 1e-4}) {
    const std::string suffix = std::string(name) + "/f32/smooth-64MiB/" + (rel == 1e-2 ? "rel1e-2" : "rel1e-4");
    const auto setup = [](benchmark::internal::Benchmark* b) {
      b->UseRealTime()->MinTime(0.2)->Repetitions(3)->Unit(benchmark::kMillisecond);
    };
    setup(benchmark::RegisterBenchmark(("verify/" + suffix).c_str(),
                                       [=](benchmark::State& s) { bm_verify(s, e, rel); }));
    setup(benchmark::RegisterBenchmark(("decompress-verified/" + suffix).c_str(),
                                       [=](benchmark::State& s) { bm_decompress(s, e, rel, true); }));
    setup(benchmark::RegisterBenchmark(("decompress-unverified/" + suffix).c_str(),
                                       [=](benchmark::State& s) { bm_decompress(s, e, rel, false); }));
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_executor("serial", actzip::exec::serial);
#if ACTZIP_HAS_OPENMP
  register_executor("omp", actzip::exec::omp_t{});
#endif
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
