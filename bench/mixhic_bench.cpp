// mixhic-bench — the measurements behind bench/run.sh that need mixhic's own code paths.
//
//   mixhic-bench allreduce [--comm mpi|nccl] [--model-config FILE]... [--min-bytes 4096]
//                          [--max-bytes 268435456] [--csv FILE]
//       The gradient all-reduce (the trainer's Comm, as GradBuckets calls it) on the model's
//       real bucket sizes and a x4 sweep, next to a bare MPI_Allreduce of the same bytes: time,
//       algbw = bytes / time, busbw = algbw * 2(n-1)/n (nccl-tests' definitions), and #wrong,
//       the elements that differ from the exact sum. MIXHIC_MIN_BUSBW=GB/s (as nccl-tests'
//       NCCL_TESTS_MIN_BW) fails the run when the mean busbw of the sweep is lower.
//   mixhic-bench read --corpus FILE [--batch 8] [--steps 60] [--io posix|mpio] [--cold]
//                     [--samples-out FILE]
//       The trainer's data path (BatchLoader: random train-split batches, read on its thread,
//       unpacked to model-ready tensors) in samples/s and MB/s, next to a raw sequential read of
//       the same file (the storage limit). --cold drops the file's pages first
//       (posix_fadvise DONTNEED), so both read from the device, not the page cache.
//   mixhic-bench gemm [--n 2048] [--threads T] [--reps 5]
//       float32 n x n x n matrix product through LibTorch's BLAS: the practical peak GFLOP/s of
//       this CPU that the model's achieved GFLOP/s (mixhic-model bench) is measured against.
#include <fcntl.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numeric>

#include "mixhic/batch_loader.hpp"
#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"
#include "mixhic/compute_threads.hpp"
#include "mixhic/config.hpp"
#include "mixhic/corpus.hpp"
#include "mixhic/gpu_binding.hpp"
#include "mixhic/grad_buckets.hpp"
#include "mixhic/log.hpp"
#include "mixhic/model.hpp"
#include "mixhic/mpi_world.hpp"

namespace {

using namespace mixhic;
using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: mixhic-bench allreduce [--comm mpi|nccl] [--model-config FILE]... [--min-bytes B] [--max-bytes B] [--csv FILE]\n"
    "       mixhic-bench read --corpus FILE [--batch B] [--steps N] [--io posix|mpio] [--cold] [--samples-out FILE]\n"
    "       mixhic-bench gemm [--n N] [--threads T] [--reps R]";

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---- allreduce ---------------------------------------------------------------------------------

// Gradient bucket sizes (bytes, in launch order) of the model a config file describes, as the
// trainer lays them out (GradBuckets' default 1 MB first bucket, 25 MB after).
std::vector<size_t> model_bucket_bytes(const std::string& config_path) {
  ModelConfig cfg;
  auto table = model_options(cfg);
  const char* argv[] = {"mixhic-bench", "--config", config_path.c_str()};
  parse_options(3, const_cast<char**>(argv), 1, table);
  cfg.validate();
  MixHicModel model(cfg);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : model->named_parameters()) named.emplace_back(p.key(), p.value());
  auto single = make_single_comm();
  GradBuckets buckets(named, *single);
  std::vector<size_t> bytes;
  for (size_t b = 0; b < buckets.bucket_count(); ++b)
    bytes.push_back(buckets.bucket(b).flat.numel() * buckets.bucket(b).flat.element_size());
  return bytes;
}

// Value of element i on `rank`: small integers, so every partial sum is exact in float32.
float fill_value(int rank, int64_t i) { return float(rank + 1) + float(i % 7); }
float expected_sum(int world, int64_t i) { return float(world * (world + 1) / 2) + float(world) * float(i % 7); }

struct AllreduceTiming {
  double seconds = 0;  // median over iterations of the slowest rank's time
  int64_t wrong = 0;   // elements differing from the exact sum, all ranks
};

// Times `reduce` on a tensor of `count` floats: `iters` timed iterations after `warmup`, each
// started from freshly filled data behind a barrier; then checks the last result.
template <typename Reduce>
AllreduceTiming time_allreduce(const MpiWorld& world, Comm& comm, torch::Tensor& t, int64_t count, int warmup, int iters,
                               Reduce reduce) {
  auto host_fill = torch::empty({count}, torch::kFloat);
  float* h = host_fill.data_ptr<float>();
  for (int64_t i = 0; i < count; ++i) h[i] = fill_value(world.rank, i);
  std::vector<double> times;
  for (int it = 0; it < warmup + iters; ++it) {
    t.copy_(host_fill);
    if (t.is_cuda()) (void)t.index({0}).item<float>();  // the fill is done before the clock starts
    comm.barrier();
    auto t0 = Clock::now();
    reduce(t);
    double s = seconds_since(t0);
    if (it >= warmup) times.push_back(s);
  }
  MPI_Allreduce(MPI_IN_PLACE, times.data(), int(times.size()), MPI_DOUBLE, MPI_MAX, world.comm);
  std::sort(times.begin(), times.end());
  AllreduceTiming out;
  out.seconds = times[times.size() / 2];
  auto result = t.cpu();
  const float* r = result.data_ptr<float>();
  for (int64_t i = 0; i < count; ++i) out.wrong += r[i] != expected_sum(world.size, i);
  MPI_Allreduce(MPI_IN_PLACE, &out.wrong, 1, MPI_INT64_T, MPI_SUM, world.comm);
  return out;
}

int allreduce_main(const MpiWorld& world, const po::variables_map& vm) {
  const std::string kind = vm["comm"].as<std::string>();
  const auto min_bytes = vm["min-bytes"].as<int64_t>(), max_bytes = vm["max-bytes"].as<int64_t>();
  MIXHIC_REQUIRE(min_bytes >= 4 && max_bytes >= min_bytes, "allreduce: --min-bytes {} / --max-bytes {}: expected 4 <= min <= max",
                 min_bytes, max_bytes);
  std::unique_ptr<Comm> comm;
  torch::Device device = torch::kCPU;
  if (kind == "mpi") {
    comm = make_mpi_comm(world);
  } else if (kind == "nccl") {
    const int gpu = gpu_of_rank(world, int(torch::cuda::device_count()), "allreduce --comm nccl");
    make_current_gpu(gpu);
    device = torch::Device(torch::kCUDA, gpu);
    comm = make_nccl_comm(world, gpu);
  } else {
    throw ConfigError(fmt::format("allreduce: --comm {}: expected mpi or nccl", kind));
  }

  struct Size {
    std::string what;
    int64_t bytes;
  };
  std::vector<Size> sizes;
  if (vm.count("model-config"))
    for (const auto& path : vm["model-config"].as<std::vector<std::string>>()) {
      auto buckets = model_bucket_bytes(path);
      for (size_t b = 0; b < buckets.size(); ++b)
        sizes.push_back({fmt::format("bucket {}/{} of {}", b + 1, buckets.size(), path), int64_t(buckets[b])});
    }
  const size_t first_sweep = sizes.size();
  for (int64_t b = min_bytes; b <= max_bytes; b *= 4) sizes.push_back({"sweep", b / 4 * 4});

  const int n = world.size;
  const double bus_factor = n > 1 ? 2.0 * (n - 1) / n : 0.0;
  std::ofstream csv;
  if (world.rank == 0 && vm.count("csv")) {
    csv.open(vm["csv"].as<std::string>());
    MIXHIC_REQUIRE(csv.good(), "{}: cannot open for writing", vm["csv"].as<std::string>());
    csv << "what,bytes,ranks,comm,time_us,algbw_gbs,busbw_gbs,wrong,bare_time_us,bare_algbw_gbs,bare_busbw_gbs,bare_wrong\n";
  }
  if (world.rank == 0)
    std::cout << fmt::format("# all-reduce, {} ranks, float32 sum; mixhic = the trainer's {} Comm (allreduce_sum + wait), bare = MPI_Allreduce in place\n"
                             "# {:>12} {:>10} {:>10} {:>10} {:>7} | {:>10} {:>10} {:>10} {:>7} | {:>6}  {}\n",
                             n, comm->name(), "bytes", "time us", "algbw GB/s", "busbw GB/s", "#wrong", "bare us", "algbw", "busbw",
                             "#wrong", "ratio", "what");
  double busbw_sum = 0;
  int64_t wrong_total = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    const int64_t count = sizes[k].bytes / 4;
    // ~0.25 s per size and kind on a 10 GB/s link; at least 5 iterations, at most 200.
    const int iters = int(std::clamp<int64_t>(int64_t(2.5e9) / std::max<int64_t>(sizes[k].bytes, 1), 5, 200));
    auto t = torch::empty({count}, torch::TensorOptions().dtype(torch::kFloat).device(device));
    AllreduceTiming ours = time_allreduce(world, *comm, t, count, 2, iters, [&](torch::Tensor& x) {
      comm->allreduce_sum(x)->wait();
      if (x.is_cuda()) (void)x.index({0}).item<float>();
    });
    AllreduceTiming bare{};
    if (!t.is_cuda()) {
      bare = time_allreduce(world, *comm, t, count, 2, iters, [&](torch::Tensor& x) {
        MPI_Allreduce(MPI_IN_PLACE, x.data_ptr<float>(), int(count), MPI_FLOAT, MPI_SUM, world.comm);
      });
    }
    const double bytes = double(sizes[k].bytes);
    const double algbw = bytes / ours.seconds / 1e9, bare_algbw = bare.seconds > 0 ? bytes / bare.seconds / 1e9 : 0;
    if (k >= first_sweep) busbw_sum += algbw * bus_factor;
    wrong_total += ours.wrong + bare.wrong;
    if (world.rank == 0) {
      std::cout << fmt::format("  {:>12} {:>10.1f} {:>10.3f} {:>10.3f} {:>7} | {:>10.1f} {:>10.3f} {:>10.3f} {:>7} | {:>6.2f}  {}\n",
                               sizes[k].bytes, ours.seconds * 1e6, algbw, algbw * bus_factor, ours.wrong, bare.seconds * 1e6,
                               bare_algbw, bare_algbw * bus_factor, bare.wrong,
                               bare.seconds > 0 ? bare.seconds / ours.seconds : 0.0, sizes[k].what);
      if (csv.is_open())
        csv << fmt::format("\"{}\",{},{},{},{:.2f},{:.4f},{:.4f},{},{:.2f},{:.4f},{:.4f},{}\n", sizes[k].what, sizes[k].bytes, n,
                           comm->name(), ours.seconds * 1e6, algbw, algbw * bus_factor, ours.wrong, bare.seconds * 1e6,
                           bare_algbw, bare_algbw * bus_factor, bare.wrong);
    }
  }
  const double mean_busbw = busbw_sum / double(sizes.size() - first_sweep);
  if (world.rank == 0)
    std::cout << fmt::format("# out of bounds values : {} {}\n# avg bus bandwidth    : {:.4f} GB/s (sweep)\n", wrong_total,
                             wrong_total ? "FAILED" : "OK", mean_busbw);
  if (wrong_total) return 1;
  if (const char* gate = std::getenv("MIXHIC_MIN_BUSBW")) {
    const double min_busbw = std::atof(gate);
    if (mean_busbw < min_busbw) {
      if (world.rank == 0)
        std::cout << fmt::format("# FAILED: avg bus bandwidth {:.4f} GB/s < MIXHIC_MIN_BUSBW {} GB/s\n", mean_busbw, gate);
      return 1;
    }
  }
  return 0;
}

// ---- read --------------------------------------------------------------------------------------

void drop_page_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  MIXHIC_REQUIRE(fd >= 0, "{}: cannot open", path);
  ::fdatasync(fd);
  int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  MIXHIC_REQUIRE(rc == 0, "{}: posix_fadvise(DONTNEED) failed ({})", path, rc);
}

// Bytes per second of one sequential pass over the file in 4 MB reads.
double sequential_read(const std::string& path, int64_t& file_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY);
  MIXHIC_REQUIRE(fd >= 0, "{}: cannot open", path);
  std::vector<char> buf(size_t(4) << 20);
  file_bytes = 0;
  auto t0 = Clock::now();
  for (ssize_t got; (got = ::read(fd, buf.data(), buf.size())) > 0;) file_bytes += got;
  double s = seconds_since(t0);
  ::close(fd);
  return double(file_bytes) / s;
}

int read_main(const MpiWorld& world, const po::variables_map& vm) {
  MIXHIC_REQUIRE(vm.count("corpus"), "read: --corpus is required");
  const std::string path = vm["corpus"].as<std::string>(), io = vm["io"].as<std::string>();
  const int64_t batch = vm["batch"].as<int64_t>(), steps = vm["steps"].as<int64_t>();
  const bool cold = vm["cold"].as<bool>();
  MIXHIC_REQUIRE(io == "posix" || io == "mpio", "read: --io {}: expected posix or mpio", io);
  MIXHIC_REQUIRE(batch >= 1 && steps >= 1, "read: --batch {} --steps {}: expected >= 1", batch, steps);

  auto open_corpus = [&] { return std::make_unique<Corpus>(path, io == "mpio" ? &world.comm : nullptr); };
  auto corpus = open_corpus();
  const auto& g = corpus->geometry();
  // Bytes the loader reads for one sample: the packed Hi-C row and one or (off-diagonal pairs) two
  // anchors' track rows.
  const auto& first = corpus->meta(corpus->split_indices(0).at(0));
  const int64_t anchors = first.track_row2 == first.track_row1 ? 1 : 2;
  const int64_t sample_bytes = 4 * (corpus->hic_values() + anchors * g.track_bins_per_anchor * g.n_tracks);
  BatchPlan plan{corpus->split_indices(0), batch * world.size, /*seed=*/1, world.rank, world.size};
  const int64_t per_epoch = plan.steps_per_epoch();
  MIXHIC_REQUIRE(per_epoch >= 1, "{}: the train split has fewer samples than one global batch ({})", path, batch * world.size);

  if (world.rank == 0 && vm.count("samples-out")) {
    std::ofstream out(vm["samples-out"].as<std::string>());
    for (int64_t s = 0; s < steps; ++s) {
      for (int64_t i : plan.global_batch_at(s)) out << i << ' ';
      out << '\n';
    }
  }

  // The loader, as the trainer runs it: reads ahead on its own thread.
  corpus.reset();
  if (cold && world.rank == 0) drop_page_cache(path);
  MPI_Barrier(world.comm);
  auto t0 = Clock::now();
  corpus = open_corpus();
  double checksum = 0;
  {
    BatchLoader loader(*corpus, plan, Augmentation{}, 0, steps, 2);
    for (int64_t s = 0; s < steps; ++s) checksum += loader.next().hic.index({0, 0, 0, 0}).item<double>();
  }
  double loader_s = seconds_since(t0);
  MPI_Allreduce(MPI_IN_PLACE, &loader_s, 1, MPI_DOUBLE, MPI_MAX, world.comm);
  corpus.reset();

  // The storage limit: one sequential pass over the same file (rank 0 alone).
  double raw_bps = 0;
  int64_t file_bytes = 0;
  MPI_Barrier(world.comm);
  if (world.rank == 0) {
    if (cold) drop_page_cache(path);
    raw_bps = sequential_read(path, file_bytes);
  }
  const double samples = double(steps * batch * world.size);
  if (world.rank == 0)
    std::cout << fmt::format(
        "read-bench: io={} ranks={} cold={} batch_per_rank={} steps={} sample_bytes={} loader_samples_per_s={:.1f} "
        "loader_mb_per_s={:.1f} raw_sequential_mb_per_s={:.1f} raw_samples_per_s_equiv={:.1f} file_mb={:.1f} checksum={:.6g}\n",
        io, world.size, cold ? 1 : 0, batch, steps, sample_bytes, samples / loader_s, samples * sample_bytes / loader_s / 1e6,
        raw_bps / 1e6, raw_bps / double(sample_bytes), double(file_bytes) / 1e6, checksum);
  return 0;
}

// ---- gemm --------------------------------------------------------------------------------------

int gemm_main(const MpiWorld& world, const po::variables_map& vm) {
  const int64_t n = vm["n"].as<int64_t>(), reps = vm["reps"].as<int64_t>();
  MIXHIC_REQUIRE(n >= 64 && reps >= 1, "gemm: --n {} --reps {}: expected n >= 64, reps >= 1", n, reps);
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  torch::mm_out(c, a, b);  // warm-up: thread pool, pages
  double best = 1e30;
  for (int64_t r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    torch::mm_out(c, a, b);
    best = std::min(best, seconds_since(t0));
  }
  const double gflops = 2.0 * double(n) * double(n) * double(n) / best / 1e9;
  if (world.rank == 0)
    std::cout << fmt::format("gemm-bench: n={} threads={} seconds={:.4f} gflops={:.2f} gflops_per_thread={:.2f}\n", n,
                             torch::get_num_threads(), best, gflops, gflops / torch::get_num_threads());
  return 0;
}

int bench_main(const MpiWorld& world, int argc, char** argv) {
  const std::string sub = argc > 1 ? argv[1] : "";
  po::options_description table("mixhic-bench options");
  table.add_options()
      ("comm", po::value<std::string>()->default_value("mpi"), "allreduce: mpi | nccl (one GPU per rank)")
      ("model-config", po::value<std::vector<std::string>>(), "allreduce: also time this model's gradient buckets (repeatable)")
      ("min-bytes", po::value<int64_t>()->default_value(4096), "allreduce: sweep from")
      ("max-bytes", po::value<int64_t>()->default_value(int64_t(256) << 20), "allreduce: sweep to (x4 steps)")
      ("csv", po::value<std::string>(), "allreduce: also write the rows as CSV")
      ("corpus", po::value<std::string>(), "read: the corpus")
      ("batch", po::value<int64_t>()->default_value(8), "read: samples per rank per step")
      ("steps", po::value<int64_t>()->default_value(60), "read: steps")
      ("io", po::value<std::string>()->default_value("mpio"), "read: posix | mpio (the trainer's default)")
      ("cold", po::bool_switch(), "read: drop the file's cached pages before each measurement")
      ("samples-out", po::value<std::string>(), "read: write the global batches' sample indices, a line per step")
      ("n", po::value<int64_t>()->default_value(2048), "gemm: matrix side")
      ("reps", po::value<int64_t>()->default_value(5), "gemm: timed repetitions (best is reported)")
      ("threads", po::value<int>()->default_value(0), "intra-op threads (0: LibTorch's default)");
  ParsedOptions parsed = parse_options(argc, argv, 2, table);
  if (parsed.help || (sub != "allreduce" && sub != "read" && sub != "gemm")) {
    if (world.rank == 0) print_help(kUsage, table);
    return parsed.help ? 0 : 2;
  }
  if (int threads = parsed.vm["threads"].as<int>(); threads > 0) set_compute_threads(threads);
  if (sub == "allreduce") return allreduce_main(world, parsed.vm);
  if (sub == "read") return read_main(world, parsed.vm);
  return gemm_main(world, parsed.vm);
}

}  // namespace

int main(int argc, char** argv) {
  return mixhic::run_main(argc, argv, "mixhic-bench", bench_main, MPI_THREAD_MULTIPLE);
}
