// `laconic profile` as a run of units (plan.hpp): in one process, over MPI
// ranks, as one shard of a run, with a checkpoint or resuming one, with
// progress on stderr. Every way of running gives the same report, byte for
// byte (only its "engine" may differ): the units' results are merged exactly
// in plan order on one process (rank 0), which alone writes the reports.
//
// Errors: with one process they propagate as exceptions (the CLI prints them
// and exits 1). With several ranks an error every rank meets before the
// run (a bad manifest) is printed once, by rank 0, and every rank exits with
// its status; an error of some ranks only is printed by each of them as
// "laconic: rank N: error: ...". A rank that fails during the run makes
// every rank stop after its current unit (the units finished stay in the
// checkpoint); no report is written and every rank exits 1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/engine.hpp"
#include "laconic/run/mpi.hpp"
#include "laconic/run/partial.hpp"
#include "laconic/run/plan.hpp"

namespace laconic::run {

struct ProfileRequest {
  std::string network;               // manifest, directory or DNNsim model directory
  std::optional<std::string> traces;  // DNNsim traces directory (--traces)
  std::vector<std::string> layers;   // --layers; empty: all
  ProfileConfig config;
  EngineKind engine = EngineKind::automatic;
  EngineOptions engine_options;      // device is set per rank
  PlanOptions plan;                  // --samples, --unit-samples
  std::optional<Shard> shard;        // --shard I/N: a partial report
  std::string checkpoint;            // --checkpoint DIR; empty: none
  bool resume = false;               // --resume
  bool quiet = false;
  bool verify = false;
  std::uint64_t verify_samples = 0;  // 0: every sample
  std::string json_path, csv_path;   // empty: not written
  bool per_sample = false;
};

// Runs the request on `comm` (every rank calls it) and returns the exit
// status: 0, 1 (bad input, a failed run, a refused checkpoint) or 3 (--verify
// found a difference). The Markdown report goes to stdout, everything else
// to stderr, from rank 0 only.
int run_profile(const ProfileRequest& request, Comm& comm);

// The checkpoint log tag of a process: "run", "shard-I-of-N",
// "rank-R-of-S" or "shard-I-of-N.rank-R-of-S" (1-based shard, 0-based rank).
std::string checkpoint_tag(const std::optional<Shard>& shard, int rank, int ranks);

}  // namespace laconic::run
