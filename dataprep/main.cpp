// mixhic-prep — builds the training corpus from Hi-C (.mcool/.cool) and bigWig tracks.
//
//   mixhic-prep --config configs/prep-synth.ini [--key value ...]   build a corpus (MPI)
//   mixhic-prep synth --out-dir DIR                                  write synthetic inputs
//   mixhic-prep inspect CORPUS [--verify]                            summarise and validate
#include <filesystem>
#include <iostream>

#include "mixhic/check.hpp"
#include "mixhic/config.hpp"
#include "mixhic/corpus.hpp"
#include "mixhic/log.hpp"
#include "mixhic/mpi_world.hpp"
#include "prep_config.hpp"
#include "prep_pipeline.hpp"
#include "synth_genome.hpp"

namespace {

using namespace mixhic;

const char* kUsage =
    "usage: mixhic-prep [--config FILE]... [options]     build a corpus (run under mpirun/srun for many ranks)\n"
    "       mixhic-prep synth --out-dir DIR [options]     write a synthetic .mcool + bigWigs + inputs.ini\n"
    "       mixhic-prep inspect CORPUS [--verify]         print a summary of a corpus and validate it\n"
    "\n"
    "Builds one HDF5 corpus of aligned Hi-C windows and epigenomic track bins (format:\n"
    "dataprep/CORPUS_SCHEMA.md). Every option below is also a config-file key.";

int prep_main(const MpiWorld& world, int argc, char** argv) {
  prep::PrepConfig cfg;
  auto table = prep::prep_options(cfg);
  ParsedOptions parsed;
  agree(world, [&] {
    parsed = parse_options(argc, argv, 1, table);
    if (parsed.help) return;
    if (!parsed.positional.empty())
      throw ConfigError(fmt::format("unexpected argument '{}' (sub-commands: synth, inspect; see --help)",
                                    parsed.positional[0]));
    prep::validate(cfg);
  });
  if (parsed.help) {
    if (world.rank == 0) print_help(kUsage, table);
    return 0;
  }
  log::set_all_ranks(cfg.log_all_ranks);
  prep::PrepRun run{command_line(argc, argv), render_ini(parsed.vm, table)};
  log::info("resolved config:\n{}", run.config_text);
  prep::PrepStats stats = prep::run_prep(world, cfg, run);
  if (world.rank == 0) {
    log::info("wrote {} ({} samples, corpus-id {})", cfg.output, stats.kept, stats.corpus_id);
    fmt::print(stderr, "prep: windows={} kept={} seconds={:.3f} windows_per_s={:.1f}\n", stats.enumerated, stats.kept,
               stats.seconds, stats.enumerated / std::max(stats.seconds, 1e-9));
  }
  return 0;
}

int synth_main(const MpiWorld& world, int argc, char** argv) {
  std::string out_dir;
  int64_t n_chroms = 0, n_cells = 2;
  double chrom_mb = 0;
  prep::SynthSpec spec;
  po::options_description table("mixhic-prep synth options");
  table.add_options()
      ("out-dir", po::value(&out_dir), "directory to write <cell>.mcool, <cell>.<track>.bw, inputs.ini, blacklist.bed")
      ("synth-chroms", po::value(&n_chroms)->default_value(0), "number of chromosomes (0: the default 4 of 8, 7, 6, 5 Mb)")
      ("synth-chrom-mb", po::value(&chrom_mb)->default_value(0), "length of each chromosome in Mb (with --synth-chroms)")
      ("synth-cells", po::value(&n_cells)->default_value(2), "number of cell types")
      ("synth-depth", po::value(&spec.contacts_per_bin)->default_value(spec.contacts_per_bin), "sequencing depth: expected contacts of a pixel on the diagonal at the finest resolution, before TAD/compartment modifiers")
      ("seed", po::value(&spec.seed)->default_value(spec.seed), "random seed; the output is a pure function of the options");
  ParsedOptions parsed;
  agree(world, [&] {
    parsed = parse_options(argc, argv, 2, table);
    if (!parsed.help && out_dir.empty()) throw ConfigError("synth: --out-dir is required");
    if (n_cells < 1 || n_cells > 26) throw ConfigError("synth: --synth-cells must be in 1..26");
    if (!(spec.contacts_per_bin > 0)) throw ConfigError("synth: --synth-depth must be > 0");
    if (n_chroms < 0 || (n_chroms > 0 && chrom_mb < 1))
      throw ConfigError("synth: --synth-chroms N needs --synth-chrom-mb >= 1");
  });
  if (parsed.help) {
    if (world.rank == 0) print_help(kUsage, table);
    return 0;
  }
  if (world.rank != 0) return 0;  // serial: one rank writes the files
  spec.cells.clear();
  for (int64_t c = 0; c < n_cells; ++c) spec.cells.push_back(std::string("synth") + char('A' + c));
  if (n_chroms > 0) {
    spec.chroms.clear();
    for (int64_t i = 1; i <= n_chroms; ++i)
      spec.chroms.emplace_back("chr" + std::to_string(i), static_cast<int64_t>(chrom_mb * 1e6));
  }
  auto out = prep::write_synth_inputs(spec, out_dir);
  log::info("wrote {} cell type(s) into {}; inputs listed in {}", spec.cells.size(), out_dir, out.inputs_ini);
  return 0;
}

int inspect_main(const MpiWorld& world, int argc, char** argv) {
  bool verify = false;
  po::options_description table("mixhic-prep inspect options");
  table.add_options()("verify", po::bool_switch(&verify), "recompute the corpus-id from the data (reads the whole file)");
  ParsedOptions parsed = parse_options(argc, argv, 2, table);
  if (parsed.help || parsed.positional.size() != 1) {
    if (world.rank == 0) print_help(kUsage, table);
    return parsed.help ? 0 : 2;
  }
  if (world.rank != 0) return 0;
  Corpus corpus(parsed.positional[0]);
  std::cout << corpus.summary();
  if (verify) {
    std::string id = corpus.recompute_corpus_id();
    if (id != corpus.corpus_id())
      throw InputFormatError(corpus.path(), corpus::attr::kCorpusId, corpus.corpus_id() + " (recorded)",
                             id + " recomputed from the data: the file was modified or is corrupt");
    std::cout << "verify      corpus-id recomputed from the data: " << id << " (matches)\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sub = argc > 1 ? argv[1] : "";
  return mixhic::run_main(argc, argv, "mixhic-prep", [&](const MpiWorld& world, int ac, char** av) {
    if (sub == "synth") return synth_main(world, ac, av);
    if (sub == "inspect") return inspect_main(world, ac, av);
    return prep_main(world, ac, av);
  });
}
