// Synthetic traces with real layer shapes, for tests, benchmarks and scale
// runs. Everything they produce is marked synthetic: the manifest's "source"
// says so, and so does every report made from it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "laconic/layer.hpp"
#include "laconic/network.hpp"

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

// The value statistics of one tensor of a real network: what `synth --fit`
// draws from.
struct TensorStats {
  int bits = 16;                 // the stored width p
  std::uint64_t values = 0;
  std::uint64_t zeros = 0;
  std::uint64_t negatives = 0;
  std::map<std::uint64_t, std::uint64_t> magnitudes;  // non-zero |v| -> count
};

struct FittedLayer {
  std::string name;
  TensorStats activations;
  TensorStats weights;
};

// Reads every layer of `network` (at most `max_samples` samples of each, 0 =
// all) and tallies its values.
std::vector<FittedLayer> fit_statistics(const Network& network, std::uint64_t max_samples);

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
  bool compress = false;       // each trace a deflated .npz (np.savez_compressed's format)
  // When not empty, values are drawn from these statistics instead: each
  // tensor takes the zero fraction, share of negative values and distribution
  // of magnitudes of a fitted tensor, magnitudes scaled by 2^(bits − fitted
  // bits), which leaves every value's terms unchanged. Layer i of n takes the
  // weights of fitted layer round(i·(m−1)/(n−1)) of m (the same relative
  // depth); its activations likewise among the fitted layers after the first
  // whose inputs have no negative value (the synthetic architectures feed
  // post-ReLU values to every layer but the first, which takes the fitted
  // first layer's).
  std::vector<FittedLayer> fitted;
  std::string fitted_from;  // where the statistics come from, for the manifest's source
};

// Values, unless fitted: activations are 0 with probability activation_zero_fraction, else
// a magnitude drawn log-uniformly from [1, 2^(bits-4)]; weights are signed,
// 0 with probability weight_zero_fraction, else a magnitude drawn the same
// way with a random sign. Deterministic for a seed on every platform.
// Returns the path to profile: the manifest, or the DNNsim model directory.
std::string write_synthetic_network(const SynthOptions& options);

}  // namespace laconic
