// track_binner.hpp — turns bigWig signal into the corpus's track rows: one row per track bin
// (track-bin-bp bases), one column per track, averaged as BigWigTrack::bin_means documents, then
// the configured transform (log2(x+1) by default).
#pragma once

#include <cstdint>

#include "prep_config.hpp"
#include "window_plan.hpp"

namespace mixhic::prep {

class TrackBinner {
 public:
  TrackBinner(const PrepConfig& config, const PrepPlan& plan) : config_(config), plan_(plan) {}
  int64_t n_tracks() const { return static_cast<int64_t>(plan_.track_names.size()); }

  // Rows for bins start_bp + r*track-bin-bp, r in [0, n_rows), of `chrom` in `cell`, transformed,
  // into out[r * n_tracks + t].
  void bin(int cell, int chrom, int64_t start_bp, int64_t n_rows, float* out) const;

 private:
  const PrepConfig& config_;
  const PrepPlan& plan_;
};

}  // namespace mixhic::prep
