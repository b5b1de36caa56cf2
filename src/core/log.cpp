#include "mixhic/log.hpp"

#include <chrono>
#include <cstdio>

namespace mixhic::log {
namespace {
std::string g_program = "mixhic";
int g_rank = 0, g_size = 1;
bool g_all = false;
const auto g_start = std::chrono::steady_clock::now();
}  // namespace

void init(const std::string& program, int rank, int size) {
  g_program = program;
  g_rank = rank;
  g_size = size;
}
void set_all_ranks(bool all) { g_all = all; }
bool enabled_here() { return g_all || g_rank == 0; }

void write(const char* level, const std::string& text) {
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  fmt::print(stderr, "[{} r{}/{} {:.1f}s] {}{}\n", g_program, g_rank, g_size, t, level, text);
  std::fflush(stderr);
}

void error(const std::string& text) {
  if (g_size > 1)
    fmt::print(stderr, "{}: error (rank {}): {}\n", g_program, g_rank, text);
  else
    fmt::print(stderr, "{}: error: {}\n", g_program, text);
  std::fflush(stderr);
}

}  // namespace mixhic::log
