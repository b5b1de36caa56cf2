// exact_sum.hpp — sums over ranks that are bitwise identical whatever the number of ranks.
//
// Floating-point addition is not associative, so an MPI_SUM of doubles depends on how the terms
// were split over ranks, and then so would the corpus bytes. Terms are instead rounded to 128-bit
// fixed point with a scale chosen from a global bound on the sum (2^-125 of the bound, far below
// double precision), summed as integers (associative) and converted back. Used by ICE balancing
// (marginals), observed/expected (per-diagonal sums) and track z-scores.
#pragma once

#include <cstdint>
#include <vector>

#include "mixhic/mpi_world.hpp"

namespace mixhic {

using Fixed128 = __int128;

class FixedPoint {
 public:
  // `bound` >= |any partial or total sum| that will be accumulated (e.g. n_terms * max|term|).
  explicit FixedPoint(double bound);
  Fixed128 to_fixed(double x) const;
  double to_double(Fixed128 v) const;
  int shift() const { return shift_; }

 private:
  int shift_;
};

// COLLECTIVE: a bound n_terms * max|term| from every rank's local count and max |term|
// (both reductions are exact, so every rank gets the same bound).
double global_bound(const MpiWorld& world, int64_t local_terms, double local_max_abs);

// COLLECTIVE: element-wise integer sum of `values` over all ranks, in place.
void allreduce_fixed(const MpiWorld& world, std::vector<Fixed128>& values);

}  // namespace mixhic
