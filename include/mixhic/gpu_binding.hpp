// gpu_binding.hpp — which GPU a rank drives: one rank per GPU, never two ranks on one silently.
//
// The rank's node-local index comes from MPI (the ranks sharing its node, as SLURM_LOCALID or
// OMPI_COMM_WORLD_LOCAL_RANK would say); the devices it can see are what CUDA_VISIBLE_DEVICES
// leaves. Two ways a job is laid out:
//   - every rank of the node sees the node's GPUs (srun --gpus-per-node, mpirun): rank i drives
//     device i, and more ranks than GPUs is refused;
//   - every rank was given devices of its own (srun --gpus-per-task, or a CUDA_VISIBLE_DEVICES per
//     rank, different for each): the rank drives its device 0.
#pragma once

#include <string>

#include "mixhic/mpi_world.hpp"

namespace mixhic {

// The device index for node-local rank `local_rank` of `local_ranks`, seeing `visible` devices;
// own_devices: each rank of the node sees a device set of its own. Throws ConfigError when the
// rank would share a GPU or sees none; `visible_env` (CUDA_VISIBLE_DEVICES, or "unset") is quoted.
int gpu_for_rank(int local_rank, int local_ranks, int visible, bool own_devices, const std::string& visible_env);

// COLLECTIVE (every rank of `world`): the GPU this rank drives, by gpu_for_rank from the node's
// layout (each rank's CUDA_VISIBLE_DEVICES, gathered over the node). `what` names the caller in
// errors ("device = cuda").
int gpu_of_rank(const MpiWorld& world, int visible, const std::string& what);

// The GPUs the CUDA runtime mixhic links sees: 0 without the runtime, or where it reports no
// device or no driver; any other CUDA error is thrown (a broken install is not "no GPU").
int cuda_device_count();

// Makes `gpu` the current CUDA device of this thread (cudaSetDevice), also at world size 1, so
// that CUDA calls outside LibTorch (streams, events, NCCL) use it. A no-op without the CUDA runtime.
void make_current_gpu(int gpu);

}  // namespace mixhic
