// fuzz_parsers.hpp — the parser entry points of mixhic's fuzz targets (tests/fuzz/fuzz_*.cpp) and
// the little they share: a scratch file, the bounds on what the harness itself reads, and the
// Finding a harness throws when a reader breaks a promise of its interface.
//
// Called by the libFuzzer binaries (tests/fuzz/CMakeLists.txt: MIXHIC_FUZZ=ON, Clang, ASan +
// UBSan; each fuzz_<target>.cpp compiled with MIXHIC_LIBFUZZER defines LLVMFuzzerTestOneInput)
// and by tests/test_fuzz_regressions.cpp in the normal build, which feeds every seed and every
// saved crash input to the same function, so a crash fixed once stays fixed without libFuzzer.
//
// Contract of every parse_<target>(data, size): the bytes are written to a scratch file and the
// real reader runs on it, as mixhic-prep or mixhic-train would on a file handed to them. The
// acceptable outcomes are a return (the value counts the steps the reader refused) or a
// mixhic::Error (InputFormatError, ConfigError, LibraryError: the file was refused). Anything else
// is a finding: a crash or sanitizer report, a libFuzzer timeout, rss or malloc-limit report (the
// file decided a size the reader did not bound), std::bad_alloc or any other exception, or a
// fuzz::Finding (a reader returned data that breaks what its header promises, data the callers
// downstream index arrays with).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "mixhic/check.hpp"

namespace mixhic::fuzz {

int parse_hic(const uint8_t* data, size_t size);         // fuzz_hic.cpp: HicFile
int parse_torch_save(const uint8_t* data, size_t size);  // fuzz_torch_save.cpp: load_tensors
int parse_text(const uint8_t* data, size_t size);        // fuzz_text.cpp: BED, BEDPE, genes, INI
int parse_corpus(const uint8_t* data, size_t size);      // fuzz_corpus.cpp: Corpus
int parse_cooler(const uint8_t* data, size_t size);      // fuzz_cooler.cpp: CoolerFile

// A reader returned what its interface says it never returns. Not a mixhic::Error, so neither
// the libFuzzer entry points nor the regression test accept it.
class Finding : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace mixhic::fuzz

// Throws a Finding with the fmt message when `cond` is false (the message is formatted only then:
// the checks run once per pixel).
#define MIXHIC_FUZZ_REQUIRE(cond, ...)                                                     \
  do {                                                                                     \
    if (!(cond)) throw ::mixhic::fuzz::Finding("fuzz finding: " + fmt::format(__VA_ARGS__)); \
  } while (0)

namespace mixhic::fuzz {

// What one input may make the harness itself read or allocate. The reader's own allocations are
// not bounded here: bounding them (by the file's length or its geometry) is the reader's job, and
// -malloc_limit_mb reports where it does not.
inline constexpr int64_t kMaxRowsRead = int64_t(1) << 20;       // bins read as pixel rows, all chromosomes
inline constexpr int64_t kRowBlock = 64;                        // rows per read_rows call (a prep window)
inline constexpr int64_t kMaxHarnessFloats = int64_t(1) << 22;  // one output buffer the harness allocates
inline constexpr size_t kMaxColumns = 16;                       // balancing vectors read per file

// Runs `step`; a mixhic::Error (the reader refused the file) is an acceptable outcome: returns 1
// for it, 0 when the step succeeded. Every other exception propagates.
template <typename Step>
int tolerate(Step&& step) {
  try {
    step();
    return 0;
  } catch (const mixhic::Error&) {
    return 1;
  }
}

// One scratch file per process and suffix (readers that choose a format by the file name need
// theirs), rewritten for every input and removed at exit: in $TMPDIR if set, else /dev/shm (no
// disk traffic at ~1000 inputs a second), else /tmp. A run killed by a crash leaves its file
// behind, named mixhic-fuzz-*.
class ScratchFile {
 public:
  explicit ScratchFile(const char* suffix) {
    std::string dir = "/tmp";
    const char* tmpdir = std::getenv("TMPDIR");
    if (tmpdir && *tmpdir) dir = tmpdir;
    else if (::access("/dev/shm", W_OK) == 0) dir = "/dev/shm";
    std::string name = dir + "/mixhic-fuzz-XXXXXX" + suffix;
    std::vector<char> buf(name.begin(), name.end());
    buf.push_back('\0');
    fd_ = ::mkstemps(buf.data(), static_cast<int>(std::strlen(suffix)));
    if (fd_ < 0) fail("mkstemps", name);
    path_ = buf.data();
  }
  ~ScratchFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // Replaces the file's contents with the input; returns its path.
  const std::string& write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) fail("ftruncate", path_);
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) fail("pwrite", path_);
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  // The harness cannot run at all (no writable scratch directory): not a finding of a parser.
  [[noreturn]] static void fail(const char* call, const std::string& path) {
    std::fprintf(stderr, "mixhic fuzz harness: %s(%s) failed: %s\n", call, path.c_str(), std::strerror(errno));
    std::abort();
  }
  int fd_ = -1;
  std::string path_;
};

}  // namespace mixhic::fuzz
