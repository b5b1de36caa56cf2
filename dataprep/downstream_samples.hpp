// downstream_samples.hpp — the samples of the fine-tuning tasks (CORPUS_SCHEMA.md "Downstream
// samples"): chromatin-loop pairs (BEDPE positives, distance-matched negatives) and TSS-centred
// expression windows, plus the readers of their annotation files (BEDPE, BED6/BED12, GTF).
//
// Called by run_prep (prep_pipeline.cpp) after make_plan when `samples` is loops or tss: it
// replaces plan.windows with one window per sample (the row window, anchor 1) and returns what
// else each sample carries. Every rank builds the same list: it is a pure function of the config
// and the inputs (negatives: of (loop-seed, cell, chromosome)), never of the number of ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mixhic/bigwig_track.hpp"
#include "mixhic/chrom_names.hpp"
#include "mixhic/task.hpp"
#include "prep_config.hpp"
#include "window_plan.hpp"

namespace mixhic::prep {

// One BEDPE line: two anchor intervals, 0-based half-open.
struct LoopAnchors {
  std::string chrom1, chrom2;
  int64_t start1 = 0, end1 = 0, start2 = 0, end2 = 0;
};
// 6+ whitespace-separated columns; skips empty, '#', 'track' and 'browser' lines. A bad line is
// an InputFormatError naming path:line, the field and what was expected.
std::vector<LoopAnchors> read_bedpe(const std::string& path);

struct GeneTss {
  std::string gene, chrom;
  int64_t tss_bp = 0;  // 0-based base of the transcription start
};
// BED (4+ columns: name in column 4, strand in column 6 if present, '.' or absent = '+'; TSS =
// start on '+', end - 1 on '-') or GTF (chosen by the .gtf / .gtf.gz-less suffix ".gtf"): `gene`
// features, or `transcript` ones when the file has no gene lines; name = gene_name, else gene_id.
std::vector<GeneTss> read_genes(const std::string& path);

// What a sample carries besides its Hi-C window and tracks; parallel to PrepPlan::windows.
struct DownstreamSample {
  int64_t bin2 = 0;       // genome-wide id of the first column bin (= window.bin on the diagonal)
  int64_t start2_bp = 0;  // genomic start of the column window
  int8_t label = 0;       // loops: 1 positive, 0 negative
  int64_t anchor1_bp = 0, anchor2_bp = 0;  // loops: binned anchor starts
  int64_t draw = -1;      // loops, negatives: position in the (cell, chrom) draw order
  int64_t tss_bp = 0;     // tss
  std::string gene;       // tss
  int8_t split = 0;       // the sample's split (tss with gene-split = random differs from the chromosome's)
};

struct DownstreamPlan {
  SampleSource source = SampleSource::tiles;  // loops | tss once planned
  std::vector<DownstreamSample> samples;
  int64_t n_input = 0;             // BEDPE lines / gene TSSs read
  int64_t n_dropped_inter = 0;     // loops between chromosomes
  int64_t n_dropped_distance = 0;  // outside [loop-min-distance-bp, loop-max-distance-bp]
  int64_t n_dropped_outside = 0;   // window leaves the chromosome (or the configured regions)
  int64_t n_dropped_unknown = 0;   // chromosome not among the prepared ones
  int64_t n_duplicates = 0;        // same anchor bins (loops) / same TSS bin of a gene (tss)
  std::vector<std::string> expression_paths;  // tss: [cell]
  std::vector<BigWigTrack> expression;        // tss: [cell], opened
  std::vector<std::vector<std::string>> expression_chrom;  // tss: [cell][chrom] name in the bigWig
};

// Replaces plan.windows by the samples of cfg.sample_source (loops or tss). Throws ConfigError /
// InputFormatError on bad config or input.
DownstreamPlan plan_downstream(const PrepConfig& cfg, PrepPlan& plan);

// Selects the negatives to keep once the filter verdicts are known: in each (cell, chrom), the
// first negatives-per-positive x (kept positives) passing negatives in draw order. kept[k] is
// true for windows that passed the filters; returns true for the windows to store.
std::vector<uint8_t> cap_negatives(const PrepConfig& cfg, const PrepPlan& plan, const DownstreamPlan& ds,
                                   const std::vector<uint8_t>& kept);

}  // namespace mixhic::prep
