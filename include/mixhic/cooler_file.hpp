// cooler_file.hpp — one Hi-C contact matrix at one resolution, read from a .cool or .mcool with
// the HDF5 C API against the cooler schema (format-version 1-3, storage-mode symmetric-upper).
//
// Called by the prep stage (window extraction, ICE, expected) and by tests. Coordinates follow
// cooler: genome-wide bin ids, 0-based half-open base pairs. Implements ContactMatrix, plus the
// whole-pixel-table access (nnz, read_pixels) that ICE needs. Reads are hyperslabs of the pixel
// table located through indexes/bin1_offset, so a rank reads only the rows its windows need.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mixhic/contact_matrix.hpp"
#include "mixhic/h5.hpp"

namespace mixhic {

class CoolerFile : public ContactMatrix {
 public:
  // `uri` is "x.cool", "x.mcool", "x.mcool::resolutions/5000" or "x.scool::cells/NAME"
  // (cooler's URI syntax). `resolution` picks /resolutions/<res> of an .mcool (or, in the old
  // multi-resolution layout of groups /0, /1, ..., the group whose bin-size it is, as cooler does)
  // and is checked against a .cool's bin-size; 0 accepts a single-resolution file as it is. A
  // single-cell .scool needs its cell named; the error lists the cells. The index is checked at
  // open (chrom_offset from 0 to n_bins, bin1_offset from 0 to nnz, both non-decreasing; bin size
  // > 0; the pixel columns 1-D, nnz long and backed by stored bytes), each refused as an
  // InputFormatError naming the file and the dataset or attribute.
  CoolerFile(const std::string& uri, int64_t resolution);

  const std::string& path() const override { return path_; }
  std::string group() const override { return group_; }
  int64_t bin_size() const override { return bin_size_; }
  int64_t n_bins() const override { return static_cast<int64_t>(bin1_offset_.size()) - 1; }
  int64_t nnz() const { return bin1_offset_.back(); }
  int format_version() const { return format_version_; }
  const std::vector<CoolerChrom>& chroms() const override { return chroms_; }

  // First pixel index of row `bin` (bin == n_bins() gives nnz()).
  int64_t row_offset(int64_t bin) const { return bin1_offset_[bin]; }

  bool has_bin_column(const std::string& name) const override;
  std::vector<std::string> bin_columns() const override;  // columns besides chrom/start/end
  // Multiplicative balancing weights for every bin. A column is divisive (1/v is used) if its
  // `divisive_weights` attribute says True, as cooler and hic2cool write it; without the
  // attribute, by its name: Juicer's "KR", "VC", "VC_SQRT", "SCALE" are divisive, any other
  // ("weight", "ICE", ...) multiplicative. Masked bins (NaN, or a zero/NaN divisive value) are NaN.
  std::vector<double> balancing_weights(const std::string& column) const override;
  std::string balance_rule(const std::string& column) const override;

  // Pixels [first, last) of the pixel table (0 <= first, last <= nnz()). Each pixel is checked as
  // it is read: bin1 is the row indexes/bin1_offset files it under, bin1 <= bin2 < n_bins(), bin2
  // ascending within a row; otherwise an InputFormatError naming the pixel columns.
  PixelBlock read_pixels(int64_t first, int64_t last) const;

  // Whether bins/<column> is divisive, and the reason (the attribute, or the name).
  std::pair<bool, std::string> divisive(const std::string& column) const;

 protected:
  // Rows [row_begin, row_end) clamped to [0, n_bins()), in file order, which cooler sorts by (bin1, bin2).
  PixelBlock read_rows_impl(int64_t row_begin, int64_t row_end, int64_t bin2_end) const override;

 private:
  std::string legacy_group(int64_t resolution) const;
  std::string path_, group_;
  h5::Handle file_, root_;
  int64_t bin_size_ = 0;
  int format_version_ = 0;
  std::vector<CoolerChrom> chroms_;
  std::vector<int64_t> bin1_offset_;
  mutable h5::Handle bin1_ds_, bin2_ds_, count_ds_;
};

}  // namespace mixhic
