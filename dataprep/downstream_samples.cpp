// downstream_samples.cpp — see downstream_samples.hpp.
#include "downstream_samples.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "mixhic/check.hpp"
#include "mixhic/config.hpp"
#include "mixhic/hash.hpp"
#include "mixhic/rng.hpp"

namespace mixhic::prep {

namespace {

bool skip_line(const std::string& line) {
  size_t i = line.find_first_not_of(" \t\r");
  return i == std::string::npos || line[i] == '#' || line.rfind("track", 0) == 0 || line.rfind("browser", 0) == 0;
}

std::vector<std::string> fields_of(const std::string& line, char sep) {
  std::vector<std::string> f;
  if (sep == '\t') {
    std::string x;
    std::istringstream in(line);
    while (std::getline(in, x, '\t')) f.push_back(x);
    if (f.size() > 1) {
      if (!f.empty() && !f.back().empty() && f.back().back() == '\r') f.back().pop_back();
      return f;
    }
    f.clear();
  }
  std::istringstream in(line);
  for (std::string x; in >> x;) f.push_back(x);
  return f;
}

int64_t to_int(const std::string& path, int64_t lineno, size_t col, const char* name, const std::string& text) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < 0)
    throw InputFormatError(path, fmt::format("line {}, column {} ({})", lineno, col + 1, name), "an integer >= 0",
                           "'" + text.substr(0, 40) + "'");
  return v;
}

std::vector<std::string> words(const std::string& line) { return fields_of(line, ' '); }

// "CELL PATH" config lines into [cell] = PATH; every listed cell must exist, at most once.
std::vector<std::string> per_cell_paths(const std::vector<std::string>& lines, const char* key, const PrepPlan& plan,
                                        bool every_cell) {
  std::vector<std::string> out(plan.cells.size());
  for (const auto& line : lines) {
    auto w = words(line);
    if (w.size() != 2) throw ConfigError(fmt::format("{} '{}': expected 'CELL PATH'", key, line));
    auto it = std::find_if(plan.cells.begin(), plan.cells.end(), [&](auto& c) { return c.name == w[0]; });
    if (it == plan.cells.end())
      throw ConfigError(fmt::format("{} '{}': no cell named '{}' (cells: add a 'cell = {} PATH' line)", key, line, w[0], w[0]));
    auto& slot = out[it - plan.cells.begin()];
    if (!slot.empty()) throw ConfigError(fmt::format("{}: cell '{}' is listed twice", key, w[0]));
    slot = w[1];
  }
  if (every_cell)
    for (size_t c = 0; c < out.size(); ++c)
      if (out[c].empty()) throw ConfigError(fmt::format("{}: no line for cell '{}' (expected '{} = {} PATH')", key, plan.cells[c].name, key, plan.cells[c].name));
  return out;
}

// Index of the plan chromosome `name` refers to, -1 if none.
int plan_chrom(const PrepPlan& plan, const ChromNameMap& names, const std::string& name) {
  auto has = [&](const std::string& x) {
    return std::any_of(plan.chroms.begin(), plan.chroms.end(), [&](auto& c) { return c.name == x; });
  };
  std::string r = names.resolve(name, has);
  if (r.empty()) return -1;
  return static_cast<int>(std::find_if(plan.chroms.begin(), plan.chroms.end(), [&](auto& c) { return c.name == r; }) -
                          plan.chroms.begin());
}

// Bin range [lo, hi) in which windows of extent e may lie in `cell`'s Hi-C, as the tiles use it.
std::pair<int64_t, int64_t> extent_bins(const PrepConfig& cfg, const PrepPlan& plan, int cell, size_t e) {
  const Extent& ext = plan.extents[e];
  const PlannedChrom& pc = plan.chroms[ext.chrom];
  const auto& hc = plan.cells[cell].hic->chroms()[pc.hic_index[cell]];
  const int64_t bin = cfg.resolution;
  return {ext.start_bp / bin, std::min(hc.bin_end - hc.bin_begin, (ext.end_bp + bin - 1) / bin)};
}

// The extent holding both windows [s1, s1+W) and [s2, s2+W) of `chrom`, -1 if none.
int extent_of(const PrepConfig& cfg, const PrepPlan& plan, int cell, int chrom, int64_t s1, int64_t s2) {
  const int64_t W = cfg.window_bins;
  for (size_t e = 0; e < plan.extents.size(); ++e) {
    if (plan.extents[e].chrom != chrom) continue;
    auto [lo, hi] = extent_bins(cfg, plan, cell, e);
    if (std::min(s1, s2) >= lo && std::max(s1, s2) + W <= hi) return static_cast<int>(e);
  }
  return -1;
}

bool chrom_used(const PlannedChrom& pc) { return !pc.hic_index.empty(); }

struct Pair {
  int64_t b1, b2;  // chromosome-local bins, b1 <= b2
  int extent;
  int8_t label;
  int64_t draw;
};

// Distance-matched negatives of one (cell, chrom): the reference's KDE on log10 distances.
std::vector<Pair> draw_negatives(const PrepConfig& cfg, const PrepPlan& plan, int cell, int chrom,
                                 const std::vector<Pair>& positives, const std::vector<std::pair<int64_t, int64_t>>& exclude) {
  std::vector<Pair> out;
  const int64_t n_pos = static_cast<int64_t>(positives.size());
  const int64_t want = 3 * n_pos * cfg.negatives_per_positive;
  if (want == 0) return out;
  const int64_t W = cfg.window_bins, res = cfg.resolution, ex = cfg.loop_exclusion_bins;
  std::vector<double> x;
  for (auto& p : positives) x.push_back(std::log10(double(std::max<int64_t>(1, p.b2 - p.b1) * res)));
  double mean = 0, var = 0;
  for (double v : x) mean += v;
  mean /= double(x.size());
  for (double v : x) var += (v - mean) * (v - mean);
  // scipy gaussian_kde with Scott's factor n^(-1/5) on the sample std (ddof = 1)
  const double bw = x.size() > 1 ? std::sqrt(var / double(x.size() - 1)) * std::pow(double(x.size()), -0.2) : 0.0;
  std::string key = plan.cells[cell].name + '\0' + plan.chroms[chrom].name;
  SplitMix rng(hash64(key.data(), key.size(), static_cast<uint64_t>(cfg.loop_seed)));
  std::vector<size_t> extents;
  for (size_t e = 0; e < plan.extents.size(); ++e)
    if (plan.extents[e].chrom == chrom) extents.push_back(e);
  std::set<std::pair<int64_t, int64_t>> taken;
  for (int64_t tries = 0; int64_t(out.size()) < want && tries < 200 * want; ++tries) {
    double lx = x[rng.below(int64_t(x.size()))] + bw * rng.normal();
    int64_t d = std::llround(std::pow(10.0, lx) / double(res));
    if (d * res < cfg.loop_min_distance_bp || d * res > cfg.loop_max_distance_bp) continue;
    // place s1 uniformly among the starts whose window pair fits in an extent of the chromosome
    int64_t total = 0;
    std::vector<int64_t> n_e;
    for (size_t e : extents) {
      auto [lo, hi] = extent_bins(cfg, plan, cell, e);
      n_e.push_back(std::max<int64_t>(0, hi - W - d - lo + 1));
      total += n_e.back();
    }
    if (total == 0) continue;
    int64_t u = rng.below(total);
    size_t k = 0;
    while (u >= n_e[k]) u -= n_e[k++];
    const int64_t s1 = extent_bins(cfg, plan, cell, extents[k]).first + u;
    const int64_t b1 = s1 + W / 2, b2 = b1 + d;
    bool near = std::any_of(exclude.begin(), exclude.end(), [&](auto& p) {
      return std::llabs(p.first - b1) <= ex && std::llabs(p.second - b2) <= ex;
    });
    if (near || !taken.insert({b1, b2}).second) continue;
    out.push_back({b1, b2, static_cast<int>(extents[k]), 0, int64_t(out.size())});
  }
  return out;
}

void plan_loops(const PrepConfig& cfg, PrepPlan& plan, const ChromNameMap& names, DownstreamPlan& ds) {
  const int64_t W = cfg.window_bins, res = cfg.resolution;
  const size_t C = plan.cells.size(), K = plan.chroms.size();
  auto paths = per_cell_paths(cfg.loops, "loops", plan, /*every_cell=*/false);
  std::vector<ContactWindow> windows;
  for (size_t c = 0; c < C; ++c) {
    if (paths[c].empty()) continue;
    std::vector<std::vector<Pair>> pos(K);
    std::vector<std::vector<std::pair<int64_t, int64_t>>> all(K);  // every intra loop, for the exclusion
    std::vector<std::set<std::pair<int64_t, int64_t>>> seen(K);
    for (const LoopAnchors& l : read_bedpe(paths[c])) {
      ++ds.n_input;
      if (ChromNameMap::bare(l.chrom1) != ChromNameMap::bare(l.chrom2)) {
        ++ds.n_dropped_inter;
        continue;
      }
      int k = plan_chrom(plan, names, l.chrom1);
      if (k < 0) {
        ++ds.n_dropped_unknown;
        continue;
      }
      int64_t b1 = (l.start1 + l.end1) / 2 / res, b2 = (l.start2 + l.end2) / 2 / res;
      if (b1 > b2) std::swap(b1, b2);
      all[k].push_back({b1, b2});
      if ((b2 - b1) * res < cfg.loop_min_distance_bp || (b2 - b1) * res > cfg.loop_max_distance_bp) {
        ++ds.n_dropped_distance;
        continue;
      }
      int e = chrom_used(plan.chroms[k]) ? extent_of(cfg, plan, int(c), k, b1 - W / 2, b2 - W / 2) : -1;
      if (e < 0) {
        ++ds.n_dropped_outside;
        continue;
      }
      if (!seen[k].insert({b1, b2}).second) {
        ++ds.n_duplicates;
        continue;
      }
      pos[k].push_back({b1, b2, e, 1, -1});
    }
    for (size_t k = 0; k < K; ++k) {
      if (pos[k].empty()) continue;
      std::vector<Pair> samples = pos[k];
      auto neg = draw_negatives(cfg, plan, int(c), int(k), pos[k], all[k]);
      samples.insert(samples.end(), neg.begin(), neg.end());
      std::sort(samples.begin(), samples.end(), [](const Pair& a, const Pair& b) {
        return a.b1 != b.b1 ? a.b1 < b.b1 : a.b2 != b.b2 ? a.b2 < b.b2 : a.label > b.label;
      });
      const auto& hc = plan.cells[c].hic->chroms()[plan.chroms[k].hic_index[c]];
      for (const Pair& p : samples) {
        const int64_t s1 = p.b1 - W / 2, s2 = p.b2 - W / 2;
        windows.push_back({static_cast<int16_t>(c), static_cast<int32_t>(k), p.extent, hc.bin_begin + s1, s1 * res});
        DownstreamSample s;
        s.bin2 = hc.bin_begin + s2;
        s.start2_bp = s2 * res;
        s.label = p.label;
        s.anchor1_bp = p.b1 * res;
        s.anchor2_bp = p.b2 * res;
        s.draw = p.draw;
        s.split = static_cast<int8_t>(plan.chroms[k].split);
        ds.samples.push_back(s);
      }
    }
  }
  plan.windows = std::move(windows);
}

void plan_tss(const PrepConfig& cfg, PrepPlan& plan, const ChromNameMap& names, DownstreamPlan& ds) {
  const int64_t W = cfg.window_bins, res = cfg.resolution;
  const size_t C = plan.cells.size(), K = plan.chroms.size();
  ds.expression_paths = per_cell_paths(cfg.expression, "expression", plan, /*every_cell=*/true);
  for (size_t c = 0; c < C; ++c) {
    ds.expression.emplace_back(ds.expression_paths[c]);
    std::vector<std::string> cn(K);
    for (size_t k = 0; k < K; ++k) {
      if (!chrom_used(plan.chroms[k])) continue;
      const BigWigTrack& bw = ds.expression.back();
      cn[k] = names.resolve(plan.chroms[k].name, [&](const std::string& x) { return bw.chrom_length(x) >= 0; });
      if (cn[k].empty())
        throw InputFormatError(bw.path(), "chromosome " + plan.chroms[k].name,
                               "present in the expression bigWig (restrict with 'chroms' or 'exclude-chroms')", "missing");
      if (bw.chrom_length(cn[k]) != plan.chroms[k].length)
        throw InputFormatError(bw.path(), "length of " + cn[k], fmt::format("{} bp as in the Hi-C (same assembly)", plan.chroms[k].length),
                               fmt::format("{} bp: mismatched chromosome lengths, wrong assembly?", bw.chrom_length(cn[k])));
    }
    ds.expression_chrom.push_back(cn);
  }
  struct Tss {
    int chrom;
    int64_t bin, bp;
    std::string gene;
  };
  std::vector<Tss> tss;
  std::set<std::tuple<std::string, int, int64_t>> seen;
  for (const GeneTss& g : read_genes(cfg.genes)) {
    ++ds.n_input;
    int k = plan_chrom(plan, names, g.chrom);
    if (k < 0) {
      ++ds.n_dropped_unknown;
      continue;
    }
    if (!seen.insert({g.gene, k, g.tss_bp / res}).second) {
      ++ds.n_duplicates;
      continue;
    }
    tss.push_back({k, g.tss_bp / res, g.tss_bp, g.gene});
  }
  std::stable_sort(tss.begin(), tss.end(), [](const Tss& a, const Tss& b) {
    return a.chrom != b.chrom ? a.chrom < b.chrom : a.bin != b.bin ? a.bin < b.bin : a.gene < b.gene;
  });
  // gene-split = random: shuffle the distinct gene names (sorted first, so file order does not
  // matter) and cut at the cumulative fractions.
  std::map<std::string, int8_t> gene_split;
  if (cfg.gene_split == "random") {
    std::set<std::string> unique;
    for (auto& t : tss) unique.insert(t.gene);
    std::vector<std::string> genes(unique.begin(), unique.end());
    SplitMix rng(static_cast<uint64_t>(cfg.gene_split_seed));
    for (int64_t i = int64_t(genes.size()) - 1; i > 0; --i) std::swap(genes[i], genes[rng.below(i + 1)]);
    auto f = split_list(cfg.gene_split_fractions);
    const double n = double(genes.size());
    const int64_t n_train = std::llround(std::stod(f[0]) * n), n_val = std::llround((std::stod(f[0]) + std::stod(f[1])) * n);
    for (int64_t i = 0; i < int64_t(genes.size()); ++i) gene_split[genes[i]] = i < n_train ? 0 : i < n_val ? 1 : 2;
  }
  std::vector<ContactWindow> windows;
  for (size_t c = 0; c < C; ++c)
    for (const Tss& t : tss) {
      const int64_t s = t.bin - W / 2;
      int e = chrom_used(plan.chroms[t.chrom]) ? extent_of(cfg, plan, int(c), t.chrom, s, s) : -1;
      if (e < 0) {
        ++ds.n_dropped_outside;
        continue;
      }
      const auto& hc = plan.cells[c].hic->chroms()[plan.chroms[t.chrom].hic_index[c]];
      windows.push_back({static_cast<int16_t>(c), static_cast<int32_t>(t.chrom), e, hc.bin_begin + s, s * res});
      DownstreamSample d;
      d.bin2 = hc.bin_begin + s;
      d.start2_bp = s * res;
      d.tss_bp = t.bp;
      d.gene = t.gene;
      d.split = cfg.gene_split == "random" ? gene_split[t.gene] : static_cast<int8_t>(plan.chroms[t.chrom].split);
      ds.samples.push_back(d);
    }
  plan.windows = std::move(windows);
}

}  // namespace

std::vector<LoopAnchors> read_bedpe(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputFormatError(path, "file", "a readable BEDPE file", "cannot open");
  std::vector<LoopAnchors> out;
  std::string line;
  static const char* names[] = {"chrom1", "start1", "end1", "chrom2", "start2", "end2"};
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (skip_line(line)) continue;
    auto f = fields_of(line, '\t');
    if (f.size() < 6)
      throw InputFormatError(path, fmt::format("line {}", lineno), "6 or more columns (chrom1 start1 end1 chrom2 start2 end2)",
                             fmt::format("{} column(s)", f.size()));
    LoopAnchors l;
    l.chrom1 = f[0];
    l.chrom2 = f[3];
    l.start1 = to_int(path, lineno, 1, names[1], f[1]);
    l.end1 = to_int(path, lineno, 2, names[2], f[2]);
    l.start2 = to_int(path, lineno, 4, names[4], f[4]);
    l.end2 = to_int(path, lineno, 5, names[5], f[5]);
    if (l.end1 < l.start1 || l.end2 < l.start2)
      throw InputFormatError(path, fmt::format("line {}", lineno), "start <= end for both anchors", line.substr(0, 80));
    out.push_back(l);
  }
  return out;
}

std::vector<GeneTss> read_genes(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputFormatError(path, "file", "a readable BED or GTF gene annotation", "cannot open");
  const bool gtf = path.size() >= 4 && path.compare(path.size() - 4, 4, ".gtf") == 0;
  std::vector<GeneTss> genes, transcripts;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (skip_line(line)) continue;
    auto f = fields_of(line, '\t');
    if (gtf) {
      if (f.size() < 9)
        throw InputFormatError(path, fmt::format("line {}", lineno), "9 tab-separated GTF columns", fmt::format("{} column(s)", f.size()));
      if (f[2] != "gene" && f[2] != "transcript") continue;
      int64_t start = to_int(path, lineno, 3, "start", f[3]), end = to_int(path, lineno, 4, "end", f[4]);
      if (start < 1 || end < start)
        throw InputFormatError(path, fmt::format("line {}, columns 4-5 (start, end)", lineno), "1 <= start <= end (1-based)",
                               f[3] + "-" + f[4]);
      if (f[6] != "+" && f[6] != "-" && f[6] != ".")
        throw InputFormatError(path, fmt::format("line {}, column 7 (strand)", lineno), "+, - or .", "'" + f[6] + "'");
      auto attr = [&](const std::string& key) -> std::string {
        size_t at = f[8].find(key + " \"");
        while (at != std::string::npos && at > 0 && f[8][at - 1] != ' ' && f[8][at - 1] != ';')
          at = f[8].find(key + " \"", at + 1);
        if (at == std::string::npos) return "";
        size_t b = at + key.size() + 2, e = f[8].find('"', b);
        return e == std::string::npos ? "" : f[8].substr(b, e - b);
      };
      std::string name = attr("gene_name");
      if (name.empty()) name = attr("gene_id");
      if (name.empty())
        throw InputFormatError(path, fmt::format("line {}, column 9 (attributes)", lineno), "a gene_name or gene_id attribute",
                               f[8].substr(0, 60));
      GeneTss g{name, f[0], f[6] == "-" ? end - 1 : start - 1};
      (f[2] == "gene" ? genes : transcripts).push_back(g);
    } else {
      if (f.size() < 4)
        throw InputFormatError(path, fmt::format("line {}", lineno), "4 or more BED columns (chrom start end name [score strand])",
                               fmt::format("{} column(s)", f.size()));
      int64_t start = to_int(path, lineno, 1, "start", f[1]), end = to_int(path, lineno, 2, "end", f[2]);
      if (end <= start)
        throw InputFormatError(path, fmt::format("line {}, columns 2-3 (start, end)", lineno), "start < end", f[1] + "-" + f[2]);
      std::string strand = f.size() >= 6 ? f[5] : ".";
      if (strand != "+" && strand != "-" && strand != ".")
        throw InputFormatError(path, fmt::format("line {}, column 6 (strand)", lineno), "+, - or .", "'" + strand + "'");
      genes.push_back({f[3], f[0], strand == "-" ? end - 1 : start});
    }
  }
  return gtf && genes.empty() ? transcripts : genes;
}

DownstreamPlan plan_downstream(const PrepConfig& cfg, PrepPlan& plan) {
  DownstreamPlan ds;
  ds.source = cfg.sample_source;
  ChromNameMap names(cfg.chrom_aliases);
  if (ds.source == SampleSource::loops) plan_loops(cfg, plan, names, ds);
  else if (ds.source == SampleSource::tss) plan_tss(cfg, plan, names, ds);
  return ds;
}

std::vector<uint8_t> cap_negatives(const PrepConfig& cfg, const PrepPlan& plan, const DownstreamPlan& ds,
                                   const std::vector<uint8_t>& kept) {
  std::vector<uint8_t> store = kept;
  if (ds.source != SampleSource::loops) return store;
  const size_t K = plan.chroms.size();
  std::map<size_t, int64_t> positives;
  std::map<size_t, std::vector<std::pair<int64_t, size_t>>> negatives;  // (draw, window)
  for (size_t i = 0; i < plan.windows.size(); ++i) {
    if (!kept[i]) continue;
    size_t key = size_t(plan.windows[i].cell) * K + size_t(plan.windows[i].chrom);
    if (ds.samples[i].label) ++positives[key];
    else negatives[key].push_back({ds.samples[i].draw, i});
  }
  for (auto& [key, list] : negatives) {
    std::sort(list.begin(), list.end());
    const int64_t cap = positives[key] * cfg.negatives_per_positive;
    for (size_t j = size_t(std::max<int64_t>(0, cap)); j < list.size(); ++j) store[list[j].second] = 0;
  }
  return store;
}

}  // namespace mixhic::prep
