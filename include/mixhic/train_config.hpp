// train_config.hpp — every setting of mixhic-train, and its option table (--help, config files).
//
// configs/pretrain-*.ini set these keys together with the model keys (model_config.hpp). The
// resolved configuration is logged by rank 0 and stored in every checkpoint; resuming refuses a
// checkpoint whose model keys, corpus, global batch or seed differ.
#pragma once

#include <cstdint>
#include <string>

#include "mixhic/config.hpp"

namespace mixhic {

struct TrainConfig {
  std::string corpus;             // the corpus written by mixhic-prep
  std::string run_dir = "run";    // checkpoints/, metrics.csv, metrics.jsonl, config.ini, ranks.txt
  // schedule
  int64_t global_batch = 32;      // samples per optimizer step over all ranks (fixed: world-size-free)
  int64_t epochs = 300;           // reference: 300
  int64_t max_steps = 0;          // > 0: stop the run at this global step (counts across restarts)
  std::string lr_schedule = "constant";  // constant (reference) | cosine (after warm-up, to min-lr)
  double lr = 1e-5, min_lr = 0.0;
  int64_t warmup_steps = 0;
  double weight_decay = 1e-6, beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  double clip_grad_norm = 0.0;    // > 0: clip the global gradient norm after synchronisation
  uint64_t seed = 99;             // model init, sample order and augmentation (reference: 99)
  // fine-tuning (model key task = hic_map | loop | expression)
  std::string pretrained;         // a pre-training checkpoint (directory) or run directory (its LATEST); empty: from scratch
  bool freeze_backbone = false;   // train only the task head (fusion, decoder, classifier)
  std::string loop_modality = "bimodal";  // loop task: bimodal | epi | hic
  // data
  int64_t prefetch = 4;           // batches read ahead on the loader thread
  std::string io = "mpio";        // mpio: parallel HDF5 (MPI-IO driver) | posix: each rank opens the file alone
  double augment_reverse = 0.0;   // probability of presenting a window in reverse genomic orientation
  double augment_track_noise = 0.0;  // std of Gaussian noise added to track values (C.Origami: 0.1)
  // devices and communication
  std::string device = "cpu";     // cpu | cuda (one GPU per rank, gpu_binding.hpp)
  std::string comm = "auto";      // auto (nccl on cuda, mpi on cpu) | mpi | nccl
  std::string precision = "fp32"; // fp32 | bf16 (autocast on GPU; master weights stay fp32)
  std::string batch_statistics = "global";  // global: BatchNorm and contrastive over the global batch | local: per rank (DDP)
  double bucket_mb = 25.0, first_bucket_mb = 1.0;
  std::string grad_reduce_dtype = "fp32";  // fp32 | bf16: buckets / world rounded to bf16 on the wire (DDP's bf16 hook)
  int64_t threads = 0;            // intra-op threads per rank; 0: cores of the node / ranks on it
  double peak_tflops = 0;         // one GPU's dense bf16 peak, for MFU on the progress line (0: no MFU)
  // checkpoints
  int64_t checkpoint_every = 500;  // steps; also at the end and on a stop signal
  int64_t keep_checkpoints = 3;
  std::string resume = "auto";    // auto: newest valid checkpoint in run-dir, if any | none | PATH
  int64_t stop_at_step = 0;       // > 0: behave as if a stop signal arrived after this step (tests, drills)
  // logging and failures
  int64_t log_every = 10;          // progress line every N steps (rank 0)
  int64_t straggler_every = 100;   // per-rank step-time summary every N steps
  std::string nonfinite = "skip";  // skip: drop the update, count it | stop: end with the step and tensor name
  double hang_timeout_s = 600;     // no step boundary for this long: abort the whole job, naming the phase

  // Throws ConfigError naming the key.
  void validate() const;
};

po::options_description train_options(TrainConfig& c);

// Exit code of a run that checkpointed and stopped on SIGUSR1/SIGTERM (or stop-at-step): the
// job should be requeued and resumed (EX_TEMPFAIL).
constexpr int kExitStoppedForRequeue = 75;

}  // namespace mixhic
