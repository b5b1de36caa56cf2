// fuzz_text.cpp — fuzz target for mixhic's text parsers; the first byte of the input picks the
// parser (selector % 4), the rest is the file:
//   0  read_bed (src/io/bed.cpp): blacklists and region BEDs;
//   1  prep::read_bedpe (dataprep/downstream_samples.cpp): loop anchors of samples = loops;
//   2  prep::read_genes (same file): BED6/BED12 genes, or GTF when bit 2 of the selector is set
//      (the reader picks GTF by the ".gtf" suffix, so the scratch file is named so);
//   3  an INI config through parse_options(--config FILE) (src/core/config.cpp) and the option
//      table chosen by (selector >> 2) % 3 (0 prep_options + prep::validate, 1 model_options +
//      ModelConfig::validate, 2 train_options + model_options as mixhic-train composes them +
//      TrainConfig::validate and ModelConfig::validate_keys), then render_ini.
// So selector bytes 0, 1, 2 (BED genes), 6 (GTF), 3 (prep), 7 (model) and 11 (train) reach every
// parser. Acceptable: a mixhic::Error (InputFormatError or ConfigError). Findings: a crash or
// ASan/UBSan report (e.g. an integer division by a config value), a timeout, an exception that
// is not a mixhic::Error (boost, std::invalid_argument), or a fuzz::Finding (an interval the
// reader accepted with start < 0 or end < start, a TSS < 0). Seeds: seeds/fuzz_text (make_seeds.sh
// prefixes each with its selector byte); dictionary: dict/fuzz_text.dict.
#include <string>

#include "downstream_samples.hpp"
#include "fuzz_parsers.hpp"
#include "mixhic/bed.hpp"
#include "mixhic/check.hpp"
#include "mixhic/config.hpp"
#include "mixhic/model_config.hpp"
#include "mixhic/train_config.hpp"
#include "prep_config.hpp"

namespace mixhic::fuzz {

namespace {

void parse_bed(const uint8_t* data, size_t size) {
  static ScratchFile file(".bed");
  const std::string& path = file.write(data, size);
  for (const BedInterval& iv : read_bed(path))
    MIXHIC_FUZZ_REQUIRE(iv.start >= 0 && iv.end >= iv.start, "{}: read_bed accepted {}:{}-{}", path, iv.chrom,
                        iv.start, iv.end);
}

void parse_bedpe(const uint8_t* data, size_t size) {
  static ScratchFile file(".bedpe");
  const std::string& path = file.write(data, size);
  for (const prep::LoopAnchors& l : prep::read_bedpe(path))
    MIXHIC_FUZZ_REQUIRE(l.start1 >= 0 && l.end1 >= l.start1 && l.start2 >= 0 && l.end2 >= l.start2,
                        "{}: read_bedpe accepted {}:{}-{} {}:{}-{}", path, l.chrom1, l.start1, l.end1, l.chrom2,
                        l.start2, l.end2);
}

void parse_genes(bool gtf, const uint8_t* data, size_t size) {
  static ScratchFile bed_file(".bed"), gtf_file(".gtf");
  const std::string& path = (gtf ? gtf_file : bed_file).write(data, size);
  for (const prep::GeneTss& g : prep::read_genes(path))
    MIXHIC_FUZZ_REQUIRE(g.tss_bp >= 0, "{}: read_genes accepted gene '{}' with TSS {}", path, g.gene, g.tss_bp);
}

void parse_config(unsigned table, const uint8_t* data, size_t size) {
  static ScratchFile file(".ini");
  std::string program = "mixhic-fuzz", flag = "--config", path = file.write(data, size);
  char* argv[] = {program.data(), flag.data(), path.data(), nullptr};
  const int argc = 3;
  switch (table % 3) {
    case 0: {
      prep::PrepConfig cfg;
      po::options_description t = prep::prep_options(cfg);
      ParsedOptions parsed = parse_options(argc, argv, 1, t);
      prep::validate(cfg);
      (void)render_ini(parsed.vm, t);
      break;
    }
    case 1: {
      ModelConfig cfg;
      po::options_description t = model_options(cfg);
      ParsedOptions parsed = parse_options(argc, argv, 1, t);
      cfg.validate();
      (void)render_ini(parsed.vm, t);
      break;
    }
    default: {
      TrainConfig train;
      ModelConfig model;
      po::options_description train_table = train_options(train), model_table = model_options(model);
      po::options_description t;
      t.add(train_table).add(model_table);
      ParsedOptions parsed = parse_options(argc, argv, 1, t);
      train.validate();
      model.validate_keys();
      (void)render_ini(parsed.vm, train_table);
      (void)render_ini(parsed.vm, model_table);
      break;
    }
  }
}

}  // namespace

int parse_text(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const unsigned selector = data[0];
  const uint8_t* body = data + 1;
  const size_t n = size - 1;
  return tolerate([&] {
    switch (selector % 4) {
      case 0: parse_bed(body, n); break;
      case 1: parse_bedpe(body, n); break;
      case 2: parse_genes(((selector >> 2) & 1) != 0, body, n); break;
      default: parse_config(selector >> 2, body, n); break;
    }
  });
}

}  // namespace mixhic::fuzz

#ifdef MIXHIC_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mixhic::fuzz::parse_text(data, size);
  } catch (const mixhic::Error&) {
    // refused: an acceptable outcome
  }
  return 0;
}
#endif
