// Pure functions: hashing, work split, exact sums, chromosome names, the option table.
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>
#include <random>

#include "mixhic/chrom_names.hpp"
#include "mixhic/check.hpp"
#include "mixhic/config.hpp"
#include "mixhic/exact_sum.hpp"
#include "mixhic/hash.hpp"
#include "mixhic/mpi_world.hpp"
#include "prep_config.hpp"
#include "test_util.hpp"

using namespace mixhic;

TEST(Hash, StreamingEqualsOneShotForAnySplit) {
  std::vector<uint8_t> data(1000);
  std::iota(data.begin(), data.end(), 0);
  uint64_t whole = hash64(data.data(), data.size());
  for (size_t cut1 : {0, 1, 7, 8, 9, 500}) {
    for (size_t cut2 : {size_t(0), size_t(3), size_t(13)}) {
      Hasher h;
      size_t a = cut1, b = std::min(data.size(), cut1 + cut2);
      h.update(data.data(), a);
      h.update(data.data() + a, b - a);
      h.update(data.data() + b, data.size() - b);
      EXPECT_EQ(h.digest(), whole) << cut1 << " " << cut2;
    }
  }
  data[999] ^= 1;
  EXPECT_NE(hash64(data.data(), data.size()), whole);
  EXPECT_EQ(hex64(0xabcULL), "0000000000000abc");
}

TEST(WorkSplit, BlocksAreDisjointCompleteAndOrdered) {
  for (int64_t n : {0, 1, 2, 3, 7, 100, 101}) {
    for (int world = 1; world <= 4; ++world) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        Block b = block_of(n, r, world);
        EXPECT_EQ(b.begin, next);
        EXPECT_GE(b.size(), n / world);
        EXPECT_LE(b.size(), n / world + 1);
        next = b.end;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(ExactSum, OrderAndGroupingDoNotChangeTheBits) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(0, 4);  // values spanning many orders of magnitude
  std::vector<double> terms(10000);
  for (auto& t : terms) t = dist(rng) * (rng() % 2 ? 1 : -1);
  double max_abs = 0;
  for (double t : terms) max_abs = std::max(max_abs, std::fabs(t));
  FixedPoint fp(max_abs);
  auto sum_in = [&](const std::vector<double>& v) {
    Fixed128 acc = 0;
    for (double t : v) acc += fp.to_fixed(t);
    return fp.to_double(acc);
  };
  double forward = sum_in(terms);
  auto shuffled = terms;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  EXPECT_EQ(sum_in(shuffled), forward);
  long double reference = 0;
  for (double t : terms) reference += t;
  EXPECT_NEAR(forward, double(reference), 1e-12 * std::fabs(double(reference)) + 1e-9);
}

TEST(ChromNames, ReconcilesPrefixesMitochondriaAndAliases) {
  ChromNameMap names({"chr2_alt:2alt"});
  auto in = [](std::vector<std::string> set) {
    return [set](const std::string& n) { return std::find(set.begin(), set.end(), n) != set.end(); };
  };
  EXPECT_EQ(names.resolve("chr1", in({"1", "2"})), "1");
  EXPECT_EQ(names.resolve("1", in({"chr1"})), "chr1");
  EXPECT_EQ(names.resolve("chrM", in({"MT"})), "MT");
  EXPECT_EQ(names.resolve("MT", in({"chrM"})), "chrM");
  EXPECT_EQ(names.resolve("chr2_alt", in({"2alt"})), "2alt");
  EXPECT_EQ(names.resolve("chr9", in({"chr1"})), "");
  EXPECT_EQ(ChromNameMap::bare("chr21"), "21");
  EXPECT_THROW(ChromNameMap({"nocolon"}), ConfigError);
}

TEST(Config, FileThenCommandLineOverrideAndUnknownKeys) {
  test::TempDir dir;
  std::string ini = dir / "a.ini";
  std::ofstream(ini) << "# comment\nresolution = 10000\nwindow-bins = 20\ncell = A a.cool\n";
  prep::PrepConfig cfg;
  auto table = prep::prep_options(cfg);
  std::vector<std::string> args = {"prog", "--config", ini, "--window-bins", "64", "--cell", "B b.cool"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  auto parsed = parse_options(int(argv.size()), argv.data(), 1, table);
  EXPECT_EQ(cfg.resolution, 10000);
  EXPECT_EQ(cfg.window_bins, 64);  // the command line wins
  ASSERT_EQ(cfg.cells.size(), 2u);  // repeatable keys accumulate
  std::string text = render_ini(parsed.vm, table);
  EXPECT_NE(text.find("window-bins = 64"), std::string::npos);
  EXPECT_NE(text.find("cell = A a.cool"), std::string::npos);

  std::ofstream(dir / "bad.ini") << "resolutoin = 5000\n";
  prep::PrepConfig cfg2;
  auto table2 = prep::prep_options(cfg2);
  std::vector<std::string> args2 = {"prog", "--config", dir / "bad.ini"};
  std::vector<char*> argv2;
  for (auto& a : args2) argv2.push_back(a.data());
  try {
    parse_options(int(argv2.size()), argv2.data(), 1, table2);
    FAIL() << "unknown key accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.ini"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("resolutoin"), std::string::npos) << e.what();
  }
}

TEST(Config, HelpListsEveryKey) {
  // No leak check in this child (it does nothing with memory but print): in the sanitized io tests
  // (tests/fuzz) LeakSanitizer's tracer thread twice died of SIGSEGV ("Tracer caught signal 11")
  // at the exit of this 0.3 s MPI run, racing Open MPI's threads; the other prep runs keep it.
  auto r = test::run_command("ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" " + test::prep_bin() + " --help");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  prep::PrepConfig cfg;
  auto table = prep::prep_options(cfg);
  for (const auto& opt : table.options())
    EXPECT_NE(r.output.find("--" + opt->long_name()), std::string::npos) << opt->long_name();
}
