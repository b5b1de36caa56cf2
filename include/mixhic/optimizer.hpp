// optimizer.hpp — AdamW over the gradient buckets' flat buffers, and the learning-rate schedule.
//
// Called by the trainer after GradBuckets::finish(). Parameters are re-seated as views into flat
// buffers laid out exactly like the gradient buckets, so one AdamW update is five vector ops per
// bucket instead of five per parameter (the model has ~400 tensors), and clipping and the
// non-finite check are one reduction per bucket. The update is PyTorch's torch.optim.AdamW
// (decoupled weight decay on every parameter, bias-corrected moments), as the reference uses.
// The state is saved per parameter name ("<name>.exp_avg", "<name>.exp_avg_sq"), so a checkpoint
// does not depend on the bucket layout and reads in Python as a dict of tensors.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "mixhic/grad_buckets.hpp"
#include "mixhic/state_dict.hpp"

namespace mixhic {

struct AdamWSettings {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-6;
};

class FlatAdamW {
 public:
  // `params` must be the list GradBuckets was built from.
  FlatAdamW(GradBuckets& buckets, const NamedTensors& params, AdamWSettings settings);

  // Global L2 norm of the gradients (after synchronisation: the same on every rank); NaN or Inf
  // when any gradient element is.
  double grad_norm() const;
  void scale_grads(double factor);
  // Name of the first parameter whose gradient has a NaN or Inf (empty if none).
  std::string first_nonfinite_grad() const;
  void step(double lr);
  int64_t updates() const { return updates_; }

  NamedTensors state() const;  // "<name>.exp_avg", "<name>.exp_avg_sq", and "updates"
  // Throws InputFormatError (naming `source`) when a parameter's moments are missing or mis-shaped.
  void load_state(const NamedTensors& state, const std::string& source);

 private:
  struct Slot {
    torch::Tensor param, grad, exp_avg, exp_avg_sq;  // flat, one per bucket
  };
  NamedTensors params_;
  std::vector<Slot> slots_;
  std::vector<std::pair<size_t, int64_t>> where_;  // parameter -> (slot, offset)
  AdamWSettings settings_;
  int64_t updates_ = 0;
};

// Learning rate at a global step: linear warm-up from 0, then constant (the reference: lr 1e-5
// throughout) or a cosine decay to min_lr at total_steps.
struct LrSchedule {
  std::string kind = "constant";
  double lr = 1e-5, min_lr = 0;
  int64_t warmup_steps = 0, total_steps = 1;
  double at(int64_t step) const;
};

}  // namespace mixhic
