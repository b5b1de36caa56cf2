// mixhic-train's option table and checks (see include/mixhic/train_config.hpp).
#include "mixhic/train_config.hpp"

#include <fmt/format.h>

#include "mixhic/check.hpp"

namespace mixhic {

po::options_description train_options(TrainConfig& c) {
  auto text = [](auto v) { return fmt::format("{}", v); };
  po::options_description t("training options (configs/pretrain-*.ini)");
  t.add_options()
      ("corpus", po::value(&c.corpus), "corpus written by mixhic-prep (required)")
      ("run-dir", po::value(&c.run_dir)->default_value(c.run_dir), "directory for checkpoints/, metrics.csv, metrics.jsonl, config.ini")
      ("global-batch", po::value(&c.global_batch)->default_value(c.global_batch), "samples per step over all ranks (the same on any number of ranks)")
      ("epochs", po::value(&c.epochs)->default_value(c.epochs), "passes over the train split (reference: 300)")
      ("max-steps", po::value(&c.max_steps)->default_value(c.max_steps), "> 0: end at this global step (counted across restarts)")
      ("lr-schedule", po::value(&c.lr_schedule)->default_value(c.lr_schedule), "constant (reference) | cosine (after the warm-up, down to min-lr)")
      ("lr", po::value(&c.lr)->default_value(c.lr, text(c.lr)), "peak learning rate (reference: 1e-5)")
      ("min-lr", po::value(&c.min_lr)->default_value(c.min_lr, text(c.min_lr)), "final learning rate of the cosine schedule")
      ("warmup-steps", po::value(&c.warmup_steps)->default_value(c.warmup_steps), "linear warm-up from 0 to lr")
      ("weight-decay", po::value(&c.weight_decay)->default_value(c.weight_decay, text(c.weight_decay)), "AdamW decoupled weight decay (reference: 1e-6)")
      ("beta1", po::value(&c.beta1)->default_value(c.beta1, text(c.beta1)), "AdamW beta1")
      ("beta2", po::value(&c.beta2)->default_value(c.beta2, text(c.beta2)), "AdamW beta2")
      ("adam-eps", po::value(&c.adam_eps)->default_value(c.adam_eps, text(c.adam_eps)), "AdamW epsilon")
      ("clip-grad-norm", po::value(&c.clip_grad_norm)->default_value(c.clip_grad_norm, text(c.clip_grad_norm)), "> 0: clip the global gradient norm (after the all-reduce)")
      ("seed", po::value(&c.seed)->default_value(c.seed), "seed of model init, sample order and augmentation (reference: 99)")
      ("pretrained", po::value(&c.pretrained)->default_value(c.pretrained), "fine-tuning: start from this pre-training checkpoint or run directory (every backbone key must match; the task head starts afresh); empty: no pre-training")
      ("freeze-backbone", po::value(&c.freeze_backbone)->default_value(c.freeze_backbone), "fine-tuning: train only the task head")
      ("loop-modality", po::value(&c.loop_modality)->default_value(c.loop_modality), "loop task input: bimodal | epi | hic")
      ("prefetch", po::value(&c.prefetch)->default_value(c.prefetch), "batches read ahead by the loader thread")
      ("io", po::value(&c.io)->default_value(c.io), "mpio: parallel HDF5 over MPI-IO | posix: every rank opens the corpus on its own")
      ("augment-reverse", po::value(&c.augment_reverse)->default_value(c.augment_reverse, text(c.augment_reverse)), "probability of flipping a window's genomic orientation (0: reference)")
      ("augment-track-noise", po::value(&c.augment_track_noise)->default_value(c.augment_track_noise, text(c.augment_track_noise)), "std of Gaussian noise on track values (0: reference)")
      ("device", po::value(&c.device)->default_value(c.device), "cpu | cuda (one GPU per rank: the node-local rank's, or device 0 of its own with srun --gpus-per-task; more ranks per node than GPUs is refused)")
      ("comm", po::value(&c.comm)->default_value(c.comm), "gradient all-reduce: auto (nccl on cuda, mpi on cpu) | mpi | nccl")
      ("precision", po::value(&c.precision)->default_value(c.precision), "fp32 | bf16 (autocast on GPU; weights, gradients and optimizer stay fp32)")
      ("batch-statistics", po::value(&c.batch_statistics)->default_value(c.batch_statistics), "global: BatchNorm and contrastive negatives over the global batch | local: per rank, as PyTorch DDP and the reference")
      ("bucket-mb", po::value(&c.bucket_mb)->default_value(c.bucket_mb, text(c.bucket_mb)), "gradient bucket size in MB")
      ("first-bucket-mb", po::value(&c.first_bucket_mb)->default_value(c.first_bucket_mb, text(c.first_bucket_mb)), "size of the first (last layers') bucket in MB")
      ("grad-reduce-dtype", po::value(&c.grad_reduce_dtype)->default_value(c.grad_reduce_dtype), "fp32 | bf16: the dtype gradients are summed in over the ranks (bf16: half the bytes; each bucket is divided by the world size and rounded to bf16 first, like DDP's bf16_compress_hook; the optimizer stays fp32)")
      ("threads", po::value(&c.threads)->default_value(c.threads), "intra-op threads per rank (0: the node's cores / ranks on the node)")
      ("peak-tflops", po::value(&c.peak_tflops)->default_value(c.peak_tflops, text(c.peak_tflops)), "one GPU's dense bf16 peak in TFLOP/s, for MFU (H100/H200 SXM: 989; 0: MFU not shown)")
      ("checkpoint-every", po::value(&c.checkpoint_every)->default_value(c.checkpoint_every), "checkpoint every N steps (also at the end and on SIGUSR1/SIGTERM)")
      ("keep-checkpoints", po::value(&c.keep_checkpoints)->default_value(c.keep_checkpoints), "complete checkpoints kept (older ones are deleted)")
      ("resume", po::value(&c.resume)->default_value(c.resume), "auto: the newest checkpoint of run-dir whose manifest verifies (none: start fresh) | none | PATH")
      ("stop-at-step", po::value(&c.stop_at_step)->default_value(c.stop_at_step), "> 0: checkpoint and stop for requeue after this step, as on SIGUSR1")
      ("log-every", po::value(&c.log_every)->default_value(c.log_every), "progress line every N steps")
      ("straggler-every", po::value(&c.straggler_every)->default_value(c.straggler_every), "per-rank step time summary every N steps")
      ("nonfinite", po::value(&c.nonfinite)->default_value(c.nonfinite), "on a NaN/Inf loss or gradient: skip (drop the update, count it) | stop")
      ("hang-timeout", po::value(&c.hang_timeout_s)->default_value(c.hang_timeout_s, text(c.hang_timeout_s)), "seconds without a step boundary before the job is aborted");
  return t;
}

void TrainConfig::validate() const {
  auto need = [](bool ok, const char* key, const std::string& what) {
    if (!ok) throw ConfigError(fmt::format("{}: {}", key, what));
  };
  need(!corpus.empty(), "corpus", "required: the corpus file written by mixhic-prep");
  need(global_batch >= 1, "global-batch", "must be >= 1");
  need(epochs >= 1, "epochs", "must be >= 1");
  need(lr_schedule == "constant" || lr_schedule == "cosine", "lr-schedule", "constant | cosine");
  need(lr > 0 && min_lr >= 0 && min_lr <= lr, "lr", "need lr > 0 and 0 <= min-lr <= lr");
  need(warmup_steps >= 0, "warmup-steps", "must be >= 0");
  need(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "beta1/beta2", "must be in [0, 1)");
  need(loop_modality == "bimodal" || loop_modality == "epi" || loop_modality == "hic", "loop-modality",
       "bimodal | epi | hic");
  need(prefetch >= 1, "prefetch", "must be >= 1");
  need(io == "mpio" || io == "posix", "io", "mpio | posix");
  need(augment_reverse >= 0 && augment_reverse <= 1, "augment-reverse", "a probability in [0, 1]");
  need(augment_track_noise >= 0, "augment-track-noise", "must be >= 0");
  need(device == "cpu" || device == "cuda", "device", "cpu | cuda");
  need(comm == "auto" || comm == "mpi" || comm == "nccl", "comm", "auto | mpi | nccl");
  need(!(comm == "nccl" && device == "cpu"), "comm", "nccl needs device = cuda");
  need(precision == "fp32" || precision == "bf16", "precision", "fp32 | bf16");
  need(!(precision == "bf16" && device == "cpu"), "precision", "bf16 autocast is for device = cuda; use fp32 on CPU");
  need(batch_statistics == "global" || batch_statistics == "local", "batch-statistics", "global | local");
  need(bucket_mb > 0 && first_bucket_mb > 0, "bucket-mb", "bucket sizes must be > 0");
  need(grad_reduce_dtype == "fp32" || grad_reduce_dtype == "bf16", "grad-reduce-dtype", "fp32 | bf16");
  need(checkpoint_every >= 1, "checkpoint-every", "must be >= 1");
  need(keep_checkpoints >= 1, "keep-checkpoints", "must be >= 1 (the newest is needed to resume)");
  need(log_every >= 1 && straggler_every >= 1, "log-every", "log-every and straggler-every must be >= 1");
  need(nonfinite == "skip" || nonfinite == "stop", "nonfinite", "skip | stop");
  need(hang_timeout_s > 0, "hang-timeout", "must be > 0 seconds");
  need(peak_tflops >= 0, "peak-tflops", "must be >= 0");
}

}  // namespace mixhic
