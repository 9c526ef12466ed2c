// Inputs as users have them (tests/data/cases, README there): Fortran-order
// and float16 traces, DNNsim directories with '/' in layer names and with
// DNNsim's precision.txt (MODEL.md §7a), int8 codes with zero points; each
// profiled on the reference and cpu engines against figures computed
// independently from MODEL.md. Then the manifest keys that go with them
// (zero_point, precision_profile, "dnnsim" quantization, .npz addresses) and
// what laconic says when a user points it at the wrong thing.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "laconic/engine.hpp"
#include "laconic/network.hpp"
#include "laconic/npz.hpp"
#include "laconic/profile.hpp"
#include "laconic/synth.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_text;
using test::TempDir;
using test::throws_error;
using test::write_bytes;

const fs::path kCases = fs::path(test::test_data_dir()) / "cases";

// The configuration the expected figures were computed with, stated in full
// so that they stay right whatever the defaults become: booth encoding, every
// accelerator at T = Rt = Ct = L = 16 in lockstep, per-group depthwise, no
// first-layer fold (the equal preset, MODEL.md §5 as first written), a
// 16-bit baseline.
ProfileConfig case_config() {
  ProfileConfig config = ProfileConfig::preset(Preset::equal);
  config.encoding = Encoding::booth;
  config.set_all_geometries(Geometry{16, 16, 16, 16});
  config.baseline_width = 16;
  config.compute_work = true;
  config.compute_cycles = true;
  return config;
}

// Profiles `network` on the reference and the cpu engine, which must agree,
// and returns the cpu engine's result.
NetworkResult profile(const Network& network) {
  const NetworkResult slow = profile_network(network, *make_reference_engine(), case_config(), {});
  const NetworkResult fast = profile_network(network, *make_cpu_engine(), case_config(), {});
  const auto diffs = compare_results(slow, fast);
  EXPECT_TRUE(diffs.empty()) << diffs.front();
  return fast;
}

// The cases' figures: MACs, work, and the cycles of the baseline, Stripes and
// Laconic (computed before Pragmatic had cycles).
struct CaseCycles {
  std::uint64_t baseline, stripes, laconic;
};
struct Expected {
  std::uint64_t macs;
  Work work;
  CaseCycles cycles;
};

void expect_layer(const ProfiledLayer& layer, const Expected& e) {
  SCOPED_TRACE("layer " + layer.result.name);
  const LayerResult& r = layer.result;
  EXPECT_EQ(r.macs(), e.macs);
  EXPECT_EQ(r.work().baseline, e.work.baseline);
  EXPECT_EQ(r.work().zero_skip, e.work.zero_skip);
  EXPECT_EQ(r.work().stripes, e.work.stripes);
  EXPECT_EQ(r.work().pragmatic, e.work.pragmatic);
  EXPECT_EQ(r.work().laconic, e.work.laconic);
  EXPECT_EQ(r.cycles().baseline, e.cycles.baseline);
  EXPECT_EQ(r.cycles().stripes, e.cycles.stripes);
  EXPECT_EQ(r.cycles().laconic, e.cycles.laconic);
}

// A copy of a case directory that a test may change.
fs::path copy_case(const std::string& name, const fs::path& parent) {
  fs::create_directories(parent);
  const fs::path to = parent / name;
  fs::copy(kCases / name, to, fs::copy_options::recursive);
  for (const auto& e : fs::recursive_directory_iterator(to))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  return to;
}

// ---------------------------------------------------------------------------
// The cases.

TEST(Cases, FortranOrderWeights) {
  const Network net = load_network((kCases / "fortran-order" / "manifest.json").string());
  const NetworkResult r = profile(net);
  ASSERT_EQ(r.layers.size(), 1u);
  // MACs 480; work baseline 122,880, zero_skip 121,344, stripes 61,440,
  // pragmatic 23,040, laconic 4,049; cycles baseline 4, stripes 18, laconic 34.
  expect_layer(r.layers[0], {480, {122880, 121344, 61440, 23040, 4049}, {4, 18, 34}});
}

TEST(Cases, Float16WidensToFloat32Exactly) {
  const Network net = load_network((kCases / "float16" / "manifest.json").string());
  const NetworkResult r = profile(net);
  ASSERT_EQ(r.layers.size(), 1u);
  const Work w = r.layers[0].result.work();
  EXPECT_EQ(r.layers[0].result.macs(), 5400u);
  EXPECT_EQ(w.laconic, 16579u);
  EXPECT_EQ(w.pragmatic, 91776u);
  EXPECT_EQ(w.stripes, 691200u);
  const Cycles c = r.layers[0].result.cycles();
  EXPECT_EQ(c.baseline, 18u);
  EXPECT_EQ(c.stripes, 144u);
  EXPECT_EQ(c.laconic, 304u);
}

TEST(Cases, DnnsimLayerNamesWithSlashes) {
  const Network net = load_network((kCases / "dnnsim-slash-names" / "models" / "googlenet_mini").string());
  ASSERT_EQ(net.layers.size(), 2u);
  EXPECT_EQ(net.layers[0].name, "inception_3a/1x1");  // as model.csv writes it
  EXPECT_EQ(net.layers[1].name, "inception_3a/3x3");
  const NetworkResult r = profile(net);
  EXPECT_EQ(r.layers[0].result.name, "inception_3a/1x1");
  EXPECT_EQ(r.layers[0].result.work().laconic, 17280u);
  EXPECT_EQ(r.layers[1].result.work().laconic, 118509u);
  EXPECT_EQ(r.layers[0].result.cycles().laconic, 96u);
  EXPECT_EQ(r.layers[1].result.cycles().laconic, 774u);
}

TEST(Cases, DnnsimPrecisionQuantizesRawFloatsAsDnnsimDoes) {
  const fs::path model = kCases / "dnnsim-precision" / "models" / "floatnet";
  const Network net = load_network(model.string());
  EXPECT_EQ(net.precision_profile, "precision.txt: " + (model / "precision.txt").string());
  ASSERT_EQ(net.layers.size(), 1u);
  EXPECT_EQ(net.layers[0].activation_precision.bits, 13);  // magnitude 5 + fraction 8
  EXPECT_EQ(net.layers[0].weight_precision.bits, 13);      // 1 + 12
  EXPECT_EQ(net.layers[0].activation_quantization, "precision profile 5.8 (13-bit)");
  const NetworkResult r = profile(net);
  expect_layer(r.layers[0], {12960, {3317760, 1331200, 2695680, 348800, 76026}, {54, 702, 1438}});
}

TEST(Cases, DnnsimPrecisionGivesIntegralTracesTheirWidths) {
  const Network net = load_network((kCases / "dnnsim-precision" / "models" / "intnet").string());
  EXPECT_EQ(net.layers[0].activation_precision.bits, 13);  // not 16
  const NetworkResult r = profile(net);
  // p_a = 13: stripes 12,960 · 13 · 16 = 2,695,680, cycles 702; Laconic
  // and Pragmatic as for the same values quantized from floats.
  expect_layer(r.layers[0], {12960, {3317760, 1331200, 2695680, 348800, 76026}, {54, 702, 1438}});
}

TEST(Cases, Int8CodesWithAZeroPoint) {
  const fs::path manifest = kCases / "int8-zero-point" / "manifest.json";
  const Network net = load_network(manifest.string());
  EXPECT_EQ(net.layers[0].activation_precision, (Precision{8, false}));
  EXPECT_EQ(net.layers[0].activation_quantization, "8-bit unsigned integers, code − zero point -128");
  const NetworkResult r = profile(net);
  const LayerResult& l = r.layers[0].result;
  // 201 of the 432 activations are the code -128, a real zero: 0.4653.
  EXPECT_EQ(l.activation_terms.values(), 432u);
  EXPECT_EQ(l.activation_terms.histogram[0], 201u);
  EXPECT_NEAR(l.activation_terms.zero_fraction(), 0.4653, 5e-5);
  EXPECT_EQ(l.work().zero_skip, 1644288u);
  EXPECT_EQ(l.work().pragmatic, 332736u);
  EXPECT_EQ(l.work().laconic, 65742u);
  EXPECT_EQ(l.cycles().laconic, 934u);

  // Without the zero point the codes themselves are profiled: no zeros, and
  // laconic work 99,126 (what laconic reported before zero points).
  TempDir dir;
  const fs::path copy = copy_case("int8-zero-point", dir.path());
  json doc = json::parse(read_text((copy / "manifest.json").string()));
  doc["layers"][0]["activations"] = {{"file", "act_codes.npy"}};
  doc["layers"][0]["weights"] = {{"file", "wgt.npy"}};
  write_bytes((copy / "manifest.json").string(), doc.dump());
  const NetworkResult codes = profile(load_network((copy / "manifest.json").string()));
  EXPECT_EQ(codes.layers[0].result.activation_terms.histogram[0], 0u);
  EXPECT_EQ(codes.layers[0].result.work().laconic, 99126u);
}

TEST(Cases, ZeroPointWidthDefaultsToTheShiftedCodes) {
  // Without "bits" and "signed": i1 codes less -128 are 0..255, 8-bit unsigned.
  TempDir dir;
  const fs::path copy = copy_case("int8-zero-point", dir.path());
  json doc = json::parse(read_text((copy / "manifest.json").string()));
  doc["layers"][0]["activations"].erase("bits");
  doc["layers"][0]["activations"].erase("signed");
  write_bytes((copy / "manifest.json").string(), doc.dump());
  const Network net = load_network((copy / "manifest.json").string());
  EXPECT_EQ(net.layers[0].activation_precision, (Precision{8, false}));
  EXPECT_EQ(net.layers[0].weight_precision, (Precision{8, true}));  // per-channel zero points of 0
  EXPECT_EQ(profile(net).layers[0].result.cycles().laconic, 934u);
}

// Every case read from .npz archives, stored and deflated, gives the same
// figures as from .npy files.
TEST(Cases, TheSameTracesInNpzArchives) {
  TempDir dir;
  for (const bool compress : {false, true}) {
    SCOPED_TRACE(compress ? "deflated" : "stored");
    const fs::path copy = copy_case("int8-zero-point", dir.path() / (compress ? "c" : "s"));
    std::vector<std::vector<unsigned char>> data;
    std::vector<NpzEntry> entries;
    for (const char* name : {"act_codes", "wgt"}) {
      const NpyArray a = NpyArray::open((copy / (std::string(name) + ".npy")).string());
      data.emplace_back(a.header().data_bytes());
      a.read(0, a.size(), data.back().data());
      entries.push_back(NpzEntry{name, a.dtype(), a.shape(), data.back().data()});
    }
    write_npz((copy / "traces.npz").string(), entries, compress);
    json doc = json::parse(read_text((copy / "manifest.json").string()));
    doc["layers"][0]["activations"]["file"] = "traces.npz:act_codes";
    doc["layers"][0]["weights"]["file"] = "traces.npz:wgt";
    write_bytes((copy / "manifest.json").string(), doc.dump());
    const NetworkResult r = profile(load_network((copy / "manifest.json").string()));
    EXPECT_EQ(r.layers[0].result.work().laconic, 65742u);
    EXPECT_EQ(r.layers[0].result.cycles().laconic, 934u);
  }
}

// ---------------------------------------------------------------------------
// DNNsim directories: precision.txt and its errors.

TEST(DnnsimPrecision, RawFloatsWithoutPrecisionTxtSayWhatToAdd) {
  TempDir dir;
  const fs::path root = copy_case("dnnsim-precision", dir.path());
  const fs::path model = root / "models" / "floatnet";
  fs::remove(model / "precision.txt");
  const Network net = load_network(model.string());
  EXPECT_TRUE(net.precision_profile.empty());
  EXPECT_TRUE(throws_error([&] { profile_network(net, *make_cpu_engine(), case_config(), {}); },
                           {"wgt-conv1.npy", "is not an integer: raw float DNNsim traces need each layer's precision",
                            "add " + (model / "precision.txt").string(), "MODEL.md §7a", "or profile them through a manifest"}));
}

TEST(DnnsimPrecision, MalformedFilesAreErrorsNamingTheLine) {
  TempDir dir;
  const fs::path root = copy_case("dnnsim-precision", dir.path());
  const fs::path model = root / "models" / "floatnet";
  const std::string txt = (model / "precision.txt").string();
  const std::string header = "magnitude (+1 of the sign), fraction, wgt_magnitude, wgt_fraction\n";
  struct Case {
    std::string text;
    std::vector<std::string> phrases;
  } cases[] = {
      {header + "5;3;\n8;\n1;\n12;\n", {txt + ":2:", "2 value(s) of activation magnitude bits", "lists 1 layer(s)"}},
      {header + "5;\n8;\n1;\n", {txt, "has 4 lines", "DNNsim's precision.txt has 5"}},
      {header + "5;\nx;\n1;\n12;\n", {txt + ":3:", "'x'", "activation fraction bits", "not a number of bits"}},
      {header + "5;\n-1;\n1;\n12;\n", {txt + ":3:", "'-1'"}},
      {header + "20;\n20;\n1;\n12;\n", {txt, "layer 1's activation magnitude + fraction bits are 40"}},
      {header + "0;\n0;\n1;\n12;\n", {txt, "are 0; laconic profiles 1 to 32 bits"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    write_bytes(txt, c.text);
    EXPECT_TRUE(throws_error([&] { load_network(model.string()); }, c.phrases));
  }
  // Windows line ends and blank lines at the end are fine.
  write_bytes(txt, "header\r\n5;\r\n8;\r\n1;\r\n12;\r\n\r\n\n");
  EXPECT_EQ(load_network(model.string()).layers[0].activation_precision.bits, 13);
}

TEST(DnnsimNames, AMissingSlashNamedTraceSaysHowDnnsimNamesIt) {
  TempDir dir;
  const fs::path root = copy_case("dnnsim-slash-names", dir.path());
  fs::remove(root / "net_traces" / "googlenet_mini" / "wgt-inception_3a-3x3.npy");
  EXPECT_TRUE(throws_error([&] { load_network((root / "models" / "googlenet_mini").string()); },
                           {"inception_3a/3x3", "wgt-inception_3a-3x3.npy", "do not exist",
                            "DNNsim writes '/' in a layer name as '-' in its trace files"}));
}

// ---------------------------------------------------------------------------
// The same precision profile in a manifest.

// A manifest over floatnet's traces.
json floatnet_manifest() {
  return json::parse(R"({"network": "floatnet", "layers": [{"name": "conv1", "type": "conv", "padding": 1,
      "activations": {"file": "traces/act-conv1-0.npy"}, "weights": {"file": "traces/wgt-conv1.npy"}}]})");
}

fs::path floatnet_dir(const TempDir& dir) {
  const fs::path root = copy_case("dnnsim-precision", dir.path());
  fs::rename(root / "net_traces" / "floatnet", dir.path() / "traces");
  fs::copy_file(root / "models" / "floatnet" / "precision.txt", dir.path() / "precision.txt");
  return dir.path();
}

TEST(ManifestPrecision, PrecisionProfileKeyReadsDnnsimsFile) {
  TempDir dir;
  const fs::path base = floatnet_dir(dir);
  json doc = floatnet_manifest();
  doc["precision_profile"] = "precision.txt";
  write_bytes((base / "m.json").string(), doc.dump());
  const Network net = load_network((base / "m.json").string());
  EXPECT_EQ(net.precision_profile, "precision.txt: " + (base / "precision.txt").string());
  expect_layer(profile(net).layers[0], {12960, {3317760, 1331200, 2695680, 348800, 76026}, {54, 702, 1438}});
}

TEST(ManifestPrecision, DnnsimQuantizationPerTensor) {
  TempDir dir;
  const fs::path base = floatnet_dir(dir);
  json doc = floatnet_manifest();
  doc["layers"][0]["activations"].update({{"quantize", "dnnsim"}, {"int_bits", 5}, {"frac_bits", 8}});
  doc["layers"][0]["weights"].update({{"quantize", "dnnsim"}, {"int_bits", 1}, {"frac_bits", 12}});
  write_bytes((base / "m.json").string(), doc.dump());
  const Network net = load_network((base / "m.json").string());
  EXPECT_TRUE(net.precision_profile.empty());
  expect_layer(profile(net).layers[0], {12960, {3317760, 1331200, 2695680, 348800, 76026}, {54, 702, 1438}});
}

TEST(ManifestPrecision, ConflictsAndBadProfiles) {
  TempDir dir;
  const fs::path base = floatnet_dir(dir);
  const std::string m = (base / "m.json").string();
  json doc = floatnet_manifest();
  doc["precision_profile"] = "precision.txt";
  doc["layers"][0]["weights"]["quantize"] = "linear";
  write_bytes(m, doc.dump());
  EXPECT_TRUE(throws_error([&] { load_network(m); },
                           {m, "layer 'conv1'", "weights.quantize and the manifest's \"precision_profile\"", "leave one out"}));
  doc = floatnet_manifest();
  doc["precision_profile"] = "none.txt";
  write_bytes(m, doc.dump());
  EXPECT_TRUE(throws_error([&] { load_network(m); }, {m, "precision_profile", "none.txt", "is not a file"}));
  doc = floatnet_manifest();
  doc["precision_profile"] = "precision.txt";
  doc["layers"].push_back(doc["layers"][0]);
  doc["layers"][1]["name"] = "conv2";
  write_bytes(m, doc.dump());
  EXPECT_TRUE(throws_error([&] { load_network(m); }, {"precision.txt:2:", "lists 2 layer(s)"}));
  doc = floatnet_manifest();
  doc["layers"][0]["activations"].update({{"quantize", "dnnsim"}, {"int_bits", 5}});
  write_bytes(m, doc.dump());
  EXPECT_TRUE(throws_error([&] { load_network(m); }, {"dnnsim quantization needs int_bits and frac_bits"}));
}

// ---------------------------------------------------------------------------
// zero_point in a manifest: its errors.

TEST(ManifestZeroPoint, Errors) {
  TempDir dir;
  const fs::path copy = copy_case("int8-zero-point", dir.path());
  const std::string m = (copy / "manifest.json").string();
  const json original = json::parse(read_text(m));
  auto fails = [&](const std::function<void(json&)>& change, const std::vector<std::string>& phrases) {
    json doc = original;
    change(doc);
    write_bytes(m, doc.dump());
    return throws_error([&] { load_network(m); }, phrases);
  };
  EXPECT_TRUE(fails([](json& d) { d["layers"][0]["activations"]["zero_point"] = {1, 2}; },
                    {"activations: a list of zero points is per output channel, for weights"}));
  EXPECT_TRUE(fails([](json& d) { d["layers"][0]["weights"]["zero_point"] = {0, 0, 0}; },
                    {"weights: 3 zero points, but", "wgt.npy has 4 output channels (first axis of (4, 6, 3, 3))"}));
  EXPECT_TRUE(fails([](json& d) { d["layers"][0]["activations"]["zero_point"] = "-128"; },
                    {"zero_point must be an integer"}));
  EXPECT_TRUE(fails([](json& d) { d["layers"][0]["activations"]["zero_point"] = 0.5; },
                    {"activations.zero_point must be an integer, not 0.5"}));
  EXPECT_TRUE(fails([](json& d) { d["layers"][0]["activations"]["zero_potnt"] = 1; },
                    {"unknown key 'zero_potnt'", "did you mean 'zero_point'"}));
  // The declared width applies to code − zero point: signed 8 bits cannot hold 255.
  json doc = original;
  doc["layers"][0]["activations"]["signed"] = true;
  write_bytes(m, doc.dump());
  const Network net = load_network(m);
  EXPECT_TRUE(throws_error([&] { profile_network(net, *make_cpu_engine(), case_config(), {}); },
                           {"act_codes.npy", "less its zero point -128", "outside the declared 8-bit signed range"}));
}

TEST(ManifestZeroPoint, DoesNotApplyToFixedOrLinear) {
  TempDir dir;
  const std::string m = (kCases / "float16" / "manifest.json").string();
  json doc = json::parse(read_text(m));
  fs::copy(kCases / "float16", dir.path() / "f", fs::copy_options::recursive);
  doc["layers"][0]["activations"]["zero_point"] = 3;
  write_bytes((dir.path() / "f" / "m.json").string(), doc.dump());
  EXPECT_TRUE(throws_error([&] { load_network((dir.path() / "f" / "m.json").string()); },
                           {"'zero_point' does not apply to linear quantization"}));
}

// ---------------------------------------------------------------------------
// A manifest naming arrays of .npz archives, several files to one tensor.

TEST(ManifestNpz, ArchivesAndMembersAsFiles) {
  TempDir dir;
  std::vector<std::int16_t> a(2 * 4 * 5 * 5), w(4 * 4 * 3 * 3);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::int16_t>(i % 9);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<std::int16_t>(static_cast<int>(i % 7) - 3);
  // Two samples in one .npy; the same two split over two archive members.
  write_npy(dir.file("a.npy"), DType::i2, {2, 4, 5, 5}, a.data());
  write_npy(dir.file("w.npy"), DType::i2, {4, 4, 3, 3}, w.data());
  write_npz(dir.file("acts.npz"),
            {NpzEntry{"s0", DType::i2, {1, 4, 5, 5}, a.data()}, NpzEntry{"s1", DType::i2, {1, 4, 5, 5}, a.data() + 100}},
            true);
  write_npz(dir.file("w.npz"), {NpzEntry{"arr_0", DType::i2, {4, 4, 3, 3}, w.data()}}, false);
  json doc = json::parse(R"({"network": "n", "layers": [{"name": "c", "type": "conv", "padding": 1,
      "activations": {"file": "a.npy"}, "weights": {"file": "w.npy"}}]})");
  write_bytes(dir.file("npy.json"), doc.dump());
  doc["layers"][0]["activations"] = {{"files", {"acts.npz:s0", "acts.npz:s1.npy"}}};
  doc["layers"][0]["weights"] = {{"file", "w.npz"}};
  write_bytes(dir.file("npz.json"), doc.dump());
  const NetworkResult from_npy = profile(load_network(dir.file("npy.json")));
  const NetworkResult from_npz = profile(load_network(dir.file("npz.json")));
  EXPECT_TRUE(compare_results(from_npy, from_npz).empty());
  EXPECT_EQ(from_npz.layers[0].result.samples(), 2u);
}

// ---------------------------------------------------------------------------
// Pointing laconic at the wrong thing: read, or answered with the path to use.

TEST(WrongPath, ModelCsvIsReadAsItsDirectory) {
  const fs::path csv = kCases / "dnnsim-slash-names" / "models" / "googlenet_mini" / "model.csv";
  const Network net = load_network(csv.string());
  EXPECT_EQ(net.format, "dnnsim");
  EXPECT_EQ(net.name, "googlenet_mini");
  EXPECT_EQ(net.layers.size(), 2u);
}

TEST(WrongPath, DnnsimRootAndTracesDirectoriesNameTheModelDirectory) {
  const fs::path root = kCases / "dnnsim-precision";
  EXPECT_TRUE(throws_error([&] { load_network(root.string()); },
                           {root.string(), "a DNNsim root directory", "profile one network's model directory",
                            (root / "models" / "floatnet").string(), "networks here: floatnet, intnet"}));
  EXPECT_TRUE(throws_error([&] { load_network((root / "net_traces" / "intnet").string()); },
                           {"a DNNsim traces directory", (root / "models" / "intnet").string()}));
}

TEST(WrongPath, ATraceOrAnArchiveInsteadOfANetwork) {
  const std::string npy = (kCases / "float16" / "act.npy").string();
  EXPECT_TRUE(throws_error([&] { load_network(npy); },
                           {npy, "is a .npy trace, not a network", "write a manifest"}));
  const std::string npz = test::test_data_dir() + "/npz/savez.npz";
  EXPECT_TRUE(throws_error([&] { load_network(npz); }, {npz, "is an .npz archive of traces, not a network"}));
}

TEST(WrongPath, AnArchiveOrADirectoryWhereANpyIsExpected) {
  TempDir dir;
  const fs::path copy = copy_case("float16", dir.path());
  const std::string m = (copy / "manifest.json").string();
  json doc = json::parse(read_text(m));
  // An .npz named without its member where it holds several arrays.
  write_npz((copy / "two.npz").string(),
            {NpzEntry{"x", DType::i2, {1}, "ab"}, NpzEntry{"y", DType::i2, {1}, "cd"}}, false);
  doc["layers"][0]["weights"]["file"] = "two.npz";
  write_bytes(m, doc.dump());
  EXPECT_TRUE(throws_error([&] { load_network(m); }, {"weights", "two.npz", "holds 2 arrays (x, y); name one as"}));
  // An .npz renamed to .npy.
  fs::copy_file(copy / "two.npz", copy / "renamed.npy");
  doc["layers"][0]["weights"]["file"] = "renamed.npy";
  write_bytes(m, doc.dump());
  EXPECT_TRUE(throws_error([&] { load_network(m); }, {"renamed.npy", "not a .npy file but a zip archive"}));
  // A directory.
  fs::create_directory(copy / "traces");
  doc["layers"][0]["weights"]["file"] = "traces";
  write_bytes(m, doc.dump());
  EXPECT_TRUE(throws_error([&] { load_network(m); }, {"traces", "is a directory, not a .npy file"}));
}

// The CLI says the same: an error, exit status 1, no report.
TEST(WrongPath, TheCliAnswersWithThePathToUse) {
  TempDir scratch;
  const test::CliResult r = test::run_cli({"profile", (kCases / "dnnsim-precision").string(), "-q"}, scratch);
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_TRUE(test::contains(r.err, "a DNNsim root directory")) << r.describe();
  EXPECT_FALSE(test::contains(r.out, "# laconic profile")) << r.describe();
  const test::CliResult csv = test::run_cli(
      {"profile", (kCases / "dnnsim-slash-names" / "models" / "googlenet_mini" / "model.csv").string(), "-q"}, scratch);
  EXPECT_EQ(csv.status, 0) << csv.describe();
  EXPECT_TRUE(test::contains(csv.out, "inception_3a/3x3")) << csv.describe();
}

// ---------------------------------------------------------------------------
// synth --compress: the same network as deflated .npz archives.

TEST(SynthCompress, WritesNpzThatProfilesTheSame) {
  TempDir dir;
  SynthOptions o;
  o.architecture = "tiny";
  o.samples = 3;
  o.samples_per_file = 2;
  o.bits = 8;
  o.out_dir = dir.file("npy");
  const std::string plain = write_synthetic_network(o);
  o.out_dir = dir.file("npz");
  o.compress = true;
  const std::string compressed = write_synthetic_network(o);
  std::size_t archives = 0;
  for (const auto& e : fs::directory_iterator(dir.file("npz"))) {
    EXPECT_NE(e.path().extension(), ".npy") << e.path();
    archives += e.path().extension() == ".npz";
  }
  EXPECT_GT(archives, 0u);
  const NetworkResult a = profile(load_network(plain));
  const NetworkResult b = profile(load_network(compressed));
  EXPECT_TRUE(compare_results(a, b).empty());
  // DNNsim reads .npy files only.
  o.dnnsim_layout = true;
  o.out_dir = dir.file("dnnsim");
  EXPECT_TRUE(throws_error([&] { write_synthetic_network(o); }, {"DNNsim reads .npy traces only"}));
}

}  // namespace
}  // namespace laconic
