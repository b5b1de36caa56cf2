// mpi_world.hpp — MPI start-up, the error policy of every mixhic binary, and small collectives.
//
// run_main() is the only main() body: it initialises MPI, turns off HDF5's own error printing,
// runs the program and maps errors to exits. The policy:
//  * inside agree() (COLLECTIVE), an exception on any rank (a mixhic::Error or any other
//    std::exception, e.g. std::filesystem's) is printed once, by the lowest failing rank, and
//    every rank exits 2 cleanly;
//  * anywhere else, on more than one rank, the exception is not caught at all: the C++ runtime
//    then calls std::terminate before unwinding the stack, and run_main's terminate handler
//    prints the message and MPI_Aborts the whole job. Unwinding first would run destructors
//    that are collective (a parallel-HDF5 file's close, a communicator's free) on one rank
//    alone and hang the job; so no rank is left waiting in a collective.
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

// COLLECTIVE: runs fn on every rank; if fn throws a std::exception on any rank, the lowest such
// rank prints it and every rank throws ReportedError. fn must not itself call a collective that a
// failing rank would skip (a rank that throws early would leave the others waiting in it).
void agree(const MpiWorld& world, const std::function<void()>& fn);

// Test knob, never set in production: MIXHIC_TEST_FAIL_AT=STAGE@RANK (RANK omitted: every rank)
// makes that rank throw a std::runtime_error, an exception of no mixhic type as std::filesystem
// throws, when it reaches `stage`. The tests inject a failure at each start-up stage of a
// binary on one rank of two and check that the job ends with one message and no hang.
// MIXHIC_TEST_PAUSE_AT=STAGE makes every rank sleep 60 s there instead (a test kills the job in
// the middle of that stage).
void test_fault_point(const MpiWorld& world, const char* stage);

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
