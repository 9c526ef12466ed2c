// Helpers of the run tests (test_run_*.cpp): a seeded network written as
// .npy files, and networks held in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "laconic/network.hpp"
#include "laconic/npy.hpp"
#include "test_util.hpp"

namespace laconic::test {

inline std::vector<double> seeded_values(std::size_t n, int lo, int hi, double zero_fraction, std::uint32_t seed,
                                         double scale = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(lo, hi);
  std::bernoulli_distribution zero(zero_fraction);
  std::vector<double> v(n);
  for (auto& x : v) x = zero(rng) ? 0.0 : value(rng) * scale;
  return v;
}

inline void write_values(const std::string& path, DType dtype, const std::vector<std::uint64_t>& shape,
                         const std::vector<double>& values) {
  const std::vector<unsigned char> bytes = encode(dtype, values);
  write_npy(path, dtype, shape, bytes.data());
}

// A network of `samples` samples (at least 2) in `dir`: a grouped, strided,
// unevenly padded conv layer whose activations are split over two files, a
// depthwise layer of float traces (linear activations, fixed-point weights)
// and an fc layer. Returns the manifest's path.
inline std::string write_run_network(const TempDir& dir, std::uint64_t samples, std::uint32_t seed = 1) {
  const std::uint64_t first = samples / 2, second = samples - first;
  write_values(dir.file("g.act.0.npy"), DType::i2, {first, 6, 9, 7},
               seeded_values(first * 6 * 9 * 7, 0, 3000, 0.5, seed + 1));
  write_values(dir.file("g.act.1.npy"), DType::i2, {second, 6, 9, 7},
               seeded_values(second * 6 * 9 * 7, 0, 3000, 0.5, seed + 2));
  write_values(dir.file("g.w.npy"), DType::i2, {4, 3, 3, 2}, seeded_values(4 * 3 * 3 * 2, -500, 500, 0.1, seed + 3));
  write_values(dir.file("d.act.npy"), DType::f4, {samples, 8, 6, 6},
               seeded_values(samples * 8 * 6 * 6, 0, 1000, 0.4, seed + 4, 0.013));
  write_values(dir.file("d.w.npy"), DType::f8, {8, 1, 3, 3}, seeded_values(8 * 9, -300, 300, 0.0, seed + 5, 0.0107));
  write_values(dir.file("f.act.npy"), DType::u1, {samples, 10, 2, 2}, seeded_values(samples * 40, 0, 255, 0.3, seed + 6));
  write_values(dir.file("f.w.npy"), DType::i1, {10, 40}, seeded_values(400, -128, 127, 0.05, seed + 7));
  const std::string manifest = dir.file("manifest.json");
  write_bytes(manifest, R"({"network": "runs", "source": "seeded random values", "layers": [
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

// A network held in memory: conv layers of the given MACs structure, each
// with `samples[l]` samples of random 8-bit values.
inline Network memory_network(const std::vector<std::uint64_t>& samples, std::uint32_t seed = 1) {
  Network net;
  net.name = "memory";
  std::mt19937 rng(seed);
  for (std::size_t l = 0; l < samples.size(); ++l) {
    NetworkLayer layer;
    layer.name = "layer" + std::to_string(l);
    layer.shape.type = LayerType::conv;
    layer.shape.channels = 2 + static_cast<std::int64_t>(l % 3);
    layer.shape.height = layer.shape.width = 5 + static_cast<std::int64_t>(l % 4);
    layer.shape.filters = 3;
    layer.shape.kernel_height = layer.shape.kernel_width = 3;
    layer.shape.padding = Padding{1, 1, 1, 1};
    layer.activation_precision = Precision{8, false};
    layer.weight_precision = Precision{8, true};
    layer.activation_quantization = layer.weight_quantization = "8-bit integers";
    std::uniform_int_distribution<int> a(0, 255), w(-128, 127);
    std::vector<std::int64_t> act(static_cast<std::size_t>(samples[l] * static_cast<std::uint64_t>(layer.shape.activations_per_sample())));
    for (auto& v : act) v = a(rng) % 3 == 0 ? 0 : a(rng);
    std::vector<std::int64_t> wt(static_cast<std::size_t>(layer.shape.weight_count()));
    for (auto& v : wt) v = w(rng);
    layer.activations = std::make_shared<VectorSource>(std::move(act), layer.name + " activations");
    layer.weights = std::make_shared<VectorSource>(std::move(wt), layer.name + " weights");
    net.layers.push_back(std::move(layer));
  }
  return net;
}

}  // namespace laconic::test
