// GoogleTest main for the single-process suite: MPI is initialised once (one rank), as the
// library code under test expects, and HDF5's own error printing is off as in the binaries.
// `--make-fixture NAME` / `--remove-fixture NAME` instead make or remove a fixture that several
// tests read (ctest's Fixture.NAME set-up and clean-up tests; fixtures.hpp), without MPI.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "fixtures.hpp"

namespace {

// Tests that launch mpirun must not hand it our Open MPI / PMIx environment (this process is an
// MPI singleton), or the child job tries to join this one.
void forget_mpi_environment() {
  std::vector<std::string> inherited;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    for (const char* prefix : {"OMPI_", "PMIX_", "ORTE_", "OPAL_"})
      if (kv.rfind(prefix, 0) == 0) inherited.push_back(kv.substr(0, kv.find('=')));
  }
  for (auto& name : inherited) unsetenv(name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc == 3 && (std::string(argv[1]) == "--make-fixture" || std::string(argv[1]) == "--remove-fixture")) {
    forget_mpi_environment();
    return mixhic::test::fixture_main(argv[1], argv[2]);
  }
  MPI_Init(&argc, &argv);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  forget_mpi_environment();
  int rc = RUN_ALL_TESTS();
  MPI_Finalize();
  return rc;
}
