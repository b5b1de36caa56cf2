// Sample order (pure functions, all world sizes in one process) and the communicators that need
// no second process.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"
#include "mixhic/gpu_binding.hpp"
#include "mixhic/sample_order.hpp"
#include "mixhic/watchdog.hpp"

using namespace mixhic;

TEST(SampleOrder, EpochPermutationIsAPermutationFixedBySeedAndEpoch) {
  for (int64_t n : {0, 1, 2, 17, 1000}) {
    auto p = epoch_permutation(42, 3, n);
    std::vector<int64_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i);
    EXPECT_EQ(p, epoch_permutation(42, 3, n));
  }
  EXPECT_NE(epoch_permutation(42, 3, 1000), epoch_permutation(42, 4, 1000));
  EXPECT_NE(epoch_permutation(42, 3, 1000), epoch_permutation(43, 3, 1000));
  // A recorded anchor: the order must not drift between builds or platforms, or resuming a
  // checkpoint would continue a different sample sequence.
  EXPECT_EQ(epoch_permutation(1, 0, 8), (std::vector<int64_t>{1, 6, 7, 4, 0, 2, 3, 5}));
}

TEST(SampleOrder, RankSlicesAreDisjointCompleteAndTheStreamIsWorldSizeFree) {
  const int64_t n = 103, global_batch = 10;
  const auto order = epoch_permutation(7, 0, n);
  ASSERT_EQ(steps_per_epoch(n, global_batch), 10);
  std::vector<int64_t> reference;  // what one rank reads, step after step
  for (int world = 1; world <= 4; ++world) {
    std::vector<int64_t> stream;
    for (int64_t step = 0; step < steps_per_epoch(n, global_batch); ++step) {
      std::set<int64_t> seen;
      int64_t next = step * global_batch;
      for (int rank = 0; rank < world; ++rank) {
        BatchSlice s = rank_slice(step, global_batch, rank, world);
        EXPECT_EQ(s.begin, next) << "world " << world;  // contiguous, in rank order
        next = s.end;
        for (int64_t pos = s.begin; pos < s.end; ++pos) {
          EXPECT_TRUE(seen.insert(order[pos]).second);  // disjoint
          stream.push_back(order[pos]);
        }
      }
      EXPECT_EQ(int64_t(seen.size()), global_batch);  // complete
    }
    if (world == 1) reference = stream;
    EXPECT_EQ(stream, reference) << "the sample sequence changed with " << world << " ranks";
  }
}

TEST(Comm, SingleProcessIsTheIdentity) {
  auto comm = make_single_comm();
  torch::Tensor t = torch::arange(5, torch::kFloat);
  comm->allreduce_sum(t)->wait();
  comm->broadcast(t, 0);
  EXPECT_TRUE(torch::equal(t, torch::arange(5, torch::kFloat)));
  EXPECT_EQ(comm->size(), 1);
}

TEST(Comm, NcclPathIsBuiltWhenTheToolkitIsThere) {
  EXPECT_EQ(nccl_available(), MIXHIC_EXPECT_NCCL != 0);
  if (!nccl_available()) {
    EXPECT_THROW(make_nccl_comm(MpiWorld{}, 0), ConfigError);
    return;
  }
  // With NCCL linked: where the CUDA runtime sees no GPU the communicator fails cleanly at
  // cudaSetDevice (the library loaded and ran); where it sees one, it must be made (any CUDA
  // error then fails this test) and its all-reduce is checked by Gpu.NcclAllreduceOfOneRank*.
  const int gpus = cuda_device_count();
  if (gpus == 0) {
    std::cout << "[ nccl     ] the CUDA runtime sees no GPU: the communicator must fail at cudaSetDevice\n";
    // Its making is collective: the failure is printed once and every rank throws ReportedError.
    testing::internal::CaptureStderr();
    try {
      make_nccl_comm(MpiWorld{}, 0);
      ADD_FAILURE() << "an NCCL communicator was made without a GPU";
    } catch (const ReportedError&) {
    }
    const std::string printed = testing::internal::GetCapturedStderr();
    EXPECT_NE(printed.find("cudaSetDevice"), std::string::npos) << printed;
    return;
  }
  std::cout << "[ nccl     ] " << gpus << " GPU(s): making a 1-rank NCCL communicator\n";
  auto comm = make_nccl_comm(MpiWorld{}, 0);
  EXPECT_EQ(comm->name(), "nccl");
}

TEST(GpuBinding, OneRankPerGpuAndOwnDevicesUseTheirFirst) {
  // Ranks that see the node's 4 GPUs drive GPU = node-local rank.
  for (int r = 0; r < 4; ++r) EXPECT_EQ(gpu_for_rank(r, 4, 4, false, "unset"), r);
  EXPECT_EQ(gpu_for_rank(1, 2, 8, false, "unset"), 1);
  // srun --gpus-per-task=1: each rank sees one GPU of its own.
  for (int r = 0; r < 4; ++r) EXPECT_EQ(gpu_for_rank(r, 4, 1, true, "'3'"), 0);
  // More ranks than GPUs, all seeing the same ones: refused (rank % GPUs put two ranks on one).
  try {
    gpu_for_rank(2, 3, 2, false, "'0,1'");
    ADD_FAILURE() << "3 ranks on 2 GPUs were accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("3 ranks on this node but 2 GPU(s) visible to each (CUDA_VISIBLE_DEVICES='0,1')"),
              std::string::npos) << e.what();
  }
  EXPECT_THROW(gpu_for_rank(0, 1, 0, false, "''"), ConfigError);  // none visible
  EXPECT_THROW(gpu_for_rank(0, 2, 0, true, "''"), ConfigError);
}

namespace {
// A communicator that reports an asynchronous failure (as ncclCommGetAsyncError does when a
// peer died) once `failed` is set.
class FailingComm : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string name() const override { return "nccl"; }
  std::unique_ptr<CommWork> allreduce_sum(torch::Tensor&) override { return nullptr; }
  void broadcast(torch::Tensor&, int) override {}
  void allgather(const torch::Tensor&, torch::Tensor&) override {}
  void barrier() override {}
  void allreduce_scalars(double*, int, Reduce) override {}
  std::string async_error() override { return failed.load() ? "remote process exited or there was a network error" : ""; }
  std::atomic<bool> failed{false};
};
}  // namespace

// The watchdog's thread polls the communicator: an asynchronous NCCL error ends the job within
// a poll, not after hang-timeout (600 s by default). Before, nothing polled it.
TEST(HangWatchdog, AnAsynchronousCommunicatorErrorEndsTheRunWithinAPoll) {
  FailingComm comm;
  std::atomic<bool> called{false};
  std::string why;
  std::mutex m;
  HangWatchdog dog(600, MpiWorld{}, [&](const std::string& w) {
    std::lock_guard<std::mutex> lock(m);
    why = w;
    called.store(true);
  });
  dog.attach(&comm);
  dog.beat("gradient all-reduce", 7);
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * HangWatchdog::kPollMilliseconds));
  EXPECT_FALSE(called.load()) << "a healthy communicator was reported: " << why;
  const auto t0 = std::chrono::steady_clock::now();
  comm.failed.store(true);
  while (!called.load() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(called.load()) << "no failure reported 5 s after the communicator failed";
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
            2.0 * HangWatchdog::kPollMilliseconds / 1e3 + 0.5);
  std::lock_guard<std::mutex> lock(m);
  EXPECT_EQ(why, "the nccl communicator failed in phase 'gradient all-reduce' of step 7: remote process exited or there "
                 "was a network error; aborting the job");
}

// And a run that makes no progress is reported after hang-timeout, naming its phase.
TEST(HangWatchdog, NoBeatForHangTimeoutIsReportedWithItsPhase) {
  std::atomic<bool> called{false};
  std::string why;
  std::mutex m;
  HangWatchdog dog(1.0, MpiWorld{}, [&](const std::string& w) {
    std::lock_guard<std::mutex> lock(m);
    why = w;
    called.store(true);
  });
  dog.beat("backward", 3);
  const auto t0 = std::chrono::steady_clock::now();
  while (!called.load() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(called.load());
  std::lock_guard<std::mutex> lock(m);
  EXPECT_NE(why.find("in phase 'backward' of step 3"), std::string::npos) << why;
  EXPECT_NE(why.find("hang-timeout = 1 s"), std::string::npos) << why;
}
