// watchdog.hpp — how a data-parallel run notices that it must end: stop signals (Slurm's
// --signal, scancel, preemption) and a hang watchdog for collectives that never return.
//
// Stop signals: SIGUSR1 and SIGTERM only set a flag (stop_signal_pending); the ranks agree on
// it at the next step boundary, checkpoint and exit kExitStoppedForRequeue.
// Hang watchdog: a rank blocked in a collective whose peer died or hangs would wait forever
// (NCCL) or until the launcher notices (MPI). A thread watches the phase the rank last
// reported (beat); if no beat comes for hang-timeout seconds it names the phase and step,
// aborts the attached communicator (ncclCommAbort) and ends the whole job (MPI_Abort). The same
// thread polls the communicator's async_error() (NCCL's ncclCommGetAsyncError), so a dead peer
// or a broken link ends the job within a poll instead of after hang-timeout.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "mixhic/comm.hpp"
#include "mixhic/mpi_world.hpp"

namespace mixhic {

// Installs the SIGUSR1/SIGTERM handlers (idempotent).
void install_stop_handlers();
// The stop signal received since the start (SIGUSR1 or SIGTERM), 0 if none.
int stop_signal_pending();

class HangWatchdog {
 public:
  // Starts watching at once, in phase "start-up". Phases whose name starts with "start-up"
  // (opening a large corpus, verifying checkpoint hashes, NCCL set-up) may take longer than a
  // step: they get at least kStartupFloorSeconds.
  HangWatchdog(double timeout_s, const MpiWorld& world);
  // What to do instead of aborting the communicator and the job (unit tests): called once,
  // from the watchdog's thread, with the line that was logged.
  using OnFailure = std::function<void(const std::string& why)>;
  HangWatchdog(double timeout_s, const MpiWorld& world, OnFailure on_failure);
  ~HangWatchdog();
  HangWatchdog(const HangWatchdog&) = delete;
  HangWatchdog& operator=(const HangWatchdog&) = delete;

  // The communicator to abort on a hang, once it exists; it must outlive the watchdog.
  void attach(Comm* comm) { comm_.store(comm); }
  // This rank is alive and now in `phase` (a string literal) of `step`.
  void beat(const char* phase, int64_t step);

  static constexpr double kStartupFloorSeconds = 600;
  static constexpr int kPollMilliseconds = 200;

 private:
  void watch();
  void fail(const std::string& why);

  int64_t timeout_ms_;
  OnFailure on_failure_;
  std::atomic<Comm*> comm_{nullptr};
  MpiWorld world_;
  std::atomic<const char*> phase_{""};
  std::atomic<int64_t> step_{0}, last_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mixhic
