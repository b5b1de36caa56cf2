#include "track_binner.hpp"

#include <cmath>
#include <vector>

namespace mixhic::prep {

void TrackBinner::bin(int cell, int chrom, int64_t start_bp, int64_t n_rows, float* out) const {
  const int64_t T = n_tracks();
  std::vector<float> column(n_rows);
  const bool log2p1 = config_.track_transform == "log2p1";
  for (int64_t t = 0; t < T; ++t) {
    const std::string& name = plan_.chroms[chrom].track_name[cell][t];
    plan_.cells[cell].tracks[t].bin_means(name, start_bp, config_.track_bin_bp, n_rows, column.data());
    for (int64_t r = 0; r < n_rows; ++r) {
      float v = column[r];
      out[r * T + t] = log2p1 ? static_cast<float>(std::log2(1.0 + double(v))) : v;
    }
  }
}

}  // namespace mixhic::prep
