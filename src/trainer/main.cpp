// mixhic-train — data-parallel pre-training of MIX-HIC over a mixhic corpus.
//
//   mpirun -np 4 mixhic-train --config configs/pretrain-c128.ini --corpus corpus.h5 --run-dir run
//   mixhic-train checkpoints --run-dir run      list the checkpoints and verify their manifests
#include <torch/torch.h>

#include <iostream>

#include "mixhic/check.hpp"
#include "mixhic/checkpoint.hpp"
#include "mixhic/config.hpp"
#include "mixhic/log.hpp"
#include "mixhic/model_config.hpp"
#include "mixhic/mpi_world.hpp"
#include "mixhic/train_config.hpp"
#include "mixhic/trainer.hpp"

namespace {

using namespace mixhic;

const char* kUsage =
    "usage: mpirun -np N mixhic-train --config configs/pretrain-tiny.ini --corpus CORPUS.h5 [--run-dir DIR] [key=value "
    "options]\n"
    "       mixhic-train checkpoints --run-dir DIR     list the run's checkpoints and verify their manifests\n"
    "\n"
    "Trains on the corpus's train split, every rank reading its own slice of each global batch. Writes DIR/config.ini,\n"
    "DIR/ranks.txt, DIR/metrics.csv, DIR/metrics.jsonl and DIR/checkpoints/step-NNNNNNNN/. SIGUSR1 or SIGTERM: the\n"
    "ranks checkpoint at the next step and exit 75 (requeue); --resume auto (the default) continues from the newest\n"
    "valid checkpoint of DIR.";

int list_checkpoints(const MpiWorld& world, const std::string& run_dir) {
  if (world.rank != 0) return 0;
  CheckpointStore store(run_dir, world, 1);
  auto all = store.committed();
  if (all.empty()) std::cout << "no checkpoints in " << store.directory() << "\n";
  for (auto& dir : all) {
    std::string status;
    try {
      auto m = CheckpointManifest::read(dir + "/" + CheckpointManifest::kFile);
      status = m.verify(dir);
      if (status.empty()) status = fmt::format("ok (step {}, {} ranks, {} files)", m.step, m.world_size, m.files.size());
    } catch (const Error& e) {
      status = e.what();
    }
    std::cout << dir << ": " << status << "\n";
  }
  return 0;
}

int train_main(const MpiWorld& world, int argc, char** argv) {
  TrainSetup setup;
  auto train_table = train_options(setup.train);
  auto model_table = model_options(setup.model);
  po::options_description table;
  table.add(train_table).add(model_table);
  const bool listing = argc > 1 && std::string(argv[1]) == "checkpoints";
  ParsedOptions parsed;
  agree(world, [&] { parsed = parse_options(argc, argv, listing ? 2 : 1, table); });
  if (parsed.help) {
    if (world.rank == 0) print_help(kUsage, table);
    return 0;
  }
  if (listing) return list_checkpoints(world, setup.train.run_dir);
  agree(world, [&] {
    if (!parsed.positional.empty())
      throw ConfigError(fmt::format("unexpected argument '{}' (see --help)", parsed.positional.front()));
  });
  setup.train_ini = render_ini(parsed.vm, train_table);
  setup.model_ini = render_ini(parsed.vm, model_table);
  setup.command_line = command_line(argc, argv);
  log::info("resolved configuration:\n{}{}", setup.train_ini, setup.model_ini);
  return run_training(world, setup);
}

}  // namespace

int main(int argc, char** argv) {
  // The loader thread reads the corpus through MPI-IO while the main thread all-reduces.
  return mixhic::run_main(argc, argv, "mixhic-train", train_main, MPI_THREAD_MULTIPLE);
}
