// SPDX-License-Identifier: Apache-2.0
// actzip built with -fno-exceptions: the core layer round-trips and returns status
// codes as usual, and the convenience layer, which cannot throw, prints its error
// and aborts (checked in a child process). A plain program, since the test
// framework itself needs exceptions; it ends with an "N passed, N failed" line.
#include <actzip/actzip.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <vector>

#if ACTZIP_HAS_EXCEPTIONS
#error "this test must be compiled with -fno-exceptions"
#endif

namespace {
int passed = 0, failed = 0;
void expect(bool ok, const char* what) {
  ok ? ++passed : ++failed;
  if (!ok) std::printf("FAILED: %s\n", what);
}

template <class Exec>
void round_trip(const Exec& e, const char* name) {
  const actzip::extents shape{40, 50, 60};
  std::vector<float> input(shape.size());
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.01f * static_cast<float>(i));
  const actzip::params p{actzip::rel(1e-3)};
  std::vector<unsigned char> stream(actzip::max_compressed_bytes<float>(shape));
  std::vector<unsigned char> workspace(actzip::workspace_bytes(e, shape));
  std::uint64_t size = 0;
  expect(actzip::compress(e, input.data(), shape, p, stream.data(), stream.size(), &size, workspace.data(),
                          workspace.size()) == actzip::status::success,
         name);
  actzip::header h;
  expect(actzip::inspect(stream.data(), size, &h) == actzip::status::success, name);
  std::vector<float> back(input.size());
  expect(actzip::decompress(e, stream.data(), size, back.data(), back.size()) == actzip::status::success, name);
  bool within = true;
  for (std::size_t i = 0; i < input.size(); ++i) within &= std::fabs(double(input[i]) - double(back[i])) <= h.absolute_bound;
  expect(within, name);
  stream[200] ^= 0xff;  // a damaged stream is a status, not a crash
  expect(actzip::decompress(e, stream.data(), size, back.data(), back.size()) == actzip::status::checksum_mismatch,
         name);
  expect(actzip::decompress(e, stream.data(), size, back.data(), back.size(), actzip::decode_options{false}) ==
             actzip::status::corrupt_stream,
         name);
}
}  // namespace

int main() {
  round_trip(actzip::exec::serial, "core layer, serial");
#if ACTZIP_HAS_OPENMP
  round_trip(actzip::exec::omp, "core layer, omp");
#endif
  // The convenience layer with a good stream works, with a bad one it aborts.
  const std::vector<float> values(1000, 1.5f);
  const std::vector<std::byte> z = actzip::compress(values.data(), actzip::extents{1000}, actzip::params{actzip::abs(0.0)});  // lossless
  expect(actzip::decompress<float>(z.data(), z.size()) == values, "convenience round trip");
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    const unsigned char garbage[16] = {'n', 'o', 't', ' ', 'a', ' ', 's', 't', 'r', 'e', 'a', 'm'};
    (void)actzip::decompress<float>(garbage, sizeof garbage);
    _exit(0);  // not reached: decompress aborts
  }
  int wstatus = 0;
  expect(child > 0 && waitpid(child, &wstatus, 0) == child && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGABRT,
         "the convenience layer aborts on an error");
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
