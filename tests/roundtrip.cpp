// SPDX-License-Identifier: Apache-2.0
// Round trips over the whole matrix: every dtype x rank x bound mode x executor,
// the bound checked on every element, zeros exact, and preserve_sign honoured, for
// every codec.
#include "test_support.hpp"

#include <doctest/doctest.h>

using namespace actzip;

namespace {
const extents shapes[] = {extents{10000},  extents{4096},       extents{1},         extents{130, 70},
                          extents{64, 64}, extents{17, 33, 19}, extents{32, 16, 48}};

template <class T, class Exec>
void run_matrix(const Exec& e) {
  for (const extents& shape : shapes) {
    std::vector<T> input = actzip_test::smooth_field<T>(shape, shape.size());
    for (std::size_t i = 0; i < input.size(); i += 7) input[i] = actzip_test::from_double<T>(0.0);  // zeros
    for (const bound b :
         {actzip::abs(1e-1), actzip::abs(1e-3), actzip::rel(1e-2), actzip::rel(1e-3), actzip::rel(1e-4)}) {
      for (bool sign : {false, true}) {
        for (const codec c : actzip_test::all_codecs) {
          params p{b};
          p.preserve_sign = sign;
          p.codec = c;
          header h;
          const std::vector<T> back = actzip_test::round_trip(e, input, shape, p, &h);
          CAPTURE(static_cast<int>(c));
          CHECK(h.codec == c);
          CAPTURE(shape.rank());
          CAPTURE(shape.size());
          CAPTURE(b.value);
          const double requested = b.mode == bound_mode::absolute ? b.value : b.value * (h.value_max - h.value_min);
          CHECK(h.absolute_bound <= requested);
          const actzip_test::check_result r = actzip_test::check(input, back, h.absolute_bound);
          CHECK_MESSAGE(r.violations == 0, r.first);
          CHECK(r.zero_changed == 0);
          if (sign) CHECK(r.sign_changed == 0);
          CHECK(h.shape == shape);
        }
      }
    }
  }
}
}  // namespace

TEST_CASE_TEMPLATE("round trip, serial executor", T, ACTZIP_ELEMENT_TYPES) {
  run_matrix<T>(exec::serial);
}

#if ACTZIP_HAS_OPENMP
TEST_CASE_TEMPLATE("round trip, OpenMP executor", T, ACTZIP_ELEMENT_TYPES) {
  run_matrix<T>(exec::omp_t{3});
}
#endif

TEST_CASE_TEMPLATE("smooth data compresses and loose bounds compress more", T, ACTZIP_ELEMENT_TYPES) {
  const extents shape{64, 64, 64};
  const std::vector<T> input = actzip_test::smooth_field<T>(shape, 3);
  header loose, tight;
  actzip_test::round_trip(exec::serial, input, shape, params{actzip::rel(1e-2)}, &loose);
  actzip_test::round_trip(exec::serial, input, shape, params{actzip::rel(1e-4)}, &tight);
  CHECK(loose.ratio() > tight.ratio());
  CHECK(loose.ratio() > 3.0);
}

TEST_CASE("all-zero tensors compress to almost nothing and come back as zeros") {
  const std::vector<float> zeros(1 << 20, 0.0f);
  header h;
  const std::vector<float> back =
      actzip_test::round_trip(exec::serial, zeros, extents{1 << 20}, params{actzip::rel(1e-3)}, &h);
  CHECK(h.ratio() > 1000);
  for (float x : back) REQUIRE(actzip::bit_cast<std::uint32_t>(x) == 0u);
}

TEST_CASE("ReLU-sparse activations keep their zeros and their mask under preserve_sign") {
  const std::vector<float> input = actzip_test::relu_field<float>(256 * 1024, 5);
  params p{actzip::rel(1e-2)};
  p.preserve_sign = true;
  header h;
  const std::vector<float> back = actzip_test::round_trip(exec::serial, input, extents{256, 32, 32}, p, &h);
  const auto r = actzip_test::check(input, back, h.absolute_bound);
  CHECK(r.violations == 0);
  CHECK(r.zero_changed == 0);
  CHECK(r.sign_changed == 0);
  for (std::size_t i = 0; i < input.size(); ++i) REQUIRE((input[i] > 0) == (back[i] > 0));
}
