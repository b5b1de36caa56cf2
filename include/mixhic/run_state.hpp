// run_state.hpp — what a training run's checkpoint holds, written and read in one place.
//
// A checkpoint directory (committed by CheckpointStore with its MANIFEST, checkpoint.hpp) holds:
//   model.pt       parameters and buffers (torch.save-compatible, state_dict.hpp)   rank 0
//   optimizer.pt   AdamW's moments                                                   rank 0
//   model.ini      the resolved model keys (architecture; compared on resume)        rank 0
//   train.ini      the resolved training keys                                        rank 0
//   state.txt      RunState as "key value" lines                                     rank 0
//   rng-rank-NNNNN.pt  each rank's CPU (and CUDA) generator state (dropout streams)  every rank
// save_checkpoint_files and resume_from are each other's inverse: a run resumed from step N
// continues bitwise as the run that was not interrupted (same world size) or with the same
// sample order and fresh dropout streams (another world size).
// load_pretrained (fine-tuning's start) and load_for_inference (mixhic-eval) read the same
// files: nobody else spells their names.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "mixhic/checkpoint.hpp"
#include "mixhic/corpus_schema.hpp"
#include "mixhic/model.hpp"
#include "mixhic/model_config.hpp"
#include "mixhic/mpi_world.hpp"

namespace mixhic {

class FlatAdamW;

namespace checkpoint_files {
inline constexpr const char* kModel = "model.pt";
inline constexpr const char* kOptimizer = "optimizer.pt";
inline constexpr const char* kModelIni = "model.ini";
inline constexpr const char* kTrainIni = "train.ini";
inline constexpr const char* kState = "state.txt";
std::string rng(int rank);  // "rng-rank-00003.pt"
}  // namespace checkpoint_files

// The run's position and identity, as state.txt stores it.
struct RunState {
  int64_t step = 0;             // optimizer steps done (skipped ones included)
  int64_t steps_per_epoch = 1;  // epoch and position-in-epoch are derived from step
  int64_t global_batch = 0;
  uint64_t seed = 0;
  double lr = 0;                // the learning rate of the last step
  int64_t adamw_updates = 0;
  int64_t skipped = 0;          // steps whose update was skipped (non-finite), over all restarts
  int64_t restart = 0;          // 0 for the first start, +1 at each resume
  int world_size = 1;
  std::string corpus, corpus_id;
  Task task = Task::none;
  std::string pretrained;       // the fine-tuning start ("" = none)
  std::string parameter_hash;
};

// The run's live pieces that a checkpoint saves and restores.
struct RunParts {
  MixHicModelImpl& model;
  FlatAdamW& optimizer;
  torch::Device device;
  std::string model_ini, train_ini;  // this run's resolved keys
};

// Every rank, inside CheckpointStore::commit: rank 0 writes the model, optimizer, INI files
// and state.txt into `dir`, every rank its generator state. Returns the names written here.
std::vector<std::string> save_checkpoint_files(const std::string& dir, const RunState& state, const RunParts& parts,
                                               const MpiWorld& world);

// Every rank, at start-up: checks that the checkpoint in `dir` continues this run (the same
// corpus-id, model keys, global batch and seed as `now`, else InputFormatError naming the
// file and key), loads the model, optimizer and (same world size) this rank's generators.
// Returns the stored state with `restart` counted up; rng_restored says whether generators
// were restored.
struct Resumed {
  RunState state;
  bool rng_restored = false;
};
Resumed resume_from(const std::string& dir, const RunState& now, const RunParts& parts, const MpiWorld& world);

// Fine-tuning's start: the backbone of the pre-training checkpoint `path` means
// (resolve_checkpoint). Strict: the architecture keys must equal `model_ini`'s and every
// backbone tensor must be in the file with its shape; head tensors start afresh.
void load_pretrained(MixHicModelImpl& model, const std::string& path, const std::string& model_ini);

// mixhic-eval's model: the fine-tuned checkpoint `path` means, built for windows of `geometry`,
// in eval mode. Throws InputFormatError for a pre-training checkpoint (task = none).
struct InferenceModel {
  std::string checkpoint;  // the resolved checkpoint directory
  ModelConfig config;
  std::string loop_modality;  // the loop task's training modality (train.ini)
  MixHicModel net{nullptr};
};
InferenceModel load_for_inference(const std::string& path, const corpus::Geometry& geometry);

// Keys of two resolved INI texts that differ, "key: a vs b" each.
std::vector<std::string> ini_differences(const std::string& a, const std::string& b);

}  // namespace mixhic
