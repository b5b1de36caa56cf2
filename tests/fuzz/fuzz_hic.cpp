// fuzz_hic.cpp — fuzz target for the Juicer .hic reader (src/io/hic_file.cpp). The input is a
// .hic file: HicFile opens it (magic, version, header, chromosomes, resolutions, then the footer's
// master index, expected values and normalisation vector index; a file with several resolutions
// is opened at the first of kResolutions it has, as --resolution would pick one), every
// normalisation vector it lists and "NONE" are read as balancing weights, and each chromosome's
// pixels are read back with ContactMatrix::read_rows in blocks of kRowBlock rows (at most
// kMaxRowsRead rows per input), which seeks the matrix and block indexes and inflates and decodes
// the blocks. Acceptable: the file is refused with a mixhic::Error. Findings: a crash or ASan/UBSan
// report, a timeout or an allocation over -malloc_limit_mb (sizes, offsets and counts come from
// the file), another exception, or a fuzz::Finding (fuzz_contact_matrix.hpp: weights not one per
// bin, chromosomes not concatenated, pixels outside the rows asked for, unsorted or between two
// chromosomes). Seeds: seeds/fuzz_hic (make_seeds.sh); dictionary: dict/fuzz_hic.dict.
#include <memory>
#include <string>

#include "fuzz_contact_matrix.hpp"
#include "fuzz_parsers.hpp"
#include "mixhic/check.hpp"
#include "mixhic/hic_file.hpp"

namespace mixhic::fuzz {

namespace {

// Tried in this order when the file has several resolutions (resolution 0 then refuses it): the
// seeds' and Juicer's defaults, coarsest first, so an input stays a few thousand bins.
constexpr int64_t kResolutions[] = {2500000, 1000000, 500000, 250000, 100000, 50000, 25000, 10000, 5000, 1000};

std::unique_ptr<HicFile> open_hic(const std::string& path) {
  try {
    return std::make_unique<HicFile>(path, 0);
  } catch (const InputFormatError& e) {
    if (e.field != "resolution") throw;
    for (int64_t res : kResolutions) {
      try {
        return std::make_unique<HicFile>(path, res);
      } catch (const InputFormatError& again) {
        if (again.field != "resolution") throw;
      }
    }
    throw;  // none of them: the first refusal
  }
}

}  // namespace

int parse_hic(const uint8_t* data, size_t size) {
  static ScratchFile file(".hic");
  const std::string& path = file.write(data, size);
  int refused = 0;
  refused += tolerate([&] {
    std::unique_ptr<HicFile> hic = open_hic(path);
    refused += tolerate([&] { check_weights(*hic, "NONE", hic->balancing_weights("NONE")); });
    refused += walk_contact_matrix(*hic, /*intra_only=*/true);
  });
  return refused;
}

}  // namespace mixhic::fuzz

#ifdef MIXHIC_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mixhic::fuzz::parse_hic(data, size);
  } catch (const mixhic::Error&) {
    // refused: an acceptable outcome (parse_hic already counts its refusals)
  }
  return 0;
}
#endif
