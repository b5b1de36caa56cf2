// The MPI communicator on 2 and 3 ranks: sums and broadcasts give the values computed by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"
#include "mixhic/gpu_binding.hpp"
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

TEST(MpiComm, Bf16SumIsTheFp32SumRoundedToBf16) {
  MpiWorld w = world();
  auto comm = make_mpi_comm(w);
  // Small integers are exact in bf16, and so are their sums below 256.
  torch::Tensor t = (torch::arange(40, torch::kFloat) * (w.rank + 1)).to(torch::kBFloat16);
  comm->allreduce_sum(t)->wait();
  const double factor = w.size * (w.size + 1) / 2.0;
  EXPECT_TRUE(torch::equal(t, (torch::arange(40, torch::kFloat) * factor).to(torch::kBFloat16)));
  // (Summing the 16-bit words as integers, MPI_SUM on MPI_UINT16_T, would give other values.)
  torch::Tensor u = torch::full({3}, 1.5 + w.rank, torch::kFloat).to(torch::kBFloat16);
  comm->allreduce_sum(u)->wait();
  EXPECT_FLOAT_EQ(u[2].item<float>(), float(1.5 * w.size + w.size * (w.size - 1) / 2.0));
}

TEST(MpiComm, BroadcastCopiesTheRootsTensor) {
  MpiWorld w = world();
  auto comm = make_mpi_comm(w);
  torch::Tensor t = torch::full({7}, double(w.rank), torch::kDouble);
  comm->broadcast(t, w.size - 1);
  EXPECT_TRUE(torch::equal(t, torch::full({7}, double(w.size - 1), torch::kDouble)));
  comm->barrier();
}

TEST(GpuBinding, TheNodesRanksEachGetTheirOwnGpu) {
  // All ranks of this test run on one node (mpirun -np 2/3 here).
  MpiWorld w = world();
  const char* saved = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string before = saved ? saved : "";
  // Every rank sees the same GPUs: rank i drives GPU i; fewer GPUs than ranks is refused on every rank.
  unsetenv("CUDA_VISIBLE_DEVICES");
  EXPECT_EQ(gpu_of_rank(w, w.size, "test"), w.rank);
  EXPECT_THROW(gpu_of_rank(w, w.size - 1, "test"), ConfigError);
  // A CUDA_VISIBLE_DEVICES of its own per rank (as srun --gpus-per-task sets): each drives its device 0.
  setenv("CUDA_VISIBLE_DEVICES", std::to_string(w.rank).c_str(), 1);
  EXPECT_EQ(gpu_of_rank(w, 1, "test"), 0);
  // The same CUDA_VISIBLE_DEVICES everywhere, one GPU in it: the ranks would share it.
  setenv("CUDA_VISIBLE_DEVICES", "0", 1);
  try {
    gpu_of_rank(w, 1, "device = cuda");
    ADD_FAILURE() << "ranks sharing one GPU were accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("device = cuda: rank {}: {} ranks on this node", w.rank, w.size)),
              std::string::npos) << e.what();
  }
  if (saved) setenv("CUDA_VISIBLE_DEVICES", before.c_str(), 1);
  else unsetenv("CUDA_VISIBLE_DEVICES");
}

// Making an NCCL communicator is collective: a failure on one rank at any of its stages (the id
// on rank 0, the device, NCCL's init) ends it on every rank with ReportedError, within seconds.
// Before, rank 0 failing at ncclGetUniqueId left the others in MPI_Bcast for good (this test
// then ran into ctest's timeout). Without a GPU every rank fails at cudaSetDevice after the
// first stage, so the init stage (the others give up at the deadline) runs only with GPUs.
TEST(NcclComm, AFailureOnOneRankWhileItIsMadeEndsEveryRankWithoutAHang) {
  if (!nccl_available()) GTEST_SKIP() << "this build has no NCCL";
  const MpiWorld w = world();
  const bool gpus = cuda_device_count() > 0;
  const double deadline_s = 20;
  std::vector<std::string> stages = {"nccl-unique-id@0", fmt::format("nccl-device@{}", w.size - 1)};
  if (gpus) stages.push_back(fmt::format("nccl-init@{}", w.size - 1));
  for (const std::string& stage : stages) {
    setenv("MIXHIC_TEST_FAIL_AT", stage.c_str(), 1);
    const auto t0 = std::chrono::steady_clock::now();
    testing::internal::CaptureStderr();
    bool reported = false;
    try {
      make_nccl_comm(w, gpus ? w.rank % cuda_device_count() : 0, deadline_s);
    } catch (const ReportedError&) {
      reported = true;
    }
    const std::string printed = testing::internal::GetCapturedStderr();
    unsetenv("MIXHIC_TEST_FAIL_AT");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(reported) << stage << " on rank " << w.rank;
    EXPECT_LT(secs, deadline_s + 10) << stage;
    // One line, from the lowest failing rank: the injected failure, or rank 0's cudaSetDevice
    // where there is no GPU.
    const std::string name = stage.substr(0, stage.find('@'));
    const std::string expected = gpus || name == "nccl-unique-id"
                                     ? fmt::format("injected failure at stage '{}' on rank {}", name, stage.substr(stage.find('@') + 1))
                                     : std::string("cudaSetDevice");
    int counts[2] = {printed.find(expected) != std::string::npos, printed.find("error") != std::string::npos}, sums[2];
    MPI_Allreduce(counts, sums, 2, MPI_INT, MPI_SUM, w.comm);
    EXPECT_EQ(sums[0], 1) << stage << ": rank " << w.rank << " printed: " << printed;
    EXPECT_EQ(sums[1], 1) << stage << ": rank " << w.rank << " printed: " << printed;
    MPI_Barrier(w.comm);
  }
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

TEST(GradBuckets, Bf16ReductionAgreesWithFp32ToBf16Tolerance) {
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
  torch::manual_seed(100);
  MixHicModel a(cfg), b(cfg);
  {
    torch::NoGradGuard no_grad;
    auto src = a->named_parameters();
    for (auto& p : b->named_parameters()) p.value().copy_(src[p.key()]);
    for (auto& buf : b->named_buffers()) buf.value().copy_(a->named_buffers()[buf.key()]);
  }
  auto named = [](MixHicModel& m) {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& p : m->named_parameters()) out.emplace_back(p.key(), p.value());
    return out;
  };
  GradBuckets fp32(named(a), *comm, 16 << 10, 64 << 10);
  GradBuckets bf16(named(b), *comm, 16 << 10, 64 << 10, torch::kBFloat16);
  torch::manual_seed(7 + w.rank);
  torch::Tensor hic = torch::rand({4, 1, cfg.window_bins, cfg.window_bins});
  torch::Tensor epi = torch::rand({4, cfg.epi_length(), cfg.n_tracks});
  fp32.zero_grad();
  bf16.zero_grad();
  a->forward(hic, epi).loss(cfg, cfg.contrastive_only_epochs).backward();
  b->forward(hic, epi).loss(cfg, cfg.contrastive_only_epochs).backward();
  // This rank's own gradients before the reduction (the bucket holds them until finish()).
  std::map<std::string, torch::Tensor> local;
  for (const auto& p : b->named_parameters()) local[p.key()] = p.value().grad().clone();
  fp32.finish();
  bf16.finish();
  auto pa = a->named_parameters();
  double worst = 0;
  for (const auto& p : b->named_parameters()) {
    torch::Tensor g16 = p.value().grad(), g32 = pa[p.key()].grad();
    EXPECT_EQ(g16.scalar_type(), torch::kFloat) << p.key();  // the optimizer sees fp32
    // Each rank's share is rounded once (2^-9 relative) and each of the world - 1 additions
    // once more: within world * 2^-8 of the largest gradient.
    const double scale = std::max(1e-12, g32.abs().max().item<double>());
    const double err = (g16 - g32).abs().max().item<double>() / scale;
    worst = std::max(worst, err);
    EXPECT_LE(err, w.size / 256.0) << p.key();
    if (w.size == 2) {  // exactly: bf16(bf16(g0 / 2) + bf16(g1 / 2)), one addition
      torch::Tensor mine = (local[p.key()] / 2.0).to(torch::kBFloat16).to(torch::kFloat).contiguous();
      torch::Tensor share0 = mine.clone(), share1 = mine.clone();
      comm->broadcast(share0, 0);
      comm->broadcast(share1, 1);
      EXPECT_TRUE(torch::equal(g16, (share0 + share1).to(torch::kBFloat16).to(torch::kFloat))) << p.key();
    }
  }
  if (w.rank == 0) std::cout << "[ bf16     ] worst relative difference from the fp32 reduction " << worst << "\n";
}
