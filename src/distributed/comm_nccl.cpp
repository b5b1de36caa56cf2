// NCCL communicator (see include/mixhic/comm.hpp). Compiled and linked whenever the CUDA
// toolkit with nccl.h is found (MIXHIC_WITH_NCCL=AUTO finds /usr/local/cuda), so CI proves it
// builds even without a GPU; it runs where a GPU is present.
#include <fmt/format.h>

#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"

#ifdef MIXHIC_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
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

// Orders the compute stream after a reduction on the communicator stream.
class NcclWork : public CommWork {
 public:
  NcclWork(cudaEvent_t done, cudaStream_t compute) : done_(done), compute_(compute) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  void wait() override { MIXHIC_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0)); }

 private:
  cudaEvent_t done_;
  cudaStream_t compute_;
};

class NcclComm : public Comm {
 public:
  NcclComm(const MpiWorld& world, int device) : world_(world) {
    MIXHIC_CUDA_CHECK(cudaSetDevice(device));
    ncclUniqueId id;
    if (world.rank == 0) MIXHIC_NCCL_CHECK(ncclGetUniqueId(&id));
    MIXHIC_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, world.comm));  // MPI bootstraps NCCL
    MIXHIC_NCCL_CHECK(ncclCommInitRank(&comm_, world.size, id, world.rank));
    MIXHIC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~NcclComm() override {
    if (comm_) ncclCommDestroy(comm_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  int rank() const override { return world_.rank; }
  int size() const override { return world_.size; }
  std::string name() const override { return "nccl"; }

  std::unique_ptr<CommWork> allreduce_sum(torch::Tensor& t) override {
    require_cuda(t);
    cudaEvent_t ready, done;
    MIXHIC_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    MIXHIC_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    // The gradients were written on the compute stream: the reduction waits for them there.
    MIXHIC_CUDA_CHECK(cudaEventRecord(ready, compute_));
    MIXHIC_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0));
    MIXHIC_NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t), ncclSum,
                                    comm_, stream_));
    MIXHIC_CUDA_CHECK(cudaEventRecord(done, stream_));
    cudaEventDestroy(ready);
    return std::make_unique<NcclWork>(done, compute_);
  }
  void broadcast(torch::Tensor& t, int root) override {
    require_cuda(t);
    MIXHIC_NCCL_CHECK(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t), root,
                                    comm_, compute_));
  }
  void allgather(const torch::Tensor& in, torch::Tensor& out) override {
    require_cuda(in);
    require_cuda(out);
    if (out.numel() != in.numel() * world_.size || out.scalar_type() != in.scalar_type())
      throw Error("NCCL communicator: allgather output must hold world-size copies of the input's dtype");
    // On the compute stream: the forward pass needs the result next anyway.
    MIXHIC_NCCL_CHECK(ncclAllGather(in.data_ptr(), out.data_ptr(), static_cast<size_t>(in.numel()), nccl_type(in), comm_,
                                    compute_));
  }
  void barrier() override {
    MIXHIC_CUDA_CHECK(cudaStreamSynchronize(compute_));
    MIXHIC_MPI_CHECK(MPI_Barrier(world_.comm));
  }
  void allreduce_scalars(double* values, int n, Reduce op) override {
    allreduce_host_scalars(world_, values, n, op);
  }
  void abort() override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

 private:
  static void require_cuda(const torch::Tensor& t) {
    if (!t.is_cuda() || !t.is_contiguous()) throw Error("NCCL communicator: tensors must be contiguous CUDA tensors");
  }
  MpiWorld world_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  // LibTorch's default (legacy) stream; the trainer runs its compute there.
  cudaStream_t compute_ = nullptr;
};

}  // namespace

bool nccl_available() { return true; }
std::unique_ptr<Comm> make_nccl_comm(const MpiWorld& world, int device) {
  return std::make_unique<NcclComm>(world, device);
}
#else
bool nccl_available() { return false; }
std::unique_ptr<Comm> make_nccl_comm(const MpiWorld&, int) {
  throw ConfigError("this build has no NCCL: reconfigure with MIXHIC_WITH_NCCL=ON and a CUDA toolkit with nccl.h");
}
#endif

}  // namespace mixhic
