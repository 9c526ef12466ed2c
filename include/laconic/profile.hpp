// Profiling a whole network: each layer on an engine, results gathered with
// what the reports need to know about the layer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "laconic/config.hpp"
#include "laconic/engine.hpp"
#include "laconic/network.hpp"
#include "laconic/results.hpp"

namespace laconic {

struct ProfiledLayer {
  LayerResult result;
  LayerShape shape;
  Precision activation_precision;
  Precision weight_precision;
  std::string activation_quantization;
  std::string weight_quantization;
};

struct NetworkResult {
  std::string network;
  std::string source;        // the manifest's "source", or the DNNsim traces directory
  // The per-layer precision profile that set p_a and p_w ("precision.txt:
  // <path>", Network::precision_profile); empty when none did.
  std::string precision_profile;
  std::string engine;        // the engine that computed the numbers
  ProfileConfig config;
  std::uint64_t sample_limit = 0;  // --samples, 0 when every sample was profiled
  std::vector<ProfiledLayer> layers;

  // Ratio-of-sums totals over every layer, and over the conv layers (§4).
  Totals totals_all() const;
  Totals totals_conv() const;
};

struct ProfileOptions {
  std::uint64_t sample_limit = 0;  // profile the first N samples of each layer; 0 = all
  // Called with one line per finished layer (progress); may be empty.
  std::function<void(const std::string&)> progress;
};

// The message of an error met while profiling a layer (a NaN or an
// out-of-range value in a trace, which the trace's reader reports by file and
// element), naming the manifest or model directory and the layer too, unless
// it already does. Every way of running a profile reports errors with it.
std::string with_layer_context(const Network& network, const std::string& layer, const std::string& what);

NetworkResult profile_network(const Network& network, const Engine& engine, const ProfileConfig& config,
                              const ProfileOptions& options);

// Every difference between two results of the same network, one line each;
// empty when every count is identical. With `expected_covers_first_samples`
// (--verify-samples), `expected` may hold only the first samples of each
// layer: those are compared one by one with the same samples of `actual`, the
// weights' histograms in full, the activations' histograms only where
// `expected` covers every sample.
std::vector<std::string> compare_results(const NetworkResult& expected, const NetworkResult& actual,
                                         bool expected_covers_first_samples = false);

}  // namespace laconic
