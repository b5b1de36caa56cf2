// fuzz_cooler.cpp — fuzz target for the cooler reader (src/io/cooler_file.cpp over src/io/h5.cpp).
// The input is an HDF5 file: CoolerFile opens it as a .cool (resolution 0); when that is refused
// because the file holds several resolutions or cells, the first few of its resolutions/*,
// cells/* and legacy /0, /1, ... groups are opened by URI (path::group), as a user names them,
// and each opened cooler is reopened once with its bin size as --resolution. For each: every bin
// column's balance_rule (attributes such as divisive_weights) and balancing_weights, pixels read
// back in row blocks (fuzz_contact_matrix.hpp) and the first pixels of the table as ICE reads
// them (read_pixels). Acceptable: a mixhic::Error. Findings: a crash or ASan/UBSan report, a
// timeout or an allocation over -malloc_limit_mb (dataset shapes, attributes and index values
// come from the file), another exception (std::invalid_argument from a resolution name), a
// leaked HDF5 identifier, or a fuzz::Finding (chromosome bin ranges not concatenated, weights not
// one per bin, pixels outside the rows asked for or outside the matrix: the prep indexes arrays
// with them). Random bytes rarely form an HDF5 file (fuzz_hdf5.hpp): this target mutates its
// seeds, seeds/fuzz_cooler (make_seeds.sh); dictionary: dict/fuzz_cooler.dict.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_contact_matrix.hpp"
#include "fuzz_hdf5.hpp"
#include "fuzz_parsers.hpp"
#include "mixhic/check.hpp"
#include "mixhic/cooler_file.hpp"

namespace mixhic::fuzz {

namespace {

constexpr size_t kMaxGroups = 3;          // resolutions / cells / legacy levels opened per file
constexpr int64_t kMaxPixelsRead = 1 << 20;

// The groups a user would name in a URI when the file alone is refused as ambiguous.
std::vector<std::string> groups_to_open(const std::string& path) {
  std::vector<std::string> groups;
  h5::Handle f = h5::open_read(path);
  for (const std::string& r : first_members(f, "resolutions", kMaxGroups)) groups.push_back("resolutions/" + r);
  for (const std::string& c : first_members(f, "cells", kMaxGroups)) groups.push_back("cells/" + c);
  size_t legacy = 0;
  for (const std::string& g : first_members(f, "/", 64))
    if (!g.empty() && g.find_first_not_of("0123456789") == std::string::npos && legacy++ < kMaxGroups)
      groups.push_back(g);
  return groups;
}

// What ICE reads: the pixel table itself, bin ids it indexes its marginals with.
void check_pixel_table(const CoolerFile& c) {
  const int64_t n = std::min<int64_t>(c.nnz(), kMaxPixelsRead);
  if (n <= 0) return;
  PixelBlock px = c.read_pixels(0, n);
  for (size_t k = 0; k < px.size(); ++k)
    MIXHIC_FUZZ_REQUIRE(px.bin1[k] >= 0 && px.bin1[k] <= px.bin2[k] && px.bin2[k] < c.n_bins(),
                        "{}: read_pixels returned pixel {} = ({}, {}) for a matrix of {} bins", c.path(), k,
                        px.bin1[k], px.bin2[k], c.n_bins());
}

// The walk, then the file reopened with this cooler's bin size as --resolution (the .mcool
// resolutions/<res> and legacy-layout lookups, or the bin-size check of a .cool).
int walk(const CoolerFile& c, const std::string& path) {
  int refused = walk_contact_matrix(c, /*intra_only=*/false);
  refused += tolerate([&] { check_pixel_table(c); });
  if (c.bin_size() > 0) refused += tolerate([&] { CoolerFile again(path, c.bin_size()); });
  return refused;
}

}  // namespace

int parse_cooler(const uint8_t* data, size_t size) {
  fresh_hdf5();
  static ScratchFile file(".cool");
  const std::string& path = file.write(data, size);
  int refused = 0;
  refused += tolerate([&] {
    std::unique_ptr<CoolerFile> whole;
    std::vector<std::string> uris;
    try {
      whole = std::make_unique<CoolerFile>(path, 0);
    } catch (const InputFormatError& e) {
      if (e.field != "resolution" && e.field != "cells") throw;
      for (const std::string& g : groups_to_open(path)) uris.push_back(path + "::" + g);
    }
    if (whole) refused += walk(*whole, path);
    for (const std::string& uri : uris) {
      refused += tolerate([&] {
        CoolerFile c(uri, 0);
        refused += walk(c, path);
      });
    }
  });
  require_no_open_hdf5_ids(path);
  return refused;
}

}  // namespace mixhic::fuzz

#ifdef MIXHIC_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mixhic::fuzz::parse_cooler(data, size);
  } catch (const mixhic::Error&) {
    // refused: an acceptable outcome
  }
  return 0;
}
#endif
