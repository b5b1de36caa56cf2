#include "mixhic/check.hpp"

#include <hdf5.h>
#include <mpi.h>
#include <unistd.h>

namespace mixhic {

InputFormatError::InputFormatError(const std::string& file_, const std::string& field_,
                                   const std::string& expected, const std::string& got)
    : Error(got.empty() ? fmt::format("{}: {}: expected {}", file_, field_, expected)
                        : fmt::format("{}: {}: expected {}, got {}", file_, field_, expected, got)),
      file(file_),
      field(field_) {}

std::string where(const char* file, int line) {
  int initialized = 0, rank = -1;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  return fmt::format("[rank {}/{}] {}:{}", rank, host, file, line);
}

namespace {
herr_t innermost(unsigned n, const H5E_error2_t* err, void* out) {
  // The walk goes from the innermost frame outward; the innermost message names the cause.
  if (n == 0 && err && err->desc) *static_cast<std::string*>(out) = err->desc;
  if (n == 0 && err && err->func_name)
    *static_cast<std::string*>(out) += std::string(" (in ") + err->func_name + ")";
  return 0;
}
}  // namespace

std::string hdf5_error_text() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, &text);
  return text.empty() ? "HDF5 reported no detail" : text;
}

}  // namespace mixhic
