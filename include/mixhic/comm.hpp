// comm.hpp — the communicator the trainer all-reduces gradients with.
//
// COLLECTIVE: every rank must call allreduce_sum / broadcast / barrier in the same order with
// tensors of the same size and dtype (the trainer verifies bucket layouts at start-up).
// Implementations: single process (no-op), MPI (CPU tensors, MPI_Iallreduce) and NCCL (CUDA
// tensors; MPI bootstraps the ncclUniqueId; one communicator stream ordered against the compute
// stream with events). Injected into the trainer, so most of its logic is tested in one process.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "mixhic/mpi_world.hpp"

namespace mixhic {

// An all-reduce in flight. wait() returns when the result may be used by the compute stream
// (CPU: the data is final; NCCL: the compute stream is ordered after the reduction).
class CommWork {
 public:
  virtual ~CommWork() = default;
  virtual void wait() = 0;
  // Lets the library progress the operation without blocking; true when it is complete. (Open
  // MPI moves a non-blocking collective forward only inside MPI calls, so GradBuckets pokes the
  // buckets in flight from every gradient hook: that is what makes them overlap backward on CPU.)
  virtual bool test() { return false; }
};

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;
  // Starts an in-place sum of a contiguous tensor over all ranks.
  virtual std::unique_ptr<CommWork> allreduce_sum(torch::Tensor& tensor) = 0;
  virtual void broadcast(torch::Tensor& tensor, int root) = 0;
  // Blocking: `out` (size() * in.numel() elements, same dtype and device) receives every rank's
  // contiguous `in`, in rank order.
  virtual void allgather(const torch::Tensor& in, torch::Tensor& out) = 0;
  virtual void barrier() = 0;
  // Blocking, on host values: `values[0..n)` become their sum (or maximum) over all ranks. The
  // step's agreement (loss terms, stop signals, non-finite flags) and end-of-run figures.
  enum class Reduce { sum, max };
  virtual void allreduce_scalars(double* values, int n, Reduce op) = 0;
  // Ends the communicator without waiting for other ranks (failure path): NCCL's
  // ncclCommAbort; a no-op for MPI, whose MPI_Abort follows.
  virtual void abort() {}
  // Thread-safe, non-blocking: why the communicator has failed (NCCL's ncclCommGetAsyncError:
  // a peer died, a link broke), or "" while it is healthy. Polled by the hang watchdog's thread.
  // MPI reports its errors from the call that failed, so its communicators return "".
  virtual std::string async_error() { return ""; }
};

std::unique_ptr<Comm> make_single_comm();
// Comm::allreduce_scalars over MPI (the MPI communicator's, and NCCL's: host values go over
// the MPI world that bootstrapped it rather than through a device round trip).
void allreduce_host_scalars(const MpiWorld& world, double* values, int n, Comm::Reduce op);
std::unique_ptr<Comm> make_mpi_comm(const MpiWorld& world);
// COLLECTIVE: CUDA tensors on `device`, a non-blocking NCCL communicator whose calls give up
// after `timeout_s` in progress. A failure on any rank while it is made ends every rank with
// ReportedError (agree(), mpi_world.hpp), so it must not be called inside agree(). Throws
// ConfigError when this build has no NCCL.
std::unique_ptr<Comm> make_nccl_comm(const MpiWorld& world, int device, double timeout_s = 300);
bool nccl_available();

}  // namespace mixhic
