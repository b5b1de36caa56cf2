#include "mixhic/gpu_binding.hpp"

#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "mixhic/check.hpp"

#ifdef MIXHIC_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mixhic {

int gpu_for_rank(int local_rank, int local_ranks, int visible, bool own_devices, const std::string& visible_env) {
  if (visible < 1)
    throw ConfigError(fmt::format("no GPU visible to this rank (CUDA_VISIBLE_DEVICES={})", visible_env));
  if (own_devices) return 0;
  if (local_ranks > visible)
    throw ConfigError(fmt::format("{} ranks on this node but {} GPU(s) visible to each (CUDA_VISIBLE_DEVICES={}): "
                                  "start at most one rank per GPU (srun --ntasks-per-node={} or --gpus-per-task=1)",
                                  local_ranks, visible, visible_env, visible));
  return local_rank;
}

int gpu_of_rank(const MpiWorld& world, int visible, const std::string& what) {
  MPI_Comm node;
  MIXHIC_MPI_CHECK(MPI_Comm_split_type(world.comm, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &node));
  int local_ranks = 1, local_rank = 0;
  MPI_Comm_size(node, &local_ranks);
  MPI_Comm_rank(node, &local_rank);
  const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string visible_env = env ? fmt::format("'{}'", env) : std::string("unset");
  // Each rank's CUDA_VISIBLE_DEVICES, gathered over the node: own devices when set and all different.
  constexpr int kLen = 256;
  std::vector<char> mine(kLen, 0), all(size_t(kLen) * local_ranks, 0);
  if (env) std::strncpy(mine.data(), env, kLen - 1);
  const int rc = MPI_Allgather(mine.data(), kLen, MPI_CHAR, all.data(), kLen, MPI_CHAR, node);
  MPI_Comm_free(&node);
  MIXHIC_MPI_CHECK(rc);
  std::set<std::string> sets;
  bool all_set = true;
  for (int r = 0; r < local_ranks; ++r) {
    std::string s(&all[size_t(r) * kLen]);
    all_set = all_set && !s.empty();
    sets.insert(s);
  }
  const bool own = local_ranks > 1 && all_set && int(sets.size()) == local_ranks;
  try {
    return gpu_for_rank(local_rank, local_ranks, visible, own, visible_env);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: rank {}: {}", what, world.rank, e.what()));
  }
}

int cuda_device_count() {
#ifdef MIXHIC_HAVE_CUDA
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    cudaGetLastError();  // clear it
    return 0;
  }
  MIXHIC_CUDA_CHECK(e);
  return n;
#else
  return 0;
#endif
}

void make_current_gpu(int gpu) {
#ifdef MIXHIC_HAVE_CUDA
  MIXHIC_CUDA_CHECK(cudaSetDevice(gpu));
#else
  (void)gpu;
#endif
}

}  // namespace mixhic
