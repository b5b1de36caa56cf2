#include "mixhic/model_config.hpp"

#include "mixhic/check.hpp"

namespace mixhic {

std::vector<int64_t> ModelConfig::pool_factors() const {
  std::vector<int64_t> f;
  int64_t r = pool_ratio();
  for (int64_t p = 2; p * p <= r; ++p)
    while (r % p == 0) {
      f.push_back(p);
      r /= p;
    }
  if (r > 1) f.push_back(r);
  return f;
}

int64_t ModelConfig::epi_tokens(int level) const {
  int64_t n = 2 * window_bins;
  for (int l = 0; l < level; ++l) n = n / 2;  // Conv1d(k4, s2, p1): floor(n / 2)
  return n;
}

int64_t ModelConfig::hic_side(int level) const {
  int64_t s = window_bins / 2;
  for (int l = 0; l < level; ++l) s = s / 2;  // Conv2d(k4, s2, p1)
  return s;
}

ModelConfig::LossWeights ModelConfig::loss_weights(int64_t epoch) const {
  if (epoch < contrastive_only_epochs) return {1.0, 0.0, 0.0};
  return {weight_contrastive, weight_orthogonal, weight_mapping};
}

void ModelConfig::from_corpus_geometry(const corpus::Geometry& g) {
  n_tracks = g.n_tracks;
  window_bins = g.window_bins;
  hic_bin_bp = g.hic_bin_bp;
  track_bin_bp = g.track_bin_bp;
}

namespace {
void need(bool ok, const char* key, const std::string& what) {
  if (!ok) throw ConfigError(fmt::format("model key '{}': {}", key, what));
}
}  // namespace

void ModelConfig::validate() const {
  validate_keys();
  validate_geometry();
}

void ModelConfig::validate_geometry() const {
  need(n_tracks >= 1, "n-tracks", ">= 1 (from the corpus)");
  need(track_bin_bp > 0 && hic_bin_bp % track_bin_bp == 0, "track-bin-bp", "a divisor of hic-bin-bp");
  need(window_bins % 2 == 0, "window-bins", "even: the Hi-C encoder embeds 2x2 patches");
  need(hic_side(3) >= 1 && epi_tokens(3) >= 1, "window-bins",
       fmt::format("large enough for 3 halvings (at least 16), got {}", window_bins));
}

void ModelConfig::validate_keys() const {
  need(heads >= 1, "heads", ">= 1");  // before embed-dim's test divides by it
  need(embed_dim > 0 && embed_dim % heads == 0, "embed-dim", "a positive multiple of heads");
  need(depth >= 1, "depth", ">= 1");
  need(mlp_ratio >= 1, "mlp-ratio", ">= 1");
  need(map_head == "reference" || map_head == "decay" || map_head == "barrier", "map-head", "reference | decay | barrier");
  need(barrier_dim >= 1, "barrier-dim", ">= 1");
  need(prism_contexts >= 0, "prism-contexts", "must be >= 0 (0: no confounder adjustment)");
  need(prism_contexts == 0 || task == Task::expression, "prism-contexts", "the Prism head is for task = expression");
  need(mapping_loss == "l2" || mapping_loss == "squared", "mapping-loss", "l2 | squared");
  need(contrastive_pooling == "reference" || contrastive_pooling == "centered", "contrastive-pooling", "reference | centered");
  need(temperature_min > 0 && temperature_min <= temperature_init && temperature_init <= temperature_max,
       "temperature-*", "0 < min <= init <= max");
}

namespace {
// Multiply-adds count 2; elementwise work (norms, activations, softmax) is not counted.
struct FlopCounter {
  double f = 0;
  void linear(double tokens, double in, double out) { f += 2 * tokens * in * out; }
  void attention(double queries, double keys, double d) { f += 2 * 2 * queries * keys * d; }  // QK^T and AV
  // torch::nn::TransformerEncoderLayer with FF = 2d; `keys`: the sequence each query attends over.
  void encoder_layer(double n, double d, double keys) {
    linear(n, d, 3 * d);  // in_proj
    attention(n, keys, d);
    linear(n, d, d);      // out_proj
    linear(n, d, 2 * d);  // linear1
    linear(n, 2 * d, d);  // linear2
  }
  // HicAttention (to_q, to_kv, proj) of `n` queries over `nk` keys.
  void hic_attention(double n, double nk, double d) {
    linear(n, d, d);
    linear(nk, d, 2 * d);
    attention(n, nk, d);
    linear(n, d, d);
  }
};
}  // namespace

ModelFlops ModelConfig::flops(const std::string& loop_modality, int64_t rank_batch) const {
  const double C = double(embed_dim), T = double(n_tracks), D = 8 * C;
  const double ne = double(epi_tokens(3)), nm = double(hic_side(3) * hic_side(3)), W = double(window_bins);
  ModelFlops out;
  FlopCounter k;
  // Epigenomic branch: per-bin embedding, conv stack with pooling, 4 transformer stages.
  double L = double(epi_length());
  k.linear(L, T, C);
  out.epi_projection = k.f;
  k.f = 0;
  auto factors = pool_factors();
  for (size_t i = 0; i <= factors.size(); ++i) {
    k.f += 2 * L * C * C * 3;  // Conv1d(C, C, 3)
    if (i < factors.size()) L /= double(factors[i]);
  }
  for (int level = 0; level < 4; ++level) {
    const double n = double(epi_tokens(level)), d = C * double(1 << level);
    for (int b = 0; b < depth; ++b) k.encoder_layer(n, d, n);
    if (level < 3) k.f += 2 * double(epi_tokens(level + 1)) * d * 2 * d * 4;  // Conv1d(d, 2d, 4, s2)
  }
  out.epi_encoder = k.f;
  // Hi-C branch: 2x2 patch embedding, 4 stages of global attention + LeFF.
  k.f = 0;
  k.linear(double(hic_side(0) * hic_side(0)), 4, C);
  for (int level = 0; level < 4; ++level) {
    const double s = double(hic_side(level)), n = s * s, d = C * double(1 << level), h = d * double(mlp_ratio);
    for (int b = 0; b < depth; ++b) {
      k.hic_attention(n, n, d);
      k.linear(n, d, h);      // LeFF linear1
      k.f += 2 * n * h * 9;   // depthwise 3x3
      k.linear(n, h, d);      // LeFF linear2
    }
    if (level < 3) {
      const double s2 = double(hic_side(level + 1));
      k.f += 2 * s2 * s2 * d * 2 * d * 16;  // Conv2d(d, 2d, 4, s2)
    }
  }
  out.hic_encoder = k.f;
  // Interaction heads (shared + specific, Linear(8C, 4C) each) and the mapping maps (Linear(8C, 8C)
  // on the other modality's tokens pooled to this one's count).
  out.interaction_epi = 2 * 2 * ne * D * (D / 2);
  out.interaction_hic = 2 * 2 * nm * D * (D / 2);
  out.mapping_e2m = 2 * nm * D * D;
  out.mapping_m2e = 2 * ne * D * D;
  if (task == Task::none) return out;

  // Task head: fusion blocks (epigenomic queries over Hi-C keys), decoder, classifier.
  k.f = 0;
  const bool fused = task != Task::loop || loop_modality == "bimodal";
  if (fused)
    for (int b = 0; b < depth; ++b) {
      k.hic_attention(ne, ne, D);           // attn
      k.hic_attention(ne, nm, D);           // cross_attn
      k.linear(ne, D, D * double(mlp_ratio));  // mlp fc1
      k.linear(ne, D * double(mlp_ratio), D);  // mlp fc2
    }
  if (task != Task::loop) {
    // EpiDecoder: level 3 -> 0, ConvTranspose1d(in, out, 4, s2) then a transformer stage at width w.
    const double in_ch[3] = {8 * C, 8 * C, 4 * C}, out_ch[3] = {4 * C, 2 * C, C}, width[3] = {8 * C, 4 * C, 2 * C};
    for (int s = 0; s < 3; ++s) {
      const int level = 3 - s;
      const double n = double(epi_tokens(level - 1));
      k.f += 2 * double(epi_tokens(level)) * in_ch[s] * out_ch[s] * 4;
      // reference-batch-attention: each token attends over the rank's batch instead of the window
      const double keys = reference_batch_attention && rank_batch > 0 ? double(rank_batch) : n;
      for (int b = 0; b < depth; ++b) k.encoder_layer(n, width[s], keys);
    }
  }
  if (task == Task::hic_map) {
    const double head_in = 2 * C + (map_head == "barrier" ? double(barrier_dim) : 0);
    if (map_head == "barrier") k.linear(W, 2 * C, double(barrier_dim));
    k.linear(W * W, head_in, 32);
    k.linear(W * W, 32, 1);
  } else if (task == Task::loop) {
    k.linear(1, D, 32);
    k.linear(1, 32, 1);
  } else {
    k.linear(2 * W, 2 * C, 128);
    k.linear(2 * W, 128, 1);
  }
  out.head = k.f;
  return out;
}

double ModelConfig::forward_flops() const {
  const ModelFlops f = flops();
  return f.epi_projection + f.epi_encoder + f.hic_encoder + f.interaction_epi + f.interaction_hic + f.mapping_e2m +
         f.mapping_m2e;
}

double ModelConfig::training_flops(bool freeze_backbone, const std::string& loop_modality, int64_t rank_batch) const {
  const ModelFlops f = flops(loop_modality, rank_batch);
  if (task == Task::none) return 3 * forward_flops();
  // The backbone parts this task's forward runs.
  const bool epi = task != Task::loop || loop_modality != "hic";
  const bool hic = task != Task::hic_map && (task != Task::loop || loop_modality != "epi");
  const bool fused = task != Task::loop || loop_modality == "bimodal";
  double backbone = 0;
  if (epi) backbone += f.epi_projection + f.epi_encoder + (fused || task != Task::loop ? f.interaction_epi : 0);
  if (hic) backbone += f.hic_encoder + (fused ? f.interaction_hic : 0);
  if (task == Task::hic_map) backbone += f.mapping_e2m;
  // Prism: each context re-runs the epigenomic encoder (after the projection), its interaction and
  // the head on re-weighted tracks; the weight generator's gradient flows back through that encoder
  // also when the backbone is frozen (the activation gradient: ~1x forward).
  const double contexts = task == Task::expression ? double(prism_contexts) : 0;
  const double context_backbone = contexts * (f.epi_encoder + f.interaction_epi);
  const double head = (1 + contexts) * f.head;
  if (freeze_backbone) return backbone + 2 * context_backbone + 3 * head;
  return 3 * (backbone + context_backbone + head);
}

void validate(boost::any& v, const std::vector<std::string>& values, Task*, int) {
  const std::string& text = po::validators::get_single_string(values);
  try {
    v = parse_task(text, "task");
  } catch (const ConfigError&) {
    need(false, "task", "none | hic_map | loop | expression");
  }
}

po::options_description model_options(ModelConfig& m) {
  auto text = [](auto v) { return fmt::format("{}", v); };
  po::options_description t("model options (configs/model/*.ini)");
  t.add_options()
      ("embed-dim", po::value(&m.embed_dim)->default_value(m.embed_dim), "width C of the first stage (8C at the bottleneck)")
      ("depth", po::value(&m.depth)->default_value(m.depth), "transformer blocks per stage")
      ("heads", po::value(&m.heads)->default_value(m.heads), "attention heads")
      ("mlp-ratio", po::value(&m.mlp_ratio)->default_value(m.mlp_ratio), "hidden width of the Hi-C blocks' LeFF, as a multiple of the width")
      ("dropout", po::value(&m.dropout)->default_value(m.dropout, text(m.dropout)), "dropout probability")
      ("reference-batch-attention", po::value(&m.reference_batch_attention)->default_value(m.reference_batch_attention, text(m.reference_batch_attention)), "reproduce the reference code's 1-D attention across the batch (off: attention over positions, as the paper)")
      ("task", po::value(&m.task)->default_value(m.task, name_of(m.task)), "head built with the backbone: none (pre-training) | hic_map | loop | expression")
      ("map-head", po::value(&m.map_head)->default_value(m.map_head), "hic_map head: reference (sigmoid, MSE) | decay (no sigmoid, no head dropout, a learned bias per distance) | barrier (decay + the sum of learned per-bin barrier vectors between the two bins)")
      ("barrier-dim", po::value(&m.barrier_dim)->default_value(m.barrier_dim), "map-head = barrier: size of each bin's barrier vector")
      ("prism-contexts", po::value(&m.prism_contexts)->default_value(m.prism_contexts), "expression: n confounder weight vectors of the Prism head (Prism: 2; 0: off)")
      ("prism-alpha", po::value(&m.prism_alpha)->default_value(m.prism_alpha, text(m.prism_alpha)), "weight of the adjusted branch's Huber loss")
      ("prism-beta", po::value(&m.prism_beta)->default_value(m.prism_beta, text(m.prism_beta)), "weight of the uniformity (diversity) loss of the weight vectors")
      ("prism-t", po::value(&m.prism_t)->default_value(m.prism_t, text(m.prism_t)), "temperature of the uniformity loss (Prism: 2)")
      ("mapping-loss", po::value(&m.mapping_loss)->default_value(m.mapping_loss), "l2 (reference code: mean unsquared distance) | squared (paper)")
      ("contrastive-pooling", po::value(&m.contrastive_pooling)->default_value(m.contrastive_pooling), "InfoNCE on the pooled shared features as they are (reference) | centered (minus the global batch mean, L2-normalised)")
      ("contrastive-only-epochs", po::value(&m.contrastive_only_epochs)->default_value(m.contrastive_only_epochs), "epochs trained on the contrastive loss alone (reference: 10)")
      ("weight-contrastive", po::value(&m.weight_contrastive)->default_value(m.weight_contrastive, text(m.weight_contrastive)), "weight of L_con after the contrastive-only epochs")
      ("weight-orthogonal", po::value(&m.weight_orthogonal)->default_value(m.weight_orthogonal, text(m.weight_orthogonal)), "weight of L_orth")
      ("weight-mapping", po::value(&m.weight_mapping)->default_value(m.weight_mapping, text(m.weight_mapping)), "weight of L_mapping")
      ("temperature-init", po::value(&m.temperature_init)->default_value(m.temperature_init, text(m.temperature_init)), "initial contrastive temperature")
      ("temperature-min", po::value(&m.temperature_min)->default_value(m.temperature_min, text(m.temperature_min)), "temperature clamp, low")
      ("temperature-max", po::value(&m.temperature_max)->default_value(m.temperature_max, text(m.temperature_max)), "temperature clamp, high");
  return t;
}

}  // namespace mixhic
