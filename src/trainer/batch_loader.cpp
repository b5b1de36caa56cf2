// Reading, augmenting and prefetching training batches (see include/mixhic/batch_loader.hpp).
#include "mixhic/batch_loader.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "mixhic/rng.hpp"
#include "mixhic/sample_order.hpp"

namespace mixhic {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int64_t BatchPlan::steps_per_epoch() const { return mixhic::steps_per_epoch(int64_t(train.size()), global_batch); }

std::vector<int64_t> BatchPlan::epoch_order(int64_t epoch) const {
  return epoch_permutation(seed, epoch, int64_t(train.size()));
}

std::vector<int64_t> BatchPlan::samples_at(int64_t step, const std::vector<int64_t>& order) const {
  BatchSlice s = rank_slice(step % steps_per_epoch(), global_batch, rank, world);
  std::vector<int64_t> out;
  for (int64_t p = s.begin; p < s.end; ++p) out.push_back(train[order[p]]);
  return out;
}

std::vector<int64_t> BatchPlan::samples_at(int64_t step) const {
  return samples_at(step, epoch_order(epoch_of(step)));
}

std::vector<int64_t> BatchPlan::global_batch_at(int64_t step) const {
  BatchPlan whole = *this;
  whole.rank = 0;
  whole.world = 1;
  return whole.samples_at(step);
}

void augment_sample(float* hic, int64_t W, float* tracks, int64_t A, int64_t T, const Augmentation& aug, uint64_t seed,
                    int64_t epoch, int64_t sample) {
  if (!aug.active()) return;
  // A stream per (seed, epoch, sample): the key's first draw, mixed with the sample, seeds it.
  SplitMix keyed(seed ^ (0x6d69786869634155ULL + uint64_t(epoch) * 0x100000001b3ULL));
  const uint64_t first = keyed.next();
  SplitMix rng(keyed.state() ^ (first + uint64_t(sample)));
  rng.next();
  if (aug.reverse > 0 && rng.uniform() < aug.reverse) {
    std::vector<float> h(hic, hic + W * W);
    for (int64_t i = 0; i < W; ++i)
      for (int64_t j = 0; j < W; ++j) hic[i * W + j] = h[(W - 1 - j) * W + (W - 1 - i)];
    std::vector<float> t(tracks, tracks + 2 * A * T);
    // Row k of the new anchor 1 is row A-1-k of the old anchor 2, and vice versa.
    for (int64_t k = 0; k < A; ++k)
      for (int64_t c = 0; c < T; ++c) {
        tracks[k * T + c] = t[(A + A - 1 - k) * T + c];
        tracks[(A + k) * T + c] = t[(A - 1 - k) * T + c];
      }
  }
  if (aug.track_noise > 0) {
    const int64_t n = 2 * A * T;
    for (int64_t k = 0; k < n; k += 2) {  // Box-Muller, two normals per draw
      double u1 = std::max(rng.uniform(), 0x1.0p-60), u2 = rng.uniform();
      double r = std::sqrt(-2.0 * std::log(u1)) * aug.track_noise;
      tracks[k] += float(r * std::cos(2 * M_PI * u2));
      if (k + 1 < n) tracks[k + 1] += float(r * std::sin(2 * M_PI * u2));
    }
  }
}

SampleBatch BatchLoader::read(const Corpus& corpus, const std::vector<int64_t>& samples, const Augmentation& aug,
                              uint64_t seed, int64_t epoch, bool pinned) {
  auto t0 = std::chrono::steady_clock::now();
  const auto& g = corpus.geometry();
  const int64_t W = g.window_bins, A = g.track_bins_per_anchor, T = g.n_tracks, b = int64_t(samples.size());
  SampleBatch batch;
  batch.samples = samples;
  const auto host = torch::TensorOptions().dtype(torch::kFloat).pinned_memory(pinned);
  batch.hic = torch::empty({b, 1, W, W}, host);
  batch.epi = torch::empty({b, 2 * A, T}, host);
  const SampleSource source = corpus.sample_source();
  if (source == SampleSource::loops) batch.target = torch::empty({b}, host);
  if (source == SampleSource::tss) batch.target = torch::empty({b, W}, host);
  // Read in file order (neighbouring samples share pages); place in batch order.
  std::vector<int64_t> order(b);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return samples[x] < samples[y]; });
  for (int64_t k : order) {
    float* hic = batch.hic.data_ptr<float>() + k * W * W;
    float* tracks = batch.epi.data_ptr<float>() + k * 2 * A * T;
    corpus.read_hic(samples[k], hic);
    corpus.read_tracks(samples[k], 1, tracks);
    // Diagonal windows (tiles, TSS) have both anchors on the same track rows: read them once.
    if (corpus.meta(samples[k]).track_row2 == corpus.meta(samples[k]).track_row1)
      std::copy(tracks, tracks + A * T, tracks + A * T);
    else
      corpus.read_tracks(samples[k], 2, tracks + A * T);
    augment_sample(hic, W, tracks, A, T, aug, seed, epoch, samples[k]);
    if (source == SampleSource::loops) batch.target.data_ptr<float>()[k] = float(corpus.label(samples[k]));
    if (source == SampleSource::tss) corpus.read_target(samples[k], batch.target.data_ptr<float>() + k * W);
  }
  batch.read_ms = ms_since(t0);
  return batch;
}

BatchLoader::BatchLoader(const Corpus& corpus, BatchPlan plan, Augmentation aug, int64_t first_step, int64_t end_step,
                         int depth, bool pinned)
    : corpus_(corpus), plan_(std::move(plan)), aug_(aug), next_read_(first_step), end_step_(end_step),
      depth_(size_t(std::max(depth, 1))), pinned_(pinned) {
  thread_ = std::thread([this] { run(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BatchLoader::run() {
  try {
    int64_t cached_epoch = -1;
    std::vector<int64_t> order;  // the epoch's permutation, computed once per epoch
    for (int64_t step = next_read_; step < end_step_; ++step) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || ready_.size() < depth_; });
        if (stopping_) return;
      }
      const int64_t epoch = plan_.epoch_of(step);
      if (epoch != cached_epoch) {
        order = plan_.epoch_order(epoch);
        cached_epoch = epoch;
      }
      // The next step's rows start arriving from storage while this step's are read.
      if (step + 1 < end_step_) {
        if (plan_.epoch_of(step + 1) == epoch) corpus_.prefetch(plan_.samples_at(step + 1, order));
        else corpus_.prefetch(plan_.samples_at(step + 1));
      }
      SampleBatch batch = read(corpus_, plan_.samples_at(step, order), aug_, plan_.seed, epoch, pinned_);
      batch.step = step;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(batch));
      }
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    changed_.notify_all();
  }
}

SampleBatch BatchLoader::next() {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty()) std::rethrow_exception(error_);
  SampleBatch batch = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  changed_.notify_all();
  last_wait_ms_ = ms_since(t0);
  return batch;
}

}  // namespace mixhic
