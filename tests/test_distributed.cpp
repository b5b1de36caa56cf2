// Sample order (pure functions, all world sizes in one process) and the communicators that need
// no second process.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"
#include "mixhic/sample_order.hpp"

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
  // With NCCL linked: on a machine without a GPU the communicator fails cleanly at cudaSetDevice
  // (the library loaded and ran); with a GPU, one rank's all-reduce is the identity.
  try {
    auto comm = make_nccl_comm(MpiWorld{}, 0);
    std::cout << "[ nccl     ] a GPU is present: running a 1-rank NCCL all-reduce\n";
    EXPECT_EQ(comm->name(), "nccl");
  } catch (const LibraryError& e) {
    std::cout << "[ nccl     ] no usable GPU here: " << e.what() << "\n";
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
  }
}
