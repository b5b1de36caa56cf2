// training_log.hpp — what a user sees of a training run: the progress line, metrics.csv and
// metrics.jsonl (appended across restarts), and the straggler summary.
//
// Called by the trainer once per step (record, rank-local timings) and every log-every /
// straggler-every steps (progress on rank 0; stragglers is COLLECTIVE).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "mixhic/mpi_world.hpp"

namespace mixhic {

struct StepRecord {
  int64_t step = 0;  // global step just completed (1-based count)
  int64_t epoch = 0;
  int64_t samples = 0;  // global batch
  double loss = 0, contrastive = 0, orthogonal = 0, mapping = 0;  // global-batch values
  double lr = 0, grad_norm = 0;
  bool skipped = false;  // non-finite: update dropped
  // this rank's timings, ms
  double step_ms = 0, data_wait_ms = 0, forward_ms = 0, backward_ms = 0, allreduce_exposed_ms = 0, optimizer_ms = 0;
  double allreduce_hidden = 0;  // share of gradient bytes reduced before backward ended
};

// Model FLOPs utilisation, in %, of one GPU: the global samples/s shared by `gpus` devices (one
// per rank), each doing flops_per_sample (forward + backward) against its own peak FLOP/s.
double mfu_percent(double global_samples_per_s, int gpus, double flops_per_sample, double peak_flops_per_gpu);

class TrainingLog {
 public:
  // allreduce_ms: a calibrated all-reduce of every bucket, not overlapped (reported next to the
  // exposed wait). flops_per_sample: forward + backward; peak_flops (one GPU's) > 0 enables MFU.
  TrainingLog(const std::string& run_dir, const MpiWorld& world, int64_t total_steps, int64_t restart,
              double allreduce_ms, double flops_per_sample, double peak_flops);
  ~TrainingLog();

  void record(const StepRecord& r);   // every rank, every step
  void progress();                    // rank 0 prints the window since the last call
  void stragglers();                  // COLLECTIVE: min / median / max step time and the slowest rank
  int64_t skipped_total() const { return skipped_total_; }
  void set_skipped_total(int64_t n) { skipped_total_ = n; }
  // Fine-tuning: the progress line names the task loss (e.g. "mse") instead of pre-training's
  // three terms, which are then not computed (their columns stay 0).
  void set_task_loss(const std::string& name) { task_loss_ = name; }

 private:
  struct Window {
    int64_t steps = 0, samples = 0, first_step = 0;
    double step_ms = 0, data_wait_ms = 0, exposed_ms = 0;
    double hidden = 0;
  };
  MpiWorld world_;
  int64_t total_steps_, restart_;
  double allreduce_ms_, flops_per_sample_, peak_flops_;
  FILE* csv_ = nullptr;
  FILE* jsonl_ = nullptr;
  StepRecord last_;
  Window progress_, straggler_;
  double all_ms_ = 0;  // all steps of this process, for the ETA
  int64_t all_steps_ = 0;
  int64_t skipped_total_ = 0;
  std::string task_loss_;
};

}  // namespace mixhic
