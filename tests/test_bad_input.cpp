// The bad-input suite: one CLI-level test per failure a user meets, each run
// as the user runs it (the built `laconic profile` with --json and --csv).
// Every case asserts
//   - the exit status (1 bad input or a failed run, 2 bad usage),
//   - the message: the phrases that say what is wrong and where,
//   - that no report appears where there was none, that reports of an
//     earlier run are left byte for byte as they were, that no temporary
//     file is left beside the reports or the inputs, and that no Markdown
//     report is printed.
// The parsers' own tests (test_npy, test_manifest, test_quantize) cover the
// same failures call by call; this suite checks what reaches the user.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "laconic/npy.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::contains;
using test::listing;
using test::read_text;
using test::run_cli;
using test::TempDir;
using test::write_bytes;

const std::string kPreviousReport = "a report from an earlier run\n";

// The .npy bytes write_npy produces for `values` of `dtype` and `shape`.
std::string npy_bytes(const TempDir& scratch, DType dtype, const std::vector<std::uint64_t>& shape,
                      const std::vector<double>& values) {
  const std::string path = scratch.file(".npy-bytes.npy");
  const std::vector<unsigned char> data = test::encode(dtype, values);
  write_npy(path, dtype, shape, data.empty() ? nullptr : data.data());
  std::string bytes = read_text(path);
  fs::remove(path);
  return bytes;
}

std::vector<double> count_up(std::size_t n, int modulo = 7) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(static_cast<int>(i % modulo) - modulo / 2);
  return v;
}

void replace_once(std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << "no \"" << from << "\" in the bytes";
  text.replace(at, from.size(), to);
}

class BadInput : public testing::Test {
 protected:
  // A valid two-layer network: conv (2 samples of 4x5x5, 4 filters 3x3,
  // padding 1) and fc (2 samples of 8 features, 3 filters), i2 traces.
  void SetUp() override {
    write("a.npy", npy_bytes(dir_, DType::i2, {2, 4, 5, 5}, count_up(200)));
    write("w.npy", npy_bytes(dir_, DType::i2, {4, 4, 3, 3}, count_up(144)));
    write("fa.npy", npy_bytes(dir_, DType::i2, {2, 8}, count_up(16)));
    write("fw.npy", npy_bytes(dir_, DType::i2, {3, 8}, count_up(24)));
    doc_ = json::parse(R"({"network": "bad-input", "layers": [
      {"name": "conv", "type": "conv", "padding": 1,
       "activations": {"file": "a.npy"}, "weights": {"file": "w.npy"}},
      {"name": "fc", "type": "fc", "activations": {"file": "fa.npy"}, "weights": {"file": "fw.npy"}}]})");
  }

  void write(const std::string& name, const std::string& bytes) { write_bytes(dir_.file(name), bytes); }
  json& conv() { return doc_["layers"][0]; }
  json& fc() { return doc_["layers"][1]; }
  std::string manifest() {
    write_bytes(dir_.file("manifest.json"), doc_.dump(1));
    return dir_.file("manifest.json");
  }

  // Runs `profile NETWORK extra... --json R --csv R -q` twice, without and
  // with reports of an earlier run in place, and checks everything the file
  // header promises. `network` defaults to the manifest as it is now.
  void expect_failure(int status, const std::vector<std::string>& phrases, std::vector<std::string> extra = {},
                      std::string network = "") {
    if (network.empty()) network = manifest();
    const std::vector<std::string> inputs_before = listing(dir_.path());
    for (const bool earlier_reports : {false, true}) {
      TempDir out;
      const std::string json_path = out.file("report.json"), csv_path = out.file("report.csv");
      if (earlier_reports) {
        write_bytes(json_path, kPreviousReport);
        write_bytes(csv_path, kPreviousReport);
      }
      const std::vector<std::string> reports_before = listing(out.path());
      std::vector<std::string> args = {"profile", network, "--json", json_path, "--csv", csv_path, "-q"};
      args.insert(args.end(), extra.begin(), extra.end());
      const test::CliResult r = run_cli(args, scratch_);
      const std::string context = (earlier_reports ? " (earlier reports in place)" : "") + r.describe();
      EXPECT_EQ(r.status, status) << context;
      for (const std::string& phrase : phrases)
        EXPECT_TRUE(contains(r.err, phrase)) << "the message lacks \"" << phrase << "\"" << context;
      EXPECT_FALSE(contains(r.err, "internal error")) << context;
      EXPECT_FALSE(contains(r.out, "# laconic profile")) << "a report was printed" << context;
      if (earlier_reports) {
        EXPECT_EQ(read_text(json_path), kPreviousReport) << "the earlier --json report changed" << context;
        EXPECT_EQ(read_text(csv_path), kPreviousReport) << "the earlier --csv report changed" << context;
      }
      EXPECT_EQ(listing(out.path()), reports_before) << "files appeared or vanished beside the reports" << context;
      EXPECT_EQ(listing(dir_.path()), inputs_before) << "files appeared or vanished beside the inputs" << context;
    }
  }

  TempDir dir_;      // the network's files
  TempDir scratch_;  // the CLI's captured output
  json doc_;
};

TEST_F(BadInput, TheBaseNetworkIsValid) {
  TempDir out;
  const test::CliResult r =
      run_cli({"profile", manifest(), "--json", out.file("r.json"), "--csv", out.file("r.csv"), "-q"}, scratch_);
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(fs::exists(out.file("r.json")) && fs::exists(out.file("r.csv")));
}

// --- Files that are not there or cannot be read ---------------------------

TEST_F(BadInput, MissingManifest) {
  const std::string missing = dir_.file("no-such-manifest.json");
  expect_failure(1, {missing, "no such file"}, {}, missing);
}

TEST_F(BadInput, MissingTraceFile) {
  conv()["activations"]["file"] = "gone.npy";
  expect_failure(1, {dir_.file("manifest.json"), "layer 'conv'", "activations", dir_.file("gone.npy"),
                     "cannot open", "No such file"});
}

TEST_F(BadInput, MissingDnnsimTraces) {
  fs::create_directories(dir_.path() / "models" / "net");
  write("models/net/model.csv", "conv,conv,1,1\n");
  expect_failure(1, {"traces directory", "does not exist"}, {}, dir_.file("models/net"));
}

TEST_F(BadInput, UnreadableTraceFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  ASSERT_EQ(::chmod(dir_.file("w.npy").c_str(), 0), 0);
  expect_failure(1, {"layer 'conv'", "weights", dir_.file("w.npy"), "cannot open", "Permission denied"});
}

TEST_F(BadInput, UnreadableManifest) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  const std::string path = manifest();
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  expect_failure(1, {path, "cannot be read"}, {}, path);
}

TEST_F(BadInput, TraceThatIsNotARegularFile) {
  fs::create_directory(dir_.file("dir.npy"));
  conv()["weights"]["file"] = "dir.npy";
  expect_failure(1, {"layer 'conv'", dir_.file("dir.npy"), "is a directory, not a .npy file"});
  ASSERT_EQ(::mkfifo(dir_.file("fifo.npy").c_str(), 0600), 0);
  conv()["weights"]["file"] = "fifo.npy";
  expect_failure(1, {"layer 'conv'", dir_.file("fifo.npy"), "not a regular file"});
}

// --- .npy files whose bytes are wrong --------------------------------------

TEST_F(BadInput, TruncatedData) {
  std::string bytes = read_text(dir_.file("a.npy"));
  write("a.npy", bytes.substr(0, bytes.size() - 7));
  expect_failure(1, {"layer 'conv'", dir_.file("a.npy"), "truncated", "header promises 400 bytes", "file has 393"});
}

TEST_F(BadInput, EmptyFile) {
  write("a.npy", "");
  expect_failure(1, {dir_.file("a.npy"), "empty file (0 bytes)"});
}

TEST_F(BadInput, HeaderLengthBeyondTheFile) {
  std::string bytes = read_text(dir_.file("w.npy"));
  bytes[8] = '\xff';
  bytes[9] = '\xff';
  write("w.npy", bytes);
  expect_failure(1, {dir_.file("w.npy"), "header length field says 65535 bytes"});
}

TEST_F(BadInput, HeaderShapeLargerThanTheData) {
  // The header says 3 samples; the file holds 2.
  std::string bytes = read_text(dir_.file("a.npy"));
  replace_once(bytes, "(2, 4, 5, 5)", "(3, 4, 5, 5)");
  write("a.npy", bytes);
  expect_failure(1, {dir_.file("a.npy"), "truncated: header promises 600 bytes", "(3, 4, 5, 5)", "file has 400"});
}

TEST_F(BadInput, HeaderShapeSmallerThanTheData) {
  // The header says 1 sample; the file holds 2: not silently half the data.
  std::string bytes = read_text(dir_.file("a.npy"));
  replace_once(bytes, "(2, 4, 5, 5)", "(1, 4, 5, 5)");
  write("a.npy", bytes);
  expect_failure(1, {dir_.file("a.npy"), "200 bytes after the 200 bytes of data the header describes"});
}

TEST_F(BadInput, NotANpyFile) {
  write("a.npy", "conv1,conv,1,1\n");
  expect_failure(1, {dir_.file("a.npy"), "not a .npy file (bad magic)"});
}

TEST_F(BadInput, UnsupportedDtypes) {
  // Every numeric dtype is read (test_npy, test_inputs); complex numbers,
  // strings and dates are not numbers a layer computes with.
  const std::string original = read_text(dir_.file("w.npy"));
  for (const std::string descr : {"<c8", "<c16", "|S2", "<M8[s]"}) {
    std::string bytes = original;
    replace_once(bytes, "'<i2'", "'" + descr + "'");
    write("w.npy", bytes);
    expect_failure(1, {dir_.file("w.npy"), "unsupported dtype '" + descr + "'", "supported: b1, i1, u1, i2, u2"});
  }
}

// --- Shapes and parameters that do not make a layer ------------------------

TEST_F(BadInput, ActivationAndWeightShapesDoNotFit) {
  write("w3.npy", npy_bytes(dir_, DType::i2, {4, 3, 3, 3}, count_up(108)));
  conv()["weights"]["file"] = "w3.npy";
  expect_failure(1, {"layer 'conv'", "do not fit", "(4, 3, 3, 3)", "(4, 5, 5)"});
}

TEST_F(BadInput, FcFeaturesDoNotFit) {
  write("fw7.npy", npy_bytes(dir_, DType::i2, {3, 7}, count_up(21)));
  fc()["weights"]["file"] = "fw7.npy";
  expect_failure(1, {"layer 'fc'", "8 features per sample", "(3, 7)", "expect 7"});
}

TEST_F(BadInput, KernelLargerThanThePaddedInputGivesNoOutput) {
  write("w7.npy", npy_bytes(dir_, DType::i2, {4, 4, 7, 7}, count_up(784)));
  conv()["weights"]["file"] = "w7.npy";
  conv()["padding"] = 0;
  expect_failure(1, {"layer 'conv'", "kernel is larger than the padded input, so the layer has no output"});
}

TEST_F(BadInput, StrideThatIsNotAStride) {
  conv()["stride"] = 0;
  expect_failure(1, {"layer 'conv'", "the stride must be positive"});
  conv()["stride"] = {1, -2};
  expect_failure(1, {"layer 'conv'", "stride[1] must not be negative"});
}

TEST_F(BadInput, PaddingTooLargeForSixtyFourBits) {
  conv()["padding"] = 4611686018427387904LL;  // 2^62: the padded height would overflow
  expect_failure(1, {"layer 'conv'", "the padding must be at most 2^31 - 1"});
}

TEST_F(BadInput, GroupsThatDoNotDivideTheChannels) {
  write("w_g3.npy", npy_bytes(dir_, DType::i2, {3, 1, 3, 3}, count_up(27)));
  conv()["weights"]["file"] = "w_g3.npy";
  conv()["groups"] = 3;
  expect_failure(1, {"layer 'conv'", "groups 3 does not divide the 4 input channels"});
  // 4 channels in 2 groups, but 3 filters cannot be split in two.
  write("w_k3.npy", npy_bytes(dir_, DType::i2, {3, 2, 3, 3}, count_up(54)));
  conv()["weights"]["file"] = "w_k3.npy";
  conv()["groups"] = 2;
  expect_failure(1, {"layer 'conv'", "groups (2) must divide the filters (3)"});
}

TEST_F(BadInput, EmptyLayerList) {
  doc_["layers"] = json::array();
  expect_failure(1, {dir_.file("manifest.json"), "the list of layers is empty"});
  fs::create_directories(dir_.path() / "models" / "net");
  fs::create_directories(dir_.path() / "net_traces" / "net");
  write("models/net/model.csv", "# only a comment\n\n");
  expect_failure(1, {"model.csv", "lists no layers"}, {}, dir_.file("models/net"));
}

TEST_F(BadInput, DuplicateLayerNames) {
  fc()["name"] = "conv";
  expect_failure(1, {dir_.file("manifest.json"), "layer 'conv'", "used by an earlier layer"});
}

TEST_F(BadInput, FixedPointWidthsBeyondThirtyTwoBits) {
  // 2^32 + 4 must not be read as 4 (a silently narrowed width).
  write("f.npy", npy_bytes(dir_, DType::f4, {2, 4, 5, 5}, count_up(200)));
  conv()["activations"] = {{"file", "f.npy"}, {"quantize", "fixed"}, {"int_bits", 4294967300LL}, {"frac_bits", 8}};
  expect_failure(1, {"layer 'conv'", "int_bits must be between 0 and 32, not 4294967300"});
}

// --- Values --------------------------------------------------------------

TEST_F(BadInput, NaNAndInfinitiesInFloatTraces) {
  std::vector<double> values = count_up(200);
  values[1 * 100 + 2 * 25 + 3 * 5 + 4] = std::numeric_limits<double>::quiet_NaN();  // element (1, 2, 3, 4)
  write("f.npy", npy_bytes(dir_, DType::f4, {2, 4, 5, 5}, values));
  conv()["activations"] = {{"file", "f.npy"}, {"quantize", "fixed"}, {"int_bits", 8}, {"frac_bits", 4}};
  // Every value error names the manifest and the layer as well as the file
  // and the element.
  expect_failure(1, {dir_.file("manifest.json"), "layer 'conv'", dir_.file("f.npy"),
                     "element (1, 2, 3, 4) = nan is not a finite number"});
  conv()["activations"] = {{"file", "f.npy"}, {"quantize", "integral"}};
  expect_failure(1, {dir_.file("manifest.json"), "layer 'conv'", dir_.file("f.npy"),
                     "element (1, 2, 3, 4) = nan is not a finite number"});
  values[1 * 100 + 2 * 25 + 3 * 5 + 4] = -std::numeric_limits<double>::infinity();
  write("f.npy", npy_bytes(dir_, DType::f8, {2, 4, 5, 5}, values));
  conv()["activations"] = {{"file", "f.npy"}, {"quantize", "linear"}, {"bits", 8}};
  expect_failure(1, {dir_.file("manifest.json"), "layer 'conv'", dir_.file("f.npy"), "element (1, 2, 3, 4) is -inf",
                     "must be finite to be quantized"});
}

TEST_F(BadInput, ValueOutsideTheDeclaredWidth) {
  // The second layer fails after the first was profiled: a run that fails
  // part way writes nothing either.
  std::vector<double> values = count_up(16);
  values[13] = 100;  // element (1, 5) of (2, 8)
  write("fa.npy", npy_bytes(dir_, DType::i2, {2, 8}, values));
  fc()["activations"]["bits"] = 6;
  expect_failure(1, {dir_.file("manifest.json"), "layer 'fc'", dir_.file("fa.npy"),
                     "element (1, 5) = 100 is outside the declared 6-bit signed range -32..31"});
  expect_failure(1, {dir_.file("manifest.json"), "layer 'fc'", "element (1, 5) = 100"},
                 {"--engine", "reference", "--threads", "1"});
}

TEST_F(BadInput, FractionInAnIntegralTrace) {
  std::vector<double> values = count_up(144);
  values[5] = 0.5;
  write("wf.npy", npy_bytes(dir_, DType::f4, {4, 4, 3, 3}, values));
  conv()["weights"] = {{"file", "wf.npy"}, {"quantize", "integral"}};
  expect_failure(1, {dir_.file("manifest.json"), "layer 'conv'", dir_.file("wf.npy"),
                     "element (0, 0, 1, 2) = 0.5 is not an integer"});
}

// --- Options ---------------------------------------------------------------

TEST_F(BadInput, UnknownOptionValuesAreUsageErrors) {
  expect_failure(2, {"--engine must be auto, cuda, cpu or reference, not 'gpu'"}, {"--engine", "gpu"});
  expect_failure(2, {"--encoding must be binary, booth, naf or dnnsim-booth, not 'csd'"}, {"--encoding", "csd"});
  expect_failure(2, {"--lanes must be a positive whole number, not 0"}, {"--lanes", "0"});
  expect_failure(2, {"--threads must be a positive whole number, not 'lots'"}, {"--threads", "lots"});
  expect_failure(2, {"--baseline-width"}, {"--baseline-width", "64"});
  expect_failure(2, {"bogus"}, {"--bogus"});
  expect_failure(1, {"--layers", "no layer 'conv9'", "conv, fc"}, {"--layers", "conv9"});
}

// The accelerators' settings (MODEL.md §8, §9): every bad value is a usage
// error naming the option, found before anything is read or written.
TEST_F(BadInput, BadAcceleratorSettingsAreUsageErrors) {
  expect_failure(2, {"--preset must be dnnsim or equal, not 'dadiannao'"}, {"--preset", "dadiannao"});
  expect_failure(2, {"--geometry pragmatc=16,16,16,16: 'pragmatc' is not an accelerator (did you mean 'pragmatic'?)"},
                 {"--geometry", "pragmatc=16,16,16,16"});
  expect_failure(2, {"--geometry laconic=16,16: expected ACCELERATOR=T,Rt,Ct,L"}, {"--geometry", "laconic=16,16"});
  expect_failure(2, {"--geometry all=16,0,16,16: rows Rt must be a positive number, not 0"},
                 {"--geometry", "all=16,0,16,16"});
  expect_failure(2, {"--shifter-bits: the first-stage shifter bits B must be between 0 and 31 or inf, not 99"},
                 {"--shifter-bits", "99"});
  expect_failure(2, {"--column-registers stripes=1: column registers of stripes: only pragmatic and laconic have them",
                     "MODEL.md §8"},
                 {"--column-registers", "stripes=1"});
  expect_failure(2, {"--column-registers baseline=1: column registers of baseline: only pragmatic and laconic"},
                 {"--column-registers", "baseline=1"});
  expect_failure(2, {"--depthwise must be per-group or diagonal, not 'grouped'"}, {"--depthwise", "grouped"});
  expect_failure(2, {"--fold-first-layer must be on or off, not 'true'"}, {"--fold-first-layer", "true"});
  expect_failure(2, {"--columns must be a positive whole number, not 0"}, {"--columns", "0"});
}

// A bad configuration file is bad input: exit 1, the file and the key named.
TEST_F(BadInput, BadConfigurationFile) {
  const std::string config = dir_.file("sweep.json");
  write("sweep.json", R"({"geometry": {"laconic": [16, 16, 16, 16]}, "shifter_bit": 2})");
  expect_failure(1, {config + ": unknown key 'shifter_bit' (did you mean 'shifter_bits'?)"}, {"--config", config});
  write("sweep.json", R"({"column_registers": {"baseline": 2}})");
  expect_failure(1, {config + ": column_registers.baseline: column registers of baseline: only pragmatic and laconic"},
                 {"--config", config});
  write("sweep.json", R"({"geometry": {"stripes": [16, 16, 16, 0]}})");
  expect_failure(1, {config + ": geometry.stripes[3]: lanes L must be a positive number, not 0"}, {"--config", config});
  write("sweep.json", R"({"preset": "equal",)");
  expect_failure(1, {config + ": not valid JSON"}, {"--config", config});
  expect_failure(1, {dir_.file("none.json") + ": no such configuration file"}, {"--config", dir_.file("none.json")});
  write("sweep.json", R"({"preset": "equal"})");
  expect_failure(2, {"--preset dnnsim and the configuration file " + config + " (\"preset\": \"equal\") name different presets"},
                 {"--config", config, "--preset", "dnnsim"});
}

// --- Reports that cannot be written ---------------------------------------

TEST_F(BadInput, ReportPathsThatCannotBeWritten) {
  const std::string network = manifest();
  TempDir out;
  const std::string good_json = out.file("good.json");
  struct Case {
    std::string option, path, phrase;
  } cases[] = {
      {"--csv", out.file("no-such-dir/r.csv"), "does not exist"},
      {"--csv", out.path().string(), "is a directory"},
      // Creating a file in /proc fails even for root (who passes the early
      // writability check): the late failure must not leave the --json.
      {"--csv", "/proc/laconic-bad-input.csv", "/proc"},
  };
  for (const Case& c : cases) {
    for (const bool earlier_report : {false, true}) {
      if (earlier_report) {
        write_bytes(good_json, kPreviousReport);
      } else {
        fs::remove(good_json);
      }
      const std::vector<std::string> before = listing(out.path());
      const test::CliResult r = run_cli({"profile", network, "--json", good_json, c.option, c.path, "-q"}, scratch_);
      EXPECT_EQ(r.status, 1) << r.describe();
      EXPECT_TRUE(contains(r.err, c.option) || contains(r.err, c.path)) << r.describe();
      EXPECT_TRUE(contains(r.err, c.phrase)) << r.describe();
      EXPECT_FALSE(contains(r.out, "# laconic profile")) << r.describe();
      if (earlier_report) {
        EXPECT_EQ(read_text(good_json), kPreviousReport) << r.describe();
      }
      EXPECT_EQ(listing(out.path()), before) << r.describe();
    }
  }
  EXPECT_FALSE(fs::exists("/proc/laconic-bad-input.csv"));
}

// A report path that is a FIFO (or /dev/stdout, a device) would be replaced
// by the rename into place; it is refused before the run.
TEST_F(BadInput, ReportPathThatIsNotARegularFile) {
  TempDir out;
  const std::string fifo = out.file("r.json");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const test::CliResult r = run_cli({"profile", manifest(), "--json", fifo, "-q"}, scratch_);
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "--json " + fifo + ": is not a regular file")) << r.describe();
  struct stat info {};
  ASSERT_EQ(::lstat(fifo.c_str(), &info), 0);
  EXPECT_TRUE(S_ISFIFO(info.st_mode)) << "the FIFO was replaced";
  EXPECT_EQ(listing(out.path()), (std::vector<std::string>{"r.json"})) << r.describe();
}

// `laconic compare` writes its two outputs the same way: both or neither.
TEST_F(BadInput, CompareOutputsThatCannotBeWritten) {
  TempDir out;
  const std::string report = out.file("a.json");
  ASSERT_EQ(run_cli({"profile", manifest(), "--json", report, "-q"}, scratch_).status, 0);
  const std::string good_json = out.file("cmp.json");
  write_bytes(good_json, kPreviousReport);
  const test::CliResult r =
      run_cli({"compare", report, report, "--json", good_json, "--csv", "/proc/laconic-bad-input.csv"}, scratch_);
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "/proc")) << r.describe();
  EXPECT_EQ(read_text(good_json), kPreviousReport) << r.describe();
  EXPECT_EQ(listing(out.path()), (std::vector<std::string>{"a.json", "cmp.json"})) << r.describe();
}

TEST_F(BadInput, ReportInAReadOnlyDirectory) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
  TempDir out;
  ASSERT_EQ(::chmod(out.path().c_str(), 0555), 0);
  const test::CliResult r = run_cli({"profile", manifest(), "--json", out.file("r.json"), "-q"}, scratch_);
  ::chmod(out.path().c_str(), 0755);
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "--json") && contains(r.err, "is not writable")) << r.describe();
  EXPECT_TRUE(listing(out.path()).empty()) << r.describe();
}

// DNNsim batches are numbered; two files of one number would count its
// samples twice.
TEST_F(BadInput, DnnsimBatchGivenTwice) {
  const fs::path traces = dir_.path() / "net_traces" / "net";
  fs::create_directories(dir_.path() / "models" / "net");
  fs::create_directories(traces);
  write("models/net/model.csv", "conv,conv,1,1\n");
  fs::copy_file(dir_.file("w.npy"), traces / "wgt-conv.npy");
  fs::copy_file(dir_.file("a.npy"), traces / "act-conv-0.npy");
  fs::copy_file(dir_.file("a.npy"), traces / "act-conv-1.npy");
  fs::copy_file(dir_.file("a.npy"), traces / "act-conv-01.npy");
  expect_failure(1, {"model.csv:1", "layer 'conv'", "act-conv-01.npy and ", "act-conv-1.npy are both batch 1"}, {},
                 dir_.file("models/net"));
}

// A DNNsim layer named in latin-1 (model.csv and file names are bytes, not
// UTF-8): the run used to finish and then fail with an "internal error" from
// the JSON writer, losing every report. JSON now holds U+FFFD for such bytes.
TEST_F(BadInput, NonUtf8LayerNameDoesNotLoseAFinishedRun) {
  const fs::path traces = dir_.path() / "net_traces" / "net";
  fs::create_directories(dir_.path() / "models" / "net");
  fs::create_directories(traces);
  const std::string name = "caf\xe9";
  write("models/net/model.csv", name + ",conv,1,1\n");
  fs::copy_file(dir_.file("a.npy"), traces / ("act-" + name + "-0.npy"));
  fs::copy_file(dir_.file("w.npy"), traces / ("wgt-" + name + ".npy"));
  TempDir out;
  const test::CliResult r = run_cli(
      {"profile", dir_.file("models/net"), "--json", out.file("r.json"), "--csv", out.file("r.csv"), "-q"}, scratch_);
  ASSERT_EQ(r.status, 0) << r.describe();
  const json doc = json::parse(read_text(out.file("r.json")));
  EXPECT_EQ(doc["layers"][0]["name"], "caf\xef\xbf\xbd");  // U+FFFD
  EXPECT_TRUE(contains(read_text(out.file("r.csv")), name + ",conv,layer"));
}

}  // namespace
}  // namespace laconic
