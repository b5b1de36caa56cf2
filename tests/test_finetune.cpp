// Fine-tuning and evaluation end to end on the synthetic genome: mixhic-train task = hic_map
// from a pre-trained run (strict backbone load, frozen backbone, exact resume, refusals), then
// mixhic-eval on 2 ranks checked against an independent recomputation from the corpus
// (tests/oracles/check_eval.py: h5py + numpy + scipy/sklearn + cooler).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "mixhic/model.hpp"
#include "mixhic/state_dict.hpp"
#include "mixhic/train_config.hpp"
#include "fixtures.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace mixhic;
using test::run_command;

namespace {

// metrics.csv of mixhic-eval: metric -> cells (cells[0] is the metric name; the header row is
// under "metric").
std::map<std::string, std::vector<std::string>> read_metrics(const std::string& path) {
  std::map<std::string, std::vector<std::string>> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::stringstream ss(line);
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    rows[cells[0]] = cells;
  }
  return rows;
}

// An oracle's "KEY... VALUE" lines: the words before the last one (joined by a space) -> the
// number; lines that do not end in a number (a warning) are skipped.
std::map<std::string, double> read_oracle(const std::string& output) {
  std::map<std::string, double> out;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(w);
    if (words.size() < 2) continue;
    char* end = nullptr;
    const double v = std::strtod(words.back().c_str(), &end);
    if (end == words.back().c_str() || *end != '\0') continue;
    words.pop_back();
    std::string key = words[0];
    for (size_t k = 1; k < words.size(); ++k) key += " " + words[k];
    out[key] = v;
  }
  return out;
}

std::string src(const std::string& rel) { return std::string(MIXHIC_SOURCE_DIR) + "/" + rel; }

// The run every fine-tuning starts from: 16 steps of the tiny model on 2 ranks.
std::string pretrain_command(const std::string& corpus, const std::string& run) {
  return test::mpirun(2) + MIXHIC_TRAIN_BIN + " --config " + src("configs/pretrain-tiny.ini") + " --corpus " + corpus +
         " --run-dir " + run + " --max-steps 16 --log-every 100";
}

// As a ctest fixture (tests/fixtures.hpp), made once per ctest run from fixture synth-corpus.
const test::RegisterFixture kPretrainFixture{"finetune-pretrain", [](const std::string& dir) {
  const std::string synth = test::fixture_dir("synth-corpus");
  if (synth.empty()) return test::FixtureOutcome::missing("synth-corpus");
  return test::made_by({pretrain_command(synth + "/corpus.h5", dir + "/pretrain")});
}};

// The synthetic genome, its corpus and the pre-trained run are shared by the tests (ctest
// fixtures, or made by the suite into own_ when there are none) and only read; every file a test
// writes goes to its own directory (path()).
class FineTune : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    own_ = new test::TempDir;
    synth_ = test::synth_corpus(own_->path());
    setup_error_ = synth_.error;
    const std::string fixture = synth_.shared ? test::fixture_dir("finetune-pretrain") : "";
    if (!fixture.empty()) {
      pretrain_ = fixture + "/pretrain";
    } else {
      pretrain_ = own_->path() + "/pretrain";
      if (setup_error_.empty()) setup_error_ = test::command_error(pretrain_command(corpus(), pretrain_));
    }
  }
  static void TearDownTestSuite() {
    delete own_;
    own_ = nullptr;
  }
  // Each test fails when the set-up did: a failure in SetUpTestSuite makes gtest report every test
  // as skipped, which ctest (SKIP_REGULAR_EXPRESSION) does not count as a failure.
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }
  static std::string corpus() { return synth_.corpus; }
  static std::string inputs() { return synth_.in + "/inputs.ini"; }
  // A file or run directory of this test.
  std::string path(const std::string& name) const { return out_ / name; }
  static std::string finetune(int np, const std::string& run, const std::string& extra) {
    return test::mpirun(np) + MIXHIC_TRAIN_BIN + " --config " + src("configs/finetune-map-tiny.ini") + " --corpus " +
           corpus() + " --run-dir " + run + " --log-every 100 " + extra;
  }
  static std::string model_file(const std::string& run, int step) {
    return run + "/checkpoints/" + fmt::format("step-{:08d}", step) + "/model.pt";
  }
  test::TempDir out_;
  static test::TempDir* own_;
  static test::SynthCorpus synth_;
  static std::string pretrain_, setup_error_;
};
test::TempDir* FineTune::own_ = nullptr;
test::SynthCorpus FineTune::synth_;
std::string FineTune::pretrain_, FineTune::setup_error_;

TEST_F(FineTune, MapHeadStartsFromThePretrainedBackboneAndResumesExactly) {
  const std::string pre = "--pretrained " + pretrain_;
  const std::string run = path("map");
  auto r = run_command(finetune(2, run, pre + " --max-steps 12"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pre-trained backbone from"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("head tensors start afresh"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(mse)"), std::string::npos) << r.output;  // the progress line names the task loss
  EXPECT_EQ(test::checkpoint_state(run, 12, "task"), "hic_map");

  // Stopped at step 5 and resumed: bitwise the same parameters as the run above.
  const std::string stopped = path("map-stopped");
  r = run_command(finetune(2, stopped, pre + " --max-steps 12 --stop-at-step 5"));
  EXPECT_EQ(r.exit_code, kExitStoppedForRequeue) << r.output;
  r = run_command(finetune(2, stopped, pre + " --max-steps 12"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::checkpoint_state(stopped, 12, "parameter-hash"), test::checkpoint_state(run, 12, "parameter-hash"));

  // freeze-backbone: every backbone tensor stays the pre-trained one, bit for bit; the head moves.
  const std::string frozen = path("map-frozen");
  r = run_command(finetune(2, frozen, pre + " --max-steps 6 --freeze-backbone true"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, torch::Tensor> before;
  for (auto& [name, t] : load_tensors(model_file(pretrain_, 16))) before[name] = t;
  int backbone = 0, head = 0;
  for (auto& [name, t] : load_tensors(model_file(frozen, 6))) {
    if (MixHicModelImpl::is_head_key(name)) {
      ++head;
      continue;
    }
    ASSERT_TRUE(before.count(name)) << name;
    EXPECT_TRUE(torch::equal(before[name], t)) << name << " changed although the backbone is frozen";
    ++backbone;
  }
  EXPECT_GT(backbone, 20);
  EXPECT_GT(head, 5);
}

TEST_F(FineTune, RefusesAPretrainedModelOfAnotherArchitectureOrTheWrongCorpus) {
  auto r = run_command(finetune(2, path("wrong-arch"), "--pretrained " + pretrain_ + " --embed-dim 8 --max-steps 2"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("architecture"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("embed-dim"), std::string::npos) << r.output;
  r = run_command(finetune(1, path("no-such"), "--pretrained " + path("nothing-here") + " --max-steps 2"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("nothing-here"), std::string::npos) << r.output;
  // The loop task needs a loop corpus (mixhic-prep samples = loops).
  r = run_command(test::mpirun(1) + MIXHIC_TRAIN_BIN + " --config " + src("configs/finetune-loop-tiny.ini") +
                  " --corpus " + corpus() + " --run-dir " + path("loop-on-tiles") + " --max-steps 2");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("sample-source"), std::string::npos) << r.output;
}

TEST_F(FineTune, EvalScoresMapsAndMatchesAnIndependentOracle) {
  const std::string ft = path("eval-ft"), scratch = path("eval-scratch"), out = path("eval");
  auto r = run_command(finetune(2, ft, "--pretrained " + pretrain_ + " --max-steps 10"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(finetune(2, scratch, "--max-steps 10"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(test::mpirun(2) + MIXHIC_EVAL_BIN + " --corpus " + corpus() + " --model pretrained=" + ft +
                  " --model scratch=" + scratch + " --out-dir " + out + " --figures 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("distance-stratified PCC"), std::string::npos) << r.output;

  // metrics.csv: metric,pretrained,scratch,distance-decay
  auto rows = read_metrics(out + "/metrics.csv");
  EXPECT_EQ(rows["metric"], (std::vector<std::string>{"metric", "pretrained", "scratch", "distance-decay"}));
  for (const char* row : {"pooled PCC (reference)", "pooled Spearman (reference)", "pooled R2 (truth vs pred)"})
    ASSERT_TRUE(rows.count(row) && rows[row].size() == 4) << row << "\n" << test::read_file(out + "/metrics.csv");
  r = run_command(test::oracle("check_eval.py") + " " + corpus() + " " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::map<std::string, double> oracle = read_oracle(r.output);
  std::cout << r.output;
  EXPECT_NEAR(std::stod(rows["pooled PCC (reference)"][3]), oracle.at("pooled_pcc"), 1e-6);
  EXPECT_NEAR(std::stod(rows["pooled Spearman (reference)"][3]), oracle.at("pooled_spearman"), 1e-6);
  EXPECT_NEAR(std::stod(rows["pooled R2 (truth vs pred)"][3]), oracle.at("pooled_r2"), 1e-6);
  EXPECT_EQ(oracle.at("distance_pcc_defined"), 0);  // decay is constant along each diagonal
  EXPECT_LT(oracle.at("truth_cool_max_abs_diff"), 1e-6);  // truth.CELL.cool holds the corpus windows
  for (const char* f : {"/truth.synthA.cool", "/truth.synthB.cool", "/pretrained.synthA.cool", "/scratch.synthB.cool",
                        "/distance_pcc.csv", "/distance_pcc.png",
                        "/map_000.png", "/map_001.png", "/insulation_000.png", "/metrics.json"})
    EXPECT_TRUE(fs::exists(out + f)) << f;
  EXPECT_EQ(test::read_file(out + "/map_000.png").substr(1, 3), "PNG");

  // An unusable --out-dir fails before any model runs, with one line, on every rank; so does a
  // failure on one rank of two at any stage (MIXHIC_TEST_FAIL_AT, as for mixhic-train).
  const std::string file = path("eval-not-a-dir");
  std::ofstream(file) << "x\n";
  const std::string eval = MIXHIC_EVAL_BIN + std::string(" --corpus ") + corpus() + " --model pretrained=" + ft;
  r = run_command("timeout 120 " + test::mpirun(2) + eval + " --out-dir " + file);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(file + ": out-dir: expected a directory, got a regular file"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("predicted with"), std::string::npos) << r.output;
  for (const std::string stage : {"config", "corpus", "models", "outputs"}) {
    r = run_command("MIXHIC_TEST_FAIL_AT=" + stage + "@1 timeout 120 " + test::mpirun(2) + eval + " --out-dir " +
                    path("eval-fault-" + stage));
    EXPECT_EQ(r.exit_code, 2) << stage << ":\n" << r.output;
    EXPECT_NE(r.output.find("injected failure at stage '" + stage + "' on rank 1"), std::string::npos)
        << stage << ":\n" << r.output;
    EXPECT_FALSE(fs::exists(path("eval-fault-" + stage) + "/metrics.csv")) << stage;
  }
}

}  // namespace

namespace {

TEST_F(FineTune, LoopAndExpressionTasksEndToEndMatchSklearnOnTheirPredictions) {
  struct Task {
    const char* name;
    const char* prep_config;
    const char* train_config;
    std::vector<std::pair<std::string, std::string>> checks;  // metrics.csv row, oracle metric
  };
  const std::vector<Task> tasks = {
      {"loop", "configs/prep-synth-loops.ini", "configs/finetune-loop-tiny.ini",
       {{"AUROC", "AUROC"}, {"AUPRC (average precision)", "AUPRC"}, {"F1 (p > 0.5)", "F1"}}},
      {"expression", "configs/prep-synth-tss.ini", "configs/finetune-expression-tiny.ini",
       {{"PCC (all bins x genes)", "PCC"}, {"R2 (truth vs pred)", "R2"}}}};
  for (const Task& t : tasks) {
    const std::string c = path(std::string(t.name) + ".h5"), out = path(std::string(t.name) + "-eval");
    auto r = run_command(test::mpirun(2) + test::prep_bin() + " --config " + src(t.prep_config) + " --config " +
                         inputs() + " --output " + c);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char* kind : {"pretrained", "scratch"}) {
      const std::string pre = std::string(kind) == "pretrained" ? " --pretrained " + pretrain_ : "";
      r = run_command(test::mpirun(2) + MIXHIC_TRAIN_BIN + " --config " + src(t.train_config) + " --corpus " + c +
                      " --run-dir " + path(std::string(t.name) + "-" + kind) + " --max-steps 12 --log-every 100" + pre);
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
    r = run_command(test::mpirun(2) + MIXHIC_EVAL_BIN + " --corpus " + c + " --model pretrained=" +
                    path(std::string(t.name) + "-pretrained") + " --model scratch=" + path(std::string(t.name) + "-scratch") +
                    " --out-dir " + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto rows = read_metrics(out + "/metrics.csv");
    r = run_command(test::oracle("check_predictions.py") + " " + t.name + " " + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto oracle = read_oracle(r.output);
    for (int col = 1; col <= 2; ++col) {
      const std::string name = col == 1 ? "pretrained" : "scratch";
      for (auto& [row, metric] : t.checks) {
        ASSERT_TRUE(rows.count(row) && rows[row].size() == 3) << t.name << ": no row " << row;
        ASSERT_TRUE(oracle.count(name + " " + metric)) << r.output;
        // predictions.tsv holds every float32 digit (9 significant)
        EXPECT_NEAR(std::stod(rows[row][col]), oracle[name + " " + metric], 1e-9) << t.name << " " << name << " " << row;
      }
    }
  }
  // A loop model refuses a TSS corpus: one task per corpus.
  auto r = run_command(test::mpirun(1) + MIXHIC_EVAL_BIN + " --corpus " + path("expression.h5") + " --model loop=" +
                       path("loop-scratch") + " --out-dir " + path("wrong-eval"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("sample-source"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(path("wrong-eval") + "/metrics.csv"));
}

}  // namespace
