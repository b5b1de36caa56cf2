#include "window_plan.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include "mixhic/check.hpp"
#include "mixhic/log.hpp"

namespace mixhic::prep {

namespace {

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  std::string x;
  while (in >> x) w.push_back(x);
  return w;
}

void read_cells(const PrepConfig& config, PrepPlan& plan) {
  for (const auto& line : config.cells) {
    auto w = words(line);
    if (w.size() != 2) throw ConfigError(fmt::format("cell '{}': expected 'NAME PATH'", line));
    for (auto& c : plan.cells)
      if (c.name == w[0]) throw ConfigError(fmt::format("cell '{}' is listed twice", w[0]));
    CellInputs cell;
    cell.name = w[0];
    cell.hic_uri = w[1];
    plan.cells.push_back(std::move(cell));
  }
  // Track lines: the first cell fixes the track names and their order.
  std::vector<std::vector<std::pair<std::string, std::string>>> per_cell(plan.cells.size());
  for (const auto& line : config.tracks) {
    auto w = words(line);
    if (w.size() != 3) throw ConfigError(fmt::format("track '{}': expected 'CELL TRACK PATH'", line));
    auto it = std::find_if(plan.cells.begin(), plan.cells.end(), [&](auto& c) { return c.name == w[0]; });
    if (it == plan.cells.end())
      throw ConfigError(fmt::format("track '{}': no cell named '{}' (cells: add a 'cell = {} PATH' line)", line, w[0], w[0]));
    per_cell[it - plan.cells.begin()].emplace_back(w[1], w[2]);
  }
  for (auto& [name, path] : per_cell[0]) plan.track_names.push_back(name);
  if (plan.track_names.empty()) throw ConfigError("no 'track' lines: at least one track per cell is needed");
  for (size_t c = 0; c < plan.cells.size(); ++c) {
    std::vector<std::string> names;
    for (auto& [name, path] : per_cell[c]) names.push_back(name);
    if (names != plan.track_names)
      throw ConfigError(fmt::format("cell '{}' has tracks [{}] but cell '{}' has [{}]: every cell needs the same tracks in the same order",
                                    plan.cells[c].name, fmt::join(names, ", "), plan.cells[0].name,
                                    fmt::join(plan.track_names, ", ")));
    for (auto& [name, path] : per_cell[c]) plan.cells[c].track_paths.push_back(path);
  }
}

bool in_list(const std::string& name, const std::vector<std::string>& list) {
  std::string b = ChromNameMap::bare(name);
  for (auto& x : list)
    if (ChromNameMap::bare(x) == b) return true;
  return false;
}

int64_t parse_bp(const std::string& text) {
  std::string digits;
  for (char ch : text)
    if (ch != ',' && ch != '_') digits += ch;
  size_t used = 0;
  long long v = std::stoll(digits, &used);
  if (used != digits.size()) throw std::invalid_argument(text);
  return v;
}

}  // namespace

Extent parse_region(const std::string& text, const std::vector<PlannedChrom>& chroms, const ChromNameMap& names) {
  auto colon = text.rfind(':');
  std::string chrom = text.substr(0, colon);
  auto has = [&](const std::string& n) {
    return std::any_of(chroms.begin(), chroms.end(), [&](auto& c) { return c.name == n; });
  };
  std::string resolved = names.resolve(chrom, has);
  if (resolved.empty()) throw ConfigError(fmt::format("regions: '{}' names no chromosome of the inputs", text));
  Extent e;
  e.chrom = static_cast<int>(std::find_if(chroms.begin(), chroms.end(), [&](auto& c) { return c.name == resolved; }) -
                             chroms.begin());
  e.start_bp = 0;
  e.end_bp = chroms[e.chrom].length;
  if (colon != std::string::npos) {
    auto dash = text.find('-', colon);
    try {
      e.start_bp = parse_bp(text.substr(colon + 1, dash - colon - 1));
      if (dash != std::string::npos) e.end_bp = parse_bp(text.substr(dash + 1));
    } catch (const std::exception&) {
      throw ConfigError(fmt::format("regions: '{}': expected CHROM:START-END", text));
    }
  }
  if (e.start_bp < 0 || e.end_bp <= e.start_bp || e.end_bp > chroms[e.chrom].length)
    throw ConfigError(fmt::format("regions: '{}': expected 0 <= start < end <= {} (length of {})", text,
                                  chroms[e.chrom].length, resolved));
  return e;
}

PrepPlan make_plan(const PrepConfig& config) {
  PrepPlan plan;
  read_cells(config, plan);
  ChromNameMap names(config.chrom_aliases);

  for (auto& cell : plan.cells) {
    cell.hic = open_contact_matrix(cell.hic_uri, config.resolution);
    for (auto& path : cell.track_paths) cell.tracks.emplace_back(path);
  }

  // Chromosomes: those of the first Hi-C file, filtered by chroms / exclude-chroms.
  auto only = split_list(config.chroms);
  auto exclude = split_list(config.exclude_chroms);
  auto val = split_list(config.val_chroms), test = split_list(config.test_chroms);
  const ContactMatrix& first = *plan.cells[0].hic;
  for (const auto& ch : first.chroms()) {
    if (!only.empty() && !in_list(ch.name, only)) continue;
    if (in_list(ch.name, exclude)) continue;
    PlannedChrom pc;
    pc.name = ch.name;
    pc.length = ch.length;
    pc.split = in_list(ch.name, test) ? Split::test : in_list(ch.name, val) ? Split::val : Split::train;
    plan.chroms.push_back(pc);
  }
  for (auto& want : only) {
    bool found = std::any_of(plan.chroms.begin(), plan.chroms.end(),
                             [&](auto& c) { return ChromNameMap::bare(c.name) == ChromNameMap::bare(want); });
    if (!found) throw InputFormatError(first.path(), "chromosome " + want, "present (listed in 'chroms')", "missing");
  }

  // Extents: the configured regions, or every whole chromosome.
  if (config.regions.empty()) {
    for (size_t c = 0; c < plan.chroms.size(); ++c) plan.extents.push_back({int(c), 0, plan.chroms[c].length});
  } else {
    for (auto& r : split_list(config.regions, ',')) plan.extents.push_back(parse_region(r, plan.chroms, names));
    std::stable_sort(plan.extents.begin(), plan.extents.end(), [](auto& a, auto& b) {
      return a.chrom != b.chrom ? a.chrom < b.chrom : a.start_bp < b.start_bp;
    });
  }
  std::set<int> used;
  for (auto& e : plan.extents) used.insert(e.chrom);

  // Reconcile every used chromosome in every cell's Hi-C and tracks; lengths must agree.
  for (int ci : used) {
    PlannedChrom& pc = plan.chroms[ci];
    for (auto& cell : plan.cells) {
      const ContactMatrix& hic = *cell.hic;
      std::string n = names.resolve(pc.name, [&](const std::string& x) { return hic.chrom_index(x) >= 0; });
      if (n.empty()) throw InputFormatError(hic.path(), "chromosome " + pc.name, "present (it is in " + first.path() + ")", "missing");
      int idx = hic.chrom_index(n);
      if (hic.chroms()[idx].length != pc.length)
        throw InputFormatError(hic.path(), "length of " + n, fmt::format("{} bp as in {} (same assembly)", pc.length, first.path()),
                               fmt::format("{} bp: mismatched chromosome lengths, wrong assembly?", hic.chroms()[idx].length));
      pc.hic_index.push_back(idx);
      std::vector<std::string> tnames;
      for (auto& track : cell.tracks) {
        std::string tn = names.resolve(pc.name, [&](const std::string& x) { return track.chrom_length(x) >= 0; });
        if (tn.empty())
          throw InputFormatError(track.path(), "chromosome " + pc.name,
                                 "present in the track (a chromosome of the Hi-C must be in every track; restrict with 'chroms' or 'exclude-chroms')",
                                 "missing");
        if (track.chrom_length(tn) != pc.length)
          throw InputFormatError(track.path(), "length of " + tn,
                                 fmt::format("{} bp as in {} (same assembly)", pc.length, hic.path()),
                                 fmt::format("{} bp: mismatched chromosome lengths, wrong assembly?", track.chrom_length(tn)));
        tnames.push_back(tn);
      }
      pc.track_name.push_back(tnames);
    }
  }

  if (!config.blacklist.empty()) {
    for (auto& iv : read_bed(config.blacklist)) {
      std::string n = names.resolve(iv.chrom, [&](const std::string& x) {
        return std::any_of(plan.chroms.begin(), plan.chroms.end(), [&](auto& c) { return c.name == x; });
      });
      if (n.empty()) continue;  // blacklists list every chromosome; ours may be fewer
      plan.blacklist.push_back({n, iv.start, iv.end});
    }
  }

  // Windows: start bins floor((extent_start + k*stride) / bin) while the window fits.
  const int64_t bin = config.resolution, W = config.window_bins;
  for (size_t c = 0; c < plan.cells.size(); ++c) {
    const ContactMatrix& hic = *plan.cells[c].hic;
    for (size_t e = 0; e < plan.extents.size(); ++e) {
      const Extent& ext = plan.extents[e];
      const PlannedChrom& pc = plan.chroms[ext.chrom];
      const CoolerChrom& hc = hic.chroms()[pc.hic_index[c]];
      int64_t chrom_bins = hc.bin_end - hc.bin_begin;
      int64_t end_bin = std::min(chrom_bins, (ext.end_bp + bin - 1) / bin);
      for (int64_t k = 0;; ++k) {
        int64_t s = (ext.start_bp + k * config.stride_bp) / bin;
        if (s + W > end_bin) break;
        ContactWindow w;
        w.cell = static_cast<int16_t>(c);
        w.chrom = ext.chrom;
        w.extent = static_cast<int32_t>(e);
        w.bin = hc.bin_begin + s;
        w.start_bp = s * bin;
        plan.windows.push_back(w);
      }
    }
  }
  return plan;
}

}  // namespace mixhic::prep
