// SPDX-License-Identifier: Apache-2.0
// The two API layers: size queries, status codes for bad arguments, caller-owned
// buffers and workspace, exceptions from the convenience layer.
#include "test_support.hpp"

#include <doctest/doctest.h>

using namespace actzip;

TEST_CASE("the quickstart reads as documented") {
  const std::uint64_t n = 2, c = 3, h = 10, w = 12;
  std::vector<float> act = actzip_test::relu_field<float>(n * c * h * w, 1);
  actzip::extents shape{n * c, h, w};                        // C order
  actzip::params p{actzip::rel(1e-3)};                       // bitplane codec by default
  std::vector<std::byte> z = actzip::compress(act.data(), shape, p);
  actzip::header hdr = actzip::inspect(z.data(), z.size());  // dtype, extents, bound, sizes
  std::vector<float> back = actzip::decompress<float>(z.data(), z.size());
  CHECK(hdr.shape == shape);
  CHECK(hdr.dtype == dtype::float32);
  CHECK(back.size() == act.size());
  CHECK(actzip_test::check(act, back, hdr.absolute_bound).violations == 0);
}

TEST_CASE("extents accept any integer type and refuse negative or too many extents") {
  const int n = 2, c = 3, h = 5, w = 7;
  const extents a{n * c, h, w};
  CHECK(a.rank() == 3);
  CHECK(a.size() == 210);
  CHECK(a[0] == 6);
  CHECK(a[5] == 1);
  CHECK_FALSE(extents{-1, 5}.valid());
  CHECK_FALSE((extents{1, 2, 3, 4}.valid()));
  CHECK(extents{}.valid());
  CHECK(extents{}.size() == 0);
  CHECK(extents::linear(9) == extents{9u});
}

TEST_CASE("max_compressed_bytes is a true bound and cheap to ask before data exists") {
  // The header and room for the largest code book (Huffman and automatic streams).
  CHECK(max_compressed_bytes<float>(extents{0}) == header_bytes + detail::huffman_code_max_bytes);
  CHECK(max_compressed_bytes<float>(extents{4096}) >= header_bytes + 8 + 4 + 4 * 4096);
  CHECK(max_compressed_bytes(dtype::float16, extents{3, 5, 7}) == max_compressed_bytes<half>(extents{3, 5, 7}));
  CHECK(max_compressed_bytes<float>(extents{1ull << 40, 1ull << 40}) == 0);  // overflow
  CHECK(max_compressed_bytes<float>(extents{1, 2, 3, 4}) == 0);               // rank 4
  // 5 GiB of float: sizes are 64-bit.
  CHECK(max_compressed_bytes<float>(extents{5ull << 28}) > (5ull << 30));
}

TEST_CASE("compress reports errors as status codes") {
  std::vector<float> v(1000, 1.0f);
  std::vector<std::byte> out(max_compressed_bytes<float>(extents{1000}));
  std::uint64_t size = 0;
  const extents s{1000};
  CHECK(compress(exec::serial, v.data(), s, params{actzip::abs(-1)}, out.data(), out.size(), &size) == status::invalid_argument);
  CHECK(compress(exec::serial, v.data(), s, params{actzip::rel(0)}, out.data(), out.size(), &size) == status::invalid_argument);
  CHECK(compress(exec::serial, v.data(), s, params{actzip::abs(NAN)}, out.data(), out.size(), &size) == status::invalid_argument);
  CHECK(compress(exec::serial, v.data(), s, params{actzip::abs(INFINITY)}, out.data(), out.size(), &size) == status::invalid_argument);
  params bad_codec{actzip::abs(1)};
  bad_codec.codec = static_cast<codec>(7);
  CHECK(compress(exec::serial, v.data(), s, bad_codec, out.data(), out.size(), &size) == status::unsupported);
  CHECK(compress(exec::serial, static_cast<float*>(nullptr), s, params{actzip::abs(1)}, out.data(), out.size(), &size) == status::invalid_argument);
  CHECK(compress(exec::serial, v.data(), s, params{actzip::abs(1)}, nullptr, out.size(), &size) == status::invalid_argument);
  CHECK(compress(exec::serial, v.data(), s, params{actzip::abs(1)}, out.data(), out.size(), nullptr) == status::invalid_argument);
  CHECK(compress(exec::serial, v.data(), extents{}, params{actzip::abs(1)}, out.data(), out.size(), &size) == status::success);
  CHECK(compress(exec::serial, v.data(), extents{1, 2, 3, 4}, params{actzip::abs(1)}, out.data(), out.size(), &size) == status::invalid_argument);
  CHECK(compress(exec::serial, v.data(), s, params{actzip::abs(1)}, out.data(), 100, &size) == status::buffer_too_small);
  // An output buffer that fits the real stream but not the worst case still works.
  REQUIRE(compress(exec::serial, v.data(), s, params{actzip::abs(1e-3)}, out.data(), out.size(), &size) == status::success);
  std::vector<std::byte> tight(size);
  std::uint64_t size2 = 0;
  CHECK(compress(exec::serial, v.data(), s, params{actzip::abs(1e-3)}, tight.data(), tight.size(), &size2) == status::success);
  CHECK(size2 == size);
  CHECK(compress(exec::serial, v.data(), s, params{actzip::abs(1e-3)}, tight.data(), tight.size() - 1, &size2) == status::buffer_too_small);
}

#if ACTZIP_HAS_OPENMP
TEST_CASE("the OpenMP executor needs its workspace") {
  const extents s{100000};
  std::vector<float> v(100000, 2.0f);
  std::vector<std::byte> out(max_compressed_bytes<float>(s));
  const std::uint64_t ws = workspace_bytes(exec::omp, s);
  CHECK(ws == 8 * 25);
  CHECK(workspace_bytes(exec::serial, s) == 0);
  std::vector<std::byte> workspace(ws);
  std::uint64_t size = 0;
  CHECK(compress(exec::omp, v.data(), s, params{actzip::abs(1e-3)}, out.data(), out.size(), &size) == status::buffer_too_small);
  CHECK(compress(exec::omp, v.data(), s, params{actzip::abs(1e-3)}, out.data(), out.size(), &size, workspace.data(), ws - 1) == status::buffer_too_small);
  CHECK(compress(exec::omp, v.data(), s, params{actzip::abs(1e-3)}, out.data(), out.size(), &size, workspace.data(), ws) == status::success);
  std::vector<std::byte> tight(size - 4);
  CHECK(compress(exec::omp, v.data(), s, params{actzip::abs(1e-3)}, tight.data(), tight.size(), &size, workspace.data(), ws) == status::buffer_too_small);
}
#endif

TEST_CASE("decompress checks the element type and the output size") {
  std::vector<double> v(500, 1.5);
  const std::vector<std::byte> z = compress(v.data(), extents{500}, params{actzip::abs(1e-3)});
  std::vector<float> wrong(500);
  CHECK(decompress(exec::serial, z.data(), z.size(), wrong.data(), wrong.size()) == status::dtype_mismatch);
  std::vector<double> small(499);
  CHECK(decompress(exec::serial, z.data(), z.size(), small.data(), small.size()) == status::buffer_too_small);
  CHECK_THROWS_AS(decompress<float>(z.data(), z.size()), actzip::error);
  try {
    (void)decompress<half>(z.data(), z.size());
  } catch (const actzip::error& e) {
    CHECK(e.code() == status::dtype_mismatch);
    CHECK(std::string(e.what()).find("f64") != std::string::npos);
  }
  // Trailing bytes after the stream are ignored.
  std::vector<std::byte> padded = z;
  padded.resize(z.size() + 100);
  CHECK(decompress<double>(padded.data(), padded.size()) == decompress<double>(z.data(), z.size()));
}

TEST_CASE("the convenience layer throws actzip::error with the status") {
  std::vector<float> v(10, 1.0f);
  CHECK_THROWS_AS(compress(v.data(), extents{10}, params{actzip::abs(-1)}), actzip::error);
  std::vector<std::byte> junk(200, std::byte{1});
  try {
    (void)inspect(junk.data(), junk.size());
    FAIL("no exception");
  } catch (const actzip::error& e) {
    CHECK(e.code() == status::not_a_stream);
  }
  CHECK(std::string(to_string(status::corrupt_stream)) == "corrupt or truncated stream");
}

TEST_CASE("empty tensors round trip") {
  for (const extents& s : {extents{0}, extents{0, 10}, extents{4, 0, 4}}) {
    const std::vector<std::byte> z = compress(static_cast<const float*>(nullptr), s, params{actzip::rel(1e-3)});
    const header h = inspect(z.data(), z.size());
    CHECK(h.element_count == 0);
    CHECK(h.chunk_count == 0);
    CHECK(h.shape == s);
    CHECK(decompress<float>(z.data(), z.size()).empty());
  }
}
