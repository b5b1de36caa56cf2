// corpus_schema.hpp — the mixhic corpus format in code: every dataset once (path, element type,
// shape, which corpora hold it, whether a reader may rely on it), the group and attribute names,
// and the small pure functions of the format (triangle packing, digests, corpus-id).
// Mirrors dataprep/CORPUS_SCHEMA.md (the specification); change both together.
//
// The writer (corpus_writer.hpp, mixhic-prep) and the reader (corpus.hpp) take every path,
// dtype and name from here: a dataset's C++ element type is element_t<D.dtype>, so a writer or
// reader handing the wrong vector type does not compile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mixhic/task.hpp"

namespace mixhic::corpus {

inline constexpr const char* kFormat = "mixhic-corpus";
inline constexpr int64_t kFormatVersion = 1;

// ---- datasets ----------------------------------------------------------------------------------

// Element types as stored: little-endian integers and IEEE floats; string = fixed-length,
// NUL-padded ASCII (h5py reads it as bytes).
enum class Dtype { int8, int16, int32, int64, float32, float64, string };

template <Dtype D> struct Element;
template <> struct Element<Dtype::int8> { using type = int8_t; };
template <> struct Element<Dtype::int16> { using type = int16_t; };
template <> struct Element<Dtype::int32> { using type = int32_t; };
template <> struct Element<Dtype::int64> { using type = int64_t; };
template <> struct Element<Dtype::float32> { using type = float; };
template <> struct Element<Dtype::float64> { using type = double; };
template <> struct Element<Dtype::string> { using type = std::string; };
template <Dtype D> using element_t = typename Element<D>::type;

// The dimensions after the first. The first counts the rows of the dataset's table: N samples,
// R track rows, C cells, K chromosomes, T tracks, segments, split members or input files.
enum class Width {
  one,               // 1-D
  hic_values,        // (N, hic_values(W, hic-layout)): W(W+1)/2 packed triangle or W*W
  window_bins,       // (N, W): one value per Hi-C bin of the window
  tracks,            // (R, T)
  chroms,            // (C, K)
  chroms_by_window,  // (C, K, W)
};

// Which corpora hold a dataset: every one, or only those of one sample source.
enum class Scope { every, loops, tss };

struct Dataset {
  const char* path;
  Dtype dtype;
  Width width;
  Scope scope;
  bool required;  // a reader may rely on it (Corpus refuses a corpus of its scope without it)
  const char* description;
};

// In the order mixhic-prep creates them (the tree of CORPUS_SCHEMA.md, but segments before
// signal and tss_bp before gene).
inline constexpr Dataset kCellName{"cells/name", Dtype::string, Width::one, Scope::every, true,
                                   "cell-type label from the config"};
inline constexpr Dataset kCellHicFile{"cells/hic_file", Dtype::string, Width::one, Scope::every, true,
                                      "Hi-C input path (as given)"};
inline constexpr Dataset kChromName{"chroms/name", Dtype::string, Width::one, Scope::every, true,
                                    "canonical name (as in the first cell's Hi-C file)"};
inline constexpr Dataset kChromLength{"chroms/length", Dtype::int64, Width::one, Scope::every, true,
                                      "length in bp; checked equal in every input"};
inline constexpr Dataset kChromSplit{"chroms/split", Dtype::int8, Width::one, Scope::every, false,
                                     "0 train, 1 val, 2 test"};
inline constexpr Dataset kTrackName{"tracks/name", Dtype::string, Width::one, Scope::every, true,
                                    "track label, same order in every cell"};
inline constexpr Dataset kSegmentCell{"tracks/segments/cell", Dtype::int16, Width::one, Scope::every, false,
                                      "cell of the segment's rows"};
inline constexpr Dataset kSegmentChrom{"tracks/segments/chrom", Dtype::int32, Width::one, Scope::every, false,
                                       "chromosome of the segment's rows"};
inline constexpr Dataset kSegmentStart{"tracks/segments/start_bp", Dtype::int64, Width::one, Scope::every, false,
                                       "genomic start of the segment's first row"};
inline constexpr Dataset kSegmentRows{"tracks/segments/n_rows", Dtype::int64, Width::one, Scope::every, false,
                                      "rows in the segment, one per track bin"};
inline constexpr Dataset kSegmentRow{"tracks/segments/row", Dtype::int64, Width::one, Scope::every, false,
                                     "first row of the segment in tracks/signal"};
inline constexpr Dataset kTrackSignal{"tracks/signal", Dtype::float32, Width::tracks, Scope::every, true,
                                      "binned track values after normalisation"};
inline constexpr Dataset kSampleHic{"samples/hic", Dtype::float32, Width::hic_values, Scope::every, true,
                                    "normalised Hi-C window"};
inline constexpr Dataset kSampleCell{"samples/cell", Dtype::int16, Width::one, Scope::every, true,
                                     "index into /cells"};
inline constexpr Dataset kSampleChrom{"samples/chrom", Dtype::int32, Width::one, Scope::every, true,
                                      "index into /chroms"};
inline constexpr Dataset kSampleStart1{"samples/start1_bp", Dtype::int64, Width::one, Scope::every, true,
                                       "genomic start of anchor 1 (rows of the window)"};
inline constexpr Dataset kSampleStart2{"samples/start2_bp", Dtype::int64, Width::one, Scope::every, true,
                                       "genomic start of anchor 2 (columns); = start1_bp on the diagonal"};
inline constexpr Dataset kSampleTrackRow1{"samples/track_row1", Dtype::int64, Width::one, Scope::every, true,
                                          "first row of anchor 1's A track bins in /tracks/signal"};
inline constexpr Dataset kSampleTrackRow2{"samples/track_row2", Dtype::int64, Width::one, Scope::every, true,
                                          "same for anchor 2 (= track_row1 on the diagonal)"};
inline constexpr Dataset kSampleSplit{"samples/split", Dtype::int8, Width::one, Scope::every, true,
                                      "copy of the chromosome's split (tss, gene-split = random: the gene's)"};
inline constexpr Dataset kSampleNonzero{"samples/nonzero_frac", Dtype::float32, Width::one, Scope::every, true,
                                        "fraction of non-zero pixels (before normalisation)"};
inline constexpr Dataset kSampleMasked{"samples/masked_bins", Dtype::int16, Width::one, Scope::every, true,
                                       "bins of the window whose balancing weight is NaN"};
inline constexpr Dataset kSampleLabel{"samples/label", Dtype::int8, Width::one, Scope::loops, true,
                                      "1 positive (BEDPE), 0 negative"};
inline constexpr Dataset kSampleAnchor1{"samples/anchor1_bp", Dtype::int64, Width::one, Scope::loops, true,
                                        "binned start of the pair's first anchor, anchor1 <= anchor2"};
inline constexpr Dataset kSampleAnchor2{"samples/anchor2_bp", Dtype::int64, Width::one, Scope::loops, true,
                                        "binned start of the pair's second anchor"};
inline constexpr Dataset kSampleTarget{"samples/target", Dtype::float32, Width::window_bins, Scope::tss, true,
                                       "log2(1 + mean expression) per Hi-C bin of the window"};
inline constexpr Dataset kSampleTss{"samples/tss_bp", Dtype::int64, Width::one, Scope::tss, true,
                                    "0-based TSS base"};
inline constexpr Dataset kSampleGene{"samples/gene", Dtype::string, Width::one, Scope::tss, true,
                                     "gene name (BED column 4, GTF gene_name or gene_id)"};
inline constexpr Dataset kSplitTrain{"splits/train", Dtype::int64, Width::one, Scope::every, true,
                                     "sample indices of the train split, ascending"};
inline constexpr Dataset kSplitVal{"splits/val", Dtype::int64, Width::one, Scope::every, true,
                                   "sample indices of the val split, ascending"};
inline constexpr Dataset kSplitTest{"splits/test", Dtype::int64, Width::one, Scope::every, true,
                                    "sample indices of the test split, ascending"};
inline constexpr Dataset kChromScale{"normalization/chrom_scale", Dtype::float64, Width::chroms, Scope::every, false,
                                     "per-chromosome divisor of the reference transform, 1 otherwise"};
inline constexpr Dataset kExpected{"normalization/expected", Dtype::float64, Width::chroms_by_window, Scope::every,
                                   false, "mean balanced contact per diagonal (oe only; 0 otherwise)"};
inline constexpr Dataset kTrackMean{"normalization/track_mean", Dtype::float64, Width::one, Scope::every, false,
                                    "per-track mean of the z-score (0 without it)"};
inline constexpr Dataset kTrackStd{"normalization/track_std", Dtype::float64, Width::one, Scope::every, false,
                                   "per-track std of the z-score (1 without it)"};
inline constexpr Dataset kHicBalanceRule{"normalization/hic_balance_rule", Dtype::string, Width::one, Scope::every,
                                         false, "per cell: how its balancing weights were taken"};
inline constexpr Dataset kInputRole{"provenance/inputs/role", Dtype::string, Width::one, Scope::every, false,
                                    "hic, track, loops, genes, expression or blacklist"};
inline constexpr Dataset kInputCell{"provenance/inputs/cell", Dtype::string, Width::one, Scope::every, false,
                                    "cell the input belongs to (empty: every cell)"};
inline constexpr Dataset kInputName{"provenance/inputs/name", Dtype::string, Width::one, Scope::every, false,
                                    "Hi-C group or track name"};
inline constexpr Dataset kInputPath{"provenance/inputs/path", Dtype::string, Width::one, Scope::every, false,
                                    "input path (as given)"};
inline constexpr Dataset kInputSize{"provenance/inputs/size_bytes", Dtype::int64, Width::one, Scope::every, false,
                                    "file size in bytes"};
inline constexpr Dataset kInputChecksum{"provenance/inputs/checksum", Dtype::string, Width::one, Scope::every, false,
                                        "mixhic hash64 of the whole file, 16 hex digits"};

inline constexpr const Dataset* kDatasets[] = {
    &kCellName,      &kCellHicFile,  &kChromName,      &kChromLength,    &kChromSplit,    &kTrackName,
    &kSegmentCell,   &kSegmentChrom, &kSegmentStart,   &kSegmentRows,    &kSegmentRow,    &kTrackSignal,
    &kSampleHic,     &kSampleCell,   &kSampleChrom,    &kSampleStart1,   &kSampleStart2,  &kSampleTrackRow1,
    &kSampleTrackRow2, &kSampleSplit, &kSampleNonzero, &kSampleMasked,   &kSampleLabel,   &kSampleAnchor1,
    &kSampleAnchor2, &kSampleTarget, &kSampleTss,      &kSampleGene,     &kSplitTrain,    &kSplitVal,
    &kSplitTest,     &kChromScale,   &kExpected,       &kTrackMean,      &kTrackStd,      &kHicBalanceRule,
    &kInputRole,     &kInputCell,    &kInputName,      &kInputPath,      &kInputSize,     &kInputChecksum,
};

// Whether a corpus of `source` holds `d`.
inline bool holds(const Dataset& d, SampleSource source) {
  return d.scope == Scope::every || (d.scope == Scope::loops && source == SampleSource::loops) ||
         (d.scope == Scope::tss && source == SampleSource::tss);
}

// ---- groups ------------------------------------------------------------------------------------

// A group with the description mixhic-prep stores on it: `h5dump -H` should explain the tree
// without the schema document at hand.
struct Group {
  const char* path;
  const char* description;
};

inline constexpr Group kRootGroup{
    "/", "mixhic training corpus: aligned Hi-C windows and epigenomic track bins; spec: dataprep/CORPUS_SCHEMA.md"};
inline constexpr Group kGeometryGroup{
    "geometry", "window geometry every reader must take from here: bin sizes, window side, stride"};
inline constexpr Group kCellsGroup{"cells", "cell types, in config order; samples/cell indexes this table"};
inline constexpr Group kChromsGroup{"chroms", "chromosomes with their length (bp) and split (0 train, 1 val, 2 test)"};
inline constexpr Group kTracksGroup{
    "tracks", "track names; signal = (rows, tracks) float32 track bins, stored once per segment"};
inline constexpr Group kSegmentsGroup{
    "tracks/segments", "runs of consecutive signal rows covering one genomic interval of one cell"};
inline constexpr Group kSamplesGroup{
    "samples", "one row per window: hic = packed upper triangle (W*(W+1)/2 float32), metadata, track rows"};
inline constexpr Group kSplitsGroup{"splits", "sample indices of each split, ascending"};
inline constexpr Group kNormalizationGroup{
    "normalization", "how counts and tracks became stored values, with the statistics used"};
inline constexpr Group kFiltersGroup{"filters", "window filters and how many windows each rejected"};
inline constexpr Group kProvenanceGroup{
    "provenance", "command line, resolved config, input files with sizes and checksums"};

// In the order the writer describes them.
inline constexpr const Group* kGroups[] = {
    &kRootGroup,   &kGeometryGroup, &kCellsGroup,         &kChromsGroup,  &kTracksGroup,     &kSegmentsGroup,
    &kSamplesGroup, &kSplitsGroup,  &kNormalizationGroup, &kFiltersGroup, &kProvenanceGroup,
};

// ---- attributes, by the group that carries them ------------------------------------------------

namespace attr {
// on / (and kDescription on every group of kGroups)
inline constexpr const char* kFormat = "format";                // = corpus::kFormat
inline constexpr const char* kFormatVersion = "format-version"; // = corpus::kFormatVersion
inline constexpr const char* kCorpusId = "corpus-id";           // 16 hex digits
inline constexpr const char* kSampleKind = "sample-kind";       // sample_kind_of(source)
inline constexpr const char* kSampleSource = "sample-source";   // name_of(SampleSource); absent = tiles
inline constexpr const char* kCreatedBy = "created-by";
inline constexpr const char* kDescription = "description";
// on /geometry
inline constexpr const char* kHicBinBp = "hic-bin-bp";
inline constexpr const char* kWindowBins = "window-bins";
inline constexpr const char* kStrideBp = "stride-bp";
inline constexpr const char* kTrackBinBp = "track-bin-bp";
inline constexpr const char* kTrackBinsPerAnchor = "track-bins-per-anchor";
inline constexpr const char* kHicLayout = "hic-layout";  // kLayoutTriangle | kLayoutFull
// on /splits
inline constexpr const char* kValChroms = "val-chroms";
inline constexpr const char* kTestChroms = "test-chroms";
// on /normalization
inline constexpr const char* kHicBalance = "hic-balance";
inline constexpr const char* kHicTransform = "hic-transform";
inline constexpr const char* kReferenceClamp = "reference-clamp";
inline constexpr const char* kTrackTransform = "track-transform";
inline constexpr const char* kTrackZscore = "track-zscore";
inline constexpr const char* kTrackUncovered = "track-uncovered";
inline constexpr const char* kIcePrefix = "ice-";  // + cell name: the ICE run's summary (balance = ice)
// on /filters
inline constexpr const char* kMinNonzeroFraction = "min-nonzero-fraction";
inline constexpr const char* kMaxMaskedBins = "max-masked-bins";
inline constexpr const char* kMaxBlacklistFraction = "max-blacklist-fraction";
inline constexpr const char* kBlacklist = "blacklist";
inline constexpr const char* kEnumerated = "n-enumerated";
inline constexpr const char* kKept = "n-kept";
inline constexpr const char* kRejectedSparse = "n-rejected-sparse";
inline constexpr const char* kRejectedNonfinite = "n-rejected-nonfinite";
inline constexpr const char* kRejectedMasked = "n-rejected-masked";
inline constexpr const char* kRejectedBlacklist = "n-rejected-blacklist";
inline constexpr const char* kInputRecords = "n-input-records";  // loops and tss from here on
inline constexpr const char* kDroppedInterchromosomal = "n-dropped-interchromosomal";
inline constexpr const char* kDroppedDistance = "n-dropped-distance";
inline constexpr const char* kDroppedOutside = "n-dropped-outside";
inline constexpr const char* kDroppedOtherChrom = "n-dropped-other-chrom";
inline constexpr const char* kDuplicates = "n-duplicates";
inline constexpr const char* kSurplusNegatives = "n-surplus-negatives";  // loops from here on
inline constexpr const char* kPositives = "n-positives";
inline constexpr const char* kNegatives = "n-negatives";
// on /provenance
inline constexpr const char* kCommandLine = "command-line";
inline constexpr const char* kConfig = "config";
inline constexpr const char* kRanks = "ranks";
}  // namespace attr

// Values of sample-kind, hic-layout and track-uncovered.
inline constexpr const char* kKindDiagonal = "diagonal";
inline constexpr const char* kKindPair = "pair";
inline constexpr const char* kLayoutTriangle = "upper-triangle";
inline constexpr const char* kLayoutFull = "full";
inline constexpr const char* kUncoveredZero = "zero";

// Loop pairs are W x W windows off the diagonal; tiles and tss windows sit on it.
inline const char* sample_kind_of(SampleSource s) { return s == SampleSource::loops ? kKindPair : kKindDiagonal; }
inline const char* hic_layout_of(SampleSource s) { return s == SampleSource::loops ? kLayoutFull : kLayoutTriangle; }

// ---- pure functions of the format --------------------------------------------------------------

inline int64_t triangle_size(int64_t W) { return W * (W + 1) / 2; }
// Position of (i, j), i <= j, in the row-major packed upper triangle of a W x W window.
inline int64_t triangle_index(int64_t i, int64_t j, int64_t W) { return i * W - i * (i - 1) / 2 + (j - i); }
// Expands a packed triangle into a full symmetric W x W row-major matrix.
void unpack_triangle(const float* packed, int64_t W, float* full);
// Stored Hi-C values per sample for a hic-layout.
inline int64_t hic_values(int64_t W, const std::string& layout) {
  return layout == kLayoutFull ? W * W : triangle_size(W);
}

struct SampleMeta {
  int16_t cell = 0;
  int32_t chrom = 0;
  int64_t start1_bp = 0, start2_bp = 0;
  int64_t track_row1 = 0, track_row2 = 0;
  int8_t split = 0;
  float nonzero_frac = 0;
  int16_t masked_bins = 0;
};

struct Geometry {
  int64_t hic_bin_bp = 0, window_bins = 0, stride_bp = 0, track_bin_bp = 0, track_bins_per_anchor = 0;
  int64_t n_tracks = 0;
};

// One row of /tracks/segments: rows [row, row + n_rows) of /tracks/signal hold the track bins
// start_bp + i * track-bin-bp of (cell, chrom).
struct TrackSegment {
  int16_t cell = 0;
  int32_t chrom = 0;
  int64_t start_bp = 0, n_rows = 0, row = 0;
};

// What a downstream sample stores besides SampleMeta (loops: label and anchors; tss: target,
// TSS and gene); hashed into its digest after the tracks.
struct SampleExtras {
  int8_t label = 0;
  int64_t anchor1_bp = 0, anchor2_bp = 0;
  const float* target = nullptr;
  int64_t n_target = 0;
  int64_t tss_bp = 0;
  std::string gene;
};

// Digest of one stored sample: its Hi-C values (packed triangle or W x W), metadata and its
// anchors' track rows (tracks2 == nullptr when both anchors are the same rows), then `extras`
// for downstream samples (nullptr for tiles, whose digests are unchanged).
uint64_t sample_digest(const float* hic, int64_t n_hic, const SampleMeta& m, const float* tracks1,
                       const float* tracks2, int64_t n_track_values, const SampleExtras* extras = nullptr);
// corpus-id: hash of the geometry and every sample digest in sample order.
uint64_t corpus_id(const Geometry& g, const std::vector<uint64_t>& sample_digests);

}  // namespace mixhic::corpus
