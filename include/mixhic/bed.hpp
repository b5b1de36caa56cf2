// bed.hpp — BED intervals (blacklists; later gene annotations), 0-based half-open.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mixhic {

struct BedInterval {
  std::string chrom;
  int64_t start = 0, end = 0;
};

// Reads the first three columns of every data line; skips '#', 'track' and 'browser' lines.
// A malformed line is an InputFormatError naming the file and line number.
std::vector<BedInterval> read_bed(const std::string& path);

}  // namespace mixhic
