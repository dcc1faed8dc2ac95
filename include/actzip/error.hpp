// SPDX-License-Identifier: Apache-2.0
//
// Status codes returned by the core layer and the exception thrown by the
// convenience layer. The core layer never throws; the convenience layer turns any
// status other than status::success into an actzip::error carrying it (or, built
// without exceptions, prints it and aborts).
#pragma once

#include <actzip/config.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace actzip {

//! Result of every core-layer call.
enum class status : int {
  success = 0,             //!< the call did what it was asked
  invalid_argument,        //!< a null pointer, a bad bound, a rank outside 1..3, ...
  unsupported,             //!< a feature this build or this call does not provide
  buffer_too_small,        //!< the output or workspace capacity is smaller than needed
  size_overflow,           //!< a size computation would overflow 64 bits
  dtype_mismatch,          //!< the stream holds another element type than requested
  not_a_stream,            //!< the bytes do not start with the actzip magic
  unsupported_version,     //!< the stream was written by a newer format version
  corrupt_stream,          //!< the stream is truncated or inconsistent
  cuda_error,              //!< a CUDA runtime call or kernel launch failed (see actzip::last_cuda_error)
  checksum_mismatch,       //!< the stream's checksum does not match its bytes: it was damaged
};

//! A short English description of a status (a static string, never null).
ACTZIP_HD const char* to_string(status s) noexcept {
  switch (s) {
    case status::success: return "success";
    case status::invalid_argument: return "invalid argument";
    case status::unsupported: return "unsupported";
    case status::buffer_too_small: return "buffer too small";
    case status::size_overflow: return "size overflow";
    case status::dtype_mismatch: return "element type does not match the stream";
    case status::not_a_stream: return "not an actzip stream";
    case status::unsupported_version: return "unsupported stream format version";
    case status::corrupt_stream: return "corrupt or truncated stream";
    case status::cuda_error: return "CUDA error";
    case status::checksum_mismatch: return "checksum mismatch (the stream is damaged)";
  }
  return "unknown status";
}

//! Where and why a stream was refused: filled in by the parsers when a caller asks
//! (see actzip::diagnose), so an error message can name the field and its position.
struct stream_fault {
  const char* what = nullptr;            //!< what is wrong (a static English phrase), or null
  std::uint64_t offset = 0;              //!< byte offset in the stream of the offending field
  std::uint64_t chunk = UINT64_MAX;      //!< index of the offending chunk, or UINT64_MAX
  //! True when a chunk is named.
  ACTZIP_HD bool in_chunk() const noexcept { return chunk != UINT64_MAX; }
};

namespace detail {
//! Returns `s`, recording `what` and `offset` in *fault when fault is not null.
ACTZIP_HD status refuse(stream_fault* fault, status s, const char* what, std::uint64_t offset) noexcept {
  if (fault != nullptr) {
    fault->what = what;
    fault->offset = offset;
  }
  return s;
}
}  // namespace detail

//! Exception thrown by the convenience layer; `code()` is the core-layer status.
class error : public std::runtime_error {
 public:
  //! An error for status `s`, with `what()` = "actzip: <status>: <context>".
  explicit error(status s, const std::string& context = {})
      : std::runtime_error(std::string("actzip: ") + to_string(s) + (context.empty() ? "" : ": " + context)),
        code_(s) {}
  //! The status that caused the error.
  status code() const noexcept { return code_; }

 private:
  status code_;
};

namespace detail {
//! Throws actzip::error(s, context); without exceptions, prints its message to
//! stderr and aborts. Every error of the convenience layer goes through here.
[[noreturn]] inline void raise(status s, const std::string& context) {
#if ACTZIP_HAS_EXCEPTIONS
  throw error(s, context);
#else
  std::fprintf(stderr, "%s\n", error(s, context).what());
  std::abort();
#endif
}

//! raise(s, context) unless s is status::success.
inline void throw_if_failed(status s, const char* context) {
  if (s != status::success) raise(s, context);
}
}  // namespace detail

}  // namespace actzip
