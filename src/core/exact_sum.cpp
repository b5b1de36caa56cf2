#include "mixhic/exact_sum.hpp"

#include <cmath>

#include "mixhic/check.hpp"

namespace mixhic {

FixedPoint::FixedPoint(double bound) {
  if (!(bound > 0) || !std::isfinite(bound)) bound = 1.0;
  int exp2 = 0;
  std::frexp(bound, &exp2);  // bound < 2^exp2
  shift_ = 125 - exp2;       // |sum| * 2^shift < 2^125 leaves headroom in 127 bits
}

Fixed128 FixedPoint::to_fixed(double x) const {
  return static_cast<Fixed128>(std::nearbyint(std::ldexp(x, shift_)));
}

double FixedPoint::to_double(Fixed128 v) const { return std::ldexp(static_cast<double>(v), -shift_); }

double global_bound(const MpiWorld& world, int64_t local_terms, double local_max_abs) {
  int64_t terms = 0;
  double max_abs = 0;
  MIXHIC_MPI_CHECK(MPI_Allreduce(&local_terms, &terms, 1, MPI_INT64_T, MPI_SUM, world.comm));
  MIXHIC_MPI_CHECK(MPI_Allreduce(&local_max_abs, &max_abs, 1, MPI_DOUBLE, MPI_MAX, world.comm));
  return std::max<double>(1, terms) * max_abs;
}

namespace {
void sum_fixed128(void* in, void* inout, int* len, MPI_Datatype*) {
  auto* a = static_cast<Fixed128*>(in);
  auto* b = static_cast<Fixed128*>(inout);
  for (int i = 0; i < *len; ++i) b[i] += a[i];
}
}  // namespace

void allreduce_fixed(const MpiWorld& world, std::vector<Fixed128>& values) {
  if (world.size == 1) return;
  static MPI_Datatype type = MPI_DATATYPE_NULL;
  static MPI_Op op = MPI_OP_NULL;
  if (type == MPI_DATATYPE_NULL) {
    MIXHIC_MPI_CHECK(MPI_Type_contiguous(sizeof(Fixed128), MPI_BYTE, &type));
    MIXHIC_MPI_CHECK(MPI_Type_commit(&type));
    MIXHIC_MPI_CHECK(MPI_Op_create(sum_fixed128, /*commute=*/1, &op));
  }
  // Large vectors go in pieces so the count fits an int.
  const size_t piece = 1 << 24;
  for (size_t at = 0; at < values.size(); at += piece) {
    int n = static_cast<int>(std::min(piece, values.size() - at));
    MIXHIC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data() + at, n, type, op, world.comm));
  }
}

}  // namespace mixhic
