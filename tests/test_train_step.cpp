// mixhic-train's run in this process, on one rank: the step's agreement goes through the
// single-process communicator (Comm::allreduce_scalars), so a step, bitwise resume, bucket-size
// invariance and non-finite skipping are tested in seconds, without mpirun. The 1-vs-N, kill
// and hang guarantees stay in test_trainer.cpp (under mpirun).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mixhic/batch_loader.hpp"
#include "mixhic/config.hpp"
#include "mixhic/corpus.hpp"
#include "mixhic/model.hpp"
#include "mixhic/mpi_world.hpp"
#include "mixhic/sample_order.hpp"
#include "mixhic/trainer.hpp"
#include "fixtures.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace mixhic;
using mixhic::test::run_command;

namespace {

// The TrainSetup mixhic-train's main makes from these options.
TrainSetup setup_from(const std::vector<std::string>& args) {
  TrainSetup setup;
  auto train_table = train_options(setup.train);
  auto model_table = model_options(setup.model);
  po::options_description table;
  table.add(train_table).add(model_table);
  std::vector<std::string> words = {"mixhic-train"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  ParsedOptions parsed = parse_options(int(argv.size()), argv.data(), 1, table);
  setup.train_ini = render_ini(parsed.vm, train_table);
  setup.model_ini = render_ini(parsed.vm, model_table);
  setup.command_line = "train_here";
  return setup;
}

// run_training as mixhic-train's main calls it, in this process, on one rank.
int train_here(const std::vector<std::string>& args) {
  return run_training(MpiWorld{MPI_COMM_WORLD, 0, 1}, setup_from(args));
}

}  // namespace

class TrainInProcess : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    test::SynthCorpus made = test::synth_corpus(dir_->path());
    error_ = made.error;
    corpus_ = made.corpus;
  }
  void SetUp() override { ASSERT_EQ(error_, "") << "making the synthetic corpus failed"; }
  static void TearDownTestSuite() { delete dir_; }
  static std::vector<std::string> args(const std::string& run_dir, int64_t steps, const std::string& corpus = "") {
    return {"--config", std::string(MIXHIC_SOURCE_DIR) + "/configs/pretrain-tiny.ini", "--corpus",
            corpus.empty() ? corpus_ : corpus, "--run-dir", run_dir, "--max-steps", std::to_string(steps),
            "--log-every", "100"};
  }
  static std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  static std::string path(const std::string& name) { return *dir_ / name; }
  static test::TempDir* dir_;
  static std::string corpus_, error_;
};
test::TempDir* TrainInProcess::dir_ = nullptr;
std::string TrainInProcess::corpus_, TrainInProcess::error_;

// The first step's loss terms are the model's on the first global batch, computed here from the
// same initial weights (manual_seed(seed)) and the batch read straight from the corpus.
TEST_F(TrainInProcess, FirstStepLossesAreTheModelsOnTheFirstBatch) {
  const std::string run = path("one-step");
  ASSERT_EQ(train_here(args(run, 1)), 0);
  auto m = test::metrics_rows(run);
  ASSERT_EQ(m.count(1), 1u);

  TrainSetup setup = setup_from({"--config", std::string(MIXHIC_SOURCE_DIR) + "/configs/pretrain-tiny.ini"});
  Corpus corpus(corpus_);
  setup.model.from_corpus_geometry(corpus.geometry());
  BatchPlan plan{corpus.split_indices(0), setup.train.global_batch, setup.train.seed, 0, 1};
  SampleBatch batch = BatchLoader::read(corpus, plan.samples_at(0), Augmentation{}, setup.train.seed, 0);
  torch::manual_seed(setup.train.seed);
  MixHicModel model(setup.model);
  model->train();
  PretrainOutput out = model->forward(batch.hic, batch.epi);
  EXPECT_NEAR(m.at(1)[4], out.contrastive.item<double>(), 1e-6 * std::abs(out.contrastive.item<double>()) + 1e-7);
  EXPECT_NEAR(m.at(1)[5], out.orthogonal.item<double>(), 1e-6 * std::abs(out.orthogonal.item<double>()) + 1e-7);
  EXPECT_NEAR(m.at(1)[6], out.mapping.item<double>(), 1e-6 * std::abs(out.mapping.item<double>()) + 1e-7);
}

TEST_F(TrainInProcess, StopAndResumeIsBitwiseAndBucketSizeChangesNothing) {
  const int64_t steps = 12;
  const std::string whole = path("whole");
  ASSERT_EQ(train_here(args(whole, steps)), 0);
  const std::string want = test::checkpoint_state(whole, steps, "parameter-hash");

  const std::string stopped = path("stopped");
  EXPECT_EQ(train_here(with(args(stopped, steps), {"--stop-at-step", "6"})), kExitStoppedForRequeue);
  EXPECT_EQ(test::checkpoint_state(stopped, 6, "step"), "6");
  ASSERT_EQ(train_here(args(stopped, steps)), 0);
  EXPECT_EQ(test::checkpoint_state(stopped, steps, "parameter-hash"), want);
  EXPECT_EQ(test::checkpoint_state(stopped, steps, "restart"), "1");

  const std::string small = path("small-buckets");
  ASSERT_EQ(train_here(with(args(small, steps), {"--bucket-mb", "0.05", "--first-bucket-mb", "0.01"})), 0);
  EXPECT_EQ(test::checkpoint_state(small, steps, "parameter-hash"), want);
}

TEST_F(TrainInProcess, NonFiniteSampleSkipsTheStepAndLeavesTheStateAsItWas) {
  const std::string bad = path("nan.h5");
  fs::copy_file(corpus_, bad, fs::copy_options::overwrite_existing);
  int64_t victim;
  {
    Corpus corpus(corpus_);
    BatchPlan plan{corpus.split_indices(0), 8, 99, 0, 1};
    victim = plan.global_batch_at(1).front();  // step 2's first sample
  }
  auto py = run_command(test::python() + " -c \"import h5py,numpy as np; f=h5py.File('" + bad +
                        "','r+'); f['samples/hic'][" + std::to_string(victim) + ",:]=np.nan; f.close()\"");
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const std::string run = path("nan-skip");
  ASSERT_EQ(train_here(with(args(run, 4, bad), {"--checkpoint-every", "1", "--keep-checkpoints", "10"})), 0);
  auto m = test::metrics_rows(run);
  EXPECT_EQ(m.at(1)[9], 0);
  EXPECT_EQ(m.at(2)[9], 1);  // skipped
  EXPECT_EQ(m.at(3)[9], 0);
  EXPECT_EQ(test::checkpoint_state(run, 4, "skipped-steps"), "1");
  EXPECT_EQ(test::checkpoint_state(run, 4, "adamw-updates"), "3");
  // A skipped step changes nothing: parameters, BatchNorm buffers (restored) and AdamW state.
  EXPECT_EQ(test::checkpoint_state(run, 2, "parameter-hash"), test::checkpoint_state(run, 1, "parameter-hash"));
  EXPECT_EQ(test::checkpoint_state(run, 2, "adamw-updates"), "1");
  EXPECT_NE(test::checkpoint_state(run, 3, "parameter-hash"), test::checkpoint_state(run, 2, "parameter-hash"));
  // Before the poisoned sample, the run is the clean corpus's run.
  const std::string clean = path("clean-1");
  ASSERT_EQ(train_here(args(clean, 1)), 0);
  EXPECT_EQ(test::metrics_rows(clean).at(1)[3], m.at(1)[3]);
}
