#include "ice_balance.hpp"

#include <algorithm>
#include <cmath>

#include "mixhic/exact_sum.hpp"
#include "mixhic/log.hpp"

namespace mixhic::prep {

namespace {

double median(std::vector<double> v) {  // numpy.median: mean of the two middle values
  if (v.empty()) return std::nan("");
  size_t n = v.size(), mid = n / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  double hi = v[mid];
  if (n % 2) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + mid);
  return (lo + hi) / 2;
}

// Exact marginal sums sum_j x_ij over the symmetric matrix, where term(k) is pixel k's value.
template <typename Term>
std::vector<double> marginals(const MpiWorld& world, const PixelBlock& px, int64_t n_bins, Term term) {
  double local_max = 0;
  for (size_t k = 0; k < px.size(); ++k) local_max = std::max(local_max, std::fabs(term(k)));
  FixedPoint fp(2.0 * global_bound(world, static_cast<int64_t>(px.size()), local_max));
  std::vector<Fixed128> acc(n_bins, 0);
  for (size_t k = 0; k < px.size(); ++k) {
    double t = term(k);
    if (t == 0) continue;
    Fixed128 f = fp.to_fixed(t);
    acc[px.bin1[k]] += f;
    acc[px.bin2[k]] += f;
  }
  allreduce_fixed(world, acc);
  std::vector<double> out(n_bins);
  for (int64_t i = 0; i < n_bins; ++i) out[i] = fp.to_double(acc[i]);
  return out;
}

}  // namespace

IceResult ice_balance(const MpiWorld& world, const CoolerFile& hic, const IceOptions& opt) {
  const int64_t n_bins = hic.n_bins();
  Block mine = block_of(hic.nnz(), world.rank, world.size);
  PixelBlock px = hic.read_pixels(mine.begin, mine.end);
  // cooler's base filter: pixels within ignore_diags of the diagonal count as 0.
  for (size_t k = 0; k < px.size(); ++k)
    if (std::llabs(px.bin2[k] - px.bin1[k]) < opt.ignore_diags) px.count[k] = 0;

  std::vector<double> bias(n_bins, 1.0);
  if (opt.min_nnz > 0) {
    auto nnz = marginals(world, px, n_bins, [&](size_t k) { return px.count[k] != 0 ? 1.0 : 0.0; });
    for (int64_t i = 0; i < n_bins; ++i)
      if (nnz[i] < opt.min_nnz) bias[i] = 0;
  }
  auto marg = marginals(world, px, n_bins, [&](size_t k) { return px.count[k]; });
  if (opt.min_count > 0)
    for (int64_t i = 0; i < n_bins; ++i)
      if (marg[i] < opt.min_count) bias[i] = 0;
  if (opt.mad_max > 0) {
    for (const auto& ch : hic.chroms()) {
      std::vector<double> pos;
      for (int64_t i = ch.bin_begin; i < ch.bin_end; ++i)
        if (marg[i] > 0) pos.push_back(marg[i]);
      double m = median(pos);
      for (int64_t i = ch.bin_begin; i < ch.bin_end; ++i) marg[i] /= m;
    }
    std::vector<double> logs;
    for (double m : marg)
      if (m > 0) logs.push_back(std::log(m));
    double med = median(logs);
    std::vector<double> dev(logs.size());
    for (size_t i = 0; i < logs.size(); ++i) dev[i] = std::fabs(logs[i] - med);
    double cutoff = std::exp(med - opt.mad_max * median(dev));
    for (int64_t i = 0; i < n_bins; ++i)
      if (marg[i] < cutoff) bias[i] = 0;  // NaN margins (all-zero chromosome) compare false, as in numpy
  }

  IceResult r;
  std::vector<double> nz;
  for (int it = 0; it < opt.max_iters; ++it) {
    auto m = marginals(world, px, n_bins,
                       [&](size_t k) { return px.count[k] * bias[px.bin1[k]] * bias[px.bin2[k]]; });
    nz.clear();
    for (double v : m)
      if (v != 0) nz.push_back(v);
    r.iterations = it + 1;
    if (nz.empty()) {
      std::fill(bias.begin(), bias.end(), std::nan(""));
      r.scale = std::nan("");
      r.variance = 0;
      break;
    }
    double mean = 0;
    for (double v : nz) mean += v;
    mean /= static_cast<double>(nz.size());
    double var = 0;
    for (double v : nz) var += (v - mean) * (v - mean);
    var /= static_cast<double>(nz.size());
    for (int64_t i = 0; i < n_bins; ++i) bias[i] /= (m[i] == 0 ? 1.0 : m[i] / mean);
    r.variance = var;
    r.scale = mean;
    if (var < opt.tol) {
      r.converged = true;
      break;
    }
  }
  if (!r.converged && !nz.empty() && world.rank == 0)
    log::warn("ICE of {} did not converge in {} iterations (variance {:.3g} > tol {:.3g})", hic.path(),
              opt.max_iters, r.variance, opt.tol);
  for (auto& b : bias) {
    if (b == 0) b = std::nan("");
    else b /= std::sqrt(r.scale);
    if (std::isnan(b)) ++r.masked_bins;
  }
  r.weights = std::move(bias);
  return r;
}

}  // namespace mixhic::prep
