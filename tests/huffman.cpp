// SPDX-License-Identifier: Apache-2.0
// The Huffman codec: the code book (optimal where no length limit applies, the
// limit enforced with a complete code, deterministic, canonical), its serialised
// form and the refusal of bad ones, the symbol stream (zero runs, direct values,
// bit-length classes), and whole streams: single-symbol, all-zero, incompressible,
// ratios beyond 32x, and the automatic codec's per-chunk choice.
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <queue>

using namespace actzip;

namespace {

std::vector<unsigned char> lengths_for(const std::vector<std::uint64_t>& counts) {
  std::vector<std::uint64_t> all(huffman_symbol_count, 0);
  std::copy(counts.begin(), counts.end(), all.begin());
  std::vector<unsigned char> lengths(huffman_symbol_count);
  auto scratch = std::make_unique<huffman_build_scratch>();
  build_huffman_lengths(all.data(), lengths.data(), *scratch);
  return lengths;
}

// Kraft sum of the lengths, in units of 2^-12.
std::uint64_t kraft(const std::vector<unsigned char>& lengths) {
  std::uint64_t sum = 0;
  for (unsigned char l : lengths)
    if (l != 0) sum += std::uint64_t(1) << (huffman_max_code_length - l);
  return sum;
}

// Cost (sum of count * length) of an optimal prefix code without a length limit,
// and its longest length, from an independent priority-queue Huffman construction.
std::pair<std::uint64_t, unsigned> optimal_cost(const std::vector<std::uint64_t>& counts) {
  using node = std::pair<std::uint64_t, std::vector<std::size_t>>;  // weight, leaves below
  auto later = [](const node& a, const node& b) { return a.first > b.first; };
  std::priority_queue<node, std::vector<node>, decltype(later)> q(later);
  for (std::size_t k = 0; k < counts.size(); ++k)
    if (counts[k] != 0) q.push({counts[k], {k}});
  std::vector<unsigned> depth(counts.size(), 0);
  if (q.size() == 1) return {q.top().first, 1};
  while (q.size() > 1) {
    node a = q.top();
    q.pop();
    node b = q.top();
    q.pop();
    for (std::size_t k : a.second) ++depth[k];
    for (std::size_t k : b.second) ++depth[k];
    a.second.insert(a.second.end(), b.second.begin(), b.second.end());
    q.push({a.first + b.first, a.second});
  }
  std::uint64_t cost = 0;
  unsigned longest = 0;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    cost += counts[k] * depth[k];
    longest = std::max(longest, depth[k]);
  }
  return {cost, longest};
}

std::uint64_t cost_of(const std::vector<std::uint64_t>& counts, const std::vector<unsigned char>& lengths) {
  std::uint64_t cost = 0;
  for (std::size_t k = 0; k < counts.size(); ++k) cost += counts[k] * lengths[k];
  return cost;
}

std::unique_ptr<huffman_code> code_for(const std::vector<std::uint64_t>& counts) {
  std::vector<std::uint64_t> all(huffman_symbol_count, 0);
  std::copy(counts.begin(), counts.end(), all.begin());
  auto code = std::make_unique<huffman_code>();
  auto scratch = std::make_unique<huffman_build_scratch>();
  make_huffman_code(all.data(), *code, *scratch);
  return code;
}

template <class T>
std::vector<std::byte> compress_with(const std::vector<T>& v, const extents& shape, params p, codec c) {
  p.codec = c;
  return compress(exec::serial, v.data(), shape, p);
}

// The kinds of the chunks of a stream (by their control words).
std::map<std::string, int> chunk_kinds(const std::vector<std::byte>& z) {
  const header h = inspect(z.data(), z.size());
  const auto* in = reinterpret_cast<const unsigned char*>(z.data());
  const std::uint64_t payload = header_bytes + chunk_offset_bytes * h.chunk_count;
  std::map<std::string, int> kinds;
  for (std::uint64_t c = 0; c < h.chunk_count; ++c) {
    const std::uint64_t begin = load_le64(in + header_bytes + 8 * c);
    const std::uint64_t end = c + 1 < h.chunk_count ? load_le64(in + header_bytes + 8 * (c + 1)) : h.payload_bytes;
    if (begin == end) {
      ++kinds["empty"];
      continue;
    }
    const std::uint32_t control = load_le32(in + payload + begin);
    ++kinds[control & detail::chunk_raw_flag ? "raw" : control & detail::chunk_huffman_flag ? "huffman" : "bitplane"];
  }
  return kinds;
}

}  // namespace

TEST_CASE("the code lengths are those of an optimal code when the limit does not bind") {
  actzip_test::rng g(5);
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t used = 2 + g.next() % 200;
    std::vector<std::uint64_t> counts(huffman_symbol_count, 0);
    for (std::size_t k = 0; k < used; ++k) counts[g.next() % huffman_symbol_count] = 1 + g.next() % 100000;
    const auto [best, longest] = optimal_cost(counts);
    const std::vector<unsigned char> lengths = lengths_for(counts);
    CAPTURE(trial);
    CHECK(kraft(lengths) <= huffman_table_size);
    for (std::size_t k = 0; k < counts.size(); ++k) CHECK((lengths[k] != 0) == (counts[k] != 0));
    if (longest <= huffman_max_code_length)
      CHECK(cost_of(counts, lengths) == best);
    else
      CHECK(cost_of(counts, lengths) >= best);
  }
}

TEST_CASE("alphabets at the length limit get a complete code no longer than 12 bits") {
  // Fibonacci counts: the unlimited Huffman code is as deep as the alphabet is long.
  std::vector<std::uint64_t> fib(40);
  fib[0] = fib[1] = 1;
  for (std::size_t k = 2; k < fib.size(); ++k) fib[k] = fib[k - 1] + fib[k - 2];
  CHECK(optimal_cost(fib).second == 39);
  // Every symbol of the alphabet, with counts spread over 40 orders of magnitude.
  std::vector<std::uint64_t> every(huffman_symbol_count);
  for (std::size_t k = 0; k < every.size(); ++k) every[k] = std::uint64_t(1) << (k % 41);
  // Every symbol once: 1056 symbols need lengths 10 and 11.
  std::vector<std::uint64_t> flat(huffman_symbol_count, 1);
  // Huge counts near the 64-bit limit of the sum.
  std::vector<std::uint64_t> huge = {std::uint64_t(1) << 62, 1, 1, std::uint64_t(1) << 61, 3};
  for (const auto* counts : {&fib, &every, &flat, &huge}) {
    const std::vector<unsigned char> lengths = lengths_for(*counts);
    CHECK(kraft(lengths) == huffman_table_size);
    CHECK(*std::max_element(lengths.begin(), lengths.end()) <= huffman_max_code_length);
    auto code = code_for(*counts);
    CHECK(finish_huffman_code(*code));
  }
  const std::vector<unsigned char> deep = lengths_for(fib);
  CHECK(*std::max_element(deep.begin(), deep.end()) == huffman_max_code_length);
  const std::vector<unsigned char> wide = lengths_for(flat);
  CHECK(std::count(wide.begin(), wide.end(), 10) == 992);
  CHECK(std::count(wide.begin(), wide.end(), 11) == 64);
  // More frequent symbols never get longer codes.
  const std::vector<unsigned char> spread = lengths_for(every);
  for (std::size_t a = 0; a < every.size(); ++a)
    for (std::size_t b = 0; b < every.size(); b += 37)
      if (every[a] > every[b]) CHECK(spread[a] <= spread[b]);
}

TEST_CASE("one symbol gets a one-bit code, none gives the empty code book") {
  std::vector<std::uint64_t> one(huffman_symbol_count, 0);
  one[700] = 12345;
  const std::vector<unsigned char> lengths = lengths_for(one);
  CHECK(lengths[700] == 1);
  CHECK(kraft(lengths) == huffman_table_size / 2);
  auto code = code_for(one);
  CHECK(code->stored_lengths == 701);
  auto none = code_for({});
  CHECK(none->stored_lengths == 0);
}

TEST_CASE("the code is canonical and the decoding table decodes every code word") {
  actzip_test::rng g(9);
  std::vector<std::uint64_t> counts(huffman_symbol_count, 0);
  for (int k = 0; k < 500; ++k) counts[g.next() % huffman_symbol_count] = 1 + (g.next() % 1000) * (g.next() % 1000);
  auto code = code_for(counts);
  // Canonical: ordered by (length, symbol), code words are consecutive integers.
  std::vector<std::pair<unsigned, unsigned>> order;
  for (unsigned k = 0; k < huffman_symbol_count; ++k)
    if (code->length[k] != 0) order.push_back({code->length[k], k});
  std::sort(order.begin(), order.end());
  auto msb_first = [&](unsigned k) {
    std::uint32_t w = 0;
    for (unsigned b = 0; b < code->length[k]; ++b) w |= ((code->word[k] >> b) & 1u) << (code->length[k] - 1 - b);
    return w;
  };
  for (std::size_t i = 1; i < order.size(); ++i) {
    const unsigned a = order[i - 1].second, b = order[i].second;
    CHECK(msb_first(b) == ((msb_first(a) + 1) << (code->length[b] - code->length[a])));
  }
  for (unsigned k = 0; k < huffman_symbol_count; ++k) {
    if (code->length[k] == 0) continue;
    for (std::uint32_t fill = 0; fill < 8; ++fill) {
      const std::uint32_t index = (code->word[k] | (fill << code->length[k])) & (huffman_table_size - 1);
      CHECK((code->table[index] & 2047u) == k);
      CHECK((code->table[index] >> 11) == code->length[k]);
    }
  }
  // The same histogram always gives the same code.
  auto again = code_for(counts);
  CHECK(std::equal(code->word, code->word + huffman_symbol_count, again->word));
}

TEST_CASE("the serialised code book round-trips and bad ones are refused") {
  std::vector<std::uint64_t> counts(huffman_symbol_count, 0);
  for (unsigned k = 0; k < 300; k += 3) counts[k] = 1 + k * k;
  auto code = code_for(counts);
  std::vector<unsigned char> bytes(detail::huffman_code_bytes(code->stored_lengths) + 16, 0xee);
  write_huffman_code(*code, bytes.data());
  auto parsed = std::make_unique<huffman_code>();
  std::uint32_t used = 0;
  REQUIRE(parse_huffman_code(bytes.data(), bytes.size(), *parsed, &used) == status::success);
  CHECK(used == detail::huffman_code_bytes(code->stored_lengths));
  CHECK(std::equal(code->length, code->length + huffman_symbol_count, parsed->length));
  CHECK(std::equal(code->table, code->table + huffman_table_size, parsed->table));
  for (std::uint32_t cut = 0; cut < used; ++cut)
    CHECK(parse_huffman_code(bytes.data(), cut, *parsed, &used) == status::corrupt_stream);

  auto refused = [&](std::vector<unsigned char> b, const char* why) {
    CAPTURE(why);
    stream_fault f;
    CHECK(parse_huffman_code(b.data(), b.size(), *parsed, &used, &f) == status::corrupt_stream);
    CHECK(f.what != nullptr);
  };
  std::vector<unsigned char> b = bytes;
  store_le32(b.data(), huffman_symbol_count + 1);
  refused(b, "longer than the alphabet");
  b = bytes;
  b[4] = static_cast<unsigned char>((b[4] & 0xf0) | 13);
  refused(b, "a length of 13");
  b = bytes;
  b[4] = static_cast<unsigned char>((b[4] & 0xf0) | 1);  // symbol 0 gets a 1-bit code: oversubscribed
  refused(b, "oversubscribed");
  b = bytes;
  const unsigned last = code->stored_lengths - 1;
  b[4 + last / 2] = static_cast<unsigned char>(b[4 + last / 2] & (last % 2 ? 0x0f : 0xf0));  // drop the last code
  refused(b, "incomplete, last length zero");
  b = bytes;
  b[used - 1] = 1;
  refused(b, "padding");
  // The empty code book parses (no chunk may use it).
  std::vector<unsigned char> empty(8, 0);
  CHECK(parse_huffman_code(empty.data(), 4, *parsed, &used) == status::success);
  CHECK(parsed->stored_lengths == 0);
}

TEST_CASE("symbols: zero runs, direct values and bit-length classes round-trip through a segment") {
  actzip_test::rng g(11);
  std::vector<std::uint32_t> z(huffman_segment_elements);
  for (int trial = 0; trial < 200; ++trial) {
    const std::uint32_t n = trial == 0 ? huffman_segment_elements : 1 + static_cast<std::uint32_t>(g.next() % 1024);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint64_t r = g.next() % 100;
      z[i] = r < 60   ? 0
             : r < 90 ? static_cast<std::uint32_t>(1 + g.next() % 1023)
                      : static_cast<std::uint32_t>(g.next() >> (32 + g.next() % 22));
    }
    if (trial == 1) std::fill(z.begin(), z.end(), 0u);                              // one run of 1024
    if (trial == 2) z[0] = 0xffffffffu, z[1] = 1023, z[2] = 1024, z[3] = 1u << 31;  // class edges
    for (unsigned choice = 0; choice < huffman_min_run_choices; ++choice) {
      // Every min_run an encoder may choose: short runs as single zeros.
      const std::uint32_t min_run = huffman_min_run_choice(choice);
      std::vector<std::uint64_t> counts(huffman_symbol_count, 0);
      huffman_tokens(z.data(), n, min_run, [&](unsigned symbol, std::uint32_t extra, unsigned extra_bits) {
        REQUIRE(symbol < huffman_symbol_count);
        REQUIRE((extra_bits == 32 || extra < (std::uint64_t(1) << extra_bits)));
        ++counts[symbol];
      });
      auto code = std::make_unique<huffman_code>();
      auto scratch = std::make_unique<huffman_build_scratch>();
      make_huffman_code(counts.data(), *code, *scratch);
      code->min_run = min_run;
      const std::uint32_t bits = detail::huffman_segment_bits(*code, z.data(), n);
      std::vector<unsigned char> stream((bits + 7) / 8 + 8, 0);
      bit_writer w{stream.data()};
      huffman_tokens(z.data(), n, min_run, [&](unsigned symbol, std::uint32_t extra, unsigned extra_bits) {
        w.put(code->word[symbol], code->length[symbol]);
        if (extra_bits != 0) w.put(extra, extra_bits);
      });
      w.flush();
      CHECK(w.next == (bits + 7) / 8);
      std::vector<std::uint32_t> back(n, 7);
      CAPTURE(trial);
      CAPTURE(min_run);
      REQUIRE(decode_huffman_segment(*code, stream.data(), w.next, 0, bits, n, back.data()));
      CHECK(std::equal(back.begin(), back.end(), z.begin()));
      // Too few elements' worth of bits, or bits left over, are refused.
      CHECK(!decode_huffman_segment(*code, stream.data(), w.next, 0, bits - 1, n, back.data()));
      if (n > 1) CHECK(!decode_huffman_segment(*code, stream.data(), w.next, 0, bits, n - 1, back.data()));
    }
  }
}

TEST_CASE_TEMPLATE("a single-symbol stream round-trips exactly", T, ACTZIP_ELEMENT_TYPES) {
  // x_i = i + 1 with abs bound 0.5: every index is i + 1, every delta 1.
  std::vector<T> v(200);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = actzip_test::from_double<T>(static_cast<double>(i + 1));
  const std::vector<std::byte> z = compress_with(v, extents{200}, params{actzip::abs(0.5)}, codec::huffman);
  const auto* in = reinterpret_cast<const unsigned char*>(z.data());
  auto code = std::make_unique<huffman_code>();
  std::uint32_t used = 0;
  REQUIRE(parse_huffman_code(in + header_bytes + 8, z.size(), *code, &used) == status::success);
  CHECK(std::count_if(code->length, code->length + huffman_symbol_count, [](unsigned char l) { return l != 0; }) == 1);
  CHECK(chunk_kinds(z)["huffman"] == 1);
  const std::vector<T> back = decompress<T>(exec::serial, z.data(), z.size());
  for (std::size_t i = 0; i < 200; ++i) CHECK(actzip_test::to_double(back[i]) == actzip_test::to_double(v[i]));
}

TEST_CASE_TEMPLATE("all-zero tensors: empty chunks and an empty code book", T, ACTZIP_ELEMENT_TYPES) {
  for (const extents& shape : {extents{1 << 20}, extents{1000, 999}, extents{100, 70, 33}}) {
    const std::vector<T> zeros(shape.size(), actzip_test::from_double<T>(0.0));
    for (const codec c : {codec::huffman, codec::automatic}) {
      const std::vector<std::byte> z = compress_with(zeros, shape, params{actzip::rel(1e-3)}, c);
      const header h = inspect(z.data(), z.size());
      CHECK(z.size() == header_bytes + chunk_offset_bytes * h.chunk_count + 4);
      CHECK(chunk_kinds(z)["empty"] == static_cast<int>(h.chunk_count));
      const std::vector<T> back = decompress<T>(exec::serial, z.data(), z.size());
      CHECK(actzip_test::check(zeros, back, 0.0).violations == 0);
    }
  }
}

TEST_CASE_TEMPLATE("incompressible data stays within max_compressed_bytes", T, ACTZIP_ELEMENT_TYPES) {
  actzip_test::rng g(3);
  for (const extents& shape : {extents{100000}, extents{300, 301}, extents{33, 40, 41}}) {
    std::vector<T> v(shape.size());
    for (auto& x : v) x = actzip_test::bit_cast_random<T>(g);
    for (const codec c : {codec::huffman, codec::automatic}) {
      for (const bound b : {actzip::abs(0.0), actzip::abs(1e-30), actzip::rel(1e-7)}) {
        const std::vector<std::byte> z = compress_with(v, shape, params{b}, c);
        CHECK(z.size() <= max_compressed_bytes<T>(shape));
        const header h = inspect(z.data(), z.size());
        const std::vector<T> back = decompress<T>(exec::serial, z.data(), z.size());
        CHECK(actzip_test::check(v, back, h.absolute_bound).violations == 0);
      }
    }
  }
}

TEST_CASE("zero runs take the ratio far beyond 32x") {
  // A ReLU output with large dead regions: a smooth field shifted down, then clipped.
  const extents shape{256, 56, 56};
  std::vector<float> v = actzip_test::smooth_field<float>(shape, 21);
  std::size_t zeros = 0;
  for (float& x : v) {
    x = x > 9.0f ? x - 9.0f : 0.0f;
    zeros += x == 0.0f;
  }
  MESSAGE("zeros: " << 100.0 * static_cast<double>(zeros) / static_cast<double>(v.size()) << " %");
  const std::vector<std::byte> hz = compress_with(v, shape, params{actzip::rel(1e-2)}, codec::huffman);
  const std::vector<std::byte> bz = compress_with(v, shape, params{actzip::rel(1e-2)}, codec::bitplane);
  const double raw = 4.0 * static_cast<double>(v.size());
  const double huffman_ratio = raw / static_cast<double>(hz.size()),
               bitplane_ratio = raw / static_cast<double>(bz.size());
  MESSAGE("rel 1e-2: huffman " << huffman_ratio << "x, bitplane " << bitplane_ratio << "x");
  CHECK(huffman_ratio > 32);
  CHECK(huffman_ratio > bitplane_ratio);
  const std::vector<float> back = decompress<float>(exec::serial, hz.data(), hz.size());
  const header h = inspect(hz.data(), hz.size());
  const actzip_test::check_result r = actzip_test::check(v, back, h.absolute_bound);
  CHECK(r.violations == 0);
  CHECK(r.zero_changed == 0);
}

TEST_CASE_TEMPLATE("automatic takes the smaller chunk of the two codecs", T, ACTZIP_ELEMENT_TYPES) {
  // Mostly smooth (Huffman wins), an eighth noise (whose symbols are rare in the
  // stream's code book, so bitplane wins there).
  const extents shape{64, 64, 64};
  std::vector<T> v = actzip_test::smooth_field<T>(shape, 4);
  actzip_test::rng g(8);
  for (std::size_t i = v.size() / 8 * 7; i < v.size(); ++i) v[i] = actzip_test::from_double<T>(g.uniform(-1, 1));
  for (const bound b : {actzip::rel(1e-2), actzip::rel(1e-4), actzip::abs(1e-3)}) {
    const std::vector<std::byte> bp = compress_with(v, shape, params{b}, codec::bitplane);
    const std::vector<std::byte> hf = compress_with(v, shape, params{b}, codec::huffman);
    const std::vector<std::byte> au = compress_with(v, shape, params{b}, codec::automatic);
    CAPTURE(b.value);
    const header h = inspect(hf.data(), hf.size());
    const auto* in = reinterpret_cast<const unsigned char*>(hf.data());
    // The code book opens the payload; the first chunk starts behind it.
    const std::uint64_t payload = header_bytes + chunk_offset_bytes * h.chunk_count;
    CHECK(load_le64(in + header_bytes) == detail::huffman_code_bytes(load_le32(in + payload)));
    CHECK(au.size() <= hf.size());
    CHECK(au.size() <= bp.size() + detail::huffman_code_max_bytes);
    const std::vector<T> back = decompress<T>(exec::serial, au.data(), au.size());
    CHECK(actzip_test::check(v, back, inspect(au.data(), au.size()).absolute_bound).violations == 0);
  }
  const std::vector<std::byte> au = compress_with(v, shape, params{actzip::rel(1e-4)}, codec::automatic);
  std::map<std::string, int> kinds = chunk_kinds(au);
  MESSAGE("automatic, rel 1e-4: " << kinds["huffman"] << " Huffman chunks, " << kinds["bitplane"]
                                  << " bitplane chunks");
  CHECK(kinds["huffman"] > 0);
  CHECK(kinds["bitplane"] > 0);
}

TEST_CASE("Huffman streams are format version 3 and their damage is located") {
  const std::vector<float> v = actzip_test::smooth_field<float>(extents{5000}, 1);
  std::vector<std::byte> z = compress_with(v, extents{5000}, params{actzip::rel(1e-3)}, codec::huffman);
  auto* b = reinterpret_cast<unsigned char*>(z.data());
  const header h = inspect(z.data(), z.size());
  CHECK(h.version == 3);
  CHECK(h.codec == codec::huffman);
  const std::uint64_t payload = header_bytes + chunk_offset_bytes * h.chunk_count;
  {
    std::vector<std::byte> older = z;
    store_le16(reinterpret_cast<unsigned char*>(older.data()) + 4, 2);
    CHECK(inspect(older.data(), older.size(), nullptr) != status::success);
    header o;
    CHECK(inspect(older.data(), older.size(), &o) == status::corrupt_stream);
  }
  {
    // A length in the code book changed: refused as an incomplete code, located in it.
    std::vector<std::byte> bad = z;
    auto* p = reinterpret_cast<unsigned char*>(bad.data()) + payload + 4;
    p[5] ^= 0x01;
    stream_fault f;
    CHECK(diagnose(bad.data(), bad.size(), &f, decode_options{false}) == status::corrupt_stream);
    CHECK(f.offset >= payload);
    std::vector<float> out(5000);
    CHECK(decompress(exec::serial, bad.data(), bad.size(), out.data(), out.size(), decode_options{false}) ==
          status::corrupt_stream);
  }
  {
    // A bit in the first chunk's bit stream flipped: refused, or decoded within the
    // stream's structure; diagnose agrees with decompress.
    int refused = 0;
    const std::uint64_t first = load_le64(b + header_bytes);
    for (std::uint64_t at = payload + first + 12; at < payload + first + 60; ++at) {
      std::vector<std::byte> bad = z;
      reinterpret_cast<unsigned char*>(bad.data())[at] ^= 0x04;
      std::vector<float> out(5000);
      const status s = decompress(exec::serial, bad.data(), bad.size(), out.data(), out.size(), decode_options{false});
      stream_fault f;
      CHECK(diagnose(bad.data(), bad.size(), &f, decode_options{false}) == s);
      refused += s != status::success;
      CHECK(decompress(exec::serial, bad.data(), bad.size(), out.data(), out.size()) == status::checksum_mismatch);
    }
    CHECK(refused > 0);
  }
}

TEST_CASE("every predictor is inverted exactly on every box shape") {
  actzip_test::rng g(13);
  std::vector<std::uint32_t> v(max_chunk_elements), d(max_chunk_elements);
  for (const box_extents e : {box_extents{16, 16, 16}, box_extents{1, 64, 64}, box_extents{1, 1, 4096},
                              box_extents{3, 5, 7}, box_extents{16, 1, 9}, box_extents{1, 1, 1}}) {
    for (unsigned k = 0; k < predictor_count; ++k) {
      const predictor m = static_cast<predictor>(k);
      for (std::uint32_t i = 0; i < e.count(); ++i) v[i] = static_cast<std::uint32_t>(g.next());
      for (std::uint32_t i = 0; i < e.count(); ++i) d[i] = predictor_delta_at(v.data(), e, i, m);
      // The whole-row form gives the same deltas.
      std::vector<std::uint32_t> rows(e.count());
      predictor_forward(v.data(), rows.data(), e, m);
      CAPTURE(k);
      CHECK(std::equal(rows.begin(), rows.end(), d.begin()));
      predictor_inverse(d.data(), e, m);
      CHECK(std::equal(d.begin(), d.begin() + e.count(), v.begin()));
    }
  }
  // The 3-D predictor is the Lorenzo transform of the bitplane codec.
  const box_extents e{16, 16, 16};
  for (std::uint32_t i = 0; i < e.count(); ++i) v[i] = static_cast<std::uint32_t>(g.next() % 1000);
  std::vector<std::uint32_t> forward = v;
  lorenzo_forward(forward.data(), e);
  for (std::uint32_t i = 0; i < e.count(); ++i)
    CHECK(predictor_delta_at(v.data(), e, i, predictor::lorenzo_3d) == forward[i]);
}

TEST_CASE("chunks pick the predictor that fits their data") {
  // Planes unrelated to each other (the channels of an activation tensor): 2-D Lorenzo.
  const box_extents e{16, 16, 16};
  std::vector<std::uint32_t> v(e.count());
  actzip_test::rng g(17);
  for (std::uint32_t p = 0; p < 16; ++p) {
    const double a = g.uniform(-1, 1), b = g.uniform(-1, 1), c = g.uniform(-500, 500);
    for (std::uint32_t i = 0; i < 256; ++i)
      v[p * 256 + i] = static_cast<std::uint32_t>(static_cast<std::int32_t>(c + a * (i / 16) * 20 + b * (i % 16) * 20));
  }
  CHECK(choose_predictor(v.data(), e) == predictor::lorenzo_2d);
  // Rows unrelated to each other, each smooth along itself: row differences.
  for (std::uint32_t r = 0; r < 256; ++r) {
    const double c = g.uniform(-500, 500), bend = g.uniform(-20, 20);
    for (std::uint32_t i = 0; i < 16; ++i)
      v[r * 16 + i] = static_cast<std::uint32_t>(static_cast<std::int32_t>(c + bend * i * i));
  }
  CHECK(choose_predictor(v.data(), e) == predictor::rows);
  // A smooth 3-D field: the 3-D Lorenzo predictor.
  for (std::uint32_t i = 0; i < e.count(); ++i)
    v[i] = static_cast<std::uint32_t>(
        static_cast<std::int32_t>(7 * (i / 256) + 5 * ((i / 16) % 16) + 3 * (i % 16) + ((i / 256) * ((i / 16) % 16))));
  CHECK(choose_predictor(v.data(), e) == predictor::lorenzo_3d);
}

TEST_CASE("the stream statistics give every min_run's counts, and the cheapest min_run is chosen") {
  actzip_test::rng g(23);
  int runs_won = 0, singles_won = 0;
  for (int trial = 0; trial < 40; ++trial) {
    // Segments of small values with zero runs: short runs dominate in the early
    // trials, long ones in the late ones.
    const std::uint32_t n = huffman_segment_elements;
    std::vector<std::uint32_t> z(n);
    for (std::uint32_t i = 0; i < n;) {
      const std::uint32_t run = static_cast<std::uint32_t>(g.next() % (1 + 3 * trial));
      for (std::uint32_t k = 0; k < run && i < n; ++k) z[i++] = 0;
      if (i < n) z[i++] = static_cast<std::uint32_t>(1 + g.next() % (trial % 3 == 0 ? 2 : 6));
    }
    std::vector<std::uint64_t> statistics(huffman_statistics_slots, 0);
    huffman_statistics(z.data(), n, [&](unsigned slot) {
      REQUIRE(slot < huffman_statistics_slots);
      ++statistics[slot];
    });
    auto scratch = std::make_unique<huffman_build_scratch>();
    std::uint64_t cheapest = 0;
    std::uint32_t cheapest_run = 0;
    for (unsigned choice = 0; choice < huffman_min_run_choices; ++choice) {
      // The counts huffman_tokens gives for this min_run, and the bits they cost.
      const std::uint32_t min_run = huffman_min_run_choice(choice);
      std::vector<std::uint64_t> counts(huffman_symbol_count, 0);
      huffman_tokens(z.data(), n, min_run, [&](unsigned symbol, std::uint32_t, unsigned) { ++counts[symbol]; });
      std::vector<std::uint64_t> derived(statistics);
      const std::vector<std::uint64_t> long_runs(statistics.begin(), statistics.begin() + huffman_run_symbols);
      detail::apply_min_run(derived.data(), long_runs.data(), min_run);
      CHECK(std::equal(counts.begin(), counts.end(), derived.begin()));
      auto code = std::make_unique<huffman_code>();
      make_huffman_code(counts.data(), *code, *scratch);
      code->min_run = min_run;
      const std::uint64_t bits = detail::huffman_segment_bits(*code, z.data(), n);
      if (choice == 0 || bits < cheapest) cheapest = bits, cheapest_run = min_run;
    }
    auto code = std::make_unique<huffman_code>();
    make_stream_code(statistics.data(), *code, *scratch);
    CAPTURE(trial);
    CHECK(code->min_run == cheapest_run);
    CHECK(detail::huffman_segment_bits(*code, z.data(), n) == cheapest);
    (code->min_run == 1 ? runs_won : singles_won) += 1;
  }
  // Both kinds occur: single zeros win where runs are short, runs where they are long.
  MESSAGE("min_run 1 in " << runs_won << " trials, above 1 in " << singles_won);
  CHECK(runs_won > 0);
  CHECK(singles_won > 0);
}

TEST_CASE_TEMPLATE("a smooth field at a loose bound codes short zero runs as single zeros", T, ACTZIP_ELEMENT_TYPES) {
  // A wind-like field: smooth in its planes, unrelated from plane to plane; at rel
  // 1e-2 its deltas are mostly 0 and +-1, the zeros in short runs.
  const extents shape{24, 73, 144};
  std::vector<T> v(24 * 73 * 144);
  actzip_test::rng g(5);
  for (std::size_t p = 0; p < 24; ++p) {
    const double a = g.uniform(0.5, 2), b = g.uniform(0, 6.3), c = g.uniform(0.5, 2);
    for (std::size_t i = 0; i < 73; ++i)
      for (std::size_t j = 0; j < 144; ++j)
        v[(p * 73 + i) * 144 + j] = actzip_test::from_double<T>(
            10 * std::sin(a * 0.05 * static_cast<double>(i) + b) * std::cos(c * 0.04 * static_cast<double>(j)));
  }
  const chunk_geometry geometry = make_chunk_geometry(shape);
  using C = typename dtype_traits<T>::compute_type;
  const quantizer<C> qz = make_quantizer<C>(0.2, false);  // rel 1e-2 of the range 20
  auto code = std::make_unique<huffman_code>();
  detail::build_stream_code(exec::serial, v.data(), geometry, qz, *code);
  MESSAGE("min_run " << code->min_run);
  CHECK(code->min_run > 1);
  // The stream with that choice round-trips within the bound, the same from every executor.
  params p{actzip::abs(0.2)};
  p.codec = codec::huffman;
  const std::vector<std::byte> z = compress_with(v, shape, p, codec::huffman);
  const std::vector<T> back = decompress<T>(exec::serial, z.data(), z.size());
  CHECK(actzip_test::check(v, back, inspect(z.data(), z.size()).absolute_bound).violations == 0);
  // The same bytes from two full passes (an output of just the stream's size).
  std::vector<std::byte> exact(z.size());
  std::uint64_t size = 0;
  REQUIRE(compress(exec::serial, v.data(), shape, p, exact.data(), exact.size(), &size) == status::success);
  CHECK(exact == z);
#if ACTZIP_HAS_OPENMP
  CHECK(compress(exec::omp, v.data(), shape, p) == z);
#endif
}

TEST_CASE("a Huffman chunk's predictor and codes are choose_predictor's") {
  // prepare_huffman_chunk chooses with whole-row differences; choose_predictor and
  // predictor_delta_at are the element-by-element definition.
  actzip_test::rng g(29);
  for (const extents shape : {extents{40, 37, 35}, extents{100, 90}, extents{9000}}) {
    std::uint64_t count = 0;
    REQUIRE(shape.element_count(&count));
    std::vector<float> v(count);
    std::map<int, int> picked;
    for (int trial = 0; trial < 3; ++trial) {
      // Smooth, smooth in planes only, and smooth along rows only.
      for (std::size_t i = 0; i < v.size(); ++i) {
        const double a = static_cast<double>(i % 35), b = static_cast<double>((i / 35) % 37);
        const double plane = static_cast<double>(i / (35 * 37));
        v[i] = static_cast<float>(trial == 0   ? std::sin(0.1 * a) + std::cos(0.2 * b) + 0.1 * plane
                                  : trial == 1 ? std::sin(0.1 * a + 0.2 * b + 5 * plane)
                                               : std::sin(0.1 * a + 3 * b + 5 * plane) + g.uniform(-1e-4, 1e-4));
      }
      const chunk_geometry geometry = make_chunk_geometry(shape);
      const quantizer<float> qz = make_quantizer<float>(1e-3, false);
      auto s = std::make_unique<chunk_scratch<float>>();
      for (std::uint64_t c = 0; c < geometry.count; ++c) {
        const box_extents e = geometry.chunk_box(c).extent;
        predictor m;
        prepare_huffman_chunk(v.data(), geometry, c, qz, *s, &m);
        const predictor expected = predictors_for(e) > 1 ? choose_predictor(s->index, e) : predictor::lorenzo_3d;
        CHECK(m == expected);
        ++picked[static_cast<int>(m)];
        bool same = true;
        for (std::uint32_t i = 0; i < e.count(); ++i)
          same = same && s->coded[i] == zigzag_encode(predictor_delta_at(s->index, e, i, m)) &&
                 s->values[i] == zigzag_encode(lorenzo_delta_at(s->index, e, i));
        CHECK(same);
      }
    }
    for (const auto& kv : picked) MESSAGE("rank " << shape.rank() << ": predictor " << kv.first << " in " << kv.second << " chunks");
    // On the 3-D tensor each predictor wins somewhere.
    if (shape.rank() == 3) CHECK(picked.size() == predictor_count);
  }
}

TEST_CASE_TEMPLATE("Huffman chunks kept between the passes give the bytes of two full passes", T, ACTZIP_ELEMENT_TYPES) {
  // With room for every chunk raw behind the largest code book the host keeps each
  // prepared chunk in the output buffer (detail/host_huffman.hpp); with less it
  // prepares every chunk twice. The chunks mix every case a kept slot distinguishes:
  // all-zero chunks (stored as nothing), smooth ones, lossless values (NaN, Inf),
  // symbols of 2^16 and more (not kept), chunks that go raw, and edge chunks.
  actzip_test::rng g(11);
  for (const extents& shape : {extents{50000}, extents{130, 197}, extents{20, 33, 47}}) {
    std::vector<T> v = actzip_test::smooth_field<T>(shape, 5);
    const std::size_t n = v.size();
    for (std::size_t i = 0; i < n / 5; ++i) v[i] = actzip_test::from_double<T>(0.0);
    for (std::size_t i = n / 5; i < n / 5 + 300; ++i) v[i] = actzip_test::bit_cast_random<T>(g);
    for (std::size_t i = n / 2; i < n / 2 + 2000; i += 7)
      v[i] = actzip_test::from_double<T>((i % 3 == 0) ? 1e4 : (i % 3 == 1) ? -2e4 : 0.5);
    v[n - 1] = actzip_test::from_double<T>(std::numeric_limits<double>::quiet_NaN());
    v[n / 3] = actzip_test::from_double<T>(std::numeric_limits<double>::infinity());
    for (const bound b : {actzip::rel(1e-2), actzip::rel(1e-5), actzip::abs(0.0)}) {
      params p{b};
      p.codec = codec::huffman;
      CAPTURE(shape.rank());
      const std::uint64_t bound_bytes = max_compressed_bytes<T>(shape);
      std::vector<std::byte> kept(bound_bytes);
      std::uint64_t kept_size = 0;
      REQUIRE(compress(exec::serial, v.data(), shape, p, kept.data(), kept.size(), &kept_size) == status::success);
      kept.resize(kept_size);
      // Just the stream's own size: too little room to keep anything.
      std::vector<std::byte> exact(kept_size);
      std::uint64_t exact_size = 0;
      REQUIRE(compress(exec::serial, v.data(), shape, p, exact.data(), exact.size(), &exact_size) == status::success);
      CHECK(exact == kept);
#if ACTZIP_HAS_OPENMP
      for (const std::uint64_t capacity : {bound_bytes, kept_size}) {
        const exec::omp_t two{2};
        std::vector<unsigned char> workspace(workspace_bytes(two, shape));
        std::vector<std::byte> z(capacity);
        std::uint64_t size = 0;
        REQUIRE(compress(two, v.data(), shape, p, z.data(), z.size(), &size, workspace.data(), workspace.size()) ==
                status::success);
        z.resize(size);
        CHECK(z == kept);
      }
#endif
      const header h = inspect(kept.data(), kept.size());
      const std::vector<T> back = decompress<T>(exec::serial, kept.data(), kept.size());
      CHECK(actzip_test::check(v, back, h.absolute_bound).violations == 0);
    }
  }
}

TEST_CASE("the host decoder accepts and decodes exactly what decode_huffman_segment does") {
  // Streams encoded with random code books (valid segments), then damaged: flipped
  // bits, wrong ends, wrong counts, truncations. Both decoders must agree on every
  // one, on the verdict and, when accepted, on every element.
  actzip_test::rng g(23);
  auto code = std::make_unique<huffman_code>();
  auto scratch = std::make_unique<huffman_build_scratch>();
  std::vector<std::uint32_t> table(huffman_table_size);
  int accepted = 0, refused = 0;
  for (int trial = 0; trial < 400; ++trial) {
    // Symbols of a segment: zero runs, small values, and now and then a large one.
    const std::uint32_t count = 1 + static_cast<std::uint32_t>(g.next() % huffman_segment_elements);
    std::vector<std::uint32_t> z(count);
    for (auto& v : z) {
      const std::uint64_t r = g.next() % 100;
      v = r < 40 ? 0u : r < 95 ? static_cast<std::uint32_t>(g.next() % 40) : static_cast<std::uint32_t>(g.next() >> 33);
    }
    std::vector<std::uint64_t> counts(huffman_statistics_slots, 0);
    huffman_statistics(z.data(), count, [&](unsigned slot) { ++counts[slot]; });
    make_stream_code(counts.data(), *code, *scratch);
    detail::make_decoding_table(*code, table.data());
    std::vector<unsigned char> stream(count * 8 + 16, 0);
    bit_writer w{stream.data()};
    const unsigned begin = static_cast<unsigned>(g.next() % 21);  // the segment need not start on a byte
    w.put(static_cast<std::uint32_t>(g.next() & ((1u << begin) - 1u)), begin);
    huffman_tokens(z.data(), count, code->min_run, [&](unsigned symbol, std::uint32_t extra, unsigned extra_bits) {
      w.put(code->word[symbol], code->length[symbol]);
      if (extra_bits != 0) w.put(extra, extra_bits);
    });
    const std::uint64_t bits = 8ull * w.next + w.pending;
    w.flush();
    for (int variant = 0; variant < 8; ++variant) {
      std::vector<unsigned char> s = stream;
      std::uint64_t size = w.next, end = bits;
      std::uint32_t n = count;
      const std::uint64_t r = g.next();
      if (variant == 1 && size != 0) s[r % size] ^= static_cast<unsigned char>(1u << (r % 8));
      if (variant == 2) end = end + 1 + r % 9;
      if (variant == 3 && end > begin) end -= 1 + r % (end - begin < 9 ? end - begin : 9);
      if (variant == 4) n = count - (count > 1 ? 1 : 0);
      if (variant == 5) n = count + 1;
      if (variant == 6) size = size / 2;
      if (variant == 7 && size > 2) s[size - 1 - r % 2] = static_cast<unsigned char>(r >> 8);
      std::vector<std::uint32_t> slow(n + 8, 7), fast(n + 8, 7);
      const bool a = decode_huffman_segment(*code, s.data(), size, begin, end, n, slow.data());
      const bool b = detail::decode_huffman_segment_fast(table.data(), s.data(), size, begin, end, n, fast.data());
      CAPTURE(trial);
      CAPTURE(variant);
      REQUIRE(a == b);
      if (a) {
        CHECK(std::equal(slow.begin(), slow.begin() + n, fast.begin()));
        ++accepted;
      } else {
        ++refused;
      }
    }
  }
  CHECK(accepted >= 400);
  CHECK(refused >= 1000);
}
