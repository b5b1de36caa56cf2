// mixhic-model — inspect, benchmark and convert MIX-HIC models.
//
//   mixhic-model describe [--config configs/model/mixhic-c128.ini] [--corpus CORPUS]
//   mixhic-model bench    [--config ...] [--batch 8] [--steps 10] [--threads N] [--device cpu|cuda]
//                         [--precision fp32|bf16] [--peak-tflops T]
//   mixhic-model convert  --weights IN.pt --out OUT.pt|OUT.h5 [--config ...]
#include <torch/torch.h>

#include <chrono>
#include <iostream>

#include "mixhic/autocast.hpp"
#include "mixhic/check.hpp"
#include "mixhic/compute_threads.hpp"
#include "mixhic/config.hpp"
#include "mixhic/corpus.hpp"
#include "mixhic/log.hpp"
#include "mixhic/model.hpp"
#include "mixhic/mpi_world.hpp"
#include "mixhic/state_dict.hpp"

#ifdef MIXHIC_TORCH_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace {

using namespace mixhic;

const char* kUsage =
    "usage: mixhic-model describe [--config FILE] [--corpus CORPUS]   parameters, FLOPs, token shapes\n"
    "       mixhic-model bench [--config FILE] [--batch B] [--steps N] [--threads T] [--device cpu|cuda]\n"
    "                          [--precision fp32|bf16] [--peak-tflops T]\n"
    "                                                    forward+backward samples/s (CPU or GPU), MFU\n"
    "       mixhic-model convert --weights IN.pt --out OUT.pt|OUT.h5 [--config FILE]\n"
    "                                                    load a PyTorch state_dict (strict) and re-export it";

int64_t count(const torch::nn::Module& m, const std::string& prefix) {
  int64_t n = 0;
  for (const auto& p : m.named_parameters())
    if (p.key().rfind(prefix, 0) == 0) n += p.value().numel();
  return n;
}

void describe(const ModelConfig& cfg) {
  MixHicModel model(cfg);
  const double fwd = cfg.forward_flops();
  std::cout << fmt::format(
      "model        C={} depth={} heads={} mlp-ratio={} task={}\n"
      "geometry     {} tracks, {}x{} Hi-C bins of {} bp, {} bp track bins (pooling {})\n"
      "epigenomics  {} track bins -> tokens {} -> {} -> {} -> {} (width {} -> {})\n"
      "Hi-C         {}x{} patches -> tokens {} -> {} -> {} -> {}\n"
      "parameters   {:.3f} M (epigenomic encoder {:.3f} M, Hi-C encoder {:.3f} M, heads and maps {:.3f} M)\n"
      "FLOPs        {:.3f} GFLOP forward, ~{:.3f} GFLOP forward+backward per sample (backward ~ 2x forward)\n",
      cfg.embed_dim, cfg.depth, cfg.heads, cfg.mlp_ratio, name_of(cfg.task), cfg.n_tracks, cfg.window_bins, cfg.window_bins,
      cfg.hic_bin_bp, cfg.track_bin_bp, fmt::join(cfg.pool_factors(), "*"), cfg.epi_length(), cfg.epi_tokens(0),
      cfg.epi_tokens(1), cfg.epi_tokens(2), cfg.epi_tokens(3), cfg.embed_dim, 8 * cfg.embed_dim, cfg.hic_side(0),
      cfg.hic_side(0), cfg.hic_side(0) * cfg.hic_side(0), cfg.hic_side(1) * cfg.hic_side(1),
      cfg.hic_side(2) * cfg.hic_side(2), cfg.hic_side(3) * cfg.hic_side(3), model->parameter_count() / 1e6,
      (count(*model, "seq_") - count(*model, "seq_upsampleTrans")) / 1e6,
      (count(*model, "map_downsampleTrans") + count(*model, "patch_embedding")) / 1e6,
      (model->parameter_count() - count(*model, "seq_") + count(*model, "seq_upsampleTrans") -
       count(*model, "map_downsampleTrans") - count(*model, "patch_embedding")) / 1e6,
      fwd / 1e9, 3 * fwd / 1e9);
}

// One pre-training step (forward + backward + AdamW) per iteration on `device`, bf16 autocast
// for the forward pass when `bf16` (the trainer's precision = bf16). On CUDA every timing ends
// in a device synchronisation. MFU = achieved training FLOP/s (ModelConfig::training_flops) /
// peak_tflops, when a peak is given (989 TFLOP/s: an H100/H200's dense bf16).
void bench(const ModelConfig& cfg, int64_t batch, int64_t steps, const std::string& device_name, bool bf16,
           double peak_tflops) {
  const torch::Device device(device_name);
  torch::manual_seed(0);
  MixHicModel model(cfg);
  model->to(device);
  model->train();
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-5).weight_decay(1e-6));
  torch::Tensor hic = torch::rand({batch, 1, cfg.window_bins, cfg.window_bins}).to(device);
  torch::Tensor epi = torch::rand({batch, cfg.epi_length(), cfg.n_tracks}).to(device);
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss;
    {
      Bf16Autocast autocast(device.type(), bf16);
      loss = model->forward(hic, epi).loss(cfg, cfg.contrastive_only_epochs);
    }
    loss.backward();
    opt.step();
  };
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  };
  step();  // warm-up: allocator, thread pools, cuDNN/cuBLAS plans
  step();
  sync();
#ifdef MIXHIC_TORCH_HAS_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < steps; ++s) step();
  sync();
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double sps = double(batch * steps) / sec;
  const double train_flops = cfg.training_flops(false, "both", batch);  // per sample
  std::string mem;
#ifdef MIXHIC_TORCH_HAS_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    mem = fmt::format(" peak_mem_gib={:.2f}", stats.allocated_bytes[size_t(c10::CachingAllocator::StatType::AGGREGATE)].peak / double(1 << 30));
  }
#endif
  std::string mfu = peak_tflops > 0 ? fmt::format(" mfu_percent={:.2f}", 100 * sps * train_flops / (peak_tflops * 1e12)) : "";
  std::cout << fmt::format("model-bench: impl=libtorch C={} batch={} steps={} device={} precision={} threads={} "
                           "samples_per_s={:.3f} gflops={:.2f}{}{}\n",
                           cfg.embed_dim, batch, steps, device.str(), bf16 ? "bf16" : "fp32", torch::get_num_threads(), sps,
                           sps * train_flops / 1e9, mfu, mem);
}

int model_main(const MpiWorld& world, int argc, char** argv) {
  std::string sub = argc > 1 ? argv[1] : "";
  ModelConfig cfg;
  std::string corpus, weights, out;
  int64_t batch = 8, steps = 10, threads = 0;
  std::string device = "cpu", precision = "fp32";
  double peak_tflops = 0;
  auto table = model_options(cfg);
  po::options_description geo("geometry (default: the reference's; --corpus reads it from a corpus)");
  geo.add_options()
      ("corpus", po::value(&corpus), "take the geometry (tracks, window, bin sizes) from this corpus")
      ("n-tracks", po::value(&cfg.n_tracks)->default_value(cfg.n_tracks), "tracks")
      ("window-bins", po::value(&cfg.window_bins)->default_value(cfg.window_bins), "window side in Hi-C bins")
      ("hic-bin-bp", po::value(&cfg.hic_bin_bp)->default_value(cfg.hic_bin_bp), "Hi-C bin size")
      ("track-bin-bp", po::value(&cfg.track_bin_bp)->default_value(cfg.track_bin_bp), "track bin size")
      ("batch", po::value(&batch)->default_value(batch), "bench: samples per step")
      ("steps", po::value(&steps)->default_value(steps), "bench: timed steps (after two warm-ups)")
      ("threads", po::value(&threads)->default_value(threads), "bench: intra-op threads (0: LibTorch's default)")
      ("device", po::value(&device)->default_value(device), "bench: cpu | cuda | cuda:N")
      ("precision", po::value(&precision)->default_value(precision), "bench: fp32 | bf16 (autocast for the forward pass)")
      ("peak-tflops", po::value(&peak_tflops)->default_value(0), "bench: the device's peak TFLOP/s; reports MFU")
      ("weights", po::value(&weights), "convert: a torch.save'd state_dict")
      ("out", po::value(&out), "convert: output .pt (torch.save format) or .h5");
  table.add(geo);
  ParsedOptions parsed = parse_options(argc, argv, 2, table);
  if (parsed.help || (sub != "describe" && sub != "bench" && sub != "convert")) {
    if (world.rank == 0) print_help(kUsage, table);
    return parsed.help ? 0 : 2;
  }
  if (!corpus.empty()) cfg.from_corpus_geometry(Corpus(corpus).geometry());
  cfg.validate();
  if (threads > 0) set_compute_threads(int(threads));
  if (sub == "describe") describe(cfg);
  if (sub == "bench") {
    if (precision != "fp32" && precision != "bf16") throw ConfigError(fmt::format("--precision {}: expected fp32 or bf16", precision));
    if (device.rfind("cuda", 0) == 0 && !torch::cuda::is_available())
      throw ConfigError(fmt::format("--device {}: this LibTorch build or machine has no usable GPU", device));
    if (precision == "bf16" && device.rfind("cuda", 0) != 0)  // as mixhic-train's precision key
      throw ConfigError(fmt::format("--precision bf16: bf16 autocast is for --device cuda (not {}); use fp32 on CPU", device));
    bench(cfg, batch, steps, device, precision == "bf16", peak_tflops);
  }
  if (sub == "convert") {
    if (weights.empty() || out.empty()) throw ConfigError("convert needs --weights IN.pt and --out OUT");
    MixHicModel model(cfg);
    LoadReport report = load_state_dict(*model, weights);
    if (!report.skipped.empty())
      log::info("left out {} keys of modules the reference never calls (cross_attn, layer_norm0-2)", report.skipped.size());
    if (out.size() > 3 && out.substr(out.size() - 3) == ".h5") save_state_dict_h5(*model, out);
    else save_state_dict(*model, out);
    log::info("wrote {} ({} tensors)", out, state_dict(*model).size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return mixhic::run_main(argc, argv, "mixhic-model", model_main); }
