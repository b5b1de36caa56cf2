// Reductions over ranks give the bits a single process gives: exact sums, placements, and ICE
// on a real cooler (when ../shared/data exists).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "ice_balance.hpp"
#include "mixhic/exact_sum.hpp"
#include "mixhic/mpi_world.hpp"
#include "mpi_test_world.hpp"

using namespace mixhic;

using test::world;

TEST(Parallel, ExactSumEqualsSerialSumBitwise) {
  MpiWorld w = world();
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> dist(0, 3);
  std::vector<double> terms(5003);
  for (auto& t : terms) t = dist(rng);  // same terms on every rank
  double max_abs = *std::max_element(terms.begin(), terms.end());
  // Serial reference on one "rank".
  MpiWorld self;
  self.comm = MPI_COMM_SELF;
  FixedPoint serial_fp(global_max_abs(self, max_abs));
  Fixed128 serial = 0;
  for (double t : terms) serial += serial_fp.to_fixed(t);
  // Distributed: each rank its block.
  Block b = block_of(int64_t(terms.size()), w.rank, w.size);
  double local_max = 0;
  for (int64_t i = b.begin; i < b.end; ++i) local_max = std::max(local_max, terms[i]);
  FixedPoint fp(global_max_abs(w, local_max));
  ASSERT_EQ(fp.shift(), serial_fp.shift());
  std::vector<Fixed128> acc(1, 0);
  for (int64_t i = b.begin; i < b.end; ++i) acc[0] += fp.to_fixed(terms[i]);
  allreduce_fixed(w, acc);
  EXPECT_TRUE(acc[0] == serial);
  EXPECT_EQ(fp.to_double(acc[0]), serial_fp.to_double(serial));
}

TEST(Parallel, PlacementIsAnExclusivePrefixSum) {
  MpiWorld w = world();
  Placement p = place(w, w.rank + 1);  // ranks hold 1, 2, 3, ... items
  EXPECT_EQ(p.offset, int64_t(w.rank) * (w.rank + 1) / 2);
  EXPECT_EQ(p.total, int64_t(w.size) * (w.size + 1) / 2);
  auto all = allgather_i64(w, std::vector<int64_t>(w.rank + 1, w.rank));
  EXPECT_EQ(int64_t(all.size()), p.total);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
}

TEST(Parallel, IceWeightsDoNotDependOnTheNumberOfRanks) {
  std::string path = std::string(MIXHIC_SHARED_DATA) + "/hic/mm9_reduced_chr1.cool";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "skipped: " << path << " absent (no ../shared/data)";
  MpiWorld w = world();
  MpiWorld self;
  self.comm = MPI_COMM_SELF;
  CoolerFile hic(path, 0);
  prep::IceOptions opt;
  auto distributed = prep::ice_balance(w, hic, opt);
  auto serial = prep::ice_balance(self, hic, opt);
  ASSERT_EQ(distributed.weights.size(), serial.weights.size());
  EXPECT_EQ(distributed.iterations, serial.iterations);
  EXPECT_EQ(0, std::memcmp(distributed.weights.data(), serial.weights.data(), serial.weights.size() * sizeof(double)));
}
