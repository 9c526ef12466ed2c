// Synthetic traces: real layer shapes, the value models, fitting, determinism.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <set>

#include "laconic/network.hpp"
#include "laconic/synth.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

using test::TempDir;

std::int64_t total_macs(const std::vector<SynthLayer>& layers, bool conv_only) {
  std::int64_t macs = 0;
  for (const auto& l : layers)
    if (!conv_only || l.shape.type == LayerType::conv) macs += l.shape.macs_per_sample();
  return macs;
}

TEST(Synth, ArchitecturesHaveTheirPublishedSizes) {
  // ResNet-50: 53 convolutions and the classifier, 4.09 G multiply-adds
  // (torchvision's model card says 4.09 GFLOPS, counting a MAC as one).
  const auto resnet = synthetic_architecture("resnet50");
  EXPECT_EQ(resnet.size(), 54u);
  EXPECT_EQ(total_macs(resnet, false), 4089184256);
  // VGG-16: 13 convolutions and 3 fc layers, 15.47 G MACs.
  const auto vgg = synthetic_architecture("vgg16");
  EXPECT_EQ(vgg.size(), 16u);
  EXPECT_EQ(total_macs(vgg, false), 15470264320);
  // Caffe's AlexNet: 5 convolutions (conv2, conv4, conv5 in two groups), 3 fc.
  const auto alexnet = synthetic_architecture("alexnet");
  EXPECT_EQ(alexnet.size(), 8u);
  EXPECT_EQ(alexnet[1].shape.groups, 2);
  EXPECT_EQ(total_macs(alexnet, true), 665784864);
  for (const auto& name : synthetic_architectures())
    for (const auto& l : synthetic_architecture(name)) EXPECT_NO_THROW(l.shape.validate(l.name)) << name;
  EXPECT_THROW(synthetic_architecture("lenet"), Error);
}

TEST(Synth, ParametricValuesAreMarkedSyntheticAndFollowTheirModel) {
  TempDir dir;
  SynthOptions o;
  o.architecture = "tiny";
  o.out_dir = dir.file("t");
  o.samples = 3;
  o.samples_per_file = 2;
  const Network net = load_network(write_synthetic_network(o));
  EXPECT_EQ(net.name, "tiny-synthetic");
  EXPECT_NE(net.source.find("synthetic"), std::string::npos);
  std::uint64_t zeros = 0, values = 0;
  for (const auto& layer : net.layers) {
    EXPECT_EQ(layer.samples(), 3u);
    std::vector<std::int64_t> a(layer.activations->size());
    layer.activations->read(0, a.size(), a.data());
    for (auto v : a) {
      ASSERT_GE(v, 0);
      ASSERT_LT(v, 1 << 12);  // magnitudes below 2^(bits-4)
      zeros += v == 0;
      ++values;
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(values), 0.5, 0.02);
}

TEST(Synth, SameSeedSameBytesWhateverTheThreads) {
  TempDir dir;
  SynthOptions o;
  o.architecture = "tiny";
  o.samples = 3;
  o.samples_per_file = 2;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  o.out_dir = dir.file("a");
  write_synthetic_network(o);
  omp_set_num_threads(3);
  o.out_dir = dir.file("b");
  write_synthetic_network(o);
  omp_set_num_threads(saved);
  for (const char* f : {"manifest.json", "conv1.act.0.npy", "conv1.act.1.npy", "conv2_dw.weights.npy", "fc.act.1.npy"})
    EXPECT_EQ(test::read_text(dir.file(std::string("a/") + f)), test::read_text(dir.file(std::string("b/") + f))) << f;
}

TEST(Synth, FittedValuesComeFromTheFittedTensors) {
  // Fit the bundled MobileNetV2 (8-bit) and write AlexNet at 16 bits: every
  // value must be a fitted magnitude times 2^8 (which keeps its terms), the
  // first layer's from the first fitted layer, and zero fractions must follow.
  const Network real = load_network(test::source_dir() + "/datasets/mobilenetv2/manifest.json");
  const auto fitted = fit_statistics(real, 1);
  ASSERT_EQ(fitted.size(), real.layers.size());
  EXPECT_EQ(fitted[0].activations.values, static_cast<std::uint64_t>(real.layers[0].shape.activations_per_sample()));

  TempDir dir;
  SynthOptions o;
  o.architecture = "alexnet";
  o.out_dir = dir.file("fit");
  o.fitted = fitted;
  o.fitted_from = "mobilenetv2";
  const Network synthetic = load_network(write_synthetic_network(o));
  EXPECT_NE(synthetic.source.find("fitted to mobilenetv2"), std::string::npos) << synthetic.source;

  const NetworkLayer& first = synthetic.layers[0];
  std::vector<std::int64_t> a(first.activations->size());
  first.activations->read(0, a.size(), a.data());
  std::uint64_t zeros = 0;
  for (auto v : a) {
    zeros += v == 0;
    const std::uint64_t m = static_cast<std::uint64_t>(std::llabs(v));
    if (m == 0) continue;
    ASSERT_EQ(m % 256, 0u) << v;
    ASSERT_EQ(fitted[0].activations.magnitudes.count(m / 256), 1u) << v << " is not a fitted magnitude";
  }
  const double fitted_zero_fraction =
      static_cast<double>(fitted[0].activations.zeros) / static_cast<double>(fitted[0].activations.values);
  EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(a.size()), fitted_zero_fraction, 0.01);

  // Fitting 8-bit statistics into fewer bits would change terms: refused.
  o.bits = 4;
  o.out_dir = dir.file("narrow");
  EXPECT_THROW(write_synthetic_network(o), Error);
}

TEST(Synth, DnnsimLayoutCannotHoldWhatItCannotExpress) {
  TempDir dir;
  SynthOptions o;
  o.architecture = "tiny";
  o.out_dir = dir.file("d");
  o.dnnsim_layout = true;
  o.bits = 24;
  EXPECT_THROW(write_synthetic_network(o), Error);
  o.bits = 16;
  const Network net = load_network(write_synthetic_network(o));
  EXPECT_EQ(net.format, "dnnsim");
  EXPECT_EQ(net.name, "tiny-synthetic");
  EXPECT_EQ(net.layers[1].shape.groups, 24);  // depthwise, from the shapes
}

}  // namespace
}  // namespace laconic
