// GoogleTest main for the single-process suite: MPI is initialised once (one rank), as the
// library code under test expects, and HDF5's own error printing is off as in the binaries.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  MPI_Init(&argc, &argv);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  // This process is an MPI singleton; tests that launch mpirun must not hand it our Open MPI /
  // PMIx environment, or the child job tries to join this one.
  std::vector<std::string> inherited;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    for (const char* prefix : {"OMPI_", "PMIX_", "ORTE_", "OPAL_"})
      if (kv.rfind(prefix, 0) == 0) inherited.push_back(kv.substr(0, kv.find('=')));
  }
  for (auto& name : inherited) unsetenv(name.c_str());
  int rc = RUN_ALL_TESTS();
  MPI_Finalize();
  return rc;
}
