// Stop signals and the hang watchdog (see include/mixhic/watchdog.hpp).
#include "mixhic/watchdog.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <string>

#include "mixhic/log.hpp"

namespace mixhic {

namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal_pending() { return g_stop_signal.load(); }

HangWatchdog::HangWatchdog(double timeout_s, const MpiWorld& world) : HangWatchdog(timeout_s, world, nullptr) {}

HangWatchdog::HangWatchdog(double timeout_s, const MpiWorld& world, OnFailure on_failure)
    : timeout_ms_(int64_t(timeout_s * 1e3)), on_failure_(std::move(on_failure)), world_(world) {
  beat("start-up", 0);
  thread_ = std::thread([this] { watch(); });
}

HangWatchdog::~HangWatchdog() {
  stop_.store(true);
  thread_.join();
}

void HangWatchdog::beat(const char* phase, int64_t step) {
  phase_.store(phase);
  step_.store(step);
  last_.store(now_ms());
}

void HangWatchdog::watch() {
  const int64_t startup_floor_ms = int64_t(kStartupFloorSeconds * 1e3);
  while (!stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMilliseconds));
    if (Comm* c = comm_.load()) {
      const std::string why = c->async_error();
      if (!why.empty()) {
        fail(fmt::format("the {} communicator failed in phase '{}' of step {}: {}; aborting the job", c->name(),
                         phase_.load(), step_.load(), why));
        return;
      }
    }
    const int64_t idle = now_ms() - last_.load();
    const bool starting = std::string(phase_.load()).rfind("start-up", 0) == 0;
    if (idle > (starting ? std::max(timeout_ms_, startup_floor_ms) : timeout_ms_)) {
      fail(fmt::format("no progress for {:.0f} s in phase '{}' of step {}: another rank has probably died or "
                       "hangs (hang-timeout = {:.0f} s); aborting the job",
                       idle / 1e3, phase_.load(), step_.load(), timeout_ms_ / 1e3));
      return;
    }
  }
}

void HangWatchdog::fail(const std::string& why) {
  log::error(why);
  if (on_failure_) {
    on_failure_(why);
    return;
  }
  if (Comm* c = comm_.load()) c->abort();
  MPI_Abort(world_.comm, 3);
}

}  // namespace mixhic
