// Tests for reading networks: the JSON manifest (load_manifest), DNNsim model
// directories (load_dnnsim), the dispatcher (load_network) and --layers
// (select_layers). Valid inputs must give the right shapes, precisions and
// sample counts; every error a user meets must say which file (the manifest,
// or model.csv with its line) and which layer is at fault.

#include "laconic/network.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "laconic/error.hpp"
#include "laconic/npy.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;
using test::write_bytes;

using test::throws_error;

std::uint64_t elements(const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// Writes a .npy file of `dtype` and `shape` holding `values` (or, when
// `values` is empty, a small pattern that fits every dtype and 4-bit widths:
// 0..6 for unsigned dtypes, -3..3 for signed ones and floats).
void npy(const std::string& path, DType dtype, const std::vector<std::uint64_t>& shape,
         std::vector<double> values = {}) {
  if (values.empty()) {
    values.resize(elements(shape));
    for (std::size_t i = 0; i < values.size(); ++i)
      values[i] = is_signed(dtype) ? static_cast<double>(static_cast<int>(i % 7) - 3) : static_cast<double>(i % 7);
  }
  ASSERT_EQ(values.size(), elements(shape)) << path;
  const std::vector<unsigned char> bytes = test::encode(dtype, values);
  write_npy(path, dtype, shape, bytes.empty() ? nullptr : bytes.data());
}

std::vector<std::int64_t> read_all(const TensorSource& source) {
  std::vector<std::int64_t> out(source.size());
  source.read(0, out.size(), out.data());
  return out;
}

// ---------------------------------------------------------------------------
// A valid manifest covering the forms the README documents.

// Traces for the valid manifest below, written into `dir`.
void write_valid_traces(const TempDir& dir) {
  // conv1: two activation files (2 + 1 samples) of i2, weights i1.
  npy(dir.file("conv1.act.0.npy"), DType::i2, {2, 3, 8, 8});
  npy(dir.file("conv1.act.1.npy"), DType::i2, {1, 3, 8, 8});
  npy(dir.file("conv1.weights.npy"), DType::i1, {4, 3, 3, 3});
  // conv2_dw: depthwise, float traces quantized (fixed activations, linear weights).
  npy(dir.file("conv2_dw.act.npy"), DType::f4, {3, 4, 4, 4});
  npy(dir.file("conv2_dw.weights.npy"), DType::f4, {4, 1, 3, 3});
  // conv3: grouped (2 groups), unsigned activations.
  npy(dir.file("conv3.act.npy"), DType::u1, {3, 4, 5, 6});
  npy(dir.file("conv3.weights.npy"), DType::i2, {6, 2, 1, 3});
  // fc: 4-D activations (3, 2, 2, 2) flattened to 8 features.
  npy(dir.file("fc.act.npy"), DType::i2, {3, 2, 2, 2});
  npy(dir.file("fc.weights.npy"), DType::u1, {5, 8});
}

const char* const kValidManifest = R"({
  // Line comments and
  /* block comments are allowed. */
  "network": "example",
  "source": "hand-written test traces",
  "description": "every documented form",
  "version": 1,
  "defaults": {
    "activations": {"bits": 12},
    "weights": {"bits": 8}
  },
  "layers": [
    {
      "name": "conv1", "type": "Conv2D", "stride": 2, "padding": 1,
      "activations": {"files": ["conv1.act.0.npy", "conv1.act.1.npy"]},
      "weights": {"file": "conv1.weights.npy"}
    },
    {
      "name": "conv2_dw", "type": "convolution", "stride": [1, 1],
      "padding": {"top": 0, "bottom": 1, "left": 0, "right": 1}, "groups": 4,
      "activations": {"file": "conv2_dw.act.npy", "quantize": "fixed", "int_bits": 4, "frac_bits": 8},
      "weights": {"file": "conv2_dw.weights.npy", "quantize": "linear", "bits": 8}
    },
    {
      "name": "conv3", "type": "conv", "stride": [1, 2], "padding": [0, 1], "groups": 2.0,
      "activations": {"file": "conv3.act.npy", "bits": 8},
      "weights": {"file": "conv3.weights.npy"}
    },
    {
      "name": "fc", "type": "InnerProduct",
      "activations": {"file": "fc.act.npy"},
      "weights": {"file": "fc.weights.npy", "signed": false}
    }
  ]
})";

TEST(Manifest, ValidManifestGivesShapesPrecisionsAndSamples) {
  TempDir dir;
  write_valid_traces(dir);
  const std::string path = dir.file("manifest.json");
  write_bytes(path, kValidManifest);
  SCOPED_TRACE("manifest " + path);

  const Network net = load_manifest(path);
  EXPECT_EQ(net.name, "example");
  EXPECT_EQ(net.source, "hand-written test traces");
  EXPECT_EQ(net.description, "every documented form");
  EXPECT_EQ(net.format, "manifest");
  EXPECT_EQ(net.path, path);
  ASSERT_EQ(net.layers.size(), 4u);

  {  // conv1: 3x8x8, 4 filters 3x3, stride 2, padding 1: Ho = Wo = (8 + 2 - 3) / 2 + 1 = 4.
    const NetworkLayer& l = net.layers[0];
    SCOPED_TRACE(l.name + ": " + l.shape.describe());
    EXPECT_EQ(l.name, "conv1");
    EXPECT_EQ(l.shape.type, LayerType::conv);
    EXPECT_EQ(l.shape.channels, 3);
    EXPECT_EQ(l.shape.height, 8);
    EXPECT_EQ(l.shape.width, 8);
    EXPECT_EQ(l.shape.filters, 4);
    EXPECT_EQ(l.shape.kernel_height, 3);
    EXPECT_EQ(l.shape.kernel_width, 3);
    EXPECT_EQ(l.shape.stride_h, 2);
    EXPECT_EQ(l.shape.stride_w, 2);
    EXPECT_EQ(l.shape.padding, (Padding{1, 1, 1, 1}));
    EXPECT_EQ(l.shape.groups, 1);
    EXPECT_EQ(l.shape.out_height(), 4);
    EXPECT_EQ(l.shape.out_width(), 4);
    EXPECT_EQ(l.shape.macs_per_sample(), 4 * 4 * 4 * 3 * 3 * 3);
    EXPECT_EQ(l.samples(), 3u);  // 2 + 1 samples over two files
    EXPECT_EQ(l.activations->size(), 3u * 3 * 8 * 8);
    EXPECT_EQ(l.weights->size(), 4u * 3 * 3 * 3);
    EXPECT_EQ(l.activation_precision, (Precision{12, true}));  // defaults' bits, i2's sign
    EXPECT_EQ(l.weight_precision, (Precision{8, true}));
    EXPECT_EQ(l.activation_quantization, "12-bit signed integers");
  }
  {  // conv2_dw: depthwise 4x4x4, 4 filters 3x3, uneven padding: Ho = Wo = (4 + 1 - 3) / 1 + 1 = 3.
    const NetworkLayer& l = net.layers[1];
    SCOPED_TRACE(l.name + ": " + l.shape.describe());
    EXPECT_EQ(l.shape.type, LayerType::conv);
    EXPECT_EQ(l.shape.channels, 4);
    EXPECT_EQ(l.shape.filters, 4);
    EXPECT_EQ(l.shape.groups, 4);
    EXPECT_EQ(l.shape.channels_per_group(), 1);
    EXPECT_EQ(l.shape.padding, (Padding{0, 1, 0, 1}));
    EXPECT_EQ(l.shape.stride_h, 1);
    EXPECT_EQ(l.shape.stride_w, 1);
    EXPECT_EQ(l.shape.out_height(), 3);
    EXPECT_EQ(l.shape.out_width(), 3);
    EXPECT_EQ(l.shape.macs_per_sample(), 4 * 3 * 3 * 1 * 3 * 3);
    EXPECT_EQ(l.samples(), 3u);
    // fixed 4.8: p = 12 (defaults' bits 12 agree), signed by default.
    EXPECT_EQ(l.activation_precision, (Precision{12, true}));
    EXPECT_EQ(l.weight_precision.bits, 8);  // the layer's bits win over the defaults'
    EXPECT_NE(l.activation_quantization.find("fixed"), std::string::npos) << l.activation_quantization;
    EXPECT_NE(l.weight_quantization.find("linear"), std::string::npos) << l.weight_quantization;
    // Values: activations -3..3 at 2^8 = 256 per unit; weights -3..3 scaled by 127/3.
    const auto a = read_all(*l.activations);
    EXPECT_EQ(a[0], -768);  // -3 * 256
    EXPECT_EQ(a[3], 0);
    EXPECT_EQ(a[6], 768);
    const auto w = read_all(*l.weights);
    EXPECT_EQ(w[0], -127);
    EXPECT_EQ(w[1], -85);  // -2 * 127 / 3 = -84.67 -> -85
    EXPECT_EQ(w[6], 127);
  }
  {  // conv3: 4x5x6, 6 filters 1x3, groups 2, stride [1, 2], padding [0, 1]:
     // Ho = (5 - 1) / 1 + 1 = 5, Wo = (6 + 2 - 3) / 2 + 1 = 3.
    const NetworkLayer& l = net.layers[2];
    SCOPED_TRACE(l.name + ": " + l.shape.describe());
    EXPECT_EQ(l.shape.channels, 4);
    EXPECT_EQ(l.shape.height, 5);
    EXPECT_EQ(l.shape.width, 6);
    EXPECT_EQ(l.shape.filters, 6);
    EXPECT_EQ(l.shape.kernel_height, 1);
    EXPECT_EQ(l.shape.kernel_width, 3);
    EXPECT_EQ(l.shape.groups, 2);
    EXPECT_EQ(l.shape.stride_h, 1);
    EXPECT_EQ(l.shape.stride_w, 2);
    EXPECT_EQ(l.shape.padding, (Padding{0, 0, 1, 1}));
    EXPECT_EQ(l.shape.out_height(), 5);
    EXPECT_EQ(l.shape.out_width(), 3);
    EXPECT_EQ(l.shape.macs_per_sample(), 6 * 5 * 3 * 2 * 1 * 3);
    EXPECT_EQ(l.activation_precision, (Precision{8, false}));  // layer bits, u1's sign
    EXPECT_EQ(l.weight_precision, (Precision{8, true}));       // defaults' bits, i2's sign
    EXPECT_EQ(l.samples(), 3u);
  }
  {  // fc: (3, 2, 2, 2) flattened to 8 features, 5 filters.
    const NetworkLayer& l = net.layers[3];
    SCOPED_TRACE(l.name + ": " + l.shape.describe());
    EXPECT_EQ(l.shape.type, LayerType::fc);
    EXPECT_EQ(l.shape.channels, 8);
    EXPECT_EQ(l.shape.height, 1);
    EXPECT_EQ(l.shape.width, 1);
    EXPECT_EQ(l.shape.filters, 5);
    EXPECT_EQ(l.shape.macs_per_sample(), 40);
    EXPECT_EQ(l.samples(), 3u);
    EXPECT_EQ(l.activation_precision, (Precision{12, true}));
    EXPECT_EQ(l.weight_precision, (Precision{8, false}));  // the layer's "signed": false
    EXPECT_EQ(read_all(*l.weights).size(), 40u);
  }
  // load_network reads the same manifest by path and by directory.
  EXPECT_EQ(load_network(path).layers.size(), 4u);
  EXPECT_EQ(load_network(dir.path().string()).layers.size(), 4u);
}

TEST(Manifest, TypeAliasesInAnyCase) {
  TempDir dir;
  npy(dir.file("a.npy"), DType::i2, {1, 2, 3, 3});
  npy(dir.file("w.npy"), DType::i2, {2, 2, 1, 1});
  npy(dir.file("fa.npy"), DType::i2, {1, 4});
  npy(dir.file("fw.npy"), DType::i2, {2, 4});
  for (const std::string type : {"conv", "CONV", "conv2d", "Conv2d", "convolution", "Convolution"}) {
    json doc = {{"network", "n"},
                {"layers", {{{"name", "l"}, {"type", type}, {"activations", {{"file", "a.npy"}}},
                             {"weights", {{"file", "w.npy"}}}}}}};
    write_bytes(dir.file("m.json"), doc.dump());
    SCOPED_TRACE("type " + type);
    EXPECT_EQ(load_manifest(dir.file("m.json")).layers.at(0).shape.type, LayerType::conv);
  }
  for (const std::string type : {"fc", "FC", "linear", "Linear", "dense", "Dense", "innerproduct", "InnerProduct"}) {
    json doc = {{"network", "n"},
                {"layers", {{{"name", "l"}, {"type", type}, {"activations", {{"file", "fa.npy"}}},
                             {"weights", {{"file", "fw.npy"}}}}}}};
    write_bytes(dir.file("m.json"), doc.dump());
    SCOPED_TRACE("type " + type);
    EXPECT_EQ(load_manifest(dir.file("m.json")).layers.at(0).shape.type, LayerType::fc);
  }
}

TEST(Manifest, ThreeDimensionalConvActivationsAreOneSample) {
  TempDir dir;
  npy(dir.file("a.npy"), DType::i2, {2, 3, 3});
  npy(dir.file("w.npy"), DType::i2, {1, 2, 3, 3});
  const json doc = {{"network", "n"},
                    {"layers", {{{"name", "l"}, {"type", "conv"}, {"activations", {{"file", "a.npy"}}},
                                 {"weights", {{"file", "w.npy"}}}}}}};
  write_bytes(dir.file("m.json"), doc.dump());
  const Network net = load_manifest(dir.file("m.json"));
  EXPECT_EQ(net.layers.at(0).samples(), 1u);
  EXPECT_EQ(net.layers.at(0).shape.channels, 2);
}

TEST(Manifest, AbsolutePathsAndSubdirectories) {
  TempDir dir;
  fs::create_directories(dir.path() / "traces");
  npy(dir.file("traces/a.npy"), DType::i2, {1, 2, 3, 3});
  npy(dir.file("w.npy"), DType::i2, {1, 2, 3, 3});
  const json doc = {{"network", "n"},
                    {"layers", {{{"name", "l"}, {"type", "conv"}, {"activations", {{"file", "traces/a.npy"}}},
                                 {"weights", {{"file", dir.file("w.npy")}}}}}}};
  write_bytes(dir.file("m.json"), doc.dump());
  EXPECT_EQ(load_manifest(dir.file("m.json")).layers.size(), 1u);
}

// The README's example manifest loads. Its defaults (16-bit unsigned
// activations) apply to conv1; conv2_dw names a quantization of its own
// ("fixed" 4.8) and so opts out of them: 12 bits, signed as fixed point is by
// default.
TEST(Manifest, ReadmeExampleLoads) {
  TempDir dir;
  npy(dir.file("conv1.act.0.npy"), DType::u1, {1, 3, 8, 8});
  npy(dir.file("conv1.act.1.npy"), DType::u1, {1, 3, 8, 8});
  npy(dir.file("conv1.weights.npy"), DType::i1, {24, 3, 3, 3});
  npy(dir.file("conv2_dw.act.npy"), DType::f4, {2, 24, 4, 4}, std::vector<double>(2 * 24 * 16, 0.5));
  npy(dir.file("conv2_dw.weights.npy"), DType::f4, {24, 1, 3, 3});
  npy(dir.file("fc.act.npy"), DType::u2, {2, 24});
  npy(dir.file("fc.weights.npy"), DType::i2, {10, 24});
  const std::string path = dir.file("manifest.json");
  // Verbatim from README.md, "Network manifest".
  write_bytes(path, R"({
  "network": "example",
  "source": "what the traces are, e.g. MobileNetV2 on chelsea.png, 8-bit linear",
  "defaults": {
    "activations": {"bits": 16, "signed": false},
    "weights": {"bits": 16}
  },
  "layers": [
    {
      "name": "conv1", "type": "conv", "stride": 2, "padding": 1,
      "activations": {"files": ["conv1.act.0.npy", "conv1.act.1.npy"]},
      "weights": {"file": "conv1.weights.npy"}
    },
    {
      "name": "conv2_dw", "type": "conv", "stride": [1, 1],
      "padding": {"top": 0, "bottom": 1, "left": 0, "right": 1}, "groups": 24,
      "activations": {"file": "conv2_dw.act.npy", "quantize": "fixed", "int_bits": 4, "frac_bits": 8},
      "weights": {"file": "conv2_dw.weights.npy", "quantize": "linear", "bits": 8}
    },
    {
      "name": "fc", "type": "fc",
      "activations": {"file": "fc.act.npy"},
      "weights": {"file": "fc.weights.npy"}
    }
  ]
})");
  try {
    const Network net = load_manifest(path);
    ASSERT_EQ(net.layers.size(), 3u);
    EXPECT_EQ(net.layers[0].activation_precision, (Precision{16, false}));  // from the defaults
    EXPECT_EQ(net.layers[1].activation_precision, (Precision{12, true}));   // fixed 4.8, its own
    EXPECT_EQ(net.layers[1].weight_precision.bits, 8);
  } catch (const Error& e) {
    ADD_FAILURE() << "the README example manifest " << path << " does not load: " << e.what();
  }
}

// ---------------------------------------------------------------------------
// Manifest errors. Each test starts from a small valid manifest (two layers,
// "conv_a" then "conv_b"), changes one thing and expects the message to name
// the manifest and, where there is one, the layer.

class ManifestErrors : public testing::Test {
 protected:
  void SetUp() override {
    npy(dir_.file("a.npy"), DType::i2, {2, 4, 5, 5});
    npy(dir_.file("w.npy"), DType::i2, {4, 4, 3, 3});
    npy(dir_.file("f.npy"), DType::f4, {2, 4, 5, 5});
    doc_ = {{"network", "net"},
            {"layers",
             {{{"name", "conv_a"}, {"type", "conv"}, {"activations", {{"file", "a.npy"}}}, {"weights", {{"file", "w.npy"}}}},
              {{"name", "conv_b"},
               {"type", "conv"},
               {"padding", 1},
               {"activations", {{"file", "a.npy"}}},
               {"weights", {{"file", "w.npy"}}}}}}};
  }

  json& layer_b() { return doc_["layers"][1]; }
  std::string path() const { return dir_.file("manifest.json"); }

  // Writes `text` as the manifest and expects load_manifest to fail with a
  // message holding the manifest path and every phrase.
  testing::AssertionResult fails_text(const std::string& text, std::vector<std::string> phrases) {
    write_bytes(path(), text);
    phrases.insert(phrases.begin(), path());
    auto result = throws_error([&] { load_manifest(path()); }, phrases);
    if (!result) result << "\nmanifest " << path() << ":\n" << text;
    return result;
  }
  testing::AssertionResult fails(std::vector<std::string> phrases) { return fails_text(doc_.dump(2), phrases); }
  // The same, and the message names layer conv_b.
  testing::AssertionResult fails_in_b(std::vector<std::string> phrases) {
    phrases.push_back("layer 'conv_b'");
    return fails(phrases);
  }

  TempDir dir_;
  json doc_;
};

TEST_F(ManifestErrors, TheBaseManifestIsValid) {
  write_bytes(path(), doc_.dump(2));
  const Network net = load_manifest(path());
  ASSERT_EQ(net.layers.size(), 2u);
  EXPECT_EQ(net.layers[1].shape.out_height(), 5);
}

TEST_F(ManifestErrors, MissingManifest) {
  const std::string missing = dir_.file("nope.json");
  EXPECT_TRUE(throws_error([&] { load_manifest(missing); }, {missing, "no such file"}));
  EXPECT_TRUE(throws_error([&] { load_network(missing); }, {missing, "no such file"}));
  // A directory without manifest.json or model.csv.
  fs::create_directories(dir_.path() / "empty");
  const std::string empty = dir_.file("empty");
  EXPECT_TRUE(throws_error([&] { load_network(empty); }, {empty, "manifest.json", "model.csv"}));
  EXPECT_TRUE(throws_error([&] { load_manifest(empty); }, {empty, "directory"}));
}

TEST_F(ManifestErrors, InvalidJson) {
  EXPECT_TRUE(fails_text("{\"network\": \"n\", \"layers\": [", {"not valid JSON"}));
  EXPECT_TRUE(fails_text("{\"network\": \"n\",}", {"not valid JSON"}));
  EXPECT_TRUE(fails_text("", {"not valid JSON"}));
}

TEST_F(ManifestErrors, NotAnObject) {
  EXPECT_TRUE(fails_text("[1, 2, 3]", {"JSON object"}));
  EXPECT_TRUE(fails_text("\"manifest\"", {"JSON object"}));
}

TEST_F(ManifestErrors, MissingOrBadNetwork) {
  doc_.erase("network");
  EXPECT_TRUE(fails({"\"network\""}));
  doc_["network"] = "";
  EXPECT_TRUE(fails({"\"network\""}));
  doc_["network"] = 5;
  EXPECT_TRUE(fails({"\"network\""}));
}

TEST_F(ManifestErrors, MissingOrEmptyLayerList) {
  doc_["layers"] = json::array();
  EXPECT_TRUE(fails({"list of layers is empty"}));
  doc_.erase("layers");
  EXPECT_TRUE(fails({"\"layers\""}));
  doc_["layers"] = json::object();
  EXPECT_TRUE(fails({"\"layers\""}));
}

TEST_F(ManifestErrors, UnknownTopLevelKey) {
  doc_["layer"] = json::array();
  EXPECT_TRUE(fails({"unknown key 'layer'", "did you mean 'layers'"}));
  doc_.erase("layer");
  doc_["zzzzzzzz"] = 1;
  EXPECT_TRUE(fails({"unknown key 'zzzzzzzz'", "network", "layers"}));
  doc_.erase("zzzzzzzz");
  doc_["version"] = 2;
  EXPECT_TRUE(fails({"version"}));
}

TEST_F(ManifestErrors, UnknownLayerKeySuggestsTheKnownOne) {
  layer_b()["strides"] = 2;
  EXPECT_TRUE(fails_in_b({"unknown key 'strides'", "did you mean 'stride'"}));
  layer_b().erase("strides");
  layer_b()["Padding"] = 1;
  EXPECT_TRUE(fails_in_b({"unknown key 'Padding'", "did you mean 'padding'"}));
  layer_b().erase("Padding");
  layer_b()["group"] = 1;
  EXPECT_TRUE(fails_in_b({"unknown key 'group'", "did you mean 'groups'"}));
  layer_b().erase("group");
  layer_b()["activation"] = {{"file", "a.npy"}};
  EXPECT_TRUE(fails_in_b({"unknown key 'activation'", "did you mean 'activations'"}));
  layer_b().erase("activation");
  layer_b()["colour"] = "red";  // nothing close: the allowed keys are listed
  EXPECT_TRUE(fails_in_b({"unknown key 'colour'", "stride", "padding", "groups"}));
}

TEST_F(ManifestErrors, UnknownTensorKeySuggestsTheKnownOne) {
  layer_b()["activations"]["bit"] = 8;
  EXPECT_TRUE(fails_in_b({"unknown key 'bit'", "did you mean 'bits'"}));
  layer_b()["activations"].erase("bit");
  layer_b()["weights"]["fracbits"] = 8;
  EXPECT_TRUE(fails_in_b({"unknown key 'fracbits'", "did you mean 'frac_bits'"}));
  layer_b()["weights"].erase("fracbits");
  layer_b()["weights"]["scale"] = 0.5;
  EXPECT_TRUE(fails_in_b({"unknown key 'scale'", "weights"}));
}

TEST_F(ManifestErrors, DefaultsErrors) {
  doc_["defaults"] = {{"activations", {{"bitz", 8}}}};
  EXPECT_TRUE(fails({"unknown key 'bitz'", "did you mean 'bits'"}));
  doc_["defaults"] = {{"activations", {{"file", "a.npy"}}}};  // files are per layer
  EXPECT_TRUE(fails({"unknown key 'file'"}));
  doc_["defaults"] = {{"weight", {{"bits", 8}}}};
  EXPECT_TRUE(fails({"unknown key 'weight'", "did you mean 'weights'"}));
  doc_["defaults"] = 3;
  EXPECT_TRUE(fails({"defaults"}));
}

TEST_F(ManifestErrors, DefaultsAreMergedAndTheLayersKeysWin) {
  doc_["defaults"] = {{"activations", {{"bits", 10}, {"signed", false}}}, {"weights", {{"bits", 6}}}};
  layer_b()["weights"]["bits"] = 12;
  write_bytes(path(), doc_.dump());
  const Network net = load_manifest(path());
  EXPECT_EQ(net.layers[0].activation_precision, (Precision{10, false}));
  EXPECT_EQ(net.layers[0].weight_precision, (Precision{6, true}));
  EXPECT_EQ(net.layers[1].weight_precision, (Precision{12, true}));
}

// "signed": false in defaults.activations (post-ReLU integer traces) does not
// reach a layer that quantizes its activations "linear": a tensor naming a
// quantization other than the defaults' opts out of them.
TEST_F(ManifestErrors, DefaultsSignedWithALinearLayer) {
  doc_["defaults"] = {{"activations", {{"signed", false}}}};
  layer_b()["activations"] = {{"file", "f.npy"}, {"quantize", "linear"}, {"bits", 8}};
  write_bytes(path(), doc_.dump(2));
  const Network net = load_manifest(path());
  EXPECT_EQ(net.layers[0].activation_precision, (Precision{16, false}));
  EXPECT_EQ(net.layers[1].activation_precision.bits, 8);
}

// A bad key that comes from the defaults is reported as such.
TEST_F(ManifestErrors, BadDefaultsAreNamedAsDefaults) {
  doc_["defaults"] = {{"activations", {{"bits", 40}}}};
  write_bytes(path(), doc_.dump(2));
  EXPECT_TRUE(fails({"layer 'conv_a'", "defaults", "between 1 and 32"}));
}

TEST_F(ManifestErrors, DuplicateLayerNames) {
  layer_b()["name"] = "conv_a";
  EXPECT_TRUE(fails({"layer 'conv_a'", "unique"}));
}

TEST_F(ManifestErrors, MissingOrBadName) {
  layer_b().erase("name");
  EXPECT_TRUE(fails({"#2", "name"}));
  layer_b()["name"] = "";
  EXPECT_TRUE(fails({"#2", "name"}));
  doc_["layers"][1] = "conv_b";
  EXPECT_TRUE(fails({"#2", "JSON object"}));
}

TEST_F(ManifestErrors, MissingType) {
  layer_b().erase("type");
  EXPECT_TRUE(fails_in_b({"\"type\" is missing"}));
}

TEST_F(ManifestErrors, BadType) {
  layer_b()["type"] = "pool";
  EXPECT_TRUE(fails_in_b({"type 'pool'", "conv or fc"}));
  layer_b()["type"] = 3;
  EXPECT_TRUE(fails_in_b({"type", "conv or fc"}));
}

TEST_F(ManifestErrors, MissingActivationFile) {
  layer_b()["activations"]["file"] = "missing.act.npy";
  EXPECT_TRUE(fails_in_b({dir_.file("missing.act.npy"), "activations"}));
  layer_b()["activations"] = {{"files", {"a.npy", "missing2.npy"}}};
  EXPECT_TRUE(fails_in_b({dir_.file("missing2.npy"), "activations"}));
}

TEST_F(ManifestErrors, MissingWeightFile) {
  layer_b()["weights"]["file"] = "missing.w.npy";
  EXPECT_TRUE(fails_in_b({dir_.file("missing.w.npy"), "weights"}));
}

TEST_F(ManifestErrors, TensorWithoutFilesOrWithBoth) {
  layer_b()["activations"] = {{"bits", 8}};
  EXPECT_TRUE(fails_in_b({"activations", "file"}));
  layer_b()["activations"] = {{"file", "a.npy"}, {"files", {"a.npy"}}};
  EXPECT_TRUE(fails_in_b({"activations", "both"}));
  layer_b()["activations"] = {{"files", json::array()}};
  EXPECT_TRUE(fails_in_b({"activations", "empty"}));
  layer_b()["activations"] = {{"file", 3}};
  EXPECT_TRUE(fails_in_b({"activations", "string"}));
  layer_b()["activations"] = {{"file", "a.npy"}};
  layer_b().erase("weights");
  EXPECT_TRUE(fails_in_b({"weights"}));
  layer_b()["weights"] = {{"files", {"w.npy", "w.npy"}}};
  EXPECT_TRUE(fails_in_b({"weights must be one file"}));
}

TEST_F(ManifestErrors, FloatTraceWithoutQuantize) {
  layer_b()["activations"]["file"] = "f.npy";
  EXPECT_TRUE(fails_in_b({"f4", "quantize", "fixed", "linear", "integral"}));
  layer_b()["activations"]["quantize"] = "none";
  EXPECT_TRUE(fails_in_b({"f4", "quantize"}));
  layer_b()["activations"]["quantize"] = "round";
  EXPECT_TRUE(fails_in_b({"quantize 'round'", "fixed, linear, integral"}));
}

TEST_F(ManifestErrors, FixedWithoutFracBits) {
  layer_b()["activations"] = {{"file", "f.npy"}, {"quantize", "fixed"}, {"int_bits", 4}};
  EXPECT_TRUE(fails_in_b({"fixed", "int_bits and frac_bits"}));
  layer_b()["activations"] = {{"file", "f.npy"}, {"quantize", "fixed"}, {"int_bits", 30}, {"frac_bits", 3}};
  EXPECT_TRUE(fails_in_b({"int_bits + frac_bits", "1 and 32"}));
  layer_b()["activations"] = {{"file", "f.npy"}, {"quantize", "fixed"}, {"int_bits", 4}, {"frac_bits", 4}, {"bits", 9}};
  EXPECT_TRUE(fails_in_b({"bits must equal int_bits + frac_bits (8)"}));
  layer_b()["activations"] = {{"file", "f.npy"}, {"quantize", "linear"}, {"bits", 8}, {"frac_bits", 4}};
  EXPECT_TRUE(fails_in_b({"frac_bits"}));
}

TEST_F(ManifestErrors, LinearWithSigned) {
  layer_b()["activations"] = {{"file", "f.npy"}, {"quantize", "linear"}, {"bits", 8}, {"signed", true}};
  EXPECT_TRUE(fails_in_b({"'signed' does not apply", "linear"}));
  layer_b()["activations"] = {{"file", "f.npy"}, {"quantize", "linear"}};
  EXPECT_TRUE(fails_in_b({"linear quantization needs bits"}));
}

TEST_F(ManifestErrors, QuantizeFixedOnIntegerData) {
  layer_b()["activations"] = {{"file", "a.npy"}, {"quantize", "fixed"}, {"int_bits", 4}, {"frac_bits", 4}};
  EXPECT_TRUE(fails_in_b({"quantize 'fixed'", "float traces", "i2"}));
  layer_b()["activations"] = {{"file", "a.npy"}, {"quantize", "linear"}, {"bits", 8}};
  EXPECT_TRUE(fails_in_b({"quantize 'linear'", "float traces"}));
  layer_b()["activations"] = {{"file", "a.npy"}, {"frac_bits", 4}};
  EXPECT_TRUE(fails_in_b({"frac_bits", "integer traces"}));
}

TEST_F(ManifestErrors, BitsOutOfRange) {
  for (const json& bits : {json(0), json(33), json(-1), json(64)}) {
    SCOPED_TRACE("bits " + bits.dump());
    layer_b()["weights"] = {{"file", "w.npy"}, {"bits", bits}};
    EXPECT_TRUE(fails_in_b({"weights", "bits must be between 1 and 32", bits.dump()}));
  }
  layer_b()["weights"] = {{"file", "w.npy"}, {"bits", 8.5}};
  EXPECT_TRUE(fails_in_b({"weights.bits", "integer"}));
  layer_b()["weights"] = {{"file", "w.npy"}, {"bits", "8"}};
  EXPECT_TRUE(fails_in_b({"weights.bits", "integer"}));
  layer_b()["weights"] = {{"file", "w.npy"}, {"signed", "yes"}};
  EXPECT_TRUE(fails_in_b({"signed must be true or false"}));
}

TEST_F(ManifestErrors, BadStrideAndPadding) {
  layer_b()["stride"] = 0;
  EXPECT_TRUE(fails_in_b({"stride must be positive"}));
  layer_b()["stride"] = -1;
  EXPECT_TRUE(fails_in_b({"stride", "negative"}));
  layer_b()["stride"] = 1.5;
  EXPECT_TRUE(fails_in_b({"stride", "integer"}));
  layer_b()["stride"] = {1, 1, 1};
  EXPECT_TRUE(fails_in_b({"stride", "[height, width]"}));
  layer_b()["stride"] = 1;
  layer_b()["padding"] = {{"top", 1}, {"bottm", 1}};
  EXPECT_TRUE(fails_in_b({"unknown key 'bottm'", "did you mean 'bottom'"}));
  layer_b()["padding"] = {{"top", -1}};
  EXPECT_TRUE(fails_in_b({"padding.top", "negative"}));
}

TEST_F(ManifestErrors, FourNumberPaddingIsAmbiguous) {
  layer_b()["padding"] = {1, 1, 0, 0};
  EXPECT_TRUE(fails_in_b({"padding", "ambiguous", "top"}));
}

TEST_F(ManifestErrors, ActivationAndWeightChannelsMismatch) {
  // 4 activation channels, weights with 3 per filter: not a grouping either.
  npy(dir_.file("w3.npy"), DType::i2, {4, 3, 3, 3});
  layer_b()["weights"]["file"] = "w3.npy";
  EXPECT_TRUE(fails_in_b({"do not fit", "(4, 3, 3, 3)", "(4, 5, 5)"}));
  // 4 channels and weights with 8 per filter.
  npy(dir_.file("w8.npy"), DType::i2, {4, 8, 3, 3});
  layer_b()["weights"]["file"] = "w8.npy";
  EXPECT_TRUE(fails_in_b({"do not fit"}));
}

TEST_F(ManifestErrors, GroupedConvWithoutGroupsSuggestsTheValue) {
  // 4 activation channels, weights with 2 per filter: "groups": 2.
  npy(dir_.file("w2.npy"), DType::i2, {4, 2, 3, 3});
  layer_b()["weights"]["file"] = "w2.npy";
  EXPECT_TRUE(fails_in_b({"4 channels", "\"groups\": 2"}));
  // With it, the layer loads.
  layer_b()["groups"] = 2;
  write_bytes(path(), doc_.dump());
  EXPECT_EQ(load_manifest(path()).layers[1].shape.groups, 2);
  // Depthwise: one channel per filter suggests "groups": 4.
  npy(dir_.file("w1.npy"), DType::i2, {4, 1, 3, 3});
  layer_b().erase("groups");
  layer_b()["weights"]["file"] = "w1.npy";
  EXPECT_TRUE(fails_in_b({"\"groups\": 4"}));
}

TEST_F(ManifestErrors, GroupsThatDoNotDivide) {
  // 4 channels, groups 2 with 2 channels per filter fits C, but 3 filters
  // cannot be split into 2 groups.
  npy(dir_.file("w_k3.npy"), DType::i2, {3, 2, 3, 3});
  layer_b()["weights"]["file"] = "w_k3.npy";
  layer_b()["groups"] = 2;
  EXPECT_TRUE(fails_in_b({"groups (2) must divide the filters (3)"}));
  // groups 3 does not divide 4 channels.
  npy(dir_.file("w_c1.npy"), DType::i2, {3, 1, 3, 3});
  layer_b()["weights"]["file"] = "w_c1.npy";
  layer_b()["groups"] = 3;
  EXPECT_TRUE(fails_in_b({"groups 3", "4"}));
  // groups 0 and negative.
  layer_b()["weights"]["file"] = "w.npy";
  layer_b()["groups"] = 0;
  EXPECT_TRUE(fails_in_b({"groups"}));
  layer_b()["groups"] = -2;
  EXPECT_TRUE(fails_in_b({"groups"}));
}

TEST_F(ManifestErrors, KernelLargerThanThePaddedInput) {
  // 5x5 input, 7x7 kernel: no output without padding, one with padding 1.
  npy(dir_.file("w7.npy"), DType::i2, {4, 4, 7, 7});
  layer_b()["weights"]["file"] = "w7.npy";
  layer_b()["padding"] = 0;
  EXPECT_TRUE(fails_in_b({"kernel is larger than the padded input"}));
  layer_b()["padding"] = {{"top", 1}, {"bottom", 1}, {"left", 1}, {"right", 0}};
  EXPECT_TRUE(fails_in_b({"kernel is larger than the padded input"}));
  layer_b()["padding"] = 1;
  write_bytes(path(), doc_.dump());
  EXPECT_EQ(load_manifest(path()).layers[1].shape.out_height(), 1);
}

TEST_F(ManifestErrors, FcFeaturesMismatch) {
  npy(dir_.file("fa.npy"), DType::i2, {2, 8});
  npy(dir_.file("fw.npy"), DType::i2, {3, 7});
  layer_b() = {{"name", "conv_b"}, {"type", "fc"}, {"activations", {{"file", "fa.npy"}}}, {"weights", {{"file", "fw.npy"}}}};
  EXPECT_TRUE(fails_in_b({"8 features", "(3, 7)", "expect 7"}));
  // 4-D activations (2, 4, 5, 5) are 100 features.
  layer_b()["activations"]["file"] = "a.npy";
  EXPECT_TRUE(fails_in_b({"100 features"}));
  // fc with a stride or groups.
  npy(dir_.file("fw8.npy"), DType::i2, {3, 8});
  layer_b()["activations"]["file"] = "fa.npy";
  layer_b()["weights"]["file"] = "fw8.npy";
  layer_b()["stride"] = 2;
  EXPECT_TRUE(fails_in_b({"fc layer"}));
}

TEST_F(ManifestErrors, FilesOfOneTensorWithDifferentDtypes) {
  npy(dir_.file("a_u1.npy"), DType::u1, {1, 4, 5, 5});
  layer_b()["activations"] = {{"files", {"a.npy", "a_u1.npy"}}};
  EXPECT_TRUE(fails_in_b({dir_.file("a_u1.npy"), "u1", "i2", "share a dtype"}));
}

TEST_F(ManifestErrors, FilesOfOneTensorWithDifferentSampleShapes) {
  npy(dir_.file("a_66.npy"), DType::i2, {1, 4, 6, 6});
  layer_b()["activations"] = {{"files", {"a.npy", "a_66.npy"}}};
  EXPECT_TRUE(fails_in_b({dir_.file("a_66.npy"), "(4, 6, 6)", "(4, 5, 5)"}));
}

TEST_F(ManifestErrors, WrongTensorRanks) {
  npy(dir_.file("a2d.npy"), DType::i2, {2, 100});
  layer_b()["activations"]["file"] = "a2d.npy";
  EXPECT_TRUE(fails_in_b({"(2, 100)", "(N, C, H, W)"}));
  layer_b()["activations"]["file"] = "a.npy";
  npy(dir_.file("w2d.npy"), DType::i2, {4, 36});
  layer_b()["weights"]["file"] = "w2d.npy";
  EXPECT_TRUE(fails_in_b({"(4, 36)", "(K, C/groups, R, S)"}));
}

// ---------------------------------------------------------------------------
// DNNsim model directories: models/<net>/model.csv, net_traces/<net>/.

class DnnsimDir : public testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(model_dir());
    fs::create_directories(traces_dir());
    // conv1: 3x6x6, 4 filters 3x3; batches 2 and 10 (numeric order: 2 first).
    npy(trace("wgt-conv1.npy"), DType::f4, {4, 3, 3, 3});
    npy(trace("act-conv1-2.npy"), DType::f4, {1, 3, 6, 6}, std::vector<double>(108, 2.0));
    npy(trace("act-conv1-10.npy"), DType::f4, {2, 3, 6, 6}, std::vector<double>(216, 10.0));
    // dw: depthwise 4x5x5, 4 filters with 1 channel each: groups 4 inferred.
    npy(trace("wgt-dw.npy"), DType::f4, {4, 1, 3, 3});
    npy(trace("act-dw-0.npy"), DType::f4, {3, 4, 5, 5});
    // fc: 16 features, 3 filters.
    npy(trace("wgt-fc.npy"), DType::f4, {3, 16});
    npy(trace("act-fc-0.npy"), DType::f4, {3, 16});
    // Files that look like traces of other layers or are not batches.
    npy(trace("act-conv1-x.npy"), DType::f4, {1});
    npy(trace("act-conv1-extra-0.npy"), DType::f4, {1});
    write_csv("# DNNsim model\r\nconv1,conv,2,1\r\n\r\n   \r\n  # indented comment\r\ndw, conv , 1 , 1\r\nfc,fc,1,0\r\n");
  }
  fs::path root() const { return dir_.path(); }
  fs::path model_dir() const { return root() / "models" / "tnet"; }
  fs::path traces_dir() const { return root() / "net_traces" / "tnet"; }
  std::string trace(const std::string& name) const { return (traces_dir() / name).string(); }
  std::string csv() const { return (model_dir() / "model.csv").string(); }
  void write_csv(const std::string& text) { write_bytes(csv(), text); }

  testing::AssertionResult fails(std::vector<std::string> phrases) {
    auto result = throws_error([&] { load_dnnsim(model_dir().string()); }, phrases);
    if (!result) result << "\nmodel.csv " << csv() << ":\n" << test::read_text(csv());
    return result;
  }

  TempDir dir_;
};

TEST_F(DnnsimDir, LoadsWithInferredGroupsAndBatchesInNumericOrder) {
  const Network net = load_dnnsim(model_dir().string());
  EXPECT_EQ(net.name, "tnet");
  EXPECT_EQ(net.format, "dnnsim");
  ASSERT_EQ(net.layers.size(), 3u);

  const NetworkLayer& conv1 = net.layers[0];
  EXPECT_EQ(conv1.name, "conv1");
  EXPECT_EQ(conv1.shape.type, LayerType::conv);
  EXPECT_EQ(conv1.shape.stride_h, 2);
  EXPECT_EQ(conv1.shape.stride_w, 2);
  EXPECT_EQ(conv1.shape.padding, (Padding{1, 1, 1, 1}));
  EXPECT_EQ(conv1.shape.groups, 1);
  EXPECT_EQ(conv1.samples(), 3u);  // 1 + 2 samples
  EXPECT_EQ(conv1.activation_precision, (Precision{16, true}));
  EXPECT_EQ(conv1.weight_precision, (Precision{16, true}));
  // Batch 2 (values 2) comes before batch 10 (values 10), not after as a
  // string sort would put it.
  const auto a = read_all(*conv1.activations);
  ASSERT_EQ(a.size(), 3u * 108);
  EXPECT_EQ(a.front(), 2);
  EXPECT_EQ(a[107], 2);
  EXPECT_EQ(a[108], 10);
  EXPECT_EQ(a.back(), 10);

  const NetworkLayer& dw = net.layers[1];
  EXPECT_EQ(dw.name, "dw");
  EXPECT_EQ(dw.shape.groups, 4);
  EXPECT_EQ(dw.shape.channels, 4);
  EXPECT_EQ(dw.shape.filters, 4);
  EXPECT_EQ(dw.shape.padding, (Padding{1, 1, 1, 1}));
  EXPECT_EQ(dw.samples(), 3u);
  EXPECT_EQ(read_all(*dw.weights).size(), 36u);

  const NetworkLayer& fc = net.layers[2];
  EXPECT_EQ(fc.shape.type, LayerType::fc);
  EXPECT_EQ(fc.shape.channels, 16);
  EXPECT_EQ(fc.shape.filters, 3);
  EXPECT_EQ(fc.samples(), 3u);

  // load_network recognises the directory.
  EXPECT_EQ(load_network(model_dir().string()).format, "dnnsim");
}

TEST_F(DnnsimDir, ExplicitTracesDirectory) {
  fs::rename(traces_dir(), root() / "elsewhere");
  EXPECT_TRUE(fails({model_dir().string(), "traces directory", traces_dir().string(), "does not exist"}));
  const Network net = load_dnnsim(model_dir().string(), (root() / "elsewhere").string());
  EXPECT_EQ(net.layers.size(), 3u);
}

// A model directory given with a trailing slash (as shell completion writes
// it) finds its traces in net_traces/<net>, not models/net_traces/<net>.
TEST_F(DnnsimDir, TrailingSlashOnTheModelDirectory) {
  const std::string with_slash = model_dir().string() + "/";
  try {
    const Network net = load_network(with_slash);
    EXPECT_EQ(net.name, "tnet");
    EXPECT_EQ(net.layers.size(), 3u);
  } catch (const Error& e) {
    ADD_FAILURE() << "load_network(\"" << with_slash << "\") failed: " << e.what();
  }
}

TEST_F(DnnsimDir, NoModelCsv) {
  fs::remove(csv());
  EXPECT_TRUE(fails({model_dir().string(), "no model.csv"}));
}

TEST_F(DnnsimDir, MissingTracesDirectory) {
  fs::remove_all(traces_dir());
  EXPECT_TRUE(fails({model_dir().string(), traces_dir().string(), "does not exist"}));
}

TEST_F(DnnsimDir, WrongFieldCountNamesFileAndLine) {
  write_csv("conv1,conv,2,1\nfc,fc,1\n");
  EXPECT_TRUE(fails({csv() + ":2:", "name,type,stride,padding", "3 field(s)"}));
  write_csv("conv1,conv,2,1,7\n");
  EXPECT_TRUE(fails({csv() + ":1:", "5 field(s)"}));
  write_csv("\r\n# x\r\nconv1\r\n");
  EXPECT_TRUE(fails({csv() + ":3:", "1 field(s)"}));
}

TEST_F(DnnsimDir, NonNumericStrideOrPadding) {
  write_csv("conv1,conv,two,1\n");
  EXPECT_TRUE(fails({csv() + ":1", "conv1", "stride 'two'"}));
  write_csv("conv1,conv,2,1\ndw,conv,1,-1\n");
  EXPECT_TRUE(fails({csv() + ":2", "dw", "padding '-1'"}));
  write_csv("conv1,conv,1.5,1\n");
  EXPECT_TRUE(fails({csv() + ":1", "stride '1.5'"}));
  write_csv("conv1,pool,1,1\n");
  EXPECT_TRUE(fails({csv() + ":1", "conv1", "pool"}));
}

TEST_F(DnnsimDir, DuplicateAndEmptyNames) {
  write_csv("conv1,conv,2,1\nconv1,conv,2,1\n");
  EXPECT_TRUE(fails({csv() + ":2", "conv1", "twice"}));
  write_csv(",conv,2,1\n");
  EXPECT_TRUE(fails({csv() + ":1", "name"}));
  write_csv("# only a comment\n\n");
  EXPECT_TRUE(fails({csv(), "no layers"}));
}

TEST_F(DnnsimDir, MissingWeightFile) {
  fs::remove(trace("wgt-dw.npy"));
  EXPECT_TRUE(fails({csv() + ":6", "dw", trace("wgt-dw.npy"), "do not exist"}));
}

TEST_F(DnnsimDir, NoActivationFiles) {
  fs::remove(trace("act-fc-0.npy"));
  EXPECT_TRUE(fails({csv() + ":7", "fc", "no activation traces", "act-fc-<batch>.npy"}));
}

TEST_F(DnnsimDir, FloatValueWithAFractionIsAnErrorOnRead) {
  npy(trace("act-fc-0.npy"), DType::f4, {3, 16}, [] {
    std::vector<double> v(48, 1.0);
    v[20] = 1.5;  // sample 1, feature 4
    return v;
  }());
  const Network net = load_dnnsim(model_dir().string());
  EXPECT_TRUE(throws_error([&] { read_all(*net.layers[2].activations); },
                           {trace("act-fc-0.npy"), "element (1, 4)", "1.5", "not an integer"}));
}

TEST_F(DnnsimDir, ValueOutsideSixteenBitsSignedIsAnErrorOnRead) {
  npy(trace("wgt-fc.npy"), DType::f4, {3, 16}, [] {
    std::vector<double> v(48, -32768.0);
    v[47] = 32768.0;  // one past 2^15 - 1
    return v;
  }());
  const Network net = load_dnnsim(model_dir().string());
  EXPECT_TRUE(throws_error([&] { read_all(*net.layers[2].weights); },
                           {trace("wgt-fc.npy"), "element (2, 15)", "32768", "16-bit signed", "-32768..32767"}));
}

TEST_F(DnnsimDir, ShapeMismatchNamesLineAndLayer) {
  npy(trace("wgt-fc.npy"), DType::f4, {3, 15});
  EXPECT_TRUE(fails({csv() + ":7", "fc", "16 features"}));
}

// An act-<layer>-<batch>.npy whose batch number does not fit 64 bits is an
// error naming the file, not an internal error.
TEST_F(DnnsimDir, HugeBatchNumberIsAnErrorNamingTheFile) {
  npy(trace("act-fc-99999999999999999999999.npy"), DType::f4, {1, 16});
  try {
    load_dnnsim(model_dir().string());
    // Loading it (as a batch after 0) or refusing it with a laconic::Error
    // are both fine; a std::out_of_range is not.
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("act-fc-99999999999999999999999.npy"), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "load_dnnsim threw a non-laconic exception: " << e.what();
  }
}

// ---------------------------------------------------------------------------
// select_layers (--layers).

TEST_F(DnnsimDir, SelectLayersKeepsNetworkOrder) {
  Network net = load_dnnsim(model_dir().string());
  select_layers(net, {"fc", "conv1"});
  ASSERT_EQ(net.layers.size(), 2u);
  EXPECT_EQ(net.layers[0].name, "conv1");
  EXPECT_EQ(net.layers[1].name, "fc");
  Network all = load_dnnsim(model_dir().string());
  select_layers(all, {});
  EXPECT_EQ(all.layers.size(), 3u);
}

TEST_F(DnnsimDir, SelectLayersWithAnUnknownNameListsTheKnownOnes) {
  Network net = load_dnnsim(model_dir().string());
  EXPECT_TRUE(throws_error([&] { select_layers(net, {"conv1", "conv9"}); },
                           {"--layers", "tnet", "'conv9'", "conv1, dw, fc"}));
  EXPECT_EQ(net.layers.size(), 3u);  // unchanged on error
}

}  // namespace
}  // namespace laconic
