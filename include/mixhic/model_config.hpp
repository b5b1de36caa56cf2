// model_config.hpp — the MIX-HIC architecture's settings and the sizes derived from them.
//
// Geometry keys (window bins, bin sizes, tracks) must come from the corpus (`/geometry`), never
// be assumed: from_corpus_geometry() copies them. Width/depth keys come from configs/model/*.ini.
// Every key is also a command-line option of the binaries that build a model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mixhic/config.hpp"
#include "mixhic/corpus_schema.hpp"
#include "mixhic/task.hpp"

namespace mixhic {

// Forward FLOPs per sample of the model's parts (ModelConfig::flops).
struct ModelFlops {
  double epi_projection = 0, epi_encoder = 0, hic_encoder = 0;
  double interaction_epi = 0, interaction_hic = 0, mapping_e2m = 0, mapping_m2e = 0;
  double head = 0;  // fusion blocks, decoder and classifier of the task
};

struct ModelConfig {
  // width and depth (reference defaults: C = 128 or 256, depth 2, 4 heads, MLP ratio 2)
  int64_t embed_dim = 128;
  int64_t depth = 2;
  int64_t heads = 4;
  int64_t mlp_ratio = 2;
  double dropout = 0.0;
  // geometry, from the corpus
  int64_t n_tracks = 2;
  int64_t window_bins = 50;
  int64_t hic_bin_bp = 5000;
  int64_t track_bin_bp = 100;
  // The reference feeds (B, L, C) tensors to seq-first nn.TransformerEncoder layers, so its 1-D
  // attention mixes batch items at each position. Off (default): attention over positions, as
  // the paper describes. On: the reference code's behaviour, for comparisons.
  bool reference_batch_attention = false;
  // Fine-tuning head built next to the backbone (trained by the downstream tasks):
  // none (pre-training) | hic_map (decoder + pairwise map head) | loop (classifier) |
  // expression (decoder + per-bin regressor)
  Task task = Task::none;
  // hic_map head. reference: sigmoid over the pairwise features, MSE (the reference code; on
  // maps whose values are mostly small its logits must span ~3 units, which AdamW at fine-tuning
  // learning rates does not reach: it predicts the mean map). decay: no sigmoid, no head dropout,
  // plus a learned bias per distance |i - j| (`dist_bias`, W values, starting at 0), so the
  // distance decay is one parameter per diagonal and the pairwise features learn the rest.
  // barrier: decay, plus what lies between the two bins: each decoded bin k gets a learned
  // barrier vector b_k (`barrier`, 2C -> barrier-dim), and pixel (i, j) sees sum_{i < k <= j} b_k
  // next to its pair features. The reference's per-pixel head sees bins i and j only, so it
  // cannot express insulation (CTCF-bound boundaries between i and j lowering their contacts).
  std::string map_head = "reference";
  int64_t barrier_dim = 8;
  // expression: Prism's confounder-adjusted head (seed paper "Extending Sequence Length is Not
  // All You Need"): a small conv encoder over the tracks gives n weight vectors a_i in (0,1)^C;
  // the expression branch runs on the projected tracks re-weighted by each a_i and the adjusted
  // prediction is their mean (backdoor adjustment). Losses: Huber on the plain branch + alpha x
  // Huber on the adjusted one + beta x uniformity of the a_i (temperature t). n = 0: off.
  int64_t prism_contexts = 0;
  double prism_alpha = 1.0, prism_beta = 1.0, prism_t = 2.0;
  // losses (the paper and the reference code disagree; see README "Model")
  std::string mapping_loss = "l2";  // l2: mean unsquared distance (code) | squared (paper)
  // What InfoNCE compares. reference: the token means of the L2-normalised shared features, as
  // they are. centered: those means minus their (global) batch mean, then L2-normalised, so a
  // feature every window shares cancels and only what tells windows apart is matched.
  std::string contrastive_pooling = "reference";
  int64_t contrastive_only_epochs = 10;
  double weight_contrastive = 0.5, weight_orthogonal = 0.5, weight_mapping = 0.5;
  double temperature_init = 0.07, temperature_min = 0.001, temperature_max = 0.5;

  // The pre-training schedule: weights of L_con, L_orth and L_mapping in `epoch` (the reference:
  // 1, 0, 0 during the contrastive-only epochs, then the configured weights).
  struct LossWeights {
    double contrastive, orthogonal, mapping;
  };
  LossWeights loss_weights(int64_t epoch) const;

  // derived sizes
  int64_t pool_ratio() const { return hic_bin_bp / track_bin_bp; }  // track bins per Hi-C bin
  std::vector<int64_t> pool_factors() const;  // prime factors of pool_ratio, ascending: 50 -> 2,5,5
  int64_t epi_length() const { return 2 * window_bins * pool_ratio(); }  // both anchors' track bins
  int64_t epi_tokens(int level) const;  // level 0: 2W tokens (one per Hi-C bin); each level halves
  int64_t hic_side(int level) const;    // level 0: W/2 patches per side; each level halves
  int64_t bottleneck_dim() const { return 8 * embed_dim; }

  void from_corpus_geometry(const corpus::Geometry& g);
  // Throw ConfigError naming the key when a value is out of range or sizes do not fit together:
  // validate_keys() the configured keys, validate_geometry() the corpus-given sizes (a caller
  // reports its failures as the corpus's), validate() both.
  void validate_keys() const;
  void validate_geometry() const;
  void validate() const;
  // Forward FLOPs per sample by part (multiply-adds count 2); `head` is the task's (0 for
  // pre-training). rank_batch: the per-rank batch, for reference-batch-attention's decoder.
  ModelFlops flops(const std::string& loop_modality = "bimodal", int64_t rank_batch = 0) const;
  // Forward FLOPs per sample of the pre-training step; its backward ~ 2x.
  double forward_flops() const;
  // Forward + backward FLOPs per training sample of this task: 3x the forward of what trains; a
  // frozen backbone's forward counts once (no gradient flows into it).
  double training_flops(bool freeze_backbone, const std::string& loop_modality, int64_t rank_batch) const;
};

po::options_description model_options(ModelConfig& m);
// Boost.Program_options' parser of a `task` value (found by argument-dependent lookup).
void validate(boost::any& v, const std::vector<std::string>& values, Task*, int);

}  // namespace mixhic
