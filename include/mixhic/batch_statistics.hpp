// batch_statistics.hpp — the model's batch-wide quantities when a global batch is split over ranks.
//
// MIX-HIC has two: the BatchNorm statistics of the epigenomic pooling encoder, and the
// contrastive loss, whose negatives are the other samples of the batch. Under plain data
// parallelism (PyTorch DDP, and so the reference code) both see only the rank's local batch, so
// the training objective changes with the number of ranks. With a CrossRankBatch set on the model
// (MixHicModelImpl::set_cross_rank_batch) both span the global batch: BatchNorm sums are
// all-reduced (SyncBatchNorm) and the contrastive logits are formed against every rank's features,
// gathered, with each rank's gradient routed back to it. The objective is then the same function
// of the global batch on 1, 2 or 64 ranks, which is what makes resuming on another world size and
// "2 ranks x b == 1 rank x 2b" hold for the real model. The trainer implements it over its Comm.
//
// COLLECTIVE: in training mode every forward and backward calls sum() and gather_rows() on every
// rank in the same order.
#pragma once

#include <torch/torch.h>

namespace mixhic {

class CrossRankBatch {
 public:
  virtual ~CrossRankBatch() = default;
  virtual int world() const = 0;
  // In-place sum over ranks of a small contiguous tensor (blocking).
  virtual void sum(torch::Tensor& t) = 0;
  // Every rank's rows of `local` (this step's local batch), concatenated in rank order (blocking,
  // no autograd). Ranks may hold different numbers of rows.
  virtual torch::Tensor gather_rows(const torch::Tensor& local) = 0;
  // Where this rank's rows start in gather_rows()'s result.
  virtual int64_t row_offset() const = 0;
};

// BatchNorm1d of x (B, C, L) in training mode with mean and variance over every rank's batch;
// updates bn's running statistics exactly as torch's BatchNorm would on the concatenated batch.
torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm1dImpl& bn, CrossRankBatch& batch);

// gather_rows() with autograd: the gradient of this rank's rows flows back to `local`, scaled by
// the world size, because every rank computes the same global loss from the gathered tensor and
// the gradient all-reduce then averages over ranks.
torch::Tensor gather_rows_with_grad(const torch::Tensor& local, CrossRankBatch& batch);

}  // namespace mixhic
