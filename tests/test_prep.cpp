// mixhic-prep end to end on the synthetic genome (always available): oracles on the corpus,
// byte-identical corpora for 1 and 3 ranks, and every bad input giving one clear error line, a
// non-zero exit and no output file.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "mixhic/corpus.hpp"
#include "mixhic/h5.hpp"
#include "fixtures.hpp"
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

// The synthetic genome is read by every test (fixture synth-inputs: made once per ctest run, or
// by SetUpTestSuite into own_); what a test writes goes to its own directory, out_.
class SynthPrep : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    own_ = new test::TempDir;
    setup_error_.clear();
    in_dir_ = test::synth_inputs(own_->path(), setup_error_);
    inputs_ = in_dir_ + "/inputs.ini";
  }
  static void TearDownTestSuite() {
    delete own_;
    own_ = nullptr;
  }
  // Each test fails when the set-up did: a failure in SetUpTestSuite makes gtest report every test
  // as skipped, which ctest (SKIP_REGULAR_EXPRESSION) does not count as a failure.
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }
  static std::string prep(const std::string& output, const std::string& options) {
    return test::prep_bin() + " --config " + std::string(MIXHIC_SOURCE_DIR) + "/configs/prep-synth.ini --config " +
           inputs_ + " --output " + output + " " + options;
  }
  static std::string in(const std::string& name) { return in_dir_ + "/" + name; }
  test::TempDir out_;
  static test::TempDir* own_;
  static std::string in_dir_, inputs_, setup_error_;
};
test::TempDir* SynthPrep::own_ = nullptr;
std::string SynthPrep::in_dir_, SynthPrep::inputs_, SynthPrep::setup_error_;

TEST_F(SynthPrep, CorpusMatchesCoolerAndPyBigWig) {
  std::string out = out_ / "raw.h5";
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
    std::string out = out_ / ("transform" + std::to_string(v) + ".h5");
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
  std::string one = out_ / "np1.h5", three = out_ / "np3.h5";
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
  std::string out = out_ / "ref.h5";
  auto r = run_command(test::mpirun(2) + prep(out, "--hic-transform reference --track-zscore false"));
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
  std::filesystem::copy_file(in("synthA.mcool"), out_ / "truncated.mcool",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(out_ / "truncated.mcool", std::filesystem::file_size(in("synthA.mcool")) / 2);
  std::filesystem::copy_file(in("synthA.CTCF.bw"), out_ / "truncated.bw", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(out_ / "truncated.bw", 2000);
  auto other = run_command(test::prep_bin() + " synth --out-dir " + (out_ / "other") +
                           " --synth-chroms 2 --synth-chrom-mb 8 --synth-cells 1");
  ASSERT_EQ(other.exit_code, 0) << other.output;
  {
    std::ofstream all(out_ / "everything.bed");  // a blacklist that leaves no window
    for (auto c : {"chr1", "chr2", "chr3", "chr4"}) all << c << "\t0\t10000000\n";
  }
  const std::string base = " --balance none --input-checksums false ";
  struct BadCase {
    std::string what, args, must_mention;
  };
  std::vector<BadCase> cases = {
      {"missing Hi-C file", "--resolution 5000 --cell 'A " + (out_ / "nope.mcool") + "' --track 'A CTCF " + in("synthA.CTCF.bw") + "'",
       "nope.mcool"},
      {"resolution absent", "--cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " + in("synthA.CTCF.bw") +
                                "' --resolution 7000",
       "resolutions/7000"},
      {"chromosome missing from a track", "--resolution 5000 --cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " +
                                              (out_ / "other/synthA.CTCF.bw") + "' --chroms chr1,chr3",
       "chromosome chr3"},
      {"mismatched chromosome lengths", "--resolution 5000 --cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " +
                                            (out_ / "other/synthA.CTCF.bw") + "' --chroms chr2",
       "wrong assembly"},
      {"truncated HDF5", "--resolution 5000 --cell 'A " + (out_ / "truncated.mcool") + "' --track 'A CTCF " + in("synthA.CTCF.bw") + "'",
       "truncated.mcool"},
      {"non-bigWig track", "--resolution 5000 --cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " + in("blacklist.bed") + "'",
       "blacklist.bed: bigWig header"},
      {"truncated bigWig", "--resolution 5000 --cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " +
                               (out_ / "truncated.bw") + "'",
       "truncated.bw"},
      {"empty window set", "--resolution 5000 --cell 'A " + in("synthA.mcool") + "' --track 'A CTCF " + in("synthA.CTCF.bw") +
                               "' --blacklist " + (out_ / "everything.bed"),
       "no window left after the filters"},
  };
  for (int np : {1, 2}) {
    for (const auto& c : cases) {
      std::string out = out_ / "bad.h5";
      std::string cmd = "timeout 120 " + (np > 1 ? test::mpirun(np) : std::string()) + test::prep_bin() +
                        " --output " + out + base + c.args;
      auto r = run_command(cmd);
      EXPECT_NE(r.exit_code, 0) << c.what << " np=" << np;
      EXPECT_NE(r.exit_code, 124) << c.what << " np=" << np << ": hung";
      EXPECT_NE(r.output.find(c.must_mention), std::string::npos) << c.what << " np=" << np << ":\n" << r.output;
      EXPECT_EQ(count_error_lines(r.output), 1) << c.what << " np=" << np << ":\n" << r.output;
      EXPECT_FALSE(std::filesystem::exists(out)) << c.what;
      for (auto& e : std::filesystem::directory_iterator(out_.path()))
        EXPECT_EQ(e.path().filename().string().find("bad.h5.tmp"), std::string::npos) << e.path();
      std::cout << "[ bad input] np=" << np << " " << c.what << ": "
                << r.output.substr(r.output.find("mixhic-prep: error"),
                                   r.output.find('\n', r.output.find("mixhic-prep: error")) -
                                       r.output.find("mixhic-prep: error"))
                << "\n";
    }
  }
}

// The output location is checked before the expensive work (here ICE on both cells): a missing
// directory, a directory given as the output, or a file system without room for the corpus ends
// the job at once with one line on every rank, and leaves nothing behind.
TEST_F(SynthPrep, UnusableOutputFailsBeforeTheExpensiveWork) {
  struct OutputCase {
    std::string what, output, must_mention;
  };
  std::vector<OutputCase> cases = {
      {"missing directory", out_ / "no/such/dir/c.h5", "c.h5: output: expected a file in an existing directory"},
      {"a directory", out_.path(), out_.path() + ": output: expected a file name, got a directory"},
  };
  const std::string small = out_ / "small-fs";
  std::filesystem::create_directories(small);
  const bool mounted = run_command("mount -t tmpfs -o size=256k tmpfs " + small).exit_code == 0;
  if (mounted) cases.push_back({"no room", small + "/c.h5", "free space: expected at least"});
  else std::cout << "[ skipped  ] no room: cannot mount a small tmpfs here (not root?)\n";
  for (int np : {1, 2}) {
    for (const auto& c : cases) {
      auto r = run_command("timeout 120 " + (np > 1 ? test::mpirun(np) : std::string()) + prep(c.output, "--balance ice"));
      EXPECT_EQ(r.exit_code, 2) << c.what << " np=" << np << ":\n" << r.output;
      EXPECT_NE(r.output.find(c.must_mention), std::string::npos) << c.what << " np=" << np << ":\n" << r.output;
      EXPECT_EQ(count_error_lines(r.output), 1) << c.what << " np=" << np << ":\n" << r.output;
      EXPECT_EQ(r.output.find("normalisation statistics"), std::string::npos) << c.what << ": ICE ran first";
      std::cout << "[ output   ] np=" << np << " " << c.what << ": "
                << r.output.substr(r.output.find("mixhic-prep: error"),
                                   r.output.find('\n', r.output.find("mixhic-prep: error")) -
                                       r.output.find("mixhic-prep: error"))
                << "\n";
    }
  }
  if (mounted) {
    EXPECT_TRUE(std::filesystem::is_empty(small));
    run_command("umount -l " + small);
  }
}

TEST_F(SynthPrep, KilledRunLeavesNothingAtTheOutputPath) {
  std::string out = out_ / "killed.h5", log = out_ / "killed.log";
  // The job pauses with the corpus half-written (MIXHIC_TEST_PAUSE_AT=write, after the samples)
  // and is killed there: the temporary file is left, the output path has nothing. (A kill after
  // a fixed 2 s came after the end of the run once the prep took 1.9 s.)
  auto r = run_command("( MIXHIC_TEST_PAUSE_AT=write " + test::mpirun(2) + prep(out, "--balance ice") + " > " + log +
                       " 2>&1 & pid=$!; for i in $(seq 600); do grep -q 'pausing 60 s' " + log +
                       " && break; sleep 0.1; done; kill -9 $pid; wait $pid ); true");
  EXPECT_NE(test::read_file(log).find("pausing 60 s at stage 'write'"), std::string::npos) << test::read_file(log);
  bool temporary_left = false;
  for (auto& e : std::filesystem::directory_iterator(out_.path()))
    temporary_left |= e.path().filename().string().rfind("killed.h5.tmp-", 0) == 0;
  EXPECT_TRUE(temporary_left) << "the kill came after the run ended";
  EXPECT_FALSE(std::filesystem::exists(out));
  auto inspect = run_command(test::prep_bin() + " inspect " + in("synthA.mcool"));
  EXPECT_NE(inspect.exit_code, 0);
  EXPECT_NE(inspect.output.find("attribute 'format'"), std::string::npos) << inspect.output;
}

// ---- downstream samples (CORPUS_SCHEMA.md "Downstream samples") --------------------------------

namespace {

// mixhic-prep with a downstream config next to synth's inputs.ini, unbalanced and untransformed
// tracks so the cooler / pyBigWig oracles compare raw values.
std::string downstream_prep(const std::string& config, const std::string& inputs, const std::string& output,
                            const std::string& options) {
  return test::prep_bin() + " --config " + std::string(MIXHIC_SOURCE_DIR) + "/configs/" + config + " --config " + inputs +
         " --output " + output + " --balance none --track-transform none --input-checksums false " + options;
}

// Builds the downstream corpus of `config` on 1 rank (`one`) and on 3 ranks (`three`) and checks
// the two are identical, dataset by dataset and by corpus-id.
void prep_on_one_and_three_ranks(const std::string& config, const std::string& inputs, const std::string& one,
                                 const std::string& three) {
  auto r1 = run_command(downstream_prep(config, inputs, one, ""));
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  auto r3 = run_command(test::mpirun(3) + downstream_prep(config, inputs, three, ""));
  ASSERT_EQ(r3.exit_code, 0) << r3.output;
  auto a = dataset_bytes(one), b = dataset_bytes(three);
  ASSERT_EQ(a.size(), b.size());
  for (auto& [name, bytes] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(bytes == b[name]) << "dataset " << name << " differs between 1 and 3 ranks";
  }
  Corpus c1(one), c3(three);
  EXPECT_EQ(c1.corpus_id(), c3.corpus_id());
  EXPECT_EQ(c3.recompute_corpus_id(), c3.corpus_id());
}

}  // namespace

TEST_F(SynthPrep, LoopsMatchTheBedpeCoolerAndPyBigWigOnOneAndThreeRanks) {
  std::string one = out_ / "loops1.h5", three = out_ / "loops3.h5";
  prep_on_one_and_three_ranks("prep-synth-loops.ini", inputs_, one, three);
  if (HasFatalFailure()) return;
  for (int cell : {0, 1}) {
    std::string name = cell == 0 ? "synthA" : "synthB", ci = " --cell-index " + std::to_string(cell);
    auto d = run_command(test::oracle("check_downstream.py") + " loops " + one + ci + " --bedpe " + in(name + ".loops.bedpe") +
                         " --cool " + in(name + ".mcool") + "::resolutions/5000");
    EXPECT_EQ(d.exit_code, 0) << d.output;
    std::cout << "[ oracle   ] " << name << " " << d.output;
    auto w = run_command(test::oracle("check_windows.py") + " " + one + " " + in(name + ".mcool") + "::resolutions/5000" + ci +
                         " --balance none");
    EXPECT_EQ(w.exit_code, 0) << w.output;
    std::string bws;
    for (auto t : {"CTCF", "ATAC", "H3K27ac", "H3K27me3"}) bws += " " + in(name + "." + t + ".bw");
    auto t = run_command(test::oracle("check_tracks.py") + " " + one + ci + bws);
    EXPECT_EQ(t.exit_code, 0) << t.output;
  }
  Corpus corpus(one);
  EXPECT_STREQ(name_of(corpus.sample_source()), "loops");
  EXPECT_EQ(corpus.hic_layout(), "full");
  ASSERT_TRUE(corpus.has_labels());
  EXPECT_FALSE(corpus.has_targets());
  const int64_t W = corpus.geometry().window_bins;
  int64_t positives = 0;
  std::vector<float> full(W * W), stored(W * W);
  for (int64_t i = 0; i < corpus.n_samples(); ++i) {
    positives += corpus.label(i);
    const auto& m = corpus.meta(i);
    EXPECT_EQ(m.start1_bp, corpus.anchor1_bp(i) - W / 2 * 5000);
    EXPECT_EQ(m.start2_bp, corpus.anchor2_bp(i) - W / 2 * 5000);
    EXPECT_GE(corpus.anchor2_bp(i) - corpus.anchor1_bp(i), 20000);
  }
  corpus.read_hic(0, full.data());
  corpus.read_hic_packed(0, stored.data());
  EXPECT_EQ(full, stored);
  // 1:1 negatives: the synthetic chromosomes have room for 3 candidates per positive.
  EXPECT_GT(positives, 50);
  EXPECT_EQ(corpus.n_samples(), 2 * positives);
  // A different seed moves the negatives, not the positives.
  std::string other = out_ / "loops-seed2.h5";
  ASSERT_EQ(run_command(downstream_prep("prep-synth-loops.ini", inputs_, other, "--loop-seed 2")).exit_code, 0);
  Corpus c2(other);
  EXPECT_NE(c2.corpus_id(), corpus.corpus_id());
  std::set<std::pair<int64_t, int64_t>> pos1, pos2;
  for (int64_t i = 0; i < corpus.n_samples(); ++i)
    if (corpus.label(i)) pos1.insert({corpus.meta(i).cell * 100 + corpus.meta(i).chrom, corpus.anchor1_bp(i) * 4 + corpus.anchor2_bp(i)});
  for (int64_t i = 0; i < c2.n_samples(); ++i)
    if (c2.label(i)) pos2.insert({c2.meta(i).cell * 100 + c2.meta(i).chrom, c2.anchor1_bp(i) * 4 + c2.anchor2_bp(i)});
  EXPECT_EQ(pos1, pos2);
}

TEST_F(SynthPrep, TssTargetsMatchPyBigWigOnOneAndThreeRanks) {
  std::string one = out_ / "tss1.h5", three = out_ / "tss3.h5";
  prep_on_one_and_three_ranks("prep-synth-tss.ini", inputs_, one, three);
  if (HasFatalFailure()) return;
  for (int cell : {0, 1}) {
    std::string name = cell == 0 ? "synthA" : "synthB", ci = " --cell-index " + std::to_string(cell);
    auto d = run_command(test::oracle("check_downstream.py") + " tss " + one + ci + " --genes " + in("genes.bed12") +
                         " --expression " + in(name + ".CAGE.bw"));
    EXPECT_EQ(d.exit_code, 0) << d.output;
    std::cout << "[ oracle   ] " << name << " " << d.output;
    auto w = run_command(test::oracle("check_windows.py") + " " + one + " " + in(name + ".mcool") + "::resolutions/5000" + ci +
                         " --balance none");
    EXPECT_EQ(w.exit_code, 0) << w.output;
  }
  Corpus corpus(one);
  EXPECT_STREQ(name_of(corpus.sample_source()), "tss");
  EXPECT_EQ(corpus.hic_layout(), "upper-triangle");
  ASSERT_TRUE(corpus.has_targets());
  const int64_t W = corpus.geometry().window_bins;
  std::vector<float> target(W);
  double centre = 0, edge = 0;  // expression peaks at the TSS bin, the window's centre
  for (int64_t i = 0; i < corpus.n_samples(); ++i) {
    EXPECT_EQ(corpus.meta(i).start1_bp, (corpus.tss_bp(i) / 5000 - W / 2) * 5000);
    EXPECT_FALSE(corpus.gene(i).empty());
    corpus.read_target(i, target.data());
    centre += target[W / 2];
    edge += target[0];
  }
  EXPECT_GT(centre, 2 * edge);
  // gene-split = random (reference 80/10/10): roughly those fractions of the samples.
  double n = double(corpus.n_samples());
  EXPECT_NEAR(corpus.split_indices(0).size() / n, 0.8, 0.1);
  EXPECT_GT(corpus.split_indices(1).size(), 0u);
  EXPECT_GT(corpus.split_indices(2).size(), 0u);
}

TEST_F(SynthPrep, LoopsAndTssBadInputsFailWithOneLineNamingFileAndLine) {
  {
    std::ofstream(out_ / "bad.bedpe") << "# header\nchr1\t100000\t105000\tchr1\t400000\t405000\nchr1\tabc\t105000\tchr1\t400000\t405000\n";
    std::ofstream(out_ / "bad.gtf") << "chr1\tx\tgene\t1000\t2000\t.\t*\t.\tgene_id \"G1\";\n";
    std::ofstream(out_ / "short.bed") << "chr1\t1000\n";
  }
  struct BadCase {
    std::string what, config, args, must_mention;
  };
  std::vector<BadCase> cases = {
      {"unparseable BEDPE", "prep-synth-loops.ini", "--loops 'synthA " + (out_ / "bad.bedpe") + "'", "bad.bedpe: line 3, column 2 (start1): expected an integer"},
      {"unknown cell", "prep-synth-loops.ini", "--loops 'nosuch " + (out_ / "bad.bedpe") + "'", "no cell named 'nosuch'"},
      {"bad GTF strand", "prep-synth-tss.ini", "--genes " + (out_ / "bad.gtf"), "bad.gtf: line 1, column 7 (strand)"},
      {"short BED", "prep-synth-tss.ini", "--genes " + (out_ / "short.bed"), "short.bed: line 1: expected 4 or more BED columns"},
      {"oe with loops", "prep-synth-loops.ini", "--hic-transform oe --loops 'synthA " + in("synthA.loops.bedpe") + "'", "hic-transform"},
  };
  for (int np : {1, 2}) {
    for (const auto& c : cases) {
      std::string out = out_ / "bad-ds.h5";
      // only cell synthA, without synth's inputs.ini, so the bad line is the only one of its key
      std::string cmd = "timeout 120 " + (np > 1 ? test::mpirun(np) : std::string()) + test::prep_bin() + " " + c.args +
                        " --config " + std::string(MIXHIC_SOURCE_DIR) + "/configs/" + c.config + " --cell 'synthA " +
                        in("synthA.mcool") + "' --track 'synthA CTCF " + in("synthA.CTCF.bw") + "' --expression 'synthA " +
                        in("synthA.CAGE.bw") + "' --output " + out +
                        " --balance none --input-checksums false";
      auto r = run_command(cmd);
      EXPECT_NE(r.exit_code, 0) << c.what;
      EXPECT_NE(r.output.find(c.must_mention), std::string::npos) << c.what << " np=" << np << ":\n" << r.output;
      EXPECT_EQ(count_error_lines(r.output), 1) << c.what << ":\n" << r.output;
      EXPECT_FALSE(std::filesystem::exists(out)) << c.what;
    }
  }
}

// Real IMR90 chr21 loops (Rao 2014 HiCCUPS subset) at 10 kb with 16-bin windows inside the
// 231-bin Hi-C region. By hand from the 16 BEDPE lines (anchor bin = midpoint / 10 kb, window
// start = bin - 8, the window must lie in bins [2800, 3031)): line 3, 28210000-28220000 x
// 30310000-30320000, is 2.1 Mb apart (> 2 Mb); line 16, 30115000-30120000 x 30310000-30315000, has
// anchor 2 in bin 3031 whose window ends at 3031 - 8 + 16 > 3031 (outside); the other 14 are kept.
TEST(RealDataPrep, LoopsOnImr90Chr21MatchTheBedpeByHand) {
  MIXHIC_REQUIRE_SHARED_DATA();
  test::TempDir dir;
  const std::string bedpe = test::shared_data("annotations/hg19.IMR90.loops.chr21_28.0-30.3Mb.bedpe");
  const std::string cool = test::shared_data("hic/hg19.IMR90.chr21_28.0-30.3Mb.10kb.KRnorm.cool");
  std::string out = dir / "imr90-loops.h5";
  std::string cmd = test::prep_bin() + " --output " + out + " --samples loops --cell 'IMR90 " + cool + "' --track 'IMR90 CTCF " +
                    test::shared_data("tracks/hg19.IMR90.CTCF.chr21_28.0-30.3Mb.bw") + "' --track 'IMR90 H3K27ac " +
                    test::shared_data("tracks/hg19.IMR90.H3K27ac.chr21_28.0-30.3Mb.bw") + "' --loops 'IMR90 " + bedpe +
                    "' --resolution 10000 --window-bins 16 --track-bin-bp 1000 --regions chr21:28000000-30310000"
                    " --balance none --hic-transform log1p --track-transform none";
  auto r = run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::set<std::pair<int64_t, int64_t>> by_hand = {
      {2814, 2820}, {2821, 3017}, {2822, 2907}, {2822, 2942}, {2822, 2970}, {2822, 3011}, {2907, 2970},
      {2907, 3011}, {2907, 2942}, {2942, 3011}, {2943, 2969}, {2970, 3011}, {2971, 2989}, {2989, 3011}};
  Corpus corpus(out);
  std::set<std::pair<int64_t, int64_t>> positives;
  for (int64_t i = 0; i < corpus.n_samples(); ++i)
    if (corpus.label(i)) positives.insert({corpus.anchor1_bp(i) / 10000, corpus.anchor2_bp(i) / 10000});
  h5::Handle f = h5::open_read(out);
  h5::Handle filters = h5::open_group(f, "filters");
  EXPECT_EQ(h5::attr_int(filters, "n-input-records"), 16);
  EXPECT_EQ(h5::attr_int(filters, "n-dropped-distance"), 1);
  EXPECT_EQ(h5::attr_int(filters, "n-dropped-outside"), 1);
  EXPECT_EQ(h5::attr_int(filters, "n-positives"), 14);
  std::cout << "[ real     ] IMR90 chr21: " << positives.size() << " positives, " << corpus.n_samples() - int64_t(positives.size())
            << " negatives\n";
  for (auto& p : positives) EXPECT_TRUE(by_hand.count(p)) << p.first << "-" << p.second;
  EXPECT_EQ(positives, by_hand);
  auto d = run_command(test::oracle("check_downstream.py") + " loops " + out + " --cell-index 0 --bedpe " + bedpe + " --cool " + cool);
  EXPECT_EQ(d.exit_code, 0) << d.output;
  std::cout << "[ oracle   ] " << d.output;
  auto w = run_command(test::oracle("check_windows.py") + " " + out + " " + cool + " --cell-index 0 --balance none");
  EXPECT_EQ(w.exit_code, 0) << w.output;
  auto t = run_command(test::oracle("check_tracks.py") + " " + out + " --cell-index 0 " +
                       test::shared_data("tracks/hg19.IMR90.CTCF.chr21_28.0-30.3Mb.bw") + " " +
                       test::shared_data("tracks/hg19.IMR90.H3K27ac.chr21_28.0-30.3Mb.bw"));
  EXPECT_EQ(t.exit_code, 0) << t.output;
}

// ---- cooler inputs as current tools write them (tests/oracles/write_cooler_fixtures.py) ---------

namespace {
std::string samples_hic(const std::string& corpus) { return dataset_bytes(corpus).at("samples/hic"); }
}  // namespace

// A multiplicative KR column (divisive_weights = False) gives the corpus that `weight` gives, and so
// does a divisive VC (= 1/weight, divisive_weights = True); /normalization records which rule was
// used. The old multi-resolution layout and a .scool cell go through the prep like any cooler.
TEST(CoolerInputsPrep, BalancingAttributeOldMcoolAndScoolCell) {
  test::TempDir dir;
  auto fx = run_command(test::oracle("write_cooler_fixtures.py") + " " + dir.path());
  ASSERT_EQ(fx.exit_code, 0) << fx.output;
  auto prep = [&](const std::string& hic, const std::string& balance, const std::string& out) {
    auto r = run_command(test::prep_bin() + " --output " + (dir / out) + " --cell 'X " + hic + "' --track 'X T " +
                         (dir / "track.bw") + "' --resolution 10000 --window-bins 20 --stride-bp 100000 "
                         "--track-bin-bp 1000 --val-chroms chr2 --test-chroms '' --input-checksums false --balance " +
                         balance);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return dir / out;
  };
  const std::string by_weight = prep(dir / "balanced.cool", "weight", "weight.h5");
  const std::string kr = prep(dir / "balanced.cool", "KR", "kr.h5");
  const std::string vc = prep(dir / "balanced.cool", "VC", "vc.h5");
  const std::string plain = samples_hic(by_weight);
  EXPECT_EQ(plain.size(), 48u * 210 * 4);  // 29 windows on chr1, 19 on chr2, every one kept
  EXPECT_TRUE(samples_hic(kr) == plain) << "KR (multiplicative, as its attribute says) differs from weight";
  EXPECT_TRUE(samples_hic(vc) == plain) << "VC (divisive, as its attribute says) differs from weight";
  h5::Handle f = h5::open_read(kr);
  EXPECT_EQ(h5::read_strings(f, "normalization/hic_balance_rule"),
            std::vector<std::string>{"KR: multiplicative (bins/KR attribute divisive_weights = False)"});

  EXPECT_TRUE(samples_hic(prep(dir / "old.mcool", "weight", "old.h5")) == samples_hic(prep(dir / "new.mcool", "weight", "new.h5")))
      << "the old multi-resolution layout differs from the current one";
  const std::string scool = prep(dir / "cells.scool::cells/cellA", "none", "scool.h5");
  EXPECT_TRUE(samples_hic(scool) == samples_hic(prep(dir / "cellA.cool", "none", "cellA.h5")));
  auto whole = run_command(test::prep_bin() + " --output " + (dir / "x.h5") + " --cell 'X " + (dir / "cells.scool") +
                           "' --track 'X T " + (dir / "track.bw") + "' --resolution 10000 --input-checksums false");
  EXPECT_EQ(whole.exit_code, 2) << whole.output;
  EXPECT_NE(whole.output.find("cells.scool::cells/NAME (cells: cellA, cellB)"), std::string::npos) << whole.output;
}
