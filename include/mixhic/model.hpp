// model.hpp — the MIX-HIC model in LibTorch: epigenomic and Hi-C encoders, the cross-modal
// interaction block (modal-invariant vs modal-specific heads, contrastive + orthogonality
// losses) and the cross-modal mapping block (E->M / M->E maps, mapping loss, impute_hic).
//
// Parameter names follow the reference code's state_dict keys (seq_downsampleTrans.*,
// map_downsampleTrans.*, epi_share_proj, ...) so its checkpoints map onto this module; the
// reference's never-called modules (cross_attn, layer_norm0-2) are left out, so every
// parameter here receives a gradient. Shapes: Hi-C (B, 1, W, W), epigenomics (B, 2*W*r, T)
// with r = Hi-C bin / track bin (both anchors' track bins, anchor 1 then anchor 2).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "mixhic/batch_statistics.hpp"
#include "mixhic/model_config.hpp"

namespace mixhic {

// Conv stack that pools track bins down to one token per Hi-C bin (reference: Pooling1DEncoder).
class PoolingEncoderImpl : public torch::nn::Module {
 public:
  PoolingEncoderImpl(int64_t dim, const std::vector<int64_t>& pool_factors, double dropout);
  torch::Tensor forward(const torch::Tensor& x);  // (B, L, C) -> (B, L / prod(factors), C)
  CrossRankBatch* cross_rank_batch = nullptr;      // set: BatchNorm statistics over every rank

 private:
  std::vector<torch::nn::Conv1d> convs_;
  std::vector<torch::nn::BatchNorm1d> norms_;
  std::vector<int64_t> factors_;
  torch::nn::Dropout dropout_;
};
TORCH_MODULE(PoolingEncoder);

// Strided Conv1d(k4, s2, p1) halving a token sequence and doubling its width (Downsample1D).
class Downsample1DImpl : public torch::nn::Module {
 public:
  Downsample1DImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);  // (B, L, Cin) -> (B, L/2, Cout)
  torch::nn::Sequential conv;
};
TORCH_MODULE(Downsample1D);

// Strided Conv2d(k4, s2, p1) on a square token grid (the reference's Downsample).
class Downsample2DImpl : public torch::nn::Module {
 public:
  Downsample2DImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);  // (B, S*S, Cin) -> (B, (S/2)^2, Cout)
  torch::nn::Sequential conv;
};
TORCH_MODULE(Downsample2D);

struct EpiFeatures {
  torch::Tensor bottleneck;               // (B, epi_tokens(3), 8C)
  std::vector<torch::Tensor> skips;       // stage outputs 0..2, for the U-Net decoder
};

// Epigenomic encoder after the per-bin embedding (reference: Downsampling1DTransformer).
class EpiEncoderImpl : public torch::nn::Module {
 public:
  explicit EpiEncoderImpl(const ModelConfig& cfg);
  EpiFeatures forward(const torch::Tensor& x);  // (B, L, C) embedded track bins
  void set_cross_rank_batch(CrossRankBatch* batch) { pooling_encoder->cross_rank_batch = batch; }

 private:
  torch::Tensor run_stage(torch::nn::TransformerEncoder& stage, const torch::Tensor& x);
  bool batch_attention_;
  PoolingEncoder pooling_encoder{nullptr};
  torch::nn::TransformerEncoder seq_encoder_0{nullptr}, seq_encoder_1{nullptr}, seq_encoder_2{nullptr},
      bottleneck{nullptr};
  Downsample1D dowsample_0{nullptr}, dowsample_1{nullptr}, dowsample_2{nullptr};
};
TORCH_MODULE(EpiEncoder);

// Global multi-head self-attention of the Hi-C blocks: qkv.to_q, qkv.to_kv, proj (reference:
// Attention with LinearProjection).
class HicAttentionImpl : public torch::nn::Module {
 public:
  HicAttentionImpl(int64_t dim, int64_t heads, double dropout);
  // Self-attention of x (B, N, d); with `kv` (B, Nkv, d), cross-attention from x to kv.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& kv = {});

 private:
  int64_t heads_;
  torch::nn::Linear to_q{nullptr}, to_kv{nullptr}, proj{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(HicAttention);

// Locally-enhanced feed-forward: Linear -> GELU -> depthwise 3x3 conv on the token grid -> GELU
// -> Linear (reference: LeFF).
class LeFFImpl : public torch::nn::Module {
 public:
  LeFFImpl(int64_t dim, int64_t hidden, double dropout);
  torch::Tensor forward(const torch::Tensor& x);  // (B, S*S, d)

 private:
  torch::nn::Sequential linear1{nullptr}, dwconv{nullptr}, linear2{nullptr};
};
TORCH_MODULE(LeFF);

// Pre-norm block: x + attn(norm1(x)), then + mlp(norm2(x)) (reference: TransformerBlock, whose
// unused cross_attn is left out).
class HicBlockImpl : public torch::nn::Module {
 public:
  HicBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, double dropout);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  HicAttention attn{nullptr};
  LeFF mlp{nullptr};
};
TORCH_MODULE(HicBlock);

// Feed-forward of the fusion blocks: fc1 -> GELU -> fc2 (reference: Mlp).
class TokenMlpImpl : public torch::nn::Module {
 public:
  TokenMlpImpl(int64_t dim, int64_t hidden, double dropout);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(TokenMlp);

// Modality fusion ("contact-map-grounded"): epigenomic tokens attend to themselves, then to the
// (real or imputed) Hi-C tokens, with one residual around both, then an MLP (reference:
// TransformerBlock with token_mlp='mlp' called with encoder_hidden_states).
class FusionBlockImpl : public torch::nn::Module {
 public:
  FusionBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, double dropout);
  torch::Tensor forward(const torch::Tensor& epi, const torch::Tensor& hic);

 private:
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  HicAttention attn{nullptr}, cross_attn{nullptr};
  TokenMlp mlp{nullptr};
};
TORCH_MODULE(FusionBlock);

// Prism's confounder encoder g_w (SignalWeightGenerator): three conv blocks (T->8 k7, 8->16 k5,
// 16->32 k3; BatchNorm, ReLU, max-pool 4), a global average, Linear(32, n*C), sigmoid: n weight
// vectors in (0,1)^C per sample, (B, n, C).
class TrackWeightGeneratorImpl : public torch::nn::Module {
 public:
  TrackWeightGeneratorImpl(int64_t n_tracks, int64_t dim, int64_t contexts);
  torch::Tensor forward(const torch::Tensor& epi, CrossRankBatch* batch);  // epi (B, L, T)

 private:
  int64_t dim_, contexts_;
  std::vector<torch::nn::Conv1d> convs_;
  std::vector<torch::nn::BatchNorm1d> norms_;
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(TrackWeightGenerator);

// 1-D U-Net decoder: transposed convs back to one token per Hi-C bin of both anchors, each
// level concatenated with the encoder's skip and refined by a transformer stage (reference:
// Upsampling1DTransformer). (B, epi_tokens(3), 8C) -> (B, 2W, 2C).
class EpiDecoderImpl : public torch::nn::Module {
 public:
  explicit EpiDecoderImpl(const ModelConfig& cfg);
  torch::Tensor forward(const torch::Tensor& fused, const std::vector<torch::Tensor>& skips);

 private:
  bool batch_attention_;
  std::vector<torch::nn::Sequential> up_;            // upsample_3..5 (conv_transpose.0)
  std::vector<torch::nn::TransformerEncoder> stage_;  // seq_decoder_3..5
};
TORCH_MODULE(EpiDecoder);

// Hi-C encoder after the patch embedding (reference: Downsampling2DTransformer).
class HicEncoderImpl : public torch::nn::Module {
 public:
  explicit HicEncoderImpl(const ModelConfig& cfg);
  torch::Tensor forward(torch::Tensor x);  // (B, (W/2)^2, C) -> (B, hic_side(3)^2, 8C)
  // The output of every stage (levels 0..3, before each downsampling); the last is forward's.
  std::vector<torch::Tensor> stages(torch::Tensor x);

 private:
  std::vector<torch::nn::ModuleList> stages_;  // encoderlayer_i.blocks
  std::vector<Downsample2D> downsamples_;      // dowsample_i
};
TORCH_MODULE(HicEncoder);

// Everything one pre-training forward produces.
struct PretrainOutput {
  torch::Tensor epi_tokens, hic_tokens;        // encoder outputs (B, Ne, 8C), (B, Nm, 8C)
  std::vector<torch::Tensor> hic_stages;       // Hi-C encoder stage outputs 0..3 (last = hic_tokens)
  torch::Tensor epi_share, epi_specific;       // L2-normalised per token (B, Ne, 4C)
  torch::Tensor hic_share, hic_specific;       // (B, Nm, 4C)
  torch::Tensor epi_concat, hic_concat;        // [share || specific] (B, N, 8C)
  torch::Tensor contrastive, orthogonal, mapping;  // scalar losses
  std::vector<torch::Tensor> epi_skips;
  // The reference schedule. per_sample_scale multiplies the terms that are means over this rank's
  // samples (orthogonal, mapping; and contrastive when it is local): the trainer sets it to
  // local batch * world / global batch so that the rank average is the global-batch mean.
  torch::Tensor loss(const ModelConfig& cfg, int64_t epoch, double per_sample_scale = 1.0) const;
  bool contrastive_is_global = false;  // computed over the gathered global batch
};

class MixHicModelImpl : public torch::nn::Module {
 public:
  explicit MixHicModelImpl(const ModelConfig& cfg);

  // hic: (B, 1, W, W); epi: (B, 2*W*r, T).
  PretrainOutput forward(const torch::Tensor& hic, const torch::Tensor& epi);
  // Epigenomic branch alone: (bottleneck tokens, skips).
  EpiFeatures encode_epi(const torch::Tensor& epi);
  torch::Tensor encode_hic(const torch::Tensor& hic);
  // MIX-HIC-Infer: Hi-C tokens (B, Nm, 8C) imputed from epigenomics alone through the E->M map,
  // on the scale of hic_concat (two unit-norm halves: norm sqrt 2), which they were trained to match.
  torch::Tensor impute_hic(const torch::Tensor& epi);

  // Fine-tuning heads (ModelConfig::task). All return probabilities/values per sample.
  // hic_map: the W x W map from tracks alone (imputed Hi-C tokens -> fusion -> decoder ->
  // pairwise head), (B, W, W) in [0, 1].
  torch::Tensor predict_map(const torch::Tensor& epi);
  // loop: P(loop) from both modalities, (B,); `modality` = bimodal | epi | hic.
  torch::Tensor predict_loop(const torch::Tensor& hic, const torch::Tensor& epi, const std::string& modality = "bimodal");
  // loop: the logit of P(loop), (B,), in the compute dtype (predict_loop is its sigmoid).
  torch::Tensor loop_logits(const torch::Tensor& hic, const torch::Tensor& epi, const std::string& modality = "bimodal");
  // expression: one value per Hi-C bin of both anchors, (B, 2W), from both modalities.
  torch::Tensor predict_expression(const torch::Tensor& hic, const torch::Tensor& epi);

  // The task loss of one batch, a mean over its samples: hic_map MSE against the [0,1] window
  // (the reference), loop BCE against `target` (B,) labels (on the logits, in fp32), expression MSE against `target`
  // (B, W) tiled to both anchors (the reference's x2), or with the Prism head Huber(plain) +
  // alpha Huber(adjusted) + beta uniformity. `modality` is predict_loop's.
  torch::Tensor task_loss(const torch::Tensor& hic, const torch::Tensor& epi, const torch::Tensor& target,
                          const std::string& modality = "bimodal");
  // The task's predictions for a batch: (B, W, W) maps, (B,) loop probabilities, (B, W) expression
  // (the mean of the two anchors' copies; the Prism head's adjusted prediction when it is on).
  torch::Tensor predict(const torch::Tensor& hic, const torch::Tensor& epi, const std::string& modality = "bimodal");
  // expression: both branches of the Prism head (adjusted/weights undefined when it is off).
  struct ExpressionOutput {
    torch::Tensor plain;     // (B, 2W) from the tracks as they are
    torch::Tensor adjusted;  // (B, 2W) mean over the n re-weighted track embeddings
    torch::Tensor weights;   // (B, n, C) the confounder weight vectors a_i
  };
  ExpressionOutput expression_outputs(const torch::Tensor& hic, const torch::Tensor& epi);
  // Keys of the fine-tuning heads (fusion_block.*, seq_upsampleTrans.*, classifier.*, dist_bias,
  // barrier.*, prism_weights.*): what a pre-training checkpoint lacks and fine-tuning initialises
  // afresh.
  static bool is_head_key(const std::string& key);

  const ModelConfig& config() const { return cfg_; }
  int64_t parameter_count() const;
  // Batch-wide statistics over every rank in training mode (see batch_statistics.hpp); nullptr:
  // this rank's batch only, as PyTorch DDP and the reference. Not owned.
  void set_cross_rank_batch(CrossRankBatch* batch);

 private:
  // L2-normalised interaction heads of one modality.
  std::pair<torch::Tensor, torch::Tensor> interaction(const torch::Tensor& tokens, bool epi);
  torch::Tensor map_e2m(const torch::Tensor& epi_concat);  // (B, Ne, 8C) -> (B, Nm, 8C), normalised
  torch::Tensor map_m2e(const torch::Tensor& hic_concat);  // (B, Nm, 8C) -> (B, Ne, 8C), normalised

  ModelConfig cfg_;
  CrossRankBatch* cross_rank_batch_ = nullptr;
  torch::nn::Sequential seq_input_projection{nullptr};
  EpiEncoder seq_downsampleTrans{nullptr};
  torch::nn::Linear patch_embedding{nullptr};
  HicEncoder map_downsampleTrans{nullptr};
  torch::Tensor temp;
  torch::nn::Linear epi_share_proj{nullptr}, map_share_proj{nullptr}, epi_independent_proj{nullptr},
      map_independent_proj{nullptr}, mlp_e2m{nullptr}, mlp_m2e{nullptr};
  // heads (task != none)
  torch::nn::ModuleList fusion_blocks_{nullptr};  // fusion_block.blocks
  EpiDecoder seq_upsampleTrans{nullptr};
  torch::nn::Sequential classifier{nullptr};
  torch::Tensor dist_bias;  // map-head = decay | barrier: (W,) added at |i - j|
  torch::nn::Linear barrier{nullptr};  // map-head = barrier: decoder token -> per-bin barrier vector
  TrackWeightGenerator prism_weights{nullptr};  // expression with prism-contexts > 0
  torch::Tensor fuse(const torch::Tensor& epi_concat, const torch::Tensor& hic_concat);
  void require_task(Task task) const;
};
TORCH_MODULE(MixHicModel);

// Losses of the interaction and mapping blocks, exposed for tests.
torch::Tensor contrastive_loss(const torch::Tensor& epi_mean, const torch::Tensor& hic_mean,
                               const torch::Tensor& temperature);
// The loop head's loss: binary cross-entropy on the logits (B), in fp32 whatever their dtype, so
// that it is allowed under CUDA autocast and stays finite for saturated bf16 logits.
torch::Tensor loop_loss(const torch::Tensor& logits, const torch::Tensor& target);
torch::Tensor orthogonal_loss(const torch::Tensor& epi_share_mean, const torch::Tensor& epi_specific_mean,
                              const torch::Tensor& hic_share_mean, const torch::Tensor& hic_specific_mean);
// Prism's uniformity (diversity) loss of the confounder weights (B, n, C): per sample
// log mean_{i<j} exp(2t cos(a_i, a_j) - 2t) (Wang & Isola's uniformity on unit vectors), mean
// over the batch; 0 when n < 2.
torch::Tensor prism_uniformity(const torch::Tensor& weights, double t);
// 2x2 patches of (B, 1, W, W) as (B, (W/2)^2, 4), in the reference's order.
torch::Tensor image_to_patches(const torch::Tensor& x, int64_t patch);

}  // namespace mixhic
