// sample_order.hpp — which samples each rank reads, as pure functions of
// (seed, epoch, step, global batch, rank, world, n). Called by the trainer's data loader.
//
// The train split is permuted once per epoch by a generator keyed on (seed, epoch) only; each
// global batch is a contiguous run of that order, cut into contiguous per-rank slices. So the
// sequence of global batches does not depend on the number of ranks, and a run checkpointed on
// 2 ranks continues the same sample sequence on 1 or 3.
#pragma once

#include <cstdint>
#include <vector>

namespace mixhic {

// Permutation of [0, n) for `epoch`: Fisher-Yates driven by a counter-based generator
// (splitmix64 of seed, epoch and position), identical on every rank, platform and run.
std::vector<int64_t> epoch_permutation(uint64_t seed, int64_t epoch, int64_t n);

// Steps per epoch with `global_batch` samples each; the last incomplete batch is dropped, as
// PyTorch's DistributedSampler with drop_last (every step then has the same global batch).
int64_t steps_per_epoch(int64_t n, int64_t global_batch);

// Positions [begin, end) of the epoch order that `rank` reads at `step` of the epoch: its
// contiguous share of the global batch (the first global_batch % world ranks get one more).
struct BatchSlice {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
BatchSlice rank_slice(int64_t step, int64_t global_batch, int rank, int world);

}  // namespace mixhic
