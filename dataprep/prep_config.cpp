#include "prep_config.hpp"

#include <cmath>

#include "mixhic/check.hpp"

namespace mixhic::prep {

namespace {
template <typename T>
std::string text(const T& v) {  // "1e-05", not boost's "1.0000000000000001e-05"
  return fmt::format("{}", v);
}
}  // namespace

po::options_description prep_options(PrepConfig& c) {
  po::options_description t("mixhic-prep options (config-file keys are the same names without --)");
  auto& o = c;
  t.add_options()
      ("output,o", po::value(&o.output), "corpus file to write (HDF5); written as OUTPUT.tmp-* and renamed when complete")
      ("cell", po::value(&o.cells)->composing(), "cell type and its Hi-C: 'NAME PATH.mcool' or 'NAME PATH.cool' (repeatable)")
      ("track", po::value(&o.tracks)->composing(), "epigenomic track: 'CELL TRACK PATH.bw' (repeatable; every cell needs the same TRACK names, in the same order)")
      ("resolution", po::value(&o.resolution)->default_value(o.resolution, text(o.resolution)), "Hi-C bin size in bp (picks /resolutions/N of an .mcool)")
      ("window-bins", po::value(&o.window_bins)->default_value(o.window_bins, text(o.window_bins)), "window side W in Hi-C bins")
      ("stride-bp", po::value(&o.stride_bp)->default_value(o.stride_bp, text(o.stride_bp)), "distance between consecutive window starts, bp")
      ("track-bin-bp", po::value(&o.track_bin_bp)->default_value(o.track_bin_bp, text(o.track_bin_bp)), "track bin size in bp (divides the Hi-C bin size)")
      ("regions", po::value(&o.regions)->default_value(o.regions, text(o.regions)), "only windows inside these regions: 'chr:start-end,...' (default: whole chromosomes)")
      ("chroms", po::value(&o.chroms)->default_value(o.chroms, text(o.chroms)), "only these chromosomes, comma-separated (default: all of the first Hi-C file)")
      ("exclude-chroms", po::value(&o.exclude_chroms)->default_value(o.exclude_chroms, text(o.exclude_chroms)), "chromosomes to leave out")
      ("chrom-alias", po::value(&o.chrom_aliases)->composing(), "extra name equivalence 'A:B' (repeatable); chr1/1 and chrM/MT are matched automatically")
      ("val-chroms", po::value(&o.val_chroms)->default_value(o.val_chroms, text(o.val_chroms)), "validation chromosomes")
      ("test-chroms", po::value(&o.test_chroms)->default_value(o.test_chroms, text(o.test_chroms)), "test chromosomes (the rest train)")
      ("balance", po::value(&o.balance)->default_value(o.balance, text(o.balance)), "Hi-C balancing: none | weight (cooler) | KR | VC | VC_SQRT | SCALE | GW_SCALE (Juicer) | ice (balance here, distributed) | any bins/ column; a cooler column is divisive if its divisive_weights attribute is True, else by name (Juicer names divisive)")
      ("hic-transform", po::value(&o.hic_transform)->default_value(o.hic_transform, text(o.hic_transform)), "reference (clamp, divide by chromosome max) | log1p | oe (observed/expected) | none")
      ("reference-clamp", po::value(&o.reference_clamp)->default_value(o.reference_clamp, text(o.reference_clamp)), "clamp of the reference transform")
      ("track-transform", po::value(&o.track_transform)->default_value(o.track_transform, text(o.track_transform)), "log2p1 (log2(x+1), the reference) | none")
      ("track-zscore", po::value(&o.track_zscore)->default_value(o.track_zscore, text(o.track_zscore)), "z-score each track with its mean/std over the whole corpus")
      ("ice-ignore-diags", po::value(&o.ice.ignore_diags)->default_value(o.ice.ignore_diags, text(o.ice.ignore_diags)), "ICE: diagonals to ignore (cooler default)")
      ("ice-min-nnz", po::value(&o.ice.min_nnz)->default_value(o.ice.min_nnz, text(o.ice.min_nnz)), "ICE: mask bins with fewer non-zero pixels")
      ("ice-min-count", po::value(&o.ice.min_count)->default_value(o.ice.min_count, text(o.ice.min_count)), "ICE: mask bins with a smaller marginal")
      ("ice-mad-max", po::value(&o.ice.mad_max)->default_value(o.ice.mad_max, text(o.ice.mad_max)), "ICE: mask bins whose log marginal is this many MADs below the median")
      ("ice-tol", po::value(&o.ice.tol)->default_value(o.ice.tol, text(o.ice.tol)), "ICE: stop when the marginal variance is below this")
      ("ice-cis-only", po::value(&o.ice.cis_only)->default_value(o.ice.cis_only, text(o.ice.cis_only)), "ICE: balance each chromosome on its own cis contacts (cooler balance --cis-only)")
      ("ice-max-iters", po::value(&o.ice.max_iters)->default_value(o.ice.max_iters, text(o.ice.max_iters)), "ICE: iteration limit")
      ("min-nonzero-fraction", po::value(&o.min_nonzero_fraction)->default_value(o.min_nonzero_fraction, text(o.min_nonzero_fraction)), "drop windows with fewer non-zero pixels (reference: 0.1)")
      ("max-masked-bins", po::value(&o.max_masked_bins)->default_value(o.max_masked_bins, text(o.max_masked_bins)), "keep windows with up to this many masked (NaN-weight) bins, stored as 0 (reference: 0)")
      ("blacklist", po::value(&o.blacklist)->default_value(o.blacklist, text(o.blacklist)), "BED file of regions to avoid")
      ("max-blacklist-fraction", po::value(&o.max_blacklist_fraction)->default_value(o.max_blacklist_fraction, text(o.max_blacklist_fraction)), "drop windows whose span overlaps the blacklist by more than this fraction")
      ("samples", po::value(&o.samples)->default_value(o.samples, text(o.samples)), "what a sample is: tiles (diagonal windows every stride-bp) | loops (anchor-pair windows: BEDPE positives + distance-matched negatives) | tss (windows centred on each gene's TSS, with an expression target)")
      ("loops", po::value(&o.loops)->composing(), "samples = loops: 'CELL PATH.bedpe' positive loops of a cell (repeatable; 6+ columns, intra-chromosomal pairs are used)")
      ("loop-min-distance-bp", po::value(&o.loop_min_distance_bp)->default_value(o.loop_min_distance_bp, text(o.loop_min_distance_bp)), "keep loops whose binned anchors are at least this far apart (reference: 20000)")
      ("loop-max-distance-bp", po::value(&o.loop_max_distance_bp)->default_value(o.loop_max_distance_bp, text(o.loop_max_distance_bp)), "and at most this far (reference: 2000000)")
      ("negatives-per-positive", po::value(&o.negatives_per_positive)->default_value(o.negatives_per_positive, text(o.negatives_per_positive)), "negatives kept per kept positive, per cell and chromosome (reference: 1)")
      ("loop-seed", po::value(&o.loop_seed)->default_value(o.loop_seed, text(o.loop_seed)), "seed of the negative draw; negatives are a function of (seed, cell, chromosome), not of the rank count")
      ("loop-exclusion-bins", po::value(&o.loop_exclusion_bins)->default_value(o.loop_exclusion_bins, text(o.loop_exclusion_bins)), "a negative may not lie within this many bins of a positive on both anchors")
      ("genes", po::value(&o.genes)->default_value(o.genes, text(o.genes)), "samples = tss: gene annotation, BED6/BED12 (TSS = start on +, end on -) or GTF (gene, else transcript features)")
      ("expression", po::value(&o.expression)->composing(), "samples = tss: 'CELL PATH.bw' expression (CAGE/RNA) bigWig of a cell (repeatable); target = log2(1 + mean per Hi-C bin)")
      ("gene-split", po::value(&o.gene_split)->default_value(o.gene_split, text(o.gene_split)), "samples = tss: chrom (split by val-chroms/test-chroms) | random (the reference's random gene split)")
      ("gene-split-seed", po::value(&o.gene_split_seed)->default_value(o.gene_split_seed, text(o.gene_split_seed)), "gene-split = random: seed (reference: 8)")
      ("gene-split-fractions", po::value(&o.gene_split_fractions)->default_value(o.gene_split_fractions, text(o.gene_split_fractions)), "gene-split = random: train,val,test fractions (reference: 0.8,0.1,0.1)")
      ("input-checksums", po::value(&o.input_checksums)->default_value(o.input_checksums, text(o.input_checksums)), "hash every input file into the provenance record")
      ("log-all-ranks", po::value(&o.log_all_ranks)->default_value(o.log_all_ranks, text(o.log_all_ranks)), "log from every rank, not only rank 0");
  return t;
}

void validate(PrepConfig& c) {
  auto need = [](bool ok, const std::string& key, const std::string& expected, const std::string& got) {
    if (!ok) throw ConfigError(fmt::format("config key '{}': expected {}, got {}", key, expected, got));
  };
  need(!c.output.empty(), "output", "a corpus path", "nothing");
  need(!c.cells.empty(), "cell", "at least one 'NAME PATH' line", "none");
  need(c.resolution > 0, "resolution", "> 0", std::to_string(c.resolution));
  need(c.window_bins >= 2, "window-bins", ">= 2", std::to_string(c.window_bins));
  need(c.stride_bp > 0, "stride-bp", "> 0", std::to_string(c.stride_bp));
  need(c.track_bin_bp > 0 && c.resolution % c.track_bin_bp == 0, "track-bin-bp",
       fmt::format("a divisor of the Hi-C resolution {}", c.resolution), std::to_string(c.track_bin_bp));
  need(c.hic_transform == "reference" || c.hic_transform == "log1p" || c.hic_transform == "oe" ||
           c.hic_transform == "none",
       "hic-transform", "reference | log1p | oe | none", c.hic_transform);
  need(c.track_transform == "log2p1" || c.track_transform == "none", "track-transform", "log2p1 | none",
       c.track_transform);
  need(c.reference_clamp > 0, "reference-clamp", "> 0", fmt::format("{}", c.reference_clamp));
  need(c.min_nonzero_fraction >= 0 && c.min_nonzero_fraction <= 1, "min-nonzero-fraction", "in [0, 1]",
       fmt::format("{}", c.min_nonzero_fraction));
  need(c.max_masked_bins >= 0 && c.max_masked_bins <= c.window_bins, "max-masked-bins",
       "in [0, window-bins]", std::to_string(c.max_masked_bins));
  need(c.max_blacklist_fraction >= 0 && c.max_blacklist_fraction <= 1, "max-blacklist-fraction", "in [0, 1]",
       fmt::format("{}", c.max_blacklist_fraction));
  try {
    c.sample_source = parse_sample_source(c.samples, "samples");
  } catch (const ConfigError&) {  // reworded like every other key: "config key 'samples': expected ..."
    need(false, "samples", "tiles | loops | tss", c.samples);
  }
  if (c.sample_source == SampleSource::loops) {
    need(!c.loops.empty(), "loops", "at least one 'CELL PATH.bedpe' line with samples = loops", "none");
    need(c.loop_min_distance_bp >= 0 && c.loop_min_distance_bp <= c.loop_max_distance_bp, "loop-min-distance-bp",
         fmt::format("in [0, loop-max-distance-bp = {}]", c.loop_max_distance_bp), std::to_string(c.loop_min_distance_bp));
    need(c.negatives_per_positive >= 0, "negatives-per-positive", ">= 0", std::to_string(c.negatives_per_positive));
    need(c.loop_exclusion_bins >= 0, "loop-exclusion-bins", ">= 0", std::to_string(c.loop_exclusion_bins));
    need(c.hic_transform != "oe", "hic-transform",
         "reference | log1p | none with samples = loops (oe has expected values only for offsets < window-bins)", c.hic_transform);
  }
  if (c.sample_source == SampleSource::tss) {
    need(!c.genes.empty(), "genes", "a BED or GTF gene annotation with samples = tss", "nothing");
    need(!c.expression.empty(), "expression", "one 'CELL PATH.bw' line per cell with samples = tss", "none");
    need(c.gene_split == "chrom" || c.gene_split == "random", "gene-split", "chrom | random", c.gene_split);
    auto f = split_list(c.gene_split_fractions);
    bool ok = f.size() == 3;
    double sum = 0;
    for (auto& x : f) {
      try {
        double v = std::stod(x);
        ok = ok && v >= 0;
        sum += v;
      } catch (const std::exception&) {
        ok = false;
      }
    }
    need(ok && std::abs(sum - 1) < 1e-9, "gene-split-fractions", "three fractions >= 0 summing to 1, e.g. 0.8,0.1,0.1",
         c.gene_split_fractions);
  }
  need(c.ice.max_iters > 0 && c.ice.tol > 0 && c.ice.ignore_diags >= 0, "ice-*",
       "max-iters > 0, tol > 0, ignore-diags >= 0", "other values");
}

}  // namespace mixhic::prep
