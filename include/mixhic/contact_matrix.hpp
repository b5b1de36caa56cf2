// contact_matrix.hpp — the read interface of one Hi-C contact matrix at one resolution, whatever
// file holds it: CoolerFile (.cool / .mcool, cooler_file.hpp) and HicFile (Juicer .hic,
// hic_file.hpp) implement it, and open_contact_matrix picks one by the file name.
//
// Called by the prep stage (window plan, contact normaliser, window extraction) and by tests.
// Coordinates follow cooler: genome-wide bin ids (chromosomes concatenated in file order, each
// ceil(length / bin_size) bins), 0-based half-open base pairs, symmetric-upper pixels (bin1 <= bin2).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

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

class ContactMatrix {
 public:
  virtual ~ContactMatrix() = default;

  virtual const std::string& path() const = 0;
  // The part of the file read, recorded with the corpus inputs: a cooler group ("/",
  // "resolutions/5000"), or "BP/5000" (Juicer's unit and bin size) for a .hic.
  virtual std::string group() const = 0;
  virtual int64_t bin_size() const = 0;
  virtual int64_t n_bins() const = 0;
  virtual const std::vector<CoolerChrom>& chroms() const = 0;
  int chrom_index(const std::string& name) const;  // -1 if absent

  // Names a balancing vector can be asked for by (cooler: bin columns besides chrom/start/end;
  // .hic: the normalisation types stored at this resolution).
  virtual bool has_bin_column(const std::string& name) const = 0;
  virtual std::vector<std::string> bin_columns() const = 0;
  // Multiplicative balancing weights for every bin: stored values as they are, or 1/v where
  // balance_rule says the vector is divisive; masked bins (NaN, or a zero/NaN divisive value) are
  // NaN. A negative value (no balancing vector has one: a corrupt file) is an InputFormatError
  // naming the vector, the chromosome and the first bad bin.
  virtual std::vector<double> balancing_weights(const std::string& column) const = 0;
  // Whether `column` is divisive and how that was decided, e.g. "KR: multiplicative (bins/KR
  // attribute divisive_weights = False)"; recorded in the corpus's /normalization.
  virtual std::string balance_rule(const std::string& column) const = 0;
  // Juicer's names for its (divisive) vectors: the rule for a cooler column that does not say.
  static bool is_juicer_column(const std::string& column);

  // Pixels of rows [row_begin, row_end) whose bin2 < bin2_end, sorted by (bin1, bin2).
  PixelBlock read_rows(int64_t row_begin, int64_t row_end,
                       int64_t bin2_end = std::numeric_limits<int64_t>::max()) const {
    return read_rows_impl(row_begin, row_end, bin2_end);
  }

  // Dense block rows [r0, r0+nr) x cols [c0, c0+nc) of the symmetric matrix, row-major, with
  // `weights` applied (nullptr: raw counts). Masked bins give NaN, as cooler's fetch does.
  std::vector<double> fetch(int64_t r0, int64_t nr, int64_t c0, int64_t nc,
                            const std::vector<double>* weights) const;

 protected:
  virtual PixelBlock read_rows_impl(int64_t row_begin, int64_t row_end, int64_t bin2_end) const = 0;
  // The weights of a stored balancing vector `v` (one value per bin), shared by every format: a
  // negative value (a corrupt file) is refused naming `field(chromosome)` and the bin; a divisive
  // vector becomes 1/v, NaN where v is 0 or NaN.
  std::vector<double> weights_from_vector(std::vector<double> v, bool divisive,
                                          const std::function<std::string(const std::string&)>& field) const;
};

// Opens `uri` at `resolution` (bp; 0 accepts a single-resolution file as it is): a path ending in
// ".hic" is a Juicer file (HicFile), anything else a cooler URI (CoolerFile).
std::unique_ptr<ContactMatrix> open_contact_matrix(const std::string& uri, int64_t resolution);

}  // namespace mixhic
