// laconic: the command-line tool.
//
//   laconic profile NETWORK [options]   profile a network's traces
//   laconic synth ARCH --out DIR        write synthetic traces of real layer shapes
//   laconic compare A.json B.json       two JSON reports side by side, with ratios B / A
//   laconic merge PART.json...          the partial reports of a run's shards, summed
//   laconic info                        version, threads, CUDA device and MPI
//
// Exit status: 0 success, 1 bad input or a failed run, 2 bad usage,
// 3 --verify found a difference.
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "laconic/compare.hpp"
#include "laconic/device.hpp"
#include "laconic/engine.hpp"
#include "laconic/error.hpp"
#include "laconic/network.hpp"
#include "laconic/profile.hpp"
#include "laconic/report.hpp"
#include "laconic/run/mpi.hpp"
#include "laconic/run/partial.hpp"
#include "laconic/run/run.hpp"
#include "laconic/run_config.hpp"
#include "laconic/synth.hpp"
#include "cli_options.hpp"
#include "suggest.hpp"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitVerify = 3;

using laconic::cli::positive;
using laconic::cli::UsageError;

const char* const kMainHelp = R"(laconic: bit-level profiler for Laconic-style deep learning accelerators

Usage:
  laconic profile NETWORK [options]   profile a network's activation and weight traces
  laconic synth ARCH --out DIR        write synthetic traces with real layer shapes
  laconic compare A.json B.json       compare two JSON reports per layer and in total
  laconic merge PART.json...          sum the partial reports of a run's shards
  laconic info                        version, threads, the CUDA device and MPI
  laconic COMMAND --help              the options of a command

NETWORK is a network manifest (.json, see the README), a directory holding a
manifest.json, or a DNNsim model directory (models/<net>/model.csv, with its
traces in the sibling net_traces/<net>/).

For each layer and for the network, `profile` reports the MACs, the work of the
bit-parallel baseline, zero skipping, Stripes, Pragmatic and Laconic with their
potential speedups, the terms per value of activations and weights, and the
cycles of the baseline, Stripes, Pragmatic and Laconic accelerators, each at its
own geometry (by default as DNNsim compares them: laconic profile --help).

Exit status: 0 success, 1 bad input or failed run, 2 bad usage, 3 --verify
found a difference.
)";

// "512M", "4G", "1048576": bytes, with binary K/M/G/T suffixes.
std::uint64_t parse_bytes(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string suffix = text.substr(digits);
  int shift = -1;
  if (suffix.empty() || suffix == "B") shift = 0;
  else if (suffix == "K" || suffix == "KiB") shift = 10;
  else if (suffix == "M" || suffix == "MiB") shift = 20;
  else if (suffix == "G" || suffix == "GiB") shift = 30;
  else if (suffix == "T" || suffix == "TiB") shift = 40;
  if (digits == 0 || digits > 12 || shift < 0)
    throw UsageError("--device-memory must be a number of bytes with an optional K, M, G or T suffix (e.g. 8G), not '" +
                     text + "'");
  const std::uint64_t value = std::stoull(text.substr(0, digits)) << shift;
  if (value == 0) throw UsageError("--device-memory must be positive");
  return value;
}

void set_threads(const cxxopts::ParseResult& r) {
  if (r.count("threads") == 0) return;
  omp_set_num_threads(static_cast<int>(positive(r, "threads")));
}

const char* const kProfileHelpEpilogue = R"(
The accelerators (MODEL.md §5, §8, §9): the bit-parallel baseline (DaDianNao-like),
Stripes (bit-serial activations), Pragmatic (term-serial activations) and Laconic
(terms of both operands), each at its own geometry T tiles x Rt rows x Ct columns
x L lanes. Speedups are baseline cycles / cycles.

Settings apply in this order, each later one overriding what it sets:
  1. --preset (default dnnsim)
  2. --config FILE (its own "preset" first; a --preset that names another is an error)
  3. --tiles, --rows, --columns, --lanes: that dimension of every accelerator
  4. --geometry entries, in the order given
  5. --shifter-bits, --column-registers, --depthwise, --fold-first-layer,
     --encoding, --baseline-width
For example `--preset equal --geometry laconic=16,16,8,16` compares the three
others at 16x16x16x16 against Laconic with 8 columns. Every report states each
accelerator's geometry and options.

The Markdown report goes to stdout, progress to stderr. Reports are written only when
the whole run succeeds (and, with --verify, matches the reference engine).

Each layer's samples are cut into units of --unit-samples samples (default: about
half a second of one core each, by the layer's activations and window reads);
units are what MPI ranks, shards and checkpoints share out:
  mpirun -np N laconic profile ...        the units over N ranks; rank 0 writes the reports
  --shard I/N --json part-I.json          one shard's units, a partial report for laconic merge
  --checkpoint DIR [--resume]             record each finished unit; --resume skips them

Exit status: 0 success, 1 bad input or a failed run, 2 bad usage, 3 --verify found
a difference from the reference engine.
)";

// The run's accelerator settings from the options, in the order of
// precedence kProfileHelpEpilogue gives (include/laconic/run_config.hpp).
laconic::ProfileConfig profile_config(const cxxopts::ParseResult& r) {
  // A value's problem as a usage error: `prefix` (the option, and the value
  // where the message does not quote it) and the message.
  auto usage = [](const std::string& prefix, const auto& apply) {
    try {
      apply();
    } catch (const laconic::Error& e) {
      throw UsageError(prefix + e.what());
    }
  };
  laconic::Preset preset = laconic::Preset::dnnsim;
  if (r.count("preset")) {
    const std::string text = r["preset"].as<std::string>();
    usage("--preset ", [&] { preset = laconic::parse_preset_setting(text); });
  }
  laconic::ProfileConfig config = laconic::ProfileConfig::preset(preset);
  if (r.count("config")) {
    const std::string path = laconic::cli::path_option(r, "config", false);
    std::optional<laconic::Preset> named;
    config = laconic::read_profile_config(path, config, &named);  // errors name the file: exit 1
    if (r.count("preset") && named && *named != preset)
      throw UsageError("--preset " + std::string(laconic::to_string(preset)) + " and the configuration file " + path +
                       " (\"preset\": \"" + std::string(laconic::to_string(*named)) +
                       "\") name different presets; give one of them");
  }
  for (const char* dimension : {"tiles", "rows", "columns", "lanes"}) {
    if (r.count(dimension) == 0) continue;
    const std::int64_t v = positive(r, dimension);
    for (laconic::Accelerator a : laconic::kAccelerators) {
      laconic::Geometry& g = config.geometry(a);
      (dimension[0] == 't' ? g.tiles : dimension[0] == 'r' ? g.rows : dimension[0] == 'c' ? g.columns : g.lanes) = v;
    }
  }
  // Repeatable options, in the order given on the command line.
  for (const auto& kv : r.arguments()) {
    if (kv.key() == "geometry")
      usage("--geometry " + kv.value() + ": ", [&] { laconic::apply_geometry_setting(config, kv.value()); });
  }
  if (r.count("shifter-bits")) {
    const std::string text = r["shifter-bits"].as<std::string>();
    usage("--shifter-bits: ", [&] { config.shifter_bits = laconic::parse_shifter_bits(text); });
  }
  for (const auto& kv : r.arguments()) {
    if (kv.key() == "column-registers")
      usage("--column-registers " + kv.value() + ": ", [&] { laconic::apply_column_registers_setting(config, kv.value()); });
  }
  if (r.count("depthwise")) {
    const std::string text = r["depthwise"].as<std::string>();
    usage("--depthwise ", [&] { config.depthwise = laconic::parse_depthwise_setting(text); });
  }
  if (r.count("fold-first-layer")) {
    const std::string text = r["fold-first-layer"].as<std::string>();
    usage("--fold-first-layer ", [&] { config.fold_first_layer = laconic::parse_on_off(text); });
  }
  if (r.count("encoding")) {
    const std::string text = r["encoding"].as<std::string>();
    usage("--encoding ", [&] { config.encoding = laconic::parse_encoding_setting(text); });
  }
  if (r.count("baseline-width")) {
    const auto width = positive(r, "baseline-width");
    if (width > 32) throw UsageError("--baseline-width must be at most 32 bits, not " + std::to_string(width));
    config.baseline_width = static_cast<int>(width);
  }
  try {
    config.validate();
  } catch (const laconic::Error& e) {
    throw UsageError(e.what());
  }
  return config;
}

int run_profile(int argc, char** argv) {
  cxxopts::Options options("laconic profile", "Profile a network's traces: work, terms and cycles per layer.");
  options.positional_help("NETWORK").show_positional_help().set_width(100);
  // clang-format off
  options.add_options("Input")
    ("network", "Network manifest (.json), a directory with manifest.json, or a DNNsim model directory",
     cxxopts::value<std::string>())
    ("traces", "DNNsim traces directory (default: <model dir>/../../net_traces/<net>)", cxxopts::value<std::string>())
    ("layers", "Profile only these layers, comma-separated names", cxxopts::value<std::string>())
    ("samples", "Profile the first N samples of each layer (default: all)", cxxopts::value<std::string>());
  options.add_options("Accelerators")
    ("preset", "dnnsim: each accelerator at its own geometry, as DNNsim compares them (baseline 16x16x1x16, "
               "Stripes, Pragmatic and Laconic 16x16x16x16; Pragmatic B = 2 and 1 column register; diagonal "
               "depthwise mapping; first-layer fold on). equal: all four at 16x16x16x16, per-group depthwise, "
               "no fold, no column registers, B = 2 (laconic 0.1's model). (default: dnnsim)",
     cxxopts::value<std::string>())
    ("config", "JSON configuration file of these settings, applied over the preset (see the README)",
     cxxopts::value<std::string>())
    ("geometry", "ACCELERATOR=T,Rt,Ct,L: tiles, rows (filters), columns (windows) and lanes (channels) of "
                 "baseline, stripes, pragmatic or laconic; all=T,Rt,Ct,L sets the four. Repeatable, applied "
                 "in order (default: the preset's)", cxxopts::value<std::string>())
    ("tiles", "Tiles T of every accelerator (default: the preset's, 16)", cxxopts::value<std::string>())
    ("rows", "Rows (filters) Rt per tile of every accelerator (default: 16)", cxxopts::value<std::string>())
    ("columns", "Columns (windows) Ct per tile of every accelerator (default: the preset's: 1 for the dnnsim "
                "baseline, else 16)", cxxopts::value<std::string>())
    ("lanes", "Lanes (channels) L per processing element of every accelerator (default: 16)",
     cxxopts::value<std::string>())
    ("shifter-bits", "B|inf: Pragmatic's first-stage shifter bits, 0 to 31 or inf (MODEL.md \u00a79) (default: 2)",
     cxxopts::value<std::string>())
    ("column-registers", "ACCELERATOR=R: column registers of pragmatic or laconic (all=R: both; MODEL.md "
                         "\u00a78). Repeatable (default: dnnsim pragmatic=1, laconic=0; equal 0)",
     cxxopts::value<std::string>())
    ("depthwise", "per-group|diagonal: how depthwise layers map onto the tiles (MODEL.md \u00a78) (default: "
                  "dnnsim diagonal, equal per-group)", cxxopts::value<std::string>())
    ("fold-first-layer", "on|off: cycles of a 3-channel strided first layer after DNNsim's space-to-depth fold "
                         "(MODEL.md \u00a78) (default: dnnsim on, equal off)", cxxopts::value<std::string>())
    ("encoding", "Term encoding: binary, booth (radix-4), naf or dnnsim-booth (DNNsim's, MODEL.md \u00a73a) "
                 "(default: booth)", cxxopts::value<std::string>())
    ("baseline-width", "Operand width P_base of the bit-parallel baseline, bits (default: 16)",
     cxxopts::value<std::string>());
  options.add_options("Run")
    ("engine", "auto (cuda where usable, else cpu), cuda, cpu or reference (slow, literal)",
     cxxopts::value<std::string>()->default_value("auto"))
    ("threads", "CPU threads (default: OMP_NUM_THREADS or all cores)", cxxopts::value<std::string>())
    ("device-memory", "cuda: device memory the engine may use, bytes with an optional K, M or G suffix "
                      "(default: three quarters of the free memory)", cxxopts::value<std::string>())
    ("verify", "Also run the reference engine and exit with status 3 on any difference")
    ("verify-samples", "With --verify, check only the first K samples of each layer (the reference engine "
                       "is slow; the weights' terms are always checked)", cxxopts::value<std::string>())
    ("q,quiet", "No progress on stderr")
    ("unit-samples", "Samples per unit of work (default: per layer, as many as cost 2^29 window reads; see the README)",
     cxxopts::value<std::string>())
    ("shard", "I/N: profile shard I of N of the units and write a partial report (--json) for laconic merge",
     cxxopts::value<std::string>())
    ("checkpoint", "Record each finished unit durably in directory DIR (created, with its parents, if missing)",
     cxxopts::value<std::string>())
    ("resume", "With --checkpoint: skip the units DIR records (same configuration and traces only)");
  options.add_options("Output")
    ("json", "Write the JSON report (schema 2, see the README) to FILE; - writes it to stdout instead of "
             "the Markdown report", cxxopts::value<std::string>())
    ("csv", "Write the CSV report (one row per layer, the configuration in its last columns) to FILE; - "
            "writes it to stdout instead of the Markdown report", cxxopts::value<std::string>())
    ("per-sample", "Add per-sample rows to the CSV and per_sample lists to the JSON (without --json or --csv "
                   "it changes nothing, and says so)")
    ("h,help", "Show this help");
  // clang-format on
  options.parse_positional({"network"});
  const auto r = laconic::cli::parse(options, argc, argv, "profile");
  laconic::run::Comm& comm = laconic::run::Comm::world();
  if (r.count("help")) {
    if (comm.rank() == 0) std::cout << options.help({"Input", "Accelerators", "Run", "Output"}) << kProfileHelpEpilogue;
    return 0;
  }
  if (!r.unmatched().empty()) throw UsageError("unexpected argument '" + r.unmatched().front() + "'");
  laconic::cli::check_values(r, {"geometry", "column-registers"});
  if (r.count("network") == 0) throw UsageError("profile needs a NETWORK (see laconic profile --help)");
  set_threads(r);

  laconic::run::ProfileRequest q;
  q.config = profile_config(r);
  const auto engine_kind = laconic::parse_engine_kind(r["engine"].as<std::string>());
  if (!engine_kind)
    throw UsageError("--engine must be auto, cuda, cpu or reference, not '" + r["engine"].as<std::string>() + "'");
  q.engine = *engine_kind;
  if (r.count("samples")) q.plan.sample_limit = static_cast<std::uint64_t>(positive(r, "samples"));
  if (r.count("unit-samples")) q.plan.unit_samples = static_cast<std::uint64_t>(positive(r, "unit-samples"));
  q.quiet = r.count("quiet") > 0;
  q.per_sample = r.count("per-sample") > 0;
  q.json_path = r.count("json") ? laconic::cli::path_option(r, "json", true) : "";
  q.csv_path = r.count("csv") ? laconic::cli::path_option(r, "csv", true) : "";
  if (q.json_path == "-" && q.csv_path == "-") throw UsageError("--json - and --csv - cannot both go to stdout");
  if (q.per_sample && q.json_path.empty() && q.csv_path.empty() && !q.quiet &&
      laconic::run::Comm::world().rank() == 0)
    std::cerr << "laconic: note: --per-sample adds rows to the JSON and CSV reports only; without --json or --csv "
                 "it changes nothing\n";
  q.network = laconic::cli::path_option(r, "network", false);
  if (r.count("traces")) q.traces = laconic::cli::path_option(r, "traces", false);
  if (r.count("layers")) q.layers = laconic::cli::layer_list(r["layers"].as<std::string>());
  if (r.count("device-memory")) q.engine_options.device_memory = parse_bytes(r["device-memory"].as<std::string>());
  q.verify = r.count("verify") > 0;
  if (r.count("verify-samples")) {
    if (!q.verify) throw UsageError("--verify-samples needs --verify");
    q.verify_samples = static_cast<std::uint64_t>(positive(r, "verify-samples"));
  }
  if (r.count("checkpoint")) q.checkpoint = laconic::cli::path_option(r, "checkpoint", false);
  q.resume = r.count("resume") > 0;
  if (q.resume && q.checkpoint.empty()) throw UsageError("--resume needs --checkpoint DIR (the checkpoint to resume)");
  if (r.count("shard")) {
    const std::string text = r["shard"].as<std::string>();
    try {
      q.shard = laconic::run::parse_shard(text);
    } catch (const laconic::Error& e) {
      throw UsageError(e.what());
    }
    // A shard's report is partial: only JSON, which laconic merge reads.
    if (q.json_path.empty())
      throw UsageError("--shard needs --json FILE (its partial report, for laconic merge)");
    if (q.json_path == "-")
      throw UsageError("--shard writes its partial report to a file for laconic merge, not to stdout: give --json FILE");
    if (!q.csv_path.empty() || q.per_sample)
      throw UsageError("--shard writes a partial JSON report only; give --csv and --per-sample to laconic merge");
    if (q.verify) throw UsageError("--verify checks a whole run; run it without --shard");
  }
  return laconic::run::run_profile(q, comm);
}

int run_merge(int argc, char** argv) {
  cxxopts::Options options("laconic merge",
                           "Sum the partial reports of a run's shards (laconic profile --shard I/N --json ...) into\n"
                           "the report one process would have written: the same Markdown, JSON and CSV, byte for\n"
                           "byte (only \"engine\" may differ).");
  options.positional_help("PART.json...").show_positional_help().set_width(100);
  // clang-format off
  options.add_options()
    ("reports", "The shards' partial reports, in any order", cxxopts::value<std::vector<std::string>>())
    ("json", "Write the JSON report (schema 2) to FILE; - writes it to stdout instead of the Markdown",
     cxxopts::value<std::string>())
    ("csv", "Write the CSV report to FILE; - writes it to stdout instead of the Markdown", cxxopts::value<std::string>())
    ("per-sample", "Add per-sample rows to the CSV and per_sample lists to the JSON")
    ("h,help", "Show this help");
  // clang-format on
  options.parse_positional({"reports"});
  const auto r = laconic::cli::parse(options, argc, argv, "merge");
  if (r.count("help")) {
    std::cout << options.help()
              << "\nEvery unit of the run must be in exactly one report, and the reports must be of one\n"
                 "run: the same tool version, network, configuration, plan (--samples, --unit-samples,\n"
                 "--layers) and traces (path, size, modification time and header of every file). Anything\n"
                 "else is refused with the file and the field named, and nothing is written.\n\n"
                 "Exit status: 0 success, 1 a report that cannot be merged, 2 bad usage.\n";
    return 0;
  }
  if (!r.unmatched().empty()) throw UsageError("unexpected argument '" + r.unmatched().front() + "'");
  laconic::cli::check_values(r, {"reports"});
  const auto reports = r.count("reports") ? r["reports"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (reports.empty()) throw UsageError("merge needs the partial reports of a run (see laconic merge --help)");
  const bool per_sample = r.count("per-sample") > 0;
  const std::string json_path = r.count("json") ? laconic::cli::path_option(r, "json", true) : "";
  const std::string csv_path = r.count("csv") ? laconic::cli::path_option(r, "csv", true) : "";
  if (json_path == "-" && csv_path == "-") throw UsageError("--json - and --csv - cannot both go to stdout");
  if (!json_path.empty() && json_path != "-") laconic::check_writable(json_path, "--json");
  if (!csv_path.empty() && csv_path != "-") laconic::check_writable(csv_path, "--csv");
  const laconic::NetworkResult result = laconic::run::merge_partial_reports(reports);
  laconic::write_reports(result, per_sample, json_path, csv_path);
  return 0;
}

int run_synth(int argc, char** argv) {
  cxxopts::Options options("laconic synth",
                           "Write synthetic traces with the layer shapes of a real architecture. The values are\n"
                           "random (see the README); the manifest's \"source\" marks them as synthetic.");
  options.positional_help("ARCH").show_positional_help().set_width(100);
  std::string archs;
  for (const auto& a : laconic::synthetic_architectures()) archs += (archs.empty() ? "" : ", ") + a;
  // clang-format off
  options.add_options()
    ("arch", "Architecture: " + archs, cxxopts::value<std::string>())
    ("o,out", "Output directory (created if needed)", cxxopts::value<std::string>())
    ("samples", "Samples (images) per layer", cxxopts::value<std::string>()->default_value("1"))
    ("samples-per-file", "Split each layer's activations into files of this many samples (default: one file)",
     cxxopts::value<std::string>())
    ("bits", "Stored width of activations and weights", cxxopts::value<std::string>()->default_value("16"))
    ("zero-fraction", "Fraction of zero activations (post-ReLU sparsity)", cxxopts::value<std::string>()->default_value("0.5"))
    ("weight-zero-fraction", "Fraction of zero weights", cxxopts::value<std::string>()->default_value("0.02"))
    ("seed", "Random seed", cxxopts::value<std::string>()->default_value("1"))
    ("compress", "Write each trace as a deflated .npz (as np.savez_compressed does) instead of a .npy")
    ("dnnsim", "Write DNNsim's layout (models/<net>/model.csv, net_traces/<net>/*.npy as float32)")
    ("fit", "Draw values from the statistics of a real network (manifest or DNNsim directory): per layer, "
            "by relative depth, its zero fraction, negative share and magnitude distribution",
     cxxopts::value<std::string>())
    ("fit-samples", "Samples of each real layer to fit (default: all)", cxxopts::value<std::string>())
    ("h,help", "Show this help");
  // clang-format on
  options.parse_positional({"arch"});
  const auto r = laconic::cli::parse(options, argc, argv, "synth");
  if (r.count("help")) {
    std::cout << options.help();
    return 0;
  }
  if (!r.unmatched().empty()) throw UsageError("unexpected argument '" + r.unmatched().front() + "'");
  laconic::cli::check_values(r);
  if (r.count("arch") == 0) throw UsageError("synth needs an architecture: " + archs);
  if (r.count("out") == 0) throw UsageError("synth needs --out DIR");
  laconic::SynthOptions o;
  o.architecture = r["arch"].as<std::string>();
  const auto& known = laconic::synthetic_architectures();
  if (std::find(known.begin(), known.end(), o.architecture) == known.end()) {
    const std::string nearest = laconic::nearest_name(o.architecture, known);
    throw UsageError("synth: unknown architecture '" + o.architecture + "'" +
                     (nearest.empty() ? "" : " (did you mean '" + nearest + "'?)") + "; architectures: " + archs);
  }
  o.out_dir = laconic::cli::path_option(r, "out", false);
  o.samples = static_cast<std::uint64_t>(positive(r, "samples"));
  if (r.count("samples-per-file")) o.samples_per_file = static_cast<std::uint64_t>(positive(r, "samples-per-file"));
  o.bits = static_cast<int>(positive(r, "bits"));
  o.activation_zero_fraction = laconic::cli::fraction(r, "zero-fraction");
  o.weight_zero_fraction = laconic::cli::fraction(r, "weight-zero-fraction");
  o.seed = static_cast<std::uint64_t>(laconic::cli::whole_number(r, "seed", 0));
  o.compress = r.count("compress") > 0;
  o.dnnsim_layout = r.count("dnnsim") > 0;
  if (r.count("fit")) {
    if (r.count("zero-fraction") || r.count("weight-zero-fraction"))
      throw UsageError("--fit takes the zero fractions from the fitted network; leave out --zero-fraction");
    const laconic::Network real = laconic::load_network(laconic::cli::path_option(r, "fit", false));
    const std::uint64_t fit_samples = r.count("fit-samples") ? static_cast<std::uint64_t>(positive(r, "fit-samples")) : 0;
    o.fitted = laconic::fit_statistics(real, fit_samples);
    o.fitted_from = real.name + " (" + r["fit"].as<std::string>() + ")";
  }
  std::cout << laconic::write_synthetic_network(o) << "\n";
  return 0;
}

int run_compare(int argc, char** argv) {
  cxxopts::Options options("laconic compare",
                           "Compare two JSON reports of `laconic profile --json` side by side, per layer and in\n"
                           "total, with ratios B / A: two encodings, two configurations of the accelerators, two\n"
                           "sample counts or two networks.");
  options.positional_help("A.json B.json").show_positional_help().set_width(100);
  // clang-format off
  options.add_options()
    ("reports", "The two JSON reports, A then B", cxxopts::value<std::vector<std::string>>())
    ("match", "Pair the layers by name (the same network) or by position (the same architecture whose "
              "layers are named differently)", cxxopts::value<std::string>()->default_value("name"))
    ("allow-different-networks", "Compare reports whose \"network\" names differ (refused by default, since "
                                 "layers of different networks are rarely comparable one by one)")
    ("json", "Also write the comparison as JSON to FILE (- : to stdout instead of the Markdown)",
     cxxopts::value<std::string>())
    ("csv", "Also write the comparison as CSV (one row per layer and total) to FILE (- : to stdout instead of "
            "the Markdown)", cxxopts::value<std::string>())
    ("h,help", "Show this help");
  // clang-format on
  options.parse_positional({"reports"});
  const auto r = laconic::cli::parse(options, argc, argv, "compare");
  if (r.count("help")) {
    std::cout << options.help()
              << "\nThe Markdown comparison goes to stdout: the two configurations with what differs\n"
                 "(network, tool version, engine, encoding, preset, each accelerator's geometry,\n"
                 "Pragmatic's shifter bits, the column registers, depthwise mapping, first-layer fold,\n"
                 "baseline width, samples, sample limit, layers, traces), the totals over all layers,\n"
                 "over the conv layers and, when some layer is in one report only, over the layers in\n"
                 "both; then per layer Laconic work, every accelerator's cycles and each report's\n"
                 "speedups (Stripes, Pragmatic and Laconic over the baseline; Laconic over Stripes and\n"
                 "over Pragmatic). Ratios are B / A: inf where A is 0, n/a (JSON null) where both are 0.\n"
                 "Counts are the reports' exact integers. Layers of one report only have rows with the\n"
                 "other side empty. Reports must be of schema 2 (laconic 0.2); re-run laconic profile\n"
                 "--json for reports of laconic 0.1.\n\n"
                 "Exit status: 0 success, 1 a report that cannot be read or is not a laconic profile\n"
                 "report of schema 2, or reports of different networks without\n"
                 "--allow-different-networks, 2 bad "                 "usage.\n";
    return 0;
  }
  if (!r.unmatched().empty()) throw UsageError("unexpected argument '" + r.unmatched().front() + "'");
  laconic::cli::check_values(r, {"reports"});
  const auto reports = r.count("reports") ? r["reports"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (reports.size() != 2)
    throw UsageError("compare needs two reports, A.json B.json, not " + std::to_string(reports.size()) +
                     " (see laconic compare --help)");
  laconic::CompareOptions compare_options;
  const std::string match = r["match"].as<std::string>();
  if (match == "name") compare_options.match = laconic::MatchBy::name;
  else if (match == "position") compare_options.match = laconic::MatchBy::position;
  else throw UsageError("--match must be name or position, not '" + match + "'");
  compare_options.allow_different_networks = r.count("allow-different-networks") > 0;
  const std::string json_path = r.count("json") ? laconic::cli::path_option(r, "json", true) : "";
  const std::string csv_path = r.count("csv") ? laconic::cli::path_option(r, "csv", true) : "";
  if (json_path == "-" && csv_path == "-") throw UsageError("--json - and --csv - cannot both go to stdout");
  if (!json_path.empty() && json_path != "-") laconic::check_writable(json_path, "--json");
  if (!csv_path.empty() && csv_path != "-") laconic::check_writable(csv_path, "--csv");

  const laconic::Comparison comparison =
      laconic::compare_reports(laconic::read_report(reports[0]), laconic::read_report(reports[1]), compare_options);
  std::vector<std::pair<std::string, std::string>> outputs;  // both or neither, as for profile
  std::string to_stdout;
  if (json_path == "-") to_stdout = laconic::comparison_json(comparison);
  else if (!json_path.empty()) outputs.emplace_back(json_path, laconic::comparison_json(comparison));
  if (csv_path == "-") to_stdout = laconic::comparison_csv(comparison);
  else if (!csv_path.empty()) outputs.emplace_back(csv_path, laconic::comparison_csv(comparison));
  laconic::write_files_atomically(outputs);
  std::cout << (json_path == "-" || csv_path == "-" ? to_stdout : laconic::comparison_markdown(comparison));
  return 0;
}

int run_info(int argc, char** argv) {
  cxxopts::Options options("laconic info", "Version, threads, the CUDA device, if any, and MPI.");
  options.add_options()("h,help", "Show this help");
  const auto r = laconic::cli::parse(options, argc, argv, "info");
  if (r.count("help")) {
    std::cout << options.help();
    return 0;
  }
  if (!r.unmatched().empty()) throw UsageError("unexpected argument '" + r.unmatched().front() + "'");
  const laconic::DeviceProbe probe = laconic::probe_devices();
  std::cout << "laconic " << laconic::version_string() << "\n"
            << "threads: " << omp_get_max_threads() << " (OpenMP)\n"
            << probe.describe() << "\n"
            << "engine auto: " << (probe.usable() ? "cuda" : "cpu") << "\n"
            << "MPI: "
            << (laconic::run::mpi_built() ? "yes (" + laconic::run::mpi_library() + "; mpirun -np N laconic profile ...)"
                                          : std::string("no (this build has no MPI; --shard and laconic merge split a run instead)"))
            << "\n";
  return 0;
}

}  // namespace

namespace {

int dispatch(const std::string& command, int argc, char** argv) {
  // Under an MPI launcher every rank meets the same usage errors: rank 0
  // alone prints them. Errors of one rank are printed in run_profile.
  const bool speaks = laconic::run::Comm::world().rank() == 0;
  try {
    if (command.empty() || command == "-h" || command == "--help" || command == "help") {
      std::cout << kMainHelp;
      return command.empty() ? kExitUsage : 0;
    }
    if (command == "--version" || command == "version") {
      std::cout << "laconic " << laconic::version_string() << "\n";
      return 0;
    }
    if (command == "profile") return run_profile(argc - 1, argv + 1);
    if (command == "synth") return run_synth(argc - 1, argv + 1);
    if (command == "compare") return run_compare(argc - 1, argv + 1);
    if (command == "merge") return run_merge(argc - 1, argv + 1);
    if (command == "info") return run_info(argc - 1, argv + 1);
    throw UsageError("unknown command '" + command + "' (profile, synth, compare, merge or info; see laconic --help)");
  } catch (const UsageError& e) {
    if (speaks) std::cerr << "laconic: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const cxxopts::exceptions::exception& e) {
    // cxxopts names the option in its own words: an unknown option, one
    // without its value, a value that is not of its type.
    if (speaks) std::cerr << "laconic: error: " << e.what() << " (see laconic " << command << " --help)\n";
    return kExitUsage;
  } catch (const laconic::Error& e) {
    if (speaks) std::cerr << "laconic: error: " << e.what() << "\n";
    return kExitError;
  } catch (const std::bad_alloc&) {
    // A valid layer can still be too large for this machine: not a bug.
    if (speaks) std::cerr << "laconic: error: out of memory (fewer --threads or a smaller layer may fit)\n";
    return kExitError;
  } catch (const std::exception& e) {
    if (speaks) std::cerr << "laconic: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  // MPI only for profile, and only under a launcher (mpirun, srun).
  laconic::run::Comm& comm = laconic::run::Comm::world();
  if (command == "profile") {
    try {
      comm.init(&argc, &argv);
    } catch (const laconic::Error& e) {
      std::cerr << "laconic: error: " << e.what() << "\n";
      return kExitError;
    }
  }
  const int status = dispatch(command, argc, argv);
  comm.finalize();
  return status;
}
