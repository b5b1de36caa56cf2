// The training loop of mixhic-train (see include/mixhic/trainer.hpp).
#include "mixhic/trainer.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "mixhic/autocast.hpp"
#include "mixhic/batch_loader.hpp"
#include "mixhic/batch_statistics.hpp"
#include "mixhic/gpu_binding.hpp"
#include "mixhic/check.hpp"
#include "mixhic/checkpoint.hpp"
#include "mixhic/comm.hpp"
#include "mixhic/compute_threads.hpp"
#include "mixhic/corpus.hpp"
#include "mixhic/grad_buckets.hpp"
#include "mixhic/hash.hpp"
#include "mixhic/log.hpp"
#include "mixhic/model.hpp"
#include "mixhic/optimizer.hpp"
#include "mixhic/output_files.hpp"
#include "mixhic/run_state.hpp"
#include "mixhic/sample_order.hpp"
#include "mixhic/state_dict.hpp"
#include "mixhic/training_log.hpp"
#include "mixhic/watchdog.hpp"

namespace fs = std::filesystem;

namespace mixhic {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

// ---- the global batch over ranks, for the model's batch statistics ------------------------------
class CommCrossRankBatch : public CrossRankBatch {
 public:
  explicit CommCrossRankBatch(Comm& comm) : comm_(comm) {}
  // Rows every rank holds this step (rank_slice sizes: known everywhere without communication).
  void set_rows(std::vector<int64_t> rows) { rows_ = std::move(rows); }
  int world() const override { return comm_.size(); }
  void sum(torch::Tensor& t) override { comm_.allreduce_sum(t)->wait(); }
  int64_t row_offset() const override {
    int64_t at = 0;
    for (int r = 0; r < comm_.rank(); ++r) at += rows_[r];
    return at;
  }
  torch::Tensor gather_rows(const torch::Tensor& local) override {
    // All-gather needs equal sizes: pad every rank's rows to the largest, then drop the padding.
    const int64_t most = *std::max_element(rows_.begin(), rows_.end());
    std::vector<int64_t> padded_shape = local.sizes().vec();
    padded_shape[0] = most;
    torch::Tensor padded = torch::zeros(padded_shape, local.options());
    padded.narrow(0, 0, local.size(0)).copy_(local);
    std::vector<int64_t> all_shape = padded_shape;
    all_shape[0] = most * comm_.size();
    torch::Tensor all = torch::empty(all_shape, local.options());
    comm_.allgather(padded, all);
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < comm_.size(); ++r) parts.push_back(all.narrow(0, r * most, rows_[r]));
    return torch::cat(parts);
  }

 private:
  Comm& comm_;
  std::vector<int64_t> rows_;
};

// ---- one step's agreement ------------------------------------------------------------------
// What this rank brings to the step's agreement.
struct LocalStep {
  double terms[3] = {0, 0, 0};  // pre-training: contrastive, orthogonal, mapping; fine-tuning: the task loss first
  bool first_is_global = false;  // terms[0] is already the global-batch value (global InfoNCE)
  int64_t rows = 0;              // this rank's samples
  std::vector<int64_t> bad_samples;  // samples with NaN/Inf input
  bool nonfinite_loss() const {
    return !std::isfinite(terms[0]) || !std::isfinite(terms[1]) || !std::isfinite(terms[2]);
  }
};

// What every rank knows after the agreement: one allreduce_scalars of six values.
struct StepAgreement {
  double contrastive = 0, orthogonal = 0, mapping = 0;  // global-batch means (fine-tuning: the task loss first)
  bool nonfinite_loss = false;   // some rank's loss is NaN/Inf
  bool stop_signal = false;      // some rank received SIGUSR1/SIGTERM
  bool nonfinite_input = false;  // some rank's batch holds NaN/Inf
};

StepAgreement agree_on_step(Comm& comm, const LocalStep& mine, int64_t global_batch) {
  const double share = double(mine.rows) / double(global_batch);
  const double* t = mine.terms;
  double v[6] = {mine.first_is_global ? t[0] / comm.size() : t[0] * share, t[1] * share, t[2] * share,
                 mine.nonfinite_loss() ? 1.0 : 0.0, stop_signal_pending() ? 1.0 : 0.0,
                 mine.bad_samples.empty() ? 0.0 : 1.0};
  comm.allreduce_scalars(v, 6, Comm::Reduce::sum);
  return {v[0], v[1], v[2], v[3] > 0, v[4] > 0, v[5] > 0};
}

// The signal that stops the run (SIGUSR1 or SIGTERM on any rank; 0 for stop-at-step).
int agree_on_stop_signal(Comm& comm) {
  double sig = stop_signal_pending();
  comm.allreduce_scalars(&sig, 1, Comm::Reduce::max);
  return int(sig);
}

// Samples of `batch` with NaN/Inf values (a corrupt corpus): named if the step is non-finite.
std::vector<int64_t> nonfinite_samples(const SampleBatch& batch) {
  std::vector<int64_t> bad;
  if (torch::isfinite(batch.hic).all().item<bool>() && torch::isfinite(batch.epi).all().item<bool>()) return bad;
  for (size_t k = 0; k < batch.samples.size(); ++k)
    if (!(torch::isfinite(batch.hic[k]).all().item<bool>() && torch::isfinite(batch.epi[k]).all().item<bool>()))
      bad.push_back(batch.samples[k]);
  return bad;
}

const char* task_loss_name(const ModelConfig& m) {
  return m.task == Task::loop                                ? "bce"
         : m.task == Task::expression && m.prism_contexts > 0 ? "huber + uniformity"
                                                              : "mse";
}

// ---- a run -----------------------------------------------------------------------------------
// Start-up stages run inside agree(): a failure on any rank ends every rank with one line
// (tests/test_trainer.cpp injects one at each stage, on one rank of two).
class TrainingRun {
 public:
  TrainingRun(const MpiWorld& world, const TrainSetup& setup) : world_(world), setup_(setup) {}
  int run();

 private:
  void open_corpus();
  void make_device_and_comm();
  void make_model();
  void resume();
  void write_run_directory();
  double measure_allreduce();
  // One optimizer step from `step` (0-based); true when the run must stop after it.
  bool train_step(int64_t step, BatchLoader& loader);
  void save_checkpoint(int64_t step);
  RunParts parts() { return RunParts{*model_, *optimizer_, device_, setup_.model_ini, setup_.train_ini}; }

  const MpiWorld& world_;
  const TrainSetup& setup_;
  TrainConfig cfg_ = setup_.train;
  ModelConfig mcfg_ = setup_.model;
  bool fine_tuning_ = false, global_stats_ = false;
  // Declared before the watchdog, so that the watchdog (which may abort it) is stopped first.
  std::unique_ptr<Comm> comm_;
  std::optional<HangWatchdog> watchdog_;
  int threads_ = 1;
  std::unique_ptr<Corpus> corpus_;
  std::optional<BatchPlan> plan_;
  int64_t spe_ = 1, total_steps_ = 0;
  torch::Device device_{torch::kCPU};
  std::string device_name_ = "cpu";
  MixHicModel model_{nullptr};
  std::unique_ptr<CommCrossRankBatch> cross_rank_;
  NamedTensors params_, buffers_;
  std::unique_ptr<GradBuckets> buckets_;
  std::unique_ptr<FlatAdamW> optimizer_;
  std::optional<LrSchedule> schedule_;
  std::optional<CheckpointStore> store_;
  RunState state_;  // step, restart, skipped (from the checkpoint resumed, if any)
  std::optional<TrainingLog> tlog_;
  size_t unused_reported_ = 0;
  int stop_signal_ = 0;
  double training_rss_mb_ = 0;
};

void TrainingRun::open_corpus() {
  int mpi_threads = MPI_THREAD_SINGLE;
  MPI_Query_thread(&mpi_threads);
  if (cfg_.io == "mpio" && mpi_threads < MPI_THREAD_MULTIPLE) {
    log::warn("MPI provides thread level {} (< MPI_THREAD_MULTIPLE): the loader thread cannot use MPI-IO; io = posix",
              mpi_threads);
    cfg_.io = "posix";
  }
  watchdog_->beat("start-up: corpus", 0);
  agree(world_, [&] {
    test_fault_point(world_, "corpus");
    if (!fs::exists(cfg_.corpus))
      throw InputFormatError(cfg_.corpus, "corpus", "a corpus file written by mixhic-prep", "no such file");
  });
  agree(world_, [&] { corpus_ = std::make_unique<Corpus>(cfg_.corpus, cfg_.io == "mpio" ? &world_.comm : nullptr); });
  const std::vector<int64_t>& train_split = corpus_->split_indices(0);
  agree(world_, [&] {
    test_fault_point(world_, "geometry");
    mcfg_.validate_keys();  // a bad key is the config's error, not the corpus's
    mcfg_.from_corpus_geometry(corpus_->geometry());
    try {
      mcfg_.validate_geometry();
    } catch (const ConfigError& e) {
      throw InputFormatError(cfg_.corpus, "geometry", "windows this model can take", e.what());
    }
    if (cfg_.global_batch < world_.size)
      throw ConfigError(fmt::format("global-batch: {} is smaller than the {} ranks; every rank needs a sample per step",
                                    cfg_.global_batch, world_.size));
    if (int64_t(train_split.size()) < cfg_.global_batch)
      throw InputFormatError(cfg_.corpus, "splits/train",
                             fmt::format("at least global-batch = {} samples", cfg_.global_batch),
                             fmt::format("{} samples", train_split.size()));
  });
  plan_.emplace(BatchPlan{train_split, cfg_.global_batch, cfg_.seed, world_.rank, world_.size});
  spe_ = plan_->steps_per_epoch();
  total_steps_ = cfg_.epochs * spe_;
  if (cfg_.max_steps > 0) total_steps_ = std::min(total_steps_, cfg_.max_steps);
}

void TrainingRun::make_device_and_comm() {
  agree(world_, [&] { test_fault_point(world_, "device"); });
  if (cfg_.device == "cuda") {
    agree(world_, [&] {
      if (!torch::cuda::is_available())
        throw ConfigError("device: cuda requested but this LibTorch build or node has no usable GPU");
    });
    int gpu = 0;
    agree(world_, [&] {
      gpu = gpu_of_rank(world_, int(torch::cuda::device_count()), "device = cuda");
      make_current_gpu(gpu);
    });
    device_ = torch::Device(torch::kCUDA, gpu);
    device_name_ = fmt::format("cuda:{}", gpu);
  }
  const std::string kind = cfg_.comm == "auto" ? (cfg_.device == "cuda" ? "nccl" : "mpi") : cfg_.comm;
  watchdog_->beat("start-up: communicator", 0);
  // The fault point has an agree of its own: the communicator's creation is collective, and a
  // rank that failed before it would leave the others inside it.
  agree(world_, [&] { test_fault_point(world_, "communicator"); });
  if (world_.size > 1 && kind == "nccl") {
    // Collective with agreements of its own (comm.hpp): a rank that fails while NCCL is set
    // up ends every rank. Its calls give up after hang-timeout in progress, as the watchdog does.
    comm_ = make_nccl_comm(world_, device_.index(), cfg_.hang_timeout_s);
  } else {
    agree(world_, [&] { comm_ = world_.size == 1 ? make_single_comm() : make_mpi_comm(world_); });
  }
  watchdog_->attach(comm_.get());
}

void TrainingRun::make_model() {
  watchdog_->beat("start-up: model", 0);
  torch::manual_seed(cfg_.seed);  // the same initial weights everywhere (rank 0's are broadcast anyway)
  agree(world_, [&] {
    test_fault_point(world_, "model");
    model_ = MixHicModel(mcfg_);
    model_->to(device_);
    model_->train();
  });
  cross_rank_ = std::make_unique<CommCrossRankBatch>(*comm_);
  global_stats_ = cfg_.batch_statistics == "global" && world_.size > 1;
  if (global_stats_) model_->set_cross_rank_batch(cross_rank_.get());
  fine_tuning_ = mcfg_.task != Task::none;
  agree(world_, [&] {
    test_fault_point(world_, "task");
    const SampleSource source = corpus_->sample_source();
    if (!task_accepts(mcfg_.task, source))
      throw InputFormatError(cfg_.corpus, "sample-source",
                             fmt::format("a corpus for task = {} (mixhic-prep samples = {})", name_of(mcfg_.task),
                                         accepted_sources(mcfg_.task)),
                             name_of(source));
    if (!fine_tuning_ && (!cfg_.pretrained.empty() || cfg_.freeze_backbone))
      throw ConfigError("pretrained / freeze-backbone: fine-tuning keys, but task = none (pre-training)");
  });
  if (fine_tuning_ && !cfg_.pretrained.empty()) {
    agree(world_, [&] {
      test_fault_point(world_, "pretrained");
      load_pretrained(*model_, cfg_.pretrained, setup_.model_ini);
    });
  }
  if (cfg_.freeze_backbone) {
    // A frozen backbone also keeps its BatchNorm statistics: its modules run in eval mode.
    for (auto& child : model_->named_children())
      if (!MixHicModelImpl::is_head_key(child.key() + ".")) child.value()->eval();
  }
  for (auto& p : model_->named_parameters()) {
    if (cfg_.freeze_backbone && !MixHicModelImpl::is_head_key(p.key())) {
      p.value().requires_grad_(false);
      continue;
    }
    params_.emplace_back(p.key(), p.value());
  }
  for (auto& b : model_->named_buffers()) buffers_.emplace_back(b.key(), b.value());
  agree(world_, [&] { test_fault_point(world_, "buckets"); });
  agree(world_, [&] {
    buckets_ = std::make_unique<GradBuckets>(params_, *comm_, size_t(cfg_.first_bucket_mb * (1 << 20)),
                                             size_t(cfg_.bucket_mb * (1 << 20)),
                                             cfg_.grad_reduce_dtype == "bf16" ? torch::kBFloat16 : torch::kFloat);
  });
  optimizer_ = std::make_unique<FlatAdamW>(*buckets_, params_,
                                           AdamWSettings{cfg_.beta1, cfg_.beta2, cfg_.adam_eps, cfg_.weight_decay});
  schedule_.emplace(LrSchedule{cfg_.lr_schedule, cfg_.lr, cfg_.min_lr, cfg_.warmup_steps, total_steps_});
}

void TrainingRun::resume() {
  watchdog_->beat("start-up: resume", 0);
  store_.emplace(cfg_.run_dir, world_, cfg_.keep_checkpoints);
  CheckpointStore& store = *store_;
  std::string resume_dir;
  agree(world_, [&] {
    test_fault_point(world_, "resume");
    if (world_.rank != 0) return;
    store.remove_partial_checkpoints();  // a run killed (or out of space) while writing one
    if (cfg_.resume == "auto") {
      resume_dir = store.find_resumable();
      if (resume_dir.empty() && !store.committed().empty())
        throw InputFormatError(store.directory(), "checkpoints", "at least one checkpoint whose manifest verifies",
                               "none does (see the warnings above); move the directory away to start afresh");
    } else if (cfg_.resume == "none") {
      if (!store.committed().empty())
        throw ConfigError(fmt::format("resume = none, but {} already holds checkpoints (newest {}): use --resume auto to "
                                      "continue that run, or another --run-dir",
                                      store.directory(), store.committed().back()));
    } else {
      resume_dir = cfg_.resume;
      std::string problem =
          CheckpointManifest::read(resume_dir + "/" + CheckpointManifest::kFile).verify(resume_dir);
      if (!problem.empty()) throw InputFormatError(resume_dir, CheckpointManifest::kFile, "every file present and matching", problem);
    }
  });
  {
    std::vector<uint8_t> bytes(resume_dir.begin(), resume_dir.end());
    if (world_.rank != 0) bytes.clear();
    auto all = allgather_bytes(world_, bytes);  // rank 0's path, to everyone
    resume_dir.assign(all.begin(), all.end());
  }

  state_.steps_per_epoch = spe_;
  state_.global_batch = cfg_.global_batch;
  state_.seed = cfg_.seed;
  state_.world_size = world_.size;
  state_.corpus = cfg_.corpus;
  state_.corpus_id = corpus_->corpus_id();
  state_.task = mcfg_.task;
  state_.pretrained = cfg_.pretrained;
  bool rng_restored = false;
  if (!resume_dir.empty()) {
    agree(world_, [&] {
      test_fault_point(world_, "load-checkpoint");
      Resumed r = resume_from(resume_dir, state_, parts(), world_);
      if (!r.rng_restored && world_.rank == 0 && mcfg_.dropout > 0)
        log::warn("resuming on {} ranks from a checkpoint of {}: each rank's dropout stream starts afresh", world_.size,
                  r.state.world_size);
      log::info("resumed from {} (step {}, written on {} ranks; restart {})", resume_dir, r.state.step,
                r.state.world_size, r.state.restart);
      state_.step = r.state.step;
      state_.restart = r.state.restart;
      state_.skipped = r.state.skipped;
      rng_restored = r.rng_restored;
    });
  }
  if (!rng_restored) {
    // Per-rank streams (dropout), derived from the seed, the rank and the step.
    torch::manual_seed(hash64(&cfg_.seed, sizeof cfg_.seed, uint64_t(world_.rank) * 1000003 + uint64_t(state_.step)));
  }
}

void TrainingRun::write_run_directory() {
  watchdog_->beat("start-up: run directory", 0);
  char host[256] = "";
  gethostname(host, sizeof host);
  std::string mine = fmt::format("{} {} {} {}\n", world_.rank, host, getpid(), device_name_);
  auto all = allgather_bytes(world_, std::vector<uint8_t>(mine.begin(), mine.end()));
  agree(world_, [&] {
    test_fault_point(world_, "run-dir");
    if (world_.rank != 0) return;
    // Room for the next checkpoint: the model and AdamW's two moments (~3x the parameters).
    int64_t state_bytes = 0;
    for (auto& [name, t] : state_dict(*model_)) state_bytes += int64_t(t.numel() * t.element_size());
    check_free_space(cfg_.run_dir, 3 * state_bytes + (1 << 20), "a checkpoint (model and optimizer state)");
    write_durably(cfg_.run_dir + "/config.ini", "# mixhic-train: " + setup_.command_line + "\n" + setup_.train_ini +
                                                    setup_.model_ini);
    write_durably(cfg_.run_dir + "/ranks.txt", "# rank host pid device\n" + std::string(all.begin(), all.end()));
  });
}

// An unhidden all-reduce of every bucket, for the progress line's "hidden" figure.
double TrainingRun::measure_allreduce() {
  double allreduce_ms = 0;
  if (world_.size == 1) return allreduce_ms;
  for (int rep = 0; rep < 3; ++rep) {
    buckets_->zero_grad();
    comm_->barrier();
    auto t0 = Clock::now();
    std::vector<std::unique_ptr<CommWork>> works;
    for (size_t b = 0; b < buckets_->bucket_count(); ++b) {
      torch::Tensor flat = buckets_->bucket(b).flat;  // shares the bucket's storage
      works.push_back(comm_->allreduce_sum(flat));
    }
    for (auto& w : works) w->wait();
    if (device_.is_cuda()) torch::cuda::synchronize();
    double ms = ms_since(t0);
    allreduce_ms = rep == 0 ? ms : std::min(allreduce_ms, ms);
  }
  log::info("all-reduce of all buckets, not overlapped: {:.2f} ms", allreduce_ms);
  return allreduce_ms;
}

bool TrainingRun::train_step(int64_t step, BatchLoader& loader) {
  const int64_t epoch = step / spe_;
  auto t0 = Clock::now();
  watchdog_->beat("data", step);
  // Outside any agree(): an error here on one rank is the uncaught-exception path of
  // mpi_world.hpp (the whole job is aborted at once).
  if (step == state_.step + 1) test_fault_point(world_, "step");
  SampleBatch batch = loader.next();
  const double wait_ms = loader.last_wait_ms();
  LocalStep mine;
  mine.bad_samples = nonfinite_samples(batch);
  torch::Tensor hic = batch.hic.to(device_, /*non_blocking=*/true), epi = batch.epi.to(device_, true);
  mine.rows = hic.size(0);
  std::vector<int64_t> rows(world_.size);
  for (int r = 0; r < world_.size; ++r) rows[r] = rank_slice(step % spe_, cfg_.global_batch, r, world_.size).size();
  cross_rank_->set_rows(rows);
  const double loss_scale = GradBuckets::loss_scale(hic.size(0), cfg_.global_batch, world_.size);

  // Buffers (BatchNorm running statistics): with per-rank statistics they drift apart, so rank
  // 0's are broadcast as DDP does; kept to restore if this step is skipped.
  std::vector<torch::Tensor> saved_buffers;
  {
    torch::NoGradGuard guard;
    for (auto& [name, b] : buffers_) {
      if (!global_stats_ && world_.size > 1 && b.is_floating_point()) comm_->broadcast(b, 0);
      saved_buffers.push_back(b.clone());
    }
  }

  // forward: pre-training's three MIX-HIC terms, fine-tuning's task loss (in the first slot)
  watchdog_->beat("forward", step);
  buckets_->zero_grad();
  auto tf = Clock::now();
  torch::Tensor loss;
  {  // autocast for the forward pass only; backward runs in the forward's dtypes
    Bf16Autocast autocast(device_.type(), cfg_.precision == "bf16");
    if (fine_tuning_) {
      torch::Tensor task = model_->task_loss(hic, epi, batch.target.defined() ? batch.target.to(device_, true) : torch::Tensor(),
                                             cfg_.loop_modality);
      loss = task * loss_scale;
      mine.terms[0] = task.item<double>();
    } else {
      PretrainOutput out = model_->forward(hic, epi);
      loss = out.loss(mcfg_, epoch, loss_scale);
      mine.terms[0] = out.contrastive.item<double>();
      mine.terms[1] = out.orthogonal.item<double>();
      mine.terms[2] = out.mapping.item<double>();
      mine.first_is_global = out.contrastive_is_global;
    }
  }
  if (device_.is_cuda()) torch::cuda::synchronize();
  const double forward_ms = ms_since(tf);

  // backward: full buckets start their all-reduce from the gradient hooks
  watchdog_->beat("backward", step);
  auto tb = Clock::now();
  loss.backward();
  if (device_.is_cuda()) torch::cuda::synchronize();
  const double backward_ms = ms_since(tb);
  watchdog_->beat("gradient all-reduce", step);
  auto ta = Clock::now();
  buckets_->finish();
  if (device_.is_cuda()) torch::cuda::synchronize();
  const double exposed_ms = ms_since(ta);
  if (buckets_->unused_parameters().size() != unused_reported_) {
    unused_reported_ = buckets_->unused_parameters().size();
    if (unused_reported_)
      log::info("step {}: {} parameter tensors are outside this epoch's loss (e.g. {}): their gradients are zero",
                step + 1, unused_reported_, buckets_->unused_parameters().front());
  }

  // agree on loss values, stop signals and non-finite values (one small all-reduce)
  watchdog_->beat("step agreement", step);
  const StepAgreement agreed = agree_on_step(*comm_, mine, cfg_.global_batch);
  bool stopped = false;
  if (agreed.stop_signal || (cfg_.stop_at_step > 0 && step + 1 == cfg_.stop_at_step)) {
    stop_signal_ = agree_on_stop_signal(*comm_);
    stopped = true;
  }

  // optimizer
  watchdog_->beat("optimizer", step);
  auto to = Clock::now();
  const double grad_norm = optimizer_->grad_norm();  // after the all-reduce: identical on every rank
  const bool nonfinite = agreed.nonfinite_loss || agreed.nonfinite_input || !std::isfinite(grad_norm);
  const double lr = schedule_->at(step);
  if (nonfinite) {
    // The most specific cause, said by the rank that knows it: a corrupt sample, else a rank's
    // loss, else (rank 0) the first gradient tensor with NaN/Inf.
    std::string cause;
    const double* t = mine.terms;
    if (agreed.nonfinite_input) {
      if (!mine.bad_samples.empty())
        cause = fmt::format("non-finite input in sample {} (rank {})", fmt::join(mine.bad_samples, ","), world_.rank);
    } else if (agreed.nonfinite_loss) {
      if (mine.nonfinite_loss())
        cause = fine_tuning_ ? fmt::format("non-finite {} loss {} on rank {}", name_of(mcfg_.task), t[0], world_.rank)
                             : fmt::format("non-finite loss (contrastive {}, orthogonal {}, mapping {}) on rank {}",
                                           t[0], t[1], t[2], world_.rank);
    } else if (world_.rank == 0) {
      cause = fmt::format("non-finite gradient (norm {}), first in tensor '{}'", grad_norm,
                          optimizer_->first_nonfinite_grad());
    }
    if (cfg_.nonfinite == "stop") {
      agree(world_, [&] {
        if (!cause.empty()) throw Error(fmt::format("step {}: {}; nonfinite = stop", step + 1, cause));
      });
    }
    torch::NoGradGuard guard;
    for (size_t k = 0; k < buffers_.size(); ++k) buffers_[k].second.copy_(saved_buffers[k]);
    if (!cause.empty())
      log::warn("step {}: {}: update skipped ({} skipped so far)", step + 1, cause, tlog_->skipped_total() + 1);
  } else {
    if (cfg_.clip_grad_norm > 0 && grad_norm > cfg_.clip_grad_norm)
      optimizer_->scale_grads(cfg_.clip_grad_norm / (grad_norm + 1e-6));
    optimizer_->step(lr);
  }
  if (device_.is_cuda()) torch::cuda::synchronize();
  const double optimizer_ms = ms_since(to);
  const int64_t done = step + 1;

  StepRecord rec;
  rec.step = done;
  rec.epoch = epoch;
  rec.samples = cfg_.global_batch;
  rec.contrastive = agreed.contrastive;
  rec.orthogonal = agreed.orthogonal;
  rec.mapping = agreed.mapping;
  const ModelConfig::LossWeights w = fine_tuning_ ? ModelConfig::LossWeights{1, 0, 0} : mcfg_.loss_weights(epoch);
  rec.loss = w.contrastive * agreed.contrastive + w.orthogonal * agreed.orthogonal + w.mapping * agreed.mapping;
  rec.lr = lr;
  rec.grad_norm = grad_norm;
  rec.skipped = nonfinite;
  rec.data_wait_ms = wait_ms;
  rec.forward_ms = forward_ms;
  rec.backward_ms = backward_ms;
  rec.allreduce_exposed_ms = exposed_ms;
  rec.allreduce_hidden = buckets_->hidden_fraction();
  rec.optimizer_ms = optimizer_ms;
  rec.step_ms = ms_since(t0);
  tlog_->record(rec);
  if (done % cfg_.log_every == 0 || done == total_steps_ || stopped) tlog_->progress();
  if (done % cfg_.straggler_every == 0) tlog_->stragglers();

  if (done == total_steps_ || stopped) training_rss_mb_ = peak_rss_mb();  // before the last checkpoint's buffers
  if (stopped || done % cfg_.checkpoint_every == 0 || done == total_steps_) save_checkpoint(done);
  return stopped;
}

void TrainingRun::save_checkpoint(int64_t step) {
  watchdog_->beat("checkpoint", step);
  RunState s = state_;
  s.step = step;
  s.lr = schedule_->at(step);
  s.adamw_updates = optimizer_->updates();
  s.skipped = tlog_->skipped_total();
  s.parameter_hash = world_.rank == 0 ? parameter_hash(*model_) : "";
  store_->commit(step, corpus_->corpus_id(),
                 [&](const std::string& dir) { return save_checkpoint_files(dir, s, parts(), world_); });
}

int TrainingRun::run() {
  agree(world_, [&] {
    test_fault_point(world_, "config");
    cfg_.validate();
    // The run directory first: an unusable --run-dir fails now, not after the corpus and model.
    if (world_.rank == 0) check_output_dir(cfg_.run_dir, "run-dir");
  });
  watchdog_.emplace(cfg_.hang_timeout_s, world_);

  // One BLAS/OpenMP pool per rank, sized to the cores this rank may use.
  const int local_ranks = node_local(world_).first;
  threads_ = cfg_.threads > 0 ? int(cfg_.threads) : std::max(1, cores_available() / std::max(1, local_ranks));
  set_compute_threads(threads_);  // LibTorch's and OpenBLAS's pools (bitwise results need both)

  open_corpus();
  make_device_and_comm();
  make_model();
  const double flops_train = mcfg_.training_flops(fine_tuning_ && cfg_.freeze_backbone, cfg_.loop_modality,
                                                  cfg_.global_batch / world_.size);
  resume();
  write_run_directory();
  log::info("model: {:.3f} M parameters, {:.2f} GFLOP per training sample (forward + backward)",
            model_->parameter_count() / 1e6, flops_train / 1e9);
  log::info("data: {} train samples, global batch {} = {} ranks x ~{}, {} steps per epoch, {} steps in all; io {}, "
            "prefetch {}", plan_->train.size(), cfg_.global_batch, world_.size, cfg_.global_batch / world_.size, spe_,
            total_steps_, cfg_.io, cfg_.prefetch);
  log::info("gradients: {} buckets ({} MB first, {} MB each), {} all-reduce in {}; batch statistics {}; {} threads per "
            "rank; device {}", buckets_->bucket_count(), cfg_.first_bucket_mb, cfg_.bucket_mb, comm_->name(),
            cfg_.grad_reduce_dtype,
            global_stats_ ? "over the global batch" : "per rank", threads_, device_name_);
  const double allreduce_ms = measure_allreduce();

  const int64_t start_step = state_.step;
  if (start_step >= total_steps_) {
    log::info("nothing to do: the checkpoint is at step {}, the run ends at step {}", start_step, total_steps_);
    return 0;
  }
  const double peak = device_.is_cuda() ? cfg_.peak_tflops * 1e12 : 0;
  agree(world_, [&] {
    test_fault_point(world_, "training-log");
    tlog_.emplace(cfg_.run_dir, world_, total_steps_, state_.restart, allreduce_ms, flops_train, peak);
  });
  tlog_->set_skipped_total(state_.skipped);
  if (fine_tuning_) tlog_->set_task_loss(task_loss_name(mcfg_));
  std::optional<BatchLoader> loader;
  agree(world_, [&] {
    test_fault_point(world_, "loader");
    loader.emplace(*corpus_, *plan_, Augmentation{cfg_.augment_reverse, cfg_.augment_track_noise}, start_step,
                   total_steps_, int(cfg_.prefetch), device_.is_cuda());
  });
  install_stop_handlers();

  int64_t step = start_step;
  bool stopped = false;
  const auto run_t0 = Clock::now();
  while (step < total_steps_ && !stopped) stopped = train_step(step++, *loader);

  const double secs = std::chrono::duration<double>(Clock::now() - run_t0).count();
  double rss[2] = {training_rss_mb_, peak_rss_mb()};
  comm_->allreduce_scalars(rss, 2, Comm::Reduce::max);
  log::info("{} steps in {:.1f} s ({:.2f} samples/s); peak RSS per rank {:.0f} MB while training, {:.0f} MB with the "
            "last checkpoint (max over ranks)",
            step - start_step, secs, (step - start_step) * cfg_.global_batch / std::max(secs, 1e-9), rss[0], rss[1]);
  log::info("parameter hash {} at step {}", parameter_hash(*model_), step);
  if (stopped) {
    log::info("stopped at step {} on {}: checkpoint written; resume with --resume auto (exit code {})", step,
              stop_signal_ == SIGUSR1 ? "SIGUSR1" : stop_signal_ == SIGTERM ? "SIGTERM" : "stop-at-step",
              kExitStoppedForRequeue);
    return kExitStoppedForRequeue;
  }
  log::info("training finished at step {}", step);
  return 0;
}

}  // namespace

std::string parameter_hash(const torch::nn::Module& model) {
  Hasher h;
  for (auto& [name, t] : state_dict(model)) {
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    h.update(name.data(), name.size());
    h.update(c.data_ptr(), size_t(c.numel()) * c.element_size());
  }
  return hex64(h.digest());
}

int run_training(const MpiWorld& world, const TrainSetup& setup) { return TrainingRun(world, setup).run(); }

}  // namespace mixhic
