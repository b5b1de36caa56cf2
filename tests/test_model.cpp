// The LibTorch MIX-HIC model against its PyTorch twin (tests/reference/mixhic_twin.py), on
// shapes, gradients, learning and weight exchange.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "mixhic/autocast.hpp"
#include "mixhic/check.hpp"
#include "mixhic/h5.hpp"
#include "mixhic/model.hpp"
#include "mixhic/state_dict.hpp"
#include "test_util.hpp"

using namespace mixhic;
namespace F = torch::nn::functional;
using test::run_command;

namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.embed_dim = 8;
  c.depth = 1;
  c.heads = 2;
  c.n_tracks = 3;
  c.window_bins = 32;  // 2 x 2 Hi-C tokens at the bottleneck: attention there has a gradient
  c.hic_bin_bp = 1000;
  c.track_bin_bp = 100;  // 10 track bins per Hi-C bin: pooling 2 then 5
  return c;
}

std::string config_json(const ModelConfig& c) {
  return fmt::format(
      R"({{"embed_dim": {}, "depth": {}, "heads": {}, "mlp_ratio": {}, "n_tracks": {}, "window_bins": {}, "hic_bin_bp": {}, "track_bin_bp": {}, "mapping_loss": "{}", "task": "{}", "map_head": "{}", "barrier_dim": {}, "contrastive_pooling": "{}"}})",
      c.embed_dim, c.depth, c.heads, c.mlp_ratio, c.n_tracks, c.window_bins, c.hic_bin_bp, c.track_bin_bp,
      c.mapping_loss, name_of(c.task), c.map_head, c.barrier_dim, c.contrastive_pooling);
}

std::pair<torch::Tensor, torch::Tensor> random_batch(const ModelConfig& c, int64_t B, torch::Dtype dtype) {
  torch::Tensor hic = torch::rand({B, 1, c.window_bins, c.window_bins}, torch::dtype(dtype));
  hic = (hic + hic.transpose(2, 3)) / 2;  // Hi-C windows on the diagonal are symmetric
  torch::Tensor epi = torch::rand({B, c.epi_length(), c.n_tracks}, torch::dtype(dtype));
  return {hic, epi};
}

std::string twin() { return test::twin_python() + " " + std::string(MIXHIC_SOURCE_DIR) + "/tests/reference/mixhic_twin.py"; }

}  // namespace

TEST(Model, MatchesThePyTorchTwinStageByStage) {
  for (std::string pooling : {"reference", "centered"}) {
  SCOPED_TRACE("contrastive-pooling = " + pooling);
  ModelConfig cfg = tiny_config();
  cfg.contrastive_pooling = pooling;
  torch::manual_seed(0);
  MixHicModel model(cfg);
  model->to(torch::kFloat64);  // double precision: any disagreement is a real difference
  model->train();
  test::TempDir dir;
  save_state_dict(*model, dir / "state.pt");  // before forward: BatchNorm statistics move

  auto [hic, epi] = random_batch(cfg, 4, torch::kFloat64);
  PretrainOutput out = model->forward(hic, epi);
  torch::Tensor total = out.loss(cfg, cfg.contrastive_only_epochs);
  total.backward();
  torch::Tensor imputed;
  {
    torch::NoGradGuard no_grad;
    imputed = model->impute_hic(epi);
  }
  NamedTensors io = {{"hic", hic},
                     {"epi", epi},
                     {"epi_skip0", out.epi_skips[0]},
                     {"epi_skip1", out.epi_skips[1]},
                     {"epi_skip2", out.epi_skips[2]},
                     {"epi_tokens", out.epi_tokens},
                     {"hic_stage0", out.hic_stages[0]},
                     {"hic_stage1", out.hic_stages[1]},
                     {"hic_stage2", out.hic_stages[2]},
                     {"hic_tokens", out.hic_tokens},
                     {"epi_share", out.epi_share},
                     {"epi_specific", out.epi_specific},
                     {"hic_share", out.hic_share},
                     {"hic_specific", out.hic_specific},
                     {"contrastive", out.contrastive},
                     {"orthogonal", out.orthogonal},
                     {"mapping", out.mapping},
                     {"total", total},
                     {"impute_hic", imputed}};
  for (const auto& p : model->named_parameters()) {
    const std::string& k = p.key();
    if (k == "temp" || k == "seq_input_projection.0.weight" || k == "patch_embedding.weight" ||
        k == "mlp_e2m.weight" || k == "epi_share_proj.bias" ||
        k == "seq_downsampleTrans.pooling_encoder.conv1.weight" ||
        k == "seq_downsampleTrans.bottleneck.layers.0.self_attn.in_proj_weight" ||
        k == "map_downsampleTrans.encoderlayer_0.blocks.0.attn.qkv.to_kv.weight" ||
        k == "map_downsampleTrans.encoderlayer_3.blocks.0.mlp.dwconv.0.weight")
      io.emplace_back("grad:" + k, p.value().grad());
  }
  save_tensors(io, dir / "io.pt");
  auto r = run_command(twin() + " compare --config '" + config_json(cfg) + "' --state " + (dir / "state.pt") +
                       " --io " + (dir / "io.pt") + " --tol 1e-9");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("twin: items=26"), std::string::npos) << r.output;
  std::cout << "[ twin     ] " << pooling << ": " << r.output.substr(r.output.rfind("twin:"));
  }
}

TEST(Model, TaskHeadsMatchThePyTorchTwin) {
  // hic_map with each map head; the twin sums the barrier vectors between i and j in a plain loop
  const std::vector<std::pair<std::string, std::string>> heads = {
      {"hic_map", "reference"}, {"hic_map", "decay"}, {"hic_map", "barrier"}, {"loop", "reference"}, {"expression", "reference"}};
  for (const auto& [task, map_head] : heads) {
    ModelConfig cfg = tiny_config();
    cfg.task = parse_task(task, "task");
    cfg.map_head = map_head;
    cfg.barrier_dim = 3;
    torch::manual_seed(7);
    MixHicModel model(cfg);
    model->to(torch::kFloat64);
    model->eval();
    for (auto& p : model->named_parameters())  // dist_bias starts at 0: give it values to index
      if (p.key() == "dist_bias") {
        torch::NoGradGuard no_grad;
        p.value().copy_(torch::randn({cfg.window_bins}, torch::kFloat64));
      }
    test::TempDir dir;
    save_state_dict(*model, dir / "state.pt");
    auto [hic, epi] = random_batch(cfg, 3, torch::kFloat64);
    torch::NoGradGuard no_grad;
    torch::Tensor pred = task == "hic_map" ? model->predict_map(epi)
                         : task == "loop"  ? model->predict_loop(hic, epi)
                                           : model->predict_expression(hic, epi);
    std::vector<int64_t> shape = task == "hic_map" ? std::vector<int64_t>{3, cfg.window_bins, cfg.window_bins}
                                 : task == "loop"  ? std::vector<int64_t>{3}
                                                   : std::vector<int64_t>{3, 2 * cfg.window_bins};
    EXPECT_EQ(pred.sizes(), shape) << task;
    const std::string key = task == "hic_map" ? "predict_map" : "predict_" + task;
    save_tensors({{"hic", hic}, {"epi", epi}, {key, pred}}, dir / "io.pt");
    auto r = run_command(twin() + " compare --config '" + config_json(cfg) + "' --state " + (dir / "state.pt") +
                         " --io " + (dir / "io.pt") + " --tol 1e-9");
    EXPECT_EQ(r.exit_code, 0) << task << " " << map_head << "\n" << r.output;
    std::cout << "[ twin     ] " << task << " (" << map_head << "): " << r.output.substr(r.output.rfind("twin:"));
  }
}

TEST(Model, ShapesFollowTheCorpusGeometry) {
  struct Geo {
    int64_t hic_bin, track_bin, window;
  };
  for (Geo g : {Geo{5000, 100, 50}, Geo{10000, 100, 50}, Geo{10000, 200, 64}}) {
    ModelConfig cfg = tiny_config();
    cfg.hic_bin_bp = g.hic_bin;
    cfg.track_bin_bp = g.track_bin;
    cfg.window_bins = g.window;
    torch::manual_seed(1);
    MixHicModel model(cfg);
    auto [hic, epi] = random_batch(cfg, 2, torch::kFloat32);
    PretrainOutput out = model->forward(hic, epi);
    const int64_t D = 8 * cfg.embed_dim, side = cfg.hic_side(3);
    EXPECT_EQ(out.epi_tokens.sizes(), (std::vector<int64_t>{2, cfg.epi_tokens(3), D})) << g.window;
    EXPECT_EQ(out.hic_tokens.sizes(), (std::vector<int64_t>{2, side * side, D})) << g.window;
    EXPECT_EQ(out.epi_skips[0].size(1), 2 * g.window);  // one token per Hi-C bin of both anchors
    EXPECT_EQ(model->impute_hic(epi).sizes(), out.hic_tokens.sizes());
    EXPECT_TRUE(torch::isfinite(out.loss(cfg, 100)).item<bool>());
  }
  ModelConfig ref;  // the reference geometry: 100 -> 50 -> 25 -> 12 and 625 -> 144 -> 36 -> 9
  EXPECT_EQ(ref.pool_factors(), (std::vector<int64_t>{2, 5, 5}));
  EXPECT_EQ(ref.epi_tokens(0), 100);
  EXPECT_EQ(ref.epi_tokens(3), 12);
  EXPECT_EQ(ref.hic_side(0) * ref.hic_side(0), 625);
  EXPECT_EQ(ref.hic_side(3) * ref.hic_side(3), 9);
}

TEST(Model, EveryParameterReceivesAGradient) {
  ModelConfig cfg = tiny_config();
  torch::manual_seed(2);
  MixHicModel model(cfg);
  auto [hic, epi] = random_batch(cfg, 4, torch::kFloat32);
  model->forward(hic, epi).loss(cfg, cfg.contrastive_only_epochs).backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key() << " received no gradient";
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  // the barrier map head: its barrier vectors and distance biases learn from the map loss
  cfg.task = Task::hic_map;
  cfg.map_head = "barrier";
  MixHicModel mapper(cfg);
  mapper->task_loss(hic, epi, torch::Tensor()).backward();
  for (const auto& p : mapper->named_parameters()) {
    if (!MixHicModelImpl::is_head_key(p.key())) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key() << " received no gradient";
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(Model, SameSeedGivesBitwiseIdenticalForward) {
  ModelConfig cfg = tiny_config();
  auto run = [&] {
    torch::manual_seed(3);
    MixHicModel model(cfg);
    auto [hic, epi] = random_batch(cfg, 4, torch::kFloat32);
    return model->forward(hic, epi).epi_tokens;
  };
  EXPECT_TRUE(torch::equal(run(), run()));
}

TEST(Model, TinyModelOverfitsEightSamples) {
  // The reference schedule: contrastive loss alone first (without it the mapping loss wins by
  // collapsing every sample to one embedding, and L_con stays at log 8), then all three terms.
  ModelConfig cfg = tiny_config();
  torch::manual_seed(4);
  MixHicModel model(cfg);
  auto [hic, epi] = random_batch(cfg, 8, torch::kFloat32);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(1e-6));
  double first = 0, last = 0;
  const int steps = 240, contrastive_only = 160;
  for (int step = 0; step < steps; ++step) {
    const int64_t epoch = step < contrastive_only ? 0 : cfg.contrastive_only_epochs;
    opt.zero_grad();
    PretrainOutput o = model->forward(hic, epi);
    torch::Tensor loss = o.loss(cfg, epoch);
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    if (step % 40 == 0 || step == steps - 1)
      std::cout << fmt::format("[ overfit  ] step {:3d} loss {:.4f} (con {:.4f} orth {:.2e} map {:.4f})\n", step, last,
                               o.contrastive.item<double>(), o.orthogonal.item<double>(), o.mapping.item<double>());
  }
  EXPECT_LT(last, first / 10);
}

TEST(Model, ImportsAStateDictSavedByPyTorch) {
  ModelConfig cfg = tiny_config();
  test::TempDir dir;
  auto saved = run_command(twin() + " save --config '" + config_json(cfg) + "' --seed 5 --out " + (dir / "twin.pt"));
  ASSERT_EQ(saved.exit_code, 0) << saved.output;
  MixHicModel model(cfg);
  load_state_dict(*model, dir / "twin.pt");
  // Same weights, same inputs: the same losses as PyTorch computes.
  torch::manual_seed(6);
  auto [hic, epi] = random_batch(cfg, 4, torch::kFloat32);
  save_tensors({{"hic", hic}, {"epi", epi}}, dir / "io.pt");
  model->train();
  PretrainOutput out;
  {
    torch::NoGradGuard no_grad;
    out = model->forward(hic, epi);
  }
  auto fwd = run_command(twin() + " forward --config '" + config_json(cfg) + "' --state " + (dir / "twin.pt") +
                         " --io " + (dir / "io.pt") + " --out " + (dir / "theirs.pt"));
  ASSERT_EQ(fwd.exit_code, 0) << fwd.output;
  NamedTensors theirs = load_tensors(dir / "theirs.pt");
  for (auto& [name, t] : theirs) {
    if (name == "contrastive") EXPECT_NEAR(out.contrastive.item<double>(), t.item<double>(), 1e-5);
    if (name == "mapping") EXPECT_NEAR(out.mapping.item<double>(), t.item<double>(), 1e-5);
    if (name == "hic_tokens") EXPECT_TRUE(torch::allclose(out.hic_tokens, t, 1e-4, 1e-5));
  }
  // Round trip: our export loads back into a fresh model bit for bit.
  save_state_dict(*model, dir / "ours.pt");
  MixHicModel again(cfg);
  load_state_dict(*again, dir / "ours.pt");
  for (auto& [name, t] : state_dict(*again))
    for (auto& [name2, t2] : state_dict(*model))
      if (name == name2) EXPECT_TRUE(torch::equal(t, t2)) << name;
}

TEST(Model, SavedTensorsLoadWithTorchLoadsRestrictedUnpickler) {
  // torch.load's default from PyTorch 2.6 on is weights_only=True; 1.13 checks the same when asked.
  test::TempDir dir;
  torch::manual_seed(2);
  torch::Tensor wide = torch::randn({5, 7});
  NamedTensors tensors = {
      {"w.weight", torch::randn({3, 4})},
      {"d", torch::randn({6}, torch::kDouble)},
      {"bn.num_batches_tracked", torch::tensor(int64_t(1) << 40)},  // 0-dim, past int32
      {"mask", torch::tensor({true, false, true})},
      {"half", torch::randn({2, 2}).to(torch::kBFloat16)},
      {"empty", torch::zeros({0, 3})},
      {"column", wide.select(1, 2)},  // a strided view, saved as its own values
      {"big", torch::arange(70000, torch::kInt)}};
  save_tensors(tensors, dir / "t.pt");
  auto r = run_command(test::twin_python() + " -c \"import sys, torch; d = torch.load(sys.argv[1], weights_only=True); "
                       "print(type(d).__name__, ' '.join(k + ':' + str(v.dtype).replace('torch.', '') + ':' + "
                       "'x'.join(map(str, v.shape)) + ':' + repr(float(v.double().sum())) for k, v in d.items()))\" " +
                       (dir / "t.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (auto& [name, t] : tensors) {
    std::string dtype = c10::toString(t.scalar_type());
    std::map<std::string, std::string> py = {{"Float", "float32"}, {"Double", "float64"}, {"Long", "int64"},
                                             {"Bool", "bool"}, {"BFloat16", "bfloat16"}, {"Int", "int32"}};
    EXPECT_NE(r.output.find(fmt::format("{}:{}:{}:", name, py.at(dtype), fmt::join(t.sizes(), "x"))),
              std::string::npos) << name << "\n" << r.output;
    // Python's repr of the double sum: compare by value.
    size_t at = r.output.find(" " + name + ":");
    ASSERT_NE(at, std::string::npos) << r.output;
    size_t colon = r.output.rfind(':', r.output.find_first_of(" \n", at + 1));
    EXPECT_DOUBLE_EQ(std::stod(r.output.substr(colon + 1)), t.to(torch::kDouble).sum().item<double>()) << name;
  }
  EXPECT_EQ(r.output.rfind("OrderedDict", 0), 0u) << r.output;
  // and mixhic's own reader gives back the same tensors
  NamedTensors back = load_tensors(dir / "t.pt");
  ASSERT_EQ(back.size(), tensors.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].first, tensors[i].first);
    EXPECT_TRUE(torch::equal(back[i].second, tensors[i].second.contiguous())) << back[i].first;
  }
}

TEST(Model, WrongKeysAndShapesAreErrorsThatNameThem) {
  ModelConfig cfg = tiny_config();
  test::TempDir dir;
  auto saved = run_command(twin() + " save --config '" + config_json(cfg) +
                           "' --out " + (dir / "renamed.pt") + " --rename mlp_e2m.weight=mlp_e2m.wieght");
  ASSERT_EQ(saved.exit_code, 0) << saved.output;
  MixHicModel model(cfg);
  try {
    load_state_dict(*model, dir / "renamed.pt");
    FAIL() << "a renamed key was accepted";
  } catch (const InputFormatError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("missing [mlp_e2m.weight]"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected [mlp_e2m.wieght]"), std::string::npos) << m;
  }
  ModelConfig wider = cfg;
  wider.embed_dim = 16;
  auto saved2 = run_command(twin() + " save --config '" + config_json(wider) + "' --out " + (dir / "wide.pt"));
  ASSERT_EQ(saved2.exit_code, 0) << saved2.output;
  try {
    load_state_dict(*model, dir / "wide.pt");
    FAIL() << "a wider checkpoint was accepted";
  } catch (const InputFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("patch_embedding.weight (file 16x4, model 8x4)"), std::string::npos) << e.what();
  }
}

TEST(Model, ReferenceOnlyKeysAreSkippedAndReportedAndHdf5ExportHoldsEveryTensor) {
  ModelConfig cfg = tiny_config();
  test::TempDir dir;
  auto saved = run_command(twin() + " save --config '" + config_json(cfg) + "' --out " + (dir / "ref.pt") +
                           " --extra map_downsampleTrans.encoderlayer_0.blocks.0.cross_attn.proj.weight" +
                           " --extra seq_downsampleTrans.layer_norm0.weight");
  ASSERT_EQ(saved.exit_code, 0) << saved.output;
  MixHicModel model(cfg);
  LoadReport report = load_state_dict(*model, dir / "ref.pt");
  EXPECT_EQ(report.skipped.size(), 2u);
  save_state_dict_h5(*model, dir / "w.h5");
  h5::Handle f = h5::open_read(dir / "w.h5");
  hsize_t n_links = 0;
  H5Gget_num_objs(f, &n_links);
  EXPECT_EQ(n_links, state_dict(*model).size());
  torch::Tensor w = model->named_parameters()["mlp_e2m.weight"];
  std::vector<float> back(w.numel());
  h5::read_rows(h5::open_dataset(f, "mlp_e2m.weight"), 0, w.size(0), back.data());
  EXPECT_TRUE(torch::equal(torch::from_blob(back.data(), w.sizes()), w.detach()));
}

TEST(Model, ParameterCountAndFlopsOfThePaperConfigs) {
  for (int64_t C : {128, 256}) {
    ModelConfig cfg;  // reference geometry, 2 tracks (ATAC + DNase)
    cfg.embed_dim = C;
    MixHicModel model(cfg);
    int64_t params = model->parameter_count();
    std::cout << fmt::format("[ model    ] C={}: {:.2f} M parameters, {:.2f} GFLOP forward per sample\n", C,
                             params / 1e6, cfg.forward_flops() / 1e9);
    // The spec's analytic count of the reference (74.0 M / 295.8 M at C = 128 / 256) includes
    // 11.2 M / 44.6 M of never-called cross-attention, which this model leaves out.
    double expected = C == 128 ? 74.0e6 - 11.2e6 : 295.8e6 - 44.6e6;
    EXPECT_NEAR(double(params), expected, 0.02 * expected) << C;
  }
}

TEST(Model, PrismHeadAdjustsExpressionAndItsUniformityLossIsHandComputed) {
  // uniformity: log mean_{i<j} exp(2t cos - 2t), t = 2
  torch::Tensor ortho = torch::tensor({1.f, 0.f, 0.f, 1.f}).view({1, 2, 2});
  EXPECT_NEAR(prism_uniformity(ortho, 2.0).item<double>(), -4.0, 1e-6);
  torch::Tensor parallel = torch::tensor({0.3f, 0.4f, 0.6f, 0.8f}).view({1, 2, 2});
  EXPECT_NEAR(prism_uniformity(parallel, 2.0).item<double>(), 0.0, 1e-6);
  torch::Tensor three = torch::tensor({1.f, 0.f, 0.f, 1.f, 1.f, 1.f}).view({1, 3, 2});  // cos 0, 1/sqrt2, 1/sqrt2
  const double want = std::log((std::exp(-4.0) + 2 * std::exp(4.0 / std::sqrt(2.0) - 4.0)) / 3);
  EXPECT_NEAR(prism_uniformity(three, 2.0).item<double>(), want, 1e-6);
  EXPECT_EQ(prism_uniformity(torch::rand({2, 1, 4}), 2.0).item<double>(), 0.0);

  ModelConfig cfg = tiny_config();
  cfg.task = Task::expression;
  auto [hic, epi] = random_batch(cfg, 4, torch::kFloat32);
  torch::Tensor target = torch::rand({4, cfg.window_bins});
  // n = 0: the reference head, MSE against the target on both anchors
  torch::manual_seed(5);
  MixHicModel plain(cfg);
  plain->eval();
  torch::Tensor both = plain->predict_expression(hic, epi);
  EXPECT_TRUE(torch::allclose(plain->predict(hic, epi), 0.5 * (both.narrow(1, 0, 32) + both.narrow(1, 32, 32))));
  EXPECT_NEAR(plain->task_loss(hic, epi, target).item<double>(),
              torch::mse_loss(both, torch::cat({target, target}, 1)).item<double>(), 1e-6);
  // n = 2: the adjusted prediction is the mean of the re-weighted runs; the loss is Huber(plain)
  // + alpha Huber(adjusted) + beta uniformity, and the weight generator learns from it
  cfg.prism_contexts = 2;
  torch::manual_seed(5);
  MixHicModel prism(cfg);
  prism->train();
  auto out = prism->expression_outputs(hic, epi);
  ASSERT_TRUE(out.adjusted.defined());
  EXPECT_EQ(out.weights.sizes(), (std::vector<int64_t>{4, 2, cfg.embed_dim}));
  EXPECT_GT(out.weights.min().item<double>(), 0.0);
  EXPECT_LT(out.weights.max().item<double>(), 1.0);
  const torch::Tensor two = torch::cat({target, target}, 1);
  {
    prism->eval();  // the head's dropout off: the same values twice
    torch::NoGradGuard no_grad;
    auto again = prism->expression_outputs(hic, epi);
    const double want_loss = (torch::smooth_l1_loss(again.plain, two) + torch::smooth_l1_loss(again.adjusted, two) +
                              prism_uniformity(again.weights, 2.0)).item<double>();
    EXPECT_NEAR(prism->task_loss(hic, epi, target).item<double>(), want_loss, 1e-6);
    EXPECT_TRUE(torch::allclose(prism->predict(hic, epi),
                                0.5 * (again.adjusted.narrow(1, 0, 32) + again.adjusted.narrow(1, 32, 32))));
    prism->train();
  }
  torch::Tensor loss = prism->task_loss(hic, epi, target);
  loss.backward();
  int prism_params = 0;
  for (const auto& p : prism->named_parameters()) {
    if (p.key().rfind("prism_weights.", 0) != 0) continue;
    ++prism_params;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  EXPECT_EQ(prism_params, 3 * 2 + 3 * 2 + 2);  // 3 convs, 3 BatchNorms (weight, bias), fc
  EXPECT_TRUE(MixHicModelImpl::is_head_key("prism_weights.fc.weight"));
  cfg.task = Task::loop;
  EXPECT_THROW(cfg.validate(), ConfigError);  // the Prism head is for expression only
}

TEST(Model, LoopLossIsBceOnTheLogitsAlsoSaturatedAndUnderBf16Autocast) {
  ModelConfig cfg = tiny_config();
  cfg.task = Task::loop;
  torch::manual_seed(3);
  MixHicModel model(cfg);
  model->eval();
  auto [hic, epi] = random_batch(cfg, 4, torch::kFloat);
  torch::Tensor target = torch::tensor({0.f, 1.f, 0.f, 1.f});
  // The hand value from the logits, in double: mean of log(1 + e^-|x|) + max(x, 0) - x y.
  auto hand = [&](const torch::Tensor& logits) {
    torch::Tensor x = logits.to(torch::kDouble), y = target.to(torch::kDouble);
    return (torch::log1p(torch::exp(-x.abs())) + x.clamp_min(0) - x * y).mean().item<double>();
  };
  torch::NoGradGuard no_grad;
  torch::Tensor logits = model->loop_logits(hic, epi);
  EXPECT_TRUE(torch::allclose(model->predict_loop(hic, epi), torch::sigmoid(logits)));
  EXPECT_NEAR(model->task_loss(hic, epi, target).item<double>(), hand(logits), 1e-6);

  // Saturated: the last layer's bias at +/-1000 puts every logit near it. A clamped probability
  // gives at most -log(1e-7) = 16.1 per sample (fp32), 100 with BCE's own clamp, or log(0) in bf16
  // where 1 - 1e-7 rounds to 1; the true loss is ~500.
  for (auto& p : model->named_parameters())
    if (p.key() == "classifier.3.bias") p.value().fill_(1000.0);
  logits = model->loop_logits(hic, epi);
  const double expected = hand(logits);
  ASSERT_GT(expected, 400);
  EXPECT_NEAR(model->task_loss(hic, epi, target).item<double>(), expected, 1e-4 * expected);
  {
    // The loss of bf16 logits under autocast (the model's own bf16 forward is for CUDA: LibTorch
    // 1.13's CPU layer_norm refuses bf16 input with fp32 weights; Gpu.* runs it).
    Bf16Autocast bf16(torch::kCPU, true);
    torch::Tensor logits16 = logits.to(torch::kBFloat16);
    torch::Tensor loss = loop_loss(logits16, target);
    EXPECT_EQ(loss.scalar_type(), torch::kFloat);
    EXPECT_TRUE(std::isfinite(loss.item<double>()));
    EXPECT_NEAR(loss.item<double>(), hand(logits16), 1e-6 * expected);  // exact on the rounded logits
    EXPECT_NEAR(loss.item<double>(), expected, 0.01 * expected);        // bf16 logits: 8 significant bits
    // What the sigmoid-then-BCE form gave: every probability 1 in bf16, the loss stuck at BCE's clamp.
    torch::Tensor p = torch::sigmoid(logits16).clamp(1e-7, 1 - 1e-7);
    EXPECT_LT(F::binary_cross_entropy(p.to(torch::kFloat), target).item<double>(), 0.5 * expected);
  }
}

TEST(Model, Bf16AutocastScopesNestAndContrastiveLogitsStayFp32) {
  torch::manual_seed(5);
  torch::Tensor a = torch::randn({6, 16}), b = torch::randn({6, 16}), t = torch::full({}, 0.07);
  const double fp32 = contrastive_loss(a, b, t).item<double>();
  {
    Bf16Autocast on(torch::kCPU, true);
    EXPECT_EQ(torch::matmul(a, b.t()).scalar_type(), torch::kBFloat16);
    {
      Bf16Autocast off(torch::kCPU, false);
      EXPECT_EQ(torch::matmul(a, b.t()).scalar_type(), torch::kFloat);
    }
    EXPECT_EQ(torch::matmul(a, b.t()).scalar_type(), torch::kBFloat16);  // restored
    torch::Tensor loss = contrastive_loss(a, b, t);
    EXPECT_EQ(loss.scalar_type(), torch::kFloat);
    EXPECT_NEAR(loss.item<double>(), fp32, 1e-6 * std::abs(fp32));  // computed in fp32, not bf16
  }
  EXPECT_EQ(torch::matmul(a, b.t()).scalar_type(), torch::kFloat);  // off again after the scope
  Bf16Autocast noop(torch::kCPU, false);
  EXPECT_EQ(torch::matmul(a, b.t()).scalar_type(), torch::kFloat);
}

TEST(Model, TrainingFlopsCountTheTaskHeadAndAFrozenBackboneOnce) {
  ModelConfig pre;  // reference geometry
  pre.embed_dim = 128;
  // Pre-training: the forward count of the README (3.91 GFLOP at C = 128), three times.
  EXPECT_NEAR(pre.forward_flops(), 3.91e9, 0.005e9);
  EXPECT_DOUBLE_EQ(pre.training_flops(false, "bimodal", 32), 3 * pre.forward_flops());
  EXPECT_EQ(pre.flops().head, 0);

  for (Task task : {Task::hic_map, Task::loop, Task::expression}) {
    SCOPED_TRACE(name_of(task));
    ModelConfig cfg = pre;
    cfg.task = task;
    const ModelFlops f = cfg.flops();
    EXPECT_GT(f.head, 0);
    const double backbone = task == Task::hic_map
                                ? f.epi_projection + f.epi_encoder + f.interaction_epi + f.mapping_e2m
                                : f.epi_projection + f.epi_encoder + f.interaction_epi + f.hic_encoder + f.interaction_hic;
    EXPECT_DOUBLE_EQ(cfg.training_flops(false, "bimodal", 32), 3 * (backbone + f.head));
    EXPECT_DOUBLE_EQ(cfg.training_flops(true, "bimodal", 32), backbone + 3 * f.head);
  }
  // The loop head without fusion: one encoder each.
  ModelConfig loop = pre;
  loop.task = Task::loop;
  const ModelFlops lf = loop.flops("epi");
  EXPECT_DOUBLE_EQ(loop.training_flops(false, "epi", 32), 3 * (lf.epi_projection + lf.epi_encoder + lf.head));
  EXPECT_DOUBLE_EQ(loop.training_flops(false, "hic", 32), 3 * (lf.hic_encoder + loop.flops("hic").head));
  // The pairwise map head: W^2 pairs through Linear(2C, 32) and Linear(32, 1), by hand.
  ModelConfig map = pre;
  map.task = Task::hic_map;
  ModelConfig decay = map;
  decay.map_head = "barrier";
  const double W = double(map.window_bins), C = 128, K = double(decay.barrier_dim);
  EXPECT_NEAR(decay.flops().head - map.flops().head, 2 * W * 2 * C * K + 2 * W * W * K * 32, 1);
  // reference-batch-attention: the decoder's tokens attend over the batch, not the window.
  ModelConfig batch_attn = map;
  batch_attn.reference_batch_attention = true;
  EXPECT_LT(batch_attn.flops("bimodal", 4).head, map.flops("bimodal", 4).head);
  // Prism: each context re-runs the epigenomic encoder and the head.
  ModelConfig prism = pre;
  prism.task = Task::expression;
  prism.prism_contexts = 2;
  const ModelFlops pf = prism.flops();
  ModelConfig plain = prism;
  plain.prism_contexts = 0;
  EXPECT_DOUBLE_EQ(prism.training_flops(false, "bimodal", 32) - plain.training_flops(false, "bimodal", 32),
                   3 * 2 * (pf.epi_encoder + pf.interaction_epi + pf.head));
}

namespace {
// The value of `key=` in a `model-bench:` line, or NaN.
double bench_field(const std::string& out, const std::string& key) {
  const auto line = out.find("model-bench:");
  if (line == std::string::npos) return std::nan("");
  const auto at = out.find(" " + key + "=", line);
  if (at == std::string::npos) return std::nan("");
  return std::stod(out.substr(at + key.size() + 2));
}
}  // namespace

// The step benchmark the GPU check runs (ci/gpu-check.sh), here on the CPU: MFU is the benchmark's
// own FLOP rate over the one device's peak; bf16 is refused off the GPU, as mixhic-train does.
TEST(ModelBench, ReportsTheMfuOfOneDeviceLikeTheTwinAndRefusesBf16OnTheCpu) {
  const std::string cfg = std::string(MIXHIC_SOURCE_DIR) + "/configs/model/tiny.ini";
  const std::string bench = fmt::format("{} bench --config {} --batch 2 --steps 2 --threads 1 --device cpu", MIXHIC_MODEL_BIN, cfg);
  auto ours = run_command(bench + " --peak-tflops 0.5");
  ASSERT_EQ(ours.exit_code, 0) << ours.output;
  EXPECT_NE(ours.output.find("precision=fp32"), std::string::npos) << ours.output;
  const double sps = bench_field(ours.output, "samples_per_s"), gflops = bench_field(ours.output, "gflops"),
               mfu = bench_field(ours.output, "mfu_percent");
  ASSERT_GT(sps, 0) << ours.output;
  // mfu_percent = 100 * FLOP/s / (0.5e12) = gflops / 5, to the printed rounding.
  EXPECT_NEAR(mfu, gflops / 5, 0.01 + 1e-3 * mfu) << ours.output;
  EXPECT_EQ(ours.output.find("peak_mem_gib"), std::string::npos) << "peak memory is a CUDA figure";

  auto bf16 = run_command(bench + " --precision bf16");
  EXPECT_NE(bf16.exit_code, 0);
  EXPECT_NE(bf16.output.find("--precision bf16: bf16 autocast is for --device cuda"), std::string::npos) << bf16.output;

  ModelConfig c;
  c.embed_dim = 16;
  c.depth = 1;
  c.heads = 2;
  c.n_tracks = 2;
  auto peer = run_command(twin() + " bench --config '" + config_json(c) + "' --batch 2 --steps 2 --device cpu");
  ASSERT_EQ(peer.exit_code, 0) << peer.output;
  EXPECT_NE(peer.output.find("precision=fp32"), std::string::npos) << peer.output;
  EXPECT_GT(bench_field(peer.output, "samples_per_s"), 0) << peer.output;
}
