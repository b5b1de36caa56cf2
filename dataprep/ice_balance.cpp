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

// Exact marginal sums sum_j x_ij over the symmetric matrix: terms[k] is pixel k's value and adds
// to both of its bins. `acc` is scratch space reused across iterations.
std::vector<double> marginals(const MpiWorld& world, const PixelBlock& px, int64_t n_bins,
                              const std::vector<double>& terms, std::vector<Fixed128>& acc) {
  double local_max = 0;
  for (double t : terms) local_max = std::max(local_max, std::fabs(t));
  FixedPoint fp(global_max_abs(world, local_max));
  acc.assign(n_bins, 0);
  for (size_t k = 0; k < terms.size(); ++k) {
    int64_t f = fp.to_fixed(terms[k]);
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
  PixelBlock px;
  agree(world, [&] { px = hic.read_pixels(mine.begin, mine.end); });  // rank-local: reported once
  // cooler's base filters: pixels within ignore_diags of the diagonal count as 0, and with
  // cis_only so do contacts between chromosomes. They are dropped rather than zeroed, so a
  // chromosome whose weights become NaN cannot leak NaN into another one through 0 * NaN.
  std::vector<int32_t> chrom_of(n_bins);
  for (size_t c = 0; c < hic.chroms().size(); ++c)
    std::fill(chrom_of.begin() + hic.chroms()[c].bin_begin, chrom_of.begin() + hic.chroms()[c].bin_end, int32_t(c));
  px.keep_if([&](size_t k) {
    if (std::llabs(px.bin2[k] - px.bin1[k]) < opt.ignore_diags || px.count[k] == 0) return false;
    return !(opt.cis_only && chrom_of[px.bin1[k]] != chrom_of[px.bin2[k]]);
  });

  std::vector<double> bias(n_bins, 1.0), terms(px.size());
  std::vector<Fixed128> acc;
  if (opt.min_nnz > 0) {
    for (size_t k = 0; k < px.size(); ++k) terms[k] = px.count[k] != 0 ? 1.0 : 0.0;
    auto nnz = marginals(world, px, n_bins, terms, acc);
    for (int64_t i = 0; i < n_bins; ++i)
      if (nnz[i] < opt.min_nnz) bias[i] = 0;
  }
  auto marg = marginals(world, px, n_bins, px.count, acc);
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

  // The units balanced independently: the genome, or (cis_only) each chromosome. With cis-only
  // contacts a chromosome's marginals depend on its own biases alone, so iterating all of them
  // together, each stopping at its own convergence, reproduces cooler's one-by-one loop exactly.
  struct Unit {
    int64_t lo, hi;
    bool done = false, converged = false;
    double var = 0, scale = 1;
    int iterations = 0;
  };
  std::vector<Unit> units;
  if (opt.cis_only) {
    for (const auto& ch : hic.chroms()) units.push_back({ch.bin_begin, ch.bin_end});
  } else {
    units.push_back({0, n_bins});
  }
  std::vector<double> nz;
  for (int it = 0; it < opt.max_iters; ++it) {
    if (std::all_of(units.begin(), units.end(), [](const Unit& u) { return u.done; })) break;
    for (size_t k = 0; k < px.size(); ++k) terms[k] = px.count[k] * bias[px.bin1[k]] * bias[px.bin2[k]];
    auto m = marginals(world, px, n_bins, terms, acc);
    for (Unit& u : units) {
      if (u.done) continue;
      nz.clear();
      for (int64_t i = u.lo; i < u.hi; ++i)
        if (m[i] != 0) nz.push_back(m[i]);
      u.iterations = it + 1;
      if (nz.empty()) {
        std::fill(bias.begin() + u.lo, bias.begin() + u.hi, std::nan(""));
        u.scale = std::nan("");
        u.var = 0;
        u.done = true;
        continue;
      }
      double mean = 0;
      for (double v : nz) mean += v;
      mean /= static_cast<double>(nz.size());
      double var = 0;
      for (double v : nz) var += (v - mean) * (v - mean);
      var /= static_cast<double>(nz.size());
      for (int64_t i = u.lo; i < u.hi; ++i) bias[i] /= (m[i] == 0 ? 1.0 : m[i] / mean);
      u.var = var;
      u.scale = mean;
      if (var < opt.tol) u.done = u.converged = true;
    }
  }
  IceResult r;
  r.converged = true;
  double scale_sum = 0;
  for (const Unit& u : units) {
    bool empty = std::isnan(u.scale);
    if (!u.converged && !empty) {
      r.converged = false;
      if (world.rank == 0)
        log::warn("ICE of {} (bins {}-{}) did not converge in {} iterations (variance {:.3g} > tol {:.3g})",
                  hic.path(), u.lo, u.hi, opt.max_iters, u.var, opt.tol);
    }
    r.iterations = std::max(r.iterations, u.iterations);
    r.variance = std::max(r.variance, u.var);
    scale_sum += empty ? 0 : u.scale;
    for (int64_t i = u.lo; i < u.hi; ++i) {
      double& b = bias[i];
      if (b == 0) b = std::nan("");
      else b /= std::sqrt(u.scale);
      if (std::isnan(b)) ++r.masked_bins;
    }
  }
  r.scale = units.size() == 1 ? units[0].scale : scale_sum / double(units.size());
  r.weights = std::move(bias);
  return r;
}

}  // namespace mixhic::prep
