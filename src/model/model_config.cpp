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

double ModelConfig::forward_flops() const {
  const double C = double(embed_dim), T = double(n_tracks);
  double f = 0;
  auto linear = [&](double tokens, double in, double out) { f += 2 * tokens * in * out; };
  auto attention = [&](double tokens, double d) { f += 2 * 2 * tokens * tokens * d; };  // QK^T and AV
  // Epigenomic branch: per-bin embedding, conv stack with pooling, 4 transformer stages.
  double L = double(epi_length());
  linear(L, T, C);
  auto factors = pool_factors();
  for (size_t i = 0; i <= factors.size(); ++i) {
    f += 2 * L * C * C * 3;  // Conv1d(C, C, 3)
    if (i < factors.size()) L /= double(factors[i]);
  }
  for (int level = 0; level < 4; ++level) {
    double n = double(epi_tokens(level)), d = C * double(1 << level);
    for (int b = 0; b < depth; ++b) {
      linear(n, d, 3 * d);  // in_proj
      attention(n, d);
      linear(n, d, d);          // out_proj
      linear(n, d, 2 * d);      // linear1 (FF = 2d)
      linear(n, 2 * d, d);      // linear2
    }
    if (level < 3) f += 2 * double(epi_tokens(level + 1)) * d * 2 * d * 4;  // Conv1d(d, 2d, 4, s2)
  }
  // Hi-C branch: 2x2 patch embedding, 4 stages of global attention + LeFF.
  linear(double(hic_side(0) * hic_side(0)), 4, C);
  for (int level = 0; level < 4; ++level) {
    double s = double(hic_side(level)), n = s * s, d = C * double(1 << level), h = d * double(mlp_ratio);
    for (int b = 0; b < depth; ++b) {
      linear(n, d, 3 * d);  // to_q + to_kv
      attention(n, d);
      linear(n, d, d);   // proj
      linear(n, d, h);   // LeFF linear1
      f += 2 * n * h * 9;  // depthwise 3x3
      linear(n, h, d);   // LeFF linear2
    }
    if (level < 3) {
      double s2 = double(hic_side(level + 1));
      f += 2 * s2 * s2 * d * 2 * d * 16;  // Conv2d(d, 2d, 4, s2)
    }
  }
  // Interaction heads (4 x Linear(8C, 4C)) and mapping maps (2 x Linear(8C, 8C)).
  double ne = double(epi_tokens(3)), nm = double(hic_side(3) * hic_side(3)), D = 8 * C;
  linear(ne, D, D / 2);
  linear(ne, D, D / 2);
  linear(nm, D, D / 2);
  linear(nm, D, D / 2);
  linear(nm, D, D);  // e2m on epi tokens pooled to the Hi-C token count
  linear(ne, D, D);  // m2e on Hi-C tokens pooled to the epi token count
  return f;
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
