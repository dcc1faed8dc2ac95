// SPDX-License-Identifier: Apache-2.0
// Consumer of the installed package: compresses, inspects and decompresses.
#include <actzip/actzip.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  std::vector<float> v(20000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.001f * static_cast<float>(i));
  const actzip::extents shape{100, 200};
  const std::vector<std::byte> z = actzip::compress(v.data(), shape, actzip::params{actzip::abs(1e-4)});
  const actzip::header h = actzip::inspect(z.data(), z.size());
  const std::vector<float> back = actzip::decompress<float>(z.data(), z.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    if (std::fabs(static_cast<double>(v[i]) - static_cast<double>(back[i])) > h.absolute_bound) return 1;
  std::printf("consumer: %zu bytes -> %zu bytes (ratio %.1f), bound held\n", v.size() * 4, z.size(), h.ratio());
  return h.shape == shape ? 0 : 1;
}
