// The MIX-HIC model: both encoders, the interaction and mapping blocks and their losses.
#include <cmath>

#include "mixhic/model.hpp"

#include <fmt/format.h>

#include "mixhic/autocast.hpp"
#include "mixhic/check.hpp"

namespace mixhic {

namespace F = torch::nn::functional;

namespace {
// The reference initialises its encoders' Linear layers with trunc_normal(std 0.02) (truncation
// at +-2, i.e. 100 sigma, never bites) and zero bias, and LayerNorms with (1, 0); the heads it
// creates afterwards keep PyTorch's default initialisation.
void reference_init(torch::nn::Module& root) {
  torch::NoGradGuard no_grad;
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (auto* lin = m->as<torch::nn::Linear>()) {
      lin->weight.normal_(0.0, 0.02).clamp_(-2.0, 2.0);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* ln = m->as<torch::nn::LayerNorm>()) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  }
}

// bf16 and fp16 to fp32; fp32 and fp64 (the twin tests) as they are.
torch::Tensor at_least_fp32(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
}
}  // namespace

torch::Tensor contrastive_loss(const torch::Tensor& epi_mean, const torch::Tensor& hic_mean,
                               const torch::Tensor& temperature) {
  // Symmetric InfoNCE over the batch: sample i's epigenomic vector should pick its own Hi-C. The
  // logits in fp32 also in a bf16 run: bf16 (8 significant bits) would round logits of ~1/temperature
  // = 14 in steps of 1/16.
  Bf16Autocast fp32(epi_mean.device().type(), false);
  torch::Tensor logits = torch::matmul(at_least_fp32(epi_mean), at_least_fp32(hic_mean).t()) / at_least_fp32(temperature);
  torch::Tensor target = torch::arange(epi_mean.size(0), torch::TensorOptions().dtype(torch::kLong).device(epi_mean.device()));
  torch::Tensor e2m = F::cross_entropy(logits, target);
  torch::Tensor m2e = F::cross_entropy(logits.t(), target);
  return (e2m + m2e) / 2;
}

torch::Tensor loop_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  // binary_cross_entropy of a sigmoid is refused under CUDA autocast ("unsafe to autocast"), and a
  // probability clamped below 1 rounds to 1 in bf16 (log 0): the logits' form, in fp32.
  Bf16Autocast fp32(logits.device().type(), false);
  torch::Tensor x = at_least_fp32(logits);
  return F::binary_cross_entropy_with_logits(x, target.to(x.scalar_type()));
}

torch::Tensor orthogonal_loss(const torch::Tensor& epi_share_mean, const torch::Tensor& epi_specific_mean,
                              const torch::Tensor& hic_share_mean, const torch::Tensor& hic_specific_mean) {
  torch::Tensor de = (epi_share_mean * epi_specific_mean).sum(-1);
  torch::Tensor dm = (hic_share_mean * hic_specific_mean).sum(-1);
  return (de.pow(2) + dm.pow(2)).mean();
}

torch::Tensor PretrainOutput::loss(const ModelConfig& cfg, int64_t epoch, double per_sample_scale) const {
  const double con_scale = contrastive_is_global ? 1.0 : per_sample_scale;
  // Terms with weight 0 (the contrastive-only epochs) still enter: every parameter then gets a
  // (zero) gradient, and data-parallel gradient buckets fill in backward as in later epochs.
  const ModelConfig::LossWeights w = cfg.loss_weights(epoch);
  return (w.contrastive * con_scale) * contrastive + per_sample_scale * (w.orthogonal * orthogonal + w.mapping * mapping);
}

void MixHicModelImpl::set_cross_rank_batch(CrossRankBatch* batch) {
  cross_rank_batch_ = batch;
  seq_downsampleTrans->set_cross_rank_batch(batch);
}

MixHicModelImpl::MixHicModelImpl(const ModelConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  const int64_t C = cfg.embed_dim, D = 8 * C;
  seq_input_projection = register_module(
      "seq_input_projection",
      torch::nn::Sequential(torch::nn::Linear(cfg.n_tracks, C), torch::nn::ReLU(), torch::nn::Dropout(cfg.dropout)));
  seq_downsampleTrans = register_module("seq_downsampleTrans", EpiEncoder(cfg));
  patch_embedding = register_module("patch_embedding", torch::nn::Linear(4, C));
  map_downsampleTrans = register_module("map_downsampleTrans", HicEncoder(cfg));
  reference_init(*this);
  temp = register_parameter("temp", torch::full({}, cfg.temperature_init));
  epi_share_proj = register_module("epi_share_proj", torch::nn::Linear(D, D / 2));
  map_share_proj = register_module("map_share_proj", torch::nn::Linear(D, D / 2));
  epi_independent_proj = register_module("epi_independent_proj", torch::nn::Linear(D, D / 2));
  map_independent_proj = register_module("map_independent_proj", torch::nn::Linear(D, D / 2));
  mlp_e2m = register_module("mlp_e2m", torch::nn::Linear(D, D));
  mlp_m2e = register_module("mlp_m2e", torch::nn::Linear(D, D));
  if (cfg.task == Task::none) return;
  // Heads, with the reference downstream models' keys: fusion_block.blocks.*, seq_upsampleTrans.*,
  // classifier.* (initialised like the reference's encoders).
  auto fusion = register_module("fusion_block", std::make_shared<torch::nn::Module>());
  fusion_blocks_ = fusion->register_module("blocks", torch::nn::ModuleList());
  for (int64_t b = 0; b < cfg.depth; ++b) fusion_blocks_->push_back(FusionBlock(D, cfg.heads, cfg.mlp_ratio, cfg.dropout));
  int64_t head_in = D, hidden = 32;
  if (cfg.task != Task::loop) {
    seq_upsampleTrans = register_module("seq_upsampleTrans", EpiDecoder(cfg));
    head_in = 2 * C;
    hidden = cfg.task == Task::expression ? 128 : 32;
  }
  const bool barrier_head = cfg.task == Task::hic_map && cfg.map_head == "barrier";
  const bool decay_head = cfg.task == Task::hic_map && (cfg.map_head == "decay" || barrier_head);
  if (barrier_head) {
    barrier = register_module("barrier", torch::nn::Linear(head_in, cfg.barrier_dim));
    head_in += cfg.barrier_dim;
  }
  torch::nn::Sequential head(torch::nn::Linear(head_in, hidden), torch::nn::ReLU(),
                             torch::nn::Dropout(decay_head ? 0.0 : 0.5), torch::nn::Linear(hidden, 1));
  // The reference's map head ends in a sigmoid. The loop head's sigmoid is applied outside it
  // (predict_loop), so that the loss can take the logits (same parameters, same state-dict keys).
  if (cfg.task == Task::hic_map && !decay_head) head->push_back(torch::nn::Sigmoid());
  if (decay_head) dist_bias = register_parameter("dist_bias", torch::zeros({cfg.window_bins}));
  if (cfg.prism_contexts > 0)
    prism_weights = register_module("prism_weights", TrackWeightGenerator(cfg.n_tracks, C, cfg.prism_contexts));
  classifier = register_module("classifier", head);
  reference_init(*fusion);
  reference_init(*classifier);
  if (seq_upsampleTrans) reference_init(*seq_upsampleTrans);
  if (barrier) reference_init(*barrier);
}

void MixHicModelImpl::require_task(Task task) const {
  if (cfg_.task != task)
    throw ConfigError(fmt::format("this model was built with task '{}', not '{}' (set task = {})", name_of(cfg_.task),
                                  name_of(task), name_of(task)));
}

torch::Tensor MixHicModelImpl::fuse(const torch::Tensor& epi_concat, const torch::Tensor& hic_concat) {
  torch::Tensor x = epi_concat;
  for (auto& block : *fusion_blocks_) x = block->as<FusionBlock>()->forward(x, hic_concat);
  return x;
}

namespace {
// (B, 2W, 2C) decoder tokens -> (B, W, W, 2C) pair features (x_i + y_j)/2 + x_i * y_j, with x the
// first anchor's W tokens and y the second's (the reference's pairwise head).
torch::Tensor pair_features(const torch::Tensor& tokens, int64_t W) {
  torch::Tensor x = tokens.slice(1, 0, W).unsqueeze(2), y = tokens.slice(1, W, 2 * W).unsqueeze(1);
  return (x + y) / 2 + x * y;
}

// (B, W, K) per-bin barrier vectors -> (B, W, W, K): entry (i, j) is the sum of b_k over the bins
// between them, i < k <= j (or j < k <= i); 0 on the diagonal. Prefix sums make it O(W^2 K).
torch::Tensor between_sums(const torch::Tensor& b) {
  torch::Tensor c = b.cumsum(1);                      // c_k = b_0 + ... + b_k
  torch::Tensor d = c.unsqueeze(1) - c.unsqueeze(2);  // d[i][j] = c_j - c_i
  // j < i: c_i - c_j = -d[i][j]
  torch::Tensor sign = 2 * torch::ones({b.size(1), b.size(1)}, b.options()).triu() - 1;
  return d * sign.unsqueeze(0).unsqueeze(-1);
}
}  // namespace

torch::Tensor MixHicModelImpl::predict_map(const torch::Tensor& epi) {
  require_task(Task::hic_map);
  EpiFeatures ef = encode_epi(epi);
  auto [share, specific] = interaction(ef.bottleneck, true);
  torch::Tensor epi_concat = torch::cat({share, specific}, -1);
  torch::Tensor imputed = std::sqrt(2.0) * map_e2m(epi_concat);
  torch::Tensor decoded = seq_upsampleTrans(fuse(epi_concat, imputed), ef.skips);
  torch::Tensor pairs = pair_features(decoded, cfg_.window_bins);
  if (barrier) {
    // hic_map windows lie on the diagonal: both anchors are the same bins; average their tokens
    const int64_t W = cfg_.window_bins;
    torch::Tensor bins = 0.5 * (decoded.slice(1, 0, W) + decoded.slice(1, W, 2 * W));
    pairs = torch::cat({pairs, between_sums(barrier(bins))}, -1);
  }
  torch::Tensor map = classifier->forward(pairs).squeeze(-1);
  if (!dist_bias.defined()) return map;
  torch::Tensor i = torch::arange(cfg_.window_bins, torch::TensorOptions().dtype(torch::kLong).device(map.device()));
  return map + dist_bias.index({(i.unsqueeze(1) - i.unsqueeze(0)).abs()});
}

torch::Tensor MixHicModelImpl::predict_loop(const torch::Tensor& hic, const torch::Tensor& epi, const std::string& modality) {
  return torch::sigmoid(loop_logits(hic, epi, modality));
}

torch::Tensor MixHicModelImpl::loop_logits(const torch::Tensor& hic, const torch::Tensor& epi, const std::string& modality) {
  require_task(Task::loop);
  torch::Tensor pooled;
  if (modality == "hic") {
    pooled = encode_hic(hic).mean(1);
  } else {
    EpiFeatures ef = encode_epi(epi);
    if (modality == "epi") {
      pooled = ef.bottleneck.mean(1);
    } else if (modality == "bimodal") {
      auto [es, ei] = interaction(ef.bottleneck, true);
      auto [ms, mi] = interaction(encode_hic(hic), false);
      pooled = fuse(torch::cat({es, ei}, -1), torch::cat({ms, mi}, -1)).mean(1);
    } else {
      throw ConfigError(fmt::format("loop modality '{}': expected bimodal | epi | hic", modality));
    }
  }
  return classifier->forward(pooled).squeeze(-1);
}

torch::Tensor MixHicModelImpl::predict_expression(const torch::Tensor& hic, const torch::Tensor& epi) {
  return expression_outputs(hic, epi).plain;
}

MixHicModelImpl::ExpressionOutput MixHicModelImpl::expression_outputs(const torch::Tensor& hic, const torch::Tensor& epi) {
  require_task(Task::expression);
  ExpressionOutput out;
  torch::Tensor projected = seq_input_projection->forward(epi);
  EpiFeatures ef = seq_downsampleTrans(projected);
  auto [ms, mi] = interaction(encode_hic(hic), false);
  torch::Tensor hic_concat = torch::cat({ms, mi}, -1);
  auto branch = [&](const EpiFeatures& f) {
    auto [es, ei] = interaction(f.bottleneck, true);
    torch::Tensor fused = fuse(torch::cat({es, ei}, -1), hic_concat);
    return classifier->forward(seq_upsampleTrans(fused, f.skips)).squeeze(-1);
  };
  out.plain = branch(ef);
  if (!prism_weights) return out;
  // Backdoor adjustment: the same branch on the track embedding re-weighted by each a_i.
  out.weights = prism_weights->forward(epi, cross_rank_batch_);
  std::vector<torch::Tensor> runs;
  for (int64_t i = 0; i < cfg_.prism_contexts; ++i)
    runs.push_back(branch(seq_downsampleTrans(projected * out.weights.select(1, i).unsqueeze(1))));
  out.adjusted = torch::stack(runs).mean(0);
  return out;
}

torch::Tensor prism_uniformity(const torch::Tensor& weights, double t) {
  const int64_t n = weights.size(1);
  if (n < 2) return weights.sum() * 0;
  torch::Tensor u = F::normalize(weights, F::NormalizeFuncOptions().dim(-1));
  torch::Tensor cos = torch::matmul(u, u.transpose(1, 2));  // (B, n, n)
  torch::Tensor pairs = torch::ones({n, n}, weights.options().dtype(torch::kBool)).triu(1);
  torch::Tensor e = torch::exp(2 * t * cos - 2 * t).masked_select(pairs.unsqueeze(0).expand_as(cos)).view({-1, n * (n - 1) / 2});
  return e.mean(1).log().mean();
}

torch::Tensor MixHicModelImpl::predict(const torch::Tensor& hic, const torch::Tensor& epi, const std::string& modality) {
  if (cfg_.task == Task::hic_map) return predict_map(epi);
  if (cfg_.task == Task::loop) return predict_loop(hic, epi, modality);
  ExpressionOutput out = expression_outputs(hic, epi);
  // (B, 2W): anchor 1's bins, then anchor 2's; with the Prism head, the adjusted prediction
  torch::Tensor both = out.adjusted.defined() ? out.adjusted : out.plain;
  const int64_t W = cfg_.window_bins;
  return 0.5 * (both.narrow(1, 0, W) + both.narrow(1, W, W));
}

torch::Tensor MixHicModelImpl::task_loss(const torch::Tensor& hic, const torch::Tensor& epi, const torch::Tensor& target,
                                         const std::string& modality) {
  if (cfg_.task == Task::hic_map) return F::mse_loss(predict_map(epi), hic.squeeze(1));
  if (cfg_.task == Task::loop) return loop_loss(loop_logits(hic, epi, modality), target);
  ExpressionOutput out = expression_outputs(hic, epi);
  torch::Tensor both = torch::cat({target, target}, 1);
  if (!out.adjusted.defined()) return F::mse_loss(out.plain, both);
  return F::smooth_l1_loss(out.plain, both) + cfg_.prism_alpha * F::smooth_l1_loss(out.adjusted, both) +
         cfg_.prism_beta * prism_uniformity(out.weights, cfg_.prism_t);
}

bool MixHicModelImpl::is_head_key(const std::string& key) {
  if (key == "dist_bias") return true;
  for (const char* prefix : {"fusion_block.", "seq_upsampleTrans.", "classifier.", "barrier.", "prism_weights."})
    if (key.rfind(prefix, 0) == 0) return true;
  return false;
}

int64_t MixHicModelImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

EpiFeatures MixHicModelImpl::encode_epi(const torch::Tensor& epi) {
  return seq_downsampleTrans(seq_input_projection->forward(epi));
}

torch::Tensor MixHicModelImpl::encode_hic(const torch::Tensor& hic) {
  return map_downsampleTrans(patch_embedding(image_to_patches(hic, 2)));
}

std::pair<torch::Tensor, torch::Tensor> MixHicModelImpl::interaction(const torch::Tensor& tokens, bool epi) {
  auto unit = F::NormalizeFuncOptions().dim(-1);
  torch::Tensor share = F::normalize((epi ? epi_share_proj : map_share_proj)(tokens), unit);
  torch::Tensor specific = F::normalize((epi ? epi_independent_proj : map_independent_proj)(tokens), unit);
  return {share, specific};
}

namespace {
// (B, N, D) -> (B, n, D) by adaptive average pooling over tokens.
torch::Tensor pool_tokens(const torch::Tensor& x, int64_t n) {
  return torch::adaptive_avg_pool1d(x.transpose(1, 2), {n}).transpose(1, 2);
}
torch::Tensor unit_rows(const torch::Tensor& x) { return x / x.norm(2, -1, true); }
}  // namespace

torch::Tensor MixHicModelImpl::map_e2m(const torch::Tensor& epi_concat) {
  const int64_t nm = cfg_.hic_side(3) * cfg_.hic_side(3);
  return unit_rows(mlp_e2m(pool_tokens(epi_concat, nm)));
}

torch::Tensor MixHicModelImpl::map_m2e(const torch::Tensor& hic_concat) {
  return unit_rows(mlp_m2e(pool_tokens(hic_concat, cfg_.epi_tokens(3))));
}

PretrainOutput MixHicModelImpl::forward(const torch::Tensor& hic, const torch::Tensor& epi) {
  {
    torch::NoGradGuard no_grad;  // the reference clamps the temperature in place on every call
    temp.clamp_(cfg_.temperature_min, cfg_.temperature_max);
  }
  PretrainOutput out;
  EpiFeatures ef = encode_epi(epi);
  out.epi_tokens = ef.bottleneck;
  out.epi_skips = std::move(ef.skips);
  out.hic_stages = map_downsampleTrans->stages(patch_embedding(image_to_patches(hic, 2)));
  out.hic_tokens = out.hic_stages.back();
  std::tie(out.epi_share, out.epi_specific) = interaction(out.epi_tokens, true);
  std::tie(out.hic_share, out.hic_specific) = interaction(out.hic_tokens, false);
  out.epi_concat = torch::cat({out.epi_share, out.epi_specific}, -1);
  out.hic_concat = torch::cat({out.hic_share, out.hic_specific}, -1);

  torch::Tensor es = out.epi_share.mean(1), ei = out.epi_specific.mean(1);
  torch::Tensor ms = out.hic_share.mean(1), mi = out.hic_specific.mean(1);
  torch::Tensor con_e = es, con_m = ms;
  if (cross_rank_batch_ && is_training()) {
    // Negatives from the whole global batch: the same loss on any number of ranks.
    con_e = gather_rows_with_grad(es, *cross_rank_batch_);
    con_m = gather_rows_with_grad(ms, *cross_rank_batch_);
    out.contrastive_is_global = true;
  }
  if (cfg_.contrastive_pooling == "centered") {
    const auto unit = F::NormalizeFuncOptions().dim(-1);  // eps: a batch of one centres to 0
    con_e = F::normalize(con_e - con_e.mean(0, true), unit);
    con_m = F::normalize(con_m - con_m.mean(0, true), unit);
  }
  out.contrastive = contrastive_loss(con_e, con_m, temp);
  out.orthogonal = orthogonal_loss(es, ei, ms, mi);

  // Mapping: each modality's tokens, pooled to the other's token count and mapped, should land
  // on the other's (unit-normalised) tokens.
  torch::Tensor e2m = map_e2m(out.epi_concat), m2e = map_m2e(out.hic_concat);
  torch::Tensor d_e2m = (e2m - unit_rows(out.hic_concat)).norm(2, -1);
  torch::Tensor d_m2e = (m2e - unit_rows(out.epi_concat)).norm(2, -1);
  if (cfg_.mapping_loss == "squared") {
    d_e2m = d_e2m.pow(2);
    d_m2e = d_m2e.pow(2);
  }
  out.mapping = (d_e2m.mean() + d_m2e.mean()) / 2;
  return out;
}

torch::Tensor MixHicModelImpl::impute_hic(const torch::Tensor& epi) {
  EpiFeatures ef = encode_epi(epi);
  auto [share, specific] = interaction(ef.bottleneck, true);
  return std::sqrt(2.0) * map_e2m(torch::cat({share, specific}, -1));
}

}  // namespace mixhic
