// Flat AdamW and the learning-rate schedule (see include/mixhic/optimizer.hpp).
#include "mixhic/optimizer.hpp"

#include <fmt/format.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <map>

#include "mixhic/check.hpp"

namespace mixhic {

// The fused update of adamw_kernel.cpp, over [begin, end) of one bucket.
void adamw_cpu_range(float* p, const float* g, float* m, float* v, int64_t begin, int64_t end, float decay, float b1,
                     float b2, float step_size, float bc2_sqrt, float eps);

namespace {

// One pass over parameters, gradients and both moments (torch's single-tensor AdamW makes about
// eleven): the CPU update is memory-bound, so this is what makes it fast. Element-wise, so the
// result does not depend on how at::parallel_for splits the range.
void adamw_cpu(float* p, const float* g, float* m, float* v, int64_t n, float decay, float b1, float b2,
               float step_size, float bc2_sqrt, float eps) {
  at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
    adamw_cpu_range(p, g, m, v, begin, end, decay, b1, b2, step_size, bc2_sqrt, eps);
  });
}

}  // namespace

FlatAdamW::FlatAdamW(GradBuckets& buckets, const NamedTensors& params, AdamWSettings settings)
    : params_(params), where_(params.size()), settings_(settings) {
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < buckets.bucket_count(); ++b) {
    const GradBucket& bucket = buckets.bucket(b);
    Slot slot;
    slot.grad = bucket.flat;
    slot.param = torch::empty_like(bucket.flat);
    int64_t at = 0;
    for (size_t q : bucket.params) {
      torch::Tensor p = params_[q].second;
      const int64_t n = p.numel();
      torch::Tensor view = slot.param.narrow(0, at, n).view(p.sizes());
      view.copy_(p.detach());
      // Same dtype and device: the variable keeps its autograd identity (and the bucket hooks).
      p.set_data(view);
      where_[q] = {b, at};
      at += n;
    }
    slot.exp_avg = torch::zeros_like(slot.param);
    slot.exp_avg_sq = torch::zeros_like(slot.param);
    slots_.push_back(std::move(slot));
  }
}

double FlatAdamW::grad_norm() const {
  // Per-bucket norms, combined in double (torch.nn.utils.clip_grad_norm_ does the same per tensor).
  double total = 0;
  for (auto& s : slots_) {
    const double n = s.grad.norm().item<double>();
    total += n * n;
  }
  return std::sqrt(total);
}

void FlatAdamW::scale_grads(double factor) {
  for (auto& s : slots_) s.grad.mul_(factor);
}

std::string FlatAdamW::first_nonfinite_grad() const {
  for (size_t q = 0; q < params_.size(); ++q) {
    auto [slot, at] = where_[q];
    torch::Tensor g = slots_[slot].grad.narrow(0, at, params_[q].second.numel());
    if (!torch::isfinite(g).all().item<bool>()) return params_[q].first;
  }
  return {};
}

void FlatAdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++updates_;
  const auto& s = settings_;
  const double bc1 = 1 - std::pow(s.beta1, double(updates_)), bc2 = 1 - std::pow(s.beta2, double(updates_));
  const double step_size = lr / bc1, bc2_sqrt = std::sqrt(bc2);
  for (auto& slot : slots_) {
    if (slot.param.device().is_cpu() && slot.param.scalar_type() == torch::kFloat) {
      adamw_cpu(slot.param.data_ptr<float>(), slot.grad.data_ptr<float>(), slot.exp_avg.data_ptr<float>(),
                slot.exp_avg_sq.data_ptr<float>(), slot.param.numel(), float(1 - lr * s.weight_decay), float(s.beta1),
                float(s.beta2), float(step_size), float(bc2_sqrt), float(s.eps));
      continue;
    }
    // torch.optim.AdamW (single-tensor path), in the same order of operations.
    slot.param.mul_(1 - lr * s.weight_decay);
    slot.exp_avg.mul_(s.beta1).add_(slot.grad, 1 - s.beta1);
    slot.exp_avg_sq.mul_(s.beta2).addcmul_(slot.grad, slot.grad, 1 - s.beta2);
    torch::Tensor denom = (slot.exp_avg_sq.sqrt() / bc2_sqrt).add_(s.eps);
    slot.param.addcdiv_(slot.exp_avg, denom, -step_size);
  }
}

NamedTensors FlatAdamW::state() const {
  NamedTensors out;
  for (size_t q = 0; q < params_.size(); ++q) {
    auto [slot, at] = where_[q];
    const torch::Tensor& p = params_[q].second;
    out.emplace_back(params_[q].first + ".exp_avg", slots_[slot].exp_avg.narrow(0, at, p.numel()).view(p.sizes()));
    out.emplace_back(params_[q].first + ".exp_avg_sq", slots_[slot].exp_avg_sq.narrow(0, at, p.numel()).view(p.sizes()));
  }
  out.emplace_back("updates", torch::tensor(updates_, torch::kLong));
  return out;
}

void FlatAdamW::load_state(const NamedTensors& state, const std::string& source) {
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  torch::NoGradGuard no_grad;
  std::vector<std::string> problems;
  for (size_t q = 0; q < params_.size(); ++q) {
    auto [slot, at] = where_[q];
    const torch::Tensor& p = params_[q].second;
    for (const char* moment : {"exp_avg", "exp_avg_sq"}) {
      auto it = by_name.find(params_[q].first + "." + moment);
      if (it == by_name.end() || it->second.sizes() != p.sizes()) {
        problems.push_back(params_[q].first + "." + moment);
        continue;
      }
      torch::Tensor& flat = std::string(moment) == "exp_avg" ? slots_[slot].exp_avg : slots_[slot].exp_avg_sq;
      flat.narrow(0, at, p.numel()).copy_(it->second.reshape({-1}));
    }
  }
  auto it = by_name.find("updates");
  if (it == by_name.end()) problems.push_back("updates");
  if (!problems.empty())
    throw InputFormatError(source, "optimizer state", "AdamW moments for every parameter of this model",
                           fmt::format("{} missing or mis-shaped, e.g. {}", problems.size(), problems.front()));
  updates_ = it->second.item<int64_t>();
}

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return lr * double(step + 1) / double(warmup_steps);
  if (kind == "constant") return lr;
  const double span = double(std::max<int64_t>(total_steps - warmup_steps, 1));
  const double progress = std::min(1.0, double(step - warmup_steps) / span);
  return min_lr + 0.5 * (lr - min_lr) * (1 + std::cos(M_PI * progress));
}

}  // namespace mixhic
