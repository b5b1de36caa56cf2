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

#include "test_util.hpp"

namespace fs = std::filesystem;
using mixhic::test::run_command;

namespace {

const std::string kRoot = MIXHIC_SOURCE_DIR;
const std::string kSlurmConf = "/tmp/mixhic-slurm/slurm.conf";

std::string slurm(const std::string& cmd) { return "SLURM_CONF=" + kSlurmConf + " " + cmd; }

class SlurmCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (getuid() != 0) return;
    auto r = run_command(kRoot + "/ci/slurm-local.sh up");
    up_ = r.exit_code == 0;
    up_output_ = r.output;
  }
  static void TearDownTestSuite() {
    if (getuid() == 0) run_command(kRoot + "/ci/slurm-local.sh down");
  }
  void SetUp() override {
    if (getuid() != 0) GTEST_SKIP() << "skipped: starting slurmctld/slurmd/munged needs root";
    ASSERT_TRUE(up_) << up_output_;
  }

  // A synthetic corpus made with mpirun (the pipeline test makes its own through Slurm).
  void make_corpus() {
    auto r = run_command(mixhic::test::prep_bin() + " synth --out-dir " + dir_ / "in");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_command(mixhic::test::mpirun(2) + mixhic::test::prep_bin() + " --config " + kRoot +
                    "/configs/prep-synth.ini --config " + dir_ / "in/inputs.ini" + " --output " + dir_ / "corpus.h5");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  // Parameter hash of an uninterrupted `steps`-step run of the tiny model on 2 ranks (mpirun).
  std::string reference_hash(int steps) {
    auto r = run_command(mixhic::test::mpirun(2) + MIXHIC_TRAIN_BIN + " --config " + kRoot +
                         "/configs/pretrain-tiny.ini --corpus " + dir_ / "corpus.h5" + " --run-dir " + dir_ / "ref" +
                         " --max-steps " + std::to_string(steps));
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
    return "CORPUS=" + dir_ / "corpus.h5" + " RUN_DIR=" + run + " TRAIN_CONFIG=" + kRoot +
           "/configs/pretrain-tiny.ini TRAIN_ARGS='--max-steps " + std::to_string(steps) + "'";
  }
  void preempt_and_compare(const std::string& how, const std::string& expect_in_log) {
    make_corpus();
    const int steps = 40;
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
  static bool up_;
  static std::string up_output_;
};
bool SlurmCluster::up_ = false;
std::string SlurmCluster::up_output_;

TEST_F(SlurmCluster, PipelineRunsPrepPretrainFinetuneAndEvalToCompletion) {
  auto r = run_command(mixhic::test::prep_bin() + " synth --out-dir " + dir_ / "in");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string run = dir_ / "run";
  r = run_command("cd " + kRoot + " && " +
                  slurm("env INPUTS=" + dir_ / "in/inputs.ini" + " PREP_CONFIG=" + kRoot + "/configs/prep-synth.ini " +
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
  make_corpus();
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
