// Tests of the `laconic` command-line tool as a user runs it: the real binary
// (LACONIC_BINARY) started through the shell with stdout and stderr captured
// in files. They check exit statuses (0 success, 1 bad input or failed run,
// 2 bad usage), that messages say what is wrong, that reports are written
// only by a run that succeeds, and that the JSON and CSV reports have the
// documented form and are the same bytes for the same input.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "laconic/device.hpp"
#include "laconic/npy.hpp"
#include "cli_util.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_text;
using test::TempDir;
using test::write_bytes;

std::string truncated(const std::string& s, std::size_t limit = 4000) {
  return s.size() <= limit ? s : s.substr(0, limit) + "\n... (" + std::to_string(s.size() - limit) + " more bytes)";
}

// The built CLI, run as a user runs it (tests/cli_util.hpp).
using CliRun = test::CliResult;
using test::contains;
using test::shell_quote;
CliRun run_laconic(const std::vector<std::string>& args, const TempDir& scratch) { return test::run_cli(args, scratch); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> split_csv_row(const std::string& row) {
  // The rows here hold no quoted fields (plain layer names).
  std::vector<std::string> fields;
  std::string field;
  for (char c : row) {
    if (c == ',') {
      fields.push_back(field);
      field.clear();
    } else {
      field += c;
    }
  }
  fields.push_back(field);
  return fields;
}

std::set<std::string> keys_of(const json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

std::string join(const std::set<std::string>& keys) {
  std::string s;
  for (const auto& k : keys) s += (s.empty() ? "" : ", ") + k;
  return s;
}

std::vector<std::string> directory_listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string listing_text(const fs::path& dir) {
  std::string s;
  for (const auto& n : directory_listing(dir)) s += " " + n;
  return s;
}

// The exit status, with the command and its output when it is not the expected one.
#define EXPECT_STATUS(run, expected) EXPECT_EQ((run).status, (expected)) << (run).describe()

// ---------------------------------------------------------------------------
// Help and usage errors.

TEST(Cli, MainHelpListsTheCommands) {
  TempDir scratch;
  for (const std::string flag : {"--help", "-h", "help"}) {
    const CliRun r = run_laconic({flag}, scratch);
    EXPECT_STATUS(r, 0);
    for (const char* word : {"profile", "synth", "info"}) EXPECT_TRUE(contains(r.out, word)) << word << r.describe();
  }
}

TEST(Cli, ProfileHelpMentionsEveryOption) {
  TempDir scratch;
  const CliRun r = run_laconic({"profile", "--help"}, scratch);
  EXPECT_STATUS(r, 0);
  for (const char* option : {"--engine", "--encoding", "--tiles", "--rows", "--columns", "--lanes", "--baseline-width",
                             "--samples", "--layers", "--json", "--csv", "--per-sample", "--verify", "--quiet", "-q",
                             "--threads", "--traces"})
    EXPECT_TRUE(contains(r.out, option)) << "help lacks " << option << r.describe();
}

TEST(Cli, SynthAndInfoHelp) {
  TempDir scratch;
  const CliRun synth = run_laconic({"synth", "--help"}, scratch);
  EXPECT_STATUS(synth, 0);
  for (const char* word : {"--out", "--samples", "--dnnsim", "tiny"}) EXPECT_TRUE(contains(synth.out, word)) << word << synth.describe();
  const CliRun info = run_laconic({"info"}, scratch);
  EXPECT_STATUS(info, 0);
  EXPECT_TRUE(contains(info.out, "laconic ")) << info.describe();
  const CliRun version = run_laconic({"--version"}, scratch);
  EXPECT_STATUS(version, 0);
  EXPECT_TRUE(contains(version.out, "0.1.0")) << version.describe();
}

TEST(Cli, NoArgumentsIsAUsageError) {
  TempDir scratch;
  const CliRun r = run_laconic({}, scratch);
  EXPECT_STATUS(r, 2);
  EXPECT_TRUE(contains(r.out + r.err, "Usage")) << r.describe();
}

TEST(Cli, UnknownCommandIsAUsageError) {
  TempDir scratch;
  const CliRun r = run_laconic({"frobnicate"}, scratch);
  EXPECT_STATUS(r, 2);
  EXPECT_TRUE(contains(r.err, "frobnicate")) << r.describe();
}

// A valid tiny network for the profile tests, written once per test suite.
class CliProfile : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir;
    TempDir scratch;
    const CliRun r = run_laconic({"synth", "tiny", "--out", data_->file("tiny"), "--samples", "2"}, scratch);
    ASSERT_EQ(r.status, 0) << r.describe();
    manifest_ = data_->file("tiny/manifest.json");
    ASSERT_TRUE(fs::exists(manifest_)) << r.describe();
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  CliRun profile(std::vector<std::string> args) {
    args.insert(args.begin(), "profile");
    return run_laconic(args, scratch_);
  }

  static TempDir* data_;
  static std::string manifest_;
  TempDir scratch_;
};

TempDir* CliProfile::data_ = nullptr;
std::string CliProfile::manifest_;

TEST_F(CliProfile, UsageErrorsExitWithStatus2) {
  struct Case {
    std::vector<std::string> args;
    std::string phrase;  // the message names what is wrong
  } cases[] = {
      {{manifest_, "--bogus"}, "bogus"},
      {{manifest_, "--engine", "gpu"}, "gpu"},
      {{manifest_, "--encoding", "foo"}, "foo"},
      {{manifest_, "--tiles", "0"}, "--tiles"},
      {{manifest_, "--rows", "0"}, "--rows"},
      {{manifest_, "--columns", "-3"}, "--columns"},
      {{manifest_, "--lanes", "0"}, "--lanes"},
      {{manifest_, "--samples", "-1"}, "samples"},
      {{manifest_, "--samples", "0"}, "--samples"},
      // cxxopts says "Argument 'two' failed to parse" without naming the option.
      {{manifest_, "--samples", "two"}, "two"},
      {{manifest_, "--threads", "0"}, "--threads"},
      {{manifest_, "--baseline-width", "0"}, "--baseline-width"},
      {{manifest_, "--baseline-width", "33"}, "--baseline-width"},
      {{}, "NETWORK"},
      {{manifest_, "extra"}, "extra"},
  };
  for (const auto& c : cases) {
    const CliRun r = profile(c.args);
    EXPECT_STATUS(r, 2);
    EXPECT_TRUE(contains(r.err, c.phrase)) << "stderr lacks \"" << c.phrase << "\"" << r.describe();
    EXPECT_FALSE(contains(r.out, "# laconic profile")) << r.describe();
  }
}

TEST_F(CliProfile, CudaEngineWithoutAUsableDeviceIsAnError) {
  const CliRun r = profile({manifest_, "--engine", "cuda", "-q"});
  const DeviceProbe probe = probe_devices();
  if (!probe.usable()) {
    // No usable device (this machine, CI): status 1, and the message says so.
    EXPECT_STATUS(r, 1);
    EXPECT_TRUE(contains(r.err, "--engine cuda") && contains(r.err, "no usable CUDA device"))
        << probe.describe() << r.describe();
  } else {
    // A usable device: the cuda engine runs.
    EXPECT_STATUS(r, 0);
  }
}

TEST_F(CliProfile, AutoSaysOnceWhichEngineItFellBackTo) {
  const CliRun r = profile({manifest_});
  EXPECT_STATUS(r, 0);
  if (!probe_devices().usable()) {
    const auto at = r.err.find("using the cpu engine");
    EXPECT_NE(at, std::string::npos) << r.describe();
    EXPECT_EQ(r.err.find("using the cpu engine", at + 1), std::string::npos) << r.describe();
  }
  EXPECT_FALSE(contains(profile({manifest_, "-q"}).err, "using the cpu engine"));
}

TEST_F(CliProfile, VerifyOnTheFirstSamples) {
  const CliRun r = profile({manifest_, "--verify", "--verify-samples", "1"});
  EXPECT_STATUS(r, 0);
  EXPECT_TRUE(contains(r.err, "on the first 1 sample(s) of each layer")) << r.describe();
  const CliRun alone = profile({manifest_, "--verify-samples", "1", "-q"});
  EXPECT_STATUS(alone, 2);
  EXPECT_TRUE(contains(alone.err, "--verify-samples needs --verify")) << alone.describe();
  const CliRun zero = profile({manifest_, "--verify", "--verify-samples", "0", "-q"});
  EXPECT_STATUS(zero, 2);
}

TEST_F(CliProfile, DeviceMemoryTakesBytesWithASuffix) {
  for (const char* good : {"512M", "8G", "1048576", "64KiB"}) {
    const CliRun r = profile({manifest_, "--device-memory", good, "--engine", "cpu", "-q"});
    EXPECT_STATUS(r, 0) << good;
  }
  for (const char* bad : {"lots", "12X", "0", "G", "-5M"}) {
    const CliRun r = profile({manifest_, "--device-memory", bad, "-q"});
    EXPECT_STATUS(r, 2) << bad;
    EXPECT_TRUE(contains(r.err, "--device-memory")) << r.describe();
  }
}

TEST_F(CliProfile, MissingNetworkFile) {
  const std::string missing = scratch_.file("no-such-net.json");
  const CliRun r = profile({missing});
  EXPECT_STATUS(r, 1);
  EXPECT_TRUE(contains(r.err, missing)) << r.describe();
  const CliRun dir = profile({scratch_.path().string()});  // neither manifest.json nor model.csv
  EXPECT_STATUS(dir, 1);
  EXPECT_TRUE(contains(dir.err, scratch_.path().string())) << dir.describe();
}

TEST_F(CliProfile, UnknownLayerListsTheKnownOnes) {
  const CliRun r = profile({manifest_, "--layers", "conv1,conv9", "-q"});
  EXPECT_STATUS(r, 1);
  EXPECT_TRUE(contains(r.err, "conv9")) << r.describe();
  EXPECT_TRUE(contains(r.err, "conv1, conv2_dw, conv2_pw, conv3, conv4, fc")) << r.describe();
}

TEST_F(CliProfile, ReportInAMissingDirectoryFailsBeforeTheRun) {
  const std::string missing_dir = scratch_.file("no-such-dir");
  for (const std::string option : {"--json", "--csv"}) {
    const std::string report = missing_dir + "/report";
    const CliRun r = profile({manifest_, option, report});
    EXPECT_STATUS(r, 1);
    EXPECT_TRUE(contains(r.err, option) && contains(r.err, missing_dir)) << r.describe();
    // Checked before the run: no layer was profiled.
    EXPECT_FALSE(contains(r.err, "profiling")) << r.describe();
    EXPECT_FALSE(contains(r.err, "[1/")) << r.describe();
    EXPECT_FALSE(contains(r.out, "# laconic profile")) << r.describe();
    EXPECT_FALSE(fs::exists(missing_dir));
  }
  // Even before the network is read: a bad network path is not reached.
  const CliRun early = profile({scratch_.file("no-such-net.json"), "--csv", missing_dir + "/c.csv"});
  EXPECT_STATUS(early, 1);
  EXPECT_TRUE(contains(early.err, "--csv")) << early.describe();
  // A good --json with a bad --csv writes neither.
  const std::string json_path = scratch_.file("good.json");
  const CliRun both = profile({manifest_, "--json", json_path, "--csv", missing_dir + "/c.csv"});
  EXPECT_STATUS(both, 1);
  EXPECT_FALSE(fs::exists(json_path)) << both.describe();
  // A directory given as the report file.
  const CliRun is_dir = profile({manifest_, "--json", scratch_.path().string()});
  EXPECT_STATUS(is_dir, 1);
  EXPECT_TRUE(contains(is_dir.err, "--json")) << is_dir.describe();
}

// A network whose second layer holds a value outside its declared width: the
// run fails part way and must leave no report behind.
TEST_F(CliProfile, BadInputMidRunExits1AndLeavesNoReport) {
  TempDir net;
  std::vector<std::int16_t> act(2 * 2 * 4 * 4, 3), weights(2 * 2 * 3 * 3, -1);
  write_npy(net.file("first.act.npy"), DType::i2, {2, 2, 4, 4}, act.data());
  write_npy(net.file("first.w.npy"), DType::i2, {2, 2, 3, 3}, weights.data());
  // Flat index 37 of (2, 2, 4, 4) = 1 * 32 + 0 * 16 + 1 * 4 + 1: element (1, 0, 1, 1),
  // outside the 8 bits the manifest declares for layer "second".
  act[37] = 1000;
  write_npy(net.file("second.act.npy"), DType::i2, {2, 2, 4, 4}, act.data());
  write_npy(net.file("second.w.npy"), DType::i2, {2, 2, 3, 3}, weights.data());
  const std::string manifest = net.file("manifest.json");
  write_bytes(manifest, R"({"network": "midrun", "layers": [
    {"name": "first", "type": "conv", "activations": {"file": "first.act.npy"}, "weights": {"file": "first.w.npy"}},
    {"name": "second", "type": "conv", "padding": 1,
     "activations": {"file": "second.act.npy", "bits": 8}, "weights": {"file": "second.w.npy"}}]})");
  const std::vector<std::string> before = directory_listing(net.path());

  for (const std::string engine : {"cpu", "reference"}) {
    for (const std::string threads : {"1", "2"}) {
      const std::string json_path = net.file("report.json"), csv_path = net.file("report.csv");
      const CliRun r = profile({manifest, "--engine", engine, "--threads", threads, "--json", json_path, "--csv", csv_path,
                             "--per-sample"});
      EXPECT_STATUS(r, 1);
      // The message names the file, the element, the value and the layer.
      for (const std::string& phrase : std::vector<std::string>{net.file("second.act.npy"), "(1, 0, 1, 1)", "1000", "8-bit", "'second'"})
        EXPECT_TRUE(contains(r.err, phrase)) << "stderr lacks \"" << phrase << "\"" << r.describe();
      // It failed part way: the first layer was profiled.
      EXPECT_TRUE(contains(r.err, "[1/2] first")) << r.describe();
      EXPECT_FALSE(contains(r.err, "internal error")) << r.describe();
      // No report, no temporary file, no Markdown report that looks complete.
      EXPECT_FALSE(fs::exists(json_path)) << r.describe();
      EXPECT_FALSE(fs::exists(csv_path)) << r.describe();
      EXPECT_EQ(directory_listing(net.path()), before) << "left behind in " << net.path() << ":" << listing_text(net.path())
                                                       << r.describe();
      EXPECT_FALSE(contains(r.out, "# laconic profile")) << r.describe();
    }
  }
}

// Several bad values: whatever the engine, the thread count and the way the
// cpu engine splits the work (across samples with --threads 2 and 6 samples,
// within a sample in 16384-value chunks with --threads 4), the error reported
// is the first bad value in trace order, and the run exits 1 (not a crash).
TEST_F(CliProfile, FirstBadValueIsReportedWhateverTheThreads) {
  TempDir net;
  const std::uint64_t per_sample = 2 * 128 * 128;  // 32768 values: two chunks of 16384
  std::vector<std::int16_t> act(6 * per_sample, 1), weights(2 * 2 * 3 * 3, 1);
  // Sample 2: element (2, 0, 0, 100) in its first chunk, (2, 1, 28, 32) in its second
  // (16384 + 28 * 128 + 32 = 20000); sample 5: element (5, 0, 0, 0).
  act[2 * per_sample + 100] = 300;
  act[2 * per_sample + 20000] = 400;
  act[5 * per_sample] = 500;
  write_npy(net.file("act.npy"), DType::i2, {6, 2, 128, 128}, act.data());
  write_npy(net.file("w.npy"), DType::i2, {2, 2, 3, 3}, weights.data());
  const std::string manifest = net.file("manifest.json");
  write_bytes(manifest, R"({"network": "order", "layers": [
    {"name": "only", "type": "conv", "activations": {"file": "act.npy", "bits": 8}, "weights": {"file": "w.npy"}}]})");
  for (const std::string engine : {"cpu", "reference"}) {
    for (const std::string threads : {"1", "2", "4"}) {
      const CliRun r = profile({manifest, "--engine", engine, "--threads", threads, "-q"});
      EXPECT_STATUS(r, 1);
      EXPECT_TRUE(contains(r.err, "element (2, 0, 0, 100) = 300")) << r.describe();
      EXPECT_FALSE(contains(r.err, "internal error") || contains(r.err, "terminate")) << r.describe();
    }
  }
}

// ---------------------------------------------------------------------------
// A good run and its reports.

TEST_F(CliProfile, GoodRunWritesDocumentedReports) {
  const std::string json_path = scratch_.file("r.json"), csv_path = scratch_.file("r.csv");
  const CliRun r = profile({manifest_, "--json", json_path, "--csv", csv_path, "--per-sample", "--verify", "-q"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.err, "") << "-q must keep stderr empty" << r.describe();
  EXPECT_TRUE(contains(r.out, "# laconic profile: tiny")) << r.describe();
  EXPECT_TRUE(contains(r.out, "synthetic")) << "reports from synthetic traces must say so" << r.describe();

  // JSON.
  const std::string json_text = read_text(json_path);
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const std::exception& e) {
    FAIL() << "JSON report " << json_path << " does not parse: " << e.what() << "\n" << truncated(json_text);
  }
  const std::string where = "\nJSON report " + json_path + ":\n" + truncated(json_text, 3000);
  EXPECT_EQ(keys_of(doc), (std::set<std::string>{"tool", "version", "network", "engine", "config", "layers", "totals"}))
      << join(keys_of(doc)) << where;
  EXPECT_EQ(doc["tool"], "laconic");
  EXPECT_EQ(doc["network"], "tiny-synthetic");
  // The run used --engine auto: cuda where a usable device answers.
  EXPECT_EQ(doc["engine"], probe_devices().usable() ? "cuda" : "cpu");
  EXPECT_EQ(doc["config"]["encoding"], "booth");
  for (const char* key : {"tiles", "rows", "columns", "lanes", "baseline_width"}) {
    EXPECT_TRUE(doc["config"][key].is_number_unsigned() || doc["config"][key].is_number_integer()) << key << where;
    EXPECT_EQ(doc["config"][key], 16) << key;
  }
  EXPECT_TRUE(doc["config"]["sample_limit"].is_null()) << where;

  const std::set<std::string> layer_keys = {"name", "type", "samples", "macs", "work", "cycles", "terms", "per_sample"};
  const std::set<std::string> work_keys = {"baseline", "zero_skip", "stripes", "pragmatic", "laconic"};
  const std::set<std::string> cycle_keys = {"baseline", "stripes", "laconic"};
  auto is_count = [](const json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0); };

  ASSERT_TRUE(doc["layers"].is_array()) << where;
  ASSERT_EQ(doc["layers"].size(), 6u) << where;
  std::uint64_t macs_all = 0, macs_conv = 0;
  json work_sum = json::object();
  for (const json& layer : doc["layers"]) {
    const std::string name = layer.value("name", "?");
    SCOPED_TRACE("layer " + name);
    EXPECT_EQ(keys_of(layer), layer_keys) << join(keys_of(layer));
    EXPECT_TRUE(is_count(layer["samples"])) << layer["samples"].dump();
    EXPECT_EQ(layer["samples"], 2);
    ASSERT_TRUE(is_count(layer["macs"])) << layer["macs"].dump();
    EXPECT_EQ(keys_of(layer["work"]), work_keys);
    EXPECT_EQ(keys_of(layer["cycles"]), cycle_keys);
    for (const auto& item : layer["work"].items()) EXPECT_TRUE(is_count(item.value())) << "work." << item.key();
    for (const auto& item : layer["cycles"].items()) EXPECT_TRUE(is_count(item.value())) << "cycles." << item.key();
    for (const char* tensor : {"activations", "weights"}) {
      const json& t = layer["terms"][tensor];
      EXPECT_EQ(keys_of(t), (std::set<std::string>{"mean", "zero_fraction", "histogram"})) << tensor;
      EXPECT_TRUE(t["mean"].is_number()) << tensor;
      ASSERT_TRUE(t["histogram"].is_array()) << tensor;
      EXPECT_EQ(t["histogram"].size(), 10u) << tensor << ": booth, 16 bits: 0..9 terms";
      for (const json& h : t["histogram"]) EXPECT_TRUE(is_count(h)) << tensor << " histogram " << h.dump();
    }
    // per_sample: one entry per sample, summing to the layer's counts.
    ASSERT_TRUE(layer["per_sample"].is_array());
    ASSERT_EQ(layer["per_sample"].size(), 2u);
    std::uint64_t per_sample_macs = 0;
    for (std::size_t s = 0; s < 2; ++s) {
      const json& ps = layer["per_sample"][s];
      EXPECT_EQ(keys_of(ps), (std::set<std::string>{"sample", "macs", "work", "cycles"}));
      EXPECT_EQ(ps["sample"], s);
      EXPECT_TRUE(is_count(ps["macs"]));
      per_sample_macs += ps["macs"].get<std::uint64_t>();
    }
    EXPECT_EQ(per_sample_macs, layer["macs"].get<std::uint64_t>());
    for (const std::string& k : work_keys)
      EXPECT_EQ(layer["per_sample"][0]["work"][k].get<std::uint64_t>() + layer["per_sample"][1]["work"][k].get<std::uint64_t>(),
                layer["work"][k].get<std::uint64_t>())
          << "work." << k;
    for (const std::string& k : cycle_keys)
      EXPECT_EQ(layer["per_sample"][0]["cycles"][k].get<std::uint64_t>() +
                    layer["per_sample"][1]["cycles"][k].get<std::uint64_t>(),
                layer["cycles"][k].get<std::uint64_t>())
          << "cycles." << k;
    macs_all += layer["macs"].get<std::uint64_t>();
    if (layer["type"] == "conv") macs_conv += layer["macs"].get<std::uint64_t>();
  }
  // conv1: 3x32x32, 24 filters 3x3, stride 2, padding 1: 24 * 16 * 16 * 3 * 9 = 165888 MACs per sample.
  EXPECT_EQ(doc["layers"][0]["name"], "conv1");
  EXPECT_EQ(doc["layers"][0]["macs"], 2 * 165888);
  // fc: 320 -> 10: 3200 MACs per sample.
  EXPECT_EQ(doc["layers"][5]["name"], "fc");
  EXPECT_EQ(doc["layers"][5]["macs"], 2 * 3200);

  ASSERT_TRUE(doc["totals"].is_object());
  EXPECT_EQ(keys_of(doc["totals"]), (std::set<std::string>{"all", "conv"}));
  const json& all = doc["totals"]["all"];
  EXPECT_EQ(keys_of(all), (std::set<std::string>{"layers", "macs", "work", "cycles"}));
  EXPECT_TRUE(is_count(all["macs"])) << all.dump();
  EXPECT_EQ(all["macs"].get<std::uint64_t>(), macs_all) << all.dump();
  EXPECT_EQ(all["layers"], 6);
  EXPECT_EQ(doc["totals"]["conv"]["macs"].get<std::uint64_t>(), macs_conv);
  EXPECT_EQ(doc["totals"]["conv"]["layers"], 5);
  for (const std::string& k : work_keys) {
    std::uint64_t sum = 0;
    for (const json& layer : doc["layers"]) sum += layer["work"][k].get<std::uint64_t>();
    EXPECT_TRUE(is_count(all["work"][k])) << k;
    EXPECT_EQ(all["work"][k].get<std::uint64_t>(), sum) << "totals.all.work." << k;
  }
  for (const std::string& k : cycle_keys) {
    std::uint64_t sum = 0;
    for (const json& layer : doc["layers"]) sum += layer["cycles"][k].get<std::uint64_t>();
    EXPECT_EQ(all["cycles"][k].get<std::uint64_t>(), sum) << "totals.all.cycles." << k;
  }

  // CSV: a header, one row per layer, one per layer and sample.
  const std::string csv_text = read_text(csv_path);
  const auto rows = lines_of(csv_text);
  const std::string csv_where = "\nCSV report " + csv_path + ":\n" + truncated(csv_text, 3000);
  ASSERT_EQ(rows.size(), 1u + 6 + 6 * 2) << csv_where;
  EXPECT_EQ(rows[0],
            "network,layer,type,row,sample,samples,macs,work_baseline,work_zero_skip,work_stripes,work_pragmatic,"
            "work_laconic,potential_zero_skip,potential_stripes,potential_pragmatic,potential_laconic,"
            "cycles_baseline,cycles_stripes,cycles_laconic,speedup_stripes,speedup_laconic,activation_bits,"
            "weight_bits,activation_mean_terms,activation_zero_fraction,weight_mean_terms,weight_zero_fraction")
      << csv_where;
  const std::size_t columns = split_csv_row(rows[0]).size();
  int layer_rows = 0, sample_rows = 0;
  std::uint64_t csv_macs = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto f = split_csv_row(rows[i]);
    ASSERT_EQ(f.size(), columns) << "row " << i << ": " << rows[i] << csv_where;
    EXPECT_EQ(f[0], "tiny-synthetic");
    if (f[3] == "layer") {
      ++layer_rows;
      EXPECT_EQ(f[4], "") << rows[i];
      EXPECT_EQ(f[5], "2") << rows[i];
      csv_macs += std::stoull(f[6]);
    } else {
      EXPECT_EQ(f[3], "sample") << rows[i];
      EXPECT_TRUE(f[4] == "0" || f[4] == "1") << rows[i];
      ++sample_rows;
    }
  }
  EXPECT_EQ(layer_rows, 6) << csv_where;
  EXPECT_EQ(sample_rows, 12) << csv_where;
  EXPECT_EQ(csv_macs, macs_all) << csv_where;
  // Nothing but the two reports (and the captured output) in the directory.
  for (const auto& name : directory_listing(scratch_.path()))
    EXPECT_TRUE(name == "r.json" || name == "r.csv" || name.rfind("stdout.", 0) == 0 || name.rfind("stderr.", 0) == 0)
        << "unexpected file " << name;
}

TEST_F(CliProfile, WithoutPerSampleThereAreNoPerSampleRows) {
  const std::string json_path = scratch_.file("r.json"), csv_path = scratch_.file("r.csv");
  const CliRun r = profile({manifest_, "--json", json_path, "--csv", csv_path, "-q", "--samples", "1", "--layers", "conv1,fc"});
  ASSERT_EQ(r.status, 0) << r.describe();
  const json doc = json::parse(read_text(json_path));
  ASSERT_EQ(doc["layers"].size(), 2u) << doc.dump(1);
  for (const json& layer : doc["layers"]) {
    EXPECT_FALSE(layer.contains("per_sample")) << layer.dump(1);
    EXPECT_EQ(layer["samples"], 1);
  }
  EXPECT_EQ(doc["config"]["sample_limit"], 1);
  EXPECT_EQ(doc["totals"]["all"]["layers"], 2);
  EXPECT_EQ(lines_of(read_text(csv_path)).size(), 3u) << read_text(csv_path);
}

// The JSON with its "engine" field set to `engine`, for comparing runs.
std::string with_engine(std::string json_text, const std::string& engine) {
  json doc = json::parse(json_text);
  doc["engine"] = engine;
  return doc.dump(1);
}

TEST_F(CliProfile, SameInputGivesTheSameBytes) {
  struct Report {
    CliRun run;
    std::string json_text, csv_text;
  };
  int n = 0;
  auto run = [&](std::vector<std::string> extra) {
    const std::string json_path = scratch_.file("r" + std::to_string(n) + ".json");
    const std::string csv_path = scratch_.file("r" + std::to_string(n) + ".csv");
    ++n;
    std::vector<std::string> args = {manifest_, "--json", json_path, "--csv", csv_path, "--per-sample", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    Report rep{profile(args), read_text(json_path), read_text(csv_path)};
    EXPECT_EQ(rep.run.status, 0) << rep.run.describe();
    EXPECT_FALSE(rep.json_text.empty()) << rep.run.describe();
    return rep;
  };
  const Report first = run({"--engine", "cpu"});
  const Report again = run({"--engine", "cpu"});
  EXPECT_EQ(first.json_text, again.json_text) << "two identical runs differ in the JSON";
  EXPECT_EQ(first.csv_text, again.csv_text) << "two identical runs differ in the CSV";

  const Report one_thread = run({"--engine", "cpu", "--threads", "1"});
  const Report two_threads = run({"--engine", "cpu", "--threads", "2"});
  EXPECT_EQ(one_thread.json_text, two_threads.json_text) << "--threads 1 and 2 differ in the JSON";
  EXPECT_EQ(one_thread.csv_text, two_threads.csv_text) << "--threads 1 and 2 differ in the CSV";
  EXPECT_EQ(one_thread.csv_text, first.csv_text);

  const Report reference = run({"--engine", "reference"});
  EXPECT_EQ(reference.csv_text, first.csv_text) << "--engine reference and cpu differ in the CSV";
  EXPECT_EQ(json::parse(reference.json_text)["engine"], "reference");
  EXPECT_EQ(with_engine(reference.json_text, "cpu"), with_engine(first.json_text, "cpu"))
      << "--engine reference and cpu differ in the JSON beyond the engine field";
  // Byte for byte, apart from that one field.
  std::string reference_bytes = reference.json_text;
  const std::string from = "\"engine\": \"reference\"", to = "\"engine\": \"cpu\"";
  const auto at = reference_bytes.find(from);
  ASSERT_NE(at, std::string::npos) << reference.json_text.substr(0, 400);
  reference_bytes.replace(at, from.size(), to);
  EXPECT_EQ(reference_bytes, first.json_text);

  // The default engine (auto: cuda where a usable device answers, else cpu)
  // gives the same counts.
  const Report automatic = run({});
  EXPECT_EQ(automatic.csv_text, first.csv_text);
}

TEST_F(CliProfile, OtherEncodingsAndGeometriesRunAndVerify) {
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--encoding", "binary"}, std::vector<std::string>{"--encoding", "naf"},
        std::vector<std::string>{"--tiles", "1", "--rows", "3", "--columns", "5", "--lanes", "7"},
        std::vector<std::string>{"--baseline-width", "8", "--encoding", "naf"}}) {
    std::vector<std::string> args = {manifest_, "--verify", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliRun r = profile(args);
    EXPECT_STATUS(r, 0);
    EXPECT_EQ(r.err, "") << r.describe();
  }
}

// ---------------------------------------------------------------------------
// DNNsim layout and synth.

TEST(CliDnnsim, SynthesizedDnnsimLayoutProfilesAndVerifies) {
  TempDir scratch;
  const std::string out = scratch.file("D");
  const CliRun synth = run_laconic({"synth", "tiny", "--dnnsim", "--out", out, "--samples", "2", "--samples-per-file", "1"}, scratch);
  ASSERT_EQ(synth.status, 0) << synth.describe();
  ASSERT_TRUE(fs::exists(out + "/models/tiny-synthetic/model.csv")) << synth.describe() << "\nin " << out << ":" << listing_text(out);
  ASSERT_TRUE(fs::exists(out + "/net_traces/tiny-synthetic/act-conv1-1.npy")) << listing_text(out + "/net_traces/tiny-synthetic");
  const CliRun r = run_laconic({"profile", out + "/models/tiny-synthetic", "--verify"}, scratch);
  EXPECT_STATUS(r, 0);
  EXPECT_TRUE(contains(r.out, "# laconic profile: tiny")) << r.describe();
  EXPECT_TRUE(contains(r.err, "every count matches the reference engine")) << r.describe();
  // --traces names the traces directory explicitly.
  const CliRun explicit_traces =
      run_laconic({"profile", out + "/models/tiny-synthetic", "--traces", out + "/net_traces/tiny-synthetic", "-q", "--samples", "1"}, scratch);
  EXPECT_STATUS(explicit_traces, 0);
}

// `laconic profile D/models/tiny-synthetic/` (a trailing slash, as shell completion
// writes it) works as it does without the slash.
TEST(CliDnnsim, TrailingSlashOnTheModelDirectory) {
  TempDir scratch;
  const std::string out = scratch.file("D");
  const CliRun synth = run_laconic({"synth", "tiny", "--dnnsim", "--out", out, "--samples", "1"}, scratch);
  ASSERT_EQ(synth.status, 0) << synth.describe();
  const CliRun r = run_laconic({"profile", out + "/models/tiny-synthetic/", "-q"}, scratch);
  EXPECT_STATUS(r, 0);
}

TEST(CliSynth, Errors) {
  TempDir scratch;
  const CliRun unknown = run_laconic({"synth", "lenet", "--out", scratch.file("x")}, scratch);
  EXPECT_STATUS(unknown, 1);
  EXPECT_TRUE(contains(unknown.err, "lenet") && contains(unknown.err, "tiny")) << unknown.describe();
  const CliRun no_out = run_laconic({"synth", "tiny"}, scratch);
  EXPECT_STATUS(no_out, 2);
  EXPECT_TRUE(contains(no_out.err, "--out")) << no_out.describe();
  const CliRun no_arch = run_laconic({"synth", "--out", scratch.file("y")}, scratch);
  EXPECT_STATUS(no_arch, 2);
}

}  // namespace
}  // namespace laconic
