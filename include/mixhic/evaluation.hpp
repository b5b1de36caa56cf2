// evaluation.hpp — mixhic-eval: fine-tuned models' predictions on a corpus split, scored with the
// field's metrics next to baselines, written as files a user opens (CSV/JSON tables, .cool maps,
// PNG figures, per-loop and per-gene TSVs). Called by src/eval/main.cpp.
//
// Every rank predicts a contiguous block of the split's samples; rank 0 gathers the predictions,
// computes the metrics (metrics.hpp) and writes the outputs. The task (hic_map, loop, expression)
// is the fine-tuned checkpoints' model key; all models of one run must share it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mixhic/config.hpp"
#include "mixhic/mpi_world.hpp"

namespace mixhic {

struct EvalConfig {
  std::string corpus;
  std::vector<std::string> models;  // "NAME=RUN_DIR" (or a checkpoint directory); table columns, in order
  std::string split = "test";       // train | val | test
  std::string baseline_corpus;      // hic_map: the distance-decay baseline's train split (default: --corpus's)
  std::string out_dir = "eval";
  int64_t batch = 16;               // samples per forward, per rank
  int64_t figures = 4;              // hic_map: true-vs-predicted PNGs for this many samples
  int64_t ignore_diagonals = 2;     // distance-stratified PCC and insulation skip diagonals |i-j| < this
  int64_t insulation_window = 0;    // bins of the insulation diamond; 0: window-bins / 5 (at least 2)
  bool write_cool = true;           // hic_map: truth.<CELL>.cool and <NAME>.<CELL>.cool of predicted maps
  int64_t threads = 0;              // intra-op threads per rank (0: cores / ranks on the node)

  void validate() const;  // throws ConfigError naming the key
};

po::options_description eval_options(EvalConfig& c);

// COLLECTIVE. Returns the exit code.
int run_evaluation(const MpiWorld& world, const EvalConfig& cfg, const std::string& command_line);

}  // namespace mixhic
