// exact_sum.hpp — sums over ranks that are bitwise identical whatever the number of ranks.
//
// Floating-point addition is not associative, so an MPI_SUM of doubles depends on how the terms
// were split over ranks, and then so would the corpus bytes. Each term is instead truncated to a
// 64-bit integer in units of 2^-62 of the largest term (a global maximum, which every rank
// agrees on exactly), and the integers are summed in 128 bits: integer addition is associative
// and 2^63 terms cannot overflow. A term loses at most 2^-62 of the largest term, far below
// double precision for any sum of many terms. Used by ICE balancing (marginals),
// observed/expected (per-diagonal sums) and track z-scores.
#pragma once

#include <cstdint>
#include <vector>

#include "mixhic/mpi_world.hpp"

namespace mixhic {

using Fixed128 = __int128;

class FixedPoint {
 public:
  // Every term that will be converted has |x| <= max_abs_term (use global_max_abs).
  explicit FixedPoint(double max_abs_term);
  // Truncates toward zero: deterministic, and one machine instruction.
  int64_t to_fixed(double x) const { return static_cast<int64_t>(x * scale_); }
  double to_double(Fixed128 v) const;
  int shift() const { return shift_; }

 private:
  int shift_;
  double scale_;  // 2^shift
};

// COLLECTIVE: the largest local |term| over all ranks (a max is exact in any order).
double global_max_abs(const MpiWorld& world, double local_max_abs);

// COLLECTIVE: element-wise integer sum of `values` over all ranks, in place.
void allreduce_fixed(const MpiWorld& world, std::vector<Fixed128>& values);

}  // namespace mixhic
