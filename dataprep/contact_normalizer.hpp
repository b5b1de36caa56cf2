// contact_normalizer.hpp — how a raw Hi-C count becomes a stored value: balancing weights
// (cooler weight, a Juicer vector, or our own distributed ICE), then the configured transform
// (reference clamp-and-divide by the chromosome maximum, log1p, observed/expected, none).
//
// The chromosome maxima and the per-diagonal expected values are reduced over all ranks (max is
// exact; sums use exact_sum.hpp), so the result does not depend on the number of ranks.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ice_balance.hpp"
#include "mixhic/mpi_world.hpp"
#include "prep_config.hpp"
#include "window_plan.hpp"

namespace mixhic::prep {

struct CellNormalization {
  std::vector<double> weights;                // multiplicative per bin; empty = unbalanced
  std::vector<double> chrom_scale;            // [chrom] divisor of the reference transform
  std::vector<std::vector<double>> expected;  // [chrom][d] for d < W (oe only)
  IceResult ice;                              // filled when balance = ice
  std::string balance_rule = "none";          // how the weights were taken (ContactMatrix::balance_rule)
};

class ContactNormalizer {
 public:
  // COLLECTIVE: loads or computes the weights of every cell and the statistics the transform needs.
  ContactNormalizer(const MpiWorld& world, const PrepConfig& config, const PrepPlan& plan);

  const CellNormalization& cell(int c) const { return cells_[c]; }
  double weight(int cell, int64_t bin) const {
    return cells_[cell].weights.empty() ? 1.0 : cells_[cell].weights[bin];
  }
  bool masked(int cell, int64_t bin) const { return std::isnan(weight(cell, bin)); }
  // The stored value of a balanced, finite pixel at diagonal offset d of `chrom`.
  double transform(int cell, int chrom, int64_t d, double balanced) const;

 private:
  void load_weights(const MpiWorld& world, const PrepPlan& plan);
  void reduce_statistics(const MpiWorld& world, const PrepPlan& plan);
  const PrepConfig& config_;
  std::vector<CellNormalization> cells_;
};

}  // namespace mixhic::prep
