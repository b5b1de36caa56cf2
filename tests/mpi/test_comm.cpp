// The MPI communicator on 2 and 3 ranks: sums and broadcasts give the values computed by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"

using namespace mixhic;

namespace {
MpiWorld world() {
  MpiWorld w;
  MPI_Comm_rank(w.comm, &w.rank);
  MPI_Comm_size(w.comm, &w.size);
  return w;
}
}  // namespace

TEST(MpiComm, AllreduceSumsEveryRanksTensor) {
  MpiWorld w = world();
  auto comm = make_mpi_comm(w);
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    torch::Tensor t = torch::arange(1000, torch::dtype(dtype)) * (w.rank + 1);
    auto work = comm->allreduce_sum(t);  // asynchronous: overlaps with whatever runs next
    work->wait();
    const double factor = w.size * (w.size + 1) / 2.0;  // sum of (rank + 1)
    EXPECT_TRUE(torch::allclose(t, torch::arange(1000, torch::dtype(dtype)) * factor));
  }
}

TEST(MpiComm, BroadcastCopiesTheRootsTensor) {
  MpiWorld w = world();
  auto comm = make_mpi_comm(w);
  torch::Tensor t = torch::full({7}, double(w.rank), torch::kDouble);
  comm->broadcast(t, w.size - 1);
  EXPECT_TRUE(torch::equal(t, torch::full({7}, double(w.size - 1), torch::kDouble)));
  comm->barrier();
}

TEST(MpiComm, RejectsCudaOrStridedTensors) {
  MpiWorld w = world();
  auto comm = make_mpi_comm(w);
  torch::Tensor strided = torch::zeros({4, 4}).t();
  EXPECT_THROW(comm->allreduce_sum(strided), Error);
}
