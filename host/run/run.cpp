#include "laconic/run/run.hpp"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <new>

#include "laconic/device.hpp"
#include "laconic/error.hpp"
#include "laconic/network.hpp"
#include "laconic/profile.hpp"
#include "laconic/report.hpp"
#include "laconic/run/checkpoint.hpp"
#include "laconic/run/codec.hpp"
#include "laconic/run/identity.hpp"
#include "laconic/run/progress.hpp"

namespace laconic::run {

namespace {

constexpr int kExitError = 1;
constexpr int kExitVerify = 3;

// A rank's failure: the exit status and the line the CLI would print after
// "laconic: ".
struct Failure {
  int status = 0;
  std::string text;
};

// One line on stderr in one write, so that the lines of several ranks do
// not interleave.
void say(const std::string& line) {
  const std::string text = "laconic: " + line + "\n";
  std::cerr.write(text.data(), static_cast<std::streamsize>(text.size()));
  std::cerr.flush();
}

Failure describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& x) {
    return {kExitError, std::string("error: ") + x.what()};
  } catch (const std::bad_alloc&) {
    return {kExitError, "error: out of memory (fewer --threads or a smaller layer may fit)"};
  } catch (const std::exception& x) {
    return {kExitError, std::string("internal error: ") + x.what()};
  } catch (...) {
    return {kExitError, "internal error: an unknown exception"};
  }
}

// Runs `step`. In a world of one its exceptions go on to the CLI, which
// prints them as it always has; with several ranks they become a Failure
// that the ranks then agree on (any_failed).
template <class Step>
Failure attempt(const Comm& comm, Step&& step) {
  if (comm.size() == 1) {
    step();
    return {};
  }
  try {
    step();
  } catch (...) {
    return describe(std::current_exception());
  }
  return {};
}

// Collective. True when some rank failed: rank 0's failure is printed once
// (every rank met it, as LAMMPS' Error::all), else each failing rank prints
// its own, naming itself (Error::one). `status` is set to the exit status
// every rank returns.
bool any_failed(Comm& comm, const Failure& f, int& status) {
  if (comm.size() == 1) return false;
  const std::vector<int> statuses = comm.all_gather(f.status);
  if (std::all_of(statuses.begin(), statuses.end(), [](int s) { return s == 0; })) return false;
  if (statuses[0] != 0) {
    if (comm.rank() == 0) say(f.text);
    status = statuses[0];
  } else {
    if (f.status != 0) say("rank " + std::to_string(comm.rank()) + ": " + f.text);
    status = *std::max_element(statuses.begin(), statuses.end());
  }
  return true;
}

ProgressCounts totals_of(const UnitPlan& plan, Block block) {
  ProgressCounts t;
  for (std::size_t u = block.first; u < block.last; ++u) {
    ++t.units;
    t.macs += plan.units[u].macs;
    t.cost += plan.units[u].cost;
  }
  return t;
}

// Engines by a number, to agree on the names across ranks.
const std::vector<std::string>& engine_names() {
  static const std::vector<std::string> names = {"reference", "cpu", "cuda"};
  return names;
}

// The engines in `mine` over every rank, as joined_engines writes them;
// names outside engine_names() (a checkpoint written by another version) are
// kept on one rank only. Collective.
std::string engines_used(Comm& comm, const std::vector<std::string>& mine) {
  int mask = 0;
  std::vector<std::string> names;
  for (const std::string& name : mine) {
    const auto it = std::find(engine_names().begin(), engine_names().end(), name);
    if (it != engine_names().end()) mask |= 1 << (it - engine_names().begin());
    else names.push_back(name);
  }
  int all = 0;
  for (int m : comm.all_gather(mask)) all |= m;
  for (std::size_t i = 0; i < engine_names().size(); ++i)
    if ((all & (1 << i)) != 0) names.push_back(engine_names()[i]);
  return joined_engines(names);
}

}  // namespace

std::string checkpoint_tag(const std::optional<Shard>& shard, int rank, int ranks) {
  std::string tag;
  if (shard) tag = "shard-" + std::to_string(shard->index + 1) + "-of-" + std::to_string(shard->count);
  if (ranks > 1) tag += (tag.empty() ? "" : ".") + std::string("rank-") + std::to_string(rank) + "-of-" + std::to_string(ranks);
  return tag.empty() ? "run" : tag;
}

int run_profile(const ProfileRequest& q, Comm& comm) {
  const int rank = comm.rank(), ranks = comm.size();
  const bool root = rank == 0, many = ranks > 1;
  int status = 0;
  const std::string tag = checkpoint_tag(q.shard, rank, ranks);

  // 1. What to run: the network, the plan, this process's units, and what a
  // checkpoint already holds. Nothing is written yet.
  Network network;
  UnitPlan plan;
  Block block, mine;
  std::string identity;
  CheckpointContents resumed;
  Failure failure = attempt(comm, [&] {
    // Fail before a long run, not after it.
    if (root && !q.json_path.empty() && q.json_path != "-") check_writable(q.json_path, "--json");
    if (root && !q.csv_path.empty() && q.csv_path != "-") check_writable(q.csv_path, "--csv");
    network = q.traces ? load_dnnsim(q.network, *q.traces) : load_network(q.network);
    if (!q.layers.empty()) select_layers(network, q.layers);
    q.config.validate();
    plan = make_plan(network, q.plan);
    block = q.shard ? split(plan, whole(plan), q.shard->index, q.shard->count) : whole(plan);
    mine = split(plan, block, static_cast<std::size_t>(rank), static_cast<std::size_t>(ranks));
    if (!q.checkpoint.empty() || q.shard) identity = run_identity(network, q.config, plan);
    if (!q.checkpoint.empty()) {
      if (!q.resume && checkpoint_has_logs(q.checkpoint, tag))
        throw Error("--checkpoint " + q.checkpoint + " already holds a checkpoint of this run (" + tag +
                    ".*.log); add --resume to continue it, or remove the directory to start afresh");
      if (q.resume) resumed = read_checkpoint(q.checkpoint, identity, plan, mine);
    }
  });
  if (any_failed(comm, failure, status)) return status;

  // 2. The engine (each rank on the GPU of its node-local rank) and the
  // checkpoint log, once every rank has read the checkpoint.
  EngineOptions engine_options = q.engine_options;
  bool gpus_shared = false;
  if (many && (q.engine == EngineKind::cuda || q.engine == EngineKind::automatic)) {
    const DeviceProbe probe = probe_devices();
    if (probe.usable() && probe.device_count > 0) {
      engine_options.device = comm.local_rank() % probe.device_count;
      gpus_shared = comm.local_size() > probe.device_count;
    }
  }
  const std::vector<int> shared = comm.all_gather(gpus_shared ? 1 : 0);
  std::unique_ptr<Engine> engine;
  std::unique_ptr<CheckpointWriter> writer;
  std::string note;
  failure = attempt(comm, [&] {
    engine = make_engine(q.engine, &note, engine_options);
    if (!q.checkpoint.empty())
      writer = std::make_unique<CheckpointWriter>(q.checkpoint, tag, identity_with_engine(identity, std::string(engine->name())));
  });
  if (any_failed(comm, failure, status)) return status;
  // The engines of the ranks, for the line that starts the run; the report
  // names the engines that computed its units (engines_used, below).
  const std::string engine_name = engines_used(comm, {std::string(engine->name())});

  // 3. The run: this process's units in plan order, each recorded in the
  // checkpoint as it finishes. Ranks sum their progress without waiting for
  // each other.
  std::map<std::size_t, LayerResult> results;
  bool computed = false;  // whether this process's engine profiled any unit
  ProgressCounts local;
  for (auto& [u, d] : resumed.units) {
    results.emplace(u, std::move(d.result));
    ++local.units;
    local.macs += plan.units[u].macs;
    local.cost += plan.units[u].cost;
  }
  resumed.units.clear();
  // A shard's images: the run's, times its share of the run's cost, rounded
  // up (a shard with any unit does some image's work).
  const ProgressCounts block_total = totals_of(plan, block), plan_total = totals_of(plan, whole(plan));
  __extension__ typedef unsigned __int128 Wide;  // images × cost may pass 2^64
  const std::uint64_t images =
      plan_total.cost == 0
          ? plan.images
          : static_cast<std::uint64_t>((Wide{plan.images} * block_total.cost + plan_total.cost - 1) / plan_total.cost);
  Progress progress(root ? progress_mode_for_stderr(q.quiet) : ProgressMode::off, std::cerr, block_total, images);
  // Sums over the ranks: units, MACs and cost done, ranks done, ranks failed.
  Comm::RunningSum sum(comm);
  auto sums = [&](std::uint64_t done, std::uint64_t failed) {
    return Comm::Sum{local.units, local.macs, local.cost, done, failed};
  };
  auto counts = [](const Comm::Sum& g) { return ProgressCounts{g[0], g[1], g[2]}; };
  sum.start(sums(0, 0));
  sum.wait();
  const ProgressCounts resumed_all = counts(sum.result());
  if (root && !q.quiet) {
    if (!note.empty()) std::cerr << "laconic: " << note << "\n";
    if (std::any_of(shared.begin(), shared.end(), [](int s) { return s != 0; }))
      std::cerr << "laconic: more ranks than GPUs on a node: each rank uses the GPU of its node-local rank modulo the "
                   "GPUs there, so some GPUs are shared\n";
    std::string what = std::to_string(network.layers.size()) + " layers, " + std::to_string(plan.units.size()) + " units";
    if (q.shard)
      what += "; shard " + std::to_string(q.shard->index + 1) + "/" + std::to_string(q.shard->count) + ": units " +
              range_text(block.first, block.last);
    std::cerr << "laconic: profiling " << network.name << " (" << what << ") on the " << engine_name << " engine with "
              << omp_get_max_threads() << " thread(s)" << (many ? " on each of " + std::to_string(ranks) + " ranks" : "")
              << "\n";
    if (q.resume)
      std::cerr << "laconic: resuming " << q.checkpoint << ": " << resumed_all.units << " of " << block.size()
                << " units recorded" << (resumed.torn > 0 ? ", " + std::to_string(resumed.torn) + " record(s) cut short by the interruption dropped" : "")
                << "\n";
  }
  progress.start(resumed_all);

  Failure run_failure;
  std::uint64_t failed_ranks = 0;
  if (many) sum.start(sums(0, 0));
  auto run_units = [&] {
    bool stop = false;
    for (std::size_t u = mine.first; u < mine.last && !stop; ++u) {
      if (results.count(u)) continue;
      const Unit& unit = plan.units[u];
      const NetworkLayer& layer = network.layers[unit.layer];
      LayerResult r;
      try {
        r = engine->profile(layer.input(), SampleRange{unit.begin, unit.end}, q.config);
      } catch (const Error& e) {
        throw Error(with_layer_context(network, layer.name, e.what()));
      }
      if (writer) writer->append(encode_unit(unit, r));
      results.emplace(u, std::move(r));
      computed = true;
      // Pages of the trace already profiled go back to the system (bounded
      // memory on traces larger than it).
      const auto per_sample = static_cast<std::uint64_t>(layer.shape.activations_per_sample());
      layer.activations->release(unit.begin * per_sample, unit.samples() * per_sample);
      ++local.units;
      local.macs += unit.macs;
      local.cost += unit.cost;
      if (!many) {
        progress.update(local);
      } else if (sum.test()) {
        const Comm::Sum g = sum.result();
        progress.update(counts(g));
        if (g[4] > 0) stop = true;  // another rank failed: stop after this unit
        sum.start(sums(0, 0));
      }
    }
    if (writer) writer->finish();  // every record durable, or an error
  };
  if (!many) {
    try {
      run_units();
    } catch (...) {
      progress.abandon();
      throw;
    }
  } else {
    run_failure = attempt(comm, run_units);
    // Every rank keeps summing until all are done, so that each starts the
    // same number of sums; they all see the same last one.
    const std::uint64_t failed_here = run_failure.status != 0 ? 1 : 0;
    for (;;) {
      sum.wait();
      const Comm::Sum g = sum.result();
      progress.update(counts(g));
      if (g[3] == static_cast<std::uint64_t>(ranks)) {
        failed_ranks = g[4];
        break;
      }
      sum.start(sums(1, failed_here));
    }
    if (failed_ranks > 0) {
      progress.abandon();
      if (run_failure.status != 0) say("rank " + std::to_string(rank) + ": " + run_failure.text);
      if (root)
        say(std::to_string(failed_ranks) + " of " + std::to_string(ranks) + " ranks failed; no report written" +
            (writer ? " (the finished units are in " + q.checkpoint + ": add --resume to continue)" : ""));
      return kExitError;
    }
  }
  writer.reset();  // the log is complete; its lock is released

  // What computed the report's numbers: this run's engines where they
  // profiled a unit, and those of the checkpoint logs it resumed from.
  std::vector<std::string> computed_by = resumed.engines;
  if (computed) computed_by.emplace_back(engine->name());
  std::string report_engine = engines_used(comm, computed_by);
  if (report_engine.empty()) report_engine = engine_name;  // nothing to compute
  // 4. Rank 0 gathers every unit (integers only), merges them in plan order
  // and writes the reports.
  if (many) {
    if (!root) {
      std::vector<std::uint64_t> words;
      for (const auto& [u, r] : results) {
        const std::vector<std::uint64_t> unit = encode_unit(plan.units[u], r);
        words.push_back(unit.size());
        words.insert(words.end(), unit.begin(), unit.end());
      }
      comm.send_to_root(words);
    } else {
      // Results that do not decode are a bug, not bad input; the other ranks
      // may still be sending, so every rank ends here (LAMMPS' Error::one).
      try {
        for (int source = 1; source < ranks; ++source) {
          const std::vector<std::uint64_t> words = comm.receive_from(source);
          for (std::size_t at = 0; at < words.size();) {
            const auto length = static_cast<std::size_t>(words[at]);
            DecodedUnit d = decode_unit(words.data() + at + 1, std::min(length, words.size() - at - 1), plan,
                                        "rank " + std::to_string(source) + "'s results");
            results.emplace(d.unit, std::move(d.result));
            at += 1 + length;
          }
        }
      } catch (...) {
        say("rank 0: " + describe(std::current_exception()).text);
        comm.abort(kExitError);
      }
    }
  }
  if (root) progress.finish(block_total);

  auto report = [&]() -> int {
    NetworkResult result;
    result.network = network.name;
    result.source = network.source;
    result.precision_profile = network.precision_profile;
    result.engine = report_engine;
    result.config = q.config;
    result.sample_limit = q.plan.sample_limit;
    if (q.shard) {
      result.layers = assemble_layers(plan, layer_infos(network), results, false);
      write_files_atomically({{q.json_path, partial_report(result, plan, *q.shard, block, identity, results)}});
      if (!q.quiet)
        std::cerr << "laconic: shard " << q.shard->index + 1 << "/" << q.shard->count << ": units " << range_text(block.first, block.last)
                  << " of " << plan.units.size() << " written to " << q.json_path
                  << " (a partial report; laconic merge sums the shards' reports into the run's)\n";
      return 0;
    }
    result.layers = assemble_layers(plan, layer_infos(network), results, true);
    results.clear();
    if (q.verify) {
      if (!q.quiet) std::cerr << "laconic: verifying on the reference engine\n";
      const auto reference = make_reference_engine();
      ProfileOptions verify_options;
      verify_options.sample_limit = q.plan.sample_limit;
      if (q.verify_samples != 0 && (verify_options.sample_limit == 0 || q.verify_samples < verify_options.sample_limit))
        verify_options.sample_limit = q.verify_samples;
      const NetworkResult expected = profile_network(network, *reference, q.config, verify_options);
      const auto diffs = compare_results(expected, result, q.verify_samples != 0);
      if (!diffs.empty()) {
        std::cerr << "laconic: --verify: the " << engine_name << " engine differs from the reference engine in "
                  << diffs.size() << " count(s); no report written:\n";
        for (std::size_t i = 0; i < diffs.size() && i < 20; ++i) std::cerr << "  " << diffs[i] << "\n";
        if (diffs.size() > 20) std::cerr << "  ... and " << diffs.size() - 20 << " more\n";
        return kExitVerify;
      }
      if (!q.quiet)
        std::cerr << "laconic: --verify: every count matches the reference engine"
                  << (q.verify_samples != 0
                          ? " on the first " + std::to_string(q.verify_samples) + " sample(s) of each layer"
                          : std::string())
                  << "\n";
    }
    // Both reports or neither: a failed --csv must not leave a new --json;
    // "-" sends one to stdout in place of the Markdown.
    write_reports(result, q.per_sample, q.json_path, q.csv_path);
    return 0;
  };
  if (!many) return report();
  if (root) {
    try {
      status = report();
    } catch (...) {
      const Failure f = describe(std::current_exception());
      say(f.text);
      status = f.status;
    }
  }
  return comm.broadcast(status);
}

}  // namespace laconic::run
