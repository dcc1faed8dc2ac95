// SPDX-License-Identifier: Apache-2.0
//
// Google Benchmark cases per stage of the host pipeline (float32, one core, the
// serial executor's code), so that a regression shows in the stage where it
// happens. Each case runs its stage over every chunk of a data set:
//
//   quantize      quantize_chunk: the quantizer with the strict check, failures collected
//   lorenzo       prepare_chunk: quantize + 3-D Lorenzo + zig-zag (the bitplane front end)
//   predict       prepare_huffman_chunk: quantize + every predictor trial + zig-zag
//                 (the Huffman front end, run once per chunk by the histogram pass)
//   histogram     huffman_statistics over the chunks' prepared symbols
//   codebook      make_stream_code from the stream's statistics (per stream, not per
//                 element: its time is the same for any data size)
//   encode        the encode pass: each chunk read back from the slot the histogram
//                 pass kept it in, and written with the code book
//   decode        actzip::decompress without the checksum (the whole decoder)
//   compress      actzip::compress with the Huffman codec (the sum of the above, plus
//                 the range pass, keeping each chunk, and the checksum)
//
// Names: stage/<stage>/<data>/<rel1e-N>. Bytes processed are the uncompressed bytes.
// Data: Fashion-MNIST (first 10000 training images) and the ferret climate fields
// (fill values as NaN) when installed (bench/install-data.sh), and two synthetic
// fields (a smooth 3-D field, a ReLU-like activation). Run: actzip-bench-stages
// [--benchmark_filter=...] (the target is built with the host benchmarks).

#include <actzip/actzip.hpp>
#include <benchmark/benchmark.h>

#include "data.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using actzip::chunk_geometry;
using actzip::chunk_scratch;

struct prepared_chunk {
  std::uint32_t n = 0;
  std::uint32_t lossless = 0;
  actzip::predictor m = actzip::predictor::lorenzo_3d;
  bool any = false;
  std::vector<std::uint32_t> coded;
  std::vector<std::uint16_t> lossless_position;
  std::vector<float> lossless_value;
};

struct stage_case {
  std::string name;
  actzip::extents shape;
  std::vector<float> values;
  double rel = 0;
  chunk_geometry geometry{};
  actzip::quantizer<float> qz{};
  std::vector<prepared_chunk> chunks;
  std::vector<unsigned char> kept;    //!< every chunk kept as the histogram pass keeps it
  std::vector<std::uint64_t> slots;   //!< where each chunk's slot starts in `kept`
  std::uint64_t statistics[actzip::huffman_statistics_slots] = {};
  actzip::huffman_code code{};
  std::vector<unsigned char> stream;
  std::uint64_t stream_bytes = 0;
};

//! Adds the Huffman statistics of every chunk that is not stored as nothing to
//! counts (huffman_statistics_slots + 1 slots), segment by segment, as the histogram
//! pass of compress counts them.
void count_symbols(const std::vector<prepared_chunk>& chunks, std::uint32_t* counts) {
  for (const auto& p : chunks) {
    if (!p.any) continue;
    for (std::uint32_t k = 0; k < actzip::huffman_segment_count(p.n); ++k) {
      const std::uint32_t first = k * actzip::huffman_segment_elements;
      const std::uint32_t count =
          p.n - first < actzip::huffman_segment_elements ? p.n - first : actzip::huffman_segment_elements;
      actzip::detail::count_segment_statistics(p.coded.data() + first, count, counts);
    }
  }
}

actzip::extents to_extents(const std::vector<std::uint64_t>& s) {
  if (s.size() == 1) return actzip::extents{s[0]};
  if (s.size() == 2) return actzip::extents{s[0], s[1]};
  return actzip::extents{s[0], s[1], s[2]};
}

//! Everything the stages start from, computed once: the quantizer of the relative
//! bound, each chunk's prepared Huffman symbols, the statistics, the code book and a
//! compressed stream.
std::shared_ptr<stage_case> make_case(const std::string& name, const actzip_bench::field& f, double rel) {
  auto c = std::make_shared<stage_case>();
  c->name = name;
  c->shape = to_extents(f.shape);
  c->values = f.values;
  c->rel = rel;
  c->geometry = actzip::make_chunk_geometry(c->shape);
  float lo = INFINITY, hi = -INFINITY;
  for (float v : c->values)
    if (std::isfinite(v)) {
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
  if (!(lo <= hi)) lo = hi = 0;
  c->qz = actzip::make_quantizer<float>(actzip::absolute_from_relative(rel, lo, hi), false);
  auto s = std::make_unique<chunk_scratch<float>>();
  for (std::uint64_t k = 0; k < c->geometry.count; ++k) {
    prepared_chunk p;
    p.n = c->geometry.chunk_box(k).extent.count();
    p.lossless = actzip::prepare_huffman_chunk(c->values.data(), c->geometry, k, c->qz, *s, &p.m, false);
    p.coded.assign(s->coded, s->coded + p.n);
    p.lossless_position.assign(s->lossless_position, s->lossless_position + p.lossless);
    p.lossless_value.assign(s->lossless_value, s->lossless_value + p.lossless);
    p.any = p.lossless != 0;
    for (std::uint32_t i = 0; i < p.n && !p.any; ++i) p.any = p.coded[i] != 0;
    c->slots.push_back(c->kept.size());
    c->kept.resize(c->kept.size() + actzip::detail::raw_chunk_bytes(p.n, sizeof(float)));
    actzip::detail::keep_prepared_chunk(*s, p.n, p.lossless, p.m, p.any, c->kept.data() + c->slots.back());
    c->chunks.push_back(std::move(p));
  }
  std::uint32_t counts[actzip::huffman_statistics_slots + 1] = {};
  count_symbols(c->chunks, counts);
  for (unsigned k = 0; k < actzip::huffman_statistics_slots; ++k) c->statistics[k] = counts[k];
  std::uint64_t stats[actzip::huffman_statistics_slots];
  std::memcpy(stats, c->statistics, sizeof stats);
  auto build = std::make_unique<actzip::huffman_build_scratch>();
  actzip::make_stream_code(stats, c->code, *build);
  c->stream.resize(actzip::max_compressed_bytes<float>(c->shape));
  const actzip::params p{actzip::rel(rel), actzip::codec::huffman};
  if (actzip::compress(actzip::exec::serial, c->values.data(), c->shape, p, c->stream.data(), c->stream.size(),
                       &c->stream_bytes) != actzip::status::success)
    c->stream_bytes = 0;
  return c;
}

void set_bytes(benchmark::State& state, const stage_case& c) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(c.values.size() * sizeof(float)));
}

//! Runs `stage(scratch, chunk)` (returning the chunk's lossless count) over every chunk.
template <class Stage>
void run_front_end(benchmark::State& state, const stage_case* c, Stage stage) {
  auto s = std::make_unique<chunk_scratch<float>>();
  for (auto _ : state) {
    std::uint32_t lossless = 0;
    for (std::uint64_t k = 0; k < c->geometry.count; ++k) lossless += stage(*s, k);
    benchmark::DoNotOptimize(lossless);
    benchmark::ClobberMemory();
  }
  set_bytes(state, *c);
}

void bm_quantize(benchmark::State& state, const stage_case* c) {
  run_front_end(state, c, [c](chunk_scratch<float>& s, std::uint64_t k) {
    return actzip::quantize_chunk(c->values.data(), c->geometry, k, c->qz, s, s.index);
  });
}

void bm_lorenzo(benchmark::State& state, const stage_case* c) {
  run_front_end(state, c, [c](chunk_scratch<float>& s, std::uint64_t k) {
    return actzip::prepare_chunk(c->values.data(), c->geometry, k, c->qz, s);
  });
}

void bm_predict(benchmark::State& state, const stage_case* c) {
  run_front_end(state, c, [c](chunk_scratch<float>& s, std::uint64_t k) {
    actzip::predictor m;
    return actzip::prepare_huffman_chunk(c->values.data(), c->geometry, k, c->qz, s, &m, false);
  });
}

void bm_histogram(benchmark::State& state, const stage_case* c) {
  std::uint32_t counts[actzip::huffman_statistics_slots + 1];
  for (auto _ : state) {
    std::memset(counts, 0, sizeof counts);
    count_symbols(c->chunks, counts);
    benchmark::DoNotOptimize(counts);
    benchmark::ClobberMemory();
  }
  set_bytes(state, *c);
}

void bm_codebook(benchmark::State& state, const stage_case* c) {
  auto build = std::make_unique<actzip::huffman_build_scratch>();
  actzip::huffman_code code;
  std::uint64_t stats[actzip::huffman_statistics_slots];
  for (auto _ : state) {
    std::memcpy(stats, c->statistics, sizeof stats);
    actzip::make_stream_code(stats, code, *build);
    benchmark::DoNotOptimize(code);
    benchmark::ClobberMemory();
  }
  state.counters["code_bytes"] = static_cast<double>(actzip::detail::huffman_code_bytes(code.stored_lengths));
}

void bm_encode(benchmark::State& state, const stage_case* c) {
  // The encode pass of compress: each chunk read back from the slot the histogram
  // pass kept it in, then written with the code book.
  auto s = std::make_unique<chunk_scratch<float>>();
  std::vector<unsigned char> out(actzip::max_compressed_bytes<float>(c->shape));
  std::uint32_t encoding[actzip::huffman_symbol_count];
  actzip::detail::make_encoding_table(c->code, encoding);
  std::uint64_t runs[actzip::huffman_segment_elements + 1];
  actzip::detail::make_run_table(c->code, runs);
  std::uint64_t total = 0;
  for (auto _ : state) {
    total = 0;
    for (std::uint64_t k = 0; k < c->geometry.count; ++k)
      total += actzip::detail::encode_kept_chunk(c->values.data(), c->geometry, k, c->qz, *s,
                                                 c->kept.data() + c->slots[k], c->code, encoding, runs,
                                                 out.data() + total);
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  set_bytes(state, *c);
}

void bm_decode(benchmark::State& state, const stage_case* c) {
  std::vector<float> back(c->values.size());
  for (auto _ : state) {
    const auto st = actzip::decompress(actzip::exec::serial, c->stream.data(), c->stream_bytes, back.data(),
                                       back.size(), actzip::decode_options{false});
    if (st != actzip::status::success) state.SkipWithError("decompress failed");
    benchmark::ClobberMemory();
  }
  set_bytes(state, *c);
}

void bm_compress(benchmark::State& state, const stage_case* c) {
  std::vector<unsigned char> out(actzip::max_compressed_bytes<float>(c->shape));
  const actzip::params p{actzip::rel(c->rel), actzip::codec::huffman};
  std::uint64_t size = 0;
  for (auto _ : state) {
    if (actzip::compress(actzip::exec::serial, c->values.data(), c->shape, p, out.data(), out.size(), &size) !=
        actzip::status::success)
      state.SkipWithError("compress failed");
    benchmark::ClobberMemory();
  }
  set_bytes(state, *c);
  state.counters["ratio"] = static_cast<double>(c->values.size() * sizeof(float)) / static_cast<double>(size);
}

std::string bound_name(double rel) { return "rel1e-" + std::to_string(static_cast<int>(std::lround(-std::log10(rel)))); }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<std::string, actzip_bench::field>> data;
  actzip_bench::load_real_data_sets("actzip-bench-stages", 10000, [&](std::string name, actzip_bench::field f,
                                                                      const std::string&) {
    data.emplace_back(std::move(name), std::move(f));
  });
  data.emplace_back("synthetic.smooth", actzip_bench::make_smooth_field(128, 128, 128));
  data.emplace_back("synthetic.relu-activation", actzip_bench::make_relu_activation(256, 56, 56));

  std::vector<std::shared_ptr<stage_case>> cases;
  for (const auto& [name, f] : data)
    for (double rel : {1e-2, 1e-3, 1e-4}) cases.push_back(make_case(name, f, rel));

  using fn = void (*)(benchmark::State&, const stage_case*);
  const std::pair<const char*, fn> stages[] = {
      {"quantize", bm_quantize}, {"lorenzo", bm_lorenzo}, {"predict", bm_predict},
      {"histogram", bm_histogram}, {"codebook", bm_codebook}, {"encode", bm_encode},
      {"decode", bm_decode}, {"compress", bm_compress},
  };
  for (const auto& [stage, f] : stages)
    for (const auto& c : cases) {
      const std::string name = std::string("stage/") + stage + "/" + c->name + "/" + bound_name(c->rel);
      benchmark::RegisterBenchmark(name.c_str(), f, c.get())->Unit(benchmark::kMicrosecond)->UseRealTime();
    }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
