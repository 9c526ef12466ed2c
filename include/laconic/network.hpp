// A network to profile: its layers with their shapes and traces, read from a
// network manifest (JSON, documented in the README) or from a DNNsim model
// directory (MODEL.md §7).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "laconic/engine.hpp"
#include "laconic/layer.hpp"
#include "laconic/quantize.hpp"
#include "laconic/tensor.hpp"

namespace laconic {

struct NetworkLayer {
  std::string name;
  LayerShape shape;
  Precision activation_precision;  // p_a (§2)
  Precision weight_precision;      // p_w
  std::shared_ptr<const TensorSource> activations;
  std::shared_ptr<const TensorSource> weights;
  std::string activation_quantization;  // e.g. "none", "fixed 4.12", for reports
  std::string weight_quantization;

  std::uint64_t samples() const;
  LayerInput input() const;
};

struct Network {
  std::string name;
  std::string description;
  std::string source;  // where the traces come from, as the manifest says
  std::string path;    // the manifest file or model directory it was read from
  std::string format;  // "manifest" or "dnnsim"
  std::vector<NetworkLayer> layers;
};

// A .json path is a manifest; a directory with a model.csv is a DNNsim model
// directory. Throws laconic::Error with the file and layer at fault.
Network load_network(const std::string& path);

Network load_manifest(const std::string& manifest_path);

// DNNsim layout: `model_dir`/model.csv, traces in `traces_dir`, by default
// the sibling <model_dir>/../../net_traces/<name of model_dir>.
Network load_dnnsim(const std::string& model_dir, const std::string& traces_dir = "");

// Keeps the named layers (in network order); throws on a name not in it.
void select_layers(Network& network, const std::vector<std::string>& names);

}  // namespace laconic
