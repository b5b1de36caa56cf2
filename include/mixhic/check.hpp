// check.hpp — mixhic's error types and the check macros every module uses.
//
// User errors (bad input, bad config) are typed exceptions that survive NDEBUG and say what was
// expected; they are caught once, in main (see mpi_world.hpp: run_main). Library failures (MPI,
// HDF5, NCCL, CUDA) go through the MIXHIC_*_CHECK macros, whose message reads
//   [rank r/host] file:line: call failed: library text
// `assert` is kept for programmer errors only.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace mixhic {

// Base of every error mixhic reports to a user.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A config key is unknown, missing or has a value outside its domain.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// An input file is missing, unreadable or does not hold what it should.
// Message: "FILE: FIELD: expected EXPECTED[ (got GOT)]".
class InputFormatError : public Error {
 public:
  InputFormatError(const std::string& file, const std::string& field, const std::string& expected,
                   const std::string& got = "");
  const std::string file, field;
};

// A call into MPI/HDF5/NCCL/CUDA failed.
class LibraryError : public Error {
 public:
  using Error::Error;
};

// "[rank r/host] file:line: what" — the prefix every library failure carries.
std::string where(const char* file, int line);

// Text of the innermost HDF5 error on this thread's stack (empty if none).
std::string hdf5_error_text();

}  // namespace mixhic

#define MIXHIC_REQUIRE(cond, ...)                                      \
  do {                                                                 \
    if (!(cond)) throw ::mixhic::Error(fmt::format(__VA_ARGS__));      \
  } while (0)

#define MIXHIC_MPI_CHECK(call)                                                                  \
  do {                                                                                          \
    int mixhic_rc_ = (call);                                                                    \
    if (mixhic_rc_ != 0 /* MPI_SUCCESS */) {                                                    \
      char mixhic_msg_[512];                                                                    \
      int mixhic_len_ = 0;                                                                      \
      MPI_Error_string(mixhic_rc_, mixhic_msg_, &mixhic_len_);                                  \
      throw ::mixhic::LibraryError(fmt::format("{}: {} failed: {}",                             \
                                   ::mixhic::where(__FILE__, __LINE__), #call,                  \
                                   std::string(mixhic_msg_, mixhic_len_)));                     \
    }                                                                                           \
  } while (0)

// HDF5 calls return a negative hid_t/herr_t on failure; evaluates to the call's value.
#define MIXHIC_H5_CHECK(call)                                                                   \
  ([&]() {                                                                                      \
    auto mixhic_rc_ = (call);                                                                   \
    if (mixhic_rc_ < 0)                                                                         \
      throw ::mixhic::LibraryError(fmt::format("{}: {} failed: {}",                             \
                                   ::mixhic::where(__FILE__, __LINE__), #call,                  \
                                   ::mixhic::hdf5_error_text()));                               \
    return mixhic_rc_;                                                                          \
  }())

// CUDA runtime and NCCL calls (in files that include cuda_runtime_api.h / nccl.h): the error
// string, and for NCCL's system/remote errors where to look next.
#define MIXHIC_CUDA_CHECK(call)                                                                           \
  do {                                                                                                    \
    cudaError_t mixhic_e_ = (call);                                                                       \
    if (mixhic_e_ != cudaSuccess)                                                                         \
      throw ::mixhic::LibraryError(fmt::format("{}: {} failed: {}", ::mixhic::where(__FILE__, __LINE__), #call, \
                                               cudaGetErrorString(mixhic_e_)));                           \
  } while (0)

#define MIXHIC_NCCL_CHECK(call)                                                                           \
  do {                                                                                                    \
    ncclResult_t mixhic_r_ = (call);                                                                      \
    if (mixhic_r_ != ncclSuccess)                                                                         \
      throw ::mixhic::LibraryError(fmt::format("{}: {} failed: {}{}", ::mixhic::where(__FILE__, __LINE__), #call, \
                                               ncclGetErrorString(mixhic_r_),                             \
                                               mixhic_r_ == ncclSystemError || mixhic_r_ == ncclRemoteError \
                                                   ? "\n---> HINT: rerun with NCCL_DEBUG=INFO to see which rank or link failed" \
                                                   : ""));                                                \
  } while (0)
