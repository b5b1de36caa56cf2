// grad_buckets.hpp — data-parallel gradient synchronisation for LibTorch, DDP-style, by hand
// (LibTorch has no C++ DDP and Debian's headers cannot include c10d's Reducer).
//
// Parameters are packed, in reverse registration order (the order backward produces their
// gradients), into flat buckets: the first small (1 MB by default, so communication starts
// early), the rest ~25 MB. Each parameter's .grad is a view into its bucket, so autograd
// accumulates straight into the flat buffer. A post-hook on every parameter's AccumulateGrad
// node counts gradients in; when a bucket is complete (and every earlier bucket has been
// launched: all ranks must reduce in the same order) its all-reduce starts while backward goes
// on. finish() waits for all of them and averages.
//
// With a narrower reduce dtype (grad-reduce-dtype = bf16), a bucket is divided by the world size
// and rounded to bf16 when it is launched, the bf16 copy is summed (half the bytes on the wire),
// and finish() copies the sum back into the fp32 gradients: DDP's bf16_compress_hook.
//
// COLLECTIVE: the constructor (layout check, parameter broadcast) and finish() on every rank.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mixhic/comm.hpp"

namespace mixhic {

struct GradBucket {
  torch::Tensor flat;                // one dtype, one device
  torch::Tensor wire;                // flat / world in the reduce dtype, when that differs
  std::vector<size_t> params;        // indices into the parameter list
  int pending = 0;                   // gradients not yet accumulated this step
  std::unique_ptr<CommWork> work;    // the all-reduce in flight
  bool done = false;                 // work->test() said complete
  bool launched_in_backward = false;
};

class GradBuckets {
 public:
  GradBuckets(const std::vector<std::pair<std::string, torch::Tensor>>& named_params, Comm& comm,
              size_t first_bucket_bytes = size_t(1) << 20, size_t bucket_bytes = size_t(25) << 20,
              torch::ScalarType reduce_dtype = torch::kFloat);
  ~GradBuckets();
  GradBuckets(const GradBuckets&) = delete;
  GradBuckets& operator=(const GradBuckets&) = delete;

  // Zeroes the buckets (and so every .grad) and re-arms the counters; call before backward.
  void zero_grad();
  // COLLECTIVE: launches what backward left, waits for every all-reduce, divides by the world size.
  // Parameters that received no gradient count as zero (unused_parameters() names them).
  void finish();
  // The factor a rank's loss (a mean over its `local_rows` of the step's `global_batch` samples)
  // is multiplied by before backward, so that finish()'s average over `world` ranks is the
  // gradient of the mean over the global batch, whatever the split: local_rows * world / global.
  static double loss_scale(int64_t local_rows, int64_t global_batch, int world) {
    return double(local_rows) * world / double(global_batch);
  }
  const std::vector<std::string>& unused_parameters() const { return unused_; }

  size_t bucket_count() const { return buckets_.size(); }
  const GradBucket& bucket(size_t i) const { return buckets_[i]; }
  // Buckets whose all-reduce started inside backward in the last step (overlap).
  size_t launched_in_backward() const;
  // Share of the gradient bytes whose all-reduce had completed when finish() was called: the
  // part of the communication hidden behind backward in the last step.
  double hidden_fraction() const { return hidden_fraction_; }

 private:
  void on_gradient_ready(size_t param);
  void launch_ready_buckets(bool in_backward);
  void verify_layout();  // COLLECTIVE
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<size_t> bucket_of_;
  std::vector<GradBucket> buckets_;
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks_;
  size_t next_launch_ = 0;
  std::vector<bool> accumulated_;
  std::vector<std::string> unused_;
  double hidden_fraction_ = 0;
  Comm& comm_;
  torch::ScalarType reduce_dtype_;
};

}  // namespace mixhic
