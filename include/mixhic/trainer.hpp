// trainer.hpp — mixhic-train's training loop: data-parallel pre-training over the corpus with
// bucketed gradient all-reduce, AdamW, checkpoints with exact resume, stop signals and failure
// handling. Called by src/trainer/main.cpp; the pieces it drives have their own headers:
// batch_loader.hpp (data), grad_buckets.hpp + comm.hpp (gradients), optimizer.hpp,
// checkpoint.hpp (the commit protocol) + run_state.hpp (what a checkpoint holds),
// watchdog.hpp (stop signals, hangs), training_log.hpp, batch_statistics.hpp.
//
// One step, on every rank: take this rank's slice of the global batch from the loader thread;
// forward; backward, during which full gradient buckets are all-reduced; wait for the rest and
// average; one small all-reduce (Comm::allreduce_scalars: the step's agreement) agrees on the
// loss values, a pending stop signal and non-finite values; clip; AdamW. With one rank the
// communicator is the single-process one, so a whole run also works inside a test process. Everything that decides the result (sample order, augmentation, batch
// statistics, the update) is a function of (config, step), not of timing or world size.
#pragma once

#include <torch/torch.h>

#include <string>

#include "mixhic/model_config.hpp"
#include "mixhic/mpi_world.hpp"
#include "mixhic/train_config.hpp"

namespace mixhic {

struct TrainSetup {
  TrainConfig train;
  ModelConfig model;       // width/depth keys; the geometry comes from the corpus
  std::string model_ini;   // the resolved model keys (stored in checkpoints, compared on resume)
  std::string train_ini;   // the resolved training keys
  std::string command_line;
};

// COLLECTIVE. Returns the exit code: 0 when the run reached its last step,
// kExitStoppedForRequeue after a stop signal (or stop-at-step) was checkpointed.
int run_training(const MpiWorld& world, const TrainSetup& setup);

// hash64 of every parameter and buffer of the model in state_dict order, as 16 hex digits: the
// "bitwise-identical parameters" the resume tests compare.
std::string parameter_hash(const torch::nn::Module& model);

}  // namespace mixhic
