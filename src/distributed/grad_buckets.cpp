#include "mixhic/grad_buckets.hpp"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <fmt/format.h>

#include "mixhic/check.hpp"
#include "mixhic/hash.hpp"

namespace mixhic {

namespace {
// Runs a callback after AccumulateGrad has added a parameter's gradient into its .grad.
class GradientReady : public torch::autograd::FunctionPostHook {
 public:
  explicit GradientReady(std::function<void()> fn) : fn_(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    fn_();
    return outputs;
  }

 private:
  std::function<void()> fn_;
};
}  // namespace

GradBuckets::GradBuckets(const std::vector<std::pair<std::string, torch::Tensor>>& named_params, Comm& comm,
                         size_t first_bucket_bytes, size_t bucket_bytes, torch::ScalarType reduce_dtype)
    : params_(named_params), bucket_of_(named_params.size()), comm_(comm), reduce_dtype_(reduce_dtype) {
  // Reverse registration order: backward produces the last layers' gradients first. A bucket
  // holds one dtype on one device and at least one parameter.
  size_t cap = first_bucket_bytes, used = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const torch::Tensor& p = params_[k].second;
    const size_t bytes = size_t(p.numel()) * p.element_size();
    bool start_new = buckets_.empty();
    if (!start_new) {
      const torch::Tensor& first = params_[buckets_.back().params.front()].second;
      start_new = used + bytes > cap || first.scalar_type() != p.scalar_type() || first.device() != p.device();
      if (start_new) cap = bucket_bytes;  // only the first bucket is small
    }
    if (start_new) {
      buckets_.emplace_back();
      used = 0;
    }
    buckets_.back().params.push_back(k);
    used += bytes;
    bucket_of_[k] = buckets_.size() - 1;
  }
  // Flat buffers, and every .grad a view into its bucket.
  for (auto& b : buckets_) {
    int64_t numel = 0;
    for (size_t q : b.params) numel += params_[q].second.numel();
    const torch::Tensor& like = params_[b.params.front()].second;
    b.flat = torch::zeros({numel}, like.options().requires_grad(false));
    int64_t at = 0;
    for (size_t q : b.params) {
      torch::Tensor& p = params_[q].second;
      p.mutable_grad() = b.flat.narrow(0, at, p.numel()).view(p.sizes());
      at += p.numel();
    }
  }
  verify_layout();
  // Every rank starts from rank 0's parameters.
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : params_) {
    torch::Tensor t = p.detach();
    if (t.is_contiguous()) {
      comm_.broadcast(t, 0);  // in place: t shares p's storage
    } else {
      torch::Tensor c = t.contiguous();
      comm_.broadcast(c, 0);
      t.copy_(c);
    }
  }
  for (size_t k = 0; k < params_.size(); ++k) {
    auto acc = torch::autograd::impl::grad_accumulator(params_[k].second);
    uintptr_t key = acc->add_post_hook(std::make_unique<GradientReady>([this, k] { on_gradient_ready(k); }));
    hooks_.emplace_back(acc, key);
  }
  zero_grad();
}

GradBuckets::~GradBuckets() {
  for (auto& [node, key] : hooks_) node->del_post_hook(key);
}

void GradBuckets::verify_layout() {
  // Same bucket layout and parameter shapes on every rank, or all-reduces would pair wrong
  // buffers (and could hang): compare a digest of the layout, name the first mismatch.
  Hasher h;
  for (auto& b : buckets_)
    for (size_t q : b.params) {
      h.update(params_[q].first.data(), params_[q].first.size());
      for (int64_t d : params_[q].second.sizes()) h.update_value(d);
      h.update_value(b.flat.numel());
    }
  const torch::Device device = buckets_.empty() ? torch::Device(torch::kCPU) : buckets_.front().flat.device();
  torch::Tensor mine = torch::tensor({int64_t(h.digest() >> 1), int64_t(buckets_.size())}, torch::kLong).to(device);
  torch::Tensor root = mine.clone();
  comm_.broadcast(root, 0);
  if (!torch::equal(mine, root))
    throw Error(fmt::format("rank {}: gradient bucket layout differs from rank 0's ({} buckets here, {} there): the ranks "
                            "built different models; check that every rank reads the same model config",
                            comm_.rank(), buckets_.size(), root[1].item<int64_t>()));
}

void GradBuckets::zero_grad() {
  for (auto& b : buckets_) {
    b.flat.zero_();
    b.wire = torch::Tensor();
    b.pending = int(b.params.size());
    b.work.reset();
    b.done = false;
    b.launched_in_backward = false;
  }
  next_launch_ = 0;
  accumulated_.assign(params_.size(), false);
}

void GradBuckets::on_gradient_ready(size_t param) {
  accumulated_[param] = true;
  GradBucket& b = buckets_[bucket_of_[param]];
  if (--b.pending == 0) launch_ready_buckets(/*in_backward=*/true);
  // Progress the reductions in flight (see CommWork::test).
  for (size_t k = 0; k < next_launch_; ++k)
    if (buckets_[k].work && !buckets_[k].done) buckets_[k].done = buckets_[k].work->test();
}

void GradBuckets::launch_ready_buckets(bool in_backward) {
  // In bucket order only: every rank must issue the same all-reduces in the same sequence.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    GradBucket& b = buckets_[next_launch_++];
    b.launched_in_backward = in_backward;
    if (b.flat.is_floating_point() && b.flat.scalar_type() != reduce_dtype_) {
      torch::NoGradGuard no_grad;
      b.wire = (b.flat / double(comm_.size())).to(reduce_dtype_);
      b.work = comm_.allreduce_sum(b.wire);
    } else {
      b.work = comm_.allreduce_sum(b.flat);
    }
  }
}

void GradBuckets::finish() {
  // Parameters outside this step's loss (e.g. the mapping heads during the contrastive-only
  // epochs): their gradients count as zero, like DDP's find_unused_parameters. Every rank still
  // launches every bucket, in bucket order.
  unused_.clear();
  for (auto& b : buckets_)
    if (b.pending != 0) {
      for (size_t q : b.params)
        if (!accumulated_[q]) unused_.push_back(params_[q].first);
      b.pending = 0;
    }
  double hidden = 0, total = 0;
  for (size_t k = 0; k < buckets_.size(); ++k) {
    GradBucket& b = buckets_[k];
    const double bytes = double(b.flat.numel()) * b.flat.element_size();
    total += bytes;
    if (k < next_launch_ && b.work && (b.done || (b.done = b.work->test()))) hidden += bytes;
  }
  hidden_fraction_ = total > 0 ? hidden / total : 0;
  launch_ready_buckets(/*in_backward=*/false);
  const double scale = 1.0 / comm_.size();
  for (auto& b : buckets_) {
    if (b.work) b.work->wait();
    if (b.wire.defined()) b.flat.copy_(b.wire);  // already divided by the world size
    else if (scale != 1.0) b.flat.mul_(scale);
  }
}

size_t GradBuckets::launched_in_backward() const {
  size_t n = 0;
  for (auto& b : buckets_) n += b.launched_in_backward;
  return n;
}

}  // namespace mixhic
