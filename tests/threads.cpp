// SPDX-License-Identifier: Apache-2.0
// Thread safety: several host threads compress and decompress at the same time,
// with the serial and the OpenMP executors (nested inside the threads), and every
// stream and reconstruction equals the one a single thread produces. The library
// keeps no global mutable state; this test (also built under ThreadSanitizer)
// holds it to that.
#include "test_support.hpp"

#include <actzip/actzip.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace {

struct job {
  actzip::extents shape;
  actzip::params p;
  std::vector<float> input;
  std::vector<std::byte> stream;   // the single-threaded reference
  std::vector<float> back;
};

std::vector<job> make_jobs() {
  std::vector<job> jobs;
  const actzip::extents shapes[] = {actzip::extents{70000}, actzip::extents{130, 70}, actzip::extents{20, 33, 17},
                                    actzip::extents{0, 4}, actzip::extents{64, 64, 16}};
  const actzip::params params[] = {actzip::params{actzip::rel(1e-3)}, actzip::params{actzip::abs(1e-2)},
                                   actzip::params{actzip::rel(1e-4), actzip::codec::bitplane, true}};
  std::uint64_t seed = 1;
  for (const auto& shape : shapes)
    for (const auto& p : params) {
      job j;
      j.shape = shape;
      j.p = p;
      j.input = seed % 2 ? actzip_test::smooth_field<float>(shape, seed) : actzip_test::relu_field<float>(shape.size(), seed);
      j.stream = actzip::compress(actzip::exec::serial, j.input.data(), shape, p);
      j.back = actzip::decompress<float>(actzip::exec::serial, j.stream.data(), j.stream.size());
      jobs.push_back(std::move(j));
      ++seed;
    }
  return jobs;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

template <class Exec>
void hammer(const Exec& e, const std::vector<job>& jobs, unsigned threads, unsigned rounds) {
  std::atomic<unsigned> mismatches{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (unsigned r = 0; r < rounds; ++r)
        for (std::size_t k = 0; k < jobs.size(); ++k) {
          const job& j = jobs[(k + t) % jobs.size()];  // threads work on different jobs at any moment
          const std::vector<std::byte> z = actzip::compress(e, j.input.data(), j.shape, j.p);
          if (z != j.stream) ++mismatches;
          const std::vector<float> back = actzip::decompress<float>(e, z.data(), z.size());
          if (!same_bits(back, j.back)) ++mismatches;
        }
    });
  for (auto& th : pool) th.join();
  CHECK(mismatches.load() == 0);
}

}  // namespace

TEST_CASE("concurrent calls from several host threads give the single-threaded streams") {
  const std::vector<job> jobs = make_jobs();
  SUBCASE("serial executor in 4 threads") { hammer(actzip::exec::serial, jobs, 4, 3); }
#if ACTZIP_HAS_OPENMP
  SUBCASE("omp executor (2 threads each) in 3 threads") { hammer(actzip::exec::omp_t{2}, jobs, 3, 2); }
#endif
}

TEST_CASE("concurrent decoding of one shared stream") {
  // Decoders only read the stream: many threads may decode the same bytes at once.
  const std::vector<job> jobs = make_jobs();
  const job& j = jobs[0];
  std::atomic<unsigned> mismatches{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < 4; ++t)
    pool.emplace_back([&] {
      for (int r = 0; r < 5; ++r) {
        std::vector<float> back(j.back.size());
        if (actzip::decompress(actzip::exec::serial, j.stream.data(), j.stream.size(), back.data(), back.size()) !=
                actzip::status::success ||
            !same_bits(back, j.back))
          ++mismatches;
      }
    });
  for (auto& th : pool) th.join();
  CHECK(mismatches.load() == 0);
}
