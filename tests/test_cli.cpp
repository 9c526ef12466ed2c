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

// A whole CSV document read as RFC 4180 says: quoted fields may hold
// commas, doubled quotes, line feeds and carriage returns.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += text[++i];
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
    } else if (c == '\n') {
      rows.back().push_back(field);
      field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (!field.empty() || !rows.back().empty()) rows.back().push_back(field);
  if (rows.back().empty()) rows.pop_back();
  return rows;
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
                             "--threads", "--traces", "--preset", "--config", "--geometry", "--shifter-bits",
                             "--column-registers", "--depthwise", "--fold-first-layer"})
    EXPECT_TRUE(contains(r.out, option)) << "help lacks " << option << r.describe();
  // Every value and default of the accelerators' settings, and the order in which they apply.
  for (const char* phrase : {"dnnsim", "equal", "(default: dnnsim)", "ACCELERATOR=T,Rt,Ct,L", "all=T,Rt,Ct,L",
                             "ACCELERATOR=R", "B|inf", "(default: 2)", "per-group|diagonal", "on|off", "dnnsim-booth",
                             "(default: booth)", "(default: 16)", "Settings apply in this order",
                             "1. --preset", "2. --config FILE", "3. --tiles, --rows, --columns, --lanes",
                             "4. --geometry entries, in the order given", "5. --shifter-bits"})
    EXPECT_TRUE(contains(r.out, phrase)) << "help lacks " << phrase << r.describe();
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
  EXPECT_TRUE(contains(version.out, "0.2.0")) << version.describe();
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
      {{manifest_, "--samples", "two"}, "--samples must be a positive whole number, not 'two'"},
      {{manifest_, "--tiles", "abc"}, "--tiles must be a positive whole number, not 'abc'"},
      // A value that is another option, and '-' where no stream makes sense.
      {{manifest_, "--json", "-q"}, "--json takes a value, but was given '-q', which looks like an option"},
      // An unknown option suggests the nearest; an option given twice with two values is refused.
      {{manifest_, "--jsn", "x.json"}, "unknown option --jsn (did you mean --json?); see laconic profile --help"},
      {{manifest_, "--encodng=naf"}, "unknown option --encodng (did you mean --encoding?)"},
      {{manifest_, "--encoding", "naf", "--encoding", "booth"}, "--encoding is given twice, as 'naf' and as 'booth'"},
      {{manifest_, "--shard", "-1/2", "--json", "x.json"}, "--shard must be I/N with 1 <= I <= N"},
      {{manifest_, "--shard", "1/2", "--json", "-"}, "--shard writes its partial report to a file for laconic merge, not to stdout"},
      {{manifest_, "--csv", "--per-sample"}, "--csv takes a value, but was given '--per-sample'"},
      {{manifest_, "--json", "-", "--csv", "-"}, "--json - and --csv - cannot both go to stdout"},
      {{manifest_, "--config", "-"}, "--config needs a file name: '-' (standard input or output) is not read"},
      {{"-"}, "--network needs a file name"},
      {{manifest_, "--layers", ""}, "--layers needs at least one layer name"},
      {{manifest_, "--layers", "conv1,,fc"}, "--layers 'conv1,,fc': an empty layer name"},
      {{manifest_, "--verify-samples", "2"}, "--verify-samples needs --verify"},
      {{manifest_, "--threads", "0"}, "--threads"},
      {{manifest_, "--baseline-width", "0"}, "--baseline-width"},
      {{manifest_, "--baseline-width", "33"}, "--baseline-width"},
      {{}, "NETWORK"},
      {{manifest_, "extra"}, "extra"},
      // The accelerators' settings: each bad value names the option and says what is wrong.
      {{manifest_, "--preset", "isca"}, "--preset must be dnnsim or equal, not 'isca'"},
      {{manifest_, "--encoding", "booth4"}, "--encoding must be binary, booth, naf or dnnsim-booth, not 'booth4'"},
      {{manifest_, "--geometry", "lacnic=16,16,16,16"}, "--geometry lacnic=16,16,16,16: 'lacnic' is not an accelerator (did you mean 'laconic'?)"},
      {{manifest_, "--geometry", "gpu=1,1,1,1"}, "'gpu' is not an accelerator; one of: all baseline stripes pragmatic laconic"},
      {{manifest_, "--geometry", "laconic=16,16,16"}, "--geometry laconic=16,16,16: expected ACCELERATOR=T,Rt,Ct,L"},
      {{manifest_, "--geometry", "laconic=16,16,16,16,16"}, "expected ACCELERATOR=T,Rt,Ct,L"},
      {{manifest_, "--geometry", "16,16,16,16"}, "--geometry 16,16,16,16: expected ACCELERATOR=T,Rt,Ct,L"},
      {{manifest_, "--geometry", "=16,16,16,16"}, "expected ACCELERATOR=T,Rt,Ct,L"},
      {{manifest_, "--geometry", "baseline=16,16,0,16"}, "--geometry baseline=16,16,0,16: columns Ct must be a positive number, not 0"},
      {{manifest_, "--geometry", "all=-1,16,16,16"}, "tiles T must be a positive number, not -1"},
      {{manifest_, "--geometry", "stripes=16,x,16,16"}, "rows Rt must be an integer, not 'x'"},
      {{manifest_, "--geometry", "stripes=16,16,16,"}, "lanes L must be an integer, not ''"},
      {{manifest_, "--geometry", "laconic=16,16,16,2000000"}, "lanes L is implausibly large: 2000000"},
      {{manifest_, "--shifter-bits", "32"}, "--shifter-bits: the first-stage shifter bits B must be between 0 and 31 or inf, not 32"},
      {{manifest_, "--shifter-bits", "-1"}, "must be between 0 and 31 or inf, not -1"},
      {{manifest_, "--shifter-bits", "infinity"}, "must be between 0 and 31 or inf, not 'infinity'"},
      {{manifest_, "--column-registers", "baseline=1"}, "--column-registers baseline=1: column registers of baseline: only pragmatic and laconic have them"},
      {{manifest_, "--column-registers", "stripes=2"}, "column registers of stripes: only pragmatic and laconic have them"},
      {{manifest_, "--column-registers", "pragmatic=-1"}, "column registers of pragmatic must be between 0 and 1048576, not -1"},
      {{manifest_, "--column-registers", "all=2000000"}, "must be between 0 and 1048576, not 2000000"},
      {{manifest_, "--column-registers", "laconic"}, "--column-registers laconic: expected ACCELERATOR=R"},
      {{manifest_, "--column-registers", "laconic=one"}, "the number of column registers must be an integer, not 'one'"},
      {{manifest_, "--column-registers", "pragmatc=1"}, "'pragmatc' is not an accelerator (did you mean 'pragmatic'?)"},
      {{manifest_, "--depthwise", "diagonally"}, "--depthwise must be per-group or diagonal, not 'diagonally'"},
      {{manifest_, "--fold-first-layer", "yes"}, "--fold-first-layer must be on or off, not 'yes'"},
      {{manifest_, "--tiles", "0", "--geometry", "all=1,1,1,1"}, "--tiles must be a positive whole number, not 0"},
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
  // A near miss gets a suggestion.
  const CliRun near = profile({manifest_, "--layers", "Conv1", "-q"});
  EXPECT_STATUS(near, 1);
  EXPECT_TRUE(contains(near.err, "no layer 'Conv1' (did you mean 'conv1'?)")) << near.describe();
}

// Spaces around the names of --layers do not matter.
TEST_F(CliProfile, LayerListsAreTrimmed) {
  const std::string json_path = scratch_.file("r.json");
  const CliRun r = profile({manifest_, "--layers", " conv1 , fc ", "--json", json_path, "-q", "--engine", "cpu"});
  ASSERT_EQ(r.status, 0) << r.describe();
  const json doc = json::parse(read_text(json_path));
  ASSERT_EQ(doc["layers"].size(), 2u);
  EXPECT_EQ(doc["layers"][0]["name"], "conv1");
  EXPECT_EQ(doc["layers"][1]["name"], "fc");
}

// "-" sends the JSON or CSV report to stdout, in place of the Markdown.
TEST_F(CliProfile, DashWritesAReportToStdout) {
  const std::string json_path = scratch_.file("r.json");
  const CliRun file = profile({manifest_, "--json", json_path, "-q", "--engine", "cpu"});
  ASSERT_EQ(file.status, 0) << file.describe();
  const CliRun to_stdout = profile({manifest_, "--json", "-", "-q", "--engine", "cpu"});
  ASSERT_EQ(to_stdout.status, 0) << to_stdout.describe();
  EXPECT_EQ(to_stdout.out, read_text(json_path));
  EXPECT_FALSE(std::filesystem::exists("-")) << "a file named '-' was written";
  const CliRun csv = profile({manifest_, "--csv", "-", "--json", json_path, "-q", "--engine", "cpu"});
  ASSERT_EQ(csv.status, 0) << csv.describe();
  EXPECT_TRUE(csv.out.rfind("network,layer,type,row", 0) == 0) << csv.describe();
}

// Layer names are data: any byte a manifest can hold (line breaks, '|',
// quotes, backslashes) leaves the Markdown one row per layer and the CSV
// one record per layer, with the name as it was written.
TEST_F(CliProfile, AnyLayerNameKeepsTheReportsWellFormed) {
  const std::string odd = "conv1 | \"x\", y\n| z\r\\| end";
  json doc = json::parse(read_text(manifest_));
  const std::string original = doc["layers"][0]["name"];
  doc["layers"][0]["name"] = odd;
  // Beside the synthetic set's manifest, whose trace paths are relative.
  const std::string manifest = (fs::path(manifest_).parent_path() / "odd-names.json").string();
  test::write_bytes(manifest, doc.dump());
  const std::string csv_path = scratch_.file("r.csv"), json_path = scratch_.file("r.json");
  const CliRun r = profile({manifest, "--csv", csv_path, "--json", json_path, "--engine", "cpu"});
  ASSERT_EQ(r.status, 0) << r.describe();
  const CliRun plain = profile({manifest_, "--engine", "cpu", "-q"});
  ASSERT_EQ(plain.status, 0) << plain.describe();
  EXPECT_EQ(lines_of(r.out).size(), lines_of(plain.out).size()) << "a name broke a Markdown row\n" << r.out;
  EXPECT_TRUE(contains(r.out, "| conv1 \\| \"x\", y\\n\\| z\\r\\\\\\| end |")) << r.out;
  const auto rows = parse_csv(read_text(csv_path));
  ASSERT_EQ(rows.size(), 1u + doc["layers"].size()) << read_text(csv_path);
  for (const auto& row : rows) EXPECT_EQ(row.size(), rows[0].size());
  EXPECT_EQ(rows[1][1], odd);
  EXPECT_EQ(json::parse(read_text(json_path))["layers"][0]["name"], odd);
  // compare pairs the layers of two such reports and keeps its own tables whole.
  const CliRun compared = run_laconic({"compare", json_path, json_path, "--csv", scratch_.file("c.csv")}, scratch_);
  ASSERT_EQ(compared.status, 0) << compared.describe();
  EXPECT_TRUE(contains(compared.out, "| conv1 \\| \"x\", y\\n\\| z\\r\\\\\\| end |")) << compared.out;
  const auto compared_rows = parse_csv(read_text(scratch_.file("c.csv")));
  for (const auto& row : compared_rows) EXPECT_EQ(row.size(), compared_rows[0].size());
  (void)original;
}

// A report path that is a symbolic link is written through to its target:
// the link stays, the target holds the new report.
TEST_F(CliProfile, AReportPathThatIsASymlinkIsWrittenThrough) {
  const std::string target = scratch_.file("target.json"), link = scratch_.file("link.json");
  test::write_bytes(target, "old");
  fs::create_symlink("target.json", link);  // relative, as users make them
  const CliRun r = profile({manifest_, "--json", link, "-q", "--engine", "cpu", "--layers", "fc"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(json::parse(read_text(target))["network"], "tiny-synthetic");
  // A link to a file that does not exist yet creates the file.
  const std::string dangling = scratch_.file("dangling.json");
  fs::create_symlink("new.json", dangling);
  const CliRun created = profile({manifest_, "--json", dangling, "-q", "--engine", "cpu", "--layers", "fc"});
  ASSERT_EQ(created.status, 0) << created.describe();
  EXPECT_TRUE(fs::is_symlink(dangling));
  EXPECT_TRUE(fs::is_regular_file(scratch_.file("new.json")));
}

// Options that change nothing in this run say so on stderr.
TEST_F(CliProfile, PerSampleWithoutAReportSaysItDoesNothing) {
  const CliRun r = profile({manifest_, "--per-sample", "--layers", "fc", "--engine", "cpu"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "--per-sample adds rows to the JSON and CSV reports only")) << r.describe();
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
      // It failed part way (in the second layer, named above): the progress
      // never says the run is done.
      EXPECT_FALSE(contains(r.err, "laconic: done:")) << r.describe();
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

// The expected "config" of a report of the default configuration (the dnnsim
// preset, MODEL.md §8), without sample_limit and source.
json dnnsim_config() {
  return json::parse(R"({"preset": "dnnsim", "encoding": "booth", "baseline_width": 16,
    "accelerators": {"baseline": {"tiles": 16, "rows": 16, "columns": 1, "lanes": 16},
                     "stripes": {"tiles": 16, "rows": 16, "columns": 16, "lanes": 16},
                     "pragmatic": {"tiles": 16, "rows": 16, "columns": 16, "lanes": 16, "column_registers": 1,
                                   "shifter_bits": 2},
                     "laconic": {"tiles": 16, "rows": 16, "columns": 16, "lanes": 16, "column_registers": 0}},
    "depthwise": "diagonal", "fold_first_layer": true})");
}

json without_run_fields(json config) {
  config.erase("sample_limit");
  config.erase("source");
  config.erase("precision_profile");
  return config;
}

// On the cpu engine, checked against the reference engine; `engine` is then
// "cpu" whether or not a GPU answers.
TEST_F(CliProfile, GoodRunWritesDocumentedReports) {
  const std::string json_path = scratch_.file("r.json"), csv_path = scratch_.file("r.csv");
  const CliRun r =
      profile({manifest_, "--json", json_path, "--csv", csv_path, "--per-sample", "--engine", "cpu", "--verify", "-q"});
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
  EXPECT_EQ(keys_of(doc),
            (std::set<std::string>{"tool", "schema", "version", "network", "engine", "config", "layers", "totals"}))
      << join(keys_of(doc)) << where;
  EXPECT_EQ(doc["tool"], "laconic");
  EXPECT_EQ(doc["schema"], 2);
  EXPECT_EQ(doc["version"], "0.2.0");
  EXPECT_EQ(doc["network"], "tiny-synthetic");
  EXPECT_EQ(doc["engine"], "cpu");
  // The schema-2 configuration: every accelerator's geometry and options, in this order.
  EXPECT_EQ(without_run_fields(doc["config"]), dnnsim_config()) << where;
  const nlohmann::ordered_json in_order = nlohmann::ordered_json::parse(json_text);
  std::vector<std::string> config_keys;
  for (const auto& item : in_order["config"].items()) config_keys.push_back(item.key());
  EXPECT_EQ(config_keys, (std::vector<std::string>{"preset", "encoding", "baseline_width", "accelerators", "depthwise",
                                                   "fold_first_layer", "sample_limit", "source", "precision_profile"}));
  EXPECT_TRUE(doc["config"]["precision_profile"].is_null()) << where;
  std::vector<std::string> accelerator_keys;
  for (const auto& item : in_order["config"]["accelerators"].items()) accelerator_keys.push_back(item.key());
  EXPECT_EQ(accelerator_keys, (std::vector<std::string>{"baseline", "stripes", "pragmatic", "laconic"}));
  EXPECT_TRUE(doc["config"]["sample_limit"].is_null()) << where;

  const std::set<std::string> layer_keys = {"name", "type", "samples", "macs", "work", "cycles", "terms", "per_sample"};
  const std::set<std::string> work_keys = {"baseline", "zero_skip", "stripes", "pragmatic", "laconic"};
  const std::set<std::string> cycle_keys = {"baseline", "stripes", "pragmatic", "laconic"};
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
    for (const auto& item : layer["cycles"].items()) {
      EXPECT_TRUE(is_count(item.value())) << "cycles." << item.key();
      EXPECT_GT(item.value().get<std::uint64_t>(), 0u) << "cycles." << item.key();  // every step costs at least 1
    }
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
            "cycles_baseline,cycles_stripes,cycles_pragmatic,cycles_laconic,speedup_stripes,speedup_pragmatic,"
            "speedup_laconic,speedup_laconic_over_stripes,speedup_laconic_over_pragmatic,activation_bits,"
            "weight_bits,activation_mean_terms,activation_zero_fraction,weight_mean_terms,weight_zero_fraction,"
            "preset,encoding,baseline_width,baseline_tiles,baseline_rows,baseline_columns,baseline_lanes,"
            "stripes_tiles,stripes_rows,stripes_columns,stripes_lanes,pragmatic_tiles,pragmatic_rows,"
            "pragmatic_columns,pragmatic_lanes,pragmatic_column_registers,pragmatic_shifter_bits,laconic_tiles,"
            "laconic_rows,laconic_columns,laconic_lanes,laconic_column_registers,depthwise,fold_first_layer,"
            "precision_profile")
      << csv_where;
  // Every row, layer or sample, ends with the run's configuration (no
  // precision profile here).
  const std::string config_fields =
      ",dnnsim,booth,16,16,16,1,16,16,16,16,16,16,16,16,16,1,2,16,16,16,16,0,diagonal,true,";
  const std::size_t columns = split_csv_row(rows[0]).size();
  int layer_rows = 0, sample_rows = 0;
  std::uint64_t csv_macs = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto f = split_csv_row(rows[i]);
    ASSERT_EQ(f.size(), columns) << "row " << i << ": " << rows[i] << csv_where;
    EXPECT_EQ(f[0], "tiny-synthetic");
    EXPECT_EQ(rows[i].substr(rows[i].size() - std::min(rows[i].size(), config_fields.size())), config_fields) << rows[i];
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
        std::vector<std::string>{"--baseline-width", "8", "--encoding", "naf"},
        std::vector<std::string>{"--encoding", "dnnsim-booth"}, std::vector<std::string>{"--preset", "equal"},
        std::vector<std::string>{"--geometry", "laconic=2,3,5,7", "--geometry", "pragmatic=1,2,3,4", "--shifter-bits",
                                 "inf", "--column-registers", "all=2"},
        std::vector<std::string>{"--shifter-bits", "0", "--depthwise", "per-group", "--fold-first-layer", "off"}}) {
    std::vector<std::string> args = {manifest_, "--verify", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliRun r = profile(args);
    EXPECT_STATUS(r, 0);
    EXPECT_EQ(r.err, "") << r.describe();
  }
}

// ---------------------------------------------------------------------------
// The accelerators' settings (MODEL.md §8, §9): presets, options, the
// configuration file, and what the reports say of them.

// The "config" of the JSON report of `profile manifest args... --layers fc
// --samples 1` (the configuration does not depend on the layers profiled).
json config_of(const CliRun& r, const std::string& json_path) {
  EXPECT_EQ(r.status, 0) << r.describe();
  if (r.status != 0) return json::object();
  return without_run_fields(json::parse(read_text(json_path))["config"]);
}

json geometry_json(std::int64_t t, std::int64_t rows, std::int64_t c, std::int64_t l) {
  return {{"tiles", t}, {"rows", rows}, {"columns", c}, {"lanes", l}};
}

// A configuration with every accelerator at T, Rt, Ct, L and the given options.
json config_json(const json& preset, const std::string& encoding, int width, const json& baseline, const json& stripes,
                 json pragmatic, int pragmatic_registers, const json& shifter_bits, json laconic,
                 int laconic_registers, const std::string& depthwise, bool fold) {
  pragmatic["column_registers"] = pragmatic_registers;
  pragmatic["shifter_bits"] = shifter_bits;
  laconic["column_registers"] = laconic_registers;
  json c;
  c["preset"] = preset;
  c["encoding"] = encoding;
  c["baseline_width"] = width;
  c["accelerators"] = {{"baseline", baseline}, {"stripes", stripes}, {"pragmatic", pragmatic}, {"laconic", laconic}};
  c["depthwise"] = depthwise;
  c["fold_first_layer"] = fold;
  return c;
}

json equal_config() {
  const json g = geometry_json(16, 16, 16, 16);
  return config_json("equal", "booth", 16, g, g, g, 0, 2, g, 0, "per-group", false);
}

TEST_F(CliProfile, PresetsAndTheOldGeometryOptions) {
  const std::string j = scratch_.file("c.json");
  auto config = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {manifest_, "--layers", "fc", "--samples", "1", "--json", j, "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return config_of(profile(args), j);
  };
  // The default is the dnnsim preset; --preset names it or equal.
  EXPECT_EQ(config({}), dnnsim_config());
  EXPECT_EQ(config({"--preset", "dnnsim"}), dnnsim_config());
  EXPECT_EQ(config({"--preset", "equal"}), equal_config());
  // The old options set that dimension of every accelerator, baseline included.
  json old = equal_config();
  for (auto& item : old["accelerators"].items()) {
    item.value()["tiles"] = 1;
    item.value()["rows"] = 3;
    item.value()["columns"] = 5;
    item.value()["lanes"] = 7;
  }
  old["preset"] = nullptr;
  EXPECT_EQ(config({"--preset", "equal", "--tiles", "1", "--rows", "3", "--columns", "5", "--lanes", "7"}), old);
  json columns = dnnsim_config();
  columns["accelerators"]["baseline"]["columns"] = 16;
  columns["preset"] = nullptr;  // no preset has the dnnsim options at one geometry
  EXPECT_EQ(config({"--columns", "16"}), columns);
  // Settings that add up to a preset are reported as that preset.
  EXPECT_EQ(config({"--preset", "equal", "--geometry", "baseline=16,16,1,16", "--depthwise", "diagonal",
                    "--fold-first-layer", "on", "--column-registers", "pragmatic=1"}),
            dnnsim_config());
  // all= sets the four geometries, and both accelerators' column registers.
  json all = dnnsim_config();
  for (auto& item : all["accelerators"].items()) {
    item.value()["tiles"] = 2;
    item.value()["rows"] = 4;
    item.value()["columns"] = 8;
    item.value()["lanes"] = 16;
  }
  all["accelerators"]["pragmatic"]["column_registers"] = 3;
  all["accelerators"]["laconic"]["column_registers"] = 3;
  all["accelerators"]["pragmatic"]["shifter_bits"] = 0;
  all["preset"] = nullptr;
  EXPECT_EQ(config({"--geometry", "all=2,4,8,16", "--column-registers", "all=3", "--shifter-bits", "0"}), all);
  // B = inf is null in the JSON.
  json unbounded = dnnsim_config();
  unbounded["accelerators"]["pragmatic"]["shifter_bits"] = nullptr;
  unbounded["preset"] = nullptr;
  EXPECT_EQ(config({"--shifter-bits", "inf"}), unbounded);
  json booth = dnnsim_config();
  booth["encoding"] = "dnnsim-booth";
  booth["baseline_width"] = 8;
  EXPECT_EQ(config({"--encoding", "dnnsim-booth", "--baseline-width", "8"}), booth)
      << "the encoding and the baseline width are not part of a preset";
}

TEST_F(CliProfile, SettingsApplyInTheDocumentedOrder) {
  // preset -> configuration file -> --tiles/--rows/--columns/--lanes -> --geometry in order -> the rest.
  const std::string file = scratch_.file("sweep.json");
  write_bytes(file, R"(// one point of a sweep
    {"preset": "equal", "encoding": "naf", "baseline_width": 12,
     "geometry": {"laconic": [2, 3, 4, 5], "stripes": {"lanes": 8}, "all": {"rows": 9}},
     "shifter_bits": 3, "column_registers": {"laconic": 2}, "depthwise": "diagonal"})");
  const std::string j = scratch_.file("c.json");
  const CliRun r = profile({manifest_, "--layers", "fc", "--samples", "1", "--json", j, "-q", "--geometry",
                            "pragmatic=1,2,3,4", "--config", file, "--columns", "7", "--geometry", "pragmatic=5,6,7,8",
                            "--shifter-bits", "inf", "--encoding", "dnnsim-booth"});
  // "all" applies before the accelerators' own entries, whatever the order in the file.
  const json expected =
      config_json(nullptr, "dnnsim-booth", 12, geometry_json(16, 9, 7, 16), geometry_json(16, 9, 7, 8),
                  geometry_json(5, 6, 7, 8), 0, nullptr, geometry_json(2, 3, 7, 5), 2, "diagonal", false);
  EXPECT_EQ(config_of(r, j), expected);
  // The Markdown says the same.
  for (const std::string phrase :
       {"Baseline: bit-parallel (DaDianNao-like), 16 tiles × 9 rows × 7 columns × 16 lanes, 12-bit operands.",
        "Accelerators: a custom configuration", "| stripes | 16 | 9 | 7 | 8 |",
        "| pragmatic | 5 | 6 | 7 | 8 | term-serial activations (dnnsim-booth terms), first-stage shifter B = inf, no "
        "column registers (lockstep) |",
        "| laconic | 2 | 3 | 7 | 5 | terms of both operands (dnnsim-booth), 2 column registers |",
        "Depthwise layers: `diagonal` mapping; first-layer fold: off"})
    EXPECT_TRUE(contains(r.out, phrase)) << phrase << r.describe();
  // A --preset that disagrees with the file's is a usage error; one that agrees is not.
  const CliRun clash = profile({manifest_, "--config", file, "--preset", "dnnsim", "-q"});
  EXPECT_STATUS(clash, 2);
  EXPECT_TRUE(contains(clash.err, "--preset dnnsim and the configuration file " + file + " (\"preset\": \"equal\")"))
      << clash.describe();
  EXPECT_STATUS(profile({manifest_, "--config", file, "--preset", "equal", "-q", "--layers", "fc"}), 0);
}

TEST_F(CliProfile, ConfigurationFileErrorsNameTheFileAndTheKey) {
  const std::string file = scratch_.file("bad.json");
  struct Case {
    std::string content;
    std::string phrase;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[16, 16, 1, 16]", "a configuration file is a JSON object of settings"},
      {R"({"presets": "equal"})", "unknown key 'presets' (did you mean 'preset'?)"},
      {R"({"tiles": 16})", "unknown key 'tiles'; allowed keys: preset encoding baseline_width geometry"},
      {R"({"preset": "isca"})", "preset: must be dnnsim or equal, not 'isca'"},
      {R"({"encoding": "csd"})", "encoding: must be binary, booth, naf or dnnsim-booth, not 'csd'"},
      {R"({"encoding": 2})", "encoding: must be a string, not 2"},
      {R"({"baseline_width": 64})", "baseline_width: the baseline width must be between 1 and 32 bits, not 64"},
      {R"({"geometry": [16, 16, 16, 16]})", "geometry: must be an object of accelerator names"},
      {R"({"geometry": {"lacnic": [1, 1, 1, 1]}})", "unknown key 'lacnic' in geometry (did you mean 'laconic'?)"},
      {R"({"geometry": {"laconic": [1, 1, 1]}})", "geometry.laconic: must be [T, Rt, Ct, L] (four numbers)"},
      {R"({"geometry": {"laconic": "16x16"}})", "geometry.laconic: must be [T, Rt, Ct, L] or an object"},
      {R"({"geometry": {"all": {"colums": 4}}})", "unknown key 'colums' in geometry.all (did you mean 'columns'?)"},
      {R"({"geometry": {"baseline": [16, 16, 0, 16]}})", "geometry.baseline[2]: columns Ct must be a positive number, not 0"},
      {R"({"geometry": {"stripes": {"lanes": -2}}})", "geometry.stripes.lanes: lanes L must be a positive number, not -2"},
      {R"({"geometry": {"pragmatic": [1.5, 1, 1, 1]}})", "geometry.pragmatic[0]: must be an integer, not 1.5"},
      {R"({"shifter_bits": 40})", "shifter_bits: the first-stage shifter bits B must be between 0 and 31 or inf, not 40"},
      {R"({"shifter_bits": -1})", "shifter_bits: the first-stage shifter bits B must be between 0 and 31 or inf, not -1"},
      {R"({"shifter_bits": "infinite"})", "shifter_bits: the first-stage shifter bits B must be between 0 and 31 or inf, not 'infinite'"},
      {R"({"column_registers": 1})", "column_registers: must be an object"},
      {R"({"column_registers": {"baseline": 1}})", "column_registers.baseline: column registers of baseline: only pragmatic and laconic have them"},
      {R"({"column_registers": {"all": -3}})", "column_registers.all: column registers of pragmatic must be between 0 and 1048576, not -3"},
      {R"({"column_registers": {"laconc": 1}})", "unknown key 'laconc' in column_registers (did you mean 'laconic'?)"},
      {R"({"depthwise": "diag"})", "depthwise: must be per-group or diagonal, not 'diag'"},
      {R"({"fold_first_layer": "on"})", "fold_first_layer: must be true or false, not \"on\""},
  };
  for (const auto& c : cases) {
    write_bytes(file, c.content);
    const CliRun r = profile({manifest_, "--config", file, "-q"});
    EXPECT_STATUS(r, 1);
    EXPECT_TRUE(contains(r.err, file + ": ") && contains(r.err, c.phrase))
        << "stderr lacks \"" << c.phrase << "\" or the file" << r.describe();
    EXPECT_FALSE(contains(r.out, "# laconic profile")) << r.describe();
  }
  const CliRun missing = profile({manifest_, "--config", scratch_.file("no-such.json"), "-q"});
  EXPECT_STATUS(missing, 1);
  EXPECT_TRUE(contains(missing.err, scratch_.file("no-such.json") + ": no such configuration file")) << missing.describe();
  const CliRun directory = profile({manifest_, "--config", scratch_.path().string(), "-q"});
  EXPECT_STATUS(directory, 1);
  EXPECT_TRUE(contains(directory.err, "is a directory")) << directory.describe();
  // Checked before the network is read.
  const CliRun early = profile({scratch_.file("no-such-net.json"), "--config", scratch_.file("no-such.json"), "-q"});
  EXPECT_STATUS(early, 1);
  EXPECT_TRUE(contains(early.err, "no such configuration file")) << early.describe();
}

// Cycles and speedups in every report are those of the JSON's counts.
TEST_F(CliProfile, EveryReportGivesEachAcceleratorsCyclesAndSpeedups) {
  const std::string json_path = scratch_.file("r.json"), csv_path = scratch_.file("r.csv");
  const CliRun r = profile({manifest_, "--json", json_path, "--csv", csv_path, "--engine", "cpu", "-q"});
  ASSERT_EQ(r.status, 0) << r.describe();
  const json doc = json::parse(read_text(json_path));

  // Markdown: what the baseline is, each accelerator's geometry and options.
  for (const std::string phrase :
       {"Baseline: bit-parallel (DaDianNao-like), 16 tiles × 16 rows × 1 column × 16 lanes, 16-bit operands. "
        "Speedups are baseline cycles / cycles.",
        "Accelerators: preset `dnnsim` (each accelerator at its own geometry, as DNNsim compares them).",
        "| accelerator | tiles T | rows Rt | columns Ct | lanes L | options |",
        "| baseline | 16 | 16 | 1 | 16 | bit-parallel (DaDianNao-like), 16-bit operands |",
        "| stripes | 16 | 16 | 16 | 16 | bit-serial activations at each layer's activation width |",
        "| pragmatic | 16 | 16 | 16 | 16 | term-serial activations (booth terms), first-stage shifter B = 2, 1 column "
        "register |",
        "| laconic | 16 | 16 | 16 | 16 | terms of both operands (booth), no column registers (lockstep) |",
        "Depthwise layers: `diagonal` mapping; first-layer fold: on (MODEL.md §8).",
        "| layer | baseline cycles | stripes cycles | pragmatic cycles | laconic cycles | laconic cycles / sample | "
        "stripes x | pragmatic x | laconic x | laconic over stripes x | laconic over pragmatic x |"})
    EXPECT_TRUE(contains(r.out, phrase)) << phrase << r.describe();
  // Speedups as README says the Markdown prints them: three significant
  // digits below 1, two decimals from 1 on.
  auto two = [](double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, v < 1 ? "%.3g" : "%.2f", v);
    return std::string(buf);
  };
  auto cycles_row = [&](const std::string& label, const json& c, const std::string& per_sample) {
    const double b = c["baseline"].get<double>(), st = c["stripes"].get<double>(), p = c["pragmatic"].get<double>(),
                 l = c["laconic"].get<double>();
    return "| " + label + " | " + c["baseline"].dump() + " | " + c["stripes"].dump() + " | " + c["pragmatic"].dump() +
           " | " + c["laconic"].dump() + " | " + per_sample + " | " + two(b / st) + " | " + two(b / p) + " | " +
           two(b / l) + " | " + two(st / l) + " | " + two(p / l) + " |";
  };
  for (const json& layer : doc["layers"]) {
    const std::string per_sample = [&] {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f", layer["cycles"]["laconic"].get<double>() / 2);
      return std::string(buf);
    }();
    const std::string row = cycles_row(layer["name"], layer["cycles"], per_sample);
    EXPECT_TRUE(contains(r.out, row + "\n")) << row << r.describe();
  }
  for (const auto& [which, label] : {std::pair<std::string, std::string>{"all", "**all layers** (6)"},
                                     std::pair<std::string, std::string>{"conv", "**conv layers** (5)"}}) {
    const json& c = doc["totals"][which]["cycles"];
    char per_sample[64];
    std::snprintf(per_sample, sizeof per_sample, "%.1f", c["laconic"].get<double>() / 2);
    const std::string row = cycles_row(label, c, per_sample);
    EXPECT_TRUE(contains(r.out, row + "\n")) << row << r.describe();
  }

  // CSV: the cycles of the JSON, and the speedups as their ratios.
  const auto rows = lines_of(read_text(csv_path));
  ASSERT_EQ(rows.size(), 7u);
  const auto header = split_csv_row(rows[0]);
  auto column = [&](const std::string& name) {
    const auto at = std::find(header.begin(), header.end(), name);
    EXPECT_NE(at, header.end()) << name;
    return static_cast<std::size_t>(at - header.begin());
  };
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto f = split_csv_row(rows[i]);
    const json& c = doc["layers"][i - 1]["cycles"];
    SCOPED_TRACE(rows[i]);
    for (const char* k : {"baseline", "stripes", "pragmatic", "laconic"})
      EXPECT_EQ(f[column(std::string("cycles_") + k)], c[k].dump()) << k;
    auto near = [&](const std::string& name, double expected) {
      EXPECT_NEAR(std::stod(f[column(name)]), expected, 1e-8 * expected) << name;
    };
    const double b = c["baseline"].get<double>(), st = c["stripes"].get<double>(), p = c["pragmatic"].get<double>(),
                 l = c["laconic"].get<double>();
    near("speedup_stripes", b / st);
    near("speedup_pragmatic", b / p);
    near("speedup_laconic", b / l);
    near("speedup_laconic_over_stripes", st / l);
    near("speedup_laconic_over_pragmatic", p / l);
    EXPECT_EQ(f[column("preset")], "dnnsim");
    EXPECT_EQ(f[column("baseline_columns")], "1");
    EXPECT_EQ(f[column("pragmatic_shifter_bits")], "2");
  }

  // A custom configuration: preset empty in the CSV, B = inf written as inf.
  const CliRun custom = profile({manifest_, "--csv", csv_path, "--layers", "fc", "--samples", "1", "--shifter-bits",
                                 "inf", "--engine", "cpu", "-q"});
  ASSERT_EQ(custom.status, 0) << custom.describe();
  const auto custom_rows = lines_of(read_text(csv_path));
  ASSERT_EQ(custom_rows.size(), 2u);
  const auto f = split_csv_row(custom_rows[1]);
  EXPECT_EQ(f[column("preset")], "");
  EXPECT_EQ(f[column("pragmatic_shifter_bits")], "inf");
  EXPECT_TRUE(contains(custom.out, "first-stage shifter B = inf")) << custom.describe();
}

// The dnnsim-booth encoding (MODEL.md §3a) is accepted everywhere an encoding is.
TEST_F(CliProfile, DnnsimBoothEncoding) {
  const std::string json_path = scratch_.file("r.json");
  const CliRun r =
      profile({manifest_, "--encoding", "dnnsim-booth", "--json", json_path, "--engine", "cpu", "--verify", "-q"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "Engine `cpu`, encoding `dnnsim-booth`")) << r.describe();
  EXPECT_TRUE(contains(r.out, "## Terms per value (`dnnsim-booth` encoding)")) << r.describe();
  const json doc = json::parse(read_text(json_path));
  EXPECT_EQ(doc["config"]["encoding"], "dnnsim-booth");
  for (const json& layer : doc["layers"]) {
    // 16-bit magnitudes: at most floor((2 * 16 + 2) / 3) = 11 terms.
    EXPECT_EQ(layer["terms"]["activations"]["histogram"].size(), 12u) << layer["name"];
    EXPECT_GT(layer["work"]["laconic"].get<std::uint64_t>(), 0u);
    EXPECT_GT(layer["cycles"]["pragmatic"].get<std::uint64_t>(), 0u);
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

// A DNNsim precision.txt that set the layers' widths is part of every
// report's configuration (MODEL.md §7a).
TEST(CliDnnsim, ReportsSayWhichPrecisionProfileSetTheWidths) {
  TempDir scratch;
  const std::string model = test::test_data_dir() + "/cases/dnnsim-precision/models/floatnet";
  const std::string json_path = scratch.file("r.json"), csv_path = scratch.file("r.csv");
  const CliRun r = run_laconic({"profile", model, "--json", json_path, "--csv", csv_path, "--engine", "cpu"}, scratch);
  ASSERT_EQ(r.status, 0) << r.describe();
  const std::string expected = "precision.txt: " + model + "/precision.txt";
  EXPECT_TRUE(contains(r.out, "Precisions: " + expected)) << r.describe();
  EXPECT_EQ(json::parse(read_text(json_path))["config"]["precision_profile"], expected);
  const auto rows = lines_of(read_text(csv_path));
  ASSERT_GE(rows.size(), 2u);
  EXPECT_TRUE(rows[1].size() >= expected.size() && rows[1].substr(rows[1].size() - expected.size()) == expected)
      << rows[1];
}

TEST(CliSynth, Errors) {
  TempDir scratch;
  const CliRun unknown = run_laconic({"synth", "lenet", "--out", scratch.file("x")}, scratch);
  EXPECT_STATUS(unknown, 2);  // bad usage, like an unknown encoding
  EXPECT_TRUE(contains(unknown.err, "error: synth: unknown architecture 'lenet'") && contains(unknown.err, "tiny"))
      << unknown.describe();
  const CliRun near = run_laconic({"synth", "resnet5", "--out", scratch.file("x")}, scratch);
  EXPECT_STATUS(near, 2);
  EXPECT_TRUE(contains(near.err, "(did you mean 'resnet50'?)")) << near.describe();
  const CliRun fraction = run_laconic({"synth", "tiny", "--out", scratch.file("x"), "--zero-fraction", "1.5"}, scratch);
  EXPECT_STATUS(fraction, 2);
  EXPECT_TRUE(contains(fraction.err, "--zero-fraction must be a fraction between 0 and 1, not '1.5'"))
      << fraction.describe();
  const CliRun no_out = run_laconic({"synth", "tiny"}, scratch);
  EXPECT_STATUS(no_out, 2);
  EXPECT_TRUE(contains(no_out.err, "--out")) << no_out.describe();
  const CliRun no_arch = run_laconic({"synth", "--out", scratch.file("y")}, scratch);
  EXPECT_STATUS(no_arch, 2);
}

}  // namespace
}  // namespace laconic
