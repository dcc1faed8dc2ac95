// SPDX-License-Identifier: Apache-2.0
//
// Host benchmarks of actzip's core layer: compress and decompress throughput with
// the serial executor (one core: the per-core figure) and the OpenMP executor (all
// cores), for the three codecs (bitplane, huffman, automatic), for float, double,
// half and bfloat16, at relative bounds 1e-2, 1e-3 and 1e-4, on real data
// (Fashion-MNIST training images, Ferret climate fields with their fill values
// turned into NaN) and synthetic data (a smooth 3-D field, a ReLU-like activation
// tensor). Buffers are preallocated with max_compressed_bytes and workspace_bytes,
// so no allocation is timed.
//
// Names: <compress|decompress>/<serial|omp>/<bitplane|huffman|automatic>/
//        <f32|f64|f16|bf16>/<data>/<rel1e-N>.
// Bytes processed are the uncompressed bytes. Counters (computed outside the timed
// loop, on this executor's stream and reconstruction):
//   ratio               uncompressed bytes / stream bytes
//   max_err_over_bound  max |x - x'| / (rel * (max - min)), in double, finite x only
//   psnr                dB, 20 log10(max - min) - 10 log10(MSE), finite x only
//   violations          elements breaking the bound; a NaN must come back as NaN and
//                       an infinity as itself
// An omp benchmark also checks that its stream and its reconstruction are
// byte-identical to the serial ones (those of the serial benchmark of the same case,
// which runs just before it, or recomputed when that one did not run); a mismatch or
// a violation is printed to stderr and makes the program exit with status 1 after
// all benchmarks have run.
//
// Each benchmark runs 3 repetitions of at least 0.1 s (wall clock); bench/summarize.py
// reports the best repetition, which filters out interference from other processes.
// The untimed first compression and decompression and the checks run once per
// benchmark, not once per repetition (the results are deterministic); later
// repetitions of a compress benchmark check that they wrote the same stream size.
// By default float runs with every codec on every data set, and the other types
// with the bitplane and huffman codecs on a subset of the data sets (see the plan
// in main); --actzip_all runs every combination.

#include <actzip/actzip.hpp>
#include <benchmark/benchmark.h>

#include "data.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

namespace {

using actzip::bfloat16;
using actzip::half;

using actzip_bench::from_float;

template <class T>
double to_double(T v) {
  return static_cast<double>(actzip::dtype_traits<T>::to_compute(v));
}

// ---- data sets ----------------------------------------------------------------------

// One data set, with its values converted to every element type on demand.
using dataset = actzip_bench::typed_data_set;

std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string s;
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

std::unique_ptr<dataset> make_dataset(std::string name, actzip_bench::field&& f) {
  auto d = std::make_unique<dataset>();
  d->name = std::move(name);
  d->shape = actzip::extents::from_array(static_cast<unsigned>(f.shape.size()), f.shape.data());
  d->f32 = std::move(f.values);
  return d;
}

// ---- quality metrics --------------------------------------------------------------

struct quality {
  double max_err_over_bound = 0;
  double psnr = 0;
  double violations = 0;
};

template <class T>
quality measure(const T* in, const T* out, std::size_t n, double rel) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = to_double(in[i]);
    if (std::isfinite(x)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  const double range = lo <= hi ? hi - lo : 0.0;
  const double bound = rel * range;
  double max_err = 0, sse = 0;
  std::uint64_t finite = 0, violations = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = to_double(in[i]);
    const double y = to_double(out[i]);
    if (std::isnan(x)) {
      if (!std::isnan(y)) ++violations;
      continue;
    }
    if (std::isinf(x)) {
      if (!(y == x)) ++violations;
      continue;
    }
    ++finite;
    const double err = std::fabs(x - y);
    if (!(err <= bound)) ++violations;
    if (std::isfinite(err)) {
      max_err = std::max(max_err, err);
      sse += err * err;
    } else {
      max_err = std::numeric_limits<double>::infinity();
    }
  }
  quality q;
  q.violations = static_cast<double>(violations);
  q.max_err_over_bound = bound > 0 ? max_err / bound : (max_err == 0 ? 0.0 : std::numeric_limits<double>::infinity());
  const double mse = finite ? sse / static_cast<double>(finite) : 0.0;
  q.psnr = mse > 0 && range > 0 ? 20.0 * std::log10(range) - 10.0 * std::log10(mse)
                                : std::numeric_limits<double>::infinity();
  return q;
}

// ---- the benchmarks ---------------------------------------------------------------

std::atomic<int> failures{0};

void report_failure(const std::string& name, const std::string& what) {
  std::fprintf(stderr, "actzip-bench-host: FAILURE in %s: %s\n", name.c_str(), what.c_str());
  ++failures;
}

template <class Exec>
constexpr const char* exec_name();
template <>
constexpr const char* exec_name<actzip::exec::serial_t>() {
  return "serial";
}
#if ACTZIP_HAS_OPENMP
template <>
constexpr const char* exec_name<actzip::exec::omp_t>() {
  return "omp";
}
#endif

enum class direction { compress, decompress };

// Buffers of one benchmark, allocated before timing.
template <class Exec, class T>
struct buffers {
  std::vector<unsigned char> stream;
  std::vector<unsigned char> workspace;
  std::vector<T> out;
  std::uint64_t stream_bytes = 0;

  buffers(const Exec& e, const actzip::extents& shape, std::size_t n)
      : stream(static_cast<std::size_t>(actzip::max_compressed_bytes<T>(shape))),
        workspace(static_cast<std::size_t>(actzip::workspace_bytes(e, shape))),
        out(n) {}

  actzip::status compress(const Exec& e, const T* in, const actzip::extents& shape, const actzip::params& p) {
    return actzip::compress(e, in, shape, p, stream.data(), stream.size(), &stream_bytes,
                            workspace.empty() ? nullptr : workspace.data(), workspace.size());
  }
  actzip::status decompress(const Exec& e) {
    return actzip::decompress(e, stream.data(), stream_bytes, out.data(), out.size());
  }
};

std::string status_message(const char* what, actzip::status s) {
  return std::string(what) + " failed: " + actzip::to_string(s);
}

// The stream and reconstruction of the last serial benchmark, kept for the omp
// benchmark of the same case (codec, dtype, data set, bound), which is registered
// right after it: the omp benchmark compares its own stream and reconstruction with
// these bytes instead of compressing and decompressing again with the serial
// executor. An omp benchmark that runs without its serial counterpart (e.g. under
// --benchmark_filter=/omp/) computes the serial reference itself.
struct serial_reference {
  std::string case_key;               // codec/dtype/data/bound; empty: nothing kept
  std::vector<unsigned char> stream;  // the serial stream, exactly its size
  std::vector<unsigned char> output;  // the serial reconstruction's bytes
};
serial_reference last_serial;

// What one benchmark keeps between the calls Google Benchmark makes of its function
// (the iteration-count probes, then one call per repetition): the buffers, filled
// by the untimed first compression and decompression, and the counters, measured
// by the untimed checks after the first timed loop. Only the benchmark that is
// running holds buffers: a call for another name replaces them.
template <class Exec, class T>
struct prepared {
  buffers<Exec, T> b;
  std::string failure;  // the setup's failure, reported once; empty when none
  bool checked = false;
  quality q;

  prepared(const Exec& e, const actzip::extents& shape, std::size_t n) : b(e, shape, n) {}
};

struct current_benchmark {
  std::string name;
  std::shared_ptr<void> state;  // a prepared<Exec, T>
};
current_benchmark current;

template <class Exec, class T>
prepared<Exec, T>& prepare(const std::string& name, const Exec& e, const T* in, const actzip::extents& shape,
                           std::size_t n, const actzip::params& p) {
  if (current.name == name && current.state) return *std::static_pointer_cast<prepared<Exec, T>>(current.state);
  current.state.reset();  // free the previous benchmark's buffers first
  current.name = name;
  auto c = std::make_shared<prepared<Exec, T>>(e, shape, n);
  current.state = c;
  // Untimed first calls: produce the stream, touch every page of the buffers.
  if (c->b.stream.empty())
    c->failure = "max_compressed_bytes returned 0";
  else if (actzip::status s = c->b.compress(e, in, shape, p); s != actzip::status::success)
    c->failure = status_message("compress", s);
  else if (actzip::status s2 = c->b.decompress(e); s2 != actzip::status::success)
    c->failure = status_message("decompress", s2);
  if (!c->failure.empty()) report_failure(name, c->failure);
  return *c;
}

// The untimed checks of one benchmark, on its executor's stream and reconstruction:
// the bound, and for omp byte-identity with the serial executor. Failures go to
// report_failure.
template <class Exec, class T>
void check(const std::string& name, const std::string& case_key, const Exec& e, prepared<Exec, T>& c,
           const std::vector<T>& data, const actzip::extents& shape, const actzip::params& p, double rel) {
  constexpr bool is_serial = std::is_same<Exec, actzip::exec::serial_t>::value;
  const std::size_t n = data.size();
  buffers<Exec, T>& b = c.b;
  c.checked = true;
  if (actzip::status s = b.decompress(e); s != actzip::status::success) {
    report_failure(name, status_message("final decompress", s));
    return;
  }
  c.q = measure(data.data(), b.out.data(), n, rel);
  if (c.q.violations > 0 || c.q.max_err_over_bound > 1.0)
    report_failure(name, std::to_string(static_cast<std::uint64_t>(c.q.violations)) +
                             " bound violations, max_err_over_bound " + std::to_string(c.q.max_err_over_bound));

  const auto* out_bytes = reinterpret_cast<const unsigned char*>(b.out.data());
  if constexpr (is_serial) {
    last_serial.stream.assign(b.stream.begin(), b.stream.begin() + static_cast<std::ptrdiff_t>(b.stream_bytes));
    last_serial.output.assign(out_bytes, out_bytes + n * sizeof(T));
    last_serial.case_key = case_key;
  } else {
    if (last_serial.case_key != case_key) {
      last_serial.case_key.clear();
      buffers<actzip::exec::serial_t, T> ref(actzip::exec::serial, shape, n);
      if (actzip::status s = ref.compress(actzip::exec::serial, data.data(), shape, p); s != actzip::status::success) {
        report_failure(name, status_message("serial reference compress", s));
        return;
      }
      if (actzip::status s = ref.decompress(actzip::exec::serial); s != actzip::status::success) {
        report_failure(name, status_message("serial reference decompress", s));
        return;
      }
      const auto* ref_out = reinterpret_cast<const unsigned char*>(ref.out.data());
      last_serial.stream.assign(ref.stream.begin(), ref.stream.begin() + static_cast<std::ptrdiff_t>(ref.stream_bytes));
      last_serial.output.assign(ref_out, ref_out + n * sizeof(T));
      last_serial.case_key = case_key;
    }
    const std::vector<unsigned char>& ref_stream = last_serial.stream;
    if (ref_stream.size() != b.stream_bytes || std::memcmp(ref_stream.data(), b.stream.data(), ref_stream.size()) != 0)
      report_failure(name, "stream differs from the serial executor's (" + std::to_string(b.stream_bytes) + " vs " +
                               std::to_string(ref_stream.size()) + " bytes)");
    if (last_serial.output.size() != n * sizeof(T) ||
        std::memcmp(last_serial.output.data(), out_bytes, n * sizeof(T)) != 0)
      report_failure(name, "reconstruction differs from the serial executor's");
  }
}

template <class Exec, class T>
void run(benchmark::State& state, const std::string& name, const std::string& case_key, direction dir, const Exec& e,
         actzip::codec codec, const std::vector<T>& data, const actzip::extents& shape, double rel) {
  actzip::params p{actzip::rel(rel)};
  p.codec = codec;
  const std::size_t n = data.size();
  prepared<Exec, T>& c = prepare(name, e, data.data(), shape, n, p);
  if (!c.failure.empty()) {
    state.SkipWithError(c.failure.c_str());
    return;
  }
  buffers<Exec, T>& b = c.b;

  bool timed_ok = true;
  if (dir == direction::compress) {
    std::uint64_t size = 0;
    for (auto _ : state) {
      const actzip::status s = actzip::compress(e, data.data(), shape, p, b.stream.data(), b.stream.size(), &size,
                                                b.workspace.empty() ? nullptr : b.workspace.data(), b.workspace.size());
      benchmark::DoNotOptimize(size);
      benchmark::ClobberMemory();
      if (s != actzip::status::success) {
        state.SkipWithError("compress failed");
        timed_ok = false;
        break;
      }
    }
    if (timed_ok && size != b.stream_bytes) {
      report_failure(name, "the timed compression wrote " + std::to_string(size) + " bytes, the first one " +
                               std::to_string(b.stream_bytes));
      timed_ok = false;
    }
  } else {
    for (auto _ : state) {
      const actzip::status s = actzip::decompress(e, b.stream.data(), b.stream_bytes, b.out.data(), b.out.size());
      benchmark::DoNotOptimize(b.out.data());
      benchmark::ClobberMemory();
      if (s != actzip::status::success) {
        state.SkipWithError("decompress failed");
        timed_ok = false;
        break;
      }
    }
  }
  if (!timed_ok) {
    if (!c.checked) report_failure(name, "the timed loop failed");
    c.checked = true;  // nothing more to check, and report only once
    return;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n * sizeof(T)));

  if (!c.checked) check(name, case_key, e, c, data, shape, p, rel);
  state.counters["ratio"] = static_cast<double>(n * sizeof(T)) / static_cast<double>(b.stream_bytes);
  state.counters["max_err_over_bound"] = c.q.max_err_over_bound;
  state.counters["psnr"] = c.q.psnr;
  state.counters["violations"] = c.q.violations;
}

const char* bound_name(double rel) {
  if (rel == 1e-2) return "rel1e-2";
  if (rel == 1e-3) return "rel1e-3";
  if (rel == 1e-4) return "rel1e-4";
  return "rel?";
}

template <class Exec, class T>
void register_one(direction dir, const Exec& e, actzip::codec codec, dataset& d, double rel) {
  const std::vector<T>& data = d.values<T>();
  const std::string case_key = std::string(actzip::to_string(codec)) + "/" + actzip::to_string(actzip::dtype_traits<T>::code) +
                               "/" + d.name + "/" + bound_name(rel);
  const std::string name =
      std::string(dir == direction::compress ? "compress/" : "decompress/") + exec_name<Exec>() + "/" + case_key;
  const actzip::extents shape = d.shape;
  benchmark::RegisterBenchmark(name.c_str(),
                               [name, case_key, dir, e, codec, &data, shape, rel](benchmark::State& state) {
                                 run(state, name, case_key, dir, e, codec, data, shape, rel);
                               })
      ->UseRealTime()
      ->MinTime(0.1)
      ->Repetitions(3)
      ->Unit(benchmark::kMillisecond);
}

// Registers type T on data set d with the given codecs, both directions, both
// executors, every bound. The codecs of one bound and direction run one after the
// other, so the figures compared side by side are measured close in time.
template <class T>
void register_type(dataset& d, const std::vector<actzip::codec>& codecs) {
  for (double rel : {1e-2, 1e-3, 1e-4}) {
    for (direction dir : {direction::compress, direction::decompress}) {
      for (actzip::codec codec : codecs) {
        register_one<actzip::exec::serial_t, T>(dir, actzip::exec::serial, codec, d, rel);
#if ACTZIP_HAS_OPENMP
        register_one<actzip::exec::omp_t, T>(dir, actzip::exec::omp_t{}, codec, d, rel);
#endif
      }
    }
  }
}

bool take_flag(int* argc, char** argv, const char* flag) {
  bool found = false;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    if (std::strcmp(argv[i], flag) == 0)
      found = true;
    else
      argv[out++] = argv[i];
  }
  *argc = out;
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  const bool all = take_flag(&argc, argv, "--actzip_all");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  std::vector<std::unique_ptr<dataset>> sets;
  std::string description;
  auto add = [&](std::string name, actzip_bench::field&& f, const std::string& note) {
    description += (description.empty() ? "" : "; ") + name + " {" + shape_string(f.shape) + "}" + note;
    sets.push_back(make_dataset(std::move(name), std::move(f)));
  };
  try {
    actzip_bench::load_real_data_sets("actzip-bench-host", 10000, add);
    add("synthetic-smooth", actzip_bench::make_smooth_field(256, 256, 256), "");
    add("synthetic-relu", actzip_bench::make_relu_activation(1024, 56, 56), "");
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "actzip-bench-host: loading data failed: %s\n", ex.what());
    return 1;
  }
  benchmark::AddCustomContext("actzip_data", description);
#if ACTZIP_HAS_OPENMP
  benchmark::AddCustomContext("actzip_omp_threads", std::to_string(omp_get_max_threads()));
#else
  benchmark::AddCustomContext("actzip_omp_threads", "OpenMP disabled");
#endif

  // The plan, both executors everywhere: float with every codec on every data set;
  // the other types with the bitplane and huffman codecs on Fashion-MNIST, the
  // Levitus temperature field (NaN-heavy) and the ReLU activations (automatic, which
  // runs both encoders per chunk, only for float). --actzip_all: every type with
  // every codec on every data set.
  const std::vector<actzip::codec> every_codec{actzip::codec::bitplane, actzip::codec::huffman,
                                               actzip::codec::automatic};
  const std::vector<actzip::codec> other_types_codecs =
      all ? every_codec : std::vector<actzip::codec>{actzip::codec::bitplane, actzip::codec::huffman};
  auto wide = [&](const dataset& d) {
    return all || d.name == "fashion-mnist" || d.name == "levitus_climatology.TEMP.fill2nan" ||
           d.name == "synthetic-relu";
  };
  std::string plan = all ? "every dtype with every codec (bitplane, huffman, automatic) on every data set"
                         : "f32 with bitplane, huffman, automatic on every data set; f64, f16, bf16 with bitplane, "
                           "huffman on";
  for (auto& d : sets) {
    register_type<float>(*d, every_codec);
    if (wide(*d)) {
      register_type<double>(*d, other_types_codecs);
      register_type<half>(*d, other_types_codecs);
      register_type<bfloat16>(*d, other_types_codecs);
      if (!all) plan += " " + d->name;
    }
  }
  benchmark::AddCustomContext("actzip_plan", plan);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (failures.load() != 0) {
    std::fprintf(stderr, "actzip-bench-host: %d failure(s), see the FAILURE lines above\n", failures.load());
    return 1;
  }
  return 0;
}
