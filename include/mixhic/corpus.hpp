// corpus.hpp — reads a mixhic corpus (see dataprep/CORPUS_SCHEMA.md): geometry, per-sample
// metadata and sample data, and validates a file for `mixhic-prep inspect`. Paths, dtypes and
// attribute names come from corpus_schema.hpp; the writer is corpus_writer.hpp.
//
// Callers: mixhic-prep inspect, the tests, and the trainer's data loader (batch_loader.hpp). Per-sample
// metadata is loaded whole at open (tens of bytes per sample); Hi-C windows and track rows are
// read on demand, one contiguous hyperslab each.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mixhic/corpus_schema.hpp"
#include "mixhic/h5.hpp"
#include "mixhic/task.hpp"

namespace mixhic {

class Corpus {
 public:
  // Throws InputFormatError naming the file and what is wrong (not a corpus, a newer/older
  // format-version with the hint to re-run mixhic-prep, missing datasets). What callers index or
  // allocate with is checked here: geometry sizes >= 1 (window-bins <= 65536), at least one
  // track, one chromosome length > 0 per name, each sample's cell, chromosome and track rows
  // inside their tables, split indices inside the samples, datasets storing what they declare.
  // With `comm` set, the file is opened with parallel HDF5 (MPI-IO driver; COLLECTIVE over comm:
  // construction and destruction) and every rank then reads its own samples independently.
  explicit Corpus(const std::string& path, const MPI_Comm* comm = nullptr);

  const std::string& path() const { return path_; }
  const corpus::Geometry& geometry() const { return geometry_; }
  int64_t n_samples() const { return static_cast<int64_t>(meta_.size()); }
  const corpus::SampleMeta& meta(int64_t i) const { return meta_[i]; }
  const std::string& corpus_id() const { return corpus_id_; }
  const std::vector<std::string>& track_names() const { return track_names_; }
  const std::vector<std::string>& cell_names() const { return cell_names_; }
  const std::vector<std::string>& chrom_names() const { return chrom_names_; }
  const std::vector<int64_t>& chrom_lengths() const { return chrom_lengths_; }  // bp, as /chroms/length
  const std::vector<int64_t>& split_indices(int split) const { return splits_.at(split); }
  int64_t track_rows() const { return track_rows_; }
  // Attribute sample-source (tiles also for corpora older than the attribute).
  SampleSource sample_source() const { return sample_source_; }
  // "upper-triangle" (diagonal samples) or "full" (loop pairs: W x W, rows = anchor 1).
  const std::string& hic_layout() const { return hic_layout_; }
  // Stored Hi-C values per sample: triangle_size(W) or W*W.
  int64_t hic_values() const { return corpus::hic_values(geometry_.window_bins, hic_layout_); }

  // Loops: 1 positive, 0 negative, and the binned anchor starts (bp) of the BEDPE pair.
  bool has_labels() const { return !labels_.empty(); }
  int8_t label(int64_t i) const { return labels_.at(i); }
  int64_t anchor1_bp(int64_t i) const { return anchor1_.at(i); }
  int64_t anchor2_bp(int64_t i) const { return anchor2_.at(i); }
  // TSS samples: the expression target (W floats, one per Hi-C bin), gene and TSS position.
  bool has_targets() const { return sample_source_ == SampleSource::tss; }
  void read_target(int64_t i, float* out) const;
  const std::string& gene(int64_t i) const { return genes_.at(i); }
  int64_t tss_bp(int64_t i) const { return tss_.at(i); }

  // Stored Hi-C values of sample i as stored (hic_values() floats: the packed upper triangle, or
  // the W x W matrix for hic-layout full).
  void read_hic_packed(int64_t i, float* out) const;
  // Full W x W window of sample i, for both layouts.
  void read_hic(int64_t i, float* out) const;
  // A x T track values of anchor 1 (which = 1) or 2 of sample i, row-major (bin, track).
  void read_tracks(int64_t i, int which, float* out) const;

  // Asks the kernel to start reading the bytes that samples' Hi-C and track rows occupy
  // (posix_fadvise WILLNEED), so a cold page cache fetches them in parallel while the caller
  // reads something else. The loader calls it one batch ahead. Only for contiguous datasets
  // (what mixhic-prep writes); otherwise, or if the file cannot be opened, it does nothing.
  void prefetch(const std::vector<int64_t>& samples) const;

  // Recomputes the corpus-id from the stored data (reads the whole file).
  std::string recompute_corpus_id() const;
  // A human summary (inspect).
  std::string summary() const;

 private:
  corpus::SampleExtras extras(int64_t i, float* target) const;

  std::string path_;
  h5::Handle file_, hic_, signal_, target_;
  SampleSource sample_source_ = SampleSource::tiles;
  std::string hic_layout_ = corpus::kLayoutTriangle;
  std::vector<int8_t> labels_;
  std::vector<int64_t> anchor1_, anchor2_, tss_;
  std::vector<std::string> genes_;
  corpus::Geometry geometry_;
  std::string corpus_id_;
  std::vector<std::string> track_names_, cell_names_, chrom_names_;
  std::vector<int64_t> chrom_lengths_;
  std::vector<corpus::SampleMeta> meta_;
  std::vector<std::vector<int64_t>> splits_;
  int64_t track_rows_ = 0;
  // File offsets of the contiguous /samples/hic and /tracks/signal (-1: not contiguous), for prefetch().
  int64_t hic_offset_ = -1, signal_offset_ = -1;
};

}  // namespace mixhic
