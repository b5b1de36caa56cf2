// output_files.hpp — how every mixhic binary writes a file and checks, before any expensive work,
// that it will be able to: the output directory exists (or can be made), is a directory, is
// writable, and has room for what is about to be written.
//
// Called by mixhic-prep (--output), mixhic-train (--run-dir, checkpoints, logs) and mixhic-eval
// (--out-dir). Not collective: the callers run the checks on rank 0 inside agree(), so a
// failure ends every rank with one line. Errors are InputFormatError naming the path, the option
// and the operating system's reason (strerror).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mixhic {

// `dir` as an output directory of option `option`: made (with parents) if missing; an error if
// it exists as something other than a directory, cannot be made, or a file cannot be created in
// it (a probe file is written and removed).
void check_output_dir(const std::string& dir, const std::string& option);

// `path` as an output file of option `option`: its directory must exist and be writable (as
// above, but not made: a mistyped directory is more likely than a wanted new one) and `path`
// itself must not be a directory.
void check_output_file(const std::string& path, const std::string& option);

// Refuses when the file system holding `dir` has less than `bytes` available to this user,
// saying what needs the room. A file system that cannot tell (statvfs fails) passes.
void check_free_space(const std::string& dir, int64_t bytes, const std::string& what);

// Writes `n` bytes to `path` (created or truncated) with POSIX calls; `durable` also fsyncs it.
// On failure the partial file is removed and the error carries strerror (e.g. "No space left
// on device"). Callers that must never leave a partial file at `path` write to a temporary name
// and rename it.
void write_file(const std::string& path, const void* data, size_t n, bool durable);
inline void write_file(const std::string& path, const std::string& text, bool durable) {
  write_file(path, text.data(), text.size(), durable);
}

// Writes `path` whole or not at all: the bytes go to PATH.tmp (write_file), which is then renamed
// over `path`.
void replace_file(const std::string& path, const void* data, size_t n);
inline void replace_file(const std::string& path, const std::string& text) { replace_file(path, text.data(), text.size()); }

// "1.2 GB", "350 MB", "12 KB": for messages about sizes.
std::string human_bytes(double bytes);

// The current time as "YYYY-MM-DDTHH:MM:SS" in UTC (ISO 8601, no zone suffix): the creation
// date that the .cool and synthetic .mcool files record.
std::string iso_utc_now();

}  // namespace mixhic
