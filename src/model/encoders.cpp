// The two encoders of MIX-HIC and their building blocks; see include/mixhic/model.hpp.
#include <cmath>

#include "mixhic/model.hpp"

namespace mixhic {

namespace F = torch::nn::functional;

// ---- epigenomic branch -----------------------------------------------------------------------

TrackWeightGeneratorImpl::TrackWeightGeneratorImpl(int64_t n_tracks, int64_t dim, int64_t contexts)
    : dim_(dim), contexts_(contexts) {
  const int64_t channels[4] = {n_tracks, 8, 16, 32}, kernels[3] = {7, 5, 3};
  for (int i = 0; i < 3; ++i) {
    convs_.push_back(register_module("conv" + std::to_string(i + 1),
                                     torch::nn::Conv1d(torch::nn::Conv1dOptions(channels[i], channels[i + 1], kernels[i])
                                                           .padding(kernels[i] / 2))));
    norms_.push_back(register_module("bn" + std::to_string(i + 1), torch::nn::BatchNorm1d(channels[i + 1])));
  }
  fc = register_module("fc", torch::nn::Linear(32, dim * contexts));
}

torch::Tensor TrackWeightGeneratorImpl::forward(const torch::Tensor& epi, CrossRankBatch* batch) {
  torch::Tensor x = epi.transpose(1, 2);  // (B, T, L)
  for (size_t i = 0; i < convs_.size(); ++i) {
    x = convs_[i](x);
    x = torch::relu(batch && is_training() ? sync_batch_norm(x, *norms_[i], *batch) : norms_[i](x));
    x = F::max_pool1d(x, F::MaxPool1dFuncOptions(4));
  }
  return torch::sigmoid(fc(x.mean(-1))).view({-1, contexts_, dim_});
}

PoolingEncoderImpl::PoolingEncoderImpl(int64_t dim, const std::vector<int64_t>& pool_factors, double dropout)
    : factors_(pool_factors), dropout_(torch::nn::Dropout(dropout)) {
  // One conv after each pooling step plus the first: reference 2, 5, 5 -> conv1..conv4.
  for (size_t i = 0; i <= factors_.size(); ++i) {
    convs_.push_back(register_module("conv" + std::to_string(i + 1),
                                     torch::nn::Conv1d(torch::nn::Conv1dOptions(dim, dim, 3).padding(1))));
    norms_.push_back(register_module("bn" + std::to_string(i + 1), torch::nn::BatchNorm1d(dim)));
  }
  register_module("dropout", dropout_);
}

torch::Tensor PoolingEncoderImpl::forward(const torch::Tensor& input) {
  torch::Tensor x = input.transpose(1, 2);  // (B, C, L)
  for (size_t i = 0; i < convs_.size(); ++i) {
    x = convs_[i](x);
    x = torch::relu(cross_rank_batch && is_training() ? sync_batch_norm(x, *norms_[i], *cross_rank_batch) : norms_[i](x));
    if (i < factors_.size()) x = dropout_(F::max_pool1d(x, F::MaxPool1dFuncOptions(factors_[i])));
  }
  return x.transpose(1, 2);
}

Downsample1DImpl::Downsample1DImpl(int64_t in, int64_t out)
    : conv(register_module("conv", torch::nn::Sequential(torch::nn::Conv1d(
                                       torch::nn::Conv1dOptions(in, out, 4).stride(2).padding(1))))) {}

torch::Tensor Downsample1DImpl::forward(const torch::Tensor& x) {
  return conv->forward(x.transpose(1, 2)).transpose(1, 2);
}

namespace {
torch::nn::TransformerEncoder encoder_stage(int64_t d, const ModelConfig& cfg) {
  auto layer = torch::nn::TransformerEncoderLayerOptions(d, cfg.heads).dim_feedforward(2 * d).dropout(cfg.dropout);
  return torch::nn::TransformerEncoder(torch::nn::TransformerEncoderOptions(layer, cfg.depth));
}
}  // namespace

EpiEncoderImpl::EpiEncoderImpl(const ModelConfig& cfg) : batch_attention_(cfg.reference_batch_attention) {
  const int64_t C = cfg.embed_dim;
  pooling_encoder = register_module("pooling_encoder", PoolingEncoder(C, cfg.pool_factors(), cfg.dropout));
  seq_encoder_0 = register_module("seq_encoder_0", encoder_stage(C, cfg));
  dowsample_0 = register_module("dowsample_0", Downsample1D(C, 2 * C));
  seq_encoder_1 = register_module("seq_encoder_1", encoder_stage(2 * C, cfg));
  dowsample_1 = register_module("dowsample_1", Downsample1D(2 * C, 4 * C));
  seq_encoder_2 = register_module("seq_encoder_2", encoder_stage(4 * C, cfg));
  dowsample_2 = register_module("dowsample_2", Downsample1D(4 * C, 8 * C));
  bottleneck = register_module("bottleneck", encoder_stage(8 * C, cfg));
}

torch::Tensor EpiEncoderImpl::run_stage(torch::nn::TransformerEncoder& stage, const torch::Tensor& x) {
  // LibTorch's TransformerEncoder is sequence-first (L, B, C). The reference passes (B, L, C)
  // as if it were (L, B, C), attending across the batch; by default we attend over positions.
  if (batch_attention_) return stage(x);
  return stage(x.transpose(0, 1)).transpose(0, 1);
}

EpiFeatures EpiEncoderImpl::forward(const torch::Tensor& x) {
  EpiFeatures out;
  torch::Tensor pooled = pooling_encoder(x);
  torch::Tensor e0 = run_stage(seq_encoder_0, pooled);
  torch::Tensor e1 = run_stage(seq_encoder_1, dowsample_0(e0));
  torch::Tensor e2 = run_stage(seq_encoder_2, dowsample_1(e1));
  out.bottleneck = run_stage(bottleneck, dowsample_2(e2));
  out.skips = {e0, e1, e2};
  return out;
}

// ---- Hi-C branch -----------------------------------------------------------------------------

torch::Tensor image_to_patches(const torch::Tensor& x, int64_t p) {
  const int64_t B = x.size(0), C = x.size(1);
  torch::Tensor t = x.unfold(2, p, p).unfold(3, p, p).contiguous().view({B, C, -1, p, p});
  return t.permute({0, 2, 1, 3, 4}).contiguous().view({B, -1, C * p * p});
}

Downsample2DImpl::Downsample2DImpl(int64_t in, int64_t out)
    : conv(register_module("conv", torch::nn::Sequential(torch::nn::Conv2d(
                                       torch::nn::Conv2dOptions(in, out, 4).stride(2).padding(1))))) {}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2);
  const int64_t S = static_cast<int64_t>(std::lround(std::sqrt(double(L))));
  torch::Tensor grid = x.transpose(1, 2).contiguous().view({B, C, S, S});
  return conv->forward(grid).flatten(2).transpose(1, 2).contiguous();
}

HicAttentionImpl::HicAttentionImpl(int64_t dim, int64_t heads, double dropout) : heads_(heads) {
  auto qkv = register_module("qkv", std::make_shared<torch::nn::Module>());
  to_q = qkv->register_module("to_q", torch::nn::Linear(dim, dim));
  to_kv = qkv->register_module("to_kv", torch::nn::Linear(dim, 2 * dim));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
  dropout_ = register_module("dropout", torch::nn::Dropout(dropout));
}

torch::Tensor HicAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& kv_input) {
  const torch::Tensor& src = kv_input.defined() ? kv_input : x;
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2), dh = C / heads_, Nkv = src.size(1);
  torch::Tensor q = to_q(x).reshape({B, N, heads_, dh}).permute({0, 2, 1, 3});
  torch::Tensor kv = to_kv(src).reshape({B, Nkv, 2, heads_, dh}).permute({2, 0, 3, 1, 4});
  torch::Tensor k = kv[0], v = kv[1];
  q = q * std::pow(double(dh), -0.5);
  torch::Tensor attn = dropout_(torch::softmax(torch::matmul(q, k.transpose(-2, -1)), -1));
  torch::Tensor out = torch::matmul(attn, v).transpose(1, 2).reshape({B, N, C});
  return dropout_(proj(out));
}

LeFFImpl::LeFFImpl(int64_t dim, int64_t hidden, double dropout) {
  linear1 = register_module("linear1", torch::nn::Sequential(torch::nn::Linear(dim, hidden), torch::nn::GELU(),
                                                             torch::nn::Dropout(dropout)));
  dwconv = register_module(
      "dwconv", torch::nn::Sequential(
                    torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, hidden, 3).padding(1).groups(hidden)),
                    torch::nn::GELU()));
  linear2 = register_module("linear2", torch::nn::Sequential(torch::nn::Linear(hidden, dim), torch::nn::Dropout(dropout)));
}

torch::Tensor LeFFImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1);
  const int64_t S = static_cast<int64_t>(std::lround(std::sqrt(double(N))));
  torch::Tensor h = linear1->forward(x);  // (B, N, hidden)
  const int64_t H = h.size(2);
  torch::Tensor grid = h.transpose(1, 2).reshape({B, H, S, S});
  grid = dwconv->forward(grid);
  return linear2->forward(grid.reshape({B, H, N}).transpose(1, 2));
}

HicBlockImpl::HicBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, double dropout) {
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  attn = register_module("attn", HicAttention(dim, heads, dropout));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  mlp = register_module("mlp", LeFF(dim, dim * mlp_ratio, dropout));
}

torch::Tensor HicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = x + attn(norm1(x));
  return y + mlp(norm2(y));
}

HicEncoderImpl::HicEncoderImpl(const ModelConfig& cfg) {
  for (int level = 0; level < 4; ++level) {
    const int64_t d = cfg.embed_dim << level;
    auto layer = register_module("encoderlayer_" + std::to_string(level), std::make_shared<torch::nn::Module>());
    torch::nn::ModuleList blocks;
    for (int64_t b = 0; b < cfg.depth; ++b) blocks->push_back(HicBlock(d, cfg.heads, cfg.mlp_ratio, cfg.dropout));
    stages_.push_back(layer->register_module("blocks", blocks));
    if (level < 3) downsamples_.push_back(register_module("dowsample_" + std::to_string(level), Downsample2D(d, 2 * d)));
  }
}

std::vector<torch::Tensor> HicEncoderImpl::stages(torch::Tensor x) {
  std::vector<torch::Tensor> out;
  for (size_t level = 0; level < stages_.size(); ++level) {
    for (auto& block : *stages_[level]) x = block->as<HicBlock>()->forward(x);
    out.push_back(x);
    if (level < downsamples_.size()) x = downsamples_[level](x);
  }
  return out;
}

torch::Tensor HicEncoderImpl::forward(torch::Tensor x) { return stages(std::move(x)).back(); }

}  // namespace mixhic

namespace mixhic {

// ---- fine-tuning blocks ----------------------------------------------------------------------

TokenMlpImpl::TokenMlpImpl(int64_t dim, int64_t hidden, double dropout) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
  drop = register_module("drop", torch::nn::Dropout(dropout));
}

torch::Tensor TokenMlpImpl::forward(const torch::Tensor& x) {
  return drop(fc2(drop(torch::gelu(fc1(x)))));
}

FusionBlockImpl::FusionBlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, double dropout) {
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  attn = register_module("attn", HicAttention(dim, heads, dropout));
  cross_attn = register_module("cross_attn", HicAttention(dim, heads, dropout));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  mlp = register_module("mlp", TokenMlp(dim, dim * mlp_ratio, dropout));
}

torch::Tensor FusionBlockImpl::forward(const torch::Tensor& epi, const torch::Tensor& hic) {
  torch::Tensor x = cross_attn->forward(attn(norm1(epi)), hic);
  x = epi + x;
  return x + mlp(norm2(x));
}

EpiDecoderImpl::EpiDecoderImpl(const ModelConfig& cfg) : batch_attention_(cfg.reference_batch_attention) {
  const int64_t C = cfg.embed_dim;
  // level 3 -> 2 -> 1 -> 0; output_padding makes each length match the skip (12 -> 25 needs 1).
  const int64_t in_ch[3] = {8 * C, 8 * C, 4 * C}, out_ch[3] = {4 * C, 2 * C, C}, width[3] = {8 * C, 4 * C, 2 * C};
  for (int k = 0; k < 3; ++k) {
    const int level = 3 - k;
    const int64_t pad = cfg.epi_tokens(level - 1) - 2 * cfg.epi_tokens(level);
    auto conv = torch::nn::ConvTranspose1d(
        torch::nn::ConvTranspose1dOptions(in_ch[k], out_ch[k], 4).stride(2).padding(1).output_padding(pad));
    up_.push_back(register_module("upsample_" + std::to_string(3 + k),
                                  std::make_shared<torch::nn::Module>())
                      ->register_module("conv_transpose", torch::nn::Sequential(conv)));
    auto layer = torch::nn::TransformerEncoderLayerOptions(width[k], cfg.heads).dim_feedforward(2 * width[k]).dropout(cfg.dropout);
    stage_.push_back(register_module("seq_decoder_" + std::to_string(3 + k),
                                     torch::nn::TransformerEncoder(torch::nn::TransformerEncoderOptions(layer, cfg.depth))));
  }
}

torch::Tensor EpiDecoderImpl::forward(const torch::Tensor& fused, const std::vector<torch::Tensor>& skips) {
  torch::Tensor x = fused;
  for (int k = 0; k < 3; ++k) {
    torch::Tensor up = up_[k]->forward(x.transpose(1, 2)).transpose(1, 2);
    torch::Tensor cat = torch::cat({up, skips[2 - k]}, -1);
    x = batch_attention_ ? stage_[k](cat) : stage_[k](cat.transpose(0, 1)).transpose(0, 1);
  }
  return x;
}

}  // namespace mixhic
