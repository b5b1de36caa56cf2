#include "mixhic/corpus.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <map>
#include <tuple>

#include "mixhic/check.hpp"
#include "mixhic/hash.hpp"

namespace mixhic {

namespace corpus {

void unpack_triangle(const float* packed, int64_t W, float* full) {
  for (int64_t i = 0; i < W; ++i)
    for (int64_t j = i; j < W; ++j) full[i * W + j] = full[j * W + i] = packed[triangle_index(i, j, W)];
}

uint64_t sample_digest(const float* hic, int64_t n_hic, const SampleMeta& m, const float* tracks1,
                       const float* tracks2, int64_t n_track_values, const SampleExtras* extras) {
  Hasher h;
  h.update(hic, sizeof(float) * n_hic);
  h.update_value(m.cell);
  h.update_value(m.chrom);
  h.update_value(m.start1_bp);
  h.update_value(m.start2_bp);
  h.update_value(m.track_row1);
  h.update_value(m.track_row2);
  h.update_value(m.split);
  h.update_value(m.nonzero_frac);
  h.update_value(m.masked_bins);
  h.update(tracks1, sizeof(float) * n_track_values);
  if (tracks2) h.update(tracks2, sizeof(float) * n_track_values);
  if (extras) {
    h.update_value(extras->label);
    h.update_value(extras->anchor1_bp);
    h.update_value(extras->anchor2_bp);
    if (extras->n_target) h.update(extras->target, sizeof(float) * extras->n_target);
    h.update_value(extras->tss_bp);
    h.update(extras->gene.data(), extras->gene.size());
  }
  return h.digest();
}

uint64_t corpus_id(const Geometry& g, const std::vector<uint64_t>& digests) {
  Hasher h;
  for (int64_t v : {g.hic_bin_bp, g.window_bins, g.stride_bp, g.track_bin_bp, g.track_bins_per_anchor, g.n_tracks})
    h.update_value(v);
  h.update(digests.data(), digests.size() * sizeof(uint64_t));
  return h.digest();
}

}  // namespace corpus

namespace {

// A whole 1-D dataset of the schema, as its element type.
template <const corpus::Dataset& D>
std::vector<corpus::element_t<D.dtype>> read_column(hid_t file) {
  if constexpr (D.dtype == corpus::Dtype::string) return h5::read_strings(file, D.path);
  else return h5::read_1d<corpus::element_t<D.dtype>>(file, D.path);
}

// Sane limits on the geometry a file declares, so that sizes computed from it cannot overflow:
// W * W (the full layout) and triangle_size(W) fit in int64 and a window in 2^32 values; bin
// sizes and strides up to 1 Tbp (longer than any genome) keep W * bin size in range.
constexpr int64_t kMaxWindowBins = int64_t(1) << 16;
constexpr int64_t kMaxBp = int64_t(1) << 40;
constexpr int64_t kMaxTrackBinsPerAnchor = (int64_t(1) << 31) - 1;

}  // namespace

Corpus::Corpus(const std::string& path, const MPI_Comm* comm) : path_(path) {
  namespace attr = corpus::attr;
  file_ = h5::open_read(path, /*random_access=*/true, comm);
  const std::string format_field = fmt::format("attribute '{}'", attr::kFormat);
  if (!h5::has_attr(file_, attr::kFormat) || h5::attr_string(file_, attr::kFormat) != corpus::kFormat)
    throw InputFormatError(path, format_field, fmt::format("'{}' (a corpus written by mixhic-prep)", corpus::kFormat),
                           h5::has_attr(file_, attr::kFormat) ? "'" + h5::attr_string(file_, attr::kFormat) + "'" : "missing");
  int64_t version = h5::attr_int(file_, attr::kFormatVersion);
  if (version != corpus::kFormatVersion)
    throw InputFormatError(path, attr::kFormatVersion, fmt::format("{} (this build reads version {})", corpus::kFormatVersion, corpus::kFormatVersion),
                           fmt::format("{}: re-run mixhic-prep with this build to rewrite the corpus", version));
  corpus_id_ = h5::attr_string(file_, attr::kCorpusId);

  h5::Handle geo = h5::open_group(file_, corpus::kGeometryGroup.path);
  geometry_.hic_bin_bp = h5::attr_int(geo, attr::kHicBinBp);
  geometry_.window_bins = h5::attr_int(geo, attr::kWindowBins);
  geometry_.stride_bp = h5::attr_int(geo, attr::kStrideBp);
  geometry_.track_bin_bp = h5::attr_int(geo, attr::kTrackBinBp);
  geometry_.track_bins_per_anchor = h5::attr_int(geo, attr::kTrackBinsPerAnchor);
  hic_layout_ = h5::attr_string(geo, attr::kHicLayout);
  if (hic_layout_ != corpus::kLayoutTriangle && hic_layout_ != corpus::kLayoutFull)
    throw InputFormatError(path, fmt::format("{}/{}", corpus::kGeometryGroup.path, attr::kHicLayout),
                           fmt::format("'{}' or '{}'", corpus::kLayoutTriangle, corpus::kLayoutFull), hic_layout_);
  // The loader allocates its buffers from these sizes (W*W, A*T floats).
  for (const auto& [name, value, max] : {std::tuple<const char*, int64_t, int64_t>{attr::kHicBinBp, geometry_.hic_bin_bp, kMaxBp},
                                         {attr::kWindowBins, geometry_.window_bins, kMaxWindowBins},
                                         {attr::kStrideBp, geometry_.stride_bp, kMaxBp},
                                         {attr::kTrackBinBp, geometry_.track_bin_bp, kMaxBp},
                                         {attr::kTrackBinsPerAnchor, geometry_.track_bins_per_anchor, kMaxTrackBinsPerAnchor}})
    if (value < 1 || value > max)
      throw InputFormatError(path, fmt::format("{}/{}", corpus::kGeometryGroup.path, name),
                             fmt::format("an integer in [1, {}]", max), std::to_string(value));
  // Corpora written before sample-source existed hold tiles.
  const std::string source = h5::has_attr(file_, attr::kSampleSource) ? h5::attr_string(file_, attr::kSampleSource)
                                                                      : name_of(SampleSource::tiles);
  try {
    sample_source_ = parse_sample_source(source, attr::kSampleSource);
  } catch (const ConfigError&) {  // a file, not a config: say which file
    throw InputFormatError(path, fmt::format("attribute '{}'", attr::kSampleSource), "'tiles', 'loops' or 'tss'", source);
  }

  track_names_ = read_column<corpus::kTrackName>(file_);
  cell_names_ = read_column<corpus::kCellName>(file_);
  chrom_names_ = read_column<corpus::kChromName>(file_);
  chrom_lengths_ = read_column<corpus::kChromLength>(file_);
  geometry_.n_tracks = static_cast<int64_t>(track_names_.size());
  if (geometry_.n_tracks < 1) throw InputFormatError(path, corpus::kTrackName.path, "at least one track", "none");
  if (chrom_lengths_.size() != chrom_names_.size())
    throw InputFormatError(path, corpus::kChromLength.path, fmt::format("{} lengths, one per chromosome name", chrom_names_.size()),
                           std::to_string(chrom_lengths_.size()));
  for (size_t k = 0; k < chrom_lengths_.size(); ++k)
    if (chrom_lengths_[k] <= 0)
      throw InputFormatError(path, corpus::kChromLength.path, "lengths > 0 bp",
                             fmt::format("{} for {}", chrom_lengths_[k], chrom_names_[k]));

  hic_ = h5::open_dataset(file_, corpus::kSampleHic.path);
  signal_ = h5::open_dataset(file_, corpus::kTrackSignal.path);
  // Their shapes size what read_hic and the loader allocate: no more than the file stores.
  h5::require_stored(hic_, sizeof(float));
  h5::require_stored(signal_, sizeof(float));
  const auto contiguous_offset = [](hid_t d) -> int64_t {
    haddr_t a = H5Dget_offset(d);  // HADDR_UNDEF unless contiguous and allocated
    return a == HADDR_UNDEF ? -1 : static_cast<int64_t>(a);
  };
  hic_offset_ = contiguous_offset(hic_);
  signal_offset_ = contiguous_offset(signal_);
  auto hic_shape = h5::shape(hic_);
  auto sig_shape = h5::shape(signal_);
  const int64_t W = geometry_.window_bins;
  if (hic_shape.size() != 2 || int64_t(hic_shape[1]) != hic_values())
    throw InputFormatError(path, corpus::kSampleHic.path, fmt::format("shape (N, {}) for hic-layout {}", hic_values(), hic_layout_));
  if (sig_shape.size() != 2 || int64_t(sig_shape[1]) != geometry_.n_tracks)
    throw InputFormatError(path, corpus::kTrackSignal.path, fmt::format("shape (R, {})", geometry_.n_tracks));
  track_rows_ = static_cast<int64_t>(sig_shape[0]);
  int64_t n = static_cast<int64_t>(hic_shape[0]);

  auto cell = read_column<corpus::kSampleCell>(file_);
  auto chrom = read_column<corpus::kSampleChrom>(file_);
  auto s1 = read_column<corpus::kSampleStart1>(file_);
  auto s2 = read_column<corpus::kSampleStart2>(file_);
  auto r1 = read_column<corpus::kSampleTrackRow1>(file_);
  auto r2 = read_column<corpus::kSampleTrackRow2>(file_);
  auto split = read_column<corpus::kSampleSplit>(file_);
  auto nz = read_column<corpus::kSampleNonzero>(file_);
  auto masked = read_column<corpus::kSampleMasked>(file_);
  for (auto* v : {&s1, &s2, &r1, &r2})
    if (int64_t(v->size()) != n) throw InputFormatError(path, "samples/*", fmt::format("{} rows like samples/hic", n));
  if (int64_t(cell.size()) != n || int64_t(chrom.size()) != n || int64_t(split.size()) != n ||
      int64_t(nz.size()) != n || int64_t(masked.size()) != n)
    throw InputFormatError(path, "samples/*", fmt::format("{} rows like samples/hic", n));
  meta_.resize(n);
  const int64_t A = geometry_.track_bins_per_anchor;
  for (int64_t i = 0; i < n; ++i) {
    auto& m = meta_[i];
    m = {cell[i], chrom[i], s1[i], s2[i], r1[i], r2[i], split[i], nz[i], masked[i]};
    // A >= 1 (checked above): track_rows_ - A cannot overflow, and row + A is never formed.
    if (m.cell < 0 || m.cell >= int64_t(cell_names_.size()) || m.chrom < 0 || m.chrom >= int64_t(chrom_names_.size()) ||
        A > track_rows_ || m.track_row1 < 0 || m.track_row1 > track_rows_ - A || m.track_row2 < 0 ||
        m.track_row2 > track_rows_ - A)
      throw InputFormatError(path, fmt::format("sample {}", i), "cell, chrom and track rows inside their tables");
  }
  // In the order of the split codes: 0 train, 1 val, 2 test.
  splits_.push_back(read_column<corpus::kSplitTrain>(file_));
  splits_.push_back(read_column<corpus::kSplitVal>(file_));
  splits_.push_back(read_column<corpus::kSplitTest>(file_));
  // The trainer calls meta() with these.
  const corpus::Dataset* split_sets[] = {&corpus::kSplitTrain, &corpus::kSplitVal, &corpus::kSplitTest};
  for (size_t s = 0; s < splits_.size(); ++s)
    for (size_t k = 0; k < splits_[s].size(); ++k)
      if (splits_[s][k] < 0 || splits_[s][k] >= n)
        throw InputFormatError(path, split_sets[s]->path, fmt::format("sample indices in [0, {})", n),
                               fmt::format("{} at position {}", splits_[s][k], k));

  auto need_rows = [&](const corpus::Dataset& d, size_t rows) {
    if (int64_t(rows) != n) throw InputFormatError(path, d.path, fmt::format("{} rows like samples/hic", n), std::to_string(rows));
  };
  if (sample_source_ == SampleSource::loops) {
    labels_ = read_column<corpus::kSampleLabel>(file_);
    anchor1_ = read_column<corpus::kSampleAnchor1>(file_);
    anchor2_ = read_column<corpus::kSampleAnchor2>(file_);
    need_rows(corpus::kSampleLabel, labels_.size());
    need_rows(corpus::kSampleAnchor1, anchor1_.size());
    need_rows(corpus::kSampleAnchor2, anchor2_.size());
  }
  if (sample_source_ == SampleSource::tss) {
    target_ = h5::open_dataset(file_, corpus::kSampleTarget.path);
    h5::require_stored(target_, sizeof(float));
    auto ts = h5::shape(target_);
    if (ts.size() != 2 || int64_t(ts[0]) != n || int64_t(ts[1]) != W)
      throw InputFormatError(path, corpus::kSampleTarget.path, fmt::format("shape ({}, {})", n, W));
    tss_ = read_column<corpus::kSampleTss>(file_);
    genes_ = read_column<corpus::kSampleGene>(file_);
    need_rows(corpus::kSampleTss, tss_.size());
    need_rows(corpus::kSampleGene, genes_.size());
  }
}

void Corpus::read_target(int64_t i, float* out) const {
  if (!has_targets())
    throw InputFormatError(path_, corpus::kSampleTarget.path, "present (sample-source tss)", name_of(sample_source_));
  h5::read_rows(target_, i, 1, geometry_.window_bins, out);
}

corpus::SampleExtras Corpus::extras(int64_t i, float* target) const {
  corpus::SampleExtras e;
  if (has_labels()) {
    e.label = labels_[i];
    e.anchor1_bp = anchor1_[i];
    e.anchor2_bp = anchor2_[i];
  }
  if (has_targets()) {
    read_target(i, target);
    e.target = target;
    e.n_target = geometry_.window_bins;
    e.tss_bp = tss_[i];
    e.gene = genes_[i];
  }
  return e;
}

void Corpus::read_hic_packed(int64_t i, float* out) const { h5::read_rows(hic_, i, 1, hic_values(), out); }

void Corpus::read_hic(int64_t i, float* out) const {
  if (hic_layout_ == corpus::kLayoutFull) return read_hic_packed(i, out);
  std::vector<float> packed(corpus::triangle_size(geometry_.window_bins));
  read_hic_packed(i, packed.data());
  corpus::unpack_triangle(packed.data(), geometry_.window_bins, out);
}

void Corpus::read_tracks(int64_t i, int which, float* out) const {
  int64_t row = which == 2 ? meta_[i].track_row2 : meta_[i].track_row1;
  h5::read_rows(signal_, row, geometry_.track_bins_per_anchor, geometry_.n_tracks, out);
}

void Corpus::prefetch(const std::vector<int64_t>& samples) const {
  if (hic_offset_ < 0 || signal_offset_ < 0 || samples.empty()) return;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  // Row sizes follow from the shapes the constructor checked: (N, hic_values()) and (R, n_tracks) floats.
  const int64_t hic_row = int64_t(sizeof(float)) * hic_values(), signal_row = int64_t(sizeof(float)) * geometry_.n_tracks;
  const int64_t track_bytes = signal_row * geometry_.track_bins_per_anchor;
  for (int64_t i : samples) {
    const corpus::SampleMeta& m = meta_.at(i);
    ::posix_fadvise(fd, hic_offset_ + i * hic_row, hic_row, POSIX_FADV_WILLNEED);
    ::posix_fadvise(fd, signal_offset_ + m.track_row1 * signal_row, track_bytes, POSIX_FADV_WILLNEED);
    if (m.track_row2 != m.track_row1)
      ::posix_fadvise(fd, signal_offset_ + m.track_row2 * signal_row, track_bytes, POSIX_FADV_WILLNEED);
  }
  ::close(fd);
}

std::string Corpus::recompute_corpus_id() const {
  // With no samples nothing is read (the digest is of the geometry alone), and A * T need not fit:
  // only a sample's checked track rows bound A by the stored rows.
  const bool any = n_samples() > 0;
  const int64_t nh = hic_values();
  const int64_t nt = any ? geometry_.track_bins_per_anchor * geometry_.n_tracks : 0;
  std::vector<float> hic(any ? nh : 0), t1(nt), t2(nt), target(any ? geometry_.window_bins : 0);
  const bool downstream = sample_source_ != SampleSource::tiles;
  std::vector<uint64_t> digests(meta_.size());
  for (int64_t i = 0; i < n_samples(); ++i) {
    read_hic_packed(i, hic.data());
    read_tracks(i, 1, t1.data());
    bool diagonal = meta_[i].track_row2 == meta_[i].track_row1;
    if (!diagonal) read_tracks(i, 2, t2.data());
    corpus::SampleExtras e = extras(i, target.data());
    digests[i] = corpus::sample_digest(hic.data(), nh, meta_[i], t1.data(), diagonal ? nullptr : t2.data(), nt,
                                       downstream ? &e : nullptr);
  }
  return hex64(corpus::corpus_id(geometry_, digests));
}

std::string Corpus::summary() const {
  namespace attr = corpus::attr;
  const auto& g = geometry_;
  std::string s;
  s += fmt::format("corpus      {}\n", path_);
  s += fmt::format("format      {} v{}, corpus-id {}, sample-kind {}\n", corpus::kFormat, corpus::kFormatVersion,
                   corpus_id_, h5::attr_string(file_, attr::kSampleKind));
  s += fmt::format("geometry    {} bp Hi-C bins, {}x{} windows ({} kb), stride {} bp, {} track bins of {} bp per anchor\n",
                   g.hic_bin_bp, g.window_bins, g.window_bins, g.window_bins * g.hic_bin_bp / 1000, g.stride_bp,
                   g.track_bins_per_anchor, g.track_bin_bp);
  s += fmt::format("cells       {}\n", fmt::join(cell_names_, ", "));
  s += fmt::format("tracks      {}\n", fmt::join(track_names_, ", "));
  s += fmt::format("samples     {} {} (train {}, val {}, test {})\n", n_samples(), name_of(sample_source_), splits_[0].size(),
                   splits_[1].size(), splits_[2].size());
  if (has_labels()) {
    int64_t pos = 0;
    for (int8_t l : labels_) pos += l;
    s += fmt::format("labels      {} positive, {} negative loop pairs\n", pos, n_samples() - pos);
  }
  if (has_targets()) s += fmt::format("targets     {} expression values per sample (one per Hi-C bin)\n", geometry_.window_bins);
  std::map<std::pair<int, int>, int64_t> per;
  for (auto& m : meta_) ++per[{m.cell, m.chrom}];
  for (auto& [key, count] : per)
    s += fmt::format("  {:<12} {:<8} {:>8} samples\n", cell_names_[key.first], chrom_names_[key.second], count);
  h5::Handle norm = h5::open_group(file_, corpus::kNormalizationGroup.path);
  s += fmt::format("hic         balance {}, transform {}\n", h5::attr_string(norm, attr::kHicBalance),
                   h5::attr_string(norm, attr::kHicTransform));
  s += fmt::format("tracks      transform {}, z-score {}\n", h5::attr_string(norm, attr::kTrackTransform),
                   h5::attr_int(norm, attr::kTrackZscore) ? "yes" : "no");
  h5::Handle filt = h5::open_group(file_, corpus::kFiltersGroup.path);
  s += fmt::format("filters     {} windows enumerated, {} kept; rejected: {} sparse (< {} non-zero), {} masked, {} non-finite, {} blacklist\n",
                   h5::attr_int(filt, attr::kEnumerated), h5::attr_int(filt, attr::kKept), h5::attr_int(filt, attr::kRejectedSparse),
                   h5::attr_double(filt, attr::kMinNonzeroFraction), h5::attr_int(filt, attr::kRejectedMasked),
                   h5::attr_int(filt, attr::kRejectedNonfinite), h5::attr_int(filt, attr::kRejectedBlacklist));
  double hic_bytes = 4.0 * hic_values();
  double track_bytes = n_samples() ? 4.0 * track_rows_ * g.n_tracks / n_samples() : 0;
  s += fmt::format("storage     {:.0f} B Hi-C + {:.0f} B tracks + 45 B metadata = {:.1f} KB per sample ({} track rows)\n",
                   hic_bytes, track_bytes, (hic_bytes + track_bytes + 45) / 1000, track_rows_);
  h5::Handle prov = h5::open_group(file_, corpus::kProvenanceGroup.path);
  s += fmt::format("written by  {} on {} rank(s)\n", h5::attr_string(prov, attr::kCommandLine), h5::attr_int(prov, attr::kRanks));
  return s;
}

}  // namespace mixhic
