// The GPU path (ctest label `gpu`, left out by ci/test.sh, run by ci/gpu-check.sh on a GPU
// machine): NCCL, gradient buckets, bf16 autocast and fp32 agreement on a CUDA device. Each test
// skips with the reason when this LibTorch has no CUDA or the machine no GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mixhic/autocast.hpp"
#include "mixhic/check.hpp"
#include "mixhic/comm.hpp"
#include "mixhic/gpu_binding.hpp"
#include "mixhic/grad_buckets.hpp"
#include "mixhic/model.hpp"
#include "mixhic/mpi_world.hpp"

using namespace mixhic;

namespace {

#define MIXHIC_NEED_GPU()                                                                       \
  do {                                                                                          \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device for this LibTorch build"; \
    make_current_gpu(0);                                                                        \
  } while (0)

ModelConfig tiny(Task task) {
  ModelConfig c;
  c.embed_dim = 8;
  c.depth = 1;
  c.heads = 2;
  c.n_tracks = 3;
  c.window_bins = 32;
  c.hic_bin_bp = 1000;
  c.track_bin_bp = 100;
  c.task = task;
  return c;
}

std::pair<torch::Tensor, torch::Tensor> batch(const ModelConfig& c, int64_t B) {
  torch::manual_seed(11);
  torch::Tensor hic = torch::rand({B, 1, c.window_bins, c.window_bins});
  hic = (hic + hic.transpose(2, 3)) / 2;
  return {hic, torch::rand({B, c.epi_length(), c.n_tracks})};
}

// Two models with the same weights, one on the CPU and one on the GPU.
std::pair<MixHicModel, MixHicModel> twins(const ModelConfig& cfg) {
  torch::manual_seed(5);
  MixHicModel cpu(cfg), gpu(cfg);
  torch::NoGradGuard no_grad;
  auto src = cpu->named_parameters();
  for (auto& p : gpu->named_parameters()) p.value().copy_(src[p.key()]);
  auto bsrc = cpu->named_buffers();
  for (auto& b : gpu->named_buffers()) b.value().copy_(bsrc[b.key()]);
  gpu->to(torch::kCUDA);
  return {cpu, gpu};
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a.cpu().to(torch::kDouble) - b.cpu().to(torch::kDouble)).abs().max() /
          b.cpu().to(torch::kDouble).abs().max().clamp_min(1e-30))
      .item<double>();
}

}  // namespace

TEST(Gpu, NcclAllreduceOfOneRankGivesItsInput) {
  MIXHIC_NEED_GPU();
  ASSERT_TRUE(nccl_available()) << "this build has no NCCL";
  auto comm = make_nccl_comm(MpiWorld{}, 0);
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    torch::Tensor t = torch::arange(1 << 20, torch::dtype(dtype).device(torch::kCUDA)) * 0.5;
    torch::Tensor expected = t.clone();
    comm->allreduce_sum(t)->wait();
    torch::cuda::synchronize();
    EXPECT_TRUE(torch::equal(t, expected)) << c10::toString(dtype);
  }
}

TEST(Gpu, TinyModelLossAndGradientsOnCudaMatchTheCpuInFp32) {
  MIXHIC_NEED_GPU();
  ModelConfig cfg = tiny(Task::none);
  auto [cpu, gpu] = twins(cfg);
  cpu->eval();
  gpu->eval();  // dropout off: the same function on both devices
  auto [hic, epi] = batch(cfg, 4);
  torch::Tensor lc = cpu->forward(hic, epi).loss(cfg, 0);
  torch::Tensor lg = gpu->forward(hic.cuda(), epi.cuda()).loss(cfg, 0);
  EXPECT_LT(rel(lg, lc), 1e-4) << lc.item<double>() << " vs " << lg.item<double>();
  lc.backward();
  lg.backward();
  auto gp = gpu->named_parameters();
  for (auto& p : cpu->named_parameters())
    if (p.value().grad().defined()) EXPECT_LT(rel(gp[p.key()].grad(), p.value().grad()), 1e-3) << p.key();
}

TEST(Gpu, GradBucketsOnCudaTensorsEqualTheCpuPath) {
  MIXHIC_NEED_GPU();
  ASSERT_TRUE(nccl_available()) << "this build has no NCCL";
  ModelConfig cfg = tiny(Task::none);
  auto [cpu, gpu] = twins(cfg);
  cpu->eval();
  gpu->eval();
  auto nccl = make_nccl_comm(MpiWorld{}, 0);
  auto single = make_single_comm();
  auto named = [](MixHicModel& m) {
    std::vector<std::pair<std::string, torch::Tensor>> v;
    for (const auto& p : m->named_parameters()) v.emplace_back(p.key(), p.value());
    return v;
  };
  GradBuckets bg(named(gpu), *nccl, 16 << 10, 64 << 10), bc(named(cpu), *single, 16 << 10, 64 << 10);
  auto [hic, epi] = batch(cfg, 4);
  bg.zero_grad();
  gpu->forward(hic.cuda(), epi.cuda()).loss(cfg, 0).backward();  // hooks -> events -> NCCL stream
  bg.finish();
  bc.zero_grad();
  cpu->forward(hic, epi).loss(cfg, 0).backward();
  bc.finish();
  torch::cuda::synchronize();
  auto gp = gpu->named_parameters();
  for (auto& p : cpu->named_parameters()) EXPECT_LT(rel(gp[p.key()].grad(), p.value().grad()), 1e-3) << p.key();
  EXPECT_GT(bg.bucket_count(), 3u);
}

TEST(Gpu, LoopFineTuneStepUnderBf16IsFiniteAndNearFp32) {
  MIXHIC_NEED_GPU();
  ModelConfig cfg = tiny(Task::loop);
  auto [cpu, gpu] = twins(cfg);
  gpu->eval();
  auto [hic, epi] = batch(cfg, 4);
  torch::Tensor target = torch::tensor({0.f, 1.f, 0.f, 1.f}).cuda();
  const double fp32 = gpu->task_loss(hic.cuda(), epi.cuda(), target).item<double>();
  torch::Tensor loss;
  {
    Bf16Autocast bf16(torch::kCUDA, true);  // F::binary_cross_entropy would throw here
    loss = gpu->task_loss(hic.cuda(), epi.cuda(), target);
  }
  EXPECT_EQ(loss.scalar_type(), torch::kFloat);
  EXPECT_NEAR(loss.item<double>(), fp32, 0.02 * std::abs(fp32) + 1e-3);
  loss.backward();
  for (auto& p : gpu->named_parameters())
    if (p.value().grad().defined()) EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
}

TEST(Gpu, ContrastiveLossUnderBf16IsComputedInFp32) {
  MIXHIC_NEED_GPU();
  torch::manual_seed(2);
  torch::Tensor a = torch::randn({32, 64}).cuda(), b = torch::randn({32, 64}).cuda(), t = torch::full({}, 0.07).cuda();
  const double fp32 = contrastive_loss(a, b, t).item<double>();
  Bf16Autocast bf16(torch::kCUDA, true);
  EXPECT_EQ(torch::matmul(a, b.t()).scalar_type(), torch::kBFloat16);
  torch::Tensor loss = contrastive_loss(a, b, t);
  EXPECT_EQ(loss.scalar_type(), torch::kFloat);
  EXPECT_NEAR(loss.item<double>(), fp32, 1e-5 * std::abs(fp32));
}
