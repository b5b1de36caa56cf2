// window_plan.hpp — what mixhic-prep will extract: the cells with their opened inputs, the
// chromosomes (reconciled across files), and the deterministic, ordered list of ContactWindows.
//
// Every rank builds the same plan from the config (cheap: headers and indexes only), so window
// ownership is plain arithmetic (block_of) and needs no communication.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mixhic/bed.hpp"
#include "mixhic/bigwig_track.hpp"
#include "mixhic/chrom_names.hpp"
#include "mixhic/contact_matrix.hpp"
#include "prep_config.hpp"

namespace mixhic::prep {

enum class Split : int8_t { train = 0, val = 1, test = 2 };

struct CellInputs {
  std::string name;
  std::string hic_uri;
  std::unique_ptr<ContactMatrix> hic;  // .cool / .mcool / .hic
  std::vector<std::string> track_paths;  // in PrepPlan::track_names order
  std::vector<BigWigTrack> tracks;
};

// A chromosome as the corpus names it, with each input's own name for it.
struct PlannedChrom {
  std::string name;  // canonical: as in the first cell's Hi-C file
  int64_t length = 0;
  Split split = Split::train;
  std::vector<int> hic_index;                        // [cell] index in that cell's cooler
  std::vector<std::vector<std::string>> track_name;  // [cell][track] name inside the bigWig
};

// A genomic interval of one chromosome in which windows are laid out.
struct Extent {
  int chrom = 0;
  int64_t start_bp = 0, end_bp = 0;
};

// One diagonal window: Hi-C bins [bin, bin + W) of `cell`'s cooler (genome-wide ids).
struct ContactWindow {
  int16_t cell = 0;
  int32_t chrom = 0;
  int32_t extent = 0;
  int64_t bin = 0;       // genome-wide bin id of the first row in the cell's cooler
  int64_t start_bp = 0;  // genomic start of the window (= anchor start)
};

struct PrepPlan {
  std::vector<CellInputs> cells;
  std::vector<std::string> track_names;
  std::vector<PlannedChrom> chroms;
  std::vector<Extent> extents;
  std::vector<ContactWindow> windows;  // ordered: cell, chromosome, start
  std::vector<BedInterval> blacklist;  // chrom names resolved to canonical names
};

// Opens every input, reconciles chromosomes and lays out the windows. Throws InputFormatError /
// ConfigError naming the file or key on bad input.
PrepPlan make_plan(const PrepConfig& config);

// Parses "chr:start-end" (commas as thousands separators are allowed in the numbers).
Extent parse_region(const std::string& text, const std::vector<PlannedChrom>& chroms, const ChromNameMap& names);

}  // namespace mixhic::prep
