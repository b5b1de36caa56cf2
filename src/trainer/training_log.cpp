// Progress line, metrics files and straggler summary (see include/mixhic/training_log.hpp).
#include "mixhic/training_log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "mixhic/check.hpp"
#include "mixhic/log.hpp"

namespace mixhic {

namespace {

const char* kCsvHeader =
    "step,epoch,restart,loss,contrastive,orthogonal,mapping,lr,grad_norm,skipped,samples,step_ms,data_wait_ms,"
    "forward_ms,backward_ms,allreduce_exposed_ms,optimizer_ms,unix_time,allreduce_hidden_pct\n";

std::string duration_text(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const int64_t s = int64_t(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}h{:02d}m", s / 3600, (s / 60) % 60) : fmt::format("{}m{:02d}s", s / 60, s % 60);
}

double unix_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

double mfu_percent(double global_samples_per_s, int gpus, double flops_per_sample, double peak_flops_per_gpu) {
  if (gpus < 1 || !(peak_flops_per_gpu > 0)) return 0;
  return 100.0 * (global_samples_per_s / gpus) * flops_per_sample / peak_flops_per_gpu;
}

TrainingLog::TrainingLog(const std::string& run_dir, const MpiWorld& world, int64_t total_steps, int64_t restart,
                         double allreduce_ms, double flops_per_sample, double peak_flops)
    : world_(world), total_steps_(total_steps), restart_(restart), allreduce_ms_(allreduce_ms),
      flops_per_sample_(flops_per_sample), peak_flops_(peak_flops) {
  if (world.rank != 0) return;
  const std::string csv = run_dir + "/metrics.csv", jsonl = run_dir + "/metrics.jsonl";
  const bool fresh = !std::filesystem::exists(csv) || std::filesystem::file_size(csv) == 0;
  csv_ = std::fopen(csv.c_str(), "a");
  jsonl_ = std::fopen(jsonl.c_str(), "a");
  if (!csv_ || !jsonl_) throw Error(fmt::format("{}: cannot append metrics files", run_dir));
  if (fresh) std::fputs(kCsvHeader, csv_);
}

TrainingLog::~TrainingLog() {
  if (csv_) std::fclose(csv_);
  if (jsonl_) std::fclose(jsonl_);
}

void TrainingLog::record(const StepRecord& r) {
  last_ = r;
  skipped_total_ += r.skipped;
  for (Window* w : {&progress_, &straggler_}) {
    if (w->steps == 0) w->first_step = r.step;
    ++w->steps;
    w->samples += r.samples;
    w->step_ms += r.step_ms;
    w->data_wait_ms += r.data_wait_ms;
    w->exposed_ms += r.allreduce_exposed_ms;
    w->hidden += r.allreduce_hidden;
  }
  all_ms_ += r.step_ms;
  ++all_steps_;
  if (world_.rank != 0) return;
  const double now = unix_time();
  std::fputs(fmt::format("{},{},{},{:.7g},{:.7g},{:.7g},{:.7g},{:.6g},{:.6g},{},{},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.1f}\n",
                         r.step, r.epoch, restart_, r.loss, r.contrastive, r.orthogonal, r.mapping, r.lr, r.grad_norm,
                         int(r.skipped), r.samples, r.step_ms, r.data_wait_ms, r.forward_ms, r.backward_ms,
                         r.allreduce_exposed_ms, r.optimizer_ms, now, 100 * r.allreduce_hidden)
                 .c_str(),
             csv_);
  // JSON has no NaN: non-finite values are written as null.
  auto num = [](double v) { return std::isfinite(v) ? fmt::format("{:.7g}", v) : std::string("null"); };
  std::fputs(fmt::format("{{\"step\": {}, \"epoch\": {}, \"restart\": {}, \"loss\": {}, \"contrastive\": {}, "
                         "\"orthogonal\": {}, \"mapping\": {}, \"lr\": {:.6g}, \"grad_norm\": {}, \"skipped\": {}, "
                         "\"samples\": {}, \"step_ms\": {:.3f}, \"data_wait_ms\": {:.3f}, \"forward_ms\": {:.3f}, "
                         "\"backward_ms\": {:.3f}, \"allreduce_exposed_ms\": {:.3f}, \"optimizer_ms\": {:.3f}, "
                         "\"unix_time\": {:.3f}, \"allreduce_hidden_pct\": {:.1f}}}\n",
                         r.step, r.epoch, restart_, num(r.loss), num(r.contrastive), num(r.orthogonal), num(r.mapping),
                         r.lr, num(r.grad_norm), r.skipped ? "true" : "false", r.samples, r.step_ms, r.data_wait_ms,
                         r.forward_ms, r.backward_ms, r.allreduce_exposed_ms, r.optimizer_ms, now,
                         100 * r.allreduce_hidden)
                 .c_str(),
             jsonl_);
  std::fflush(csv_);
  std::fflush(jsonl_);
}

void TrainingLog::progress() {
  Window w = progress_;
  progress_ = Window{};
  if (world_.rank != 0 || w.steps == 0) return;
  const double secs = w.step_ms / 1e3;
  const double sps = w.samples / std::max(secs, 1e-9);
  const double wait_pct = 100.0 * w.data_wait_ms / std::max(w.step_ms, 1e-9);
  const double exposed = w.exposed_ms / w.steps;
  // "hidden": bytes reduced while backward still ran; "wait": what the step spent in finish(),
  // which also absorbs other ranks' lateness (see the straggler line).
  std::string comm = world_.size > 1 ? fmt::format(" | all-reduce {:.0f}% hidden, wait {:.1f} ms (alone {:.1f} ms)",
                                                   100.0 * w.hidden / w.steps, exposed, allreduce_ms_)
                                     : std::string();
  std::string mfu = peak_flops_ > 0 ? fmt::format(" | MFU {:.1f}% per GPU", mfu_percent(sps, world_.size, flops_per_sample_, peak_flops_)) : "";
  const double eta = (total_steps_ - last_.step) * (all_ms_ / std::max<int64_t>(all_steps_, 1)) / 1e3;
  const StepRecord& r = last_;
  std::string terms = task_loss_.empty()
                          ? fmt::format("con {:.4f} orth {:.4f} map {:.4f}", r.contrastive, r.orthogonal, r.mapping)
                          : task_loss_;
  log::info("step {}/{} epoch {} | loss {:.4f} ({}) | lr {:.2e} | {:.1f} samples/s | "
            "data wait {:.1f}%{}{}{} | ETA {}",
            r.step, total_steps_, r.epoch, r.loss, terms, r.lr, sps, wait_pct, comm, mfu,
            skipped_total_ ? fmt::format(" | {} skipped", skipped_total_) : "", duration_text(eta));
}

void TrainingLog::stragglers() {
  Window w = straggler_;
  straggler_ = Window{};
  const double n = double(std::max<int64_t>(w.steps, 1));
  std::vector<double> mine = {w.step_ms / n, w.data_wait_ms / n, w.exposed_ms / n}, all(3 * world_.size);
  MIXHIC_MPI_CHECK(MPI_Allgather(mine.data(), 3, MPI_DOUBLE, all.data(), 3, MPI_DOUBLE, world_.comm));
  if (world_.rank != 0 || world_.size < 2 || w.steps == 0) return;
  std::vector<int> order(world_.size);
  for (int r = 0; r < world_.size; ++r) order[r] = r;
  // In synchronous data parallelism every rank's step takes as long as the slowest one's; what
  // differs is the time a rank works before it waits for the others in the all-reduce.
  auto busy = [&](int r) { return all[3 * r] - all[3 * r + 2]; };
  std::sort(order.begin(), order.end(), [&](int a, int b) { return busy(a) < busy(b); });
  const int slow = order.back(), fast = order.front();
  log::info("stragglers, steps {}-{}: time per step before the all-reduce wait: min {:.1f} ms (rank {}), median {:.1f} "
            "ms, max {:.1f} ms (rank {}, of it data wait {:.1f} ms); step {:.1f} ms",
            w.first_step, w.first_step + w.steps - 1, busy(fast), fast, busy(order[world_.size / 2]), busy(slow), slow,
            all[3 * slow + 1], all[3 * slow]);
}

}  // namespace mixhic
