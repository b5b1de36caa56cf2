// corpus_schema.hpp — names and small pure functions of the mixhic corpus format.
// Mirrors dataprep/CORPUS_SCHEMA.md (the specification); change both together.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mixhic::corpus {

inline constexpr const char* kFormat = "mixhic-corpus";
inline constexpr int64_t kFormatVersion = 1;

// Per-sample datasets under /samples, in the order the writer creates them.
inline constexpr const char* kSampleHic = "samples/hic";
inline constexpr const char* kSampleCell = "samples/cell";
inline constexpr const char* kSampleChrom = "samples/chrom";
inline constexpr const char* kSampleStart1 = "samples/start1_bp";
inline constexpr const char* kSampleStart2 = "samples/start2_bp";
inline constexpr const char* kSampleTrackRow1 = "samples/track_row1";
inline constexpr const char* kSampleTrackRow2 = "samples/track_row2";
inline constexpr const char* kSampleSplit = "samples/split";
inline constexpr const char* kSampleNonzero = "samples/nonzero_frac";
inline constexpr const char* kSampleMasked = "samples/masked_bins";
inline constexpr const char* kTrackSignal = "tracks/signal";
// Downstream samples (root attr sample-source = "loops" / "tss"); absent in tiles corpora.
inline constexpr const char* kSampleLabel = "samples/label";        // loops: int8 1/0
inline constexpr const char* kSampleAnchor1 = "samples/anchor1_bp";  // loops: int64
inline constexpr const char* kSampleAnchor2 = "samples/anchor2_bp";  // loops: int64
inline constexpr const char* kSampleTarget = "samples/target";       // tss: (N, W) float32
inline constexpr const char* kSampleTss = "samples/tss_bp";          // tss: int64
inline constexpr const char* kSampleGene = "samples/gene";           // tss: string

inline int64_t triangle_size(int64_t W) { return W * (W + 1) / 2; }
// Position of (i, j), i <= j, in the row-major packed upper triangle of a W x W window.
inline int64_t triangle_index(int64_t i, int64_t j, int64_t W) { return i * W - i * (i - 1) / 2 + (j - i); }
// Expands a packed triangle into a full symmetric W x W row-major matrix.
void unpack_triangle(const float* packed, int64_t W, float* full);

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
