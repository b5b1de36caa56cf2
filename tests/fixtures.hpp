// fixtures.hpp — inputs that several tests read, made once per ctest run instead of once per test
// process: gtest_discover_tests runs every test in a process of its own, so a suite's
// SetUpTestSuite runs once per test (the synthetic genome and its corpus were made 12 times for
// TrainRun alone). Included by test_main.cpp (the --make-fixture mode) and the suites that use one.
//
// Fixture NAME is the directory MIXHIC_FIXTURE_DIR/NAME, made by the ctest test Fixture.NAME
// (`<test binary> --make-fixture NAME`, a FIXTURES_SETUP; tests/CMakeLists.txt says which suites
// require it) and completed by MIXHIC_FIXTURE_DIR/NAME.done, written last, so a half-made one is
// never used. A suite asks fixture_dir(NAME): "" when there is none (a test binary run by hand) or
// when it is older than a tool or config it was made with (rebuilt or edited since); the suite
// then makes its own copy in its TempDir with the same command, as before fixtures. The command
// is one function that both paths call (synth_inputs_command, a suite's train_command, ...).
//
// Tests only read a fixture: every file a test writes, corrupts or resumes is in a TempDir of its
// own (a run directory is copied there first).
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace mixhic::test {

// What a fixture's maker did.
struct FixtureOutcome {
  enum Status { kMade, kSkipped, kFailed };
  Status status = kMade;
  std::string why;  // kSkipped: why there is nothing to make (its tests skip themselves); kFailed: what failed
  static FixtureOutcome skipped(std::string why) { return {kSkipped, std::move(why)}; }
  static FixtureOutcome failed(std::string why) { return {kFailed, std::move(why)}; }
  // A fixture made from fixture `from`, which is not there (its set-up did not run first).
  static FixtureOutcome missing(const std::string& from) {
    return failed("made from fixture " + from + ", which is not there (ctest runs Fixture." + from + " first)");
  }
};

struct FixtureSpec {
  std::function<FixtureOutcome(const std::string& dir)> make;  // fills the new, empty directory `dir`
  std::function<void()> remove;  // --remove-fixture (a FIXTURES_CLEANUP), before `dir` is deleted
};

// The fixtures this test binary can make, by name.
inline std::map<std::string, FixtureSpec>& fixture_specs() {
  static std::map<std::string, FixtureSpec> specs;
  return specs;
}

// A namespace-scope `const RegisterFixture kX{"name", maker};` makes "name" known to --make-fixture
// in the binary it is linked into.
struct RegisterFixture {
  RegisterFixture(const std::string& name, std::function<FixtureOutcome(const std::string& dir)> make,
                  std::function<void()> remove = {}) {
    fixture_specs()[name] = FixtureSpec{std::move(make), std::move(remove)};
  }
};

inline std::filesystem::path fixture_path(const std::string& name) {
  return std::filesystem::path(MIXHIC_FIXTURE_DIR) / name;
}
inline std::filesystem::path fixture_done_path(const std::string& name) {
  return std::filesystem::path(MIXHIC_FIXTURE_DIR) / (name + ".done");
}

// What fixtures are made with: the test binary (it holds the commands), the tools and the configs
// (configs/**.ini). A fixture older than any of them is not used.
inline std::vector<std::filesystem::path> fixture_made_with() {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> paths = {fs::read_symlink("/proc/self/exe", ec), MIXHIC_PREP_BIN};
#ifdef MIXHIC_TRAIN_BIN
  paths.push_back(MIXHIC_TRAIN_BIN);
#endif
  fs::recursive_directory_iterator it(fs::path(MIXHIC_SOURCE_DIR) / "configs", ec), end;
  for (; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".ini" && it->is_regular_file(ec)) paths.push_back(it->path());
  return paths;
}

// The directory of fixture `name` when ctest's Fixture.NAME completed it after everything it is
// made with was last changed; else "" (the caller makes its own).
inline std::string fixture_dir(const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_time_type made = fs::last_write_time(fixture_done_path(name), ec);
  if (ec) return "";
  for (const fs::path& p : fixture_made_with()) {
    const fs::file_time_type changed = fs::last_write_time(p, ec);
    if (!ec && changed > made) {
      std::cout << "[ fixture  ] " << name << ": not used, " << p.string() << " changed after it was made\n";
      return "";
    }
  }
  std::cout << "[ fixture  ] " << name << ": " << fixture_path(name).string() << "\n";
  return fixture_path(name).string();
}

// "" when `cmd` exits 0, else the command, its exit code and its output.
inline std::string command_error(const std::string& cmd) {
  CommandResult r = run_command(cmd);
  return r.exit_code == 0 ? "" : cmd + "\nexit " + std::to_string(r.exit_code) + ":\n" + r.output;
}

// Runs `commands` in order; the first that fails fails the fixture.
inline FixtureOutcome made_by(const std::vector<std::string>& commands) {
  for (const std::string& cmd : commands) {
    std::cout << "[ fixture  ] " << cmd << "\n" << std::flush;
    std::string error = command_error(cmd);
    if (!error.empty()) return FixtureOutcome::failed(error);
  }
  return {};
}

// `<test binary> --make-fixture NAME` / `--remove-fixture NAME` (test_main.cpp): makes fixture NAME
// afresh (what was there is removed first, its .done before anything else) or removes it. Exit 0
// when made, removed or skipped, 1 when making failed, 2 when this binary has no such fixture.
inline int fixture_main(const std::string& mode, const std::string& name) {
  namespace fs = std::filesystem;
  auto spec = fixture_specs().find(name);
  if (spec == fixture_specs().end()) {
    std::cerr << mode << " " << name << ": no such fixture in this test binary; it makes:";
    for (auto& [known, unused] : fixture_specs()) std::cerr << " " << known;
    std::cerr << "\n";
    return 2;
  }
  const fs::path dir = fixture_path(name), done = fixture_done_path(name);
  std::error_code ec;
  fs::remove(done, ec);
  if (mode == "--remove-fixture") {
    if (spec->second.remove) spec->second.remove();
    fs::remove_all(dir, ec);
    std::cout << "[ fixture  ] " << name << ": removed\n";
    return 0;
  }
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) {
    std::cerr << "[ fixture  ] " << name << ": cannot make " << dir.string() << ": " << ec.message() << "\n";
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const FixtureOutcome outcome = spec->second.make(dir.string());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (outcome.status == FixtureOutcome::kFailed) {
    std::cerr << "[ fixture  ] " << name << ": FAILED after " << secs << " s: " << outcome.why << "\n";
    return 1;
  }
  if (outcome.status == FixtureOutcome::kSkipped) {
    fs::remove_all(dir, ec);
    std::cout << "[ fixture  ] " << name << ": not made: " << outcome.why << "\n";
    return 0;
  }
  {
    std::ofstream out(done.string() + ".tmp");
    out << "fixture " << name << ", made in " << secs << " s by " << fs::read_symlink("/proc/self/exe", ec).string()
        << " --make-fixture " << name << "\n";
  }
  fs::rename(done.string() + ".tmp", done, ec);
  if (ec) {
    std::cerr << "[ fixture  ] " << name << ": cannot write " << done.string() << ": " << ec.message() << "\n";
    return 1;
  }
  std::cout << "[ fixture  ] " << name << ": made in " << secs << " s: " << dir.string() << "\n";
  return 0;
}

// ---- the synthetic genome and its corpus (TrainRun, FineTune, SynthPrep, SlurmCluster) ----------

inline std::string synth_inputs_command(const std::string& out_dir) { return prep_bin() + " synth --out-dir " + out_dir; }

// The 2-rank corpus of configs/prep-synth.ini on the synthetic genome in `in`.
inline std::string synth_corpus_command(const std::string& in, const std::string& corpus) {
  return mpirun(2) + prep_bin() + " --config " + std::string(MIXHIC_SOURCE_DIR) + "/configs/prep-synth.ini --config " +
         in + "/inputs.ini --output " + corpus;
}

inline const RegisterFixture kSynthInputsFixture{
    "synth-inputs", [](const std::string& dir) { return made_by({synth_inputs_command(dir + "/in")}); }};

inline const RegisterFixture kSynthCorpusFixture{"synth-corpus", [](const std::string& dir) {
  const std::string inputs = fixture_dir("synth-inputs");
  if (inputs.empty()) return FixtureOutcome::missing("synth-inputs");
  return made_by({synth_corpus_command(inputs + "/in", dir + "/corpus.h5")});
}};

// `mixhic-prep synth`'s directory (inputs.ini, synthA.mcool, synthA.CTCF.bw, ...): fixture
// synth-inputs' when ctest made it, else made into own/in. `error`: what failed, if anything.
inline std::string synth_inputs(const std::string& own, std::string& error) {
  const std::string fixture = fixture_dir("synth-inputs");
  if (!fixture.empty()) return fixture + "/in";
  error = command_error(synth_inputs_command(own + "/in"));
  return own + "/in";
}

struct SynthCorpus {
  std::string in;        // the synthetic genome (synth_inputs)
  std::string corpus;    // its 2-rank corpus (synth_corpus_command)
  bool shared = false;   // both are the fixtures': fixtures made from them (reference runs) may be used
  std::string error;     // what failed when the suite made them itself
};

// The synthetic genome and its corpus: fixtures synth-inputs and synth-corpus when ctest made both,
// else made into own/in and own/corpus.h5.
inline SynthCorpus synth_corpus(const std::string& own) {
  const std::string in = fixture_dir("synth-inputs"), corpus = fixture_dir("synth-corpus");
  if (!in.empty() && !corpus.empty()) return {in + "/in", corpus + "/corpus.h5", true, ""};
  SynthCorpus s{own + "/in", own + "/corpus.h5", false, ""};
  s.error = command_error(synth_inputs_command(s.in));
  if (s.error.empty()) s.error = command_error(synth_corpus_command(s.in, s.corpus));
  return s;
}

}  // namespace mixhic::test
