// The MIX-HIC model: both encoders, the interaction and mapping blocks and their losses.
#include <cmath>

#include "mixhic/model.hpp"

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
}  // namespace

torch::Tensor contrastive_loss(const torch::Tensor& epi_mean, const torch::Tensor& hic_mean,
                               const torch::Tensor& temperature) {
  // Symmetric InfoNCE over the batch: sample i's epigenomic vector should pick its own Hi-C.
  torch::Tensor logits = torch::matmul(epi_mean, hic_mean.t()) / temperature;
  torch::Tensor target = torch::arange(epi_mean.size(0), torch::TensorOptions().dtype(torch::kLong).device(epi_mean.device()));
  torch::Tensor e2m = F::cross_entropy(logits, target);
  torch::Tensor m2e = F::cross_entropy(logits.t(), target);
  return (e2m + m2e) / 2;
}

torch::Tensor orthogonal_loss(const torch::Tensor& epi_share_mean, const torch::Tensor& epi_specific_mean,
                              const torch::Tensor& hic_share_mean, const torch::Tensor& hic_specific_mean) {
  torch::Tensor de = (epi_share_mean * epi_specific_mean).sum(-1);
  torch::Tensor dm = (hic_share_mean * hic_specific_mean).sum(-1);
  return (de.pow(2) + dm.pow(2)).mean();
}

torch::Tensor PretrainOutput::loss(const ModelConfig& cfg, int64_t epoch) const {
  if (epoch < cfg.contrastive_only_epochs) return contrastive;
  return cfg.weight_contrastive * contrastive + cfg.weight_orthogonal * orthogonal + cfg.weight_mapping * mapping;
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
  out.hic_tokens = encode_hic(hic);
  std::tie(out.epi_share, out.epi_specific) = interaction(out.epi_tokens, true);
  std::tie(out.hic_share, out.hic_specific) = interaction(out.hic_tokens, false);
  out.epi_concat = torch::cat({out.epi_share, out.epi_specific}, -1);
  out.hic_concat = torch::cat({out.hic_share, out.hic_specific}, -1);

  torch::Tensor es = out.epi_share.mean(1), ei = out.epi_specific.mean(1);
  torch::Tensor ms = out.hic_share.mean(1), mi = out.hic_specific.mean(1);
  out.contrastive = contrastive_loss(es, ms, temp);
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
  return map_e2m(torch::cat({share, specific}, -1));
}

}  // namespace mixhic
