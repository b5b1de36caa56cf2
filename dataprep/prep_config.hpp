// prep_config.hpp — every setting of mixhic-prep, its option table (config file + command line +
// --help) and its validation. One struct; the table binds each key to a field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mixhic/config.hpp"
#include "mixhic/task.hpp"

namespace mixhic::prep {

struct IceOptions {
  int64_t ignore_diags = 2;  // cooler balance defaults
  int64_t min_nnz = 10;
  double min_count = 0;
  double mad_max = 5;
  double tol = 1e-5;
  int64_t max_iters = 200;
  bool cis_only = false;  // balance each chromosome on its own contacts (cooler --cis-only)
};

struct PrepConfig {
  std::string output;
  std::vector<std::string> cells;   // "NAME HIC_URI"
  std::vector<std::string> tracks;  // "CELL TRACK BIGWIG"
  // geometry
  int64_t resolution = 5000;
  int64_t window_bins = 50;
  int64_t stride_bp = 62500;
  int64_t track_bin_bp = 100;
  // which parts of the genome
  std::string regions;  // "chr21:28000000-30310000,..." (empty: whole chromosomes)
  std::string chroms;   // restrict to these (empty: every chromosome of the first Hi-C file)
  std::string exclude_chroms = "chrY,chrM";
  std::vector<std::string> chrom_aliases;  // "A:B"
  std::string val_chroms = "chr10,chr11";
  std::string test_chroms = "chr3,chr13,chr17";
  // normalisation
  std::string balance = "weight";  // none | weight | KR | VC | VC_SQRT | SCALE | ice | <column>
  std::string hic_transform = "reference";  // reference | log1p | oe | none
  double reference_clamp = 255;
  std::string track_transform = "log2p1";  // log2p1 | none
  bool track_zscore = false;
  IceOptions ice;
  // filters
  double min_nonzero_fraction = 0.1;
  int64_t max_masked_bins = 0;
  std::string blacklist;
  double max_blacklist_fraction = 0;
  // downstream samples (CORPUS_SCHEMA.md "Downstream samples")
  std::string samples = "tiles";  // tiles | loops | tss, as given
  SampleSource sample_source = SampleSource::tiles;  // `samples`, parsed by validate(): compare this
  std::vector<std::string> loops;  // "CELL BEDPE"
  int64_t loop_min_distance_bp = 20000;
  int64_t loop_max_distance_bp = 2000000;
  int64_t negatives_per_positive = 1;
  int64_t loop_seed = 1;
  int64_t loop_exclusion_bins = 2;
  std::string genes;
  std::vector<std::string> expression;  // "CELL BIGWIG"
  std::string gene_split = "chrom";     // chrom | random
  int64_t gene_split_seed = 8;
  std::string gene_split_fractions = "0.8,0.1,0.1";
  // run
  bool input_checksums = true;
  bool log_all_ranks = false;

  int64_t anchor_bp() const { return window_bins * resolution; }
  int64_t track_bins_per_anchor() const { return anchor_bp() / track_bin_bp; }
};

po::options_description prep_options(PrepConfig& c);
// Throws ConfigError naming the key when a value is outside its domain; parses the fields that
// have a typed twin (samples -> sample_source).
void validate(PrepConfig& c);

}  // namespace mixhic::prep
