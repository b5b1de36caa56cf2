// The training loop of mixhic-train (see include/mixhic/trainer.hpp).
#include "mixhic/trainer.hpp"

#include <ATen/autocast_mode.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "mixhic/batch_loader.hpp"
#include "mixhic/batch_statistics.hpp"
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
#include "mixhic/sample_order.hpp"
#include "mixhic/state_dict.hpp"
#include "mixhic/training_log.hpp"

namespace fs = std::filesystem;

namespace mixhic {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// ---- stop signals ----------------------------------------------------------------------------
// SIGUSR1 (Slurm's --signal) and SIGTERM (scancel, preemption) only set a flag here; the ranks
// agree on it at the next step boundary, checkpoint and exit kExitStoppedForRequeue.
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// ---- hang watchdog ---------------------------------------------------------------------------
// A rank blocked in a collective whose peer died or hangs would wait forever (NCCL) or until the
// launcher notices (MPI). If no phase change happens for hang-timeout seconds, this thread names
// the phase and step, aborts the communicator (ncclCommAbort) and ends the whole job.
// It starts before anything collective happens (start-up stages beat it too); the gradient
// communicator, once made, is attached so that a hang inside it can be aborted.
class HangWatchdog {
 public:
  HangWatchdog(double timeout_s, const MpiWorld& world) : timeout_ms_(int64_t(timeout_s * 1e3)), world_(world) {
    beat("start-up", 0);
    thread_ = std::thread([this] { watch(); });
  }
  void attach(Comm* comm) { comm_.store(comm); }
  ~HangWatchdog() {
    stop_.store(true);
    thread_.join();
  }
  void beat(const char* phase, int64_t step) {
    phase_.store(phase);
    step_.store(step);
    last_.store(now_ms());
  }

 private:
  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
  }
  void watch() {
    while (!stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const int64_t idle = now_ms() - last_.load();
      // Start-up stages (opening a large corpus, verifying checkpoint hashes, NCCL set-up) may
      // legitimately take longer than a step: they get at least kStartupFloorMs.
      const bool starting = std::string(phase_.load()).rfind("start-up", 0) == 0;
      if (idle > (starting ? std::max(timeout_ms_, kStartupFloorMs) : timeout_ms_)) {
        log::error(fmt::format("no progress for {:.0f} s in phase '{}' of step {}: another rank has probably died or "
                               "hangs (hang-timeout = {:.0f} s); aborting the job",
                               idle / 1e3, phase_.load(), step_.load(), timeout_ms_ / 1e3));
        if (Comm* c = comm_.load()) c->abort();
        MPI_Abort(world_.comm, 3);
      }
    }
  }
  static constexpr int64_t kStartupFloorMs = 600'000;
  int64_t timeout_ms_;
  std::atomic<Comm*> comm_{nullptr};
  MpiWorld world_;
  std::atomic<const char*> phase_{""};
  std::atomic<int64_t> step_{0}, last_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

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

// ---- helpers ---------------------------------------------------------------------------------
double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

std::string rng_file(int rank) { return fmt::format("rng-rank-{:05d}.pt", rank); }

// Keys of two INI texts that differ, "key: a vs b" each.
std::vector<std::string> ini_differences(const std::string& a, const std::string& b) {
  auto parse = [](const std::string& text) {
    std::map<std::string, std::string> m;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      size_t eq = line.find(" = ");
      if (eq != std::string::npos) m[line.substr(0, eq)] += (m.count(line.substr(0, eq)) ? "," : "") + line.substr(eq + 3);
    }
    return m;
  };
  auto ma = parse(a), mb = parse(b);
  std::vector<std::string> out;
  for (auto& [k, v] : ma)
    if (!mb.count(k) || mb[k] != v) out.push_back(fmt::format("{}: {} vs {}", k, v, mb.count(k) ? mb[k] : "(unset)"));
  for (auto& [k, v] : mb)
    if (!ma.count(k)) out.push_back(fmt::format("{}: (unset) vs {}", k, v));
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputFormatError(path, "file", "a readable file", "missing");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Fine-tuning's start: the backbone of a pre-training checkpoint (resolve_checkpoint's `path`). Strict: the architecture
// keys must equal this run's and every backbone tensor must be in the file with its shape.
void load_pretrained(MixHicModelImpl& model, const std::string& path, const std::string& model_ini) {
  const std::string dir = resolve_checkpoint(path);
  std::vector<std::string> differ;
  for (const std::string& d : ini_differences(read_text(dir + "/model.ini"), model_ini))
    for (const char* key : {"embed-dim:", "depth:", "heads:", "mlp-ratio:", "reference-batch-attention:"})
      if (d.rfind(key, 0) == 0) differ.push_back(d);
  if (!differ.empty())
    throw InputFormatError(dir + "/model.ini", "architecture", "the architecture keys of this run",
                           fmt::format("{} (pre-trained vs now)", fmt::join(differ, "; ")));
  LoadReport report = load_state_dict(model, dir + "/model.pt", MixHicModelImpl::is_head_key);
  const std::string step = key_value(parse_key_values(dir + "/state.txt"), "step", dir + "/state.txt");
  log::info("pre-trained backbone from {} (step {}): {} tensors loaded, {} head tensors start afresh", dir, step,
            state_dict(model).size() - report.fresh.size(), report.fresh.size());
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

int run_training(const MpiWorld& world, const TrainSetup& setup) {
  TrainConfig cfg = setup.train;
  ModelConfig mcfg = setup.model;
  // Each start-up stage runs inside agree(): a failure on any rank ends every rank with one line
  // (tests/test_trainer.cpp injects one at each stage, on one rank of two).
  agree(world, [&] {
    test_fault_point(world, "config");
    cfg.validate();
    // The run directory first: an unusable --run-dir fails now, not after the corpus and model.
    if (world.rank == 0) check_output_dir(cfg.run_dir, "run-dir");
  });
  // Declared before the watchdog, so that the watchdog (which may abort it) is stopped first.
  std::unique_ptr<Comm> comm;
  HangWatchdog watchdog(cfg.hang_timeout_s, world);

  // ---- threads: one BLAS/OpenMP pool per rank, sized to the cores this rank may use --------------
  auto [local_ranks, local_rank] = node_local(world);
  const int threads = cfg.threads > 0 ? int(cfg.threads) : std::max(1, cores_available() / std::max(1, local_ranks));
  set_compute_threads(threads);  // LibTorch's and OpenBLAS's pools (bitwise results need both)

  // ---- corpus (parallel HDF5) and model geometry ----------------------------------------------
  int mpi_threads = MPI_THREAD_SINGLE;
  MPI_Query_thread(&mpi_threads);
  if (cfg.io == "mpio" && mpi_threads < MPI_THREAD_MULTIPLE) {
    log::warn("MPI provides thread level {} (< MPI_THREAD_MULTIPLE): the loader thread cannot use MPI-IO; io = posix",
              mpi_threads);
    cfg.io = "posix";
  }
  std::unique_ptr<Corpus> corpus;
  watchdog.beat("start-up: corpus", 0);
  agree(world, [&] {
    test_fault_point(world, "corpus");
    if (!fs::exists(cfg.corpus))
      throw InputFormatError(cfg.corpus, "corpus", "a corpus file written by mixhic-prep", "no such file");
  });
  agree(world, [&] { corpus = std::make_unique<Corpus>(cfg.corpus, cfg.io == "mpio" ? &world.comm : nullptr); });
  const std::vector<int64_t>& train_split = corpus->split_indices(0);
  agree(world, [&] {
    test_fault_point(world, "geometry");
    mcfg.validate_keys();  // a bad key is the config's error, not the corpus's
    mcfg.from_corpus_geometry(corpus->geometry());
    try {
      mcfg.validate_geometry();
    } catch (const ConfigError& e) {
      throw InputFormatError(cfg.corpus, "geometry", "windows this model can take", e.what());
    }
    if (cfg.global_batch < world.size)
      throw ConfigError(fmt::format("global-batch: {} is smaller than the {} ranks; every rank needs a sample per step",
                                    cfg.global_batch, world.size));
    if (int64_t(train_split.size()) < cfg.global_batch)
      throw InputFormatError(cfg.corpus, "splits/train",
                             fmt::format("at least global-batch = {} samples", cfg.global_batch),
                             fmt::format("{} samples", train_split.size()));
  });

  BatchPlan plan{train_split, cfg.global_batch, cfg.seed, world.rank, world.size};
  const int64_t spe = plan.steps_per_epoch();
  int64_t total_steps = cfg.epochs * spe;
  if (cfg.max_steps > 0) total_steps = std::min(total_steps, cfg.max_steps);

  // ---- device and communicator ------------------------------------------------------------
  torch::Device device(torch::kCPU);
  std::string device_name = "cpu";
  agree(world, [&] { test_fault_point(world, "device"); });
  if (cfg.device == "cuda") {
    agree(world, [&] {
      if (!torch::cuda::is_available())
        throw ConfigError("device: cuda requested but this LibTorch build or node has no usable GPU");
    });
    const char* slurm_local = std::getenv("SLURM_LOCALID");
    const int gpu = (slurm_local ? std::atoi(slurm_local) : local_rank) % int(torch::cuda::device_count());
    device = torch::Device(torch::kCUDA, gpu);
    device_name = fmt::format("cuda:{}", gpu);
  }
  const std::string comm_kind = cfg.comm == "auto" ? (cfg.device == "cuda" ? "nccl" : "mpi") : cfg.comm;
  watchdog.beat("start-up: communicator", 0);
  // The fault point has an agree of its own: the communicator's creation is collective, and a
  // rank that failed before it would leave the others inside it.
  agree(world, [&] { test_fault_point(world, "communicator"); });
  agree(world, [&] {
    if (world.size == 1) comm = make_single_comm();
    else if (comm_kind == "nccl") comm = make_nccl_comm(world, device.index());
    else comm = make_mpi_comm(world);
  });
  watchdog.attach(comm.get());

  // ---- model, buckets, optimizer ------------------------------------------------------------
  watchdog.beat("start-up: model", 0);
  torch::manual_seed(cfg.seed);  // the same initial weights everywhere (rank 0's are broadcast anyway)
  MixHicModel model(nullptr);
  agree(world, [&] {
    test_fault_point(world, "model");
    model = MixHicModel(mcfg);
    model->to(device);
    model->train();
  });
  CommCrossRankBatch cross_rank(*comm);
  const bool global_stats = cfg.batch_statistics == "global" && world.size > 1;
  if (global_stats) model->set_cross_rank_batch(&cross_rank);
  const bool fine_tuning = mcfg.task != "none";
  agree(world, [&] {
    test_fault_point(world, "task");
    const std::string& source = corpus->sample_source();
    const bool ok = mcfg.task == "loop"         ? source == "loops"
                    : mcfg.task == "expression" ? source == "tss"
                    : mcfg.task == "hic_map"    ? source != "loops"
                                                : true;
    if (!ok)
      throw InputFormatError(cfg.corpus, "sample-source",
                             fmt::format("a corpus for task = {} (mixhic-prep samples = {})", mcfg.task,
                                         mcfg.task == "loop" ? "loops" : mcfg.task == "expression" ? "tss" : "tiles | tss"),
                             source);
    if (!fine_tuning && (!cfg.pretrained.empty() || cfg.freeze_backbone))
      throw ConfigError("pretrained / freeze-backbone: fine-tuning keys, but task = none (pre-training)");
  });
  if (fine_tuning && !cfg.pretrained.empty()) {
    agree(world, [&] {
      test_fault_point(world, "pretrained");
      load_pretrained(*model, cfg.pretrained, setup.model_ini);
    });
  }
  if (cfg.freeze_backbone) {
    // A frozen backbone also keeps its BatchNorm statistics: its modules run in eval mode.
    for (auto& child : model->named_children())
      if (!MixHicModelImpl::is_head_key(child.key() + ".")) child.value()->eval();
  }
  NamedTensors params;
  for (auto& p : model->named_parameters()) {
    if (cfg.freeze_backbone && !MixHicModelImpl::is_head_key(p.key())) {
      p.value().requires_grad_(false);
      continue;
    }
    params.emplace_back(p.key(), p.value());
  }
  NamedTensors buffers;
  for (auto& b : model->named_buffers()) buffers.emplace_back(b.key(), b.value());
  std::unique_ptr<GradBuckets> buckets;
  agree(world, [&] { test_fault_point(world, "buckets"); });
  agree(world, [&] {
    buckets = std::make_unique<GradBuckets>(params, *comm, size_t(cfg.first_bucket_mb * (1 << 20)),
                                            size_t(cfg.bucket_mb * (1 << 20)));
  });
  FlatAdamW optimizer(*buckets, params, {cfg.beta1, cfg.beta2, cfg.adam_eps, cfg.weight_decay});
  LrSchedule schedule{cfg.lr_schedule, cfg.lr, cfg.min_lr, cfg.warmup_steps, total_steps};
  const double flops_fwd = mcfg.forward_flops();

  // ---- resume ----------------------------------------------------------------------------------
  watchdog.beat("start-up: resume", 0);
  CheckpointStore store(cfg.run_dir, world, cfg.keep_checkpoints);
  std::string resume_dir;
  agree(world, [&] {
    test_fault_point(world, "resume");
    if (world.rank != 0) return;
    store.remove_partial_checkpoints();  // a run killed (or out of space) while writing one
    if (cfg.resume == "auto") {
      resume_dir = store.find_resumable();
      if (resume_dir.empty() && !store.committed().empty())
        throw InputFormatError(store.directory(), "checkpoints", "at least one checkpoint whose manifest verifies",
                               "none does (see the warnings above); move the directory away to start afresh");
    } else if (cfg.resume == "none") {
      if (!store.committed().empty())
        throw ConfigError(fmt::format("resume = none, but {} already holds checkpoints (newest {}): use --resume auto to "
                                      "continue that run, or another --run-dir",
                                      store.directory(), store.committed().back()));
    } else {
      resume_dir = cfg.resume;
      std::string problem = CheckpointManifest::read(resume_dir + "/MANIFEST").verify(resume_dir);
      if (!problem.empty()) throw InputFormatError(resume_dir, "MANIFEST", "every file present and matching", problem);
    }
  });
  {
    std::vector<uint8_t> bytes(resume_dir.begin(), resume_dir.end());
    if (world.rank != 0) bytes.clear();
    auto all = allgather_bytes(world, bytes);  // rank 0's path, to everyone
    resume_dir.assign(all.begin(), all.end());
  }

  int64_t start_step = 0, restart = 0, skipped_before = 0;
  bool rng_restored = false;
  if (!resume_dir.empty()) {
    agree(world, [&] {
      test_fault_point(world, "load-checkpoint");
      KeyValues state = parse_key_values(resume_dir + "/state.txt");
      const std::string sp = resume_dir + "/state.txt";
      CheckpointManifest manifest = CheckpointManifest::read(resume_dir + "/MANIFEST");
      if (manifest.corpus_id != corpus->corpus_id())
        throw InputFormatError(resume_dir, "corpus-id",
                               fmt::format("{} (the corpus {} given now)", corpus->corpus_id(), cfg.corpus),
                               fmt::format("{}: the checkpoint was trained on another corpus", manifest.corpus_id));
      auto diffs = ini_differences(read_text(resume_dir + "/model.ini"), setup.model_ini);
      if (!diffs.empty())
        throw InputFormatError(resume_dir + "/model.ini", "model config", "the model keys of this run",
                               fmt::format("{} differ ({}): resume with the checkpoint's model config", diffs.size(),
                                           fmt::join(diffs, "; ")));
      for (const char* key : {"global-batch", "seed"}) {
        std::string theirs = key_value(state, key, sp);
        std::string ours = std::string(key) == "seed" ? std::to_string(cfg.seed) : std::to_string(cfg.global_batch);
        if (theirs != ours)
          throw InputFormatError(sp, key, ours + " (this run)",
                                 theirs + ": the sample order depends on it; resume with the checkpoint's value");
      }
      start_step = std::stoll(key_value(state, "step", sp));
      restart = std::stoll(key_value(state, "restart", sp)) + 1;
      skipped_before = std::stoll(key_value(state, "skipped-steps", sp));
      load_state_dict(*model, resume_dir + "/model.pt");
      optimizer.load_state(load_tensors(resume_dir + "/optimizer.pt"), resume_dir + "/optimizer.pt");
      const std::string rng = resume_dir + "/" + rng_file(world.rank);
      if (manifest.world_size == world.size && fs::exists(rng)) {
        NamedTensors gens = load_tensors(rng);
        for (auto& [name, t] : gens) {
          if (name != "cpu" && !(name == "cuda" && device.is_cuda())) continue;
          at::Generator gen = torch::globalContext().defaultGenerator(name == "cpu" ? torch::Device(torch::kCPU) : device);
          std::lock_guard<std::mutex> lock(gen.mutex());
          gen.set_state(t);
        }
        rng_restored = true;
      } else if (world.rank == 0 && mcfg.dropout > 0) {
        log::warn("resuming on {} ranks from a checkpoint of {}: each rank's dropout stream starts afresh", world.size,
                  manifest.world_size);
      }
      log::info("resumed from {} (step {}, written on {} ranks; restart {})", resume_dir, start_step, manifest.world_size,
                restart);
    });
  }
  if (!rng_restored) {
    // Per-rank streams (dropout), derived from the seed, the rank and the step.
    torch::manual_seed(hash64(&cfg.seed, sizeof cfg.seed, uint64_t(world.rank) * 1000003 + uint64_t(start_step)));
  }

  // ---- run directory, start-up report ------------------------------------------------------------
  watchdog.beat("start-up: run directory", 0);
  {
    char host[256] = "";
    gethostname(host, sizeof host);
    std::string mine = fmt::format("{} {} {} {}\n", world.rank, host, getpid(), device_name);
    auto all = allgather_bytes(world, std::vector<uint8_t>(mine.begin(), mine.end()));
    agree(world, [&] {
      test_fault_point(world, "run-dir");
      if (world.rank != 0) return;
      // Room for the next checkpoint: the model and AdamW's two moments (~3x the parameters).
      int64_t state_bytes = 0;
      for (auto& [name, t] : state_dict(*model)) state_bytes += int64_t(t.numel() * t.element_size());
      check_free_space(cfg.run_dir, 3 * state_bytes + (1 << 20), "a checkpoint (model and optimizer state)");
      write_durably(cfg.run_dir + "/config.ini", "# mixhic-train: " + setup.command_line + "\n" + setup.train_ini +
                                                    setup.model_ini);
      write_durably(cfg.run_dir + "/ranks.txt", "# rank host pid device\n" + std::string(all.begin(), all.end()));
    });
  }
  log::info("model: {:.3f} M parameters, {:.2f} GFLOP forward per sample ({:.2f} GFLOP per training sample)",
            model->parameter_count() / 1e6, flops_fwd / 1e9, 3 * flops_fwd / 1e9);
  log::info("data: {} train samples, global batch {} = {} ranks x ~{}, {} steps per epoch, {} steps in all; io {}, "
            "prefetch {}", train_split.size(), cfg.global_batch, world.size, cfg.global_batch / world.size, spe,
            total_steps, cfg.io, cfg.prefetch);
  log::info("gradients: {} buckets ({} MB first, {} MB each), {} all-reduce; batch statistics {}; {} threads per rank; "
            "device {}", buckets->bucket_count(), cfg.first_bucket_mb, cfg.bucket_mb, comm->name(),
            global_stats ? "over the global batch" : "per rank", threads, device_name);

  // An unhidden all-reduce of every bucket, for the progress line's "hidden" figure.
  double allreduce_ms = 0;
  if (world.size > 1) {
    for (int rep = 0; rep < 3; ++rep) {
      buckets->zero_grad();
      comm->barrier();
      auto t0 = Clock::now();
      std::vector<std::unique_ptr<CommWork>> works;
      for (size_t b = 0; b < buckets->bucket_count(); ++b) {
        torch::Tensor flat = buckets->bucket(b).flat;  // shares the bucket's storage
        works.push_back(comm->allreduce_sum(flat));
      }
      for (auto& w : works) w->wait();
      if (device.is_cuda()) torch::cuda::synchronize();
      double ms = ms_since(t0);
      allreduce_ms = rep == 0 ? ms : std::min(allreduce_ms, ms);
    }
    log::info("all-reduce of all buckets, not overlapped: {:.2f} ms", allreduce_ms);
  }

  if (start_step >= total_steps) {
    log::info("nothing to do: the checkpoint is at step {}, the run ends at step {}", start_step, total_steps);
    return 0;
  }

  const double peak = device.is_cuda() ? cfg.peak_tflops * 1e12 : 0;
  std::optional<TrainingLog> tlog_slot;
  agree(world, [&] {
    test_fault_point(world, "training-log");
    tlog_slot.emplace(cfg.run_dir, world, total_steps, restart, allreduce_ms, 3 * flops_fwd, peak);
  });
  TrainingLog& tlog = *tlog_slot;
  tlog.set_skipped_total(skipped_before);
  if (fine_tuning)
    tlog.set_task_loss(mcfg.task == "loop"                                   ? "bce"
                       : mcfg.task == "expression" && mcfg.prism_contexts > 0 ? "huber + uniformity"
                                                                              : "mse");
  std::optional<BatchLoader> loader_slot;
  agree(world, [&] {
    test_fault_point(world, "loader");
    loader_slot.emplace(*corpus, plan, Augmentation{cfg.augment_reverse, cfg.augment_track_noise}, start_step,
                        total_steps, int(cfg.prefetch));
  });
  BatchLoader& loader = *loader_slot;
  install_stop_handlers();

  auto save_checkpoint = [&](int64_t step) {
    watchdog.beat("checkpoint", step);
    store.commit(step, corpus->corpus_id(), [&](const std::string& dir) {
      std::vector<std::string> files;
      if (world.rank == 0) {
        save_state_dict(*model, dir + "/model.pt");
        save_tensors(optimizer.state(), dir + "/optimizer.pt");
        write_durably(dir + "/model.ini", setup.model_ini);
        write_durably(dir + "/train.ini", setup.train_ini);
        KeyValues state = {{"step", std::to_string(step)},
                           {"epoch", std::to_string(step / spe)},
                           {"position-in-epoch", std::to_string((step % spe) * cfg.global_batch)},
                           {"global-batch", std::to_string(cfg.global_batch)},
                           {"seed", std::to_string(cfg.seed)},
                           {"lr", fmt::format("{:.9g}", schedule.at(step))},
                           {"adamw-updates", std::to_string(optimizer.updates())},
                           {"skipped-steps", std::to_string(tlog.skipped_total())},
                           {"restart", std::to_string(restart)},
                           {"world-size", std::to_string(world.size)},
                           {"corpus", cfg.corpus},
                           {"corpus-id", corpus->corpus_id()},
                           {"task", mcfg.task},
                           {"pretrained", cfg.pretrained.empty() ? "none" : cfg.pretrained},
                           {"parameter-hash", parameter_hash(*model)}};
        write_durably(dir + "/state.txt", render_key_values(state));
        files = {"model.pt", "optimizer.pt", "model.ini", "train.ini", "state.txt"};
      }
      NamedTensors gens = {{"cpu", torch::globalContext().defaultGenerator(torch::kCPU).get_state()}};
      if (device.is_cuda()) gens.emplace_back("cuda", torch::globalContext().defaultGenerator(device).get_state());
      save_tensors(gens, dir + "/" + rng_file(world.rank));
      files.push_back(rng_file(world.rank));
      return files;
    });
  };

  // ---- the loop ----------------------------------------------------------------------------
  int64_t step = start_step;
  bool stopped = false;
  int stop_signal = 0;
  const auto run_t0 = Clock::now();
  const int64_t first_step = start_step;
  size_t unused_reported = 0;
  double training_rss_mb = 0;
  while (step < total_steps) {
    const int64_t epoch = step / spe;
    auto t0 = Clock::now();
    watchdog.beat("data", step);
    // Outside any agree(): an error here on one rank is the uncaught-exception path of
    // mpi_world.hpp (the whole job is aborted at once).
    if (step == start_step + 1) test_fault_point(world, "step");
    SampleBatch batch = loader.next();
    const double wait_ms = loader.last_wait_ms();
    // Samples with NaN/Inf values (a corrupt corpus): named if the step turns out non-finite.
    std::vector<int64_t> bad_samples;
    if (!(torch::isfinite(batch.hic).all().item<bool>() && torch::isfinite(batch.epi).all().item<bool>()))
      for (size_t k = 0; k < batch.samples.size(); ++k)
        if (!(torch::isfinite(batch.hic[k]).all().item<bool>() && torch::isfinite(batch.epi[k]).all().item<bool>()))
          bad_samples.push_back(batch.samples[k]);
    torch::Tensor hic = batch.hic.to(device, /*non_blocking=*/true), epi = batch.epi.to(device, true);
    std::vector<int64_t> rows(world.size);
    for (int r = 0; r < world.size; ++r) rows[r] = rank_slice(step % spe, cfg.global_batch, r, world.size).size();
    cross_rank.set_rows(rows);
    const double per_sample_scale = double(hic.size(0)) * world.size / double(cfg.global_batch);

    // Buffers (BatchNorm running statistics): with per-rank statistics they drift apart, so rank
    // 0's are broadcast as DDP does; kept to restore if this step is skipped.
    std::vector<torch::Tensor> saved_buffers;
    {
      torch::NoGradGuard guard;
      for (auto& [name, b] : buffers) {
        if (!global_stats && world.size > 1 && b.is_floating_point()) comm->broadcast(b, 0);
        saved_buffers.push_back(b.clone());
      }
    }

    // forward
    watchdog.beat("forward", step);
    buckets->zero_grad();
    auto tf = Clock::now();
    if (cfg.precision == "bf16") {
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    }
    // Pre-training: the three MIX-HIC terms; fine-tuning: the task loss (in the first slot).
    double terms[3] = {0, 0, 0};
    bool first_is_global = false;
    torch::Tensor loss;
    if (fine_tuning) {
      torch::Tensor task = model->task_loss(hic, epi, batch.target.defined() ? batch.target.to(device) : torch::Tensor(),
                                            cfg.loop_modality);
      loss = task * per_sample_scale;
      terms[0] = task.item<double>();
    } else {
      PretrainOutput out = model->forward(hic, epi);
      loss = out.loss(mcfg, epoch, per_sample_scale);
      terms[0] = out.contrastive.item<double>();
      terms[1] = out.orthogonal.item<double>();
      terms[2] = out.mapping.item<double>();
      first_is_global = out.contrastive_is_global;
    }
    if (cfg.precision == "bf16") {
      at::autocast::clear_cache();
      at::autocast::set_enabled(false);
    }
    if (device.is_cuda()) torch::cuda::synchronize();
    const double forward_ms = ms_since(tf);

    // backward: full buckets start their all-reduce from the gradient hooks
    watchdog.beat("backward", step);
    auto tb = Clock::now();
    loss.backward();
    if (device.is_cuda()) torch::cuda::synchronize();
    const double backward_ms = ms_since(tb);
    watchdog.beat("gradient all-reduce", step);
    auto ta = Clock::now();
    buckets->finish();
    if (device.is_cuda()) torch::cuda::synchronize();
    const double exposed_ms = ms_since(ta);
    if (buckets->unused_parameters().size() != unused_reported) {
      unused_reported = buckets->unused_parameters().size();
      if (unused_reported)
        log::info("step {}: {} parameter tensors are outside this epoch's loss (e.g. {}): their gradients are zero", step + 1,
                  unused_reported, buckets->unused_parameters().front());
    }

    // agree on loss values, stop signals and non-finite losses (one small all-reduce)
    watchdog.beat("step agreement", step);
    const double b_share = double(hic.size(0)) / double(cfg.global_batch);
    const double con = terms[0], orth = terms[1], map = terms[2];
    const bool local_bad = !std::isfinite(con) || !std::isfinite(orth) || !std::isfinite(map);
    double agreed[6] = {first_is_global ? con / world.size : con * b_share, orth * b_share, map * b_share,
                        local_bad ? 1.0 : 0.0, g_stop_signal.load() ? 1.0 : 0.0, bad_samples.empty() ? 0.0 : 1.0};
    MIXHIC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, agreed, 6, MPI_DOUBLE, MPI_SUM, world.comm));
    if (agreed[4] > 0 || (cfg.stop_at_step > 0 && step + 1 == cfg.stop_at_step)) {
      int sig = g_stop_signal.load(), any = 0;
      MIXHIC_MPI_CHECK(MPI_Allreduce(&sig, &any, 1, MPI_INT, MPI_MAX, world.comm));
      stop_signal = any;
      stopped = true;
    }

    // optimizer
    watchdog.beat("optimizer", step);
    auto to = Clock::now();
    const double grad_norm = optimizer.grad_norm();  // after the all-reduce: identical on every rank
    const bool nonfinite = agreed[3] > 0 || agreed[5] > 0 || !std::isfinite(grad_norm);
    const double lr = schedule.at(step);
    if (nonfinite) {
      // The most specific cause, said by the rank that knows it: a corrupt sample, else a rank's
      // loss, else (rank 0) the first gradient tensor with NaN/Inf.
      std::string cause;
      if (agreed[5] > 0) {
        if (!bad_samples.empty())
          cause = fmt::format("non-finite input in sample {} (rank {})", fmt::join(bad_samples, ","), world.rank);
      } else if (agreed[3] > 0) {
        if (local_bad)
          cause = fine_tuning ? fmt::format("non-finite {} loss {} on rank {}", mcfg.task, con, world.rank)
                              : fmt::format("non-finite loss (contrastive {}, orthogonal {}, mapping {}) on rank {}", con,
                                            orth, map, world.rank);
      } else if (world.rank == 0) {
        cause = fmt::format("non-finite gradient (norm {}), first in tensor '{}'", grad_norm,
                            optimizer.first_nonfinite_grad());
      }
      if (cfg.nonfinite == "stop") {
        agree(world, [&] {
          if (!cause.empty()) throw Error(fmt::format("step {}: {}; nonfinite = stop", step + 1, cause));
        });
      }
      torch::NoGradGuard guard;
      for (size_t k = 0; k < buffers.size(); ++k) buffers[k].second.copy_(saved_buffers[k]);
      if (!cause.empty())
        log::warn("step {}: {}: update skipped ({} skipped so far)", step + 1, cause, tlog.skipped_total() + 1);
    } else {
      if (cfg.clip_grad_norm > 0 && grad_norm > cfg.clip_grad_norm)
        optimizer.scale_grads(cfg.clip_grad_norm / (grad_norm + 1e-6));
      optimizer.step(lr);
    }
    if (device.is_cuda()) torch::cuda::synchronize();
    const double optimizer_ms = ms_since(to);
    ++step;

    StepRecord rec;
    rec.step = step;
    rec.epoch = epoch;
    rec.samples = cfg.global_batch;
    rec.contrastive = agreed[0];
    rec.orthogonal = agreed[1];
    rec.mapping = agreed[2];
    const ModelConfig::LossWeights w = fine_tuning ? ModelConfig::LossWeights{1, 0, 0} : mcfg.loss_weights(epoch);
    rec.loss = w.contrastive * agreed[0] + w.orthogonal * agreed[1] + w.mapping * agreed[2];
    rec.lr = lr;
    rec.grad_norm = grad_norm;
    rec.skipped = nonfinite;
    rec.data_wait_ms = wait_ms;
    rec.forward_ms = forward_ms;
    rec.backward_ms = backward_ms;
    rec.allreduce_exposed_ms = exposed_ms;
    rec.allreduce_hidden = buckets->hidden_fraction();
    rec.optimizer_ms = optimizer_ms;
    rec.step_ms = ms_since(t0);
    tlog.record(rec);
    if (step % cfg.log_every == 0 || step == total_steps || stopped) tlog.progress();
    if (step % cfg.straggler_every == 0) tlog.stragglers();

    if (step == total_steps || stopped) training_rss_mb = peak_rss_mb();  // before the last checkpoint's buffers
    if (stopped || step % cfg.checkpoint_every == 0 || step == total_steps) save_checkpoint(step);
    if (stopped) break;
  }

  const double secs = std::chrono::duration<double>(Clock::now() - run_t0).count();
  double rss[2] = {training_rss_mb, peak_rss_mb()}, max_rss[2] = {0, 0};
  MIXHIC_MPI_CHECK(MPI_Allreduce(rss, max_rss, 2, MPI_DOUBLE, MPI_MAX, world.comm));
  log::info("{} steps in {:.1f} s ({:.2f} samples/s); peak RSS per rank {:.0f} MB while training, {:.0f} MB with the "
            "last checkpoint (max over ranks)",
            step - first_step, secs, (step - first_step) * cfg.global_batch / std::max(secs, 1e-9), max_rss[0],
            max_rss[1]);
  log::info("parameter hash {} at step {}", parameter_hash(*model), step);
  if (stopped) {
    log::info("stopped at step {} on {}: checkpoint written; resume with --resume auto (exit code {})", step,
              stop_signal == SIGUSR1 ? "SIGUSR1" : stop_signal == SIGTERM ? "SIGTERM" : "stop-at-step",
              kExitStoppedForRequeue);
    return kExitStoppedForRequeue;
  }
  log::info("training finished at step {}", step);
  return 0;
}

}  // namespace mixhic
