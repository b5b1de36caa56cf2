// mixhic-eval — scores fine-tuned models on a corpus split with the field's metrics, next to
// baselines, and writes what a user opens: metrics.csv/json, .cool maps, PNG figures, TSVs.
//
//   mpirun -np 2 mixhic-eval --corpus corpus.h5 --model pretrained=run-ft --model scratch=run-scratch --out-dir eval
#include <torch/torch.h>

#include "mixhic/check.hpp"
#include "mixhic/config.hpp"
#include "mixhic/evaluation.hpp"
#include "mixhic/log.hpp"
#include "mixhic/mpi_world.hpp"

namespace {

using namespace mixhic;

const char* kUsage =
    "usage: mpirun -np N mixhic-eval --corpus CORPUS.h5 --model NAME=RUN_DIR [--model NAME=RUN_DIR ...] [--out-dir DIR]\n"
    "\n"
    "Runs each fine-tuned model (mixhic-train with task = hic_map | loop | expression; RUN_DIR's newest checkpoint, or a\n"
    "checkpoint directory) on the corpus's --split samples and writes DIR/metrics.csv, DIR/metrics.json and the task's\n"
    "files: hic_map: truth.CELL.cool + NAME.CELL.cool (windows at their genome coordinates), distance_pcc.csv and PNG\n"
    "figures; loop: predictions.tsv (anchors, label, P(loop) per model); expression: predictions.tsv (gene, bin, truth,\n"
    "prediction per model). The metrics table has one column per model plus the baselines (hic_map: the distance-decay\n"
    "expected map of the train split).";

int eval_main(const MpiWorld& world, int argc, char** argv) {
  EvalConfig cfg;
  auto table = eval_options(cfg);
  ParsedOptions parsed;
  agree(world, [&] { parsed = parse_options(argc, argv, 1, table); });
  if (parsed.help) {
    if (world.rank == 0) print_help(kUsage, table);
    return 0;
  }
  agree(world, [&] {
    if (!parsed.positional.empty())
      throw ConfigError(fmt::format("unexpected argument '{}' (see --help)", parsed.positional.front()));
  });
  log::info("resolved configuration:\n{}", render_ini(parsed.vm, table));
  return run_evaluation(world, cfg, command_line(argc, argv));
}

}  // namespace

int main(int argc, char** argv) { return mixhic::run_main(argc, argv, "mixhic-eval", eval_main); }
