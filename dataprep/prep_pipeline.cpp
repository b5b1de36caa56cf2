// prep_pipeline.cpp — see prep_pipeline.hpp. run_prep is the sequence of stages; each stage
// below is a function of what the earlier ones produced, and the corpus itself is written by
// CorpusWriter (src/io/corpus_writer.cpp), the write side of the corpus format.
#include "prep_pipeline.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
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
#include "mixhic/corpus_writer.hpp"
#include "mixhic/exact_sum.hpp"
#include "mixhic/hash.hpp"
#include "mixhic/log.hpp"
#include "mixhic/output_files.hpp"
#include "mixhic/task.hpp"
#include "track_binner.hpp"
#include "window_plan.hpp"

namespace mixhic::prep {

namespace {

using Clock = std::chrono::steady_clock;

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

// What the filters look at in one sample's W x W window, from the balanced counts.
struct WindowCounts {
  int64_t masked_bins = 0;  // distinct bins of the rows and columns whose weight is NaN
  bool nonfinite = false;   // a non-finite pixel outside the masked bins' rows and columns
  double nonzero_frac = 0;  // finite non-zero pixels / (W * W)
};

// The filter ladder of every sample, diagonal or pair: the first failing rule is the verdict
// (masked bins, then non-finite pixels, sparsity, blacklist overlap of the rows' or the columns'
// span), so each rejected window is counted under one reason.
uint8_t filter_verdict(const PrepConfig& cfg, const PrepPlan& plan, const ContactWindow& w, int64_t start2_bp,
                       const WindowCounts& c) {
  if (c.masked_bins > cfg.max_masked_bins) return kMasked;
  if (c.nonfinite) return kNonfinite;
  if (c.nonzero_frac < cfg.min_nonzero_fraction) return kSparse;
  if (!plan.blacklist.empty()) {
    const std::string& chrom = plan.chroms[w.chrom].name;
    const int64_t span = cfg.window_bins * cfg.resolution;
    double covered = blacklist_fraction(plan, chrom, w.start_bp, w.start_bp + span);
    if (start2_bp != w.start_bp) covered = std::max(covered, blacklist_fraction(plan, chrom, start2_bp, start2_bp + span));
    if (covered > cfg.max_blacklist_fraction) return kBlacklist;
  }
  return kKept;
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
  WindowCounts counts;
  counts.masked_bins = static_cast<int64_t>(masked_bins.size());
  int64_t nonzero = 0;
  for (int64_t a = 0; a < W; ++a)
    for (int64_t b = 0; b < W; ++b) {
      double v = raw[a * W + b] * norm.weight(c, w.bin + a) * norm.weight(c, pair.bin2 + b);
      raw[a * W + b] = v;
      bool masked_pixel = norm.masked(c, w.bin + a) || norm.masked(c, pair.bin2 + b);
      if (!std::isfinite(v) && !masked_pixel) counts.nonfinite = true;
      if (std::isfinite(v) && v != 0) ++nonzero;
    }
  counts.nonzero_frac = double(nonzero) / double(W * W);
  verdict_out = filter_verdict(cfg, plan, w, pair.start2_bp, counts);
  if (verdict_out != kKept) return;
  const int64_t offset = pair.bin2 - w.bin;
  for (int64_t a = 0; a < W; ++a)
    for (int64_t b = 0; b < W; ++b) {
      double v = raw[a * W + b];
      out.hic.push_back(std::isfinite(v) ? static_cast<float>(norm.transform(c, w.chrom, std::llabs(offset + b - a), v)) : 0.0f);
    }
  out.nonzero_frac.push_back(static_cast<float>(counts.nonzero_frac));
  out.masked.push_back(static_cast<int16_t>(counts.masked_bins));
}

// Reads the diagonal band of the Hi-C rows the rank's windows cover, chunk by chunk, and turns
// each window into a packed, normalised triangle plus its filter verdict.
ExtractedWindows extract_windows(const PrepConfig& cfg, const PrepPlan& plan, const ContactNormalizer& norm,
                                 Block mine, const DownstreamPlan& ds) {
  const int64_t W = cfg.window_bins, n_tri = corpus::triangle_size(W);
  const int64_t max_rows = std::max<int64_t>(4096, 4 * W);
  ExtractedWindows out;
  out.verdict.assign(mine.size(), kKept);
  if (ds.source == SampleSource::loops) {
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
      WindowCounts counts;
      for (int64_t a = 0; a < W; ++a) counts.masked_bins += norm.masked(c, w.bin + a);
      int64_t nonzero = 0;
      for (int64_t a = 0; a < W; ++a)
        for (int64_t b = a; b < W; ++b) {
          double v = band[(w.bin + a - lo) * W + (b - a)] * norm.weight(c, w.bin + a) * norm.weight(c, w.bin + b);
          win[a * W + b] = v;
          bool masked_pixel = norm.masked(c, w.bin + a) || norm.masked(c, w.bin + b);
          if (!std::isfinite(v) && !masked_pixel) counts.nonfinite = true;
          if (std::isfinite(v) && v != 0) nonzero += (a == b) ? 1 : 2;
        }
      counts.nonzero_frac = double(nonzero) / double(W * W);
      const uint8_t verdict = filter_verdict(cfg, plan, w, w.start_bp, counts);
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
      out.nonzero_frac.push_back(static_cast<float>(counts.nonzero_frac));
      out.masked.push_back(static_cast<int16_t>(counts.masked_bins));
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
  std::vector<corpus::TrackSegment> segments;
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
    corpus::TrackSegment* seg = t.segments.empty() ? nullptr : &t.segments.back();
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
    corpus::TrackSegment* seg = t.segments.empty() ? nullptr : &t.segments.back();
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

// Every input file, in the order /provenance/inputs lists them: each cell's Hi-C and tracks, the
// annotations of the sample source, the blacklist. Sizes and checksums are added on rank 0.
std::vector<InputFile> list_inputs(const PrepConfig& cfg, const PrepPlan& plan, const DownstreamPlan& ds) {
  std::vector<InputFile> inputs;
  auto add = [&](const char* role, const std::string& cell, const std::string& name, const std::string& path) {
    InputFile in;
    in.role = role;
    in.cell = cell;
    in.name = name;
    in.path = path;
    inputs.push_back(in);
  };
  for (auto& cell : plan.cells) {
    add("hic", cell.name, cell.hic->group(), cell.hic->path());
    for (size_t t = 0; t < cell.track_paths.size(); ++t) add("track", cell.name, plan.track_names[t], cell.track_paths[t]);
  }
  if (cfg.sample_source == SampleSource::loops)
    for (const auto& line : cfg.loops) {  // validated by plan_downstream: "CELL PATH"
      std::istringstream in(line);
      std::string cell, path;
      in >> cell >> path;
      add("loops", cell, "", path);
    }
  if (cfg.sample_source == SampleSource::tss) {
    add("genes", "", "", cfg.genes);
    for (size_t c = 0; c < plan.cells.size(); ++c) add("expression", plan.cells[c].name, "", ds.expression_paths[c]);
  }
  if (!cfg.blacklist.empty()) add("blacklist", "", "", cfg.blacklist);
  return inputs;
}

// Input checksums take one pass over every input; rank 0 computes them while the ranks extract.
std::future<std::vector<std::string>> start_checksums(const std::vector<InputFile>& inputs) {
  std::vector<std::string> paths;
  for (const InputFile& in : inputs) paths.push_back(in.path);
  return std::async(std::launch::async, [paths] {
    std::vector<std::string> out;
    for (auto& p : paths) out.push_back(hex64(hash_file(p)));
    return out;
  });
}

// Refuses to start when the output's file system cannot hold the corpus with every enumerated
// window kept (an upper bound). Rank 0 checks; COLLECTIVE (an agreement).
void check_room_for_corpus(const MpiWorld& world, const PrepConfig& cfg, const PrepPlan& plan, int64_t n_hic, int64_t T) {
  const bool downstream = cfg.sample_source != SampleSource::tiles, pairs = cfg.sample_source == SampleSource::loops;
  const int64_t n_windows = static_cast<int64_t>(plan.windows.size()), A = cfg.track_bins_per_anchor();
  agree(world, [&] {
    if (world.rank != 0) return;
    // Diagonal windows of one (cell, extent) share track rows (each adds at most a stride's
    // worth); downstream anchors may not.
    const int64_t rows_per_sample = downstream ? A * (pairs ? 2 : 1) : std::min(A, std::max<int64_t>(1, cfg.stride_bp / cfg.track_bin_bp));
    const int64_t shared_rows = downstream ? 0 : A * int64_t(plan.cells.size() * plan.extents.size());
    const int64_t bytes = n_windows * (n_hic * 4 + 64 + rows_per_sample * T * 4) + shared_rows * T * 4 + (1 << 20);
    const std::filesystem::path dir = std::filesystem::path(cfg.output).parent_path();
    check_free_space(dir.empty() ? std::string(".") : dir.string(), bytes,
                     fmt::format("the corpus (an upper bound: all {} enumerated windows kept)", n_windows));
  });
}

// Loops: negatives beyond negatives-per-positive x kept positives are dropped from what this
// rank extracted and their verdict becomes kSurplus (the choice depends on every rank's
// verdicts, so it follows the allgather).
void drop_surplus_negatives(const PrepConfig& cfg, const PrepPlan& plan, const DownstreamPlan& ds, Block mine,
                            int64_t n_hic, ExtractedWindows& ex, std::vector<uint8_t>& verdicts) {
  std::vector<uint8_t> kept(verdicts.size());
  for (size_t k = 0; k < kept.size(); ++k) kept[k] = verdicts[k] == kKept;
  std::vector<uint8_t> store = cap_negatives(cfg, plan, ds, kept);
  ExtractedWindows capped;
  size_t j = 0;
  for (int64_t k = mine.begin; k < mine.end; ++k) {
    if (verdicts[k] != kKept) continue;
    if (store[k]) {
      capped.hic.insert(capped.hic.end(), ex.hic.begin() + j * n_hic, ex.hic.begin() + (j + 1) * n_hic);
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

// This rank's track rows. Every rank knows the layout; a rank bins the rows its samples' anchors
// span, [span_lo, span_hi) (their digests need them), and writes [write_lo, write_hi) of
// /tracks/signal.
struct TrackRows {
  TrackLayout layout;
  int64_t span_lo = 0, span_hi = 0, write_lo = 0, write_hi = 0;
  std::vector<float> rows;  // [span_lo, span_hi) x T
  // Downstream anchors are not in row order: the rows a rank writes are binned on their own.
  bool separate_block = false;
  std::vector<float> block_rows;  // [write_lo, write_hi) x T, with separate_block
  // Rows [write_lo, write_hi), T floats each.
  float* written(int64_t T) { return separate_block ? block_rows.data() : rows.data() + (write_lo - span_lo) * T; }
};

// COLLECTIVE (binning is an agreement: a bad bigWig fails every rank with one message).
TrackRows bin_track_rows(const MpiWorld& world, const PrepConfig& cfg, const PrepPlan& plan, const DownstreamPlan& ds,
                         Block mine, const std::vector<uint8_t>& verdicts, const std::vector<int64_t>& my_kept) {
  const bool downstream = cfg.sample_source != SampleSource::tiles;
  const int64_t A = cfg.track_bins_per_anchor(), T = static_cast<int64_t>(plan.track_names.size());
  TrackRows t;
  t.layout = downstream ? lay_out_anchors(cfg, plan, ds, verdicts) : lay_out_tracks(cfg, plan, verdicts);
  const TrackLayout& layout = t.layout;
  if (downstream) {
    // Each rank writes an even block of rows, and separately bins the span its own samples'
    // anchors cover.
    Block rows_block = block_of(layout.n_rows, world.rank, world.size);
    t.separate_block = true;
    t.write_lo = rows_block.begin;
    t.write_hi = rows_block.end;
    if (!my_kept.empty()) {
      t.span_lo = layout.n_rows;
      for (int64_t k : my_kept) {
        t.span_lo = std::min({t.span_lo, layout.window_row[k], layout.window_row2[k]});
        t.span_hi = std::max({t.span_hi, layout.window_row[k] + A, layout.window_row2[k] + A});
      }
    }
  } else if (!my_kept.empty()) {
    t.span_lo = layout.window_row[my_kept.front()];
    t.span_hi = layout.window_row[my_kept.back()] + A;
    t.write_lo = layout.new_row[my_kept.front()];
    t.write_hi = t.span_hi;
  } else {
    // Own nothing: write an empty range at the position of the next rows.
    int64_t next = 0;
    for (int64_t k = 0; k < mine.begin; ++k)
      if (verdicts[k] == kKept) next = layout.window_row[k] + A;
    t.span_lo = t.span_hi = t.write_lo = t.write_hi = next;
  }
  TrackBinner binner(cfg, plan);
  t.rows.resize((t.span_hi - t.span_lo) * T);
  agree(world, [&] {
    bin_rows(binner, cfg, layout, t.span_lo, t.span_hi, t.rows.data());
    if (t.separate_block) {
      t.block_rows.resize((t.write_hi - t.write_lo) * T);
      bin_rows(binner, cfg, layout, t.write_lo, t.write_hi, t.block_rows.data());
    }
  });
  return t;
}

struct TrackStats {
  std::vector<double> mean, std;  // [track]
};

// track-zscore: each track's mean and std over every stored row (exact fixed-point sums, so any
// rank count gives the same bits), then every binned row standardised. Without it: 0 and 1.
// COLLECTIVE with track-zscore.
TrackStats standardise_tracks(const MpiWorld& world, const PrepConfig& cfg, int64_t T, TrackRows& t) {
  TrackStats stats{std::vector<double>(T, 0.0), std::vector<double>(T, 1.0)};
  if (!cfg.track_zscore) return stats;
  const float* mine = t.written(T);
  auto written = [&](int64_t r, int64_t k) -> double { return mine[(r - t.write_lo) * T + k]; };
  double local_max = 0;
  for (int64_t r = t.write_lo; r < t.write_hi; ++r)
    for (int64_t k = 0; k < T; ++k) {
      double v = written(r, k);
      local_max = std::max({local_max, std::fabs(v), v * v});
    }
  FixedPoint fp(global_max_abs(world, local_max));
  std::vector<Fixed128> acc(2 * T, 0);
  for (int64_t r = t.write_lo; r < t.write_hi; ++r)
    for (int64_t k = 0; k < T; ++k) {
      double v = written(r, k);
      acc[k] += fp.to_fixed(v);
      acc[T + k] += fp.to_fixed(v * v);
    }
  allreduce_fixed(world, acc);
  for (int64_t k = 0; k < T; ++k) {
    double n = double(t.layout.n_rows);
    stats.mean[k] = fp.to_double(acc[k]) / n;
    double var = fp.to_double(acc[T + k]) / n - stats.mean[k] * stats.mean[k];
    stats.std[k] = var > 0 ? std::sqrt(var) : 1.0;
  }
  for (size_t i = 0; i < t.rows.size(); ++i)
    t.rows[i] = static_cast<float>((t.rows[i] - stats.mean[i % T]) / stats.std[i % T]);
  for (size_t i = 0; i < t.block_rows.size(); ++i)
    t.block_rows[i] = static_cast<float>((t.block_rows[i] - stats.mean[i % T]) / stats.std[i % T]);
  return stats;
}

// This rank's kept samples as the corpus stores them, and the digest of each (for corpus-id).
struct SampleRecords {
  std::vector<corpus::SampleMeta> meta;
  std::vector<float> target;     // tss: W floats per sample
  std::vector<int64_t> digests;
};

// COLLECTIVE (an agreement).
SampleRecords describe_samples(const MpiWorld& world, const PrepConfig& cfg, const PrepPlan& plan,
                               const DownstreamPlan& ds, const std::vector<int64_t>& my_kept,
                               const ExtractedWindows& ex, const TrackRows& tracks, int64_t n_hic) {
  const bool downstream = cfg.sample_source != SampleSource::tiles, pairs = cfg.sample_source == SampleSource::loops;
  const bool tss = cfg.sample_source == SampleSource::tss;
  const int64_t W = cfg.window_bins, A = cfg.track_bins_per_anchor(), T = static_cast<int64_t>(plan.track_names.size());
  const int64_t my_n = static_cast<int64_t>(my_kept.size());
  const TrackLayout& layout = tracks.layout;
  const std::vector<float>& rows = tracks.rows;
  SampleRecords out;
  out.meta.resize(my_n);
  out.digests.resize(my_n);
  out.target.resize(tss ? my_n * W : 0);
  // Rank-local (the expression bigWig is read here for tss): agreed, so an error is one line.
  agree(world, [&] {
    for (int64_t s = 0; s < my_n; ++s) {
      const int64_t k = my_kept[s];
      const ContactWindow& w = plan.windows[k];
      corpus::SampleMeta& m = out.meta[s];
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
      // What else the sample stores enters its digest too (CORPUS_SCHEMA.md "corpus-id").
      corpus::SampleExtras extras;
      if (pairs) {
        extras.label = ds.samples[k].label;
        extras.anchor1_bp = ds.samples[k].anchor1_bp;
        extras.anchor2_bp = ds.samples[k].anchor2_bp;
      }
      if (tss) {
        float* target = &out.target[s * W];
        const auto& d = ds.samples[k];
        ds.expression[w.cell].bin_means(ds.expression_chrom[w.cell][w.chrom], w.start_bp, cfg.resolution, W, target);
        for (int64_t b = 0; b < W; ++b) target[b] = static_cast<float>(std::log2(1.0 + double(target[b])));
        extras.target = target;
        extras.n_target = W;
        extras.tss_bp = d.tss_bp;
        extras.gene = d.gene;
      }
      const float* tracks2 = m.track_row2 != m.track_row1 ? &rows[(m.track_row2 - tracks.span_lo) * T] : nullptr;
      out.digests[s] = static_cast<int64_t>(corpus::sample_digest(&ex.hic[s * n_hic], n_hic, m,
                                                                  &rows[(m.track_row1 - tracks.span_lo) * T], tracks2,
                                                                  A * T, downstream ? &extras : nullptr));
    }
  });
  return out;
}

// ---- what the writer records, gathered from the stages ----------------------------------------

CorpusTables tables_of(const PrepPlan& plan, const TrackLayout& layout) {
  CorpusTables t;
  for (auto& c : plan.cells) {
    t.cell_names.push_back(c.name);
    t.hic_files.push_back(c.hic_uri);
  }
  for (auto& c : plan.chroms) {
    t.chrom_names.push_back(c.name);
    t.chrom_lengths.push_back(c.length);
    t.chrom_splits.push_back(static_cast<int8_t>(c.split));
  }
  t.track_names = plan.track_names;
  t.segments = layout.segments;
  return t;
}

// Per-sample annotations every rank knows from the plan (rank 0 writes them whole).
SampleAnnotations annotations_of(const PrepConfig& cfg, const PrepPlan& plan, const DownstreamPlan& ds,
                                 const std::vector<uint8_t>& verdicts) {
  SampleAnnotations a;
  if (cfg.sample_source == SampleSource::tiles) return a;
  for (size_t k = 0; k < plan.windows.size(); ++k) {
    if (verdicts[k] != kKept) continue;
    a.label.push_back(ds.samples[k].label);
    a.anchor1_bp.push_back(ds.samples[k].anchor1_bp);
    a.anchor2_bp.push_back(ds.samples[k].anchor2_bp);
    a.tss_bp.push_back(ds.samples[k].tss_bp);
    a.gene.push_back(ds.samples[k].gene);
  }
  return a;
}

SplitRecord splits_of(const PrepConfig& cfg, const PrepPlan& plan, const DownstreamPlan& ds,
                      const std::vector<uint8_t>& verdicts) {
  const bool downstream = cfg.sample_source != SampleSource::tiles;
  SplitRecord s;
  int64_t index = 0;
  for (size_t k = 0; k < plan.windows.size(); ++k)
    if (verdicts[k] == kKept)
      s.samples[downstream ? int(ds.samples[k].split) : int(plan.chroms[plan.windows[k].chrom].split)].push_back(index++);
  s.val_chroms = cfg.val_chroms;
  s.test_chroms = cfg.test_chroms;
  return s;
}

NormalizationRecord normalization_of(const PrepConfig& cfg, const PrepPlan& plan, const ContactNormalizer& norm,
                                     const TrackStats& tracks) {
  const int64_t C = static_cast<int64_t>(plan.cells.size()), K = static_cast<int64_t>(plan.chroms.size());
  const int64_t W = cfg.window_bins;
  NormalizationRecord n;
  n.hic_balance = cfg.balance;
  n.hic_transform = cfg.hic_transform;
  n.reference_clamp = cfg.reference_clamp;
  n.track_transform = cfg.track_transform;
  n.track_zscore = cfg.track_zscore;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k = 0; k < K; ++k) {
      n.chrom_scale.push_back(norm.cell(int(c)).chrom_scale[k]);
      for (int64_t d = 0; d < W; ++d)
        n.expected.push_back(norm.cell(int(c)).expected.empty() ? 0.0 : norm.cell(int(c)).expected[k][d]);
    }
  n.track_mean = tracks.mean;
  n.track_std = tracks.std;
  for (int64_t c = 0; c < C; ++c) n.balance_rules.push_back(norm.cell(int(c)).balance_rule);
  if (cfg.balance == "ice")
    for (int64_t c = 0; c < C; ++c) {
      const IceResult& ice = norm.cell(int(c)).ice;
      n.ice.emplace_back(plan.cells[c].name,
                         fmt::format("iterations={} variance={:.6g} scale={:.10g} converged={} masked_bins={}", ice.iterations,
                                     ice.variance, ice.scale, ice.converged ? "yes" : "no", ice.masked_bins));
    }
  return n;
}

FilterRecord filters_of(const PrepConfig& cfg, const PrepPlan& plan, const DownstreamPlan& ds,
                        const std::vector<uint8_t>& verdicts, const int64_t (&counts)[kReasons]) {
  FilterRecord f;
  f.min_nonzero_fraction = cfg.min_nonzero_fraction;
  f.max_masked_bins = cfg.max_masked_bins;
  f.max_blacklist_fraction = cfg.max_blacklist_fraction;
  f.blacklist = cfg.blacklist;
  f.enumerated = static_cast<int64_t>(plan.windows.size());
  f.kept = counts[kKept];
  f.rejected_sparse = counts[kSparse];
  f.rejected_nonfinite = counts[kNonfinite];
  f.rejected_masked = counts[kMasked];
  f.rejected_blacklist = counts[kBlacklist];
  if (cfg.sample_source == SampleSource::tiles) return f;
  f.input_records = ds.n_input;
  f.dropped_interchromosomal = ds.n_dropped_inter;
  f.dropped_distance = ds.n_dropped_distance;
  f.dropped_outside = ds.n_dropped_outside;
  f.dropped_other_chrom = ds.n_dropped_unknown;
  f.duplicates = ds.n_duplicates;
  int64_t n_pos = 0;
  for (size_t k = 0; k < plan.windows.size(); ++k) n_pos += verdicts[k] == kKept && ds.samples[k].label;
  f.surplus_negatives = counts[kSurplus];
  f.positives = n_pos;
  f.negatives = counts[kKept] - n_pos;
  return f;
}

// Sizes and checksums are rank 0's (the others pass placeholders it overwrites).
ProvenanceRecord provenance_of(const MpiWorld& world, const PrepRun& run, std::vector<InputFile> inputs,
                               std::future<std::vector<std::string>>& checksums) {
  ProvenanceRecord p;
  p.command_line = run.command_line;
  p.config = run.config_text;
  for (InputFile& in : inputs) in.checksum = "not computed";
  if (world.rank == 0) {
    if (checksums.valid()) {
      std::vector<std::string> sums = checksums.get();
      for (size_t i = 0; i < inputs.size(); ++i) inputs[i].checksum = sums[i];
    }
    for (InputFile& in : inputs) {
      FILE* fp = std::fopen(in.path.c_str(), "rb");
      if (fp) {
        std::fseek(fp, 0, SEEK_END);
        in.size_bytes = std::ftell(fp);
        std::fclose(fp);
      }
    }
  }
  p.inputs = std::move(inputs);
  return p;
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
  const bool downstream = cfg.sample_source != SampleSource::tiles, pairs = cfg.sample_source == SampleSource::loops;
  const char* source = name_of(cfg.sample_source);

  // 0. Plan: every rank opens the inputs and lays out the same windows.
  PrepPlan plan;
  DownstreamPlan ds;
  agree(world, [&] {
    test_fault_point(world, "plan");
    // The output location first: a missing or read-only directory fails now, not after ICE.
    if (root) check_output_file(cfg.output, "output");
    plan = make_plan(cfg);
    if (downstream) ds = plan_downstream(cfg, plan);
  });
  const int64_t W = cfg.window_bins, A = cfg.track_bins_per_anchor();
  // the stored Hi-C values per sample: the packed triangle on the diagonal, W x W for pairs
  const int64_t n_hic = corpus::hic_values(W, corpus::hic_layout_of(cfg.sample_source));
  const int64_t T = static_cast<int64_t>(plan.track_names.size());
  const int64_t n_windows = static_cast<int64_t>(plan.windows.size());
  log::info("{} cells x {} tracks, {} {} of {}x{} bins at {} bp on {} rank(s)", plan.cells.size(), T, n_windows,
            downstream ? std::string(source) + " samples" : "windows", W, W, cfg.resolution, world.size);
  if (downstream)
    log::info("{}: {} input records; dropped {} inter-chromosomal, {} outside the distance range, {} whose window leaves "
              "the chromosome/regions, {} on other chromosomes, {} duplicates",
              source, ds.n_input, ds.n_dropped_inter, ds.n_dropped_distance, ds.n_dropped_outside,
              ds.n_dropped_unknown, ds.n_duplicates);
  std::vector<InputFile> inputs = list_inputs(cfg, plan, ds);
  std::future<std::vector<std::string>> checksums;
  if (root && cfg.input_checksums) checksums = start_checksums(inputs);
  check_room_for_corpus(world, cfg, plan, n_hic, T);
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
  if (pairs) drop_surplus_negatives(cfg, plan, ds, mine, n_hic, ex, verdicts);
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
  std::vector<int64_t> my_kept;
  for (int64_t k = mine.begin; k < mine.end; ++k)
    if (verdicts[k] == kKept) my_kept.push_back(k);

  // 2. Track rows: binned for this rank's samples, standardised with track-zscore.
  TrackRows tracks = bin_track_rows(world, cfg, plan, ds, mine, verdicts, my_kept);
  phase.done("track bins");
  const TrackStats track_stats = standardise_tracks(world, cfg, T, tracks);

  // 3. Sample metadata and digests; corpus-id over every rank's digests in sample order.
  SampleRecords samples = describe_samples(world, cfg, plan, ds, my_kept, ex, tracks, n_hic);
  std::vector<int64_t> all_digests = allgather_i64(world, samples.digests);
  const corpus::Geometry geo{cfg.resolution, W, cfg.stride_bp, cfg.track_bin_bp, A, T};
  std::vector<uint64_t> udigests(all_digests.begin(), all_digests.end());
  const std::string corpus_id = hex64(corpus::corpus_id(geo, udigests));
  phase.done("digests, corpus-id");

  // 4. Write a temporary file with parallel HDF5 (COLLECTIVE: CorpusWriter), then rename it into
  // place: a corpus appears whole or not at all.
  const std::string tmp = temp_name(world, cfg.output);
  remove_on_failure(tmp);
  {
    CorpusWriter out(world, tmp, CorpusHeader{cfg.sample_source, geo, corpus_id});
    out.write_tables(tables_of(plan, tracks.layout));
    out.write_track_rows(tracks.layout.n_rows, tracks.write_lo, tracks.write_hi - tracks.write_lo, tracks.written(T));
    out.write_samples(samples.meta, ex.hic, samples.target);
    test_fault_point(world, "write");  // the kill test pauses here, with the file half-written
    out.write_annotations(annotations_of(cfg, plan, ds, verdicts));
    out.write_splits(splits_of(cfg, plan, ds, verdicts));
    out.write_normalization(normalization_of(cfg, plan, norm, track_stats));
    out.write_filters(filters_of(cfg, plan, ds, verdicts, counts));
    out.write_provenance(provenance_of(world, run, inputs, checksums));
    out.finish();
  }
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
