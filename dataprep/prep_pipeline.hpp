// prep_pipeline.hpp — mixhic-prep end to end: plan -> normalisation statistics -> window
// extraction and filters -> track rows -> one parallel-HDF5 corpus, renamed into place only when
// complete. The corpus is byte-identical (datasets and corpus-id) for any number of ranks.
#pragma once

#include <string>

#include "mixhic/mpi_world.hpp"
#include "prep_config.hpp"

namespace mixhic::prep {

struct PrepRun {
  std::string command_line;  // for provenance
  std::string config_text;   // resolved config (INI), for provenance
};

struct PrepStats {
  int64_t enumerated = 0, kept = 0;
  double seconds = 0;
  std::string corpus_id;
};

// COLLECTIVE over world.
PrepStats run_prep(const MpiWorld& world, const PrepConfig& config, const PrepRun& run);

}  // namespace mixhic::prep
