// hic_file.hpp — one Hi-C contact matrix at one base-pair resolution, read from a Juicer .hic file
// (format versions 8 and 9) with plain file reads and zlib.
//
// Called through ContactMatrix (open_contact_matrix picks it for "*.hic") by the prep stage, and by
// tests. The bin layout is cooler's, so the prep cannot tell the two apart: genome-wide bin ids are
// the file's chromosomes in file order without Juicer's "All" pseudo-chromosome, each
// ceil(length / bin_size) bins. Only intra-chromosomal matrices are read: read_rows returns no
// pixel between two chromosomes (windows lie on the diagonal, so the prep needs none), and
// Juicer's blocks are decoded only where they overlap the rows asked for. Not thread-safe: reads
// share one file stream and block cache (each rank opens its own, as with CoolerFile).
//
// The layout follows the readers of the format's authors: Aiden Lab straw (C++/straw.cpp) and
// Juicebox (src/juicebox/data/DatasetReaderV2.java).
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "mixhic/contact_matrix.hpp"

namespace mixhic {

class HicFile : public ContactMatrix {
 public:
  // `resolution` must be one of the file's BP resolutions; 0 accepts a file with only one.
  HicFile(const std::string& path, int64_t resolution);

  const std::string& path() const override { return path_; }
  std::string group() const override { return "BP/" + std::to_string(bin_size_); }
  int64_t bin_size() const override { return bin_size_; }
  int64_t n_bins() const override { return n_bins_; }
  const std::vector<CoolerChrom>& chroms() const override { return chroms_; }
  int version() const { return version_; }
  const std::string& genome_id() const { return genome_id_; }
  const std::vector<int64_t>& resolutions() const { return resolutions_; }  // BP, in file order

  // The normalisation types stored at this resolution (KR, VC, VC_SQRT, SCALE, ...).
  bool has_bin_column(const std::string& norm) const override;
  std::vector<std::string> bin_columns() const override;
  // Juicer's divisive vector of `norm` over all bins; NaN on chromosomes the file has none for.
  std::vector<double> norm_vector(const std::string& norm) const;
  // 1/v of norm_vector (every .hic vector is divisive); NaN where v is NaN or 0; a negative value
  // is refused (a corrupt file). "NONE" gives 1s.
  std::vector<double> balancing_weights(const std::string& norm) const override;
  std::string balance_rule(const std::string& norm) const override;

 protected:
  // Intra-chromosomal pixels only, sorted by (bin1, bin2).
  PixelBlock read_rows_impl(int64_t row_begin, int64_t row_end, int64_t bin2_end) const override;

 private:
  struct Record {
    int32_t x, y;  // bins within the chromosome
    float count;
  };
  struct FileSpan {
    int64_t position = 0, size = 0;
  };
  // One intra-chromosomal matrix at bin_size_, loaded on first use.
  struct ChromMatrix {
    bool loaded = false, present = false;
    int32_t block_bin_count = 0, block_column_count = 0;
    std::map<int32_t, FileSpan> blocks;  // block number -> compressed bytes
  };
  struct CachedBlock {
    std::vector<Record> records;
    uint64_t last_use = 0;
  };

  void read_header(int64_t resolution);
  void read_footer();
  // A (position, size) the file gives for one of its sections must lie inside the file.
  void check_span(const FileSpan& span, const std::string& what) const;
  ChromMatrix& matrix(size_t chrom) const;
  std::vector<int32_t> blocks_overlapping(const ChromMatrix& m, int64_t lo, int64_t hi, int64_t col_end) const;
  const std::vector<Record>& block(size_t chrom, const ChromMatrix& m, int32_t number) const;
  std::vector<Record> decode_block(size_t chrom, int32_t number, const FileSpan& span) const;

  std::string path_, genome_id_;
  int version_ = 0;
  int64_t file_size_ = 0, master_position_ = 0;
  int64_t bin_size_ = 0, n_bins_ = 0;
  std::vector<int64_t> resolutions_;
  std::vector<CoolerChrom> chroms_;
  std::vector<int32_t> file_index_;               // [chrom] the chromosome's index in the file
  std::map<std::string, FileSpan> master_index_;  // "c1_c2" -> matrix metadata
  std::vector<std::string> norm_types_;           // at bin_size_, in footer order
  std::map<std::string, std::map<int32_t, FileSpan>> norm_index_;  // type -> file chrom index -> vector

  mutable std::ifstream in_;
  mutable std::vector<ChromMatrix> matrices_;
  // Decoded blocks of the chromosome read last: windows walk along a chromosome and overlap,
  // so each block is inflated once; bounded so a deep map cannot grow it without limit.
  mutable size_t cache_chrom_ = SIZE_MAX;
  mutable std::map<int32_t, CachedBlock> cache_;
  mutable size_t cache_records_ = 0;
  mutable uint64_t cache_clock_ = 0;
};

}  // namespace mixhic
