// SyncBatchNorm and the gathered contrastive features (see include/mixhic/batch_statistics.hpp).
#include "mixhic/batch_statistics.hpp"

namespace mixhic {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor per_channel(const torch::Tensor& v) { return v.view({1, -1, 1}); }
const std::vector<int64_t> kBatchAndLength = {0, 2};  // the reduced dimensions of (B, C, L)

// y = (x - mean) * invstd * weight + bias, mean and variance over the elements of every rank.
struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, CrossRankBatch* batch, torch::nn::BatchNorm1dImpl* bn) {
    // Per-rank mean and variance first (accurate), combined in float64 as sums of n*mean and
    // n*(var + mean^2): no float32 cancellation in E[x^2] - E[x]^2.
    auto [var, mean] = torch::var_mean(x, torch::IntArrayRef(kBatchAndLength), /*unbiased=*/false, /*keepdim=*/false);
    const double n = double(x.size(0) * x.size(2));
    torch::Tensor mean64 = mean.to(torch::kDouble);
    torch::Tensor stats = torch::cat(std::vector<torch::Tensor>{
        mean64 * n, (var.to(torch::kDouble) + mean64.pow(2)) * n,
        torch::full({1}, n, torch::TensorOptions().dtype(torch::kDouble).device(x.device()))});
    batch->sum(stats);
    const int64_t C = x.size(1);
    const double total = stats[2 * C].item<double>();
    torch::Tensor g_mean = stats.narrow(0, 0, C) / total;
    torch::Tensor g_var = (stats.narrow(0, C, C) / total - g_mean.pow(2)).clamp_min(0);
    const double eps = bn->options.eps();
    torch::Tensor invstd = (g_var + eps).rsqrt().to(x.scalar_type());
    torch::Tensor mean_x = g_mean.to(x.scalar_type());
    {
      torch::NoGradGuard no_grad;
      const double m = bn->options.momentum().value_or(0.1);
      bn->running_mean.mul_(1 - m).add_(mean_x.to(bn->running_mean.scalar_type()), m);
      bn->running_var.mul_(1 - m).add_((g_var * (total / std::max(total - 1, 1.0))).to(bn->running_var.scalar_type()), m);
      bn->num_batches_tracked.add_(1);
    }
    ctx->save_for_backward({x, weight, mean_x, invstd});
    ctx->saved_data["batch"] = reinterpret_cast<int64_t>(batch);
    ctx->saved_data["total"] = total;
    torch::Tensor y = (x - per_channel(mean_x)) * per_channel(invstd * weight) + per_channel(bias);
    return {y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    auto* batch = reinterpret_cast<CrossRankBatch*>(ctx->saved_data["batch"].toInt());
    const double total = ctx->saved_data["total"].toDouble();
    const torch::Tensor& g = grads[0];
    torch::Tensor xhat = (x - per_channel(mean)) * per_channel(invstd);
    torch::Tensor sum_g = g.sum(torch::IntArrayRef(kBatchAndLength)), sum_gx = (g * xhat).sum(torch::IntArrayRef(kBatchAndLength));
    // The gradient of x couples every rank through the shared mean and variance.
    torch::Tensor global = torch::cat(std::vector<torch::Tensor>{sum_g, sum_gx});
    batch->sum(global);
    const int64_t C = x.size(1);
    torch::Tensor mean_g = global.narrow(0, 0, C) / total, mean_gx = global.narrow(0, C, C) / total;
    torch::Tensor dx = (g - per_channel(mean_g) - xhat * per_channel(mean_gx)) * per_channel(invstd * weight);
    // Weight and bias gradients are this rank's share; the gradient all-reduce adds the others.
    return variable_list{dx, sum_gx, sum_g, torch::Tensor(), torch::Tensor()};
  }
};

struct GatherRowsFn : public torch::autograd::Function<GatherRowsFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& local, CrossRankBatch* batch) {
    ctx->saved_data["offset"] = batch->row_offset();
    ctx->saved_data["rows"] = local.size(0);
    ctx->saved_data["world"] = int64_t(batch->world());
    return batch->gather_rows(local.contiguous());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t offset = ctx->saved_data["offset"].toInt(), rows = ctx->saved_data["rows"].toInt();
    const double world = double(ctx->saved_data["world"].toInt());
    return {grads[0].narrow(0, offset, rows) * world, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm1dImpl& bn, CrossRankBatch& batch) {
  return SyncBatchNormFn::apply(x, bn.weight, bn.bias, &batch, &bn)[0];
}

torch::Tensor gather_rows_with_grad(const torch::Tensor& local, CrossRankBatch& batch) {
  return GatherRowsFn::apply(local, &batch);
}

}  // namespace mixhic
