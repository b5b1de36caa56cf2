// batch_loader.hpp — the trainer's data path: which corpus samples this rank reads at each step,
// read on a background thread ahead of the step that needs them, augmented deterministically and
// handed over as model-ready tensors.
//
// Called by the trainer (one BatchLoader per rank). The sample sequence is a pure function of
// (seed, epoch, step, global batch, rank, world): sample_order.hpp. The loader thread is the only
// thread that touches HDF5 while training runs (HDF5 is not built thread-safe); with io = mpio
// its reads are independent MPI-IO reads, so MPI must provide MPI_THREAD_MULTIPLE (checked by
// the trainer, which falls back to io = posix otherwise).
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "mixhic/corpus.hpp"

namespace mixhic {

// Which train samples rank `rank` of `world` reads at global step `step`.
struct BatchPlan {
  std::vector<int64_t> train;  // the corpus's train split (corpus sample indices)
  int64_t global_batch = 1;
  uint64_t seed = 0;
  int rank = 0, world = 1;

  int64_t steps_per_epoch() const;
  int64_t epoch_of(int64_t step) const { return step / steps_per_epoch(); }
  // The train split's order in `epoch`: a permutation of positions in `train`.
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // Corpus sample indices of this rank's slice of the global batch of `step`, in batch order;
  // `order` is epoch_order(epoch_of(step)), passed by callers that walk steps in order.
  std::vector<int64_t> samples_at(int64_t step, const std::vector<int64_t>& order) const;
  std::vector<int64_t> samples_at(int64_t step) const;
  // The same for every rank (rank order): the global batch.
  std::vector<int64_t> global_batch_at(int64_t step) const;
};

struct Augmentation {
  double reverse = 0.0;      // probability of the reverse genomic orientation
  double track_noise = 0.0;  // std of Gaussian noise on track values
  bool active() const { return reverse > 0 || track_noise > 0; }
};

// Augments one sample in place, as a pure function of (seed, epoch, sample): the same on any
// rank, any world size and after a resume. hic: W x W; tracks: 2A x T (anchor 1 rows, then
// anchor 2). Reverse orientation: hic'[i][j] = hic[W-1-j][W-1-i], anchor 1' = reversed anchor 2,
// anchor 2' = reversed anchor 1.
void augment_sample(float* hic, int64_t W, float* tracks, int64_t A, int64_t T, const Augmentation& aug, uint64_t seed,
                    int64_t epoch, int64_t sample);

struct SampleBatch {
  int64_t step = -1;
  std::vector<int64_t> samples;  // corpus indices, in batch order
  torch::Tensor hic;             // (b, 1, W, W) float32
  torch::Tensor epi;             // (b, 2A, T) float32
  torch::Tensor target;          // loop corpora: (b,) labels 1/0; TSS corpora: (b, W) expression; else undefined
  double read_ms = 0;            // loader-thread time spent on this batch
};

class BatchLoader {
 public:
  // Reads the batches of steps [first_step, end_step) in order, up to `depth` ahead. `pinned`
  // (a CUDA run; needs a LibTorch with CUDA) puts them in page-locked memory, so that the
  // trainer's non_blocking copy to the GPU is asynchronous instead of a staged, blocking one.
  BatchLoader(const Corpus& corpus, BatchPlan plan, Augmentation aug, int64_t first_step, int64_t end_step, int depth,
              bool pinned = false);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next step's batch; blocks while the loader is behind (the wait is the "data wait").
  // Rethrows an error of the loader thread (e.g. a corrupt corpus).
  SampleBatch next();
  double last_wait_ms() const { return last_wait_ms_; }
  // Reads one batch on the calling thread (validation, tests, benchmarks).
  static SampleBatch read(const Corpus& corpus, const std::vector<int64_t>& samples, const Augmentation& aug,
                          uint64_t seed, int64_t epoch, bool pinned = false);

 private:
  void run();
  const Corpus& corpus_;
  BatchPlan plan_;
  Augmentation aug_;
  int64_t next_read_, end_step_;
  size_t depth_;
  bool pinned_;
  std::deque<SampleBatch> ready_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::exception_ptr error_;
  double last_wait_ms_ = 0;
  std::thread thread_;
};

}  // namespace mixhic
