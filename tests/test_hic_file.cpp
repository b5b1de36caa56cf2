// Juicer .hic reader (HicFile) against independent oracles: a v9 file written field by field by
// tests/oracles/write_hic_v9.py from a known matrix; the real v8 HiCDCPlus file against the .cool
// converted from it (python-decoded, see ../shared/data/README.md); test_chr22.hic against the
// record counts and sums in that README; and mixhic-prep on a .hic vs on the converted .cool.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <sstream>
#include <tuple>

#include "mixhic/check.hpp"
#include "mixhic/cooler_file.hpp"
#include "mixhic/hic_file.hpp"
#include "test_util.hpp"

using namespace mixhic;
using test::run_command;
using test::shared_data;
using test::error_of;

namespace {

using Pixel = std::tuple<int64_t, int64_t, double>;

std::vector<Pixel> pixels_of(const PixelBlock& px) {
  std::vector<Pixel> v;
  for (size_t k = 0; k < px.size(); ++k) v.emplace_back(px.bin1[k], px.bin2[k], px.count[k]);
  return v;
}

// Pixels of one chromosome, with bins counted from the chromosome's first bin.
std::vector<Pixel> chrom_pixels(const ContactMatrix& m, const std::string& chrom) {
  const CoolerChrom& c = m.chroms().at(m.chrom_index(chrom));
  std::vector<Pixel> v;
  for (auto [b1, b2, n] : pixels_of(m.read_rows(c.bin_begin, c.bin_end, c.bin_end)))
    v.emplace_back(b1 - c.bin_begin, b2 - c.bin_begin, n);
  return v;
}

std::vector<double> slice(const std::vector<double>& v, const CoolerChrom& c) {
  return {v.begin() + c.bin_begin, v.begin() + c.bin_end};
}

// Equal element by element, NaN equal to NaN.
void expect_same(const std::vector<double>& a, const std::vector<double>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: " << a[i] << " vs " << b[i];
  EXPECT_EQ(bad, 0) << what;
}

// The v9 file of write_hic_v9.py, its pixels and its KR vector.
struct V9Case {
  test::TempDir dir;
  std::string hic = dir / "tiny.v9.hic";
  std::vector<Pixel> pixels;
  std::vector<double> kr;
  V9Case() {
    auto r = run_command(test::oracle("write_hic_v9.py") + " " + hic + " " + dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::ifstream px(dir / "pixels.tsv"), kv(dir / "kr.tsv");
    int64_t b1, b2;
    double n;
    while (px >> b1 >> b2 >> n) pixels.emplace_back(b1, b2, n);
    std::string s;
    while (kv >> s) kr.push_back(s == "nan" ? std::nan("") : std::stod(s));
  }
};

}  // namespace

TEST(HicFileV9, ReadsBackTheWrittenMatrixAndVector) {
  V9Case v9;
  ASSERT_EQ(v9.pixels.size(), 212u);
  HicFile hic(v9.hic, 0);  // a single resolution: 0 accepts it
  EXPECT_EQ(hic.version(), 9);
  EXPECT_EQ(hic.genome_id(), "test-genome");
  EXPECT_EQ(hic.bin_size(), 10000);
  ASSERT_EQ(hic.chroms().size(), 2u);  // "ALL" is not a chromosome of the layout
  EXPECT_EQ(hic.chroms()[0].name, "chrA");
  EXPECT_EQ(hic.chroms()[0].length, 305000);
  EXPECT_EQ(hic.chroms()[0].bin_end, 31);
  EXPECT_EQ(hic.chroms()[1].bin_begin, 31);
  EXPECT_EQ(hic.n_bins(), 51);
  EXPECT_EQ(hic.group(), "BP/10000");

  // Every record type and width of the writer, intra-chromosomal only (1_2 is left out).
  EXPECT_EQ(pixels_of(hic.read_rows(0, hic.n_bins())), v9.pixels);
  // Partial reads pick the right blocks across pads and depths, and keep (bin1, bin2) order.
  for (auto [r0, r1, c1] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {0, 1, 51}, {5, 9, 12}, {7, 31, 31}, {13, 14, 14}, {29, 40, 45}, {30, 51, 51}, {45, 51, 48}, {0, 51, 20}}) {
    std::vector<Pixel> want;
    for (auto& p : v9.pixels)
      if (std::get<0>(p) >= r0 && std::get<0>(p) < r1 && std::get<1>(p) < c1) want.push_back(p);
    EXPECT_EQ(pixels_of(hic.read_rows(r0, r1, c1)), want) << "rows [" << r0 << ", " << r1 << ") cols < " << c1;
  }
  // fetch mirrors the upper triangle.
  std::vector<double> dense = hic.fetch(28, 6, 28, 6, nullptr);
  for (auto& [b1, b2, n] : v9.pixels)
    if (b1 >= 28 && b2 < 34) {
      EXPECT_EQ(dense[(b1 - 28) * 6 + (b2 - 28)], n);
      EXPECT_EQ(dense[(b2 - 28) * 6 + (b1 - 28)], n);
    }

  EXPECT_EQ(hic.bin_columns(), std::vector<std::string>{"KR"});
  EXPECT_TRUE(hic.has_bin_column("KR"));
  expect_same(hic.norm_vector("KR"), v9.kr, "KR");  // chrB has no vector: NaN
  std::vector<double> inverse = v9.kr;
  for (auto& x : inverse) x = std::isfinite(x) && x != 0 ? 1.0 / x : std::nan("");
  expect_same(hic.balancing_weights("KR"), inverse, "weights");
  expect_same(hic.balancing_weights("NONE"), std::vector<double>(51, 1.0), "NONE");
  std::string m = error_of([&] { hic.balancing_weights("VC"); });
  EXPECT_NE(m.find("normalisation VC"), std::string::npos) << m;
  EXPECT_NE(m.find("this file has: KR"), std::string::npos) << m;
}

TEST(HicFileV9, BadInputsNameTheFileAndWhatWasExpected) {
  V9Case v9;
  std::ifstream in(v9.hic, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(v9.dir / name, std::ios::binary) << content;
    return v9.dir / name;
  };

  std::string header_cut = write("header-cut.hic", bytes.substr(0, 30));
  std::string m = error_of([&] { HicFile(header_cut, 0); });
  EXPECT_NE(m.find(header_cut), std::string::npos) << m;
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;

  std::string footer_cut = write("footer-cut.hic", bytes.substr(0, bytes.size() - 40));
  m = error_of([&] { HicFile(footer_cut, 0); });
  EXPECT_NE(m.find(footer_cut), std::string::npos) << m;
  EXPECT_NE(m.find("footer"), std::string::npos) << m;
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;

  std::string v7 = bytes;
  v7[4] = 7;
  std::string old = write("v7.hic", v7);
  m = error_of([&] { HicFile(old, 0); });
  EXPECT_NE(m.find(old + ": version: expected 8 or 9"), std::string::npos) << m;
  EXPECT_NE(m.find("got 7"), std::string::npos) << m;

  std::string text = write("not-really.hic", "chr1\t0\t100\n");
  m = error_of([&] { open_contact_matrix(text, 0); });  // picked by extension, refused by content
  EXPECT_NE(m.find(text + ": magic: expected \"HIC\\0\""), std::string::npos) << m;

  m = error_of([&] { HicFile(v9.hic, 5000); });
  EXPECT_NE(m.find("available: 10000"), std::string::npos) << m;
}

// A negative normalisation value (a corrupt file; KR, VC, VC_SQRT and SCALE never have one) is
// refused naming the file, the vector, the chromosome and the first bad bin; NaN stays a masked bin.
TEST(HicFileV9, NegativeNormalisationValueIsRefused) {
  test::TempDir dir;
  const std::string hic = dir / "negative.hic";
  auto r = run_command(test::oracle("write_hic_v9.py") + " " + hic + " " + dir.path() + " --negative-kr-bin 7");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  HicFile f(hic, 0);
  std::string m = error_of([&] { f.balancing_weights("KR"); });
  EXPECT_NE(m.find(hic + ": KR vector of chrA: expected values >= 0 (NaN for a masked bin)"), std::string::npos) << m;
  EXPECT_NE(m.find("got -0.75 at bin 7 (chrA:70000-80000)"), std::string::npos) << m;
  EXPECT_EQ(f.balance_rule("KR"), "KR: divisive, 1/v used (every .hic normalisation vector is divisive)");
}

TEST(HicFileReal, HiCDCPlusV8EqualsItsConvertedCooler) {
  MIXHIC_REQUIRE_SHARED_DATA();
  auto opened = open_contact_matrix(shared_data("hic/GSE63525_HMEC_combined_example.hic"), 50000);
  const auto& hic = dynamic_cast<const HicFile&>(*opened);
  CoolerFile cool(shared_data("hic/hg19.HiCDCPlus_example.chr21_chr22.50kb.cool"), 0);
  EXPECT_EQ(hic.version(), 8);
  EXPECT_EQ(hic.genome_id(), "hg19");
  EXPECT_EQ(hic.chroms().size(), 25u);  // 1..22, X, Y, M without "ALL"
  EXPECT_EQ(hic.chroms()[0].name, "1");

  const std::vector<std::tuple<std::string, int64_t, int64_t>> totals = {{"21", 26850, 2442305},
                                                                          {"22", 26748, 3187593}};
  for (auto& [name, records, sum] : totals) {
    const CoolerChrom& hc = hic.chroms()[hic.chrom_index(name)];
    const CoolerChrom& cc = cool.chroms()[cool.chrom_index("chr" + name)];
    EXPECT_EQ(hc.length, cc.length) << name;
    EXPECT_EQ(hc.bin_end - hc.bin_begin, cc.bin_end - cc.bin_begin) << name;
    std::vector<Pixel> hp = chrom_pixels(hic, name), cp = chrom_pixels(cool, "chr" + name);
    EXPECT_EQ(int64_t(hp.size()), records) << name;
    EXPECT_EQ(std::accumulate(hp.begin(), hp.end(), 0.0, [](double s, auto& p) { return s + std::get<2>(p); }),
              double(sum))
        << name;
    EXPECT_TRUE(hp == cp) << name << ": " << hp.size() << " pixels vs the cooler's " << cp.size();
    // A band away from the chromosome start, as the prep reads it.
    int64_t lo = hc.bin_begin + 300, hi = lo + 100;
    std::vector<Pixel> band;
    for (auto [b1, b2, n] : pixels_of(hic.read_rows(lo, hi, hi)))
      band.emplace_back(b1 - hc.bin_begin, b2 - hc.bin_begin, n);
    std::vector<Pixel> want;
    for (auto [b1, b2, n] : pixels_of(cool.read_rows(cc.bin_begin + 300, cc.bin_begin + 400, cc.bin_begin + 400)))
      want.emplace_back(b1 - cc.bin_begin, b2 - cc.bin_begin, n);
    EXPECT_TRUE(band == want) << name << " band: " << band.size() << " vs " << want.size();

    for (const std::string norm : {"KR", "VC", "VC_SQRT", "SCALE"}) {
      ASSERT_TRUE(hic.has_bin_column(norm)) << norm;
      expect_same(slice(hic.balancing_weights(norm), hc), slice(cool.balancing_weights(norm), cc), name + " " + norm);
    }
    expect_same(slice(hic.balancing_weights("KR"), hc), slice(cool.balancing_weights("weight"), cc),
                name + " 1/KR = weight");
  }
  std::vector<std::string> norms = hic.bin_columns();
  EXPECT_NE(std::find(norms.begin(), norms.end(), "GW_SCALE"), norms.end());
  // Chromosomes the example has no contacts for read as empty, not as an error.
  const CoolerChrom& c1 = hic.chroms()[0];
  EXPECT_EQ(hic.read_rows(c1.bin_begin, c1.bin_begin + 50).size(), 0u);
}

// A corrupt compressed block that both ranks of a prep read (block 0 of chr21 holds every row at
// 50 kb): one error line naming the file and the block, exit 2 on every rank. Before, each rank
// that met the block printed it. With balance = KR + oe the first reader is the expected-value
// pass, without balancing the window extraction: both are covered.
TEST(HicFileReal, CorruptBlockMetByTwoRanksIsOneLine) {
  MIXHIC_REQUIRE_SHARED_DATA();
  test::TempDir dir;
  const std::string hic = dir / "corrupt.hic";
  std::filesystem::copy_file(shared_data("hic/GSE63525_HMEC_combined_example.hic"), hic);
  {
    std::fstream f(hic, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(50000);  // inside the zlib stream of block 0 of chr21 ("21_21")
    f << std::string(256, '\x55');
  }
  for (const std::string options : {"--balance none", "--balance KR --hic-transform oe"}) {
    auto r = run_command("timeout 120 " + test::mpirun(2) + test::prep_bin() + " --output " + (dir / "c.h5") +
                         " --cell 'X " + hic + "' --resolution 50000 --chroms chr21 --window-bins 20 --stride-bp 250000 "
                         "--track-bin-bp 1000 --min-nonzero-fraction 0.05 --max-masked-bins 20 --input-checksums false "
                         "--track 'X CTCF " + shared_data("tracks/hg19.GM12878.CTCF.chr21_28.0-30.3Mb.bw") + "' " + options);
    EXPECT_EQ(r.exit_code, 2) << options << ":\n" << r.output;
    EXPECT_NE(r.output.find(hic + ": block 0 of 21 at 50000 bp: expected a zlib-compressed block"), std::string::npos)
        << options << ":\n" << r.output;
    int lines = 0;
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) lines += line.find("mixhic-prep: error") != std::string::npos;
    EXPECT_EQ(lines, 1) << options << ":\n" << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir / "c.h5"));
  }
}

TEST(HicFileReal, TestChr22PicksItsResolutions) {
  MIXHIC_REQUIRE_SHARED_DATA();
  const std::string path = shared_data("hic/test_chr22.hic");
  // Record counts and sum from ../shared/data/README.md (an independent decoder).
  for (auto [res, records] : std::vector<std::pair<int64_t, int64_t>>{{2500000, 120}, {100000, 7784}}) {
    HicFile hic(path, res);
    EXPECT_EQ(hic.bin_size(), res);
    std::vector<Pixel> px = chrom_pixels(hic, "22");
    EXPECT_EQ(int64_t(px.size()), records) << res;
    double sum = 0;
    for (auto& p : px) sum += std::get<2>(p);
    EXPECT_EQ(sum, 29267.0) << res;
    for (const std::string norm : {"KR", "VC", "VC_SQRT", "SCALE"})
      EXPECT_TRUE(hic.has_bin_column(norm)) << norm << " " << res;
  }
  std::string m = error_of([&] { HicFile(path, 5000); });
  EXPECT_NE(m.find(path + ": resolution"), std::string::npos) << m;
  EXPECT_NE(m.find("available: 2500000, 100000"), std::string::npos) << m;
  EXPECT_NE(m.find("got 5000"), std::string::npos) << m;
  m = error_of([&] { HicFile(path, 0); });
  EXPECT_NE(m.find("--resolution to pick one of 2500000, 100000"), std::string::npos) << m;
  m = error_of([&] { HicFile(shared_data("hic/hg19.HiCDCPlus_example.chr21_chr22.50kb.cool"), 0); });
  EXPECT_NE(m.find("50kb.cool: magic: expected \"HIC\\0\" (a Juicer .hic file)"), std::string::npos) << m;
}

TEST(HicFileReal, PrepOnHicEqualsPrepOnConvertedCool) {
  MIXHIC_REQUIRE_SHARED_DATA();
  test::TempDir dir;
  // The track covers chr21 only; the .hic names it "21", the cooler and the track "chr21".
  const std::string args =
      " --resolution 50000 --chroms chr21 --window-bins 20 --stride-bp 250000 --track-bin-bp 1000 "
      "--min-nonzero-fraction 0.05 --max-masked-bins 20 --input-checksums false --track 'X CTCF " +
      shared_data("tracks/hg19.GM12878.CTCF.chr21_28.0-30.3Mb.bw") + "'";
  for (const std::string balance : {"KR", "none"}) {
    std::string a = dir / ("hic-" + balance + ".h5"), b = dir / ("cool-" + balance + ".h5");
    auto r1 = run_command(test::prep_bin() + " --output " + a + " --cell 'X " +
                          shared_data("hic/GSE63525_HMEC_combined_example.hic") + "' --balance " + balance + args);
    ASSERT_EQ(r1.exit_code, 0) << r1.output;
    auto r2 = run_command(test::prep_bin() + " --output " + b + " --cell 'X " +
                          shared_data("hic/hg19.HiCDCPlus_example.chr21_chr22.50kb.cool") + "' --balance " + balance +
                          args);
    ASSERT_EQ(r2.exit_code, 0) << r2.output;
    auto c = run_command(test::oracle("compare_samples.py") + " " + a + " " + b);
    EXPECT_EQ(c.exit_code, 0) << c.output;
    std::cout << "[ oracle   ] balance " << balance << ": " << c.output;
  }
  auto ice = run_command(test::prep_bin() + " --output " + (dir / "ice.h5") + " --cell 'X " +
                         shared_data("hic/GSE63525_HMEC_combined_example.hic") + "' --balance ice" + args);
  EXPECT_NE(ice.exit_code, 0);
  EXPECT_NE(ice.output.find("ice balancing reads a cooler pixel table"), std::string::npos) << ice.output;
}
