// mixhic-prep end to end on the synthetic genome (always available): oracles on the corpus,
// byte-identical corpora for 1 and 3 ranks, and every bad input giving one clear error line, a
// non-zero exit and no output file.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "mixhic/corpus.hpp"
#include "mixhic/h5.hpp"
#include "test_util.hpp"

using namespace mixhic;
using test::run_command;

namespace {

// Every dataset of an HDF5 file as raw native bytes, by path.
std::map<std::string, std::string> dataset_bytes(const std::string& path) {
  std::map<std::string, std::string> out;
  h5::Handle f = h5::open_read(path);
  H5Ovisit(
      f, H5_INDEX_NAME, H5_ITER_NATIVE,
      [](hid_t root, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        if (info->type != H5O_TYPE_DATASET) return 0;
        h5::Handle d(H5Dopen2(root, name, H5P_DEFAULT));
        h5::Handle ftype(H5Dget_type(d));
        h5::Handle mtype(H5Tget_native_type(ftype, H5T_DIR_ASCEND));
        h5::Handle space(H5Dget_space(d));
        size_t n = static_cast<size_t>(H5Sget_simple_extent_npoints(space)) * H5Tget_size(mtype);
        std::string bytes(n, '\0');
        if (n) H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
        (*static_cast<std::map<std::string, std::string>*>(data))[name] = bytes;
        return 0;
      },
      &out);
  return out;
}

int count_error_lines(const std::string& output) {
  int n = 0;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.find("mixhic-prep: error") != std::string::npos) ++n;
  return n;
}

}  // namespace

class SynthPrep : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    auto r = run_command(test::prep_bin() + " synth --out-dir " + dir_->path() + "/in");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    inputs_ = dir_->path() + "/in/inputs.ini";
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string prep(const std::string& output, const std::string& options) {
    return test::prep_bin() + " --config " + std::string(MIXHIC_SOURCE_DIR) + "/configs/prep-synth.ini --config " +
           inputs_ + " --output " + output + " " + options;
  }
  static std::string in(const std::string& name) { return dir_->path() + "/in/" + name; }
  static test::TempDir* dir_;
  static std::string inputs_;
};
test::TempDir* SynthPrep::dir_ = nullptr;
std::string SynthPrep::inputs_;

TEST_F(SynthPrep, CorpusMatchesCoolerAndPyBigWig) {
  std::string out = *dir_ / "raw.h5";
  auto r = run_command(prep(out, "--balance none --hic-transform none --track-transform none"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int cell : {0, 1}) {
    std::string name = cell == 0 ? "synthA" : "synthB";
    auto w = run_command(test::oracle("check_windows.py") + " " + out + " " + in(name + ".mcool") +
                         "::resolutions/5000 --cell-index " + std::to_string(cell) + " --balance none");
    EXPECT_EQ(w.exit_code, 0) << w.output;
    std::string bws;
    for (auto t : {"CTCF", "ATAC", "H3K27ac", "H3K27me3"}) bws += " " + in(name + "." + t + ".bw");
    auto t = run_command(test::oracle("check_tracks.py") + " " + out + " --cell-index " + std::to_string(cell) + bws);
    EXPECT_EQ(t.exit_code, 0) << t.output;
  }
  Corpus corpus(out);
  EXPECT_GT(corpus.n_samples(), 100);
  EXPECT_EQ(corpus.geometry().track_bins_per_anchor, 2500);
  EXPECT_EQ(corpus.track_names(), (std::vector<std::string>{"CTCF", "ATAC", "H3K27ac", "H3K27me3"}));
  // Splits come from the config: chr3 val, chr4 test, the rest train; together all samples.
  size_t total = 0;
  for (int s = 0; s < 3; ++s) {
    total += corpus.split_indices(s).size();
    for (int64_t i : corpus.split_indices(s)) {
      const std::string& chrom = corpus.chrom_names()[corpus.meta(i).chrom];
      EXPECT_EQ(s, chrom == "chr3" ? 1 : chrom == "chr4" ? 2 : 0) << chrom;
    }
  }
  EXPECT_EQ(total, size_t(corpus.n_samples()));
}

TEST_F(SynthPrep, TransformsMatchAnIndependentOracle) {
  // Unbalanced, so cooler's raw fetch is the oracle's truth; check_windows.py recomputes the
  // chromosome scale and the per-diagonal expected from cooler and compares them too.
  const std::vector<std::string> variants = {
      "--hic-transform reference",  // raw counts exceed the clamp 255: scale = clamp
      "--hic-transform reference --reference-clamp 100000",  // scale = the chromosome maximum
      "--hic-transform oe",
      "--hic-transform oe --regions chr1:1000000-4000000,chr2",  // statistics over the regions
      "--hic-transform log1p",
  };
  for (size_t v = 0; v < variants.size(); ++v) {
    std::string out = *dir_ / ("transform" + std::to_string(v) + ".h5");
    auto r = run_command(prep(out, "--balance none --track-transform none " + variants[v]));
    ASSERT_EQ(r.exit_code, 0) << variants[v] << "\n" << r.output;
    for (int cell : {0, 1}) {
      std::string name = cell == 0 ? "synthA" : "synthB";
      auto w = run_command(test::oracle("check_windows.py") + " " + out + " " + in(name + ".mcool") +
                           "::resolutions/5000 --cell-index " + std::to_string(cell) + " --balance none");
      EXPECT_EQ(w.exit_code, 0) << variants[v] << " " << name << "\n" << w.output;
      ASSERT_NE(w.output.find("windows: n="), std::string::npos) << w.output;
      std::cout << "[ oracle   ] " << variants[v] << " " << name << ":\n" << w.output.substr(w.output.find("windows:"));
    }
  }
}

TEST_F(SynthPrep, CisOnlyIceEqualsCoolerOnTheSyntheticGenome) {
  // No contacts between chromosomes: genome-wide ICE oscillates, cis-only converges (~850 its).
  test::check_ice(in("synthA.mcool") + "::resolutions/5000", /*cis_only=*/true, 1000);
}

TEST_F(SynthPrep, OneAndThreeRanksWriteIdenticalCorpora) {
  // ICE, observed/expected and z-scored tracks: every reduction over ranks is exercised.
  const std::string opts = "--balance ice --hic-transform oe --track-zscore true";
  std::string one = *dir_ / "np1.h5", three = *dir_ / "np3.h5";
  auto r1 = run_command(prep(one, opts));
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  auto r3 = run_command(test::mpirun(3) + prep(three, opts));
  ASSERT_EQ(r3.exit_code, 0) << r3.output;
  auto a = dataset_bytes(one), b = dataset_bytes(three);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_GE(a.size(), 25u);
  for (auto& [name, bytes] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(bytes == b[name]) << "dataset " << name << " differs between 1 and 3 ranks";
  }
  Corpus c1(one), c3(three);
  EXPECT_EQ(c1.corpus_id(), c3.corpus_id());
  EXPECT_EQ(c3.recompute_corpus_id(), c3.corpus_id());
}

TEST_F(SynthPrep, ReferenceTransformScalesEachChromosomeToOne) {
  std::string out = *dir_ / "ref.h5";
  auto r = run_command(test::mpirun(2) + prep(out, "--track-zscore false"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Corpus corpus(out);
  const int64_t W = corpus.geometry().window_bins;
  std::vector<float> packed(W * (W + 1) / 2);
  float max_value = 0, min_value = 1e9;
  for (int64_t i = 0; i < corpus.n_samples(); ++i) {
    corpus.read_hic_packed(i, packed.data());
    for (float v : packed) {
      max_value = std::max(max_value, v);
      min_value = std::min(min_value, v);
    }
  }
  EXPECT_LE(max_value, 1.0f);
  EXPECT_GT(max_value, 0.5f);  // the chromosome maximum sits on the diagonal, inside windows
  EXPECT_GE(min_value, 0.0f);
  auto inspect = run_command(test::prep_bin() + " inspect " + out + " --verify");
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_NE(inspect.output.find("(matches)"), std::string::npos) << inspect.output;
  EXPECT_NE(inspect.output.find("transform reference"), std::string::npos) << inspect.output;
}

TEST_F(SynthPrep, BadInputsFailWithOneLineNamingTheFileOnEveryRank) {
  std::filesystem::copy_file(in("synthA.mcool"), *dir_ / "truncated.mcool",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(*dir_ / "truncated.mcool", std::filesystem::file_size(in("synthA.mcool")) / 2);
  auto other = run_command(test::prep_bin() + " synth --out-dir " + (*dir_ / "other") +
                           " --synth-chroms 2 --synth-chrom-mb 8 --synth-cells 1");
  ASSERT_EQ(other.exit_code, 0) << other.output;
  {
    std::ofstream all(*dir_ / "everything.bed");  // a blacklist that leaves no window
    for (auto c : {"chr1", "chr2", "chr3", "chr4"}) all << c << "\t0\t10000000\n";
  }
  const std::string base = " --balance none --input-checksums false ";
  struct BadCase {
    std::string what, args, must_mention;
  };
  std::vector<BadCase> cases = {
      {"missing Hi-C file", "--resolution 5000 --cell 'A " + (*dir_ / "nope.mcool") + "' --track 'A CTCF " + in("synthA.CTCF.bw") + "'",
       "nope.mcool"},
      {"resolution absent", "--cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " + in("synthA.CTCF.bw") +
                                "' --resolution 7000",
       "resolutions/7000"},
      {"chromosome missing from a track", "--resolution 5000 --cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " +
                                              (*dir_ / "other/synthA.CTCF.bw") + "' --chroms chr1,chr3",
       "chromosome chr3"},
      {"mismatched chromosome lengths", "--resolution 5000 --cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " +
                                            (*dir_ / "other/synthA.CTCF.bw") + "' --chroms chr2",
       "wrong assembly"},
      {"truncated HDF5", "--resolution 5000 --cell 'A " + (*dir_ / "truncated.mcool") + "' --track 'A CTCF " + in("synthA.CTCF.bw") + "'",
       "truncated.mcool"},
      {"non-bigWig track", "--resolution 5000 --cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " + in("blacklist.bed") + "'",
       "blacklist.bed: bigWig header"},
      {"empty window set", "--resolution 5000 --cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " + in("synthA.CTCF.bw") +
                               "' --blacklist " + (*dir_ / "everything.bed"),
       "no window left after the filters"},
  };
  for (int np : {1, 2}) {
    for (const auto& c : cases) {
      std::string out = *dir_ / "bad.h5";
      std::string cmd = "timeout 120 " + (np > 1 ? test::mpirun(np) : std::string()) + test::prep_bin() +
                        " --output " + out + base + c.args;
      auto r = run_command(cmd);
      EXPECT_NE(r.exit_code, 0) << c.what << " np=" << np;
      EXPECT_NE(r.exit_code, 124) << c.what << " np=" << np << ": hung";
      EXPECT_NE(r.output.find(c.must_mention), std::string::npos) << c.what << " np=" << np << ":\n" << r.output;
      EXPECT_EQ(count_error_lines(r.output), 1) << c.what << " np=" << np << ":\n" << r.output;
      EXPECT_FALSE(std::filesystem::exists(out)) << c.what;
      for (auto& e : std::filesystem::directory_iterator(dir_->path()))
        EXPECT_EQ(e.path().filename().string().find("bad.h5.tmp"), std::string::npos) << e.path();
      std::cout << "[ bad input] np=" << np << " " << c.what << ": "
                << r.output.substr(r.output.find("mixhic-prep: error"),
                                   r.output.find('\n', r.output.find("mixhic-prep: error")) -
                                       r.output.find("mixhic-prep: error"))
                << "\n";
    }
  }
}

TEST_F(SynthPrep, KilledRunLeavesNothingAtTheOutputPath) {
  std::string out = *dir_ / "killed.h5";
  // ICE on both cells takes several seconds: kill the job in the middle of it.
  auto r = run_command("( " + test::mpirun(2) + prep(out, "--balance ice") + " >/dev/null 2>&1 & pid=$!; sleep 2; kill -9 $pid; wait $pid ); true");
  EXPECT_FALSE(std::filesystem::exists(out));
  auto inspect = run_command(test::prep_bin() + " inspect " + in("synthA.mcool"));
  EXPECT_NE(inspect.exit_code, 0);
  EXPECT_NE(inspect.output.find("attribute 'format'"), std::string::npos) << inspect.output;
}
