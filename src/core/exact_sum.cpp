#include "mixhic/exact_sum.hpp"

#include <cmath>

#include "mixhic/check.hpp"

namespace mixhic {

FixedPoint::FixedPoint(double max_abs_term) {
  if (!(max_abs_term > 0) || !std::isfinite(max_abs_term)) max_abs_term = 1.0;
  int exp2 = 0;
  std::frexp(max_abs_term, &exp2);  // max_abs_term < 2^exp2
  shift_ = 62 - exp2;               // |term| * 2^shift < 2^62 fits an int64
  scale_ = std::ldexp(1.0, shift_);
  if (scale_ == 0 || !std::isfinite(scale_))
    throw Error(fmt::format("exact sum: term magnitude 2^{} is outside the supported range", exp2));
}

double FixedPoint::to_double(Fixed128 v) const { return std::ldexp(static_cast<double>(v), -shift_); }

double global_max_abs(const MpiWorld& world, double local_max_abs) {
  double max_abs = 0;
  MIXHIC_MPI_CHECK(MPI_Allreduce(&local_max_abs, &max_abs, 1, MPI_DOUBLE, MPI_MAX, world.comm));
  return max_abs;
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
