#include "laconic/run/mpi.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "laconic/error.hpp"

#ifdef LACONIC_HAVE_MPI
#include <mpi.h>
#endif

namespace laconic::run {

namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end != nullptr && *end == '\0' && n >= 0 && n < (1L << 30) ? static_cast<int>(n) : -1;
}

}  // namespace

int launcher_world_size() {
  // Open MPI's mpirun; PMI (MPICH's hydra, Slurm's srun --mpi=pmi2); PMIx
  // (srun --mpi=pmix) announces a rank only.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const int n = env_int(name);
    if (n > 0) return n;
  }
  if (env_int("PMIX_RANK") >= 0) return 1;
  return 0;
}

namespace {

// srun started several tasks without an MPI interface (PMI, PMIx) in their
// environment: each would run the whole profile alone.
void refuse_unconnected_tasks() {
  const int tasks = env_int("SLURM_STEP_NUM_TASKS");
  if (launcher_world_size() == 0 && tasks > 1)
    throw Error("srun started " + std::to_string(tasks) +
                " tasks without an MPI interface (no PMI or PMIx in the environment), so each would profile the "
                "whole network; use srun --mpi=pmix (or pmi2), mpirun, or --shard I/N with one task each");
}

}  // namespace

Comm& Comm::world() {
  static Comm comm;
  return comm;
}

#ifdef LACONIC_HAVE_MPI

bool mpi_built() { return true; }

std::string mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string s(text, static_cast<std::size_t>(std::max(length, 0)));
  const auto end = s.find_first_of("\n,");
  if (end != std::string::npos) s.resize(end);
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

namespace {

constexpr int kTagLength = 17, kTagWords = 18;
constexpr std::uint64_t kPiece = std::uint64_t{1} << 28;  // words per message, well below 2^31

}  // namespace

void Comm::init(int* argc, char*** argv) {
  refuse_unconnected_tasks();
  if (launcher_world_size() == 0 || active_) return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  active_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
}

void Comm::finalize() {
  if (!active_) return;
  MPI_Finalize();
  active_ = false;
}

std::vector<int> Comm::all_gather(int value) {
  std::vector<int> values(static_cast<std::size_t>(size_), value);
  if (active_) MPI_Allgather(&value, 1, MPI_INT, values.data(), 1, MPI_INT, MPI_COMM_WORLD);
  return values;
}

int Comm::broadcast(int value) {
  if (!active_) return value;
  // Polled rather than waited for: the other ranks wait here while rank 0
  // writes the reports (or runs --verify) and must not spin their cores.
  MPI_Request request;
  MPI_Ibcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD, &request);
  for (int done = 0;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return value;
}

void Comm::send_to_root(const std::vector<std::uint64_t>& words) {
  std::uint64_t length = words.size();
  MPI_Send(&length, 1, MPI_UINT64_T, 0, kTagLength, MPI_COMM_WORLD);
  for (std::uint64_t offset = 0; offset < length; offset += kPiece) {
    const int n = static_cast<int>(std::min(kPiece, length - offset));
    MPI_Send(words.data() + offset, n, MPI_UINT64_T, 0, kTagWords, MPI_COMM_WORLD);
  }
}

std::vector<std::uint64_t> Comm::receive_from(int source) {
  std::uint64_t length = 0;
  MPI_Recv(&length, 1, MPI_UINT64_T, source, kTagLength, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  std::vector<std::uint64_t> words(static_cast<std::size_t>(length));
  for (std::uint64_t offset = 0; offset < length; offset += kPiece) {
    const int n = static_cast<int>(std::min(kPiece, length - offset));
    MPI_Recv(words.data() + offset, n, MPI_UINT64_T, source, kTagWords, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  return words;
}

void Comm::abort(int status) {
  if (active_) MPI_Abort(MPI_COMM_WORLD, status);
  std::exit(status);
}

struct Comm::RunningSum::State {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Request request = MPI_REQUEST_NULL;
  bool active = false;
};

Comm::RunningSum::RunningSum(Comm& comm) : state_(std::make_unique<State>()) {
  state_->active = comm.active();
  if (state_->active) MPI_Comm_dup(MPI_COMM_WORLD, &state_->comm);
}

Comm::RunningSum::~RunningSum() {
  if (!state_->active) return;
  if (state_->request != MPI_REQUEST_NULL) MPI_Wait(&state_->request, MPI_STATUS_IGNORE);
  MPI_Comm_free(&state_->comm);
}

void Comm::RunningSum::start(const Sum& local) {
  local_ = local;
  if (!state_->active) {
    result_ = local_;
    return;
  }
  MPI_Iallreduce(local_.data(), result_.data(), static_cast<int>(kSumWords), MPI_UINT64_T, MPI_SUM, state_->comm,
                 &state_->request);
}

bool Comm::RunningSum::test() {
  if (!state_->active) return true;
  int done = 0;
  MPI_Test(&state_->request, &done, MPI_STATUS_IGNORE);
  return done != 0;
}

void Comm::RunningSum::wait() {
  // Not MPI_Wait, which spins a core in Open MPI: a rank waiting for the
  // others must not take the core of another rank's thread.
  while (state_->active && !test()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

#else  // no MPI in this build: a world of one

bool mpi_built() { return false; }
std::string mpi_library() { return ""; }

void Comm::init(int*, char***) {
  refuse_unconnected_tasks();
  const int launched = launcher_world_size();
  if (launched > 1)
    throw Error("this laconic was built without MPI, but an MPI launcher started it as one of " +
                std::to_string(launched) +
                " processes; each would profile the whole network. Build with MPI (libopenmpi-dev) or run one "
                "process (see `laconic info`)");
}

void Comm::finalize() {}
std::vector<int> Comm::all_gather(int value) { return {value}; }
int Comm::broadcast(int value) { return value; }
void Comm::send_to_root(const std::vector<std::uint64_t>&) { throw Error("internal: no MPI in this build"); }
std::vector<std::uint64_t> Comm::receive_from(int) { throw Error("internal: no MPI in this build"); }
void Comm::abort(int status) { std::exit(status); }

struct Comm::RunningSum::State {};
Comm::RunningSum::RunningSum(Comm&) : state_(std::make_unique<State>()) {}
Comm::RunningSum::~RunningSum() = default;
void Comm::RunningSum::start(const Sum& local) { local_ = result_ = local; }
bool Comm::RunningSum::test() { return true; }
void Comm::RunningSum::wait() {}

#endif

}  // namespace laconic::run
