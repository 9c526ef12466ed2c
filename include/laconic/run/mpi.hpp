// The MPI world of a run, or a world of one process. MPI is optional: a
// build without it (LACONIC_HAVE_MPI undefined) has the same interface, and
// a process not started by an MPI launcher (mpirun, mpiexec, srun) never
// initializes MPI even when the build has it. Only 64-bit integers travel
// between ranks: unit results (codec.hpp), progress counts and statuses.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace laconic::run {

// Whether this build has MPI, and the library's own description of itself
// ("Open MPI v4.1.4, ...", first line), empty without MPI.
bool mpi_built();
std::string mpi_library();

// The world size an MPI launcher announced in the environment
// (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX/Slurm), 0 when not launched by one.
int launcher_world_size();

class Comm {
 public:
  // The process's world: MPI_COMM_WORLD once init() has initialized MPI,
  // else a world of one.
  static Comm& world();

  // Initializes MPI (threads funneled: only the main thread calls MPI) when
  // the process was started by an MPI launcher and the build has MPI.
  // Throws laconic::Error when a launcher started several processes but the
  // build has no MPI, or srun started several tasks without an MPI interface
  // (PMI, PMIx): each would profile the whole network and write the same
  // reports.
  void init(int* argc, char*** argv);
  // MPI_Finalize when init() initialized MPI.
  void finalize();

  bool active() const { return active_; }  // MPI initialized, possibly with one rank
  int rank() const { return rank_; }
  int size() const { return size_; }
  // The rank among the ranks of this node, and their number
  // (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED: OMPI_COMM_WORLD_LOCAL_RANK under Open MPI).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  // Collectives (every rank calls them, in the same order).
  std::vector<int> all_gather(int value);
  int broadcast(int value);  // rank 0's value on every rank
  // Sends `words` to rank 0 (from a rank other than 0) / receives them from
  // `source` (on rank 0). Any length: sent in pieces below 2^31 elements.
  void send_to_root(const std::vector<std::uint64_t>& words);
  std::vector<std::uint64_t> receive_from(int source);
  // Ends every rank at once with `status` (MPI_Abort), or exits.
  [[noreturn]] void abort(int status);

  // A running sum over the ranks of a few counts that does not stop the
  // ranks: each rank starts a sum with its counts, tests it at its own pace,
  // and starts the next once the last completed (MPI_Iallreduce on a
  // communicator of its own, as mpifileutils' progress does). Every rank must
  // start the same number of sums; run_units ends them together.
  static constexpr std::size_t kSumWords = 5;
  using Sum = std::array<std::uint64_t, kSumWords>;
  class RunningSum {
   public:
    explicit RunningSum(Comm& comm);
    ~RunningSum();
    RunningSum(const RunningSum&) = delete;
    RunningSum& operator=(const RunningSum&) = delete;
    void start(const Sum& local);
    bool test();  // true once the sum started last completed; result() then holds it
    void wait();  // until it completes, polling every millisecond (no core spun)
    const Sum& result() const { return result_; }

   private:
    struct State;
    std::unique_ptr<State> state_;
    Sum local_{}, result_{};
  };

 private:
  Comm() = default;
  bool active_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace laconic::run
