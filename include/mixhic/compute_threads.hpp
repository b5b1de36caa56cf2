// compute_threads.hpp — how many threads one process computes with, set in one place.
//
// Called by mixhic-train (threads per rank) and mixhic-model bench. LibTorch's pool and
// OpenBLAS's own pthread pool are sized separately: OpenBLAS reads OMP_NUM_THREADS when it
// loads and ignores torch::set_num_threads, so setting only LibTorch's made the same run give
// different bits with and without OMP_NUM_THREADS in the environment.
#pragma once

namespace mixhic {

void set_compute_threads(int threads);

}  // namespace mixhic
