// scripts/slurm/ on a real one-node Slurm cluster (ci/slurm-local.sh): the pipeline runs to
// COMPLETED; a pre-training job that is requeued (preemption) or warned with its --signal
// checkpoints, is requeued, resumes and ends bitwise where an uninterrupted run ends; a launch
// that does not form one MPI world fails at start with the explanation; `down` leaves no daemon.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "fixtures.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using mixhic::test::run_command;

namespace {

const std::string kRoot = MIXHIC_SOURCE_DIR;
const std::string kSlurmConf = "/tmp/mixhic-slurm/slurm.conf";

std::string slurm(const std::string& cmd) { return "SLURM_CONF=" + kSlurmConf + " " + cmd; }

bool cluster_running() { return run_command(kRoot + "/ci/slurm-local.sh running").exit_code == 0; }

// Steps of the pre-training jobs that are requeued or warned, and of the run they must end equal to.
constexpr int kPreemptSteps = 40;

// An uninterrupted `steps`-step run of the tiny model on 2 ranks (mpirun).
std::string reference_command(const std::string& corpus, const std::string& run, int steps) {
  return mixhic::test::mpirun(2) + MIXHIC_TRAIN_BIN + " --config " + kRoot + "/configs/pretrain-tiny.ini --corpus " +
         corpus + " --run-dir " + run + " --max-steps " + std::to_string(steps);
}

// ctest fixtures (tests/fixtures.hpp), made once per ctest run, not for tests that skip (not root):
// the cluster (`up` before the first Slurm test, `down` after the last) and the run the preempted
// jobs are compared with, from fixture synth-corpus.
const mixhic::test::RegisterFixture kClusterFixture{
    "slurm-cluster",
    [](const std::string&) {
      if (getuid() != 0) return mixhic::test::FixtureOutcome::skipped("not root: the Slurm tests skip themselves");
      return mixhic::test::made_by({kRoot + "/ci/slurm-local.sh up"});
    },
    [] {
      if (getuid() == 0) std::cout << run_command(kRoot + "/ci/slurm-local.sh down").output;
    }};
const mixhic::test::RegisterFixture kReferenceFixture{"slurm-reference", [](const std::string& dir) {
  if (getuid() != 0) return mixhic::test::FixtureOutcome::skipped("not root: the Slurm tests skip themselves");
  const std::string synth = mixhic::test::fixture_dir("synth-corpus");
  if (synth.empty()) return mixhic::test::FixtureOutcome::missing("synth-corpus");
  return mixhic::test::made_by({reference_command(synth + "/corpus.h5", dir + "/ref", kPreemptSteps)});
}};

// One cluster for the whole suite: ctest's fixture slurm-cluster when it brought one up, else
// started by SetUpTestSuite and stopped by TearDownTestSuite. Every file a test writes is in its
// own directory, dir_.
class SlurmCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (getuid() != 0) return;
    if (!mixhic::test::fixture_dir("slurm-cluster").empty() && cluster_running()) {
      up_ = true;
      started_here_ = false;
      return;
    }
    auto r = run_command(kRoot + "/ci/slurm-local.sh up");
    up_ = r.exit_code == 0;
    up_output_ = r.output;
    started_here_ = true;
  }
  static void TearDownTestSuite() {
    if (getuid() == 0 && started_here_) run_command(kRoot + "/ci/slurm-local.sh down");
  }
  void SetUp() override {
    if (getuid() != 0) GTEST_SKIP() << "skipped: starting slurmctld/slurmd/munged needs root";
    ASSERT_TRUE(up_) << up_output_;
    // The guard test takes the cluster down to check `down`; a test that runs after it (another
    // order: ctest -j, --gtest_shuffle) brings it back, to be stopped as the first one is (by
    // Fixture.slurm-cluster.cleanup, or by TearDownTestSuite when this process started it).
    if (!cluster_running()) {
      auto r = run_command(kRoot + "/ci/slurm-local.sh up");
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
  }
  void TearDown() override {
    // The cluster outlives the test: nothing a failed test left queued or running may hold the
    // next test's CPUs (a passing test leaves no job that has not ended).
    if (getuid() == 0 && cluster_running()) run_command(slurm("scancel --user=root"));
  }

  // A synthetic corpus made with mpirun: fixture synth-corpus, else made here (the pipeline test
  // makes its own through Slurm).
  void make_corpus() {
    mixhic::test::SynthCorpus s = mixhic::test::synth_corpus(dir_.path());
    ASSERT_TRUE(s.error.empty()) << s.error;
    corpus_ = s.corpus;
    shared_corpus_ = s.shared;
  }
  // Parameter hash of an uninterrupted `steps`-step run of the tiny model on 2 ranks (mpirun):
  // fixture slurm-reference's for kPreemptSteps on the fixtures' corpus, else run here.
  std::string reference_hash(int steps) {
    if (shared_corpus_ && steps == kPreemptSteps) {
      const std::string fixture = mixhic::test::fixture_dir("slurm-reference");
      if (!fixture.empty()) return mixhic::test::checkpoint_state(fixture + "/ref", steps, "parameter-hash");
    }
    auto r = run_command(reference_command(corpus_, dir_ / "ref", steps));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return mixhic::test::checkpoint_state(dir_ / "ref", steps, "parameter-hash");
  }
  // sbatch with the environment the scripts read; returns the job id.
  std::string submit(const std::string& env, const std::string& args, const std::string& script) {
    auto r = run_command("cd " + kRoot + " && " + slurm("env " + env + " sbatch --parsable -o " + dir_ / "%x-%j.out " +
                                                         args + " " + script));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output.substr(0, r.output.find_first_of(";\n"));
  }
  static std::string field(const std::string& job, const std::string& key) {
    auto r = run_command(slurm("scontrol show job " + job));
    size_t at = r.output.find(key + "=");
    if (at == std::string::npos) return "";
    at += key.size() + 1;
    return r.output.substr(at, r.output.find_first_of(" \n", at) - at);
  }
  // Waits for a final state; a requeued job waits out Slurm's eligibility delay, which the test
  // shortens to 2 s, once per pending spell. Not to 0: slurmd refuses a job id's new credential
  // issued in the same second as the old run's revocation ("Killing non-startable batch JobId=1:
  // Job credential revoked" in slurmctld.log, and the job ends FAILED; seen in 2 of 8 runs).
  std::string wait_done(const std::string& job, double seconds) {
    auto t0 = std::chrono::steady_clock::now();
    std::string st;
    bool hastened = false;
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
      st = field(job, "JobState");
      if (st == "COMPLETED" || st == "FAILED" || st == "CANCELLED" || st == "TIMEOUT") return st;
      if (st != "PENDING") {
        hastened = false;
      } else if (!hastened && field(job, "Reason") == "BeginTime") {
        run_command(slurm("scontrol update jobid=" + job + " StartTime=now+2"));
        hastened = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return st + " (timed out)";
  }
  bool wait_rows(const std::string& run, int rows, double seconds) {
    auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
      std::ifstream in(run + "/metrics.csv");
      int n = -1;
      std::string line;
      while (std::getline(in, line)) ++n;
      if (n >= rows) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  std::string log_of(const std::string& name, const std::string& job) {
    return mixhic::test::read_file(dir_ / (name + "-" + job + ".out"));
  }
  std::string train_env(const std::string& run, int steps) {
    return "CORPUS=" + corpus_ + " RUN_DIR=" + run + " TRAIN_CONFIG=" + kRoot +
           "/configs/pretrain-tiny.ini TRAIN_ARGS='--max-steps " + std::to_string(steps) + "'";
  }
  void preempt_and_compare(const std::string& how, const std::string& expect_in_log) {
    ASSERT_NO_FATAL_FAILURE(make_corpus());
    const int steps = kPreemptSteps;
    const std::string want = reference_hash(steps);
    const std::string run = dir_ / "run";
    std::string job = submit(train_env(run, steps), "--ntasks-per-node 2 --cpus-per-task 1", "scripts/slurm/pretrain.sbatch");
    ASSERT_TRUE(wait_rows(run, 6, 120)) << log_of("mixhic-pretrain", job);
    auto r = run_command(slurm(how + " " + job));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(wait_done(job, 400), "COMPLETED") << log_of("mixhic-pretrain", job);
    const std::string log = log_of("mixhic-pretrain", job);
    EXPECT_NE(log.find(expect_in_log), std::string::npos) << log;
    EXPECT_NE(log.find("resumed from"), std::string::npos) << log;
    EXPECT_EQ(field(job, "Restarts"), "1");
    EXPECT_EQ(mixhic::test::checkpoint_state(run, steps, "parameter-hash"), want) << log;
  }

  mixhic::test::TempDir dir_;
  std::string corpus_ = dir_ / "corpus.h5";  // the pipeline test's prep job writes it
  bool shared_corpus_ = false;
  static bool up_, started_here_;
  static std::string up_output_;
};
bool SlurmCluster::up_ = false;
bool SlurmCluster::started_here_ = false;
std::string SlurmCluster::up_output_;

TEST_F(SlurmCluster, PipelineRunsPrepPretrainFinetuneAndEvalToCompletion) {
  std::string error;
  const std::string in = mixhic::test::synth_inputs(dir_.path(), error);  // read only: the job writes corpus_
  ASSERT_TRUE(error.empty()) << error;
  const std::string run = dir_ / "run";
  auto r = run_command("cd " + kRoot + " && " +
                       slurm("env INPUTS=" + in + "/inputs.ini" + " PREP_CONFIG=" + kRoot + "/configs/prep-synth.ini " +
                             train_env(run, 12) + " PREP_SBATCH_ARGS='--ntasks 2 -o " + dir_ / "%x-%j.out" +
                             "' TRAIN_SBATCH_ARGS='--ntasks-per-node 2 --cpus-per-task 1 -o " + dir_ / "%x-%j.out" +
                             "' FINETUNE_CONFIG=" + kRoot + "/configs/finetune-map-tiny.ini EVAL_SBATCH_ARGS='--ntasks 2 "
                             "--cpus-per-task 1 -o " + dir_ / "%x-%j.out" + "' scripts/slurm/submit-pipeline.sh"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto id = [&](const std::string& key) {
    size_t at = r.output.find(key + "=") + key.size() + 1;
    return r.output.substr(at, r.output.find('\n', at) - at);
  };
  const std::string prep = id("prep"), pretrain = id("pretrain");
  EXPECT_EQ(wait_done(prep, 300), "COMPLETED") << log_of("mixhic-prep", prep);
  EXPECT_EQ(wait_done(pretrain, 300), "COMPLETED") << log_of("mixhic-pretrain", pretrain);
  EXPECT_NE(log_of("mixhic-prep", prep).find("(matches)"), std::string::npos) << log_of("mixhic-prep", prep);
  EXPECT_NE(field(pretrain, "Dependency"), "");  // (null) once satisfied
  auto list = run_command(std::string(MIXHIC_TRAIN_BIN) + " checkpoints --run-dir " + run);
  EXPECT_NE(list.output.find("step-00000012: ok"), std::string::npos) << list.output;
  // fine-tuning from that run (same script, task config, PRETRAINED), then mixhic-eval
  const std::string finetune = id("finetune"), evaluation = id("eval");
  EXPECT_EQ(wait_done(finetune, 300), "COMPLETED") << log_of("mixhic-finetune", finetune);
  EXPECT_NE(log_of("mixhic-finetune", finetune).find("pre-trained backbone from " + run), std::string::npos)
      << log_of("mixhic-finetune", finetune);
  EXPECT_EQ(wait_done(evaluation, 300), "COMPLETED") << log_of("mixhic-eval", evaluation);
  EXPECT_NE(mixhic::test::read_file(run + "-finetune/eval/metrics.csv").find("metric,finetuned,distance-decay"),
            std::string::npos)
      << log_of("mixhic-eval", evaluation);
}

TEST_F(SlurmCluster, RequeuedJobCheckpointsResumesAndEndsBitwiseEqual) {
  preempt_and_compare("scontrol requeue", "stopped at step");
}

TEST_F(SlurmCluster, WarningSignalCheckpointsRequeuesAndEndsBitwiseEqual) {
  preempt_and_compare("scancel --signal=USR1", "on SIGUSR1");
}

TEST_F(SlurmCluster, WorldSizeMismatchFailsAtStartWithTheReason) {
  ASSERT_NO_FATAL_FAILURE(make_corpus());
  // LAUNCH="" runs one process where the job asked for 2 tasks: what Open MPI does under srun
  // without PMIx (N separate single-rank jobs), in miniature.
  std::string job = submit(train_env(dir_ / "run", 4) + " LAUNCH=", "--ntasks 2 --cpus-per-task 1",
                           "scripts/slurm/pretrain.sbatch");
  EXPECT_EQ(wait_done(job, 120), "FAILED");
  const std::string log = log_of("mixhic-pretrain", job);
  EXPECT_NE(log.find("the MPI world has 1 rank(s) but the job asked for 2 tasks"), std::string::npos) << log;
}

TEST_F(SlurmCluster, GuardRefusesToRunOutsideSlurmAndDownStopsEveryDaemon) {
  for (const char* script : {"prep.sbatch", "pretrain.sbatch", "finetune.sbatch", "eval.sbatch"}) {
    auto r = run_command("env -u SLURM_JOB_ID bash " + kRoot + "/scripts/slurm/" + script);
    EXPECT_EQ(r.exit_code, 2) << script;
    EXPECT_NE(r.output.find("submit it with sbatch"), std::string::npos) << script << ": " << r.output;
  }
  auto r = run_command("SLURM_JOB_ID=1 PRETRAINED= bash " + kRoot + "/scripts/slurm/finetune.sbatch");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("set PRETRAINED"), std::string::npos) << r.output;
  r = run_command(kRoot + "/ci/slurm-local.sh down");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* daemon : {"slurmctld", "slurmd", "munged"})  // live ones: zombies don't count
    EXPECT_NE(run_command(std::string("ps -C ") + daemon + " -o stat= | grep -qv '^Z'").exit_code, 0) << daemon;
}

}  // namespace
