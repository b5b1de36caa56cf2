// mixhic-train: the pieces in one process (AdamW vs LibTorch's, schedule, batch plan,
// augmentation) and the guarantees end to end, running the binary under mpirun on a synthetic
// corpus: exact resume, world-size-free resume, 2 ranks == 1 rank, bucket sizes, stop signals,
// SIGKILL during checkpoints, a dead or hung rank, non-finite values, bad inputs, the loss falling.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <signal.h>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "mixhic/batch_loader.hpp"
#include "mixhic/checkpoint.hpp"
#include "mixhic/comm.hpp"
#include "mixhic/corpus.hpp"
#include "mixhic/grad_buckets.hpp"
#include "mixhic/mpi_world.hpp"
#include "mixhic/optimizer.hpp"
#include "mixhic/sample_order.hpp"
#include "mixhic/state_dict.hpp"
#include "mixhic/training_log.hpp"
#include "mixhic/train_config.hpp"
#include "fixtures.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace mixhic;
using test::run_command;

namespace {

// ---- in one process ------------------------------------------------------------------------------

TEST(FlatAdamW, MatchesLibTorchAdamW) {
  torch::manual_seed(3);
  auto make = [] {
    torch::manual_seed(3);
    return torch::nn::Sequential(torch::nn::Linear(7, 5), torch::nn::ReLU(), torch::nn::Linear(5, 3));
  };
  auto ours = make(), theirs = make();
  auto comm = make_single_comm();
  NamedTensors params;
  for (auto& p : ours->named_parameters()) params.emplace_back(p.key(), p.value());
  GradBuckets buckets(params, *comm, 64, 128);  // tiny buckets: several slots
  FlatAdamW adam(buckets, params, {0.9, 0.999, 1e-8, 0.01});
  torch::optim::AdamW ref(theirs->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.01));
  for (int step = 0; step < 5; ++step) {
    torch::Tensor x = torch::randn({4, 7});
    buckets.zero_grad();
    ours->forward(x).pow(2).sum().backward();
    buckets.finish();
    adam.step(1e-2);
    ref.zero_grad();
    theirs->forward(x).pow(2).sum().backward();
    ref.step();
  }
  auto a = ours->parameters(), b = theirs->parameters();
  for (size_t k = 0; k < a.size(); ++k)
    EXPECT_TRUE(torch::allclose(a[k], b[k], 1e-6, 1e-6)) << k << ": max difference " << (a[k] - b[k]).abs().max().item<double>();
  EXPECT_EQ(adam.updates(), 5);
  // The state round-trips by parameter name.
  FlatAdamW copy(buckets, params, {});
  copy.load_state(adam.state(), "test");
  EXPECT_EQ(copy.updates(), 5);
}

TEST(LrSchedule, WarmupConstantAndCosine) {
  LrSchedule constant{"constant", 1e-5, 0, 0, 100};
  EXPECT_DOUBLE_EQ(constant.at(0), 1e-5);
  EXPECT_DOUBLE_EQ(constant.at(99), 1e-5);
  LrSchedule cosine{"cosine", 1e-3, 1e-4, 10, 110};
  EXPECT_DOUBLE_EQ(cosine.at(0), 1e-4);    // (0 + 1) / 10 of the peak
  EXPECT_DOUBLE_EQ(cosine.at(9), 1e-3);
  EXPECT_DOUBLE_EQ(cosine.at(10), 1e-3);
  EXPECT_NEAR(cosine.at(60), 0.5 * (1e-3 + 1e-4), 1e-12);  // half way
  EXPECT_NEAR(cosine.at(110), 1e-4, 1e-12);
}

TEST(TrainingLog, MfuIsPerGpu) {
  // 4 ranks, 1000 samples/s in all: 250 per GPU x 1 GFLOP against a 1 TFLOP/s peak = 25 %.
  EXPECT_DOUBLE_EQ(mfu_percent(1000, 4, 1e9, 1e12), 25.0);
  EXPECT_DOUBLE_EQ(mfu_percent(1000, 1, 1e9, 1e12), 100.0);
  EXPECT_EQ(mfu_percent(1000, 4, 1e9, 0), 0);  // no peak given: no MFU
}

TEST(BatchPlan, RanksSplitEachGlobalBatchDisjointlyAndCompletely) {
  std::vector<int64_t> train(103);
  for (int64_t i = 0; i < 103; ++i) train[i] = 1000 + 3 * i;
  for (int world = 1; world <= 4; ++world) {
    BatchPlan whole{train, 10, 7, 0, 1};
    for (int64_t step = 0; step < 25; ++step) {  // crosses epochs (10 steps each)
      std::vector<int64_t> joined;
      for (int r = 0; r < world; ++r) {
        BatchPlan plan{train, 10, 7, r, world};
        auto s = plan.samples_at(step);
        joined.insert(joined.end(), s.begin(), s.end());
      }
      EXPECT_EQ(joined, whole.global_batch_at(step)) << "world " << world << " step " << step;
      EXPECT_EQ(std::set<int64_t>(joined.begin(), joined.end()).size(), 10u);
    }
  }
}

TEST(Augmentation, ReverseIsAnInvolutionAndNoiseIsReproducible) {
  const int64_t W = 4, A = 3, T = 2;
  std::vector<float> hic(W * W), tracks(2 * A * T);
  for (size_t i = 0; i < hic.size(); ++i) hic[i] = float(i);
  for (size_t i = 0; i < tracks.size(); ++i) tracks[i] = float(100 + i);
  auto h = hic, t = tracks;
  Augmentation flip{1.0, 0.0};
  augment_sample(h.data(), W, t.data(), A, T, flip, 1, 0, 5);
  EXPECT_EQ(h[0 * W + 1], hic[(W - 2) * W + (W - 1)]);  // hic'[i][j] = hic[W-1-j][W-1-i]
  EXPECT_EQ(t[0 * T + 1], tracks[(2 * A - 1) * T + 1]);  // anchor 1' row 0 = anchor 2 row A-1
  augment_sample(h.data(), W, t.data(), A, T, flip, 1, 0, 5);
  EXPECT_EQ(h, hic);
  EXPECT_EQ(t, tracks);
  Augmentation noise{0.0, 0.1};
  auto t1 = tracks, t2 = tracks, t3 = tracks;
  augment_sample(h.data(), W, t1.data(), A, T, noise, 1, 2, 5);
  augment_sample(h.data(), W, t2.data(), A, T, noise, 1, 2, 5);
  augment_sample(h.data(), W, t3.data(), A, T, noise, 1, 3, 5);  // another epoch
  EXPECT_EQ(t1, t2);
  EXPECT_NE(t1, t3);
}

// ---- end to end: mixhic-train under mpirun ---------------------------------------------------------

// The run every bitwise test compares with: 2 ranks, 24 steps of the tiny model.
constexpr int kSteps = 24;

// Trajectories compared across numbers of ranks use the reference's contrastive pooling: the
// tiny config's `centered` InfoNCE (unit-normalised batch-centred means, logits up to 1/tau =
// 14) is sharp, and AdamW amplifies rounding differences between 1 and 2 ranks past the
// tolerance of expect_same_losses within ~20 steps (measured: 1e-6 at step 1, 6e-4 on the
// contrastive term by step 24; at lr 1e-9, 4e-6 throughout). The gradient path over ranks is
// the same with either pooling.
constexpr const char* kPooling = " --contrastive-pooling reference";

// mixhic-train on `np` ranks with the tiny config, kSteps steps unless `extra` sets --max-steps.
std::string train_command(int np, const std::string& corpus, const std::string& run_dir, const std::string& extra) {
  return test::mpirun(np) + MIXHIC_TRAIN_BIN + " --config " + std::string(MIXHIC_SOURCE_DIR) +
         "/configs/pretrain-tiny.ini --corpus " + corpus + " --run-dir " + run_dir +
         (extra.find("--max-steps") == std::string::npos ? " --max-steps " + std::to_string(kSteps) : "") +
         " --log-every 100 " + extra;
}

// The two reference runs as ctest fixtures (tests/fixtures.hpp), made once per ctest run from
// fixture synth-corpus: `name` is the run directory inside the fixture, as inside the suite's own.
test::FixtureOutcome reference_fixture(const std::string& dir, const std::string& name, const std::string& extra) {
  const std::string synth = test::fixture_dir("synth-corpus");
  if (synth.empty()) return test::FixtureOutcome::missing("synth-corpus");
  return test::made_by({train_command(2, synth + "/corpus.h5", dir + "/" + name, extra)});
}
const test::RegisterFixture kReferenceFixture{
    "train-reference", [](const std::string& dir) { return reference_fixture(dir, "reference", ""); }};
const test::RegisterFixture kReferencePoolingFixture{
    "train-reference-pooling",
    [](const std::string& dir) { return reference_fixture(dir, "two-ranks-reference-pooling", kPooling); }};

// The synthetic genome, its corpus and the reference runs are shared by the tests (ctest
// fixtures, or made by the suite into own_ when there are none); every file a test writes goes to
// its own directory (path()).
class TrainRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    own_ = new test::TempDir;
    reference_run_.clear();
    reference_hash_.clear();
    pooling_run_.clear();
    synth_ = test::synth_corpus(own_->path());
  }
  static void TearDownTestSuite() {
    delete own_;
    own_ = nullptr;
  }
  // Each test fails when the set-up did: a failure in SetUpTestSuite makes gtest report every test
  // as skipped, which ctest (SKIP_REGULAR_EXPRESSION) does not count as a failure.
  void SetUp() override { ASSERT_TRUE(synth_.error.empty()) << synth_.error; }
  static std::string prep_command(const std::string& out, const std::string& options) {
    return test::prep_bin() + " --config " + std::string(MIXHIC_SOURCE_DIR) + "/configs/prep-synth.ini --config " +
           synth_.in + "/inputs.ini --output " + out + " " + options;
  }
  static std::string corpus_path() { return synth_.corpus; }
  // A file or run directory of this test.
  std::string path(const std::string& name) const { return out_ / name; }

  static std::string train(int np, const std::string& run_dir, const std::string& extra = "",
                           const std::string& corpus = "") {
    return train_command(np, corpus.empty() ? corpus_path() : corpus, run_dir, extra);
  }
  // A reference run: fixture `fixture` when the corpus is the fixtures' too, else made into the
  // suite's own directory the first time a test asks.
  static std::string shared_run(const std::string& fixture, const std::string& name, const std::string& extra) {
    if (synth_.shared) {
      const std::string dir = test::fixture_dir(fixture);
      if (!dir.empty()) return dir + "/" + name;
    }
    const std::string run = own_->path() + "/" + name;
    auto r = run_command(train(2, run, extra));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return run;
  }
  // Read only: a test that resumes or extends it copies it first.
  static const std::string& reference_run() {
    if (reference_run_.empty()) reference_run_ = shared_run("train-reference", "reference", "");
    return reference_run_;
  }
  static const std::string& reference_hash() {
    if (reference_hash_.empty()) reference_hash_ = test::checkpoint_state(reference_run(), kSteps, "parameter-hash");
    return reference_hash_;
  }
  static const std::string& reference_pooling_run() {
    if (pooling_run_.empty()) pooling_run_ = shared_run("train-reference-pooling", "two-ranks-reference-pooling", kPooling);
    return pooling_run_;
  }
  static std::map<int64_t, std::vector<double>> metrics(const std::string& run_dir) {
    return test::metrics_rows(run_dir);
  }
  // Loss terms (columns 3..6) of two runs from step `first` on: the first step starts from the
  // same parameters, so only summation order differs (1e-6); later, AdamW amplifies that float
  // noise (a ~0 gradient's sign decides a +-lr move), so 1e-3 (+1e-5 for the small orthogonal
  // term). Another sample order changes the losses by percents.
  static void expect_same_losses(const std::map<int64_t, std::vector<double>>& got,
                                 const std::map<int64_t, std::vector<double>>& want, int64_t first, const std::string& what,
                                 int64_t last = kSteps) {
    for (int64_t step = first; step <= last; ++step)
      for (int c = 3; c <= 6; ++c) {
        const double w = want.at(step)[c], rel = step == first ? 1e-6 : 1e-3, abs = step == first ? 1e-6 : 1e-5;
        EXPECT_NEAR(got.at(step)[c], w, rel * std::abs(w) + abs) << what << ", step " << step << ", column " << c;
      }
  }
  static double max_param_difference(const std::string& a, const std::string& b) {
    auto ta = load_tensors(a), tb = load_tensors(b);
    EXPECT_EQ(ta.size(), tb.size());
    double worst = 0;
    for (size_t k = 0; k < ta.size() && k < tb.size(); ++k)
      worst = std::max(worst, (ta[k].second.to(torch::kDouble) - tb[k].second.to(torch::kDouble)).abs().max().item<double>());
    return worst;
  }
  static std::string final_model(const std::string& run_dir) {
    return run_dir + "/checkpoints/" + fmt::format("step-{:08d}", kSteps) + "/model.pt";
  }
  // Starts a command in the background; returns the file its exit code will be written to.
  static std::string start(const std::string& cmd, const std::string& log) {
    const std::string rc = log + ".rc";
    fs::remove(rc);
    std::system(("(" + cmd + " > " + log + " 2>&1; echo $? > " + rc + ".part; mv " + rc + ".part " + rc + ") &").c_str());
    return rc;
  }
  static bool wait_for(const std::function<bool()>& cond, double seconds) {
    auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return cond();
  }
  static int read_rc(const std::string& rc) {
    std::ifstream in(rc);
    int v = -1;
    in >> v;
    return v;
  }
  // pid of `rank` from the run's ranks.txt ("rank host pid device" lines).
  static std::string rank_pid(const std::string& run_dir, int rank) {
    std::ifstream in(run_dir + "/ranks.txt");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ss(line);
      std::string r, host, pid;
      if (ss >> r >> host >> pid && r == std::to_string(rank)) return pid;
    }
    return "";
  }
  test::TempDir out_;
  static test::TempDir* own_;
  static test::SynthCorpus synth_;
  static std::string reference_run_, reference_hash_, pooling_run_;
};
test::TempDir* TrainRun::own_ = nullptr;
test::SynthCorpus TrainRun::synth_;
std::string TrainRun::reference_run_, TrainRun::reference_hash_, TrainRun::pooling_run_;

// The loader's batches against h5py on the corpus file: Hi-C unpacked symmetric, anchor 1 and
// anchor 2 track rows (a tiles corpus has both on the same rows, which the loader reads once and
// copies), in batch order whatever the file order.
TEST_F(TrainRun, LoaderBatchesEqualTheCorpusReadByH5py) {
  Corpus corpus(corpus_path());
  const std::vector<int64_t> samples = {17, 3, 250, 4};
  SampleBatch batch = BatchLoader::read(corpus, samples, Augmentation{}, 1, 0);
  const std::string hic = path("batch-hic.f32"), epi = path("batch-epi.f32");
  std::ofstream(hic, std::ios::binary).write(static_cast<const char*>(batch.hic.data_ptr()), batch.hic.nbytes());
  std::ofstream(epi, std::ios::binary).write(static_cast<const char*>(batch.epi.data_ptr()), batch.epi.nbytes());
  const std::string oracle = R"(
import sys, h5py, numpy as np
corpus, hic_path, epi_path = sys.argv[1:4]
samples = [int(x) for x in sys.argv[4].split(",")]
f = h5py.File(corpus, "r")
W = int(f["geometry"].attrs["window-bins"]); A = int(f["geometry"].attrs["track-bins-per-anchor"])
sig = f["tracks/signal"]; T = sig.shape[1]
hic = np.fromfile(hic_path, np.float32).reshape(len(samples), W, W)
epi = np.fromfile(epi_path, np.float32).reshape(len(samples), 2 * A, T)
iu = np.triu_indices(W)
bad = 0
for k, i in enumerate(samples):
    m = np.zeros((W, W), np.float32); m[iu] = f["samples/hic"][i]; m.T[iu] = f["samples/hic"][i]
    r1, r2 = int(f["samples/track_row1"][i]), int(f["samples/track_row2"][i])
    bad += int((hic[k] != m).sum()) + int((epi[k, :A] != sig[r1:r1 + A]).sum()) + int((epi[k, A:] != sig[r2:r2 + A]).sum())
print("mismatches", bad)
)";
  std::ofstream(path("loader_oracle.py")) << oracle;
  auto r = run_command(std::string(MIXHIC_PYTHON) + " " + path("loader_oracle.py") + " " + corpus_path() + " " + hic +
                       " " + epi + " 17,3,250,4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mismatches 0"), std::string::npos) << r.output;
}

TEST_F(TrainRun, ResumeAfterStopIsBitwiseExactOnTwoRanks) {
  const std::string run = path("stopped");
  auto r = run_command(train(2, run, "--stop-at-step 10"));
  EXPECT_EQ(r.exit_code, kExitStoppedForRequeue) << r.output;
  EXPECT_NE(r.output.find("stopped at step 10"), std::string::npos) << r.output;
  r = run_command(train(2, run));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos);
  EXPECT_EQ(test::checkpoint_state(run, kSteps, "parameter-hash"), reference_hash());
  EXPECT_EQ(test::checkpoint_state(run, kSteps, "restart"), "1");
  // Smaller buckets change which all-reduce carries which gradient, not one bit of the result.
  const std::string small = path("small-buckets");
  r = run_command(train(2, small, "--bucket-mb 0.05 --first-bucket-mb 0.01"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::checkpoint_state(small, kSteps, "parameter-hash"), reference_hash());
}

TEST_F(TrainRun, SigusrOnOneRankStopsAllAndResumesExactly) {
  const std::string run = path("signalled");
  auto rc = start(train(2, run), path("signalled.log"));
  ASSERT_TRUE(wait_for([&] { return metrics(run).size() >= 3; }, 120)) << test::read_file(path("signalled.log"));
  std::string pid = rank_pid(run, 1);
  ASSERT_FALSE(pid.empty());
  ASSERT_EQ(std::system(("kill -USR1 " + pid).c_str()), 0);
  ASSERT_TRUE(wait_for([&] { return fs::exists(rc); }, 120));
  const std::string log = test::read_file(path("signalled.log"));
  EXPECT_EQ(read_rc(rc), kExitStoppedForRequeue) << log;
  EXPECT_NE(log.find("on SIGUSR1"), std::string::npos) << log;
  auto r = run_command(train(2, run));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::checkpoint_state(run, kSteps, "parameter-hash"), reference_hash());
}

TEST_F(TrainRun, SigkillDuringCheckpointsLeavesAResumableRun) {
  const std::string run = path("killed");
  std::mt19937 rng(11);
  for (int round = 0; round < 4; ++round) {
    // Each commit pauses 150 ms twice, so a kill lands inside the protocol most of the time.
    auto rc = start("MIXHIC_TEST_CHECKPOINT_PAUSE_MS=150 " + train(2, run, "--checkpoint-every 1"),
                    path("killed.log"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500 + rng() % 1500));
    std::system(("pkill -9 -f '^[^ ]*mixhic-train .*run-dir " + run + " '").c_str());
    ASSERT_TRUE(wait_for([&] { return fs::exists(rc); }, 60));
    auto list = run_command(std::string(MIXHIC_TRAIN_BIN) + " checkpoints --run-dir " + run);
    EXPECT_EQ(list.output.find("does not match"), std::string::npos) << list.output;
    EXPECT_EQ(list.output.find("missing"), std::string::npos) << list.output;
  }
  auto r = run_command(train(2, run));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::checkpoint_state(run, kSteps, "parameter-hash"), reference_hash());
}

TEST_F(TrainRun, ResumeFallsBackWhenTheNewestCheckpointIsCorrupt) {
  const std::string run = path("corrupt");
  auto r = run_command(train(2, run, "--stop-at-step 9 --checkpoint-every 4"));
  ASSERT_EQ(r.exit_code, kExitStoppedForRequeue) << r.output;
  {
    std::fstream f(run + "/checkpoints/step-00000009/optimizer.pt", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  r = run_command(train(2, run));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("step-00000009 is not usable"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("resumed from " + run + "/checkpoints/step-00000008"), std::string::npos) << r.output;
  EXPECT_EQ(test::checkpoint_state(run, kSteps, "parameter-hash"), reference_hash());
}

TEST_F(TrainRun, ResumesOnOneOrThreeRanksWithTheSameSampleSequence) {
  const std::string two = path("ws-2");
  auto r = run_command(train(2, two, std::string("--stop-at-step 10") + kPooling));
  ASSERT_EQ(r.exit_code, kExitStoppedForRequeue) << r.output;
  auto ref = metrics(reference_pooling_run());
  for (int np : {1, 3}) {
    const std::string run = path("ws-" + std::to_string(np));
    fs::copy(two, run, fs::copy_options::recursive);
    r = run_command(train(np, run, kPooling));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto got = metrics(run);
    expect_same_losses(got, ref, 11, "np " + std::to_string(np));
    // AdamW moves a parameter by at most ~lr per step, so float noise in a tiny gradient can
    // flip the sign of a few steps: bound 2 * lr * steps since the resume.
    EXPECT_LT(max_param_difference(final_model(run), final_model(reference_pooling_run())), 2 * 1e-4 * (kSteps - 10))
        << "np " << np;
  }
}

TEST_F(TrainRun, TwoRanksEqualOneRankWithTheWholeBatch) {
  // The tiny config (centred pooling): the first step, from the same parameters, agrees to
  // summation order; the 24-step trajectories with the reference's pooling (kPooling).
  const std::string one = path("one-rank");
  auto r = run_command(train(1, one));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  reference_hash();
  expect_same_losses(metrics(one), metrics(reference_run()), 1, "1 rank vs 2, centred pooling", 1);

  const std::string one_ref = path("one-rank-reference-pooling");
  r = run_command(train(1, one_ref, kPooling));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto a = metrics(one_ref), b = metrics(reference_pooling_run());
  ASSERT_EQ(a.size(), size_t(kSteps));
  expect_same_losses(a, b, 1, "1 rank vs 2");
  EXPECT_LT(max_param_difference(final_model(one_ref), final_model(reference_pooling_run())), 2 * 1e-4 * kSteps);
}

TEST_F(TrainRun, DeadRankEndsTheJobWithinAMinute) {
  const std::string run = path("dead");
  auto t0 = std::chrono::steady_clock::now();
  auto rc = start(train(3, run, "--max-steps 100000"), path("dead.log"));
  ASSERT_TRUE(wait_for([&] { return metrics(run).size() >= 2; }, 120)) << test::read_file(path("dead.log"));
  std::string pid = rank_pid(run, 1);
  ASSERT_FALSE(pid.empty());
  auto t_kill = std::chrono::steady_clock::now();
  std::system(("kill -9 " + pid).c_str());
  ASSERT_TRUE(wait_for([&] { return fs::exists(rc); }, 60)) << "the job outlived a dead rank by 60 s";
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_kill).count();
  const std::string log = test::read_file(path("dead.log"));
  EXPECT_NE(read_rc(rc), 0);
  EXPECT_NE(log.find("rank 1"), std::string::npos) << log;
  std::system(("pkill -9 -f '^[^ ]*mixhic-train .*run-dir " + run + " ' 2>/dev/null").c_str());
  std::cout << "job ended " << s << " s after rank 1 was killed (" <<
      std::chrono::duration<double>(t_kill - t0).count() << " s into the run)\n";
}

TEST_F(TrainRun, HungRankIsCaughtByTheWatchdog) {
  const std::string run = path("hung");
  auto rc = start(train(3, run, "--max-steps 100000 --hang-timeout 5"), path("hung.log"));
  ASSERT_TRUE(wait_for([&] { return metrics(run).size() >= 2; }, 120)) << test::read_file(path("hung.log"));
  std::string pid = rank_pid(run, 2);
  ASSERT_FALSE(pid.empty());
  std::system(("kill -STOP " + pid).c_str());
  bool ended = wait_for([&] { return fs::exists(rc); }, 60);
  std::system(("kill -9 " + pid + " 2>/dev/null").c_str());
  ASSERT_TRUE(ended) << "a stopped rank hung the job";
  const std::string log = test::read_file(path("hung.log"));
  EXPECT_NE(read_rc(rc), 0);
  EXPECT_NE(log.find("no progress for"), std::string::npos) << log;
}

TEST_F(TrainRun, NonFiniteSampleIsSkippedOrStopsWithItsName) {
  // Poison the Hi-C of one sample of the first global batch.
  const std::string bad = path("nan.h5");
  fs::copy_file(corpus_path(), bad, fs::copy_options::overwrite_existing);
  int64_t victim;
  {
    Corpus corpus(corpus_path());
    BatchPlan plan{corpus.split_indices(0), 8, 99, 0, 1};
    victim = plan.global_batch_at(0).back();  // the last sample: rank 1's slice on 2 ranks
  }
  auto py = run_command(test::python() + " -c \"import h5py,numpy as np; f=h5py.File('" + bad +
                        "','r+'); f['samples/hic'][" + std::to_string(victim) + ",:]=np.nan; f.close()\"");
  ASSERT_EQ(py.exit_code, 0) << py.output;

  auto r = run_command(train(2, path("nan-skip"), "--max-steps 4", bad));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("step 1: non-finite input"), std::string::npos) << r.output;
  auto m = metrics(path("nan-skip"));
  EXPECT_EQ(m.at(1)[9], 1);  // skipped
  EXPECT_EQ(m.at(2)[9], 0);
  EXPECT_EQ(test::checkpoint_state(path("nan-skip"), 4, "skipped-steps"), "1");

  r = run_command(train(2, path("nan-stop"), "--max-steps 4 --nonfinite stop", bad));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("step 1: non-finite input in sample " + std::to_string(victim)), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("(rank 1)"), std::string::npos) << r.output;
}

TEST_F(TrainRun, BadInputsGiveOneClearErrorOnEveryRank) {
  auto r = run_command(train(2, path("bad-missing"), "", path("nope.h5")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("nope.h5"), std::string::npos) << r.output;

  const std::string old = path("old-format.h5");
  fs::copy_file(corpus_path(), old, fs::copy_options::overwrite_existing);
  run_command(test::python() + " -c \"import h5py; f=h5py.File('" + old + "','r+'); f.attrs['format-version']=0\"");
  r = run_command(train(2, path("bad-version"), "", old));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("format-version"), std::string::npos) << r.output;

  const std::string narrow = path("narrow.h5");
  r = run_command(test::mpirun(1) + prep_command(narrow, "--window-bins 6 --stride-bp 30000"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(train(2, path("bad-geometry"), "", narrow));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("geometry"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("window-bins"), std::string::npos) << r.output;
  // a bad model key is the config's error, not the corpus geometry's
  r = run_command(train(2, path("bad-key"), "--contrastive-pooling sum"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("contrastive-pooling"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("geometry"), std::string::npos) << r.output;

  // A checkpoint of another model or another corpus is refused, naming what differs.
  reference_hash();
  const std::string other_model = path("bad-model");
  fs::copy(reference_run(), other_model, fs::copy_options::recursive);
  r = run_command(train(2, other_model, "--max-steps 30 --embed-dim 8"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("embed-dim: 16 vs 8"), std::string::npos) << r.output;
  const std::string other_corpus = path("other.h5");
  r = run_command(test::mpirun(1) + prep_command(other_corpus, "--stride-bp 50000"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string other_run = path("bad-corpus");
  fs::copy(reference_run(), other_run, fs::copy_options::recursive);
  r = run_command(train(2, other_run, "--max-steps 30", other_corpus));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("corpus-id"), std::string::npos) << r.output;
}

namespace {
int count_lines_with(const std::string& output, const std::string& what) {
  int n = 0;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.find(what) != std::string::npos) ++n;
  return n;
}
}  // namespace

// A failure on one rank of two at any start-up stage (MIXHIC_TEST_FAIL_AT throws a
// std::runtime_error there, an exception of no mixhic type, as std::filesystem throws) ends the
// whole job with one error line and exit 2, within seconds; during a step, outside any agreement,
// the job is aborted at once (mpi_world.hpp). Before, an error of another type on one rank
// unwound through collective destructors and hung the job (--run-dir naming a regular file).
TEST_F(TrainRun, FailureOnOneRankAtAnyStageEndsTheJobWithoutAHang) {
  const std::string base = path("faults-base");
  auto r = run_command(train(2, base, "--max-steps 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  struct Stage {
    std::string name;
    bool resume;  // run on a copy of a run that has a checkpoint (the resume stages)
  };
  const std::vector<Stage> stages = {{"config", false},   {"corpus", false},       {"geometry", false},
                                     {"device", false},   {"communicator", false}, {"model", false},
                                     {"task", false},     {"buckets", false},      {"resume", false},
                                     {"run-dir", false},  {"training-log", false}, {"loader", false},
                                     {"checkpoint-write", false}, {"load-checkpoint", true}, {"step", false}};
  for (const Stage& st : stages) {
    const std::string run = path("fault-" + st.name);
    if (st.resume) fs::copy(base, run, fs::copy_options::recursive);
    const auto t0 = std::chrono::steady_clock::now();
    r = run_command("MIXHIC_TEST_FAIL_AT=" + st.name + "@1 timeout 120 " +
                    train(2, run, st.resume ? "--max-steps 4" : "--max-steps 2"));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_NE(r.exit_code, 0) << st.name << ":\n" << r.output;
    EXPECT_NE(r.exit_code, 124) << st.name << ": the job hung:\n" << r.output;
    EXPECT_NE(r.output.find("injected failure at stage '" + st.name + "' on rank 1"), std::string::npos)
        << st.name << ":\n" << r.output;
    EXPECT_EQ(count_lines_with(r.output, "mixhic-train: error"), 1) << st.name << ":\n" << r.output;
    if (st.name != "step") EXPECT_EQ(r.exit_code, 2) << st.name << ":\n" << r.output;
    if (st.name == "checkpoint-write") {  // the partial checkpoint is gone
      for (auto& e : fs::directory_iterator(run + "/checkpoints"))
        EXPECT_EQ(e.path().extension(), "") << "left behind: " << e.path();
    }
    std::cout << "[ fault    ] " << st.name << "@1: exit " << r.exit_code << " after " << secs << " s\n";
  }

  // The case that hung: --run-dir names a regular file; and one that cannot be made.
  const std::string file = path("not-a-dir");
  std::ofstream(file) << "x\n";
  r = run_command("timeout 120 " + train(2, file));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(file + ": run-dir: expected a directory, got a regular file"), std::string::npos) << r.output;
  EXPECT_EQ(count_lines_with(r.output, "mixhic-train: error"), 1) << r.output;
  r = run_command("timeout 120 " + train(2, file + "/run"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("run-dir: expected a directory that exists or can be made, got cannot make it: Not a directory"),
            std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(path("fault-corpus") + "/config.ini"));  // refused before anything was written

  // A run directory without room for a checkpoint is refused at start-up, not at the first commit.
  const std::string small = path("small-fs");
  fs::create_directories(small);
  if (run_command("mount -t tmpfs -o size=64k tmpfs " + small).exit_code == 0) {
    r = run_command("timeout 120 " + train(2, small + "/run"));
    run_command("umount -l " + small);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(small + "/run: free space: expected at least"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("for a checkpoint (model and optimizer state)"), std::string::npos) << r.output;
  } else {
    std::cout << "[ skipped  ] no room: cannot mount a small tmpfs here (not root?)\n";
  }
}

// Writing a checkpoint into a full file system (/dev/full answers every write with ENOSPC): the
// error says why, and the partial step-N.tmp/ is removed; a stale one is removed at start-up.
TEST(CheckpointStore, FullDiskSaysWhyAndLeavesNoPartialCheckpoint) {
  // Only the real device: as root, writing to a missing /dev/full would create a regular file.
  if (!fs::is_character_file("/dev/full")) GTEST_SKIP() << "skipped: /dev/full is not a character device here";
  test::TempDir dir;
  MpiWorld world;
  MPI_Comm_rank(world.comm, &world.rank);
  MPI_Comm_size(world.comm, &world.size);
  CheckpointStore store(dir.path(), world, 2);
  fs::create_directories(dir / "checkpoints/step-00000007.tmp");
  store.remove_partial_checkpoints();
  EXPECT_FALSE(fs::exists(dir / "checkpoints/step-00000007.tmp"));
  std::string message;
  try {
    write_durably("/dev/full", "a checkpoint file\n");
  } catch (const std::exception& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("/dev/full: cannot write 18 bytes: No space left on device"), std::string::npos) << message;
  EXPECT_THROW(store.commit(3, "0123456789abcdef",
                            [&](const std::string& tmp) -> std::vector<std::string> {
                              write_durably(tmp + "/model.ini", "model\n");
                              write_durably("/dev/full", "optimizer state\n");  // the disk fills up
                              return {"model.ini"};
                            }),
               ReportedError);
  EXPECT_FALSE(fs::exists(dir / "checkpoints/step-00000003.tmp"));
  EXPECT_FALSE(fs::exists(dir / "checkpoints/step-00000003"));
  EXPECT_TRUE(store.committed().empty());
}

TEST_F(TrainRun, LossOfTheTinyModelFalls) {
  const std::string run = path("learning");
  auto r = run_command(train(2, run, "--max-steps 40 --lr 1e-3 --contrastive-only-epochs 0"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto m = metrics(run);
  double first = 0, last = 0;
  for (int64_t s = 1; s <= 5; ++s) first += m.at(s)[3] / 5;
  for (int64_t s = 36; s <= 40; ++s) last += m.at(s)[3] / 5;
  std::cout << "loss, mean of steps 1-5: " << first << ", of steps 36-40: " << last << "\n";
  EXPECT_LT(last, 0.9 * first);
}

}  // namespace
