// SPDX-License-Identifier: Apache-2.0
//
// actzip: the command-line compressor. Compresses a raw little-endian file of
// float, double, binary16 or bfloat16 values to an actzip stream, decompresses a
// stream back to a raw file, and prints a stream's header. Run `actzip --help`.
//
// Exit status: 0 on success, 1 on a runtime failure (I/O, corrupt stream, out of
// memory), 2 on a usage error (bad or missing arguments, a raw file whose size does
// not match -t and -d). Every error message goes to stderr and starts with "actzip: ".
#include <actzip/actzip.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <new>
#include <string>
#include <system_error>
#include <vector>

namespace {

constexpr int exit_runtime = 1;
constexpr int exit_usage = 2;

const char* const usage_text =
    "usage: actzip compress   -i IN.raw -o OUT.az -t f32|f64|f16|bf16 -d D0[,D1[,D2]]\n"
    "                         (--abs E | --rel E) [--preserve-sign] [--codec bitplane|huffman|automatic] [--serial] [-q]\n"
    "       actzip decompress -i IN.az -o OUT.raw [--serial] [-q]\n"
    "       actzip info       -i IN.az\n"
    "       actzip --help | -h\n"
    "       actzip --version\n"
    "\n"
    "Error-bounded lossy compression of float tensors. Raw files hold the values in\n"
    "C order (last dimension contiguous), little-endian, with no header.\n"
    "\n"
    "  -i, --input FILE      input file\n"
    "  -o, --output FILE     output file (written only when the command succeeds)\n"
    "  -t, --type T          element type of IN.raw: f32, f64, f16 (IEEE binary16) or bf16\n"
    "  -d, --dims D0,D1,D2   1 to 3 extents, slowest first (an NCHW tensor: N*C,H,W);\n"
    "                        the file must hold exactly D0*D1*D2 values\n"
    "      --abs E           absolute bound: |x - x'| <= E for every finite x (E >= 0)\n"
    "      --rel E           relative bound: |x - x'| <= E * (max - min) over the finite\n"
    "                        values (E > 0)\n"
    "      --preserve-sign   no non-zero value comes back as zero or with the other sign\n"
    "      --codec NAME      encoder: bitplane (the default: fastest), huffman (smallest\n"
    "                        streams) or automatic (per chunk the smaller of the two)\n"
    "      --serial          run on one thread (default: all OpenMP threads, in a build\n"
    "                        with OpenMP)\n"
    "  -q, --quiet           no summary line on stderr\n"
    "  -h, --help            this text\n"
    "      --version         library and stream-format versions\n"
    "\n"
    "NaN and infinities are stored exactly; zeros always come back as exactly zero.\n"
    "decompress writes the element type recorded in the stream. info validates the\n"
    "header and the checksum; decompress validates the whole stream.\n"
    "Exit status: 0 success, 1 runtime failure (I/O, corrupt stream), 2 usage error.\n";

//! A failure with its exit status; main prints "actzip: <message>".
struct failure {
  int code;
  std::string message;
};

[[noreturn]] void usage_failure(const std::string& message) { throw failure{exit_usage, message}; }
[[noreturn]] void runtime_failure(const std::string& message) { throw failure{exit_runtime, message}; }

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

// ---- formatting ---------------------------------------------------------------

//! The shortest "%.*g" text that reads back as exactly `v`.
std::string format_double(double v) {
  char buffer[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, v);
    if (std::strtod(buffer, nullptr) == v) break;
  }
  return buffer;
}

std::string shape_string(const actzip::extents& shape, const char* separator = "x") {
  std::string s;
  for (unsigned d = 0; d < shape.rank(); ++d) {
    if (d) s += separator;
    s += std::to_string(shape[d]);
  }
  return s;
}

const char* mode_name(actzip::bound_mode m) {
  switch (m) {
    case actzip::bound_mode::absolute: return "absolute";
    case actzip::bound_mode::relative: return "relative";
  }
  return "unknown";
}

std::string ratio_string(std::uint64_t raw, std::uint64_t compressed) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", compressed ? static_cast<double>(raw) / static_cast<double>(compressed)
                                                          : 0.0);
  return buffer;
}

// ---- options ------------------------------------------------------------------

enum class command { compress, decompress, info };

struct options {
  command cmd = command::info;
  std::string input, output;
  bool has_type = false;
  actzip::dtype type = actzip::dtype::float32;
  bool has_dims = false;
  actzip::extents shape;
  bool has_bound = false;
  actzip::bound bound;
  bool preserve_sign = false;
  actzip::codec codec = actzip::codec::bitplane;
  bool serial = false;
  bool quiet = false;
  bool help = false;
};

actzip::dtype parse_dtype(const std::string& s) {
  for (actzip::dtype t : {actzip::dtype::float32, actzip::dtype::float64, actzip::dtype::float16,
                          actzip::dtype::bfloat16})
    if (s == actzip::to_string(t)) return t;
  if (s == "float32") return actzip::dtype::float32;
  if (s == "float64") return actzip::dtype::float64;
  if (s == "float16") return actzip::dtype::float16;
  if (s == "bfloat16") return actzip::dtype::bfloat16;
  usage_failure("unknown type " + in_quotes(s) + " (expected f32, f64, f16 or bf16)");
}

actzip::extents parse_dims(const std::string& s) {
  std::uint64_t dims[actzip::extents::max_rank];
  unsigned rank = 0;
  std::size_t at = 0;
  for (;;) {
    const std::size_t comma = s.find(',', at);
    const std::string item = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos)
      usage_failure("bad dimensions " + in_quotes(s) + " (expected D0[,D1[,D2]], non-negative integers)");
    if (rank == actzip::extents::max_rank) usage_failure("bad dimensions " + in_quotes(s) + " (at most 3)");
    errno = 0;
    const unsigned long long d = std::strtoull(item.c_str(), nullptr, 10);
    if (errno == ERANGE) usage_failure("dimension " + item + " is too large");
    dims[rank++] = d;
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return actzip::extents::from_array(rank, dims);
}

double parse_bound(const std::string& option, const std::string& s, bool relative) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v) || (relative ? !(v > 0) : !(v >= 0)))
    usage_failure(option + " needs a finite number " + (relative ? "> 0" : ">= 0") + ", not " + in_quotes(s));
  return v;
}

options parse_arguments(int argc, char** argv) {
  options o;
  const std::string name = argv[1];
  if (name == "compress") {
    o.cmd = command::compress;
  } else if (name == "decompress") {
    o.cmd = command::decompress;
  } else if (name == "info") {
    o.cmd = command::info;
  } else {
    usage_failure("unknown command " + in_quotes(name) + " (expected compress, decompress or info; see --help)");
  }

  bool has_codec = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      const std::size_t eq = arg.find('=');
      if (eq != std::string::npos) {  // --option=value
        value = arg.substr(eq + 1);
        arg.erase(eq);
        has_inline_value = true;
      }
    }
    auto take_value = [&]() -> std::string {
      if (has_inline_value) return value;
      if (i + 1 >= argc) usage_failure("option " + arg + " needs a value");
      return argv[++i];
    };
    auto no_value = [&]() {
      if (has_inline_value) usage_failure("option " + arg + " takes no value");
    };
    auto only_for = [&](std::initializer_list<command> allowed) {
      if (std::find(allowed.begin(), allowed.end(), o.cmd) == allowed.end())
        usage_failure("option " + arg + " does not apply to '" + name + "'");
    };
    auto once = [&](bool already) {
      if (already) usage_failure("option " + arg + " given twice");
    };

    if (arg == "-h" || arg == "--help") {
      no_value();
      o.help = true;
    } else if (arg == "-i" || arg == "--input") {
      once(!o.input.empty());
      o.input = take_value();
      if (o.input.empty()) usage_failure("empty input file name");
    } else if (arg == "-o" || arg == "--output") {
      only_for({command::compress, command::decompress});
      once(!o.output.empty());
      o.output = take_value();
      if (o.output.empty()) usage_failure("empty output file name");
    } else if (arg == "-t" || arg == "--type") {
      only_for({command::compress});
      once(o.has_type);
      o.type = parse_dtype(take_value());
      o.has_type = true;
    } else if (arg == "-d" || arg == "--dims") {
      only_for({command::compress});
      once(o.has_dims);
      o.shape = parse_dims(take_value());
      o.has_dims = true;
    } else if (arg == "--abs" || arg == "--rel") {
      only_for({command::compress});
      if (o.has_bound) usage_failure("give one bound: --abs or --rel, once");
      const bool relative = arg == "--rel";
      const double v = parse_bound(arg, take_value(), relative);
      o.bound = relative ? actzip::rel(v) : actzip::abs(v);
      o.has_bound = true;
    } else if (arg == "--preserve-sign") {
      only_for({command::compress});
      no_value();
      o.preserve_sign = true;
    } else if (arg == "--codec") {
      only_for({command::compress});
      once(has_codec);
      const std::string c = take_value();
      if (c == "bitplane") o.codec = actzip::codec::bitplane;
      else if (c == "huffman") o.codec = actzip::codec::huffman;
      else if (c == "automatic") o.codec = actzip::codec::automatic;
      else usage_failure("unknown codec " + in_quotes(c) + " (expected bitplane, huffman or automatic)");
      has_codec = true;
    } else if (arg == "--serial") {
      only_for({command::compress, command::decompress});
      no_value();
      o.serial = true;
    } else if (arg == "-q" || arg == "--quiet") {
      only_for({command::compress, command::decompress});
      no_value();
      o.quiet = true;
    } else if (!arg.empty() && arg[0] == '-') {
      usage_failure("unknown option " + in_quotes(arg) + " (see --help)");
    } else {
      usage_failure("unexpected argument " + in_quotes(arg) + " (files are given with -i and -o)");
    }
  }

  if (o.help) return o;
  if (o.input.empty()) usage_failure(name + ": missing -i INPUT");
  if (o.cmd != command::info && o.output.empty()) usage_failure(name + ": missing -o OUTPUT");
  if (o.cmd == command::compress) {
    if (!o.has_type) usage_failure("compress: missing -t f32|f64|f16|bf16");
    if (!o.has_dims) usage_failure("compress: missing -d D0[,D1[,D2]]");
    if (!o.has_bound) usage_failure("compress: missing --abs E or --rel E");
    std::uint64_t count = 0;
    if (!o.shape.element_count(&count) || count > UINT64_MAX / 16)
      usage_failure("compress: the shape " + shape_string(o.shape) + " is too large");
  }
  return o;
}

// ---- files --------------------------------------------------------------------

//! Reverses the bytes of every element on a big-endian host: raw files are little-endian.
void swap_to_or_from_little_endian(void* data, std::size_t count, std::size_t size) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  auto* p = static_cast<unsigned char*>(data);
  for (std::size_t i = 0; i < count; ++i, p += size) std::reverse(p, p + size);
#else
  (void)data, (void)count, (void)size;
#endif
}

std::string system_error_text() { return errno != 0 ? std::strerror(errno) : "I/O error"; }

//! Size of an open file, or a runtime failure.
std::uint64_t file_size(std::ifstream& in, const std::string& path) {
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (!in || size < 0) runtime_failure(path + ": cannot determine the file size");
  return static_cast<std::uint64_t>(size);
}

std::ifstream open_input(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) runtime_failure(path + ": is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) runtime_failure(path + ": cannot open: " + system_error_text());
  return in;
}

//! Reads exactly `bytes` bytes into `out`.
void read_exactly(std::ifstream& in, const std::string& path, void* out, std::uint64_t bytes) {
  if (bytes == 0) return;
  errno = 0;
  if (!in.read(static_cast<char*>(out), static_cast<std::streamsize>(bytes)) ||
      static_cast<std::uint64_t>(in.gcount()) != bytes)
    runtime_failure(path + ": read error: " + system_error_text());
}

//! Writes `bytes` bytes to a new file `path`; removes the file if anything fails.
void write_file(const std::string& path, const void* data, std::uint64_t bytes) {
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) runtime_failure(path + ": cannot create: " + system_error_text());
  if (bytes != 0) out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  out.close();
  if (!out) {
    const std::string reason = system_error_text();
    std::remove(path.c_str());
    runtime_failure(path + ": write error: " + reason);
  }
}

//! Reads a whole stream file and checks that it ends where the stream ends.
std::vector<std::byte> read_stream_file(const std::string& path, actzip::header* hdr) {
  std::ifstream in = open_input(path);
  const std::uint64_t size = file_size(in, path);
  if (size == 0) runtime_failure(path + ": " + actzip::to_string(actzip::status::not_a_stream) + " (empty file)");
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  read_exactly(in, path, bytes.data(), size);
  actzip::stream_fault fault;
  const actzip::status s = actzip::parse_header(bytes.data(), bytes.size(), hdr, &fault);
  if (s != actzip::status::success)
    runtime_failure(path + ": " + actzip::to_string(s) + (fault.what ? ": " + actzip::describe(fault) : std::string()));
  return bytes;
}

// ---- commands -----------------------------------------------------------------

template <class T>
int compress_as(const options& o) {
  const std::uint64_t count = o.shape.size();  // checked for overflow by parse_arguments
  const std::uint64_t needed = count * sizeof(T);
  std::ifstream in = open_input(o.input);
  const std::uint64_t size = file_size(in, o.input);
  if (size != needed)
    usage_failure(o.input + ": the file has " + std::to_string(size) + " bytes, but " +
                  actzip::to_string(o.type) + " " + shape_string(o.shape) + " needs " + std::to_string(count) +
                  " x " + std::to_string(sizeof(T)) + " = " + std::to_string(needed) + " bytes");
  std::vector<T> data(static_cast<std::size_t>(count));
  read_exactly(in, o.input, data.data(), needed);
  swap_to_or_from_little_endian(data.data(), data.size(), sizeof(T));

  actzip::params p{o.bound};
  p.codec = o.codec;
  p.preserve_sign = o.preserve_sign;
  std::vector<std::byte> z;
  try {
    z = o.serial ? actzip::compress(actzip::exec::serial, data.data(), o.shape, p)
                 : actzip::compress(data.data(), o.shape, p);
  } catch (const actzip::error& e) {
    runtime_failure(o.input + ": compression failed: " + actzip::to_string(e.code()));
  }
  write_file(o.output, z.data(), z.size());

  if (!o.quiet) {
    const actzip::header hdr = actzip::inspect(z.data(), z.size());
    std::fprintf(stderr, "%s -> %s: %llu -> %llu bytes, ratio %s (%s %s, %s bound %s, absolute %.6g)\n",
                 o.input.c_str(), o.output.c_str(), static_cast<unsigned long long>(needed),
                 static_cast<unsigned long long>(z.size()), ratio_string(needed, z.size()).c_str(),
                 actzip::to_string(hdr.dtype), shape_string(hdr.shape).c_str(), mode_name(hdr.requested_bound.mode),
                 format_double(hdr.requested_bound.value).c_str(), hdr.absolute_bound);
  }
  return 0;
}

template <class T>
void decompress_as(const options& o, const std::vector<std::byte>& stream, const actzip::header& hdr) {
  std::vector<T> values;
  if (o.serial) {
    actzip::decompress<T>(actzip::exec::serial, stream.data(), stream.size(), values);
  } else {
    actzip::decompress<T>(actzip::exec::default_host_t{}, stream.data(), stream.size(), values);
  }
  swap_to_or_from_little_endian(values.data(), values.size(), sizeof(T));
  write_file(o.output, values.data(), hdr.raw_bytes());
}

int run_decompress(const options& o) {
  actzip::header hdr;
  const std::vector<std::byte> stream = read_stream_file(o.input, &hdr);
  if (stream.size() != hdr.total_bytes)
    runtime_failure(o.input + ": " + std::to_string(stream.size() - hdr.total_bytes) +
                    " unexpected bytes after the end of the stream");
  try {
    switch (hdr.dtype) {
      case actzip::dtype::float32: decompress_as<float>(o, stream, hdr); break;
      case actzip::dtype::float64: decompress_as<double>(o, stream, hdr); break;
      case actzip::dtype::float16: decompress_as<actzip::half>(o, stream, hdr); break;
      case actzip::dtype::bfloat16: decompress_as<actzip::bfloat16>(o, stream, hdr); break;
    }
  } catch (const actzip::error& e) {
    // e.what() is "actzip: <status>: decompress: <what> at stream byte N (chunk C)".
    std::string message = e.what();
    const std::string prefix = "actzip: ";
    if (message.compare(0, prefix.size(), prefix) == 0) message.erase(0, prefix.size());
    runtime_failure(o.input + ": " + message);
  }
  if (!o.quiet)
    std::fprintf(stderr, "%s -> %s: %llu -> %llu bytes (%s %s)\n", o.input.c_str(), o.output.c_str(),
                 static_cast<unsigned long long>(hdr.total_bytes), static_cast<unsigned long long>(hdr.raw_bytes()),
                 actzip::to_string(hdr.dtype), shape_string(hdr.shape).c_str());
  return 0;
}

int run_info(const options& o) {
  actzip::header hdr;
  const std::vector<std::byte> stream = read_stream_file(o.input, &hdr);
  const std::uint64_t table = hdr.chunk_count * actzip::chunk_offset_bytes;
  const actzip::box_extents chunk = hdr.chunk_shape;
  const std::uint32_t chunk_dims[3] = {chunk.e0, chunk.e1, chunk.e2};
  std::string chunk_text;
  for (unsigned d = 3 - hdr.shape.rank(); d < 3; ++d) {
    if (!chunk_text.empty()) chunk_text += " x ";
    chunk_text += std::to_string(chunk_dims[d]);
  }
  const auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };

  std::printf("file:            %s (%llu bytes)\n", o.input.c_str(), u(stream.size()));
  std::printf("format version:  %u\n", hdr.version);
  std::printf("dtype:           %s (%u bytes per value)\n", actzip::to_string(hdr.dtype), actzip::dtype_size(hdr.dtype));
  std::printf("shape:           %s (rank %u, C order)\n", shape_string(hdr.shape, " x ").c_str(), hdr.shape.rank());
  std::printf("bound:           %s %s\n", mode_name(hdr.requested_bound.mode),
              format_double(hdr.requested_bound.value).c_str());
  std::printf("absolute bound:  %s\n", format_double(hdr.absolute_bound).c_str());
  if (hdr.has_value_range)
    std::printf("value range:     [%s, %s]\n", format_double(hdr.value_min).c_str(), format_double(hdr.value_max).c_str());
  else
    std::printf("value range:     not recorded (absolute bound)\n");
  std::printf("preserve sign:   %s\n", hdr.preserve_sign ? "yes" : "no");
  std::printf("codec:           %s\n", actzip::to_string(hdr.codec));
  std::printf("chunk shape:     %s\n", chunk_text.c_str());
  std::printf("elements:        %llu\n", u(hdr.element_count));
  std::printf("chunks:          %llu\n", u(hdr.chunk_count));
  std::printf("header bytes:    %llu (fixed %u + chunk table %llu)\n", u(actzip::header_bytes + table),
              actzip::header_bytes, u(table));
  std::printf("payload bytes:   %llu\n", u(hdr.payload_bytes));
  std::printf("stream bytes:    %llu\n", u(hdr.total_bytes));
  const actzip::status verified = actzip::verify(actzip::exec::default_host_t{}, stream.data(), stream.size());
  if (!hdr.has_checksum())
    std::printf("checksum:        none (format version 1)\n");
  else
    std::printf("checksum:        0x%016llx (%s)\n", u(hdr.checksum),
                verified == actzip::status::success ? "verified" : "MISMATCH: the stream is damaged");
  std::printf("raw bytes:       %llu\n", u(hdr.raw_bytes()));
  if (hdr.element_count != 0) {
    std::printf("ratio:           %s\n", ratio_string(hdr.raw_bytes(), hdr.total_bytes).c_str());
    std::printf("bits per value:  %.3f\n",
                8.0 * static_cast<double>(hdr.total_bytes) / static_cast<double>(hdr.element_count));
  } else {
    std::printf("ratio:           - (empty tensor)\n");
    std::printf("bits per value:  -\n");
  }
  std::fflush(stdout);
  if (stream.size() != hdr.total_bytes)
    std::fprintf(stderr, "actzip: warning: %s: %llu unexpected bytes after the end of the stream\n", o.input.c_str(),
                 u(stream.size() - hdr.total_bytes));
  if (verified != actzip::status::success)
    runtime_failure(o.input + ": " + actzip::to_string(verified));
  return 0;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    const std::string text = usage_text;
    usage_failure("missing command (see actzip --help)\n" + text.substr(0, text.find("\n\n") + 1));
  }
  const std::string first = argv[1];
  if (first == "-h" || first == "--help") {
    if (argc > 2) usage_failure(first + " takes no arguments");
    std::fputs(usage_text, stdout);
    return 0;
  }
  if (first == "--version") {
    if (argc > 2) usage_failure("--version takes no arguments");
    std::printf("actzip %s (stream format %u, executor: %s)\n", ACTZIP_VERSION_STRING, actzip::format_version,
                ACTZIP_HAS_OPENMP ? "omp" : "serial");
    return 0;
  }
  const options o = parse_arguments(argc, argv);
  if (o.help) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  switch (o.cmd) {
    case command::compress:
      switch (o.type) {
        case actzip::dtype::float32: return compress_as<float>(o);
        case actzip::dtype::float64: return compress_as<double>(o);
        case actzip::dtype::float16: return compress_as<actzip::half>(o);
        case actzip::dtype::bfloat16: return compress_as<actzip::bfloat16>(o);
      }
      break;
    case command::decompress: return run_decompress(o);
    case command::info: return run_info(o);
  }
  return exit_runtime;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const failure& f) {
    std::fprintf(stderr, "actzip: %s\n", f.message.c_str());
    return f.code;
  } catch (const actzip::error& e) {
    std::fprintf(stderr, "actzip: %s\n", actzip::to_string(e.code()));
    return exit_runtime;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "actzip: out of memory\n");
    return exit_runtime;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "actzip: %s\n", e.what());
    return exit_runtime;
  }
}
