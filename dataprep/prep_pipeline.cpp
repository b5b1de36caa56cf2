#include "prep_pipeline.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "contact_normalizer.hpp"
#include "downstream_samples.hpp"
#include "mixhic/check.hpp"
#include "mixhic/corpus_schema.hpp"
#include "mixhic/exact_sum.hpp"
#include "mixhic/h5.hpp"
#include "mixhic/hash.hpp"
#include "mixhic/log.hpp"
#include "mixhic/output_files.hpp"
#include "track_binner.hpp"
#include "window_plan.hpp"

namespace mixhic::prep {

namespace {

using Clock = std::chrono::steady_clock;

// Each rank's rows of every bulk dataset form one contiguous block, so independent MPI-IO
// writes need no aggregation; collective two-phase I/O only adds a shuffle between ranks
// (measured: the write phase went from 0.09 s to 0.02 s on 2 ranks, 5,096 samples).
constexpr bool kCollectiveWrites = false;

// kSurplus: a loop negative that passed the filters but exceeds negatives-per-positive.
enum Reject : int { kKept = 0, kSparse, kMasked, kNonfinite, kBlacklist, kSurplus, kReasons };

// What this rank extracted from its block of windows.
struct ExtractedWindows {
  std::vector<uint8_t> verdict;     // per window of the block: Reject
  std::vector<float> hic;           // packed triangles (pairs: full W x W) of kept windows
  std::vector<float> nonzero_frac;  // of kept windows
  std::vector<int16_t> masked;      // of kept windows
  double read_seconds = 0;          // spent reading (and inflating) pixel rows
};

double blacklist_fraction(const PrepPlan& plan, const std::string& chrom, int64_t start, int64_t end) {
  int64_t covered = 0;
  for (const auto& iv : plan.blacklist)
    if (iv.chrom == chrom) covered += std::max<int64_t>(0, std::min(end, iv.end) - std::max(start, iv.start));
  return double(std::min(covered, end - start)) / double(end - start);
}

// A loop sample: rows = W bins from window.bin, columns = W bins from pair.bin2 (bin2 >= bin). Every
// pixel needed is in rows [bin, bin + W) with bin2 < pair.bin2 + W: where the two windows overlap,
// pixel (row r, column c < r) is stored as (c, r) and c lies in the row window.
void extract_pair(const PrepConfig& cfg, const PrepPlan& plan, const ContactNormalizer& norm, const ContactWindow& w,
                  const DownstreamSample& pair, ExtractedWindows& out, uint8_t& verdict_out) {
  const int64_t W = cfg.window_bins;
  const int c = w.cell;
  const auto& hic = *plan.cells[c].hic;
  auto read_start = Clock::now();
  PixelBlock px = hic.read_rows(w.bin, w.bin + W, pair.bin2 + W);
  out.read_seconds += std::chrono::duration<double>(Clock::now() - read_start).count();
  std::vector<double> raw(W * W, 0.0);
  auto in_rows = [&](int64_t b) { return b >= w.bin && b < w.bin + W; };
  auto in_cols = [&](int64_t b) { return b >= pair.bin2 && b < pair.bin2 + W; };
  for (size_t k = 0; k < px.size(); ++k) {
    const int64_t r = px.bin1[k], col = px.bin2[k];
    if (in_rows(r) && in_cols(col)) raw[(r - w.bin) * W + (col - pair.bin2)] = px.count[k];
    if (in_rows(col) && in_cols(r)) raw[(col - w.bin) * W + (r - pair.bin2)] = px.count[k];
  }
  std::set<int64_t> masked_bins;
  for (int64_t a = 0; a < W; ++a) {
    if (norm.masked(c, w.bin + a)) masked_bins.insert(w.bin + a);
    if (norm.masked(c, pair.bin2 + a)) masked_bins.insert(pair.bin2 + a);
  }
  int64_t nonzero = 0;
  bool nonfinite = false;
  for (int64_t a = 0; a < W; ++a)
    for (int64_t b = 0; b < W; ++b) {
      double v = raw[a * W + b] * norm.weight(c, w.bin + a) * norm.weight(c, pair.bin2 + b);
      raw[a * W + b] = v;
      bool masked_pixel = norm.masked(c, w.bin + a) || norm.masked(c, pair.bin2 + b);
      if (!std::isfinite(v) && !masked_pixel) nonfinite = true;
      if (std::isfinite(v) && v != 0) ++nonzero;
    }
  const int64_t masked = static_cast<int64_t>(masked_bins.size());
  const double nz_frac = double(nonzero) / double(W * W);
  const std::string& chrom = plan.chroms[w.chrom].name;
  const int64_t span = W * cfg.resolution;
  uint8_t verdict = kKept;
  if (masked > cfg.max_masked_bins) verdict = kMasked;
  else if (nonfinite) verdict = kNonfinite;
  else if (nz_frac < cfg.min_nonzero_fraction) verdict = kSparse;
  else if (!plan.blacklist.empty() &&
           std::max(blacklist_fraction(plan, chrom, w.start_bp, w.start_bp + span),
                    blacklist_fraction(plan, chrom, pair.start2_bp, pair.start2_bp + span)) > cfg.max_blacklist_fraction)
    verdict = kBlacklist;
  verdict_out = verdict;
  if (verdict != kKept) return;
  const int64_t offset = pair.bin2 - w.bin;
  for (int64_t a = 0; a < W; ++a)
    for (int64_t b = 0; b < W; ++b) {
      double v = raw[a * W + b];
      out.hic.push_back(std::isfinite(v) ? static_cast<float>(norm.transform(c, w.chrom, std::llabs(offset + b - a), v)) : 0.0f);
    }
  out.nonzero_frac.push_back(static_cast<float>(nz_frac));
  out.masked.push_back(static_cast<int16_t>(masked));
}

// Reads the diagonal band of the Hi-C rows the rank's windows cover, chunk by chunk, and turns
// each window into a packed, normalised triangle plus its filter verdict.
ExtractedWindows extract_windows(const PrepConfig& cfg, const PrepPlan& plan, const ContactNormalizer& norm,
                                 Block mine, const DownstreamPlan& ds) {
  const int64_t W = cfg.window_bins, n_tri = corpus::triangle_size(W);
  const int64_t max_rows = std::max<int64_t>(4096, 4 * W);
  ExtractedWindows out;
  out.verdict.assign(mine.size(), kKept);
  if (ds.source == "loops") {
    for (int64_t k = mine.begin; k < mine.end; ++k)
      extract_pair(cfg, plan, norm, plan.windows[k], ds.samples[k], out, out.verdict[k - mine.begin]);
    return out;
  }
  std::vector<double> band, win(W * W);
  auto last_report = Clock::now();
  int64_t i = mine.begin;
  while (i < mine.end) {
    const ContactWindow& first = plan.windows[i];
    // A chunk: consecutive windows of one (cell, extent) whose rows fit in max_rows.
    int64_t j = i;
    while (j < mine.end && plan.windows[j].cell == first.cell && plan.windows[j].extent == first.extent &&
           plan.windows[j].bin + W - first.bin <= max_rows)
      ++j;
    const int64_t lo = first.bin, hi = plan.windows[j - 1].bin + W;
    const ContactMatrix& hic = *plan.cells[first.cell].hic;
    auto read_start = Clock::now();
    PixelBlock px = hic.read_rows(lo, hi, hi);
    out.read_seconds += std::chrono::duration<double>(Clock::now() - read_start).count();
    band.assign((hi - lo) * W, 0.0);
    for (size_t k = 0; k < px.size(); ++k) {
      int64_t d = px.bin2[k] - px.bin1[k];
      if (d >= 0 && d < W) band[(px.bin1[k] - lo) * W + d] = px.count[k];
    }
    for (int64_t k = i; k < j; ++k) {
      const ContactWindow& w = plan.windows[k];
      const int c = w.cell;
      int64_t masked = 0;
      for (int64_t a = 0; a < W; ++a) masked += norm.masked(c, w.bin + a);
      int64_t nonzero = 0;
      bool nonfinite = false;
      for (int64_t a = 0; a < W; ++a)
        for (int64_t b = a; b < W; ++b) {
          double v = band[(w.bin + a - lo) * W + (b - a)] * norm.weight(c, w.bin + a) * norm.weight(c, w.bin + b);
          win[a * W + b] = v;
          bool masked_pixel = norm.masked(c, w.bin + a) || norm.masked(c, w.bin + b);
          if (!std::isfinite(v) && !masked_pixel) nonfinite = true;
          if (std::isfinite(v) && v != 0) nonzero += (a == b) ? 1 : 2;
        }
      double nz_frac = double(nonzero) / double(W * W);
      uint8_t verdict = kKept;
      if (masked > cfg.max_masked_bins) verdict = kMasked;
      else if (nonfinite) verdict = kNonfinite;
      else if (nz_frac < cfg.min_nonzero_fraction) verdict = kSparse;
      else if (!plan.blacklist.empty() &&
               blacklist_fraction(plan, plan.chroms[w.chrom].name, w.start_bp, w.start_bp + W * cfg.resolution) >
                   cfg.max_blacklist_fraction)
        verdict = kBlacklist;
      out.verdict[k - mine.begin] = verdict;
      if (verdict != kKept) continue;
      size_t at = out.hic.size();
      out.hic.resize(at + n_tri);
      for (int64_t a = 0; a < W; ++a)
        for (int64_t b = a; b < W; ++b) {
          double v = win[a * W + b];
          out.hic[at + corpus::triangle_index(a, b, W)] =
              std::isfinite(v) ? static_cast<float>(norm.transform(c, w.chrom, b - a, v)) : 0.0f;
        }
      out.nonzero_frac.push_back(static_cast<float>(nz_frac));
      out.masked.push_back(static_cast<int16_t>(masked));
    }
    if (std::chrono::duration<double>(Clock::now() - last_report).count() > 5) {
      log::info("windows {}/{} of rank 0's block", j - mine.begin, mine.size());
      last_report = Clock::now();
    }
    i = j;
  }
  return out;
}

// Where every kept window's track rows live. Rows are stored once per segment: a maximal run of
// kept windows of one (cell, chromosome) whose anchors overlap or touch.
struct TrackLayout {
  struct Segment {
    int16_t cell;
    int32_t chrom;
    int64_t start_bp, n_rows, row;
  };
  std::vector<Segment> segments;
  std::vector<int64_t> window_row;  // per window (global index): first row, -1 if not kept
  std::vector<int64_t> new_row;     // per window: first row this window adds (rows before were added earlier)
  std::vector<int64_t> window_row2;  // downstream samples: first row of anchor 2
  int64_t n_rows = 0;
};

// Downstream samples: both anchors of every kept sample, sorted by (cell, chromosome, start) and
// merged into segments where they overlap or touch; each anchor span is stored once.
TrackLayout lay_out_anchors(const PrepConfig& cfg, const PrepPlan& plan, const DownstreamPlan& ds,
                            const std::vector<uint8_t>& verdicts) {
  TrackLayout t;
  const int64_t span = cfg.anchor_bp(), tb = cfg.track_bin_bp;
  using Key = std::tuple<int16_t, int32_t, int64_t>;
  std::map<Key, int64_t> row_of;
  for (size_t k = 0; k < plan.windows.size(); ++k) {
    if (verdicts[k] != kKept) continue;
    const ContactWindow& w = plan.windows[k];
    row_of[{w.cell, w.chrom, w.start_bp}] = -1;
    row_of[{w.cell, w.chrom, ds.samples[k].start2_bp}] = -1;
  }
  for (auto& [key, row] : row_of) {
    auto [cell, chrom, start] = key;
    TrackLayout::Segment* seg = t.segments.empty() ? nullptr : &t.segments.back();
    int64_t seg_end = seg ? seg->start_bp + seg->n_rows * tb : 0;
    if (seg && seg->cell == cell && seg->chrom == chrom && start <= seg_end) {
      seg->n_rows += std::max<int64_t>(0, start + span - seg_end) / tb;
      row = seg->row + (start - seg->start_bp) / tb;
    } else {
      t.segments.push_back({cell, chrom, start, span / tb, t.n_rows});
      row = t.n_rows;
    }
    t.n_rows = t.segments.back().row + t.segments.back().n_rows;
  }
  t.window_row.assign(plan.windows.size(), -1);
  t.window_row2.assign(plan.windows.size(), -1);
  for (size_t k = 0; k < plan.windows.size(); ++k) {
    if (verdicts[k] != kKept) continue;
    const ContactWindow& w = plan.windows[k];
    t.window_row[k] = row_of[{w.cell, w.chrom, w.start_bp}];
    t.window_row2[k] = row_of[{w.cell, w.chrom, ds.samples[k].start2_bp}];
  }
  return t;
}

TrackLayout lay_out_tracks(const PrepConfig& cfg, const PrepPlan& plan, const std::vector<uint8_t>& verdicts) {
  TrackLayout t;
  const int64_t span = cfg.anchor_bp(), tb = cfg.track_bin_bp;
  t.window_row.assign(plan.windows.size(), -1);
  t.new_row.assign(plan.windows.size(), -1);
  for (size_t k = 0; k < plan.windows.size(); ++k) {
    if (verdicts[k] != kKept) continue;
    const ContactWindow& w = plan.windows[k];
    TrackLayout::Segment* seg = t.segments.empty() ? nullptr : &t.segments.back();
    int64_t seg_end = seg ? seg->start_bp + seg->n_rows * tb : 0;
    if (seg && seg->cell == w.cell && seg->chrom == w.chrom && w.start_bp >= seg->start_bp && w.start_bp <= seg_end) {
      int64_t end = w.start_bp + span;
      int64_t added = std::max<int64_t>(0, end - seg_end) / tb;
      t.new_row[k] = seg->row + seg->n_rows;
      seg->n_rows += added;
      t.window_row[k] = seg->row + (w.start_bp - seg->start_bp) / tb;
    } else {
      t.segments.push_back({w.cell, w.chrom, w.start_bp, span / tb, t.n_rows});
      t.window_row[k] = t.n_rows;
      t.new_row[k] = t.n_rows;
    }
    t.n_rows = t.segments.back().row + t.segments.back().n_rows;
  }
  return t;
}

// Bins the rows [row_lo, row_hi) of the layout (they may span several segments).
void bin_rows(const TrackBinner& binner, const PrepConfig& cfg, const TrackLayout& t, int64_t row_lo, int64_t row_hi,
              float* out) {
  const int64_t T = binner.n_tracks();
  for (const auto& s : t.segments) {
    int64_t a = std::max(row_lo, s.row), b = std::min(row_hi, s.row + s.n_rows);
    if (a >= b) continue;
    binner.bin(s.cell, s.chrom, s.start_bp + (a - s.row) * cfg.track_bin_bp, b - a, out + (a - row_lo) * T);
  }
}

std::string temp_name(const MpiWorld& world, const std::string& output) {
  long pid = static_cast<long>(getpid());
  MIXHIC_MPI_CHECK(MPI_Bcast(&pid, 1, MPI_LONG, 0, world.comm));
  return fmt::format("{}.tmp-{}", output, pid);
}

}  // namespace

// Logs how long each phase took on rank 0 (the progress a user sees, and the profile the
// benchmark reads).
class PhaseClock {
 public:
  void done(const char* phase) {
    auto now = Clock::now();
    log::info("{:<28} {:.3f} s", phase, std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }

 private:
  Clock::time_point last_ = Clock::now();
};

PrepStats run_prep(const MpiWorld& world, const PrepConfig& cfg, const PrepRun& run) {
  const auto t0 = Clock::now();
  PhaseClock phase;
  const bool root = world.rank == 0;
  PrepPlan plan;
  DownstreamPlan ds;
  agree(world, [&] {
    test_fault_point(world, "plan");
    // The output location first: a missing or read-only directory fails now, not after ICE.
    if (root) check_output_file(cfg.output, "output");
    plan = make_plan(cfg);
    if (cfg.samples != "tiles") ds = plan_downstream(cfg, plan);
  });
  const bool downstream = cfg.samples != "tiles", pairs = cfg.samples == "loops";
  const int64_t W = cfg.window_bins, A = cfg.track_bins_per_anchor();
  // the stored Hi-C values per sample: the packed triangle on the diagonal, W x W for pairs
  const int64_t n_tri = pairs ? W * W : corpus::triangle_size(W);
  const int64_t T = static_cast<int64_t>(plan.track_names.size());
  const int64_t n_windows = static_cast<int64_t>(plan.windows.size());
  log::info("{} cells x {} tracks, {} {} of {}x{} bins at {} bp on {} rank(s)", plan.cells.size(), T, n_windows,
            downstream ? cfg.samples + " samples" : "windows", W, W, cfg.resolution, world.size);
  if (downstream)
    log::info("{}: {} input records; dropped {} inter-chromosomal, {} outside the distance range, {} whose window leaves "
              "the chromosome/regions, {} on other chromosomes, {} duplicates",
              cfg.samples, ds.n_input, ds.n_dropped_inter, ds.n_dropped_distance, ds.n_dropped_outside,
              ds.n_dropped_unknown, ds.n_duplicates);

  // Input checksums take one pass over every input; rank 0 does it while the ranks extract.
  std::vector<std::string> input_paths, input_roles, input_cells, input_names;
  for (auto& cell : plan.cells) {
    input_paths.push_back(cell.hic->path());
    input_roles.push_back("hic");
    input_cells.push_back(cell.name);
    input_names.push_back(cell.hic->group());
    for (size_t t = 0; t < cell.track_paths.size(); ++t) {
      input_paths.push_back(cell.track_paths[t]);
      input_roles.push_back("track");
      input_cells.push_back(cell.name);
      input_names.push_back(plan.track_names[t]);
    }
  }
  for (const auto& line : cfg.loops) {  // validated by plan_downstream: "CELL PATH"
    std::istringstream in(line);
    std::string cell, path;
    in >> cell >> path;
    if (!pairs) break;
    input_paths.push_back(path);
    input_roles.push_back("loops");
    input_cells.push_back(cell);
    input_names.push_back("");
  }
  if (cfg.samples == "tss") {
    input_paths.push_back(cfg.genes);
    input_roles.push_back("genes");
    input_cells.push_back("");
    input_names.push_back("");
    for (size_t c = 0; c < plan.cells.size(); ++c) {
      input_paths.push_back(ds.expression_paths[c]);
      input_roles.push_back("expression");
      input_cells.push_back(plan.cells[c].name);
      input_names.push_back("");
    }
  }
  if (!cfg.blacklist.empty()) {
    input_paths.push_back(cfg.blacklist);
    input_roles.push_back("blacklist");
    input_cells.push_back("");
    input_names.push_back("");
  }
  std::future<std::vector<std::string>> checksums;
  if (root && cfg.input_checksums)
    checksums = std::async(std::launch::async, [input_paths] {
      std::vector<std::string> out;
      for (auto& p : input_paths) out.push_back(hex64(hash_file(p)));
      return out;
    });

  agree(world, [&] {
    if (!root) return;
    // An upper bound: every enumerated window kept. Diagonal windows of one (cell, extent)
    // share track rows (each adds at most a stride's worth); downstream anchors may not.
    const int64_t rows_per_sample = downstream ? A * (pairs ? 2 : 1) : std::min(A, std::max<int64_t>(1, cfg.stride_bp / cfg.track_bin_bp));
    const int64_t shared_rows = downstream ? 0 : A * int64_t(plan.cells.size() * plan.extents.size());
    const int64_t bytes = n_windows * (n_tri * 4 + 64 + rows_per_sample * T * 4) + shared_rows * T * 4 + (1 << 20);
    const std::filesystem::path dir = std::filesystem::path(cfg.output).parent_path();
    check_free_space(dir.empty() ? std::string(".") : dir.string(), bytes,
                     fmt::format("the corpus (an upper bound: all {} enumerated windows kept)", n_windows));
  });
  phase.done("plan (open inputs)");
  ContactNormalizer norm(world, cfg, plan);
  phase.done("normalisation statistics");

  // 1. Windows: this rank's contiguous block, filters applied.
  Block mine = block_of(n_windows, world.rank, world.size);
  // Reading is rank-local: a corrupt block is reported once, by the lowest rank that meets it.
  ExtractedWindows ex;
  agree(world, [&] { ex = extract_windows(cfg, plan, norm, mine, ds); });
  phase.done("windows (read, filter)");
  log::info("  of which pixel reads          {:.3f} s", ex.read_seconds);
  std::vector<uint8_t> verdicts = allgather_bytes(world, ex.verdict);
  if (pairs) {
    // Negatives beyond negatives-per-positive x kept positives are dropped from what this rank
    // extracted (the choice depends on every rank's verdicts, so it follows the allgather).
    std::vector<uint8_t> kept(verdicts.size());
    for (size_t k = 0; k < kept.size(); ++k) kept[k] = verdicts[k] == kKept;
    std::vector<uint8_t> store = cap_negatives(cfg, plan, ds, kept);
    ExtractedWindows capped;
    size_t j = 0;
    for (int64_t k = mine.begin; k < mine.end; ++k) {
      if (verdicts[k] != kKept) continue;
      if (store[k]) {
        capped.hic.insert(capped.hic.end(), ex.hic.begin() + j * n_tri, ex.hic.begin() + (j + 1) * n_tri);
        capped.nonzero_frac.push_back(ex.nonzero_frac[j]);
        capped.masked.push_back(ex.masked[j]);
      }
      ++j;
    }
    ex.hic.swap(capped.hic);
    ex.nonzero_frac.swap(capped.nonzero_frac);
    ex.masked.swap(capped.masked);
    for (size_t k = 0; k < kept.size(); ++k)
      if (kept[k] && !store[k]) verdicts[k] = kSurplus;
  }
  int64_t counts[kReasons] = {0};
  for (uint8_t v : verdicts) ++counts[v];
  const int64_t n_kept = counts[kKept];
  agree(world, [&] {
    if (n_kept == 0)
      throw Error(fmt::format("no window left after the filters: {} enumerated, {} with < {} non-zero pixels, "
                              "{} with masked bins, {} non-finite, {} on the blacklist (check regions, resolution, "
                              "balance and min-nonzero-fraction)",
                              n_windows, counts[kSparse], cfg.min_nonzero_fraction, counts[kMasked], counts[kNonfinite],
                              counts[kBlacklist]));
  });

  // 2. Track rows: every rank knows the layout; it bins the rows its windows span and writes the
  // rows its windows add first.
  TrackLayout layout = downstream ? lay_out_anchors(cfg, plan, ds, verdicts) : lay_out_tracks(cfg, plan, verdicts);
  std::vector<int64_t> my_kept;
  for (int64_t k = mine.begin; k < mine.end; ++k)
    if (verdicts[k] == kKept) my_kept.push_back(k);
  int64_t span_lo = 0, span_hi = 0, write_lo = 0, write_hi = 0;
  if (downstream) {
    // Anchors of downstream samples are not in row order: each rank writes an even block of
    // rows, and separately bins the span its own samples' anchors cover (for their digests).
    Block rows_block = block_of(layout.n_rows, world.rank, world.size);
    write_lo = rows_block.begin;
    write_hi = rows_block.end;
    if (!my_kept.empty()) {
      span_lo = layout.n_rows;
      for (int64_t k : my_kept) {
        span_lo = std::min({span_lo, layout.window_row[k], layout.window_row2[k]});
        span_hi = std::max({span_hi, layout.window_row[k] + A, layout.window_row2[k] + A});
      }
    }
  } else if (!my_kept.empty()) {
    span_lo = layout.window_row[my_kept.front()];
    span_hi = layout.window_row[my_kept.back()] + A;
    write_lo = layout.new_row[my_kept.front()];
    write_hi = span_hi;
  } else {
    // Own nothing: write an empty range at the position of the next rows.
    int64_t next = 0;
    for (int64_t k = 0; k < mine.begin; ++k)
      if (verdicts[k] == kKept) next = layout.window_row[k] + A;
    span_lo = span_hi = write_lo = write_hi = next;
  }
  TrackBinner binner(cfg, plan);
  std::vector<float> rows((span_hi - span_lo) * T), block_rows;
  agree(world, [&] {
    bin_rows(binner, cfg, layout, span_lo, span_hi, rows.data());
    if (downstream) {
      block_rows.resize((write_hi - write_lo) * T);
      bin_rows(binner, cfg, layout, write_lo, write_hi, block_rows.data());
    }
  });
  // The rows this rank writes (and sums for the z-score).
  auto written = [&](int64_t r, int64_t t) -> float& {
    return downstream ? block_rows[(r - write_lo) * T + t] : rows[(r - span_lo) * T + t];
  };

  phase.done("track bins");
  std::vector<double> track_mean(T, 0.0), track_std(T, 1.0);
  if (cfg.track_zscore) {
    double local_max = 0;
    for (int64_t r = write_lo; r < write_hi; ++r)
      for (int64_t t = 0; t < T; ++t) {
        double v = written(r, t);
        local_max = std::max({local_max, std::fabs(v), v * v});
      }
    FixedPoint fp(global_max_abs(world, local_max));
    std::vector<Fixed128> acc(2 * T, 0);
    for (int64_t r = write_lo; r < write_hi; ++r)
      for (int64_t t = 0; t < T; ++t) {
        double v = written(r, t);
        acc[t] += fp.to_fixed(v);
        acc[T + t] += fp.to_fixed(v * v);
      }
    allreduce_fixed(world, acc);
    for (int64_t t = 0; t < T; ++t) {
      double n = double(layout.n_rows);
      track_mean[t] = fp.to_double(acc[t]) / n;
      double var = fp.to_double(acc[T + t]) / n - track_mean[t] * track_mean[t];
      track_std[t] = var > 0 ? std::sqrt(var) : 1.0;
    }
    for (size_t i = 0; i < rows.size(); ++i)
      rows[i] = static_cast<float>((rows[i] - track_mean[i % T]) / track_std[i % T]);
    for (size_t i = 0; i < block_rows.size(); ++i)
      block_rows[i] = static_cast<float>((block_rows[i] - track_mean[i % T]) / track_std[i % T]);
  }

  // 3. Sample metadata and digests (for corpus-id).
  const int64_t my_n = static_cast<int64_t>(my_kept.size());
  std::vector<int16_t> s_cell(my_n);
  std::vector<int32_t> s_chrom(my_n);
  std::vector<int64_t> s_start(my_n), s_row(my_n), s_start2(my_n), s_row2(my_n);
  std::vector<int8_t> s_split(my_n);
  std::vector<int64_t> digests(my_n);
  std::vector<float> s_target(cfg.samples == "tss" ? my_n * W : 0);
  // Rank-local (the expression bigWig is read here for tss): agreed, so an error is one line.
  agree(world, [&] {
    for (int64_t s = 0; s < my_n; ++s) {
      const int64_t k = my_kept[s];
      const ContactWindow& w = plan.windows[k];
      corpus::SampleMeta m;
      m.cell = w.cell;
      m.chrom = w.chrom;
      m.start1_bp = m.start2_bp = w.start_bp;
      m.track_row1 = m.track_row2 = layout.window_row[k];
      m.split = static_cast<int8_t>(plan.chroms[w.chrom].split);
      if (downstream) {
        m.start2_bp = ds.samples[k].start2_bp;
        m.track_row2 = layout.window_row2[k];
        m.split = ds.samples[k].split;
      }
      m.nonzero_frac = ex.nonzero_frac[s];
      m.masked_bins = ex.masked[s];
      s_cell[s] = m.cell;
      s_chrom[s] = m.chrom;
      s_start[s] = m.start1_bp;
      s_start2[s] = m.start2_bp;
      s_row[s] = m.track_row1;
      s_row2[s] = m.track_row2;
      s_split[s] = m.split;
      // What else the sample stores enters its digest too (CORPUS_SCHEMA.md "corpus-id").
      corpus::SampleExtras extras;
      if (pairs) extras = corpus::SampleExtras{ds.samples[k].label, ds.samples[k].anchor1_bp, ds.samples[k].anchor2_bp};
      if (cfg.samples == "tss") {
        float* target = &s_target[s * W];
        const auto& d = ds.samples[k];
        ds.expression[w.cell].bin_means(ds.expression_chrom[w.cell][w.chrom], w.start_bp, cfg.resolution, W, target);
        for (int64_t b = 0; b < W; ++b) target[b] = static_cast<float>(std::log2(1.0 + double(target[b])));
        extras.target = target;
        extras.n_target = W;
        extras.tss_bp = d.tss_bp;
        extras.gene = d.gene;
      }
      const float* tracks2 = m.track_row2 != m.track_row1 ? &rows[(m.track_row2 - span_lo) * T] : nullptr;
      digests[s] = static_cast<int64_t>(corpus::sample_digest(&ex.hic[s * n_tri], n_tri, m,
                                                              &rows[(m.track_row1 - span_lo) * T], tracks2, A * T,
                                                              downstream ? &extras : nullptr));
    }
  });
  std::vector<int64_t> all_digests = allgather_i64(world, digests);
  corpus::Geometry geo{cfg.resolution, W, cfg.stride_bp, cfg.track_bin_bp, A, T};
  std::vector<uint64_t> udigests(all_digests.begin(), all_digests.end());
  const std::string corpus_id = hex64(corpus::corpus_id(geo, udigests));
  Placement at = place(world, my_n);
  phase.done("digests, corpus-id");

  // 4. Write: every rank opens the temporary file with MPI-IO; datasets are created by all
  // ranks (collective metadata), bulk data written collectively, small tables by rank 0.
  const std::string tmp = temp_name(world, cfg.output);
  remove_on_failure(tmp);
  {
    h5::Handle f = h5::create(tmp, &world.comm);
    h5::set_attr(f, "format", corpus::kFormat);
    h5::set_attr(f, "format-version", corpus::kFormatVersion);
    h5::set_attr(f, "corpus-id", corpus_id);
    h5::set_attr(f, "sample-kind", pairs ? "pair" : "diagonal");
    h5::set_attr(f, "sample-source", cfg.samples);
    h5::set_attr(f, "created-by", "mixhic-prep 0.1.0");
    {
      h5::Handle g = h5::create_group(f, "geometry");
      h5::set_attr(g, "hic-bin-bp", cfg.resolution);
      h5::set_attr(g, "window-bins", W);
      h5::set_attr(g, "stride-bp", cfg.stride_bp);
      h5::set_attr(g, "track-bin-bp", cfg.track_bin_bp);
      h5::set_attr(g, "track-bins-per-anchor", A);
      h5::set_attr(g, "hic-layout", pairs ? "full" : "upper-triangle");
    }
    const int64_t C = static_cast<int64_t>(plan.cells.size()), K = static_cast<int64_t>(plan.chroms.size());
    std::vector<std::string> cell_names, hic_files, chrom_names;
    std::vector<int64_t> chrom_len;
    std::vector<int8_t> chrom_split;
    for (auto& c : plan.cells) {
      cell_names.push_back(c.name);
      hic_files.push_back(c.hic_uri);
    }
    for (auto& c : plan.chroms) {
      chrom_names.push_back(c.name);
      chrom_len.push_back(c.length);
      chrom_split.push_back(static_cast<int8_t>(c.split));
    }
    h5::write_strings(f, "cells/name", cell_names, root);
    h5::write_strings(f, "cells/hic_file", hic_files, root);
    h5::write_strings(f, "chroms/name", chrom_names, root);
    h5::write_1d(f, "chroms/length", chrom_len, {}, root);
    h5::write_1d(f, "chroms/split", chrom_split, {}, root);
    h5::write_strings(f, "tracks/name", plan.track_names, root);
    {
      std::vector<int16_t> sc;
      std::vector<int32_t> sch;
      std::vector<int64_t> ss, sn, sr;
      for (auto& s : layout.segments) {
        sc.push_back(s.cell);
        sch.push_back(s.chrom);
        ss.push_back(s.start_bp);
        sn.push_back(s.n_rows);
        sr.push_back(s.row);
      }
      h5::write_1d(f, "tracks/segments/cell", sc, {}, root);
      h5::write_1d(f, "tracks/segments/chrom", sch, {}, root);
      h5::write_1d(f, "tracks/segments/start_bp", ss, {}, root);
      h5::write_1d(f, "tracks/segments/n_rows", sn, {}, root);
      h5::write_1d(f, "tracks/segments/row", sr, {}, root);
    }
    {
      h5::Handle sig = h5::create_dataset(f, corpus::kTrackSignal, H5T_NATIVE_FLOAT, {hsize_t(layout.n_rows), hsize_t(T)});
      h5::write_rows(sig.get(), write_lo, write_hi - write_lo,
                     downstream ? block_rows.data() : rows.data() + (write_lo - span_lo) * T, kCollectiveWrites);
    }
    auto samples = [&](const char* name, hid_t type, const auto& data, int64_t width) {
      std::vector<hsize_t> dims{hsize_t(at.total)};
      if (width > 1) dims.push_back(hsize_t(width));
      h5::Handle d = h5::create_dataset(f, name, type, dims);
      h5::write_rows(d.get(), at.offset, my_n, data.data(), kCollectiveWrites);
    };
    samples(corpus::kSampleHic, H5T_NATIVE_FLOAT, ex.hic, n_tri);
    samples(corpus::kSampleCell, H5T_NATIVE_INT16, s_cell, 1);
    samples(corpus::kSampleChrom, H5T_NATIVE_INT32, s_chrom, 1);
    samples(corpus::kSampleStart1, H5T_NATIVE_INT64, s_start, 1);
    samples(corpus::kSampleStart2, H5T_NATIVE_INT64, s_start2, 1);
    samples(corpus::kSampleTrackRow1, H5T_NATIVE_INT64, s_row, 1);
    samples(corpus::kSampleTrackRow2, H5T_NATIVE_INT64, s_row2, 1);
    samples(corpus::kSampleSplit, H5T_NATIVE_INT8, s_split, 1);
    samples(corpus::kSampleNonzero, H5T_NATIVE_FLOAT, ex.nonzero_frac, 1);
    samples(corpus::kSampleMasked, H5T_NATIVE_INT16, ex.masked, 1);
    if (downstream) {
      // Per-sample annotations every rank knows from the plan: rank 0 writes them whole.
      std::vector<int8_t> label;
      std::vector<int64_t> anchor1, anchor2, tss;
      std::vector<std::string> gene;
      for (size_t k = 0; k < plan.windows.size(); ++k) {
        if (verdicts[k] != kKept) continue;
        label.push_back(ds.samples[k].label);
        anchor1.push_back(ds.samples[k].anchor1_bp);
        anchor2.push_back(ds.samples[k].anchor2_bp);
        tss.push_back(ds.samples[k].tss_bp);
        gene.push_back(ds.samples[k].gene);
      }
      if (pairs) {
        h5::write_1d(f, corpus::kSampleLabel, label, {}, root);
        h5::write_1d(f, corpus::kSampleAnchor1, anchor1, {}, root);
        h5::write_1d(f, corpus::kSampleAnchor2, anchor2, {}, root);
      } else {
        samples(corpus::kSampleTarget, H5T_NATIVE_FLOAT, s_target, W);
        h5::write_1d(f, corpus::kSampleTss, tss, {}, root);
        h5::write_strings(f, corpus::kSampleGene, gene, root);
      }
    }
    {
      std::vector<int64_t> split_idx[3];
      int64_t index = 0;
      for (size_t k = 0; k < plan.windows.size(); ++k)
        if (verdicts[k] == kKept)
          split_idx[downstream ? int(ds.samples[k].split) : int(plan.chroms[plan.windows[k].chrom].split)].push_back(index++);
      h5::write_1d(f, "splits/train", split_idx[0], {}, root);
      h5::write_1d(f, "splits/val", split_idx[1], {}, root);
      h5::write_1d(f, "splits/test", split_idx[2], {}, root);
      h5::Handle g = h5::open_group(f, "splits");
      h5::set_attr(g, "val-chroms", cfg.val_chroms);
      h5::set_attr(g, "test-chroms", cfg.test_chroms);
    }
    {
      h5::Handle g = h5::create_group(f, "normalization");
      h5::set_attr(g, "hic-balance", cfg.balance);
      h5::set_attr(g, "hic-transform", cfg.hic_transform);
      h5::set_attr(g, "reference-clamp", cfg.reference_clamp);
      h5::set_attr(g, "track-transform", cfg.track_transform);
      h5::set_attr(g, "track-zscore", int64_t(cfg.track_zscore));
      h5::set_attr(g, "track-uncovered", "zero");
      std::vector<double> scale, expected;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t k = 0; k < K; ++k) {
          scale.push_back(norm.cell(int(c)).chrom_scale[k]);
          for (int64_t d = 0; d < W; ++d)
            expected.push_back(norm.cell(int(c)).expected.empty() ? 0.0 : norm.cell(int(c)).expected[k][d]);
        }
      h5::Handle ds = h5::create_dataset(g, "chrom_scale", H5T_NATIVE_DOUBLE, {hsize_t(C), hsize_t(K)});
      h5::Handle de = h5::create_dataset(g, "expected", H5T_NATIVE_DOUBLE, {hsize_t(C), hsize_t(K), hsize_t(W)});
      if (root) {
        MIXHIC_H5_CHECK(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, scale.data()));
        MIXHIC_H5_CHECK(H5Dwrite(de, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, expected.data()));
      }
      h5::write_1d(g, "track_mean", track_mean, {}, root);
      h5::write_1d(g, "track_std", track_std, {}, root);
      std::vector<std::string> rules;
      for (int64_t c = 0; c < C; ++c) rules.push_back(norm.cell(int(c)).balance_rule);
      h5::write_strings(g, "hic_balance_rule", rules, root);
      if (cfg.balance == "ice") {
        for (int64_t c = 0; c < C; ++c) {
          const IceResult& ice = norm.cell(int(c)).ice;
          h5::set_attr(g, fmt::format("ice-{}", plan.cells[c].name),
                       fmt::format("iterations={} variance={:.6g} scale={:.10g} converged={} masked_bins={}", ice.iterations,
                                   ice.variance, ice.scale, ice.converged ? "yes" : "no", ice.masked_bins));
        }
      }
    }
    {
      h5::Handle g = h5::create_group(f, "filters");
      h5::set_attr(g, "min-nonzero-fraction", cfg.min_nonzero_fraction);
      h5::set_attr(g, "max-masked-bins", cfg.max_masked_bins);
      h5::set_attr(g, "max-blacklist-fraction", cfg.max_blacklist_fraction);
      h5::set_attr(g, "blacklist", cfg.blacklist);
      h5::set_attr(g, "n-enumerated", n_windows);
      h5::set_attr(g, "n-kept", n_kept);
      h5::set_attr(g, "n-rejected-sparse", counts[kSparse]);
      h5::set_attr(g, "n-rejected-nonfinite", counts[kNonfinite]);
      h5::set_attr(g, "n-rejected-masked", counts[kMasked]);
      h5::set_attr(g, "n-rejected-blacklist", counts[kBlacklist]);
      if (downstream) {
        int64_t n_pos = 0;
        for (size_t k = 0; k < plan.windows.size(); ++k) n_pos += verdicts[k] == kKept && ds.samples[k].label;
        h5::set_attr(g, "n-input-records", ds.n_input);
        h5::set_attr(g, "n-dropped-interchromosomal", ds.n_dropped_inter);
        h5::set_attr(g, "n-dropped-distance", ds.n_dropped_distance);
        h5::set_attr(g, "n-dropped-outside", ds.n_dropped_outside);
        h5::set_attr(g, "n-dropped-other-chrom", ds.n_dropped_unknown);
        h5::set_attr(g, "n-duplicates", ds.n_duplicates);
        if (pairs) {
          h5::set_attr(g, "n-surplus-negatives", counts[kSurplus]);
          h5::set_attr(g, "n-positives", n_pos);
          h5::set_attr(g, "n-negatives", n_kept - n_pos);
        }
      }
    }
    {
      h5::Handle g = h5::create_group(f, "provenance");
      h5::set_attr(g, "command-line", run.command_line);
      h5::set_attr(g, "config", run.config_text);
      h5::set_attr(g, "ranks", int64_t(world.size));
      std::vector<std::string> sums(input_paths.size(), "not computed");
      std::vector<int64_t> sizes(input_paths.size(), -1);
      if (root) {
        if (checksums.valid()) sums = checksums.get();
        for (size_t i = 0; i < input_paths.size(); ++i) {
          FILE* fp = std::fopen(input_paths[i].c_str(), "rb");
          if (fp) {
            std::fseek(fp, 0, SEEK_END);
            sizes[i] = std::ftell(fp);
            std::fclose(fp);
          }
        }
      }
      // Strings are fixed width: every rank must create the same datatype, so pad to the
      // widest possible checksum text ("not computed" or 16 hex digits) on every rank.
      for (auto& s : sums) s.resize(16, ' ');
      h5::write_strings(g, "inputs/role", input_roles, root);
      h5::write_strings(g, "inputs/cell", input_cells, root);
      h5::write_strings(g, "inputs/name", input_names, root);
      h5::write_strings(g, "inputs/path", input_paths, root);
      h5::write_1d(g, "inputs/size_bytes", sizes, {}, root);
      h5::write_strings(g, "inputs/checksum", sums, root);
    }
    // `h5dump -H` should explain the tree without the schema document at hand.
    const std::pair<const char*, const char*> descriptions[] = {
        {"/", "mixhic training corpus: aligned Hi-C windows and epigenomic track bins; spec: dataprep/CORPUS_SCHEMA.md"},
        {"geometry", "window geometry every reader must take from here: bin sizes, window side, stride"},
        {"cells", "cell types, in config order; samples/cell indexes this table"},
        {"chroms", "chromosomes with their length (bp) and split (0 train, 1 val, 2 test)"},
        {"tracks", "track names; signal = (rows, tracks) float32 track bins, stored once per segment"},
        {"tracks/segments", "runs of consecutive signal rows covering one genomic interval of one cell"},
        {"samples", "one row per window: hic = packed upper triangle (W*(W+1)/2 float32), metadata, track rows"},
        {"splits", "sample indices of each split, ascending"},
        {"normalization", "how counts and tracks became stored values, with the statistics used"},
        {"filters", "window filters and how many windows each rejected"},
        {"provenance", "command line, resolved config, input files with sizes and checksums"},
    };
    for (const auto& [path, text] : descriptions) {
      h5::Handle g = h5::open_group(f, path);
      h5::set_attr(g, "description", text);
    }
  }  // collective close
  MIXHIC_MPI_CHECK(MPI_Barrier(world.comm));
  phase.done("write (parallel HDF5)");
  if (root && std::rename(tmp.c_str(), cfg.output.c_str()) != 0)
    throw Error(fmt::format("{}: cannot rename {} into place: {}", cfg.output, tmp, std::strerror(errno)));
  keep_on_failure(tmp);
  MIXHIC_MPI_CHECK(MPI_Barrier(world.comm));

  PrepStats stats;
  stats.enumerated = n_windows;
  stats.kept = n_kept;
  stats.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  stats.corpus_id = corpus_id;
  return stats;
}

}  // namespace mixhic::prep
