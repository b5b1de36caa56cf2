// Readers against the real files in ../shared/data, each checked by an independent oracle:
// python3-cooler for Hi-C windows and ICE, pyBigWig for track bins.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>

#include "ice_balance.hpp"
#include "mixhic/bigwig_track.hpp"
#include "mixhic/check.hpp"
#include "mixhic/cooler_file.hpp"
#include "test_util.hpp"

using namespace mixhic;
using test::run_command;
using test::shared_data;
using test::error_of;

namespace {

struct RealCase {
  std::string name;
  std::string hic;     // path or URI
  std::string tracks;  // "TRACK PATH" lines for the one cell
  std::string extra;   // more mixhic-prep options
  std::string balance;
  int64_t resolution;
};

// Builds a corpus with hic-transform none / track-transform none and checks its windows
// against cooler.fetch and its track bins against pyBigWig.
void check_against_oracles(const RealCase& c) {
  test::TempDir dir;
  std::string out = dir / "corpus.h5";
  std::string cmd = test::prep_bin() + " --output " + out + " --cell 'X " + c.hic + "' --resolution " +
                    std::to_string(c.resolution) + " --balance " + c.balance +
                    " --hic-transform none --track-transform none --input-checksums false " + c.extra;
  std::vector<std::string> bws;
  std::istringstream lines(c.tracks);
  std::string tname, tpath;
  while (lines >> tname >> tpath) {
    cmd += " --track 'X " + tname + " " + tpath + "'";
    bws.push_back(tpath);
  }
  auto r = run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
  std::string uri = c.hic;  // cooler itself needs the group of an .mcool spelled out
  if (uri.find("::") == std::string::npos && uri.size() > 6 && uri.substr(uri.size() - 6) == ".mcool")
    uri += "::resolutions/" + std::to_string(c.resolution);
  auto w = run_command(test::oracle("check_windows.py") + " " + out + " '" + uri + "' --cell-index 0 --balance " +
                       c.balance + " --tol 1e-6");
  EXPECT_EQ(w.exit_code, 0) << w.output;
  EXPECT_NE(w.output.find("windows: n="), std::string::npos) << w.output;
  std::string bw_args;
  for (auto& b : bws) bw_args += " " + b;
  auto t = run_command(test::oracle("check_tracks.py") + " " + out + " --cell-index 0" + bw_args + " --tol 1e-6");
  EXPECT_EQ(t.exit_code, 0) << t.output;
  std::cout << "[ oracle   ] " << c.name << ": " << w.output.substr(w.output.rfind("windows:")) << "[ oracle   ] "
            << c.name << ": " << t.output.substr(t.output.rfind("tracks:"));
}

}  // namespace

TEST(RealData, CoolWithCoolerWeightsMatchesCoolerFetch) {
  MIXHIC_REQUIRE_SHARED_DATA();
  check_against_oracles({"HiCDCPlus 50kb weight", shared_data("hic/hg19.HiCDCPlus_example.chr21_chr22.50kb.cool"),
                         "CTCF " + shared_data("tracks/hg19.GM12878.CTCF.chr21_28.0-30.3Mb.bw"),
                         "--chroms chr21 --window-bins 20 --stride-bp 250000 --track-bin-bp 1000 --min-nonzero-fraction 0.05 "
                         "--max-masked-bins 20",
                         "weight", 50000});
}

TEST(RealData, JuicerKrVectorIsDivisive) {
  MIXHIC_REQUIRE_SHARED_DATA();
  check_against_oracles({"HiCDCPlus 50kb KR", shared_data("hic/hg19.HiCDCPlus_example.chr21_chr22.50kb.cool"),
                         "CTCF " + shared_data("tracks/hg19.GM12878.CTCF.chr21_28.0-30.3Mb.bw"),
                         "--chroms chr21 --window-bins 20 --stride-bp 250000 --track-bin-bp 1000 --min-nonzero-fraction 0.05 "
                         "--max-masked-bins 20",
                         "KR", 50000});
}

TEST(RealData, McoolResolutionWithoutWeights) {
  MIXHIC_REQUIRE_SHARED_DATA();
  check_against_oracles({"HiCDCPlus mcool 100kb raw", shared_data("hic/hg19.HiCDCPlus_example.chr21_chr22.mcool") +
                                                          "::resolutions/100000",
                         "CTCF " + shared_data("tracks/hg19.GM12878.CTCF.chr21_28.0-30.3Mb.bw"),
                         "--chroms chr21 --window-bins 16 --stride-bp 400000 --track-bin-bp 1000", "none", 100000});
}

TEST(RealData, McoolPickedByResolutionOption) {
  MIXHIC_REQUIRE_SHARED_DATA();
  // The plain .mcool path with --resolution picks /resolutions/50000 (it has KR, VC, weight...).
  check_against_oracles({"HiCDCPlus mcool VC", shared_data("hic/hg19.HiCDCPlus_example.chr21_chr22.mcool"),
                         "CTCF " + shared_data("tracks/hg19.GM12878.CTCF.chr21_28.0-30.3Mb.bw"),
                         "--chroms chr21 --window-bins 20 --stride-bp 250000 --track-bin-bp 1000 --min-nonzero-fraction 0.05 "
                         "--max-masked-bins 20",
                         "VC", 50000});
}

TEST(RealData, ChromNamesWithoutChrPrefixAgainstChrTracks) {
  MIXHIC_REQUIRE_SHARED_DATA();
  // The Rao 2014 2.5 Mb cool names chromosomes 1..X; the tracks say chr21.
  check_against_oracles({"GM12878 2.5Mb KR (no chr)", shared_data("hic/GSE63525_GM12878_insitu_primary_2_5mb.cool"),
                         "CTCF " + shared_data("tracks/hg19.GM12878.CTCF.chr21_28.0-30.3Mb.bw") + " H3K27ac " +
                             shared_data("tracks/hg19.GM12878.H3K27ac.chr21_28.0-30.3Mb.bw"),
                         "--chroms chr21 --window-bins 8 --stride-bp 2500000 --track-bin-bp 2500 --max-masked-bins 8",
                         "KR", 2500000});
}

TEST(RealData, PairedTenKbRegionAndMouseTwentyKb) {
  MIXHIC_REQUIRE_SHARED_DATA();
  check_against_oracles({"IMR90 10kb region", shared_data("hic/hg19.IMR90.chr21_28.0-30.3Mb.10kb.KRnorm.cool"),
                         "CTCF " + shared_data("tracks/hg19.IMR90.CTCF.chr21_28.0-30.3Mb.bw") + " H3K27ac " +
                             shared_data("tracks/hg19.IMR90.H3K27ac.chr21_28.0-30.3Mb.bw"),
                         "--regions chr21:28000000-30310000 --window-bins 64 --stride-bp 80000 --track-bin-bp 100",
                         "none", 10000});
  check_against_oracles({"mm9 chr1 20kb", shared_data("hic/mm9_reduced_chr1.cool"),
                         "PC1 " + shared_data("tracks/pca_reduced_mm9_1.bw"),
                         "--window-bins 50 --stride-bp 1000000 --track-bin-bp 1000", "none", 20000});
}

TEST(RealData, PairedCtcfPeaksSitOnTheSameCoordinateInTrackAndHic) {
  MIXHIC_REQUIRE_SHARED_DATA();
  test::TempDir dir;
  std::string out = dir / "gm.h5";
  std::string cmd = test::prep_bin() + " --output " + out + " --cell 'GM12878 " +
                    shared_data("hic/hg19.GM12878.chr21_28.0-30.3Mb.10kb.KRnorm.cool") + "' --track 'GM12878 CTCF " +
                    shared_data("tracks/hg19.GM12878.CTCF.chr21_28.0-30.3Mb.bw") + "' --track 'GM12878 H3K27ac " +
                    shared_data("tracks/hg19.GM12878.H3K27ac.chr21_28.0-30.3Mb.bw") +
                    "' --resolution 10000 --window-bins 64 --stride-bp 80000 --track-bin-bp 100 --balance none "
                    "--regions chr21:28000000-30310000 --hic-transform log1p --input-checksums false";
  auto r = run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto p = run_command(test::oracle("check_pairing.py") + " " + out + " --cell-index 0 --peaks " +
                       shared_data("annotations/GSM733752_hg19_ctcf_GM12878.broadPeak") + " --track-index 0");
  EXPECT_EQ(p.exit_code, 0) << p.output;
  std::cout << "[ oracle   ] " << p.output.substr(p.output.rfind("pairing:"));
}

// Balances `uri` with our ICE and compares the weights with cooler.balance_cooler's.
void test::check_ice(const std::string& uri, bool cis_only, int64_t max_iters) {
  MpiWorld world;
  CoolerFile hic(uri, 0);
  prep::IceOptions opt;
  opt.cis_only = cis_only;
  opt.max_iters = max_iters;
  prep::IceResult ice = prep::ice_balance(world, hic, opt);
  test::TempDir dir;
  {
    std::ofstream out(dir / "w.txt");
    out.precision(17);
    for (double w : ice.weights) out << (std::isnan(w) ? std::string("nan") : fmt::format("{:.17g}", w)) << "\n";
  }
  auto r = run_command(test::oracle("check_ice.py") + " '" + uri + "' " + (dir / "w.txt") + " --tol 1e-6 --max-iters " +
                       std::to_string(max_iters) + (cis_only ? " --cis-only" : ""));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::cout << "[ oracle   ] " << uri.substr(uri.rfind('/') + 1) << (cis_only ? " (cis-only)" : "") << ": "
            << r.output.substr(r.output.rfind("ice:"));
}

TEST(RealData, IceEqualsCoolerBalance) {
  MIXHIC_REQUIRE_SHARED_DATA();
  test::check_ice(shared_data("hic/CN.mm9.10000kb.cool"));
  test::check_ice(shared_data("hic/mm9_reduced_chr1.cool"));
  test::check_ice(shared_data("hic/mm9_reduced_chr1.cool"), /*cis_only=*/true, 500);
}

TEST(RealData, ReadersRejectWrongFilesWithTheirNames) {
  MIXHIC_REQUIRE_SHARED_DATA();
  try {
    CoolerFile f(shared_data("hic/hg19.HiCDCPlus_example.chr21_chr22.mcool"), 5000);
    FAIL();
  } catch (const InputFormatError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("resolutions/5000"), std::string::npos) << m;
    EXPECT_NE(m.find("50000"), std::string::npos) << m;  // lists what is there
  }
  EXPECT_THROW(BigWigTrack(shared_data("annotations/human.hg19.genome")), InputFormatError);
  EXPECT_THROW(CoolerFile(shared_data("tracks/pyBigWig_test.bw"), 0), InputFormatError);
  BigWigTrack bw(shared_data("tracks/hg19.IMR90.CTCF.chr21_28.0-30.3Mb.bw"));
  EXPECT_EQ(bw.chrom_length("chr21"), 48129895);
  EXPECT_EQ(bw.chrom_length("chr22"), -1);
}

// ---- fixtures written by python3-cooler (tests/oracles/write_cooler_fixtures.py) ------------------

namespace {

struct CoolerFixtures {
  test::TempDir dir;
  CoolerFixtures() {
    auto r = run_command(test::oracle("write_cooler_fixtures.py") + " " + dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  std::string operator/(const std::string& name) const { return dir / name; }
};

// Off-diagonal row sums of the matrix balanced with `w`, every chromosome (the fixture is cis only).
std::vector<double> balanced_row_sums(const CoolerFile& f, const std::vector<double>& w) {
  std::vector<double> sums;
  for (const CoolerChrom& c : f.chroms()) {
    const int64_t n = c.bin_end - c.bin_begin;
    std::vector<double> m = f.fetch(c.bin_begin, n, c.bin_begin, n, &w);
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < n; ++j)
        if (j != i) s += m[i * n + j];
      sums.push_back(s);
    }
  }
  return sums;
}

}  // namespace

// A balancing column is divisive when its divisive_weights attribute says so and multiplicative
// when it says False, whatever its name; only without the attribute does the name decide. The
// oracle is the balanced matrix itself: its off-diagonal row sums are 1 (a multiplicative KR taken
// as divisive gave values ~1e9 too large). cooler's own matrix(balance="KR") also decides by the
// name, so it could not catch this.
TEST(CoolerBalancing, ColumnsFollowTheirDivisiveWeightsAttributeElseTheirName) {
  CoolerFixtures fx;
  CoolerFile f(fx / "balanced.cool", 10000);
  const std::vector<double> weight = f.balancing_weights("weight");
  for (double s : balanced_row_sums(f, weight)) ASSERT_NEAR(s, 1.0, 1e-9);
  const std::vector<std::pair<std::string, std::string>> columns = {
      {"KR", "KR: multiplicative (bins/KR attribute divisive_weights = False)"},
      {"ICE", "ICE: multiplicative (no divisive_weights attribute; multiplicative by its name (cooler's convention))"},
      {"VC", "VC: divisive, 1/v used (bins/VC attribute divisive_weights = True)"},
      {"SCALE", "SCALE: divisive, 1/v used (no divisive_weights attribute; divisive by its name (Juicer's vectors))"},
      {"perChromKR", "perChromKR: divisive, 1/v used (bins/perChromKR attribute divisive_weights = True)"},
      {"weight", "weight: multiplicative (bins/weight attribute divisive_weights = False)"},
  };
  for (const auto& [column, rule] : columns) {
    EXPECT_EQ(f.balance_rule(column), rule);
    std::vector<double> w = f.balancing_weights(column);
    ASSERT_EQ(w.size(), weight.size()) << column;
    for (size_t i = 0; i < w.size(); ++i) ASSERT_NEAR(w[i], weight[i], 1e-12 * weight[i]) << column << " bin " << i;
    std::vector<double> sums = balanced_row_sums(f, w);
    const auto [lo, hi] = std::minmax_element(sums.begin(), sums.end());
    EXPECT_NEAR(*lo, 1.0, 1e-9) << column;
    EXPECT_NEAR(*hi, 1.0, 1e-9) << column;
  }
  // A negative value is a corrupt vector: refused with the file, the column, chromosome and bin.
  std::string m = error_of([&] { f.balancing_weights("NEG"); });
  EXPECT_NE(m.find(fx / "balanced.cool"), std::string::npos) << m;
  EXPECT_NE(m.find("bins/NEG on chr2"), std::string::npos) << m;
  EXPECT_NE(m.find("-0.25 at bin 3 (chr2:30000-40000)"), std::string::npos) << m;
}

// The multi-resolution layout before cooler 0.8 (cooler.reduce.legacy_zoomify: /1 = 10 kb,
// /0 = 20 kb) is read by bin size, and equals the same resolution of the current layout.
TEST(CoolerLayouts, OldMultiResolutionMcoolIsPickedByBinSize) {
  CoolerFixtures fx;
  for (int64_t res : {10000, 20000}) {
    CoolerFile old_layout(fx / "old.mcool", res), current(fx / "new.mcool", res);
    EXPECT_EQ(old_layout.bin_size(), res);
    EXPECT_EQ(old_layout.group(), res == 10000 ? "1" : "0");
    ASSERT_EQ(old_layout.n_bins(), current.n_bins()) << res;
    ASSERT_EQ(old_layout.chroms().size(), current.chroms().size());
    for (size_t c = 0; c < current.chroms().size(); ++c) {
      EXPECT_EQ(old_layout.chroms()[c].name, current.chroms()[c].name);
      EXPECT_EQ(old_layout.chroms()[c].length, current.chroms()[c].length);
    }
    PixelBlock a = old_layout.read_rows(0, old_layout.n_bins()), b = current.read_rows(0, current.n_bins());
    EXPECT_EQ(a.bin1, b.bin1) << res;
    EXPECT_EQ(a.bin2, b.bin2) << res;
    EXPECT_EQ(a.count, b.count) << res;
    EXPECT_GT(a.size(), 1000u);
  }
  std::string m = error_of([&] { CoolerFile(fx / "old.mcool", 5000); });
  EXPECT_NE(m.find("resolution 5000"), std::string::npos) << m;
  EXPECT_NE(m.find("available: 10000, 20000"), std::string::npos) << m;
  m = error_of([&] { CoolerFile(fx / "old.mcool", 0); });
  EXPECT_NE(m.find("--resolution to pick one of 10000, 20000"), std::string::npos) << m;
}

// A single-cell .scool: the whole file is refused with how to name a cell, and a named cell reads
// as the ordinary cooler cooler wrote from the same pixels.
TEST(CoolerLayouts, ScoolCellIsNamedWithItsUri) {
  CoolerFixtures fx;
  const std::string scool = fx / "cells.scool";
  std::string m = error_of([&] { CoolerFile(scool, 10000); });
  EXPECT_NE(m.find(scool + "::cells/NAME"), std::string::npos) << m;
  EXPECT_NE(m.find("cells: cellA, cellB"), std::string::npos) << m;
  CoolerFile cell(scool + "::cells/cellA", 10000), plain(fx / "cellA.cool", 10000);
  EXPECT_EQ(cell.group(), "cells/cellA");
  ASSERT_EQ(cell.n_bins(), plain.n_bins());
  PixelBlock a = cell.read_rows(0, cell.n_bins()), b = plain.read_rows(0, plain.n_bins());
  EXPECT_EQ(a.bin1, b.bin1);
  EXPECT_EQ(a.bin2, b.bin2);
  EXPECT_EQ(a.count, b.count);
  EXPECT_GT(a.size(), 1000u);
}
