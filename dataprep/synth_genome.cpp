// synth_genome.cpp — see synth_genome.hpp. Stages, in order:
//   1. genome layout (shared by every cell): A/B compartments, TAD boundaries with CTCF sites,
//      extra CTCF sites, loops between convergent CTCF pairs, promoters, unmappable stretches;
//   2. cell state: flips ~30% of compartments, drops some loops, sets CTCF occupancy and
//      promoter activity from what the cell uses;
//   3. contacts at the finest resolution: power-law decay x TAD x compartment x loop bumps,
//      Poisson-sampled, summed into the coarser resolutions, written as a cooler .mcool;
//   4. tracks: CTCF / ATAC / H3K27ac / H3K27me3 from the same cell state, written as bigWig.
// Randomness comes from independent mt19937_64 streams derived from (seed, cell, chrom, purpose),
// so e.g. changing max_distance_bp leaves the tracks untouched.
#include "synth_genome.hpp"

#include <bigWig.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "mixhic/check.hpp"
#include "mixhic/cool_writer.hpp"
#include "mixhic/h5.hpp"
#include "mixhic/output_files.hpp"
#include "mixhic/rng.hpp"

namespace fs = std::filesystem;

namespace mixhic::prep {

const std::vector<std::string>& synth_track_names() {
  static const std::vector<std::string> names = {"CTCF", "ATAC", "H3K27ac", "H3K27me3"};
  return names;
}

namespace {

// ---- deterministic random numbers -------------------------------------------------------------
// Uniforms and normals are computed by hand from the raw 64-bit engine output so that they do not
// depend on the standard library's distribution algorithms; Poisson uses libstdc++'s.

enum class Stream : uint64_t { kGenome = 1, kCell = 2, kContacts = 3, kTracks = 4, kGenes = 5, kCage = 6 };

uint64_t stream_seed(uint64_t seed, Stream s, uint64_t cell = 0, uint64_t chrom = 0) {
  return splitmix64(splitmix64(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(s))) ^ cell) ^ chrom);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : eng_(seed) {}
  double uniform() { return static_cast<double>(eng_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int64_t uniform_int(int64_t lo, int64_t hi) {  // inclusive
    return std::min(hi, lo + static_cast<int64_t>(uniform() * static_cast<double>(hi - lo + 1)));
  }
  bool chance(double p) { return uniform() < p; }
  double normal() {  // Box-Muller, one value per call
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  // Multiplicative noise of mean 1.
  double lognormal(double sigma) { return std::exp(sigma * (normal() - 0.5 * sigma)); }
  int64_t poisson(double mean) {
    if (!(mean > 0)) return 0;
    std::poisson_distribution<int64_t> d(mean);
    return d(eng_);
  }

 private:
  std::mt19937_64 eng_;
};

// ---- stage 1: the genome layout ---------------------------------------------------------------
// Everything a cell could use. Positions are bp, 0-based.

struct CompartmentSegment {
  int64_t start, end;
  bool active;  // A (true) or B in the reference state; cells flip some
};
struct CtcfSite {
  int64_t pos;
  char strand;      // '+' points downstream, '-' upstream; a loop needs '+' upstream of '-'
  bool boundary;    // sits at a TAD boundary
  double affinity;  // motif strength, (0, 1.5]
};
struct TadBoundary {
  int64_t pos;
};
struct LoopAnchorPair {
  size_t left_site, right_site;  // indices into ChromLayout::sites; '+' then '-'
};
struct BlacklistRegion {
  int64_t start, end;
};

struct ChromLayout {
  std::string name;
  int64_t length = 0;
  std::vector<CompartmentSegment> segments;  // tile [0, length)
  std::vector<TadBoundary> boundaries;       // ascending
  std::vector<CtcfSite> sites;               // ascending by pos
  std::vector<LoopAnchorPair> loops;
  std::vector<int64_t> promoters;          // ascending
  std::vector<BlacklistRegion> blacklist;  // unmappable, ascending
};

constexpr double kMb = 1e6;

// Segments of 300 kb - 1.5 Mb; the state flips at most segment ends ("alternating-ish").
void place_compartments(ChromLayout& c, Rng& rng) {
  bool active = rng.chance(0.5);
  for (int64_t pos = 0; pos < c.length;) {
    int64_t end = pos + rng.uniform_int(300'000, 1'500'000);
    if (c.length - end < 150'000) end = c.length;
    c.segments.push_back({pos, end, active});
    pos = end;
    if (rng.chance(0.75)) active = !active;
  }
}

// TAD boundaries every 150-800 kb. Half carry a divergent CTCF pair ('-' closing the TAD to the
// left, '+' opening the one to the right, which makes corner loops likely), half a single site.
// Further, weaker sites fall inside TADs (~3 per Mb).
void place_tads_and_ctcf(ChromLayout& c, Rng& rng) {
  for (int64_t pos = rng.uniform_int(150'000, 800'000); pos < c.length - 50'000;
       pos += rng.uniform_int(150'000, 800'000)) {
    c.boundaries.push_back({pos});
    if (rng.chance(0.5)) {
      c.sites.push_back({pos - 500, '-', true, rng.uniform(1.0, 1.5)});
      c.sites.push_back({pos + 500, '+', true, rng.uniform(1.0, 1.5)});
    } else {
      c.sites.push_back({pos, rng.chance(0.5) ? '+' : '-', true, rng.uniform(1.0, 1.5)});
    }
  }
  const int64_t n_extra = rng.poisson(3.0 * static_cast<double>(c.length) / kMb);
  for (int64_t k = 0; k < n_extra; ++k)
    c.sites.push_back({rng.uniform_int(0, c.length - 1), rng.chance(0.5) ? '+' : '-', false,
                       rng.uniform(0.3, 1.0)});
  std::stable_sort(c.sites.begin(), c.sites.end(),
                   [](const CtcfSite& a, const CtcfSite& b) { return a.pos < b.pos; });
}

// ~2 loops per Mb between convergent pairs 100 kb - 1 Mb apart, drawn without replacement with
// weight ~ affinity product (boundary-boundary pairs x4: TAD corner dots). Efraimidis-Spirakis
// keys; a candidate within 3 bins of an accepted loop on both anchors is skipped.
void place_loops(ChromLayout& c, Rng& rng) {
  struct Candidate {
    double key;
    LoopAnchorPair pair;
  };
  std::vector<Candidate> cand;
  for (size_t l = 0; l < c.sites.size(); ++l) {
    if (c.sites[l].strand != '+') continue;
    for (size_t r = l + 1; r < c.sites.size(); ++r) {
      const int64_t dist = c.sites[r].pos - c.sites[l].pos;
      if (dist > 1'000'000) break;
      if (c.sites[r].strand != '-' || dist < 100'000) continue;
      double w = c.sites[l].affinity * c.sites[r].affinity;
      if (c.sites[l].boundary && c.sites[r].boundary) w *= 4.0;
      cand.push_back({std::log(1.0 - rng.uniform()) / w, {l, r}});
    }
  }
  std::sort(cand.begin(), cand.end(), [](const Candidate& a, const Candidate& b) {
    return a.key > b.key || (a.key == b.key && a.pair.left_site < b.pair.left_site);
  });
  const size_t target = static_cast<size_t>(std::lround(2.0 * static_cast<double>(c.length) / kMb));
  for (const Candidate& k : cand) {
    if (c.loops.size() >= target) break;
    const auto near = [&](const LoopAnchorPair& o) {
      return std::abs(c.sites[o.left_site].pos - c.sites[k.pair.left_site].pos) < 15'000 &&
             std::abs(c.sites[o.right_site].pos - c.sites[k.pair.right_site].pos) < 15'000;
    };
    if (std::none_of(c.loops.begin(), c.loops.end(), near)) c.loops.push_back(k.pair);
  }
}

// Promoters: ~8 per Mb in reference-A segments, ~2 per Mb in B.
void place_promoters(ChromLayout& c, Rng& rng) {
  for (const CompartmentSegment& s : c.segments) {
    const int64_t n =
        rng.poisson((s.active ? 8.0 : 2.0) * static_cast<double>(s.end - s.start) / kMb);
    for (int64_t k = 0; k < n; ++k) c.promoters.push_back(rng.uniform_int(s.start, s.end - 1));
  }
  std::sort(c.promoters.begin(), c.promoters.end());
}

// 1-3 unmappable stretches of 50-200 kb per genome, aligned to the finest Hi-C bins, away from
// chromosome ends and from each other. They get zero contacts and zero signal in every cell.
void place_blacklist(std::vector<ChromLayout>& chroms, int64_t res, Rng& rng) {
  std::vector<size_t> eligible;
  for (size_t k = 0; k < chroms.size(); ++k)
    if (chroms[k].length >= 1'500'000) eligible.push_back(k);
  if (eligible.empty()) return;
  const int64_t n = rng.uniform_int(1, 3);
  for (int64_t placed = 0, tries = 0; placed < n && tries < 100; ++tries) {
    ChromLayout& c =
        chroms[eligible[rng.uniform_int(0, static_cast<int64_t>(eligible.size()) - 1)]];
    const int64_t len = std::max<int64_t>(1, rng.uniform_int(50'000, 200'000) / res) * res;
    const int64_t start = rng.uniform_int(500'000, c.length - 500'000 - len) / res * res;
    const auto overlaps = [&](const BlacklistRegion& b) {
      return start < b.end + 100'000 && b.start < start + len + 100'000;
    };
    if (std::any_of(c.blacklist.begin(), c.blacklist.end(), overlaps)) continue;
    c.blacklist.push_back({start, start + len});
    ++placed;
  }
  for (ChromLayout& c : chroms)
    std::sort(c.blacklist.begin(), c.blacklist.end(),
              [](const BlacklistRegion& a, const BlacklistRegion& b) { return a.start < b.start; });
}

std::vector<ChromLayout> make_genome(const SynthSpec& spec, int64_t finest_res) {
  Rng rng(stream_seed(spec.seed, Stream::kGenome));
  std::vector<ChromLayout> chroms;
  for (const auto& [name, length] : spec.chroms) {
    ChromLayout c;
    c.name = name;
    c.length = length;
    place_compartments(c, rng);
    place_tads_and_ctcf(c, rng);
    place_loops(c, rng);
    place_promoters(c, rng);
    chroms.push_back(std::move(c));
  }
  place_blacklist(chroms, finest_res, rng);
  return chroms;
}

bool blacklisted(const ChromLayout& c, int64_t start, int64_t end) {
  for (const BlacklistRegion& b : c.blacklist)
    if (start < b.end && b.start < end) return true;
  return false;
}

// ---- stage 2: one cell's use of the layout ----------------------------------------------------
// Cells share the genome but differ in compartment state (~30% of segments flipped), in which
// loops form (~80% each) and how strongly; CTCF occupancy and promoter activity follow from that,
// so the tracks carry the information that distinguishes the maps.

struct CellChromState {
  std::vector<uint8_t> segment_active;   // per CompartmentSegment
  std::vector<double> loop_strength;     // per loop; 0 = absent in this cell
  std::vector<double> site_occupancy;    // per CtcfSite
  std::vector<uint8_t> promoter_active;  // per promoter
};

bool active_at(const ChromLayout& c, const CellChromState& s, int64_t pos) {
  auto it =
      std::upper_bound(c.segments.begin(), c.segments.end(), pos,
                       [](int64_t p, const CompartmentSegment& seg) { return p < seg.start; });
  return s.segment_active[static_cast<size_t>(it - c.segments.begin()) - 1] != 0;
}

CellChromState make_cell_state(const ChromLayout& c, Rng& rng) {
  CellChromState s;
  for (const CompartmentSegment& seg : c.segments)
    s.segment_active.push_back(seg.active != rng.chance(0.3));
  std::vector<int> uses(c.sites.size(), 0);
  for (const LoopAnchorPair& loop : c.loops) {
    const double strength = rng.chance(0.8) ? rng.uniform(0.6, 1.4) : 0.0;
    s.loop_strength.push_back(strength);
    if (strength > 0) ++uses[loop.left_site], ++uses[loop.right_site];
  }
  for (size_t k = 0; k < c.sites.size(); ++k) {
    const CtcfSite& site = c.sites[k];
    s.site_occupancy.push_back(site.affinity * (1.0 + 1.0 * site.boundary + 0.8 * uses[k]) *
                               rng.lognormal(0.2));
  }
  for (int64_t p : c.promoters)
    s.promoter_active.push_back(rng.chance(active_at(c, s, p) ? 0.85 : 0.1));
  return s;
}

// ---- stage 3: contacts ------------------------------------------------------------------------
// Expected count of pixel (i, j), d = j - i finest bins:
//   cpb * (d+1)^-1 * (same TAD ? 2.5 : 1) * (A-A 1.6 | B-B 1.3 | A-B 0.6) * bias_i * bias_j
// plus, per loop present in the cell, a 2-D Gaussian bump (sigma 1.5 bins) whose peak adds
// 4 x strength x the local expectation. bias is a mild per-bin visibility (lognormal, sd 0.1) for
// balancing to remove. Blacklisted bins have no contacts.

// counts[i * width + d] holds pixel (i, i + d); width = max distance in bins + 1.
struct ContactBand {
  int64_t nbins = 0, width = 0;
  std::vector<int32_t> counts;
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

ContactBand simulate_contacts(const SynthSpec& spec, const ChromLayout& c, const CellChromState& s,
                              int64_t res, Rng& rng) {
  ContactBand band;
  band.nbins = ceil_div(c.length, res);
  const int64_t max_d = std::min(spec.max_distance_bp / res, band.nbins - 1);
  band.width = max_d + 1;

  std::vector<uint8_t> comp(band.nbins), masked(band.nbins);
  std::vector<int32_t> tad(band.nbins);
  std::vector<double> bias(band.nbins);
  size_t next_boundary = 0;
  for (int64_t i = 0; i < band.nbins; ++i) {
    const int64_t mid = std::min(i * res + res / 2, c.length - 1);
    while (next_boundary < c.boundaries.size() && c.boundaries[next_boundary].pos <= mid)
      ++next_boundary;
    tad[i] = static_cast<int32_t>(next_boundary);
    comp[i] = active_at(c, s, mid);
    masked[i] = blacklisted(c, i * res, (i + 1) * res);
    bias[i] = masked[i] ? 0.0 : rng.lognormal(0.1);
  }
  std::vector<double> decay(band.width);
  for (int64_t d = 0; d < band.width; ++d)
    decay[d] = spec.contacts_per_bin / static_cast<double>(d + 1);
  const auto expected = [&](int64_t i, int64_t j) {  // without per-bin bias
    const double tad_f = tad[i] == tad[j] ? 2.5 : 1.0;
    const double comp_f = comp[i] != comp[j] ? 0.6 : (comp[i] ? 1.6 : 1.3);
    return decay[j - i] * tad_f * comp_f;
  };

  std::vector<double> lambda(static_cast<size_t>(band.nbins * band.width), 0.0);
  for (int64_t i = 0; i < band.nbins; ++i)
    for (int64_t j = i; j < std::min(band.nbins, i + band.width); ++j)
      lambda[i * band.width + (j - i)] = expected(i, j) * bias[i] * bias[j];

  for (size_t k = 0; k < c.loops.size(); ++k) {
    if (s.loop_strength[k] <= 0) continue;
    const int64_t a = c.sites[c.loops[k].left_site].pos / res,
                  b = c.sites[c.loops[k].right_site].pos / res;
    if (b - a >= band.width) continue;
    const double peak = 4.0 * s.loop_strength[k] * expected(a, b);
    for (int64_t i = a - 4; i <= a + 4; ++i)
      for (int64_t j = b - 4; j <= b + 4; ++j) {
        if (i < 0 || j >= band.nbins || j < i || j - i >= band.width) continue;
        const double r2 = static_cast<double>((i - a) * (i - a) + (j - b) * (j - b));
        lambda[i * band.width + (j - i)] +=
            peak * std::exp(-r2 / (2 * 1.5 * 1.5)) * bias[i] * bias[j];
      }
  }

  band.counts.resize(lambda.size());
  for (size_t p = 0; p < lambda.size(); ++p)
    band.counts[p] = static_cast<int32_t>(rng.poisson(lambda[p]));
  return band;
}

// Sums a finest-resolution band into bins `factor` times wider (still upper triangle).
ContactBand coarsen(const ContactBand& fine, int64_t factor) {
  if (factor == 1) return fine;
  ContactBand out;
  out.nbins = ceil_div(fine.nbins, factor);
  out.width = (fine.width - 1 + factor - 1) / factor + 1;  // (i % f + d) / f <= this - 1
  std::vector<int64_t> sum(static_cast<size_t>(out.nbins * out.width), 0);
  for (int64_t i = 0; i < fine.nbins; ++i)
    for (int64_t d = 0; d < fine.width && i + d < fine.nbins; ++d) {
      const int64_t ci = i / factor, cj = (i + d) / factor;
      sum[ci * out.width + (cj - ci)] += fine.counts[i * fine.width + d];
    }
  out.counts.resize(sum.size());
  for (size_t p = 0; p < sum.size(); ++p) {
    MIXHIC_REQUIRE(sum[p] <= INT32_MAX,
                   "synthetic contact count overflows int32 (lower contacts_per_bin)");
    out.counts[p] = static_cast<int32_t>(sum[p]);
  }
  return out;
}

// A file written at `<final>.tmp`, renamed to `final` by commit(); removed if never committed.
class StagedFile {
 public:
  explicit StagedFile(fs::path final_path)
      : final_(std::move(final_path)), tmp_(final_.string() + ".tmp") {}
  ~StagedFile() {
    std::error_code ec;
    if (!committed_) fs::remove(tmp_, ec);
  }
  const fs::path& tmp() const { return tmp_; }
  void commit() {
    std::error_code ec;
    fs::rename(tmp_, final_, ec);
    MIXHIC_REQUIRE(!ec, "{}: cannot rename from {}: {}", final_.string(), tmp_.string(),
                   ec.message());
    committed_ = true;
  }

 private:
  fs::path final_, tmp_;
  bool committed_ = false;
};

// One cooler v3 group of the .mcool (write_cooler_group, the schema mixhic-eval's .cool files
// share): each chromosome's band as pixels sorted by (bin1, bin2) with genome-wide bin ids.
void write_resolution(hid_t grp, const std::vector<ChromLayout>& chroms,
                      const std::vector<ContactBand>& bands, int64_t res,
                      const std::string& date) {
  std::vector<CoolChrom> cool_chroms;
  std::vector<int64_t> bin1, bin2;
  std::vector<int32_t> count;
  int64_t first = 0;
  for (size_t k = 0; k < chroms.size(); ++k) {
    const ContactBand& band = bands[k];
    cool_chroms.push_back({chroms[k].name, chroms[k].length});
    for (int64_t i = 0; i < band.nbins; ++i)
      for (int64_t d = 0; d < band.width && i + d < band.nbins; ++d) {
        const int32_t v = band.counts[i * band.width + d];
        if (v == 0) continue;
        bin1.push_back(first + i);
        bin2.push_back(first + i + d);
        count.push_back(v);
      }
    first += band.nbins;
  }
  CoolAttributes attrs;
  attrs.genome_assembly = "synth";
  attrs.generated_by = "mixhic-prep synth";
  attrs.creation_date = date;
  mixhic::write_cooler_group(grp, cool_chroms, res, bin1, bin2, count, attrs);
}

void write_mcool(const fs::path& path, const std::vector<ChromLayout>& chroms,
                 const std::vector<ContactBand>& finest, const std::vector<int64_t>& resolutions) {
  StagedFile out(path);
  {
    h5::Handle file = h5::create(out.tmp().string());
    h5::set_attr(file, "format", "HDF5::MCOOL");
    h5::set_attr(file, "format-version", int64_t{2});
    h5::Handle all = h5::create_group(file, "resolutions");
    const std::string date = iso_utc_now();
    for (int64_t res : resolutions) {
      std::vector<ContactBand> bands;
      for (const ContactBand& b : finest) bands.push_back(coarsen(b, res / resolutions.front()));
      h5::Handle grp = h5::create_group(all, std::to_string(res));
      write_resolution(grp, chroms, bands, res, date);
    }
    MIXHIC_H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL));
  }
  out.commit();
}

// ---- stage 4: tracks --------------------------------------------------------------------------
// Per track bin (span bp), a noiseless mean from the cell state, then multiplicative lognormal
// noise and a Poisson draw at 4 reads per unit (values are multiples of 0.25):
//   CTCF     0.3 background + sharp peaks (sigma 120 bp, ~300 bp wide) ~ occupancy
//   ATAC     0.5 (A) / 0.2 (B) + weaker peaks at CTCF sites + strong peaks at active promoters
//   H3K27ac  2.5 (A) / 0.4 (B) + broad peaks (sigma 1.5 kb) around active promoters
//   H3K27me3 0.4 (A) / 2.2 (B) + bumps at silent promoters in B
// Blacklisted stretches are exactly 0.

using TrackSet = std::vector<std::vector<float>>;  // [track][track bin] for one chromosome

void add_peak(std::vector<double>& v, int64_t span, int64_t center, double height, double sigma) {
  const int64_t lo = std::max<int64_t>(0, (center - 4 * static_cast<int64_t>(sigma)) / span);
  const int64_t hi = std::min<int64_t>(static_cast<int64_t>(v.size()) - 1,
                                       (center + 4 * static_cast<int64_t>(sigma)) / span);
  for (int64_t b = lo; b <= hi; ++b) {
    const double x = static_cast<double>(b * span + span / 2 - center) / sigma;
    v[b] += height * std::exp(-0.5 * x * x);
  }
}

TrackSet simulate_tracks(const ChromLayout& c, const CellChromState& s, int64_t span, Rng& rng) {
  const int64_t n = ceil_div(c.length, span);
  std::array<std::vector<double>, 4> mean;  // noiseless signal, in synth_track_names() order
  for (auto& m : mean) m.assign(n, 0.0);
  auto& [ctcf, atac, ac, me3] = mean;
  for (size_t k = 0; k < c.segments.size(); ++k) {
    const bool a = s.segment_active[k];
    for (int64_t b = c.segments[k].start / span; b < std::min(n, ceil_div(c.segments[k].end, span));
         ++b) {
      ctcf[b] = 0.3;
      atac[b] = a ? 0.5 : 0.2;
      ac[b] = a ? 2.5 : 0.4;
      me3[b] = a ? 0.4 : 2.2;
    }
  }
  for (size_t k = 0; k < c.sites.size(); ++k) {
    add_peak(ctcf, span, c.sites[k].pos, 12.0 * s.site_occupancy[k], 120.0);
    add_peak(atac, span, c.sites[k].pos, 4.0 * s.site_occupancy[k], 150.0);
  }
  for (size_t k = 0; k < c.promoters.size(); ++k) {
    const int64_t p = c.promoters[k];
    if (s.promoter_active[k]) {
      add_peak(atac, span, p, 15.0, 200.0);
      add_peak(ac, span, p, 8.0, 1500.0);
    } else if (!active_at(c, s, p)) {
      add_peak(me3, span, p, 3.0, 3000.0);
    }
  }
  TrackSet out(4, std::vector<float>(n, 0.0f));
  for (size_t t = 0; t < 4; ++t)
    for (int64_t b = 0; b < n; ++b)
      out[t][b] = static_cast<float>(rng.poisson(4.0 * mean[t][b] * rng.lognormal(0.3))) * 0.25f;
  for (const BlacklistRegion& r : c.blacklist)
    for (auto& track : out)
      std::fill(track.begin() + r.start / span, track.begin() + std::min(n, ceil_div(r.end, span)),
                0.0f);
  return out;
}

// ---- downstream inputs: genes and expression -------------------------------------------------
// One gene per promoter, strand and length (5-50 kb) from their own stream so the other outputs
// do not change. Expression of gene g in a cell = factor_g (lognormal, shared by the cells) x
// (12 if the promoter is active, 0.3 otherwise) x cell noise (lognormal 0.3), written as a CAGE
// peak (sigma 300 bp) at the TSS on a 0.05 background, Poisson-sampled like the tracks.

struct SynthGene {
  int64_t tss;
  char strand;
  int64_t start, end;
  double factor;
};

std::vector<SynthGene> make_genes(const ChromLayout& c, Rng& rng) {
  std::vector<SynthGene> genes;
  for (int64_t p : c.promoters) {
    SynthGene g;
    g.tss = p;
    g.strand = rng.chance(0.5) ? '+' : '-';
    const int64_t len = rng.uniform_int(5'000, 50'000);
    g.start = g.strand == '+' ? p : std::max<int64_t>(0, p + 1 - len);
    g.end = g.strand == '+' ? std::min(c.length, p + len) : p + 1;
    g.factor = rng.lognormal(0.5);
    genes.push_back(g);
  }
  return genes;
}

std::vector<float> simulate_cage(const ChromLayout& c, const CellChromState& s, const std::vector<SynthGene>& genes,
                                 int64_t span, Rng& rng) {
  const int64_t n = ceil_div(c.length, span);
  std::vector<double> mean(n, 0.05);
  for (size_t k = 0; k < genes.size(); ++k) {
    const double level = genes[k].factor * (s.promoter_active[k] ? 12.0 : 0.3) * rng.lognormal(0.3);
    add_peak(mean, span, genes[k].tss, level, 300.0);
  }
  std::vector<float> out(n);
  for (int64_t b = 0; b < n; ++b) out[b] = static_cast<float>(rng.poisson(4.0 * mean[b])) * 0.25f;
  for (const BlacklistRegion& r : c.blacklist)
    std::fill(out.begin() + r.start / span, out.begin() + std::min(n, ceil_div(r.end, span)), 0.0f);
  return out;
}

// libBigWig needs bwInit before use; curl's global init/cleanup are reference-counted.
struct BigWigLibrary {
  BigWigLibrary() { MIXHIC_REQUIRE(bwInit(1 << 17) == 0, "libBigWig: bwInit failed"); }
  ~BigWigLibrary() { bwCleanup(); }
};

// Fixed-step intervals of `span` covering each chromosome; a shorter last interval if the
// length is not a multiple of span.
void write_bigwig(const fs::path& path, const std::vector<ChromLayout>& chroms,
                  const std::vector<const std::vector<float>*>& values, int64_t span) {
  StagedFile out(path);
  const std::string tmp = out.tmp().string();
  std::vector<const char*> names;
  std::vector<uint32_t> lengths;
  for (const ChromLayout& c : chroms) {
    names.push_back(c.name.c_str());
    lengths.push_back(static_cast<uint32_t>(c.length));
  }
  struct Closer {
    void operator()(bigWigFile_t* f) const { bwClose(f); }
  };
  std::unique_ptr<bigWigFile_t, Closer> fp(bwOpen(tmp.c_str(), nullptr, "w"));
  MIXHIC_REQUIRE(fp, "{}: cannot open bigWig for writing", tmp);
  MIXHIC_REQUIRE(bwCreateHdr(fp.get(), 10) == 0, "{}: bwCreateHdr failed", tmp);
  fp->cl = bwCreateChromList(names.data(), lengths.data(), static_cast<int64_t>(names.size()));
  MIXHIC_REQUIRE(fp->cl, "{}: bwCreateChromList failed", tmp);
  MIXHIC_REQUIRE(bwWriteHdr(fp.get()) == 0, "{}: bwWriteHdr failed", tmp);
  for (size_t k = 0; k < chroms.size(); ++k) {
    const std::vector<float>& v = *values[k];
    const int64_t full = chroms[k].length / span, rest = chroms[k].length % span;
    if (full > 0)
      MIXHIC_REQUIRE(bwAddIntervalSpanSteps(fp.get(), names[k], 0, static_cast<uint32_t>(span),
                                            static_cast<uint32_t>(span), v.data(),
                                            static_cast<uint32_t>(full)) == 0,
                     "{}: writing {} failed", tmp, chroms[k].name);
    if (rest > 0)
      MIXHIC_REQUIRE(bwAddIntervalSpanSteps(fp.get(), names[k], static_cast<uint32_t>(full * span),
                                            static_cast<uint32_t>(rest),
                                            static_cast<uint32_t>(rest), v.data() + full, 1) == 0,
                     "{}: writing the end of {} failed", tmp, chroms[k].name);
  }
  fp.reset();  // bwClose writes the index and zoom levels
  std::error_code ec;
  MIXHIC_REQUIRE(fs::file_size(out.tmp(), ec) > 0 && !ec, "{}: bigWig was not written", tmp);
  out.commit();
}

// ---- text outputs -----------------------------------------------------------------------------

void write_text(const fs::path& path, const std::string& text) {
  StagedFile out(path);
  {
    std::ofstream f(out.tmp(), std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    MIXHIC_REQUIRE(f, "{}: cannot write", out.tmp().string());
  }
  out.commit();
}

void validate(const SynthSpec& spec) {
  const auto bad = [](const std::string& what) { throw ConfigError("synth spec: " + what); };
  if (spec.cells.empty()) bad("no cells");
  for (size_t i = 0; i < spec.cells.size(); ++i) {
    const std::string& name = spec.cells[i];
    if (name.empty() || name.find_first_of(" \t\n/") != std::string::npos)
      bad("cell name '" + name + "' must be non-empty without spaces or '/'");
    if (std::count(spec.cells.begin(), spec.cells.begin() + i, name))
      bad("duplicate cell '" + name + "'");
  }
  if (spec.chroms.empty()) bad("no chromosomes");
  for (size_t k = 0; k < spec.chroms.size(); ++k) {
    const auto& [name, length] = spec.chroms[k];
    if (name.empty() || name.find_first_of(" \t\n") != std::string::npos || length <= 0 ||
        length > INT32_MAX)
      bad(fmt::format("chromosome '{}' needs a name without spaces and a length in (0, 2^31)",
                      name));
    for (size_t j = 0; j < k; ++j)
      if (spec.chroms[j].first == name) bad("duplicate chromosome '" + name + "'");
  }
  if (spec.resolutions.empty()) bad("no resolutions");
  const int64_t finest = *std::min_element(spec.resolutions.begin(), spec.resolutions.end());
  if (finest <= 0) bad("resolutions must be positive");
  for (int64_t r : spec.resolutions)
    if (r % finest)
      bad(fmt::format("resolution {} is not a multiple of the finest, {}", r, finest));
  if (spec.track_span_bp <= 0) bad("track_span_bp must be positive");
  if (spec.max_distance_bp < 0) bad("max_distance_bp must be >= 0");
  if (!(spec.contacts_per_bin > 0)) bad("contacts_per_bin must be positive");
}

}  // namespace

SynthOutputs write_synth_inputs(const SynthSpec& spec, const std::string& out_dir) {
  validate(spec);
  std::vector<int64_t> resolutions = spec.resolutions;
  std::sort(resolutions.begin(), resolutions.end());
  resolutions.erase(std::unique(resolutions.begin(), resolutions.end()), resolutions.end());

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  MIXHIC_REQUIRE(!ec, "{}: cannot create output directory: {}", out_dir, ec.message());
  const fs::path dir = fs::absolute(out_dir).lexically_normal();

  const std::vector<ChromLayout> genome = make_genome(spec, resolutions.front());
  const auto& track_names = synth_track_names();
  BigWigLibrary bigwig_library;
  SynthOutputs outs;
  std::vector<std::vector<SynthGene>> genes;
  std::string bed12;
  for (size_t k = 0; k < genome.size(); ++k) {
    Rng gene_rng(stream_seed(spec.seed, Stream::kGenes, 0, k));
    genes.push_back(make_genes(genome[k], gene_rng));
    for (size_t g = 0; g < genes[k].size(); ++g) {
      const SynthGene& x = genes[k][g];
      bed12 += fmt::format("{}\t{}\t{}\tgene{}_{}\t0\t{}\t{}\t{}\t0\t1\t{},\t0,\n", genome[k].name, x.start, x.end, k + 1,
                           g + 1, x.strand, x.start, x.end, x.end - x.start);
    }
  }
  outs.genes_bed12 = (dir / "genes.bed12").string();
  write_text(outs.genes_bed12, bed12);
  for (size_t cell = 0; cell < spec.cells.size(); ++cell) {
    Rng cell_rng(stream_seed(spec.seed, Stream::kCell, cell));
    std::vector<CellChromState> states;
    std::vector<ContactBand> finest;
    std::vector<TrackSet> tracks;
    for (size_t k = 0; k < genome.size(); ++k) {
      states.push_back(make_cell_state(genome[k], cell_rng));
      Rng contact_rng(stream_seed(spec.seed, Stream::kContacts, cell, k));
      finest.push_back(
          simulate_contacts(spec, genome[k], states[k], resolutions.front(), contact_rng));
      Rng track_rng(stream_seed(spec.seed, Stream::kTracks, cell, k));
      tracks.push_back(simulate_tracks(genome[k], states[k], spec.track_span_bp, track_rng));
    }
    outs.mcool.push_back((dir / (spec.cells[cell] + ".mcool")).string());
    write_mcool(outs.mcool.back(), genome, finest, resolutions);
    outs.tracks.emplace_back();
    for (size_t t = 0; t < track_names.size(); ++t) {
      std::vector<const std::vector<float>*> per_chrom;
      for (const TrackSet& ts : tracks) per_chrom.push_back(&ts[t]);
      outs.tracks.back().push_back(
          (dir / (spec.cells[cell] + "." + track_names[t] + ".bw")).string());
      write_bigwig(outs.tracks.back().back(), genome, per_chrom, spec.track_span_bp);
    }
    // 5 kb anchors centred on the two CTCF sites of each loop the cell forms.
    std::string bedpe;
    std::vector<std::vector<float>> cage;
    for (size_t k = 0; k < genome.size(); ++k) {
      const ChromLayout& c = genome[k];
      for (size_t l = 0; l < c.loops.size(); ++l) {
        if (states[k].loop_strength[l] <= 0) continue;
        const int64_t a = c.sites[c.loops[l].left_site].pos, b = c.sites[c.loops[l].right_site].pos;
        bedpe += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\n", c.name, std::max<int64_t>(0, a - 2500), std::min(c.length, a + 2500),
                             c.name, std::max<int64_t>(0, b - 2500), std::min(c.length, b + 2500));
      }
      Rng cage_rng(stream_seed(spec.seed, Stream::kCage, cell, k));
      cage.push_back(simulate_cage(c, states[k], genes[k], spec.track_span_bp, cage_rng));
    }
    outs.loops_bedpe.push_back((dir / (spec.cells[cell] + ".loops.bedpe")).string());
    write_text(outs.loops_bedpe.back(), bedpe);
    std::vector<const std::vector<float>*> per_chrom;
    for (auto& v : cage) per_chrom.push_back(&v);
    outs.cage.push_back((dir / (spec.cells[cell] + ".CAGE.bw")).string());
    write_bigwig(outs.cage.back(), genome, per_chrom, spec.track_span_bp);
  }

  std::string bed;
  for (const ChromLayout& c : genome)
    for (const BlacklistRegion& r : c.blacklist)
      bed += fmt::format("{}\t{}\t{}\n", c.name, r.start, r.end);
  outs.blacklist_bed = (dir / "blacklist.bed").string();
  write_text(outs.blacklist_bed, bed);

  std::string ini = fmt::format(
      "# mixhic-prep inputs for a synthetic genome (mixhic-prep synth, seed {}).\n"
      "# cell = NAME HIC_FILE      track = CELL TRACK BIGWIG\n"
      "# Unmappable stretches: {}\n",
      spec.seed, outs.blacklist_bed);
  for (size_t cell = 0; cell < spec.cells.size(); ++cell)
    ini += fmt::format("cell = {} {}\n", spec.cells[cell], outs.mcool[cell]);
  for (size_t cell = 0; cell < spec.cells.size(); ++cell)
    for (size_t t = 0; t < track_names.size(); ++t)
      ini +=
          fmt::format("track = {} {} {}\n", spec.cells[cell], track_names[t], outs.tracks[cell][t]);
  ini += "# downstream tasks (used with samples = loops / samples = tss; ignored by tiles)\n";
  for (size_t cell = 0; cell < spec.cells.size(); ++cell)
    ini += fmt::format("loops = {} {}\n", spec.cells[cell], outs.loops_bedpe[cell]);
  ini += fmt::format("genes = {}\n", outs.genes_bed12);
  for (size_t cell = 0; cell < spec.cells.size(); ++cell)
    ini += fmt::format("expression = {} {}\n", spec.cells[cell], outs.cage[cell]);
  outs.inputs_ini = (dir / "inputs.ini").string();
  write_text(outs.inputs_ini, ini);
  return outs;
}

}  // namespace mixhic::prep
