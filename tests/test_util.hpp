// test_util.hpp — helpers shared by the GoogleTest files: running commands (mixhic-prep under
// mpirun, the python oracles) and locating ../shared/data, skipping with a printed reason when a
// user's clone has none.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <map>
#include <sstream>
#include <vector>
#include <string>
#include <system_error>

#include "mixhic/check.hpp"

namespace mixhic::test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A value of checkpoints/step-NNNNNNNN/state.txt in a mixhic-train run directory ("key value"
// lines), or a text saying it is missing (it then fails any comparison with the message).
inline std::string checkpoint_state(const std::string& run_dir, int64_t step, const std::string& key) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(step));
  std::ifstream in(run_dir + "/checkpoints/" + name + "/state.txt");
  std::string k, v;
  while (in >> k >> v)
    if (k == key) return v;
  return "(no " + key + " in " + run_dir + "/checkpoints/" + name + "/state.txt)";
}

// A mixhic-train run's metrics.csv, rows keyed by step (the last row of a step wins, as after a
// restart); columns as its header: step, epoch, restart, loss, contrastive, orthogonal, mapping,
// lr, grad_norm, skipped, ...
inline std::map<int64_t, std::vector<double>> metrics_rows(const std::string& run_dir) {
  std::ifstream in(run_dir + "/metrics.csv");
  std::string line;
  std::getline(in, line);
  std::map<int64_t, std::vector<double>> rows;
  while (std::getline(in, line)) {
    std::vector<double> v;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) v.push_back(std::stod(cell));
    rows[int64_t(v[0])] = v;
  }
  return rows;
}

// The message of the InputFormatError that `fn` throws, or a text saying it threw none (which
// then fails any comparison with the message).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputFormatError& e) {
    return e.what();
  }
  return "(no InputFormatError)";
}

inline std::string shared_data(const std::string& rel) { return std::string(MIXHIC_SHARED_DATA) + "/" + rel; }

#define MIXHIC_REQUIRE_SHARED_DATA()                                                                     \
  do {                                                                                                   \
    if (!std::filesystem::exists(MIXHIC_SHARED_DATA)) {                                                  \
      GTEST_SKIP() << "skipped: " << MIXHIC_SHARED_DATA << " does not exist (real test data lives in the " \
                   << "developers' ../shared/data; a user's clone has none)";                            \
    }                                                                                                    \
  } while (0)

// A fresh temporary directory removed at the end of the test (or suite). Not removing it (a tmpfs
// a failed test left mounted in it) is no error: a destructor that threw would end the process.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mixhic-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string prep_bin() { return MIXHIC_PREP_BIN; }
inline std::string mpirun(int np) { return std::string(MIXHIC_MPIEXEC) + " -np " + std::to_string(np) + " --bind-to none "; }
inline std::string python() { return MIXHIC_PYTHON; }
#ifdef MIXHIC_TWIN_PYTHON
inline std::string twin_python() { return MIXHIC_TWIN_PYTHON; }  // torch + numpy
#endif
inline std::string oracle(const std::string& script) {
  return python() + " " + std::string(MIXHIC_SOURCE_DIR) + "/tests/oracles/" + script;
}

// Balances `uri` (cooler URI) with mixhic's ICE on this process and checks the weights against
// cooler.balance_cooler with the same options (tests/oracles/check_ice.py).
void check_ice(const std::string& uri, bool cis_only = false, int64_t max_iters = 200);

}  // namespace mixhic::test
