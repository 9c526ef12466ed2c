// Determinism: the same input gives byte-identical JSON and CSV reports
// across runs, thread counts and engines. The only field that may differ is
// the one the README documents as run-specific: the JSON's "engine" (which
// engine computed the numbers); the reports hold no times or host names.
// The test strips exactly that field, nothing else. Inputs: the bundled
// datasets/tiny and a synthetic layer set written here (grouped and strided
// convolutions with uneven padding, float traces quantized linearly and in
// fixed point, an fc layer, activations split over two files, 6 samples so
// that the cpu engine splits samples across threads as well as within one).
// The cuda engine joins in wherever a usable device answers.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "laconic/device.hpp"
#include "laconic/npy.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

using test::contains;
using test::read_text;
using test::run_cli;
using test::TempDir;

// The fields of the reports the README documents as run-specific.
const std::vector<std::string> kRunSpecificJsonFields = {"engine"};

struct Reports {
  std::string json, csv, markdown;
};

// The JSON without its run-specific fields: each must appear exactly once,
// as a top-level line `  "field": "...",`, and only that line is removed.
std::string strip_run_specific(const std::string& json_text) {
  std::string out = json_text;
  for (const std::string& field : kRunSpecificJsonFields) {
    const std::string start = "\n  \"" + field + "\": \"";
    const auto at = out.find(start);
    const auto end = at == std::string::npos ? at : out.find("\",\n", at + start.size());
    EXPECT_TRUE(at != std::string::npos && end != std::string::npos &&
                out.find('\n', at + 1) == end + 2 && out.find(start, at + 1) == std::string::npos)
        << "run-specific field \"" << field << "\" should be one top-level line";
    if (at != std::string::npos && end != std::string::npos) out.erase(at, end + 2 - at);
  }
  return out;
}

// The Markdown with the engine's name, which it gives once, as `?`.
std::string without_engine_name(std::string markdown) {
  const std::string start = "Engine `";
  const auto at = markdown.find(start);
  EXPECT_NE(at, std::string::npos) << markdown.substr(0, 300);
  if (at != std::string::npos) {
    const auto end = markdown.find('`', at + start.size());
    markdown.replace(at + start.size(), end - at - start.size(), "?");
  }
  return markdown;
}

std::string npy_of(DType dtype, const std::vector<std::uint64_t>& shape, const std::vector<double>& values,
                   const std::string& path) {
  const std::vector<unsigned char> bytes = test::encode(dtype, values);
  write_npy(path, dtype, shape, bytes.data());
  return path;
}

std::vector<double> random_values(std::size_t n, int lo, int hi, double zero_fraction, std::uint32_t seed,
                                  double scale = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(lo, hi);
  std::bernoulli_distribution zero(zero_fraction);
  std::vector<double> v(n);
  for (auto& x : v) x = zero(rng) ? 0.0 : value(rng) * scale;
  return v;
}

// The synthetic layer set; returns its manifest.
std::string write_synthetic_set(const TempDir& dir) {
  // conv: 6 channels in 2 groups, stride (2, 1), padding 1/0/2/1, i2.
  npy_of(DType::i2, {3, 6, 9, 7}, random_values(3 * 6 * 9 * 7, 0, 3000, 0.5, 1), dir.file("g.act.0.npy"));
  npy_of(DType::i2, {3, 6, 9, 7}, random_values(3 * 6 * 9 * 7, 0, 3000, 0.5, 2), dir.file("g.act.1.npy"));
  npy_of(DType::i2, {4, 3, 3, 2}, random_values(4 * 3 * 3 * 2, -500, 500, 0.1, 3), dir.file("g.w.npy"));
  // depthwise: float traces, linear activations, fixed-point weights.
  npy_of(DType::f4, {6, 8, 6, 6}, random_values(6 * 8 * 6 * 6, 0, 1000, 0.4, 4, 0.013), dir.file("d.act.npy"));
  npy_of(DType::f8, {8, 1, 3, 3}, random_values(8 * 9, -300, 300, 0.0, 5, 0.0107), dir.file("d.w.npy"));
  // fc: u1 activations (N, C, H, W) flattened to 40 features, i1 weights.
  npy_of(DType::u1, {6, 10, 2, 2}, random_values(6 * 40, 0, 255, 0.3, 6), dir.file("f.act.npy"));
  npy_of(DType::i1, {10, 40}, random_values(400, -128, 127, 0.05, 7), dir.file("f.w.npy"));
  const std::string manifest = dir.file("manifest.json");
  test::write_bytes(manifest, R"({"network": "determinism", "source": "seeded random values", "layers": [
    {"name": "grouped", "type": "conv", "stride": [2, 1], "groups": 2,
     "padding": {"top": 1, "bottom": 0, "left": 2, "right": 1},
     "activations": {"files": ["g.act.0.npy", "g.act.1.npy"], "bits": 12, "signed": false},
     "weights": {"file": "g.w.npy", "bits": 10}},
    {"name": "depthwise", "type": "conv", "groups": 8, "padding": 1,
     "activations": {"file": "d.act.npy", "quantize": "linear", "bits": 12},
     "weights": {"file": "d.w.npy", "quantize": "fixed", "int_bits": 3, "frac_bits": 9}},
    {"name": "fc", "type": "fc", "activations": {"file": "f.act.npy"}, "weights": {"file": "f.w.npy"}}]})");
  return manifest;
}

// The engines to compare: cpu and reference everywhere, cuda where a device
// answers (the binary then has the CUDA engine or says why not).
std::vector<std::string> engines() {
  std::vector<std::string> names = {"cpu", "reference"};
  if (probe_devices().usable()) names.push_back("cuda");
  return names;
}

class Determinism : public testing::Test {
 protected:
  Reports run(const std::string& network, const std::string& engine, int threads,
              const std::vector<std::string>& extra) {
    const std::string tag = std::to_string(runs_++);
    const std::string json_path = out_.file(tag + ".json"), csv_path = out_.file(tag + ".csv");
    std::vector<std::string> args = {"profile", network, "--engine", engine, "--threads", std::to_string(threads),
                                     "--per-sample", "--json", json_path, "--csv", csv_path, "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    const test::CliResult r = run_cli(args, out_);
    EXPECT_EQ(r.status, 0) << r.describe();
    Reports reports{read_text(json_path), read_text(csv_path), r.out};
    EXPECT_FALSE(reports.json.empty() || reports.csv.empty()) << r.describe();
    reports.markdown = without_engine_name(reports.markdown);
    return reports;
  }

  // Every engine and thread count, and a repeated run, give the same bytes.
  void check_network(const std::string& network, const std::vector<std::string>& extra) {
    const Reports first = run(network, "cpu", 1, extra);
    ASSERT_TRUE(contains(first.json, "\"engine\": \"cpu\"")) << first.json.substr(0, 300);
    const std::string stripped = strip_run_specific(first.json);
    struct Variant {
      std::string engine;
      int threads;
    };
    std::vector<Variant> variants = {{"cpu", 1}, {"cpu", 2}, {"cpu", 3}, {"cpu", 2}};
    for (const std::string& engine : engines())
      if (engine != "cpu")
        for (int threads : {1, 2}) variants.push_back({engine, threads});
    for (const Variant& v : variants) {
      const Reports other = run(network, v.engine, v.threads, extra);
      const std::string what = network + " on " + v.engine + " with " + std::to_string(v.threads) + " thread(s)";
      EXPECT_TRUE(contains(other.json, "\"engine\": \"" + v.engine + "\"")) << what;
      EXPECT_EQ(other.csv, first.csv) << "CSV differs: " << what;
      EXPECT_EQ(strip_run_specific(other.json), stripped) << "JSON differs beyond \"engine\": " << what;
      EXPECT_EQ(other.markdown, first.markdown) << "Markdown differs beyond the engine's name: " << what;
    }
  }

  TempDir out_;
  int runs_ = 0;
};

TEST_F(Determinism, BundledTinyNetwork) {
  check_network(test::source_dir() + "/datasets/tiny/manifest.json", {});
}

TEST_F(Determinism, SyntheticLayerSet) {
  TempDir data;
  const std::string manifest = write_synthetic_set(data);
  check_network(manifest, {});
  check_network(manifest, {"--encoding", "naf", "--tiles", "2", "--rows", "3", "--columns", "5", "--lanes", "3"});
  // Each accelerator at its own geometry and options (MODEL.md §8, §9).
  check_network(manifest, {"--preset", "equal", "--encoding", "dnnsim-booth"});
  check_network(manifest, {"--geometry", "baseline=2,3,1,4", "--geometry", "laconic=3,2,4,5", "--geometry",
                           "pragmatic=1,4,3,2", "--shifter-bits", "1", "--column-registers", "all=2"});
}

// A configuration file and the options that say the same give the same
// bytes: reports hold the settings, not where they came from. (On the
// reference engine, whose cycles follow MODEL.md §8 and §9 literally.)
TEST_F(Determinism, ConfigurationFileAndOptionsAgree) {
  TempDir data;
  const std::string manifest = write_synthetic_set(data);
  const std::string config = data.file("config.json");
  test::write_bytes(config, R"({"preset": "equal", "encoding": "naf", "baseline_width": 12,
    "geometry": {"all": [2, 3, 4, 5], "baseline": {"columns": 1}},
    "shifter_bits": "inf", "column_registers": {"all": 1}, "depthwise": "diagonal", "fold_first_layer": true})");
  const Reports from_file = run(manifest, "cpu", 1, {"--config", config});
  const Reports from_options =
      run(manifest, "cpu", 1,
          {"--preset", "equal", "--encoding", "naf", "--baseline-width", "12", "--geometry", "all=2,3,4,5", "--geometry",
           "baseline=2,3,1,5", "--shifter-bits", "inf", "--column-registers", "all=1", "--depthwise", "diagonal",
           "--fold-first-layer", "on"});
  EXPECT_EQ(from_file.json, from_options.json);
  EXPECT_EQ(from_file.csv, from_options.csv);
  EXPECT_EQ(from_file.markdown, from_options.markdown);
  EXPECT_TRUE(contains(from_file.json, "\"shifter_bits\": null")) << from_file.json.substr(0, 1500);
}

TEST_F(Determinism, CudaEngineWhereADeviceAnswers) {
  if (!probe_devices().usable()) GTEST_SKIP() << "no usable CUDA device: " << probe_devices().describe();
  TempDir data;
  const std::string manifest = write_synthetic_set(data);
  const Reports cpu = run(manifest, "cpu", 2, {"--encoding", "binary"});
  const Reports cuda = run(manifest, "cuda", 2, {"--encoding", "binary"});
  EXPECT_EQ(cuda.csv, cpu.csv);
  EXPECT_EQ(strip_run_specific(cuda.json), strip_run_specific(cpu.json));
}

// The README says which fields are run-specific; this test strips exactly
// those, so the two must agree.
TEST(DeterminismDocs, ReadmeNamesTheRunSpecificFields) {
  const std::string readme = read_text(test::source_dir() + "/README.md");
  ASSERT_TRUE(contains(readme, "run-specific")) << "README.md no longer says which report fields are run-specific";
  for (const std::string& field : kRunSpecificJsonFields)
    EXPECT_TRUE(contains(readme, "`" + field + "` is the only run-specific field"))
        << "README.md should document \"" << field << "\" as run-specific";
}

}  // namespace
}  // namespace laconic
