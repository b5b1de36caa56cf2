// Single-process and MPI communicators (see include/mixhic/comm.hpp).
#include <fmt/format.h>

#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"

namespace mixhic {

namespace {

class DoneWork : public CommWork {
 public:
  void wait() override {}
  bool test() override { return true; }
};

class SingleComm : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "single"; }
  std::unique_ptr<CommWork> allreduce_sum(torch::Tensor&) override { return std::make_unique<DoneWork>(); }
  void broadcast(torch::Tensor&, int) override {}
  void allgather(const torch::Tensor& in, torch::Tensor& out) override { out.view(-1).copy_(in.reshape(-1)); }
  void barrier() override {}
  void allreduce_scalars(double*, int, Reduce) override {}
};

// bf16 sums over MPI, which has no bf16 type: 16-bit words and an operation that adds them in
// fp32 and rounds back to bf16 (nearest even), as NCCL's bf16 sum does.
void bf16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const c10::BFloat16*>(in);
  auto* b = static_cast<c10::BFloat16*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = c10::BFloat16(float(a[i]) + float(b[i]));
}

MPI_Op sum_op(const torch::Tensor& t) {
  if (t.scalar_type() != torch::kBFloat16) return MPI_SUM;
  static MPI_Op op = [] {
    MPI_Op o = MPI_OP_NULL;
    MIXHIC_MPI_CHECK(MPI_Op_create(&bf16_sum, /*commute=*/1, &o));
    return o;
  }();
  return op;
}

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kBFloat16: return MPI_UINT16_T;  // with sum_op's bf16 sum
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kLong: return MPI_INT64_T;
    case torch::kInt: return MPI_INT32_T;
    default:
      throw Error(fmt::format("MPI communicator: dtype {} is not supported (float, double, bfloat16, int32, int64)",
                              std::string(c10::toString(t.scalar_type()))));
  }
}

void require_cpu_contiguous(const torch::Tensor& t) {
  if (!t.device().is_cpu() || !t.is_contiguous())
    throw Error("MPI communicator: tensors must be contiguous CPU tensors (use the NCCL communicator for CUDA)");
}

class MpiWork : public CommWork {
 public:
  explicit MpiWork(MPI_Request r) : request_(r) {}
  ~MpiWork() override {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);  // never leave a request behind
  }
  void wait() override { MIXHIC_MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE)); }
  bool test() override {
    int done = 0;
    if (request_ != MPI_REQUEST_NULL) MIXHIC_MPI_CHECK(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
    return request_ == MPI_REQUEST_NULL || done;
  }

 private:
  MPI_Request request_;
};

class MpiComm : public Comm {
 public:
  explicit MpiComm(const MpiWorld& world) : world_(world) {}
  int rank() const override { return world_.rank; }
  int size() const override { return world_.size; }
  std::string name() const override { return "mpi"; }
  std::unique_ptr<CommWork> allreduce_sum(torch::Tensor& t) override {
    require_cpu_contiguous(t);
    MPI_Request r = MPI_REQUEST_NULL;
    // One call per tensor: counts above INT_MAX elements (8 GB of floats) are not supported.
    if (t.numel() > std::numeric_limits<int>::max())
      throw Error("MPI communicator: a bucket above 2^31 elements; lower bucket-mb");
    MIXHIC_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), sum_op(t),
                                    world_.comm, &r));
    return std::make_unique<MpiWork>(r);
  }
  void broadcast(torch::Tensor& t, int root) override {
    require_cpu_contiguous(t);
    MIXHIC_MPI_CHECK(MPI_Bcast(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), root, world_.comm));
  }
  void allgather(const torch::Tensor& in, torch::Tensor& out) override {
    require_cpu_contiguous(in);
    require_cpu_contiguous(out);
    if (out.numel() != in.numel() * world_.size || out.scalar_type() != in.scalar_type())
      throw Error("MPI communicator: allgather output must hold world-size copies of the input's dtype");
    MIXHIC_MPI_CHECK(MPI_Allgather(in.data_ptr(), static_cast<int>(in.numel()), mpi_type(in), out.data_ptr(),
                                   static_cast<int>(in.numel()), mpi_type(in), world_.comm));
  }
  void barrier() override { MIXHIC_MPI_CHECK(MPI_Barrier(world_.comm)); }
  void allreduce_scalars(double* values, int n, Reduce op) override {
    allreduce_host_scalars(world_, values, n, op);
  }

 private:
  MpiWorld world_;
};

}  // namespace

void allreduce_host_scalars(const MpiWorld& world, double* values, int n, Comm::Reduce op) {
  MIXHIC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, op == Comm::Reduce::sum ? MPI_SUM : MPI_MAX,
                                 world.comm));
}

std::unique_ptr<Comm> make_single_comm() { return std::make_unique<SingleComm>(); }
std::unique_ptr<Comm> make_mpi_comm(const MpiWorld& world) { return std::make_unique<MpiComm>(world); }

}  // namespace mixhic
