// See include/mixhic/compute_threads.hpp.
#include "mixhic/compute_threads.hpp"

#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <thread>

#include "mixhic/check.hpp"

namespace mixhic {

void set_compute_threads(int threads) {
  torch::set_num_threads(threads);
  // Looked up at run time: the symbol exists only when LibTorch uses OpenBLAS.
  if (auto* set_blas = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas(threads);
}

int cores_available() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// Ranks on this node and this rank's index among them.
std::pair<int, int> node_local(const MpiWorld& world) {
  MPI_Comm node;
  MIXHIC_MPI_CHECK(MPI_Comm_split_type(world.comm, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &node));
  int size = 1, rank = 0;
  MPI_Comm_size(node, &size);
  MPI_Comm_rank(node, &rank);
  MPI_Comm_free(&node);
  return {size, rank};
}


}  // namespace mixhic
