// ice_balance.hpp — iterative correction (ICE) of a cooler, distributed over MPI ranks.
//
// The same algorithm and defaults as `cooler balance` (genome-wide or --cis-only, ignore_diags,
// min_nnz, min_count, mad_max filters, variance tolerance, rescaled marginals), so its weights
// equal cooler's. Each rank holds a contiguous block of the pixel table; marginals are summed with
// exact_sum.hpp, so the weights are bitwise identical for any number of ranks.
#pragma once

#include <vector>

#include "mixhic/cooler_file.hpp"
#include "mixhic/mpi_world.hpp"
#include "prep_config.hpp"

namespace mixhic::prep {

struct IceResult {
  std::vector<double> weights;  // multiplicative, NaN for masked bins (like cooler's weight)
  int iterations = 0;      // the most any balanced unit (genome, or chromosome with cis_only) took
  double variance = 0;     // the largest final variance
  double scale = 0;        // genome-wide: the marginal scale; cis_only: the mean over chromosomes
  bool converged = false;  // every unit converged
  int64_t masked_bins = 0;
};

// COLLECTIVE over world.
IceResult ice_balance(const MpiWorld& world, const CoolerFile& hic, const IceOptions& opt);

}  // namespace mixhic::prep
