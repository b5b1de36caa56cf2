// cool_writer.hpp — Hi-C maps (predicted or true) written as a single-resolution .cool file that
// cooler, HiGlass and mixhic's own CoolerFile open. Called by mixhic-eval on rank 0 only: it uses
// serial HDF5 (default file driver), never the MPI-IO driver the corpus files use.
// write_cooler_group (the schema below, one resolution) is also what `mixhic-prep synth` writes
// into each /resolutions/<res> group of its .mcool.
//
// The file follows the cooler schema, format-version 3 (docs: cooler.readthedocs.io, "Schema"):
//   /chroms/{name, length}, /bins/{chrom (HDF5 enum over the names, as cooler writes it), start,
//   end}, /pixels/{bin1_id, bin2_id, count (float64)}, /indexes/{chrom_offset, bin1_offset};
//   attributes format "HDF5::Cooler", format-version 3, storage-mode "symmetric-upper",
//   bin-type "fixed", bin-size, nbins, nchroms, nnz, creation-date, generated-by "mixhic-eval",
//   metadata (JSON text) and, when given, genome-assembly.
// Bin ids are genome-wide: the bins of chroms[0] first, each chromosome starting at bin 0 of its
// own coordinates, the last bin of a chromosome possibly shorter than bin_size.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <hdf5.h>

namespace mixhic {

struct CoolChrom {
  std::string name;
  int64_t length = 0;  // base pairs
};

// Extra attributes of the written file.
struct CoolAttributes {
  std::string genome_assembly;  // e.g. "hg38"; empty: attribute not written
  std::string metadata = "{}";  // JSON object text, stored as cooler's "metadata" attribute
  std::string generated_by = "mixhic-eval";
  std::string creation_date;    // ISO 8601; empty: now
};

class CoolWriter {
 public:
  // Throws ConfigError for an empty chromosome list, a duplicate name, a length outside
  // (0, 2^31) (cooler stores coordinates as int32) or a bin size <= 0.
  CoolWriter(std::vector<CoolChrom> chroms, int64_t bin_size);

  int64_t bin_size() const { return bin_size_; }
  int64_t n_bins() const { return chrom_offset_.back(); }
  const std::vector<CoolChrom>& chroms() const { return chroms_; }
  // Genome-wide id of the first bin of `chrom`; throws ConfigError naming the chromosome and the
  // known names if absent.
  int64_t first_bin(const std::string& chrom) const;

  // One prediction of pixel (bin1, bin2), genome-wide ids in either order (stored as the upper
  // triangle). Overlapping windows predict the same pixel several times: the file holds the
  // arithmetic mean of every prediction added for it (zeros included), so a pixel seen by k
  // windows weighs each equally. NaN values are not predictions (masked bins) and are ignored.
  // A pixel whose mean is exactly 0 is not stored: in cooler an absent pixel reads as 0.
  void add(int64_t bin1, int64_t bin2, double value);

  // A W x W map of the diagonal window whose first bin is `first_bin` (genome-wide), row-major;
  // its upper triangle (row <= column, diagonal included) is added: a symmetric map's lower
  // triangle mirrors it. The window must lie inside one chromosome (Error otherwise).
  template <typename T>
  void add_window(int64_t first_bin, int64_t width, const T* values) {
    check_window(first_bin, width);
    for (int64_t i = 0; i < width; ++i)
      for (int64_t j = i; j < width; ++j)
        add(first_bin + i, first_bin + j, static_cast<double>(values[i * width + j]));
  }

  // Distinct pixels added so far (including any whose mean is 0, which write() drops).
  int64_t n_pixels() const;

  // Writes the file to `path + ".tmp"`, closes it and renames it onto `path`, so `path` is either
  // absent, the previous file or the complete new one. Pixels are sorted by (bin1, bin2).
  // Throws Error naming the path when the file cannot be created or renamed.
  void write(const std::string& path, const CoolAttributes& attrs = {}) const;

 private:
  struct Pixel {
    int64_t bin1, bin2;
    double sum;
    int64_t n;
  };
  void check_window(int64_t first_bin, int64_t width) const;
  // Sorts the pending predictions into the merged table and sums duplicates (stable, so sums
  // follow the order of add() and the file is the same bits for the same calls).
  void compact() const;

  std::vector<CoolChrom> chroms_;
  int64_t bin_size_;
  std::vector<int64_t> chrom_offset_;  // genome-wide first bin of each chromosome, then n_bins
  // Appending and merging now and then keeps memory near 32 bytes per distinct pixel, where a
  // hash map would need about twice that.
  mutable std::vector<Pixel> pixels_;
  mutable size_t merged_ = 0;  // pixels_[0, merged_) is sorted and has no duplicates
};

// Writes one resolution of the schema above into `group` (a file or an .mcool's
// /resolutions/<res> group): chroms, fixed bins of `bin_size` (the last one of a chromosome
// shorter), the pixels (genome-wide ids, bin1 <= bin2, sorted by (bin1, bin2), Count = int32_t for
// raw counts or double) and the chrom/bin1 offset indexes derived from them. Columns are chunked
// and gzip'd as cooler writes them.
template <typename Count>
void write_cooler_group(hid_t group, const std::vector<CoolChrom>& chroms, int64_t bin_size,
                        const std::vector<int64_t>& bin1, const std::vector<int64_t>& bin2,
                        const std::vector<Count>& count, const CoolAttributes& attrs);

}  // namespace mixhic
