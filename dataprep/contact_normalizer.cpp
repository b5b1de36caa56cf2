#include "contact_normalizer.hpp"

#include <algorithm>
#include <cmath>

#include "mixhic/check.hpp"
#include "mixhic/exact_sum.hpp"
#include "mixhic/log.hpp"

namespace mixhic::prep {

ContactNormalizer::ContactNormalizer(const MpiWorld& world, const PrepConfig& config, const PrepPlan& plan)
    : config_(config), cells_(plan.cells.size()) {
  load_weights(world, plan);
  reduce_statistics(world, plan);
}

void ContactNormalizer::load_weights(const MpiWorld& world, const PrepPlan& plan) {
  for (size_t c = 0; c < plan.cells.size(); ++c) {
    const ContactMatrix& hic = *plan.cells[c].hic;
    CellNormalization& cn = cells_[c];
    if (config_.balance == "none") continue;
    if (config_.balance == "ice") {
      // ICE balances genome-wide over the whole pixel table, inter-chromosomal pixels included,
      // which only a cooler gives; every rank holds the same plan, so all throw together.
      const auto* cool = dynamic_cast<const CoolerFile*>(&hic);
      agree(world, [&] {
        if (cool) return;
        std::string have;
        for (auto& n : hic.bin_columns()) have += (have.empty() ? "" : ", ") + n;
        throw ConfigError(fmt::format("balance = ice: {}: ice balancing reads a cooler pixel table; .hic inputs carry "
                                      "their own vectors: use balance = KR | VC | VC_SQRT | SCALE (this file has: {})",
                                      hic.path(), have.empty() ? "none" : have));
      });
      cn.ice = ice_balance(world, *cool, config_.ice);
      cn.weights = cn.ice.weights;
      cn.balance_rule = "ice: multiplicative weights computed by mixhic-prep";
      log::info("ICE {}: {} iterations, variance {:.3g}, scale {:.6g}, {} of {} bins masked", plan.cells[c].name,
                cn.ice.iterations, cn.ice.variance, cn.ice.scale, cn.ice.masked_bins, hic.n_bins());
      continue;
    }
    agree(world, [&] {
      cn.weights = hic.balancing_weights(config_.balance);
      cn.balance_rule = hic.balance_rule(config_.balance);
    });
    log::info("balance {}: {}", plan.cells[c].name, cn.balance_rule);
  }
}

void ContactNormalizer::reduce_statistics(const MpiWorld& world, const PrepPlan& plan) {
  const bool need_scale = config_.hic_transform == "reference";
  const bool need_expected = config_.hic_transform == "oe";
  const int64_t W = config_.window_bins, K = static_cast<int64_t>(plan.chroms.size());
  for (auto& cn : cells_) {
    cn.chrom_scale.assign(K, 1.0);
    if (need_expected) cn.expected.assign(K, std::vector<double>(W, 0.0));
  }
  if (!need_scale && !need_expected) return;

  // Each (cell, extent) is a square block of the matrix; its pixel rows are split over ranks.
  const size_t C = cells_.size();
  std::vector<double> local_max(C * K, 0.0);
  // [cell][chrom][d]: this rank's terms, kept until the global bound is known for the exact sum
  std::vector<std::vector<double>> diag_terms(need_expected ? C * K * W : 0);
  double max_term = 0;
  // The reads are rank-local (a corrupt block is reported once); the reductions follow.
  agree(world, [&] {
    for (size_t c = 0; c < C; ++c) {
      const ContactMatrix& hic = *plan.cells[c].hic;
      for (const Extent& ext : plan.extents) {
        const CoolerChrom& hc = hic.chroms()[plan.chroms[ext.chrom].hic_index[c]];
        int64_t lo = hc.bin_begin + ext.start_bp / config_.resolution;
        int64_t hi = std::min(hc.bin_end, hc.bin_begin + (ext.end_bp + config_.resolution - 1) / config_.resolution);
        Block rows = block_of(hi - lo, world.rank, world.size);
        PixelBlock px = hic.read_rows(lo + rows.begin, lo + rows.end, hi);
        for (size_t k = 0; k < px.size(); ++k) {
          double v = px.count[k] * weight(int(c), px.bin1[k]) * weight(int(c), px.bin2[k]);
          if (!std::isfinite(v)) continue;
          if (need_scale) {
            double& m = local_max[c * K + ext.chrom];
            m = std::max(m, std::min(v, config_.reference_clamp));
          }
          int64_t d = px.bin2[k] - px.bin1[k];
          if (need_expected && d < W) {
            diag_terms[(c * K + ext.chrom) * W + d].push_back(v);
            max_term = std::max(max_term, std::fabs(v));
          }
        }
      }
    }
  });
  if (need_scale) {
    std::vector<double> global(C * K);
    MIXHIC_MPI_CHECK(MPI_Allreduce(local_max.data(), global.data(), int(C * K), MPI_DOUBLE, MPI_MAX, world.comm));
    for (size_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < K; ++k)
        if (global[c * K + k] > 0) cells_[c].chrom_scale[k] = global[c * K + k];
  }
  if (need_expected) {
    FixedPoint fp(global_max_abs(world, max_term));
    std::vector<Fixed128> acc(C * K * W, 0);
    for (size_t s = 0; s < diag_terms.size(); ++s)
      for (double v : diag_terms[s]) acc[s] += fp.to_fixed(v);
    allreduce_fixed(world, acc);
    // Valid pixel positions per diagonal: both bins unmasked and inside an extent of the chromosome.
    for (size_t c = 0; c < C; ++c) {
      const ContactMatrix& hic = *plan.cells[c].hic;
      std::vector<std::vector<int64_t>> n_valid(K, std::vector<int64_t>(W, 0));
      for (const Extent& ext : plan.extents) {
        const CoolerChrom& hc = hic.chroms()[plan.chroms[ext.chrom].hic_index[c]];
        int64_t lo = hc.bin_begin + ext.start_bp / config_.resolution;
        int64_t hi = std::min(hc.bin_end, hc.bin_begin + (ext.end_bp + config_.resolution - 1) / config_.resolution);
        for (int64_t d = 0; d < W; ++d)
          for (int64_t i = lo; i + d < hi; ++i)
            if (!masked(int(c), i) && !masked(int(c), i + d)) ++n_valid[ext.chrom][d];
      }
      for (int64_t k = 0; k < K; ++k)
        for (int64_t d = 0; d < W; ++d) {
          double sum = fp.to_double(acc[(c * K + k) * W + d]);
          cells_[c].expected[k][d] = n_valid[k][d] ? sum / double(n_valid[k][d]) : 0.0;
        }
    }
  }
}

double ContactNormalizer::transform(int cell, int chrom, int64_t d, double v) const {
  const std::string& t = config_.hic_transform;
  if (t == "reference") return std::min(v, config_.reference_clamp) / cells_[cell].chrom_scale[chrom];
  if (t == "log1p") return std::log1p(v);
  if (t == "oe") {
    double e = cells_[cell].expected[chrom][d];
    return e > 0 ? v / e : 0.0;
  }
  return v;
}

}  // namespace mixhic::prep
