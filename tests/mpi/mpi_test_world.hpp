// The MPI_COMM_WORLD of a test binary launched by mpirun, as an MpiWorld.
#pragma once

#include "mixhic/mpi_world.hpp"

namespace mixhic::test {

inline MpiWorld world() {
  MpiWorld w;
  MPI_Comm_rank(w.comm, &w.rank);
  MPI_Comm_size(w.comm, &w.size);
  return w;
}

}  // namespace mixhic::test
