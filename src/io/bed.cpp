#include "mixhic/bed.hpp"

#include <fstream>
#include <sstream>

#include "mixhic/check.hpp"

namespace mixhic {

std::vector<BedInterval> read_bed(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputFormatError(path, "file", "a readable BED file", "cannot open");
  std::vector<BedInterval> out;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty() || line[0] == '#' || line.rfind("track", 0) == 0 || line.rfind("browser", 0) == 0)
      continue;
    std::istringstream fields(line);
    BedInterval iv;
    if (!(fields >> iv.chrom >> iv.start >> iv.end) || iv.start < 0 || iv.end < iv.start)
      throw InputFormatError(path, fmt::format("line {}", lineno), "chrom, start, end with 0 <= start <= end",
                             line.substr(0, 60));
    out.push_back(iv);
  }
  return out;
}

}  // namespace mixhic
