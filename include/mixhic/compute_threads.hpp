// compute_threads.hpp — how many threads one process computes with, set in one place.
//
// Called by mixhic-train and mixhic-eval (threads per rank) and mixhic-model bench. LibTorch's pool and
// OpenBLAS's own pthread pool are sized separately: OpenBLAS reads OMP_NUM_THREADS when it
// loads and ignores torch::set_num_threads, so setting only LibTorch's made the same run give
// different bits with and without OMP_NUM_THREADS in the environment.
#pragma once

#include <utility>

#include "mixhic/mpi_world.hpp"

namespace mixhic {

void set_compute_threads(int threads);
// CPUs this process may run on (its affinity mask).
int cores_available();
// COLLECTIVE: ranks on this node and this rank's index among them.
std::pair<int, int> node_local(const MpiWorld& world);

}  // namespace mixhic
