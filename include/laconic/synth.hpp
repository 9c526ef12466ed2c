// Synthetic traces with real layer shapes, for tests, benchmarks and scale
// runs. Everything they produce is marked synthetic: the manifest's "source"
// says so, and so does every report made from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "laconic/layer.hpp"

namespace laconic {

struct SynthLayer {
  std::string name;
  LayerShape shape;
};

// Layer shapes of a known architecture: "tiny" (a few small layers covering
// stride, padding, groups, depthwise and fc), "alexnet" (Caffe's, with its
// grouped convolutions, 227×227), "vgg16" and "resnet50" (torchvision's,
// 224×224). Each layer's input is sized as in the real network.
std::vector<SynthLayer> synthetic_architecture(const std::string& name);
std::vector<std::string> synthetic_architectures();

struct SynthOptions {
  std::string architecture = "tiny";
  std::string out_dir;
  std::uint64_t samples = 1;
  std::uint64_t samples_per_file = 0;  // 0: all samples of a layer in one file
  int bits = 16;                       // stored width of activations and weights
  double activation_zero_fraction = 0.5;  // post-ReLU sparsity
  double weight_zero_fraction = 0.02;
  std::uint64_t seed = 1;
  bool dnnsim_layout = false;  // models/<net>/model.csv + net_traces/<net>/*.npy (float32)
};

// Values: activations are 0 with probability activation_zero_fraction, else
// a magnitude drawn log-uniformly from [1, 2^(bits-4)]; weights are signed,
// 0 with probability weight_zero_fraction, else a magnitude drawn the same
// way with a random sign. Deterministic for a seed on every platform.
// Returns the path to profile: the manifest, or the DNNsim model directory.
std::string write_synthetic_network(const SynthOptions& options);

}  // namespace laconic
