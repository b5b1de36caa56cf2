// test_fuzz_regressions.cpp — every saved fuzz input through the parser entry points of the
// libFuzzer targets (tests/fuzz/fuzz_parsers.hpp), in the normal build (gcc, no sanitizer, no
// libFuzzer): the seeds of tests/fuzz/seeds/<target>/ and the inputs that once crashed a target,
// tests/fuzz/regressions/<target>/ (a crash found by `ctest -L fuzz` is copied there once fixed;
// tests/fuzz/regressions/README.md). Each input must parse or be refused with a mixhic::Error;
// another exception or a fuzz::Finding fails the test, naming the file. A crash ends the test
// binary, which ctest reports as this test failing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz/fuzz_parsers.hpp"
#include "mixhic/check.hpp"

namespace {

namespace fs = std::filesystem;
using Parser = int (*)(const uint8_t*, size_t);

// Inputs of `target`, in name order; dot files and READMEs are not inputs.
std::vector<fs::path> inputs_of(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"seeds", "regressions"}) {
    const fs::path dir = fs::path(MIXHIC_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (!entry.is_regular_file() || name.empty() || name[0] == '.' || name.rfind("README", 0) == 0) continue;
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void run_inputs(const std::string& target, Parser parse) {
  const std::vector<fs::path> files = inputs_of(target);
  if (files.empty()) GTEST_SKIP() << "no seeds or regression inputs for " << target << " (tests/fuzz/make_seeds.sh)";
  int refused = 0;
  for (const fs::path& file : files) {
    const std::vector<uint8_t> bytes = bytes_of(file);
    try {
      if (parse(bytes.data(), bytes.size()) > 0) ++refused;
    } catch (const mixhic::Error&) {
      ++refused;  // the file refused: acceptable
    } catch (const std::exception& e) {
      ADD_FAILURE() << file.string() << ": " << typeid(e).name() << ": " << e.what();
    }
  }
  std::cout << target << ": " << files.size() << " inputs, " << refused << " refused in part or whole\n";
}

}  // namespace

TEST(FuzzRegressions, Hic) { run_inputs("fuzz_hic", mixhic::fuzz::parse_hic); }
TEST(FuzzRegressions, TorchSave) { run_inputs("fuzz_torch_save", mixhic::fuzz::parse_torch_save); }
TEST(FuzzRegressions, Text) { run_inputs("fuzz_text", mixhic::fuzz::parse_text); }
TEST(FuzzRegressions, Corpus) { run_inputs("fuzz_corpus", mixhic::fuzz::parse_corpus); }
TEST(FuzzRegressions, Cooler) { run_inputs("fuzz_cooler", mixhic::fuzz::parse_cooler); }
