// fuzz_corpus.cpp — fuzz target for the corpus reader (src/io/corpus.cpp over src/io/h5.cpp), the
// file mixhic-train and mixhic-eval are handed. The input is an HDF5 file: Corpus opens it (the
// format and format-version attributes, /geometry, the name and length tables, the per-sample
// metadata and its checks, the splits, the loop or TSS extras), then a bounded walk does what the
// trainer's loader and `mixhic-prep inspect --verify` do: meta(i) of every sample, read_hic,
// read_tracks of both anchors and read_target of the first kSamples samples, label/anchor/gene
// accessors, summary(), and recompute_corpus_id() on a file of at most kSamples samples. The
// harness allocates its output buffers from the geometry only below kMaxHarnessFloats.
// Acceptable: a mixhic::Error. Findings: a crash or ASan/UBSan report, a timeout or an allocation
// over -malloc_limit_mb (dataset shapes and attributes come from the file), another exception, a
// leaked HDF5 identifier, or a fuzz::Finding: a geometry size <= 0 (the loader allocates buffers
// from them), a split index outside the samples (the trainer calls meta() with it), a sample whose
// cell, chromosome or track rows lie outside their tables, or chrom_lengths() not one per
// chromosome (mixhic-eval indexes it by chromosome). Random bytes
// rarely form an HDF5 file (fuzz_hdf5.hpp): this target mutates its seeds, seeds/fuzz_corpus
// (make_seeds.sh: tiny corpora of mixhic-prep's own output); dictionary: dict/fuzz_corpus.dict.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz_hdf5.hpp"
#include "fuzz_parsers.hpp"
#include "mixhic/check.hpp"
#include "mixhic/corpus.hpp"

namespace mixhic::fuzz {

namespace {

constexpr int64_t kSamples = 4;

// What the reader's users rely on without checking again.
void check_tables(const Corpus& c) {
  const int64_t n = c.n_samples(), A = c.geometry().track_bins_per_anchor;
  const int64_t cells = static_cast<int64_t>(c.cell_names().size());
  const int64_t chroms = static_cast<int64_t>(c.chrom_names().size());
  const corpus::Geometry& g = c.geometry();
  MIXHIC_FUZZ_REQUIRE(g.hic_bin_bp > 0 && g.window_bins > 0 && g.stride_bp > 0 && g.track_bin_bp > 0 && A > 0,
                      "{}: geometry accepted with hic-bin-bp {}, window-bins {}, stride-bp {}, track-bin-bp {}, "
                      "track-bins-per-anchor {} (sizes the loader allocates buffers from)",
                      c.path(), g.hic_bin_bp, g.window_bins, g.stride_bp, g.track_bin_bp, A);
  MIXHIC_FUZZ_REQUIRE(c.chrom_lengths().size() == c.chrom_names().size(),
                      "{}: {} chromosome lengths for {} chromosome names", c.path(), c.chrom_lengths().size(),
                      c.chrom_names().size());
  for (int64_t i = 0; i < n; ++i) {
    const corpus::SampleMeta& m = c.meta(i);
    // A > 0 (above): the subtraction cannot overflow once A <= track_rows().
    MIXHIC_FUZZ_REQUIRE(m.cell >= 0 && m.cell < cells && m.chrom >= 0 && m.chrom < chroms && A <= c.track_rows() &&
                            m.track_row1 >= 0 && m.track_row2 >= 0 && m.track_row1 <= c.track_rows() - A &&
                            m.track_row2 <= c.track_rows() - A,
                        "{}: sample {} (cell {}, chrom {}, track rows {} and {} + {}) accepted outside its tables "
                        "({} cells, {} chromosomes, {} track rows)",
                        c.path(), i, m.cell, m.chrom, m.track_row1, m.track_row2, A, cells, chroms, c.track_rows());
  }
  for (int split = 0; split < 3; ++split)
    for (int64_t i : c.split_indices(split))
      MIXHIC_FUZZ_REQUIRE(i >= 0 && i < n, "{}: split {} lists sample {} of {}", c.path(), split, i, n);
}

int walk(const std::string& path) {
  Corpus c(path);
  check_tables(c);
  int refused = 0;
  const corpus::Geometry& g = c.geometry();
  const int64_t W = g.window_bins, A = g.track_bins_per_anchor, T = g.n_tracks;
  const bool hic_fits = W > 0 && W <= (int64_t(1) << 16) && W * W <= kMaxHarnessFloats;
  const bool tracks_fit = A > 0 && T > 0 && A <= kMaxHarnessFloats / T;
  std::vector<float> hic(hic_fits ? W * W : 0), tracks(tracks_fit ? A * T : 0), target(hic_fits ? W : 0);
  const int64_t n = std::min<int64_t>(c.n_samples(), kSamples);
  for (int64_t i = 0; i < n; ++i) {
    if (hic_fits) refused += tolerate([&] { c.read_hic(i, hic.data()); });
    if (tracks_fit) {
      refused += tolerate([&] { c.read_tracks(i, 1, tracks.data()); });
      refused += tolerate([&] { c.read_tracks(i, 2, tracks.data()); });
    }
    if (c.has_targets() && hic_fits) refused += tolerate([&] { c.read_target(i, target.data()); });
    if (c.has_labels()) (void)(c.label(i) + c.anchor1_bp(i) + c.anchor2_bp(i));
    if (c.has_targets()) (void)(c.gene(i).size() + c.tss_bp(i));
  }
  refused += tolerate([&] { (void)c.summary(); });
  if (c.n_samples() <= kSamples && hic_fits && tracks_fit) refused += tolerate([&] { (void)c.recompute_corpus_id(); });
  return refused;
}

}  // namespace

int parse_corpus(const uint8_t* data, size_t size) {
  fresh_hdf5();
  static ScratchFile file(".h5");
  const std::string& path = file.write(data, size);
  int refused = 0;
  refused += tolerate([&] { refused += walk(path); });
  require_no_open_hdf5_ids(path);
  return refused;
}

}  // namespace mixhic::fuzz

#ifdef MIXHIC_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mixhic::fuzz::parse_corpus(data, size);
  } catch (const mixhic::Error&) {
    // refused: an acceptable outcome
  }
  return 0;
}
#endif
