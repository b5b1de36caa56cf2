// NCCL communicator (see include/mixhic/comm.hpp). Compiled and linked whenever the CUDA
// toolkit with nccl.h is found (MIXHIC_WITH_NCCL=AUTO finds /usr/local/cuda), so CI proves it
// builds even without a GPU; it runs where a GPU is present.
//
// Failure handling (dist-anchors §8.2, as c10d does it): the communicator is non-blocking
// (config.blocking = 0), so no NCCL call can block the host forever; every call that returns
// ncclInProgress is settled by polling ncclCommGetAsyncError against a deadline. The hang
// watchdog's thread polls async_error() too, so a dead peer or a network error ends the job
// within a second instead of after hang-timeout. The destructor aborts (ncclCommDestroy can
// block forever on a communicator whose peer died).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"

#ifdef MIXHIC_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#ifdef MIXHIC_TORCH_HAS_CUDA
#include <c10/cuda/CUDAStream.h>
#endif
#endif

namespace mixhic {

#ifdef MIXHIC_HAVE_NCCL
namespace {

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return ncclFloat32;
    case torch::kDouble: return ncclFloat64;
    case torch::kHalf: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kLong: return ncclInt64;
    case torch::kInt: return ncclInt32;
    default:
      throw Error(fmt::format("NCCL communicator: dtype {} is not supported", std::string(c10::toString(t.scalar_type()))));
  }
}

// The stream LibTorch computes on for this tensor's device (its current stream: the legacy
// default stream unless the caller set another). A LibTorch without CUDA cannot hold CUDA
// tensors; the legacy stream stands in so that the NCCL path still builds against it.
cudaStream_t compute_stream([[maybe_unused]] const torch::Tensor& t) {
#ifdef MIXHIC_TORCH_HAS_CUDA
  return c10::cuda::getCurrentCUDAStream(t.get_device()).stream();
#else
  return nullptr;
#endif
}

std::string nccl_failure(const char* call, ncclResult_t r, ncclComm_t comm) {
  const char* last = comm ? ncclGetLastError(comm) : nullptr;
  return fmt::format("{} failed: {}{}{}", call, ncclGetErrorString(r), last && *last ? fmt::format(" ({})", last) : "",
                     r == ncclSystemError || r == ncclRemoteError
                         ? "\n---> HINT: rerun with NCCL_DEBUG=INFO to see which rank or link failed"
                         : "");
}

// Orders the compute stream after a reduction on the communicator stream.
class NcclWork : public CommWork {
 public:
  NcclWork(cudaEvent_t done, cudaStream_t compute) : done_(done), compute_(compute) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  void wait() override { MIXHIC_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0)); }
  // The reduction has finished on the GPU (what "all-reduce hidden" counts).
  bool test() override {
    const cudaError_t e = cudaEventQuery(done_);
    if (e == cudaErrorNotReady) return false;
    MIXHIC_CUDA_CHECK(e);
    return true;
  }

 private:
  cudaEvent_t done_;
  cudaStream_t compute_;
};

class NcclComm : public Comm {
 public:
  // COLLECTIVE. Each stage that can fail on one rank alone ends in an agreement, so a failure
  // on any rank ends the constructor on every rank (ReportedError) instead of leaving the
  // others in the MPI_Bcast of the id or in NCCL's bootstrap.
  NcclComm(const MpiWorld& world, int device, double timeout_s) : world_(world), timeout_s_(timeout_s) {
    try {
      ncclUniqueId id{};
      agree(world, [&] {
        test_fault_point(world, "nccl-unique-id");
        if (world.rank == 0) MIXHIC_NCCL_CHECK(ncclGetUniqueId(&id));
      });
      MIXHIC_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, world.comm));  // MPI bootstraps NCCL
      agree(world, [&] {
        test_fault_point(world, "nccl-device");
        MIXHIC_CUDA_CHECK(cudaSetDevice(device));
        MIXHIC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      });
      // A rank whose init fails leaves the others in NCCL's bootstrap: they give up at the
      // deadline and the agreement ends every rank.
      agree(world, [&] {
        test_fault_point(world, "nccl-init");
        ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
        config.blocking = 0;
        ncclComm_t c = nullptr;
        const ncclResult_t r = ncclCommInitRankConfig(&c, world.size, id, world.rank, &config);
        comm_.store(c);
        settle(r, "ncclCommInitRankConfig");
      });
    } catch (...) {
      release();
      throw;
    }
  }
  ~NcclComm() override { release(); }
  int rank() const override { return world_.rank; }
  int size() const override { return world_.size; }
  std::string name() const override { return "nccl"; }

  std::unique_ptr<CommWork> allreduce_sum(torch::Tensor& t) override {
    require_cuda(t);
    const cudaStream_t compute = compute_stream(t);
    cudaEvent_t ready, done;
    MIXHIC_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    MIXHIC_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    // The gradients were written on the compute stream: the reduction waits for them there.
    MIXHIC_CUDA_CHECK(cudaEventRecord(ready, compute));
    MIXHIC_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0));
    settle(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t), ncclSum, comm(),
                         stream_),
           "ncclAllReduce");
    MIXHIC_CUDA_CHECK(cudaEventRecord(done, stream_));
    cudaEventDestroy(ready);
    return std::make_unique<NcclWork>(done, compute);
  }
  void broadcast(torch::Tensor& t, int root) override {
    require_cuda(t);
    settle(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t), root, comm(),
                         compute_stream(t)),
           "ncclBroadcast");
  }
  void allgather(const torch::Tensor& in, torch::Tensor& out) override {
    require_cuda(in);
    require_cuda(out);
    if (out.numel() != in.numel() * world_.size || out.scalar_type() != in.scalar_type())
      throw Error("NCCL communicator: allgather output must hold world-size copies of the input's dtype");
    // On the compute stream: the forward pass needs the result next anyway.
    settle(ncclAllGather(in.data_ptr(), out.data_ptr(), static_cast<size_t>(in.numel()), nccl_type(in), comm(),
                         compute_stream(in)),
           "ncclAllGather");
  }
  void barrier() override {
    MIXHIC_CUDA_CHECK(cudaDeviceSynchronize());
    MIXHIC_MPI_CHECK(MPI_Barrier(world_.comm));
  }
  void allreduce_scalars(double* values, int n, Reduce op) override {
    allreduce_host_scalars(world_, values, n, op);
  }
  std::string async_error() override {
    ncclComm_t c = comm_.load();
    if (!c) return "";
    ncclResult_t state = ncclSuccess;
    if (ncclCommGetAsyncError(c, &state) != ncclSuccess) return "ncclCommGetAsyncError failed";
    if (state == ncclSuccess || state == ncclInProgress) return "";
    return nccl_failure("an NCCL operation", state, c);
  }
  void abort() override {
    if (ncclComm_t c = comm_.exchange(nullptr)) ncclCommAbort(c);
  }

 private:
  static void require_cuda(const torch::Tensor& t) {
    if (!t.is_cuda() || !t.is_contiguous()) throw Error("NCCL communicator: tensors must be contiguous CUDA tensors");
  }
  ncclComm_t comm() const {
    ncclComm_t c = comm_.load();
    if (!c) throw Error("NCCL communicator: used after it was aborted");
    return c;
  }
  // A non-blocking communicator's call may return ncclInProgress: poll its state until it is
  // settled, within the deadline (a peer that died mid-call leaves it in progress).
  void settle(ncclResult_t r, const char* call) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    while (r == ncclInProgress) {
      if (std::chrono::steady_clock::now() > until)
        throw LibraryError(fmt::format("{}: still in progress after {:.0f} s: another rank has probably failed or "
                                       "cannot be reached (rerun with NCCL_DEBUG=INFO)",
                                       call, timeout_s_));
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (ncclCommGetAsyncError(comm_.load(), &r) != ncclSuccess) r = ncclInternalError;
    }
    if (r != ncclSuccess) throw LibraryError(nccl_failure(call, r, comm_.load()));
  }
  void release() {
    abort();
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = nullptr;
  }

  MpiWorld world_;
  double timeout_s_;
  // Atomic: the hang watchdog's thread polls and aborts it.
  std::atomic<ncclComm_t> comm_{nullptr};
  cudaStream_t stream_ = nullptr;  // the reductions' own stream
};

}  // namespace

bool nccl_available() { return true; }
std::unique_ptr<Comm> make_nccl_comm(const MpiWorld& world, int device, double timeout_s) {
  return std::make_unique<NcclComm>(world, device, timeout_s);
}
#else
bool nccl_available() { return false; }
std::unique_ptr<Comm> make_nccl_comm(const MpiWorld&, int, double) {
  throw ConfigError("this build has no NCCL: reconfigure with MIXHIC_WITH_NCCL=ON and a CUDA toolkit with nccl.h");
}
#endif

}  // namespace mixhic
