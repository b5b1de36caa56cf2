#include "mixhic/sample_order.hpp"

#include <numeric>

#include "mixhic/mpi_world.hpp"
#include "mixhic/rng.hpp"

namespace mixhic {

std::vector<int64_t> epoch_permutation(uint64_t seed, int64_t epoch, int64_t n) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  const uint64_t key = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(epoch) + 0x6d69786869630000ULL));
  for (int64_t i = n - 1; i > 0; --i) {
    // Uniform j in [0, i] by multiply-shift (Lemire), without modulo bias worth mentioning.
    uint64_t r = splitmix64(key + static_cast<uint64_t>(i));
    int64_t j = static_cast<int64_t>((static_cast<unsigned __int128>(r) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

int64_t steps_per_epoch(int64_t n, int64_t global_batch) { return global_batch > 0 ? n / global_batch : 0; }

BatchSlice rank_slice(int64_t step, int64_t global_batch, int rank, int world) {
  Block b = block_of(global_batch, rank, world);
  return {step * global_batch + b.begin, step * global_batch + b.end};
}

}  // namespace mixhic
