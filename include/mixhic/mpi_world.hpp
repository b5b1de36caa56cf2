// mpi_world.hpp — MPI start-up, the error policy of every mixhic binary, and small collectives.
//
// run_main() is the only main() body: it initialises MPI, turns off HDF5's own error printing,
// runs the program and maps errors to exits. The policy:
//  * inside agree() (COLLECTIVE), a user error on any rank is printed once, by the lowest failing
//    rank, and every rank exits 2 cleanly;
//  * anywhere else, the rank that fails prints its message and MPI_Abort ends the whole job,
//    so no rank is left waiting in a collective.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mixhic {

struct MpiWorld {
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0;
  int size = 1;
};

// Thrown by agree() after the failure was printed; run_main() exits 2 without printing again.
struct ReportedError {};

int run_main(int argc, char** argv, const std::string& program,
             const std::function<int(const MpiWorld&, int, char**)>& body,
             int mpi_thread_level = MPI_THREAD_FUNNELED);

// A temporary output this rank removes if the program fails (keep_on_failure undoes it once the
// file was renamed into place), so a failed run leaves neither a final nor a temporary file.
void remove_on_failure(const std::string& path);
void keep_on_failure(const std::string& path);

// COLLECTIVE: runs fn on every rank; if fn throws mixhic::Error on any rank, the lowest such rank
// prints it and every rank throws ReportedError.
void agree(const MpiWorld& world, const std::function<void()>& fn);

// Contiguous block [begin, end) of `n` items owned by `rank` out of `world` (the first n % world
// ranks get one more). Pure: the same on every rank.
struct Block {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
Block block_of(int64_t n, int rank, int world);

// COLLECTIVE: offset of this rank's items in the global order (MPI_Exscan), and the total.
struct Placement {
  int64_t offset = 0, total = 0;
};
Placement place(const MpiWorld& world, int64_t local_count);

// COLLECTIVE: concatenation of every rank's vector, in rank order.
std::vector<uint8_t> allgather_bytes(const MpiWorld& world, const std::vector<uint8_t>& mine);
std::vector<int64_t> allgather_i64(const MpiWorld& world, const std::vector<int64_t>& mine);

}  // namespace mixhic
