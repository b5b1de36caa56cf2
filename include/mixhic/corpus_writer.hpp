// corpus_writer.hpp — writes a mixhic corpus (dataprep/CORPUS_SCHEMA.md) with parallel HDF5: the
// write side of Corpus (corpus.hpp). Paths, dtypes, shapes and attribute names come from
// corpus_schema.hpp; what lives here is the order of the tree and which rank writes what.
//
// Called by mixhic-prep's run_prep (dataprep/prep_pipeline.cpp) once every sample's digest, and
// so the corpus-id, is known. COLLECTIVE over world, from construction to finish(): every rank
// calls the write_* functions in the order they are declared, each once, with the same values
// except where a comment says "this rank's". Creating an object in a parallel HDF5 file is
// collective, so every rank creates every dataset; rank 0 alone writes the values of the small
// tables, and each rank writes its own block of sample rows and track rows (one contiguous
// hyperslab per dataset, independent MPI-IO writes).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mixhic/corpus_schema.hpp"
#include "mixhic/h5.hpp"
#include "mixhic/mpi_world.hpp"
#include "mixhic/task.hpp"

namespace mixhic {

// The root and /geometry attributes. The corpus-id is known before the first byte is written
// (it hashes the samples in memory), so it goes with them.
struct CorpusHeader {
  SampleSource source = SampleSource::tiles;  // also sets sample-kind and hic-layout
  corpus::Geometry geometry;                  // n_tracks included
  std::string corpus_id;                      // 16 hex digits of corpus::corpus_id
};

// The small tables every rank knows whole (from the plan).
struct CorpusTables {
  std::vector<std::string> cell_names, hic_files;  // [cell], config order
  std::vector<std::string> chrom_names;            // [chrom]
  std::vector<int64_t> chrom_lengths;
  std::vector<int8_t> chrom_splits;
  std::vector<std::string> track_names;            // [track]
  std::vector<corpus::TrackSegment> segments;
};

// What downstream samples carry besides their rows, for every sample in corpus order (every rank
// knows them from the plan). Only the fields of the corpus's source are written.
struct SampleAnnotations {
  std::vector<int8_t> label;                 // loops
  std::vector<int64_t> anchor1_bp, anchor2_bp;  // loops
  std::vector<int64_t> tss_bp;               // tss
  std::vector<std::string> gene;             // tss
};

struct SplitRecord {
  std::array<std::vector<int64_t>, 3> samples;  // [0 train, 1 val, 2 test]: ascending sample indices
  std::string val_chroms, test_chroms;           // as configured
};

struct NormalizationRecord {
  std::string hic_balance, hic_transform, track_transform;
  double reference_clamp = 0;
  bool track_zscore = false;
  std::vector<double> chrom_scale;            // C x K
  std::vector<double> expected;               // C x K x W
  std::vector<double> track_mean, track_std;  // [track]
  std::vector<std::string> balance_rules;     // [cell]
  std::vector<std::pair<std::string, std::string>> ice;  // (cell name, summary) with balance = ice
};

// The filter settings and what they did; the downstream counts are written for loops and tss,
// the negative counts for loops only.
struct FilterRecord {
  double min_nonzero_fraction = 0, max_blacklist_fraction = 0;
  int64_t max_masked_bins = 0;
  std::string blacklist;
  int64_t enumerated = 0, kept = 0;
  int64_t rejected_sparse = 0, rejected_nonfinite = 0, rejected_masked = 0, rejected_blacklist = 0;
  int64_t input_records = 0, dropped_interchromosomal = 0, dropped_distance = 0, dropped_outside = 0,
          dropped_other_chrom = 0, duplicates = 0;
  int64_t surplus_negatives = 0, positives = 0, negatives = 0;
};

struct InputFile {
  std::string role, cell, name, path;
  int64_t size_bytes = -1;    // -1: unknown
  std::string checksum;       // 16 hex digits, or "not computed"
};

struct ProvenanceRecord {
  std::string command_line, config;  // config: the resolved config, INI text
  std::vector<InputFile> inputs;     // only rank 0's sizes and checksums are written
};

class CorpusWriter {
 public:
  // Creates (truncates) `path` with the MPI-IO driver and writes the root and /geometry
  // attributes.
  CorpusWriter(const MpiWorld& world, const std::string& path, const CorpusHeader& header);

  // /cells, /chroms, /tracks/name, /tracks/segments.
  void write_tables(const CorpusTables& tables);
  // /tracks/signal with `n_rows` rows; this rank's rows [first, first + count), T floats each.
  void write_track_rows(int64_t n_rows, int64_t first, int64_t count, const float* rows);
  // /samples: this rank's samples, which follow the lower ranks' in corpus order (their offset
  // is an MPI_Exscan over world): metadata, stored Hi-C values (hic_values floats each) and, for
  // tss, targets (W floats each).
  void write_samples(const std::vector<corpus::SampleMeta>& meta, const std::vector<float>& hic,
                     const std::vector<float>& target);
  // Loops: label and anchors; tss: TSS and gene; tiles: nothing.
  void write_annotations(const SampleAnnotations& annotations);
  void write_splits(const SplitRecord& splits);
  void write_normalization(const NormalizationRecord& norm);
  void write_filters(const FilterRecord& filters);
  // Also records the world size (attribute ranks).
  void write_provenance(const ProvenanceRecord& provenance);
  // Describes every group and closes the file (collective). Without it the destructor only closes.
  void finish();

 private:
  template <const corpus::Dataset& D>
  void write_whole(const std::vector<corpus::element_t<D.dtype>>& values);
  template <const corpus::Dataset& D>
  void write_block(int64_t total, int64_t first, int64_t count, const corpus::element_t<D.dtype>* rows);
  template <const corpus::Dataset& D>
  h5::Handle create(int64_t rows);
  bool root() const { return world_.rank == 0; }
  bool wrote_schema() const;  // every dataset the schema has for this source, for an assert

  MpiWorld world_;
  CorpusHeader header_;
  int64_t n_cells_ = 0, n_chroms_ = 0;
  h5::Handle file_;
  std::vector<const corpus::Dataset*> written_;
};

}  // namespace mixhic
