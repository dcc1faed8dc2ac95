// SPDX-License-Identifier: Apache-2.0
//
// Library and stream-format versions. The format version is written into every
// stream; a decoder refuses streams whose format version it does not know.
#pragma once

#define ACTZIP_VERSION_MAJOR 0
#define ACTZIP_VERSION_MINOR 3
#define ACTZIP_VERSION_PATCH 0
//! The library version as a string.
#define ACTZIP_VERSION_STRING "0.3.0"

namespace actzip {
//! Version of the stream format this library writes (and the newest it reads).
inline constexpr unsigned format_version = 3;
//! Oldest stream format version this library still reads (version 1 has no checksum).
inline constexpr unsigned oldest_format_version = 1;
}  // namespace actzip
