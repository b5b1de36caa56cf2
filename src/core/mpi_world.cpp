#include "mixhic/mpi_world.hpp"

#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

#include "mixhic/check.hpp"
#include "mixhic/log.hpp"

namespace mixhic {

namespace {
std::vector<std::string>& temporary_outputs() {
  static std::vector<std::string> paths;
  return paths;
}
void remove_temporary_outputs() {
  for (auto& p : temporary_outputs()) std::remove(p.c_str());
}
// The Slurm scripts set MIXHIC_EXPECTED_RANKS=$SLURM_NTASKS on their launch line. A launcher
// that cannot wire the ranks together (Open MPI under srun without PMIx, a missing srun) starts
// N separate single-rank jobs that would each train alone: refuse that at start-up.
void check_expected_ranks(const MpiWorld& world) {
  const char* expected = std::getenv("MIXHIC_EXPECTED_RANKS");
  if (!expected || !*expected || std::atoi(expected) == world.size) return;
  throw ConfigError(fmt::format(
      "the MPI world has {} rank(s) but the job asked for {} tasks (MIXHIC_EXPECTED_RANKS = SLURM_NTASKS): the "
      "launcher started separate single-rank jobs or the wrong number of ranks; launch with `srun --mpi=pmix` (see "
      "`srun --mpi=list`) or mpirun inside the allocation",
      world.size, expected));
}

// The job's communicator, for the terminate handler (it gets no arguments).
MPI_Comm g_job_comm = MPI_COMM_WORLD;

// An exception no agree() caught, on a job of several ranks: print it and end every rank now,
// with the stack as it was (see mpi_world.hpp: no collective destructor runs on this rank alone).
[[noreturn]] void abort_job_on_uncaught_exception() {
  std::string what = "terminate called without an active exception";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
      what = "unknown exception";
    }
  }
  log::error(what);
  remove_temporary_outputs();
  MPI_Abort(g_job_comm, 2);
  std::_Exit(2);
}

}  // namespace

void remove_on_failure(const std::string& path) { temporary_outputs().push_back(path); }
void keep_on_failure(const std::string& path) {
  auto& v = temporary_outputs();
  v.erase(std::remove(v.begin(), v.end(), path), v.end());
}

int run_main(int argc, char** argv, const std::string& program,
             const std::function<int(const MpiWorld&, int, char**)>& body, int mpi_thread_level) {
  // Open MPI's non-blocking all-reduce (coll/libnbc), which GradBuckets uses to overlap backward,
  // picks by default an algorithm that ran at 0.2-0.7x the bus bandwidth of the blocking
  // MPI_Allreduce on 1-64 MB buckets; Rabenseifner (reduce-scatter + all-gather) matches it
  // (bench/run.sh, all-reduce section; README "Benchmarks"). A value the user set wins.
  setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", /*overwrite=*/0);
  int provided = 0;
  MPI_Init_thread(&argc, &argv, mpi_thread_level, &provided);
  MpiWorld world;
  MPI_Comm_rank(world.comm, &world.rank);
  MPI_Comm_size(world.comm, &world.size);
  log::init(program, world.rank, world.size);
  // Errors are reported through exceptions with hdf5_error_text(); HDF5's stack dump would
  // print dozens of lines per rank.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  // MPI errors come back as codes so MIXHIC_MPI_CHECK can report them.
  MPI_Comm_set_errhandler(world.comm, MPI_ERRORS_RETURN);

  int code = 0;
  auto run = [&] {
    check_expected_ranks(world);
    return body(world, argc, argv);
  };
  if (world.size == 1) {
    try {
      code = run();
    } catch (const ReportedError&) {
      remove_temporary_outputs();
      code = 2;
    } catch (const std::exception& e) {
      log::error(e.what());
      remove_temporary_outputs();
      code = 2;
    }
  } else {
    // No handler for anything but ReportedError: see the policy in mpi_world.hpp.
    g_job_comm = world.comm;
    std::set_terminate(abort_job_on_uncaught_exception);
    try {
      code = run();
    } catch (const ReportedError&) {
      remove_temporary_outputs();
      code = 2;
    }
  }
  MPI_Finalize();
  return code;
}

void agree(const MpiWorld& world, const std::function<void()>& fn) {
  std::string message;
  int mine = INT_MAX;
  try {
    fn();
  } catch (const std::exception& e) {  // mixhic's errors and any other library's alike
    message = e.what();
    mine = world.rank;
  }
  int first = INT_MAX;
  MIXHIC_MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, world.comm));
  if (first == INT_MAX) return;
  if (world.rank == first) log::error(message);
  throw ReportedError{};
}

void test_fault_point(const MpiWorld& world, const char* stage) {
  // Read at every call (start-up stages and once per step: cheap), so a test may set them.
  const char* pause = std::getenv("MIXHIC_TEST_PAUSE_AT");
  if (pause && std::string(pause) == stage) {
    log::warn("MIXHIC_TEST_PAUSE_AT: pausing 60 s at stage '{}'", stage);
    std::this_thread::sleep_for(std::chrono::seconds(60));
  }
  const char* fail = std::getenv("MIXHIC_TEST_FAIL_AT");
  const std::string spec = fail ? fail : "";
  if (spec.empty()) return;
  const size_t at = spec.find('@');
  if (spec.substr(0, at) != stage) return;
  if (at != std::string::npos && std::atoi(spec.c_str() + at + 1) != world.rank) return;
  throw std::runtime_error(fmt::format("MIXHIC_TEST_FAIL_AT: injected failure at stage '{}' on rank {}", stage, world.rank));
}

Block block_of(int64_t n, int rank, int world) {
  int64_t base = n / world, extra = n % world;
  Block b;
  b.begin = rank * base + std::min<int64_t>(rank, extra);
  b.end = b.begin + base + (rank < extra ? 1 : 0);
  return b;
}

Placement place(const MpiWorld& world, int64_t local_count) {
  Placement p;
  MIXHIC_MPI_CHECK(MPI_Exscan(&local_count, &p.offset, 1, MPI_INT64_T, MPI_SUM, world.comm));
  if (world.rank == 0) p.offset = 0;  // MPI_Exscan leaves rank 0's buffer undefined
  MIXHIC_MPI_CHECK(MPI_Allreduce(&local_count, &p.total, 1, MPI_INT64_T, MPI_SUM, world.comm));
  return p;
}

namespace {
template <typename T>
std::vector<T> allgather(const MpiWorld& world, const std::vector<T>& mine, MPI_Datatype type) {
  int n = static_cast<int>(mine.size());
  std::vector<int> counts(world.size), displs(world.size);
  MIXHIC_MPI_CHECK(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, world.comm));
  int total = 0;
  for (int r = 0; r < world.size; ++r) {
    displs[r] = total;
    total += counts[r];
  }
  std::vector<T> all(total);
  MIXHIC_MPI_CHECK(MPI_Allgatherv(mine.data(), n, type, all.data(), counts.data(), displs.data(),
                                  type, world.comm));
  return all;
}
}  // namespace

std::vector<uint8_t> allgather_bytes(const MpiWorld& w, const std::vector<uint8_t>& v) {
  return allgather(w, v, MPI_UINT8_T);
}
std::vector<int64_t> allgather_i64(const MpiWorld& w, const std::vector<int64_t>& v) {
  return allgather(w, v, MPI_INT64_T);
}

}  // namespace mixhic
