// The MPI communicator on 2 and 3 ranks: sums and broadcasts give the values computed by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"
#include "mixhic/grad_buckets.hpp"
#include "mixhic/model.hpp"
#include "mpi_test_world.hpp"

using namespace mixhic;

using test::world;

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

TEST(GradBuckets, BucketedAverageEqualsPerParameterAverageAndOverlapsBackward) {
  MpiWorld w = world();
  auto comm = make_mpi_comm(w);
  ModelConfig cfg;
  cfg.embed_dim = 8;
  cfg.depth = 1;
  cfg.heads = 2;
  cfg.n_tracks = 2;
  cfg.window_bins = 32;
  cfg.hic_bin_bp = 1000;
  cfg.track_bin_bp = 100;
  torch::manual_seed(100 + w.rank);  // different initial weights per rank: the broadcast must fix that
  MixHicModel ddp(cfg), ref(cfg);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : ddp->named_parameters()) named.emplace_back(p.key(), p.value());
  GradBuckets buckets(named, *comm, 16 << 10, 64 << 10);  // small buckets: several of them
  {
    torch::NoGradGuard no_grad;
    auto src = ddp->named_parameters();
    for (auto& p : ref->named_parameters()) p.value().copy_(src[p.key()]);
    for (auto& b : ref->named_buffers()) b.value().copy_(ddp->named_buffers()[b.key()]);
  }
  // Rank-specific data, as each rank reads its own slice of the global batch.
  torch::manual_seed(7 + w.rank);
  torch::Tensor hic = torch::rand({4, 1, cfg.window_bins, cfg.window_bins});
  torch::Tensor epi = torch::rand({4, cfg.epi_length(), cfg.n_tracks});

  buckets.zero_grad();
  ddp->forward(hic, epi).loss(cfg, cfg.contrastive_only_epochs).backward();
  buckets.finish();

  ref->forward(hic, epi).loss(cfg, cfg.contrastive_only_epochs).backward();
  auto ddp_params = ddp->named_parameters();
  for (auto& p : ref->named_parameters()) {
    torch::Tensor g = p.value().grad().contiguous();
    comm->allreduce_sum(g)->wait();
    g /= w.size;
    EXPECT_TRUE(torch::allclose(ddp_params[p.key()].grad(), g, 1e-5, 1e-7)) << p.key();
    // and .grad is a view into its bucket: no gradient memory besides the buckets
    EXPECT_TRUE(ddp_params[p.key()].grad().is_contiguous());
  }
  EXPECT_GT(buckets.bucket_count(), 3u);
  // All but possibly the last bucket start inside backward, overlapping it.
  EXPECT_GE(buckets.launched_in_backward() + 1, buckets.bucket_count());
  if (w.rank == 0)
    std::cout << "[ buckets  ] " << buckets.bucket_count() << " buckets, " << buckets.launched_in_backward()
              << " all-reduces started during backward\n";
}
