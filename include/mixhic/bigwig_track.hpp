// bigwig_track.hpp — one epigenomic signal track read from a bigWig file through libBigWig.
//
// Called by the prep stage's TrackBinner. A track bin's value is the mean over all of its bases,
// with bases the file does not cover (and bases past the chromosome end) counted as 0 — the
// reference densifies tracks with zeros before averaging. Equals
// mean(nan_to_num(pyBigWig.values(chrom, s, e))) over each bin.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mixhic {

class BigWigTrack {
 public:
  explicit BigWigTrack(const std::string& path);  // InputFormatError if missing / not bigWig
  ~BigWigTrack();
  BigWigTrack(BigWigTrack&& o) noexcept;
  BigWigTrack(const BigWigTrack&) = delete;
  BigWigTrack& operator=(const BigWigTrack&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<std::pair<std::string, int64_t>>& chroms() const { return chroms_; }
  // Length of `chrom`, or -1 if the file has no such chromosome.
  int64_t chrom_length(const std::string& chrom) const;

  // Means of n_bins consecutive bins of bin_bp bases starting at `start` into out[0..n_bins).
  void bin_means(const std::string& chrom, int64_t start, int64_t bin_bp, int64_t n_bins, float* out) const;

 private:
  std::string path_;
  void* bw_ = nullptr;  // bigWigFile_t*, an anonymous struct in bigWig.h
  std::vector<std::pair<std::string, int64_t>> chroms_;
};

}  // namespace mixhic
