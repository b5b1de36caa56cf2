// log.hpp — rank-prefixed logging with fmt.
//
// Lines read "[mixhic-prep r0/2 12.3s] message". `info` prints on rank 0 only (or on every rank
// after set_all_ranks(true), e.g. with --log-all-ranks); `warn` prints on the rank that calls it.
// All output goes to stderr so that stdout stays clean for tables a user may pipe.
#pragma once

#include <fmt/format.h>

#include <string>

namespace mixhic::log {

void init(const std::string& program, int rank, int size);
void set_all_ranks(bool all);
bool enabled_here();  // would info() print on this rank?
void write(const char* level, const std::string& text);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled_here()) write("", fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write("warning: ", fmt::format(f, std::forward<Args>(args)...));
}

// The error line main() prints once before the job ends.
void error(const std::string& text);

}  // namespace mixhic::log
