// SPDX-License-Identifier: Apache-2.0
// Tests of exec/cuda/chunk_plan.hpp on the host: the CUDA encoder's chunk decision
// (plan_chunk, from counts) must be choose_chunk's for every chunk, codec, predictor
// and code book, and its per-segment word writer must produce write_chunk's bit
// stream whatever order the segments are written in; the control word of a Huffman
// chunk is the one compress_kernel writes.
#include "test_support.hpp"

#include <actzip/exec/cuda/chunk_plan.hpp>
#include <actzip/stages/chunk.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

using namespace actzip;

namespace {

//! How often each chunk kind was seen (so that no comparison is vacuous).
struct kind_counts {
  std::uint64_t empty = 0, raw = 0, encoded = 0, huffman = 0, uncoded = 0;
  std::uint64_t predictor_used[predictor_count] = {};  //!< Huffman chunks by predictor
};

//! The bit stream of a Huffman chunk assembled from its segments' words, the
//! segments taken in the order `order` (a permutation of 0..segments-1); checks
//! that a word stored as exclusive is written by no other segment.
std::vector<unsigned char> assemble_segments(const huffman_code& code, const std::uint32_t* z, std::uint32_t n,
                                             const std::uint32_t* segment_bits, std::uint32_t stream_words,
                                             const std::vector<std::uint32_t>& order) {
  std::vector<std::uint32_t> words(stream_words, 0u);
  std::vector<int> writer(stream_words, -1);  // segment that stored the word exclusively
  std::vector<int> touched(stream_words, 0);  // segments that wrote the word at all
  for (const std::uint32_t k : order) {
    std::uint64_t first_bit = 0;
    for (std::uint32_t j = 0; j < k; ++j) first_bit += segment_bits[j];
    const std::uint32_t first = k * huffman_segment_elements;
    const std::uint32_t count = detail::gpu::huffman_segment_length(n, k);
    const int segment = static_cast<int>(k);
    bool in_range = true, exclusive_ok = true;
    std::uint64_t last_bit = first_bit;
    auto store = [&](std::uint32_t w, std::uint32_t bits, bool shared) {
      if (w >= stream_words) {
        in_range = false;
        return;
      }
      if (shared) {
        exclusive_ok = exclusive_ok && writer[w] < 0;
        words[w] |= bits;
      } else {
        exclusive_ok = exclusive_ok && touched[w] == 0;
        words[w] = bits;
        writer[w] = segment;
      }
      ++touched[w];
      last_bit = 32ull * w + 32;
    };
    detail::gpu::write_huffman_segment(code, z + first, count, first_bit, store);
    REQUIRE(in_range);
    REQUIRE_MESSAGE(exclusive_ok, "a word stored as exclusive is shared with another segment");
    CHECK(last_bit >= first_bit + segment_bits[k]);  // the segment's last bit was stored
  }
  std::vector<unsigned char> bytes(4ull * stream_words);
  for (std::uint32_t w = 0; w < stream_words; ++w) store_le32(bytes.data() + 4ull * w, words[w]);
  return bytes;
}

//! Compares plan_chunk and the segment writer with choose_chunk and write_chunk on
//! every chunk of `data`, with codec `mode` and code book `code`.
template <class T>
void compare_chunks(const std::vector<T>& data, const extents& shape, const params& p, const huffman_code& code,
                    kind_counts* seen) {
  using C = typename dtype_traits<T>::compute_type;
  const chunk_geometry g = make_chunk_geometry(shape);
  double absolute = p.error_bound.value;
  if (p.error_bound.mode == bound_mode::relative) absolute *= 100.0;  // any bound will do here
  const quantizer<C> qz = make_quantizer<C>(absolute, p.preserve_sign);
  auto s = std::make_unique<chunk_scratch<T>>();
  std::vector<unsigned char> reference(detail::raw_chunk_bytes(max_chunk_elements, sizeof(T)) + 64);
  for (std::uint64_t c = 0; c < g.count; ++c) {
    CAPTURE(c);
    const std::uint32_t n = g.chunk_box(c).extent.count();
    // Lorenzo codes in s->values, and for the other codecs the predictor's codes in s->coded.
    predictor m = predictor::lorenzo_3d;
    const std::uint32_t lossless = p.codec == codec::bitplane
                                       ? prepare_chunk(data.data(), g, c, qz, *s)
                                       : prepare_huffman_chunk(data.data(), g, c, qz, *s, &m);
    // The counts a thread block gathers: group widths, non-zero groups, bitplanes,
    // and each segment's bits.
    std::uint32_t nonzero = 0, plane_words = 0;
    for (std::uint32_t grp = 0; grp < detail::chunk_group_count(n); ++grp) {
      const unsigned w = group_bit_width(s->values + grp * group_size);
      nonzero += w != 0;
      plane_words += w;
    }
    std::uint32_t segment_bits[huffman_max_segments] = {};
    for (std::uint32_t k = 0; k < huffman_segment_count(n); ++k)
      segment_bits[k] = detail::huffman_segment_bits(code, s->coded + k * huffman_segment_elements,
                                                     detail::gpu::huffman_segment_length(n, k));
    const bool sized = p.codec != codec::bitplane && code.stored_lengths != 0;
    const detail::gpu::chunk_plan plan =
        detail::gpu::plan_chunk(p.codec, n, sizeof(T), nonzero, plane_words, lossless, sized, segment_bits);
    const chunk_choice choice = choose_chunk(n, lossless, *s, p.codec, &code, m);
    REQUIRE(static_cast<int>(plan.type) == static_cast<int>(choice.type));
    REQUIRE(plan.bytes == choice.bytes);
    if (sized) {
      bool coded = true;
      for (std::uint32_t k = 0; k < huffman_segment_count(n); ++k) coded = coded && segment_bits[k] != 0;
      seen->uncoded += coded ? 0 : 1;
    }
    switch (choice.type) {
      case chunk_view::kind::empty:
        ++seen->empty;
        break;
      case chunk_view::kind::raw:
        ++seen->raw;
        break;
      case chunk_view::kind::encoded:
        ++seen->encoded;
        break;
      case chunk_view::kind::huffman:
        ++seen->huffman;
        ++seen->predictor_used[static_cast<unsigned>(m)];
        break;
    }
    if (choice.type != chunk_view::kind::huffman) continue;

    REQUIRE(plan.stream_bits == choice.stream_bits);
    for (std::uint32_t k = 0; k < huffman_segment_count(n); ++k) REQUIRE(segment_bits[k] == choice.segment_bits[k]);
    const std::uint32_t size = write_chunk(data.data(), g, c, lossless, *s, choice, &code, reference.data());
    REQUIRE(size == choice.bytes);
    CHECK(load_le32(reference.data()) == (detail::chunk_huffman_flag | static_cast<std::uint32_t>(m) << 16 | lossless));
    const detail::encoded_chunk_layout l = detail::make_huffman_layout(n, plan.stream_bits, lossless, sizeof(T));
    const std::uint32_t stream_words = (l.indices - l.planes) / 4;
    REQUIRE(4 * stream_words == l.indices - l.planes);
    const std::vector<unsigned char> expected(reference.begin() + l.planes, reference.begin() + l.indices);
    std::vector<std::uint32_t> order;
    for (std::uint32_t k = 0; k < huffman_segment_count(n); ++k) order.push_back(k);
    CHECK(assemble_segments(code, s->coded, n, segment_bits, stream_words, order) == expected);
    std::vector<std::uint32_t> reversed(order.rbegin(), order.rend());
    CHECK(assemble_segments(code, s->coded, n, segment_bits, stream_words, reversed) == expected);
  }
}

//! The stream's code book, as the host pipeline builds it.
template <class T>
huffman_code stream_code(const std::vector<T>& data, const extents& shape, const params& p) {
  using C = typename dtype_traits<T>::compute_type;
  double absolute = p.error_bound.value;
  if (p.error_bound.mode == bound_mode::relative) absolute *= 100.0;
  const quantizer<C> qz = make_quantizer<C>(absolute, p.preserve_sign);
  auto code = std::make_unique<huffman_code>();
  detail::build_stream_code(exec::serial, data.data(), make_chunk_geometry(shape), qz, *code);
  return *code;
}

template <class T>
std::vector<T> make_data(int kind, const extents& shape, std::uint64_t seed) {
  using actzip_test::from_double;
  actzip_test::rng g(seed);
  const std::size_t n = static_cast<std::size_t>(shape.size());
  std::vector<T> v(n);
  switch (kind) {
    case 0:
      v = actzip_test::smooth_field<T>(shape, seed);
      break;
    case 1:
      v = actzip_test::relu_field<T>(n, seed);
      break;
    case 2:
      for (auto& x : v) x = actzip_test::bit_cast_random<T>(g);
      break;
    case 3:
      break;  // zeros
    case 4:
      for (auto& x : v) x = from_double<T>(2.5);
      break;
    case 5:  // a smooth first half and noise after: chunks of every kind under automatic
      v = actzip_test::smooth_field<T>(shape, seed);
      for (std::size_t i = n / 2; i < n; ++i) v[i] = from_double<T>(g.uniform(-50, 50));
      for (std::size_t i = 0; i < n; i += 97) v[i] = from_double<T>(0.0);
      break;
    case 6:  // a ramp: a few symbols only
      for (std::size_t i = 0; i < n; ++i) v[i] = from_double<T>(0.01 * static_cast<double>(i % 5000));
      break;
    default: {  // smooth along the last dimension, unrelated offsets between rows (7) or slabs (8)
      const std::uint64_t d2 = shape[shape.rank() - 1];
      const std::uint64_t slab = shape.rank() == 3 ? shape[1] * shape[2] : d2;
      const std::uint64_t stride = kind == 7 ? d2 : slab;
      double offset = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (i % stride == 0) offset = g.uniform(-20, 20);
        v[i] = from_double<T>(offset + std::sin(0.05 * static_cast<double>(i % d2)) +
                              0.3 * std::cos(0.02 * static_cast<double>((i / d2) % 97)));
      }
      break;
    }
  }
  if (kind != 3 && kind != 4 && n > 10) {
    v[n / 3] = from_double<T>(std::nan(""));
    v[n / 2] = from_double<T>(1e30);
  }
  return v;
}

}  // namespace

TEST_CASE_TEMPLATE("plan_chunk and the segment writer match choose_chunk and write_chunk", T, ACTZIP_ELEMENT_TYPES) {
  const extents shapes[] = {extents{4096 * 3 + 1000}, extents{1},          extents{77},        extents{130, 70},
                            extents{64, 64},          extents{20, 33, 18}, extents{16, 16, 16}};
  const bound bounds[] = {actzip::abs(1e-1), actzip::abs(1e-3), actzip::abs(1e-6), actzip::abs(0.0)};
  kind_counts seen;
  std::uint64_t seed = 1;
  for (const extents& shape : shapes) {
    for (int kind = 0; kind <= 8; ++kind) {
      for (const bound b : bounds) {
        for (const codec mode : actzip_test::all_codecs) {
          params p{b};
          p.codec = mode;
          p.preserve_sign = seed % 3 == 0;
          const std::vector<T> data = make_data<T>(kind, shape, seed++);
          CAPTURE(shape.rank());
          CAPTURE(shape[0]);
          CAPTURE(kind);
          CAPTURE(b.value);
          CAPTURE(static_cast<int>(mode));
          const huffman_code code = stream_code(data, shape, p);
          compare_chunks(data, shape, p, code, &seen);
          // A code book made for other data: chunks may need symbols it lacks.
          if (mode != codec::bitplane) {
            const std::vector<T> other = make_data<T>(6, shape, seed + 1000);
            compare_chunks(data, shape, p, stream_code(other, shape, params{actzip::abs(1e-2)}), &seen);
          }
        }
      }
    }
  }
  MESSAGE(std::string(to_string(dtype_traits<T>::code))
          << ": empty " << seen.empty << ", raw " << seen.raw << ", bitplane " << seen.encoded << ", Huffman "
          << seen.huffman << " (predictors lorenzo_3d " << seen.predictor_used[0] << ", lorenzo_2d "
          << seen.predictor_used[1] << ", rows " << seen.predictor_used[2] << "), not codable with the code book "
          << seen.uncoded);
  CHECK(seen.empty > 0);
  CHECK(seen.raw > 0);
  CHECK(seen.encoded > 0);
  CHECK(seen.huffman > 0);
  CHECK(seen.uncoded > 0);
  for (unsigned k = 0; k < predictor_count; ++k) CHECK(seen.predictor_used[k] > 0);
}

TEST_CASE("the segment writer: words shared at segment boundaries, exclusive inside") {
  // Three writers of 10, 70 and 5 bits into one stream of 3 words.
  std::vector<std::uint32_t> words(3, 0u);
  std::vector<std::pair<std::uint32_t, bool>> stores;
  auto store = [&](std::uint32_t w, std::uint32_t bits, bool shared) {
    stores.emplace_back(w, shared);
    words[w] |= bits;
  };
  {
    detail::gpu::segment_word_writer<decltype(store)> a(store, 0);
    a.put(0x3ff, 10);
    a.flush();
  }
  {
    detail::gpu::segment_word_writer<decltype(store)> b(store, 10);
    b.put(0xffffffffu, 32);
    b.put(0xffffffffu, 32);
    b.put(0x3f, 6);
    b.flush();
  }
  {
    detail::gpu::segment_word_writer<decltype(store)> c(store, 80);
    c.put(0x15, 5);
    c.flush();
  }
  CHECK(words[0] == 0xffffffffu);
  CHECK(words[1] == 0xffffffffu);
  CHECK(words[2] == (0xffffu | (0x15u << 16)));
  // a: its partial word 0; b: word 0 (shared start), word 1 (exclusive), word 2 (its partial end);
  // c: word 2 (shared start and partial end).
  const std::vector<std::pair<std::uint32_t, bool>> expected = {{0, true}, {0, true}, {1, false}, {2, true}, {2, true}};
  CHECK(stores == expected);
}
