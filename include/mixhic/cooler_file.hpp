// cooler_file.hpp — one Hi-C contact matrix at one resolution, read from a .cool or .mcool with
// the HDF5 C API against the cooler schema (format-version 1-3, storage-mode symmetric-upper).
//
// Called by the prep stage (window extraction, ICE, expected) and by tests. Coordinates follow
// cooler: genome-wide bin ids, 0-based half-open base pairs. Reads are hyperslabs of the pixel
// table located through indexes/bin1_offset, so a rank reads only the rows its windows need.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "mixhic/h5.hpp"

namespace mixhic {

struct CoolerChrom {
  std::string name;
  int64_t length = 0;
  int64_t bin_begin = 0, bin_end = 0;  // genome-wide bin ids [begin, end)
};

struct PixelBlock {
  std::vector<int64_t> bin1, bin2;
  std::vector<double> count;
  size_t size() const { return count.size(); }
  // Keeps, in order, the pixels k for which keep(k) is true.
  template <typename Keep>
  void keep_if(Keep keep) {
    size_t kept = 0;
    for (size_t k = 0; k < size(); ++k) {
      if (!keep(k)) continue;
      bin1[kept] = bin1[k];
      bin2[kept] = bin2[k];
      count[kept] = count[k];
      ++kept;
    }
    bin1.resize(kept);
    bin2.resize(kept);
    count.resize(kept);
  }
};

class CoolerFile {
 public:
  // `uri` is "x.cool", "x.mcool" or "x.mcool::resolutions/5000" (cooler's URI syntax).
  // `resolution` picks /resolutions/<res> of an .mcool and is checked against a .cool's
  // bin-size; 0 accepts a single-resolution file as it is.
  CoolerFile(const std::string& uri, int64_t resolution);

  const std::string& path() const { return path_; }
  const std::string& group() const { return group_; }
  int64_t bin_size() const { return bin_size_; }
  int64_t n_bins() const { return static_cast<int64_t>(bin1_offset_.size()) - 1; }
  int64_t nnz() const { return bin1_offset_.back(); }
  int format_version() const { return format_version_; }
  const std::vector<CoolerChrom>& chroms() const { return chroms_; }
  int chrom_index(const std::string& name) const;  // -1 if absent

  // First pixel index of row `bin` (bin == n_bins() gives nnz()).
  int64_t row_offset(int64_t bin) const { return bin1_offset_[bin]; }

  bool has_bin_column(const std::string& name) const;
  std::vector<std::string> bin_columns() const;  // columns besides chrom/start/end
  // Multiplicative balancing weights for every bin: "weight" (or any cooler-style column) as
  // stored; Juicer columns "KR", "VC", "VC_SQRT", "SCALE" are divisive, so 1/v. Masked bins
  // (NaN, or a zero/NaN Juicer value) are NaN.
  std::vector<double> balancing_weights(const std::string& column) const;
  static bool is_juicer_column(const std::string& column);

  // Pixels of rows [row_begin, row_end) whose bin2 < bin2_end, in file order.
  PixelBlock read_rows(int64_t row_begin, int64_t row_end,
                       int64_t bin2_end = std::numeric_limits<int64_t>::max()) const;
  // Pixels [first, last) of the pixel table.
  PixelBlock read_pixels(int64_t first, int64_t last) const;

  // Dense block rows [r0, r0+nr) x cols [c0, c0+nc) of the symmetric matrix, row-major, with
  // `weights` applied (nullptr: raw counts). Masked bins give NaN, as cooler's fetch does.
  std::vector<double> fetch(int64_t r0, int64_t nr, int64_t c0, int64_t nc,
                            const std::vector<double>* weights) const;

 private:
  std::string path_, group_;
  h5::Handle file_, root_;
  int64_t bin_size_ = 0;
  int format_version_ = 0;
  std::vector<CoolerChrom> chroms_;
  std::vector<int64_t> bin1_offset_;
  mutable h5::Handle bin1_ds_, bin2_ds_, count_ds_;
};

}  // namespace mixhic
