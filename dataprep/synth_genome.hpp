// synth_genome.hpp — made-up genomes whose epigenomic tracks really predict their Hi-C maps.
//
// Used by `mixhic-prep synth` (the quickstart's embedded default) and by the tests and benchmarks.
// For each cell type it writes a real multi-resolution .mcool (cooler schema v3, readable by
// python3-cooler) and real bigWig tracks (libBigWig) for a small genome with: power-law distance
// decay; TADs whose boundaries carry CTCF peaks; loops between convergent CTCF sites; A/B
// compartments tied to active (ATAC, H3K27ac) and repressive (H3K27me3) marks; Poisson sampling
// of contacts and noisy track signal. For the downstream tasks it also writes each cell's loops
// (BEDPE), genes at the promoters (BED12) and a CAGE-like expression bigWig that follows promoter
// activity, the same state the ATAC and H3K27ac peaks come from. Everything is a pure function of SynthSpec (incl. seed).
// Serial: rank 0 calls it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mixhic::prep {

struct SynthSpec {
  std::vector<std::string> cells = {"synthA", "synthB"};
  // Chromosome names and lengths (bp). Default: 4 chromosomes of 8, 7, 6 and 5 Mb.
  std::vector<std::pair<std::string, int64_t>> chroms = {
      {"chr1", 8'000'000}, {"chr2", 7'000'000}, {"chr3", 6'000'000}, {"chr4", 5'000'000}};
  // Finest .mcool resolution; coarser ones (integer multiples) are summed from it.
  std::vector<int64_t> resolutions = {5000, 10000};
  int64_t track_span_bp = 50;           // bigWig interval width
  int64_t max_distance_bp = 2'000'000;  // no contacts are simulated beyond this distance
  double contacts_per_bin = 60.0;       // expected count at distance 0, before modifiers
  uint64_t seed = 7;
};

// Track names written for every cell, in this order.
const std::vector<std::string>& synth_track_names();  // {"CTCF", "ATAC", "H3K27ac", "H3K27me3"}

struct SynthOutputs {
  std::vector<std::string> mcool;               // one per cell: DIR/<cell>.mcool
  std::vector<std::vector<std::string>> tracks;  // [cell][track]: DIR/<cell>.<track>.bw
  std::string inputs_ini;                        // DIR/inputs.ini: `cell =` and `track =` lines
  std::string blacklist_bed;                     // DIR/blacklist.bed: a few made-up bad regions
  // Downstream-task inputs (CORPUS_SCHEMA.md "Downstream samples"):
  std::vector<std::string> loops_bedpe;  // [cell]: DIR/<cell>.loops.bedpe, the loops formed in that cell
  std::string genes_bed12;               // DIR/genes.bed12: one gene per promoter, TSS at the promoter
  std::vector<std::string> cage;         // [cell]: DIR/<cell>.CAGE.bw, expression at active promoters
};

// Writes the files above into out_dir (created if missing). Throws mixhic::Error on failure.
SynthOutputs write_synth_inputs(const SynthSpec& spec, const std::string& out_dir);

}  // namespace mixhic::prep
